"""A one-line prompt under the log (filter, search, go to time, export, SQL) with a message line.

The app opens it in a *mode*; each mode keeps its own history. What the user types is only
ever handed back in messages; the message line shows text the app built (never markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, Static

from ttview.widgets.history_input import HistoryInput

__all__ = ["PROMPTS", "PromptBar"]

PROMPTS: dict[str, tuple[str, str]] = {
    "filter": ("filter", "e.g. level >= WARN and latency_us > 250   (up/down: history, empty: all)"),
    "search": ("search", "text to find in the lines; n / N: next / previous"),
    "goto": ("go to", "a time: 14:30:05.25, 2026-11-21T14:30:00Z, or +5s / -1m from the cursor"),
    "export": ("export to", "a path: events.ndjson (a line each), .json (an array), .csv or .parquet"),
    "sql": ("sql", "SELECT logger, count(*) AS n FROM events GROUP BY logger   (the view's events)"),
}
"""Mode → (label, placeholder)."""


class PromptBar(Vertical):
    """The prompt: a label, an input with history, and a message line (errors with a caret).

    | Key | Action |
    |---|---|
    | enter | submit |
    | escape | close the prompt |
    | up / down | history |
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", show=True)]

    DEFAULT_CSS = """
    PromptBar {
        height: auto;
        display: none;
        background: $panel;
        &.-open { display: block; }
        Horizontal { height: 1; }
        #prompt-label { width: auto; padding: 0 1; color: $accent; text-style: bold; }
        HistoryInput { border: none; height: 1; padding: 0; width: 1fr; background: $panel; }
        HistoryInput:focus { border: none; background-tint: $foreground 5%; }
        #prompt-message { height: auto; max-height: 3; padding: 0 1; display: none; }
        #prompt-message.-error { display: block; color: $error; }
        #prompt-message.-warning { display: block; color: $warning; }
        #prompt-message.-info { display: block; color: $foreground 70%; }
    }
    """

    mode: reactive[str] = reactive("filter")
    """What the prompt asks for: one of :data:`PROMPTS`."""

    @dataclass
    class Submitted(Message):
        mode: str
        value: str

    @dataclass
    class Changed(Message):
        mode: str
        value: str

    @dataclass
    class Closed(Message):
        mode: str

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.histories: dict[str, list[str]] = {mode: [] for mode in PROMPTS}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("filter", id="prompt-label")
            yield HistoryInput(id="prompt-input", select_on_focus=False)
        yield Static("", id="prompt-message")

    @property
    def input(self) -> HistoryInput:
        return self.query_one(HistoryInput)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    @property
    def message_text(self) -> str:
        """The message line as plain text (what a test reads)."""
        message = self.query_one("#prompt-message", Static)
        if not any(message.has_class(c) for c in ("-error", "-warning", "-info")):
            return ""
        content = message.content
        return content.plain if isinstance(content, Text) else str(content)

    def open(self, mode: str, value: str = "") -> None:
        """Show the prompt in ``mode`` holding ``value`` and focus it."""
        self.mode = mode
        label, placeholder = PROMPTS[mode]
        self.query_one("#prompt-label", Label).update(Text(f"{label} ›"))
        entry = self.input
        entry.history = self.histories[mode]
        entry.placeholder = placeholder
        entry.value = value
        entry.cursor_position = len(value)
        self.show_message(None)
        self.add_class("-open")
        # Focus now, not after a refresh (Widget.focus): keys already queued behind the one that
        # opened the prompt (a quick typist, a paste, tmux send-keys) must land in the input.
        self.screen.set_focus(entry)

    def action_close(self) -> None:
        if self.is_open:
            self.remove_class("-open")
            self.post_message(self.Closed(self.mode))

    def close(self) -> None:
        self.remove_class("-open")

    def show_message(self, text: Text | str | None, kind: str = "error") -> None:
        """Show ``text`` under the input (``kind``: error, warning or info); None hides it."""
        message = self.query_one("#prompt-message", Static)
        message.remove_class("-error", "-warning", "-info")
        if text is None:
            message.update("")
            return
        message.update(text if isinstance(text, Text) else Text(text))
        message.add_class(f"-{kind}")

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(self.mode, event.value))

    @on(Input.Changed, "#prompt-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.is_open:
            self.post_message(self.Changed(self.mode, event.value))
