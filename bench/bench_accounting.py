"""Accounting with producers flat out: does every call end up stored or counted as dropped?

1, 2 and 4 producer processes (C engine, default settings: a 64 MiB ring in drop mode) each call
``log.info`` in a tight loop for a few seconds, count their calls, and exit cleanly; one sidecar
(``python -m ttlog.sidecar``, default settings) drains the shared-memory directory. Afterwards
every snapshot is read and, for each producer, ``calls`` is compared with ``stored`` (events in
the files) + ``dropped`` (the sum of the files' per-source ``dropped``): they must be equal,
exactly. The sidecar's CPU time (user + system, from /proc) says whether it was CPU-bound.

    python bench/bench_accounting.py [--quick] [--seconds S] [--producers 1,2,4] [--verify]

Exits 1 if any producer's figures do not add up. ``--verify`` also decodes every event and checks
that no seq is stored twice (slow).

A second table says how many events per second one sidecar keeps up with: four full default
rings of producers that are gone, drained by ``python -m ttlog.sidecar --once`` pinned to one
CPU (copy into the spool, decode, snapshot writer, LZ4, fsync and link, rings and spools
removed; interpreter start included), beside the rate at which one producer filled a ring in
the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRODUCER = r"""
import sys, time, ttlog
ttlog.init("acct", shm_dir=sys.argv[1])
assert ttlog.IMPLEMENTATION == "c", ttlog.IMPLEMENTATION
log = ttlog.get_logger("orders")
info = log.info
calls = 0
start = time.monotonic()
end = start + float(sys.argv[2])
while True:
    for i in range(1000):
        info("Order placed", order_id=i, qty=100, price=150.25)
    calls += 1000
    if time.monotonic() >= end:
        break
