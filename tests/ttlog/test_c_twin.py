"""The C writer (ttlog._ring) is the byte-for-byte twin of the pure-Python one (ttlog.ring).

The same calls go through a PyRing + PyLogger and a C Ring + Logger on two copies of one fresh
ring file, both with a fixed clock and thread id; the two files must then be identical, header
positions, string table and data alike. And ``_ring.decode`` must return exactly what
``ttlog.reader.py_decode`` returns, for ring bytes and for corrupt ones.
"""

from __future__ import annotations

import decimal
import enum
import math
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import ring as R

if os.environ.get("TTLOG_NO_C") in ("1", "true", "yes"):  # pragma: no cover
    pytest.skip("built without the C extension (TTLOG_NO_C)", allow_module_level=True)

from ttlog import _ring  # noqa: E402 - a missing build fails loudly here, never skips

TS = 1_700_000_000_123_456_789
TID = 4242
MAX_STR = 64  # small, so that cutting is common

# ---- helpers --------------------------------------------------------------------------------------


class Twin:
    """A PyRing and a C Ring on two copies of one ring file, and a logger pair per name."""

    def __init__(self, directory: Path, **kw: Any) -> None:
        kw.setdefault("service", "twin")
        kw.setdefault("ring_size", "64KiB")
        kw.setdefault("level", "TRACE")
        kw.setdefault("max_str", MAX_STR)
        self.py_path = R.create_ring_file(directory, **kw)
        self.c_path = self.py_path.with_name("c-" + self.py_path.name)
        shutil.copyfile(self.py_path, self.c_path)
        self.py = R.PyRing()
        self.c = _ring.Ring()
        self.py.map(self.py_path)
        self.c.map(self.c_path)
        self.py._set_fixed(TS, TID)
        self.c._set_fixed(TS, TID)
        self._loggers: dict[str, tuple[Any, Any]] = {}

    def loggers(self, name: str = "twin") -> tuple[Any, Any]:
        if name not in self._loggers:
            self._loggers[name] = (R.PyLogger(self.py, name), _ring.Logger(self.c, name))
        return self._loggers[name]

    def both(self, fn: Any) -> None:
        """fn(ring, logger_factory) for the Python side, then for the C side."""
        fn(self.py, lambda name="twin": self.loggers(name)[0])
        fn(self.c, lambda name="twin": self.loggers(name)[1])

    def assert_same(self) -> None:
        a = self.py_path.read_bytes()
        b = self.c_path.read_bytes()
        if a != b:
            raise AssertionError(describe_difference(a, b))

    def close(self) -> None:
        self.py.unmap()
        self.c.unmap()


