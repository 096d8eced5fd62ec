"""Snapshot files: the sidecar's event files, written atomically and read back safely.

A snapshot is one standard LZ4 frame holding one standard CBOR (RFC 8949) map, so
``cbor2.loads(lz4.frame.decompress(data))`` gives the whole content with no project code.
Events are stored in columns, cut into chunks of at most ``chunk_size`` events, with typed
arrays (RFC 8746 tags) for the numbers; docs/FORMAT.md, "Snapshot files", lists every key.

Writing: a :class:`SnapshotWriter` takes batches (``RingReader.poll()``) from one or more rings,
remaps each ring's string ids into one snapshot-wide table, merges the rings by timestamp and
writes the file with :meth:`SnapshotWriter.write` (or :func:`write_snapshot` in one call).
Reading: :func:`read_snapshot` (everything, validated), :func:`snapshot_info` (the header only,
cheap), :class:`Columns` (decoded numpy columns, what ``ttview.sources`` turns into polars).

Invariants:
- A snapshot appears under its final name only when complete and on disk: it is written to a
  temporary file (O_EXCL, O_NOFOLLOW, mode 0600) in the same directory, fsynced, linked to its
  final name and the directory fsynced. A failed write raises :class:`SnapshotError` (one line)
  and leaves no temporary file behind.
- An existing file is never replaced: a name that is taken gets a counter.
- Reading raises :class:`SnapshotError` (one line naming the file) and no other exception,
  whatever the file holds.
- In a file, events are in ascending ``ts`` order; events with equal ``ts`` keep the order in
  which they were added (the merge is stable), so one ring's events keep their ring order.
- No UI library and no polars here; numpy is imported inside the functions that need it, so
  importing ``ttlog`` does not import numpy.
"""

from __future__ import annotations

import errno
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cbor2
import lz4.frame

if TYPE_CHECKING:  # pragma: no cover
    from .reader import Batch

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "Columns",
    "FieldData",
    "ParsedSnapshot",
    "Snapshot",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotWriter",
    "apply_retention",
    "concat_columns",
    "list_snapshots",
    "parse_snapshot",
    "read_snapshot",
    "snapshot_filename",
    "snapshot_info",
    "snapshot_sort_key",
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


class SnapshotError(Exception):
    """A snapshot cannot be written or read; the message is one line for the user."""


def _np() -> Any:
    import numpy

    return numpy


def _one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ttlog")
    except PackageNotFoundError:
        return "0+unknown"


# ---- decoded columns ----------------------------------------------------------------------------


@dataclass
class FieldData:
    """One (key, kind) field column: the rows that have it and their values.

    ``rows`` is None when every row has the field, else an ascending integer array of row
    numbers. ``values`` holds one value per such row: int64 (int), float64 (float), uint8 0/1
    (bool), None (none), an object array of ``str`` (str, obj; or, with ``sids``, a uint32 array
    of ids into :attr:`Columns.strings`) or an object array of ``bytes`` (bytes). ``cut`` holds
    the rows whose value was cut at the ring's ``max_str``.
    """

    rows: Any
    values: Any
    cut: Any
    sids: bool = False


