"""A stacked bar chart of events per time bucket by level, with a cursor on one bucket.

The drawing is :func:`ttview.render.timeline_bars`; this widget adds the axes, the cursor, keys
and the mouse (a click chooses the bucket under it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ttview.render import format_clock, level_palette, rate_label, timeline_bars

__all__ = ["AXIS_WIDTH", "TimelineChart", "TimelineData"]

AXIS_WIDTH = 9
"""Cells left of the bars for the rate labels."""


@dataclass(frozen=True)
class TimelineData:
    """Buckets starting at ``starts`` (ns), ``step_ns`` wide; ``counts[k][b]`` events of
    ``levels[k]`` in bucket ``b``."""

    starts: tuple[int, ...]
    step_ns: int
    levels: tuple[int, ...]
    counts: tuple[tuple[int, ...], ...]

    @property
    def buckets(self) -> int:
        return len(self.starts)

    def total(self, bucket: int) -> int:
        return sum(c[bucket] for c in self.counts)


class TimelineChart(Widget, can_focus=True):
    """Events per second by level over time.

    | Key | Action |
    |---|---|
    | left, right | previous / next bucket |
    | home, end | first / last bucket |
    | enter, click | jump the log to this moment |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Earlier", show=False),
        Binding("right", "move(1)", "Later", show=False),
        Binding("pageup", "move(-10)", "Earlier ×10", show=False),
        Binding("pagedown", "move(10)", "Later ×10", show=False),
        Binding("home", "move(-1000000000)", "First", show=False),
        Binding("end", "move(1000000000)", "Last", show=False),
        Binding("enter", "choose", "Jump there"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timelinechart--cursor", "timelinechart--axis"}

    DEFAULT_CSS = """
    TimelineChart {
        height: 1fr;
        & > .timelinechart--cursor { background: $accent 35%; }
        & > .timelinechart--axis { color: $foreground 60%; }
    }
    """

    cursor: reactive[int] = reactive(0)
    """The bucket under the cursor."""

    @dataclass
    class Chosen(Message):
        """A moment was chosen: the start of bucket ``bucket``."""

        chart: TimelineChart
        bucket: int
        ts_ns: int

    @dataclass
    class CursorMoved(Message):
        chart: TimelineChart
        bucket: int

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data = TimelineData((), 1, (), ())

    @property
    def plot_width(self) -> int:
        """Cells available for bars."""
        return max(1, self.size.width - AXIS_WIDTH)

    @property
    def column_width(self) -> int:
        return max(1, self.plot_width // max(1, self.data.buckets))

    def set_data(self, data: TimelineData, cursor: int | None = None) -> None:
        self.data = data
        last = max(0, data.buckets - 1)
        self.cursor = min(last, cursor if cursor is not None else self.cursor)
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.data.buckets - 1))

    def watch_cursor(self, bucket: int) -> None:
        self.post_message(self.CursorMoved(self, bucket))

    def render(self) -> Text:
        data = self.data
        height = max(1, self.size.height - 1)
        axis = self.get_component_rich_style("timelinechart--axis")
        if not data.buckets:
            return Text("no events", style=axis)
        bars = timeline_bars(
            data.counts,
            data.levels,
            height=height,
            column_width=self.column_width,
            palette=level_palette(self.app.current_theme.dark),
            cursor=self.cursor,
            cursor_style=self.get_component_rich_style("timelinechart--cursor"),
        )
        step_s = data.step_ns / 1e9
        peak = max((data.total(b) for b in range(data.buckets)), default=0)
        labels = {0: rate_label(peak / step_s), height - 1: "0/s"}
        if height >= 5:
            labels[height // 2] = rate_label(peak / step_s * (height - height // 2) / height)
        out = Text(no_wrap=True, end="")
        for r, bar in enumerate(bars):
            out.append(labels.get(r, "").rjust(AXIS_WIDTH - 2)[: AXIS_WIDTH - 2] + " ┤", axis)
            out.append_text(bar)
            out.append("\n")
        out.append(self._time_axis(), axis)
        return out

    def _time_axis(self) -> str:
        data = self.data
        col = self.column_width
        width = AXIS_WIDTH + data.buckets * col
        line = [" "] * (width + 16)
        fine = data.step_ns < 10**9
        last_end = -1
        for b in range(data.buckets):
            x = AXIS_WIDTH + b * col
            label = format_clock(data.starts[b])[: 12 if fine else 8]
            if x > last_end + 2 and x + len(label) <= width:
                line[x : x + len(label)] = list(label)
                last_end = x + len(label)
        return "".join(line[:width]).rstrip()

    def bucket_at(self, x: int) -> int | None:
        """The bucket drawn at cell ``x`` of the widget, if any."""
        if x < AXIS_WIDTH:
            return None
        bucket = (x - AXIS_WIDTH) // self.column_width
        return bucket if 0 <= bucket < self.data.buckets else None

    def action_move(self, step: int) -> None:
        self.cursor = self.cursor + step

    def action_choose(self) -> None:
        if self.data.buckets:
            self.post_message(self.Chosen(self, self.cursor, self.data.starts[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        bucket = self.bucket_at(offset.x)
        if bucket is not None:
            self.cursor = bucket
            self.action_choose()
