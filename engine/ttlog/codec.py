"""The snapshot codec (writing side): ring batches -> typed-array parts -> CBOR chunks in an LZ4 frame.

A snapshot is one standard LZ4 frame holding one standard CBOR (RFC 8949) map, so
``cbor2.loads(lz4.frame.decompress(data))`` gives the whole content with no project code.
Events are stored in columns, cut into chunks of at most ``chunk_size`` events, with typed
arrays (RFC 8746 tags) for the numbers; docs/FORMAT.md, "Snapshot files", lists every key.

A :class:`SnapshotWriter` takes batches (``RingReader.poll()``) from one or more rings, remaps
each ring's string ids into one snapshot-wide table, merges the rings by timestamp and writes
the file with :meth:`SnapshotWriter.write` (or :func:`write_snapshot` in one call) through
:mod:`ttlog.store`. Reading is ttview's (``ttview.decode``).

It runs on the decoder's typed arrays (:class:`ttlog.events.EventPart`) with the kernels of
``ttlog.kernels.K`` (C, or the pure-Python twin, which gives the same bytes), the engine's own
CBOR encoder and LZ4 frame writer: no third-party package.

Invariants:
- In a file, events are in ascending ``ts`` order; events with equal ``ts`` keep the order in
  which they were added (the merge is stable), so one ring's events keep their ring order.
- The header keys come first, in LZ4 blocks of their own, then the string table; every chunk
  starts a new block, and the last key, ``chunk_offsets``, says where each chunk's first block
  begins, so a reader can read the header alone, or any one chunk alone.
- A ring string id only ever indexes memory the size of the ring's own string table; an id
  beyond it is an unresolved string (``<string N?>``), never a reason to allocate.
- No UI library, no polars, no numpy on the writing path (:meth:`SnapshotWriter.columns`, for
  ttview's live tail, imports numpy when called).
"""

from __future__ import annotations

import bisect
import itertools
import os
import socket
import struct
import sys
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cbor
from .cbor import Tag, Utf8
from .events import Bytes, Columns, EventPart, FieldData, FieldPart
from .kernels import K
from .lz4frame import Trailer
from .store import SnapshotError, snapshot_filename, write_atomic

if TYPE_CHECKING:  # pragma: no cover
    from .reader import Batch, StringTable

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
DEFAULT_COMPRESSION_LEVEL = 0
"""0: LZ4 fast mode; 1 and up: a larger match table and no skipping ahead (a little smaller,
slower); bench/bench_snapshot.py compares them."""
KINDS = ("int", "float", "bool", "none", "str", "bytes", "obj")
REASONS = ("periodic", "request", "exit", "crash", "exception", "signal")
"""The reasons the engine and the sidecar use; any other short word is accepted too."""

# RFC 8746 typed-array tags (little-endian where it matters)
TAG_U8, TAG_U16, TAG_U32, TAG_U64 = 64, 69, 70, 71
TAG_I8, TAG_I16, TAG_I32, TAG_I64 = 72, 77, 78, 79
TAG_F64 = 86
_INT_TAGS = {TAG_U8: "u1", TAG_U16: "<u2", TAG_U32: "<u4", TAG_U64: "<u8",
             TAG_I8: "i1", TAG_I16: "<i2", TAG_I32: "<i4", TAG_I64: "<i8"}
"""Integer tag -> numpy dtype string (for readers that use numpy)."""
_MAX_SCALE = 6  # decimal scaling of floats: 10**0 .. 10**6
_HEADER_KEYS_STOP = ("strings", "chunks")
_UNMAPPED = 0xFFFFFFFF  # a ring string id the writer has not resolved yet
MAX_LOGGERS_IN_INDEX = 64
_VALUE_SIZE = {"int": 8, "float": 8, "bool": 1, "str": 4, "obj": 4}
_U32 = struct.Struct("<I")
_BIG_ENDIAN = sys.byteorder == "big"


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ttlog")
    except PackageNotFoundError:
        return "0+unknown"


