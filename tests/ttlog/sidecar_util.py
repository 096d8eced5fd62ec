"""Helpers for the sidecar tests: rings made in this process (with either writer), a sidecar run
in a subprocess or in a thread, and the figures its snapshots hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttlog import ring as R

from tests.conftest import ring_classes

ROOT = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@dataclass
class Made:
    path: Path
    calls: int = 0


def make_ring(shm: Path, impl: str = "python", *, service: str = "svc", n: int = 100, pid: int | None = None,
              ring_size: str = "1MiB", overflow: str = "drop", close: str | None = "exit", start: int = 0,
              big: int = 0) -> Made:
    """A ring with ``n`` records ``info("m", i=start..)``, then ``big`` records too large for the
    ring (dropped), written by ``impl``; closed with reason ``close`` (None: left live)."""
    path = R.create_ring_file(shm, service=service, ring_size=ring_size, overflow=overflow, level="TRACE",
                              pid=os.getpid() if pid is None else pid)
    made = Made(path)
    write(path, impl, n=n, start=start, big=big, close=close)
    made.calls = n + big
    return made


def write(path: Path, impl: str = "python", *, n: int = 0, start: int = 0, big: int = 0,
          close: str | None = None) -> None:
    ring_cls, logger_cls = ring_classes(impl)
    ring = ring_cls()
    ring.map(path)
    try:
        log = logger_cls(ring, "t")
        for i in range(start, start + n):
            log.info("m", i=i)
        cap = ring.header_u64(R.H_DATA_CAP)
        for _ in range(big):  # larger than half the ring: counted in dropped, nothing written
            log.info("big", **{f"f{k}": "x" * 4000 for k in range(cap // 2 // 4000 + 2)})
        if close:
            ring.set_header_u32(R.H_EXIT_REASON, ring.intern(close, R.S_OTHER))
            ring.set_header_u32(R.H_STATE, R.STATE_CLOSED)
    finally:
        ring.unmap()


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def run_once(shm: Path, snaps: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m ttlog.sidecar --once`` on ``shm``."""
    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm), "--snapshot-dir", str(snaps),
           "--once"]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, env=env(), timeout=timeout)


def start_sidecar(shm: Path, snaps: Path, *extra: str) -> subprocess.Popen[str]:
    """A sidecar process, returned once it has written its status (its first pass)."""
    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm), "--snapshot-dir", str(snaps), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())

    def ready() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return json.loads((shm / ".ttlog-sidecar.json").read_text()).get("pid") == proc.pid
        except (OSError, ValueError):
            return False

    wait_for(ready, what="the sidecar's first pass")
    return proc


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Figures:
    """What the snapshots of a directory hold, per ring (by pid)."""

    files: list[tuple[str, int, int, int]] = field(default_factory=list)  # (reason, events, dropped, lost)
    stored: dict[int, int] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)
    lost: dict[int, int] = field(default_factory=dict)
    seqs: dict[int, list[int]] = field(default_factory=dict)
    values: dict[int, list[Any]] = field(default_factory=dict)
    by_service: dict[str, list[Any]] = field(default_factory=dict)  # the ``i`` of each event, in order

    @property
    def reasons(self) -> list[str]:
        return [f[0] for f in self.files]


def figures(snaps: Path) -> Figures:
    from ttlog.store import list_snapshots

    from ttview.decode import read_snapshot

    out = Figures()
    for path in list_snapshots(snaps):
        snap = read_snapshot(path)
        info = snap.info
        out.files.append((info.reason, len(snap), info.dropped, info.lost))
        for src in snap.sources:
            pid = int(src["pid"])
            out.dropped[pid] = out.dropped.get(pid, 0) + int(src["dropped"])
            out.lost[pid] = out.lost.get(pid, 0) + int(src["lost"])
            out.stored.setdefault(pid, 0)
        for ev in snap.iter_events():
            pid = int(ev["pid"])
            out.stored[pid] = out.stored.get(pid, 0) + 1
            out.seqs.setdefault(pid, []).append(ev["seq"])
            out.values.setdefault(pid, []).append(ev["fields"].get("i"))
            out.by_service.setdefault(ev["service"], []).append(ev["fields"].get("i"))
    for seqs in out.seqs.values():
        seqs.sort()
    return out


class ThreadSidecar:
    """A Sidecar object running in a thread of this process (so a test can slow parts of it)."""

    def __init__(self, shm: Path, snaps: Path, **settings: Any) -> None:
        import dataclasses

        from ttlog.sidecar import Settings, Sidecar

        known = {f.name for f in dataclasses.fields(Settings)}  # (an older engine has fewer settings)
        self.sidecar = Sidecar(Settings(shm_dir=shm, snapshot_dir=snaps,
                                        **{k: v for k, v in settings.items() if k in known}))
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.sidecar.run()

    def __enter__(self) -> ThreadSidecar:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sidecar.stop()
        self.thread.join(timeout=60)
