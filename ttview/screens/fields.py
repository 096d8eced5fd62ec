"""The field picker: every field of the events with whether the log lines show it.

Space (or enter, or a click) shows or hides the field under the cursor; escape goes back to the
log with the choice made. A hidden field stays in the detail pane, the exports and the filter:
only the log lines leave it out, and the header says which are hidden.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from ttview.render import visible
from ttview.schema import field_names
from ttview.widgets.key_footer import KeyFooter

__all__ = ["FieldsScreen"]


class FieldsScreen(Screen[frozenset[str] | None]):
    """Fields shown in the log lines (ticked) and hidden (not ticked).

    | Key | Action |
    |---|---|
    | space, enter | show / hide the field under the cursor |
    | a | show every field |
    | escape / q | back to the log, with the fields chosen |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Done"),
        Binding("a", "show_all", "Show all"),
        Binding("space", "noop", "Show/hide", key_display="space"),
    ]

    AUTO_FOCUS = "#fields-list"

    DEFAULT_CSS = """
    FieldsScreen {
        #fields-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #fields-list { height: 1fr; }
        #fields-note { height: 1; padding: 0 1; color: $foreground 60%; }
    }
    """

    def __init__(self, schema: pl.Schema, hidden: frozenset[str]) -> None:
        super().__init__()
        self.names = field_names(schema)
        self.types = {name: str(schema[name]) for name in self.names}
        self.initially_hidden = frozenset(hidden)

    def compose(self) -> ComposeResult:
        yield Static(Text("Fields · ticked ones are shown in the log lines", no_wrap=True), id="fields-title")
        yield SelectionList[str](
            *[
                Selection(
                    Text(f"{visible(name, limit=60)}  ({self.types[name]})"),
                    name,
                    name not in self.initially_hidden,
                )
                for name in self.names
            ],
            id="fields-list",
        )
        note = "space / enter: show or hide · a: show all · escape: back" if self.names else "no fields"
        yield Static(Text(note), id="fields-note")
        yield KeyFooter()

    @property
    def hidden(self) -> frozenset[str]:
        """The fields not ticked now."""
        shown = set(self.query_one(SelectionList).selected)
        return frozenset(name for name in self.names if name not in shown)

    def action_show_all(self) -> None:
        self.query_one(SelectionList).select_all()

    def action_noop(self) -> None:
        """Space is the list's own key; this binding only names it in the footer."""

    def action_back(self) -> None:
        self.dismiss(self.hidden)
