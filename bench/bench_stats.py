"""``stats`` and ``hist`` on one million events, side by side in one run with ``jq`` computing the
same counts over the NDJSON export of the same events.

    python bench/bench_stats.py [--events 1000000] [--repeat 3] [--filter 'latency_us > 50']

The events are the bundled market replay, written by the engine into one snapshot (see
bench/bench_export.py, which builds it the same way). Timed, best of ``--repeat``:

- stats: load the snapshot + apply the filter + ``group_stats`` by logger with percentiles of
  ``latency_us`` (what ``ttview stats`` computes);
- hist: load + filter + ``histogram`` of ``latency_us`` in 40 log bins (what ``ttview hist --log``
  computes);
- the same two as commands (``ttview stats ... --json`` and ``ttview hist ... --json``), process
  start and imports included;
- jq: the events per logger matching the filter, over the NDJSON file ``ttview export`` writes
  (``jq -n 'reduce (inputs | select(FILTER)) as $e ({}; .[$e.logger] += 1)'``), once. The counts
  are checked equal to ttview's. Without jq on the PATH the row says so (``apt-get install jq``).

Prints a markdown section with the times and ratios.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import build_snapshot  # noqa: E402

JQ_FILTERS = {"latency_us > 50": "select(.latency_us > 50)"}


def best_of(repeat: int, fn: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--filter", default="latency_us > 50", choices=sorted(JQ_FILTERS))
    args = ap.parse_args()

    from ttview.export import write_export
    from ttview.query import apply_filter
    from ttview.sources import load_snapshots
    from ttview.stats import group_stats, histogram

    work = Path(tempfile.mkdtemp(prefix="bench_stats."))
    try:
        snap, impl = build_snapshot(work, args.events)

        def stats() -> Any:
            frame = load_snapshots(snap, on_error="raise").frame
            return group_stats(apply_filter(frame, args.filter), by="logger", field="latency_us")

        def hist() -> Any:
            frame = load_snapshots(snap, on_error="raise").frame
            return histogram(apply_filter(frame, args.filter), field="latency_us", bins=40, log=True)

        t_stats, groups = best_of(args.repeat, stats)
        t_hist, h = best_of(args.repeat, hist)
        frame = load_snapshots(snap, on_error="raise").frame
        n = frame.height
        t_load, _ = best_of(args.repeat, lambda: load_snapshots(snap, on_error="raise"))
        t_group_only, _ = best_of(
            args.repeat,
            lambda: group_stats(apply_filter(frame, args.filter), by="logger", field="latency_us"),
        )
        t_hist_only, _ = best_of(
            args.repeat,
            lambda: histogram(apply_filter(frame, args.filter), field="latency_us", bins=40, log=True),
        )
        counts = {row["logger"]: row["count"] for row in groups.iter_rows(named=True)}

        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cli = [sys.executable, "-m", "ttview"]
        t_cli_stats, out = best_of(
            args.repeat,
            lambda: subprocess.run(
                [*cli, "stats", str(snap), "-f", args.filter, "--json"],
                env=env,
                capture_output=True,
                check=True,
            ),
        )
        cli_counts = {g["logger"]: g["count"] for g in json.loads(out.stdout)["groups"]}
        t_cli_hist, _ = best_of(
            args.repeat,
            lambda: subprocess.run(
                [*cli, "hist", str(snap), "-f", args.filter, "--log", "--json"],
                env=env,
                capture_output=True,
                check=True,
            ),
        )

        ndjson = work / "events.ndjson"
        write_export(frame, ndjson, fmt="ndjson")
        jq = shutil.which("jq")
        t_jq = None
        jq_same = None
        jq_version = ""
        if jq:
            jq_version = subprocess.run([jq, "--version"], capture_output=True, text=True).stdout.strip()
            program = f"reduce (inputs | {JQ_FILTERS[args.filter]}) as $e ({{}}; .[$e.logger] += 1)"
            t = time.perf_counter()
            res = subprocess.run(
                [jq, "-n", "-c", program, str(ndjson)], capture_output=True, text=True, check=True
            )
            t_jq = time.perf_counter() - t
            jq_same = json.loads(res.stdout) == counts

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        stamp += f", load average {os.getloadavg()[0]:.1f}"
        print("## stats and hist\n")
        snap_mb, ndjson_mb = snap.stat().st_size / 1e6, ndjson.stat().st_size / 1e6
        py = sys.version.split()[0]
        print(
            f"{stamp}; Python {py}, {os.cpu_count()} cores; {n:,} demo events in one snapshot "
            f"({snap_mb:.1f} MB, "
            f"{impl} writer; NDJSON export {ndjson_mb:.0f} MB); filter `{args.filter}` keeps "
            f"{sum(counts.values()):,}; best of {args.repeat} (jq: 1 run).\n"
        )
        print("| step | seconds | vs jq |")
        print("|---|---:|---:|")
        rows = [
            ("load snapshot into polars", t_load),
            ("**stats**: load + filter + group_stats by logger (count, rate, p50..max)", t_stats),
            ("**hist**: load + filter + histogram, 40 log bins, percentiles", t_hist),
            ("filter + group_stats on a loaded frame (the TUI's group-by)", t_group_only),
            ("filter + histogram on a loaded frame (the TUI's histogram)", t_hist_only),
            ("`ttview stats -f ... --json` (process start + imports + all of the above)", t_cli_stats),
            ("`ttview hist -f ... --log --json` (same)", t_cli_hist),
        ]
        for name, secs in rows:
            ratio = f"{t_jq / secs:.0f}x faster" if t_jq else "-"
            print(f"| {name} | {secs:.3f} | {ratio} |")
        if t_jq is not None:
            what = f"jq ({jq_version}): events per logger matching the filter, over the NDJSON"
            print(f"| {what} | {t_jq:.3f} | 1x |")
        else:
            print("| jq: not installed (apt-get install jq), no comparison | - | - |")
        print()
        print(
            f"- stats {t_stats:.3f} s and hist {t_hist:.3f} s on {n:,} events including the load "
            f"(target < 0.5 s each): {'met' if max(t_stats, t_hist) < 0.5 else 'NOT met'}"
        )
        if t_jq is not None:
            print(
                f"- jq's counts equal ttview's: {jq_same}; the command's counts equal the library's: "
                f"{cli_counts == counts}"
            )
        print(
            f"- histogram: {h.total:,} values, p50 {h.series[0].p50:.2f}, p99 {h.series[0].p99:.2f}, "
            f"p99.9 {h.series[0].p999:.2f} µs"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
