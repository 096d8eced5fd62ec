"""The sidecar: drains every ring in a shared-memory directory into snapshot files.

    python -m ttlog.sidecar [--shm-dir DIR] [--snapshot-dir DIR] [--once]

Invariants:
- A ring's read position moves only after the records before it are in a snapshot file that
  has been fsynced and renamed into place: a sidecar killed at any point loses nothing the ring
  still holds. On start it reads what the newest snapshots already hold of each ring, so a kill
  between the rename and the position update repeats nothing either.
- The sidecar never writes a producer's memory except its own header fields (read position,
  counts, heartbeat). Requests from a shell arrive as files, not as writes into the ring.
- A live producer's ring is never removed; a dead or closed one is drained to the end,
  snapshotted, then removed.
- One sidecar per shared-memory directory (an flock on a lock file there).
- A full disk or unwritable directory is reported, nothing is committed, and it retries; memory
  stays bounded because a ring with too much pending is not read further until written out.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ring as R
from .reader import Batch, RingInfo, RingReader, list_rings, pid_alive

LOCK_NAME = ".ttlog-sidecar.lock"
STATUS_NAME = ".ttlog-sidecar.json"
REQUEST_DIR = ".ttlog-requests"


def default_snapshot_dir() -> Path:
    env = os.environ.get("TTLOG_SNAPSHOT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ttview" / "snapshots"


@dataclass
class Settings:
    shm_dir: Path
    snapshot_dir: Path
    interval: float = 30.0  # seconds between periodic snapshots of a ring with pending events
    max_events: int = 1_000_000  # pending events of one ring that trigger a snapshot
    fill_trigger: float = 0.5  # fraction of a ring held for the sidecar that triggers one
    poll: float = 0.05  # seconds between passes
    retention_files: int | None = 1000
    retention_bytes: int | None = 10 << 30
    once: bool = False
    remove_dead: bool = True


@dataclass
class RingState:
    """What the sidecar keeps for one ring between passes."""

    reader: RingReader
    info: RingInfo
    pending: list[Batch] = field(default_factory=list)
    pending_events: int = 0
    pending_lost: int = 0
    last_flush: float = field(default_factory=time.monotonic)
    snap_req_seen: int = 0
    skip_through_seq: int = -1  # records up to this seq are already in a snapshot
    drained: int = 0
    snapshots: int = 0
    last_snapshot: str | None = None
    last_error: str | None = None


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


def say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{stamp}Z ttview-sidecar: {message}", file=sys.stderr, flush=True)


class Sidecar:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.rings: dict[Path, RingState] = {}
        self.bad: dict[Path, str] = {}
        self.figures = Figures()
        self._stop = False
        self._lock_fd: int | None = None
        self._backoff_until = 0.0

    # -- lifecycle --
    def acquire_lock(self) -> bool:
        """True if this is now the only sidecar for the directory."""
        path = self.s.shm_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def stop(self, *_: Any) -> None:
        self._stop = True

    def run(self) -> int:
        try:
            self.s.snapshot_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # reported; every write retries until the directory works
            say(f"snapshot directory {self.s.snapshot_dir}: {exc.strerror or exc}; will retry")
        if not self.acquire_lock():
            say(f"another sidecar already drains {self.s.shm_dir}")
            return 0 if not self.s.once else self._run_once_without_lock()
        say(f"draining {self.s.shm_dir} into {self.s.snapshot_dir}")
        try:
            while not self._stop:
                started = time.monotonic()
                self.pass_once(final_pass=self.s.once)
                if self.s.once:
                    break
                time.sleep(max(0.0, self.s.poll - (time.monotonic() - started)))
            if not self.s.once:
                self.flush_all("sidecar-stop")
        finally:
            for state in self.rings.values():
                state.reader.close()
            self.write_status()
        return 0 if not any(st.last_error for st in self.rings.values()) else 1

    def _run_once_without_lock(self) -> int:
        say("--once: another sidecar holds the lock; asking it for snapshots instead")
        for path in list_rings(self.s.shm_dir):
            request_snapshot(self.s.shm_dir, service=None, reason="request", path=path)
        return 0

    # -- one pass over every ring --
    def pass_once(self, *, final_pass: bool = False) -> None:
        self.discover()
        requests = self.take_requests()
        now = time.monotonic()
        for path, state in list(self.rings.items()):
            try:
                self.service_ring(path, state, requests, now, final_pass=final_pass)
            except R.RingError as exc:
                say(str(exc))
                self.forget(path)
        self.write_status()

    def discover(self) -> None:
        for path in list_rings(self.s.shm_dir):
            if path in self.rings or path in self.bad:
                continue
            try:
                reader = RingReader(path, consume=True)
            except R.RingError as exc:
                self.bad[path] = str(exc)
                say(f"skipping {path.name}: {exc}")
                continue
            except FileNotFoundError:
                continue
            info = reader.info()
            # requests made before this sidecar found the ring (or while none ran) still count
            state = RingState(reader=reader, info=info, snap_req_seen=reader.snap_done())
            state.skip_through_seq = self.already_saved_through(info)
            self.rings[path] = state

    def already_saved_through(self, info: RingInfo) -> int:
        """The highest seq of this ring that a snapshot already holds (-1 if none).

        Only matters after a sidecar died between writing a snapshot and moving the read
        position; then the records it wrote are still after the read position.
        """
        return find_saved_seq(self.s.snapshot_dir, pid=info.pid, start_ns=info.start_ns)

    def forget(self, path: Path) -> None:
        state = self.rings.pop(path, None)
        if state is not None:
            state.reader.close()

    def service_ring(self, path: Path, state: RingState, requests: list[dict[str, Any]], now: float,
                     *, final_pass: bool) -> None:
        reader = state.reader
        info = reader.info()
        state.info = info
        reader.heartbeat(os.getpid(), time.time_ns())
        dead = info.state == R.STATE_CLOSED or not pid_alive(info.pid)
        # read what is there, unless too much is already waiting to be written
        budget = self.s.max_events * 2
        while state.pending_events < budget:
            batch = reader.poll(final=dead)
            if batch.corrupt:
                say(f"{path.name}: skipped a corrupt stretch of the ring")
            if len(batch):
                self._add(state, batch)
            if reader.at_end(final=dead) or (not len(batch) and not batch.corrupt):
                break
        reason = None
        if dead:
            if reader.at_end(final=True):
                reason = self._exit_reason(info, reader)
            elif state.pending_events >= self.s.max_events:
                reason = "periodic"  # a backlog larger than one snapshot is written in parts
        else:
            for req in requests:
                if req.get("path") == str(path) or req.get("service") in (None, info.service):
                    reason = str(req.get("reason") or "request")[:64]
            if info.snap_req != state.snap_req_seen:
                state.snap_req_seen = info.snap_req
                reason = self._string(reader, self._u32(reader, R.H_SNAP_REASON)) or "request"
            elif state.pending_events and final_pass:
                reason = "periodic"
            elif state.pending_events >= self.s.max_events:
                reason = "periodic"
            elif state.pending_events and now - state.last_flush >= self.s.interval:
                reason = "periodic"
            elif state.pending_events and self._held_fraction(info) >= self.s.fill_trigger:
                reason = "periodic"
        if reason is None:
            return
        if time.monotonic() < self._backoff_until:
            return
        ok = self.flush(path, state, reason, allow_empty=dead or reason not in ("periodic",))
        if ok:
            reader.set_snap_done(state.snap_req_seen)
        if ok and dead and self.s.remove_dead and reader.at_end(final=True):
            self.forget(path)
            try:
                path.unlink()
                say(f"{path.name}: producer {info.pid} ended ({reason}); snapshot written, ring removed")
            except OSError as exc:
                say(f"{path.name}: cannot remove: {exc.strerror}")

    def _add(self, state: RingState, batch: Batch) -> None:
        if state.skip_through_seq >= 0:
            batch = _drop_through(batch, state.skip_through_seq)
            if not len(batch):
                state.pending_lost += batch.lost
                return
        state.pending.append(batch)
        state.pending_events += len(batch)
        state.pending_lost += batch.lost

    @staticmethod
    def _held_fraction(info: RingInfo) -> float:
        return (info.write_pos - info.read_pos) / info.capacity if info.capacity else 0.0

    @staticmethod
    def _u32(reader: RingReader, off: int) -> int:
        import struct

        assert reader._mm is not None
        return struct.unpack_from("<I", reader._mm, off)[0]

    @staticmethod
    def _string(reader: RingReader, sid: int) -> str | None:
        if not sid:
            return None
        assert reader._mm is not None
        reader.strings.update(reader._mm, reader.geo)
        text = reader.strings.texts.get(sid)
        return text

    def _exit_reason(self, info: RingInfo, reader: RingReader) -> str:
        if info.state == R.STATE_CLOSED:
            return self._string(reader, self._u32(reader, R.H_EXIT_REASON)) or "exit"
        return "crash"

    def flush(self, path: Path, state: RingState, reason: str, *, allow_empty: bool) -> bool:
        """Write the ring's pending events as one snapshot, then move its read position."""
        from .codec import write_snapshot
        from .store import SnapshotError, apply_retention

        if not state.pending and not allow_empty:
            return True
        reader = state.reader
        try:
            self.s.snapshot_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            pass  # write_snapshot says why, below
        try:
            out = write_snapshot(self.s.snapshot_dir, state.pending, service=state.info.service,
                                 pid=state.info.pid, reason=reason)
        except SnapshotError as exc:
            self.figures.write_errors += 1
            state.last_error = str(exc)
            self._backoff_until = time.monotonic() + 1.0
            say(f"{path.name}: {exc} (nothing committed; retrying)")
            return False
        size = out.stat().st_size
        reader.commit(drained=state.pending_events, lost=state.pending_lost)
        self.figures.events_drained += state.pending_events
        self.figures.bytes_written += size
        self.figures.snapshots_written += 1
        self.figures.last_snapshot = out.name
        self.figures.last_snapshot_ns = time.time_ns()
        state.drained += state.pending_events
        state.snapshots += 1
        state.last_snapshot = out.name
        state.last_error = None
        state.pending = []
        state.pending_events = 0
        state.pending_lost = 0
        state.skip_through_seq = -1
        state.last_flush = time.monotonic()
        try:
            apply_retention(self.s.snapshot_dir, max_files=self.s.retention_files, max_bytes=self.s.retention_bytes)
        except (OSError, SnapshotError) as exc:
            say(f"retention: {exc}")
        return True

    def flush_all(self, reason: str) -> None:
        for path, state in list(self.rings.items()):
            if state.pending:
                self.flush(path, state, "periodic" if reason == "sidecar-stop" else reason, allow_empty=False)

    # -- requests from a shell --
    def take_requests(self) -> list[dict[str, Any]]:
        directory = self.s.shm_dir / REQUEST_DIR
        out: list[dict[str, Any]] = []
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return out
        for entry in entries:
            if not entry.name.endswith(".json") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                with open(entry.path, "rb") as fh:
                    req = json.loads(fh.read(4096))
                if isinstance(req, dict):
                    out.append(req)
            except (OSError, ValueError):
                pass
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        return out

    # -- status for ttview ls --
    def status(self) -> dict[str, Any]:
        rings = []
        for path, st in self.rings.items():
            info = st.info
            rings.append({
                "path": str(path), "service": info.service, "pid": info.pid, "alive": info.alive,
                "capacity": info.capacity, "held_bytes": info.write_pos - info.read_pos,
                "lag_events": st.pending_events,
                "dropped": info.dropped, "lost": info.lost, "drained": info.drained,
                "snapshots": st.snapshots, "last_snapshot": st.last_snapshot, "error": st.last_error,
            })
        f = self.figures
        return {
            "pid": os.getpid(), "updated_ns": time.time_ns(), "started_ns": f.started_ns,
            "shm_dir": str(self.s.shm_dir), "snapshot_dir": str(self.s.snapshot_dir),
            "events_drained": f.events_drained, "bytes_written": f.bytes_written,
            "snapshots_written": f.snapshots_written, "write_errors": f.write_errors,
            "last_snapshot": f.last_snapshot, "last_snapshot_ns": f.last_snapshot_ns,
            "rings": rings, "unreadable": {str(k): v for k, v in self.bad.items()},
        }

    def write_status(self) -> None:
        path = self.s.shm_dir / STATUS_NAME
        tmp = self.s.shm_dir / f".{STATUS_NAME}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.status(), fh)
            os.replace(tmp, path)
        except OSError:
            pass


