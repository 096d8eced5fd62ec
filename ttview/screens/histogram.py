"""The latency histogram: any numeric field of the filtered events, linear or log bins, p50 /
p99 / p99.9 marked on the plot and listed per series; optionally one series per group.

The bins and percentiles come from :func:`ttview.stats.histogram` (run in a worker); the plot is
drawn by :func:`ttview.chart.draw_histogram`, the renderer of ``ttview hist`` too, on plotext
inside Textual (``textual_plotext.PlotextPlot``). Series names come from log data, so they pass
through :func:`ttview.render.visible` before plotext sees them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Label, Select, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from ttview.chart import draw_histogram, marks_text
from ttview.eventview import EventView
from ttview.render import visible
from ttview.schema import group_columns, numeric_fields
from ttview.screens import ComputedScreen
from ttview.screens.group_by import format_number
from ttview.stats import Histogram, histogram
from ttview.widgets.key_footer import KeyFooter

__all__ = ["HistogramScreen"]

NO_GROUPS = "(all events)"
_RICH_COLORS = {"orange": "dark_orange"}
"""plotext colour names Rich spells differently."""
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
        view: EventView,
        *,
        filter_text: str = "",
        field: str = "latency_us",
        by: str | None = None,
        log: bool = True,
    ) -> None:
        super().__init__()
        self.view = view
        self.filter_text = filter_text
        self.field_options = numeric_fields(view.schema)
        self.field = (
            field if field in self.field_options else (self.field_options[0] if self.field_options else "")
        )
        self.group_options = [c for c in group_columns(view.schema) if c != "level"] + ["level"]
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
            f"Histogram of {visible(self.field or '—', limit=40)} · {bins} · {self.view.height:,} events"
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
        self._compute(self.view, self.field, self.by, self.log_bins)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _compute(self, view: EventView, field: str, by: str | None, log: bool) -> Histogram:
        return histogram(view.events(), field=field, bins=BINS, log=log, by=by)

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

    def _draw(self) -> None:
        with self.app.batch_update():
            self._draw_plot()
            self.query_one("#hist-wait").display = False
            self.query_one(PlotextPlot).display = True

    def _draw_plot(self) -> None:
        plot = self.query_one(PlotextPlot)
        stats = self.query_one("#hist-stats", Static)
        result = self.result
        plot.plt.clear_figure()
        if result is None or self.error or not draw_histogram(plot.plt, result, color=True):
            plot.plt.clear_figure()
            stats.update(Text(visible(self.error or "no values to draw", limit=300)))
            plot.refresh()
            return
        plot.refresh()
        key = Text(no_wrap=True, overflow="ellipsis")
        for i, (text, color) in enumerate(marks_text(result)):
            key.append(" │ " if i else "lines at ")
            key.append(text, style=_RICH_COLORS.get(color, color))
        stats.update(Group(key, self._stats_table(result)) if key.plain else self._stats_table(result))

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