print(calls, time.monotonic() - start, flush=True)
"""


@dataclass
class Producer:
    pid: int
    calls: int = 0
    seconds: float = 0.0
    stored: int = 0
    dropped: int = 0
    dropped_max: int = 0  # the largest single file figure (what a running total would show)
    lost: int = 0
    files: int = 0
    reasons: list[str] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)
    dup: int = 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def run(n: int, seconds: float, verify: bool) -> tuple[dict[int, Producer], float, float]:
    from ttview.decode import read_snapshot, snapshot_info

    shm = Path(tempfile.mkdtemp(prefix="ttlog-acct-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    snaps = Path(tempfile.mkdtemp(prefix="ttlog-acct-snaps-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TTLOG_PURE_PYTHON", None)
    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm), "--snapshot-dir", str(snaps)]
    sidecar = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (shm / ".ttlog-sidecar.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu0 = cpu_seconds(sidecar.pid)
        t0 = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", PRODUCER, str(shm), str(seconds)],
                                  stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
        producers: dict[int, Producer] = {}
        for p in procs:
            out, _ = p.communicate(timeout=seconds + 120)
            calls, secs = out.split()
            producers[p.pid] = Producer(p.pid, int(calls), float(secs))
        deadline = time.monotonic() + 300
        while any(name.endswith(".ring") for name in os.listdir(shm)) and time.monotonic() < deadline:
            time.sleep(0.05)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(sidecar.pid) - cpu0
    finally:
        sidecar.send_signal(signal.SIGTERM)
        _, err = sidecar.communicate(timeout=120)
    try:
        for path in sorted(snaps.glob("*.ttsnap")):
            info = snapshot_info(path)
            for src in info.sources:
                prod = producers.setdefault(int(src["pid"]), Producer(int(src["pid"])))
                prod.stored += int(src.get("count", 0))
                prod.dropped += int(src.get("dropped", 0))
                prod.dropped_max = max(prod.dropped_max, int(src.get("dropped", 0)))
                prod.lost += int(src.get("lost", 0))
                prod.files += 1
                prod.reasons.append(info.reason)
            if verify:
                for ev in read_snapshot(path).iter_events():
                    prod = producers[int(ev["pid"])]
                    if ev["seq"] in prod.seqs:
                        prod.dup += 1
                    prod.seqs.add(ev["seq"])
    finally:
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(snaps, ignore_errors=True)
    if sidecar.returncode not in (0, None):
        print(f"sidecar exited {sidecar.returncode}: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
    if any(p.calls != p.stored + p.dropped or p.dup for p in producers.values()):
        print(f"sidecar said:\n{err.decode(errors='replace')[-3000:]}", file=sys.stderr)
    return producers, wall, cpu


FILL = r"""
import sys, time, ttlog
from ttlog import ring as R
path = ttlog.init("drain", shm_dir=sys.argv[1], install_hooks=False)
log = ttlog.get_logger("orders")
info = log.info
n = int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    info("Order placed", order_id=i, qty=100, price=150.25)
print(n / (time.perf_counter() - t0), flush=True)
ttlog.shutdown()
"""


def run_once(shm: Path, snaps: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``ttlog.sidecar --once`` on ``shm``, pinned to one CPU."""
    cpu = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm), "--snapshot-dir", str(snaps),
           "--once"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            preexec_fn=pin)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the sidecar exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def drain_rate(rings: int, per_ring: int) -> tuple[float, float, float, float, int]:
    """(producer calls/s, sidecar events/s of wall time, events per sidecar CPU second, the
    sidecar's start and stop alone in CPU seconds, events); the rates net of start and stop."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    shm = Path(tempfile.mkdtemp(prefix="ttlog-acct-drain-", dir=base))
    snaps = Path(tempfile.mkdtemp(prefix="ttlog-acct-drain-snaps-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        idle_wall, idle_cpu = min(run_once(shm, snaps, env) for _ in range(3))  # start, find nothing, stop
        fill = [sys.executable, "-c", FILL, str(shm), str(per_ring)]
        rates = [float(subprocess.run(fill, capture_output=True, text=True, env=env, check=True).stdout)
                 for _ in range(rings)]
        wall, cpu = run_once(shm, snaps, env)
        if any(name.endswith(".ring") for name in os.listdir(shm)):
            raise SystemExit("the sidecar did not drain the rings")
        from ttview.decode import snapshot_info

        events = sum(snapshot_info(p).count for p in snaps.glob("*.ttsnap"))
    finally:
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(snaps, ignore_errors=True)
    net_wall, net_cpu = max(1e-9, wall - idle_wall), max(1e-9, cpu - idle_cpu)
    return sorted(rates)[len(rates) // 2], events / net_wall, events / net_cpu, idle_cpu, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--producers", default="1,2,4")
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 3.0)
    counts = [int(x) for x in args.producers.split(",") if x.strip()]
    load_before = os.getloadavg()
    rows = []
    ok = True
    for n in counts:
        producers, wall, cpu = run(n, seconds, args.verify)
        for prod in producers.values():
            balanced = prod.calls == prod.stored + prod.dropped and not prod.dup and prod.calls > 0
            ok &= balanced
            rows.append((n, prod, wall, cpu, balanced))
    print("## Accounting with producers flat out\n")
    print(f"Each producer (C engine, default 64 MiB ring, drop mode) calls `log.info` with three fields in a "
          f"tight loop for {seconds:g} s and exits cleanly; one sidecar with default settings drains the "
          f"directory. `dropped` is the sum of the files' per-source figures; calls must equal stored + "
          f"dropped exactly. {os.cpu_count()} CPUs.\n")
    print("| producers | pid | calls | calls/s | stored | dropped | drop rate | calls = stored + dropped | "
          "files | sidecar CPU | sidecar events/CPU-s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for n, p, wall, cpu, balanced in rows:
        rate = p.calls / p.seconds if p.seconds else 0.0
        total_stored = sum(r[1].stored for r in rows if r[0] == n)
        verdict = "yes" if balanced else (f"**no**: missing {p.calls - p.stored - p.dropped:,}"
                                          + (f", {p.dup:,} duplicates" if p.dup else ""))
        print(f"| {n} | {p.pid} | {p.calls:,} | {rate:,.0f} | {p.stored:,} | {p.dropped:,} | "
              f"{p.dropped / p.calls if p.calls else 0:.1%} | {verdict} | {p.files} | "
              f"{cpu / wall if wall else 0:.0%} of a core | {total_stored / cpu if cpu else 0:,.0f} |")
    print()
    print("- sidecar CPU: its user + system time over the wall time from the producers' start to the last "
          "ring removed (100% = one core busy throughout); events/CPU-s: events stored by that run per "
          "sidecar CPU second.")
    print(f"- every producer balanced: **{'yes' if ok else 'no'}**")
    produce, wall_rate, cpu_rate, idle_cpu, events = drain_rate(4, 400_000 if args.quick else 800_000)
    print("\n## How fast one sidecar drains\n")
    print(f"{events:,} events (four full default rings, their producers gone) drained by one `ttlog.sidecar "
          "--once` pinned to one CPU: copy into the spools, decode, snapshot writer, LZ4, fsync and link, "
          f"rings and spools removed; net of the sidecar's start and stop ({idle_cpu:.2f} CPU s, measured "
          "alone on an empty directory).\n")
    print("| path | events/s |")
    print("|---|---:|")
    print(f"| producer filling a ring, tight loop of `log.info` (C) | {produce:,.0f} |")
    print(f"| sidecar: rings -> spools -> snapshots on disk, wall time | {wall_rate:,.0f} |")
    print(f"| sidecar: the same per CPU second it used | {cpu_rate:,.0f} |")
    print(f"\n- sidecar / producer: **{wall_rate / produce:.2f}x** (wall), {cpu_rate / produce:.2f}x "
          "(per CPU second); at or above 1, one sidecar keeps up with one producer flat out on a core "
          "of its own")
    print(f"- load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
