"""Terminal output of the ``ttview`` command line: consoles, tables, number formats and JSON.

The commands in :mod:`ttview.cli` compute nothing here; they pass the results of the headless
core (``ttview.stats``, ``ttview.lsinfo``, ``ttview.export``, ``engine``) to these functions.
The histogram chart of ``ttview hist`` is in :mod:`ttview.chart`.

Invariants: text that came from the logs is passed through :func:`visible` (control characters
escaped) and put in :class:`~rich.text.Text`, never read as Rich markup; JSON goes to stdout with
NaN and infinity as null and with every character a terminal could act on escaped; nothing here
imports textual, and polars or plotext only when a function needs them.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ttview.textsafe import json_escape_unsafe
from ttview.textsafe import visible as _visible

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from ttview.demo_run import DemoTick
    from ttview.lsinfo import RingRow, SnapshotRow

__all__ = [
    "byte_size",
    "cell",
    "compact_table",
    "demo_progress_line",
    "err_console",
    "export_with_progress",
    "num",
    "out_console",
    "print_json",
    "print_listing",
    "print_rings",
    "print_snapshots",
    "print_fitted",
    "print_stats",
    "range_line",
    "shorten_middle",
    "span",
    "utc",
    "visible",
]

# ---- terminal safety and consoles --------------------------------------------------------------


def visible(text: object) -> str:
    """``text`` (any object, as ``str``) whole, with every character that could drive a terminal
    shown as an escape: ``\\x1b``, ``\\n``, ``\\u202e`` (:func:`ttview.textsafe.visible`)."""
    return _visible(str(text), limit=None)


def err_console() -> Console:
    """The console of errors, warnings and progress (stderr)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


class _PipeConsole(Console):
    """A console whose closed stdout raises BrokenPipeError (rich would exit 1 by itself)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def out_console() -> Console:
    """The console of tables (stdout); a closed stdout raises BrokenPipeError."""
    return _PipeConsole(highlight=False)


# ---- formatting --------------------------------------------------------------------------------


def num(value: object, *, missing: str = "-") -> str:
    """A statistic for a table: thousands separators, about four significant digits; ``missing``
    for None."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        a = abs(value)
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 1 or a == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return visible(value)


def byte_size(n: int) -> str:
    """A size in bytes for people: ``512 B``, ``1.5 KiB``, ``64.0 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def utc(ns: int | None, *, date: bool = True) -> str:
    """Nanoseconds since the epoch as UTC with milliseconds (``-`` for None)."""
    if ns is None:
        return "-"
    dt = datetime.datetime.fromtimestamp(ns // 10**9, tz=datetime.timezone.utc)
    ms = (ns % 10**9) // 10**6
    return dt.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S") + f".{ms:03d}"


def span(first: int | None, last: int | None) -> str:
    """The time between two nanosecond stamps in one unit: ``850ms``, ``12.5s``, ``3.0m``, ``2.1h``."""
    if first is None or last is None:
        return "-"
    s = (last - first) / 1e9
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells by taking out its middle: ``demo-trader.4…043Z.exit.ttsnap``
    (both ends tell files and loggers apart)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    head = (keep + 1) // 2
    tail = keep - head
    return _cut_cells(text, head) + "…" + _cut_cells(text[::-1], tail)[::-1]


def _cut_cells(text: str, cells: int) -> str:
    out, used = [], 0
    for ch in text:
        used += cell_len(ch)
        if used > cells:
            break
        out.append(ch)
    return "".join(out)


def print_fitted(console: Console, build: Callable[[int], Table], wanted: int, *, least: int = 6) -> None:
    """Print the table ``build(width)`` makes with its names column shortened to ``width`` cells:
    ``wanted`` if the table then fits the console, else as much less as it takes (at least
    ``least``). The other columns are never cut: a table that still does not fit is printed wider
    than the console rather than with cut numbers."""
    from rich.measure import Measurement

    unbounded = console.options.update_width(100_000)
    width = max(least, wanted)
    table = build(width)
    natural = Measurement.get(console, unbounded, table).maximum
    if natural > console.width:
        width = max(least, width - (natural - console.width))
        table = build(width)
        natural = Measurement.get(console, unbounded, table).maximum
    if natural <= console.width:
        console.print(table)
        return
    narrow = console.width
    console.width = natural  # wider than the terminal, which wraps it: still no number is cut
    try:
        console.print(table)
    finally:
        console.width = narrow


def cell(value: object) -> Text:
    """A table cell of a value that may have come from the logs (``-`` for None)."""
    return Text(visible(value) if value is not None else "-")


def range_line(frame: pl.DataFrame) -> str:
    """``first → last UTC (span)`` of the events' ``ts``; empty for no events."""
    if frame.height == 0 or "ts" not in frame.columns:
        return ""
    import polars as pl

    lo, hi = frame.select(
        pl.col("ts").min().dt.epoch("ns"), pl.col("ts").max().dt.epoch("ns").alias("hi")
    ).row(0)
    return f"{utc(lo)} → {utc(hi)} UTC ({span(lo, hi)})"


