"""Snapshot files: round trips, the plain lz4 + cbor2 view, merging, names, errors, hostile files."""

from __future__ import annotations

import calendar
import errno
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import lz4.frame
import pytest
import ttlog.store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import ring as R
from ttlog.codec import SnapshotWriter, write_snapshot
from ttlog.reader import Batch, ObjText, RingReader
from ttlog.store import SnapshotError, apply_retention, list_snapshots, record_written

from tests.value_paths import value_paths
from ttview.decode import Snapshot, read_snapshot, snapshot_info

REPO = Path(__file__).absolute().parents[2]
FORMAT_MD = REPO / "docs" / "FORMAT.md"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- helpers ------------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """Floats by their bits (NaN == NaN, -0.0 != 0.0), containers recursively."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return value
    return value


def norm_events(events: Any) -> list[dict[str, Any]]:
    return [_norm(e) for e in events]


def batch_events(batches: list[Batch]) -> list[dict[str, Any]]:
    return [e for b in batches for e in b.events()]


def py_ring(tmp_path: Path, service: str = "svc", **kw: Any) -> tuple[R.PyRing, Path]:
    kw.setdefault("ring_size", "1MiB")
    kw.setdefault("level", "TRACE")
    path = R.create_ring_file(tmp_path, service=service, **kw)
    ring = R.PyRing()
    ring.map(path)
    return ring, path


def clocked(ring: R.PyRing, times: list[int]) -> None:
    """Stamp the next records of a pure-Python ring with these times, in order."""
    it = iter(times)
    ring._clock = lambda: next(it)


def write_trading(log: Any, n: int, start: int = 0) -> None:
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA"]
    for i in range(start, start + n):
        log.trade("Trade executed", symbol=symbols[i % 5], side="buy" if i % 3 else "sell", qty=100 + i % 7,
                  price=(10000 + i * 7 % 500) / 100, latency_us=(1000 + i * 37 % 90000) / 1000.0,
                  order_id=f"ORD-{i:06d}")


def write_everything(log: Any) -> None:
    """Every kind, odd values, cut and inline things, a key in several kinds."""
    log.info("plain", a=1, b=2.5, c=True, d=False, e=None, f="text", g=b"\x00\xff", h=object())
    log.info("m" * 300)  # longer than MAX_INTERNED_MESSAGE: stored inline
    log.warn("extremes", big=2**63 - 1, small=-(2**63), huge=2**70, nan=float("nan"), inf=float("inf"),
             ninf=float("-inf"), nzero=-0.0, tiny=5e-324, dec=0.1, cents=150.25)
    log.error("unicode ☃ \x1b[31m", s="naïve ☃", empty="", nul="a\x00b", arg_like="x")
    log.debug("positional %s", 1, "two", 3.0)
    log.info("mixed", qty=5)
    log.info("mixed", qty=5.5)
    log.info("mixed", qty="five")
    log.info("core names", level="high", ts=1, message="m", cut="c")
    log.info("long value", blob="x" * 5000, raw=b"y" * 5000)  # cut at max_str
    log.info("many fields", **{f"k{i}": i for i in range(300)})  # past MAX_FIELDS: fields_cut
    for i in range(40):  # a mostly-distinct text column
        log.order("order", order_id=f"ORD-{i:06d}", sym="AAPL")


def typed(m: dict[str, Any], key: str) -> list[int]:
    """A typed array of a chunk or field map as a list (joined with its ``_hi`` half)."""
    codes = {64: "B", 69: "H", 70: "I", 71: "Q", 72: "b", 77: "h", 78: "i", 79: "q", 86: "d"}
    t = m[key]
    values = list(struct.unpack(f"<{len(t.value) // struct.calcsize(codes[t.tag])}{codes[t.tag]}", t.value))
    if key + "_hi" in m:
        values = [v + (h << 16) for v, h in zip(values, typed(m, key + "_hi"), strict=True)]
    return values


def round_trip(tmp_path: Path, batches: list[Batch], **kw: Any) -> tuple[Path, Snapshot]:
    out = tmp_path / "snaps"
    out.mkdir(exist_ok=True)
    kw.setdefault("service", "svc")
    kw.setdefault("reason", "request")
    path = write_snapshot(out, batches, **kw)
    return path, read_snapshot(path)


def doc_code(title: str) -> dict[str, Any]:
    """The python block under a heading of docs/FORMAT.md's snapshot section, executed as it stands."""
    text = FORMAT_MD.read_text(encoding="utf-8")
    section = text[text.index("## Snapshot files"):]
    section = section[section.index(f"### {title}"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, f"FORMAT.md has no python block under {title!r}"
    ns: dict[str, Any] = {}
    exec(compile(code.group(1), "FORMAT.md", "exec"), ns)
    return ns


def doc_reader() -> Any:
    """The whole-file reader printed in docs/FORMAT.md."""
    return doc_code("Reading it with nothing but lz4 and cbor2")["events"]


# ---- round trips --------------------------------------------------------------------------------


def test_round_trip_matches_batch_events(make_ring: Any, tmp_path: Path) -> None:
    rut = make_ring(max_str=64)
    log = rut.logger("orders")
    write_everything(log)
    write_trading(rut.logger("trading"), 500)
    batches = RingReader(rut.path).read_all()
    assert sum(len(b) for b in batches) > 500
    _, snap = round_trip(tmp_path, batches)
    assert norm_events(snap.iter_events()) == norm_events(batch_events(batches))


def test_round_trip_small_chunks_and_many_batches(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, max_str=64)
    log = R.PyLogger(ring, "x")
    reader = RingReader(path, max_batch_bytes=4096)
    batches: list[Batch] = []
    for round_ in range(3):
        write_everything(log)
        write_trading(log, 100, start=round_ * 100)
        batches.extend(reader.read_all())
    assert len(batches) > 10
    for chunk_size in (1, 7, 64, 65536):
        _, snap = round_trip(tmp_path, batches, chunk_size=chunk_size)
        assert norm_events(snap.iter_events()) == norm_events(batch_events(batches))
        assert snap.chunks_read == math.ceil(len(snap) / chunk_size)


def test_inline_keys_when_the_string_table_is_full(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, strtab_size=4096)
    log = R.PyLogger(ring, "x")
    for i in range(400):  # the table fills up: later keys are written inline, as text
        log.info("k", **{f"key_{i}": i, "shared": i})
    batches = RingReader(path).read_all()
    inline = [k for b in batches for (k, _) in b.cols["columns"] if isinstance(k, str)]
    assert inline, "expected some inline keys"
    _, snap = round_trip(tmp_path, batches)
    assert norm_events(snap.iter_events()) == norm_events(batch_events(batches))


def test_empty_snapshot(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    batches = [RingReader(path).poll()]
    p, snap = round_trip(tmp_path, batches, reason="exit")
    assert len(snap) == 0 and snap.info.count == 0
    assert snap.info.first_ts is None and snap.info.last_ts is None
    assert snap.sources[0]["count"] == 0 and snap.sources[0]["first_seq"] is None
    assert list(snap.iter_events()) == []
    assert list(doc_reader()(p)) == []


def test_deterministic_bytes(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    write_trading(R.PyLogger(ring, "t"), 300)
    batches = RingReader(path).read_all()
    a = write_snapshot(tmp_path, batches, service="s", reason="x", created_ns=1_700_000_000_000_000_000)
    b = write_snapshot(tmp_path, batches, service="s", reason="x", created_ns=1_700_000_000_000_000_000)
    assert a != b and a.read_bytes() == b.read_bytes()


# ---- the plain view -----------------------------------------------------------------------------


def test_plain_lz4_and_cbor2_give_the_whole_content(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, max_str=64)
    write_everything(R.PyLogger(ring, "x"))
    write_trading(R.PyLogger(ring, "t"), 200)
    batches = RingReader(path).read_all()
    p, snap = round_trip(tmp_path, batches, service="trading engine/1", reason="crash", chunk_size=50)
    content = cbor2.loads(lz4.frame.decompress(p.read_bytes()))
    assert content["format"] == "ttlog-snapshot" and content["version"] == 1
    assert list(content)[:2] == ["format", "version"]
    assert list(content)[-3:] == ["strings", "chunks", "chunk_offsets"]
    assert content["service"] == "trading engine/1" and content["reason"] == "crash"
    assert content["count"] == len(snap) == sum(c["n"] for c in content["chunks"])
    stat_keys = ("n", "ts_min", "ts_max", "levels")
    stats = [{k: c[k] for k in stat_keys} for c in content["chunks"]]
    assert stats == [{k: e[k] for k in stat_keys} for e in content["index"]]
    for chunk, entry in zip(content["chunks"], content["index"], strict=True):
        assert entry["loggers"] == sorted(set(typed(chunk, "logger")))
    assert content["fields"][:3] == [["a", "int"], ["b", "float"], ["c", "bool"]]
    assert {tuple(f) for f in content["fields"]} == {
        (content["strings"][f["key"]], f["kind"]) for c in content["chunks"] for f in c["fields"]}
    assert content["strings"][0] == ""
    tags = set()

    def walk(x: Any) -> None:
        if isinstance(x, cbor2.CBORTag):
            tags.add(x.tag)
            assert isinstance(x.value, bytes)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(content)
    assert tags <= {64, 69, 70, 71, 72, 77, 78, 79, 86} and 64 in tags
    assert lz4.frame.get_frame_info(p.read_bytes())["content_checksum"]


def test_format_md_reader_gives_the_same_events(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, max_str=64)
    clocked(ring, [1_700_000_000_000_000_000 + i * i * 1000 for i in range(10_000)])  # big gaps: split ts
    write_everything(R.PyLogger(ring, "x"))
    write_trading(R.PyLogger(ring, "t"), 300)
    batches = RingReader(path).read_all()
    p, snap = round_trip(tmp_path, batches, chunk_size=100)
    content = cbor2.loads(lz4.frame.decompress(p.read_bytes()))
    assert any("ts_hi" in c for c in content["chunks"])
    ours = []
    for e in snap.iter_events():
        fields = {k: v.text if isinstance(v, ObjText) else v for k, v in e["fields"].items()}
        ours.append({"ts": e["ts"], "seq": e["seq"], "level": e["level"], "logger": e["logger"],
                     "message": e["message"], "fields": fields})
    assert norm_events(doc_reader()(p)) == norm_events(ours)


def test_format_md_reads_one_chunk_alone(tmp_path: Path) -> None:
    ns = doc_code("LZ4 blocks, and reading one chunk alone")
    ring, path = py_ring(tmp_path, max_str=64)
    write_everything(R.PyLogger(ring, "x"))
    write_trading(R.PyLogger(ring, "t"), 3000)
    batches = RingReader(path).read_all()
    p, snap = round_trip(tmp_path, batches, chunk_size=500)
    data = p.read_bytes()
    assert data[:7] == bytes.fromhex("04224d1874708e")
    content = cbor2.loads(lz4.frame.decompress(data))
    assert ns["offsets"](data) == content["chunk_offsets"] and len(content["chunks"]) == 7
    for i, chunk in enumerate(content["chunks"]):
        assert ns["read_chunk"](data, i) == chunk
    header = ns["read_header"](data)
    assert header == {k: v for k, v in content.items() if k not in ("chunks", "chunk_offsets")}
    strings = content["strings"]
    assert header["fields"][0] == ["a", "int"]
    assert [[strings[i] for i in e["loggers"]] for e in header["index"]] == [["x", "t"]] + [["t"]] * 6


def test_index_names_the_loggers_of_a_chunk_up_to_64(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    for i in range(200):
        R.PyLogger(ring, f"lg{i % 70}" if i < 140 else "lg3").info("m", i=i)
    p, _ = round_trip(tmp_path, RingReader(path).read_all(), chunk_size=100)
    content = cbor2.loads(lz4.frame.decompress(p.read_bytes()))
    index, strings = content["index"], content["strings"]
    assert "loggers" not in index[0]  # 70 loggers: too many to list
    ids = index[1]["loggers"]
    assert ids == sorted(ids)
    assert {strings[i] for i in ids} == {f"lg{i % 70}" for i in range(100, 140)} | {"lg3"}


def test_compact_encodings(tmp_path: Path) -> None:
    """Prices and latencies as scaled integers, wide values split, distinct text joined."""
    ring, path = py_ring(tmp_path)
    clocked(ring, [10**18 + i * 100_000 for i in range(1000)])  # gaps of 100 us: more than 16 bits
    log = R.PyLogger(ring, "t")
    for i in range(500):
        log.info("e", price=(15000 + i) / 100, lat=(i * 9973 % 200_000) / 1000.0, rnd=math.pi * i,
                 oid=f"ORD-{i:06d}", sym=["A", "B"][i % 2], big=i * 1_000_000, wide=i * 10**9 - 7,
                 huge=2**60 + i)
    batches = RingReader(path).read_all()
    p, snap = round_trip(tmp_path, batches)
    content = cbor2.loads(lz4.frame.decompress(p.read_bytes()))
    chunk = content["chunks"][0]
    cols = {content["strings"][f["key"]]: f for f in chunk["fields"]}
    assert cols["price"]["scale"] == 2 and cols["price"]["values"].tag == 69
    assert cols["lat"]["scale"] == 3 and "values_hi" in cols["lat"]
    assert "scale" not in cols["rnd"] and cols["rnd"]["values"].tag == 86
    assert isinstance(cols["oid"]["values"], str) and cols["oid"]["values"].split("\0")[:2] == ["ORD-000000",
                                                                                                 "ORD-000001"]
    assert cols["sym"]["values"].tag == 64  # ids into the string table
    assert cols["big"]["values"].tag == 69 and cols["big"]["values_hi"].tag == 69  # 32 bits: 16 + 16
    assert cols["wide"]["values"].tag == 69 and cols["wide"]["values_hi"].tag == 78  # 48 bits: 16 + 32
    assert cols["huge"]["values"].tag == 71 and "values_hi" not in cols["huge"]  # 61 bits: as they are
    assert "ts_hi" in chunk and chunk["ts"].tag == 69
    assert all("rows" not in f for f in chunk["fields"])  # every event has every field
    assert norm_events(snap.iter_events()) == norm_events(batch_events(batches))


# ---- merging ------------------------------------------------------------------------------------


def test_rings_merged_by_time_stably(tmp_path: Path) -> None:
    ra, pa = py_ring(tmp_path, service="alpha", pid=111)
    rb, pb = py_ring(tmp_path, service="beta", pid=222)
    base = 1_800_000_000_000_000_000
    clocked(ra, [base + t for t in (0, 10, 20, 20, 30, 50, 50, 90)])
    clocked(rb, [base + t for t in (5, 20, 20, 40, 50, 60)])
    la, lb = R.PyLogger(ra, "a"), R.PyLogger(rb, "b")
    for i in range(8):
        la.info("from a", i=i, only_a=i * 1.5 if i % 2 else None)
    for i in range(6):
        lb.info("from b", i=i, only_b="x" * i)
    batches = RingReader(pa).read_all() + RingReader(pb).read_all()
    p, snap = round_trip(tmp_path, batches, chunk_size=3)
    events = list(snap.iter_events())
    ts = [e["ts"] - base for e in events]
    assert ts == sorted(ts)
    # equal times keep the order the batches were added in: alpha's before beta's
    ties = [(e["ts"] - base, e["service"], e["fields"]["i"]) for e in events if e["ts"] - base in (20, 50)]
    assert ties == [
        (20, "alpha", 2), (20, "alpha", 3), (20, "beta", 1), (20, "beta", 2),
        (50, "alpha", 5), (50, "alpha", 6), (50, "beta", 4)]
    expected = sorted(batch_events(batches), key=lambda e: e["ts"])  # sorted() is stable too
    assert norm_events(events) == norm_events(expected)
    info = snap.info
    assert info.pids == [111, 222] and info.pid == 111 and info.service == "svc"
    assert [(s["service"], s["pid"], s["first_seq"], s["last_seq"], s["count"]) for s in info.sources] == [
        ("alpha", 111, 0, 7, 8), ("beta", 222, 0, 5, 6)]
    assert p.name.startswith("svc.111.")


def test_writer_accumulates_and_clears(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, service="acc")
    log = R.PyLogger(ring, "x")
    reader = RingReader(path)
    writer = SnapshotWriter()
    write_trading(log, 10)
    writer.add(reader.poll())
    write_trading(log, 10, start=10)
    writer.add(reader.poll())
    writer.add(reader.poll())  # empty: counts only
    assert len(writer) == 20 and writer.sources[0]["count"] == 20
    p1 = writer.write(tmp_path, reason="periodic")
    assert p1.name.startswith("acc.")
    assert len(read_snapshot(p1)) == 20 and len(writer) == 20  # write() keeps the events
    writer.clear()
    write_trading(log, 5, start=20)
    writer.add(reader.poll())
    p2 = writer.write(tmp_path, reason="periodic")
    snap = read_snapshot(p2)
    assert len(snap) == 5 and snap.sources[0]["first_seq"] == 20
    assert {e["fields"]["order_id"] for e in snap.iter_events()} == {f"ORD-{i:06d}" for i in range(20, 25)}


def test_chunk_skipping_by_time_and_level(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    clocked(ring, list(range(1000, 1100)))
    log = R.PyLogger(ring, "x")
    for i in range(100):
        (log.error if i >= 90 else log.debug)("e", i=i)
    batches = RingReader(path).read_all()
    p, full = round_trip(tmp_path, batches, chunk_size=10)
    assert full.chunks_read == 10
    late = read_snapshot(p, ts_min=1085)
    assert late.chunks_read == 2 and late.chunks_skipped == 8
    assert [e["fields"]["i"] for e in late.iter_events()] == list(range(80, 100))
    early = read_snapshot(p, ts_max=1004)
    assert [e["fields"]["i"] for e in early.iter_events()] == list(range(10))
    errors = read_snapshot(p, min_level=R.LEVELS["ERROR"])
    assert [e["fields"]["i"] for e in errors.iter_events()] == list(range(90, 100))
    assert snapshot_info(p).index[0]["levels"] == [R.LEVELS["DEBUG"]]


# ---- names, atomic writes, errors ---------------------------------------------------------------


def test_file_name_mode_and_no_collision(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, pid=12345)
    write_trading(R.PyLogger(ring, "t"), 3)
    batches = RingReader(path).read_all()
    created = calendar.timegm((2026, 11, 21, 14, 25, 1)) * 10**9 + 123_456_789
    out = tmp_path / "out"
    out.mkdir()
    names = [write_snapshot(out, batches, service="trading-engine", reason="crash", created_ns=created).name
             for _ in range(3)]
    assert names == ["trading-engine.12345.20261121T142501.123456Z.crash.ttsnap",
                     "trading-engine.12345.20261121T142501.123456Z.crash.1.ttsnap",
                     "trading-engine.12345.20261121T142501.123456Z.crash.2.ttsnap"]
    odd = write_snapshot(out, batches, service="a/b c.d", reason="../x y", created_ns=created)
    assert odd.name == "a_b_c_d.12345.20261121T142501.123456Z.___x_y.ttsnap"
    assert odd.parent == out
    for name in names:
        assert (out / name).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in out.iterdir()) == sorted(names + [odd.name])  # no temp files
    assert {p.name for p in list_snapshots(out)} == set(names + [odd.name])


def test_write_errors_are_one_line_and_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ring, path = py_ring(tmp_path)
    write_trading(R.PyLogger(ring, "t"), 50)
    batches = RingReader(path).read_all()
    with pytest.raises(SnapshotError, match="no such directory") as exc:
        write_snapshot(tmp_path / "missing", batches, service="s", reason="x")
    assert "\n" not in str(exc.value)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(SnapshotError):
        write_snapshot(a_file, batches, service="s", reason="x")

    out = tmp_path / "full"
    out.mkdir()

    def full_disk(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ttlog.store, "_write_fd", full_disk)
    with pytest.raises(SnapshotError, match="No space left on device") as exc:
        write_snapshot(out, batches, service="s", reason="x")
    assert "\n" not in str(exc.value) and "full" in str(exc.value)
    assert list(out.iterdir()) == []

    calls = []

    def short_writes(fd: int, data: Any) -> int:  # partial writes are completed
        calls.append(1)
        return os.write(fd, bytes(data[:1000]))

    monkeypatch.setattr(ttlog.store, "_write_fd", short_writes)
    p = write_snapshot(out, batches, service="s", reason="x")
    assert len(calls) > 1 and len(read_snapshot(p)) == 50
    assert [x.name for x in out.iterdir()] == [p.name]


def test_retention_deletes_oldest_and_keeps_newest(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    write_trading(R.PyLogger(ring, "t"), 20)
    batches = RingReader(path).read_all()
    out = tmp_path / "r"
    out.mkdir()
    paths = [write_snapshot(out, batches, service="s", reason="periodic", created_ns=10**18 + i * 10**9)
             for i in range(6)]
    (out / "notes.txt").write_text("not a snapshot")
    assert list_snapshots(out) == paths
    assert apply_retention(out, max_files=1) == []  # nothing is the sidecar's until recorded
    record_written(out, paths)
    assert apply_retention(out) == []
    assert apply_retention(out, max_files=4) == paths[:2]
    size = paths[-1].stat().st_size
    assert apply_retention(out, max_bytes=2 * size + 1) == paths[2:4]
    assert apply_retention(out, max_bytes=1, max_files=0) == paths[4:5]  # the newest stays
    assert list_snapshots(out) == paths[5:] and (out / "notes.txt").exists()
    assert apply_retention(tmp_path / "missing", max_files=1) == []


# ---- snapshot_info ------------------------------------------------------------------------------


def test_snapshot_info_reads_only_the_header(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, service="svc", pid=4242)
    write_trading(R.PyLogger(ring, "t"), 3000)
    batches = RingReader(path).read_all()
    p, snap = round_trip(tmp_path, batches, reason="signal", chunk_size=1000, created_ns=123_000_000_000)
    info = snapshot_info(p)
    assert (info.service, info.pid, info.pids, info.reason, info.count, info.created_ns) == (
        "svc", 4242, [4242], "signal", 3000, 123_000_000_000)
    assert info.first_ts == snap.info.first_ts and info.last_ts == snap.info.last_ts
    assert info.sources == snap.info.sources and len(info.index) == 3
    assert info.size == p.stat().st_size
    # a file cut in its chunks is reported as truncated, header or not (its frame does not end)
    data = p.read_bytes()
    cut = tmp_path / "cut.ttsnap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    for read in (snapshot_info, read_snapshot):
        with pytest.raises(SnapshotError, match="cut.ttsnap.*truncated"):
            read(cut)


# ---- hostile files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_valid(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("small")
    ring, path = py_ring(tmp, max_str=32)
    log = R.PyLogger(ring, "x")
    log.info("hello", a=1, b=2.5, c="x", d=b"y", e=None, f=True, g=object(), h="z" * 40)
    for i in range(5):
        log.warn("w", oid=f"O{i}", n=i, p=i / 4)
    log.info("m" * 300)
    p = write_snapshot(tmp, RingReader(path).read_all(), service="s", reason="x", chunk_size=4)
    return p.read_bytes()


def check_fails_cleanly(path: Path, data: bytes) -> None:
    """Reading ``data`` either works or raises one SnapshotError line naming the file."""
    path.write_bytes(data)
    for read in (read_snapshot, snapshot_info):
        try:
            result = read(path)
        except SnapshotError as exc:
            msg = str(exc)
            assert str(path) in msg and "\n" not in msg, msg
        else:
            if isinstance(result, Snapshot):
                list(result.iter_events())


def test_truncations_at_every_length(small_valid: bytes, tmp_path: Path) -> None:
    path = tmp_path / "t.ttsnap"
    assert len(small_valid) < 4000
    for size in range(len(small_valid)):
        path.write_bytes(small_valid[:size])
        with pytest.raises(SnapshotError) as exc:
            read_snapshot(path)
        assert str(path) in str(exc.value) and "\n" not in str(exc.value)
        check_fails_cleanly(path, small_valid[:size])
    path.write_bytes(small_valid + b"extra")
    with pytest.raises(SnapshotError, match="after the LZ4 frame"):
        read_snapshot(path)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(data: bytes, tmp_path: Path) -> None:
    check_fails_cleanly(tmp_path / "r.ttsnap", data)
    check_fails_cleanly(tmp_path / "r.ttsnap", b"\x04\x22\x4d\x18" + data)


@FUZZ
@given(data=st.data())
def test_bit_flips_in_the_compressed_file(small_valid: bytes, tmp_path: Path, data: st.DataObject) -> None:
    buf = bytearray(small_valid)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] ^= 1 << data.draw(st.integers(0, 7))
    check_fails_cleanly(tmp_path / "f.ttsnap", bytes(buf))


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=16)
    | st.builds(cbor2.CBORTag, st.sampled_from([64, 69, 70, 71, 72, 79, 86, 1, 2, 99]),
                st.binary(max_size=24)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(content=cbor_values)
def test_valid_lz4_holding_other_cbor(content: Any, tmp_path: Path) -> None:
    path = tmp_path / "c.ttsnap"
    path.write_bytes(lz4.frame.compress(cbor2.dumps(content)))
    with pytest.raises(SnapshotError) as exc:
        read_snapshot(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    check_fails_cleanly(path, path.read_bytes())


@FUZZ
@given(data=st.data())
def test_mutated_snapshot_structure(small_valid: bytes, tmp_path: Path, data: st.DataObject) -> None:
    """A valid snapshot with one value somewhere replaced or removed: read cleanly or refused."""
    content = cbor2.loads(lz4.frame.decompress(small_valid))
    paths = value_paths(content, items=6)[1:]
    target = data.draw(st.sampled_from(paths))
    parent = content
    for step in target[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[target[-1]]
    else:
        parent[target[-1]] = data.draw(cbor_values)
    check_fails_cleanly(tmp_path / "m.ttsnap", lz4.frame.compress(cbor2.dumps(content)))


def test_foreign_and_wrong_version(small_valid: bytes, tmp_path: Path) -> None:
    path = tmp_path / "v.ttsnap"
    content = cbor2.loads(lz4.frame.decompress(small_valid))
    content["version"] = 2
    path.write_bytes(lz4.frame.compress(cbor2.dumps(content)))
    for read in (read_snapshot, snapshot_info):
        with pytest.raises(SnapshotError, match=r"version 2.*reads version 1"):
            read(path)
    path.write_bytes(lz4.frame.compress(cbor2.dumps({"format": "other", "version": 1})))
    with pytest.raises(SnapshotError, match="not a ttlog snapshot"):
        read_snapshot(path)
    path.write_bytes(b"just text\n")
    with pytest.raises(SnapshotError, match="not an LZ4 frame"):
        snapshot_info(path)
    with pytest.raises(SnapshotError, match="cannot open"):
        read_snapshot(tmp_path / "missing.ttsnap")
    with pytest.raises(SnapshotError, match="cannot"):
        read_snapshot(tmp_path)


# ---- the package ----------------------------------------------------------------------------------


def test_engine_snapshot_stays_callable_and_imports_no_polars() -> None:
    code = (
        "import sys, ttlog, ttlog.codec, ttlog.store, ttlog.events\n"
        "assert callable(ttlog.snapshot)\n"
        "ttlog.snapshot('request')\n"  # no ring mapped: a no-op, not a TypeError
        "bad = [m for m in ('polars', 'numpy', 'textual', 'rich', 'typer') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    import ttlog

    root = str(Path(ttlog.__file__).parent.parent)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


# ---- hostile rings ------------------------------------------------------------------------------


def test_huge_string_ids_cost_the_writer_no_memory(tmp_path: Path) -> None:
    """Batches whose logger id is 0xFFFFFFFF (and a message id far past the table): the writer's
    id maps stay bounded by the string table, and the ids read as unresolved."""
    import tracemalloc

    ring, path = py_ring(tmp_path)
    log = R.PyLogger(ring, "x")
    for i in range(4):
        log.info("m", i=i)
    ring.unmap()
    batches = RingReader(path).read_all()
    struct.pack_into("<I", batches[0].cols["logger"], 0, 0xFFFFFFFF)
    struct.pack_into("<I", batches[0].cols["message"], 4, 0xFFFFFFF0)
    tracemalloc.start()
    try:
        writer = SnapshotWriter()
        for b in batches:
            writer.add(b)
        p = writer.write(tmp_path, reason="x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak
    events = list(read_snapshot(p).iter_events())
    assert [e["logger"] for e in events] == [f"<string {0xFFFFFFFF}?>", "x", "x", "x"]
    assert [e["message"] for e in events] == ["m", f"<string {0xFFFFFFF0}?>", "m", "m"]
    assert [e["fields"]["i"] for e in events] == [0, 1, 2, 3]


def test_a_ring_record_naming_an_unknown_string_is_counted_corrupt(tmp_path: Path) -> None:
    """The reader reads the string table after the records, so every string a producer's record
    names is in it: a record naming one past the table is hostile or corrupt. It is counted and
    said, and no event is made up from it."""
    ring, path = py_ring(tmp_path)
    log = R.PyLogger(ring, "x")
    for i in range(4):
        log.info("m", i=i)
    ring.unmap()
    data = bytearray(path.read_bytes())
    rec = R.read_geometry(data, str(path)).data_off
    rec += struct.unpack_from("<I", data, rec)[0]
    struct.pack_into("<I", data, rec + 28, 0xFFFFFFFF)  # the second record's logger id
    path.write_bytes(data)
    batches = RingReader(path).read_all()
    assert sum(b.corrupt for b in batches) == 1
    assert any("not in the ring's table" in (b.cols["error"] or "") for b in batches)
    rows = sum(int(b.cols["n"]) for b in batches)
    assert rows == 1  # the record before it; nothing after a bad record is trusted