def _u32s(values: Iterable[int]) -> bytes:
    """uint32 little-endian bytes of ``values``."""
    out = array("I", values)
    if _BIG_ENDIAN:  # pragma: no cover
        out.byteswap()
    return out.tobytes()


def _view(buf: Bytes, size: int, lo: int, hi: int) -> memoryview:
    """Elements [lo, hi) of a typed array of ``size``-byte elements, without copying."""
    return memoryview(buf).cast("B")[lo * size : hi * size]


def _join(pieces: list[Any]) -> Any:
    """One bytes-like object of the pieces (the piece itself when there is one)."""
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _u32_at(buf: Bytes, i: int) -> int:
    return _U32.unpack_from(buf, 4 * i)[0]


# ---- writing ------------------------------------------------------------------------------------


@dataclass
class _Source:
    index: int
    key: tuple[str, int, int]
    record: dict[str, Any]
    lut: bytearray  # ring string id -> writer string id (uint32; 0xFFFFFFFF: not known yet)


class SnapshotWriter:
    """Collects batches from one or more rings and writes them as one snapshot file.

        writer = SnapshotWriter()
        writer.add(reader_a.poll()); writer.add(reader_b.poll())
        path = writer.write(directory, service="trading-engine", reason="periodic")
        # only now: reader_a.commit(); reader_b.commit(); then writer.clear()

    ``add`` keeps what it needs of the batch (views of its arrays; the ring's string ids
    become ids into one snapshot-wide table), so the batch may be dropped afterwards. ``write``
    does not clear the writer: the caller clears it once it has committed the rings' read
    positions.
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
        self._parts: list[EventPart] = []
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
            src = _Source(len(self._sources), key, record, bytearray())
            self._sources.append(src)
            self._by_key[key] = src
            self._records.append(record)
        rec = src.record
        rec["dropped"] += int(batch.dropped)  # what happened since the previous file: sums add up
        rec["closed"] = bool(info.closed)
        rec["lost"] += int(batch.lost)
        rec["corrupt"] += int(batch.corrupt)
        return src

    def _map_ids(self, src: _Source, table: StringTable, ids: Bytes) -> bytearray:
        """Ring string ids -> writer string ids (uint32), through the source's lookup table.

        The table covers only ids the ring's string table holds (it grows to the largest one met
        so far); any other id (a torn or hostile record) is resolved on its own, as
        ``<string N?>``, each time it appears, since the ring may define it later.
        """
        out, missing = K.remap_u32(ids, src.lut)
        if not missing:
            return out
        lut = src.lut
        keys, vals = [], []
        for rid in missing:
            sid = self._intern(table.get(rid))
            if rid in table.texts:
                size = len(lut) // 4
                if rid >= size:
                    grown = max(rid + 1, min(2 * size, max(table.texts) + 1), min(1024, rid + 1))
                    lut += b"\xff" * (4 * (grown - size))
                _U32.pack_into(lut, 4 * rid, sid)
            else:
                keys.append(rid)
                vals.append(sid)
        if keys:
            out, missing = K.remap_u32(ids, lut, _u32s(keys), _u32s(vals))
        else:
            out, missing = K.remap_u32(ids, lut)
        assert not missing
        return out

    def add(self, batch: Batch) -> None:
        """Take the events of one batch (``RingReader.poll()``); an empty batch updates counts."""
        src = self._source(batch)
        c = batch.cols
        n = int(c["n"])
        if not n:
            return
        ts = _view(c["ts"], 8, 0, n)
        seq = _view(c["seq"], 8, 0, n)
        rec = src.record
        if rec["first_seq"] is None:
            rec["first_seq"] = struct.unpack_from("<Q", seq, 0)[0]
        rec["last_seq"] = struct.unpack_from("<Q", seq, 8 * (n - 1))[0]
        rec["count"] += n
        table = batch.strings
        logger = self._map_ids(src, table, _view(c["logger"], 4, 0, n))
        message = self._map_ids(src, table, _view(c["message"], 4, 0, n))
        message_cut = []
        if c["inline"]:
            for row, text, cut in c["inline"]:
                _U32.pack_into(message, 4 * row, self._intern(text))
                if cut:
                    message_cut.append(row)
        fields: dict[tuple[str, str], FieldPart] = {}
        for (key_ref, kind), (rows_b, values, cut_rows) in c["columns"].items():
            key = batch.key_name(key_ref)
            m = len(rows_b) // 4
            pool = None
            if kind in ("int", "float", "bool"):
                vals: Any = _view(values, _VALUE_SIZE[kind], 0, m)
            elif kind == "none":
                vals = None
            elif kind in ("str", "obj"):
                codes, uniques = values
                if len(uniques) > 32 and len(uniques) * 2 > m:  # mostly distinct (order ids): keep text
                    vals, pool = _view(codes, 4, 0, m), uniques
                else:
                    vals, missing = K.remap_u32(_view(codes, 4, 0, m), _u32s(map(self._intern, uniques)))
                    if missing:
                        raise ValueError(f"field {key!r}: a text code past the column's texts")
            elif kind == "bytes":
                vals = list(values)
            else:
                continue  # a kind this version does not know: skipped rather than guessed
            fp = FieldPart(None if m == n else rows_b, vals, sorted(cut_rows), pool)
            old = fields.get((key, kind))
            fields[(key, kind)] = fp if old is None else self._merge_same_part(old, fp, n, kind)
        self._parts.append(EventPart(n, ts, seq, _view(c["level"], 1, 0, n), src.index, logger, message,
                                     _view(c["tid"], 4, 0, n), message_cut, sorted(c["fields_cut"]),
                                     fields, K.is_sorted_i64(ts)))
        self._n += n

    def _merge_same_part(self, a: FieldPart, b: FieldPart, n: int, kind: str) -> FieldPart:
        """Two columns of the same (key, kind) within one batch (a key met both by id and inline,
        when the ring's table filled up): one column, the later value winning a row in both."""
        texts = a.pool is not None or b.pool is not None
        by_row: dict[int, Any] = {}
        cut: set[int] = set()
        for fp in (a, b):
            rows = range(n) if fp.rows is None else array("I", bytes(fp.rows))
            if _BIG_ENDIAN and not isinstance(rows, range):  # pragma: no cover
                rows.byteswap()
            values = _part_values(fp, kind, len(rows), self._strings if texts else None)
            for row in rows:
                cut.discard(row)
            by_row.update(zip(rows, values, strict=True))
            cut.update(fp.cut)
        rows_sorted = sorted(by_row)
        values = [by_row[r] for r in rows_sorted]
        pool = None
        if kind in ("int", "float", "bool"):
            out: Any = b"".join(values)
        elif kind in ("str", "obj"):
            if texts:
                pool = values
                out = _u32s(range(len(values)))
            else:
                out = _u32s(values)
        elif kind == "bytes":
            out = values
        else:
            out = None
        return FieldPart(None if len(rows_sorted) == n else _u32s(rows_sorted), out, sorted(cut), pool)

    # ---- merging ----------------------------------------------------------------------------

    def _time_ordered(self) -> list[EventPart]:
        """The parts, one after the other in ascending ``ts`` (merged into one if they are not)."""
        parts = [p for p in self._parts if p.n]
        last = None
        for p in parts:
            first = struct.unpack_from("<q", p.ts, 0)[0]
            if not p.in_order or (last is not None and first < last):
                merged = _merge_parts(parts, self._strings, sort=True)
                self._parts = [merged]
                return [merged]
            last = struct.unpack_from("<q", p.ts, 8 * (p.n - 1))[0]
        return parts

    def columns(self) -> Columns:
        """Everything added so far, merged by ``ts``, as numpy columns (ttview's live tail uses
        this; it imports numpy)."""
        parts = self._time_ordered()
        if len(parts) > 1:
            parts = [_merge_parts(parts, self._strings, sort=False)]
            self._parts = parts
        if not parts:
            return Columns.empty(self._strings, self._records)
        return _to_numpy(parts[0], self._strings, self._records)

    # ---- encoding ---------------------------------------------------------------------------

    def _prepare(self, *, service: str | None, reason: str, pid: int | None, host: str | None,
                 created_ns: int | None, offsets: bool = True) -> tuple[dict[str, Any], Iterator[Any]]:
        """The header, and the file's content in pieces (each encoded as it is consumed): the
        header keys, the string table, one piece per chunk, and (``offsets``) the
        ``chunk_offsets`` trailer.
        """
        parts = self._time_ordered()
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
            "fields": [[key, kind] for key, kind in layout.order],
            "sources": records,
            "index": index,
        }

        def pieces() -> Iterator[Any]:
            head = bytearray(cbor.head(5, len(header) + (3 if offsets else 2)))
            for key, value in header.items():
                cbor.encode(key, head)
                cbor.encode(value, head)
            yield head
            body = bytearray()
            cbor.encode("strings", body)
            cbor.encode(layout.strings, body)
            cbor.encode("chunks", body)
            body += cbor.head(4, len(bounds))
            yield body
            for (a, b), stats in zip(bounds, index, strict=True):
                yield cbor.dumps_parts(layout.chunk(a, b, stats))
            if offsets:
                yield Trailer(lambda starts, at: _chunk_offsets(starts[2:] + [at]))

        return header, pieces()

    def encode(self, *, service: str | None = None, reason: str = "request", pid: int | None = None,
               host: str | None = None, created_ns: int | None = None) -> bytes:
        """The file's content before framing: one CBOR map (for tests and other containers).

        It is a file's content but for ``chunk_offsets``, which only the LZ4 framing can know.
        """
        pieces = self._prepare(service=service, reason=reason, pid=pid, host=host, created_ns=created_ns,
                               offsets=False)[1]
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


