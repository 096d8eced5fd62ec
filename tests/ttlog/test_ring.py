"""The ring round-trips what it is given, under threads, overflow and odd input (both writers)."""

from __future__ import annotations

import enum
import logging
import math
import struct
import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import ring as R
from ttlog.reader import ObjText, RingReader

MAX_STR = 512


def read_events(path: Any, *, consume: bool = False, final: bool = False) -> list[dict[str, Any]]:
    with RingReader(path, consume=consume) as reader:
        return [e for b in reader.read_all(final=final) for e in b.events()]


def expected(value: Any, max_str: int = MAX_STR) -> Any:
    """What the reader must give back for a value written as a field."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if -(1 << 63) <= value < (1 << 63) else ObjText(str(value))
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return R.cut_utf8(R.utf8(value), max_str)[0].decode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)[:max_str]
    return ObjText(str(value))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.integers(min_value=1 << 63, max_value=1 << 80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(min_size=MAX_STR - 4, max_size=MAX_STR + 40),
    st.binary(max_size=40),
    st.binary(min_size=MAX_STR - 2, max_size=MAX_STR + 10),
)
keys = st.text(min_size=1, max_size=20)
messages = st.one_of(st.text(max_size=300), st.text(min_size=600, max_size=700))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=messages, fields=st.dictionaries(keys, values, max_size=8))
def test_round_trip(make_ring, msg: str, fields: dict[str, Any]) -> None:
    rut = make_ring(max_str=MAX_STR)
    log = rut.logger("orders")
    log.info(msg, **fields)
    log.trade(msg, **fields)
    events = read_events(rut.path)
    assert [e["level"] for e in events] == [R.LEVELS["INFO"], R.LEVELS["TRADE"]]
    want_msg = R.cut_utf8(R.utf8(msg), MAX_STR)[0].decode("utf-8")
    for event in events:
        assert event["logger"] == "orders"
        assert event["message"] == want_msg
        assert event["message_cut"] == (len(R.utf8(msg)) > MAX_STR)
        assert list(event["fields"]) == list(fields)
        for key, value in fields.items():
            assert same(event["fields"][key], expected(value)), (key, value, event["fields"][key])
        cut = {k for k, v in fields.items()
               if isinstance(v, (str, bytes)) and len(R.utf8(v) if isinstance(v, str) else v) > MAX_STR}
        assert event["cut_fields"] == cut


def test_record_metadata(make_ring) -> None:
    rut = make_ring()
    log = rut.logger("risk")
    for i in range(5):
        log.risk("limit check", i=i)
    events = read_events(rut.path)
    assert [e["seq"] for e in events] == list(range(5))
    assert all(e["tid"] == threading.get_native_id() for e in events)
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts) and ts[0] > 1_600_000_000 * 10**9


def test_every_level_method(make_ring) -> None:
    rut = make_ring()
    log = rut.logger("x")
    for name in R.METHOD_LEVELS:
        getattr(log, name)(name)
    log.log(R.LEVELS["TRADE"], "via log")
    log.log("risk", "by name")
    events = read_events(rut.path)
    assert [(e["message"], e["level"]) for e in events] == [
        *R.METHOD_LEVELS.items(), ("via log", 22), ("by name", 25)]


def test_level_filter_and_unmapped_ring(make_ring) -> None:
    rut = make_ring(level="WARN")
    log = rut.logger()
    log.info("dropped by level")
    log.error("kept")
    assert not log.is_enabled_for(R.LEVELS["INFO"]) and log.is_enabled_for(R.LEVELS["ERROR"])
    rut.ring.set_level(R.LEVELS["TRACE"])
    log.trace("now kept")
    assert [e["message"] for e in read_events(rut.path)] == ["kept", "now kept"]
    rut.ring.unmap()
    log.error("no ring: a no-op")  # must not raise
    assert rut.ring.min_level == R.LEVEL_OFF


def test_positional_args_become_fields(make_ring) -> None:
    rut = make_ring()
    rut.logger().info("fill %s at %s", "AAPL", 1.5, venue="X")
    (event,) = read_events(rut.path)
    assert event["fields"] == {"arg0": "AAPL", "arg1": 1.5, "venue": "X"}


class Side(enum.IntEnum):
    BUY = 1


class Weird:
    def __str__(self) -> str:
        raise RuntimeError("no")


class IndexOnly:
    def __index__(self) -> int:
        return 42


def test_odd_values_are_stored_visibly(make_ring) -> None:
    rut = make_ring()
    rut.logger().info(12345, side=Side.BUY, weird=Weird(), idx=IndexOnly(), lst=[1, "a"],
                      surrogate="a\udc80b", big=-(1 << 64), f=float("inf"))
    (event,) = read_events(rut.path)
    assert event["message"] == "12345"
    f = event["fields"]
    assert f["side"] == 1 and f["idx"] == 42
    assert f["weird"] == ObjText("<unprintable Weird: RuntimeError>")
    assert f["lst"] == ObjText("[1, 'a']")
    assert f["surrogate"] == "a\\udc80b"
    assert f["big"] == ObjText(str(-(1 << 64)))
    assert f["f"] == float("inf")


def test_message_that_is_not_a_str_and_raises(make_ring) -> None:
    rut = make_ring()
    rut.logger().warn(Weird())
    (event,) = read_events(rut.path)
    assert event["message"] == "<unprintable Weird: RuntimeError>"


def test_too_many_fields_are_cut_and_flagged(make_ring) -> None:
    rut = make_ring()
    rut.logger().info("many", **{f"k{i}": i for i in range(300)})
    with RingReader(rut.path) as reader:
        (batch,) = reader.read_all()
    assert batch.cols["fields_cut"] == [0]
    (event,) = batch.events()
    assert len(event["fields"]) == R.MAX_FIELDS and event["fields"]["k254"] == 254


def test_reentrant_str_that_logs(make_ring) -> None:
    rut = make_ring()
    log = rut.logger()

    class Chatty:
        def __str__(self) -> str:
            log.info("from inside __str__")
            return "chatty"

    log.info("outer", obj=Chatty())
    events = read_events(rut.path)
    assert [e["message"] for e in events] == ["from inside __str__", "outer"]
    assert events[1]["fields"]["obj"] == ObjText("chatty")


def test_threads_never_tear_or_mix_records(make_ring) -> None:
    rut = make_ring(ring_size="16MiB")
    per_thread, nthreads = 3000, 6
    barrier = threading.Barrier(nthreads)

    def work(t: int) -> None:
        log = rut.logger(f"thread{t}")
        barrier.wait()
        for j in range(per_thread):
            log.info("tick", t=t, j=j, payload=f"{t}-{j}-" + "x" * (j % 50))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    events = read_events(rut.path)
    assert len(events) == per_thread * nthreads
    assert [e["seq"] for e in events] == list(range(len(events)))
    seen: dict[int, list[int]] = {t: [] for t in range(nthreads)}
    tids: dict[int, set[int]] = {t: set() for t in range(nthreads)}
    for e in events:
        f = e["fields"]
        assert e["logger"] == f"thread{f['t']}"
        assert f["payload"] == f"{f['t']}-{f['j']}-" + "x" * (f["j"] % 50)
        seen[f["t"]].append(f["j"])
        tids[f["t"]].add(e["tid"])
    assert all(js == list(range(per_thread)) for js in seen.values())
    assert all(len(s) == 1 for s in tids.values())


def header(path: Any, off: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(off)
        return struct.unpack("<Q", fh.read(8))[0]


def test_drop_mode_counts_exactly(make_ring) -> None:
    rut = make_ring(ring_size="64KiB", overflow="drop")
    log = rut.logger()
    produced = 5000
    read = 0
    with RingReader(rut.path, consume=True) as consumer:
        for i in range(produced):
            log.order("new order", i=i, symbol="AAPL", qty=100)
            if i % 1500 == 1499:  # a consumer that drains now and then
                for batch in consumer.read_all():
                    read += len(batch)
                consumer.commit()
        for batch in consumer.read_all():
            read += len(batch)
        consumer.commit()
        assert consumer.lost_total() == 0
    dropped = header(rut.path, R.H_DROPPED)
    assert dropped > 0 and read > 0
    assert read + dropped == produced
    assert header(rut.path, R.H_SEQ_NEXT) == read


def test_overwrite_mode_keeps_the_newest(make_ring) -> None:
    rut = make_ring(ring_size="64KiB", overflow="overwrite")
    log = rut.logger()
    produced = 5000
    for i in range(produced):
        log.market_data("quote", i=i, bid=1.0, ask=1.1)
    assert header(rut.path, R.H_DROPPED) == 0
    with RingReader(rut.path, consume=True) as consumer:
        events = [e for b in consumer.read_all() for e in b.events()]
        lost = consumer.lost_total()
    assert events and events[-1]["fields"]["i"] == produced - 1
    assert [e["fields"]["i"] for e in events] == list(range(produced - len(events), produced))
    assert len(events) + lost == produced


def test_overwrite_with_interleaved_reader_counts_exactly(make_ring) -> None:
    rut = make_ring(ring_size="64KiB", overflow="overwrite")
    log = rut.logger()
    produced, read, seqs = 20000, 0, []
    with RingReader(rut.path, consume=True) as consumer:
        for i in range(produced):
            log.market_data("quote", i=i, sym="X" * (i % 30))
            if i % 2500 == 0:
                for b in consumer.read_all():
                    read += len(b)
                    seqs.extend(e["seq"] for e in b.events())
        for b in consumer.read_all():
            read += len(b)
            seqs.extend(e["seq"] for e in b.events())
        lost = consumer.lost_total()
    assert seqs == sorted(set(seqs))
    assert read + lost == produced and lost > 0


def test_peek_reader_moves_nothing(make_ring) -> None:
    rut = make_ring()
    log = rut.logger()
    for i in range(100):
        log.info("x", i=i)
    before = open(rut.path, "rb").read(4096)
    assert len(read_events(rut.path)) == 100
    assert open(rut.path, "rb").read(4096) == before
    assert len(read_events(rut.path, consume=True)) == 100


def test_record_larger_than_half_the_ring_is_dropped(make_ring) -> None:
    rut = make_ring(ring_size="64KiB", max_str=1 << 20)
    log = rut.logger()
    log.info("huge", blob=b"x" * 40000)
    log.info("small")
    assert [e["message"] for e in read_events(rut.path)] == ["small"]
    assert header(rut.path, R.H_DROPPED) == 1


def test_string_table_full_falls_back_to_inline(make_ring) -> None:
    rut = make_ring(strtab_size=4096)
    log = rut.logger()
    for i in range(300):
        log.info(f"distinct message {i}", **{f"key{i}": i})
    events = read_events(rut.path)
    assert [e["message"] for e in events] == [f"distinct message {i}" for i in range(300)]
    assert [e["fields"] for e in events] == [{f"key{i}": i} for i in range(300)]


def test_ring_file_longer_than_its_header_says(impl: str, tmp_path: Path) -> None:
    # read_geometry accepts a file longer than the header's file_size; its header words must
    # still be readable and writable however many bytes follow (a whole-file view of 8-byte
    # words would need a length that is a multiple of 8)
    from tests.conftest import ring_classes

    path = R.create_ring_file(tmp_path, service="long", ring_size="64KiB", level="TRACE")
    with open(path, "ab") as fh:
        fh.write(b"abc")
    ring_cls, logger_cls = ring_classes(impl)
    ring = ring_cls()
    ring.map(path)
    try:
        log = logger_cls(ring, "t")
        for i in range(10):
            log.info("x", i=i)
    finally:
        ring.unmap()
    assert [e["fields"] for e in read_events(path)] == [{"i": i} for i in range(10)]
    with RingReader(path, consume=True) as reader:
        assert [e["fields"]["i"] for b in reader.read_all() for e in b.events()] == list(range(10))
        reader.commit(drained=10)
        info = reader.info()
    assert info.read_pos == info.write_pos > 0
    assert (info.seq_next, info.drained) == (10, 10)


# ---- what a stdlib logging user expects ---------------------------------------------------------


def test_exc_info_stack_info_and_exception_store_what_stdlib_logging_would(make_ring) -> None:
    """The texts are exactly the stdlib's: a Formatter's formatException, and the record's
    stack_info (both calls on one line, so the stacks are the same)."""
    rut = make_ring(max_str=1 << 16)
    log = rut.logger("std")
    kept: list[logging.LogRecord] = []
    std = logging.getLogger("ttlog-test-stdlib-keywords")
    std.propagate = False
    std.setLevel(logging.DEBUG)
    handler = logging.Handler()
    handler.emit = kept.append  # type: ignore[method-assign]
    std.addHandler(handler)
    try:
        try:
            raise KeyError("missing \udc80")
        except KeyError as exc:
            caught = exc
            for target in (std, log):
                target.exception("failed")
            for target in (std, log):
                target.warning("with a stack", stack_info=True)
        for target in (std, log):
            target.error("given the exception", exc_info=caught)
    finally:
        std.removeHandler(handler)
    events = read_events(rut.path)
    fmt = logging.Formatter()
    assert [(e["level"], e["message"]) for e in events] == [(40, "failed"), (30, "with a stack"),
                                                            (40, "given the exception")]
    assert events[0]["fields"] == {"exc_info": fmt.formatException(kept[0].exc_info)}  # type: ignore[arg-type]
    assert "KeyError: 'missing \\udc80'" in events[0]["fields"]["exc_info"]
    assert events[1]["fields"] == {"stack_info": kept[1].stack_info}
    assert events[1]["fields"]["stack_info"].startswith("Stack (most recent call last):\n")
    assert "test_exc_info_stack_info_and_exception_store_what_stdlib_logging_would" in kept[1].stack_info
    assert events[2]["fields"] == {"exc_info": fmt.formatException(kept[2].exc_info)}  # type: ignore[arg-type]


def test_false_stdlib_keywords_store_nothing_and_others_keep_their_place(make_ring) -> None:
    rut = make_ring()
    log = rut.logger()
    try:
        raise OSError("disk")
    except OSError:
        log.error("a", first=1, exc_info=True, last=2)
        log.error("b", exc_info=False, stack_info=False, kept=3)
        log.exception("c", exc_info=None)
        log.info("d", **{"exc_" + "info": 0, "stack_" + "info": 1, "order_id": 4})  # names not interned
    events = read_events(rut.path)
    assert list(events[0]["fields"]) == ["first", "exc_info", "last"]
    assert events[0]["fields"]["exc_info"].endswith("OSError: disk")
    assert events[1]["fields"] == {"kept": 3}
    assert events[2]["fields"] == {}
    assert list(events[3]["fields"]) == ["stack_info", "order_id"]
    assert events[3]["fields"]["stack_info"].startswith("Stack (most recent call last):\n")


def test_a_disabled_call_formats_no_traceback(make_ring) -> None:
    calls: list[str] = []

    class Noted(Exception):
        def __str__(self) -> str:
            calls.append("str")
            return "noted"

    rut = make_ring(level="WARN")
    log = rut.logger()
    try:
        raise Noted()
    except Noted:
        log.info("below the level", exc_info=True, stack_info=True)
        log.debug("also below", exc_info=Noted())
        assert calls == []
        log.exception("at ERROR")
    assert calls and [e["message"] for e in read_events(rut.path)] == ["at ERROR"]
    assert read_events(rut.path)[0]["fields"]["exc_info"].endswith("Noted: noted")


def test_lone_surrogates_read_back_alike_wherever_they_were(make_ring) -> None:
    """A message, a logger name, a key, a str value, an obj value's text and a long (inline)
    message all store a lone surrogate as the same six characters (docs/FORMAT.md)."""
    bad = "a\ud800b\udfff"
    shown = "a\\ud800b\\udfff"

    class Odd:
        def __str__(self) -> str:
            return "o" + bad

    rut = make_ring()
    log = rut.logger("lg" + bad)
    log.info("m" + bad, "p" + bad, **{"k" + bad: "v" + bad, "obj": Odd()})
    log.info("long " + bad + "x" * 300)
    first, second = read_events(rut.path)
    assert (first["logger"], first["message"]) == ("lg" + shown, "m" + shown)
    assert first["fields"] == {"arg0": "p" + shown, "k" + shown: "v" + shown, "obj": ObjText("o" + shown)}
    assert second["message"] == "long " + shown + "x" * 300
