"""Reading snapshot files: the checked header, one chunk at a time, each chunk as polars columns.

A :class:`SnapshotFile` opens a file, checks its header (every value a reader relies on: keys,
types, ranges, and that the chunk index adds up) and hands out its chunks, one CBOR map at a
time: straight from the chunk's own LZ4 blocks when the file has a ``chunk_offsets`` key (files
of this version), else by streaming the frame from the start. :func:`chunk_frame` turns one
chunk into a polars DataFrame of the event schema (``ttview.schema``), decoding only the
columns asked for. That is the whole read path: ``ttview.scan`` builds the lazy source of every
command and of the viewer on it.

:func:`read_snapshot` is the reference reader kept beside it: the whole file as numpy columns
(:class:`ttlog.events.Columns`, row dicts by :meth:`Snapshot.iter_events`), with the same checks;
the tests compare the two.

Invariants:
- Reading raises :class:`SnapshotError` (one line naming the file) and no other exception,
  whatever the file holds.
- Inflating a file never goes past what its own header says it holds: a chunk whose index entry
  gives its size (``bytes``) is read to exactly that; without one, to at most
  :func:`chunk_budget`; the header and string table to at most :data:`HEADER_BUDGET`. Memory is
  bounded by one chunk, never by the file.
- A chunk's events are checked against its index entry (count, first and last time, levels,
  loggers), so skipping chunks by the index never hides an event the index does not admit to.
- No UI library here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
import polars as pl
from ttlog.codec import FORMAT_NAME, FORMAT_VERSION, KINDS, MAX_CHUNK_SIZE
from ttlog.events import Columns, FieldData, _obj_array, concat_columns
from ttlog.store import SnapshotError

from ttview.lz4read import BlockStream, FrameError, FrameLayout, SequentialStream, open_map, read_layout
from ttview.schema import CUT_COLUMN, CUT_DTYPE, FIELDS_CUT_MARK, FieldLayout

__all__ = [
    "ChunkStat",
    "HEADER_BUDGET",
    "Snapshot",
    "SnapshotError",
    "SnapshotFile",
    "SnapshotInfo",
    "chunk_budget",
    "chunk_frame",
    "read_snapshot",
    "snapshot_info",
]

HEADER_BUDGET = 64 << 20
"""Most bytes the header and string table of one file may inflate to."""

EVENT_BYTES = 64 << 10
"""Most bytes one event may take in a chunk of a file that does not give its chunks' sizes: far
above what a ring's records hold by default (a few fields, 4 KiB text values), far below an
inflation bomb."""

CHUNK_BUDGET_CAP = 256 << 20
"""Most bytes one chunk may inflate to, whatever its event count says."""

_INT_TAGS = {64: "u1", 69: "<u2", 70: "<u4", 71: "<u8", 72: "i1", 77: "<i2", 78: "<i4", 79: "<i8"}
_TAG_F64 = 86
_I64_MIN, _I64_END = -(1 << 63), 1 << 63
_SOURCE_TEXT = frozenset(("service", "host", "ring"))
_SOURCE_SEQ = frozenset(("first_seq", "last_seq"))
_SOURCE_INTS = frozenset(("pid", "start_ns", "count", "dropped", "lost", "corrupt"))
_SOURCE_COUNTS = frozenset(("count", "dropped", "lost", "corrupt"))


class _Corrupt(Exception):
    pass


def _need(cond: object, what: str) -> None:
    if not cond:
        raise _Corrupt(what)


def _is_int(v: object, lo: int = _I64_MIN, hi: int = _I64_END) -> bool:
    return type(v) is int and lo <= v < hi


def chunk_budget(n: int, compressed: int | None = None) -> int:
    """How many bytes a chunk of ``n`` events may inflate to when its file does not say: at most
    :data:`EVENT_BYTES` an event and :data:`CHUNK_BUDGET_CAP` in all (when its compressed size is
    known, also at most 64 times that), plus 1 MiB. The text of a value that repeats is stored once,
    so a real chunk stays far below."""
    bound = min(n * EVENT_BYTES, CHUNK_BUDGET_CAP)
    if compressed is not None:
        bound = min(bound, max(compressed * 64, n << 10))
    return bound + (1 << 20)


# ---- the header ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkStat:
    """A chunk's index entry, checked: events, time range, levels (and loggers, when listed)."""

    n: int
    ts_min: int
    ts_max: int
    levels: frozenset[int]
    loggers: frozenset[int] | None = None
    bytes: int | None = None


@dataclass
class SnapshotInfo:
    """What a snapshot's header says (every top-level key but ``strings`` and ``chunks``), checked."""

    path: Path
    size: int
    version: int
    service: str
    host: str
    pid: int
    pids: list[int]
    created_ns: int
    reason: str
    engine_version: str
    count: int
    first_ts: int | None
    last_ts: int | None
    dropped: int
    lost: int
    sources: list[dict[str, Any]]
    index: list[dict[str, Any]]
    meta: dict[str, Any] = field(repr=False)
    chunks: list[ChunkStat] = field(default_factory=list, repr=False)
    fields: list[tuple[str, str]] | None = field(default=None, repr=False)
    """The (key, kind) field columns of the file, from its ``fields`` key (None when absent)."""


