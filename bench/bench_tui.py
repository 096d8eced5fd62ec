"""The viewer's speed on one million events, side by side in one run with the tools a user would
pick instead (lnav and toolong opening the NDJSON export of the same events; jq counting the same
filter over it).

    python bench/bench_tui.py [--events 1000000] [--repeat 3] [--live-seconds 10] [--quick]

Four measurements, each in a process of its own:

1. First screen, in a real terminal: ``python -m ttview open SNAPSHOT`` started in a tmux pane
   (120x40) and the pane read every 10 ms until it shows the header's "1,000,000 shown" and event
   rows. Process start, imports, decoding and drawing are all inside. The same for ``lnav`` and
   ``tl`` (toolong) on the NDJSON export, until a line of it is on the screen. A headless run of
   the same app splits the time into its phases.
2. Filter, group-by and histogram on the loaded million events, driven by keys through Textual's
   pilot (``/`` + expression + enter, ``b``, ``h``): the time from the key to the result on the
   screen, while a 5 ms timer on the UI's event loop records its longest stall (how long a key
   pressed meanwhile could wait).
3. The filter's count against ``jq`` selecting the same events over the NDJSON export.
4. Live tail: a producer logs 500k events/s (the C engine, market-replay events) with a sidecar
   draining the ring; the viewer follows it. Every 20 ms the bench reads how far the newest event
   in the view is behind the clock, and the viewer's resident memory.

Prints a markdown section. Tools that are not installed are reported as such (``apt-get
install tmux lnav jq``; toolong: ``pip install toolong`` in a venv of its own, ``tl`` on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = (120, 40)
FILTER = 'level >= WARN and logger == "oms.orders" or latency_us > 250'
"""The filter timed in the app; ``JQ_FILTER`` selects the same events."""
JQ_FILTER = 'select(((.level == "WARN" or .level == "ERROR" or .level == "CRITICAL")' \
    ' and .logger == "oms.orders") or ((.latency_us // -1) > 250))'
ROW = re.compile(r"^\d\d:\d\d:\d\d\.\d{6} ", re.M)
LIVE_RATE = 500_000


def env_with_root() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_child(mode: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run this script in ``mode`` in a fresh process; returns the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, __file__, mode, *args],
        capture_output=True, text=True, env=env_with_root(), timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- 1. first screen in tmux ---------------------------------------------------------------------


class Tmux:
    """A tmux server of the bench's own (its own socket), one session per run."""

    def __init__(self) -> None:
        self.exe = shutil.which("tmux")
        self.socket = f"bench-tui-{os.getpid()}"
        self.n = 0
        if self.exe:
            self._tmux("new-session", "-d", "-s", "keep", "-x", str(SIZE[0]), "-y", str(SIZE[1]),
                       "sleep 3600")

    def _tmux(self, *args: str) -> str:
        assert self.exe
        return subprocess.run([self.exe, "-L", self.socket, *args], capture_output=True, text=True).stdout

    def first_screen(self, argv: list[str], ready: Callable[[str], bool] | list[Callable[[str], bool]],
                     cwd: Path, timeout: float = 120) -> float | list[float]:
        """Seconds from starting ``argv`` in a new pane until ``ready(pane text)`` (for a list of
        conditions: until each, in order)."""
        checks = ready if isinstance(ready, list) else [ready]
        self.n += 1
        name = f"run{self.n}"
        command = " ".join(_quote(a) for a in argv)
        times: list[float] = []
        started = time.perf_counter()
        self._tmux("new-session", "-d", "-s", name, "-x", str(SIZE[0]), "-y", str(SIZE[1]), "-c", str(cwd),
                   f"{command}; sleep 60")
        try:
            while len(times) < len(checks):
                text = self._tmux("capture-pane", "-p", "-t", name)
                elapsed = time.perf_counter() - started
                while len(times) < len(checks) and checks[len(times)](text):
                    times.append(elapsed)
                if elapsed > timeout:
                    raise RuntimeError(f"{argv[0]}: no first screen after {timeout:.0f} s:\n{text}")
                time.sleep(0.01)
            return times if isinstance(ready, list) else times[0]
        finally:
            self._tmux("kill-session", "-t", name)
            time.sleep(0.3)

    def close(self) -> None:
        if self.exe:
            self._tmux("kill-server")


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./:=+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def ttview_ready(total: int) -> list[Callable[[str], bool]]:
    """The first screen (event rows under a header counting all ``total`` events), then every
    event decoded ("N shown of N")."""
    first, every = f" of {total:,} events", f"{total:,} shown of {total:,}"
    return [lambda text: first in text and len(ROW.findall(text)) >= 10,
            lambda text: every in text and len(ROW.findall(text)) >= 10]


