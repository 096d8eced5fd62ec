"""Reading snapshot files: the header, the whole content checked, the events as columns.

:func:`read_snapshot` (everything, validated), :func:`snapshot_info` (the header only, cheap),
:func:`parse_snapshot` (read and decode the CBOR once, decode the columns later, for several
time ranges). The columns (:class:`ttlog.events.Columns`) are what ``ttview.sources`` turns into
polars.

Invariants:
- Reading raises :class:`SnapshotError` (one line naming the file) and no other exception,
  whatever the file holds.
- No UI library here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import lz4.frame
from ttlog.codec import (
    _INT_TAGS,
    FORMAT_NAME,
    FORMAT_VERSION,
    KINDS,
    MAX_CHUNK_SIZE,
    TAG_F64,
)
from ttlog.events import Columns, FieldData, _obj_array, concat_columns
from ttlog.store import HEADER_KEYS_STOP, LZ4_MAGIC, SnapshotError, one_line, read_header

__all__ = [
    "ParsedSnapshot",
    "Snapshot",
    "SnapshotError",
    "SnapshotInfo",
    "parse_snapshot",
    "read_snapshot",
    "snapshot_info",
]


def _np() -> Any:
    import numpy

    return numpy


_SOURCE_TEXT = frozenset(("service", "host", "ring"))
_SOURCE_SEQ = frozenset(("first_seq", "last_seq"))
_SOURCE_INTS = frozenset(("pid", "start_ns", "count", "dropped", "lost", "corrupt"))


class _Corrupt(Exception):
    pass


def _need(cond: object, what: str) -> None:
    if not cond:
        raise _Corrupt(what)


@dataclass
class SnapshotInfo:
    """What a snapshot's header says (every top-level key but ``strings`` and ``chunks``)."""

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


def _header_info(path: Path, size: int, meta: dict[str, Any]) -> SnapshotInfo:
    _need(isinstance(meta, dict), "the content is not a CBOR map")
    _need(meta.get("format") == FORMAT_NAME, "")
    version = meta.get("version")
    if not isinstance(version, int) or version != FORMAT_VERSION:
        raise SnapshotError(f"{path}: snapshot format version {version!r}; this reader reads version "
                            f"{FORMAT_VERSION}")

    def get(key: str, types: Any, default: Any = None) -> Any:
        value = meta.get(key, default)
        _need(isinstance(value, types) and not (types is int and isinstance(value, bool)),
              f"header key {key!r} has the wrong type")
        return value

    sources = get("sources", list, [])
    for s in sources:
        _need(isinstance(s, dict), "a source record is not a map")
        for k, v in s.items():
            if k in _SOURCE_TEXT:
                _need(type(v) is str, f"source key {k!r} is not text")
            elif k in _SOURCE_SEQ:
                _need(v is None or type(v) is int and 0 <= v < 1 << 64, f"source key {k!r} is not a seq")
            elif k in _SOURCE_INTS:
                _need(type(v) is int and -(1 << 63) <= v < 1 << 63, f"source key {k!r} is not an int64")
    index = get("index", list, [])
    for s in index:
        _need(isinstance(s, dict), "a chunk index entry is not a map")
    pids = get("pids", list, [])
    _need(all(isinstance(p, int) for p in pids), "header key 'pids' has the wrong type")
    return SnapshotInfo(
        path=path, size=size, version=version, service=get("service", str, ""), host=get("host", str, ""),
        pid=get("pid", int, 0), pids=pids, created_ns=get("created_ns", int, 0),
        reason=get("reason", str, ""), engine_version=get("engine_version", str, ""),
        count=get("count", int, 0), first_ts=get("first_ts", (int, type(None))),
        last_ts=get("last_ts", (int, type(None))), dropped=get("dropped", int, 0),
        lost=get("lost", int, 0), sources=sources, index=index, meta=meta)


def _fail(path: Path, exc: BaseException) -> SnapshotError:
    if isinstance(exc, SnapshotError):
        return exc
    if isinstance(exc, _Corrupt) and not str(exc):
        return SnapshotError(f"{path}: not a ttlog snapshot (no '{FORMAT_NAME}' header)")
    if isinstance(exc, _Corrupt):
        return SnapshotError(f"{path}: corrupt snapshot: {one_line(exc)}")
    if isinstance(exc, MemoryError):
        return SnapshotError(f"{path}: corrupt snapshot (too large to decode)")
    return SnapshotError(f"{path}: corrupt or truncated snapshot ({type(exc).__name__}: {one_line(exc)})")


