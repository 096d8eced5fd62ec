"""The detail of one event: its metadata, every field, and the event as JSON.

All of it is built from Rich ``Text`` made visible by :mod:`ttview.render`; the JSON shown is the
same text ``c`` copies, with control characters made visible before drawing.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import polars as pl
from rich.console import Group
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ttview.render import DETAIL_LIMIT, event_json, format_iso, format_value, safe_text, visible
from ttview.schema import CORE_COLUMNS, level_name

__all__ = ["DetailPane"]


class DetailPane(VerticalScroll, can_focus=True):
    """Metadata, fields and JSON of the selected event (scrolls; hidden until asked for)."""

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
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"detailpane--key", "detailpane--escape", "detailpane--title"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.event: dict[str, Any] | None = None
        """The event shown, as its JSON (the export's layout) parses (None: nothing)."""
        self.json_text = ""
        """The exact JSON of the event (what ``c`` copies; a line of ``ttview export``, indented)."""

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
                    for column in item.columns:
                        parts.extend(c.plain if isinstance(c, Text) else str(c) for c in column._cells)
            return "\n".join(parts)
        return str(content)

    def show_event(self, frame: pl.DataFrame | None) -> None:
        """Show the event of the one-row event ``frame``; None (or no row) clears the pane."""
        body = self.query_one("#detail-body", Static)
        if frame is None or not frame.height:
            self.event = None
            self.json_text = ""
            body.update(Text("no event selected"))
            return
        row = frame.head(1).with_columns(pl.col("ts").dt.epoch("ns")).row(0, named=True)
        fields = {k: v for k, v in row.items() if k not in CORE_COLUMNS and k != "cut" and v is not None}
        self.json_text = event_json(frame)
        self.event = json.loads(self.json_text)
        esc = self.get_component_rich_style("detailpane--escape", partial=True)
        key_style = self.get_component_rich_style("detailpane--key", partial=True)
        title = self.get_component_rich_style("detailpane--title", partial=True)

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

        message = Text("message  ", style=key_style)
        message.append_text(safe_text(row.get("message") or "", escape_style=esc, limit=DETAIL_LIMIT))

        table = Table.grid(padding=(0, 2))
        table.add_column(style=key_style, no_wrap=True)
        table.add_column()
        for name, value in fields.items():
            table.add_row(
                safe_text(name, escape_style=esc, limit=200),
                safe_text(format_value(value), escape_style=esc, limit=DETAIL_LIMIT),
            )

        json_view = Text(
            "\n".join(visible(line, limit=DETAIL_LIMIT) for line in self.json_text.split("\n")), end=""
        )
        JSONHighlighter().highlight(json_view)
        body.update(
            Group(
                meta,
                Text(""),
                message,
                Text(""),
                Text(f"fields ({len(fields)})", style=title),
                table,
                Text(""),
                Text("JSON  (c copies it)", style=title),
                json_view,
            )
        )
