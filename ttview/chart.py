"""The ``ttview hist`` chart: a :class:`ttview.stats.Histogram` drawn with plotext, then its table.

Invariants: plotext is imported only when a chart is drawn (``ttview --help`` stays quick); the
chart is plain text without colour unless stdout is a terminal and ``NO_COLOR`` is unset; names
that came from the logs are escaped with :func:`ttview.report.visible`.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from ttview.report import cell, num, out_console, visible

if TYPE_CHECKING:  # pragma: no cover
    from ttview.stats import Histogram

__all__ = ["MARKERS", "print_hist", "tick_label", "ticks"]

MARKERS = ("hd", "dot", "x", "+", "o", "*", "#", "@")
"""plotext markers of the series of a histogram with ``--by``, in order."""


def print_hist(h: Histogram, *, width: int | None, height: int) -> None:
    """The chart of ``h`` (``width`` columns, default the terminal's; ``height`` lines), then a
    table of each series' count, nulls and percentiles."""
    import plotext as plt

    console = out_console()
    color = console.is_terminal and not console.no_color
    w = width or max(40, min(console.width, 160))
    edges = list(h.edges)
    xs = [
        math.log10(edges[i]) + (math.log10(edges[i + 1]) - math.log10(edges[i])) / 2
        if h.log
        else (edges[i] + edges[i + 1]) / 2
        for i in range(h.bins)
    ]
    plt.clf()
    plt.theme("pro" if color else "clear")
    plt.plotsize(w, height)
    kind = "log" if h.log else "linear"
    plt.title(visible(f"{h.field}: {h.total:,} values, {h.bins} {kind} bins"))
    plotted = [s for s in h.series if s.count] or list(h.series[:1])
    if len(plotted) == 1:
        plt.bar(xs, list(plotted[0].counts), width=1.0, marker=None if color else "sd")
    else:
        for i, s in enumerate(plotted):
            plt.plot(xs, list(s.counts), label=visible(s.name)[:30], marker=MARKERS[i % len(MARKERS)])
    marks = ticks(edges, log=h.log)
    plt.xticks([math.log10(t) if h.log else t for t in marks], [tick_label(t) for t in marks])
    if len(plotted) == 1 and plotted[0].count:
        s = plotted[0]
        for value in (s.p50, s.p99, s.p999):
            if value is not None and (value > 0 or not h.log):
                plt.vline(math.log10(value) if h.log else value, "red" if color else "default")
    chart = plt.build()
    plt.clf()
    if not color:
        chart = plt.uncolorize(chart)
    if h.total:
        sys.stdout.write("\n".join(line.rstrip() for line in chart.splitlines()) + "\n")
    else:
        sys.stdout.write(visible(f"{h.field}: no values to draw") + "\n")
    sys.stdout.flush()
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column(Text(visible(h.by or "series")))
    for name in ("values", "no value", "min", "mean", "p50", "p99", "p99.9", "max"):
        table.add_column(name, justify="right")
    if h.log:
        table.add_column("<= 0", justify="right")
    for s in h.series:
        cells = [cell(s.name), Text(f"{s.count:,}"), Text(f"{s.nulls:,}")]
        cells += [Text(num(v)) for v in (s.min, s.mean, s.p50, s.p99, s.p999, s.max)]
        if h.log:
            cells.append(Text(f"{s.nonpositive:,}"))
        table.add_row(*cells)
    console.print(table)
    if h.omitted_groups:
        console.print(Text(f"… {h.omitted_groups:,} more groups ({h.omitted_values:,} values) not shown"))


def ticks(edges: list[float], *, log: bool, count: int = 6) -> list[float]:
    """Where the x axis is labelled: the powers of ten within the bins if ``log`` (at least two),
    else ``count`` evenly spaced values from the first edge to the last."""
    lo, hi = edges[0], edges[-1]
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        decades = [10.0**k for k in range(a, b + 1) if lo <= 10.0**k <= hi]
        if len(decades) >= 2:
            return decades
        return [lo, hi]
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def tick_label(value: float) -> str:
    """A short axis label: ``1,000``, ``2.5``, ``0.001``, ``1.5e+06``."""
    a = abs(value)
    if a >= 1e6:
        return f"{value:.3g}"
    if a >= 100 or a == 0:
        return f"{value:,.0f}"
    if a >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"