def describe_difference(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"sizes differ: {len(a)} != {len(b)}"
    first = next(i for i in range(len(a)) if a[i] != b[i])
    geo = R.read_geometry(a, "py")
    where = "header" if first < R.HEADER_SIZE else "string table" if first < geo.data_off else "data"
    lo = max(0, first - 16) & ~7
    return (f"first difference at byte {first} ({where}; header words: "
            f"py={[struct.unpack_from('<Q', a, o)[0] for o in range(256, 296, 8)]} "
            f"c={[struct.unpack_from('<Q', b, o)[0] for o in range(256, 296, 8)]})\n"
            f"py: {a[lo:lo + 64].hex(' ', 8)}\nc:  {b[lo:lo + 64].hex(' ', 8)}")


def call(logger: Any, spec: tuple[str, Any, Any, tuple[Any, ...], dict[str, Any]]) -> None:
    method, level, msg, args, fields = spec
    if method == "log":
        logger.log(level, msg, *args, **fields)
    elif msg is NO_MSG:
        getattr(logger, method)(**fields)
    else:
        getattr(logger, method)(msg, *args, **fields)


def ring_linear(path: Path) -> tuple[bytes, int]:
    """The ring's records from tail_pos to write_pos as one linear buffer, and tail_pos."""
    data = path.read_bytes()
    geo = R.read_geometry(data, str(path), len(data))
    tail = struct.unpack_from("<Q", data, R.H_TAIL_POS)[0]
    write = struct.unpack_from("<Q", data, R.H_WRITE_POS)[0]
    out = bytearray()
    pos = tail
    while pos < write:
        off = pos & geo.mask
        n = min(write - pos, geo.capacity - off)
        out += data[geo.data_off + off : geo.data_off + off + n]
        pos += n
    return bytes(out), tail


def py_decode() -> Any:
    from ttlog.reader import py_decode as fn

    return fn


# Every error a decoder may report, in the project's words (docs/FORMAT.md, "Decoded batches").
DECODE_ERROR = re.compile(
    r"bad record at ring position \d+ \(length \d+, commit 0x[0-9a-f]{8}\)"
    r"|bad record at ring position \d+: (message runs past its record|field runs past its record"
    r"|unknown field kind \d+)"
)


def assert_decode_same(buf: bytes, start: int) -> dict[str, Any]:
    want = py_decode()(buf, start)
    got = _ring.decode(buf, start)
    assert got == want, (got, want)
    assert got["error"] is None or DECODE_ERROR.fullmatch(got["error"]), got["error"]
    return got


# ---- values ---------------------------------------------------------------------------------------


class Side(enum.IntEnum):
    BUY = 1
    HUGE = 1 << 70


class Raises:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class RaisesBase:
    def __str__(self) -> str:
        raise KeyboardInterrupt


class StrSubResult:
    class S(str):
        pass

    def __str__(self) -> str:
        return self.S("sub-\udc80-text")


class IndexOnly:
    def __init__(self, n: Any) -> None:
        self.n = n

    def __index__(self) -> Any:
        return self.n

    def __str__(self) -> str:
        return f"IndexOnly({self.n!r})"


class IndexRaises:
    def __index__(self) -> int:
        raise ValueError("nope")

    def __str__(self) -> str:
        return "index-raises"


class MyStr(str):
    def __str__(self) -> str:  # never used for values: the str content is stored
        return "overridden"


class MyFloat(float):
    pass


class MyBytes(bytes):
    pass


CURRENT: list[Any] = [None]  # the logger a Chatty value logs to


class Chatty:
    """A value whose str() logs (re-entrancy)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        CURRENT[0].info("from inside __str__", depth=1, text=self.text)
        return self.text


NO_MSG = object()

SURROGATES = "\ud800\udc80\udfffé€😀\x00"
texts = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(SURROGATES)), max_size=24)
long_texts = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(SURROGATES)),
                     min_size=MAX_STR // 4, max_size=3 * MAX_STR)
odd = st.sampled_from([
    Raises(), RaisesBase(), StrSubResult(), IndexOnly(7), IndexOnly(1 << 64), IndexOnly(-(1 << 63)),
    IndexOnly("12"), IndexOnly(2.5), IndexRaises(), [1, "a"], (None,), {"k": b"v"}, decimal.Decimal("1.5"),
    MyStr("my-str"), MyStr("é" * 40), MyFloat(2.5), MyBytes(b"my-bytes"), bytearray(b"ba" * 50),
    Side.BUY, Side.HUGE, object, Ellipsis, 1j, frozenset(), range(3),
])
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.integers(min_value=1 << 63, max_value=1 << 80),
    st.integers(max_value=-(1 << 63) - 1, min_value=-(1 << 80)),
    st.sampled_from([0, -1, 1 << 63, (1 << 63) - 1, -(1 << 63), -(1 << 63) - 1, 10**5000]),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    long_texts,
    st.binary(max_size=16),
    st.binary(min_size=MAX_STR - 2, max_size=MAX_STR + 10),
    odd,
    texts.map(Chatty),
)
keys = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(SURROGATES)),
               min_size=0, max_size=12).filter(lambda k: k not in ("self", "msg"))
messages = st.one_of(
    texts,
    long_texts,
    st.text(min_size=250, max_size=300),  # around MAX_INTERNED_MESSAGE
    st.sampled_from(["Order placed", "Trade executed", "", "é" * 129, "x" * 256, "x" * 257]),
    st.just(NO_MSG),
    odd,
    st.integers(),
    texts.map(Chatty),
)
level_args = st.one_of(st.integers(min_value=0, max_value=255), st.sampled_from(
    ["warn", "WARNING", "fatal", "off", "7", "nonsense", 3.5, None, True, R.LEVELS["TRADE"]]))
calls = st.tuples(
    st.sampled_from([*R.METHOD_LEVELS, "log"]),
    level_args,
    messages,
    st.lists(values, max_size=3).map(tuple),
    st.dictionaries(keys, values, max_size=6),
)


def fix_call(spec: Any) -> Any:
    method, level, msg, args, fields = spec
    if msg is NO_MSG and (method == "log" or args):
        msg = ""
    return method, level, msg, args, fields


# ---- byte identity --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(calls.map(fix_call), min_size=1, max_size=25),
       overflow=st.sampled_from(["overwrite", "drop"]), min_level=st.sampled_from(["TRACE", "INFO", "ERROR"]),
       prefill=st.integers(0, 800))
def test_same_bytes_for_the_same_calls(specs: list[Any], overflow: str, min_level: str, prefill: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        twin = Twin(Path(d), overflow=overflow, level=min_level, strtab_size=8192)
        try:
            py_log, c_log = twin.loggers("orders")
            for i in range(prefill):  # so that the calls below meet the end of the ring at any point
                for ring in (twin.py, twin.c):
                    ring.write(0, R.LEVELS["CRITICAL"], "prefill", (i,), {"pad": "p" * (i % 11)})
            for spec in specs:
                CURRENT[0] = py_log
                call(py_log, spec)
                CURRENT[0] = c_log
                call(c_log, spec)
            twin.assert_same()
            buf, start = ring_linear(twin.c_path)
            got = assert_decode_same(buf, start)
            assert got["error"] is None
            if overflow == "drop":
                assert got["n"] == twin.c.header_u64(R.H_SEQ_NEXT)
        finally:
            twin.close()


def test_wrap_around_and_pads_in_overwrite_mode(tmp_path: Path) -> None:
    twin = Twin(tmp_path, overflow="overwrite", ring_size="64KiB")
    rnd = random.Random(7)
    py_log, c_log = twin.loggers("md")
    for i in range(6000):  # ~10 laps of the ring, records of many sizes
        fields = {"i": i, "bid": 1.5 + i, "sym": "X" * rnd.randrange(0, 60),
                  "blob": b"\x00" * rnd.randrange(0, 200)}
        msg = "quote" if i % 7 else f"odd message {i % 50}"
        py_log.market_data(msg, **fields)
        c_log.market_data(msg, **fields)
        if i % 997 == 0:
            twin.assert_same()
    twin.assert_same()
    assert twin.c.header_u64(R.H_WRITE_POS) > 8 * (64 << 10)
    assert twin.c.header_u64(R.H_TAIL_POS) > 0
    assert twin.c.header_u64(R.H_DROPPED) == 0
    buf, start = ring_linear(twin.c_path)
    got = assert_decode_same(buf, start)
    assert got["error"] is None and got["n"] > 100
    seqs = struct.unpack(f"<{got['n']}Q", got["seq"])
    assert seqs[-1] == 5999 and list(seqs) == list(range(seqs[0], 6000))
    twin.close()


def test_drop_mode_counts_identically(tmp_path: Path) -> None:
    twin = Twin(tmp_path, overflow="drop", ring_size="64KiB")
    py_log, c_log = twin.loggers()
    for i in range(4000):
        for log in (py_log, c_log):
            log.order("new order", i=i, symbol="AAPL", note="n" * (i % 40))
        if i % 900 == 899:  # a consumer catches up now and then: same read_pos on both
            twin.assert_same()
            for ring in (twin.py, twin.c):
                ring.set_header_u64(R.H_READ_POS, ring.header_u64(R.H_WRITE_POS) - 1000 * (i % 2))
    twin.assert_same()
    dropped = twin.c.header_u64(R.H_DROPPED)
    assert dropped > 0
    assert twin.c.header_u64(R.H_SEQ_NEXT) + dropped == 4000


def test_record_over_half_the_ring_is_dropped_identically(tmp_path: Path) -> None:
    twin = Twin(tmp_path, max_str=1 << 20)
    py_log, c_log = twin.loggers()
    for log in (py_log, c_log):
        log.info("huge", blob=b"x" * 40000)
        log.info("small", s="y" * 40000)
        log.info("fine", blob=b"z" * 100)
    twin.assert_same()
    assert twin.c.header_u64(R.H_DROPPED) == 2


def test_full_string_table_falls_back_to_inline_identically(tmp_path: Path) -> None:
    twin = Twin(tmp_path, strtab_size=4096, ring_size="1MiB", overflow="overwrite")
    py_log, c_log = twin.loggers()
    for i in range(300):
        for log in (py_log, c_log):
            log.info(f"distinct message {i}", **{f"key{i}": i, "k" * (i % 5 + 1): "v", "é" * 3000: 1})
    for log in (py_log, c_log):
        log.info("a key over 64KiB is cut", **{"é" * 40000: 1, "€" * 30000: 2})
    twin.assert_same()
    for ring in (twin.py, twin.c):
        assert ring.intern("never fits " * 1000) == 0
    twin.assert_same()
    buf, start = ring_linear(twin.c_path)
    got = assert_decode_same(buf, start)
    assert len(got["inline"]) > 100 and any(isinstance(k, str) for k, _ in got["columns"])


def test_too_many_fields_identically(tmp_path: Path) -> None:
    twin = Twin(tmp_path, ring_size="1MiB")
    py_log, c_log = twin.loggers()
    for log in (py_log, c_log):
        CURRENT[0] = log
        log.info("many", *range(100), **{f"k{i}": i for i in range(300)})
        log.info("chatty beyond the cut", *range(255), late=Chatty("never"))
        log.warn("exactly", *range(255))
    twin.assert_same()
    got = assert_decode_same(*ring_linear(twin.c_path))
    assert got["n"] == 3 and got["fields_cut"] == [0, 1]


def test_intern_remap_and_header_access_identically(tmp_path: Path) -> None:
    twin = Twin(tmp_path)
    py_log, c_log = twin.loggers("a")
    for ring in (twin.py, twin.c):
        assert ring.intern("reason", R.S_OTHER) == ring.intern("reason")
        assert ring.intern("x" * 300, R.S_MESSAGE) > 0  # stored, but a log call inlines it
        ring.intern("weird kind", 1 << 20)
    for log in (py_log, c_log):
        log.info("x" * 300)
        log.info("before remap", k=1)
    for ring, path in ((twin.py, twin.py_path), (twin.c, twin.c_path)):
        gen = ring.generation
        ring.unmap()
        assert ring.generation == gen + 1 and not ring.mapped and ring.path is None
        assert ring.min_level == R.LEVEL_OFF and ring.header_u64(R.H_WRITE_POS) == 0
        ring.map(path)
        assert ring.generation == gen + 3 and ring.mapped and ring.path == os.fspath(path)
        ring._set_fixed(TS, TID)
        ring.set_header_u32(R.H_SNAP_REASON, ring.intern("reason"))
        ring.set_header_u64(R.H_SNAP_REQ, ring.header_u64(R.H_SNAP_REQ) + 1)
    for log in (py_log, c_log):
        log.info("before remap", k=1)  # same ids, learnt back from the table
        log.info("after remap", k=2, **{"\udc80": "\udc80"})
    twin.assert_same()
    for ring in (twin.py, twin.c):
        ring.set_level(R.LEVELS["ERROR"])
        assert ring.min_level == R.LEVELS["ERROR"]
    assert py_log.is_enabled_for(40) and c_log.is_enabled_for(40)
    assert not py_log.is_enabled_for(39) and not c_log.is_enabled_for(39)
    twin.close()


class BoolRaises:
    def __bool__(self) -> bool:
        raise RuntimeError("no truth")


def test_stdlib_keywords_and_exception_identically(tmp_path: Path) -> None:
    """exc_info, stack_info and exception() store the same text from both loggers (the calls for
    the two sides are on one line, so even the stacks are the same)."""
    twin = Twin(tmp_path, ring_size="1MiB", max_str=1 << 16)
    py_log, c_log = twin.loggers()
    try:
        raise ValueError("bad \udc80 value")
    except ValueError as exc:
        caught = exc
        for log in (py_log, c_log):
            log.exception("failed", 7, k=1)
            log.error("also", exc_info=True, stack_info=True)
            log.log("warn", "by log", exc_info=exc)
            log.info("tuple", exc_info=sys.exc_info(), other=2)
            log.exception("not this time", exc_info=False, stack_info=None)
            log.info("names made at run time", **{"exc_" + "info": True, "stack_" + "info": 1, "order_id": 8})
            log.critical("odd truth", exc_info=BoolRaises())
    for log in (py_log, c_log):
        log.error("outside", exc_info=caught)
        log.exception("nothing handled")
        log.trace("order_id and price are ordinary", order_id=1, price=2.5, exc_inf0=3)
    twin.assert_same()
    got = read_all(twin.c_path)
    assert got["n"] == 10 and got["error"] is None


# ---- decode ---------------------------------------------------------------------------------------


def field(kind: int, key: int | str | bytes, payload: bytes = b"", cut: bool = False) -> bytes:
    t = kind | (R.T_CUT if cut else 0)
    if isinstance(key, int):
        return struct.pack("<BI", t, key) + payload
    raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key
    return struct.pack("<BH", t | R.T_KEY_INLINE, len(raw)) + raw + payload


def sval(raw: bytes) -> bytes:
    return struct.pack("<I", len(raw)) + raw


def record(pos: int, fields: list[bytes] = (), *, seq: int = 0, msg: bytes | None = None, flags: int = 0,
           nfields: int | None = None, length: int | None = None, commit: int | None = None) -> bytes:
    body = b""
    if msg is not None:
        flags |= R.RF_MSG_INLINE
        body += sval(msg)
    body += b"".join(fields)
    n = (R.REC_HEADER + len(body) + 7) & ~7 if length is None else length
    head = R.REC_STRUCT.pack(n, R.marker(pos) if commit is None else commit, seq, -5, 77, 3, 0 if msg else 9,
                             20, flags, len(fields) if nfields is None else nfields)
    out = head + body
    return out + b"\0" * max(0, n - len(out))


def pad(pos: int, n: int) -> bytes:
    return struct.pack("<II", n, R.pad_marker(pos)) + b"\xee" * (n - 8)


def stream(parts: list[Any], start: int) -> bytes:
    """parts: callables pos -> bytes, laid back to back from start."""
    out = b""
    for make in parts:
        out += make(start + len(out))
    return out


def test_decode_columns_replace_and_cuts() -> None:
    i64 = lambda v: struct.pack("<q", v)  # noqa: E731
    recs = [
        lambda p: record(p, [field(R.K_INT, 5, i64(1)), field(R.K_STR, 6, sval(b"a"), cut=True),
                             field(R.K_STR, 6, sval(b"b")), field(R.K_TRUE, 7), field(R.K_FALSE, 7),
                             field(R.K_NONE, 8), field(R.K_BYTES, 9, sval(b"\x00\x01")),
                             field(R.K_BYTES, 9, sval(b"\x02"), cut=True), field(R.K_INT, 5, i64(2))], seq=1),
        lambda p: pad(p, 24),
        lambda p: record(p, [field(R.K_STR, 6, sval(b"b")), field(R.K_STR, 6, sval(b"\xff")),
                             field(R.K_STR, 6, sval(b"\xfe"), cut=True), field(R.K_OBJ, 6, sval(b"o")),
                             field(R.K_FLOAT, "inl\udc80", struct.pack("<d", math.nan)),
                             field(R.K_FLOAT, b"inl\xed\xb3\x80", struct.pack("<d", 1.0)),
                             field(R.K_FLOAT, b"inl\xff", struct.pack("<d", 2.0))],
                         msg=b"inline \xe2\x82", flags=R.RF_MSG_CUT | R.RF_FIELDS_CUT, seq=2),
        lambda p: record(p, [], msg=b"", seq=3),
        lambda p: record(p, [field(R.K_INT, 5, i64(3))], seq=4),
    ]
    for start in (0, 8, 1 << 40):
        buf = stream(recs, start)
        got = assert_decode_same(buf, start)
        assert got["n"] == 4 and got["end"] == start + len(buf) and got["error"] is None
        rows, codes_uniques, cuts = got["columns"][(6, "str")]
        assert cuts == [1] and codes_uniques[1] == ["a", "b", "\ufffd", "\ufffd"]
        assert got["columns"][(5, "int")][1] == bytearray(i64(2) + i64(3))


def test_decode_stops_and_errors_like_py_decode() -> None:
    good = lambda p: record(p, [field(R.K_INT, 1, b"\0" * 8)])  # noqa: E731
    cases = [
        [good, lambda p: record(p, commit=123)],
        [good, lambda p: record(p, length=36)],
        [good, lambda p: record(p, length=44)],
        [good, lambda p: pad(p, 12)[:12] + b"\0" * 4],
        [good, lambda p: record(p, [], msg=b"abc", length=40)],  # message header at the end of buf
        [good, lambda p: record(p, [], msg=b"abc", length=40) + good(p + 40)],  # message past its record
        [good, lambda p: record(p, [field(R.K_STR, 2, sval(b"x" * 50))], length=48)],
        [good, lambda p: record(p, [field(R.K_STR, 2, sval(b"x" * 50))], length=48) + good(p + 48)],
        [good, lambda p: record(p, [field(12, 2)])],
        [good, lambda p: record(p, [field(R.K_INT, 2, b"\0" * 8)], nfields=3)],
        [good, lambda p: record(p, [field(R.K_INT, 2, b"\0" * 8)], nfields=3) + good(p + 56)],
        [good, lambda p: record(p, [field(R.K_INT, "k", b"\0" * 8)], nfields=2, length=48)],
        [good, lambda p: record(p, [field(R.K_TRUE, "k")], nfields=40)],
        [good, lambda p: record(p, [field(R.K_INT, 2, b"\0" * 8)], length=48)[:-1]],  # runs past buf
        [good, lambda p: pad(p, 64)[:40]],  # pad runs past buf: a silent stop
        [good, lambda p: b"\0" * 7],
        [good, lambda p: b"\0" * 8],
    ]
    for parts in cases:
        for start in (0, 1000, 8):
            buf = stream(parts, start)
            got = assert_decode_same(buf, start)
            assert got["n"] == 1


def test_decode_errors_are_the_projects_words() -> None:
    """One corrupt record after a good one: both decoders stop there with the same error text, in
    the project's words (never a CPython struct or memoryview message), and return the good one."""
    i64 = b"\0" * 8
    good = lambda p: record(p, [field(R.K_INT, 1, i64)])  # noqa: E731
    past, msg_past = "field runs past its record", "message runs past its record"
    cases = [
        (lambda p: record(p, commit=123), "(length 40, commit 0x0000007b)"),
        (lambda p: record(p, length=44), "(length 44, commit {commit})"),
        (lambda p: record(p, [], msg=b"abc", length=40), ": " + msg_past),  # no room for its length
        (lambda p: record(p, [], msg=b"x" * 50, length=48), ": " + msg_past),  # its text runs over
        (lambda p: record(p, [], nfields=1), ": " + past),  # no type byte
        (lambda p: record(p, [b"\x01\x02\x00"], msg=b"", length=48), ": " + past),  # key id cut off
        (lambda p: record(p, [field(R.K_INT, "k" * 20, i64)], length=48), ": " + past),  # inline key too long
        (lambda p: record(p, [field(R.K_FLOAT, 2, i64)], length=48), ": " + past),  # value cut off
        (lambda p: record(p, [field(R.K_STR, 2, sval(b"x" * 50))], length=48), ": " + past),  # str runs over
        (lambda p: record(p, [field(R.K_NONE, 2)], msg=b"", nfields=3, length=48), ": " + past),
        (lambda p: record(p, [field(12, 2)]), ": unknown field kind 12"),
    ]
    for start in (0, 4096):
        for make, words in cases:
            buf = good(start) + make(start + 56)
            pos = start + 56
            sep = " " if words.startswith("(") else ""
            want = f"bad record at ring position {pos}{sep}" + words.format(commit=f"{R.marker(pos):#010x}")
            got = assert_decode_same(buf, start)  # C and Python agree, errors included
            assert (got["n"], got["error"]) == (1, want)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_decode_matches_py_decode_on_damaged_rings(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        twin = Twin(Path(d), ring_size="64KiB", overflow="overwrite")
        _, c_log = twin.loggers()
        CURRENT[0] = c_log
        for spec in data.draw(st.lists(calls.map(fix_call), min_size=1, max_size=12)):
            call(c_log, spec)
        buf, start = ring_linear(twin.c_path)
        twin.close()
    buf = bytearray(buf)
    for _ in range(data.draw(st.integers(0, 4))):
        if buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    skip = data.draw(st.sampled_from([0, 0, 8, 1, 4]))
    view = bytes(buf[skip:cut])
    assert_decode_same(view, start + skip)
    assert_decode_same(memoryview(bytearray(view)), start + skip)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=400), start=st.integers(0, 1 << 20).map(lambda x: x * 8))