# ---- JSON --------------------------------------------------------------------------------------

def print_json(obj: object) -> None:
    """``obj`` as indented JSON on stdout; NaN and infinity become null."""
    text = json.dumps(
        _clean_floats(obj), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
    )
    text = json_escape_unsafe(text)  # what JSON allows raw but a terminal must not see
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _json_default(value: object) -> object:
    if isinstance(value, float):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _clean_floats(obj: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_floats(v) for v in obj]
    return obj


# ---- export ------------------------------------------------------------------------------------


def export_with_progress(source: Any, stream: Any, *, console: Console, total: int | None = None,
                         **options: Any) -> int:
    """:func:`ttview.export.write_export` of ``source`` (a frame or a lazy source of about ``total``
    events) with a transient progress bar on ``console``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ttview.export import write_export

    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    if total is None and hasattr(source, "height"):
        total = source.height
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("export", total=total or None)
        return write_export(
            source,
            stream,
            total=total,
            progress=lambda done, expected: progress.update(task, completed=done, total=max(expected, done)),
            **options,
        )


# ---- stats -------------------------------------------------------------------------------------


def print_stats(
    result: Any,
    groups: pl.DataFrame,
    total: pl.DataFrame,
    *,
    group_by: str,
    field: str | None,
    files: int,
    more: int,
    dropped: int = 0,
    lost: int = 0,
) -> None:
    """The ``ttview stats`` table: one row per group of ``groups``, ``total`` as the footer.
    ``result`` is the :class:`ttview.stats.GroupStats` they come from (events, time range,
    whether the percentiles are exact).

    Numbers are never cut: their columns are as wide as their widest cell, and the group names
    take what is left of the terminal's width, shortened in the middle if they must be."""
    console = out_console()
    what = f"{field} by {group_by}" if field else f"events by {group_by}"
    events = result.events
    console.print(
        Text(visible(f"{what}: {events:,} events in {files} file{'s' if files != 1 else ''}"))
    )
    if events and result.ts_min is not None:
        console.print(Text(f"{utc(result.ts_min)} → {utc(result.ts_max)} UTC "
                           f"({span(result.ts_min, result.ts_max)})"))
    if dropped or lost:
        missed = ([f"{dropped:,} dropped by a full ring"] if dropped else []) + (
            [f"{lost:,} overwritten before they were saved"] if lost else [])
        console.print(Text(f"not in these numbers: {' and '.join(missed)}", style="yellow"))
    if field and not result.exact:
        console.print(Text(f"percentiles are estimates within {result.relative_error:.1%} "
                           "(more values than are held in memory)", style="yellow"))
    stat_cols = ["p50", "p90", "p99", "p99.9", "max"] if field else []
    headings = {"count": "count", "share": "share", "rate": "rate/s", **{c: c for c in stat_cols}}
    totals = total.to_dicts()[0] if total.height else {}
    names = [visible(v) if v is not None else "(none)" for v in groups[group_by].to_list()]
    rows = [[_stat_text(name, row[name]).plain for name in headings] for row in groups.iter_rows(named=True)]
    footer = [_stat_text(name, totals.get(name)).plain for name in headings] if totals else []
    head = visible(group_by)

    def build(width: int) -> Table:
        table = Table(
            show_footer=total.height > 0, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True
        )
        table.add_column(Text(shorten_middle(head, width)), footer=Text("all"), no_wrap=True)
        for i, heading in enumerate(headings.values()):
            table.add_column(heading, justify="right", no_wrap=True, footer=Text(footer[i]) if footer else "")
        for name, cells in zip(names, rows, strict=True):
            table.add_row(Text(shorten_middle(name, width)), *(Text(c) for c in cells))
        return table

    print_fitted(console, build, max([cell_len(head), 3, *(cell_len(n) for n in names)]))
    if more:
        groups = "group" if more == 1 else "groups"
        console.print(Text(f"… {more:,} more {groups} not shown (--limit 0 shows all)"))


def _stat_text(name: str, value: object) -> Text:
    if value is None:
        return Text("-")
    if name == "share":
        return Text(f"{float(value):.1%}")  # type: ignore[arg-type]
    if name == "rate":
        return Text(f"{float(value):,.1f}")  # type: ignore[arg-type]
    return Text(num(value))


# ---- ls ----------------------------------------------------------------------------------------


def print_listing(
    *,
    shm_dir: Path,
    status: dict[str, Any] | None,
    rings: list[RingRow],
    snapshot_dir: Path,
    snapshots: list[SnapshotRow],
    more_snapshots: int,
) -> None:
    """The ``ttview ls`` listing: the live rings, a blank line, the snapshots."""
    console = out_console()
    print_rings(console, shm_dir, status, rings)
    console.print()
    print_snapshots(console, snapshot_dir, snapshots, more=more_snapshots)