@dataclass
class Columns:
    """Events as numpy columns, merged by time: what a snapshot holds, decoded.

    Every per-event array has length ``n``. ``logger`` and ``message`` are ids into
    ``strings``; ``source`` indexes ``sources`` (dicts with service, host, pid, ...).
    ``message_cut`` and ``fields_cut`` are row numbers (int64): a message cut at ``max_str``,
    a record that had more fields than a record holds. ``fields`` maps (key, kind) to
    :class:`FieldData`, in order of first appearance.
    """

    n: int
    ts: Any
    seq: Any
    level: Any
    source: Any
    logger: Any
    message: Any
    tid: Any
    message_cut: Any
    fields_cut: Any
    fields: dict[tuple[str, str], FieldData]
    strings: list[str]
    sources: list[dict[str, Any]]

    def __len__(self) -> int:
        return self.n

    @classmethod
    def empty(cls, strings: list[str] | None = None, sources: list[dict[str, Any]] | None = None) -> Columns:
        np = _np()
        e64 = np.zeros(0, np.int64)
        e32 = np.zeros(0, np.uint32)
        return cls(0, e64, e64.copy(), np.zeros(0, np.uint8), e32, e32.copy(), e32.copy(), e32.copy(),
                   e64.copy(), e64.copy(), {}, strings if strings is not None else [""],
                   sources if sources is not None else [])

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """Row dicts shaped like :meth:`ttlog.reader.Batch.events` (slow; tests, exports)."""
        from .reader import ObjText

        n = self.n
        strings = self.strings
        per_row: list[dict[str, Any]] = [{} for _ in range(n)]
        cut_rows: list[set[str]] = [set() for _ in range(n)]
        for (key, kind), fd in self.fields.items():
            rows = range(n) if fd.rows is None else fd.rows.tolist()
            if kind == "none":
                vals: list[Any] = [None] * len(rows)
            elif kind in ("str", "obj"):
                vals = [strings[i] for i in fd.values.tolist()] if fd.sids else list(fd.values)
                if kind == "obj":
                    vals = [ObjText(v) for v in vals]
            elif kind == "bool":
                vals = [bool(v) for v in fd.values.tolist()]
            elif kind == "bytes":
                vals = list(fd.values)
            else:
                vals = fd.values.tolist()
            for row, val in zip(rows, vals, strict=True):
                per_row[row][key] = val
            for row in fd.cut.tolist():
                cut_rows[row].add(key)
        msg_cut = set(self.message_cut.tolist())
        seqs, tss, tids = self.seq.tolist(), self.ts.tolist(), self.tid.tolist()
        levels, loggers, messages = self.level.tolist(), self.logger.tolist(), self.message.tolist()
        srcs = self.source.tolist()
        for i in range(n):
            src = self.sources[srcs[i]] if srcs[i] < len(self.sources) else {}
            yield {
                "seq": seqs[i] & 0xFFFFFFFFFFFFFFFF,
                "ts": tss[i],
                "tid": tids[i],
                "level": levels[i],
                "logger": strings[loggers[i]],
                "message": strings[messages[i]],
                "message_cut": i in msg_cut,
                "fields": per_row[i],
                "cut_fields": cut_rows[i],
                "pid": src.get("pid", 0),
                "service": src.get("service", ""),
            }


def _repeat(value: int, n: int) -> Any:
    """``n`` times ``value`` as a read-only uint32 array that takes no memory (a column of a
    batch whose rows all have the same source, logger or message)."""
    np = _np()
    return np.broadcast_to(np.uint32(value), (n,))


def _is_repeat(a: Any) -> bool:
    return a.ndim == 1 and len(a) > 1 and a.strides[0] == 0


def _obj_array(items: list[Any]) -> Any:
    np = _np()
    arr = np.empty(len(items), dtype=object)
    if items:
        arr[:] = items
    return arr


def _merge_same_part(a: FieldData, b: FieldData, n: int) -> FieldData:
    """Two columns of the same (key, kind) within one part (a key seen both inline and by id)."""
    np = _np()
    ra = np.arange(n) if a.rows is None else a.rows
    rb = np.arange(n) if b.rows is None else b.rows
    rows = np.concatenate([ra, rb])
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    keep = np.ones(len(rows), bool)  # a row in both: the later one wins
    keep[:-1] = rows[1:] != rows[:-1]
    values = None
    if a.values is not None:
        va, vb = a.values, b.values
        if a.sids != b.sids:
            raise ValueError("cannot merge id and text columns")
        values = np.concatenate([va, vb])[order][keep]
    rows = rows[keep]
    cut = np.unique(np.concatenate([a.cut, b.cut]))
    return FieldData(None if len(rows) == n else rows, values, cut, a.sids)