def peer_ready(text: str) -> bool:
    """A line of the NDJSON export (or a view of one) is on the screen."""
    return "oms." in text or "md.feed" in text or "risk check" in text


def child_phases(snapshot: str, t0: str) -> None:
    """The headless app's phases, in seconds since ``t0`` (the parent's clock before the start)."""
    start = float(t0)
    marks: dict[str, float] = {"python started": time.time() - start}
    from ttview.sources import start_loading

    preload = start_loading([snapshot])
    import ttview.app as app_module
    from ttview.app import SourceSpec, TTViewApp

    marks["UI imported"] = time.time() - start

    class Timed(TTViewApp):
        CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

        def on_mount(self) -> None:
            marks["app mounted"] = time.time() - start
            super().on_mount()

        def on_sources_loaded(self, message: Any) -> None:
            partial = message.total is not None
            marks["newest events decoded" if partial else "all events decoded"] = time.time() - start
            super().on_sources_loaded(message)
            self.call_after_refresh(self._drawn, partial)

        def _drawn(self, partial: bool) -> None:
            marks["first screen drawn" if partial else "all events drawn"] = time.time() - start
            if not partial:
                self.exit()

    Timed(SourceSpec(paths=[snapshot], preload=preload)).run(headless=True, size=SIZE)
    print(json.dumps(marks))


# ---- 2. filter, group-by, histogram ---------------------------------------------------------------


def child_ops(snapshot: str, repeat: str) -> None:
    asyncio.run(_ops(snapshot, int(repeat)))


async def _ops(snapshot: str, repeat: int) -> None:
    from ttview.app import make_app

    app = make_app(paths=[snapshot])
    results: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded.is_set():
            await asyncio.sleep(0.01)
        await pilot.pause()
        total = app.full.height
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        app.set_interval(0.005, tick)

        async def timed(name: str, start: Callable[[], Any], done: Callable[[], bool],
                        prepare: Callable[[], Any] | None = None) -> None:
            runs = []
            for _ in range(repeat):
                if prepare is not None:
                    await prepare()
                await pilot.pause(0.1)
                gaps.clear()
                last[0] = time.perf_counter()
                t = time.perf_counter()
                await start()
                while not done():
                    await asyncio.sleep(0.002)
                took = time.perf_counter() - t
                await pilot.pause()
                drawn = time.perf_counter() - t
                runs.append({
                    "seconds": took,
                    "drawn": drawn,
                    "max_stall": max(gaps, default=0.0) - 0.005,
                })
                await reset()
            best = min(runs, key=lambda r: r["seconds"])
            results[name] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "best": best["seconds"],
                "drawn": statistics.median(r["drawn"] for r in runs),
                "max_stall": max(r["max_stall"] for r in runs),
                "runs": len(runs),
            }

        reset: Callable[[], Any]

        # filter: "/" + expression typed, then timed from enter until the filtered rows are shown
        async def type_filter() -> None:
            await pilot.press("slash", *FILTER)

        async def start_filter() -> None:
            await pilot.press("enter")

        async def reset_filter() -> None:
            app.apply_filter("")
            while app.view.height != total:
                await asyncio.sleep(0.01)

        reset = reset_filter
        await timed("filter", start_filter, lambda: app.view.height != total and app.filter_text == FILTER,
                    prepare=type_filter)
        await pilot.press("slash", *FILTER, "enter")
        while app.view.height == total:
            await asyncio.sleep(0.01)
        results["filter_count"] = app.view.height
        await reset_filter()
        await pilot.pause()

        # group-by (by logger, p50..max of latency_us) and histogram (latency_us), each a screen
        async def start_screen(key: str) -> None:
            await pilot.press(key)

        async def back() -> None:
            await pilot.press("escape")
            await pilot.pause()

        reset = back
        await timed("group-by", lambda: start_screen("b"), lambda: not getattr(app.screen, "computing", True))
        await timed("histogram", lambda: start_screen("h"),
                    lambda: not getattr(app.screen, "computing", True))
        results["events"] = total
    print(json.dumps(results))


