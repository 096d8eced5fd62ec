"""The paged view (ttview.chunkview) gives exactly the rows, searches and filters of the in-memory
view over the same files: several services overlapping in time, small chunks, equal timestamps."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.reader import RingReader

from ttview.chunkview import ChunkedEventView, FilteredChunkView
from ttview.eventview import FrameEventView
from ttview.query import compile_filter
from ttview.scan import open_catalog

BASE = 1_700_000_000_000_000_000
LEVELS = (15, 20, 22, 30, 40)


def _service(tmp: Path, out: Path, name: str, pid: int, times: list[int], seed: int, chunk: int) -> None:
    (tmp / name).mkdir()
    path = R.create_ring_file(tmp / name, service=name, pid=pid, ring_size="4MiB", level="TRACE")
    ring = R.PyRing()
    ring.map(path)
    it = iter(times)
    ring._clock = lambda: next(it)
    rng = random.Random(seed)
    log = R.PyLogger(ring, f"{name}.log")
    for i in range(len(times)):
        fields = {"i": i, "svc": name}
        if rng.random() < 0.5:
            fields["lat"] = rng.choice([1, 2.5, 7, 100.25])  # ints and floats: a union column
        log.log(rng.choice(LEVELS), "ev", **fields)
    batches = RingReader(path).read_all()
    # one file per 400 events, as a sidecar writes a ring's snapshots one after another
    for start in range(0, len(times), 400):
        from ttlog.reader import slice_batch

        part = [slice_batch(b, start - sum(len(x) for x in batches[:k]),
                            start + 400 - sum(len(x) for x in batches[:k]))
                for k, b in enumerate(batches)]
        part = [b for b in part if len(b)]
        write_snapshot(out, part, service=name, pid=pid, reason="periodic", chunk_size=chunk,
                       created_ns=times[min(start + 399, len(times) - 1)] + pid)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("paged")
    out = tmp / "snaps"
    out.mkdir()
    rng = random.Random(3)
    for s, (name, pid) in enumerate((("a", 11), ("b", 22), ("c", 33))):
        t, times = BASE + s * 7, []
        for _ in range(1500):
            t += rng.choice((0, 0, 1, 5, 40, 300))  # many equal times, within and across services
            times.append(t)
        _service(tmp, out, name, pid, times, seed=s, chunk=64)
    return out


@pytest.fixture(scope="module")
def views(files: Path) -> tuple[ChunkedEventView, FrameEventView]:
    catalog = open_catalog([files])
    frame = catalog.lazy().collect()
    assert frame.height == 4500
    return ChunkedEventView(open_catalog([files])), FrameEventView(frame)


def test_rows_equal_the_full_merge_anywhere(views: tuple[ChunkedEventView, FrameEventView]) -> None:
    paged, eager = views
    assert paged.height == eager.height and len(paged.seg) > 50  # many segments
    assert paged.rows(paged.height - 30, paged.height).equals(eager.rows(eager.height - 30, eager.height))
    for start in (0, 1, 63, 64, 65, 999, 2047, 3333, 4470):
        assert paged.rows(start, start + 97).equals(eager.rows(start, start + 97)), start
    assert paged.rows(0, paged.height).equals(eager.rows(0, eager.height))


def test_find_count_and_time_lookups(views: tuple[ChunkedEventView, FrameEventView]) -> None:
    paged, eager = views
    for expr in (pl.col("level") >= 40, pl.col("svc") == "b", pl.col("i") == 1234):
        for start in (0, 500, 2222, 4499):
            assert paged.find(expr, start) == eager.find(expr, start)
            assert paged.find(expr, start, backward=True) == eager.find(expr, start, backward=True)
            assert paged.find(expr, start, stop=start + 50) == eager.find(expr, start, stop=start + 50)
        assert paged.count(expr) == eager.count(expr)
    times = eager.rows(0, eager.height).get_column("ts").dt.epoch("ns").to_list()
    for row in (0, 17, 1800, 4499):
        ts = times[row]
        assert paged.row_at_time(ts) == eager.row_at_time(ts)
        assert paged.row_at_time(ts + 1) == eager.row_at_time(ts + 1)
        assert paged.identity(row) == eager.identity(row)
        assert paged.locate(*eager.identity(row)) == row
        assert paged.rows_after(ts) == eager.rows_after(ts)


def test_a_filter_keeps_what_the_in_memory_one_keeps(views: tuple[ChunkedEventView, FrameEventView]) -> None:
    paged, eager = views
    text = "level >= TRADE and (lat > 2 or svc == \"c\") and ts > first + 20us"
    flt = compile_filter(text, paged.schema)
    first = int(eager.rows(0, 1).get_column("ts").dt.epoch("ns")[0])
    last = int(eager.rows(eager.height - 1, eager.height).get_column("ts").dt.epoch("ns")[0])
    want = eager.where(compile_filter(text, eager.schema, time_bounds=(first, last)))
    partial: list[FilteredChunkView] = []
    got = paged.where(flt, progress=lambda view, done, parts: partial.append(view))
    assert isinstance(got, FilteredChunkView) and got.complete
    assert got.height == want.height > 0
    assert got.rows(0, got.height).equals(want.rows(0, want.height))
    # the matches so far, newest first: each partial view is an exact tail of the final one
    assert any(p.height > 0 for p in partial) and all(p.height <= got.height for p in partial)
    for p in partial:
        assert p.rows(0, p.height).equals(want.rows(want.height - p.height, want.height))
    expr = pl.col("svc") == "a"
    assert got.find(expr, 0) == want.find(expr, 0) and got.count(expr) == want.count(expr)
    # a filter that keeps nothing and one that keeps all
    assert paged.where(compile_filter("level == CRITICAL", paged.schema)).height == 0
    assert paged.where(compile_filter("has i", paged.schema)).height == paged.height


def test_memory_is_bounded_by_the_caches(files: Path) -> None:
    paged = ChunkedEventView(open_catalog([files]))
    for start in range(0, paged.height, 250):
        paged.rows(start, start + 10)
    from ttview.chunkview import CHUNK_CACHE, SEGMENT_CACHE

    assert len(paged.seg._chunk_cache.items) <= CHUNK_CACHE
    assert len(paged.seg._seg_cache.items) <= SEGMENT_CACHE


def test_a_sparse_filter_is_measured_on_its_newest_segments_only(
    views: tuple[ChunkedEventView, FrameEventView], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The log view measures its column widths at every partial result of a running filter: that
    # must not decode every segment a sparse filter's last 50,000 matches are spread over.
    from ttview.chunkview import SAMPLE_SEGMENTS

    paged, eager = views
    sparse = paged.where(compile_filter("i in (5, 700, 1400) and level >= TRADE", paged.schema))
    assert 0 < sparse.height < 10 and len(sparse.parts) > SAMPLE_SEGMENTS
    read: list[int] = []
    segment = paged.seg.segment
    monkeypatch.setattr(paged.seg, "segment",
                        lambda j, cols=None, **kw: read.append(j) or segment(j, cols, **kw))
    cols = ("logger", "message", "svc")
    sample = sparse.tail_sample(50_000, cols)
    assert len(set(read)) <= SAMPLE_SEGMENTS
    assert 0 < sample.height <= sparse.height
    newest = sparse.rows(sparse.height - sample.height, sparse.height).select(cols)
    assert sample.equals(newest)
    # a dense view gives exactly the newest rows asked for
    assert paged.tail_sample(100, cols).equals(eager.rows(eager.height - 100, eager.height).select(cols))


def test_a_chunk_found_bad_while_paging_shrinks_the_view_to_exactly_the_kept_events(
    files: Path, tmp_path: Path
) -> None:
    # The paged view's height comes from the index; a chunk that turns out bad when it is read
    # cuts its file short. The view must then hold exactly what loading the files keeps, and a
    # filter that ran across the discovery must say it is stale (its re-run is exact).
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(files, bad)
    victim = sorted(bad.glob("*.ttsnap"))[4]
    size = victim.stat().st_size
    with open(victim, "r+b") as fh:
        fh.seek(size * 2 // 3)
        flipped = bytes(x ^ 0xFF for x in fh.read(8))
        fh.seek(size * 2 // 3)
        fh.write(flipped)
    eager = FrameEventView(open_catalog([bad]).lazy().collect())
    paged = ChunkedEventView(open_catalog([bad]))
    promised = paged.height
    text = "level >= TRADE"
    first = paged.where(compile_filter(text, paged.schema))  # reads the bad chunk
    assert isinstance(first, FilteredChunkView) and first.stale
    assert len(paged.catalog.errors) == 1 and victim.name in paged.catalog.errors[0].message
    assert paged.height == eager.height < promised
    assert paged.rows(0, paged.height).equals(eager.rows(0, eager.height))
    first.rows(0, first.height)  # stale: clipped, never out of bounds
    again = paged.where(compile_filter(text, paged.schema))
    want = eager.where(compile_filter(text, eager.schema))
    assert not again.stale and again.height == want.height
    assert again.rows(0, again.height).equals(want.rows(0, want.height))
