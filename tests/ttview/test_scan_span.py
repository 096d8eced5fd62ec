"""An unfiltered scan of snapshots takes its time span from the chunk index instead of decoding
``ts``: the span (and so every rate) must be exactly what decoding the kept events gives, also when
a bad chunk cuts a file short."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.reader import RingReader

from ttview.lz4read import read_layout
from ttview.scan import EventSource, open_catalog
from ttview.stats import group_summary


def _snapshot(tmp: Path, service: str, count: int, start: int) -> Path:
    path = R.create_ring_file(tmp, service=service, ring_size="1MiB", level="TRACE")
    ring = R.PyRing()
    ring.map(path)
    log = R.PyLogger(ring, "orders")
    for i in range(start, start + count):
        log.info("Order placed", latency_us=float(i % 97), venue="X" if i % 2 else "Y")
    ring.unmap()
    out = tmp / "snaps"
    out.mkdir(exist_ok=True)
    return write_snapshot(out, RingReader(path).read_all(), service=service, reason="exit", chunk_size=40)


@pytest.mark.parametrize("damaged", [False, True])
def test_the_span_from_the_index_is_the_span_of_the_events_read(tmp_path: Path, damaged: bool) -> None:
    a = _snapshot(tmp_path, "a", 400, 0)
    b = _snapshot(tmp_path, "b", 300, 1000)
    if damaged:  # a bit flipped in a middle block of b: its later chunks are left out
        data = bytearray(b.read_bytes())
        layout = read_layout(bytes(data), len(data))
        block = layout.blocks[len(layout.blocks) // 2]
        data[block + 10] ^= 0x20
        b.write_bytes(bytes(data))
    with open_catalog([a, b]) as catalog:
        source = EventSource(catalog.lazy(ordered=False), catalog)
        got = group_summary(source, by="venue", field="latency_us")
        assert bool(catalog.errors) == damaged
    with open_catalog([a, b]) as catalog:
        kept = catalog.lazy(ordered=False).select(pl.col("ts").dt.epoch("ns")).collect()
    assert (got.ts_min, got.ts_max) == (kept["ts"].min(), kept["ts"].max())
    assert got.events == kept.height and (kept.height < 700) == damaged
    # a filter needs the decoded times: the same answer through the filtered path
    with open_catalog([a, b]) as catalog:
        filtered = EventSource(catalog.lazy(ordered=False), catalog, predicate=pl.col("latency_us") >= 0)
        assert filtered.time_span() is False
        again = group_summary(filtered, by="venue", field="latency_us")
    assert (again.ts_min, again.ts_max) == (got.ts_min, got.ts_max)


def test_a_file_bad_in_two_chunks_is_named_once_by_the_earlier(tmp_path: Path) -> None:
    # Chunks decode in parallel, so the later bad chunk may be found first: the file's one line
    # must still say how many events were really kept (those before the earlier bad chunk).
    path = _snapshot(tmp_path, "svc", 200, 0)
    catalog = open_catalog([path])
    chunks = catalog.files[0].info.chunks
    assert len(chunks) >= 4
    catalog._report(0, 3, "chunk 3 is bad")
    kept = sum(c.n for c in chunks[:3])
    assert catalog.errors[0].message.endswith(f"(kept its first {kept:,} of 200 events)")
    catalog._report(0, 1, "chunk 1 is bad")
    catalog._report(0, 2, "chunk 2 is bad")
    assert len(catalog.errors) == 1
    assert catalog.errors[0].message == f"chunk 1 is bad (kept its first {chunks[0].n:,} of 200 events)"
    assert catalog.lazy().collect().height == chunks[0].n
