"""The snapshot codec (writing side): ring batches -> columns -> CBOR chunks.

A snapshot is one standard LZ4 frame holding one standard CBOR (RFC 8949) map, so
``cbor2.loads(lz4.frame.decompress(data))`` gives the whole content with no project code.
Events are stored in columns, cut into chunks of at most ``chunk_size`` events, with typed
arrays (RFC 8746 tags) for the numbers; docs/FORMAT.md, "Snapshot files", lists every key.

A :class:`SnapshotWriter` takes batches (``RingReader.poll()``) from one or more rings, remaps
each ring's string ids into one snapshot-wide table, merges the rings by timestamp and writes
the file with :meth:`SnapshotWriter.write` (or :func:`write_snapshot` in one call) through
:mod:`ttlog.store`. Reading is ttview's (``ttview.decode``).

Invariants:
- In a file, events are in ascending ``ts`` order; events with equal ``ts`` keep the order in
  which they were added (the merge is stable), so one ring's events keep their ring order.
- The header keys come before ``strings`` and ``chunks``, in their own LZ4 block, so a reader
  can read the header alone.
- No UI library and no polars here; numpy is imported inside the functions that need it, so
  importing ``ttlog`` does not import numpy.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cbor2

from .events import Columns, FieldData, _is_repeat, _merge_same_part, _obj_array, _repeat, concat_columns
from .store import SnapshotError, snapshot_filename, write_atomic

if TYPE_CHECKING:  # pragma: no cover
    from .reader import Batch

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_CHUNK_SIZE",
    "REASONS",
    "SnapshotWriter",
    "write_snapshot",
]

FORMAT_NAME = "ttlog-snapshot"
FORMAT_VERSION = 1
SUFFIX = ".ttsnap"
DEFAULT_CHUNK_SIZE = 65536
MAX_CHUNK_SIZE = 1 << 20
DEFAULT_COMPRESSION_LEVEL = 0  # LZ4 fast mode; see bench/bench_snapshot.py for the trade-off
KINDS = ("int", "float", "bool", "none", "str", "bytes", "obj")
REASONS = ("periodic", "request", "exit", "crash", "exception", "signal")
"""The reasons the engine and the sidecar use; any other short word is accepted too."""

# RFC 8746 typed-array tags (little-endian where it matters)
TAG_U8, TAG_U16, TAG_U32, TAG_U64 = 64, 69, 70, 71
TAG_I8, TAG_I16, TAG_I32, TAG_I64 = 72, 77, 78, 79
TAG_F64 = 86
_INT_TAGS = {TAG_U8: "u1", TAG_U16: "<u2", TAG_U32: "<u4", TAG_U64: "<u8",
             TAG_I8: "i1", TAG_I16: "<i2", TAG_I32: "<i4", TAG_I64: "<i8"}
_UNSIGNED = ((TAG_U8, "u1", 0xFF), (TAG_U16, "<u2", 0xFFFF), (TAG_U32, "<u4", 0xFFFFFFFF),
             (TAG_U64, "<u8", (1 << 64) - 1))
_SIGNED = ((TAG_I8, "i1", 1 << 7), (TAG_I16, "<i2", 1 << 15), (TAG_I32, "<i4", 1 << 31),
           (TAG_I64, "<i8", 1 << 63))
_MAX_SCALE = 6  # decimal scaling of floats: 10**0 .. 10**6
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_HEADER_KEYS_STOP = ("strings", "chunks")
_UNMAPPED = 0xFFFFFFFF  # a ring string id the writer has not resolved yet


def _np() -> Any:
    import numpy

    return numpy


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ttlog")
    except PackageNotFoundError:
        return "0+unknown"


# ---- writing ------------------------------------------------------------------------------------


@dataclass
class _Source:
    index: int
    key: tuple[str, int, int]
    record: dict[str, Any]
    lut: Any = None  # ring string id -> snapshot string id (uint32, _UNMAPPED: not known yet)


class SnapshotWriter:
    """Collects batches from one or more rings and writes them as one snapshot file.

        writer = SnapshotWriter()
        writer.add(reader_a.poll()); writer.add(reader_b.poll())
        path = writer.write(directory, service="trading-engine", reason="periodic")
        # only now: reader_a.commit(); reader_b.commit(); then writer.clear()

    ``add`` copies what it needs out of the batch (the ring's string ids become ids into one
    snapshot-wide table), so the batch may be dropped afterwards. ``write`` does not clear the
    writer: the caller clears it once it has committed the rings' read positions.
    """

    def __init__(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be from 1 to {MAX_CHUNK_SIZE}, not {chunk_size!r}")
        self.chunk_size = chunk_size
        self.compression_level = compression_level
        self.clear()

    def clear(self) -> None:
        """Forget every event and source (after the file is written and the rings committed)."""
        self._strings: list[str] = [""]
        self._sid: dict[str, int] = {"": 0}
        self._sources: list[_Source] = []
        self._by_key: dict[tuple[str, int, int], _Source] = {}
        self._parts: list[Columns] = []
        self._records: list[dict[str, Any]] = []
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Per-ring records: service, host, pid, start_ns, ring, first/last seq, counts."""
        return self._records

    def _intern(self, text: str) -> int:
        sid = self._sid.get(text)
        if sid is None:
            sid = self._sid[text] = len(self._strings)
            self._strings.append(text)
        return sid

    def _source(self, batch: Batch) -> _Source:
        info = batch.info
        key = (str(info.path), int(info.pid), int(info.start_ns))
        src = self._by_key.get(key)
        if src is None:
            record = {
                "service": info.service, "host": info.host, "pid": int(info.pid),
                "start_ns": int(info.start_ns), "ring": Path(info.path).name,
                "first_seq": None, "last_seq": None, "count": 0,
                "dropped": 0, "lost": 0, "corrupt": 0, "closed": bool(info.closed),
            }
            src = _Source(len(self._sources), key, record)
            self._sources.append(src)
            self._by_key[key] = src
            self._records.append(record)
        rec = src.record
        rec["dropped"] += int(batch.dropped)  # what happened since the previous file: sums add up
        rec["closed"] = bool(info.closed)
        rec["lost"] += int(batch.lost)
        rec["corrupt"] += int(batch.corrupt)
        return src

    def _map_ids(self, src: _Source, table: Any, ids: Any, *, writable: bool = False) -> Any:
        """Ring string ids -> snapshot string ids (uint32), through the source's lookup table.

        A batch usually holds one or a few distinct ids (one logger, a few messages), so the
        common cases cost a pass or two over the ids and no temporary arrays.
        """
        np = _np()
        n = len(ids)
        if not n:
            return ids.astype(np.uint32)
        lo, hi = int(ids.min()), int(ids.max())
        lut = src.lut
        if lut is None or hi >= len(lut):
            grown = np.full(max(hi + 1, 1024, 0 if lut is None else 2 * len(lut)), _UNMAPPED, np.uint32)
            if lut is not None:
                grown[: len(lut)] = lut
            lut = src.lut = grown
        if lo == hi:  # one id in the whole batch: a read-only view of it (no memory) unless asked
            sid = int(lut[lo])
            if sid == _UNMAPPED:
                sid = self._resolve(src, table, lo)
            return np.full(n, sid, np.uint32) if writable else _repeat(sid, n)
        window = lut[lo : hi + 1]
        uncached: list[tuple[int, int]] = []
        if (window == _UNMAPPED).any():  # ids this writer has not met yet (rare after the first batch)
            present = np.zeros(hi + 1 - lo, bool)
            present[ids - np.uint32(lo)] = True
            for rid in (np.flatnonzero(present & (window == _UNMAPPED)) + lo).tolist():
                sid = self._resolve(src, table, rid)
                if lut[rid] == _UNMAPPED:
                    uncached.append((rid, sid))
        mapped = window[ids - np.uint32(lo)] if lo else lut[ids]
        for rid, sid in uncached:
            mapped[ids == rid] = sid
        return mapped

    def _resolve(self, src: _Source, table: Any, rid: int) -> int:
        """The snapshot id of ring string ``rid``; cached in the source's table when the ring's
        string table has it (else it is resolved again each time: it may appear later)."""
        sid = self._intern(table.get(rid))
        if rid in table.texts:
            src.lut[rid] = sid
        return sid

    def add(self, batch: Batch) -> None:
        """Take the events of one batch (``RingReader.poll()``); an empty batch updates counts."""
        np = _np()
        src = self._source(batch)
        c = batch.cols
        n = int(c["n"])
        if not n:
            return
        ts = np.frombuffer(c["ts"], "<i8", count=n)
        seq = np.frombuffer(c["seq"], "<u8", count=n).view(np.int64)
        rec = src.record
        if rec["first_seq"] is None:
            rec["first_seq"] = int(seq[0]) & 0xFFFFFFFFFFFFFFFF
        rec["last_seq"] = int(seq[-1]) & 0xFFFFFFFFFFFFFFFF
        rec["count"] += n
        level = np.frombuffer(c["level"], "u1", count=n)
        tid = np.frombuffer(c["tid"], "<u4", count=n)
        table = batch.strings
        logger = self._map_ids(src, table, np.frombuffer(c["logger"], "<u4", count=n))
        message = self._map_ids(src, table, np.frombuffer(c["message"], "<u4", count=n),
                                writable=bool(c["inline"]))
        message_cut = []
        for row, text, cut in c["inline"]:
            message[row] = self._intern(text)
            if cut:
                message_cut.append(row)
        fields: dict[tuple[str, str], FieldData] = {}
        for (key_ref, kind), (rows_b, values, cut_rows) in c["columns"].items():
            key = batch.key_name(key_ref)
            rows = np.frombuffer(rows_b, "<u4")
            m = len(rows)
            sids = False
            if kind == "int":
                vals: Any = np.frombuffer(values, "<i8", count=m)
            elif kind == "float":
                vals = np.frombuffer(values, "<f8", count=m)
            elif kind == "bool":
                vals = np.frombuffer(values, "u1", count=m)
            elif kind == "none":
                vals = None
            elif kind in ("str", "obj"):
                codes_b, uniques = values
                codes = np.frombuffer(codes_b, "<u4", count=m)
                if len(uniques) > 32 and len(uniques) * 2 > m:  # mostly distinct (order ids): keep text
                    vals = _obj_array(uniques)
                    if len(uniques) != m or not np.array_equal(codes, np.arange(m, dtype=np.uint32)):
                        vals = vals[codes]
                else:
                    lut = np.fromiter((self._intern(u) for u in uniques), np.uint32, len(uniques))
                    vals = lut[codes]
                    sids = True
            elif kind == "bytes":
                vals = _obj_array(list(values))
            else:
                continue  # a kind this version does not know: skipped rather than guessed
            fd = FieldData(None if m == n else rows, vals,
                           np.asarray(cut_rows, dtype=np.int64), sids)
            old = fields.get((key, kind))
            if old is not None:
                if old.sids != fd.sids:
                    old = _as_text_field(old, self._strings)
                    fd = _as_text_field(fd, self._strings)
                fd = _merge_same_part(old, fd, n)
            fields[(key, kind)] = fd
        part = Columns(n, ts, seq, level, _repeat(src.index, n), logger, message,
                       tid, np.asarray(message_cut, dtype=np.int64),
                       np.asarray(c["fields_cut"], dtype=np.int64), fields, self._strings, self._records)
        self._parts.append(part)
        self._n += n

    def columns(self) -> Columns:
        """Everything added so far, merged by ``ts`` (also how ``ttview`` shows live batches)."""
        if not self._parts:
            return Columns.empty(self._strings, self._records)
        merged = concat_columns(self._parts)
        repeats = {name: _np().ascontiguousarray(getattr(merged, name))
                   for name in ("source", "logger", "message") if _is_repeat(getattr(merged, name))}
        if repeats:  # the caller gets ordinary, writable arrays
            merged = replace(merged, **repeats)
        self._parts = [merged]
        return merged

    def _prepare(self, *, service: str | None, reason: str, pid: int | None, host: str | None,
                 created_ns: int | None) -> tuple[dict[str, Any], Iterator[Any]]:
        """The header, and the file's CBOR bytes in pieces (encoded as they are consumed).

        Batches already in time order (one ring's, as a rule) are cut into chunks where they
        lie, without merging them into one set of columns first; otherwise they are merged
        (``columns()``). Either way the bytes are the same.
        """
        parts = self._parts
        if len(parts) > 1 and not _in_time_order(parts):
            parts = [self.columns()]
        n = sum(p.n for p in parts)
        created = time.time_ns() if created_ns is None else int(created_ns)
        records = self._records
        if service is None:
            service = records[0]["service"] if records else "service"
        if pid is None:
            pid = records[0]["pid"] if records else os.getpid()
        if host is None:
            host = records[0]["host"] if records else socket.gethostname()
        layout = _Layout(parts, self._strings, self._intern)
        bounds = [(a, min(n, a + self.chunk_size)) for a in range(0, n, self.chunk_size)]
        index = [layout.stats(a, b) for a, b in bounds]
        header: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "service": str(service),
            "host": str(host),
            "pid": int(pid),
            "pids": sorted({r["pid"] for r in records}),
            "created_ns": created,
            "reason": str(reason),
            "engine_version": _engine_version(),
            "count": n,
            "first_ts": index[0]["ts_min"] if n else None,
            "last_ts": index[-1]["ts_max"] if n else None,
            "dropped": sum(r["dropped"] for r in records),
            "lost": sum(r["lost"] for r in records),
            "chunk_size": self.chunk_size,
            "sources": records,
            "index": index,
        }

        def pieces() -> Iterator[Any]:
            head = [_cbor_head(5, len(header) + 2)]
            for key, value in header.items():
                head.append(cbor2.dumps(key))
                head.append(cbor2.dumps(value))
            head += [cbor2.dumps("strings"), cbor2.dumps(layout.strings), cbor2.dumps("chunks"),
                     _cbor_head(4, len(bounds))]
            yield b"".join(head)
            for (a, b), stats in zip(bounds, index, strict=True):
                chunk = layout.chunk(a, b)
                spans = {fk: (0, len(fd.rows)) for fk, fd in chunk.fields.items() if fd.rows is not None}
                yield _encode_chunk(chunk, 0, b - a, stats, layout.keys, spans)

        return header, pieces()

    def encode(self, *, service: str | None = None, reason: str = "request", pid: int | None = None,
               host: str | None = None, created_ns: int | None = None) -> bytes:
        """The file's content before compression: one CBOR map (for tests and other containers)."""
        pieces = self._prepare(service=service, reason=reason, pid=pid, host=host, created_ns=created_ns)[1]
        return b"".join(part for piece in pieces for part in (piece if isinstance(piece, list) else (piece,)))

    def write(self, directory: str | os.PathLike[str], *, reason: str, service: str | None = None,
              pid: int | None = None, host: str | None = None, created_ns: int | None = None) -> Path:
        """Write everything added so far as one snapshot file in ``directory``; returns its path.

        ``service``, ``pid`` and ``host`` default to the first ring's; ``created_ns`` to now.
        The name is ``<service>.<pid>.<UTC time>.<reason>.ttsnap`` (a counter is added before
        ``.ttsnap`` if that name exists). Raises SnapshotError (one line) if the directory is
        missing or unwritable or the disk is full, leaving no file behind. The writer keeps its
        events: call :meth:`clear` once the rings' read positions are committed.
        """
        try:
            header, pieces = self._prepare(service=service, reason=reason, pid=pid, host=host,
                                           created_ns=created_ns)
        except MemoryError:
            raise SnapshotError(f"cannot encode a snapshot of {self._n} events: out of memory") from None
        name = snapshot_filename(header["service"], header["pid"], header["created_ns"], header["reason"])
        return write_atomic(Path(directory), name, pieces, self.compression_level)


