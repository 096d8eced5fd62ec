"""The sidecar under crashes: producers killed at random points, the sidecar itself killed and
restarted, overflow in both modes, clean/exception/signal exits, and an unwritable snapshot dir.

Every test runs a real sidecar process against real producer processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ttview.decode import read_snapshot

ROOT = Path(__file__).resolve().parents[2]

PRODUCER = r"""
import os, sys, time, signal, ttlog
shm, ring_size, overflow, count, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
path = ttlog.init("victim", shm_dir=shm, ring_size=ring_size, overflow=overflow, level="TRACE")
print(path, flush=True)
log = ttlog.get_logger("burst")
i = 0
while count < 0 or i < count:
    log.trade("fill", n=i, symbol="AAPL", px=1.5 + i, note="x" * (i % 23))
    i += 1
    if mode == "request" and i == count // 2:
        ttlog.snapshot("halfway")
        time.sleep(1.0)  # still running when the sidecar looks
    if mode == "slow" and i % 200 == 0:
        time.sleep(0.002)
if mode == "exception":
    raise RuntimeError("producer failed")
if mode == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
if mode == "hold":
    time.sleep(60)
"""


def env_for(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TTLOG_PURE_PYTHON"] = "1" if impl == "python" else "0"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_producer(impl: str, shm: Path, *, count: int = -1, mode: str = "run", ring_size: str = "4MiB",
                   overflow: str = "drop") -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, str(shm), ring_size, overflow, str(count), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(impl), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else "producer printed nothing"
    return proc, Path(line)


def start_sidecar(shm: Path, snaps: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A sidecar process, returned once it has made its first pass (its status names its pid)."""
    import json

    proc = subprocess.Popen([sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm), "--snapshot-dir",
                             str(snaps), "--interval", "0.3", "--max-events", "4000", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env_for("c"))

    def ready() -> bool:
        if proc.poll() is not None:
            return True  # it exited (e.g. an unwritable directory): the test looks at why
        try:
            return json.loads((shm / ".ttlog-sidecar.json").read_text()).get("pid") == proc.pid
        except (OSError, ValueError):
            return False

    wait_for(ready, what="the sidecar's first pass")
    return proc


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=30)


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def snapshot_events(snaps: Path) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    events: list[dict[str, Any]] = []
    reasons: list[str] = []
    totals = {"dropped": 0, "lost": 0}
    for path in sorted(snaps.glob("*.ttsnap")):
        snap = read_snapshot(path)
        reasons.append(snap.info.reason)
        events.extend(snap.iter_events())
        totals["dropped"] += snap.info.dropped  # each file: what happened since the previous one
        totals["lost"] += snap.info.lost
    events.sort(key=lambda e: e["seq"])
    return events, reasons, totals


def check_exact(events: list[dict[str, Any]], upto: int) -> None:
    """Records 0..upto-1, each once, each whole."""
    assert [e["seq"] for e in events] == list(range(upto))
    for e in events:
        n = e["fields"]["n"]
        assert n == e["seq"]
        assert e["fields"] == {"n": n, "symbol": "AAPL", "px": 1.5 + n, "note": "x" * (n % 23)}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    return shm, snaps


