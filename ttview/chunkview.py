"""An :class:`ttview.eventview.EventView` over snapshot files of any size: rows paged in from
chunks on demand, memory bounded by what is on screen (and a small cache), not by the events.

The events of all files, merged by time (ties in file order, as ``ttview.scan`` merges them), are
cut into **segments** at every chunk's first time: segment ``j`` holds the events with
``cuts[j] <= ts < cuts[j + 1]``, taken from the chunks whose time range overlaps it, concatenated
in file order and stable-sorted by ``ts``. A segment is thus computed from a handful of chunks,
and its row offset in the whole view is the sum of the sizes before it; a size needs only the
times of the chunks straddling a cut (:class:`Segments` reads them on demand, newest first, and a
background pass reads the rest).

A filter (:meth:`ChunkedEventView.where`) runs segment by segment, newest first, decoding only the
columns it needs, and keeps per segment only which rows match (nothing when all or none do): the
result, :class:`FilteredChunkView`, is the same kind of paged view. Partial results (the newest
segments done so far) are views too, so the viewer can show the first matches at once.

Invariants: headless (no textual); the rows a view gives are exactly those of loading every file
and stable-sorting by ``ts`` (the tests compare); memory is bounded by the caches
(:data:`CHUNK_CACHE`, :data:`SEGMENT_CACHE` entries) and the per-segment match sets.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ttview.eventview import EventId, EventView
from ttview.schema import event_id_expr

if TYPE_CHECKING:  # pragma: no cover
    from ttview.query import Filter
    from ttview.scan import Catalog

__all__ = ["CHUNK_CACHE", "SEGMENT_CACHE", "ChunkedEventView", "FilteredChunkView", "Segments"]

CHUNK_CACHE = 24
"""Decoded chunks kept (a segment shares its chunks with its neighbours)."""

SEGMENT_CACHE = 12
"""Merged segments kept."""

PROGRESS_EVERY = 0.25
"""Seconds between a running filter's partial results (after its first matches)."""

SAMPLE_SEGMENTS = 4
"""Segments read to measure column widths: the newest, which the first screen reads anyway."""

Progress = Callable[["EventView", int, int], None]
"""``progress(view_so_far, segments_done, segments)`` while a filter runs."""


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@dataclass
class _Chunk:
    k: int  # file
    i: int  # chunk in the file
    n: int
    ts_min: int
    ts_max: int
    first: int  # the first segment it overlaps
    last: int  # the last one
    bounds: np.ndarray | None = None  # row where each of its segments starts, then n


