"""What the sidecar does with files that are not rings: retention deletes only the snapshots it
wrote, temporary files of a killed writer are cleaned at start (only those), and a sidecar
started by ``ttlog.init(sidecar=True)`` goes away once its rings are drained and gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ttlog.sidecar_util import ROOT, dead_pid, env, figures, make_ring, run_once, wait_for


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    snaps.mkdir()
    return shm, snaps


def test_retention_deletes_only_what_the_sidecar_wrote(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 10 item 16: a user's own snapshots in the directory (older than anything the sidecar
    wrote, so first in line) are never deleted; of the sidecar's own only the newest is kept."""
    from ttlog.codec import write_snapshot
    from ttlog.reader import RingReader

    shm, snaps = dirs
    source = make_ring(tmp_path, n=20, pid=dead_pid(), service="mine")
    mine = write_snapshot(snaps, RingReader(source.path).read_all(), service="mine", reason="exit",
                          created_ns=10**18)
    odd = snaps / "notes.2001.ttsnap"
    odd.write_bytes(b"not even a snapshot")
    for k in range(3):
        make_ring(shm, n=10, pid=dead_pid(), service=f"svc{k}")
        assert run_once(shm, snaps, "--keep-files", "1").returncode == 0
        time.sleep(0.01)
    left = sorted(p.name for p in snaps.glob("*.ttsnap"))
    assert mine.name in left and odd.name in left
    assert len(left) == 3 and any(name.startswith("svc2.") for name in left)


def test_orphan_temporary_files_are_cleaned_on_start(dirs: tuple[Path, Path]) -> None:
    """Issue 10 item 16: temporary files of writers that are gone (this engine's name pattern,
    regular files of this user) are removed at start; anything else is left alone."""
    shm, snaps = dirs
    gone = dead_pid()
    orphan = snaps / f".svc.1.20260101T000000.000000Z.periodic.ttsnap.{gone}.0123abcd.tmp"
    legacy = snaps / ".svc.1.20260101T000000.000000Z.exit.ttsnap.0123456789ab.tmp"
    legacy_new = snaps / ".svc.2.20260101T000000.000000Z.exit.ttsnap.ba9876543210.tmp"
    writing = snaps / f".svc.3.20260101T000000.000000Z.exit.ttsnap.{os.getpid()}.0123abcd.tmp"
    other = snaps / ".someone-elses.tmp"
    status_orphan = shm / f"..ttlog-sidecar.json.{gone}.deadbeef.tmp"
    a_dir = snaps / f".dir.ttsnap.{gone}.0123abcd.tmp"
    for p in (orphan, legacy, legacy_new, writing, other, status_orphan):
        p.write_bytes(b"x")
    a_dir.mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(legacy, (two_hours_ago, two_hours_ago))
    done = run_once(shm, snaps)
    assert done.returncode == 0, done.stderr
    assert not orphan.exists() and not legacy.exists() and not status_orphan.exists()
    assert legacy_new.exists() and writing.exists() and other.exists() and a_dir.is_dir()
    assert "removed 3 temporary file(s)" in done.stderr


def test_init_with_sidecar_exits_once_its_rings_are_drained(tmp_path: Path) -> None:
    """Issue 10 item 17: the sidecar that ``ttlog.init(sidecar=True)`` starts drains the ring and
    then exits (it stays while any ring or spool is left in the directory)."""
    from ttlog.sidecar import LOCK_NAME, sidecar_running

    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    script = (
        "import sys, ttlog\n"
        "ttlog.init('auto', shm_dir=sys.argv[1], snapshot_dir=sys.argv[2], sidecar=True)\n"
        "log = ttlog.get_logger('x')\n"
        "for i in range(1000):\n"
        "    log.info('m', i=i)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(shm), str(snaps)], check=True, env=env(), cwd=ROOT,
                   timeout=60)
    try:
        wait_for(lambda: sidecar_running(shm), timeout=10, what="the sidecar to start")
        wait_for(lambda: not sidecar_running(shm), timeout=30, what="the sidecar to exit by itself")
    finally:
        try:
            pid = int((shm / LOCK_NAME).read_text().split()[0])
            if sidecar_running(shm):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
    fig = figures(snaps)
    assert list(fig.values.values()) == [list(range(1000))] and fig.reasons == ["exit"]
    assert not list(shm.glob("ttlog-*.ring")) and not list(shm.glob(".ttlog-spool*"))