@pytest.mark.parametrize("trial", range(12))
def test_producer_sigkilled_at_random_points(impl: str, dirs: tuple[Path, Path], trial: int) -> None:
    shm, snaps = dirs
    sidecar = start_sidecar(shm, snaps)
    try:
        proc, ring = start_producer(impl, shm, mode="slow", ring_size="32MiB")
        time.sleep(random.uniform(0.02, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(ring, "rb") as fh:
            import struct

            hdr = fh.read(4096)
        seq_next = struct.unpack_from("<Q", hdr, 280)[0]
        wait_for(lambda: not ring.exists(), what="the dead producer's ring to be drained and removed")
    finally:
        stop(sidecar)
    events, reasons, totals = snapshot_events(snaps)
    assert reasons[-1] == "crash" and set(reasons[:-1]) <= {"periodic"}
    assert totals["dropped"] == 0
    check_exact(events, len(events))  # each record once, whole, no gaps
    assert len(events) - seq_next in (0, 1)  # + the record committed but not yet published


def test_sidecar_killed_and_restarted_loses_and_repeats_nothing(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    count = 200_000  # about two seconds in "slow" mode: room for several kills
    proc, ring = start_producer("c", shm, count=count, mode="slow", ring_size="64MiB")
    sidecar = start_sidecar(shm, snaps)
    kills = 0
    try:
        while proc.poll() is None and kills < 6:
            time.sleep(random.uniform(0.05, 0.3))
            stop(sidecar, signal.SIGKILL)
            kills += 1
            sidecar = start_sidecar(shm, snaps)
        proc.wait(timeout=120)
        wait_for(lambda: not ring.exists(), timeout=60, what="the ring to be drained after a clean exit")
    finally:
        stop(sidecar)
    assert kills >= 2
    events, reasons, totals = snapshot_events(snaps)
    assert totals["dropped"] == 0
    check_exact(events, count)
    assert reasons[-1] == "exit"


@pytest.mark.parametrize("overflow", ["drop", "overwrite"])
def test_overflow_counts_are_exact_in_snapshots(impl: str, dirs: tuple[Path, Path], overflow: str) -> None:
    shm, snaps = dirs
    count = 40_000
    proc, ring = start_producer(impl, shm, count=count, mode="run", ring_size="64KiB", overflow=overflow)
    proc.wait(timeout=120)  # the ring overflows: no sidecar ran while it wrote
    sidecar = start_sidecar(shm, snaps)
    try:
        wait_for(lambda: not ring.exists(), what="the ring to be drained")
    finally:
        stop(sidecar)
    events, reasons, totals = snapshot_events(snaps)
    seqs = [e["seq"] for e in events]
    assert len(set(seqs)) == len(seqs) == len(events)
    if overflow == "drop":
        assert totals["dropped"] > 0 and totals["lost"] == 0
        assert len(events) + totals["dropped"] == count
        check_exact(events, len(events))  # the first records were kept, the rest dropped
    else:
        assert totals["dropped"] == 0 and totals["lost"] > 0
        assert len(events) + totals["lost"] == count
        assert seqs == list(range(count - len(events), count))  # the newest were kept


@pytest.mark.parametrize("mode,reason", [("run", "exit"), ("exception", "exception"), ("sigterm", "signal")])
def test_exit_reasons(dirs: tuple[Path, Path], mode: str, reason: str) -> None:
    shm, snaps = dirs
    proc, ring = start_producer("c", shm, count=500, mode=mode)
    proc.wait(timeout=60)
    sidecar = start_sidecar(shm, snaps)
    try:
        wait_for(lambda: not ring.exists(), what="the ring to be drained")
    finally:
        stop(sidecar)
    events, reasons, _ = snapshot_events(snaps)
    assert reasons == [reason]
    assert [e["seq"] for e in events][:500] == list(range(500))
    if mode == "exception":
        assert events[-1]["message"] == "Uncaught exception"
        assert "RuntimeError: producer failed" in events[-1]["fields"]["traceback"]


def test_snapshot_on_request_from_producer_and_shell(dirs: tuple[Path, Path]) -> None:
    from ttlog.sidecar import request_snapshot

    shm, snaps = dirs
    sidecar = start_sidecar(shm, snaps, "--interval", "3600")
    try:
        proc, ring = start_producer("c", shm, count=2000, mode="request")
        wait_for(lambda: any("halfway" in p.name for p in snaps.glob("*.ttsnap")),
                 what="the producer's request")
        proc.wait(timeout=60)
        wait_for(lambda: not ring.exists(), what="the exit snapshot")
        proc2, ring2 = start_producer("c", shm, count=100, mode="hold")
        request_snapshot(shm, service="victim", reason="from-shell")
        wait_for(lambda: any("from-shell" in p.name for p in snaps.glob("*.ttsnap")),
                 what="the shell request")
        stop(proc2, signal.SIGKILL)
    finally:
        stop(sidecar)
    reasons = sorted(read_snapshot(p).info.reason for p in snaps.glob("*.ttsnap"))
    assert reasons.count("halfway") == 1 and reasons.count("exit") == 1 and reasons.count("from-shell") == 1
    halfway = next(p for p in snaps.glob("*.ttsnap") if read_snapshot(p).info.reason == "halfway")
    assert len(read_snapshot(halfway)) == 1000


def test_unwritable_snapshot_dir_loses_nothing(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    snaps.write_text("a file where the sidecar wants its snapshot directory")
    proc, ring = start_producer("c", shm, count=3000, mode="run")
    proc.wait(timeout=60)
    sidecar = start_sidecar(shm, snaps)
    try:
        time.sleep(1.5)  # several failed attempts
        assert sidecar.poll() is None  # still running, still retrying
        assert ring.exists()  # nothing could be written, so nothing was committed or removed
        snaps.unlink()  # the directory becomes writable: the same sidecar now succeeds
        wait_for(lambda: not ring.exists(), what="the drain after the directory was fixed")
    finally:
        stop(sidecar)
    assert sidecar.stderr is not None
    err = sidecar.stderr.read().decode()
    assert "Traceback" not in err and "nothing committed; retrying" in err
    events, reasons, _ = snapshot_events(snaps)
    check_exact(events, 3000)
    assert reasons == ["exit"]


def test_dead_producer_backlog_larger_than_one_snapshot(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    count = 200_000  # more than one 16 MiB read and far over --max-events 4000, read after it died
    proc, ring = start_producer("c", shm, count=count, mode="run", ring_size="64MiB")
    proc.wait(timeout=60)
    sidecar = start_sidecar(shm, snaps)
    try:
        wait_for(lambda: not ring.exists(), what="the backlog to be written in parts")
    finally:
        stop(sidecar)
    events, reasons, totals = snapshot_events(snaps)
    check_exact(events, count)
    assert len(reasons) >= 2 and reasons[-1] == "exit" and set(reasons[:-1]) == {"periodic"}
