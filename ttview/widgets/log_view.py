"""The log view: one line per event of an :class:`~ttview.eventview.EventView`, drawn with the
Line API.

Only the rows on screen are ever turned into text: ``render_line(y)`` takes the row at
``scroll_y + y``, fetches it from a small cache of 64-row blocks read through
:meth:`EventView.rows`, and keeps the finished strip in an LRU cache. A view of a million rows
costs the same per page as one of a thousand (``lines_rendered`` and ``rows_fetched`` count the
work, for the tests).

With word wrap on (``ctrl+w``) a row takes as many screen lines as its text needs; the scroll
position is then the row at the top of the page, and a page is laid out from it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from ttview.eventview import EventView, FrameEventView
from ttview.render import LineLayout, LineStyles, event_line, format_delta, level_palette
from ttview.schema import LEVELS, field_names
from ttview.search import search_expr

__all__ = ["DELTA_MODES", "LogView"]

BLOCK_ROWS = 64
"""Rows fetched from the view at a time."""

MEASURE_ROWS = 1_000
"""A growing view (a running filter's results) is measured again only until its widths were
measured on this many rows, and then only each time it has doubled."""

DELTA_MODES = ("off", "previous", "mark")
"""What the delta column shows: nothing, the time since the row above, the time since the
nearest mark above."""

FIND_BUDGET = 0.03
"""Seconds a search for the next match (n, e, w, ...) may take on the UI thread; the rest of the
view is searched by a worker."""

FIND_PART = 65_536
"""Rows searched at a time."""

_WRAP_INDENT = 4
"""Cells a wrapped line's continuation is indented by."""


@dataclass(frozen=True)
class _RowLayout:
    """Where things are in a fetched row tuple: ts, level, logger, message, [cut,] fields."""

    fields: tuple[str, ...]
    has_cut: bool

    @property
    def first_field(self) -> int:
        return 5 if self.has_cut else 4


class LogView(ScrollView, can_focus=True, inherit_bindings=False):
    """The events of the current view, one line each, with a cursor row.

    | Key | Action |
    |---|---|
    | up / k, down / j | move the cursor |
    | pageup, pagedown / space | a page up or down |
    | home / g | first event |
    | end / G | last event, and follow new ones |
    | left, right | scroll sideways |
    | n, N | next / previous search match |
    | e, E | next / previous event at ERROR or worse |
    | w, W | next / previous event at WARN or worse |
    | u, U | next / previous marked event (the app marks them: m) |
    | enter | show or hide the detail of the event |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Top", show=False),
        Binding("end,G", "last", "Bottom/follow", show=False),
        Binding("left", "scroll_sideways(-8)", "Left", show=False),
        Binding("right", "scroll_sideways(8)", "Right", show=False),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("e", "next_level('ERROR')", "Next error", show=False),
        Binding("E", "previous_level('ERROR')", "Previous error", show=False),
        Binding("w", "next_level('WARN')", "Next warning", show=False),
        Binding("W", "previous_level('WARN')", "Previous warning", show=False),
        Binding("u", "next_mark", "Next mark", show=False),
        Binding("U", "previous_mark", "Previous mark", show=False),
        Binding("enter", "select", "Detail", show=True),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "logview--cursor",
        "logview--time",
        "logview--logger",
        "logview--key",
        "logview--value",
        "logview--escape",
        "logview--match",
        "logview--mark",
        "logview--delta",
    }

    DEFAULT_CSS = """
    LogView {
        overflow-x: hidden;
        overflow-y: scroll;
        background: $surface;
        color: $foreground;
        & > .logview--cursor { background: $primary 25%; }
        &:focus > .logview--cursor { background: $primary 50%; }
        & > .logview--time { color: $foreground 60%; }
        & > .logview--logger { color: $text-primary; }
        & > .logview--key { color: $foreground 55%; }
        & > .logview--value { color: $foreground; }
        & > .logview--escape { color: $warning; text-style: reverse; }
        & > .logview--match { background: $warning 80%; color: $background; text-style: bold; }
        & > .logview--mark { color: $background; background: $accent; text-style: bold; }
        & > .logview--delta { color: $text-accent; }
    }
    """

    cursor: reactive[int] = reactive(0, repaint=False, always_update=True)
    """Row number (in the view) of the selected event."""

    follow: reactive[bool] = reactive(True)
    """Keep the cursor on the newest event as events arrive."""

    pending: reactive[int] = reactive(0)
    """Events that arrived while not following (the "N new" mark)."""

    h_offset: reactive[int] = reactive(0)
    """Cells scrolled sideways."""

    wrap: reactive[bool] = reactive(False)
    """Wrap long lines onto the lines below instead of cutting them at the edge."""

    delta: reactive[str] = reactive("off")
    """The delta column: one of :data:`DELTA_MODES`."""

    @dataclass
    class CursorMoved(Message):
        """The cursor moved to ``row`` (``-1``: the view is empty)."""

        log_view: LogView
        row: int

    @dataclass
    class Selected(Message):
        """Enter (or a double click) on the cursor row."""

        log_view: LogView
        row: int

    @dataclass
    class Shrank(Message):
        """The view gave fewer rows than its height promised: a file turned out bad while its
        rows were read (the view's height is now smaller)."""

        log_view: LogView

    @dataclass
    class Jumped(Message):
        """A key that goes to the next or previous event of a kind (``what``: "search match",
        "ERROR or worse", ...) found one (``found``), maybe after wrapping around the view."""

        what: str
        found: bool
        backward: bool
        wrapped: bool = False

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._view: EventView = FrameEventView()
        self._layout_cols = _RowLayout((), False)
        self._select: list[pl.Expr] = []
        self._layout = LineLayout()
        self._measured_rows = 0
        self._blocks: LRUCache[int, list[tuple[Any, ...]]] = LRUCache(64)
        self._strips: LRUCache[tuple[int, bool], list[Strip]] = LRUCache(1024)
        self._styles: LineStyles | None = None
        self._search: re.Pattern[str] | None = None
        self._hidden: frozenset[str] = frozenset()
        self._mark_rows: np.ndarray = np.empty(0, dtype=np.int64)
        self._page: tuple[tuple[int, int, int], list[tuple[int, int]]] | None = None
        self.search_term = ""
        self.lines_rendered = 0
        """render_line calls so far (a test counts them)."""
        self.rows_fetched = 0
        """Rows turned from polars into Python so far (a test counts them)."""

    # ---- data -------------------------------------------------------------------------------

    @property
    def view(self) -> EventView:
        """The events shown."""
        return self._view

    @property
    def row_count(self) -> int:
        return self._view.height

    @property
    def hidden(self) -> frozenset[str]:
        """Field columns left out of the lines."""
        return self._hidden

    @property
    def mark_rows(self) -> np.ndarray:
        """Rows of the view holding a marked event (ascending)."""
        return self._mark_rows

    def set_view(self, view: EventView, *, cursor: int | None = None, appended: int = 0,
                 growing: bool = False) -> None:
        """Show ``view``; ``cursor`` puts the cursor on that row (default: keep the row number,
        or the last row when following). ``appended``: rows that are new at the end (live), counted
        in the "N new" mark while not following. ``growing``: ``view`` is the previous one with
        older rows added (a running filter's next result), so the column widths, measured on the
        newest rows, are kept once they were measured on enough of them."""
        self._view = view
        self._rebuild_columns()
        if not growing or (self._measured_rows < MEASURE_ROWS and view.height >= 2 * self._measured_rows):
            self._layout, self._measured_rows = self._measure(view)
        self._forget_lines()
        self._set_virtual_size()
        if self.follow:
            target = view.height - 1
        elif cursor is not None:
            target = cursor
        else:
            target = self.cursor
        if appended and not self.follow:
            self.pending += appended
        self.cursor = max(0, min(target, view.height - 1))
        self.refresh()

    def set_hidden(self, hidden: frozenset[str]) -> None:
        """Leave the field columns ``hidden`` out of the lines."""
        if hidden == self._hidden:
            return
        self._hidden = hidden
        self._rebuild_columns()
        self._forget_lines()
        self.refresh()

    def set_marks(self, rows: np.ndarray) -> None:
        """The rows of the view holding a marked event (drawn marked; the delta column's anchors)."""
        self._mark_rows = np.sort(np.asarray(rows, dtype=np.int64))
        self._strips.clear()
        self._page = None
        self.refresh()

    def _rebuild_columns(self) -> None:
        schema = self._view.schema
        names = tuple(n for n in field_names(schema) if n not in self._hidden) if self._view.width else ()
        has_cut = "cut" in schema
        self._layout_cols = _RowLayout(names, has_cut)
        self._select = (
            [
                pl.col("ts").dt.epoch("ns"),
                pl.col("level"),
                pl.col("logger"),
                pl.col("message"),
                *([pl.col("cut")] if has_cut else []),
                *(pl.col(n) for n in names),
            ]
            if self._view.width
            else []
        )

    def _forget_lines(self) -> None:
        self._blocks.clear()
        self._strips.clear()
        self._page = None

    def _set_virtual_size(self) -> None:
        rows = self._view.height
        # wrapped, the scroll position is the top row, which may go up to the last one
        self.virtual_size = Size(1, rows + (self.page_height - 1 if self.wrap and rows else 0))

    def _measure(self, view: EventView) -> tuple[LineLayout, int]:
        """The column widths for ``view``, and how many of its rows they were measured on."""
        if not view.height:
            return LineLayout(), 0
        sample = view.tail_sample(50_000, ("logger", "message"))  # cheap: runs at every update
        widths = sample.select(
            pl.col("logger").str.len_chars().max().alias("logger"),
            pl.col("message").str.len_chars().quantile(0.9).alias("message"),
        ).row(0)
        logger = min(int(widths[0] or 0), 20)
        message = min(int(widths[1] or 0), 32)
        return LineLayout(logger=max(logger, 6), message=max(message, 8)), sample.height

    def _rows(self, block: int) -> list[tuple[Any, ...]]:
        rows = self._blocks.get(block)
        if rows is None:
            start = block * BLOCK_ROWS
            promised = min(BLOCK_ROWS, self._view.height - start)
            part = self._view.rows(start, start + BLOCK_ROWS).select(self._select)
            rows = part.rows()
            self.rows_fetched += len(rows)
            if len(rows) < promised:  # a bad chunk found while reading: the view is smaller now
                self.post_message(self.Shrank(self))
                return rows
            self._blocks[block] = rows
        return rows

    def row_tuple(self, row: int) -> tuple[Any, ...]:
        """(ts ns, level, logger, message, [cut,] shown fields...) of event ``row`` of the view."""
        if not 0 <= row < self._view.height:
            raise IndexError(f"row {row} is outside the view of {self._view.height} rows")
        rows = self._rows(row // BLOCK_ROWS)
        if row % BLOCK_ROWS >= len(rows):
            raise IndexError(f"row {row} is no longer in the view (a file turned out bad)")
        return rows[row % BLOCK_ROWS]

    def row_ts(self, row: int) -> int | None:
        """The time (integer ns) of event ``row``, or None outside the view."""
        if not 0 <= row < self._view.height:
            return None
        return int(self.row_tuple(row)[0])

    def event_row(self, row: int) -> dict[str, Any] | None:
        """Every column of event ``row`` (``ts`` as integer ns), or None outside the view."""
        if not 0 <= row < self._view.height:
            return None
        return self._view.rows(row, row + 1).with_columns(pl.col("ts").dt.epoch("ns")).row(0, named=True)

    # ---- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()
        self._page = None

    def on_focus(self) -> None:
        self._focus_changed()

    def on_blur(self) -> None:
        self._focus_changed()

    def _focus_changed(self) -> None:
        # The cursor's colour depends on :focus; drop the cached styles and strips built before.
        self.notify_style_update()
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self._strips.clear()
            self._page = None
            self._set_virtual_size()
            self.call_after_refresh(self.scroll_to_cursor)

    def _line_styles(self) -> LineStyles:
        if self._styles is None:
            get = self.get_component_rich_style
            self._styles = LineStyles(
                levels=level_palette(self.app.current_theme.dark),
                time=get("logview--time", partial=True),
                logger=get("logview--logger", partial=True),
                message=Style(),
                key=get("logview--key", partial=True),
                value=get("logview--value", partial=True),
                escape=get("logview--escape", partial=True),
                match=get("logview--match", partial=True),
                mark=get("logview--mark", partial=True),
                delta=get("logview--delta", partial=True),
            )
        return self._styles

    def set_search(self, term: str) -> None:
        """Highlight ``term`` (ignoring case) in the lines; an empty term clears it."""
        self.search_term = term
        self._search = re.compile(re.escape(term), re.IGNORECASE) if term else None
        self._strips.clear()
        self._page = None
        self.refresh()

    def is_marked(self, row: int) -> bool:
        rows = self._mark_rows
        i = int(np.searchsorted(rows, row))
        return i < len(rows) and int(rows[i]) == row

    def delta_text(self, row: int) -> str | None:
        """The delta column of ``row``: None when the column is off, ``""`` when there is no
        earlier event to measure from."""
        if self.delta == "off":
            return None
        ts = self.row_ts(row)
        if ts is None:
            return ""
        if self.delta == "previous":
            before = self.row_ts(row - 1)
        else:
            i = int(np.searchsorted(self._mark_rows, row, side="right")) - 1
            before = self.row_ts(int(self._mark_rows[i])) if i >= 0 else None
        return "" if before is None else format_delta(ts - before)

    def line_text(self, row: int) -> Text:
        """The Rich Text of event ``row`` as drawn (before the cursor and sideways scroll)."""
        values = self.row_tuple(row)
        cols = self._layout_cols
        first = cols.first_field
        fields = [(name, v) for name, v in zip(cols.fields, values[first:], strict=True) if v is not None]
        cut = values[4] if cols.has_cut and values[4] else ()
        return event_line(
            values[0],
            values[1],
            values[2] or "",
            values[3] or "",
            fields,
            layout=self._layout,
            styles=self._line_styles(),
            cut=cut,
            search=self._search,
            delta=self.delta_text(row),
            marked=self.is_marked(row),
        )

    def _row_strips(self, row: int, is_cursor: bool) -> list[Strip]:
        """The strips of ``row``: one, or with wrap on as many as its text takes at this width."""
        key = (row, is_cursor)
        strips = self._strips.get(key)
        if strips is None:
            text = self.line_text(row)
            base = self.rich_style
            if is_cursor:
                base = base + self.get_component_rich_style("logview--cursor")
            console = self.app.console
            if not self.wrap:
                strips = [Strip(list(text.render(console)), cell_len(text.plain)).apply_style(base)]
            else:
                strips = [
                    Strip(list(line.render(console)), cell_len(line.plain)).apply_style(base)
                    for line in self._wrapped(text)
                ]
            self._strips[key] = strips
        return strips

    def _wrapped(self, text: Text) -> list[Text]:
        """``text`` wrapped at spaces to the view's width; the lines after the first indented."""
        console = self.app.console
        width = max(8, self.scrollable_content_region.width)
        if cell_len(text.plain) <= width:
            return [text]
        first = text.wrap(console, width, overflow="fold", no_wrap=False)[0]
        rest = text[len(first.plain) :]
        rest = rest[len(rest.plain) - len(rest.plain.lstrip(" ")) :]
        first.rstrip()
        indent = _WRAP_INDENT if width > 2 * _WRAP_INDENT + 8 else 0
        lines = [first]
        for line in rest.wrap(console, width - indent, overflow="fold", no_wrap=False):
            line.rstrip()
            lines.append(Text(" " * indent, end="") + line)
        return lines

    def _page_lines(self) -> list[tuple[int, int]]:
        """With wrap on: (row, line of the row) of each screen line of the page, from the top row."""
        top = round(self.scroll_offset.y)
        key = (top, self.scrollable_content_region.width, self.cursor)
        if self._page is not None and self._page[0] == key:
            return self._page[1]
        lines: list[tuple[int, int]] = []
        row = top
        height = self.page_height
        while len(lines) < height and row < self._view.height:
            count = len(self._row_strips(row, row == self.cursor))
            lines.extend((row, i) for i in range(count))
            row += 1
        self._page = (key, lines)
        return lines

    def _row_height(self, row: int) -> int:
        return len(self._row_strips(row, row == self.cursor)) if self.wrap else 1

    def render_line(self, y: int) -> Strip:
        self.lines_rendered += 1
        width = self.scrollable_content_region.width
        if self.wrap:
            lines = self._page_lines()
            if y >= len(lines):
                return Strip.blank(width, self.rich_style)
            row, index = lines[y]
        else:
            row, index = self.scroll_offset.y + y, 0
            if row >= self._view.height or row < 0:
                return Strip.blank(width, self.rich_style)
        is_cursor = row == self.cursor
        try:
            strip = self._row_strips(row, is_cursor)[index]
        except IndexError:  # the view shrank under this row (see Shrank): redrawn once updated
            return Strip.blank(width, self.rich_style)
        fill = self.rich_style
        if is_cursor:
            fill = fill + self.get_component_rich_style("logview--cursor")
        offset = 0 if self.wrap else self.h_offset
        return strip.crop_extend(offset, offset + width, fill)

    def watch_wrap(self) -> None:
        self.h_offset = 0
        self._forget_lines()
        self._set_virtual_size()
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor)

    def watch_delta(self) -> None:
        self._strips.clear()
        self._page = None
        self.refresh()

    # ---- cursor -----------------------------------------------------------------------------

    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self._view.height - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._strips.discard((old, True))
        self._strips.discard((new, False))
        self._page = None
        if self.wrap:
            self.refresh()
        else:
            self.refresh_line(old)
            self.refresh_line(new)
        self.scroll_to_cursor()
        self.post_message(self.CursorMoved(self, new if self._view.height else -1))

    def _top_ending_at(self, row: int) -> int:
        """With wrap on: the highest top row from which ``row`` is still wholly on the page."""
        used = 0
        top = row
        while top >= 0:
            used += self._row_height(top)
            if used > self.page_height:
                return min(row, top + 1)
            top -= 1
        return 0

    def scroll_to_cursor(self) -> None:
        """Scroll just enough for the cursor row to be on screen."""
        top = round(self.scroll_offset.y)
        height = self.page_height
        rows = self._view.height
        if self.wrap:
            if self.follow and rows:
                target = self._top_ending_at(rows - 1)
            elif self.cursor < top:
                target = self.cursor
            else:
                target = max(top, self._top_ending_at(self.cursor))
            if target != top:
                self._page = None
                self.scroll_to(y=target, animate=False, force=True)
            return
        if self.follow and rows:
            self.scroll_to(y=max(0, rows - height), animate=False, force=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, force=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._page = None

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.pending = 0
            if self._view.height:
                self.cursor = self._view.height - 1

    def watch_h_offset(self) -> None:
        self.refresh()

    def move_to(self, row: int) -> None:
        """Put the cursor on ``row`` (stops following unless it is the last row)."""
        self.follow = False
        self.cursor = row

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        if self.cursor >= self._view.height - 1:
            return
        self.move_to(self.cursor + 1)

    def _rows_on_page(self) -> int:
        if not self.wrap:
            return self.page_height
        return max(1, len({row for row, _ in self._page_lines()}))

    def action_page_up(self) -> None:
        self.follow = False
        height = self._rows_on_page()
        if not self.wrap:
            self.scroll_to(y=max(0, self.scroll_offset.y - height), animate=False, force=True)
        self.cursor = self.cursor - height

    def action_page_down(self) -> None:
        self.follow = False
        height = self._rows_on_page()
        if not self.wrap:
            self.scroll_to(y=self.scroll_offset.y + height, animate=False, force=True)
        self.cursor = self.cursor + height

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.follow = True
        self.cursor = self._view.height - 1

    def action_scroll_sideways(self, cells: int) -> None:
        if not self.wrap:
            self.h_offset = max(0, self.h_offset + cells)

    def action_select(self) -> None:
        if self._view.height:
            self.post_message(self.Selected(self, self.cursor))

    # ---- jumps ------------------------------------------------------------------------------

    def jump(self, expr: pl.Expr, what: str, *, backward: bool, wrap: bool = False) -> None:
        """Move the cursor to the next (``backward``: previous) row where ``expr`` holds, from the
        row after (before) the cursor; with ``wrap``, go round the ends of the view. Posts
        :class:`Jumped` when done.

        The view is searched a part at a time on the UI thread for at most :data:`FIND_BUDGET`
        seconds (a match nearby, or a cheap condition over a million rows, is found at once); what
        is left is searched by a worker, and the cursor moves when it finds the row, unless it
        was moved meanwhile."""
        view = self._view
        parts = self._find_parts(view.height, self.cursor, backward=backward, wrap=wrap)
        deadline = time.monotonic() + FIND_BUDGET
        for i, (start, stop, wrapped) in enumerate(parts):
            row = view.find(expr, start, backward=backward, stop=stop)
            if row is not None:
                self.move_to(row)
                self.post_message(self.Jumped(what, True, backward, wrapped))
                return
            if time.monotonic() > deadline and i + 1 < len(parts):
                self._find_rest(view, expr, parts[i + 1 :], what, backward, self.cursor)
                return
        self.post_message(self.Jumped(what, False, backward))

    @staticmethod
    def _find_parts(height: int, cursor: int, *, backward: bool, wrap: bool) -> list[tuple[int, int, bool]]:
        """(start, stop, wrapped) of each part of a search from ``cursor``, in the order looked at
        (``stop`` exclusive in the search's direction, as :meth:`EventView.find` takes it). Going
        round ends at the cursor's own row, so a lone match is found again."""
        if not height:
            return []
        parts: list[tuple[int, int, bool]] = []
        if backward:
            ranges = [(cursor - 1, -1, False)] + ([(height - 1, cursor - 1, True)] if wrap else [])
            for start, end, wrapped in ranges:
                while start > end:
                    stop = max(end, start - FIND_PART)
                    parts.append((start, stop, wrapped))
                    start = stop
        else:
            ranges = [(cursor + 1, height, False)] + ([(0, cursor + 1, True)] if wrap else [])
            for start, end, wrapped in ranges:
                while start < end:
                    stop = min(end, start + FIND_PART)
                    parts.append((start, stop, wrapped))
                    start = stop
        return parts

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def _find_rest(
        self,
        view: EventView,
        expr: pl.Expr,
        parts: list[tuple[int, int, bool]],
        what: str,
        backward: bool,
        cursor: int,
    ) -> None:
        worker = get_current_worker()
        for start, stop, wrapped in parts:
            if worker.is_cancelled:
                return
            row = view.find(expr, start, backward=backward, stop=stop)
            if row is not None:
                self.app.call_from_thread(self._found_later, view, cursor, row, what, backward, wrapped)
                return
        self.post_message(self.Jumped(what, False, backward))

    def _found_later(
        self, view: EventView, cursor: int, row: int, what: str, backward: bool, wrapped: bool
    ) -> None:
        if self._view is view and self.cursor == cursor:  # nothing moved meanwhile
            self.move_to(row)
            self.post_message(self.Jumped(what, True, backward, wrapped))

    def action_next_match(self) -> None:
        self._go_match(backward=False)

    def action_previous_match(self) -> None:
        self._go_match(backward=True)

    def _go_match(self, *, backward: bool) -> None:
        if not self.search_term or not self._view.width:
            self.post_message(self.Jumped("search match", False, backward))
            return
        expr = search_expr(self._view.schema, self.search_term)
        self.jump(expr, "search match", backward=backward, wrap=True)

    def action_next_level(self, name: str) -> None:
        self._go_level(name, backward=False)

    def action_previous_level(self, name: str) -> None:
        self._go_level(name, backward=True)

    def _go_level(self, name: str, *, backward: bool) -> None:
        what = f"{name} or worse"
        if "level" not in self._view.schema:
            self.post_message(self.Jumped(what, False, backward))
            return
        self.jump(pl.col("level") >= LEVELS[name], what, backward=backward)

    def action_next_mark(self) -> None:
        self._go_mark(backward=False)

    def action_previous_mark(self) -> None:
        self._go_mark(backward=True)

    def _go_mark(self, *, backward: bool) -> None:
        rows = self._mark_rows
        if backward:
            i = int(np.searchsorted(rows, self.cursor, side="left")) - 1
            found = i >= 0
        else:
            i = int(np.searchsorted(rows, self.cursor, side="right"))
            found = i < len(rows)
        if found:
            self.move_to(int(rows[i]))
        self.post_message(self.Jumped("mark", found, backward))

    # ---- mouse ------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if self.wrap:
            lines = self._page_lines()
            row = lines[offset.y][0] if 0 <= offset.y < len(lines) else -1
        else:
            row = round(self.scroll_offset.y) + offset.y
        if 0 <= row < self._view.height:
            self.move_to(row)
            if event.chain >= 2:
                self.action_select()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False
