"""Export speed, side by side in one run: ``ttview.export`` (NDJSON, JSON, CSV, Parquet) against a
plain Python loop that ``json.dumps`` each event, on one million demo events.

    python bench/bench_export.py [--events 1000000] [--repeat 3]

The events come from the bundled market replay (``ttlog.demo``: quotes, orders, fills, risk and
portfolio events, 23 field keys, about 6 per event) written into a ring by the engine (the C
writer when it is built), drained into one snapshot file and loaded with
``ttview.sources.load_snapshots``, once, in a temporary directory. Each export then writes the
loaded frame to a file in that directory; the figure is the best of ``--repeat`` runs. The Python
loop writes the same NDJSON (same keys, nulls left out, ISO time) from ``DataFrame.iter_rows`` and
runs once. ``ttview export`` as a command (process start, load and write) is timed as well.

Prints a markdown section with events/s and the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_snapshot(directory: Path, events: int, *, seed: int = 7) -> tuple[Path, str]:
    """One snapshot of ``events`` demo events in ``directory``; returns its path and the writer used."""
    from ttlog import ring as R
    from ttlog.codec import write_snapshot
    from ttlog.demo import replay
    from ttlog.reader import RingReader

    try:
        from ttlog import _ring

        ring_cls, logger_cls, impl = _ring.Ring, _ring.Logger, "C"
    except ImportError:
        ring_cls, logger_cls, impl = R.PyRing, R.PyLogger, "pure Python"
    size = 1 << max(20, (events * 160).bit_length())
    path = R.create_ring_file(directory, service="demo-trader", pid=4242, ring_size=size, level="TRACE")
    ring = ring_cls()
    ring.map(path)
    written = replay(lambda name: logger_cls(ring, name), rate=0, seconds=None, events=events, seed=seed)
    ring.unmap()
    with RingReader(path, consume=True) as reader:
        batches = reader.read_all(final=True)
    out = write_snapshot(directory, batches, service="demo-trader", pid=4242, reason="exit")
    path.unlink()
    assert written == events
    return out, impl


def python_loop_ndjson(frame: Any, out: Path) -> int:
    """The export a user would write by hand: one dict per event, json.dumps, a line each (the same
    keys and values as ``ttview export -F ndjson``)."""
    import polars as pl

    from ttview.schema import LEVEL_NAMES

    utc = datetime.timezone.utc
    rows = frame.with_columns(pl.col("ts").dt.epoch("ns"))  # iter_rows would cut datetimes to µs
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows.iter_rows(named=True):
            ns = row.pop("ts")
            level = row.pop("level")
            stamp = datetime.datetime.fromtimestamp(ns // 10**9, utc).strftime("%Y-%m-%dT%H:%M:%S")
            event = {
                "time": f"{stamp}.{ns % 10**9:09d}Z",
                "ts_ns": ns,
                "level": LEVEL_NAMES.get(level, str(level)),
                "level_no": level,
            }
            for k, v in row.items():
                if isinstance(v, dict):  # a field of several kinds: the member holding the value
                    v = next((x for x in v.values() if x is not None), None)
                if v is not None:
                    event[k] = v
            fh.write(json.dumps(event, separators=(",", ":")) + "\n")
            n += 1
    return n


def same_events(a: Path, b: Path, lines: int = 2000) -> bool:
    """The first ``lines`` events of two NDJSON files are equal as JSON objects."""
    with open(a, encoding="utf-8") as fa, open(b, encoding="utf-8") as fb:
        for _ in range(lines):
            la, lb = fa.readline(), fb.readline()
            if json.loads(la or "null") != json.loads(lb or "null"):
                return False
    return True


def best_of(repeat: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from ttview.export import write_export
    from ttview.sources import load_snapshots

    work = Path(tempfile.mkdtemp(prefix="bench_export."))
    try:
        t = time.perf_counter()
        snap, impl = build_snapshot(work, args.events)
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        frame = load_snapshots(snap, on_error="raise").frame
        t_load = time.perf_counter() - t
        n = frame.height
        rows: list[tuple[str, float, int]] = []
        for fmt in ("ndjson", "json", "csv", "parquet"):
            out = work / f"out.{fmt}"
            secs = best_of(args.repeat, lambda fmt=fmt, out=out: write_export(frame, out, fmt=fmt))
            rows.append((f"ttview.export {fmt}", secs, out.stat().st_size))
        out = work / "loop.ndjson"
        t = time.perf_counter()
        assert python_loop_ndjson(frame, out) == n
        rows.append(
            (
                "Python loop: iter_rows + json.dumps per event (NDJSON)",
                time.perf_counter() - t,
                out.stat().st_size,
            )
        )
        loop_same = same_events(out, work / "out.ndjson")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [
            sys.executable,
            "-m",
            "ttview",
            "export",
            str(snap),
            "-F",
            "ndjson",
            "-o",
            str(work / "cli.ndjson"),
        ]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        t_cli = time.perf_counter() - t
        same = (work / "cli.ndjson").read_bytes() == (work / "out.ndjson").read_bytes()

        secs = dict((name, s) for name, s, _ in rows)
        ndjson, parquet = secs["ttview.export ndjson"], secs["ttview.export parquet"]
        loop = secs["Python loop: iter_rows + json.dumps per event (NDJSON)"]
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        stamp += f", load average {os.getloadavg()[0]:.1f}"
        print("## Export\n")
        print(
            f"{stamp}; Python {sys.version.split()[0]}, {os.cpu_count()} cores; {n:,} demo events "
            f"({frame.width - 9} field columns) from one snapshot (built in {t_build:.1f} s by the {impl} "
            f"writer, loaded in {t_load:.2f} s); best of {args.repeat} (the Python loop: 1 run).\n"
        )
        print("| export | seconds | events/s | bytes/event |")
        print("|---|---:|---:|---:|")
        for name, s, size in rows:
            print(f"| {name} | {s:.3f} | {n / s:,.0f} | {size / n:.1f} |")
        print(
            f"| `ttview export -F ndjson -o FILE` (process start + load + write) | {t_cli:.3f} | "
            f"{n / t_cli:,.0f} | |"
        )
        print()
        print(
            f"- NDJSON: **{n / ndjson / 1e6:.2f} M events/s** (target >= 1 M/s), "
            f"**{loop / ndjson:.1f}x** the Python json.dumps loop"
        )
        print(
            f"- Parquet: **{n / parquet / 1e6:.2f} M events/s**, {ndjson / parquet:.1f}x NDJSON, "
            f"{loop / parquet:.0f}x the Python loop"
        )
        print(
            f"- the command's NDJSON is byte-identical to the library's: {same}; the Python loop writes "
            f"the same events (first 2,000 compared as JSON): {loop_same}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
