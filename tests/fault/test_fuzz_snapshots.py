"""Mutated snapshots never take a reader down: a seeded generator of broken files (flipped and cut
bytes in the LZ4 frame, hostile values in the CBOR header, index and chunks, inflation bombs),
each read the way the commands and the viewer read them. The only outcomes allowed: the events,
or one SnapshotError line naming the file (a bad chunk keeps the chunks before it, and says so);
never another exception, in bounded time and memory.

The budget is a few seconds in CI; ``TTVIEW_FUZZ_BUDGET=<seconds>`` runs longer.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import lz4.frame
import polars as pl
import pytest
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.reader import RingReader
from ttlog.store import SnapshotError

from tests.value_paths import value_paths
from ttview.decode import read_snapshot, snapshot_info
from ttview.scan import open_catalog

BUDGET = float(os.environ.get("TTVIEW_FUZZ_BUDGET", "6"))
SEED = int(os.environ.get("TTVIEW_FUZZ_SEED", "20261205"))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A small valid snapshot of every field kind, as the writer makes it (random access) and as
    an earlier writer did (one linked LZ4 frame, read front to back)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    path = R.create_ring_file(tmp, service="svc", ring_size="1MiB", level="TRACE", max_str=64)
    ring = R.PyRing()
    ring.map(path)
    log = R.PyLogger(ring, "orders")
    for i in range(300):
        log.info("Order placed" if i % 3 else "m" * 100, order_id=f"ORD-{i}", qty=i if i % 2 else i / 4,
                 ok=bool(i % 5), raw=b"\x00\xff" * (i % 4), none=None, obj=object, big=2**62 + i)
    batches = RingReader(path).read_all()
    new = write_snapshot(tmp / "out", batches, service="svc", reason="exit", chunk_size=50) \
        if (tmp / "out").mkdir() is None else None
    assert new is not None
    data = new.read_bytes()
    content = cbor2.loads(lz4.frame.decompress(data))
    content.pop("chunk_offsets", None)
    legacy = lz4.frame.compress(cbor2.dumps(content), block_linked=True, content_checksum=True)
    return {"new": data, "legacy": legacy}


HOSTILE = [None, True, -1, 0, 2**63, -(2**63), 2**64 - 1, 1.5, float("nan"), "", "x" * 1000, b"",
           b"\x00" * 17, [], {}, [None], {"n": -5}, cbor2.CBORTag(70, b"\xff" * 12),
           cbor2.CBORTag(79, b"\x01" * 7), cbor2.CBORTag(69, b""), cbor2.CBORTag(999, 1)]


def _mutate(rng: random.Random, good: dict[str, bytes]) -> bytes:
    kind = rng.choice(("bytes", "cut", "cbor", "cbor", "cbor", "bomb", "trailing"))
    data = good[rng.choice(("new", "legacy"))]
    if kind == "bytes":  # flip a few bytes anywhere in the file
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= rng.randrange(1, 256)
        return bytes(buf)
    if kind == "cut":
        return data[: rng.randrange(len(data))]
    content = cbor2.loads(lz4.frame.decompress(data))
    content.pop("chunk_offsets", None)
    if kind == "bomb":  # a chunk whose field values inflate to far more than the file could hold
        chunk = content["chunks"][rng.randrange(len(content["chunks"]))]
        chunk["fields"][0]["values"] = "\0".join(["z" * 1000] * 40_000)
        return lz4.frame.compress(cbor2.dumps(content))
    if kind == "trailing":  # the right content, then more bytes inside the same frame
        return lz4.frame.compress(cbor2.dumps(content) + b"\0" * rng.choice((1, 9, 100_000)))
    target = rng.choice(value_paths(content, items=4)[1:])
    parent = content
    for step in target[:-1]:
        parent = parent[step]
    parent[target[-1]] = rng.choice(HOSTILE)
    return lz4.frame.compress(cbor2.dumps(content), block_linked=rng.random() < 0.5)


def _read_all(path: Path) -> int:
    """Read a file every way the product does; returns events read. Raises SnapshotError only."""
    n = 0
    try:
        snapshot_info(path)
        n = len(read_snapshot(path))
    except SnapshotError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
    with open_catalog([path]) as catalog:
        for error in catalog.errors:
            assert "\n" not in error.message and str(path) in error.message
        if catalog.files:
            frame = catalog.lazy().collect()
            for error in catalog.errors:
                assert "\n" not in error.message and str(path) in error.message
            assert frame.height <= catalog.total
            n = max(n, frame.height)
    return n


def test_mutated_snapshots_give_events_or_one_line(good: dict[str, bytes], tmp_path: Path) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    tried = 0
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    while time.monotonic() - started < BUDGET or tried < 40:
        path = tmp_path / f"m{tried}.ttsnap"
        path.write_bytes(_mutate(rng, good))
        t = time.monotonic()
        try:
            _read_all(path)
        except (SnapshotError, AssertionError):
            raise
        except Exception as exc:  # noqa: BLE001 - the very thing this test forbids
            raise AssertionError(f"seed {SEED}, file {tried}: {type(exc).__name__}: {exc}") from None
        assert time.monotonic() - t < 10, f"file {tried} took {time.monotonic() - t:.1f} s"
        path.unlink()
        tried += 1
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    assert grown_mb < 600, f"reading {tried} mutated files grew the peak RSS by {grown_mb:.0f} MB"


def test_an_inflation_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A 2 MB file whose one chunk inflates to 1.5 GiB: exit 2, one line, and the process never
    holds more than a fraction of it (the reader stops at what the header allows)."""
    content = {"format": "ttlog-snapshot", "version": 1, "count": 10, "first_ts": 0, "last_ts": 9,
               "index": [{"n": 10, "ts_min": 0, "ts_max": 9, "levels": [20]}], "strings": [""],
               "chunks": [{"n": 10, "ts_min": 0, "ts_max": 9, "levels": [20], "pad": b""}]}
    head = cbor2.dumps(content)
    # the chunk map's last value, a byte string of 1.5 GiB of zeros, written in pieces
    assert head.endswith(b"\x40")
    size = 3 << 29
    comp = lz4.frame.LZ4FrameCompressor(block_linked=True)
    out = [comp.begin(), comp.compress(head[:-1] + b"\x5a" + size.to_bytes(4, "big"))]
    zeros = b"\0" * (64 << 20)
    for _ in range(size // len(zeros)):
        out.append(comp.compress(zeros))
    out.append(comp.flush())
    bomb = tmp_path / "bomb.ttsnap"
    bomb.write_bytes(b"".join(out))
    assert bomb.stat().st_size < 8 << 20
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run([sys.executable, '-m', 'ttview', 'stats', sys.argv[1]], "
            "capture_output=True, text=True)\n"
            "print(p.returncode); print(p.stderr.strip()); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    ran = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=300)
    code_, err, rss_kb = ran.stdout.strip().split("\n")
    assert code_ == "2" and "Traceback" not in err and err.count("\n") == 0 and str(bomb) in err, err
    assert int(rss_kb) < 800 * 1024, f"peak RSS {int(rss_kb) / 1024:.0f} MB"


def test_the_cli_on_mutated_files(good: dict[str, bytes], tmp_path: Path) -> None:
    """Through the command line: exit 2 (nothing readable) or 0/3 with the events, one line per bad
    file, never a traceback."""
    rng = random.Random(SEED + 1)
    files = []
    for i in range(6):
        path = tmp_path / f"c{i}.ttsnap"
        path.write_bytes(_mutate(rng, good))
        files.append(path)
    for path in files:
        ran = subprocess.run([sys.executable, "-m", "ttview", "stats", str(path), "--json"],
                             capture_output=True, text=True, timeout=120)
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.returncode in (0, 1, 2, 3), ran.returncode
        if ran.returncode == 2:
            assert ran.stderr.count("\n") == 1 and str(path) in ran.stderr
        if ran.returncode == 3:
            assert all("warning: skipped" in line for line in ran.stderr.splitlines())
    ran = subprocess.run([sys.executable, "-m", "ttview", "export", *map(str, files), "-F", "ndjson"],
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in ran.stderr and ran.returncode in (0, 1, 2, 3)
    if ran.returncode in (0, 3):
        assert all(line.startswith("{") for line in ran.stdout.splitlines())
    assert pl is not None


@pytest.mark.parametrize("kernels", ["c", "python"])
def test_a_flipped_bit_in_a_block_is_caught_by_its_checksum(
        good: dict[str, bytes], tmp_path: Path, kernels: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bit flipped inside an LZ4 block (a bad disk, a bad copy) could still inflate and decode to
    a wrong number; the block's xxHash32 is checked before any byte of it is used, with the C
    kernels or without them, so the file is reported and no wrong value comes out."""
    from ttview import lz4read

    if kernels == "python":
        monkeypatch.setattr(lz4read, "_XXH32", None)
    data = good["new"]
    layout = lz4read.read_layout(data, len(data))
    assert layout.block_checksum and layout.independent
    with open_catalog([_write(tmp_path / "ok.ttsnap", data)]) as catalog:
        want = catalog.lazy().collect()
    rng = random.Random(SEED)
    for trial in range(40):
        block = rng.choice(layout.blocks)
        length = int.from_bytes(data[block : block + 4], "little") & 0x7FFFFFFF
        at = block + 4 + rng.randrange(length)
        buf = bytearray(data)
        buf[at] ^= 1 << rng.randrange(8)
        path = _write(tmp_path / f"flip{trial}.ttsnap", bytes(buf))
        with open_catalog([path]) as catalog:
            frame = catalog.lazy().collect() if catalog.files else want.clear()
            assert catalog.errors, f"a flipped bit at {at} went unnoticed"
            assert "checksum" in catalog.errors[0].message or "LZ4" in catalog.errors[0].message
            assert frame.equals(want.head(frame.height))  # what was kept is what was written


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