def concat_columns(parts: list[Columns]) -> Columns:
    """Concatenate column sets and merge their events by ``ts`` (stable: equal times keep order).

    Parts that share one string table and one source list (those of one writer or one file)
    keep them; otherwise the tables and source lists are concatenated and ids shifted.
    Vectorised: no Python loop per event.
    """
    np = _np()
    if not parts:
        return Columns.empty()
    first = parts[0]
    shared = all(p.strings is first.strings and p.sources is first.sources for p in parts)
    if shared:
        strings, sources = first.strings, first.sources
        str_off = [0] * len(parts)
        src_off = [0] * len(parts)
    else:
        strings, sources = [], []
        str_off, src_off = [], []
        for p in parts:
            str_off.append(len(strings))
            src_off.append(len(sources))
            strings.extend(p.strings)
            sources.extend(p.sources)
    live = [(i, p) for i, p in enumerate(parts) if p.n]
    if len(live) == 1 and shared:
        return live[0][1]
    if not live:
        return Columns.empty(strings, sources)
    n = sum(p.n for _, p in live)
    row_off = []
    acc = 0
    for _, p in live:
        row_off.append(acc)
        acc += p.n

    def cat(name: str, dtype: Any, shift: list[int] | None = None) -> Any:
        arrs = []
        for i, p in live:
            a = getattr(p, name)
            if shift is not None and shift[i]:
                a = a.astype(dtype) + dtype(shift[i])
            arrs.append(a)
        return np.concatenate(arrs).astype(dtype, copy=False)

    ts = cat("ts", np.int64)
    seq = cat("seq", np.int64)
    level = cat("level", np.uint8)
    source = cat("source", np.uint32, src_off)
    logger = cat("logger", np.uint32, str_off)
    message = cat("message", np.uint32, str_off)
    tid = cat("tid", np.uint32)

    def cat_rows(name: str) -> Any:
        return np.concatenate([getattr(p, name).astype(np.int64) + row_off[j]
                               for j, (_, p) in enumerate(live)])

    message_cut = cat_rows("message_cut")
    fields_cut = cat_rows("fields_cut")

    order = None
    inv_cache: list[Any] = []

    def moved(rows: Any) -> Any:
        """New positions of old rows (for the few cut markers), ascending."""
        if not len(rows) or order is None:
            return rows
        if not inv_cache:
            inv = np.empty(n, np.int64)
            inv[order] = np.arange(n, dtype=np.int64)
            inv_cache.append(inv)
        return np.sort(inv_cache[0][rows])

    if n > 1 and bool((ts[1:] < ts[:-1]).any()):
        order = np.argsort(ts, kind="stable")
        ts, seq, level, source = ts[order], seq[order], level[order], source[order]
        logger, message, tid = logger[order], message[order], tid[order]
        message_cut = moved(message_cut)
        fields_cut = moved(fields_cut)

    groups: dict[tuple[str, str], list[tuple[int, FieldData]]] = {}
    for j, (_, p) in enumerate(live):
        for fk, fd in p.fields.items():
            groups.setdefault(fk, []).append((j, fd))

    strings_obj: list[Any] = []

    def as_text(j: int, fd: FieldData) -> Any:
        if not fd.sids:
            return fd.values
        if not strings_obj:
            strings_obj.append(_obj_array(strings))
        return strings_obj[0][fd.values.astype(np.int64) + str_off[live[j][0]]]

    fields: dict[tuple[str, str], FieldData] = {}
    for (key, kind), pieces in groups.items():
        if len(pieces) == len(live) and all(fd.rows is None for _, fd in pieces):
            grow = None  # in every row of every part
        else:
            rows_list = []
            for j, fd in pieces:
                p = live[j][1]
                r = np.arange(p.n, dtype=np.int64) if fd.rows is None else fd.rows.astype(np.int64)
                rows_list.append(r + row_off[j])
            grow = np.concatenate(rows_list)
        cut = np.concatenate([fd.cut.astype(np.int64) + row_off[j] for j, fd in pieces])
        sids = False
        if kind == "none":
            values = None
        elif kind in ("str", "obj"):
            if all(fd.sids for _, fd in pieces):
                sids = True
                values = np.concatenate([fd.values.astype(np.uint32) + np.uint32(str_off[live[j][0]])
                                         for j, fd in pieces])
            else:
                values = np.concatenate([as_text(j, fd) for j, fd in pieces])
        else:
            values = np.concatenate([fd.values for j, fd in pieces])
        dense = grow is None or len(grow) == n
        if order is not None:
            cut = moved(cut)
            if dense:
                if values is not None:
                    values = values[order]
            else:
                assert grow is not None
                index_type = np.int32 if n < 1 << 31 else np.int64
                mark = np.full(n, -1, index_type)  # old row -> index of its value
                mark[grow] = np.arange(len(grow), dtype=index_type)
                mark = mark[order]
                present = mark >= 0
                grow = np.flatnonzero(present)
                if values is not None:
                    values = values[mark[present]]
        fields[(key, kind)] = FieldData(None if dense else grow, values, cut, sids)
    return Columns(n, ts, seq, level, source, logger, message, tid, message_cut, fields_cut, fields,
                   strings, sources)


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
                "dropped": int(info.dropped), "lost": 0, "corrupt": 0, "closed": bool(info.closed),
            }
            src = _Source(len(self._sources), key, record)
            self._sources.append(src)
            self._by_key[key] = src
            self._records.append(record)
        rec = src.record
        rec["dropped"] = int(info.dropped)
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
        return _write_atomic(Path(directory), name, pieces, self.compression_level)


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


