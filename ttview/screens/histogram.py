"""The latency histogram: any numeric field of the filtered events, linear or log bins, p50 /
p99 / p99.9 marked on the plot and listed per series; optionally one series per group.

The bins and percentiles come from :func:`ttview.stats.histogram` (run in a worker); the plot is
plotext inside Textual (``textual_plotext.PlotextPlot``). Series names come from log data, so
they pass through :func:`ttview.render.visible` before plotext sees them.
"""

from __future__ import annotations

import math
from typing import ClassVar

import polars as pl
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Label, Select, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from ttview.render import si_label, visible
from ttview.screens import ComputedScreen
from ttview.screens.group_by import format_number, group_columns, numeric_fields
from ttview.stats import Histogram, histogram
from ttview.widgets.key_footer import KeyFooter

__all__ = ["HistogramScreen"]

NO_GROUPS = "(all events)"
MARKS = (("p50", "p50", "green"), ("p99", "p99", "orange"), ("p999", "p99.9", "red"))
"""Percentile attribute, label, colour of its line."""
SERIES_COLORS = ("blue+", "magenta+", "cyan+", "yellow+", "green+", "red+", "white", "orange")
BINS = 60


class HistogramScreen(ComputedScreen[None]):
    """A histogram of a numeric field of the events the log shows.

    | Key | Action |
    |---|---|
    | l | log / linear bins (log first: latencies have long tails) |
    | f | next numeric field |
    | g | compare groups: next grouping column (or none) |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("l", "toggle_log", "Log/linear bins"),
        Binding("f", "next_field", "Next field"),
        Binding("g", "next_group", "Compare groups"),
    ]

    DEFAULT_CSS = """
    HistogramScreen {
        #hist-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #hist-choices { height: 1; padding: 0 1; }
        #hist-choices Label { padding: 0 1 0 0; width: auto; }
        #hist-choices Select { width: 24; margin-right: 2; }
        #hist-plot, #hist-wait { height: 1fr; min-height: 8; }
        #hist-wait { padding: 1 2; color: $foreground 60%; }
        #hist-stats { height: auto; max-height: 11; padding: 0 1; }
    }
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        *,
        filter_text: str = "",
        field: str = "latency_us",
        by: str | None = None,
        log: bool = True,
    ) -> None:
        super().__init__()
        self.frame = frame
        self.filter_text = filter_text
        self.field_options = numeric_fields(frame)
        self.field = (
            field if field in self.field_options else (self.field_options[0] if self.field_options else "")
        )
        self.group_options = [c for c in group_columns(frame) if c != "level"] + ["level"]
        self.by = by if by in self.group_options else None
        self.log_bins = log
        self.result: Histogram | None = None
        """The histogram shown (bins, series and their percentiles)."""
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="hist-title")
        with Horizontal(id="hist-choices"):
            yield Label("field")
            yield Select(
                [(Text(visible(c, limit=40)), c) for c in self.field_options] or [(Text("(none)"), "")],
                value=self.field,
                allow_blank=False,
                compact=True,
                id="hist-field",
            )
            yield Label("compare")
            yield Select(
                [(Text(NO_GROUPS), NO_GROUPS)]
                + [(Text(visible(c, limit=40)), c) for c in self.group_options],
                value=self.by or NO_GROUPS,
                allow_blank=False,
                compact=True,
                id="hist-by",
            )
        # The plot is drawn once, with its numbers: until they come, a placeholder holds its place.
        yield Static(Text("computing…"), id="hist-wait")
        plot = PlotextPlot(id="hist-plot")
        plot.display = False
        yield plot
        yield Static("", id="hist-stats")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.compute()

    def _title(self) -> Text:
        title = Text(no_wrap=True, overflow="ellipsis")
        bins = "log bins" if self.log_bins else "linear bins"
        title.append(
            f"Histogram of {visible(self.field or '—', limit=40)} · {bins} · {self.frame.height:,} events"
        )
        if self.filter_text:
            title.append(" · filter: " + visible(self.filter_text, limit=80))
        return title

    # ---- computing ----------------------------------------------------------------------------

    def compute(self) -> None:
        self.query_one("#hist-title", Static).update(self._title())
        if not self.field:
            self.error = "no numeric field in these events"
            self._shown = True
            self._draw()
            return
        self._compute(self.frame, self.field, self.by, self.log_bins)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _compute(self, frame: pl.DataFrame, field: str, by: str | None, log: bool) -> Histogram:
        return histogram(frame, field=field, bins=BINS, log=log, by=by)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not self._computed(event):
            return
        if event.state == WorkerState.SUCCESS:
            self.result, self.error = event.worker.result, ""
            self._draw()
        elif event.state == WorkerState.ERROR:
            self.result, self.error = None, str(event.worker.error)
            self._draw()

    # ---- drawing ------------------------------------------------------------------------------

    def _x(self, value: float) -> float:
        return math.log10(value) if self.log_bins else value

    def _draw(self) -> None:
        with self.app.batch_update():
            self._draw_plot()
            self.query_one("#hist-wait").display = False
            self.query_one(PlotextPlot).display = True

    def _draw_plot(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        stats = self.query_one("#hist-stats", Static)
        result = self.result
        if result is None or self.error:
            stats.update(Text(visible(self.error or "no data", limit=300)))
            plot.refresh()
            return
        edges = result.edges
        if self.log_bins:
            centers = [math.sqrt(edges[i] * edges[i + 1]) for i in range(result.bins)]
        else:
            centers = [(edges[i] + edges[i + 1]) / 2 for i in range(result.bins)]
        xs = [self._x(c) for c in centers]
        ymax = 1
        for i, series in enumerate(result.series):
            if len(result.series) > 1 and not any(series.counts):
                continue  # a group without values (listed below, not drawn)
            name = visible(series.name, limit=24)
            ymax = max(ymax, max(series.counts, default=0))
            if len(result.series) == 1:
                plt.bar(xs, list(series.counts), width=1, reset_ticks=False, color=SERIES_COLORS[0])
            else:
                plt.plot(
                    xs,
                    list(series.counts),
                    label=name,
                    color=SERIES_COLORS[i % len(SERIES_COLORS)],
                    marker="braille",
                )
        if len(result.series) == 1:
            first = result.series[0]
            for attr, label, color in MARKS:
                value = getattr(first, attr)
                if value is not None and (value > 0 or not self.log_bins):
                    x = self._x(value)
                    plt.plot([x, x], [0, ymax], color=color, marker="│", label=f"{label} {si_label(value)}")
        ticks = self._ticks(edges)
        plt.xticks([self._x(t) for t in ticks], [si_label(t) for t in ticks])
        plt.xlabel(visible(result.field, limit=40) + (" (log)" if self.log_bins else ""))
        plt.ylabel("events")
        plot.refresh()
        stats.update(self._stats_table(result))

    def _ticks(self, edges: tuple[float, ...]) -> list[float]:
        lo, hi = edges[0], edges[-1]
        if self.log_bins and lo > 0:
            out = [10.0**k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
            return [t for t in out if lo <= t <= hi] or [lo, hi]
        return [lo + (hi - lo) * i / 4 for i in range(5)]

    def _stats_table(self, result: Histogram) -> Table:
        table = Table(box=None, padding=(0, 1), expand=False, show_edge=False)
        table.add_column(Text("series"), no_wrap=True)
        for heading in ("n", "min", "p50", "p99", "p99.9", "max"):
            table.add_column(Text(heading), justify="right", no_wrap=True)
        for series in result.series:
            table.add_row(
                Text(visible(series.name, limit=30)),
                Text(format_number(series.count)),
                Text(format_number(series.min)),
                Text(format_number(series.p50)),
                Text(format_number(series.p99)),
                Text(format_number(series.p999)),
                Text(format_number(series.max)),
            )
        if result.omitted_groups:
            table.add_row(
                Text(f"+{result.omitted_groups} groups not shown"), Text(format_number(result.omitted_values))
            )
        return table

    # ---- choices ------------------------------------------------------------------------------

    @on(Select.Changed, "#hist-field")
    def _field_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value and event.value != self.field:
            self.field = event.value
            self.compute()

    @on(Select.Changed, "#hist-by")
    def _by_changed(self, event: Select.Changed) -> None:
        by = None if event.value == NO_GROUPS else event.value
        if by != self.by and isinstance(by, (str, type(None))):
            self.by = by
            self.compute()

    def action_toggle_log(self) -> None:
        self.log_bins = not self.log_bins
        self.compute()

    def action_next_field(self) -> None:
        if self.field_options:
            i = self.field_options.index(self.field) if self.field in self.field_options else -1
            self.query_one("#hist-field", Select).value = self.field_options[
                (i + 1) % len(self.field_options)
            ]

    def action_next_group(self) -> None:
        options = [NO_GROUPS, *self.group_options]
        i = options.index(self.by) if self.by in options else 0
        self.query_one("#hist-by", Select).value = options[(i + 1) % len(options)]

    def action_back(self) -> None:
        self.dismiss(None)
