"""Snapshot files as one lazy polars source: what every command and the viewer read events through.

    catalog = open_catalog(["snaps/"])            # headers only: totals, times, one schema
    lazy = catalog.lazy(hints=flt.hints())        # a polars LazyFrame over every event
    lazy.filter(flt.expr).group_by("logger").len().collect(engine="streaming")

A :class:`Catalog` opens the files (checking each header; a bad file is reported, one line, and
left out), settles one schema for all of them (:class:`ttview.schema.FieldLayout`), and gives a
``LazyFrame`` (``polars.io.plugins.register_io_source``) whose source decodes chunks on demand:
only the columns the query uses, only the chunks the filter's hints cannot rule out (by the
index: time range, levels, loggers), and filtered by the pushed-down predicate before they are
handed to polars. Polars' streaming engine does the rest (filter, group-by, aggregation, sinks).

Order: ``ordered=True`` (the default) yields the events of all files merged by ``ts``, ties kept
in file order (files as :func:`resolve_paths` lists them, then their own order): exactly the
order of loading every file and stable-sorting by ``ts``. The merge holds one chunk or two of
each file whose time range is under way, never a whole file. ``ordered=False`` yields chunks as
they are decoded (both cores), for aggregations.

Invariants: headless (no textual, rich or typer); memory is bounded by a few chunks per file in
flight, never by the number of events; a chunk that turns out bad mid-scan is reported (one
line naming the file, in ``Catalog.errors``) and the rest of that file is left out, the other
files go on.
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from polars.io.plugins import register_io_source
from ttlog.store import SUFFIX, SnapshotError, list_snapshots, snapshot_sort_key

from ttview.decode import SnapshotFile, chunk_frame
from ttview.query import ChunkBounds
from ttview.schema import FieldLayout

__all__ = ["Catalog", "EventSource", "FileError", "open_catalog", "resolve_paths", "skips"]

_GLOB_CHARS = frozenset("*?[")


@dataclass
class FileError:
    """A path that could not be read, or a file cut short by a bad chunk, and why (one line)."""

    path: Path
    message: str

    def __str__(self) -> str:
        return self.message


def resolve_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
                  ) -> tuple[list[Path], list[FileError]]:
    """Files named by ``paths``: files as given, directories' ``*.ttsnap`` and glob matches
    oldest first (newest last). Paths that name nothing become errors. No duplicates."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    errors: list[FileError] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = list_snapshots(p)
            if not files:
                errors.append(FileError(p, f"{p}: no *{SUFFIX} files in this directory"))
            found.extend(files)
        elif p.exists():
            found.append(p)
        elif _GLOB_CHARS & set(str(raw)):
            matches = [Path(m) for m in glob.glob(str(raw)) if Path(m).is_file()]
            if not matches:
                errors.append(FileError(p, f"{p}: no file matches"))
            found.extend(sorted(matches, key=snapshot_sort_key))
        else:
            errors.append(FileError(p, f"{p}: no such file or directory"))
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, errors


def skips(hints: ChunkBounds, snap: SnapshotFile, i: int) -> bool:
    """Whether chunk ``i`` of ``snap`` holds no event the filter ``hints`` come from can keep,
    by its index entry (time range, levels, loggers)."""
    stat = snap.info.chunks[i]
    if not stat.n:
        return True
    if hints.ts_min is not None and stat.ts_max < hints.ts_min:
        return True
    if hints.ts_max is not None and stat.ts_min > hints.ts_max:
        return True
    if hints.levels is not None and not (stat.levels & hints.levels):
        return True
    if hints.loggers is not None and stat.loggers is not None:
        names = snap.strings
        if not any(names[sid] in hints.loggers for sid in stat.loggers if sid < len(names)):
            return True
    return False


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)),
                                       thread_name_prefix="ttview-decode")
        return _POOL