# ---- names and atomic files ---------------------------------------------------------------------

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME_TIME = re.compile(r"\.(\d{8}T\d{6})\.(\d{6})Z\.")


def snapshot_filename(service: str, pid: int, created_ns: int, reason: str, counter: int = 0) -> str:
    """``<service>.<pid>.<YYYYmmddTHHMMSS.ffffff>Z.<reason>[.<n>].ttsnap`` (service, reason sanitised)."""
    safe_service = _NAME_SAFE.sub("_", str(service))[:64] or "service"
    safe_reason = _NAME_SAFE.sub("_", str(reason))[:32] or "snapshot"
    secs, ns = divmod(int(created_ns), 10**9)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)) + f".{ns // 1000:06d}Z"
    extra = f".{counter}" if counter else ""
    return f"{safe_service}.{int(pid)}.{stamp}.{safe_reason}{extra}{SUFFIX}"


_write_fd = os.write  # a seam for tests (a full disk)


def _write_atomic(directory: Path, name: str, pieces: Iterator[Any], level: int) -> Path:
    """Compress ``pieces`` into one LZ4 frame in a new file called ``name`` (or with a counter).

    A worker thread compresses and writes (LZ4 and write() release the GIL) while this thread
    encodes the next chunk.
    """
    where = f"snapshot {name} in {directory}"
    if not directory.is_dir():
        raise SnapshotError(f"cannot write {where}: no such directory")
    tmp = directory / f".{name}.{os.urandom(6).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise SnapshotError(f"cannot write {where}: {exc.strerror or exc}") from None
    final = None
    try:
        try:
            _compress_to(fd, pieces, level)
            os.fsync(fd)
        finally:
            os.close(fd)
        counter = 0
        while True:
            candidate = directory / _with_counter(name, counter)
            try:
                os.link(tmp, candidate)
                final = candidate
                break
            except FileExistsError:
                counter += 1
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if candidate.exists() or candidate.is_symlink():  # no hard links here: rename
                    counter += 1
                    continue
                os.rename(tmp, candidate)
                final = candidate
                break
        _fsync_dir(directory)
    except (OSError, MemoryError) as exc:
        if final is not None:
            try:
                final.unlink()
            except OSError:
                pass
        why = getattr(exc, "strerror", None) or _one_line(exc) or type(exc).__name__
        raise SnapshotError(f"cannot write {where}: {why}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return final


def _compress_to(fd: int, pieces: Iterator[Any], level: int) -> None:
    """Compress ``pieces`` (each a bytes-like object or a list of them) into one LZ4 frame written
    to ``fd``, each piece ending a block (so the header piece can be decompressed alone)."""
    todo: queue.Queue[Any] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []

    def worker() -> None:
        comp = None
        out: list[bytes] = []
        pending = 0
        while True:
            piece = todo.get()
            if failed:  # keep taking pieces so the producer never blocks
                if piece is None:
                    return
                continue
            try:
                if comp is None:
                    # auto_flush: each piece ends a block, so the header can be decompressed alone
                    comp = lz4.frame.LZ4FrameCompressor(
                        compression_level=level, content_checksum=True,
                        block_size=lz4.frame.BLOCKSIZE_MAX4MB, auto_flush=True)
                    out.append(comp.begin())
                if piece is None:
                    out.append(comp.flush())
                    _write_all(fd, out)
                    return
                for part in piece if isinstance(piece, list) else (piece,):
                    out.append(comp.compress(part))
                    pending += len(out[-1])
                if pending >= 4 << 20:
                    _write_all(fd, out)
                    out, pending = [], 0
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)
                if piece is None:
                    return

    thread = threading.Thread(target=worker, name="snapshot-compress", daemon=True)
    thread.start()
    try:
        for piece in pieces:
            if failed:
                break
            todo.put(piece)
    finally:
        todo.put(None)
        thread.join()
    if failed:
        raise failed[0]


