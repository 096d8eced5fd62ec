"""The histogram chart, drawn with plotext: one renderer for ``ttview hist`` and the viewer's
histogram screen (``h``).

    draw_histogram(plt, h, color=True)     # plt: the plotext module, or a PlotextPlot's .plt
    print_hist(h, width=80, height=20)     # ttview hist: the chart, its marks, then its table

What the chart shows, wherever it is drawn:

- one series: bars, with the p50, p99 and p99.9 of the values as vertical lines; which line is
  which is told by :func:`marks_text` outside the plot (plotext's legend would sit on the bars);
- several series (``--by``): one line per series that has values, drawn only over its bins that
  hold events (so an empty stretch lies on no baseline), named in plotext's legend;
- x ticks at the powers of ten (log bins) or five even steps (linear), labelled by
  :func:`tick_label`; y ticks at whole counts (:func:`count_ticks`), never fractions.

Invariants: plotext is imported only when a chart is drawn (``ttview --help`` stays quick) and
this module imports no textual; the CLI's chart is plain text without colour unless stdout is a
terminal and ``NO_COLOR`` is unset; names that came from the logs are escaped with
:func:`ttview.report.visible` before plotext sees them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ttview.report import cell, num, out_console, visible

if TYPE_CHECKING:  # pragma: no cover
    from ttview.stats import Histogram

__all__ = [
    "MARKERS",
    "MARKS",
    "SERIES_COLORS",
    "count_label",
    "count_ticks",
    "draw_histogram",
    "marks_text",
    "print_hist",
    "tick_label",
    "ticks",
]

MARKERS = ("hd", "dot", "x", "+", "o", "*", "#", "@")
"""plotext markers of the series of a histogram with ``--by`` in plain text, in order."""

SERIES_COLORS = ("blue+", "magenta+", "cyan+", "yellow+", "green+", "red+", "white", "orange")
"""plotext colours of the series, in order."""

MARKS: tuple[tuple[str, str, str], ...] = (
    ("p50", "p50", "green"),
    ("p99", "p99", "orange"),
    ("p999", "p99.9", "red"),
)
"""Percentile attribute of a series, its label, the colour of its line."""


# ---- axes --------------------------------------------------------------------------------------


def ticks(edges: Sequence[float], *, log: bool, count: int = 5) -> list[float]:
    """Where the x axis is labelled: the powers of ten within the bins if ``log`` (at least two),
    else ``count`` evenly spaced values from the first edge to the last."""
    lo, hi = edges[0], edges[-1]
    if log and lo > 0:
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


def count_ticks(peak: int, *, most: int = 5) -> list[int]:
    """Whole-number y ticks from 0 up to the first at or above ``peak`` events, at most ``most``
    of them, spaced by 1, 2 or 5 times a power of ten (the chart labels those up to ``peak``)."""
    peak = max(1, int(peak))
    step = 1
    while True:
        for m in (1, 2, 5):
            size = m * step
            if math.ceil(peak / size) + 1 <= most:
                return [i * size for i in range(math.ceil(peak / size) + 1)]
        step *= 10


def count_label(value: int) -> str:
    """A y tick: ``0``, ``500``, ``2,000``, ``35k``, ``1.2M`` (always a whole count)."""
    if value >= 10_000:
        for div, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
            if value >= div:
                text = f"{value / div:.3g}"
                return text + suffix
    return f"{value:,}"


def _centers(h: Histogram) -> list[float]:
    """The x of each bin on the axis: its middle (log bins: the middle of its log10 range)."""
    edges = h.edges
    if h.log:
        return [(math.log10(edges[i]) + math.log10(edges[i + 1])) / 2 for i in range(h.bins)]
    return [(edges[i] + edges[i + 1]) / 2 for i in range(h.bins)]


def _runs(xs: Sequence[float], counts: Sequence[int]) -> list[tuple[list[float], list[int]]]:
    """The stretches of consecutive bins holding events, as (xs, counts)."""
    runs: list[tuple[list[float], list[int]]] = []
    current: tuple[list[float], list[int]] | None = None
    for x, n in zip(xs, counts, strict=True):
        if n:
            if current is None:
                current = ([], [])
                runs.append(current)
            current[0].append(x)
            current[1].append(n)
        else:
            current = None
    return runs


# ---- drawing -----------------------------------------------------------------------------------


def draw_histogram(
    plt: Any,
    h: Histogram,
    *,
    color: bool = True,
    markers: Sequence[str] | None = None,
    title: str | None = None,
) -> bool:
    """Draw ``h`` on ``plt`` (the plotext module or a ``PlotextPlot.plt``, cleared by the caller,
    whose size and theme are the caller's). ``color``: colour the series and the percentile lines;
    ``markers``: one plotext marker per series (default: braille lines in colour, :data:`MARKERS`
    without). Returns False (and draws nothing) when ``h`` holds no value."""
    if title:
        plt.title(title)
    drawn = [s for s in h.series if any(s.counts)]
    if not drawn:
        return False
    xs = _centers(h)
    peak = max(max(s.counts) for s in drawn)
    if len(h.series) == 1:
        plt.bar(xs, list(drawn[0].counts), width=1.0, color=SERIES_COLORS[0] if color else None,
                marker=None if color else "sd")
        first = drawn[0]
        for attr, _label, line_color in MARKS:
            value = getattr(first, attr)
            if value is not None and (value > 0 or not h.log):
                plt.vline(math.log10(value) if h.log else value, line_color if color else "default")
    else:
        chosen = markers or (("braille",) if color else MARKERS)
        for i, series in enumerate(h.series):
            if not any(series.counts):
                continue  # a group without values: listed in the table, not drawn
            label = visible(series.name)[:30]
            for j, (run_x, run_y) in enumerate(_runs(xs, series.counts)):
                plt.plot(
                    run_x,
                    run_y,
                    label=label if j == 0 else None,
                    color=SERIES_COLORS[i % len(SERIES_COLORS)] if color else None,
                    marker=chosen[i % len(chosen)],
                )
    marks = ticks(h.edges, log=h.log)
    plt.xticks([math.log10(t) if h.log else t for t in marks], [tick_label(t) for t in marks])
    counts = [c for c in count_ticks(peak) if c <= peak]
    plt.yticks(counts, [count_label(c) for c in counts])
    plt.ylim(0, peak)
    plt.xlabel(visible(h.field)[:40] + (" (log)" if h.log else ""))
    return True


def marks_text(h: Histogram) -> list[tuple[str, str]]:
    """The key of the percentile lines of a one-series chart: (text, colour) pairs such as
    ``("p50 6.04", "green")``, shown as ``lines at p50 6.04 │ p99 103.1 │ p99.9 910.8``; empty
    when there are several series or no values."""
    if len(h.series) != 1 or not h.series[0].count:
        return []
    first = h.series[0]
    out = []
    for attr, label, line_color in MARKS:
        value = getattr(first, attr)
        if value is not None:
            out.append((f"{label} {num(value)}", line_color))
    return out


# ---- ttview hist --------------------------------------------------------------------------------


def print_hist(h: Histogram, *, width: int | None, height: int) -> None:
    """The chart of ``h`` (``width`` columns, default the terminal's; ``height`` lines), the key of
    its percentile lines, then a table of each series' count, nulls and percentiles."""
    import plotext as plt

    console = out_console()
    color = console.is_terminal and not console.no_color
    w = width or max(40, min(console.width, 160))
    kind = "log" if h.log else "linear"
    plt.clear_figure()
    plt.theme("pro" if color else "clear")
    plt.plotsize(w, height)
    title = visible(f"{h.field}: {h.total:,} values, {h.bins} {kind} bins")
    if draw_histogram(plt, h, color=color, title=title):
        chart = plt.build()
        if not color:
            chart = plt.uncolorize(chart)
        sys.stdout.write("\n".join(line.rstrip() for line in chart.splitlines()) + "\n")
        sys.stdout.flush()
        key = marks_text(h)
        if key:
            line = Text("lines at ")
            for i, (text, line_color) in enumerate(key):
                line.append(" │ " if i else "")
                line.append(text, style=line_color if color else "")
            console.print(line)
    else:
        sys.stdout.write(visible(f"{h.field}: no values to draw") + "\n")
        sys.stdout.flush()
    plt.clear_figure()
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
        more = "group" if h.omitted_groups == 1 else "groups"
        console.print(Text(f"… {h.omitted_groups:,} more {more} ({h.omitted_values:,} values) not shown"))
