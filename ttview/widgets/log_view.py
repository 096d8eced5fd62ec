"""The log view: one line per event of a polars DataFrame, drawn with the Line API.

Only the rows on screen are ever turned into text: ``render_line(y)`` takes row
``scroll_y + y``, fetches it from a small cache of 64-row blocks sliced from the frame, and keeps
the finished strip in an LRU cache. A frame of a million rows costs the same per page as one of
a thousand (``lines_rendered`` and ``rows_fetched`` count the work, for the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
from rich.cells import cell_len
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ttview.render import LineLayout, LineStyles, event_line, level_palette
from ttview.schema import CORE_COLUMNS

__all__ = ["LogView", "field_names", "search_expr"]

BLOCK_ROWS = 64
"""Rows fetched from the frame at a time."""

_NOT_FIELDS = frozenset(CORE_COLUMNS) | {"cut"}


def field_names(frame: pl.DataFrame) -> list[str]:
    """The field columns of an event frame, in order."""
    return [name for name in frame.columns if name not in _NOT_FIELDS]


_NUMBER_CHARS = frozenset("0123456789.+-eE")


def search_expr(frame: pl.DataFrame, term: str) -> pl.Expr:
    """True for rows whose log line text holds ``term`` (ignoring case): the time, level, logger,
    message and the ``key=value`` pairs, as the view draws them.

    Columns that cannot hold the term are skipped (numbers when it has letters, the time when it
    is not made of digits and ``:``/``.``), so a word is found in a million rows quickly; a term
    with ``=`` is matched against the whole ``key=value`` text.
    """
    from ttview.schema import level_name_expr

    pattern = "(?i)" + re.escape(term)
    lower = term.lower()
    names = field_names(frame)

    def text_of(name: str) -> pl.Expr:
        dtype = frame.schema[name]
        if dtype == pl.Binary:
            return pl.col(name).cast(pl.String, strict=False)
        if dtype == pl.Boolean:
            return pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false"))
        return pl.col(name).cast(pl.String)

    if "=" in term:  # may span a key and its value: match the drawn text itself
        parts = [pl.col("logger"), pl.col("message")]
        parts += [pl.when(pl.col(n).is_not_null()).then(pl.lit(n + "=") + text_of(n)) for n in names]
        return pl.concat_str(parts, separator=" ", ignore_nulls=True).str.contains(pattern).fill_null(False)

    checks: list[pl.Expr] = [
        level_name_expr(pl.col("level")).str.contains(pattern),
        pl.col("logger").str.contains(pattern),
        pl.col("message").str.contains(pattern),
    ]
    if set(term) <= set("0123456789:."):
        checks.append(pl.col("ts").dt.strftime("%H:%M:%S%.6f").str.contains(pattern, literal=False))
    could_be_value = set(lower) <= _NUMBER_CHARS or lower in "true" or lower in "false" or lower in "nan inf"
    for name in names:
        dtype = frame.schema[name]
        if lower in name.lower():
            checks.append(pl.col(name).is_not_null())  # the key itself: every event carrying it
        elif dtype == pl.String or dtype == pl.Binary or could_be_value:
            checks.append(text_of(name).str.contains(pattern))
    return pl.any_horizontal(checks).fill_null(False)


@dataclass(frozen=True)
class _Columns:
    """Where things are in a fetched row tuple."""

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
    | pageup, pagedown | a page up or down |
    | home / g | first event |
    | end / G | last event, and follow new ones |
    | left, right | scroll sideways |
    | n, N | next / previous search match |
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
    class SearchMoved(Message):
        """``n``/``N`` went to match ``index`` of ``total`` (or found none: index -1)."""

        index: int
        total: int
        wrapped: bool

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._frame: pl.DataFrame = pl.DataFrame()
        self._cols = _Columns((), False)
        self._select: list[pl.Expr] = []
        self._layout = LineLayout()
        self._blocks: LRUCache[int, list[tuple[Any, ...]]] = LRUCache(64)
        self._strips: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)
        self._styles: LineStyles | None = None
        self._search: re.Pattern[str] | None = None
        self.search_term = ""
        self.search_rows: np.ndarray = np.empty(0, dtype=np.int64)
        self.lines_rendered = 0
        """render_line calls so far (a test counts them)."""
        self.rows_fetched = 0
        """Rows turned from polars into Python so far (a test counts them)."""

    # ---- data -------------------------------------------------------------------------------

    @property
    def frame(self) -> pl.DataFrame:
        return self._frame

    @property
    def row_count(self) -> int:
        return self._frame.height

    def set_frame(self, frame: pl.DataFrame, *, cursor: int | None = None, appended: int = 0) -> None:
        """Show ``frame``; ``cursor`` puts the cursor on that row (default: keep the row number,
        or the last row when following). ``appended``: rows that are new at the end (live), counted
        in the "N new" mark while not following."""
        self._frame = frame
        names = tuple(field_names(frame)) if frame.width else ()
        has_cut = "cut" in frame.columns
        self._cols = _Columns(names, has_cut)
        self._select = (
            [
                pl.col("ts").dt.epoch("ns"),
                pl.col("level"),
                pl.col("logger"),
                pl.col("message"),
                *([pl.col("cut")] if has_cut else []),
                *(pl.col(n) for n in names),
            ]
            if frame.width
            else []
        )
        self._layout = self._measure(frame)
        self._blocks.clear()
        self._strips.clear()
        self.virtual_size = Size(1, frame.height)
        if self.follow:
            target = frame.height - 1
        elif cursor is not None:
            target = cursor
        else:
            target = self.cursor
        if appended and not self.follow:
            self.pending += appended
        self.cursor = max(0, min(target, frame.height - 1))
        self.refresh()

    def _measure(self, frame: pl.DataFrame) -> LineLayout:
        if not frame.height:
            return LineLayout()
        sample = frame if frame.height <= 50_000 else frame.tail(50_000)  # cheap: runs at every update
        widths = sample.select(
            pl.col("logger").str.len_chars().max().alias("logger"),
            pl.col("message").str.len_chars().quantile(0.9).alias("message"),
        ).row(0)
        logger = min(int(widths[0] or 0), 20)
        message = min(int(widths[1] or 0), 32)
        return LineLayout(logger=max(logger, 6), message=max(message, 8))

    def _rows(self, block: int) -> list[tuple[Any, ...]]:
        rows = self._blocks.get(block)
        if rows is None:
            part = self._frame.slice(block * BLOCK_ROWS, BLOCK_ROWS).select(self._select)
            rows = part.rows()
            self.rows_fetched += len(rows)
            self._blocks[block] = rows
        return rows

    def row_tuple(self, row: int) -> tuple[Any, ...]:
        """(ts ns, level, logger, message, [cut,] fields...) of event ``row`` of the view."""
        if not 0 <= row < self._frame.height:
            raise IndexError(f"row {row} is outside the view of {self._frame.height} rows")
        return self._rows(row // BLOCK_ROWS)[row % BLOCK_ROWS]

    def event_row(self, row: int) -> dict[str, Any] | None:
        """Every column of event ``row`` (``ts`` as integer ns), or None outside the view."""
        if not 0 <= row < self._frame.height:
            return None
        data = self._frame.slice(row, 1).with_columns(pl.col("ts").dt.epoch("ns")).row(0, named=True)
        return data

    # ---- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def on_focus(self) -> None:
        self._focus_changed()

    def on_blur(self) -> None:
        self._focus_changed()

    def _focus_changed(self) -> None:
        # The cursor's colour depends on :focus; drop the cached styles and strips built before.
        self.notify_style_update()
        self.refresh()

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
            )
        return self._styles

    def set_search(self, term: str) -> None:
        """Highlight ``term`` (ignoring case) in the lines; an empty term clears it."""
        self.search_term = term
        self._search = re.compile(re.escape(term), re.IGNORECASE) if term else None
        if not term:
            self.search_rows = np.empty(0, dtype=np.int64)
        self._strips.clear()
        self.refresh()

    def line_text(self, row: int) -> Any:
        """The Rich Text of event ``row`` as drawn (before the cursor and sideways scroll)."""
        values = self.row_tuple(row)
        cols = self._cols
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
        )

    def _strip(self, row: int, is_cursor: bool) -> Strip:
        key = (row, is_cursor)
        strip = self._strips.get(key)
        if strip is None:
            text = self.line_text(row)
            base = self.rich_style
            if is_cursor:
                base = base + self.get_component_rich_style("logview--cursor")
            segments = list(text.render(self.app.console))
            strip = Strip(segments, cell_len(text.plain)).apply_style(base)
            self._strips[key] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        self.lines_rendered += 1
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if row >= self._frame.height or row < 0:
            return Strip.blank(width, self.rich_style)
        is_cursor = row == self.cursor
        strip = self._strip(row, is_cursor)
        fill = self.rich_style
        if is_cursor:
            fill = fill + self.get_component_rich_style("logview--cursor")
        return strip.crop_extend(self.h_offset, self.h_offset + width, fill)

    # ---- cursor -----------------------------------------------------------------------------

    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self._frame.height - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._strips.discard((old, True))
        self._strips.discard((new, False))
        self.refresh_line(old)
        self.refresh_line(new)
        self.scroll_to_cursor()
        self.post_message(self.CursorMoved(self, new if self._frame.height else -1))

    def scroll_to_cursor(self) -> None:
        """Scroll just enough for the cursor row to be on screen."""
        top = round(self.scroll_offset.y)
        height = self.page_height
        if self.follow and self._frame.height:
            self.scroll_to(y=max(0, self._frame.height - height), animate=False, force=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, force=True)

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.pending = 0
            if self._frame.height:
                self.cursor = self._frame.height - 1

    def watch_h_offset(self) -> None:
        self.refresh()

    def move_to(self, row: int) -> None:
        """Put the cursor on ``row`` (stops following unless it is the last row)."""
        self.follow = False
        self.cursor = row

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        if self.cursor >= self._frame.height - 1:
            return
        self.move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self.follow = False
        height = self.page_height
        self.scroll_to(y=max(0, self.scroll_offset.y - height), animate=False, force=True)
        self.cursor = self.cursor - height

    def action_page_down(self) -> None:
        self.follow = False
        height = self.page_height
        self.scroll_to(y=self.scroll_offset.y + height, animate=False, force=True)
        self.cursor = self.cursor + height

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.follow = True
        self.cursor = self._frame.height - 1

    def action_scroll_sideways(self, cells: int) -> None:
        self.h_offset = max(0, self.h_offset + cells)

    def action_select(self) -> None:
        if self._frame.height:
            self.post_message(self.Selected(self, self.cursor))

    def action_next_match(self) -> None:
        self._go_match(+1)

    def action_previous_match(self) -> None:
        self._go_match(-1)

    def _go_match(self, step: int) -> None:
        rows = self.search_rows
        if not len(rows):
            self.post_message(self.SearchMoved(-1, 0, False))
            return
        wrapped = False
        if step > 0:
            i = int(np.searchsorted(rows, self.cursor, side="right"))
            if i >= len(rows):
                i, wrapped = 0, True
        else:
            i = int(np.searchsorted(rows, self.cursor, side="left")) - 1
            if i < 0:
                i, wrapped = len(rows) - 1, True
        self.move_to(int(rows[i]))
        self.post_message(self.SearchMoved(i, len(rows), wrapped))

    # ---- mouse ------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = round(self.scroll_offset.y) + offset.y
        if 0 <= row < self._frame.height:
            self.move_to(row)
            if event.chain >= 2:
                self.action_select()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False