def find_saved_seq(snapshot_dir: Path, *, pid: int, start_ns: int) -> int:
    """The highest seq of the ring (pid, start_ns) held by a snapshot in ``snapshot_dir``, or -1.

    Only snapshots written after the ring was made are read, and only their headers.
    """
    from .store import SUFFIX, SnapshotError, read_header

    best = -1
    try:
        entries = [e for e in os.scandir(snapshot_dir) if e.name.endswith(SUFFIX) and e.is_file(follow_symlinks=False)]
    except OSError:
        return best
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_mtime_ns < start_ns - 1_000_000_000:
                continue
            sources = read_header(entry.path).get("sources")
        except (OSError, ValueError, SnapshotError, EOFError):
            continue
        except Exception:  # noqa: BLE001 - a file this sidecar cannot read holds none of its records
            continue
        for src in sources if isinstance(sources, list) else ():
            if not isinstance(src, dict):
                continue
            if src.get("pid") == pid and src.get("start_ns") == start_ns and src.get("last_seq") is not None:
                if isinstance(src["last_seq"], int):
                    best = max(best, src["last_seq"])
    return best


def _drop_through(batch: Batch, seq: int) -> Batch:
    """The batch without its records whose seq <= ``seq`` (already in a snapshot)."""
    import struct

    n = len(batch)
    seqs = struct.unpack(f"<{n}Q", batch.cols["seq"])
    keep = sum(1 for s in seqs if s > seq)
    if keep == n:
        return batch
    from .reader import slice_batch

    return slice_batch(batch, n - keep, n)