def test_decode_matches_py_decode_on_noise(raw: bytes, start: int) -> None:
    good = record(start, [field(R.K_STR, 3, sval(b"ok"))], msg=b"m")
    assert_decode_same(good + raw, start)


# ---- behaviour of the C types ---------------------------------------------------------------------


def read_all(path: Path) -> dict[str, Any]:
    return assert_decode_same(*ring_linear(path))


def test_unmapped_ring_makes_every_call_a_no_op(tmp_path: Path) -> None:
    ring = _ring.Ring()
    assert not ring.mapped and ring.min_level == R.LEVEL_OFF and ring.path is None
    assert ring.header_u64(R.H_WRITE_POS) == 0 and ring.intern("x") == 0
    ring.set_level(5)
    ring.set_header_u64(R.H_WRITE_POS, 5)
    ring.write(1, 50, "m", (), {})
    log = _ring.Logger(ring, "early")
    for name in R.METHOD_LEVELS:
        getattr(log, name)("nothing", k=Raises())
    log.log(255, "nothing")
    log.log("critical", "nothing")
    assert log.is_enabled_for(255) and not log.is_enabled_for(50)
    path = R.create_ring_file(tmp_path, service="late", level="TRACE")
    ring.map(path)
    log.info("now it writes", k=1)
    ring.unmap()
    log.info("a no-op again")
    log.log(255, "also")
    got = read_all(path)
    assert got["n"] == 1 and struct.unpack("<I", got["logger"])[0] > 0


