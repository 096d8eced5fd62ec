"""Snapshot files: write speed, size per event and load time, next to NDJSON and gzip NDJSON.

    python bench/bench_snapshot.py [--quick] [--events 1000000] [--rings 1] [--level 0 1] [--no-twin]

A trading-like workload goes through the real path: loggers write rings (the C writer when it
is built, else the pure-Python twin, which is slower to fill), ``RingReader`` decodes them into
batches, :class:`ttlog.codec.SnapshotWriter` writes the snapshot and
:func:`ttview.sources.load_snapshots` loads it into polars. The same events are also written as
NDJSON (one object per event, fields inline) and gzip NDJSON (level 6), the formats a user would
pick instead. Only the snapshot steps are timed for speed; all numbers come from one run. The
writer's pure-Python twin (what an install without a compiler runs: the same CBOR, LZ4 blocks
stored uncompressed) writes the same events once, for its size and speed.

Workload: 80% trades (symbol from 10, side, qty, price in cents, latency_us as ``timed()``
measures it: integer ns / 1000, order_id ORD-nnnnnn), 15% orders (no latency), 5% quotes
(symbol, bid, ask). Several rings interleave in time when ``--rings`` > 1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parent.parent))

from ttlog import ring as R  # noqa: E402
from ttlog.codec import SnapshotWriter  # noqa: E402
from ttlog.reader import RingReader  # noqa: E402

from ttview.decode import read_snapshot  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "JPM", "BAC", "XOM"]
QTYS = [1, 5, 10, 25, 50, 100, 200, 500, 1000]


def _classes() -> tuple[object, object, str]:
    try:
        from ttlog import _ring

        return _ring.Ring, _ring.Logger, "c"
    except ImportError:
        return R.PyRing, R.PyLogger, "python"


def fill_rings(directory: Path, events: int, rings: int, seed: int = 7) -> list[Path]:
    """Write ``events`` trading-like events round-robin into ``rings`` rings; returns their paths."""
    ring_cls, logger_cls, _ = _classes()
    rnd = random.Random(seed)
    paths, loggers = [], []
    per_ring = events // rings + 1
    size = 1 << max(20, (per_ring * 160).bit_length())
    for i in range(rings):
        path = R.create_ring_file(directory, service="trading-engine", ring_size=size, level="TRACE",
                                  pid=10000 + i)
        ring = ring_cls()
        ring.map(path)
        paths.append(path)
        loggers.append((ring, logger_cls(ring, "orders"), logger_cls(ring, "md")))
    cents = {s: rnd.randint(5000, 50000) for s in SYMBOLS}
    for n in range(events):
        _, orders, md = loggers[n % rings]
        sym = SYMBOLS[rnd.randrange(10)]
        cents[sym] += rnd.randint(-3, 3)
        price = cents[sym] / 100
        u = rnd.random()
        if u < 0.80:
            orders.trade("Trade executed", symbol=sym, side="buy" if rnd.random() < 0.5 else "sell",
                         qty=QTYS[rnd.randrange(9)], price=price,
                         latency_us=int(rnd.lognormvariate(9.0, 0.8)) / 1000.0, order_id=f"ORD-{n:06d}")
        elif u < 0.95:
            orders.order("Order placed", symbol=sym, side="buy" if rnd.random() < 0.5 else "sell",
                          qty=QTYS[rnd.randrange(9)], price=price, order_id=f"ORD-{n:06d}")
        else:
            md.market_data("Quote", symbol=sym, bid=price, ask=(cents[sym] + 1) / 100)
    for ring, _, _ in loggers:
        ring.unmap()
    return paths


def read_batches(paths: list[Path]) -> list:
    batches = []
    for path in paths:
        with RingReader(path, max_batch_bytes=16 << 20) as reader:
            batches.extend(reader.read_all())
    return batches


def ndjson_rows(snapshot_path: Path) -> list[dict]:
    rows = []
    for e in read_snapshot(snapshot_path).iter_events():
        row = {"ts": e["ts"], "seq": e["seq"], "level": R.level_name(e["level"]), "logger": e["logger"],
               "message": e["message"], "service": e["service"], "pid": e["pid"], "tid": e["tid"]}
        row.update(e["fields"])
        rows.append(row)
    return rows


def twin_row(batches: list, out: Path, n: int) -> tuple[str, float, float, str]:
    """The same snapshot written by the pure-Python twin of the writer's C kernels, once."""
    import ttlog.codec
    import ttlog.lz4frame
    from ttlog import _codec_py

    saved = ttlog.codec.K, ttlog.lz4frame.K
    ttlog.codec.K = ttlog.lz4frame.K = _codec_py
    try:
        writer = SnapshotWriter()
        t0 = time.perf_counter()
        for b in batches:
            writer.add(b)
        path = writer.write(out, service="trading-engine", reason="periodic")
        elapsed = time.perf_counter() - t0
    finally:
        ttlog.codec.K, ttlog.lz4frame.K = saved
    size = path.stat().st_size
    path.unlink()
    return ("snapshot, pure-Python twin (blocks stored)", size / n, n / elapsed,
            "batches -> file, no C extension")


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=None, help="default 1,000,000 (200,000 with --quick)")
    ap.add_argument("--rings", type=int, default=1)
    ap.add_argument("--level", type=int, nargs="*", default=[0, 1],
                    help="LZ4 compression levels to compare (the first is the one loaded; 0 fast, 1 "
                         "a larger table and no skipping)")
    ap.add_argument("--no-twin", action="store_true", help="skip the pure-Python twin's run")
    ap.add_argument("--repeat", type=int, default=None, help="best of N (default 3, 1 with --quick)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    events = args.events or (200_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    _, _, impl = _classes()
    work = Path(tempfile.mkdtemp(prefix="bench_snapshot."))
    try:
        paths = fill_rings(work, events, args.rings)
        batches = read_batches(paths)
        n = sum(len(b) for b in batches)
        out = work / "snaps"
        out.mkdir()
        rows = []  # (what, bytes/event, write events/s, detail)
        first_path = None
        for level in args.level:
            timings = []
            for _ in range(repeat):
                writer = SnapshotWriter(compression_level=level)
                t0 = time.perf_counter()
                for b in batches:
                    writer.add(b)
                path = writer.write(out, service="trading-engine", reason="periodic")
                timings.append(time.perf_counter() - t0)
                size = path.stat().st_size
                if first_path is None:
                    first_path = path
                else:
                    path.unlink()
            rows.append((f"snapshot, LZ4 level {level}", size / n, n / min(timings),
                         "batches -> file on disk (fsynced)"))
        assert first_path is not None
        snap_size = first_path.stat().st_size
        if not args.no_twin:
            rows.append(twin_row(batches, out, n))

        from ttview.sources import load_snapshots

        t_load, res = best(lambda: load_snapshots([first_path]), repeat)
        assert not res.errors and res.frame.height == n

        data = ndjson_rows(first_path)
        t_nd, nd = best(lambda: ("\n".join(json.dumps(r, separators=(",", ":"), default=str) for r in data)
                                 + "\n").encode(), 1)
        t_gz, gz = best(lambda: gzip.compress(nd, compresslevel=6), 1)
        rows.append(("NDJSON", len(nd) / n, n / t_nd, "json.dumps of row dicts (dicts built untimed)"))
        rows.append(("gzip-6 NDJSON", len(gz) / n, n / (t_nd + t_gz), "json.dumps + gzip level 6"))
        nd_path = work / "events.ndjson"
        nd_path.write_bytes(nd)
        import polars as pl

        t_nd_load, nd_frame = best(lambda: pl.read_ndjson(nd_path, infer_schema_length=None), repeat)

        print("## Snapshot files\n")
        print(f"{n:,} trading-like events from {args.rings} ring(s) (writer: {impl}; 80% trades with symbol, "
              f"side, qty, price, latency_us, order_id; 15% orders; 5% quotes); best of {repeat} runs.\n")
        print("| format | bytes/event | write events/s | what is timed |")
        print("|---|---:|---:|---|")
        for what, bpe, rate, detail in rows:
            print(f"| {what} | {bpe:.2f} | {rate:,.0f} | {detail} |")
        print()
        print(f"- snapshot vs NDJSON: **{len(nd) / snap_size:.1f}x smaller**; vs gzip-6 NDJSON: "
              f"**{len(gz) / snap_size:.2f}x smaller** and {rows[0][2] / rows[-1][2]:.0f}x faster to write")
        print(f"- load into a polars DataFrame ({res.frame.width} columns): snapshot "
              f"**{t_load * 1e3:.0f} ms** ({n / t_load / 1e6:.2f}M events/s); `pl.read_ndjson` of the same "
              f"events {t_nd_load * 1e3:.0f} ms (**{t_nd_load / t_load:.1f}x** slower, "
              f"{nd_frame.height:,} rows)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
