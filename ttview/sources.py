"""Sources: snapshot files and live rings, as polars DataFrames.

Every source yields the same frame (``ttview.schema``): the core columns ``ts``, ``seq``,
``level``, ``logger``, ``message``, ``service``, ``pid``, ``tid``; then ``cut``
(:data:`CUT_COLUMN`, a list of the columns whose value was cut at the ring's ``max_str``:
``"message"``, a field's column name, or ``"*"`` when fields past the 255th were not stored;
null when nothing was cut); then one column per field key, named by the key (a key equal to a
reserved name becomes ``field.<key>``), null where an event lacks the field.

Field dtypes by the kinds a key has: int -> Int64, float -> Float64, int and float -> Float64,
bool -> Boolean, str and obj -> String, bytes -> Binary, only none -> String (all null), any
other mix -> String (numbers and booleans as their text, bytes decoded as UTF-8 with
backslash escapes). A ``none`` value is a null and never changes the dtype.

Invariants: headless (imports no textual, rich or typer); columns are built with numpy and polars
gathers, never a Python loop per event; a bad snapshot among several is reported as one line
naming it and the others still load; a live ring that vanishes or ends is drained, then marked.
"""

from __future__ import annotations

import glob
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
from ttlog.events import Columns, FieldData, concat_columns
from ttlog.reader import Batch, RingInfo, RingReader, list_rings
from ttlog.ring import RingError
from ttlog.store import SUFFIX, SnapshotError, list_snapshots, snapshot_sort_key

from ttview.decode import ParsedSnapshot, SnapshotInfo, parse_snapshot, read_snapshot, snapshot_info

from .schema import CORE_COLUMNS, FIELD_PREFIX

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
    "field_column",
    "load_snapshots",
    "resolve_paths",
]

CUT_COLUMN = "cut"
"""Per event: the columns whose value was cut (List(String)), null when none was."""
CUT_DTYPE = pl.List(pl.String)
FIELDS_CUT_MARK = "*"
"""In ``cut``: the record had more fields than a record holds; the rest were not stored."""
RESERVED = frozenset(CORE_COLUMNS)


def field_column(key: str) -> str:
    """The column name of field ``key``: the key, or ``field.<key>`` for a reserved or empty name."""
    return FIELD_PREFIX + key if key in RESERVED or not key else key


def empty_events_frame() -> pl.DataFrame:
    """A zero-row frame with the core columns and ``cut``."""
    return pl.DataFrame(schema={**CORE_COLUMNS, CUT_COLUMN: CUT_DTYPE})


# ---- Columns -> DataFrame -----------------------------------------------------------------------


def _target_dtype(kinds: Iterable[str]) -> pl.DataType:
    ks = {k for k in kinds if k != "none"}
    if ks == {"int"}:
        return pl.Int64()
    if ks and ks <= {"int", "float"}:
        return pl.Float64()
    if ks == {"bool"}:
        return pl.Boolean()
    if ks == {"bytes"}:
        return pl.Binary()
    return pl.String()


def _masked(values: Any, rows: Any, n: int) -> pl.Series:
    """A length-``n`` Series with ``values`` at ``rows`` and nulls elsewhere (numpy masked array)."""
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


def _field_series(kind: str, fd: FieldData, n: int, strings: pl.Series, target: pl.DataType) -> pl.Series:
    if kind == "none":
        return pl.repeat(None, n, dtype=target, eager=True)
    rows = fd.rows
    if kind in ("int", "float", "bool"):
        vals = fd.values.astype(bool) if kind == "bool" else fd.values
        s = pl.Series(vals) if rows is None else _masked(vals, rows, n)
        return s if s.dtype == target else s.cast(target)
    if kind in ("str", "obj"):
        if fd.sids:
            return _spread(strings, fd.values, rows, n)
        return _spread(pl.Series(fd.values.tolist(), dtype=pl.String), None, rows, n)
    # bytes
    if target == pl.Binary():
        return _spread(pl.Series(fd.values.tolist(), dtype=pl.Binary), None, rows, n)
    texts = [b.decode("utf-8", "backslashreplace") for b in fd.values.tolist()]
    return _spread(pl.Series(texts, dtype=pl.String), None, rows, n)