def test_reentrant_str_that_logs_does_not_corrupt(tmp_path: Path) -> None:
    ring = _ring.Ring()
    path = R.create_ring_file(tmp_path, service="re", level="TRACE")
    ring.map(path)
    log = _ring.Logger(ring, "re")
    CURRENT[0] = log

    class Deep:
        def __init__(self, n: int) -> None:
            self.n = n

        def __str__(self) -> str:
            if self.n:
                log.info("level", n=self.n, inner=Deep(self.n - 1))
            return f"deep{self.n}"

    log.info(Chatty("message"), v=Chatty("value"), w=Deep(5), x=[Chatty("in a list")])
    got = read_all(path)
    assert got["error"] is None
    assert got["n"] == 1 + 1 + 5 + 1  # str() of a list uses repr(): the Chatty in x stays quiet
    assert struct.unpack(f"<{got['n']}Q", got["seq"]) == tuple(range(got["n"]))

    class Unmapper:
        def __str__(self) -> str:
            ring.unmap()
            return "gone"

    log.info("unmapped half way", a=Unmapper(), b="x")
    assert not ring.mapped
    ring.map(path)
    log.info("back")
    got = read_all(path)
    assert got["n"] == 9 and got["error"] is None


def test_logger_subclasses_and_init_checks(tmp_path: Path) -> None:
    ring = _ring.Ring()
    path = R.create_ring_file(tmp_path, service="sub", level="TRACE")
    ring.map(path)

    class Sub(_ring.Logger):
        __slots__ = ()

        def hello(self) -> None:
            self.info("hello", who=self.name)

    class NoInit(_ring.Logger):
        def __init__(self) -> None:  # never calls super().__init__: writes nothing, never crashes
            self.extra = 1

    s = Sub(ring, "sub")
    s.hello()
    assert s.ring is ring and s.name == "sub"
    n = NoInit()
    n.info("nowhere")
    n.log(20, "nowhere")
    with pytest.raises(TypeError):
        _ring.Logger(R.PyRing(), "x")
    with pytest.raises(TypeError):
        _ring.Logger(ring)
    with pytest.raises(TypeError):
        s.log(20)
    assert _ring.Logger(ring, 12).name == "12"
    assert read_all(path)["n"] == 1