class Segments:
    """The catalog's events cut by time into segments (see the module docstring)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        chunks = [(k, i, stat) for k, f in enumerate(catalog.files) for i, stat in enumerate(f.info.chunks)
                  if stat.n]
        self.cuts = np.array(sorted({stat.ts_min for _, _, stat in chunks}), dtype=np.int64)
        self.chunks: list[_Chunk] = []
        self.members: list[list[int]] = [[] for _ in range(len(self.cuts))]
        for k, i, stat in chunks:  # in file order, then chunk order: the merge's order for ties
            first = int(np.searchsorted(self.cuts, stat.ts_min, side="left"))
            last = int(np.searchsorted(self.cuts, stat.ts_max, side="right")) - 1
            c = _Chunk(k, i, stat.n, stat.ts_min, stat.ts_max, first, last)
            if first == last:
                c.bounds = np.array([0, stat.n], dtype=np.int64)
            for j in range(first, last + 1):
                self.members[j].append(len(self.chunks))
            self.chunks.append(c)
        self.sizes = np.full(len(self.cuts), -1, dtype=np.int64)
        self._total = sum(c.n for c in self.chunks)
        self._breaks = catalog.breaks
        self._lock = threading.Lock()
        self._chunk_cache = _LRU(CHUNK_CACHE)
        self._seg_cache = _LRU(SEGMENT_CACHE)
        self._suffix: np.ndarray | None = None  # events at or after each segment, once all sizes are known

    def __len__(self) -> int:
        return len(self.cuts)

    @property
    def total(self) -> int:
        """Events in every segment: the index's count, less the chunks of files found bad."""
        self.sync()
        return self._total

    @property
    def generation(self) -> int:
        """Changes when a file is found bad (sizes, offsets and rows change with it)."""
        return self._breaks

    def sync(self) -> None:
        """Forget what a chunk found bad since (a file is cut short from it on) invalidates."""
        if self.catalog.breaks == self._breaks:
            return
        with self._lock:
            breaks = self.catalog.breaks
            for c in self.chunks:
                if self.catalog.gone(c.k, c.i):
                    c.bounds = np.zeros(c.last - c.first + 2, dtype=np.int64)
            self._chunk_cache = _LRU(CHUNK_CACHE)
            self._seg_cache = _LRU(SEGMENT_CACHE)
            self.sizes = np.full(len(self.cuts), -1, dtype=np.int64)
            self._suffix = None
            self._total = sum(c.n for c in self.chunks if not self.catalog.gone(c.k, c.i))
            self._breaks = breaks

    # ---- sizes and offsets ----------------------------------------------------------------------

    def _bounds(self, c: _Chunk) -> np.ndarray:
        if c.bounds is None:
            frame = self.chunk(c, ("ts",))
            ts = (frame.get_column("ts").dt.epoch("ns").to_numpy() if frame is not None
                  else np.zeros(0, np.int64))
            inner = np.searchsorted(ts, self.cuts[c.first + 1 : c.last + 1], side="left")
            c.bounds = np.concatenate([[0], inner, [len(ts)]]).astype(np.int64)
        return c.bounds

    def size(self, j: int) -> int:
        """Events in segment ``j``."""
        self.sync()
        if self.sizes[j] < 0:
            total = 0
            for m in self.members[j]:
                c = self.chunks[m]
                b = self._bounds(c)
                total += int(b[j - c.first + 1] - b[j - c.first])
            self.sizes[j] = total
        return int(self.sizes[j])

    def index_all(self, *, newest_first: bool = True, cancelled: Callable[[], bool] | None = None) -> None:
        """Learn every segment's size (the background pass); newest first by default."""
        order = range(len(self) - 1, -1, -1) if newest_first else range(len(self))
        for j in order:
            while self.catalog.busy and not (cancelled is not None and cancelled()):
                time.sleep(0.05)  # a filter or an aggregation someone waits for goes first
            if cancelled is not None and cancelled():
                return
            self.size(j)

    def offset(self, j: int) -> int:
        """The row of segment ``j``'s first event: counted from the end, so segments near the end
        need only their own sizes and those after them."""
        return self.total - self.events_from(j)

    def events_from(self, j: int) -> int:
        """Events in segments ``j`` and after."""
        if self._suffix is not None:
            return int(self._suffix[j])
        total = sum(self.size(x) for x in range(j, len(self)))
        if (self.sizes >= 0).all():
            self._suffix = np.concatenate([np.cumsum(self.sizes[::-1])[::-1], [0]])
        return total

    def segment_of_row(self, row: int) -> int:
        """The segment holding ``row`` (rows of the whole view)."""
        from_end = self.total - row  # events at or after this row
        if self._suffix is not None:
            return int(np.searchsorted(-self._suffix[:-1], -from_end, side="right")) - 1
        acc = 0
        for j in range(len(self) - 1, -1, -1):
            acc += self.size(j)
            if acc >= from_end:
                return j
        return 0

    def segment_of_time(self, ts_ns: int) -> int:
        return max(0, int(np.searchsorted(self.cuts, ts_ns, side="right")) - 1)

    # ---- decoding -------------------------------------------------------------------------------

    def chunk(self, c: _Chunk, columns: Sequence[str]) -> pl.DataFrame | None:
        if self.catalog.gone(c.k, c.i):
            return None
        cols = tuple(columns)
        key = (c.k, c.i, cols)
        frame = self._chunk_cache.get(key)
        if frame is None:
            full = self._chunk_cache.get((c.k, c.i, None))
            if full is not None:
                return full.select(cols)
            frame = self.catalog.chunk_frame(c.k, c.i, list(cols) if cols else None)
            if frame is not None:
                self._chunk_cache.put(key if cols != tuple(self.catalog.schema) else (c.k, c.i, None), frame)
        return frame

    def segment(self, j: int, columns: Sequence[str] | None = None, *, keep: bool = True) -> pl.DataFrame:
        """Segment ``j``'s events in their order (only ``columns``, plus ``ts``). ``keep=False``
        (a scan over every segment) leaves the segment cache to what is on screen."""
        self.sync()
        schema = self.catalog.schema
        cols = (tuple(schema) if columns is None
                else tuple(c for c in schema if c in set(columns) or c == "ts"))
        key = (j, cols)
        frame = self._seg_cache.get(key)
        if frame is not None:
            return frame
        full = self._seg_cache.get((j, tuple(schema)))
        if full is not None:
            return full.select(cols)
        parts = []
        for m in self.members[j]:
            c = self.chunks[m]
            b = self._bounds(c)
            lo, hi = int(b[j - c.first]), int(b[j - c.first + 1])
            if hi <= lo:
                continue
            got = self.chunk(c, cols)
            if got is not None:
                parts.append(got.slice(lo, hi - lo))
        if self.catalog.breaks != self._breaks:  # a chunk read here was bad: its file's later ones
            return self.segment(j, columns, keep=keep)  # are out too, even those read before it
        if not parts:
            frame = pl.DataFrame(schema={c: schema[c] for c in cols})
        elif len(parts) == 1:
            frame = parts[0]
        else:
            frame = pl.concat(parts).sort("ts", maintain_order=True)
        if keep:
            self._seg_cache.put(key, frame)
        return frame