def jq_count(ndjson: Path) -> tuple[float, int] | None:
    jq = shutil.which("jq")
    if not jq:
        return None
    t = time.perf_counter()
    out = subprocess.run([jq, "-n", f"[inputs | {JQ_FILTER}] | length", str(ndjson)],
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t, int(out)


# ---- 4. live tail -------------------------------------------------------------------------------


def child_producer(shm_dir: str, seconds: str, rate: str) -> None:
    """Log ``rate`` market-replay events per second for ``seconds`` (the events are made first, so
    the loop only logs); prints how many were logged."""
    import ttlog
    from ttlog.demo import MarketReplay

    ttlog.init("bench-live", shm_dir=shm_dir, ring_size="64MiB", level="TRACE", sidecar=False)
    stream = iter(MarketReplay(11))
    events = [next(stream) for _ in range(20_000)]
    loggers: dict[str, Any] = {}
    calls = []
    for ev in events:
        log = loggers.get(ev.logger) or loggers.setdefault(ev.logger, ttlog.get_logger(ev.logger))
        calls.append((getattr(log, ev.method), ev.message, ev.fields))
    per_second, until = float(rate), float(seconds)
    n = 0
    start = time.monotonic()
    stop = start + until
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        due = int((now - start) * per_second)
        while n < due:
            method, message, fields = calls[n % len(calls)]
            method(message, **fields)
            n += 1
        time.sleep(0.0005)
    ttlog.shutdown("exit")
    print(json.dumps({"logged": n, "seconds": time.monotonic() - start}))


def child_live(shm_dir: str, seconds: str, keep: str) -> None:
    asyncio.run(_live(shm_dir, float(seconds), int(keep)))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def _live(shm_dir: str, seconds: float, keep: int) -> None:
    import polars as pl

    from ttview.app import make_app

    app = make_app(live=True, shm_dir=shm_dir, max_live_events=keep)
    behind: list[tuple[float, float]] = []  # (seconds since the first rows, how far behind)
    rss: list[tuple[float, float]] = []
    kept = 0
    async with app.run_test(size=SIZE) as pilot:
        log = app.log_view
        waited = time.monotonic()
        while not log.row_count:
            if time.monotonic() - waited > 20:
                raise RuntimeError("the live view never showed an event")
            await asyncio.sleep(0.02)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            view = log.view
            if view.height:
                newest = view.lazy().select(pl.col("ts").dt.epoch("ns").max()).collect().item()
                behind.append((time.monotonic() - start, (time.time_ns() - newest) / 1e9))
                kept = max(kept, app.full.height)
            rss.append((time.monotonic() - start, _rss_mb()))
            await asyncio.sleep(0.02)
        received = app._live_seen
        await pilot.pause()
    print(json.dumps({"behind": behind, "rss": rss, "kept_max": kept, "received": received}))


def live_tail(work: Path, seconds: float, keep: int) -> dict[str, Any]:
    shm = work / "shm"
    snaps = work / "live-snaps"
    shm.mkdir()
    snaps.mkdir()
    sidecar = subprocess.Popen(
        [sys.executable, "-m", "ttview", "sidecar", "--shm-dir", str(shm), "--snapshot-dir", str(snaps)],
        env=env_with_root(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    producer = subprocess.Popen(
        [sys.executable, __file__, "--child-producer", str(shm), str(seconds + 8), str(LIVE_RATE)],
        env=env_with_root(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        viewer = run_child("--child-live", str(shm), str(seconds), str(keep))
        out, err = producer.communicate(timeout=120)
        if producer.returncode != 0:
            raise RuntimeError(f"the producer failed: {err[-2000:]}")
        viewer["producer"] = json.loads(out.strip().splitlines()[-1])
    finally:
        for proc in (producer, sidecar):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return viewer


# ---- the report ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


PARTS = ("first", "ops", "live")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--live-keep", type=int, default=200_000)
    ap.add_argument("--parts", default=",".join(PARTS), help=f"which measurements (of {', '.join(PARTS)})")
    ap.add_argument("--quick", action="store_true", help="fewer events and runs (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.events, args.repeat, args.live_seconds = 200_000, 1, 4.0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        ap.error(f"--parts takes some of {', '.join(PARTS)}")

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    work = Path(tempfile.mkdtemp(prefix="bench_tui."))
    try:
        sections = []
        if "first" in parts or "ops" in parts:
            sections += snapshot_parts(args, parts, work)
        if "live" in parts:
            sections.append(live_report(args, live_tail(work, args.live_seconds, args.live_keep)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp += f", load average {os.getloadavg()[0]:.1f}"
    print("## The viewer (TUI)\n")
    print(f"{stamp}; Python {sys.version.split()[0]}, {os.cpu_count()} cores; terminal {SIZE[0]}x{SIZE[1]}; "
          f"medians of {args.repeat} runs.\n")
    print("\n".join(sections).rstrip())


def snapshot_parts(args: argparse.Namespace, parts: list[str], work: Path) -> list[str]:
    """Sections 1 to 3, over one snapshot of ``args.events`` demo events and its NDJSON export."""
    from bench_export import build_snapshot

    from ttview.export import write_export
    from ttview.sources import load_snapshots

    snap, impl = build_snapshot(work, args.events)
    frame = load_snapshots(snap, on_error="raise").frame
    n = frame.height
    ndjson = work / "events.ndjson"
    write_export(frame, ndjson, fmt="ndjson")
    del frame
    about = (f"{n:,} demo events in one snapshot ({snap.stat().st_size / 1e6:.1f} MB, {impl} writer; "
             f"NDJSON export of the same events {ndjson.stat().st_size / 1e6:.0f} MB).\n")
    out = []
    if "first" in parts:
        tmux = Tmux()
        first: dict[str, list[float]] = {}
        peers = {"lnav": shutil.which("lnav"), "toolong": shutil.which("tl")}
        try:
            if tmux.exe:
                for _ in range(args.repeat):
                    shown, every = tmux.first_screen(
                        [sys.executable, "-m", "ttview", "open", str(snap)], ttview_ready(n), ROOT)
                    first.setdefault("ttview", []).append(shown)
                    first.setdefault("ttview all", []).append(every)
                    if peers["lnav"]:
                        first.setdefault("lnav", []).append(tmux.first_screen(
                            [peers["lnav"], str(ndjson)], peer_ready, work))
                    if peers["toolong"]:
                        first.setdefault("toolong", []).append(tmux.first_screen(
                            [peers["toolong"], str(ndjson)], peer_ready, work))
        finally:
            tmux.close()
        phases = [run_child("--child-phases", str(snap), repr(time.time())) for _ in range(args.repeat)]
        out.append(first_report(about, n, first, phases, has_tmux=bool(tmux.exe)))
    if "ops" in parts:
        ops = run_child("--child-ops", str(snap), str(args.repeat))
        out.append(ops_report(about, ops, jq_count(ndjson)))
    return out


def first_report(about: str, n: int, first: dict[str, list[float]], phases: list[dict[str, float]],
                 *, has_tmux: bool) -> str:
    lines = ["### First screen\n", about,
             "| viewer, opening the million events | seconds to the first screen | vs ttview |",
             "|---|---:|---:|"]
    if not has_tmux:
        lines.append("| tmux not installed (apt-get install tmux): no terminal measurement | - | - |")
    mine = statistics.median(first["ttview"]) if first.get("ttview") else None
    if mine is not None:
        lines.append(f"| `ttview open` the snapshot: its newest rows drawn, the header counting {n:,} events "
                     f"| {mine:.2f} | 1x |")
        every = statistics.median(first["ttview all"])
        lines.append(f"| `ttview open`, every event decoded (\"{n:,} shown of {n:,}\"; filters, group-by and "
                     f"charts ready) | {every:.2f} | {every / mine:.1f}x |")
    for name, what in (("lnav", "`lnav` the NDJSON export"), ("toolong", "`tl` (toolong) the NDJSON export")):
        if first.get(name):
            secs = statistics.median(first[name])
            if mine is None:
                ratio = "-"
            elif secs >= mine:
                ratio = f"{secs / mine:.1f}x slower"
            else:
                ratio = f"{mine / secs:.1f}x faster"
            lines.append(f"| {what} (a line of it on the screen) | {secs:.2f} | {ratio} |")
        elif has_tmux:
            lines.append(f"| {name}: not installed | - | - |")
    med = {k: statistics.median(p[k] for p in phases) for k in phases[0] if all(k in p for p in phases)}
    med = dict(sorted(med.items(), key=lambda kv: kv[1]))
    lines.append("\nThe same start, headless, in phases (seconds since the process was started; medians): "
                 + ", ".join(f"{k} {v:.2f}" for k, v in med.items()) + ".\n")
    if mine is not None:
        lines.append(f"- first screen {mine:.2f} s (target < 1.5 s): {'met' if mine < 1.5 else 'NOT met'}\n")
    return "\n".join(lines)


def ops_report(about: str, ops: dict[str, Any], jq: tuple[float, int] | None) -> str:
    lines = ["### Filter, group-by, histogram on the loaded events\n", about,
             "Key to result on the screen, through Textual's pilot; the work runs in a thread worker. "
             "\"Longest UI stall\": the longest gap of a 5 ms timer on the UI's event loop from the key "
             "to the result (a key pressed meanwhile waits at most that long), over all runs.\n",
             "| action | ms (median) | best | ms to the result drawn | longest UI stall, ms |",
             "|---|---:|---:|---:|---:|"]
    labels = {
        "filter": f"filter `{FILTER}`",
        "group-by": "group-by logger, count/rate/p50..max of latency_us (`b`)",
        "histogram": "histogram of latency_us, p50/p99/p99.9 (`h`)",
    }
    for name, label in labels.items():
        r = ops[name]
        lines.append(f"| {label} | {r['seconds'] * 1e3:.0f} | {r['best'] * 1e3:.0f} | "
                     f"{r['drawn'] * 1e3:.0f} | {r['max_stall'] * 1e3:.0f} |")
    worst = max(ops[k]["drawn"] for k in labels)
    lines.append(f"\n- slowest of the three, key to result drawn, {worst * 1e3:.0f} ms "
                 f"(target < 300 ms each): {'met' if worst < 0.3 else 'NOT met'}\n")
    lines.append("### The filter's count against jq\n")
    if jq is None:
        lines.append("jq not installed (apt-get install jq): no comparison.\n")
    else:
        jq_secs, jq_n = jq
        secs = ops["filter"]["seconds"]
        lines += ["| counting the events of the filter | seconds | vs jq |", "|---|---:|---:|",
                  f"| ttview: the filter applied in the app, {ops['filter_count']:,} rows shown | "
                  f"{secs:.3f} | {jq_secs / secs:.0f}x faster |",
                  f"| jq: `[inputs | select(...)] | length` over the NDJSON, {jq_n:,} | {jq_secs:.3f} | 1x |",
                  f"\n- the counts are equal: {jq_n == ops['filter_count']}\n"]
    return "\n".join(lines)


def live_report(args: argparse.Namespace, live: dict[str, Any]) -> str:
    rss = live["rss"]
    produced = live["producer"]
    rate = produced["logged"] / produced["seconds"]
    halves = ([m for t, m in rss if t < args.live_seconds / 2],
              [m for t, m in rss if t >= args.live_seconds / 2])
    every = [b for _, b in live["behind"]]
    steady = [b for t, b in live["behind"] if t >= 1.0]

    def row(label: str, values: list[float]) -> str:
        return (f"| {label} | {len(values)} | {pct(values, 0.5) * 1e3:.0f} ms | "
                f"{pct(values, 0.9) * 1e3:.0f} ms | {pct(values, 0.99) * 1e3:.0f} ms | "
                f"{max(values) * 1e3:.0f} ms |")

    p99 = pct(steady, 0.99)
    return "\n".join([
        "### Live tail\n",
        f"A producer logged {rate:,.0f} events/s ({produced['logged']:,} in {produced['seconds']:.1f} s, "
        f"C engine, market-replay events, a sidecar draining the ring); the viewer followed it for "
        f"{args.live_seconds:.0f} s keeping {args.live_keep:,} events and received {live['received']:,}. "
        f"How far the newest event on the screen was behind the clock, sampled every 20 ms from the first "
        f"rows on (the first poll reads the ring's whole backlog, a second's worth of events):\n",
        "| samples | n | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
        row("all", every),
        row("after the first second", steady),
        f"\nEvents kept at most: {live['kept_max']:,}. Resident memory of the viewer: at most "
        f"{max(halves[0]):.0f} MB in the first half of the run, {max(halves[1]):.0f} MB in the second.\n",
        f"- newest event within 250 ms at p99 after the first second: {'met' if p99 < 0.25 else 'NOT met'}; "
        f"memory bounded: {'yes' if live['kept_max'] <= args.live_keep else 'NO'} "
        f"(at most {args.live_keep:,} events kept)\n",
    ])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        mode, rest = sys.argv[1], sys.argv[2:]
        {
            "--child-phases": child_phases,
            "--child-ops": child_ops,
            "--child-producer": child_producer,
            "--child-live": child_live,
        }[mode](*rest)
    else:
        main()