def compact_table(*, footer: bool = False) -> Table:
    """An empty table of the ``ls`` style."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, show_footer=footer)


def print_rings(console: Console, shm: Path, status: dict[str, Any] | None, rings: list[RingRow]) -> None:
    """The live rings of ``shm`` and the state of its sidecar (service names shortened in the
    middle to fit the terminal; the numbers never cut)."""
    if status:
        side = (
            f"sidecar pid {status.get('pid')}: {int(status.get('snapshots_written', 0)):,} snapshots, "
            f"{int(status.get('events_drained', 0)):,} events drained"
        )
    else:
        side = "no sidecar running"
    head = Text.assemble(("Live rings", "bold"), f" in {visible(shm)} ({side})")
    console.print(head, soft_wrap=True)
    if not rings:
        console.print(Text("  none"))
        return
    names = [visible(r.path.name if r.error else r.service) for r in rings]

    def build(width: int) -> Table:
        table = compact_table()
        table.add_column("service", no_wrap=True)
        for name in ("pid", "state", "fill", "events", "dropped", "lost", "sidecar lag", "size"):
            table.add_column(name, justify="left" if name == "state" else "right", no_wrap=True)
        for r, name in zip(rings, names, strict=True):
            shown = Text(shorten_middle(name, width))
            if r.error:
                table.add_row(shown, Text("-"), Text("unreadable", style="red"), cell(r.error))
                continue
            state = "closed" if r.closed else ("alive" if r.alive else "dead")
            lag = byte_size(r.lag_bytes) + (f", {r.lag_events:,} ev" if r.lag_events is not None else "")
            table.add_row(
                shown,
                Text(str(r.pid)),
                Text(state, style="green" if r.alive else "red"),
                Text(f"{r.fill:.1%}"),
                Text(f"{r.events:,}"),
                Text(f"{r.dropped:,}"),
                Text(f"{r.lost:,}"),
                Text(lag),
                Text(byte_size(r.capacity) + (" (overwrite)" if r.overwrite else "")),
            )
        return table

    print_fitted(console, build, max(cell_len(n) for n in names))


def print_snapshots(console: Console, directory: Path, rows: list[SnapshotRow], *, more: int) -> None:
    """The snapshot files ``rows`` of ``directory`` (``more`` older ones not shown): one line each,
    file names shortened in the middle to fit the terminal, the numbers and sizes never cut."""
    count = len(rows) + more
    head = Text.assemble(
        ("Snapshots", "bold"), f" in {visible(directory)} ({count} file{'' if count == 1 else 's'})"
    )
    console.print(head, soft_wrap=True)
    if not rows:
        console.print(Text("  none"))
        return
    losses = any(r.dropped or r.lost for r in rows)
    names = [visible(r.path.name) for r in rows]

    def build(width: int) -> Table:
        table = compact_table(footer=True)
        table.add_column("file", footer=Text(f"{len(rows)} shown"), no_wrap=True)
        table.add_column("reason", no_wrap=True)
        events = Text(f"{sum(r.count for r in rows):,}")
        table.add_column("events", justify="right", no_wrap=True, footer=events)
        table.add_column("first (UTC)", no_wrap=True)
        table.add_column("span", justify="right", no_wrap=True)
        if losses:
            table.add_column("drop/lost", justify="right", no_wrap=True)
        size = Text(byte_size(sum(r.size for r in rows)))
        table.add_column("size", justify="right", no_wrap=True, footer=size)
        for r, name in zip(rows, names, strict=True):
            shown = Text(shorten_middle(name, width))
            if r.error:
                message = r.error.split(": ", 1)[-1] if r.error.startswith(str(r.path)) else r.error
                table.add_row(
                    shown,
                    Text("unreadable", style="red"),
                    Text("-"),
                    Text(shorten_middle(visible(message), 40)),
                    Text("-"),
                    *([Text("-")] if losses else []),
                    Text(byte_size(r.size)),
                )
                continue
            cells = [
                shown,
                cell(r.reason),
                Text(f"{r.count:,}"),
                Text(utc(r.first_ts)[:16]),
                Text(span(r.first_ts, r.last_ts)),
            ]
            table.add_row(
                *cells, *([Text(f"{r.dropped:,}/{r.lost:,}")] if losses else []), Text(byte_size(r.size))
            )
        return table

    print_fitted(console, build, max(cell_len(n) for n in names), least=12)
    if more:
        snapshots = "snapshot" if more == 1 else "snapshots"
        console.print(Text(f"… {more:,} older {snapshots} not shown (--all lists them)"))


# ---- demo --------------------------------------------------------------------------------------


def demo_progress_line(tick: DemoTick) -> str:
    """One ``ttview demo --no-ui`` progress line."""
    return (
        f"demo: {tick.elapsed:5.1f}s  {tick.events:>10,} events  {tick.rate:>9,.0f}/s  "
        f"fill {tick.fill:5.1%}  dropped {tick.dropped:,}  sidecar lag {byte_size(tick.lag_bytes)}"
    )