def _needed(expr: pl.Expr, schema: pl.Schema) -> list[str]:
    return [c for c in expr.meta.root_names() if c in schema] or ["ts"]


class _PagedView(EventView):
    """What a paged view shares: rows through its segments' selections."""

    seg: Segments
    parts: list[int]  # the segments in the view, ascending
    _starts: np.ndarray  # the view row where each part begins, then the height

    def _select(self, j: int, frame: pl.DataFrame) -> pl.DataFrame:
        return frame

    def _count_of(self, j: int) -> int:
        raise NotImplementedError

    @property
    def height(self) -> int:
        return int(self._starts[-1]) if len(self._starts) else 0

    @property
    def schema(self) -> pl.Schema:
        return self.seg.catalog.schema

    def _part_of(self, row: int) -> int:
        return int(np.searchsorted(self._starts, row, side="right")) - 1

    def rows(self, start: int, stop: int) -> pl.DataFrame:
        start, stop = max(0, start), min(stop, self.height)
        if stop <= start:
            return pl.DataFrame(schema=self.schema)
        out = []
        p = self._part_of(start)
        while p < len(self.parts) and int(self._starts[p]) < stop:
            j = self.parts[p]
            frame = self._select(j, self.seg.segment(j))
            lo = max(0, start - int(self._starts[p]))
            hi = min(frame.height, stop - int(self._starts[p]))
            if hi > lo:
                out.append(frame.slice(lo, hi - lo))
            p += 1
        return pl.concat(out) if len(out) > 1 else out[0] if out else pl.DataFrame(schema=self.schema)

    def find(self, expr: pl.Expr, start: int, *, backward: bool = False,
             stop: int | None = None) -> int | None:
        height = self.height
        if not height:
            return None
        expr = expr.fill_null(False)
        cols = _needed(expr, self.schema)
        if backward:
            floor = max(-1, -1 if stop is None else stop)
            p = self._part_of(min(start, height - 1))
            while p >= 0 and int(self._starts[p + 1]) - 1 > floor:
                j = self.parts[p]
                frame = self._select(j, self.seg.segment(j, cols))
                base = int(self._starts[p])
                hi = min(frame.height, min(start, height - 1) - base + 1)
                lo = max(0, floor + 1 - base)
                if hi > lo:
                    hit = frame.slice(lo, hi - lo).select(expr.arg_true().last()).item()
                    if hit is not None:
                        return base + lo + int(hit)
                p -= 1
            return None
        ceiling = height if stop is None else min(stop, height)
        p = self._part_of(max(0, start))
        while p < len(self.parts) and int(self._starts[p]) < ceiling:
            j = self.parts[p]
            frame = self._select(j, self.seg.segment(j, cols))
            base = int(self._starts[p])
            lo = max(0, start - base)
            hi = min(frame.height, ceiling - base)
            if hi > lo:
                hit = frame.slice(lo, hi - lo).select(expr.arg_true().first()).item()
                if hit is not None:
                    return base + lo + int(hit)
            p += 1
        return None

    def tail_sample(self, limit: int, columns: Sequence[str]) -> pl.DataFrame:
        # A sparse filter's newest 50,000 rows may lie in every segment: read at most a few.
        out: list[pl.DataFrame] = []
        got = 0
        for p in range(len(self.parts) - 1, max(-1, len(self.parts) - 1 - SAMPLE_SEGMENTS), -1):
            j = self.parts[p]
            frame = self._select(j, self.seg.segment(j, columns)).select(columns)
            out.append(frame.tail(limit - got))
            got += out[-1].height
            if got >= limit:
                break
        out.reverse()
        if not out:
            return pl.DataFrame(schema={c: self.schema[c] for c in columns})
        return pl.concat(out) if len(out) > 1 else out[0]

    def count(self, expr: pl.Expr) -> int:
        expr = expr.fill_null(False)
        cols = _needed(expr, self.schema)
        total = 0
        for j in self.parts:
            total += int(self._select(j, self.seg.segment(j, cols, keep=False)).select(expr.sum()).item())
        return total

    def _times(self, p: int) -> np.ndarray:
        j = self.parts[p]
        return self._select(j, self.seg.segment(j, ["ts"])).get_column("ts").dt.epoch("ns").to_numpy()

    def _parts_at(self, ts_ns: int) -> int:
        """The first part whose segment may hold ``ts_ns`` (or later events)."""
        j = self.seg.segment_of_time(ts_ns)
        return max(0, int(np.searchsorted(np.asarray(self.parts), j, side="left")) - 0)

    def row_at_time(self, ts_ns: int) -> int:
        if not self.height:
            return 0
        row = self._first_at_or_after(ts_ns, side="left")
        return min(row, self.height - 1)

    def _first_at_or_after(self, ts_ns: int, *, side: str) -> int:
        p = self._parts_at(ts_ns)
        while p < len(self.parts):
            times = self._times(p)
            pos = int(np.searchsorted(times, ts_ns, side=side))  # type: ignore[call-overload]
            if pos < len(times):
                return int(self._starts[p]) + pos
            p += 1
        return self.height

    def _first_after(self, ts_ns: int) -> int:
        return self._first_at_or_after(ts_ns, side="right")

    def row_of(self, event: EventId) -> int | None:
        ts_ns, seq, pid = event
        row = self._first_at_or_after(ts_ns, side="left")
        while row < self.height:
            chunk = self.rows(row, row + 256).select(event_id_expr().struct.unnest())
            for n, (t, s, p) in enumerate(chunk.iter_rows()):
                if t != ts_ns:
                    return None
                if s == seq and p == pid:
                    return row + n
            row += chunk.height
        return None

    def locate(self, ts_ns: int, seq: int, pid: int) -> int:
        if not self.height:
            return 0
        row = self.row_of((ts_ns, seq, pid))
        if row is not None:
            return row
        return min(self._first_at_or_after(ts_ns, side="left"), self.height - 1)