def _cut_series(cols: Columns, n: int) -> pl.Series:
    marks: dict[int, list[str]] = {}
    for row in cols.message_cut.tolist():
        marks.setdefault(row, []).append("message")
    for (key, _kind), fd in cols.fields.items():
        for row in fd.cut.tolist():
            lst = marks.setdefault(row, [])
            if field_column(key) not in lst:
                lst.append(field_column(key))
    for row in cols.fields_cut.tolist():
        marks.setdefault(row, []).append(FIELDS_CUT_MARK)
    if not marks:
        return pl.repeat(None, n, dtype=CUT_DTYPE, eager=True).alias(CUT_COLUMN)
    rows = np.array(sorted(marks), dtype=np.int64)
    base = pl.Series([marks[r] for r in rows.tolist()], dtype=CUT_DTYPE)
    return _spread(base, None, rows, n).alias(CUT_COLUMN)


def columns_to_frame(cols: Columns) -> pl.DataFrame:
    """The event DataFrame of decoded columns (``ttlog.events.Columns``); vectorised."""
    n = cols.n
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
        CUT_COLUMN: _cut_series(cols, n),
    }
    by_key: dict[str, list[tuple[str, FieldData]]] = {}
    for (key, kind), fd in cols.fields.items():
        by_key.setdefault(key, []).append((kind, fd))
    for key, kinds in by_key.items():
        target = _target_dtype(k for k, _ in kinds)
        series = [_field_series(kind, fd, n, strings, target) for kind, fd in kinds]
        if len(series) == 1:
            s = series[0]
        else:
            both = pl.DataFrame({f"k{i}": x for i, x in enumerate(series)})
            s = both.select(pl.coalesce(pl.all())).to_series()
        name = field_column(key)
        while name in out:  # "field.cut" given as a key besides "cut": never two columns of one name
            name += "_"
        out[name] = s
    return pl.DataFrame([s.alias(name) for name, s in out.items()])


