"""Sources: snapshot files and live rings, as polars DataFrames.

Every source yields the same frame (``ttview.schema``): the core columns ``ts``, ``seq``,
``level``, ``logger``, ``message``, ``service``, ``pid``, ``tid``; then ``cut``
(:data:`CUT_COLUMN`, a list of the columns whose value was cut at the ring's ``max_str``:
``"message"``, a field's column name, or ``"*"`` when fields past the 255th were not stored;
null when nothing was cut); then one column per field key, named and typed by
:class:`ttview.schema.FieldLayout` (one kind: its dtype; several kinds: a Struct with one field
per kind, so every value keeps its type), null where an event lacks the field.

Snapshot files are read through :mod:`ttview.scan` (a lazy source; :func:`load_snapshots`
collects it for callers that want every event in memory); live rings through
:class:`LiveSource`.

Invariants: headless (imports no textual, rich or typer); columns are built with numpy and polars
gathers, never a Python loop per event; a bad snapshot among several is reported as one line
naming it and the others still load; a live ring that vanishes or ends is drained, then marked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from ttlog.codec import SnapshotWriter
from ttlog.events import Columns, FieldData
from ttlog.reader import Batch, RingInfo, RingReader, list_rings
from ttlog.ring import RingError
from ttlog.store import SnapshotError

from ttview.decode import SnapshotInfo
from ttview.scan import Catalog, FileError, open_catalog, resolve_paths
from ttview.schema import (
    CORE_COLUMNS,
    CUT_COLUMN,
    CUT_DTYPE,
    FIELDS_CUT_MARK,
    FieldLayout,
    conform,
    unify_dtypes,
)

__all__ = [
    "CUT_COLUMN",
    "CUT_DTYPE",
    "FIELDS_CUT_MARK",
    "FileError",
    "LiveSource",
    "LoadResult",
    "RingState",
    "batches_to_frame",
    "columns_to_frame",
    "concat_frames",
    "empty_events_frame",
    "load_snapshots",
    "resolve_paths",
]


def empty_events_frame() -> pl.DataFrame:
    """A zero-row frame with the core columns and ``cut``."""
    return pl.DataFrame(schema=CORE_COLUMNS)


# ---- Columns -> DataFrame (the live tail) ---------------------------------------------------------


def _masked(values: Any, rows: Any, n: int) -> pl.Series:
    """A length-``n`` Series with ``values`` at ``rows`` and nulls elsewhere (numpy masked array)."""
    if rows is None:
        return pl.Series(values)
    full = np.zeros(n, dtype=values.dtype)
    full[rows] = values
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return pl.Series(np.ma.masked_array(full, mask))


def _spread(base: pl.Series, idx: Any, rows: Any, n: int) -> pl.Series:
    """``base.gather(idx)`` placed at ``rows`` of a length-``n`` Series, null elsewhere."""
    if rows is None:
        return base.gather(idx) if idx is not None else base
    if idx is None:
        idx = np.arange(len(rows), dtype=np.uint32)
    return base.gather(_masked(idx.astype(np.uint32, copy=False), rows, n))


def _field_series(kind: str, fd: FieldData, n: int, strings: pl.Series) -> pl.Series:
    if kind == "none":
        return pl.repeat(None, n, dtype=pl.Null, eager=True)
    rows = fd.rows
    if kind in ("int", "float", "bool"):
        return _masked(fd.values.astype(bool) if kind == "bool" else fd.values, rows, n)
    if kind in ("str", "obj"):
        if fd.sids:
            return _spread(strings, fd.values, rows, n)
        return _spread(pl.Series(fd.values.tolist(), dtype=pl.String), None, rows, n)
    return _spread(pl.Series(fd.values.tolist(), dtype=pl.Binary), None, rows, n)


def _cut_series(cols: Columns, n: int, layout: FieldLayout) -> pl.Series:
    marks: dict[int, list[str]] = {}
    for row in cols.message_cut.tolist():
        marks.setdefault(row, []).append("message")
    for (key, _kind), fd in cols.fields.items():
        column = layout.column_of(key) or key
        for row in fd.cut.tolist():
            lst = marks.setdefault(row, [])
            if column not in lst:
                lst.append(column)
    for row in cols.fields_cut.tolist():
        marks.setdefault(row, []).append(FIELDS_CUT_MARK)
    if not marks:
        return pl.repeat(None, n, dtype=CUT_DTYPE, eager=True).alias(CUT_COLUMN)
    rows = np.array(sorted(marks), dtype=np.int64)
    base = pl.Series([marks[r] for r in rows.tolist()], dtype=CUT_DTYPE)
    return _spread(base, None, rows, n).alias(CUT_COLUMN)


def columns_to_frame(cols: Columns, layout: FieldLayout | None = None) -> pl.DataFrame:
    """The event DataFrame of decoded columns (``ttlog.events.Columns``); vectorised. ``layout``
    names and types the field columns (default: from the columns' own keys and kinds)."""
    n = cols.n
    if layout is None:
        layout = FieldLayout.from_kinds(cols.fields)
    strings = pl.Series(cols.strings, dtype=pl.String)
    sources = cols.sources or [{}]
    services = pl.Series([str(s.get("service", "")) for s in sources], dtype=pl.String)
    pids = np.array([int(s.get("pid", 0)) for s in sources], dtype=np.int64)
    out: dict[str, pl.Series] = {
        "ts": pl.Series(cols.ts.astype(np.int64, copy=False).view("datetime64[ns]")).dt.replace_time_zone(
            "UTC"),
        "seq": pl.Series(cols.seq.astype(np.int64, copy=False)),
        "level": pl.Series(cols.level.astype(np.uint8, copy=False)),
        "logger": strings.gather(cols.logger),
        "message": strings.gather(cols.message),
        "service": services.gather(cols.source),
        "pid": pl.Series(pids[cols.source]),
        "tid": pl.Series(cols.tid.astype(np.int64)),
        CUT_COLUMN: _cut_series(cols, n, layout),
    }
    by_column: dict[str, list[tuple[str, pl.Series]]] = {}
    for (key, kind), fd in cols.fields.items():
        column = layout.column_of(key)
        assert column is not None
        by_column.setdefault(column, []).append((kind, _field_series(kind, fd, n, strings)))
    for column, parts in by_column.items():
        out[column] = layout.combine(column, parts, n)
    schema = layout.schema
    return pl.DataFrame([
        (out[name] if name in out else pl.repeat(None, n, dtype=schema[name], eager=True)).alias(name)
        for name in schema
    ])


def concat_frames(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Stack event frames whose field columns differ: missing columns are null, and a column whose
    dtypes disagree becomes the union of their kinds (:func:`ttview.schema.unify_dtypes`)."""
    frames = [f for f in frames if f.width]
    if not frames:
        return empty_events_frame()
    if len(frames) == 1:
        return frames[0]
    dtypes: dict[str, list[pl.DataType]] = {}
    for f in frames:
        for name, dtype in f.schema.items():
            dtypes.setdefault(name, []).append(dtype)
    target = {name: unify_dtypes(ds) for name, ds in dtypes.items()}
    cast = []
    for f in frames:
        changes = {name: conform(f.get_column(name), target[name]) for name, dtype in f.schema.items()
                   if dtype != target[name]}
        cast.append(f.with_columns(**changes) if changes else f)
    return pl.concat(cast, how="diagonal")


def batches_to_frame(batches: Iterable[Batch]) -> pl.DataFrame:
    """The event DataFrame of ring batches (from one or more rings), merged by ``ts``."""
    writer = SnapshotWriter()
    for batch in batches:
        writer.add(batch)
    return columns_to_frame(writer.columns())


# ---- snapshots ----------------------------------------------------------------------------------


IN_MEMORY_EVENTS = int(os.environ.get("TTVIEW_IN_MEMORY_EVENTS", "4000000"))
"""Snapshots of at most this many events are loaded into memory for the viewer (every view
instant); more are paged in from their chunks (``ttview.chunkview``), so memory stays bounded."""


@dataclass
class LoadResult:
    """Events of the snapshots that loaded, one error line per one that did not, and metadata.
    ``view``: instead of ``frame``, a view paging events in from the files (too many to hold)."""

    frame: pl.DataFrame
    errors: list[FileError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    infos: list[SnapshotInfo] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    view: Any = None

    @property
    def dropped(self) -> int:
        """Records the producers dropped (ring full), as the files count them."""
        return sum(i.dropped for i in self.infos)

    @property
    def lost(self) -> int:
        """Records overwritten in a ring before they were read (flight-recorder mode)."""
        return sum(i.lost for i in self.infos)


def load_snapshots(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                   on_error: str = "report") -> LoadResult:
    """Every event of the snapshot files named by ``paths`` in one DataFrame, merged by ``ts``
    (the scan of :mod:`ttview.scan`, collected: for callers that want all of them in memory).

    ``paths``: files, directories (every ``*.ttsnap`` inside) or globs. ``on_error="report"``
    (default) records one line per bad or missing path in ``LoadResult.errors`` and loads the
    rest; ``on_error="raise"`` raises the first as SnapshotError.
    """
    if on_error not in ("report", "raise"):
        raise ValueError(f"on_error must be 'report' or 'raise', not {on_error!r}")
    with open_events(paths) as catalog:
        if catalog.errors and on_error == "raise":
            raise SnapshotError(catalog.errors[0].message)
        frame = catalog.lazy().collect() if catalog.paths else empty_events_frame()
        if catalog.errors and on_error == "raise":
            raise SnapshotError(catalog.errors[0].message)
        return _result(catalog, frame)


def open_events(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> Any:
    """The files named by ``paths`` as one source: snapshots (:class:`ttview.scan.Catalog`) or a
    Parquet export of them (:class:`ttview.parquet_source.ParquetCatalog`)."""
    from ttview.parquet_source import is_parquet_input, open_parquet

    listed = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return open_parquet(listed) if is_parquet_input(listed) else open_catalog(listed)


def _result(catalog: Any, frame: pl.DataFrame) -> LoadResult:
    return LoadResult(frame=frame, errors=list(catalog.errors), files=catalog.paths,
                      infos=[f.info for f in catalog.files], sources=catalog.sources)


@dataclass
class NewestEvents:
    """The newest events of some snapshots: ``frame`` is exactly the last rows of the frame
    :func:`load_snapshots` gives for the same paths; ``total`` counts all their events."""

    frame: pl.DataFrame
    total: int
    files: list[Path] = field(default_factory=list)


def newest_events(catalog: Catalog) -> NewestEvents | None:
    """The newest events of the catalog's files (those from the start of the newest chunk of any
    file on), decoding only the chunks that can hold them; None when that would be most of them.

    The result is an exact suffix of the full merge: it is the scan of every event at or after
    that time, and the merge puts all of them last.
    """
    lasts = [f.info.chunks[-1].ts_min for f in catalog.files if f.info.chunks]
    if not lasts:
        return None
    since = max(lasts)
    total = catalog.total
    keep = sum(c.n for f in catalog.files for c in f.info.chunks if c.ts_max >= since)
    if keep * 2 > total:  # not worth a second pass
        return None
    from ttview.query import ChunkBounds

    frame = catalog.lazy(hints=ChunkBounds(ts_min=since)).filter(
        pl.col("ts").dt.epoch("ns") >= since).collect()
    files = [f.path for f in catalog.files if f.info.chunks and f.info.chunks[-1].ts_max >= since]
    return NewestEvents(frame, total, files)


def load_newest(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> NewestEvents | None:
    """:func:`newest_events` of the files named by ``paths``; None also when one cannot be read."""
    with open_catalog(paths) as catalog:
        if catalog.errors:
            return None
        return newest_events(catalog)


@dataclass
class Loading:
    """Snapshots being loaded in a thread (:func:`start_loading`): first their newest events,
    then all of them."""

    newest: Future[NewestEvents | None]
    full: Future[LoadResult]


def start_loading(paths: Iterable[str | os.PathLike[str]]) -> Loading:
    """Load ``paths`` in a thread of its own, begun now: their newest events first (the viewer
    draws its first screen from them), then all of them. The viewer starts this before importing
    its UI, so decoding overlaps the imports and the first layout."""
    loading = Loading(Future(), Future())
    paths = list(paths)

    def run() -> None:
        for future in (loading.newest, loading.full):
            future.set_running_or_notify_cancel()
        try:
            catalog = open_events(paths)
        except BaseException as exc:  # handed to whoever asks for the result
            loading.newest.set_result(None)
            loading.full.set_exception(exc)
            return
        if isinstance(catalog, Catalog) and catalog.total > IN_MEMORY_EVENTS:
            from ttview.chunkview import ChunkedEventView

            loading.newest.set_result(None)  # the paged view shows the newest events at once itself
            result = _result(catalog, empty_events_frame())
            result.view = ChunkedEventView(catalog)
            loading.full.set_result(result)  # the files stay open: the view reads them
            return
        with catalog:
            try:
                newest = (newest_events(catalog) if not catalog.errors and isinstance(catalog, Catalog)
                          else None)
            except Exception:  # noqa: BLE001 - the full load below meets the same trouble and says so
                newest = None
            loading.newest.set_result(newest)
            try:
                frame = catalog.lazy().collect() if catalog.paths else empty_events_frame()
                loading.full.set_result(_result(catalog, frame))
            except BaseException as exc:  # handed to whoever asks for the result
                loading.full.set_exception(exc)

    threading.Thread(target=run, name="ttview-load", daemon=True).start()
    return loading


# ---- live rings ---------------------------------------------------------------------------------


@dataclass
class RingState:
    """One ring a :class:`LiveSource` follows."""

    path: Path
    reader: RingReader | None = None
    info: RingInfo | None = None
    ended: bool = False  # the producer ended (or the file went away) and everything was read
    error: str | None = None
    events: int = 0


class LiveSource:
    """Follows every ring in a shared-memory directory with peek readers (never consumes).

        live = LiveSource("/dev/shm", max_events=100_000)
        new_rows = live.poll()      # call every ~250 ms; live.frame holds the newest rows

    Rings that appear later are read from their start; rings present at the first poll from
    their oldest record (or their end, with ``from_end=True``). A ring whose producer ended,
    or whose file went away, is drained and then marked ``ended``. ``frame`` keeps at most
    ``max_events`` rows (the newest); each poll's rows are merged by ``ts`` across rings and
    appended.
    """

    def __init__(self, shm_dir: str | os.PathLike[str] | None = None, *, max_events: int = 100_000,
                 from_end: bool = False, max_bytes_per_poll: int = 64 << 20,
                 service: str | None = None) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events!r}")
        self.shm_dir = shm_dir
        self.max_events = max_events
        self.from_end = from_end
        self.max_bytes_per_poll = max_bytes_per_poll
        self.service = service  # follow only this service's rings (None: all)
        self.rings: dict[Path, RingState] = {}
        self._other: set[Path] = set()  # rings of other services, never read
        self.frame = empty_events_frame()
        self._polled = False

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for state in self.rings.values():
            if state.reader is not None:
                state.reader.close()
                state.reader = None

    @property
    def ended(self) -> list[Path]:
        return [p for p, s in self.rings.items() if s.ended]

    def _open(self, path: Path) -> RingState:
        state = RingState(path)
        try:
            state.reader = RingReader(path, from_end=self.from_end and not self._polled)
        except (RingError, OSError, ValueError) as exc:
            state.error = str(exc)
        return state

    def poll(self) -> pl.DataFrame:
        """Read what the rings committed since the last poll; returns those rows (maybe none)."""
        present = set(list_rings(self.shm_dir))
        for path in sorted(present - set(self.rings) - self._other):
            state = self._open(path)
            if (self.service is not None and state.reader is not None
                    and state.reader.info().service != self.service):
                state.reader.close()
                self._other.add(path)
                continue
            self.rings[path] = state
        self._polled = True
        writer = SnapshotWriter()
        for state in self.rings.values():
            reader = state.reader
            if reader is None:
                continue
            try:
                info = reader.info()
                finished = info.closed or not info.alive or state.path not in present
                budget = self.max_bytes_per_poll
                while budget > 0:
                    before = reader.position
                    batch = reader.poll(final=finished)
                    budget -= max(0, reader.position - before)
                    state.info = batch.info
                    if len(batch):
                        writer.add(batch)
                        state.events += len(batch)
                    if reader.at_end(final=finished) or (not len(batch) and not batch.corrupt):
                        break
                if finished and reader.at_end(final=True):
                    state.ended = True
                    reader.close()
                    state.reader = None
            except (RingError, OSError, ValueError) as exc:
                state.error = str(exc)
                reader.close()
                state.reader = None
        if not len(writer):
            return self.frame.clear()
        new = columns_to_frame(writer.columns())
        frame = concat_frames([self.frame, new])
        self.frame = frame.tail(self.max_events) if frame.height > self.max_events else frame
        return new
