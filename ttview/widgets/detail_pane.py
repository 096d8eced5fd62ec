"""The detail of one event: its metadata, every field, and the event as JSON.

All of it is built from Rich ``Text`` made visible by :mod:`ttview.render`; the JSON shown is the
same text ``c`` copies, with control characters made visible before drawing. Multi-line values
(a traceback, ``exc_info``) are drawn on as many lines as they hold; every other control
character is still an escape.

With the focus in the pane (tab), up/down choose a field and ``x`` hides it from the log lines
(or shows it again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl
from rich.console import Group
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from ttview.render import DETAIL_LIMIT, event_json, format_iso, format_value, safe_text, visible
from ttview.schema import CORE_COLUMNS, level_name

__all__ = ["DetailPane"]

_META_LINES = 4
"""Lines of the metadata grid above the message."""


class DetailPane(VerticalScroll, can_focus=True):
    """Metadata, fields and JSON of the selected event (scrolls; hidden until asked for).

    | Key | Action |
    |---|---|
    | up / k, down / j | choose a field |
    | x | hide the field from the log lines, or show it again |
    | pageup, pagedown | scroll |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "field(-1)", "Previous field", show=False),
        Binding("down,j", "field(1)", "Next field", show=False),
        Binding("x", "toggle_field", "Hide/show field", show=True),
    ]

    DEFAULT_CSS = """
    DetailPane {
        height: 45%;
        min-height: 6;
        display: none;
        border-top: heavy $primary;
        background: $surface;
        padding: 0 1;
        &.-open { display: block; }
        &:focus { border-top: heavy $accent; }
        #detail-body { width: 1fr; }
        & > .detailpane--key { color: $foreground 60%; }
        & > .detailpane--escape { color: $warning; text-style: reverse; }
        & > .detailpane--title { color: $accent; text-style: bold; }
        & > .detailpane--cursor { background: $primary 50%; }
        & > .detailpane--hidden { color: $foreground 40%; text-style: italic; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "detailpane--key",
        "detailpane--escape",
        "detailpane--title",
        "detailpane--cursor",
        "detailpane--hidden",
    }

    @dataclass
    class FieldToggled(Message):
        """``x`` on field ``name``: hide it from the log lines, or show it again."""

        name: str

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.event: dict[str, Any] | None = None
        """The event shown, as its JSON (the export's layout) parses (None: nothing)."""
        self.json_text = ""
        """The exact JSON of the event (what ``c`` copies; a line of ``ttview export``, indented)."""
        self.fields: list[str] = []
        """The field columns of the event shown, in order."""
        self.field_cursor = 0
        """Index in :attr:`fields` of the field ``x`` acts on."""
        self._frame: pl.DataFrame | None = None
        self._hidden: frozenset[str] = frozenset()

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-body")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    @property
    def plain(self) -> str:
        """Everything shown, as plain text (what a test reads)."""
        content = self.query_one("#detail-body", Static).content
        if isinstance(content, Group):
            parts = []
            for item in content.renderables:
                if isinstance(item, Text):
                    parts.append(item.plain)
                elif isinstance(item, Table):
                    for row in range(item.row_count):
                        cells = [column._cells[row] for column in item.columns]
                        parts.append("  ".join(c.plain if isinstance(c, Text) else str(c) for c in cells))
            return "\n".join(parts)
        return str(content)

    @property
    def selected_field(self) -> str | None:
        """The field under the field cursor."""
        return self.fields[self.field_cursor] if 0 <= self.field_cursor < len(self.fields) else None

    def show_event(self, frame: pl.DataFrame | None, *, hidden: frozenset[str] = frozenset()) -> None:
        """Show the event of the one-row event ``frame``; None (or no row) clears the pane.
        ``hidden``: the fields left out of the log lines (marked so here)."""
        body = self.query_one("#detail-body", Static)
        self._frame, self._hidden = frame, hidden
        if frame is None or not frame.height:
            self.event = None
            self.json_text = ""
            self.fields = []
            body.update(Text("no event selected"))
            return
        row = frame.head(1).with_columns(pl.col("ts").dt.epoch("ns")).row(0, named=True)
        fields = {k: v for k, v in row.items() if k not in CORE_COLUMNS and v is not None}
        chosen = self.selected_field
        self.fields = list(fields)
        if chosen in self.fields:
            self.field_cursor = self.fields.index(chosen)
        self.field_cursor = max(0, min(self.field_cursor, len(self.fields) - 1))
        self.json_text = event_json(frame)
        self.event = json.loads(self.json_text)
        body.update(self._body(row, fields))

    def _body(self, row: dict[str, Any], fields: dict[str, Any]) -> Group:
        style = self.get_component_rich_style
        esc = style("detailpane--escape", partial=True)
        key_style = style("detailpane--key", partial=True)
        title = style("detailpane--title", partial=True)

        meta = Table.grid(padding=(0, 2))
        meta.add_column(style=key_style, no_wrap=True)
        meta.add_column()
        meta.add_column(style=key_style, no_wrap=True)
        meta.add_column()
        pairs = [
            ("time", format_iso(row["ts"])),
            ("ts_ns", str(row["ts"])),
            ("level", f"{level_name(int(row['level']))} ({int(row['level'])})"),
            ("logger", row.get("logger") or ""),
            ("service", row.get("service") or ""),
            ("pid / tid", f"{row.get('pid')} / {row.get('tid')}"),
            ("seq", str(row.get("seq"))),
            ("cut", ", ".join(row.get("cut") or []) or "—"),
        ]
        for i in range(0, len(pairs), 2):
            (k1, v1), (k2, v2) = pairs[i], pairs[i + 1]
            meta.add_row(
                Text(k1),
                safe_text(str(v1), escape_style=esc, limit=200),
                Text(k2),
                safe_text(str(v2), escape_style=esc, limit=200),
            )

        message = Table.grid(padding=(0, 2))  # a grid, so a message's further lines align
        message.add_column(style=key_style, no_wrap=True)
        message.add_column()
        message.add_row(
            Text("message"),
            safe_text(row.get("message") or "", escape_style=esc, limit=DETAIL_LIMIT, multiline=True),
        )

        table = Table.grid(padding=(0, 2))
        table.add_column(style=key_style, no_wrap=True)
        table.add_column()
        focused = self.has_focus
        cursor_style = style("detailpane--cursor", partial=True)
        for i, (name, value) in enumerate(fields.items()):
            value_text = safe_text(format_value(value), escape_style=esc, limit=DETAIL_LIMIT, multiline=True)
            if name in self._hidden:
                value_text.append("  (hidden in the log)", style("detailpane--hidden", partial=True))
            table.add_row(
                safe_text(name, escape_style=esc, limit=200),
                value_text,
                style=cursor_style if focused and i == self.field_cursor else None,
            )

        json_view = Text(
            "\n".join(visible(line, limit=DETAIL_LIMIT) for line in self.json_text.split("\n")), end=""
        )
        JSONHighlighter().highlight(json_view)
        heading = Text(f"fields ({len(fields)})", style=title)
        if fields:
            heading.append("  tab, up/down: choose · x: hide/show in the log", style=key_style)
        return Group(
            meta,
            Text(""),
            message,
            Text(""),
            heading,
            table,
            Text(""),
            Text("JSON  (c copies it)", style=title),
            json_view,
        )

    def _redraw(self) -> None:
        if self._frame is not None and self._frame.height:
            self.show_event(self._frame, hidden=self._hidden)

    def on_focus(self) -> None:
        self._redraw()

    def on_blur(self) -> None:
        self._redraw()

    def action_field(self, step: int) -> None:
        if not self.fields:
            self.scroll_relative(y=step, animate=False)
            return
        self.field_cursor = max(0, min(self.field_cursor + step, len(self.fields) - 1))
        self._redraw()
        self._scroll_to_field()

    def _scroll_to_field(self) -> None:
        """Keep the chosen field's line on screen (its line counted from the text above it)."""
        if self._frame is None or not self.event:
            return
        message = str(self.event.get("message") or "")
        y = _META_LINES + 1 + message.count("\n") + 1 + 1 + 1  # meta, blank, message, blank, heading
        for name in self.fields[: self.field_cursor]:
            value = self._frame.get_column(name)[0] if name in self._frame.columns else None
            y += 1 + (value.count("\n") if isinstance(value, str) else 0)
        height = self.scrollable_content_region.height
        if y < self.scroll_offset.y:
            self.scroll_to(y=y, animate=False)
        elif y >= self.scroll_offset.y + height:
            self.scroll_to(y=y - height + 1, animate=False)

    def action_toggle_field(self) -> None:
        name = self.selected_field
        if name is not None:
            self.post_message(self.FieldToggled(name))