def _header_info(path: Path, size: int, meta: Any) -> SnapshotInfo:
    _need(isinstance(meta, dict), "the content is not a CBOR map")
    _need(meta.get("format") == FORMAT_NAME, "")
    version = meta.get("version")
    if not isinstance(version, int) or version != FORMAT_VERSION:
        raise SnapshotError(f"{path}: snapshot format version {version!r}; this reader reads version "
                            f"{FORMAT_VERSION}")

    def get(key: str, types: Any, default: Any = None, *, required: bool = False) -> Any:
        _need(not required or key in meta, f"header key {key!r} is missing")
        value = meta.get(key, default)
        _need(isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types)),
              f"header key {key!r} has the wrong type")
        if type(value) is int:
            _need(_I64_MIN <= value < _I64_END, f"header key {key!r} is out of range")
        return value

    sources = get("sources", list, [])
    for s in sources:
        _need(isinstance(s, dict), "a source record is not a map")
        for k, v in s.items():
            if k in _SOURCE_TEXT:
                _need(type(v) is str, f"source key {k!r} is not text")
            elif k in _SOURCE_SEQ:
                _need(v is None or _is_int(v, 0, 1 << 64), f"source key {k!r} is not a seq")
            elif k in _SOURCE_COUNTS:
                _need(_is_int(v, 0), f"source key {k!r} is not a count")
            elif k in _SOURCE_INTS:
                _need(_is_int(v), f"source key {k!r} is not an int64")
    count = get("count", int, required=True)
    _need(count >= 0, "header key 'count' is negative")
    index = get("index", list, required=True)
    chunks = [_chunk_stat(entry, i) for i, entry in enumerate(index)]
    _need(sum(c.n for c in chunks) == count, "the chunk index does not add up to the event count")
    first_ts = get("first_ts", (int, type(None)))
    last_ts = get("last_ts", (int, type(None)))
    nonempty = [c for c in chunks if c.n]
    if nonempty:
        _need(first_ts == nonempty[0].ts_min and last_ts == nonempty[-1].ts_max,
              "first_ts/last_ts disagree with the chunk index")
        for a, b in zip(nonempty, nonempty[1:], strict=False):
            _need(a.ts_max <= b.ts_min, "the chunks are not in time order")
    pids = get("pids", list, [])
    _need(all(_is_int(p) for p in pids), "header key 'pids' has the wrong type")
    dropped, lost = get("dropped", int, 0), get("lost", int, 0)
    _need(dropped >= 0 and lost >= 0, "a negative dropped/lost count")
    fields = None
    if "fields" in meta:
        raw = get("fields", list)
        fields = []
        for item in raw:
            _need(isinstance(item, list) and len(item) == 2 and type(item[0]) is str and item[1] in KINDS,
                  "header key 'fields' holds a bad entry")
            fields.append((item[0], item[1]))
        _need(len(set(fields)) == len(fields), "header key 'fields' lists a column twice")
    return SnapshotInfo(
        path=path, size=size, version=version, service=get("service", str, ""), host=get("host", str, ""),
        pid=get("pid", int, 0), pids=pids, created_ns=get("created_ns", int, 0),
        reason=get("reason", str, ""), engine_version=get("engine_version", str, ""),
        count=count, first_ts=first_ts, last_ts=last_ts, dropped=dropped, lost=lost, sources=sources,
        index=index, meta=meta, chunks=chunks, fields=fields)


def _as_tuple(types: Any) -> tuple[Any, ...]:
    return types if isinstance(types, tuple) else (types,)


def _chunk_stat(entry: Any, i: int) -> ChunkStat:
    where = f"chunk index entry {i}"
    _need(isinstance(entry, dict), f"{where} is not a map")
    n, lo, hi, levels = entry.get("n"), entry.get("ts_min"), entry.get("ts_max"), entry.get("levels")
    _need(_is_int(n, 0, MAX_CHUNK_SIZE + 1), f"{where}: bad event count")
    _need(_is_int(lo) and _is_int(hi) and lo <= hi, f"{where}: bad time range")
    _need(isinstance(levels, list) and all(_is_int(v, 0, 256) for v in levels) and (levels or not n),
          f"{where}: bad levels")
    loggers = entry.get("loggers")
    if loggers is not None:
        _need(isinstance(loggers, list) and all(_is_int(v, 0, 1 << 32) for v in loggers),
              f"{where}: bad loggers")
    size = entry.get("bytes")
    _need(size is None or _is_int(size, 1, 1 << 40), f"{where}: bad size")
    return ChunkStat(n, lo, hi, frozenset(levels), None if loggers is None else frozenset(loggers), size)


def _fail(path: Path, exc: BaseException) -> SnapshotError:
    if isinstance(exc, SnapshotError):
        return exc
    if isinstance(exc, _Corrupt) and not str(exc):
        return SnapshotError(f"{path}: not a ttlog snapshot (no '{FORMAT_NAME}' header)")
    if isinstance(exc, (_Corrupt, FrameError)):
        text = " ".join(str(exc).split())[:300]
        return SnapshotError(f"{path}: {text}" if isinstance(exc, FrameError)
                             else f"{path}: corrupt snapshot: {text}")
    if isinstance(exc, MemoryError):
        return SnapshotError(f"{path}: corrupt snapshot (too large to decode)")
    line = " ".join(str(exc).split())[:200]
    return SnapshotError(f"{path}: corrupt or truncated snapshot ({type(exc).__name__}: {line})")


