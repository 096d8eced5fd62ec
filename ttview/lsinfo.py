"""What there is to look at: live rings, the sidecar, snapshot files, and what ``ttview`` opens.

Headless facts for ``ttview ls`` and for ``ttview`` with no arguments:

- :func:`live_rings` reads every ring header in a shared-memory directory (read-only peek, never
  disturbing the producer or the sidecar) and joins the sidecar's status (lag, snapshots).
- :func:`snapshot_rows` reads the header of every snapshot in a directory (cheap: the events are
  not decoded); a file that cannot be read becomes a row with its error.
- :func:`default_source` is the choice ``ttview`` makes with no arguments: the live rings of the
  default shared-memory directory if a producer is alive there, else the newest snapshots of the
  default snapshot directory, else the bundled samples.

Invariants: no UI imports; nothing here writes anywhere; every value that came from a ring or a
file is returned as data, never formatted for a terminal (callers escape it).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttlog.control import default_snapshot_dir, read_status
from ttlog.reader import RingReader, scan_rings
from ttlog.ring import RingError, default_shm_dir
from ttlog.store import SnapshotError, list_snapshots

from ttview.decode import snapshot_info

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "DefaultSource",
    "RingRow",
    "SnapshotRow",
    "default_snapshots",
    "default_source",
    "live_rings",
    "newest_snapshots",
    "sample_dir",
    "sidecar_status",
    "snapshot_rows",
]

DEFAULT_MAX_FILES = 20
"""``ttview`` with no arguments opens at most this many of the newest snapshots ..."""
DEFAULT_MAX_BYTES = 64 << 20
"""... holding at most this many bytes in all (the newest one is always opened)."""


def sample_dir() -> Path:
    """The bundled sample snapshots: the installed ``ttview.sample_snapshots`` package, or
    ``sample_snapshots/`` beside the package in a source tree."""
    try:
        from ttview.sample_snapshots import DIRECTORY  # type: ignore[import-not-found]

        return Path(DIRECTORY)
    except ImportError:
        return Path(__file__).resolve().parent.parent / "sample_snapshots"


# ---- live rings ----------------------------------------------------------------------------------


@dataclass
class RingRow:
    """One ring file, as its header and the sidecar's status describe it."""

    path: Path
    service: str
    pid: int
    host: str
    alive: bool
    closed: bool
    overwrite: bool
    capacity: int
    fill: float
    """Fraction of the ring holding records the sidecar has not drained yet."""
    dropped: int
    lost: int
    drained: int
    events: int
    """Records the producer has written (its next sequence number)."""
    lag_bytes: int
    """Bytes written but not yet drained by the sidecar."""
    lag_events: int | None = None
    """Events the sidecar read but has not written to a snapshot (None: no sidecar status)."""
    sidecar_pid: int = 0
    start_ns: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def sidecar_status(shm_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The running sidecar's last status for ``shm_dir`` (see ttlog.sidecar), or None."""
    return read_status(shm_dir)


def live_rings(
    shm_dir: str | os.PathLike[str] | None = None, *, status: dict[str, Any] | None = None
) -> list[RingRow]:
    """Every ring in ``shm_dir`` (default: ``TTLOG_SHM_DIR`` or /dev/shm), oldest first.

    A ring whose header cannot be read or trusted is returned with ``error`` set, and so is each
    file named like a ring that is not one (another user's, a link, a FIFO, ...): the sidecar
    skips those, and says why here too.
    """
    per_path: dict[str, dict[str, Any]] = {}
    if status:
        for ring in status.get("rings", []):
            if isinstance(ring, dict) and "path" in ring:
                per_path[str(ring["path"])] = ring
    rows = []
    rings, skipped = scan_rings(shm_dir)
    unreadable = status.get("unreadable", {}) if status else {}
    for path in rings:
        try:
            if isinstance(unreadable, dict) and isinstance(unreadable.get(str(path)), str):
                raise RingError(f"skipped by the sidecar: {unreadable[str(path)]}")
            with RingReader(path) as reader:
                info = reader.info()
        except (RingError, OSError, ValueError) as exc:
            rows.append(_error_row(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            continue
        side = per_path.get(str(path))
        lag_events = side.get("lag_events") if side else None
        rows.append(
            RingRow(
                path=path,
                service=info.service,
                pid=info.pid,
                host=info.host,
                alive=info.alive,
                closed=info.closed,
                overwrite=info.overwrite,
                capacity=info.capacity,
                fill=info.fill,
                dropped=info.dropped,
                lost=info.lost,
                drained=info.drained,
                events=info.seq_next,
                lag_bytes=info.lag_bytes,
                lag_events=int(lag_events) if isinstance(lag_events, int) else None,
                sidecar_pid=info.sidecar_pid,
                start_ns=info.start_ns,
            )
        )
    rows.extend(_error_row(sk.path, f"not a ring: {sk.reason}") for sk in skipped)
    return rows


def _error_row(path: Path, error: str) -> RingRow:
    return RingRow(path=path, service="", pid=0, host="", alive=False, closed=False, overwrite=False,
                   capacity=0, fill=0.0, dropped=0, lost=0, drained=0, events=0, lag_bytes=0, error=error)


# ---- snapshots ----------------------------------------------------------------------------------


@dataclass
class SnapshotRow:
    """One snapshot file, as its header describes it (or the reason it could not be read)."""

    path: Path
    size: int
    service: str = ""
    pid: int = 0
    host: str = ""
    reason: str = ""
    created_ns: int = 0
    count: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    dropped: int = 0
    lost: int = 0
    error: str | None = None
    pids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def snapshot_rows(paths: list[Path]) -> list[SnapshotRow]:
    """The header of each snapshot in ``paths`` (in that order); errors become rows."""
    rows = []
    for path in paths:
        try:
            info = snapshot_info(path)
        except SnapshotError as exc:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            rows.append(SnapshotRow(path=path, size=size, error=str(exc)))
            continue
        rows.append(
            SnapshotRow(
                path=path,
                size=info.size,
                service=info.service,
                pid=info.pid,
                host=info.host,
                reason=info.reason,
                created_ns=info.created_ns,
                count=info.count,
                first_ts=info.first_ts,
                last_ts=info.last_ts,
                dropped=info.dropped,
                lost=info.lost,
                pids=list(info.pids),
            )
        )
    return rows


def newest_snapshots(
    directory: str | os.PathLike[str],
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Path]:
    """The newest snapshots in ``directory``, oldest first: at most ``max_files`` files holding at
    most ``max_bytes`` bytes in all, but always the newest one if there is any."""
    files = list_snapshots(directory)
    chosen: list[Path] = []
    total = 0
    for path in reversed(files):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if chosen and (len(chosen) >= max_files or total + size > max_bytes):
            break
        chosen.append(path)
        total += size
    chosen.reverse()
    return chosen


# ---- what `ttview` opens ----------------------------------------------------------------------


@dataclass(frozen=True)
class DefaultSource:
    """What ``ttview`` with no arguments opens: ``kind`` is ``"live"`` (tail ``shm_dir``),
    ``"snapshots"`` (the newest files of the snapshot directory) or ``"samples"`` (the bundled
    sample snapshots); ``paths`` are the files to open for the last two."""

    kind: str
    shm_dir: Path
    snapshot_dir: Path
    paths: tuple[Path, ...] = ()

    def describe(self) -> str:
        if self.kind == "live":
            return f"live rings in {self.shm_dir}"
        if self.kind == "snapshots":
            return f"the newest {len(self.paths)} snapshot(s) in {self.snapshot_dir}"
        return f"the bundled sample snapshots ({len(self.paths)} files)"


def default_source(
    *, shm_dir: str | os.PathLike[str] | None = None, snapshot_dir: str | os.PathLike[str] | None = None
) -> DefaultSource:
    """Choose what ``ttview`` opens with no arguments (see the module docstring).

    ``shm_dir`` defaults to ``TTLOG_SHM_DIR`` or /dev/shm, ``snapshot_dir`` to
    ``TTLOG_SNAPSHOT_DIR`` or the per-user snapshot directory. Rings count as live only while a
    producer process is alive; ended rings are the sidecar's to snapshot.
    """
    shm = Path(shm_dir) if shm_dir is not None else default_shm_dir()
    snaps = Path(snapshot_dir) if snapshot_dir is not None else default_snapshot_dir()
    if any(row.alive for row in live_rings(shm)):
        return DefaultSource("live", shm, snaps)
    return default_snapshots(snapshot_dir=snaps, shm_dir=shm)


def default_snapshots(
    *, snapshot_dir: str | os.PathLike[str] | None = None, shm_dir: str | os.PathLike[str] | None = None
) -> DefaultSource:
    """The snapshots ``ttview stats``, ``hist`` and ``export`` read when given no path: the newest
    in ``snapshot_dir`` (see :func:`newest_snapshots`), else the bundled samples."""
    shm = Path(shm_dir) if shm_dir is not None else default_shm_dir()
    snaps = Path(snapshot_dir) if snapshot_dir is not None else default_snapshot_dir()
    newest = newest_snapshots(snaps)
    if newest:
        return DefaultSource("snapshots", shm, snaps, tuple(newest))
    return DefaultSource("samples", shm, snaps, tuple(list_snapshots(sample_dir())))
