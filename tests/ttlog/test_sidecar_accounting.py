"""Every call is stored or counted: per-file figures add up, the last drops of a ring are reported,
``--once`` drains a ring to its end, a snapshot that would carry nothing is not written, and the
ring is freed while a snapshot is still being written (the spool)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from ttlog import ring as R
from ttlog.reader import RingReader

from tests.ttlog.sidecar_util import (
    ThreadSidecar,
    dead_pid,
    figures,
    make_ring,
    run_once,
    wait_for,
    write,
)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    return shm, snaps


def header(path: Path) -> tuple[int, int, int]:
    """(seq_next, dropped, state) of a ring."""
    with RingReader(path) as reader:
        info = reader.info()
    return info.seq_next, info.dropped, info.state


def test_drops_after_the_last_snapshot_are_reported(impl: str, dirs: tuple[Path, Path]) -> None:
    """Issue 10 item 1: the producer drops records after the sidecar's last read and then exits
    with nothing new in the ring; the last snapshot must carry those drops (it used to be an
    empty file with no source, and the drops were gone without a trace)."""
    shm, snaps = dirs
    made = make_ring(shm, impl, n=300, close=None)  # live (this process)
    assert run_once(shm, snaps).returncode == 0  # a periodic part with the 300 events
    write(made.path, impl, big=7, close="exit")  # 7 records dropped, nothing else, then closed
    _, dropped, _ = header(made.path)
    assert dropped == 7
    done = run_once(shm, snaps)
    assert done.returncode == 0, done.stderr
    assert not made.path.exists()
    fig = figures(snaps)
    pid = os.getpid()
    assert fig.stored[pid] == 300 and fig.seqs[pid] == list(range(300))
    assert fig.dropped[pid] == 7  # summed over the files
    calls = made.calls + 7
    assert fig.stored[pid] + fig.dropped[pid] == calls  # calls = stored + dropped
    assert fig.reasons[-1] == "exit" and fig.files[-1][1:3] == (0, 7)


def test_per_file_dropped_and_lost_add_up(impl: str, dirs: tuple[Path, Path]) -> None:
    """Issue 10 item 4: each file carries what happened since the previous one, across sidecar
    runs too, so adding the files gives the ring's totals."""
    shm, snaps = dirs
    made = make_ring(shm, impl, n=50, big=3, close=None)
    assert run_once(shm, snaps).returncode == 0
    write(made.path, impl, n=50, start=50, big=4)
    assert run_once(shm, snaps).returncode == 0
    write(made.path, impl, n=50, start=100, big=5, close="exit")
    assert run_once(shm, snaps).returncode == 0
    fig = figures(snaps)
    pid = os.getpid()
    assert [f[2] for f in fig.files] == [3, 4, 5]
    assert fig.dropped[pid] == 12 and fig.stored[pid] == 150 and fig.values[pid] == list(range(150))
    assert fig.reasons == ["periodic", "periodic", "exit"]


