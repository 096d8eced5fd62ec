"""ttview.sources: snapshots and live rings as polars frames (dtypes, nulls, merges, errors)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import lz4.frame
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.events import Columns, FieldData
from ttlog.reader import Batch, ObjText, RingReader
from ttlog.store import SnapshotError

from tests.value_paths import value_paths
from ttview.schema import CORE_COLUMNS, field_column_name, union_value
from ttview.sources import (
    CUT_COLUMN,
    CUT_DTYPE,
    FIELDS_CUT_MARK,
    LiveSource,
    batches_to_frame,
    columns_to_frame,
    concat_frames,
    load_newest,
    load_snapshots,
    resolve_paths,
    start_loading,
)


def py_ring(directory: Path, service: str = "svc", **kw: Any) -> tuple[R.PyRing, Path]:
    kw.setdefault("ring_size", "1MiB")
    kw.setdefault("level", "TRACE")
    path = R.create_ring_file(directory, service=service, **kw)
    ring = R.PyRing()
    ring.map(path)
    return ring, path


def clocked(ring: R.PyRing, times: list[int]) -> None:
    it = iter(times)
    ring._clock = lambda: next(it)


def snap(directory: Path, batches: list[Batch], **kw: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    kw.setdefault("service", "svc")
    kw.setdefault("reason", "request")
    return write_snapshot(directory, batches, **kw)


def frame_of(path: Path) -> pl.DataFrame:
    res = load_snapshots([path])
    assert not res.errors, res.errors
    return res.frame


BASE = 1_700_000_000_000_000_000


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[list[Batch], pl.DataFrame]:
    ring, path = py_ring(tmp_path, max_str=32)
    clocked(ring, [BASE + i * 1000 for i in range(100)])
    log = R.PyLogger(ring, "orders")
    log.info("a", qty=1, px=1.5, flag=True, name="x", raw=b"\x00\xff", obj=object, nothing=None, mix=1)
    log.warn("b", qty=2.5, mix="two", level="lvl", cut="c", note="n" * 50)  # note and raw are cut at 32
    log.error("c", flag=False, mix=True, only_none=None, raw=b"r" * 40)
    log.trade("m" * 300)  # inline message
    log.info("many", **{f"k{i}": i for i in range(300)})
    log.info("ints", qty=3, whole=7)
    batches = RingReader(path).read_all()
    return batches, frame_of(snap(tmp_path / "s", batches))


def test_core_columns_and_dtypes(mixed: tuple[list[Batch], pl.DataFrame]) -> None:
    _, df = mixed
    assert list(df.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)
    for name, dtype in CORE_COLUMNS.items():
        assert df.schema[name] == dtype, name
    assert df.schema[CUT_COLUMN] == CUT_DTYPE
    fields = df.schema
    # a field holding values of several kinds keeps each value's type: a Struct, one part per kind
    assert fields["qty"] == pl.Struct({"int": pl.Int64, "float": pl.Float64})
    assert fields["whole"] == pl.Int64
    assert fields["px"] == pl.Float64
    assert fields["flag"] == pl.Boolean
    assert fields["name"] == pl.String
    assert fields["raw"] == pl.Binary
    assert fields["obj"] == pl.String  # text of a value of another type
    assert fields["nothing"] == pl.String and fields["only_none"] == pl.String  # only nulls
    assert fields["mix"] == pl.Struct({"int": pl.Int64, "bool": pl.Boolean, "str": pl.String})
    assert fields["field.level"] == pl.String and fields["field.cut"] == pl.String  # reserved names
    assert df.height == 6


def test_values_and_nulls(mixed: tuple[list[Batch], pl.DataFrame]) -> None:
    _, df = mixed
    qty = [union_value(v) for v in df["qty"].to_list()]
    assert (qty == [1, 2.5, None, None, None, 3]
            and [type(v) for v in qty] == [int, float] + [type(None)] * 3 + [int])
    assert df["whole"].to_list() == [None] * 5 + [7]
    assert df["flag"].to_list() == [True, None, False, None, None, None]
    mix = [union_value(v) for v in df["mix"].to_list()]
    assert mix == [1, "two", True, None, None, None] and [type(v) for v in mix[:3]] == [int, str, bool]
    assert df["obj"].to_list() == ["<class 'object'>"] + [None] * 5
    assert df["raw"].to_list() == [b"\x00\xff", None, b"r" * 32, None, None, None]
    assert df["nothing"].null_count() == 6
    assert df["field.level"].to_list() == [None, "lvl", None, None, None, None]
    assert df["level"].to_list() == [20, 30, 40, 22, 20, 20]
    assert df["logger"].unique().to_list() == ["orders"]
    assert df["message"].to_list()[:3] == ["a", "b", "c"] and df["message"][3] == "m" * 32
    assert df["ts"].to_list()[0].isoformat() == "2023-11-14T22:13:20+00:00"
    assert df["ts"].cast(pl.Int64).to_list() == [BASE + i * 1000 for i in range(6)]
    assert df["seq"].to_list() == list(range(6))
    assert df["service"].unique().to_list() == ["svc"] and df["pid"][0] == os.getpid()
    assert df["tid"].dtype == pl.Int64 and df["tid"][0] == R.threading.get_native_id()
    assert "k254" in df.columns and "k255" not in df.columns and df["k0"].to_list()[4] == 0


def test_cut_markers(mixed: tuple[list[Batch], pl.DataFrame]) -> None:
    _, df = mixed
    cut = df[CUT_COLUMN].to_list()
    assert cut[0] is None
    assert cut[1] == ["note"]
    assert cut[2] == ["raw"]
    assert cut[3] == ["message"]  # the inline message was cut at max_str
    assert cut[4] == [FIELDS_CUT_MARK]
    assert df.filter(pl.col(CUT_COLUMN).list.contains("note")).height == 1


def test_frame_matches_batch_events(mixed: tuple[list[Batch], pl.DataFrame]) -> None:
    batches, df = mixed
    events = [e for b in batches for e in b.events()]
    rows = df.to_dicts()
    assert len(rows) == len(events)
    for row, ev in zip(rows, events, strict=True):
        assert row["seq"] == ev["seq"] and row["message"] == ev["message"]
        for key, value in ev["fields"].items():
            got = union_value(row[field_column_name(key)])
            if isinstance(value, ObjText):
                value = value.text
            assert got == value and type(got) is type(value), (key, got, value)  # every value as it went in


def test_batches_to_frame_equals_the_snapshot_frame(mixed: tuple[list[Batch], pl.DataFrame]) -> None:
    batches, df = mixed
    assert batches_to_frame(batches).equals(df)


def test_logger_filters_with_string_literals(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    for name in ("orders", "md", "risk", "orders"):
        R.PyLogger(ring, name).info("x")
    df = frame_of(snap(tmp_path / "s", RingReader(path).read_all()))
    assert df.filter(pl.col("logger") == "orders").height == 2
    assert df.filter(pl.col("logger").is_in(["md", "risk"])).height == 2
    assert df.filter(pl.col("logger").str.starts_with("ri")).height == 1


def test_rings_merged_by_time(tmp_path: Path) -> None:
    ra, pa = py_ring(tmp_path, service="alpha", pid=11)
    rb, pb = py_ring(tmp_path, service="beta", pid=22)
    clocked(ra, [BASE + t for t in (0, 20, 40, 60)])
    clocked(rb, [BASE + t for t in (10, 20, 50)])
    for i in range(4):
        R.PyLogger(ra, "a").info("a", i=i, a_only=i)
    for i in range(3):
        R.PyLogger(rb, "b").info("b", i=float(i), b_only="x")
    batches = RingReader(pa).read_all() + RingReader(pb).read_all()
    df = frame_of(snap(tmp_path / "s", batches))
    assert (df["ts"].cast(pl.Int64) - BASE).to_list() == [0, 10, 20, 20, 40, 50, 60]
    assert df["service"].to_list() == ["alpha", "beta", "alpha", "beta", "alpha", "beta", "alpha"]
    assert df["pid"].to_list() == [11, 22, 11, 22, 11, 22, 11]
    assert df["i"].dtype == pl.Struct({"int": pl.Int64, "float": pl.Float64})
    i = [union_value(v) for v in df["i"].to_list()]
    assert i == [0, 0, 1, 1, 2, 2, 3] and [type(v) for v in i] == [int, float] * 3 + [int]
    assert df["a_only"].to_list() == [0, None, 1, None, 2, None, 3]
    assert df["b_only"].to_list() == [None, "x", None, "x", None, "x", None]


def test_several_files_merged_and_a_corrupt_one_reported(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    clocked(ring, [BASE + i for i in range(1000)])
    log = R.PyLogger(ring, "x")
    reader = RingReader(path)
    out = tmp_path / "snaps"
    files = []
    for k in range(3):
        for i in range(5):
            log.info("e", k=k, i=i, v=(k if k != 1 else k + 0.5))
        files.append(snap(out, [reader.poll()], created_ns=BASE + k * 10**9))
    bad = out / "svc.1.20231114T221321.000000Z.crash.ttsnap"
    bad.write_bytes(files[0].read_bytes()[:100])
    res = load_snapshots([out])
    assert len(res.errors) == 1 and res.errors[0].path == bad
    assert str(bad) in res.errors[0].message and "\n" not in res.errors[0].message
    assert res.files == files
    df = res.frame
    assert df.height == 15 and df["seq"].to_list() == list(range(15))
    v = [union_value(x) for x in df["v"].to_list()]
    assert v[4] == 0 and type(v[4]) is int and v[5] == 1.5 and v[10] == 2 and type(v[10]) is int
    assert len(res.sources) == 3 and res.dropped == 0 and res.lost == 0
    assert {s["file"] for s in res.sources} == {str(f) for f in files}
    # files given in any order are still merged by time; globs and files work too
    res2 = load_snapshots([files[2], str(out / "*.exit.ttsnap"), files[0], files[1], files[0]])
    assert [str(e) for e in res2.errors] == [f"{out / '*.exit.ttsnap'}: no file matches"]
    assert res2.frame.equals(df)
    with pytest.raises(SnapshotError, match=str(bad)):
        load_snapshots([out], on_error="raise")
    missing = load_snapshots([tmp_path / "nope.ttsnap", tmp_path / "empty"])
    assert missing.frame.height == 0 and list(missing.frame.columns) == list(CORE_COLUMNS)
    assert [e.message for e in missing.errors] == [f"{tmp_path / 'nope.ttsnap'}: no such file or directory",
                                                   f"{tmp_path / 'empty'}: no such file or directory"]
    (tmp_path / "empty").mkdir()
    assert "no *.ttsnap files" in load_snapshots(tmp_path / "empty").errors[0].message
    # begun early in a thread (the viewer's start): the same result, errors included
    loading = start_loading([out, tmp_path / "nope.ttsnap"])
    assert loading.newest.result(timeout=30) is None  # the corrupt file: nothing early, all later
    early = loading.full.result(timeout=30)
    assert early.frame.equals(df) and early.files == files
    assert [e.path for e in early.errors] == [tmp_path / "nope.ttsnap", bad]


def test_newest_events_are_an_exact_suffix_of_the_full_merge(tmp_path: Path) -> None:
    # two services whose snapshots overlap in time, each cut into chunks of 100 events
    out = tmp_path / "snaps"
    # (b's chunks are shorter in time: the older rows of a's last chunk interleave with a chunk
    # of b that is skipped, so only rows from the start of b's last chunk on are exact)
    for service, start, step in (("a", 0, 7), ("b", 2000, 5)):
        (tmp_path / service).mkdir()
        ring, path = py_ring(tmp_path / service, service=service)
        clocked(ring, [BASE + start + i * step for i in range(1000)])
        log = R.PyLogger(ring, "x")
        for i in range(1000):
            log.info("e", i=i, svc=service)
        snap(out, RingReader(path).read_all(), service=service, chunk_size=100)
    full = load_snapshots([out]).frame
    newest = load_newest([out])
    assert newest is not None and newest.total == full.height == 2000
    assert 100 <= newest.frame.height < 1000
    assert newest.frame.equals(full.tail(newest.frame.height))
    assert set(newest.frame["service"].to_list()) == {"a", "b"}
    loading = start_loading([out])
    early = loading.newest.result(timeout=30)
    assert early is not None and early.frame.equals(newest.frame)
    assert loading.full.result(timeout=30).frame.equals(full)
    # one chunk in all: reading the newest first would gain nothing
    small = tmp_path / "small"
    (tmp_path / "c").mkdir()
    ring, path = py_ring(tmp_path / "c", service="c")
    R.PyLogger(ring, "x").info("e")
    snap(small, RingReader(path).read_all())
    assert load_newest([small]) is None


def test_resolve_paths_directory_newest_last(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    R.PyLogger(ring, "x").info("e")
    batches = RingReader(path).read_all()
    out = tmp_path / "d"
    made = [snap(out, batches, created_ns=BASE + k * 10**9) for k in (3, 1, 2)]
    files, errors = resolve_paths(out)
    assert not errors and files == [made[1], made[2], made[0]]


def test_sample_snapshots_load() -> None:
    samples = Path(__file__).absolute().parents[2] / "sample_snapshots"
    assert len(list(samples.glob("*.ttsnap"))) == 3
    res = load_snapshots([samples])
    assert not res.errors and res.frame.height > 0


def test_concat_frames_unifies_dtypes() -> None:
    a = pl.DataFrame({"x": [1, 2], "y": ["a", "b"], "z": [True, False]})
    b = pl.DataFrame({"x": [1.5], "y": [3], "w": [b"q"]})
    out = concat_frames([a, b])
    assert out.schema["x"] == pl.Struct({"int": pl.Int64, "float": pl.Float64})
    assert [union_value(v) for v in out["x"].to_list()] == [1, 2, 1.5]
    assert out.schema["y"] == pl.Struct({"int": pl.Int64, "str": pl.String})
    assert [union_value(v) for v in out["y"].to_list()] == ["a", "b", 3]
    assert out["z"].to_list() == [True, False, None] and out["w"].to_list() == [None, None, b"q"]


def test_one_million_events_from_numpy_columns() -> None:
    """The frame is built without a Python loop per event (timing is in bench/, not here)."""
    n = 1_000_000
    rng = np.random.default_rng(1)
    rows = np.flatnonzero(rng.random(n) < 0.3)
    cols = Columns(
        n, np.arange(n, dtype=np.int64) + BASE, np.arange(n, dtype=np.int64), np.full(n, 20, np.uint8),
        np.zeros(n, np.uint32), np.ones(n, np.uint32), np.full(n, 2, np.uint32), np.zeros(n, np.uint32),
        np.zeros(0, np.int64), np.zeros(0, np.int64),
        {("px", "float"): FieldData(None, rng.random(n), np.zeros(0, np.int64)),
         ("sym", "str"): FieldData(rows, (rows % 2 + 3).astype(np.uint32), np.zeros(0, np.int64),
                                     sids=True)},
        ["", "log", "msg", "AAPL", "MSFT"], [{"service": "s", "pid": 1}])
    df = columns_to_frame(cols)
    assert df.height == n and df["sym"].null_count() == n - len(rows)
    assert df["sym"][int(rows[0])] in ("AAPL", "MSFT") and df["logger"][0] == "log"


# ---- live rings ---------------------------------------------------------------------------------


def test_live_source_follows_rings(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    ra, pa = py_ring(shm, service="alpha", pid=os.getpid())
    la = R.PyLogger(ra, "a")
    for i in range(3):
        la.info("old", i=i)
    with LiveSource(shm, max_events=10) as live:
        first = live.poll()
        assert first["i"].to_list() == [0, 1, 2]
        assert live.poll().height == 0
        rb, pb = py_ring(shm, service="beta", pid=os.getpid())  # a new ring appears
        lb = R.PyLogger(rb, "b")
        for i in range(4):
            la.info("new", i=10 + i)
            lb.info("new", j=f"x{i}")
        new = live.poll()
        assert new.height == 8 and set(new["service"].to_list()) == {"alpha", "beta"}
        assert new["ts"].is_sorted()
        assert live.frame.height == 10 and live.frame["seq"].to_list()[:1] == [1]  # the newest 10
        assert set(live.frame.columns) >= {"i", "j"}
        # the producer of beta closes its ring: drained, then marked ended
        lb.info("last", j="end")
        rb.set_header_u32(R.H_STATE, R.STATE_CLOSED)
        rb.unmap()
        last = live.poll()
        assert last["j"].to_list() == ["end"]
        assert live.ended == [pb] and live.rings[pb].reader is None
        # a ring file that goes away is drained and ended too
        la.info("gone", i=99)
        ra.unmap()
        pa.unlink()
        assert live.poll()["i"].to_list() == [99] and set(live.ended) == {pa, pb}
        assert live.poll().height == 0


def test_live_source_follows_one_service_only(tmp_path: Path) -> None:
    ra, _ = py_ring(tmp_path, service="alpha", pid=os.getpid())
    rb, pb = py_ring(tmp_path, service="beta", pid=os.getpid())
    la, lb = R.PyLogger(ra, "a"), R.PyLogger(rb, "b")
    with LiveSource(tmp_path, max_events=3, service="alpha") as live:
        for i in range(5):
            lb.info("other service", j=i)
        la.info("mine", i=1)
        got = live.poll()
        assert got["service"].to_list() == ["alpha"] and got["i"].to_list() == [1]
        assert pb not in live.rings  # never opened for reading, never counted against max_events
        for i in range(5):
            lb.info("other service", j=i)
        la.info("mine", i=2)
        assert live.poll()["i"].to_list() == [2] and live.frame["i"].to_list() == [1, 2]


def test_live_source_from_end_skips_history(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path, pid=os.getpid())
    log = R.PyLogger(ring, "a")
    log.info("history")
    live = LiveSource(tmp_path, from_end=True)
    assert live.poll().height == 0
    log.info("fresh")
    assert live.poll()["message"].to_list() == ["fresh"]
    live.close()


# ---- robustness and layering --------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("small")
    ring, path = py_ring(tmp, max_str=32)
    log = R.PyLogger(ring, "x")
    log.info("hello", a=1, b=2.5, c="x", d=b"y", e=None, f=True, g=object(), h="z" * 40)
    for i in range(40):
        log.warn("w", oid=f"O{i}", n=i, p=i / 4)
    return snap(tmp, RingReader(path).read_all(), chunk_size=16).read_bytes()


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats() | st.text(max_size=6)
    | st.binary(max_size=12) | st.builds(cbor2.CBORTag, st.sampled_from([64, 69, 70, 72, 79, 86]),
                                         st.binary(max_size=24)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mangled_snapshot_never_takes_the_loader_down(small_snapshot: bytes, tmp_path: Path,
                                                        data: st.DataObject) -> None:
    content = cbor2.loads(lz4.frame.decompress(small_snapshot))
    target = data.draw(st.sampled_from(value_paths(content, items=5)[1:]))
    parent = content
    for step in target[:-1]:
        parent = parent[step]
    parent[target[-1]] = data.draw(values)
    path = tmp_path / "m.ttsnap"
    path.write_bytes(lz4.frame.compress(cbor2.dumps(content)))
    res = load_snapshots([path])
    if res.errors:  # one line naming the file; a chunk found bad mid-file keeps the chunks before it
        message = res.errors[0].message
        assert str(path) in message and "\n" not in message
        kept = re.search(r"kept its first ([\d,]+) of", message)
        assert res.frame.height == (int(kept.group(1).replace(",", "")) if kept else 0)
    else:
        assert res.frame.height == sum(c["n"] for c in content["chunks"] if isinstance(c, dict))


def test_headless_imports() -> None:
    import ttview.sources

    root = str(Path(ttview.sources.__file__).parent.parent)
    code = ("import sys, ttview.sources\n"
            "bad = [m for m in ('textual', 'rich', 'typer') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


def test_nan_and_extremes_survive(tmp_path: Path) -> None:
    ring, path = py_ring(tmp_path)
    R.PyLogger(ring, "x").info("e", f=float("nan"), g=float("-inf"), i=-(2**63), z=-0.0)
    df = frame_of(snap(tmp_path / "s", RingReader(path).read_all()))
    assert math.isnan(df["f"][0]) and df["g"][0] == -math.inf and df["i"][0] == -(2**63)
    assert math.copysign(1.0, df["z"][0]) == -1.0