def _chunk_offsets(offsets: list[int]) -> bytes:
    """The ``chunk_offsets`` key and its array: every offset as a CBOR 8-byte uint, so the last
    one (where this block begins) is the frame's content 9 bytes before its end."""
    out = bytearray()
    cbor.encode("chunk_offsets", out)
    out += cbor.head(4, len(offsets))
    for off in offsets:
        out += b"\x1b" + off.to_bytes(8, "big")
    return bytes(out)


def _part_values(fp: FieldPart, kind: str, count: int, strings: list[str] | None) -> list[Any]:
    """The ``count`` values of a field part, one Python object each (raw element bytes for
    numbers; for str/obj, texts when ``strings`` is given, else ids)."""
    size = _VALUE_SIZE.get(kind)
    if kind in ("str", "obj"):
        codes = [_u32_at(fp.values, i) for i in range(count)]  # type: ignore[arg-type]
        if fp.pool is not None:
            return [fp.pool[c] for c in codes]
        return [strings[c] for c in codes] if strings is not None else codes
    if size is not None:
        raw = bytes(fp.values)  # type: ignore[arg-type]
        return [raw[i : i + size] for i in range(0, count * size, size)]
    if kind == "bytes":
        return list(fp.values)  # type: ignore[arg-type]
    return [None] * count


