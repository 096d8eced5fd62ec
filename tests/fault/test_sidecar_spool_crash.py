"""A sidecar killed at each step of the spool's protocol, then restarted: nothing lost, nothing
written twice. The kill is a real ``os._exit`` at that step (no cleanup runs), in a sidecar
process draining a dead producer's ring in several parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ttlog.sidecar_util import dead_pid, env, figures, make_ring, run_once

DRIVER = r"""
import os, sys
from ttlog import drain, files, sidecar, store, spool
shm, snaps, point, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
calls = [0]
def dies(orig):
    def f(*a, **k):
        calls[0] += 1
        if calls[0] == nth:
            os._exit(9)  # a kill: no finally, no cleanup
        return orig(*a, **k)
    return f
if point == "ring-commit":  # the chunk is in the spool, the ring not told yet
    drain.RingDrain._commit_ring = dies(drain.RingDrain._commit_ring)
elif point == "link":  # the snapshot is complete and its intent recorded, not linked yet
    files.link_new = dies(files.link_new)
elif point == "manifest":  # linked, not recorded, the spool's tail not moved
    store.record_written = dies(store.record_written)
elif point == "apply":  # recorded, the spool's tail not moved
    spool.Spool.apply = dies(spool.Spool.apply)
elif point == "ring-fields":  # the spool moved, the ring's counts not updated
    drain.RingDrain.update_ring_fields = dies(drain.RingDrain.update_ring_fields)
sys.exit(sidecar.main(["--shm-dir", shm, "--snapshot-dir", snaps, "--once", "--max-events", "1000"]))
"""


@pytest.mark.parametrize("point,nth", [("ring-commit", 1), ("link", 1), ("link", 2), ("manifest", 2),
                                       ("apply", 2), ("ring-fields", 3)])
def test_killed_at_each_step_then_restarted(impl: str, tmp_path: Path, point: str, nth: int) -> None:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    made = make_ring(shm, impl, n=3500, pid=dead_pid(), big=2)
    killed = subprocess.run([sys.executable, "-c", DRIVER, str(shm), str(snaps), point, str(nth)],
                            capture_output=True, text=True, env=env(), timeout=120)
    assert killed.returncode == 9, killed.stderr
    assert made.path.exists()  # the kill came before the end
    done = run_once(shm, snaps, "--max-events", "1000")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert not made.path.exists() and not list(shm.glob(".ttlog-spool*"))
    fig = figures(snaps)
    (values,) = fig.values.values()
    assert values == list(range(3500))  # each once, none missing
    assert sum(fig.dropped.values()) == 2
    assert fig.reasons[-1] == "exit" and set(fig.reasons[:-1]) == {"periodic"}
    assert not [p for p in snaps.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
