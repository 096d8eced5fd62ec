"""Files a sidecar must not trust: a ring header with any pid, with positions that cannot be right,
a ring truncated while it is drained, a lock file that is no lock file, files named like rings
that are not this user's rings. Each is reported once, the good rings next to it are drained,
and nothing that is not the sidecar's own is read as a ring, written or deleted."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from ttlog import ring as R
from ttlog.reader import RingReader
from typer.testing import CliRunner

from tests.ttlog.sidecar_util import dead_pid, figures, make_ring, run_once, start_sidecar, wait_for, write


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    return shm, snaps


def poke(path: Path, off: int, fmt: str, *values: int) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack(fmt, *values), off)
    finally:
        os.close(fd)


def lines_naming(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if name in line]


def ls_json(shm: Path, snaps: Path) -> dict:
    from ttview.cli import app

    snaps.mkdir(exist_ok=True)
    result = CliRunner().invoke(app, ["ls", "--shm-dir", str(shm), "--snapshot-dir", str(snaps), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def live_rows(shm: Path) -> tuple[int, dict[str, str | None]]:
    from ttview.sources import LiveSource

    with LiveSource(shm) as live:
        frame = live.poll()
        errors = {p.name: s.error for p, s in live.rings.items()}
    return frame.height, errors


@pytest.mark.parametrize("pid", [2**62, -5, 2**63 - 1, 0])
def test_any_pid_in_a_ring_header(dirs: tuple[Path, Path], pid: int) -> None:
    """Issue 10 item 5: a pid no process can have is a dead producer, never an exception."""
    shm, snaps = dirs
    good = make_ring(shm, n=100, service="good", close=None, pid=dead_pid())
    odd = make_ring(shm, n=50, service="odd", close=None)
    poke(odd.path, R.H_PID, "<q", pid)
    rows = ls_json(shm, snaps)["rings"]
    assert {r["service"] for r in rows} == {"good", "odd"} and not any(r["error"] for r in rows)
    assert live_rows(shm) == (150, {good.path.name: None, odd.path.name: None})
    done = run_once(shm, snaps)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    fig = figures(snaps)
    assert sorted(fig.stored.values()) == [50, 100] and set(fig.reasons) == {"crash"}
    assert not good.path.exists() and not odd.path.exists()


BAD_POSITIONS = {
    "write_pos_2**63": [(R.H_WRITE_POS, 2**63), (R.H_RESERVE_POS, 2**63)],
    "write_pos_unaligned": [(R.H_WRITE_POS, 12345)],
    "read_pos_beyond_write_pos": [(R.H_READ_POS, 1 << 40)],
    "drop_mode_lapped": [(R.H_WRITE_POS, 10 << 20), (R.H_RESERVE_POS, 10 << 20)],
    "strtab_used_beyond": [(R.H_STRTAB_USED, 1 << 40)],
}


@pytest.mark.parametrize("case", sorted(BAD_POSITIONS))
def test_a_header_whose_positions_cannot_be_right(dirs: tuple[Path, Path], case: str) -> None:
    """Issue 10 item 6: reported once, left alone (not drained, not removed); the other rings are
    drained; ``ttview ls`` and the live view show it as an error and carry on."""
    shm, snaps = dirs
    good = make_ring(shm, n=100, service="good", pid=dead_pid())
    bad = make_ring(shm, n=100, service="bad", pid=dead_pid())
    for off, value in BAD_POSITIONS[case]:
        poke(bad.path, off, "<Q", value)
    before = bad.path.read_bytes()
    rows = {r["service"] or Path(r["path"]).name: r for r in ls_json(shm, snaps)["rings"]}
    assert rows[bad.path.name]["error"] and not rows["good"]["error"]
    height, errors = live_rows(shm)
    assert height == 100 and errors[bad.path.name] and errors[good.path.name] is None
    done = run_once(shm, snaps)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert len(lines_naming(done.stderr, bad.path.name)) == 1
    assert figures(snaps).values[next(iter(figures(snaps).stored))] == list(range(100))
    assert not good.path.exists() and bad.path.read_bytes() == before


def test_a_bad_ring_is_reported_once_by_a_running_sidecar(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    bad = make_ring(shm, n=10, service="bad", pid=dead_pid())
    poke(bad.path, R.H_WRITE_POS, "<Q", 2**63)
    proc = start_sidecar(shm, snaps, "--interval", "0.2")
    good = make_ring(shm, n=10, service="good", pid=dead_pid())
    wait_for(lambda: not good.path.exists(), what="the good ring to be drained")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and len(lines_naming(err, bad.path.name)) == 1, err
    status = json.loads((shm / ".ttlog-sidecar.json").read_text())
    assert str(bad.path) in status["unreadable"]


def test_a_ring_truncated_while_being_drained(dirs: tuple[Path, Path]) -> None:
    """Issue 10 item 8: no SIGBUS; the ring is reported and left alone, what was read of it is
    written, and the other ring is drained as usual."""
    shm, snaps = dirs
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a live "producer"
    try:
        victim = make_ring(shm, n=1000, service="victim", pid=holder.pid, close=None)
        good = make_ring(shm, n=1000, service="good", pid=holder.pid, close=None)
        proc = start_sidecar(shm, snaps, "--interval", "3600")

        def read_both() -> bool:
            try:
                rings = json.loads((shm / ".ttlog-sidecar.json").read_text())["rings"]
            except (OSError, ValueError, KeyError):
                return False
            return sorted(r.get("lag_events") for r in rings) == [1000, 1000]

        wait_for(read_both, what="the sidecar to read both rings")
        os.truncate(victim.path, R.HEADER_SIZE)  # the header stays, the records go
        with open(victim.path, "r+b") as fh:  # and it looks as if the producer wrote on
            hdr = fh.read(R.HEADER_SIZE)
            write_pos = struct.unpack_from("<Q", hdr, R.H_WRITE_POS)[0]
            fh.seek(R.H_WRITE_POS)
            fh.write(struct.pack("<Q", write_pos + 4096))
        write(good.path, n=500, start=1000, close="exit")
        wait_for(lambda: not good.path.exists(), what="the good ring to be drained")
        assert proc.poll() is None  # still running
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
    named = lines_naming(err, victim.path.name)
    assert len(named) == 1 and "truncated" in named[0]
    fig = figures(snaps)
    assert fig.by_service == {"victim": list(range(1000)), "good": list(range(1500))}
    assert "truncated" in fig.reasons
    assert victim.path.exists() and victim.path.stat().st_size == R.HEADER_SIZE  # left alone


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_a_lock_file_that_is_no_lock_file(dirs: tuple[Path, Path], kind: str) -> None:
    """Issue 10 item 9: one clear line and exit 2, promptly, never a hang."""
    from ttlog.sidecar import sidecar_running

    shm, snaps = dirs
    lock = shm / ".ttlog-sidecar.lock"
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "symlink":
        os.symlink(snaps / "elsewhere", lock)
    else:
        lock.mkdir()
    make_ring(shm, n=10, pid=dead_pid())
    done = run_once(shm, snaps, timeout=30)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(lock) in lines[0]
    assert {"fifo": "FIFO", "symlink": "symbolic link", "directory": "directory"}[kind] in lines[0]
    assert not sidecar_running(shm)


def test_files_named_like_rings_that_are_not_this_users_rings(dirs: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    """Issue 10 item 10: hard links, symbolic links, FIFOs and a ring whose first record length
    is 0xFFFFFFF8 are never drained-and-removed nor silently ignored: each is reported in one line
    and in the status file, and left where it was (the corrupt one renamed, to keep it)."""
    shm, snaps = dirs
    good = make_ring(shm, n=100, service="good", pid=dead_pid())
    hard = make_ring(shm, n=10, service="hard", pid=dead_pid())
    second = shm / "ttlog-hard2-1.ring"
    os.link(hard.path, second)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = make_ring(elsewhere, n=10, service="target", pid=dead_pid())
    link = shm / "ttlog-link-1.ring"
    os.symlink(target.path, link)
    fifo = shm / "ttlog-fifo-1.ring"
    os.mkfifo(fifo)
    corrupt = make_ring(shm, n=10, service="corrupt", pid=dead_pid())
    with RingReader(corrupt.path) as reader:
        data_off, read_pos = reader.geo.data_off, reader.info().read_pos
    poke(corrupt.path, data_off + read_pos, "<I", 0xFFFFFFF8)
    kept = {p: p.read_bytes() for p in (hard.path, target.path)}
    done = run_once(shm, snaps)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    for name in (hard.path.name, second.name, link.name, fifo.name, corrupt.path.name):
        assert len(lines_naming(done.stderr, name)) == 1, (name, done.stderr)
    assert not good.path.exists() and figures(snaps).by_service["good"] == list(range(100))
    assert all(p.read_bytes() == body for p, body in kept.items()) and second.exists() and link.is_symlink()
    assert fifo.exists() and corrupt.path.with_name(corrupt.path.name + ".corrupt").exists()
    status = json.loads((shm / ".ttlog-sidecar.json").read_text())
    assert {Path(p).name for p in status["skipped"]} == {hard.path.name, second.name, link.name, fifo.name}
    rows = {Path(r["path"]).name: r for r in ls_json(shm, snaps)["rings"]}
    assert all(rows[n]["error"] for n in (hard.path.name, second.name, link.name, fifo.name))


def test_another_users_ring_is_skipped(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring of another uid is neither drained nor removed (as root: a ring given to uid 65534;
    otherwise the files are made to look like another user's by changing who we are)."""
    shm, snaps = dirs
    other = make_ring(shm, n=10, service="other", pid=dead_pid())
    body = other.path.read_bytes()
    if os.geteuid() == 0:
        os.chown(other.path, 65534, 65534)
        done = run_once(shm, snaps)
        assert done.returncode == 0 and len(lines_naming(done.stderr, other.path.name)) == 1, done.stderr
        assert "uid 65534" in lines_naming(done.stderr, other.path.name)[0]
        assert not list(snaps.glob("*.ttsnap"))
    from ttlog.reader import scan_rings

    monkeypatch.setattr(os, "geteuid", lambda: 4242 if os.getuid() != 4242 else 4243)
    rings, skipped = scan_rings(shm)
    assert rings == [] and [s.path for s in skipped] == [other.path] and "owned by uid" in skipped[0].reason
    assert other.path.read_bytes() == body