def read_status(shm_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The running sidecar's last status for a shm directory, or None if it isn't running."""
    directory = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    try:
        with open(directory / STATUS_NAME, "rb") as fh:
            status = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or not pid_alive(int(status.get("pid", 0))):
        return None
    return status


def request_snapshot(shm_dir: str | os.PathLike[str] | None, *, service: str | None, reason: str = "request",
                     path: Path | None = None) -> Path:
    """Ask the sidecar for a snapshot of ``service``'s rings (all rings if None)."""
    directory = (Path(shm_dir) if shm_dir is not None else R.default_shm_dir()) / REQUEST_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    name = directory / f"{time.time_ns()}-{os.getpid()}-{os.urandom(3).hex()}.json"
    body = {"service": service, "reason": reason, **({"path": str(path)} if path else {})}
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    return name


def sidecar_running(shm_dir: str | os.PathLike[str]) -> bool:
    path = Path(shm_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def ensure_sidecar(*, shm_dir: str | os.PathLike[str], snapshot_dir: str | os.PathLike[str] | None = None) -> bool:
    """Start a sidecar for ``shm_dir`` unless one runs; True if one was started."""
    if sidecar_running(shm_dir):
        return False
    snap = Path(snapshot_dir) if snapshot_dir is not None else default_snapshot_dir()
    snap.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = open(snap / "sidecar.log", "ab")
    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm_dir), "--snapshot-dir", str(snap)]
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                     close_fds=True, env=env)
    log.close()
    return True


