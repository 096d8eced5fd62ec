"""An Input that remembers what was submitted: up and down walk through earlier entries."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

__all__ = ["HistoryInput"]


class HistoryInput(Input):
    """An :class:`~textual.widgets.Input` with a history of submitted values.

    | Key | Action |
    |---|---|
    | up | the previous (older) entry |
    | down | the next (newer) entry, then the text being typed |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
    ]

    def __init__(self, *, history: list[str] | None = None, max_history: int = 100, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = history if history is not None else []
        """Submitted values, oldest first (shared with the owner; no duplicates in a row)."""
        self.max_history = max_history
        self._index: int | None = None
        self._draft = ""

    def remember(self, value: str) -> None:
        """Add ``value`` to the history (moving it to the newest place)."""
        value = value.strip()
        if value:
            if value in self.history:
                self.history.remove(value)
            self.history.append(value)
            del self.history[: -self.max_history]
        self._index = None

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._index is None:
            if step > 0:
                return
            self._draft = self.value
            index = len(self.history) - 1
        else:
            index = self._index + step
        if index >= len(self.history):
            self._index = None
            self.value = self._draft
        else:
            self._index = max(0, index)
            self.value = self.history[self._index]
        self.cursor_position = len(self.value)
