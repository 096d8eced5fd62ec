"""A trading day, out of core: ``ttview stats``, ``hist --log`` and ``export -F parquet`` at 1M to
100M events, side by side in one run with DuckDB and polars ``scan_parquet`` answering the same
questions over the Parquet that ``ttview export`` wrote; and the viewer over the same events.

    python bench/bench_scale.py [--sizes 1M,10M,50M,100M | --quick] [--data DIR] [--no-tui]

The events are the bundled market replay from 4 services in files of about a million events each,
as the sidecar writes them (``bench/dataset.py``; a directory already holding a size is reused).
Every command runs in a process of its own; its wall time and peak RSS (``wait4``'s maxrss) are
reported. The three questions, asked of each engine:

- stats: per logger, the count and p50/p90/p99/p99.9/max of ``latency_us`` (``ttview stats``);
- hist: a 40-bin log histogram of ``latency_us`` with p50/p99/p99.9 (``ttview hist --log``);
- filter: how many events have ``level >= WARN and latency_us > 50``.

The viewer: the first screen of ``ttview open`` in a tmux pane (120x40), then, driven through
Textual's pilot in a child process: the filter above (its first matches and its final count),
group-by and histogram, the longest stall of a 5 ms UI timer, and the child's peak RSS.

Prints a markdown section with the figures and the ratios (ttview / DuckDB).
"""

from __future__ import annotations

import argparse
import asyncio
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

FILTER = "level >= WARN and latency_us > 50"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000, "100M": 100_000_000}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "NO_COLOR": "1", "COLUMNS": "120"}


def run_rss(argv: list[str], *, timeout: float = 3600) -> dict[str, Any]:
    """Run ``argv``, reaping it with ``wait4`` so its own peak RSS is read: its wall time (s), peak
    RSS (MB), exit code, stdout and stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=ROOT)
    import threading

    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s))
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": wall, "rss_mb": usage.ru_maxrss / 1024, "code": proc.returncode,
            "stdout": chunks.get("out", b"").decode(), "stderr": chunks.get("err", b"").decode()}


# ---- the peers ---------------------------------------------------------------------------------

DUCKDB = r"""
import json, sys, time
import duckdb
path = sys.argv[1]
src = f"read_parquet('{path}')"
out = {}
con = duckdb.connect()
t = time.perf_counter()
stats = con.sql(f"select logger, count(*), quantile_cont(latency_us, [0.5, 0.9, 0.99, 0.999]), "
                f"max(latency_us) from {src} group by logger order by 2 desc").fetchall()
out["stats"] = time.perf_counter() - t
t = time.perf_counter()
lo, hi, q = con.sql(f"select min(latency_us), max(latency_us), quantile_cont(latency_us, [0.5, 0.99, 0.999]) "
                    f"from {src} where latency_us > 0").fetchall()[0]
bins = con.sql(f"select least(39, floor((ln(latency_us) - ln({lo})) / (ln({hi}) - ln({lo})) * 40))::int b, "
               f"count(*) from {src} where latency_us > 0 group by b order by b").fetchall()
out["hist"] = time.perf_counter() - t
t = time.perf_counter()
out["filter_count"] = con.sql(f"select count(*) from {src} "
                              f"where level_no >= 30 and latency_us > 50").fetchall()[0][0]
out["filter"] = time.perf_counter() - t
out["events"] = sum(r[1] for r in stats)
out["p99"] = q[1]
print(json.dumps(out))
"""

POLARS = r"""
import json, math, sys, time
import polars as pl
path = sys.argv[1]
lf = pl.scan_parquet(path)
out = {}
x = pl.col("latency_us")
t = time.perf_counter()
stats = lf.group_by("logger").agg(pl.len(),
                                  *[x.quantile(q, "linear").alias(str(q)) for q in (0.5, 0.9, 0.99, 0.999)],
                                  x.max()).collect(engine="streaming")
out["stats"] = time.perf_counter() - t
t = time.perf_counter()
pos = lf.filter(x > 0)
lo, hi, p50, p99, p999 = pos.select(x.min(), x.max().alias("hi"), x.quantile(0.5, "linear").alias("a"),
                                    x.quantile(0.99, "linear").alias("b"),
                                    x.quantile(0.999, "linear").alias("c")).collect(engine="streaming").row(0)
b = ((x.log() - math.log(lo)) / (math.log(hi) - math.log(lo)) * 40).floor().clip(0, 39).cast(pl.Int32)
pos.group_by(b.alias("b")).len().collect(engine="streaming")
out["hist"] = time.perf_counter() - t
t = time.perf_counter()
out["filter_count"] = lf.filter((pl.col("level_no") >= 30) & (x > 50)).select(pl.len()).collect(
    engine="streaming").item()
