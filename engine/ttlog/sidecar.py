"""The sidecar: drains every ring in a shared-memory directory into snapshot files.

    python -m ttlog.sidecar [--shm-dir DIR] [--snapshot-dir DIR] [--once] [--exit-when-idle]

Two threads. The *copier* copies each ring's new records, every few milliseconds, into the
ring's spool (:mod:`ttlog.spool`, a file of the sidecar's own in the same directory) and then
moves the ring's read position, so the producer has its space back at once. The *main thread*
finds rings, answers requests and writes snapshots from the spools (parts of about
``max_events`` events), then moves each spool's tail.

Invariants:
- A ring's read position moves only after its records are committed to the spool, and a
  spool's tail only after the snapshot holding its records is fsynced and linked (through the
  spool's intent record): a sidecar killed at any point loses nothing and repeats nothing; a
  restarted one resumes from the spools and the rings.
- Each snapshot carries what happened since the previous snapshot of that ring (events, and the
  ``dropped``, ``lost`` and ``corrupt`` counts): adding up the files gives the ring's totals. A
  snapshot with nothing to carry is not written, unless one was asked for.
- The last part of a ring that ended is named by why it ended (``exit``, ``crash``,
  ``exception``, ``signal``, ``truncated``, ...); the parts before it are ``periodic``.
- Only this user's regular, single-link files named like rings are rings. The sidecar never
  writes a producer's memory except its own header fields (read position, counts, heartbeat),
  never deletes a file it did not make or drain, and reports each file it skips once (a line on
  stderr, and in its status file). A ring that is truncated or whose header cannot be right is
  reported and left alone; the others are drained as usual.
- A live producer's ring is never removed; a dead or closed one is drained to the end,
  snapshotted, then removed (a ring in which a corrupt record was found is kept, renamed
  ``<name>.corrupt``, for inspection).
- One sidecar per shared-memory directory (an flock on a lock file there, which must be this
  user's regular file). Requests from a shell arrive as files, not as writes into the ring.
- With ``exit_when_idle`` (``ttlog.init(sidecar=True)`` starts it so) the sidecar exits once no
  ring and no spool of this user is left in the directory: it stays while any producer runs,
  and drains rings that appear meanwhile; it lets the lock go before a last look, so a producer
  starting then finds it free and starts a sidecar of its own.
- A full disk or unwritable directory is reported, nothing is committed, and it retries; memory
  stays bounded (a part holds about ``max_events`` events), and so does the spool: a spool that
  is full stops the copying, and the ring then drops, counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import fcntl
import json
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ring as R
from .control import (
    LOCK_NAME,
    REQUEST_DIR,
    STATUS_NAME,
    default_snapshot_dir,
    ensure_sidecar,
    read_status,
    request_snapshot,
    sidecar_running,
)
from .drain import RingDrain, safe_reason, say
from .files import describe_mode, read_small, replace_file
from .reader import RingFile, RingInfo, header_problem, pid_alive, scan_rings
from .spool import Spool, SpoolError, list_spools, spool_name

__all__ = [
    "DEFAULTS",
    "LOCK_NAME",
    "REQUEST_DIR",
    "STATUS_NAME",
    "Settings",
    "Sidecar",
    "default_snapshot_dir",
    "ensure_sidecar",
    "main",
    "read_status",
    "request_snapshot",
    "run_sidecar",
    "sidecar_running",
]


@dataclass
class Settings:
    """Everything a sidecar can be told, with its defaults (the one home of them: the
    ``ttlog-sidecar`` options and ``ttview sidecar`` read them from here)."""

    shm_dir: Path | None = None
    """Directory of the rings (None: $TTLOG_SHM_DIR or /dev/shm)."""
    snapshot_dir: Path | None = None
    """Where snapshots go (None: $TTLOG_SNAPSHOT_DIR or a per-user directory)."""
    interval: float = 30.0
    """Seconds between periodic snapshots of a ring with new events."""
    max_events: int = 1_000_000
    """Events held for one ring that trigger a snapshot; also about the most one file holds."""
    fill_trigger: float = 0.5
    """Fraction of a spool in use that triggers a snapshot."""
    poll: float = 0.05
    """Seconds between passes of the main thread."""
    copy_poll: float = 0.005
    """Seconds between passes of the copier."""
    spool_factor: int = 4
    """A ring's spool holds this many times the ring's capacity (see ``spool_bytes``)."""
    spool_bytes: int | None = None
    """A fixed spool size instead (bytes); either way at most half the free space of the directory."""
    retention_files: int | None = 1000
    """Retention: newest snapshots kept (of those the sidecar wrote)."""
    retention_bytes: int | None = 10 << 30
    """Retention: total size kept."""
    once: bool = False
    """Drain every ring to its end, write the snapshots, exit."""
    exit_when_idle: bool = False
    """Exit once no ring and no spool is left in the directory (``ttlog.init(sidecar=True)``)."""
    idle_grace: float = 2.0
    """Seconds with nothing to drain before ``exit_when_idle`` exits."""
    remove_dead: bool = True
    """Remove a dead or closed producer's ring once it is drained."""

    def resolved(self) -> Settings:
        return dataclasses.replace(
            self, shm_dir=Path(self.shm_dir) if self.shm_dir is not None else R.default_shm_dir(),
            snapshot_dir=Path(self.snapshot_dir) if self.snapshot_dir is not None else default_snapshot_dir())