# ---- merging parts ------------------------------------------------------------------------------


def _merge_parts(parts: list[EventPart], strings: list[str], *, sort: bool) -> EventPart:
    """The parts as one: concatenated, then (``sort``) reordered by ``ts``, stably."""
    n = sum(p.n for p in parts)
    offs = list(itertools.accumulate((p.n for p in parts), initial=0))

    def cat(name: str) -> bytes:
        return b"".join(bytes(getattr(p, name)) for p in parts)

    def source_of(p: EventPart) -> Bytes:
        return _U32.pack(p.source) * p.n if isinstance(p.source, int) else p.source

    ts = cat("ts")
    perm = K.argsort_i64(ts) if sort else None

    def order(buf: Bytes, size: int) -> Bytes:
        return buf if perm is None else K.take(buf, size, perm)

    def moved(rows: list[int]) -> list[int]:
        """New positions of old rows (cut markers: few), ascending."""
        if perm is None or not rows:
            return rows
        new_rows = K.take_sparse(perm, _u32s(rows), n)[0]
        return sorted(array("I", new_rows))

    sources = [p.source for p in parts]
    source: int | Bytes
    if all(isinstance(s, int) for s in sources) and len(set(sources)) == 1:
        source = sources[0]
    else:
        source = order(b"".join(bytes(source_of(p)) for p in parts), 4)
    message_cut = moved([r + off for p, off in zip(parts, offs, strict=False) for r in p.message_cut])
    fields_cut = moved([r + off for p, off in zip(parts, offs, strict=False) for r in p.fields_cut])

    groups: dict[tuple[str, str], list[tuple[int, EventPart, FieldPart]]] = {}
    for j, p in enumerate(parts):
        for fk, fp in p.fields.items():
            groups.setdefault(fk, []).append((offs[j], p, fp))
    fields: dict[tuple[str, str], FieldPart] = {}
    for (key, kind), pieces in groups.items():
        dense = len(pieces) == len(parts) and all(fp.rows is None for _, _, fp in pieces)
        rows_all = None if dense else b"".join(
            K.iota_u32(off, p.n) if fp.rows is None else K.shift_u32(fp.rows, off) for off, p, fp in pieces)
        cut = [r + off for off, _, fp in pieces for r in fp.cut]
        pool = None
        if kind in ("str", "obj") and any(fp.pool is not None for _, _, fp in pieces):
            pool, codes = [], []  # one pool: each distinct pool once (the string table for id parts)
            where: dict[int, int] = {}
            for _, _, fp in pieces:
                src_pool = fp.pool if fp.pool is not None else strings
                at = where.get(id(src_pool))
                if at is None:
                    at = where[id(src_pool)] = len(pool)
                    pool.extend(src_pool)
                codes.append(K.shift_u32(fp.values, at) if at else bytes(fp.values))
            values: Any = b"".join(codes)
        elif kind == "bytes":
            values = [v for _, _, fp in pieces for v in fp.values]  # type: ignore[union-attr]
        elif kind == "none":
            values = None
        else:
            values = b"".join(bytes(fp.values) for _, _, fp in pieces)  # type: ignore[arg-type]
        if perm is not None:
            cut = moved(cut)
            if rows_all is None:
                index = perm
            else:
                rows_all, index = K.take_sparse(perm, rows_all, n)
            if kind == "bytes":
                values = [values[i] for i in array("I", index)]
            elif values is not None:
                values = K.take(values, _VALUE_SIZE[kind], index)
        fields[(key, kind)] = FieldPart(rows_all, values, cut, pool)
    in_order = True if sort else all(p.in_order for p in parts)
    return EventPart(n, order(ts, 8), order(cat("seq"), 8), order(cat("level"), 1), source,
                     order(cat("logger"), 4), order(cat("message"), 4), order(cat("tid"), 4),
                     message_cut, fields_cut, fields, in_order)


