"""The help screen: every key of every view, read from the bindings themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "key_sections"]


def _sections() -> list[tuple[str, Iterable[BindingType]]]:
    from ttview.app import TTViewApp
    from ttview.screens.fields import FieldsScreen
    from ttview.screens.group_by import GroupByScreen
    from ttview.screens.histogram import HistogramScreen
    from ttview.screens.latency import LatencyScreen
    from ttview.screens.marks import MarksScreen
    from ttview.screens.sql import SqlScreen
    from ttview.screens.timeline import TimelineScreen
    from ttview.widgets.detail_pane import DetailPane
    from ttview.widgets.log_view import LogView
    from ttview.widgets.prompt_bar import PromptBar

    return [
        ("Log", LogView.BINDINGS),
        ("Everywhere on the log screen", TTViewApp.BINDINGS),
        ("Detail pane (enter opens it, tab moves into it)", DetailPane.BINDINGS),
        (
            "Prompt (filter, search, go to, export, SQL)",
            [
                *PromptBar.BINDINGS,
                Binding("up", "", "Older entry"),
                Binding("down", "", "Newer entry"),
                Binding("enter", "", "Submit"),
            ],
        ),
        ("Group by", GroupByScreen.BINDINGS),
        ("Histogram", HistogramScreen.BINDINGS),
        ("Timeline", TimelineScreen.BINDINGS),
        ("Latency (L)", LatencyScreen.BINDINGS),
        ("Marks (M)", MarksScreen.BINDINGS),
        ("Fields (f)", FieldsScreen.BINDINGS),
        ("SQL result (;)", SqlScreen.BINDINGS),
        ("Command palette", [Binding("ctrl+p", "", "Every action by name")]),
    ]


def key_sections(display: Callable[[Binding], str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, description)]) for every binding; ``display(binding)`` spells a key."""
    out = []
    for title, bindings in _sections():
        rows: dict[tuple[str, str], list[str]] = {}
        for binding in Binding.make_bindings(bindings):
            rows.setdefault((binding.action, binding.description), []).append(display(binding))
        out.append((title, [(" / ".join(dict.fromkeys(keys)), desc) for (_, desc), keys in rows.items()]))
    return out


class HelpScreen(ModalScreen[None]):
    """Every key, by view. Escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #help-box {
            width: 80;
            max-width: 100%;
            height: 90%;
            border: round $accent;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "ttview keys"
            box.border_subtitle = "escape closes"
            yield Static(self._table(), id="help-body")

    def _table(self) -> Group:
        """One small table per section, under its title (each as wide as its own keys)."""
        parts: list[Table | Text] = []
        for title, rows in key_sections(self.app.get_key_display):
            parts.append(Text(title, style="bold underline"))
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True, style="bold", min_width=12)
            table.add_column()
            for keys, desc in rows:
                table.add_row(Text(keys), Text(desc))
            parts.append(table)
            parts.append(Text(""))
        return Group(*parts)

    @property
    def plain(self) -> str:
        """The help as plain text (what a test reads)."""
        lines = []
        for title, rows in key_sections(self.app.get_key_display):
            lines.append(title)
            lines.extend(f"{keys}  {desc}" for keys, desc in rows)
        return "\n".join(lines)