def _map_head(stream: Any) -> int:
    """The entry count of the definite-length CBOR map that starts the stream."""
    first = stream.read(1)
    _need(first, "")
    head = first[0]
    _need(head >> 5 == 5, "the content is not a CBOR map")
    info = head & 31
    if info < 24:
        return info
    _need(info in (24, 25, 26), "the content is not a definite CBOR map")
    width = {24: 1, 25: 2, 26: 4}[info]
    raw = stream.read(width)
    _need(len(raw) == width, "")
    return int.from_bytes(raw, "big")


def _array_head(stream: Any, what: str) -> int:
    first = stream.read(1)
    _need(first and first[0] >> 5 == 4, f"{what} is not an array")
    info = first[0] & 31
    if info < 24:
        return info
    _need(info in (24, 25, 26, 27), f"{what} is not a definite array")
    width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    raw = stream.read(width)
    _need(len(raw) == width, "truncated snapshot")
    return int.from_bytes(raw, "big")


# ---- a file -------------------------------------------------------------------------------------


class SnapshotFile:
    """A snapshot file opened for reading: its checked header and its chunks, one at a time.

        with SnapshotFile(path) as snap:
            for i, chunk in snap.chunks():          # raw chunk maps, in file order
                frame = chunk_frame(snap, chunk, i)

    Raises :class:`SnapshotError` (one line naming the file) for anything wrong with it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data: Any = b""
        self._strings: list[str] | None = None
        self._seq: tuple[SequentialStream, Any, int] | None = None  # stream, decoder, next chunk
        self._strings_series: pl.Series | None = None
        self._ended = False
        self._trailing = 0
        try:
            self._data, size = open_map(self.path)
            self.layout: FrameLayout = read_layout(self._data, size)
            self.offsets = self._chunk_offsets()
            if self.offsets is not None:
                stream: Any = BlockStream(self._data, self.layout, self.layout.blocks[0], self.offsets[0],
                                          HEADER_BUDGET)
            else:
                stream = SequentialStream(self._data, size, HEADER_BUDGET + self._legacy_budget(size))
                stream.limit_next(HEADER_BUDGET)
            dec = cbor2.CBORDecoder(stream)
            entries = _map_head(stream)
            meta: dict[str, Any] = {}
            found = False
            for _ in range(entries):
                key = dec.decode()
                if key == "strings":
                    found = True
                    break
                _need(type(key) is str and key not in meta, "a header key is not text, or repeats")
                meta[key] = dec.decode()
            self.info = _header_info(self.path, size, meta)
            _need(found, "no string table")
            strings = dec.decode()
            _need(isinstance(strings, list) and strings and strings[0] == "", "no string table")
            _need(all(type(s) is str for s in strings), "the string table holds a non-string")
            self._strings = strings
            _need(dec.decode() == "chunks", "no chunk array after the string table")
            n_chunks = _array_head(stream, "chunks")
            _need(n_chunks == len(self.info.chunks), "the chunk index and the chunk array disagree")
            self._trailing = entries - len(meta) - 2
            _need(self._trailing >= 0, "")
            if self.offsets is not None:
                _need(len(self.offsets) == n_chunks + 1, "chunk_offsets does not match the chunks")
                _need(self._trailing == 1 and stream.at_end(), "the header does not end where chunk 0 starts")
            else:
                self._seq = (stream, dec, 0)
                self._ended = False
                if not self.info.chunks:
                    self._finish(stream, dec)
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
            self.close()
            raise _fail(self.path, exc) from None

    def __enter__(self) -> SnapshotFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        data, self._data = self._data, b""
        self._seq = None
        if hasattr(data, "close"):
            try:
                data.close()
            except BufferError:  # a view of it is still alive somewhere; the GC unmaps it
                pass

    @property
    def strings(self) -> list[str]:
        assert self._strings is not None
        return self._strings

    @property
    def strings_series(self) -> pl.Series:
        """The string table as a polars Series (built once)."""
        if self._strings_series is None:
            self._strings_series = pl.Series(self.strings, dtype=pl.String)
        return self._strings_series

    @property
    def random_access(self) -> bool:
        """Whether a chunk is read from its own blocks (else the frame is streamed from its start)."""
        return self.offsets is not None

    def _legacy_budget(self, size: int) -> int:
        return max(size * 64, 1 << 20) + (64 << 20)

    def _chunk_offsets(self) -> list[int] | None:
        """The ``chunk_offsets`` of a file whose blocks can be read alone, else None."""
        layout = self.layout
        if not layout.independent or len(layout.blocks) < 2:
            return None
        last = layout.blocks[-1]
        try:
            stream = BlockStream(self._data, layout, last, layout.end_mark, 64 << 20)
            raw = stream.read()
        except FrameError:
            return None
        if not raw.startswith(b"\x6dchunk_offsets"):
            return None
        try:
            dec = cbor2.CBORDecoder(io.BytesIO(raw))
            dec.decode()
            offsets = dec.decode()
            rest = dec.fp.read()
        except Exception:  # noqa: BLE001 - not our trailer after all: read the file from its start
            return None
        starts = set(layout.blocks)
        ok = (isinstance(offsets, list) and len(offsets) >= 1 and not rest
              and all(type(o) is int and o in starts for o in offsets)
              and all(a < b for a, b in zip(offsets, offsets[1:], strict=False)) and offsets[-1] == last
              and offsets[0] > layout.blocks[0])
        if not ok:
            raise _Corrupt("chunk_offsets does not point at the file's blocks")
        return offsets

    def field_kinds(self) -> list[tuple[str, str]]:
        """The file's (key, kind) field columns in order of first appearance: from its header's
        ``fields`` key, or (files of an earlier version) from a pass over its chunks."""
        if self.info.fields is not None:
            return list(self.info.fields)
        seen: dict[tuple[str, str], None] = {}
        strings = self.strings
        for i, chunk in self.chunks():
            cols = chunk.get("fields", [])
            if not isinstance(cols, list):
                raise _fail(self.path, _Corrupt(f"chunk {i}: fields is not an array"))
            for col in cols:
                key, kind = (col.get("key"), col.get("kind")) if isinstance(col, dict) else (None, None)
                if not (_is_int(key, 0, len(strings)) and kind in KINDS):
                    raise _fail(self.path, _Corrupt(f"chunk {i}: a field column with a bad key or kind"))
                seen.setdefault((strings[key], kind), None)
        self.info.fields = list(seen)
        return self.info.fields

    def check_end(self) -> None:
        """Read to the end of the file and check that nothing follows the content (a file read
        front to back; the frame of a file with ``chunk_offsets`` was checked when it was opened)."""
        if self.offsets is not None:
            return
        try:
            if self._seq is None:
                self._restart()
            while self._seq is not None and self._seq[2] < len(self.info.chunks):
                self._next_streamed()
            if not self._ended and self._seq is not None:
                self._finish(self._seq[0], self._seq[1])
        except SnapshotError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
            raise _fail(self.path, exc) from None

    def chunks(self, which: Iterable[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(i, chunk map)`` for the chunks ``which`` (ascending; default all), each checked to be a
        map whose stats match the index. Raises SnapshotError."""
        wanted = range(len(self.info.chunks)) if which is None else sorted(set(which))
        try:
            if self.offsets is not None:
                for i in wanted:
                    yield i, self._chunk_at(i)
            else:
                yield from self._chunks_streamed(wanted)
        except SnapshotError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
            raise _fail(self.path, exc) from None

    def chunk(self, i: int) -> dict[str, Any]:
        """Chunk ``i``'s map (checked as :meth:`chunks` does)."""
        for _, chunk in self.chunks([i]):
            return chunk
        raise IndexError(i)

    def _chunk_at(self, i: int) -> dict[str, Any]:
        assert self.offsets is not None
        stat = self.info.chunks[i]
        start, stop = self.offsets[i], self.offsets[i + 1]
        budget = stat.bytes if stat.bytes is not None else chunk_budget(stat.n, stop - start)
        stream = BlockStream(self._data, self.layout, start, stop, budget)
        data = stream.content()  # the chunk's blocks joined, then one C decode of them
        content = io.BytesIO(data)
        chunk = cbor2.CBORDecoder(content).decode()
        _need(content.tell() == len(data), f"chunk {i} does not end where its blocks do")
        _need(stat.bytes is None or stream.inflated == stat.bytes,
              f"chunk {i} is not the size its index says")
        _check_stats(chunk, stat, i)
        return chunk

    def _chunks_streamed(self, wanted: Iterable[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        for i in wanted:
            if self._seq is None or self._seq[2] > i:
                self._restart()
            while True:
                assert self._seq is not None
                at = self._seq[2]
                chunk = self._next_streamed()  # (the last chunk leaves no stream behind)
                if at == i:
                    break
            yield i, chunk

    def _next_streamed(self) -> dict[str, Any]:
        assert self._seq is not None
        stream, dec, nxt = self._seq
        stream.limit_next(chunk_budget(self.info.chunks[nxt].n))
        chunk = dec.decode()
        _check_stats(chunk, self.info.chunks[nxt], nxt)
        self._seq = (stream, dec, nxt + 1)
        if nxt + 1 == len(self.info.chunks):
            self._finish(stream, dec)
            self._seq = None  # read to its end: let its buffers go (a later read starts again)
        return chunk

    def _restart(self) -> None:
        stream = SequentialStream(self._data, self.layout.size,
                                  HEADER_BUDGET + self._legacy_budget(self.layout.size))
        stream.limit_next(HEADER_BUDGET)
        dec = cbor2.CBORDecoder(stream)
        _map_head(stream)
        while dec.decode() != "strings":
            dec.decode()
        dec.decode()
        dec.decode()
        _array_head(stream, "chunks")
        self._seq = (stream, dec, 0)
        self._ended = False

    def _finish(self, stream: SequentialStream, dec: Any) -> None:
        stream.limit_next(HEADER_BUDGET)
        for _ in range(self._trailing):  # keys after the chunks: none may repeat a header key
            key = dec.decode()
            _need(type(key) is str and key not in self.info.meta, "a key after the chunks repeats one")
            dec.decode()
        try:
            stream.finish()
        except FrameError as exc:
            raise _Corrupt(str(exc)) from None
        self._ended = True


def _check_stats(chunk: Any, stat: ChunkStat, i: int) -> None:
    where = f"chunk {i}"
    _need(isinstance(chunk, dict), f"{where} is not a map")
    _need(chunk.get("n") == stat.n
          and chunk.get("ts_min") == stat.ts_min and chunk.get("ts_max") == stat.ts_max,
          f"{where} disagrees with its index entry")
    levels = chunk.get("levels")
    _need(isinstance(levels, list) and frozenset(levels) == stat.levels if levels is not None else True,
          f"{where}'s levels disagree with its index entry")


def snapshot_info(path: str | os.PathLike[str]) -> SnapshotInfo:
    """The checked header of a snapshot, inflating only its first part. Raises SnapshotError."""
    with SnapshotFile(path) as snap:
        return snap.info


# ---- one chunk as polars columns -----------------------------------------------------------------


def _tag_array(value: Any, n: int | None, what: str, *, ints: bool = True) -> np.ndarray:
    _need(isinstance(value, cbor2.CBORTag), f"{what} is not a typed array")
    dtype = _INT_TAGS.get(value.tag) or (None if ints else ("<f8" if value.tag == _TAG_F64 else None))
    _need(dtype is not None, f"{what} has an unexpected tag {value.tag}")
    buf = value.value
    _need(isinstance(buf, bytes), f"{what} is not a byte string")
    size = np.dtype(dtype).itemsize
    _need(len(buf) % size == 0, f"{what} has a partial element")
    _need(n is None or len(buf) // size == n, f"{what} has the wrong length")
    return np.frombuffer(buf, dtype)


def _ints(src: dict[str, Any], name: str, n: int | None, what: str) -> np.ndarray:
    """The integer array ``src[name]`` as int64 (joined with ``src[name + "_hi"]`` when split)."""
    lo = _tag_array(src.get(name), n, what)
    hi_tag = src.get(name + "_hi")
    if hi_tag is None:
        if lo.dtype == np.dtype("<u8"):
            _need(not len(lo) or int(lo.max()) < _I64_END, f"{what} is out of range")
        return lo.astype(np.int64, copy=False)
    _need(lo.dtype == np.dtype("<u2"), f"{what}: a split array's low part is not uint16")
    hi = _tag_array(hi_tag, len(lo), what + "_hi")
    _need(not len(hi) or (int(hi.min()) >= -(1 << 47) and int(hi.max()) < 1 << 47),
          f"{what}_hi is out of range")
    return lo.astype(np.int64) + (hi.astype(np.int64) << 16)


def _running(deltas: np.ndarray, start: int, what: str, *, ascending: bool = True) -> np.ndarray:
    """``start`` + running sum of ``deltas`` (the first delta included), checked to stay in int64
    (and, with ``ascending``, never to go down after the first value)."""
    if not len(deltas):
        return deltas
    if ascending:
        rest = deltas[1:]
        _need(int(rest.min(initial=0)) >= 0, f"{what} goes back in time")
        _need(int(rest.max(initial=0)) * len(rest) < 1 << 63, f"{what} overflows")  # so the sum cannot wrap
        low = start + int(deltas[0])
        high = low + int(rest.sum())
        out = np.cumsum(deltas)
    else:
        biggest = max(abs(int(deltas.min())), abs(int(deltas.max())))
        _need(biggest * len(deltas) < 1 << 62, f"{what} overflows")
        out = np.cumsum(deltas)
        low, high = start + int(out.min()), start + int(out.max())
    _need(_I64_MIN <= low and high < _I64_END, f"{what} overflows")
    out += np.int64(start)
    return out


def _row_list(value: Any, n: int, what: str) -> np.ndarray:
    _need(isinstance(value, list), f"{what} is not an array")
    _need(all(type(r) is int and 0 <= r < n for r in value), f"{what} holds a bad row")
    return np.asarray(value, dtype=np.int64)


def _masked(values: np.ndarray, rows: np.ndarray | None, n: int) -> pl.Series:
    """``values`` placed at ``rows`` of a length-``n`` Series, null elsewhere (``rows`` None: all)."""
    if rows is None:
        return pl.Series(values)
    full = np.zeros(n, dtype=values.dtype)
    full[rows] = values
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return pl.Series(np.ma.masked_array(full, mask))


def _gathered(table: pl.Series, idx: np.ndarray, rows: np.ndarray | None, n: int) -> pl.Series:
    """``table[idx]`` placed at ``rows`` of a length-``n`` Series, null elsewhere."""
    return table.gather(_masked(idx.astype(np.uint32, copy=False), rows, n))


def _field_series(col: dict[str, Any], kind: str, rows: np.ndarray | None, m: int, n: int, strings: pl.Series,
                  n_strings: int, fw: str) -> pl.Series:
    """One (key, kind) column of a chunk, ``n`` rows long (null where an event lacks it)."""
    values = col.get("values")
    if kind == "int":
        return _masked(_ints(col, "values", m, f"{fw} values"), rows, n)
    if kind == "float":
        if "scale" in col:
            scale = col["scale"]
            _need(type(scale) is int and 0 <= scale <= 22, f"{fw}: bad scale")
            return _masked(_ints(col, "values", m, f"{fw} values") / (10.0**scale), rows, n)
        vals = _tag_array(values, m, f"{fw} values", ints=False)
        _need(vals.dtype == np.dtype("<f8"), f"{fw}: float values are not float64")
        return _masked(vals.astype(np.float64), rows, n)
    if kind == "bool":
        vals = _tag_array(values, m, f"{fw} values")
        _need(vals.dtype == np.dtype("u1") and (not len(vals) or int(vals.max()) <= 1),
              f"{fw}: bad bool values")
        return _masked(vals.astype(bool), rows, n)
    if kind == "none":
        return pl.repeat(None, n, dtype=pl.Null, eager=True)
    if kind in ("str", "obj") and not isinstance(values, (str, list)):
        ids = _ints(col, "values", m, f"{fw} values")
        _need(not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < n_strings),
              f"{fw}: string id out of range")
        return strings.gather(ids.astype(np.uint32)) if rows is None else _gathered(strings, ids, rows, n)
    if kind in ("str", "obj"):
        if isinstance(values, str):
            table = pl.Series([values], dtype=pl.String).str.split("\0").explode()
            _need(len(table) == m, f"{fw}: wrong number of joined text values")
        else:
            _need(len(values) == m and all(type(v) is str for v in values), f"{fw}: bad text values")
            table = pl.Series(values, dtype=pl.String)
    else:
        _need(isinstance(values, list) and len(values) == m and all(type(v) is bytes for v in values),
              f"{fw}: bad bytes values")
        table = pl.Series(values, dtype=pl.Binary)
    return table if rows is None else _gathered(table, np.arange(m, dtype=np.uint32), rows, n)


def chunk_frame(snap: SnapshotFile, chunk: dict[str, Any], i: int, layout: FieldLayout,
                columns: Iterable[str] | None = None) -> pl.DataFrame:
    """Chunk ``i`` of ``snap`` (its map, from :meth:`SnapshotFile.chunks`) as an event frame.

    ``layout`` names and types the field columns (one layout for every file read together, so
    their frames stack); the frame has every column of ``layout.schema`` (fields the chunk lacks
    are null) or only ``columns``. Raises SnapshotError (one line naming the file).
    """
    try:
        return _chunk_frame(snap, chunk, i, layout, None if columns is None else set(columns))
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
        raise _fail(snap.path, exc) from None


def _chunk_frame(snap: SnapshotFile, chunk: dict[str, Any], i: int, layout: FieldLayout,
                 want: set[str] | None) -> pl.DataFrame:
    where = f"chunk {i}"
    stat = snap.info.chunks[i]
    n = stat.n
    schema = layout.schema
    names = list(schema) if want is None else [c for c in schema if c in want]
    sources = snap.info.sources
    strings = snap.strings_series
    n_strings = len(snap.strings)
    out: dict[str, pl.Series] = {}
    needs = set(names)

    # a column that is decoded is checked against the chunk's index entry (time range, levels,
    # loggers): what skipping chunks by the index trusts
    if "ts" in needs:
        ts = _running(_ints(chunk, "ts", n, f"{where} ts"), stat.ts_min, f"{where} ts")
        _need(not n or (int(ts[0]) == stat.ts_min and int(ts[-1]) == stat.ts_max),
              f"{where}: ts disagrees with ts_min/ts_max")
        out["ts"] = pl.Series("ts", ts.view("datetime64[ns]")).dt.replace_time_zone("UTC")
    if "seq" in needs:
        seq_base = chunk.get("seq_base")
        _need(_is_int(seq_base, 0, 1 << 64), f"{where}: bad seq_base")
        seq = _ints(chunk, "seq", n, f"{where} seq")
        base = seq_base if seq_base < _I64_END else seq_base - (1 << 64)
        out["seq"] = pl.Series("seq", _running(seq, base, f"{where} seq", ascending=False))
    if "level" in needs:
        level = _tag_array(chunk.get("level"), n, f"{where} level")
        _need(level.dtype == np.dtype("u1"), f"{where}: level is not uint8")
        _need(not n or set(np.flatnonzero(np.bincount(level, minlength=256)).tolist()) <= stat.levels,
              f"{where}: a level not in its index entry")
        out["level"] = pl.Series("level", level)
    if {"service", "pid"} & needs:
        src = _ints(chunk, "source", n, f"{where} source")
        table = sources or [{"service": "", "pid": 0}]
        _need(not n or (int(src.min()) >= 0 and int(src.max()) < len(table)), f"{where}: source out of range")
        idx = src.astype(np.uint32)
        if "service" in needs:
            out["service"] = pl.Series([str(s.get("service", "")) for s in table],
                                       dtype=pl.String).gather(idx)
        if "pid" in needs:
            out["pid"] = pl.Series(np.array([int(s.get("pid", 0)) for s in table], dtype=np.int64)[idx])
    for name in ("logger", "message"):
        if name in needs:
            ids = _ints(chunk, name, n, f"{where} {name}")
            _need(not n or (int(ids.min()) >= 0 and int(ids.max()) < n_strings),
                  f"{where}: {name} out of range")
            if name == "logger" and stat.loggers is not None:
                _need(set(np.flatnonzero(np.bincount(ids)).tolist()) <= stat.loggers,
                      f"{where}: a logger not in its index entry")
            if name in needs:
                out[name] = strings.gather(ids.astype(np.uint32))
    if "tid" in needs:
        tid = _ints(chunk, "tid", n, f"{where} tid")
        _need(not n or (int(tid.min()) >= 0 and int(tid.max()) < 1 << 32), f"{where}: tid out of range")
        out["tid"] = pl.Series("tid", tid)

    fcols = chunk.get("fields", [])
    _need(isinstance(fcols, list), f"{where}: fields is not an array")
    by_column: dict[str, list[tuple[str, pl.Series]]] = {}
    cut_marks: dict[int, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for j, col in enumerate(fcols):
        fw = f"{where} field {j}"
        _need(isinstance(col, dict), f"{fw} is not a map")
        key, kind = col.get("key"), col.get("kind")
        _need(_is_int(key, 0, n_strings), f"{fw}: bad key")
        _need(kind in KINDS, f"{fw}: bad kind")
        key_text = snap.strings[key]
        _need((key_text, kind) not in seen, f"{fw}: the same key and kind twice")
        seen.add((key_text, kind))
        column = layout.column_of(key_text)
        _need(column is not None, f"{fw}: a field the file's header does not list")
        if "rows" in col:
            d = _ints(col, "rows", None, f"{fw} rows")
            _need(len(d) and int(d[0]) >= 0 and int(d[1:].min(initial=1)) >= 1, f"{fw}: bad rows")
            rows = np.cumsum(d)
            _need(int(rows[-1]) < n, f"{fw}: row out of range")
            m = len(rows)
        else:
            rows, m = None, n
        cut = _row_list(col.get("cut", []), n, f"{fw} cut")
        if CUT_COLUMN in needs:
            for r in cut.tolist():
                marks = cut_marks.setdefault(r, [])
                if column not in marks:
                    marks.append(column)
        if column not in needs:
            continue
        by_column.setdefault(column, []).append(
            (kind, _field_series(col, kind, rows, m, n, strings, n_strings, fw)))

    if CUT_COLUMN in needs:
        for r in _row_list(chunk.get("message_cut", []), n, f"{where} message_cut").tolist():
            cut_marks.setdefault(r, []).insert(0, "message")
        for r in _row_list(chunk.get("fields_cut", []), n, f"{where} fields_cut").tolist():
            cut_marks.setdefault(r, []).append(FIELDS_CUT_MARK)
        if cut_marks:
            rows = np.array(sorted(cut_marks), dtype=np.int64)
            base = pl.Series([cut_marks[r] for r in rows.tolist()], dtype=CUT_DTYPE)
            out[CUT_COLUMN] = _gathered(base, np.arange(len(rows), dtype=np.uint32), rows, n)
        else:
            out[CUT_COLUMN] = pl.repeat(None, n, dtype=CUT_DTYPE, eager=True)

    for column, parts in by_column.items():
        out[column] = parts[0][1].alias(column) if len(parts) == 1 and parts[0][1].dtype == schema[column] \
            else layout.combine(column, parts, n)
    return pl.DataFrame([
        (out[name] if name in out else pl.repeat(None, n, dtype=schema[name], eager=True)).alias(name)
        for name in names
    ])


# ---- the reference reader: a whole file as numpy columns -----------------------------------------


@dataclass
class Snapshot:
    """A snapshot file, read and checked: its header, its sources and its events as columns."""

    info: SnapshotInfo
    columns: Columns
    chunks_read: int
    chunks_skipped: int

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def meta(self) -> dict[str, Any]:
        return self.info.meta

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.columns.sources

    @property
    def strings(self) -> list[str]:
        return self.columns.strings

    def __len__(self) -> int:
        return self.columns.n

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """Row dicts shaped like :meth:`ttlog.reader.Batch.events`."""
        return self.columns.iter_events()


def read_snapshot(path: str | os.PathLike[str], *, ts_min: int | None = None, ts_max: int | None = None,
                  min_level: int | None = None) -> Snapshot:
    """Read and check a whole snapshot as numpy columns. Raises SnapshotError (one line naming the file).

    ``ts_min``/``ts_max`` (ns) and ``min_level`` skip chunks whose stats show they hold no
    matching event (events of a chunk that is read are all kept: filter the result).
    """
    with SnapshotFile(path) as snap:
        info = snap.info
        keep = [i for i, c in enumerate(info.chunks) if not _skip(c, ts_min, ts_max, min_level)]
        parts = []
        try:
            for i, chunk in snap.chunks(keep):
                parts.append(_decode_chunk(chunk, i, snap.strings, info.sources))
            if len(keep) == len(info.chunks):
                snap.check_end()
        except SnapshotError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
            raise _fail(snap.path, exc) from None
        cols = concat_columns(parts) if parts else Columns.empty(snap.strings, info.sources)
        return Snapshot(info=info, columns=cols, chunks_read=len(parts),
                        chunks_skipped=len(info.chunks) - len(keep))


def _skip(stat: ChunkStat, ts_min: int | None, ts_max: int | None, min_level: int | None) -> bool:
    if ts_min is not None and stat.ts_max < ts_min:
        return True
    if ts_max is not None and stat.ts_min > ts_max:
        return True
    return min_level is not None and bool(stat.levels) and max(stat.levels) < min_level


def _in_range(a: Any, lo: int, hi: int) -> bool:
    return not len(a) or (int(a.min()) >= lo and int(a.max()) < hi)


def _decode_chunk(chunk: dict[str, Any], i: int, strings: list[str],
                  sources: list[dict[str, Any]]) -> Columns:
    where = f"chunk {i}"
    n = chunk.get("n")
    _need(type(n) is int and 0 <= n <= MAX_CHUNK_SIZE, f"{where}: bad event count")
    ts_min, seq_base = chunk.get("ts_min"), chunk.get("seq_base")
    _need(_is_int(ts_min), f"{where}: bad ts_min")
    _need(_is_int(seq_base, 0, 1 << 64), f"{where}: bad seq_base")
    ts = _running(_ints(chunk, "ts", n, f"{where} ts"), ts_min, f"{where} ts")
    seq = _ints(chunk, "seq", n, f"{where} seq")
    base = seq_base if seq_base < _I64_END else seq_base - (1 << 64)
    seq = _running(seq, base, f"{where} seq", ascending=False)
    level = _tag_array(chunk.get("level"), n, f"{where} level")
    _need(level.dtype == np.dtype("u1"), f"{where}: level is not uint8")
    if not sources and n:
        sources.append({"service": "", "host": "", "pid": 0})
    ids = {}
    for name, limit in (("source", len(sources)), ("logger", len(strings)), ("message", len(strings)),
                        ("tid", 1 << 32)):
        a = _ints(chunk, name, n, f"{where} {name}")
        _need(_in_range(a, 0, limit), f"{where}: {name} out of range")
        ids[name] = a.astype(np.uint32)
    message_cut = _row_list(chunk.get("message_cut", []), n, f"{where} message_cut")
    fields_cut = _row_list(chunk.get("fields_cut", []), n, f"{where} fields_cut")
    fcols = chunk.get("fields", [])
    _need(isinstance(fcols, list), f"{where}: fields is not an array")
    fields: dict[tuple[str, str], FieldData] = {}
    for j, col in enumerate(fcols):
        fw = f"{where} field {j}"
        _need(isinstance(col, dict), f"{fw} is not a map")
        key, kind = col.get("key"), col.get("kind")
        _need(type(key) is int and 0 <= key < len(strings), f"{fw}: bad key")
        _need(kind in KINDS, f"{fw}: bad kind")
        if "rows" in col:
            d = _ints(col, "rows", None, f"{fw} rows")
            _need(len(d) and int(d[0]) >= 0 and _in_range(d[1:], 1, 1 << 32), f"{fw}: bad rows")
            rows = np.cumsum(d)
            _need(int(rows[-1]) < n, f"{fw}: row out of range")
            m = len(rows)
        else:
            rows, m = None, n
        values = col.get("values")
        sids = False
        if kind == "int":
            vals: Any = _ints(col, "values", m, f"{fw} values")
        elif kind == "float":
            if "scale" in col:
                scale = col["scale"]
                _need(type(scale) is int and 0 <= scale <= 22, f"{fw}: bad scale")
                vals = _ints(col, "values", m, f"{fw} values") / (10.0**scale)
            else:
                vals = _tag_array(values, m, f"{fw} values", ints=False)
                _need(vals.dtype == np.dtype("<f8"), f"{fw}: float values are not float64")
                vals = vals.astype(np.float64)
        elif kind == "bool":
            vals = _tag_array(values, m, f"{fw} values")
            _need(vals.dtype == np.dtype("u1"), f"{fw}: bool values are not uint8")
        elif kind == "none":
            vals = None
        elif kind in ("str", "obj"):
            if isinstance(values, str):
                values = values.split("\0")
                _need(len(values) == m, f"{fw}: wrong number of joined text values")
                vals = _obj_array(values)
            elif isinstance(values, list):
                _need(len(values) == m and set(map(type, values)) <= {str}, f"{fw}: bad text values")
                vals = _obj_array(values)
            else:
                vals = _ints(col, "values", m, f"{fw} values")
                _need(_in_range(vals, 0, len(strings)), f"{fw}: string id out of range")
                vals = vals.astype(np.uint32)
                sids = True
        else:  # bytes
            _need(isinstance(values, list) and len(values) == m and set(map(type, values)) <= {bytes},
                  f"{fw}: bad bytes values")
            vals = _obj_array(values)
        cut = _row_list(col.get("cut", []), n, f"{fw} cut")
        fk = (strings[key], kind)
        _need(fk not in fields, f"{fw}: the same key and kind twice")
        fields[fk] = FieldData(rows, vals, cut, sids)
    return Columns(n, ts, seq, level, ids["source"], ids["logger"], ids["message"], ids["tid"],
                   message_cut, fields_cut, fields, strings, sources)