def _to_numpy(p: EventPart, strings: list[str], sources: list[dict[str, Any]]) -> Columns:
    """An event part as numpy columns (ttview's model)."""
    import numpy as np

    from .events import _obj_array

    def arr(buf: Bytes, dtype: str) -> Any:
        return np.frombuffer(buf, dtype)

    n = p.n
    source = np.full(n, p.source, np.uint32) if isinstance(p.source, int) else arr(p.source, "<u4").copy()
    fields = {}
    for (key, kind), fp in p.fields.items():
        rows = None if fp.rows is None else arr(fp.rows, "<u4")
        sids = False
        if kind == "int":
            values: Any = arr(fp.values, "<i8")  # type: ignore[arg-type]
        elif kind == "float":
            values = arr(fp.values, "<f8")  # type: ignore[arg-type]
        elif kind == "bool":
            values = arr(fp.values, "u1")  # type: ignore[arg-type]
        elif kind in ("str", "obj"):
            codes = arr(fp.values, "<u4")  # type: ignore[arg-type]
            if fp.pool is None:
                values, sids = codes, True
            else:
                values = _obj_array(fp.pool)[codes]
        elif kind == "bytes":
            values = _obj_array(list(fp.values))  # type: ignore[arg-type]
        else:
            values = None
        fields[(key, kind)] = FieldData(rows, values, np.asarray(fp.cut, dtype=np.int64), sids)
    return Columns(n, arr(p.ts, "<i8"), arr(p.seq, "<u8").view(np.int64), arr(p.level, "u1"), source,
                   arr(p.logger, "<u4"), arr(p.message, "<u4"), arr(p.tid, "<u4"),
                   np.asarray(p.message_cut, dtype=np.int64), np.asarray(p.fields_cut, dtype=np.int64),
                   fields, strings, sources)


