"""Order-to-fill latency (``ttview latency``) on one million demo events, side by side in one run
with DuckDB's ``ASOF JOIN`` over the same events as Parquet.

    python bench/bench_latency.py [--events 1000000] [--repeat 3] [--quick]

The events are the bundled market replay written by the engine into one snapshot (as
bench/bench_stats.py builds them), then exported to Parquet with ``ttview export`` (whose
``ts_ns`` column keeps the exact nanoseconds; both sides pair on it). The pairing:
``--from 'message == "Order placed"' --to 'message == "Trade executed"' --by order_id``. Timed,
best of ``--repeat``:

- ttview on a loaded frame: :func:`ttview.latency.pair_events` + statistics (what the viewer's
  latency screen computes; the snapshot is already in memory);
- ttview from the Parquet file (``pl.scan_parquet``): the same input DuckDB reads;
- ttview from the snapshot: load + pairing (what ``ttview latency SNAPSHOT`` computes);
- DuckDB from the same Parquet file: ``ASOF JOIN`` of the orders to the first fill at or after
  them with the same ``order_id``, then count and ``quantile_cont`` (linear) p50/p90/p99/p99.9.

In the demo every order id is placed once and filled at most once, after it was placed, so the
plain ASOF JOIN and ttview's rule (which also handles repeats, see ttview/latency.py) pair the
same events: the pair counts and percentiles are checked equal. Prints a markdown section.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import build_snapshot  # noqa: E402

FROM = 'message == "Order placed"'
TO = 'message == "Trade executed"'
KEY = "order_id"
QS = (0.5, 0.9, 0.99, 0.999)

DUCKDB_SQL = """
WITH f AS (SELECT ts_ns, order_id FROM read_parquet($path) WHERE message = 'Order placed'),
     t AS (SELECT ts_ns, order_id FROM read_parquet($path) WHERE message = 'Trade executed'),
     p AS (SELECT t.ts_ns - f.ts_ns AS delta_ns
           FROM f ASOF JOIN t ON f.order_id = t.order_id AND t.ts_ns >= f.ts_ns)
SELECT count(*) AS pairs,
       quantile_cont(delta_ns / 1000.0, [0.5, 0.9, 0.99, 0.999]) AS qs
FROM p
"""


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
    ap.add_argument("--quick", action="store_true", help="200,000 events, best of 2")
    args = ap.parse_args()
    if args.quick:
        args.events, args.repeat = min(args.events, 200_000), 2

    import polars as pl

    from ttview.export import write_export
    from ttview.latency import pair_events
    from ttview.query import compile_filter
    from ttview.sources import load_snapshots

    start, end = compile_filter(FROM), compile_filter(TO)

    def ours(source: pl.DataFrame | pl.LazyFrame) -> tuple[int, list[float | None]]:
        result = pair_events(source, start=start, end=end, key=KEY, unit="us")
        t = result.total
        return t.counts.pairs, [t.p50, t.p90, t.p99, t.p999]

    work = Path(tempfile.mkdtemp(prefix="bench_latency."))
    try:
        snap, impl = build_snapshot(work, args.events)
        frame = load_snapshots(snap, on_error="raise").frame
        n = frame.height
        parquet = work / "events.parquet"
        write_export(frame, parquet, fmt="parquet")

        t_frame, (pairs, qs) = best_of(args.repeat, lambda: ours(frame))

        def scan() -> pl.LazyFrame:  # the export's exact ns time as the event frame's ts
            return pl.scan_parquet(parquet).with_columns(
                pl.col("ts_ns").cast(pl.Datetime("ns", "UTC")).alias("ts")
            )

        t_scan, scan_res = best_of(args.repeat, lambda: ours(scan()))
        t_snap, snap_res = best_of(args.repeat, lambda: ours(load_snapshots(snap, on_error="raise").frame))

        duck_version = ""
        t_duck = None
        duck_same = None
        try:
            import duckdb
        except ImportError:
            duckdb = None
        if duckdb is not None:
            duck_version = duckdb.__version__

            def duck() -> tuple[int, list[float]]:
                con = duckdb.connect()
                try:
                    con.execute("SET threads TO 2")
                    row = con.execute(DUCKDB_SQL, {"path": str(parquet)}).fetchone()
                finally:
                    con.close()
                return int(row[0]), list(row[1])

            t_duck, (d_pairs, d_qs) = best_of(args.repeat, duck)
            duck_same = d_pairs == pairs and all(
                q is not None and abs(q - d) <= 1e-9 * max(1.0, abs(d)) for q, d in zip(qs, d_qs, strict=True)
            )
        same_inputs = scan_res == (pairs, qs) and snap_res == (pairs, qs)

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        stamp += f", load average {os.getloadavg()[0]:.1f}"
        py = sys.version.split()[0]
        print("## latency (order to fill)\n")
        print(
            f"{stamp}; Python {py}, polars {pl.__version__}, {os.cpu_count()} cores; "
            f"{n:,} demo events in one snapshot ({impl} writer) and its Parquet export "
            f"({parquet.stat().st_size / 1e6:.1f} MB); "
            f"`--from '{FROM}' --to '{TO}' --by {KEY}`: {pairs:,} pairs; best of {args.repeat}.\n"
        )
        print("| step | seconds | vs DuckDB |")
        print("|---|---:|---:|")
        rows = [
            ("ttview: pairing + statistics on a loaded frame (the viewer's latency screen)", t_frame),
            ("ttview: the same from the Parquet file (`pl.scan_parquet`)", t_scan),
            ("ttview: load the snapshot + pairing + statistics (`ttview latency`)", t_snap),
        ]
        for name, secs in rows:
            ratio = f"{t_duck / secs:.1f}x faster" if t_duck else "-"
            if t_duck and secs > t_duck:
                ratio = f"{secs / t_duck:.1f}x slower"
            print(f"| {name} | {secs:.3f} | {ratio} |")
        if t_duck is not None:
            what = f"DuckDB {duck_version}: `ASOF JOIN` + `quantile_cont` over the Parquet file"
            print(f"| {what} | {t_duck:.3f} | 1x |")
        else:
            print("| DuckDB: not installed (pip install duckdb), no comparison | - | - |")
        print()
        print(
            f"- pairing + statistics on {n:,} events: {t_frame:.3f} s on a loaded frame "
            f"(target: well under 1 s): {'met' if t_frame < 0.5 else 'NOT met'}; {t_snap:.3f} s with the "
            "snapshot's load (timed on its own in bench_stats.py)"
        )
        if duck_same is not None:
            print(f"- DuckDB's pair count and p50/p90/p99/p99.9 equal ttview's: {duck_same}")
        print(f"- the three ttview inputs give the same pairs and percentiles: {same_inputs}")
        print(
            "- ttview p50 / p90 / p99 / p99.9: "
            + " / ".join(f"{q:,.1f}" if q is not None else "-" for q in qs)
            + " µs"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
