"""The result of a SQL query over the view's events (``;`` on the log): a table of its first rows,
how many it has in all, and ``ctrl+s`` to export every row (:mod:`ttview.export`, by the file
name: .json, .ndjson, .csv, .parquet).

The query ran in a worker of the app (:mod:`ttview.sqlquery`); the export runs it again, in a
worker of this screen, over the same events.
"""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ttview.eventview import EventView
from ttview.render import format_value, visible
from ttview.widgets.key_footer import KeyFooter
from ttview.widgets.prompt_bar import PromptBar

__all__ = ["SqlScreen", "cell_text"]

CELL_LIMIT = 80
"""Characters of one value shown in a cell."""


def cell_text(value: Any) -> str:
    """One value of a result as its cell shows it (escaped; times in ISO-8601)."""
    if value is None:
        return "null"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return visible(format_value(value), limit=CELL_LIMIT)


class SqlScreen(Screen[None]):
    """A SQL result: its first rows, its row count, and an export of all of it.

    | Key | Action |
    |---|---|
    | ctrl+s | export every row of the result |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("ctrl+s", "export", "Export", priority=True),
    ]

    AUTO_FOCUS = "#sql-table"

    DEFAULT_CSS = """
    SqlScreen {
        #sql-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #sql-table { height: 1fr; }
        #sql-note { height: 1; padding: 0 1; color: $foreground 60%; }
    }
    """

    def __init__(self, query: str, head: pl.DataFrame, total: int, view: EventView) -> None:
        super().__init__()
        self.query_text = query
        self.head = head
        self.total = total
        self.view = view
        self.last_export: str | None = None
        """The path of the last export written from this screen."""

    def compose(self) -> ComposeResult:
        title = Text("SQL · ", no_wrap=True, overflow="ellipsis")
        title.append(visible(" ".join(self.query_text.split()), limit=200))
        yield Static(title, id="sql-title")
        yield DataTable(id="sql-table", zebra_stripes=True)
        yield Static(Text(self._note()), id="sql-note")
        yield PromptBar(id="sql-prompt")
        yield KeyFooter()

    def _note(self) -> str:
        rows = "row" if self.total == 1 else "rows"
        shown = f"{self.head.height:,} of {self.total:,} {rows} shown" if self.total > self.head.height else (
            f"{self.total:,} {rows}"
        )
        return f"{shown} · ctrl+s: export all {self.total:,} · escape: back"

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in self.head.columns:
            table.add_column(Text(visible(name, limit=40)), key=name)
        for values in self.head.iter_rows():
            table.add_row(*(Text(cell_text(v)) for v in values))

    # ---- export -------------------------------------------------------------------------------

    def action_export(self) -> None:
        if self.query_one(PromptBar).is_open:
            return
        self.query_one(PromptBar).open("export")

    @on(PromptBar.Submitted)
    def _submitted(self, event: PromptBar.Submitted) -> None:
        from ttview.app import export_format, export_problem

        event.stop()
        bar = self.query_one(PromptBar)
        path = event.value.strip()
        problem = export_problem(path)
        if problem:
            bar.show_message(Text(problem), "error")
            return
        bar.input.remember(path)
        bar.close()
        self.query_one(DataTable).focus()
        self._export(self.view, self.query_text, path, export_format(path) or "ndjson")

    @on(PromptBar.Closed)
    def _closed(self, event: PromptBar.Closed) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, group="sql-export", exit_on_error=False)
    def _export(self, view: EventView, query: str, path: str, fmt: str) -> None:
        from ttview.export import write_export
        from ttview.sqlquery import SqlError, sql_frame

        try:
            count = write_export(sql_frame(view.lazy(), query), path, fmt=fmt)
        except (SqlError, OSError, ValueError, pl.exceptions.PolarsError) as exc:
            line = visible(str(exc), limit=300)
            notify = self.notify
            self.app.call_from_thread(notify, line, title="export failed", severity="error", markup=False)
            return
        self.app.call_from_thread(self._exported, path, count)

    def _exported(self, path: str, count: int) -> None:
        self.last_export = path
        self.notify(visible(f"wrote {count:,} rows to {path}", limit=300), title="export", markup=False)

    def action_back(self) -> None:
        bar = self.query_one(PromptBar)
        if bar.is_open:
            bar.action_close()
            return
        self.dismiss(None)