out["filter"] = time.perf_counter() - t
out["events"] = int(stats["len"].sum())
out["p99"] = p99
print(json.dumps(out))
"""


def peer(code: str, parquet: Path) -> dict[str, Any]:
    ran = run_rss([sys.executable, "-c", code, str(parquet)])
    if ran["code"] != 0:
        return {"error": ran["stderr"][-500:]}
    result = json.loads(ran["stdout"].strip().splitlines()[-1])
    result["rss_mb"] = ran["rss_mb"]
    result["process"] = ran["seconds"]
    return result


# ---- the viewer --------------------------------------------------------------------------------


def child_ops(directory: str) -> None:
    asyncio.run(_ops(directory))


async def _ops(directory: str) -> None:
    from ttview.app import make_app
    from ttview.sources import start_loading

    t0 = time.perf_counter()
    app = make_app(paths=[directory], preload=start_loading([directory]))
    results: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.loaded.is_set():
            await asyncio.sleep(0.01)
        await pilot.pause()
        results["first_screen"] = time.perf_counter() - t0
        total = app.full.height
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        app.set_interval(0.005, tick)
        await pilot.pause(0.2)
        gaps.clear()
        last[0] = time.perf_counter()
        t = time.perf_counter()
        app.apply_filter(FILTER)
        first = None
        while True:
            view = app.view
            if first is None and view is not app.full and view.height:
                first = time.perf_counter() - t
            if view is not app.full and getattr(view, "complete", True) and app.filter_text == FILTER \
                    and not app._header.busy:
                break
            await asyncio.sleep(0.01)
        results["filter_first"] = first
        results["filter_final"] = time.perf_counter() - t
        results["filter_count"] = app.view.height
        results["filter_stall"] = max(gaps, default=0.0) - 0.005
        app.apply_filter("")
        while app.view.height != total:
            await asyncio.sleep(0.01)
        for key, name in (("b", "group_by"), ("h", "histogram")):
            await pilot.pause(0.2)
            gaps.clear()
            last[0] = time.perf_counter()
            t = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            while getattr(app.screen, "computing", True):
                await asyncio.sleep(0.01)
            results[name] = time.perf_counter() - t
            results[name + "_stall"] = max(gaps, default=0.0) - 0.005
            await pilot.press("escape")
        results["events"] = total
    print(json.dumps(results))


def viewer(directory: Path, events: int) -> dict[str, Any]:
    from bench_tui import Tmux, ttview_ready

    out: dict[str, Any] = {}
    tmux = Tmux()
    try:
        if tmux.exe:
            ready = ttview_ready(events)[0]
            out["tmux_first_screen"] = tmux.first_screen(
                [sys.executable, "-m", "ttview", "open", str(directory)], ready, cwd=ROOT, timeout=300)
    finally:
        tmux.close()
    ran = run_rss([sys.executable, __file__, "child-ops", str(directory)], timeout=7200)
    if ran["code"] != 0:
        out["error"] = ran["stderr"][-800:]
        return out
    out.update(json.loads(ran["stdout"].strip().splitlines()[-1]))
    out["rss_mb"] = ran["rss_mb"]
    return out


# ---- the run -----------------------------------------------------------------------------------


def one_size(label: str, events: int, data: Path, tui: bool) -> dict[str, Any]:
    from dataset import build_dataset

    directory = data / f"ds{label}"
    files = build_dataset(directory, events, quiet=True)
    work = Path(tempfile.mkdtemp(prefix="bench_scale."))
    row: dict[str, Any] = {"label": label, "events": events, "files": len(files),
                           "bytes": sum(f.stat().st_size for f in files)}
    try:
        ttview = [sys.executable, "-m", "ttview"]
        stats = run_rss([*ttview, "stats", str(directory), "--json"])
        check = json.loads(stats["stdout"]) if stats["code"] == 0 else {}
        row["stats"] = {**stats, "events": check.get("events"), "percentiles": check.get("percentiles")}
        hist = run_rss([*ttview, "hist", str(directory), "--log", "--json"])
        row["hist"] = {**hist, "percentiles": (json.loads(hist["stdout"]).get("percentiles")
                                               if hist["code"] == 0 else None)}
        parquet = work / "events.parquet"
        row["export"] = run_rss([*ttview, "export", str(directory), "-F", "parquet", "-o", str(parquet)])
        flt = run_rss([*ttview, "stats", str(directory), "-f", FILTER, "--json"])
        row["filter"] = {**flt,
                         "count": json.loads(flt["stdout"]).get("events") if flt["code"] == 0 else None}
        row["duckdb"] = peer(DUCKDB, parquet)
        row["polars"] = peer(POLARS, parquet)
        if tui:
            row["viewer"] = viewer(directory, events)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for key in ("stats", "hist", "export", "filter"):
        row[key].pop("stdout", None)
        if row[key]["code"] == 0:
            row[key].pop("stderr", None)
    return row


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "## Out of core: a trading day (`bench/bench_scale.py`)",
        "",
        f"Run on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores. "
        "Demo events of 4 services in files of about a million events. Each cell: wall seconds / peak RSS "
        "of the process (MB). DuckDB and polars answer the same questions over the Parquet `ttview export` "
        f"wrote, each question timed inside one process. Filter: `{FILTER}`.",
        "",
        "| events | files (MB) | `ttview stats` | `ttview hist --log` | `ttview export -F parquet` "
        "| `stats -f` (filter) | DuckDB: stats / hist / filter; the process | polars: the same "
        "| stats, hist vs DuckDB's queries |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        def cell(key: str, r: dict[str, Any] = r) -> str:
            c = r[key]
            return (f"{c['seconds']:.1f} s / {c['rss_mb']:,.0f} MB"
                    + ("" if c["code"] in (0, 1) else f" (exit {c['code']})"))

        d, p = r["duckdb"], r["polars"]
        peers = []
        for x in (d, p):
            if "error" in x:
                peers.append("failed")
            else:
                peers.append(f"{x['stats']:.2f} / {x['hist']:.2f} / {x['filter']:.2f} s; "
                             f"process {x['process']:.1f} s / {x['rss_mb']:,.0f} MB")
        ratio = "-"
        if "error" not in d:
            ratio = (f"{r['stats']['seconds'] / max(d['stats'], 1e-9):.0f}x, "
                     f"{r['hist']['seconds'] / max(d['hist'], 1e-9):.0f}x")
        lines.append(f"| {r['events']:,} | {r['files']} ({r['bytes'] / 1e6:,.0f}) | {cell('stats')} | "
                     f"{cell('hist')} | {cell('export')} | {cell('filter')} | "
                     f"{peers[0]} | {peers[1]} | {ratio} |")
    lines += ["", "Checks: "]
    for r in rows:
        d = r["duckdb"]
        same = ("error" not in d and d.get("filter_count") == r["filter"].get("count")
                and d.get("events") == r["events"])
        lines.append(f"- {r['events']:,}: ttview counted {r['stats'].get('events')} events "
                     f"(percentiles {r['stats'].get('percentiles')}); "
                     f"filter {r['filter'].get('count')} events, "
                     f"DuckDB {d.get('filter_count')} ({'equal' if same else 'DIFFERENT'})")
    viewers = [r for r in rows if "viewer" in r]
    if viewers:
        lines += ["", "The viewer (`ttview open DIR`; first screen in tmux 120x40, "
                      "the rest through Textual's pilot):", "",
                  "| events | first screen (tmux) | filter: first matches / final count | group-by "
                  "| histogram | longest UI stall | peak RSS |", "|---|---|---|---|---|---|---|"]
        for r in viewers:
            v = r["viewer"]
            if "error" in v:
                lines.append(f"| {r['events']:,} | failed: {v['error'][-200:]!r} |||||")
                continue
            first = v.get("tmux_first_screen")
            stall = max(v.get("filter_stall", 0), v.get("group_by_stall", 0), v.get("histogram_stall", 0))
            lines.append(
                f"| {r['events']:,} | {first:.2f} s | {v['filter_first']:.2f} s / {v['filter_final']:.1f} s "
                f"({v['filter_count']:,} events) | {v['group_by']:.1f} s | {v['histogram']:.1f} s | "
                f"{stall * 1000:.0f} ms | {v['rss_mb']:,.0f} MB |" if first is not None else
                f"| {r['events']:,} | (no tmux) | {v['filter_first']:.2f} s / {v['filter_final']:.1f} s | "
                f"{v['group_by']:.1f} s | {v['histogram']:.1f} s | {stall * 1000:.0f} ms | "
                f"{v['rss_mb']:,.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child-ops":
        child_ops(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,10M,50M,100M")
    ap.add_argument("--quick", action="store_true", help="1M and 10M only (what run_all.py --quick runs)")
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("TTVIEW_BENCH_DATA")
                                 or Path(tempfile.gettempdir()) / "ttview-bench-scale"),
                    help="where the datasets are built and kept (env TTVIEW_BENCH_DATA; about 2 GB at 100M)")
    ap.add_argument("--no-tui", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = ap.parse_args()
    if args.quick:
        args.sizes = "1M,10M"
    rows = []
    for label in args.sizes.split(","):
        rows.append(one_size(label, SIZES[label], args.data, not args.no_tui))
        print(f"{label}: done", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    print(report(rows))


if __name__ == "__main__":
    main()