def _as_text_field(fd: FieldData, strings: list[str]) -> FieldData:
    if not fd.sids:
        return fd
    return FieldData(fd.rows, _obj_array(strings)[fd.values.astype(_np().int64)], fd.cut, False)


def write_snapshot(directory: str | os.PathLike[str], batches: Iterable[Batch], *, service: str | None = None,
                   reason: str, pid: int | None = None, created_ns: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE,
                   compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> Path:
    """Write ``batches`` (from one or more rings) as one snapshot in ``directory``; returns its path.

    One call for :class:`SnapshotWriter` ``add`` + ``write``; see there for names and errors.
    """
    writer = SnapshotWriter(chunk_size=chunk_size, compression_level=compression_level)
    for batch in batches:
        writer.add(batch)
    return writer.write(directory, reason=reason, service=service, pid=pid, created_ns=created_ns)


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    if value < 1 << 8:
        return bytes([major << 5 | 24, value])
    if value < 1 << 16:
        return bytes([major << 5 | 25]) + value.to_bytes(2, "big")
    if value < 1 << 32:
        return bytes([major << 5 | 26]) + value.to_bytes(4, "big")
    return bytes([major << 5 | 27]) + value.to_bytes(8, "big")


def _narrow(lo: int, hi: int) -> tuple[int, str]:
    """The narrowest RFC 8746 integer tag (and numpy dtype) holding every value in [lo, hi]."""
    if lo >= 0:
        for tag, dtype, limit in _UNSIGNED:
            if hi <= limit:
                return tag, dtype
    for tag, dtype, limit in _SIGNED:
        if -limit <= lo and hi < limit:
            return tag, dtype
    raise ValueError("integers out of the 64-bit range")  # pragma: no cover - int64 input


def _typed(tag: int, a: Any) -> cbor2.CBORTag:
    """A typed array of the values of ``a`` (a numpy array of the tag's type), without copying
    them when they are contiguous already; :func:`_cbor_parts` writes it."""
    return cbor2.CBORTag(tag, _np().ascontiguousarray(a))


def _put_ints(dst: dict[str, Any], name: str, a: Any, lo: int | None = None, hi: int | None = None) -> None:
    """``dst[name]``: ``a`` as the narrowest integer typed array (``lo``, ``hi``: its least and
    greatest value, when the caller knows them).

    Values that need 32 bits (or 64 bits but fit in 48) are split in two arrays: ``name`` holds
    the low 16 bits (uint16) and ``name_hi`` the rest (``value >> 16``, narrowest type), so a
    column of mostly small numbers with a few large ones costs about 2 bytes a value after LZ4,
    not 4, and prices scaled to integers cost about 2.3 bytes, not 2.9.
    """
    np = _np()
    if not len(a):
        dst[name] = cbor2.CBORTag(TAG_U8, b"")
        return
    if _is_repeat(a):  # one value in every row (a batch's source, logger or message)
        lo = hi = int(a[0])
    elif lo is None or hi is None:
        lo, hi = int(a.min()), int(a.max())
    tag, dtype = _narrow(lo, hi)
    if tag in (TAG_U32, TAG_I32) or (tag in (TAG_U64, TAG_I64) and -(1 << 47) <= lo and hi < 1 << 48):
        htag, hdtype = _narrow(lo >> 16, hi >> 16)
        size = a.dtype.itemsize
        if lo >= 0 and hi < 1 << 32 and size in (4, 8) and a.dtype.str[0] == "<" and a.strides[0] == size:
            # non-negative and under 2**32: the halves are the array's own (little-endian) 16-bit words
            words = a.view("<u2")
            dst[name] = _typed(TAG_U16, words[:: size // 2])
            dst[name + "_hi"] = _typed(htag, words[1 :: size // 2].astype(hdtype))
            return
        dst[name] = _typed(TAG_U16, a.astype("<u2"))  # an integer cast keeps the low 16 bits
        dst[name + "_hi"] = _typed(htag, (a >> 16).astype(hdtype))  # arithmetic shift when signed
    elif lo == hi:
        dst[name] = _typed(tag, np.full(len(a), lo, dtype))
    else:
        dst[name] = _typed(tag, a.astype(dtype, copy=False))


def _put_deltas(dst: dict[str, Any], name: str, a: Any, first: int = 0) -> None:
    """``a`` as differences from the previous value (the first one ``a[0] - first``)."""
    np = _np()
    d = np.empty(len(a), np.int64)
    if len(a):
        d[0] = int(a[0]) - first
        np.subtract(a[1:], a[:-1], out=d[1:])
    _put_ints(dst, name, d)


def _put_floats(dst: dict[str, Any], v: Any) -> None:
    """Floats as float64, or, when every value is exactly k / 10**s, as the integers k and s."""
    np = _np()
    if len(v) and np.isfinite(v[:64]).all():
        sample = v[:64]
        bits = v.view(np.int64)
        limit = 2.0**53
        for scale in range(_MAX_SCALE + 1):
            p = 10.0**scale
            k = np.rint(sample * p)
            if np.abs(k).max() >= limit:
                break
            if not np.array_equal((k.astype(np.int64) / p).view(np.int64), sample.view(np.int64)):
                continue
            k = np.multiply(v, p)
            np.rint(k, out=k)
            kmin, kmax = k.min(), k.max()
            if not (-limit < kmin and kmax < limit):  # also false for an infinity or a NaN
                break
            ki = k.astype(np.int64)
            if np.array_equal(np.divide(ki, p, out=k).view(np.int64), bits):
                _put_ints(dst, "values", ki, int(kmin), int(kmax))
                dst["scale"] = scale
                return
    dst["values"] = _typed(TAG_F64, v.astype("<f8", copy=False))


def _in_time_order(parts: list[Columns]) -> bool:
    """Whether the parts, one after the other, are in ascending ``ts`` order already."""
    np = _np()
    last = None
    for p in parts:
        if not p.n:
            continue
        ts = p.ts
        if last is not None and int(ts[0]) < last:
            return False
        for a in range(0, p.n - 1, 1 << 20):  # in blocks: no temporary the size of the part
            block = ts[a : a + (1 << 20) + 1]
            if bool(np.less(block[1:], block[:-1]).any()):
                return False
        last = int(ts[-1])
    return True


class _Layout:
    """How parts in time order (sharing one string table) become a file's chunks.

    What depends on the whole file is decided up front, over every part, as it would be on the
    parts merged into one set of columns: the order of the field columns (first appearance) and
    the string ids of their names; which ``str``/``obj`` columns are written as text (one that
    is text in some part, or whose values are mostly distinct: more than 64 values, fewer than
    two per distinct one); and the file's string table, of only the strings used. :meth:`chunk`
    then builds the columns of one chunk from views of the parts it spans (copying only where a
    chunk spans two parts), with the file's string ids.
    """

    def __init__(self, parts: list[Columns], table: list[str], intern: Any) -> None:
        np = _np()
        self.parts = [p for p in parts if p.n]
        self.starts = [0]
        for p in self.parts:
            self.starts.append(self.starts[-1] + p.n)
        by_key: dict[tuple[str, str], list[FieldData]] = {}
        for p in self.parts:
            for fk, fd in p.fields.items():
                by_key.setdefault(fk, []).append(fd)
        self.order = list(by_key)
        keys = {fk: intern(fk[0]) for fk in self.order}
        self.table_obj: Any = None
        self.as_text: set[tuple[str, str]] = set()
        for fk, fds in by_key.items():
            if fk[1] not in ("str", "obj"):
                continue
            if not all(fd.sids for fd in fds):
                self.as_text.add(fk)  # concat_columns: a column partly text is all text
                continue
            total = sum(len(fd.values) for fd in fds)
            if total > 64:  # mostly distinct values (order ids) are kept as text
                seen = np.zeros(len(table), bool)
                for fd in fds:
                    seen[fd.values] = True
                if int(seen.sum()) * 2 > total:
                    self.as_text.add(fk)
        used = np.zeros(len(table), bool)
        used[0] = True
        for p in self.parts:
            for ids in (p.logger, p.message):
                if _is_repeat(ids):
                    used[int(ids[0])] = True
                else:
                    used[ids] = True
        used[list(keys.values())] = True
        for fk, fds in by_key.items():
            if fk[1] in ("str", "obj") and fk not in self.as_text:
                for fd in fds:
                    used[fd.values] = True
        self.newid: Any = None
        if used.all():
            self.strings = table
            self.keys = keys
        else:
            self.newid = (np.cumsum(used) - 1).astype(np.uint32)
            self.strings = self._table_obj(table)[used].tolist()
            self.keys = {fk: int(self.newid[sid]) for fk, sid in keys.items()}
        self.table = table

    def _table_obj(self, table: list[str]) -> Any:
        if self.table_obj is None:
            self.table_obj = _obj_array(table)
        return self.table_obj

    def _slices(self, a: int, b: int) -> Iterator[tuple[Columns, int, int]]:
        """(part, lo, hi): the rows of each part that fall in file rows [a, b)."""
        import bisect

        i = bisect.bisect_right(self.starts, a) - 1
        while i < len(self.parts) and self.starts[i] < b:
            s = self.starts[i]
            yield self.parts[i], max(a, s) - s, min(b, self.starts[i + 1]) - s
            i += 1

    def stats(self, a: int, b: int) -> dict[str, Any]:
        """The index entry of the chunk of file rows [a, b)."""
        np = _np()
        slices = list(self._slices(a, b))
        levels: set[int] = set()
        for p, lo, hi in slices:
            lv = p.level[lo:hi]
            least, most = int(lv.min()), int(lv.max())
            if least == most:  # one level (the common case): no count needed
                levels.add(least)
            else:
                levels.update(np.flatnonzero(np.bincount(lv, minlength=256)).tolist())
        first, last = slices[0], slices[-1]
        return {"n": b - a, "ts_min": int(first[0].ts[first[1]]), "ts_max": int(last[0].ts[last[2] - 1]),
                "levels": sorted(levels)}

    def chunk(self, a: int, b: int) -> Columns:
        """The columns of file rows [a, b), with the file's string ids and field order."""
        sub = concat_columns([_slice_columns(p, lo, hi) for p, lo, hi in self._slices(a, b)])
        newid = self.newid
        fields = {}
        for fk in self.order:
            fd = sub.fields.get(fk)
            if fd is None:
                continue
            if fd.sids and fk in self.as_text:
                texts = self._table_obj(self.table)[fd.values.astype(_np().int64)]
                fd = FieldData(fd.rows, texts, fd.cut, False)
            elif fd.sids and newid is not None:
                fd = FieldData(fd.rows, newid[fd.values], fd.cut, True)
            fields[fk] = fd
        logger, message = sub.logger, sub.message
        if newid is not None:
            logger, message = newid[logger], newid[message]
        return replace(sub, logger=logger, message=message, fields=fields)


def _slice_columns(c: Columns, lo: int, hi: int) -> Columns:
    """Rows [lo, hi) of ``c`` as columns of their own (views where possible; rows renumbered)."""
    np = _np()
    if lo == 0 and hi == c.n:
        return c
    fields = {}
    for fk, fd in c.fields.items():
        if fd.rows is None:
            rows, i, j = None, lo, hi
        else:
            i, j = (int(x) for x in np.searchsorted(fd.rows, (lo, hi)))
            if i == j:
                continue
            rows = None if j - i == hi - lo else fd.rows[i:j] - fd.rows.dtype.type(lo)
        values = None if fd.values is None else fd.values[i:j]
        fields[fk] = FieldData(rows, values, _rows_in(fd.cut, lo, hi), fd.sids)
    return Columns(hi - lo, c.ts[lo:hi], c.seq[lo:hi], c.level[lo:hi], c.source[lo:hi], c.logger[lo:hi],
                   c.message[lo:hi], c.tid[lo:hi], _rows_in(c.message_cut, lo, hi),
                   _rows_in(c.fields_cut, lo, hi), fields, c.strings, c.sources)


def _rows_in(rows: Any, lo: int, hi: int) -> Any:
    """The row numbers in [lo, hi), renumbered from lo."""
    if not len(rows):
        return rows
    return rows[(rows >= lo) & (rows < hi)] - lo


def _encode_chunk(cols: Columns, a: int, b: int, stats: dict[str, Any], keys: dict[tuple[str, str], int],
                  spans: dict[tuple[str, str], tuple[int, int]]) -> list[Any]:
    """Events ``a`` to ``b`` of ``cols`` as one chunk map (CBOR, in pieces: see
    :func:`_cbor_parts`); ``spans``: where each sparse field's rows for this chunk are."""
    chunk: dict[str, Any] = dict(stats)
    _put_deltas(chunk, "ts", cols.ts[a:b], int(cols.ts[a]))
    chunk["seq_base"] = int(cols.seq[a]) & 0xFFFFFFFFFFFFFFFF
    _put_deltas(chunk, "seq", cols.seq[a:b], int(cols.seq[a]))
    chunk["level"] = _typed(TAG_U8, cols.level[a:b])
    for name in ("source", "logger", "message", "tid"):
        _put_ints(chunk, name, getattr(cols, name)[a:b])
    for name in ("message_cut", "fields_cut"):
        rows = getattr(cols, name)
        if len(rows):
            sel = rows[(rows >= a) & (rows < b)]
            if len(sel):
                chunk[name] = (sel - a).tolist()
    fields = []
    for (key, kind), fd in cols.fields.items():
        col: dict[str, Any] = {"key": keys[(key, kind)], "kind": kind}
        if fd.rows is None:
            lo, hi = a, b
        else:
            lo, hi = spans[(key, kind)]
            if hi == lo:
                continue
            if hi - lo < b - a:
                _put_deltas(col, "rows", fd.rows[lo:hi], a)
        vals = None if fd.values is None else fd.values[lo:hi]
        if kind == "int":
            _put_ints(col, "values", vals)
        elif kind == "float":
            _put_floats(col, vals)
        elif kind == "bool":
            col["values"] = _typed(TAG_U8, vals.astype("u1", copy=False))
        elif kind in ("str", "obj"):
            if fd.sids:
                _put_ints(col, "values", vals)
            else:
                texts = vals.tolist()
                joined = "\0".join(texts)  # one string: far faster to write and read than many
                col["values"] = joined if joined.count("\0") == len(texts) - 1 else texts
        elif kind == "bytes":
            col["values"] = vals.tolist()
        if len(fd.cut):
            cut = fd.cut[(fd.cut >= a) & (fd.cut < b)]
            if len(cut):
                col["cut"] = (cut - a).tolist()
        fields.append(col)
    chunk["fields"] = fields
    return _cbor_parts(chunk)


_BIG = 4096  # a byte string at least this long is a piece of its own rather than copied


def _cbor_parts(obj: Any) -> list[Any]:
    """``cbor2.dumps(obj)`` as a list of bytes-like pieces, the same bytes once joined.

    Typed arrays (``cbor2.CBORTag`` of a numpy array or bytes) of at least ``_BIG`` bytes are
    pieces of their own, not copied: the compressor reads them where they are. Maps, arrays,
    ints and tags are written here; anything else by cbor2.
    """
    parts: list[Any] = []
    small = bytearray()

    def emit(x: Any) -> None:
        t = type(x)
        if t is dict:
            small.extend(_cbor_head(5, len(x)))
            for k, v in x.items():
                emit(k)
                emit(v)
        elif t is list:
            small.extend(_cbor_head(4, len(x)))
            for v in x:
                emit(v)
        elif t is int and -(1 << 64) <= x < 1 << 64:
            small.extend(_cbor_head(0, x) if x >= 0 else _cbor_head(1, -1 - x))
        elif t is cbor2.CBORTag and not isinstance(x.value, (str, list, dict, cbor2.CBORTag)):
            data = memoryview(x.value).cast("B")
            small.extend(_cbor_head(6, x.tag))
            small.extend(_cbor_head(2, len(data)))
            if len(data) >= _BIG:
                parts.append(bytes(small))
                small.clear()
                parts.append(data)
            else:
                small.extend(data)
        else:
            small.extend(cbor2.dumps(x))

    emit(obj)
    if small:
        parts.append(bytes(small))
    return parts

