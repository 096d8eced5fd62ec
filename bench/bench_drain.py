"""Sustained drain, side by side in one run: one producer writing a ring in a tight loop (C logger,
three fields), and the sidecar's path from that ring to a compressed snapshot on disk (consuming
reader + batch decode + snapshot writer + fsync/rename), on one core.

    python bench/bench_drain.py [--quick]
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

from engine import ring as R  # noqa: E402
from engine.reader import RingReader  # noqa: E402
from engine.snapfile import SnapshotWriter  # noqa: E402


def produce(directory: str, events: int) -> tuple[Path, float]:
    try:
        from engine import _ring

        ring, logger_cls = _ring.Ring(), _ring.Logger
    except ImportError:
        ring, logger_cls = R.PyRing(), R.PyLogger
    path = R.create_ring_file(directory, service="bench-drain", ring_size="512MiB", overflow="drop", level="INFO")
    ring.map(path)
    log = logger_cls(ring, "orders")
    info = log.info
    t0 = time.perf_counter()
    for i in range(events):
        info("Order placed", order_id=i, qty=100, price=150.25)
    elapsed = time.perf_counter() - t0
    ring.unmap()
    return path, events / elapsed


def drain(path: Path, out: str) -> tuple[float, int, int]:
    """Events/s from ring to a snapshot file on disk; and the file's size."""
    t0 = time.perf_counter()
    writer = SnapshotWriter()
    with RingReader(path, consume=True, max_batch_bytes=32 << 20) as reader:
        while True:
            batch = reader.poll()
            if len(batch):
                writer.add(batch)
            if reader.at_end():
                break
        snap = writer.write(out, reason="periodic")
        reader.commit(drained=len(writer))
    elapsed = time.perf_counter() - t0
    n = len(writer)
    size = snap.stat().st_size
    snap.unlink()
    return n / elapsed, n, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    events = 300_000 if args.quick else 2_000_000
    repeats = 1 if args.quick else 3
    shm = tempfile.mkdtemp(prefix="ttlog-drain-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    out = tempfile.mkdtemp(prefix="ttlog-drain-out-")
    produce_rates, drain_rates = [], []
    size = n = 0
    try:
        for _ in range(repeats):
            path, p_rate = produce(shm, events)
            d_rate, n, size = drain(path, out)
            produce_rates.append(p_rate)
            drain_rates.append(d_rate)
            path.unlink()
    finally:
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    p, d = statistics.median(produce_rates), statistics.median(drain_rates)
    print("## Sidecar drain\n")
    print(f"{n:,} events with three fields (order_id int, qty int, price float), median of {repeats} runs; "
          f"the drain includes decoding, building the snapshot, LZ4, write, fsync and rename.\n")
    print("| path | events/s |")
    print("|---|---:|")
    print(f"| producer, tight loop of `log.info` (C) | {p:,.0f} |")
    print(f"| drain ring -> snapshot on disk, one core | {d:,.0f} |")
    print()
    print(f"- drain / producer: **{d / p:.2f}x** (target >= 1: the sidecar keeps up with a producer flat out)")
    print(f"- drain rate: **{d / 1e6:.1f}M events/s** (target >= 5M)")
    print(f"- snapshot size: {size / n:.1f} bytes/event for this workload")


if __name__ == "__main__":
    main()
