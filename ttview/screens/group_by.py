"""Group-by: count, rate and latency percentiles per logger, level or any field.

The numbers come from :func:`ttview.stats.group_stats`, run in a worker over the view the log
shows (the current filter). Choosing a row dismisses the screen with a filter condition for
that group (``logger == "oms.orders"``), which the app adds to the current filter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl
from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Select, Static
from textual.worker import Worker, WorkerState

from ttview.eventview import EventView
from ttview.query import quote_name, quote_value
from ttview.render import visible
from ttview.report import num
from ttview.schema import group_columns, numeric_fields
from ttview.screens import ComputedScreen
from ttview.stats import group_stats
from ttview.widgets.key_footer import KeyFooter

__all__ = ["GroupByScreen", "format_number", "group_condition"]

STAT_HEADINGS: tuple[tuple[str, str], ...] = (
    ("count", "count"),
    ("rate", "rate/s"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p99.9", "p99.9"),
    ("max", "max"),
)
"""Statistic column → heading shown (after the group column)."""

NO_FIELD = "(none)"


def format_number(value: Any) -> str:
    """Numbers for the tables of the screens (:func:`ttview.report.num`, "—" for none)."""
    return num(value, missing="—")


def group_condition(by: str, value: Any) -> str:
    """The filter condition selecting the events of group ``value`` of column ``by``."""
    name = quote_name(by)
    if value is None:
        return f"{name} is null"
    if by == "level" and isinstance(value, str) and (value.isidentifier() or value.isdigit()):
        return f"{name} == {value}"
    return f"{name} == {quote_value(value)}"


class GroupByScreen(ComputedScreen[str | None]):
    """A table of groups. Click a heading (or press o / r) to sort; enter filters to a group.

    | Key | Action |
    |---|---|
    | enter | filter the log to the group under the cursor |
    | o | sort by the next column |
    | r | reverse the order |
    | tab, shift+tab | move between the choices (group by, statistics of) and the table |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("o", "next_sort", "Sort column"),
        Binding("r", "reverse", "Reverse"),
        Binding("enter", "noop", "Filter to group", show=True, key_display="enter"),
        Binding("tab", "app.focus_next", "Next choice / the table", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous choice / the table", show=False),
    ]

    AUTO_FOCUS = "#group-table"
    """Focused as the screen is composed, so the footer builds its keys (which the focus changes) once."""

    DEFAULT_CSS = """
    GroupByScreen {
        #group-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        #group-choices { height: 1; padding: 0 1; }
        #group-choices Label { padding: 0 1 0 0; width: auto; }
        #group-choices Select { width: 24; margin-right: 2; }
        #group-table { height: 1fr; }
        #group-note { height: 1; padding: 0 1; color: $foreground 60%; }
    }
    """

    def __init__(
        self,
        view: EventView,
        *,
        filter_text: str = "",
        by: str = "logger",
        field: str | None = "latency_us",
    ) -> None:
        super().__init__()
        self.view = view
        self.filter_text = filter_text
        self.group_options = group_columns(view.schema) or ["logger"]
        self.by = by if by in self.group_options else self.group_options[0]
        fields = numeric_fields(view.schema)
        self.field_options = fields
        self.field: str | None = field if field in fields else (fields[0] if fields else None)
        self.sort = "count"
        self.descending = True
        self.result: pl.DataFrame | None = None
        """The statistics shown (one row per group, in the order shown)."""

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="group-title")
        with Horizontal(id="group-choices"):
            yield Label("group by")
            yield Select(
                [(Text(visible(c, limit=40)), c) for c in self.group_options],
                value=self.by,
                allow_blank=False,
                compact=True,
                id="group-by",
            )
            yield Label("statistics of")
            yield Select(
                [(Text(NO_FIELD), NO_FIELD)] + [(Text(visible(c, limit=40)), c) for c in self.field_options],
                value=self.field or NO_FIELD,
                allow_blank=False,
                compact=True,
                id="group-field",
            )
        yield DataTable(id="group-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="group-note")
        yield KeyFooter()

    def _title(self) -> Text:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"Group by · {self.view.height:,} events")
        if self.filter_text:
            title.append(" · filter: ")
            title.append(visible(self.filter_text, limit=100))
        return title

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.compute()

    # ---- computing ----------------------------------------------------------------------------

    def compute(self) -> None:
        self.query_one("#group-note", Static).update(Text("computing…"))
        self._compute(self.view, self.by, self.field)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _compute(self, view: EventView, by: str, field: str | None) -> tuple[str, pl.DataFrame]:
        return by, group_stats(view.events(), by=by, field=field)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not self._computed(event):
            return
        if event.state == WorkerState.SUCCESS:
            by, result = event.worker.result
            if by == self.by:
                self.result = result
                self._sort_result()
                self._fill()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one("#group-note", Static).update(Text(visible(str(error), limit=200)))

    def _sort_result(self) -> None:
        if self.result is None or self.sort not in self.result.columns:
            return
        key = self.result.columns[0]
        order = [self.sort] if self.sort == key else [self.sort, key]
        self.result = self.result.sort(
            order, descending=[self.descending] + [False] * (len(order) - 1), nulls_last=True
        )

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        result = self.result
        if result is None:
            return
        key = result.columns[0]
        arrow = " ↓" if self.descending else " ↑"
        shown = [name for name, _ in STAT_HEADINGS if name in result.columns]
        rows = [
            [visible("(null)" if row[key] is None else str(row[key]), limit=60)]
            + [format_number(row[name]) for name in shown]
            for row in result.iter_rows(named=True)
        ]
        # Widths are given (not measured by the table when idle), so the table is drawn complete at once.
        headings = [visible(key, limit=30) + (arrow if self.sort == key else "")]
        headings += [
            heading + (arrow if self.sort == name else "") for name, heading in STAT_HEADINGS if name in shown
        ]
        widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headings)]
        table.add_column(Text(headings[0]), key=key, width=widths[0])
        for i, name in enumerate(shown, start=1):
            table.add_column(Text(headings[i], justify="right"), key=name, width=widths[i])
        for i, cells in enumerate(rows):
            table.add_row(Text(cells[0]), *(Text(c, justify="right") for c in cells[1:]), key=str(i))
        field = f"statistics of {visible(self.field, limit=40)}" if self.field else "no statistics field"
        sort = visible(self.sort, limit=40)
        groups = "group" if result.height == 1 else "groups"
        note = f"{result.height:,} {groups} · {field} · sorted by {sort}{arrow} · enter: filter to a group"
        self.query_one("#group-note", Static).update(Text(note))

    # ---- choices ------------------------------------------------------------------------------

    @on(Select.Changed, "#group-by")
    def _by_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.by:
            self.by = event.value
            if self.sort not in {name for name, _ in STAT_HEADINGS}:
                self.sort, self.descending = "count", True
            self.compute()

    @on(Select.Changed, "#group-field")
    def _field_changed(self, event: Select.Changed) -> None:
        value = None if event.value == NO_FIELD else event.value
        if isinstance(value, (str, type(None))) and value != self.field:
            self.field = value
            self.compute()

    def set_sort(self, column: str, descending: bool | None = None) -> None:
        """Sort the table by ``column`` (a statistic or the group column)."""
        if self.result is None:
            return
        key = self.result.columns[0]
        if descending is None:
            descending = (not self.descending) if column == self.sort else column != key
        self.sort, self.descending = column, descending
        self._sort_result()
        self._fill()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.set_sort(str(event.column_key.value))

    def action_next_sort(self) -> None:
        if self.result is None:
            return
        columns = [self.result.columns[0]] + [n for n, _ in STAT_HEADINGS if n in self.result.columns]
        i = columns.index(self.sort) if self.sort in columns else -1
        column = columns[(i + 1) % len(columns)]
        self.set_sort(column, descending=column != columns[0])

    def action_reverse(self) -> None:
        self.set_sort(self.sort, descending=not self.descending)

    def action_noop(self) -> None:
        table = self.query_one(DataTable)
        if table.has_focus:
            table.action_select_cursor()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.choose(event.cursor_row)

    def choose(self, row: int) -> None:
        """Filter the log to the group of table row ``row`` and go back."""
        if self.result is None or not 0 <= row < self.result.height:
            return
        key = self.result.columns[0]
        self.dismiss(group_condition(self.by, self.result[key][row]))

    def action_back(self) -> None:
        self.dismiss(None)