@dataclass
class Catalog:
    """Snapshot files read together: their checked headers, one field layout, and the errors.

    ``files`` are the readable ones, in the order of :func:`resolve_paths`; ``errors`` has one
    line per path that could not be read, and grows when a scan meets a bad chunk.
    """

    files: list[SnapshotFile]
    layout: FieldLayout
    errors: list[FileError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _file_locks: dict[int, threading.Lock] = field(default_factory=dict, repr=False)
    _broken: dict[int, int] = field(default_factory=dict, repr=False)  # file -> first bad chunk
    _error_of: dict[int, int] = field(default_factory=dict, repr=False)  # file -> its line in errors
    breaks: int = field(default=0, repr=False)
    """How many times a file was found bad from some chunk on (views built on the files' index
    compare it to know their sizes changed)."""
    _scans: int = field(default=0, repr=False)  # scans running (see :meth:`scanning`)

    @property
    def schema(self) -> pl.Schema:
        return self.layout.schema

    @contextlib.contextmanager
    def scanning(self) -> Iterator[None]:
        """Held while a scan someone waits for (a filter, an aggregation) runs, so that background
        work of lower priority (:meth:`ttview.chunkview.Segments.index_all`) can give way."""
        with self._lock:
            self._scans += 1
        try:
            yield
        finally:
            with self._lock:
                self._scans -= 1

    @property
    def busy(self) -> bool:
        """Whether a scan is running (:meth:`scanning`)."""
        return self._scans > 0

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]

    @property
    def total(self) -> int:
        """Events in every readable file (from their headers: exact, without decoding)."""
        return sum(f.info.count for f in self.files)

    @property
    def first_ts(self) -> int | None:
        firsts = [f.info.first_ts for f in self.files if f.info.first_ts is not None]
        return min(firsts) if firsts else None

    @property
    def last_ts(self) -> int | None:
        lasts = [f.info.last_ts for f in self.files if f.info.last_ts is not None]
        return max(lasts) if lasts else None

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Every file's source records (one per ring), each with the file's path under ``file``."""
        return [{**s, "file": str(f.path)} for f in self.files for s in f.info.sources]

    @property
    def dropped(self) -> int:
        """Records the producers dropped (ring full), as the files count them."""
        return sum(f.info.dropped for f in self.files)

    @property
    def lost(self) -> int:
        """Records overwritten in a ring before they were read (flight-recorder mode)."""
        return sum(f.info.lost for f in self.files)

    def close(self) -> None:
        for f in self.files:
            f.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunks --
    def plan(self, hints: ChunkBounds | None = None) -> list[tuple[int, list[int]]]:
        """(file number, its chunks the hints cannot rule out) for every file."""
        hints = hints or ChunkBounds()
        return [(k, [i for i in range(len(snap.info.chunks)) if not skips(hints, snap, i)])
                for k, snap in enumerate(self.files)]

    def chunk_frame(self, k: int, i: int, columns: Iterable[str] | None = None) -> pl.DataFrame | None:
        """Chunk ``i`` of file ``k`` as an event frame (``columns`` only, if given), or None when
        that file turned out bad at or before chunk ``i`` (reported in :attr:`errors`)."""
        with self._lock:
            bad = self._broken.get(k)
        if bad is not None and i >= bad:
            return None
        snap = self.files[k]
        with self._lock:
            lock = self._file_locks.setdefault(k, threading.Lock())
        try:
            with lock:  # one reader of a file at a time (a file read front to back keeps a cursor)
                chunk = snap.chunk(i)
            return chunk_frame(snap, chunk, i, self.layout, columns)
        except SnapshotError as exc:
            self._report(k, i, str(exc))
            return None

    def _report(self, k: int, i: int, message: str) -> None:
        """File ``k`` is bad from chunk ``i`` on. Chunks decode in parallel, so an earlier bad chunk
        may be found after a later one: the file's one line always names the earliest."""
        snap = self.files[k]
        with self._lock:
            if k in self._broken and self._broken[k] <= i:
                return
            self._broken[k] = i
            self.breaks += 1
            kept = sum(c.n for c in snap.info.chunks[:i])
            error = FileError(snap.path, f"{message} (kept its first {kept:,} of {snap.info.count:,} events)")
            if k in self._error_of:
                self.errors[self._error_of[k]] = error
            else:
                self._error_of[k] = len(self.errors)
                self.errors.append(error)

    # -- the lazy source --
    def lazy(self, *, hints: ChunkBounds | None = None, ordered: bool = True) -> pl.LazyFrame:
        """Every event as a polars LazyFrame (see the module docstring)."""
        schema = self.schema
        plan = self.plan(hints)

        def io_source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                      batch_size: int | None) -> Iterator[pl.DataFrame]:
            need = list(schema) if with_columns is None else list(with_columns)
            if predicate is not None:
                need += [c for c in predicate.meta.root_names() if c in schema and c not in need]
            if not need:
                need = ["level"]
            frames = self._merged(plan, need) if ordered else self._unordered(plan, need)
            left = n_rows
            for frame in frames:
                if predicate is not None:
                    frame = frame.filter(predicate)
                if with_columns is not None:  # (no columns at all: keep the height, for counts)
                    frame = frame.select(with_columns) if with_columns else frame.drop(frame.columns)
                if left is not None:
                    frame = frame.head(left)
                    left -= frame.height
                if frame.height:
                    yield frame
                if left is not None and left <= 0:
                    return

        return register_io_source(io_source, schema=schema, explain_name="ttview snapshots",
                                  explain_detail=f"{len(self.files)} files, {self.total:,} events")

    def frames(self, *, hints: ChunkBounds | None = None, ordered: bool = True,
               predicate: pl.Expr | None = None,
               columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
        """Every event, batch by batch, as :meth:`lazy` gives them, filtered by ``predicate``
        (only ``columns``, if given): the batches come as they are asked for (a few chunks decoded
        ahead), for a consumer slower than decoding, which must not let batches pile up."""
        plan = self.plan(hints)
        need = list(self.schema) if columns is None else [c for c in self.schema if c in set(columns)]
        if predicate is not None:
            need += [c for c in predicate.meta.root_names() if c in self.schema and c not in need]
        if not need:
            need = ["level"]
        with self.scanning():
            for frame in (self._merged(plan, need) if ordered else self._unordered(plan, need)):
                if predicate is not None:
                    frame = frame.filter(predicate)
                if columns is not None:
                    frame = (frame.select([c for c in need if c in set(columns)]) if columns
                             else frame.drop(frame.columns))
                if frame.height:
                    yield frame

    def read_span(self, hints: ChunkBounds | None = None) -> tuple[int, int] | None:
        """The first and last event time of what a scan with ``hints`` gave, from the chunk index
        (checked against each chunk read): every planned non-empty chunk before its file's first
        bad one. Ask it after the scan: a bad chunk found by the scan moves it. None: no event."""
        lo = hi = None
        for k, chunks in self.plan(hints):
            with self._lock:
                bad = self._broken.get(k)
            for i in chunks:
                stat = self.files[k].info.chunks[i]
                if (bad is not None and i >= bad) or not stat.n:
                    continue
                lo = stat.ts_min if lo is None else min(lo, stat.ts_min)
                hi = stat.ts_max if hi is None else max(hi, stat.ts_max)
        return None if lo is None else (lo, hi)

    def gone(self, k: int, i: int) -> bool:
        """Whether chunk ``i`` of file ``k`` is at or after a chunk found bad (so left out)."""
        with self._lock:
            bad = self._broken.get(k)
        return bad is not None and i >= bad

    def _decoded(self, jobs: list[tuple[int, int]], columns: list[str], depth: int) -> Iterator[pl.DataFrame]:
        """The chunks ``(file, chunk)`` decoded on the pool, ``depth`` ahead, in job order; a chunk
        of a file found bad at or before it is left out (even if it decoded)."""
        pairs = ahead(jobs, lambda job: (job, self.chunk_frame(job[0], job[1], columns)), depth=depth)
        for (k, i), frame in pairs:
            if frame is not None and not self.gone(k, i):
                yield frame

    def _unordered(self, plan: list[tuple[int, list[int]]], need: list[str]) -> Iterator[pl.DataFrame]:
        """Every planned chunk, decoded on the pool, a few ahead, in plan order."""
        yield from self._decoded([(k, i) for k, chunks in plan for i in chunks], need, depth=4)

    def _merged(self, plan: list[tuple[int, list[int]]], need: list[str]) -> Iterator[pl.DataFrame]:
        """The planned chunks merged by ``ts`` across files (ties: file order, then row order).

        Each step cuts at the smallest time some file could still bring (the last time of a file's
        decoded rows, or the first time of a file not yet started) and hands out every decoded row
        before it, merged; the file that set the cut then decodes its next chunk.
        """
        cols = need if "ts" in need else [*need, "ts"]
        live = [(k, list(chunks)) for k, chunks in plan if chunks]
        if len(live) == 1:
            k, chunks = live[0]
            for frame in self._decoded([(k, i) for i in chunks], cols, depth=3):
                yield frame.select(need)
            return
        pending: dict[int, list[int]] = {k: chunks for k, chunks in live}
        buffers: dict[int, pl.DataFrame] = {}
        futures: dict[int, tuple[int, Future[pl.DataFrame | None]]] = {}  # file -> (chunk, decoding)
        pool = _pool()

        def prefetch(k: int) -> None:
            if k not in futures and pending[k]:
                i = pending[k].pop(0)
                futures[k] = (i, pool.submit(self.chunk_frame, k, i, cols))

        def take(k: int) -> None:
            """Add file k's next chunk to its buffer (the file's rest is dropped if it is bad), and
            start decoding the one after it: only files under way are read ahead."""
            prefetch(k)
            if k not in futures:
                return
            i, fut = futures.pop(k)
            frame = fut.result()
            if frame is None or self.gone(k, i):
                pending[k] = []
            elif frame.height:
                buffers[k] = pl.concat([buffers[k], frame], rechunk=True) if k in buffers else frame
            prefetch(k)

        def first_ts(k: int) -> int | None:
            """The first time file k can still bring, by the index (None: nothing left)."""
            if k in futures:
                return self.files[k].info.chunks[futures[k][0]].ts_min
            if pending[k]:
                return self.files[k].info.chunks[pending[k][0]].ts_min
            return None

        order = [k for k, _ in live]
        try:
            while True:
                # a file's bound: the last time of its decoded rows while more chunks follow (its
                # later rows come at or after it); a file with nothing decoded: its next chunk's first
                # time; a file with nothing left to read holds no bound (all its rows are in hand)
                bounds: dict[int, int] = {}
                for k in order:
                    nxt = first_ts(k)
                    if nxt is None:
                        continue
                    bounds[k] = _last_ts(buffers[k]) if k in buffers else nxt
                cut = min(bounds.values()) if bounds else _NEVER
                parts = []
                for k in order:
                    buf = buffers.get(k)
                    if buf is None:
                        continue
                    n = buf.height if cut == _NEVER else _rows_before(buf, cut)
                    if not n:
                        continue
                    parts.append(buf.slice(0, n))
                    if n == buf.height:
                        del buffers[k]
                    else:
                        buffers[k] = buf.slice(n)
                if parts:
                    merged = pl.concat(parts) if len(parts) > 1 else parts[0]
                    if len(parts) > 1:
                        merged = merged.sort("ts", maintain_order=True)
                    yield merged.select(need)
                if cut == _NEVER:
                    return
                for k in [k for k, b in bounds.items() if b == cut]:
                    take(k)
        finally:
            for _, fut in futures.values():
                fut.cancel()


_NEVER = 1 << 63


def _last_ts(frame: pl.DataFrame) -> int:
    return int(frame.get_column("ts").dt.epoch("ns")[-1])


def _rows_before(frame: pl.DataFrame, cut: int) -> int:
    ts = frame.get_column("ts").dt.epoch("ns").to_numpy()
    return int(np.searchsorted(ts, cut, side="left"))


def ahead(jobs: Sequence[Any], work: Callable[[Any], Any], *, depth: int) -> Iterator[Any]:
    """``work(job)`` for every job, computed on the pool ``depth`` jobs ahead, in job order."""
    pool = _pool()
    queue: list[Future[pl.DataFrame | None]] = []
    it = iter(jobs)
    try:
        for job in it:
            queue.append(pool.submit(work, job))
            if len(queue) >= depth:
                break
        while queue:
            result = queue.pop(0).result()
            for job in it:
                queue.append(pool.submit(work, job))
                break
            yield result
    finally:
        for fut in queue:
            fut.cancel()


BATCH_ROWS = 1 << 18
"""Events an :class:`EventSource` batch gathers (from as many chunks as that takes)."""


@dataclass
class EventSource:
    """Events to aggregate in one or more passes: a lazy frame, and, for snapshots, the catalog
    its batches can be read from directly (as they are asked for, so a slow consumer never lets
    decoded batches pile up the way a polars batch stream can)."""

    lazy: pl.LazyFrame
    catalog: Catalog | None = None
    hints: ChunkBounds | None = None
    predicate: pl.Expr | None = None
    frame: pl.DataFrame | None = None  # events already in memory (``lazy`` is over it): one batch

    def time_span(self) -> tuple[int, int] | None | bool:
        """After :meth:`batches`: the first and last event time (None: no event) when the index
        gives it exactly (snapshots, no filter), so ``ts`` need not be decoded; False otherwise."""
        if self.catalog is None or self.predicate is not None:
            return False
        return self.catalog.read_span(self.hints)

    def batches(self, exprs: Sequence[pl.Expr]) -> Iterator[pl.DataFrame]:
        """Batches of ``exprs`` over the events (each expression named)."""
        if self.frame is not None:
            yield self.frame.select(exprs)
            return
        if self.catalog is None:
            yield from self.lazy.select(exprs).collect_batches(maintain_order=True)
            return
        columns: list[str] = []
        for expr in exprs:
            columns += [c for c in expr.meta.root_names() if c not in columns]
        held: list[pl.DataFrame] = []
        rows = 0
        for frame in self.catalog.frames(hints=self.hints, ordered=False, predicate=self.predicate,
                                         columns=columns):
            held.append(frame)  # a few chunks a batch: fewer, larger steps for the consumer
            rows += frame.height
            if rows >= BATCH_ROWS:
                yield pl.concat(held).select(exprs)
                held, rows = [], 0
        if held:
            yield pl.concat(held).select(exprs)


def open_catalog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> Catalog:
    """Open the snapshot files named by ``paths`` (files, directories, globs) and settle their
    schema. Paths that name nothing and files that cannot be read are in ``errors`` (one line
    each); the rest are in ``files``."""
    found, errors = resolve_paths(paths)
    files: list[SnapshotFile] = []
    pairs: list[tuple[str, str]] = []
    for path in found:
        try:
            snap = SnapshotFile(path)
            pairs.extend(snap.field_kinds())
        except SnapshotError as exc:
            errors.append(FileError(path, str(exc)))
            continue
        files.append(snap)
    return Catalog(files=files, layout=FieldLayout.from_kinds(pairs), errors=errors)


