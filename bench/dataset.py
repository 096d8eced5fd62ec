"""A day of trading as the sidecar would write it: demo events of several services, in snapshot
files of about a million events each, for the out-of-core benchmarks.

    python bench/dataset.py DIR --events 10000000 [--services 4] [--per-file 1000000]

Each service's events are the bundled market replay logged through the C engine into a ring on a
replay clock (about 10,000 events/s per service), drained and written by the snapshot writer. A
service's later files are time-shifted copies of its first one (the ring batches are written
again with their times moved on), so building 100M events takes minutes, not an hour. Services
run side by side in time, so their files overlap as real ones do. A directory that already holds
the dataset (same parameters, recorded in ``dataset.json``) is reused.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE_NS = 1_796_860_800 * 10**9  # 2026-12-09T00:00:00Z
RATE = 10_000.0  # events per second per service


def _service_batches(work: Path, service: str, pid: int, events: int, seed: int) -> list[Any]:
    """The ring batches of one service: ``events`` replay events on a replay clock from BASE_NS."""
    from ttlog import ring as R
    from ttlog.demo import replay
    from ttlog.reader import RingReader

    try:
        from ttlog import _ring

        ring_cls, logger_cls = _ring.Ring, _ring.Logger
    except ImportError:
        ring_cls, logger_cls = R.PyRing, R.PyLogger
    size = 1 << max(20, (events * 200).bit_length())
    path = R.create_ring_file(work, service=service, pid=pid, ring_size=size, level="TRACE")
    ring = ring_cls()
    ring.map(path)
    clock = random.Random(seed + 1)
    now = [BASE_NS + clock.randrange(10**9)]
    tids = (pid, pid + 1, pid + 2)
    count = [0]

    class Stamped:
        def __init__(self, logger: Any) -> None:
            self._logger = logger

        def __getattr__(self, name: str) -> Any:
            method = getattr(self._logger, name)

            def call(*args: Any, **kw: Any) -> Any:
                now[0] += int(clock.expovariate(RATE) * 1e9) + 1
                ring._set_fixed(now[0], tids[count[0] % 3])
                count[0] += 1
                return method(*args, **kw)

            return call

    written = replay(lambda name: Stamped(logger_cls(ring, name)), rate=0, seconds=None, events=events,
                     seed=seed)
    ring.unmap()
    assert written == events, (written, events)
    with RingReader(path, consume=True) as reader:
        batches = reader.read_all(final=True)
    path.unlink()
    return batches


def _shifted(batches: list[Any], offset_ns: int) -> list[Any]:
    import numpy as np
    from ttlog.reader import Batch

    out = []
    for b in batches:
        cols = dict(b.cols)
        n = cols["n"]
        ts = np.frombuffer(cols["ts"], "<i8", count=n) + np.int64(offset_ns)
        cols["ts"] = bytearray(ts.tobytes())
        out.append(Batch(info=b.info, cols=cols, strings=b.strings, lost=b.lost, corrupt=b.corrupt))
    return out


def build_dataset(directory: Path, events: int, *, services: int = 4, per_file: int = 1_000_000,
                  seed: int = 7, quiet: bool = False) -> list[Path]:
    """Snapshot files holding ``events`` events in ``directory`` (reused if already built)."""
    from ttlog.codec import write_snapshot
    from ttlog.store import list_snapshots

    directory.mkdir(parents=True, exist_ok=True)
    spec = {"events": events, "services": services, "per_file": per_file, "seed": seed, "rate": RATE}
    marker = directory / "dataset.json"
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return list_snapshots(directory)
    for old in directory.glob("*.ttsnap"):
        old.unlink()
    marker.unlink(missing_ok=True)
    started = time.monotonic()
    files_per_service = max(1, -(-events // (per_file * services)))
    per_file = -(-events // (files_per_service * services))
    span = int(per_file / RATE * 1e9)
    left = events
    with tempfile.TemporaryDirectory(prefix="ttview-dataset.") as tmp:
        for s in range(services):
            if left <= 0:
                break
            service, pid = f"svc-{s}", 40_000 + 100 * s
            batches = _service_batches(Path(tmp), service, pid, per_file, seed + s)
            for k in range(files_per_service):
                if left <= 0:
                    break
                parts = _shifted(batches, k * span)
                if left < per_file:  # the last file: only what is left
                    from ttlog.reader import slice_batch

                    cut, kept = left, []
                    for b in parts:
                        if cut <= 0:
                            break
                        kept.append(slice_batch(b, 0, cut) if len(b) > cut else b)
                        cut -= len(b)
                    parts = kept
                created = BASE_NS + (k + 1) * span + s * 1000
                write_snapshot(directory, parts, service=service, pid=pid, reason="periodic",
                               created_ns=created)
                left -= sum(len(b) for b in parts)
                if not quiet:
                    print(f"  {service} file {k + 1}/{files_per_service} "
                          f"({events - left:,} events, {time.monotonic() - started:.0f} s)", file=sys.stderr)
    marker.write_text(json.dumps(spec))
    return list_snapshots(directory)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--services", type=int, default=4)
    ap.add_argument("--per-file", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    files = build_dataset(args.directory, args.events, services=args.services, per_file=args.per_file,
                          seed=args.seed)
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1e6:,.1f} MB in {args.directory}")


if __name__ == "__main__":
    main()
