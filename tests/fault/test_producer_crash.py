"""A producer SIGKILLed mid-burst: every committed record is recovered, and nothing else."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ttlog import ring as R
from ttlog.reader import RingReader, header_info

CHILD = r"""
import sys, ttlog
path = ttlog.init("crashy", shm_dir=sys.argv[1], ring_size=sys.argv[2], overflow=sys.argv[3], level="TRACE")
print(path, flush=True)
log = ttlog.get_logger("burst")
i = 0
while True:
    log.trade("fill", n=i, symbol="AAPL", px=1.5 + i, note="x" * (i % 37))
    i += 1
"""


def child_env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TTLOG_PURE_PYTHON"] = "1" if impl == "python" else "0"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_and_kill(impl: str, shm: Path, ring_size: str, overflow: str, delay: float) -> Path:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(shm), ring_size, overflow],
                            stdout=subprocess.PIPE, env=child_env(impl), text=True)
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().strip())
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return path


@pytest.mark.parametrize("trial", range(4))
def test_sigkill_mid_burst_drop_mode(impl: str, tmp_path: Path, trial: int) -> None:
    path = run_and_kill(impl, tmp_path, "4MiB", "drop", random.uniform(0.05, 0.4))
    with RingReader(path, consume=True) as reader:
        info = reader.info()
        assert not info.alive and info.state == R.STATE_LIVE  # died without a clean exit
        events = [e for b in reader.read_all(final=True) for e in b.events()]
    assert events, "the child wrote nothing before the kill"
    # every record is whole and in order; no gaps
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert [e["fields"]["n"] for e in events] == list(range(len(events)))
    for e in events:
        n = e["fields"]["n"]
        assert e["fields"] == {"n": n, "symbol": "AAPL", "px": 1.5 + n, "note": "x" * (n % 37)}
    # nothing beyond what was committed: published records, plus at most the one committed
    # but not yet published when the kill landed
    assert len(events) - info.seq_next in (0, 1)
    dropped = info.dropped
    assert len(events) + dropped >= info.seq_next


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_mid_burst_overwrite_mode(impl: str, tmp_path: Path, trial: int) -> None:
    path = run_and_kill(impl, tmp_path, "64KiB", "overwrite", random.uniform(0.1, 0.4))
    with RingReader(path, consume=True) as reader:
        info = reader.info()
        events = [e for b in reader.read_all(final=True) for e in b.events()]
        lost = reader.lost_total()
    ns = [e["fields"]["n"] for e in events]
    assert ns == list(range(ns[0], ns[0] + len(ns)))  # the newest records, contiguous
    assert [e["seq"] for e in events] == ns
    assert lost == ns[0]
    assert ns[-1] + 1 - info.seq_next in (0, 1)


def test_attach_rejects_foreign_and_other_versions(impl: str, tmp_path: Path) -> None:
    from tests.conftest import ring_classes

    ring_cls, _ = ring_classes(impl)
    foreign = tmp_path / "ttlog-x-1.ring"
    foreign.write_bytes(b"not a ring" * 1000)
    with pytest.raises(R.RingError, match="not a ttlog ring"):
        ring_cls().map(foreign)
    good = R.create_ring_file(tmp_path, service="v", ring_size="64KiB")
    with open(good, "r+b") as fh:
        fh.seek(R.H_VERSION)
        fh.write((99).to_bytes(4, "little"))
    with pytest.raises(R.RingError, match="version 99"):
        ring_cls().map(good)
    with pytest.raises(R.RingError, match="version 99"):
        RingReader(good)


def test_init_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(R.RingError, match="does not exist"):
        R.create_ring_file(tmp_path / "missing", service="x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode; use a file in place of a directory
            bad = tmp_path / "file"
            bad.write_text("")
            with pytest.raises(R.RingError, match="does not exist"):
                R.create_ring_file(bad, service="x")
        else:
            with pytest.raises(R.RingError, match="not writable"):
                R.create_ring_file(ro, service="x")
    finally:
        ro.chmod(0o700)
    for bad_size in ("3MiB", "1KiB", "lots"):
        with pytest.raises((R.RingError, ValueError)):
            R.create_ring_file(tmp_path, service="x", ring_size=bad_size)


def test_ring_file_mode_and_name(tmp_path: Path) -> None:
    p1 = R.create_ring_file(tmp_path, service="trading engine/1", ring_size="64KiB", pid=4242)
    p2 = R.create_ring_file(tmp_path, service="trading engine/1", ring_size="64KiB", pid=4242)
    assert p1.name == "ttlog-trading_engine_1-4242.ring" and p2 != p1
    assert (p1.stat().st_mode & 0o777) == 0o600
    with RingReader(p1) as reader:
        info = reader.info()
    assert (info.service, info.pid) == ("trading engine/1", 4242)
    assert header_info is not None