def serve_metrics(sidecar: Sidecar, port: int) -> None:
    """Prometheus text endpoint with the sidecar's figures (needs prometheus-client)."""
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            st = sidecar.status()
            for name, value in (("events_drained", st["events_drained"]), ("bytes_written", st["bytes_written"]),
                                ("snapshots_written", st["snapshots_written"]), ("write_errors", st["write_errors"])):
                yield CounterMetricFamily(f"ttlog_sidecar_{name}", f"sidecar {name.replace('_', ' ')}", value=value)
            per_ring = {
                "dropped": "records the producer dropped", "lost": "records overwritten before drained",
                "held_bytes": "bytes held in the ring for the sidecar", "lag_events": "events read, not yet written",
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
    parser.add_argument("--shm-dir", type=Path, default=None, help="directory of the rings (default $TTLOG_SHM_DIR or /dev/shm)")
    parser.add_argument("--snapshot-dir", type=Path, default=None, help="where snapshots go (default $TTLOG_SNAPSHOT_DIR or a per-user directory)")
    parser.add_argument("--once", action="store_true", help="drain every ring, write snapshots, exit")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between periodic snapshots")
    parser.add_argument("--max-events", type=int, default=1_000_000, help="pending events that trigger a snapshot")
    parser.add_argument("--keep-files", type=int, default=1000, help="retention: newest snapshots kept")
    parser.add_argument("--keep-bytes", type=R.parse_size, default=10 << 30, help="retention: total size kept (e.g. 10GiB)")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on 127.0.0.1:PORT")


def run_from_args(args: Any) -> int:
    return run_sidecar(shm_dir=args.shm_dir, snapshot_dir=args.snapshot_dir, once=args.once, interval=args.interval,
                       max_events=args.max_events, keep_files=args.keep_files, keep_bytes=args.keep_bytes,
                       metrics_port=args.metrics_port)


def run_sidecar(*, shm_dir: str | os.PathLike[str] | None = None, snapshot_dir: str | os.PathLike[str] | None = None,
                once: bool = False, interval: float = 30.0, max_events: int = 1_000_000,
                keep_files: int | None = 1000, keep_bytes: int | None = 10 << 30, metrics_port: int | None = None,
                poll: float = 0.05) -> int:
    """Run a sidecar in this process until SIGTERM/SIGINT (or one pass with ``once``); exit code."""
    shm = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    if not shm.is_dir():
        say(f"shared-memory directory {shm} does not exist")
        return 2
    settings = Settings(shm_dir=shm, snapshot_dir=Path(snapshot_dir) if snapshot_dir else default_snapshot_dir(),
                        interval=interval, max_events=max_events, once=once, poll=poll,
                        retention_files=keep_files, retention_bytes=keep_bytes)
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
        say(f"{exc.filename or ''}: {exc.strerror}")
        return 2


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    raise SystemExit(main())
