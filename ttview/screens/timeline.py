"""The timeline: events per second by level over the time of the filtered events.

Buckets come from :func:`ttview.stats.timeline` (a worker), as many as the chart is wide.
Choosing a bucket (enter, or a click) dismisses the screen with its start time; the app moves
the log cursor to the first event at or after it.
"""

from __future__ import annotations

import bisect
from typing import ClassVar

import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from ttview.eventview import EventView
from ttview.render import format_clock, format_date, level_palette, rate_label, visible
from ttview.schema import LEVELS, level_name
from ttview.screens import ComputedScreen
from ttview.stats import timeline
from ttview.widgets.key_footer import KeyFooter
from ttview.widgets.timeline_chart import AXIS_WIDTH, TimelineChart, TimelineData

__all__ = ["TimelineScreen", "timeline_data"]


def _duration(ns: int) -> str:
    for div, unit in ((3600 * 10**9, "h"), (60 * 10**9, "m"), (10**9, "s"), (10**6, "ms"), (10**3, "µs")):
        if ns >= div:
            return f"{ns / div:g}{unit}"
    return f"{ns}ns"


def timeline_data(events: pl.DataFrame | pl.LazyFrame, buckets: int) -> TimelineData:
    """Per-level counts in at most ``buckets`` buckets of a "nice" width (stats.timeline, which
    streams a LazyFrame)."""
    table = timeline(events, every="auto", target_buckets=max(2, buckets))
    if not table.height:
        return TimelineData((), 10**9, (), ())
    starts = table.get_column("ts").dt.epoch("ns").to_list()
    step = starts[1] - starts[0] if len(starts) > 1 else 10**9
    names = [c for c in table.columns if c not in ("ts", "total")]
    levels = tuple(LEVELS.get(n, int(n) if n.isdigit() else 0) for n in names)
    counts = tuple(tuple(int(v) for v in table.get_column(n).to_list()) for n in names)
    if len(starts) == 1:
        lazy = events.lazy if hasattr(events, "batches") else events.lazy()
        epoch = pl.col("ts").dt.epoch("ns")
        bounds = lazy.select(epoch.min().alias("lo"), epoch.max().alias("hi"))
        lo, hi = bounds.collect(engine="streaming").row(0)
        lo, hi = int(lo or 0), int(hi or 0)
        step = max(1, hi - lo + 1) if hi > lo else 10**9
    return TimelineData(tuple(starts), step, levels, counts)


class TimelineScreen(ComputedScreen[int | None]):
    """Events per second by level; choose a moment to jump the log there.

    | Key | Action |
    |---|---|
    | left, right | move the cursor a bucket |
    | enter / click | jump the log to the start of that bucket |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
    ]

    AUTO_FOCUS = "#timeline-chart"
    """Focused as the screen is composed, so the footer builds its keys (which the focus changes) once."""

    DEFAULT_CSS = """
    TimelineScreen {
        #timeline-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #timeline-chart { height: 1fr; min-height: 5; }
        #timeline-status { height: auto; max-height: 3; padding: 0 1; }
    }
    """

    def __init__(self, view: EventView, *, filter_text: str = "", cursor_ts: int | None = None) -> None:
        super().__init__()
        self.view = view
        self.cursor_ts = cursor_ts
        self.filter_text = filter_text
        self.data: TimelineData | None = None
        """The buckets shown."""
        self._target = 0

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="timeline-title")
        yield TimelineChart(id="timeline-chart")
        yield Static("", id="timeline-status")
        yield KeyFooter()

    def _title(self) -> Text:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"Timeline · events per second by level · {self.view.height:,} events")
        first = self.view.ts_ns(0)
        if first is not None:
            title.append(f" · {format_date(first)} UTC")
        if self.filter_text:
            title.append(" · filter: " + visible(self.filter_text, limit=80))
        return title

    @property
    def chart(self) -> TimelineChart:
        return self.query_one(TimelineChart)

    def on_mount(self) -> None:
        self.chart.focus()
        self.call_after_refresh(self.compute)

    def on_resize(self) -> None:
        self.call_after_refresh(self.compute)

    def compute(self) -> None:
        target = max(2, self.chart.size.width - AXIS_WIDTH)
        if target == self._target:
            return
        self._target = target
        self._compute(self.view, target)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _compute(self, view: EventView, target: int) -> TimelineData:
        return timeline_data(view.events(), target)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not self._computed(event):
            return
        if event.state == WorkerState.SUCCESS:
            data: TimelineData = event.worker.result
            self.data = data
            cursor = 0
            if self.cursor_ts is not None and data.buckets:
                cursor = max(0, bisect.bisect_right(data.starts, self.cursor_ts) - 1)
            self.chart.set_data(data, cursor=cursor)
            self._status(self.chart.cursor)
        elif event.state == WorkerState.ERROR:
            self.query_one("#timeline-status", Static).update(
                Text(visible(str(event.worker.error), limit=200))
            )

    @on(TimelineChart.CursorMoved)
    def _cursor_moved(self, event: TimelineChart.CursorMoved) -> None:
        self._status(event.bucket)

    def _status(self, bucket: int) -> None:
        data = self.data
        status = self.query_one("#timeline-status", Static)
        if data is None or not data.buckets:
            status.update(Text("no events"))
            return
        palette = level_palette(self.app.current_theme.dark)
        total = data.total(bucket)
        line = Text(no_wrap=False)
        line.append(f"{format_clock(data.starts[bucket])} +{_duration(data.step_ns)}", "bold")
        line.append(f"  {total:,} events · {rate_label(total / (data.step_ns / 1e9))}  ")
        for level, counts in zip(data.levels, data.counts, strict=True):
            if counts[bucket]:
                line.append(f" {level_name(level)} {counts[bucket]:,}", palette[level])
        line.append("   enter / click: jump the log here", "dim")
        status.update(line)

    @on(TimelineChart.Chosen)
    def _chosen(self, event: TimelineChart.Chosen) -> None:
        self.dismiss(event.ts_ns)

    def action_back(self) -> None:
        self.dismiss(None)