def test_map_errors_are_ring_errors(tmp_path: Path) -> None:
    ring = _ring.Ring()
    py = R.PyRing()
    bad = tmp_path / "bad.ring"
    bad.write_bytes(b"x" * 5000)
    small = tmp_path / "small.ring"
    small.write_bytes(b"x" * 10)
    for path in (tmp_path / "missing.ring", bad, small):
        with pytest.raises(R.RingError) as c_err:
            ring.map(path)
        with pytest.raises(R.RingError) as py_err:
            py.map(path)
        assert str(c_err.value) == str(py_err.value)
        assert not ring.mapped


def test_level_and_positional_forms(tmp_path: Path) -> None:
    twin = Twin(tmp_path)
    py_log, c_log = twin.loggers()
    for log in (py_log, c_log):
        log.log("warn", "by name")
        log.log(R.LEVELS["TRADE"], "by number", 1, 2)
        log.log("bogus", "falls back to INFO")
        log.log(b"bytes", "falls back to INFO too")
        log.info()
        log.warning("warning is warn")
    twin.assert_same()
    got = read_all(twin.c_path)
    assert list(got["level"]) == [30, 22, 20, 20, 20, 30]


def test_threads_get_their_own_tid(tmp_path: Path) -> None:
    ring = _ring.Ring()
    path = R.create_ring_file(tmp_path, service="tid", level="TRACE")
    ring.map(path)
    log = _ring.Logger(ring, "t")
    ids = []

    def work() -> None:
        ids.append(threading.get_native_id() & 0xFFFFFFFF)
        log.info("from a thread")

    for _ in range(3):
        th = threading.Thread(target=work)
        th.start()
        th.join()
    log.info("main")
    got = read_all(path)
    assert list(struct.unpack("<4I", got["tid"])) == [*ids, threading.get_native_id() & 0xFFFFFFFF]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_stamps_its_own_tid(tmp_path: Path) -> None:
    ring = _ring.Ring()
    log = _ring.Logger(ring, "f")
    path = R.create_ring_file(tmp_path, service="fork", level="TRACE")
    ring.map(path)
    log.info("parent")  # caches the parent's tid in this thread
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            log.info("child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    got = read_all(path)
    assert list(struct.unpack("<2I", got["tid"])) == [threading.get_native_id(), pid]


def test_msg_self_and_level_are_ordinary_field_names(tmp_path: Path) -> None:
    """The message (and log's level) are positional-only, so no keyword can collide with them."""
    ring = _ring.Ring()
    path = R.create_ring_file(tmp_path, service="kw", level="TRACE")
    ring.map(path)
    log = _ring.Logger(ring, "kw")
    log.info("m", msg=1, self=2, level=3)
    log.log(20, "m", msg=1, level=3)
    log.info(msg="only a field")
    got = read_all(path)
    key = {name: ring.intern(name, R.S_KEY) for name in ("msg", "self", "level")}
    rows = {k: list(struct.unpack(f"<{len(v[0]) // 4}I", v[0])) for k, v in got["columns"].items()}
    assert rows == {(key["msg"], "int"): [0, 1], (key["self"], "int"): [0], (key["level"], "int"): [0, 1],
                    (key["msg"], "str"): [2]}
    assert struct.unpack("<3I", got["message"])[2] == ring.intern("", R.S_MESSAGE)