def test_lost_in_overwrite_mode_adds_up(impl: str, dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    made = make_ring(shm, impl, n=5000, ring_size="64KiB", overflow="overwrite", close=None)
    assert run_once(shm, snaps).returncode == 0
    write(made.path, impl, n=5000, start=5000, close="exit")
    assert run_once(shm, snaps).returncode == 0
    fig = figures(snaps)
    pid = os.getpid()
    assert fig.stored[pid] + fig.lost[pid] == 10_000  # every record stored or counted as lost once
    assert fig.seqs[pid][-1] == 9999 and len(set(fig.seqs[pid])) == fig.stored[pid]
    assert all(f[3] > 0 for f in fig.files)


@pytest.mark.parametrize("close", ["exit", None])
def test_once_drains_a_dead_backlog_in_parts(impl: str, dirs: tuple[Path, Path], close: str | None) -> None:
    """Issue 10 item 3: one ``--once`` run drains a dead producer's ring holding more than
    ``--max-events`` to its end; the last part is named by why the ring ended, the rest periodic."""
    shm, snaps = dirs
    made = make_ring(shm, impl, n=5000, pid=dead_pid(), close=close)
    done = run_once(shm, snaps, "--max-events", "1000")
    assert done.returncode == 0, done.stderr
    assert not made.path.exists()
    fig = figures(snaps)
    pid = next(iter(fig.stored))
    assert fig.values[pid] == list(range(5000)) and fig.seqs[pid] == list(range(5000))
    assert len(fig.files) >= 5 and all(f[1] <= 1000 for f in fig.files)
    assert fig.reasons[-1] == ("exit" if close else "crash") and set(fig.reasons[:-1]) == {"periodic"}
    assert not list(shm.glob(".ttlog-spool*"))  # the spool went with the ring


def test_no_empty_snapshot_when_everything_was_saved(impl: str, dirs: tuple[Path, Path]) -> None:
    """Issue 11 item 3.10: a ring that ends with nothing new gets no 0-event file; its end is in
    the sidecar's status."""
    shm, snaps = dirs
    made = make_ring(shm, impl, n=100, close=None)
    assert run_once(shm, snaps).returncode == 0
    write(made.path, impl, close="exit")
    done = run_once(shm, snaps)
    assert done.returncode == 0 and not made.path.exists()
    fig = figures(snaps)
    assert [(f[0], f[1]) for f in fig.files] == [("periodic", 100)]
    status = json.loads((shm / ".ttlog-sidecar.json").read_text())
    assert [(e["ring"], e["reason"], e["events"]) for e in status["ended"]] == [(made.path.name, "exit", 100)]


def test_an_explicit_request_writes_even_an_empty_snapshot(dirs: tuple[Path, Path]) -> None:
    from ttlog.sidecar import request_snapshot

    shm, snaps = dirs
    make_ring(shm, n=10, close=None)
    with ThreadSidecar(shm, snaps, poll=0.02, interval=3600) as sc:
        wait_for(lambda: sc.sidecar.rings, what="the ring to be found")
        request_snapshot(shm, service="svc", reason="first")
        wait_for(lambda: len(list(snaps.glob("*first*"))) == 1, what="the first request")
        request_snapshot(shm, service="svc", reason="second")
        wait_for(lambda: len(list(snaps.glob("*second*"))) == 1, what="the second request")
    fig = figures(snaps)
    assert [(f[0], f[1]) for f in fig.files] == [("first", 10), ("second", 0)]


def test_the_ring_is_freed_while_a_snapshot_is_being_written(impl: str, dirs: tuple[Path, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 item 2: records are copied into the spool and the ring's space is given back at
    once, not after the snapshot is fsynced: with the snapshot writer stuck, a producer writing
    four rings' worth in bursts drops nothing; once it is unstuck every record is stored."""
    import ttlog.store as store

    shm, snaps = dirs
    gate = threading.Event()
    real = store._compress_to

    def stuck(fd: int, pieces: object, level: int) -> None:
        gate.wait(60)
        real(fd, pieces, level)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_compress_to", stuck)
    made = make_ring(shm, impl, n=0, ring_size="64KiB", close=None)
    cap = 64 << 10
    per_burst = cap // 2 // 64  # records of about 40-60 bytes: half a ring per burst
    total = 0
    with ThreadSidecar(shm, snaps, poll=0.01, copy_poll=0.002, max_events=100, interval=3600) as sc:
        wait_for(lambda: sc.sidecar.rings, what="the ring to be found")
        for _ in range(8):
            write(made.path, impl, n=per_burst, start=total)
            total += per_burst
            # the copier empties the ring between bursts although no snapshot can be written
            wait_for(lambda: header_lag(made.path) == 0, timeout=10, what="the copier to free the ring")
        assert header(made.path)[1] == 0  # nothing dropped
        assert not list(snaps.glob("*.ttsnap"))  # and no snapshot written yet: all of it is in the spool
        gate.set()
        write(made.path, impl, close="exit")
        wait_for(lambda: not made.path.exists(), what="the ring to be drained")
    fig = figures(snaps)
    pid = os.getpid()
    assert fig.values[pid] == list(range(total)) and fig.dropped[pid] == 0


def header_lag(path: Path) -> int:
    with RingReader(path) as reader:
        info = reader.info()
    return info.write_pos - info.read_pos


def test_the_status_file_says_what_the_spool_holds(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    make_ring(shm, n=500, close=None)
    with ThreadSidecar(shm, snaps, poll=0.02, interval=3600) as sc:
        def spooled() -> bool:
            try:
                st = json.loads((shm / ".ttlog-sidecar.json").read_text())
            except (OSError, ValueError):
                return False
            rings = st["rings"]
            return bool(rings) and rings[0]["lag_events"] == 500 and rings[0]["held_bytes"] == 0

        wait_for(spooled, what="the records to be in the spool")
        assert sc.sidecar.figures.snapshots_written == 0
    # stopping writes what the spool holds, and the spool file stays for the live ring's next sidecar
    assert figures(snaps).stored[os.getpid()] == 500
    assert len(list(shm.glob(".ttlog-spool.*"))) == 1


def test_snapshot_sort_key_is_utc_under_daylight_saving_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 7: the time in a snapshot's name is UTC, whatever the local zone says."""
    import calendar

    from ttlog.store import snapshot_filename, snapshot_sort_key

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        ns = calendar.timegm((2026, 7, 1, 12, 0, 0)) * 10**9 + 123_456_000
        name = snapshot_filename("svc", 1, ns, "exit")
        assert snapshot_sort_key(name)[0] == ns
        winter = calendar.timegm((2026, 1, 1, 12, 0, 0)) * 10**9
        assert snapshot_sort_key(snapshot_filename("svc", 1, winter, "exit"))[0] == winter
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_ring_header_counts_drained_and_reported_drops(dirs: tuple[Path, Path]) -> None:
    shm, snaps = dirs
    made = make_ring(shm, n=40, big=2, close=None)
    assert run_once(shm, snaps).returncode == 0
    with RingReader(made.path) as reader:
        info = reader.info()
        reported = reader.file.u64(440)
    assert (info.read_pos, info.drained, info.read_seq, reported) == (info.write_pos, 40, 40, 2)
    assert R.STATE_LIVE == info.state


def test_parts_ending_inside_chunks_across_the_spools_wrap(dirs: tuple[Path, Path]) -> None:
    """A part that ends inside the chunk after a pad (where the spool wraps) is resumed where it
    ended: each record once, and the writing ends (it once wrote that part again and again)."""
    from ttlog.sidecar import Settings, Sidecar

    shm, snaps = dirs
    made = make_ring(shm, n=0, close=None)
    sc = Sidecar(Settings(shm_dir=shm, snapshot_dir=snaps, max_events=700, spool_bytes=1 << 20))
    sc.discover()
    (t,) = sc.rings.values()
    written: list[int] = []

    def run() -> None:  # in a thread, so that a writer going round in circles fails the test
        total = 0
        for burst in range(14):
            count = 3000 + 97 * burst
            write(made.path, n=count, start=total)
            total += count
            t.copy(sc)  # one chunk per burst
            assert t.write_parts(sc, "periodic", explicit=False, all_parts=True)
        assert t.spool.head > 2 * t.spool.data_cap  # wrapped (with pads) at least twice
        write(made.path, close="exit")
        t.copy(sc)
        assert t.write_parts(sc, "periodic", explicit=False, all_parts=True)
        t.finish(sc)
        written.append(total)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive() and written, "the parts did not come to an end"
    total = written[0]
    fig = figures(snaps)
    assert fig.values[os.getpid()] == list(range(total))
    assert all(f[1] <= 700 for f in fig.files)