class ChunkedEventView(_PagedView):
    """Every event of a catalog, paged in from its chunks (see the module docstring)."""

    def __init__(self, catalog: Catalog, segments: Segments | None = None) -> None:
        self.seg = segments if segments is not None else Segments(catalog)
        self.parts = list(range(len(self.seg)))
        self._starts_cache: np.ndarray | None = None
        self._starts_gen = -1

    def __repr__(self) -> str:
        return f"ChunkedEventView({self.height:,} events in {len(self.seg)} segments)"

    @property
    def catalog(self) -> Catalog:
        return self.seg.catalog

    @property
    def height(self) -> int:
        return self.seg.total

    def _known_starts(self) -> np.ndarray | None:
        """The row offsets of every segment if computed since the last file found bad."""
        self.seg.sync()
        if self._starts_cache is not None and self._starts_gen != self.seg.generation:
            self._starts_cache = None
        return self._starts_cache

    @property
    def _starts(self) -> np.ndarray:  # type: ignore[override]
        if self._known_starts() is None:  # every segment's size: the whole index, once
            gen = self.seg.generation
            sizes = np.array([self.seg.size(j) for j in range(len(self.seg))], dtype=np.int64)
            self._starts_cache = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            self._starts_gen = gen
            if self.seg.generation != gen:  # a file found bad while sizing: size again
                return self._starts
        assert self._starts_cache is not None
        return self._starts_cache

    def _part_of(self, row: int) -> int:
        if self._known_starts() is None:  # rows near the end need only the newest segments' sizes
            return self.seg.segment_of_row(row)
        return super()._part_of(row)

    def rows(self, start: int, stop: int) -> pl.DataFrame:
        start, stop = max(0, start), min(stop, self.height)
        if stop <= start:
            return pl.DataFrame(schema=self.schema)
        if self._known_starts() is None and (self.seg.sizes < 0).any():
            out = []
            j = self.seg.segment_of_row(start)
            while j < len(self.seg):
                base = self.seg.offset(j)
                if base >= stop:
                    break
                frame = self.seg.segment(j)
                lo, hi = max(0, start - base), min(frame.height, stop - base)
                if hi > lo:
                    out.append(frame.slice(lo, hi - lo))
                j += 1
            return pl.concat(out) if len(out) > 1 else out[0] if out else pl.DataFrame(schema=self.schema)
        return super().rows(start, stop)

    def lazy(self) -> pl.LazyFrame:
        return self.catalog.lazy()

    def events(self) -> Any:
        from ttview.scan import EventSource

        return EventSource(self.catalog.lazy(ordered=False), self.catalog)

    def time_bounds(self) -> tuple[int, int] | None:
        first, last = self.catalog.first_ts, self.catalog.last_ts
        return (first, last) if first is not None and last is not None else None

    def where(self, flt: Filter | None, *, progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> EventView:
        if flt is None or flt.keeps_all or not self.height:
            return self
        bound = flt.bind(self.schema, time_bounds=self.time_bounds())
        expr = bound.expr.fill_null(False)
        cols = _needed(expr, self.schema)
        hints = bound.hints()
        from ttview.scan import ahead, skips

        seg, files = self.seg, self.catalog.files
        seg.sync()
        gen = seg.generation  # a file found bad after this makes the result stale (see its ``stale``)
        n = len(seg)
        skipped = [all(skips(hints, files[seg.chunks[m].k], seg.chunks[m].i) for m in seg.members[j])
                   for j in range(n)]
        # Chunks are filtered on the decode pool, ahead of the segments that need them: newest
        # first (by the last segment each one reaches), only those in a segment not skipped.
        jobs = sorted((m for m, c in enumerate(seg.chunks) if not all(skipped[c.first : c.last + 1])),
                      key=lambda m: -seg.chunks[m].last)
        wanted = list(dict.fromkeys(["ts", *cols]))

        def test(m: int) -> tuple[int, np.ndarray, np.ndarray]:
            c = seg.chunks[m]
            skip = skips(hints, files[c.k], c.i)  # its rows still take their places in the merge
            frame = self.catalog.chunk_frame(c.k, c.i, ["ts"] if skip else wanted)
            if frame is None:
                return m, np.zeros(0, np.int64), np.zeros(0, bool)
            ts = frame.get_column("ts").dt.epoch("ns").to_numpy()
            mask = np.zeros(len(ts), bool) if skip else frame.select(expr).to_series().to_numpy()
            if c.bounds is None:
                c.bounds = np.concatenate([[0], np.searchsorted(ts, seg.cuts[c.first + 1 : c.last + 1]),
                                           [len(ts)]]).astype(np.int64)
            return m, ts, mask

        tested: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        results = ahead(jobs, test, depth=4)
        matches: dict[int, np.ndarray | None] = {}
        done = 0
        found = shown = False
        posted = time.monotonic()
        with self.catalog.scanning(), contextlib.closing(results):
            for j in range(n - 1, -1, -1):  # newest first: the first screen's matches come first
                if cancelled is not None and cancelled():
                    break
                if skipped[j]:
                    matches[j] = np.zeros(0, dtype=np.uint32)
                else:
                    while any(m not in tested for m in seg.members[j]):
                        m, ts, mask = next(results)
                        tested[m] = ts, mask
                    times, keep = [], []
                    for m in seg.members[j]:  # the segment's merge: file order, stable by time
                        c = seg.chunks[m]
                        if self.catalog.gone(c.k, c.i):  # as the segment's rows leave it out
                            continue
                        b = c.bounds if c.bounds is not None else np.zeros(c.last - c.first + 2, np.int64)
                        lo, hi = int(b[j - c.first]), int(b[j - c.first + 1])
                        times.append(tested[m][0][lo:hi])
                        keep.append(tested[m][1][lo:hi])
                    mask = np.concatenate(keep) if len(keep) > 1 else keep[0] if keep else np.zeros(0, bool)
                    if len(times) > 1:
                        mask = mask[np.argsort(np.concatenate(times), kind="stable")]
                    hits = np.flatnonzero(mask)
                    matches[j] = None if len(hits) == len(mask) else hits.astype(np.uint32)
                for m in [m for m in tested if seg.chunks[m].first >= j]:  # no older segment needs it
                    del tested[m]
                done += 1
                # the first matches at once, then a few updates a second (each one is drawn)
                found = found or matches[j] is None or len(matches[j]) > 0  # type: ignore[arg-type]
                now = time.monotonic()
                due = j == 0 or (found and not shown) or now - posted >= PROGRESS_EVERY
                if progress is not None and due:
                    so_far = FilteredChunkView(seg, dict(matches), bound, complete=j == 0, generation=gen)
                    progress(so_far, done, n)
                    posted, shown = now, found
        return FilteredChunkView(self.seg, matches, bound, complete=len(matches) == n, generation=gen)


class FilteredChunkView(_PagedView):
    """The events of a :class:`ChunkedEventView` a filter keeps: per segment, which rows."""

    def __init__(self, segments: Segments, matches: dict[int, np.ndarray | None], flt: Filter, *,
                 complete: bool, generation: int | None = None) -> None:
        self.seg = segments
        self.matches = matches
        self.filter = flt
        self.complete = complete
        self.generation = segments.generation if generation is None else generation
        self.parts = sorted(j for j in matches if self._count_of(j))
        counts = [self._count_of(j) for j in self.parts]
        self._starts = (np.concatenate([[0], np.cumsum(counts)]).astype(np.int64) if counts
                        else np.zeros(1, np.int64))

    def __repr__(self) -> str:
        return f"FilteredChunkView({self.height:,} events{'' if self.complete else ', so far'})"

    def _count_of(self, j: int) -> int:
        hits = self.matches.get(j, np.zeros(0))
        return self.seg.size(j) if hits is None else len(hits)

    @property
    def stale(self) -> bool:
        """A file was found bad since the filter ran: its matches may name rows no longer there
        (they are clipped to the segment; run the filter again for the exact result)."""
        return self.seg.catalog.breaks != self.generation

    def _select(self, j: int, frame: pl.DataFrame) -> pl.DataFrame:
        hits = self.matches.get(j)
        if hits is None:
            return frame
        return frame[hits[hits < frame.height] if self.stale else hits]

    def lazy(self) -> pl.LazyFrame:
        catalog = self.seg.catalog
        return catalog.lazy(hints=self.filter.hints()).filter(self.filter.expr)

    def events(self) -> Any:
        from ttview.scan import EventSource

        catalog = self.seg.catalog
        hints = self.filter.hints()
        return EventSource(catalog.lazy(hints=hints, ordered=False).filter(self.filter.expr), catalog, hints,
                           self.filter.expr)

    def where(self, flt: Filter | None) -> EventView:
        if flt is None or flt.keeps_all:
            return self
        both = f"({self.filter.text}) and ({flt.text})"
        from ttview.query import compile_filter

        return ChunkedEventView(self.seg.catalog, self.seg).where(compile_filter(both, self.schema))


