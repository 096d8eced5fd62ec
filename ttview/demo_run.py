"""The processes behind ``ttview demo``: a sidecar and the demo producer on one shm directory.

:class:`DemoRun` starts them, reports the producer's ring while it runs (:class:`DemoTick`, as
data; ``ttview.report.demo_progress_line`` words it), and cleans up after them.

Invariants: no UI imports (no textual, rich or typer); leaving a :class:`DemoRun` never leaves a
process started here running (SIGTERM, then SIGKILL after a timeout) nor a private shm directory
behind; a sidecar already draining the shm directory is used, never stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoRun", "DemoTick"]


@dataclass(frozen=True)
class DemoTick:
    """The demo producer's ring at one moment of :meth:`DemoRun.progress`."""

    elapsed: float
    """Seconds since the progress began."""
    events: int
    """Events written to the ring so far."""
    rate: float
    """Events per second since the previous tick."""
    fill: float
    """Fraction of the ring in use."""
    dropped: int
    """Events dropped because the ring was full."""
    lag_bytes: int
    """Bytes the sidecar has yet to drain."""


class DemoRun:
    """The processes of ``ttview demo``: a sidecar (unless one already drains ``shm_dir``) and the
    demo producer (``python -m ttlog.demo``), both on ``shm_dir``.

    Leaving the ``with`` block stops the producer (SIGTERM: the engine snapshots with reason
    ``signal``) if it still runs, waits until the sidecar has snapshotted and removed its ring,
    stops the sidecar started here, and removes ``shm_dir`` if it was made here (``private``).
    """

    def __init__(
        self, *, shm_dir: Path | None, snapshot_dir: Path, producer_args: list[str], quiet: bool
    ) -> None:
        self.private = shm_dir is None
        self.shm_dir = shm_dir if shm_dir is not None else self._private_dir()
        self.snapshot_dir = snapshot_dir
        self.producer_args = producer_args
        self.quiet = quiet
        self.sidecar: subprocess.Popen[bytes] | None = None
        self.producer: subprocess.Popen[bytes] | None = None
        self._before: set[Path] = set()

    @staticmethod
    def _private_dir() -> Path:
        base = Path("/dev/shm")
        usable = base.is_dir() and os.access(base, os.W_OK)
        return Path(tempfile.mkdtemp(prefix="ttview-demo-", dir=base if usable else None))

    @staticmethod
    def _env() -> dict[str, str]:
        """The children's environment: the engine importable from where this one was imported."""
        import ttlog

        env = dict(os.environ)
        root = str(Path(ttlog.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def __enter__(self) -> DemoRun:
        from ttlog.sidecar import sidecar_running
        from ttlog.store import list_snapshots

        self._before = set(list_snapshots(self.snapshot_dir))
        env = self._env()
        shm = str(self.shm_dir)
        try:
            if not sidecar_running(self.shm_dir):
                with open(self.snapshot_dir / "sidecar.log", "ab") as log:
                    self.sidecar = subprocess.Popen(
                        [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", shm, "--snapshot-dir",
                         str(self.snapshot_dir)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
                    )  # fmt: skip
            self.producer = subprocess.Popen(
                [sys.executable, "-m", "ttlog.demo", "--shm-dir", shm, *self.producer_args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL if self.quiet else None, env=env, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.producer is not None:
            self._stop(self.producer, timeout=10)
            self._wait_drained(self.producer.pid, timeout=15)
        if self.sidecar is not None:
            self._stop(self.sidecar, timeout=15)
        if self.private:
            shutil.rmtree(self.shm_dir, ignore_errors=True)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _wait_drained(self, pid: int, *, timeout: float) -> None:
        """Wait until the sidecar has snapshotted and removed the ring of ``pid`` (or ``timeout``)."""
        from ttlog.reader import list_rings

        deadline = time.monotonic() + timeout
        mine = re.compile(rf"-{pid}(\.\d+)?\.ring$")
        while time.monotonic() < deadline and any(mine.search(p.name) for p in list_rings(self.shm_dir)):
            time.sleep(0.1)

    def progress(self, every: float = 1.0) -> Iterator[DemoTick]:
        """The producer's ring every ``every`` seconds (while it has one), until the producer exits."""
        from ttview.lsinfo import live_rings

        assert self.producer is not None
        start = last_t = time.monotonic()
        last_n = 0
        while True:
            try:
                self.producer.wait(timeout=every)
            except subprocess.TimeoutExpired:
                pass
            rows = [r for r in live_rings(self.shm_dir) if r.pid == self.producer.pid]
            now = time.monotonic()
            if rows:
                r = rows[0]
                rate = (r.events - last_n) / max(now - last_t, 1e-3)
                last_n, last_t = r.events, now
                yield DemoTick(
                    elapsed=now - start,
                    events=r.events,
                    rate=rate,
                    fill=r.fill,
                    dropped=r.dropped,
                    lag_bytes=r.lag_bytes,
                )
            if self.producer.poll() is not None:
                return

    def new_snapshots(self) -> list[Path]:
        """The snapshots written into ``snapshot_dir`` since the ``with`` block was entered."""
        from ttlog.store import list_snapshots

        return [p for p in list_snapshots(self.snapshot_dir) if p not in self._before]