# ---- chunks -------------------------------------------------------------------------------------


def _put_ints(dst: dict[str, Any], name: str, buf: Bytes, code: str, delta_from: int | None = None) -> None:
    """``dst[name]`` (and ``dst[name + "_hi"]`` when split): the integers of ``buf`` (or their
    deltas) as the narrowest typed array, by the rule of ``K.pack_ints``."""
    tag, data, hi_tag, hi_data = K.pack_ints(buf, code, delta_from)
    dst[name] = Tag(tag, data)
    if hi_tag:
        dst[name + "_hi"] = Tag(hi_tag, hi_data)


def _rows_in(rows: list[int], lo: int, hi: int, shift: int) -> list[int]:
    """The ascending ``rows`` in [lo, hi), moved by ``shift``."""
    i, j = bisect.bisect_left(rows, lo), bisect.bisect_left(rows, hi)
    return [r + shift for r in rows[i:j]]


class _Layout:
    """How parts in time order (sharing one string table) become a file's chunks.

    What depends on the whole file is decided up front, over every part: the order of the
    field columns (first appearance) and the string ids of their names; which ``str``/``obj``
    columns are written as text (one that is text in some part, or whose values are mostly
    distinct: more than 64 values, fewer than two per distinct one); and the file's string
    table, of only the strings used. :meth:`chunk` then builds one chunk map from views of the
    parts it spans (copying only where a chunk spans two parts), with the file's string ids.
    """

    def __init__(self, parts: list[EventPart], table: list[str], intern: Any) -> None:
        self.parts = [p for p in parts if p.n]
        self.starts = [0]
        for p in self.parts:
            self.starts.append(self.starts[-1] + p.n)
        by_key: dict[tuple[str, str], list[FieldPart]] = {}
        for p in self.parts:
            for fk, fp in p.fields.items():
                by_key.setdefault(fk, []).append(fp)
        self.order = list(by_key)
        keys = {fk: intern(fk[0]) for fk in self.order}
        self.table = table
        self.as_text: set[tuple[str, str]] = set()
        for fk, fps in by_key.items():
            if fk[1] not in ("str", "obj"):
                continue
            if any(fp.pool is not None for fp in fps):
                self.as_text.add(fk)  # a column partly text is all text
                continue
            total = sum(len(fp.values) // 4 for fp in fps)  # type: ignore[arg-type]
            if total > 64:  # mostly distinct values (order ids) are kept as text
                seen = bytearray(len(table))
                for fp in fps:
                    K.mark_u32(seen, fp.values)
                if seen.count(1) * 2 > total:
                    self.as_text.add(fk)
        used = bytearray(len(table))
        used[0] = 1
        for p in self.parts:
            K.mark_u32(used, p.logger)
            K.mark_u32(used, p.message)
        for sid in keys.values():
            used[sid] = 1
        for fk, fps in by_key.items():
            if fk[1] in ("str", "obj") and fk not in self.as_text:
                for fp in fps:
                    K.mark_u32(used, fp.values)
        self.newid: bytes | None = None
        if used.count(0) == 0:
            self.strings = table
            self.keys = keys
        else:
            self.newid = K.lut_from_mask(used)
            self.strings = list(itertools.compress(table, used))
            self.keys = {fk: _u32_at(self.newid, sid) for fk, sid in keys.items()}

    def _slices(self, a: int, b: int) -> Iterator[tuple[EventPart, int, int, int]]:
        """(part, lo, hi, at): the rows [lo, hi) of each part that fall in file rows [a, b),
        and where they start in the chunk."""
        i = bisect.bisect_right(self.starts, a) - 1
        while i < len(self.parts) and self.starts[i] < b:
            s = self.starts[i]
            lo, hi = max(a, s) - s, min(b, self.starts[i + 1]) - s
            yield self.parts[i], lo, hi, s + lo - a
            i += 1

    def _renumbered(self, ids: Bytes) -> Bytes:
        if self.newid is None:
            return ids
        return K.remap_u32(ids, self.newid)[0]

    def stats(self, a: int, b: int) -> dict[str, Any]:
        """The index entry of the chunk of file rows [a, b)."""
        slices = list(self._slices(a, b))
        levels: set[int] = set()
        loggers: set[int] | None = set()
        for p, lo, hi, _ in slices:
            levels.update(K.distinct(_view(p.level, 1, lo, hi), "B", 256))
            if loggers is not None:
                found = K.distinct(_view(p.logger, 4, lo, hi), "I", MAX_LOGGERS_IN_INDEX)
                loggers = None if found is None else loggers | set(found)
                if loggers is not None and len(loggers) > MAX_LOGGERS_IN_INDEX:
                    loggers = None
        first, last = slices[0], slices[-1]
        entry: dict[str, Any] = {
            "n": b - a,
            "ts_min": struct.unpack_from("<q", first[0].ts, 8 * first[1])[0],
            "ts_max": struct.unpack_from("<q", last[0].ts, 8 * (last[2] - 1))[0],
            "levels": sorted(levels),
        }
        if loggers is not None:
            ids = sorted(loggers)
            entry["loggers"] = ids if self.newid is None else [_u32_at(self.newid, i) for i in ids]
        return entry

    def chunk(self, a: int, b: int, stats: dict[str, Any]) -> dict[str, Any]:
        """The chunk map of file rows [a, b), with the file's string ids and field order."""
        slices = list(self._slices(a, b))
        n = b - a

        def col(name: str, size: int) -> Bytes:
            return _join([_view(getattr(p, name), size, lo, hi) for p, lo, hi, _ in slices])

        chunk: dict[str, Any] = {k: stats[k] for k in ("n", "ts_min", "ts_max", "levels")}
        ts = col("ts", 8)
        _put_ints(chunk, "ts", ts, "q", stats["ts_min"])
        seq = col("seq", 8)
        seq_first = struct.unpack_from("<q", seq, 0)[0]
        chunk["seq_base"] = seq_first & 0xFFFFFFFFFFFFFFFF
        _put_ints(chunk, "seq", seq, "q", seq_first)
        chunk["level"] = Tag(TAG_U8, col("level", 1))
        sources = [p.source if isinstance(p.source, int) else _view(p.source, 4, lo, hi)
                   for p, lo, hi, _ in slices]
        if len(set(map(type, sources))) == 1 and type(sources[0]) is int and len(set(sources)) == 1 \
                and sources[0] < 1 << 16:  # one source in every row: no array to scan
            chunk["source"] = Tag(TAG_U8, bytes((sources[0],)) * n) if sources[0] < 256 else \
                Tag(TAG_U16, struct.pack("<H", sources[0]) * n)
        else:
            source = _join([_U32.pack(s) * (hi - lo) if isinstance(s, int) else s
                            for s, (_, lo, hi, _) in zip(sources, slices, strict=True)])
            _put_ints(chunk, "source", source, "I")
        _put_ints(chunk, "logger", self._renumbered(col("logger", 4)), "I")
        _put_ints(chunk, "message", self._renumbered(col("message", 4)), "I")
        _put_ints(chunk, "tid", col("tid", 4), "I")
        for name in ("message_cut", "fields_cut"):
            rows = [r for p, lo, hi, at in slices for r in _rows_in(getattr(p, name), lo, hi, at - lo)]
            if rows:
                chunk[name] = rows
        fields = []
        for fk in self.order:
            column = self._field(fk, slices, n)
            if column is not None:
                fields.append(column)
        chunk["fields"] = fields
        return chunk

    def _field(self, fk: tuple[str, str], slices: list[tuple[EventPart, int, int, int]],
               n: int) -> dict[str, Any] | None:
        """One field column map of a chunk, or None if no event of the chunk has the field."""
        key, kind = fk
        size = _VALUE_SIZE.get(kind, 0)
        pieces = []  # (field part, first value, end value, rows in the chunk or None, at, count)
        for p, lo, hi, at in slices:
            fp = p.fields.get(fk)
            if fp is None:
                continue
            if fp.rows is None:
                i, j, rows = lo, hi, None
            else:
                rv = memoryview(fp.rows).cast("B").cast("I")
                i, j = bisect.bisect_left(rv, lo), bisect.bisect_left(rv, hi)
                if i == j:
                    continue
                rows = None if j - i == hi - lo else K.shift_u32(_view(fp.rows, 4, i, j), at - lo)
            pieces.append((fp, i, j, rows, at, hi - lo, lo))
        if not pieces:
            return None
        col: dict[str, Any] = {"key": self.keys[fk], "kind": kind}
        if sum(j - i for _, i, j, *_ in pieces) < n:
            rows_b = _join([K.iota_u32(at, count) if rows is None else rows
                            for _, _, _, rows, at, count, _ in pieces])
            _put_ints(col, "rows", rows_b, "I", 0)
        if kind in ("int", "float", "bool"):
            vals = _join([_view(fp.values, size, i, j) for fp, i, j, *_ in pieces])
            if kind == "int":
                _put_ints(col, "values", vals, "q")
            elif kind == "float":
                scaled = K.float_scale(vals, _MAX_SCALE)
                if scaled is None:
                    col["values"] = Tag(TAG_F64, vals)
                else:
                    _put_ints(col, "values", scaled[1], "q")
                    col["scale"] = scaled[0]
            else:
                col["values"] = Tag(TAG_U8, vals)
        elif kind in ("str", "obj"):
            if fk in self.as_text:
                texts = [K.join_text(_view(fp.values, 4, i, j), self.table if fp.pool is None else fp.pool)
                         for fp, i, j, *_ in pieces]
                if any(t is None for t in texts):  # a text holds U+0000: an array of texts
                    col["values"] = [v for fp, i, j, *_ in pieces for v in _part_values(
                        FieldPart(None, _view(fp.values, 4, i, j), [], fp.pool), kind, j - i, self.table)]
                else:
                    col["values"] = Utf8(b"\0".join(texts))  # type: ignore[arg-type]
            else:
                codes = _join([_view(fp.values, 4, i, j) for fp, i, j, *_ in pieces])
                _put_ints(col, "values", self._renumbered(codes), "I")
        elif kind == "bytes":
            col["values"] = [v for fp, i, j, *_ in pieces for v in fp.values[i:j]]  # type: ignore[index]
        cut = [r for fp, _, _, _, at, count, lo in pieces for r in _rows_in(fp.cut, lo, lo + count, at - lo)]
        if cut:
            col["cut"] = cut
        return col
