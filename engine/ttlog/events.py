"""The event columns model: events as typed numpy columns, and merging them by time.

:class:`Columns` is what the snapshot writer builds from ring batches (``RingReader.poll()``)
and what it cuts into chunks; :class:`FieldData` is one (key, kind) field column of it.
:func:`concat_columns` merges column sets by ``ts`` (stable).

Invariants:
- Every per-event array of a :class:`Columns` has length ``n``; ``rows`` of a sparse field are
  ascending row numbers below ``n``.
- A merge is stable: events with equal ``ts`` keep the order of their parts.
- No UI library and no polars; numpy is imported inside the functions that need it, so
  importing ``ttlog`` does not import numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Columns", "FieldData", "concat_columns"]


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