def _with_counter(name: str, counter: int) -> str:
    if not counter:
        return name
    return f"{name[: -len(SUFFIX)]}.{counter}{SUFFIX}"


def _write_all(fd: int, parts: list[bytes]) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            written = _write_fd(fd, view)
            view = view[written:]


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(dfd)


def snapshot_sort_key(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Oldest first: the UTC time in the file name (else the file's mtime), then the name."""
    p = Path(path)
    m = _NAME_TIME.search(p.name)
    if m:
        try:
            secs = time.mktime(time.strptime(m.group(1), "%Y%m%dT%H%M%S")) - time.timezone
            return int(secs) * 10**9 + int(m.group(2)) * 1000, p.name
        except (ValueError, OverflowError):
            pass
    try:
        return p.stat().st_mtime_ns, p.name
    except OSError:
        return 0, p.name


def list_snapshots(directory: str | os.PathLike[str]) -> list[Path]:
    """The ``*.ttsnap`` regular files in ``directory``, oldest first (a missing directory -> [])."""
    try:
        entries = [Path(e.path) for e in os.scandir(directory)
                   if e.name.endswith(SUFFIX) and not e.name.startswith(".")
                   and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    entries.sort(key=snapshot_sort_key)
    return entries


def apply_retention(directory: str | os.PathLike[str], *, max_files: int | None = None,
                    max_bytes: int | None = None) -> list[Path]:
    """Delete the oldest snapshots until at most ``max_files`` remain, using at most ``max_bytes``.

    The newest snapshot is always kept, even if it alone is larger than ``max_bytes``. Files
    that vanish meanwhile are skipped. Returns the paths deleted.
    """
    files = list_snapshots(directory)
    sizes = []
    for p in files:
        try:
            sizes.append(p.stat().st_size)
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    count = len(files)
    deleted = []
    for p, size in zip(files[:-1], sizes[:-1], strict=True):
        over_files = max_files is not None and count > max(1, max_files)
        over_bytes = max_bytes is not None and total > max_bytes
        if not (over_files or over_bytes):
            break
        try:
            p.unlink()
            deleted.append(p)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        count -= 1
        total -= size
    return deleted


# ---- reading ------------------------------------------------------------------------------------


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
        return SnapshotError(f"{path}: corrupt snapshot: {_one_line(exc)}")
    if isinstance(exc, MemoryError):
        return SnapshotError(f"{path}: corrupt snapshot (too large to decode)")
    return SnapshotError(f"{path}: corrupt or truncated snapshot ({type(exc).__name__}: {_one_line(exc)})")


def _decompress(path: Path, data: bytes) -> bytes:
    if data[:4] != _LZ4_MAGIC:
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
        raise SnapshotError(f"{path}: corrupt or truncated snapshot (LZ4: {_one_line(exc)})") from None
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
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot open snapshot: {exc.strerror or exc}") from None
    if magic != _LZ4_MAGIC:
        raise SnapshotError(f"{p}: not a ttlog snapshot (not an LZ4 frame)")
    try:
        with lz4.frame.open(p, "rb") as fh:
            dec = cbor2.CBORDecoder(fh)
            head = dec.read(1)[0]
            _need(head >> 5 == 5, "")
            count = head & 31
            if count == 24:
                count = dec.read(1)[0]
            elif count == 25:
                count = int.from_bytes(dec.read(2), "big")
            else:
                _need(count < 24, "")
            meta: dict[str, Any] = {}
            for _ in range(count):
                key = dec.decode()
                if key in _HEADER_KEYS_STOP:
                    break
                meta[key] = dec.decode()
        return _header_info(p, size, meta)
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
        info = _header_info(p, len(data), {k: v for k, v in obj.items() if k not in _HEADER_KEYS_STOP}
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