def _decompress(path: Path, data: bytes) -> bytes:
    if data[:4] != LZ4_MAGIC:
        raise SnapshotError(f"{path}: not a ttlog snapshot (not an LZ4 frame)")
    try:
        info = lz4.frame.get_frame_info(data)
        if info.get("content_size") and info["content_size"] > 256 * len(data) + (1 << 16):
            raise _Corrupt("LZ4 frame claims more content than it can hold")
        dec = lz4.frame.LZ4FrameDecompressor()
        raw = dec.decompress(data)
    except SnapshotError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the LZ4 library is a bad file
        if isinstance(exc, _Corrupt):
            raise _fail(path, exc) from None
        raise SnapshotError(f"{path}: corrupt or truncated snapshot (LZ4: {one_line(exc)})") from None
    if not dec.eof:
        raise SnapshotError(f"{path}: truncated snapshot (the LZ4 frame does not end)")
    if dec.unused_data:
        raise SnapshotError(f"{path}: corrupt snapshot ({len(dec.unused_data)} bytes after the LZ4 frame)")
    return raw


def _read_bytes(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot open snapshot: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read snapshot: {exc.strerror or exc}") from None


def snapshot_info(path: str | os.PathLike[str]) -> SnapshotInfo:
    """The header of a snapshot, decompressing and decoding only the file's first part.

    The header keys come first in the file, so this stops at ``strings``; it does not check
    the rest of the file (use :func:`read_snapshot` for that). Raises SnapshotError.
    """
    p = Path(path)
    try:
        size = os.stat(p).st_size
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot open snapshot: {exc.strerror or exc}") from None
    try:
        return _header_info(p, size, read_header(p))
    except SnapshotError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
        raise _fail(p, exc) from None


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


class ParsedSnapshot:
    """A snapshot file read, decompressed and CBOR-decoded, its header checked, its columns not
    decoded yet (:func:`parse_snapshot`). ``decode`` may be called several times, for different
    time ranges, without reading the file again."""

    def __init__(self, path: Path, info: SnapshotInfo, obj: dict[str, Any]) -> None:
        self.path = path
        self.info = info
        self._obj = obj

    def decode(self, *, ts_min: int | None = None, ts_max: int | None = None,
               min_level: int | None = None) -> Snapshot:
        """The events, as :func:`read_snapshot` gives them. Raises SnapshotError (one line)."""
        try:
            return _decode_body(self.info, self._obj, ts_min, ts_max, min_level)
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
            raise _fail(self.path, exc) from None


def parse_snapshot(path: str | os.PathLike[str]) -> ParsedSnapshot:
    """Read, decompress and CBOR-decode a snapshot and check its header; the columns are decoded
    by :meth:`ParsedSnapshot.decode`. Raises SnapshotError (one line naming the file)."""
    p = Path(path)
    data = _read_bytes(p)
    raw = _decompress(p, data)
    try:
        obj = cbor2.loads(raw)
        del raw
        info = _header_info(p, len(data), {k: v for k, v in obj.items() if k not in HEADER_KEYS_STOP}
                            if isinstance(obj, dict) else obj)
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line
        raise _fail(p, exc) from None
    return ParsedSnapshot(p, info, obj)


def read_snapshot(path: str | os.PathLike[str], *, ts_min: int | None = None, ts_max: int | None = None,
                  min_level: int | None = None) -> Snapshot:
    """Read and check a whole snapshot. Raises SnapshotError (one line naming the file).

    ``ts_min``/``ts_max`` (ns) and ``min_level`` skip chunks whose stats show they hold no
    matching event (events of a chunk that is read are all kept: filter the result).
    """
    return parse_snapshot(path).decode(ts_min=ts_min, ts_max=ts_max, min_level=min_level)


def _tag_array(value: Any, n: int | None, what: str, *, ints: bool = True) -> Any:
    np = _np()
    _need(isinstance(value, cbor2.CBORTag), f"{what} is not a typed array")
    dtype = _INT_TAGS.get(value.tag) or (None if ints else ("<f8" if value.tag == TAG_F64 else None))
    _need(dtype is not None, f"{what} has an unexpected tag {value.tag}")
    buf = value.value
    _need(isinstance(buf, bytes), f"{what} is not a byte string")
    size = np.dtype(dtype).itemsize
    _need(len(buf) % size == 0, f"{what} has a partial element")
    _need(n is None or len(buf) // size == n, f"{what} has the wrong length")
    return np.frombuffer(buf, dtype)


def _row_list(value: Any, n: int, what: str) -> Any:
    np = _np()
    _need(isinstance(value, list), f"{what} is not an array")
    _need(all(type(r) is int and 0 <= r < n for r in value), f"{what} holds a bad row")
    return np.asarray(value, dtype=np.int64)


def _decode_body(info: SnapshotInfo, obj: dict[str, Any], ts_min: int | None, ts_max: int | None,
                 min_level: int | None) -> Snapshot:
    strings = obj.get("strings")
    _need(isinstance(strings, list) and strings, "no string table")
    _need(set(map(type, strings)) <= {str}, "the string table holds a non-string")
    chunks = obj.get("chunks")
    _need(isinstance(chunks, list), "no chunk array")
    sources = info.sources
    parts = []
    skipped = 0
    for i, chunk in enumerate(chunks):
        _need(isinstance(chunk, dict), f"chunk {i} is not a map")
        if _skip(chunk, ts_min, ts_max, min_level):
            skipped += 1
            continue
        parts.append(_decode_chunk(chunk, i, strings, sources))
    cols = concat_columns(parts) if parts else Columns.empty(strings, sources)
    return Snapshot(info=info, columns=cols, chunks_read=len(parts), chunks_skipped=skipped)


def _skip(chunk: dict[str, Any], ts_min: int | None, ts_max: int | None, min_level: int | None) -> bool:
    lo, hi, levels = chunk.get("ts_min"), chunk.get("ts_max"), chunk.get("levels")
    if ts_min is not None and isinstance(hi, int) and hi < ts_min:
        return True
    if ts_max is not None and isinstance(lo, int) and lo > ts_max:
        return True
    if min_level is not None and isinstance(levels, list) and levels and all(
            isinstance(v, int) and v < min_level for v in levels):
        return True
    return False


def _get_ints(src: dict[str, Any], name: str, n: int | None, what: str) -> Any:
    """The integer array ``src[name]`` (joined with ``src[name + "_hi"]`` if present)."""
    np = _np()
    lo = _tag_array(src.get(name), n, what)
    hi = src.get(name + "_hi")
    if hi is None:
        return lo
    _need(lo.dtype == np.dtype("<u2"), f"{what}: a split array's low part is not uint16")
    return lo.astype(np.int64) + (_tag_array(hi, len(lo), what + "_hi").astype(np.int64) << 16)


def _in_range(a: Any, lo: int, hi: int) -> bool:
    return not len(a) or (int(a.min()) >= lo and int(a.max()) < hi)


def _decode_chunk(chunk: dict[str, Any], i: int, strings: list[str],
                  sources: list[dict[str, Any]]) -> Columns:
    np = _np()
    where = f"chunk {i}"
    n = chunk.get("n")
    _need(type(n) is int and 0 <= n <= MAX_CHUNK_SIZE, f"{where}: bad event count")
    ts_min, seq_base = chunk.get("ts_min"), chunk.get("seq_base")
    _need(type(ts_min) is int and -(1 << 63) <= ts_min < 1 << 63, f"{where}: bad ts_min")
    _need(type(seq_base) is int and 0 <= seq_base < 1 << 64, f"{where}: bad seq_base")
    ts = np.cumsum(_get_ints(chunk, "ts", n, f"{where} ts").astype(np.int64)) + np.int64(ts_min)
    seq = np.cumsum(_get_ints(chunk, "seq", n, f"{where} seq").astype(np.int64))
    seq += np.uint64(seq_base).astype(np.int64)
    level = _tag_array(chunk.get("level"), n, f"{where} level")
    _need(level.dtype == np.dtype("u1"), f"{where}: level is not uint8")
    if not sources and n:
        sources.append({"service": "", "host": "", "pid": 0})
    ids = {}
    for name, limit in (("source", len(sources)), ("logger", len(strings)), ("message", len(strings)),
                        ("tid", 1 << 32)):
        a = _get_ints(chunk, name, n, f"{where} {name}")
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
            d = _get_ints(col, "rows", None, f"{fw} rows").astype(np.int64)
            _need(len(d) and int(d[0]) >= 0 and _in_range(d[1:], 1, 1 << 32), f"{fw}: bad rows")
            rows = np.cumsum(d)
            _need(int(rows[-1]) < n, f"{fw}: row out of range")
            m = len(rows)
        else:
            rows, m = None, n
        values = col.get("values")
        sids = False
        if kind == "int":
            vals: Any = _get_ints(col, "values", m, f"{fw} values").astype(np.int64)
        elif kind == "float":
            if "scale" in col:
                scale = col["scale"]
                _need(type(scale) is int and 0 <= scale <= 22, f"{fw}: bad scale")
                vals = _get_ints(col, "values", m, f"{fw} values").astype(np.int64) / (10.0**scale)
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
                vals = _get_ints(col, "values", m, f"{fw} values")
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

