"""Deterministic event fixtures for the TUI tests: snapshots written through the real engine
(PyRing + RingReader + write_snapshot) with fixed times, and synthetic frames."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.demo import MarketReplay
from ttlog.reader import RingReader

START_NS = 1_795_271_400_000_000_000  # 2026-11-21T14:30:00Z
"""First event time of the fixtures."""


def write_events(
    directory: Path,
    *,
    events: int = 2000,
    seed: int = 7,
    start_ns: int = START_NS,
    service: str = "demo-trader",
    pid: int = 4242,
    extra: list[tuple[str, str, str, dict[str, Any]]] | None = None,
    ring_size: str = "16MiB",
    overflow: str = "drop",
) -> Path:
    """A snapshot of ``events`` market-replay events (plus ``extra`` (method, logger, message,
    fields) events at the end) with fixed times and thread id; returns its path. A small
    ``ring_size`` makes the ring drop (or, with ``overflow="overwrite"``, lose) events."""
    shm = directory / f"shm-{service}-{seed}"
    shm.mkdir(parents=True, exist_ok=True)
    path = R.create_ring_file(
        shm, service=service, ring_size=ring_size, level="TRACE", pid=pid, overflow=overflow
    )
    ring = R.PyRing()
    ring.map(path)
    rng = random.Random(seed)
    loggers: dict[str, R.PyLogger] = {}
    ts = start_ns
    reader = RingReader(path)  # a reader that fell behind sees what overwriting rings lose
    batches = []
    try:
        stream = iter(MarketReplay(seed))
        items: list[tuple[str, str, str, dict[str, Any]]] = []
        for _ in range(events):
            ev = next(stream)
            items.append((ev.method, ev.logger, ev.message, ev.fields))
        items.extend(extra or [])
        for method, logger_name, message, fields in items:
            ts += rng.randint(200_000, 2_000_000)  # 0.2 to 2 ms apart
            ring._set_fixed(ts, 1001)
            logger = loggers.get(logger_name) or loggers.setdefault(
                logger_name, R.PyLogger(ring, logger_name)
            )
            getattr(logger, method)(message, **fields)
            if not batches:
                batches.append(reader.poll())  # the first record: the reader learns the sequence
        batches += reader.read_all(final=True)
    finally:
        reader.close()
        ring.unmap()
    out = directory / "snaps"
    out.mkdir(exist_ok=True)
    return write_snapshot(out, batches, reason="request", created_ns=start_ns + 3600 * 10**9 + seed)


def synthetic_frame(rows: int, *, start_ns: int = START_NS) -> pl.DataFrame:
    """An event frame of ``rows`` rows built directly in polars (fast at a million rows)."""
    idx = np.arange(rows, dtype=np.int64)
    levels = np.array([15, 20, 21, 22, 25, 30], dtype=np.uint8)
    loggers = ["md.feed", "oms.orders", "oms.fills", "risk", "gateway"]
    return pl.DataFrame(
        {
            "ts": pl.Series(start_ns + idx * 1_000_000).cast(pl.Datetime("ns", "UTC")),
            "seq": idx,
            "level": pl.Series(levels[idx % len(levels)]),
            "logger": pl.Series(loggers, dtype=pl.String).gather(idx % len(loggers)),
            "message": pl.Series(["quote", "Order placed", "Trade executed"]).gather(idx % 3),
            "service": pl.repeat("synthetic", rows, eager=True),
            "pid": pl.repeat(1, rows, eager=True, dtype=pl.Int64),
            "tid": pl.repeat(1, rows, eager=True, dtype=pl.Int64),
            "latency_us": (idx % 997).astype(np.float64) / 10 + 1,
            "symbol": pl.Series(["AAPL", "MSFT", "NVDA"]).gather(idx % 3),
        }
    )


def sync(test: Any) -> Any:
    """Run an ``async def`` test with asyncio (the project uses no async pytest plugin)."""
    import asyncio
    import functools

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


async def wait_until(pilot: Any, predicate: Any, *, timeout: float = 5.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds (workers finish, messages arrive)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    await pilot.pause()


async def loaded(pilot: Any) -> None:
    """Wait for the app's first events (or load errors) and for the filter and search workers."""
    app = pilot.app
    await wait_until(pilot, app.loaded.is_set, what="events to load")
    await settle(pilot)


async def settle(pilot: Any) -> None:
    """Wait until no worker of the app or its screens is pending or running (the live tail aside),
    then until the messages they posted are handled."""
    from textual.worker import WorkerState

    busy = (WorkerState.PENDING, WorkerState.RUNNING)
    await wait_until(
        pilot,
        lambda: not any(w.state in busy and w.group != "live" for w in pilot.app.workers),
        what="workers",
    )
    await pilot.pause()
    await pilot.pause()


def screen_text(app: Any) -> str:
    """What the terminal shows of the current screen, as plain text (one line per row)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def type_text(pilot: Any, text: str) -> None:
    """Put ``text`` in the focused input as if typed (pilot.press costs ~60 ms a key)."""
    from textual.widgets import Input

    entry = pilot.app.focused
    assert isinstance(entry, Input), f"focus is on {entry!r}, not an input"
    entry.insert_text_at_cursor(text)
    await pilot.pause()


def no_blink(app: Any) -> None:
    """Stop every input's cursor from blinking, so screenshots are repeatable."""
    from textual.widgets import Input

    for entry in app.query(Input):
        entry.cursor_blink = False


def before(*keys: str, text: str = "", then: tuple[str, ...] = ()) -> Any:
    """A ``run_before`` for snap_compare: wait for the events, press ``keys``, type ``text``,
    press ``then``, and wait for the workers and the screen to settle."""

    async def run(pilot: Any) -> None:
        await loaded(pilot)
        no_blink(pilot.app)
        if keys:
            await pilot.press(*keys)
        if text:
            no_blink(pilot.app)
            await type_text(pilot, text)
        if then:
            await pilot.press(*then)
        await settle(pilot)
        await pilot.pause(0.1)
        await settle(pilot)

    return run


def frame_of(view: Any) -> pl.DataFrame:
    """Every event of an EventView as a DataFrame (the tests' small views only)."""
    return view.lazy().collect()
