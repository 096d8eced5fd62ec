"""Sustained drain, side by side in one run, on one core: one producer writing a ring in a tight
loop (C logger, three fields), and the sidecar's path from that ring to compressed snapshots on
disk (consuming reader + batch decode + snapshot writer + LZ4 + fsync/link; the engine alone, no
third-party package), as the sidecar runs it: batches of the reader's default size, a snapshot every
million events (the sidecar's
``max_events``), the read position committed after each.

The process is pinned to one CPU for both (the snapshot writer's compression thread then shares
that CPU too). A first run warms up and is not counted, and the reader is opened before the clock
starts: a running sidecar has its imports, caches and buffers, and keeps its readers open for the
life of a ring (the time to open one is printed apart).

    python bench/bench_drain.py [--quick] [--events N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ttlog import ring as R  # noqa: E402
from ttlog.codec import SnapshotWriter  # noqa: E402
from ttlog.reader import RingReader  # noqa: E402

SNAPSHOT_EVERY = 1_000_000  # ttlog.sidecar.Settings.max_events


def pin_one_cpu() -> int | None:
    """Run this process on one CPU (the last one it may use); which, or None if it cannot."""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return None
    return cpu


def produce(directory: str, events: int) -> tuple[Path, float]:
    try:
        from ttlog import _ring

        ring, logger_cls = _ring.Ring(), _ring.Logger
    except ImportError:
        ring, logger_cls = R.PyRing(), R.PyLogger
    path = R.create_ring_file(directory, service="bench-drain", ring_size="512MiB", overflow="drop",
                              level="INFO")
    ring.map(path)
    log = logger_cls(ring, "orders")
    info = log.info
    t0 = time.perf_counter()
    for i in range(events):
        info("Order placed", order_id=i, qty=100, price=150.25)
    elapsed = time.perf_counter() - t0
    ring.unmap()
    return path, events / elapsed


def drain(path: Path, out: str) -> tuple[float, float, int, int, int]:
    """Events/s from ring to snapshot files on disk; seconds to open the reader; events,
    snapshots and bytes written."""
    t_open = time.perf_counter()
    reader = RingReader(path, consume=True)
    opened = time.perf_counter() - t_open
    n = files = size = 0
    with reader:
        t0 = time.perf_counter()
        writer = SnapshotWriter()
        while True:
            batch = reader.poll()
            if len(batch):
                writer.add(batch)
            done = reader.at_end()
            if len(writer) >= SNAPSHOT_EVERY or (done and len(writer)):
                snap = writer.write(out, reason="periodic")
                reader.commit(drained=len(writer))
                n += len(writer)
                files += 1
                size += snap.stat().st_size
                writer.clear()
            if done:
                break
        elapsed = time.perf_counter() - t0
    for snap in Path(out).iterdir():
        snap.unlink()
    return n / elapsed, opened, n, files, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    events = args.events or (300_000 if args.quick else 2_000_000)
    repeats = args.repeats or (1 if args.quick else 5)
    cpu = pin_one_cpu()
    load_before = os.getloadavg()
    shm = tempfile.mkdtemp(prefix="ttlog-drain-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    out = tempfile.mkdtemp(prefix="ttlog-drain-out-")
    produce_rates, drain_rates, ratios, opens = [], [], [], []
    n = files = size = 0
    try:
        for run in range(repeats + 1):
            path, p_rate = produce(shm, events)
            d_rate, opened, n, files, size = drain(path, out)
            path.unlink()
            if not run:
                continue  # a warm-up: a running sidecar has its imports, caches and buffers already
            produce_rates.append(p_rate)
            drain_rates.append(d_rate)
            ratios.append(d_rate / p_rate)
            opens.append(opened)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    load_after = os.getloadavg()
    p, d = statistics.median(produce_rates), statistics.median(drain_rates)
    where = f"CPU {cpu}" if cpu is not None else "one process (could not pin a CPU)"
    print("## Sidecar drain\n")
    print(f"{n:,} events with three fields (order_id int, qty int, price float) per run, median of {repeats} "
          f"runs after a warm-up run, everything on {where}. The drain is the sidecar's path: consuming "
          f"reader, batch decode, snapshot writer, LZ4, write, fsync and link, a snapshot every "
          f"{SNAPSHOT_EVERY:,} events ({files} per run).\n")
    print("| path | events/s |")
    print("|---|---:|")
    print(f"| producer, tight loop of `log.info` (C) | {p:,.0f} |")
    print(f"| drain ring -> snapshots on disk, one core | {d:,.0f} |")
    print()
    print(f"- drain / producer: **{statistics.median(ratios):.2f}x**, the median of the per-run ratios "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}x; the ratio of the two medians above: {d / p:.2f}x; "
          "target >= 1: the sidecar keeps up with a producer flat out)")
    print(f"- drain rate: **{d / 1e6:.1f}M events/s** (range {min(drain_rates) / 1e6:.1f}-"
          f"{max(drain_rates) / 1e6:.1f}M; target >= 5M)")
    print(f"- snapshot size: {size / n:.1f} bytes/event for this workload")
    print(f"- opening the reader (not in the drain time: a sidecar keeps it open): "
          f"{statistics.median(opens) * 1e3:.0f} ms for the 512 MiB ring")
    print(f"- load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on this CPU slows both sides alike)")


if __name__ == "__main__":
    main()
