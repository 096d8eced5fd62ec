"""Producers flat out into default rings with a sidecar running: every call is stored or counted as
dropped, exactly, per producer (issue 10, "Done when"). The short version of
bench/bench_accounting.py, which also reports the drop rate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests.ttlog.sidecar_util import env, start_sidecar, wait_for

PRODUCER = r"""
import sys, time, ttlog
ttlog.init("flat", shm_dir=sys.argv[1])
log = ttlog.get_logger("orders")
info = log.info
calls = 0
end = time.monotonic() + float(sys.argv[2])
while True:
    for i in range(1000):
        info("Order placed", order_id=i, qty=100, price=150.25)
    calls += 1000
    if time.monotonic() >= end:
        break
print(calls, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("producers", [1, 2])
def test_calls_equal_stored_plus_dropped(tmp_path: Path, producers: int) -> None:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="ttlog-flat-", dir=base) as shm_name:
        shm, snaps = Path(shm_name), tmp_path / "snaps"
        sidecar = start_sidecar(shm, snaps)
        try:
            procs = [subprocess.Popen([sys.executable, "-c", PRODUCER, str(shm), "2"], stdout=subprocess.PIPE,
                                      text=True, env=env()) for _ in range(producers)]
            calls = {p.pid: int(p.communicate(timeout=120)[0]) for p in procs}
            wait_for(lambda: not list(shm.glob("ttlog-*.ring")), timeout=120, what="the rings to be drained")
        finally:
            sidecar.send_signal(signal.SIGTERM)
            _, err = sidecar.communicate(timeout=60)
    assert sidecar.returncode == 0 and "Traceback" not in err, err
    stored, dropped, lost, seqs = counts(snaps)
    for pid, n in calls.items():
        assert stored[pid] + dropped[pid] == n, (pid, n, stored[pid], dropped[pid])
        got = np.sort(np.concatenate(seqs[pid]))
        assert np.array_equal(got, np.arange(stored[pid]))  # each stored once: drops take no seq
        assert lost[pid] == 0


def counts(snaps: Path) -> tuple[dict[int, int], dict[int, int], dict[int, int], dict[int, list[np.ndarray]]]:
    """Per pid: events stored, dropped and lost (summed over the files), and the seqs stored."""
    from ttlog.store import list_snapshots

    from ttview.decode import read_snapshot

    stored: dict[int, int] = defaultdict(int)
    dropped: dict[int, int] = defaultdict(int)
    lost: dict[int, int] = defaultdict(int)
    seqs: dict[int, list[np.ndarray]] = defaultdict(list)
    for path in list_snapshots(snaps):
        cols = read_snapshot(path).columns
        for i, src in enumerate(cols.sources):
            pid = int(src["pid"])
            dropped[pid] += int(src["dropped"])
            lost[pid] += int(src["lost"])
            mine = np.asarray(cols.source) == i
            stored[pid] += int(mine.sum())
            seqs[pid].append(np.asarray(cols.seq)[mine])
    return stored, dropped, lost, seqs
