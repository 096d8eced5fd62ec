"""Cost of one log call, side by side in one run: the engine (C and its pure-Python twin), a no-op
Python function with the same arguments, stdlib logging with a QueueHandler, and picologging.

    python bench/bench_log_call.py [--quick]

Prints a markdown section (bench/run_all.py puts it in BENCHMARKS.md). Throughput figures are the
median over repeats of (loop time / calls); per-call percentiles time each call with
perf_counter_ns, whose own cost (an empty timed pair) is stated beside them.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import statistics
import sys
import tempfile
import time
import timeit
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ttlog import ring as R  # noqa: E402


def per_call_ns(stmt: str, env: dict[str, Any], calls: int, repeats: int) -> float:
    """Median over repeats of the mean ns per call: timeit of the statement itself, no wrapper."""
    timer = timeit.Timer(stmt, globals=env)
    return statistics.median(t * 1e9 / calls for t in timer.repeat(repeat=repeats, number=calls))


def percentiles(stmt: str, env: dict[str, Any], samples: int) -> tuple[float, float, float, float]:
    """p50/p99/p99.9/max of individually timed calls (the timer pair's cost included)."""
    source = (
        "def _run(n, clock, out):\n"
        "    for i in range(n):\n"
        "        t0 = clock()\n"
        f"        {stmt}\n"
        "        out[i] = clock() - t0\n"
    )
    scope = dict(env)
    exec(compile(source, "<bench>", "exec"), scope)  # our own benchmark statement, not input
    out = [0] * samples
    scope["_run"](samples, time.perf_counter_ns, out)
    out.sort()
    pick = lambda q: float(out[min(samples - 1, int(q * samples))])  # noqa: E731
    return pick(0.5), pick(0.99), pick(0.999), float(out[-1])


def timer_cost(samples: int) -> float:
    return percentiles("pass", {}, samples)[0]


def make_engine(impl: str, directory: str) -> tuple[Any, Any, Any]:
    if impl == "c":
        from ttlog import _ring

        ring_cls, logger_cls = _ring.Ring, _ring.Logger
    else:
        ring_cls, logger_cls = R.PyRing, R.PyLogger
    # overwrite mode: no consumer runs during the benchmark, and a full ring must not turn
    # the measured calls into cheap drops
    path = R.create_ring_file(directory, service=f"bench-{impl}", ring_size="256MiB", overflow="overwrite",
                              level="INFO")
    ring = ring_cls()
    ring.map(path)
    return ring, logger_cls(ring, "orders"), path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer calls (for a smoke run)")
    args = parser.parse_args()
    calls, repeats, samples = (20_000, 3, 20_000) if args.quick else (200_000, 7, 300_000)

    tmp = tempfile.mkdtemp(prefix="ttlog-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    rows: list[tuple[str, float, tuple[float, float, float, float]]] = []

    def noop(msg: str, **kw: Any) -> None:
        pass

    def measure(name: str, stmt: str, env: dict[str, Any]) -> float:
        ns = per_call_ns(stmt, env, calls, repeats)
        rows.append((name, ns, percentiles(stmt, env, samples)))
        return ns

    three = '"Order placed", order_id=1, qty=100, price=150.25'
    base = measure("no-op Python function `def f(msg, **kw): pass`", f"f({three})", {"f": noop})
    results: dict[str, float] = {}
    impls = ["c", "python"]
    try:
        from ttlog import _ring  # noqa: F401
    except ImportError:
        impls = ["python"]
    for impl in impls:
        ring, log, path = make_engine(impl, tmp)
        label = "C" if impl == "c" else "pure-Python twin"
        results[f"engine-{impl}"] = measure(f"engine ({label}), enabled, 3 fields", f"log.info({three})",
                                            {"log": log})
        results[f"engine-{impl}-disabled"] = measure(f"engine ({label}), disabled level",
                                                     f"log.debug({three})", {"log": log})
        ring.unmap()
        os.unlink(path)

    extra = 'extra={"order_id": 1, "qty": 100, "price": 150.25}'
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    std = logging.getLogger("bench.stdlib")
    std.propagate = False
    std.setLevel(logging.INFO)
    std.addHandler(logging.handlers.QueueHandler(q))
    results["stdlib"] = measure("stdlib logging + QueueHandler", f'log.info("Order placed", {extra})',
                                {"log": std})
    while not q.empty():
        q.get_nowait()
    try:
        import picologging
        import picologging.handlers

        pq: queue.SimpleQueue[Any] = queue.SimpleQueue()
        pico = picologging.getLogger("bench.pico")
        pico.setLevel(picologging.INFO)
        pico.addHandler(picologging.handlers.QueueHandler(pq))
        results["pico"] = measure("picologging + QueueHandler", f'log.info("Order placed", {extra})',
                                  {"log": pico})
    except ImportError:
        pass
    loop = per_call_ns("pass", {}, calls, repeats)
    tcost = timer_cost(samples)

    print("## Log call cost\n")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; {calls:,} calls x {repeats} repeats "
          f"(median); percentiles over {samples:,} individually timed calls. timeit loop overhead "
          f"{loop:.1f} ns/iteration (included in every row). perf_counter_ns pair costs {tcost:.0f} ns "
          f"(included in the percentiles).\n")
    print("| call | ns/call | vs no-op fn | p50 | p99 | p99.9 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, ns, pct in rows:
        p = " | ".join(f"{v:,.0f}" for v in pct)
        print(f"| {name} | {ns:,.1f} | {ns / base:.2f}x | {p} |")
    print()
    if "engine-c" in results:
        c = results["engine-c"]
        print(f"- engine (C) vs stdlib logging + QueueHandler: **{results['stdlib'] / c:.0f}x faster**")
        if "pico" in results:
            print(f"- engine (C) vs picologging + QueueHandler: **{results['pico'] / c:.1f}x faster**")
        print(f"- engine (C) enabled call / no-op Python function: **{c / base:.2f}** (target <= 1)")
        print(f"- engine (C) disabled call: **{results['engine-c-disabled']:.0f} ns** (target < 60 ns)")
    print(f"- pure-Python twin vs stdlib: {results['stdlib'] / results['engine-python']:.1f}x")


if __name__ == "__main__":
    main()
