"""The marks: every event marked with ``m``, oldest first; enter goes to one in the log.

Marks are event identities (:data:`ttview.eventview.EventId`), so a mark outlives filters; one
the current filter hides is listed as such, one a live tail no longer keeps as gone. The filter
language selects them too: ``marked``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ttview.eventview import EventId, EventView
from ttview.render import format_clock, format_date, visible
from ttview.schema import level_name
from ttview.widgets.key_footer import KeyFooter

__all__ = ["MarksScreen"]


class MarksScreen(Screen[EventId | None]):
    """The marked events. Enter goes to the event in the log.

    | Key | Action |
    |---|---|
    | enter | go to the event in the log |
    | m, delete | unmark the event |
    | C | unmark every event |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("enter", "choose", "Go to event", key_display="enter"),
        Binding("m,delete", "unmark", "Unmark"),
        Binding("C", "clear", "Unmark all"),
    ]

    AUTO_FOCUS = "#marks-table"

    DEFAULT_CSS = """
    MarksScreen {
        #marks-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #marks-table { height: 1fr; }
        #marks-note { height: 1; padding: 0 1; color: $foreground 60%; }
    }
    """

    def __init__(self, full: EventView, marks: list[EventId], view: EventView) -> None:
        super().__init__()
        self.full = full
        self.view = view
        self.marks = sorted(marks)
        """The marks listed, by time."""

    def compose(self) -> ComposeResult:
        yield Static("", id="marks-title")
        yield DataTable(id="marks-table", cursor_type="row", zebra_stripes=True)
        yield Static(
            Text("enter: go to the event · m: unmark · C: unmark all · the filter 'marked' selects them"),
            id="marks-note",
        )
        yield KeyFooter()

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        count = len(self.marks)
        self.query_one("#marks-title", Static).update(
            Text(f"Marks · {count:,} marked event{'' if count == 1 else 's'}", no_wrap=True)
        )
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for heading in ("date", "time", "level", "logger", "message", "where"):
            table.add_column(Text(heading), key=heading)
        for event in self.marks:
            row = self.full.row_of(event)
            date, clock = format_date(event[0]), format_clock(event[0])
            if row is None:
                cells = [date, clock, "", "", "", "no longer loaded"]
            else:
                values = self.full.rows(row, row + 1).select("level", "logger", "message").row(0)
                where = "in the view" if self.view.row_of(event) is not None else "hidden by the filter"
                cells = [
                    date,
                    clock,
                    level_name(int(values[0])),
                    visible(values[1] or "", limit=30),
                    visible(values[2] or "", limit=60),
                    where,
                ]
            table.add_row(*(Text(c) for c in cells), key=f"{event[0]}:{event[1]}:{event[2]}")
        if not self.marks:
            empty = [Text("")] * 6
            empty[4] = Text("no marks: m marks an event in the log")
            table.add_row(*empty)

    def _selected(self) -> EventId | None:
        table = self.query_one(DataTable)
        if not self.marks or not 0 <= table.cursor_row < len(self.marks):
            return None
        return self.marks[table.cursor_row]

    def action_choose(self) -> None:
        event = self._selected()
        if event is not None:
            self.dismiss(event)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def action_unmark(self) -> None:
        from ttview.app import TTViewApp

        event = self._selected()
        if event is None:
            return
        app = self.app
        if isinstance(app, TTViewApp):
            app.unmark(event)
        self.marks.remove(event)
        row = self.query_one(DataTable).cursor_row
        self._fill()
        self.query_one(DataTable).move_cursor(row=min(row, max(0, len(self.marks) - 1)))

    def action_clear(self) -> None:
        from ttview.app import TTViewApp

        app = self.app
        if isinstance(app, TTViewApp):
            app.action_clear_marks()
        self.marks = []
        self._fill()

    def action_back(self) -> None:
        self.dismiss(None)