def concat_frames(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Stack event frames whose field columns differ: missing columns are null, dtypes unified.

    A column with Int64 in one frame and Float64 in another becomes Float64; any other
    disagreement becomes String.
    """
    frames = [f for f in frames if f.width]
    if not frames:
        return empty_events_frame()
    if len(frames) == 1:
        return frames[0]
    dtypes: dict[str, list[pl.DataType]] = {}
    for f in frames:
        for name, dtype in f.schema.items():
            dtypes.setdefault(name, []).append(dtype)
    target: dict[str, pl.DataType] = {}
    for name, ds in dtypes.items():
        kinds = {d for d in ds if d != pl.Null()}
        if len(kinds) <= 1:
            target[name] = next(iter(kinds)) if kinds else pl.String()
        elif kinds <= {pl.Int64(), pl.Float64()}:
            target[name] = pl.Float64()
        else:
            target[name] = pl.String()
    cast = []
    for f in frames:
        changes = {name: pl.col(name).cast(target[name], strict=False) for name, dtype in f.schema.items()
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


@dataclass
class FileError:
    """A path that could not be loaded, and why (one line naming it)."""

    path: Path
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class LoadResult:
    """Events of the snapshots that loaded, one error line per one that did not, and metadata."""

    frame: pl.DataFrame
    errors: list[FileError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    infos: list[SnapshotInfo] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        """Records the producers dropped (ring full), as the rings' headers counted them."""
        return sum(int(s.get("dropped", 0)) for s in self.sources)

    @property
    def lost(self) -> int:
        """Records overwritten in a ring before they were read (flight-recorder mode)."""
        return sum(int(s.get("lost", 0)) for s in self.sources)


_GLOB_CHARS = frozenset("*?[")


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


def load_snapshots(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                   on_error: str = "report", parsed: dict[Path, ParsedSnapshot] | None = None) -> LoadResult:
    """Load snapshot files into one event DataFrame, merged by ``ts``.

    ``paths``: files, directories (every ``*.ttsnap`` inside) or globs. ``on_error="report"``
    (default) records one line per bad or missing path in ``LoadResult.errors`` and loads the
    rest; ``on_error="raise"`` raises the first as SnapshotError. ``parsed``: files already read
    (:func:`load_newest` leaves them), taken from the dict instead of being read again.
    """
    if on_error not in ("report", "raise"):
        raise ValueError(f"on_error must be 'report' or 'raise', not {on_error!r}")
    files, errors = resolve_paths(paths)
    if errors and on_error == "raise":
        raise SnapshotError(errors[0].message)
    parts: list[Columns] = []
    result = LoadResult(frame=empty_events_frame(), errors=errors)
    for path in files:
        try:
            early = parsed.pop(path, None) if parsed else None
            snap = early.decode() if early is not None else read_snapshot(path)
        except SnapshotError as exc:
            if on_error == "raise":
                raise
            errors.append(FileError(path, str(exc)))
            continue
        parts.append(snap.columns)
        result.files.append(path)
        result.infos.append(snap.info)
        result.sources.extend({**s, "file": str(path)} for s in snap.sources)
    if parts:
        result.frame = columns_to_frame(concat_columns(parts))
    return result


@dataclass
class NewestEvents:
    """The newest events of some snapshots: ``frame`` is exactly the last rows of the frame
    :func:`load_snapshots` gives for the same paths; ``total`` counts all their events."""

    frame: pl.DataFrame
    total: int
    files: list[Path] = field(default_factory=list)
    parsed: dict[Path, ParsedSnapshot] = field(default_factory=dict, repr=False)
    """The files read to find these events (``load_snapshots(..., parsed=...)`` reuses them)."""


def load_newest(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> NewestEvents | None:
    """The newest events of the snapshots (those from the start of the newest file's last chunk
    on), reading only the chunks that hold them; None when that would be all of them anyway.

    Every file's chunk index says which chunks end at or after that time; those are decoded and
    merged, so the result is an exact suffix of the full merge. A file that cannot be read makes
    it None (the full load reports it).
    """
    files, _errors = resolve_paths(paths)
    try:
        infos = [snapshot_info(f) for f in files]
    except SnapshotError:
        return None
    lasts = [i.index[-1] for i in infos if i.index]
    if not lasts:
        return None
    since = max(int(c["ts_min"]) for c in lasts)
    total = sum(i.count for i in infos)
    keep = sum(int(c.get("n", 0)) for i in infos for c in i.index if int(c["ts_max"]) >= since)
    if keep * 2 > total:  # not worth a second pass
        return None
    parts: list[Columns] = []
    parsed: dict[Path, ParsedSnapshot] = {}
    for f, info in zip(files, infos):
        if info.index and int(info.index[-1]["ts_max"]) >= since:
            try:
                parsed[f] = parse_snapshot(f)
                parts.append(parsed[f].decode(ts_min=since).columns)
            except SnapshotError:
                return None
    frame = columns_to_frame(concat_columns(parts))
    # chunks of other files may start earlier than ``since``: their older rows would lack the
    # events of the chunks that were skipped, so only rows from ``since`` on are exact
    starts = frame.get_column("ts").dt.epoch("ns").search_sorted(since, side="left")
    return NewestEvents(frame.slice(int(starts)), total, files, parsed)


@dataclass
class Loading:
    """Snapshots being loaded in a thread (:func:`start_loading`): first their newest events,
    then all of them."""

    newest: Future[NewestEvents | None]
    full: Future[LoadResult]


def start_loading(paths: Iterable[str | os.PathLike[str]]) -> Loading:
    """Load ``paths`` in a thread of its own, begun now: :func:`load_newest` first (the viewer
    draws its first screen from it), then :func:`load_snapshots`. The viewer starts this before
    importing its UI, so decoding overlaps the imports and the first layout."""
    loading = Loading(Future(), Future())
    paths = list(paths)

    def run() -> None:
        for future in (loading.newest, loading.full):
            future.set_running_or_notify_cancel()
        try:
            newest = load_newest(paths)
        except Exception:  # noqa: BLE001 - the full load below meets the same trouble and says so
            newest = None
        loading.newest.set_result(newest)
        parsed = newest.parsed if newest is not None else None
        try:
            loading.full.set_result(load_snapshots(paths, parsed=parsed))
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
                 from_end: bool = False, max_bytes_per_poll: int = 64 << 20, service: str | None = None) -> None:
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
            if self.service is not None and state.reader is not None and state.reader.info().service != self.service:
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
