"""The event columns model: what the ring decoder returns, what the snapshot writer holds and
writes, and the numpy columns a reader builds. One typed contract for each stage:

1. :class:`DecodedBatch` -- ``ttlog.reader.decode`` (C) and ``py_decode`` (its twin) turn ring
   records into little-endian typed arrays in bytes-like objects (docs/FORMAT.md, "Decoded
   batches"). Ids are the ring's string ids.
2. :class:`EventPart` / :class:`FieldPart` -- ``ttlog.codec.SnapshotWriter.add`` keeps each batch
   as one part: the same typed arrays (views, not copies), ring string ids remapped to the
   writer's one string table, text columns as codes into a pool of strings. No numpy: the
   writer's arithmetic runs in ``ttlog.kernels.K`` (C, or the pure-Python twin).
3. :class:`ChunkMap` / :class:`FieldColumnMap` / :class:`IndexEntry` -- the CBOR maps the writer
   puts in a snapshot (docs/FORMAT.md, "Snapshot files"): typed arrays narrowed to RFC 8746 tags.
4. :class:`Columns` / :class:`FieldData` -- events as numpy columns merged by time: what
   ``ttview`` decodes a snapshot into and what :meth:`ttlog.codec.SnapshotWriter.columns` gives
   its live tail. :func:`concat_columns` merges column sets by ``ts`` (stable). numpy is
   imported inside the functions that need it, and only stage 4 needs it.

Typed arrays are named by ``struct`` type codes: ``q`` int64, ``Q`` uint64, ``I`` uint32,
``B`` uint8, ``d`` float64, all little-endian.

Invariants:
- Every per-event array of a part, a chunk or a :class:`Columns` has ``n`` elements; ``rows`` of
  a sparse field are ascending row numbers below ``n``, one value per row.
- A merge is stable: events with equal ``ts`` keep the order of their parts.
- No UI library and no polars; importing this module imports no third-party package.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict

__all__ = [
    "Bytes",
    "ChunkMap",
    "Columns",
    "DecodedBatch",
    "EventPart",
    "FieldColumnMap",
    "FieldData",
    "FieldPart",
    "IndexEntry",
    "concat_columns",
]

Bytes = bytes | bytearray | memoryview
"""A typed array: little-endian values of the type its name in the contract says."""


# ---- 1. what the ring decoder returns -----------------------------------------------------------


class DecodedBatch(TypedDict):
    """``ttlog.reader.decode(buf, start_pos)`` (``Batch.cols``): the records of one stretch of a ring.

    ``columns`` maps (key, kind) -- the key a ring string id (int) or, when the ring's table had
    no room, the key's text (str); the kind one of ``int float bool none str bytes obj`` -- to
    ``(rows, values, cut)``: ``rows`` uint32 ascending row numbers (``I``), ``cut`` the rows whose
    value was cut at ``max_str``, and ``values`` by kind: ``int`` int64 (``q``), ``float``
    float64 (``d``), ``bool`` uint8 0/1 (``B``), ``none`` None, ``str``/``obj`` a pair (uint32
    codes, list of the distinct texts the codes index), ``bytes`` a list of bytes.
    """

    n: int  # records decoded
    end: int  # ring position after the last one
    error: str | None  # why decoding stopped early (a bad record), else None
    seq: Bytes  # Q: each record's seq
    ts: Bytes  # q: ns since the epoch
    tid: Bytes  # I: native thread id
    logger: Bytes  # I: ring string id of the logger name
    message: Bytes  # I: ring string id of the message, 0 when it is inline
    level: Bytes  # B
    inline: list[tuple[int, str, bool]]  # (row, message text, cut at max_str)
    fields_cut: list[int]  # rows that had more fields than a record holds
    columns: dict[tuple[int | str, str], tuple[Bytes, Any, list[int]]]


# ---- 2. what the writer holds -------------------------------------------------------------------


@dataclass
class FieldPart:
    """One (key, kind) field column of an :class:`EventPart`.

    ``values`` by kind: ``int`` q, ``float`` d, ``bool`` B, ``none`` None, ``bytes`` a list of
    bytes, ``str``/``obj`` I codes: into ``pool`` when it is set (text kept as text: mostly
    distinct values such as order ids), else ids into the writer's string table.
    """

    rows: Bytes | None  # I, ascending rows of the part that have the field; None: every row
    values: Bytes | list[bytes] | None
    cut: list[int]  # ascending rows whose value was cut at the ring's max_str
    pool: list[str] | None = None


@dataclass
class EventPart:
    """The events of one batch (or of several merged), as the writer keeps them until it writes.

    ``logger`` and ``message`` are ids into the writer's string table; ``source`` indexes its
    source records, one index for every row (an int) or one per row (I).
    """

    n: int
    ts: Bytes  # q
    seq: Bytes  # Q
    level: Bytes  # B
    source: int | Bytes
    logger: Bytes  # I
    message: Bytes  # I
    tid: Bytes  # I
    message_cut: list[int]  # ascending rows whose message was cut at max_str
    fields_cut: list[int]  # ascending rows that had more fields than a record holds
    fields: dict[tuple[str, str], FieldPart]  # (key text, kind), in order of first appearance
    in_order: bool  # ts never decreases within the part


# ---- 3. what the writer writes ------------------------------------------------------------------


class IndexEntry(TypedDict, total=False):
    """One entry of a snapshot header's ``index``: a chunk's stats, for skipping it unread."""

    n: int
    ts_min: int
    ts_max: int
    levels: list[int]  # distinct levels, ascending
    loggers: list[int]  # string ids of the chunk's loggers, ascending; absent if more than 64


class FieldColumnMap(TypedDict, total=False):
    """One field column of a chunk (docs/FORMAT.md, "Field column map")."""

    key: int  # string id of the field name
    kind: str
    rows: Any  # typed array of row deltas (rows_hi when split); absent: every row
    values: Any  # typed array, float64 array, joined text, list of text or of bytes; absent for none
    scale: int  # float as integers k / 10**scale
    cut: list[int]


class ChunkMap(TypedDict, total=False):
    """One chunk of a snapshot (docs/FORMAT.md, "Chunk map"); ``name_hi`` keys hold the high
    part of a split integer array."""

    n: int
    ts_min: int
    ts_max: int
    levels: list[int]
    ts: Any  # deltas from ts_min
    seq_base: int
    seq: Any  # deltas from seq_base
    level: Any  # uint8
    source: Any
    logger: Any
    message: Any
    tid: Any
    message_cut: list[int]
    fields_cut: list[int]
    fields: list[FieldColumnMap]


# ---- 4. what a reader builds (numpy) ------------------------------------------------------------


def _np() -> Any:
    import numpy

    return numpy


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