DEFAULTS = Settings()


class LockError(Exception):
    """The lock file cannot be used; one line for the user."""


@dataclass
class Figures:
    """Totals for ``ttview ls`` and the metrics endpoint."""

    started_ns: int = field(default_factory=time.time_ns)
    events_drained: int = 0
    bytes_written: int = 0
    snapshots_written: int = 0
    write_errors: int = 0
    last_snapshot: str | None = None
    last_snapshot_ns: int = 0


class Sidecar:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.resolved()
        self.shm: Path = self.settings.shm_dir  # type: ignore[assignment]
        self.snaps: Path = self.settings.snapshot_dir  # type: ignore[assignment]
        self.rings: dict[Path, RingDrain] = {}
        self.bad: dict[Path, tuple[int, str]] = {}  # reported once; tried again if the file changes
        self.skipped: dict[Path, str] = {}
        self._skip_seen: dict[tuple[Path, str], int] = {}
        self.ended: list[dict[str, Any]] = []
        self.figures = Figures()
        self._stop = threading.Event()
        self._lock_fd: int | None = None
        self._backoff_until = 0.0
        self._said: set[str] = set()
        self._copier: threading.Thread | None = None
        self._copier_stop = threading.Event()
        self._idle_since: float | None = None
        self._retention_due = False

    # -- reporting --
    def report(self, key: str, message: str) -> None:
        """Say ``message`` once per ``key`` for the life of this sidecar."""
        if key not in self._said:
            self._said.add(key)
            say(message)

    # -- lifecycle --
    def acquire_lock(self) -> bool:
        """True if this is now the only sidecar for the directory; LockError if the lock file is
        not this user's regular file (a FIFO, a link, a directory, another user's file)."""
        path = self.shm / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            what = {errno.ELOOP: "it is a symbolic link", errno.EISDIR: "it is a directory"}.get(
                exc.errno or 0, exc.strerror or str(exc))
            raise LockError(f"cannot use the lock file {path}: {what} "
                            "(remove it, or use another --shm-dir)") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise LockError(f"cannot use the lock file {path}: it is {describe_mode(st)} "
                                "(remove it, or use another --shm-dir)")
            if st.st_uid != os.geteuid():
                raise LockError(f"cannot use the lock file {path}: it belongs to uid {st.st_uid} "
                                "(another user's sidecar? use another --shm-dir)")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError as exc:
                raise LockError(f"cannot lock {path}: {exc.strerror or exc}") from None
        except BaseException:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        try:
            self.snaps.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # reported; every write retries until the directory works
            say(f"snapshot directory {self.snaps}: {exc.strerror or exc}; will retry")
        try:
            locked = self.acquire_lock()
        except LockError as exc:
            say(str(exc))
            return 2
        if not locked:
            say(f"another sidecar already drains {self.shm}")
            return 0 if not self.settings.once else self._run_once_without_lock()
        say(f"draining {self.shm} into {self.snaps}")
        try:
            self.start_up()
            if self.settings.once:
                self.pass_once(final_pass=True)
            else:
                self._start_copier()
                while not self._stop.is_set():
                    started = time.monotonic()
                    self.pass_once()
                    if self.settings.exit_when_idle and self._idle_done():
                        break
                    self._stop.wait(max(0.0, self.settings.poll - (time.monotonic() - started)))
                self._stop_copier()
                self.pass_once(final_pass=True)
        finally:
            self._stop_copier()
            for t in self.rings.values():
                if t.file is not None:
                    t.file.close()
                t.spool.close()
            self.write_status()
            self.release_lock()
        return 0 if not any(t.last_error for t in self.rings.values()) else 1

    def _run_once_without_lock(self) -> int:
        say("--once: another sidecar holds the lock; asking it for snapshots instead")
        for path in scan_rings(self.shm)[0]:
            request_snapshot(self.shm, service=None, reason="request", path=path)
        return 0

    def _idle_done(self) -> bool:
        """``exit_when_idle``: True once nothing is left to drain for ``idle_grace`` seconds and the
        lock is let go with still nothing there (a producer that starts meanwhile finds the lock
        free and starts a sidecar of its own, or this one carries on)."""
        if self.rings or self._left_to_drain():
            self._idle_since = None
            return False
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.settings.idle_grace:
            return False
        self.release_lock()
        if not self._left_to_drain():
            say(f"nothing left to drain in {self.shm}; exiting")
            return True
        try:
            if self.acquire_lock():
                self._idle_since = None
                return False
        except LockError as exc:
            say(str(exc))
        return True  # another sidecar took over

    def _left_to_drain(self) -> bool:
        """Rings or spools in the directory that this sidecar would take (not those it gave up on)."""
        paths = scan_rings(self.shm)[0] + list_spools(self.shm)
        return any(p not in self.bad for p in paths)

    # -- start-up: spools of an earlier run, their intents, orphans --
    def start_up(self) -> None:
        from .store import clean_temp_files

        self.discover()
        for t in self.rings.values():
            t.finish_intent(self)
        keep = set()
        for t in self.rings.values():
            intent = t.spool.read_intent()
            if intent is not None:
                keep.add(Path(intent.directory) / intent.tmp_name)
        gone = clean_temp_files(self.snaps, alive=pid_alive, keep=lambda p: p in keep)
        gone += clean_temp_files(self.shm, alive=pid_alive, keep=lambda p: p in keep)
        if gone:
            say(f"removed {len(gone)} temporary file(s) a killed writer left behind")

    # -- finding rings --
    def discover(self) -> None:
        rings, skipped = scan_rings(self.shm)
        seen_skips = {}
        for sk in skipped:
            key = (sk.path, sk.reason)
            seen_skips[key] = self._skip_seen.get(key, 0) + 1
            if seen_skips[key] >= 2 or "hard link" not in sk.reason:  # a ring being made has 2 for a moment
                self.skipped[sk.path] = sk.reason
                self.report(f"skip:{sk.path}:{sk.reason}", f"skipping {sk.path.name}: {sk.reason}")
        self._skip_seen = seen_skips
        for path in list(self.skipped):
            if not any(sk.path == path for sk in skipped):
                del self.skipped[path]
        for path in rings:
            if path in self.rings:
                continue
            self._attach(path)
        attached = {t.spool.path for t in self.rings.values()}
        for spath in list_spools(self.shm):
            if spath not in attached:
                self._adopt_orphan_spool(spath)

    def _attach(self, path: Path) -> None:
        try:
            ino = os.stat(path, follow_symlinks=False).st_ino
        except OSError:
            return
        known = self.bad.get(path)
        if known is not None and known[0] == ino:
            return
        try:
            file = RingFile(path, writable=True)
        except R.RingError as exc:
            if "hard links" in str(exc):
                return  # being made: seen again next pass (and reported by discover if it stays)
            self._bad(path, ino, str(exc))
            return
        try:
            info = file.info()
            problem = header_problem(info, file.geo)
            if problem is not None:
                raise R.RingError(f"{path.name}: ring header is inconsistent: {problem}")
            spool = self._spool_for(file, info)
        except (R.RingError, SpoolError) as exc:
            file.close()
            self._bad(path, ino, str(exc))
            return
        except OSError as exc:
            file.close()
            self.report(f"attach:{path}:{exc.errno}", f"{path.name}: {exc.strerror or exc}; will retry")
            return
        t = RingDrain(path=path, file=file, spool=spool, ino=ino, info=info,
                      snap_req_seen=file.u64(R.H_SNAP_DONE))
        if spool.ended and spool.ring_end >= info.write_pos:
            t.copy_done = True  # an earlier sidecar copied it all
        self.rings[path] = t
        self.bad.pop(path, None)

    def _bad(self, path: Path, ino: int, why: str) -> None:
        self.bad[path] = (ino, why)
        self.report(f"bad:{path}:{ino}:{why}", f"skipping {path.name}: {why}")

    def _spool_for(self, file: RingFile, info: RingInfo) -> Spool:
        """The ring's spool: the one an earlier sidecar left (checked), or a new one."""
        spath = self.shm / spool_name(file.path.name, info.start_ns)
        if os.path.lexists(spath):
            try:
                spool = Spool.open(spath)
                if (spool.pid, spool.start_ns, spool.ring_name) != (info.pid, info.start_ns, file.path.name):
                    spool.close()
                    raise SpoolError(f"{spath.name}: belongs to another ring")
            except SpoolError as exc:
                aside = spath.with_name(spath.name + ".bad")
                self.report(f"spool:{spath}", f"{exc}; kept as {aside.name}, a new spool is started")
                try:
                    os.rename(spath, aside)
                except OSError:
                    raise SpoolError(f"{spath.name}: cannot be used nor moved aside") from None
            else:
                if spool.ring_end > max(info.write_pos, info.reserve_pos):
                    spool.close()
                    raise SpoolError(f"{spath.name}: holds more of the ring than the ring ever had")
                if spool.ring_end > info.read_pos:
                    file.store_u64(R.H_READ_POS, spool.ring_end)  # copied, but the ring was not told
                elif spool.ring_end < info.read_pos:
                    spool.skip_ring_to(info.read_pos)
                return spool
        reported = file.u64(R.H_DROPPED_REPORTED)
        return Spool.create(self.shm, ring=file, data_cap=self._spool_size(file), ring_end=info.read_pos,
                            next_seq=info.read_seq,
                            reported_dropped=reported if reported <= info.dropped else 0)

    def _spool_size(self, file: RingFile) -> int:
        want = self.settings.spool_bytes or self.settings.spool_factor * file.geo.capacity
        try:
            st = os.statvfs(self.shm)
            free = st.f_bavail * st.f_frsize
        except OSError:
            free = want
        return max(1 << 20, min(want, free // 2))

    def _adopt_orphan_spool(self, spath: Path) -> None:
        """A spool whose ring is gone (an earlier sidecar removed it, or someone did): finish it."""
        try:
            ino = os.stat(spath, follow_symlinks=False).st_ino
        except OSError:
            return
        if self.bad.get(spath, (None,))[0] == ino:
            return
        try:
            spool = Spool.open(spath)
        except SpoolError as exc:
            self._bad(spath, ino, str(exc))
            return
        if not spool.ended:
            spool.mark_ended("gone", spool.ring_dropped)
        ring_path = self.shm / (spool.ring_name or spath.name)
        t = RingDrain(path=ring_path, file=None, spool=spool, ino=0, copy_done=True)
        key = ring_path if ring_path not in self.rings else spath
        self.rings[key] = t
        t.finish_intent(self)

    # -- the copier --
    def _start_copier(self) -> None:
        self._copier_stop.clear()
        self._copier = threading.Thread(target=self._copier_loop, name="ttlog-copier", daemon=True)
        self._copier.start()

    def _stop_copier(self) -> None:
        if self._copier is not None:
            self._copier_stop.set()
            self._copier.join()
            self._copier = None

    def _copier_loop(self) -> None:
        while not self._copier_stop.is_set():
            started = time.monotonic()
            for t in list(self.rings.values()):
                t.copy(self)
            self._copier_stop.wait(max(0.0, self.settings.copy_poll - (time.monotonic() - started)))

    # -- one pass of the main thread --
    def pass_once(self, *, final_pass: bool = False) -> None:
        self.discover()
        requests = self.take_requests()
        for path, t in list(self.rings.items()):
            try:
                self.service(path, t, requests, final_pass=final_pass)
            except SpoolError as exc:
                t.last_error = str(exc)
                self.report(f"spool:{t.spool.path}:{exc}", f"{exc}")
            except OSError as exc:
                t.last_error = exc.strerror or str(exc)
                self.report(f"service:{path}:{t.last_error}", f"{path.name}: {t.last_error}; will retry")
        if self._retention_due:
            self._retention_due = False
            self.apply_retention()
        self.write_status()

    def service(self, path: Path, t: RingDrain, requests: list[dict[str, Any]], *, final_pass: bool) -> None:
        sp = t.spool
        reason: str | None = None
        explicit = False
        if t.file is not None and t.info is not None and not t.copy_done:
            info = t.info
            for req in requests:
                if req.get("path") == str(path) or req.get("service") in (None, info.service):
                    reason, explicit = safe_reason(req.get("reason")) or "request", True
            try:
                snap_req = t.file.u64(R.H_SNAP_REQ)
                if snap_req != t.snap_req_seen:
                    t.snap_req_seen = snap_req
                    reason = safe_reason(t.file.string(t.file.u32(R.H_SNAP_REASON))) or "request"
                    explicit = True
            except (R.RingError, OSError):
                pass
        if self._copier is None or explicit or final_pass:
            t.drain_into_spool(self, full=final_pass or explicit)
        if time.monotonic() < self._backoff_until:
            return
        if sp.ended and t.copy_done:
            if t.write_parts(self, "periodic", explicit=explicit, all_parts=True):
                t.finish(self)
                self.rings.pop(path, None)
            return
        now = time.monotonic()
        if explicit:
            t.write_parts(self, reason or "request", explicit=True, all_parts=True)
            if t.file is not None:
                with t.lock:
                    if t.file is not None:
                        t.file.store_u64(R.H_SNAP_DONE, t.snap_req_seen)
        elif final_pass:
            t.write_parts(self, "periodic", explicit=False, all_parts=True)
        elif (sp.held_events >= self.settings.max_events
              or sp.held >= self.settings.fill_trigger * sp.data_cap):
            t.write_parts(self, "periodic", explicit=False, all_parts=False)
        elif sp.held and now - t.last_flush >= self.settings.interval:
            t.write_parts(self, "periodic", explicit=False, all_parts=True)

    # -- requests from a shell --
    def take_requests(self) -> list[dict[str, Any]]:
        directory = self.shm / REQUEST_DIR
        out: list[dict[str, Any]] = []
        try:
            st = os.stat(directory, follow_symlinks=False)
        except OSError:
            return out
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            self.report(f"requests:{directory}", f"ignoring {directory}: not a directory of this user")
            return out
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return out
        for entry in entries[:1000]:
            if not entry.name.endswith(".json"):
                continue
            try:
                req = json.loads(read_small(Path(entry.path), 4096))
                if isinstance(req, dict):
                    out.append(req)
            except (OSError, ValueError):
                pass
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        return out

    # -- retention --
    def apply_retention(self) -> None:
        from .store import SnapshotError, apply_retention

        try:
            apply_retention(self.snaps, max_files=self.settings.retention_files,
                            max_bytes=self.settings.retention_bytes)
        except (OSError, SnapshotError) as exc:
            self.report(f"retention:{exc}", f"retention: {exc}")

    # -- status for ttview ls --
    def status(self) -> dict[str, Any]:
        rings = []
        for path, t in list(self.rings.items()):
            info, sp = t.info, t.spool
            rings.append({
                "path": str(path), "service": sp.service, "pid": sp.pid,
                "alive": bool(info and info.alive), "capacity": sp.ring_capacity,
                "held_bytes": info.lag_bytes if info else 0,
                "spool_bytes": sp.held, "spool_capacity": sp.data_cap, "lag_events": sp.held_events,
                "dropped": info.dropped if info else sp.ring_dropped,
                "dropped_reported": sp.reported_dropped, "lost": sp.reported_lost, "drained": sp.events,
                "snapshots": t.snapshots, "last_snapshot": t.last_snapshot, "error": t.last_error or t.broken,
                "ended": sp.end_reason if sp.ended else None,
            })
        f = self.figures
        return {
            "pid": os.getpid(), "updated_ns": time.time_ns(), "started_ns": f.started_ns,
            "shm_dir": str(self.shm), "snapshot_dir": str(self.snaps),
            "events_drained": f.events_drained, "bytes_written": f.bytes_written,
            "snapshots_written": f.snapshots_written, "write_errors": f.write_errors,
            "last_snapshot": f.last_snapshot, "last_snapshot_ns": f.last_snapshot_ns,
            "rings": rings, "ended": self.ended[-20:],
            "skipped": {str(k): v for k, v in self.skipped.items()},
            "unreadable": {str(k): v[1] for k, v in self.bad.items()},
        }

    def write_status(self) -> None:
        try:
            replace_file(self.shm / STATUS_NAME, json.dumps(self.status()).encode())
        except OSError as exc:
            self.report(f"status:{exc.errno}",
                        f"cannot write {self.shm / STATUS_NAME}: {exc.strerror or exc}")


def serve_metrics(sidecar: Sidecar, port: int) -> None:
    """Prometheus text endpoint with the sidecar's figures (needs prometheus-client)."""
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            st = sidecar.status()
            for name in ("events_drained", "bytes_written", "snapshots_written", "write_errors"):
                yield CounterMetricFamily(f"ttlog_sidecar_{name}", f"sidecar {name.replace('_', ' ')}",
                                          value=st[name])
            per_ring = {
                "dropped": "records the producer dropped", "lost": "records overwritten before drained",
                "held_bytes": "bytes held in the ring for the sidecar",
                "lag_events": "events copied, not yet written",
                "spool_bytes": "bytes held in the spool for snapshots",
            }
            for key, help_text in per_ring.items():
                g = GaugeMetricFamily(f"ttlog_ring_{key}", help_text, labels=["service", "pid"])
                for r in st["rings"]:
                    g.add_metric([r["service"], str(r["pid"])], r[key])
                yield g

    REGISTRY.register(Collector())
    start_http_server(port, addr="127.0.0.1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttlog.sidecar", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--shm-dir", type=Path, default=None,
                        help="directory of the rings (default $TTLOG_SHM_DIR or /dev/shm)")
    parser.add_argument("--snapshot-dir", type=Path, default=None,
                        help="where snapshots go (default $TTLOG_SNAPSHOT_DIR or a per-user directory)")
    parser.add_argument("--once", action="store_true",
                        help="drain every ring to its end, write the snapshots, exit")
    parser.add_argument("--exit-when-idle", action="store_true",
                        help="exit once no ring and no spool is left in the directory")
    parser.add_argument("--interval", type=float, default=d.interval,
                        help="seconds between periodic snapshots")
    parser.add_argument("--max-events", type=int, default=d.max_events,
                        help="events held for a ring that trigger a snapshot "
                        "(and about the most one file holds)")
    parser.add_argument("--spool-factor", type=int, default=d.spool_factor,
                        help="a ring's spool holds this many times the ring's capacity")
    parser.add_argument("--keep-files", type=int, default=d.retention_files,
                        help="retention: newest snapshots kept (of those the sidecar wrote)")
    parser.add_argument("--keep-bytes", type=R.parse_size, default=d.retention_bytes,
                        help="retention: total size kept (e.g. 10GiB)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics on 127.0.0.1:PORT")


def run_from_args(args: Any) -> int:
    settings = Settings(shm_dir=args.shm_dir, snapshot_dir=args.snapshot_dir, once=args.once,
                        exit_when_idle=args.exit_when_idle, interval=args.interval,
                        max_events=args.max_events,
                        spool_factor=args.spool_factor, retention_files=args.keep_files,
                        retention_bytes=args.keep_bytes)
    return run_sidecar(settings, metrics_port=args.metrics_port)


def run_sidecar(settings: Settings | None = None, *, metrics_port: int | None = None, **options: Any) -> int:
    """Run a sidecar in this process until SIGTERM/SIGINT (or one drain with ``once``); exit code.

    ``options`` override fields of ``settings`` (``run_sidecar(shm_dir=..., once=True)``).
    """
    settings = dataclasses.replace(settings or DEFAULTS, **options).resolved()
    shm = settings.shm_dir
    assert shm is not None
    if not shm.is_dir():
        say(f"shared-memory directory {shm} does not exist")
        return 2
    sidecar = Sidecar(settings)
    if threading_main():
        signal.signal(signal.SIGTERM, sidecar.stop)
        signal.signal(signal.SIGINT, sidecar.stop)
    if metrics_port:
        try:
            serve_metrics(sidecar, metrics_port)
        except ImportError:
            say("--metrics-port needs prometheus-client (pip install 'ttlog[prometheus]')")
            return 2
        except OSError as exc:
            say(f"cannot serve metrics on port {metrics_port}: {exc.strerror}")
            return 2
    try:
        return sidecar.run()
    except OSError as exc:
        say(f"{exc.filename or shm}: {exc.strerror or exc}")
        return 2


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()




if __name__ == "__main__":
    raise SystemExit(main())
