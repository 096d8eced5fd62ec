"""Messages shared between the app, its widgets, screens and workers.

Workers never touch widgets: they post one of these to the app, which updates the view on its own
thread. A frequent message (:class:`LiveUpdate`) sets ``can_replace`` so that a newer one
replaces an older one still queued: the live frame is cumulative, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from textual.message import Message

__all__ = [
    "FilterApplied",
    "FilterFailed",
    "LiveUpdate",
    "SearchResult",
    "SourcesLoaded",
]


@dataclass
class SourcesLoaded(Message):
    """Snapshot files were read (in a worker). With ``total`` set, ``frame`` holds only their
    newest events (the last rows of all ``total``), shown while the rest are decoded."""

    frame: pl.DataFrame
    files: list[str]
    errors: list[str]
    dropped: int = 0
    lost: int = 0
    total: int | None = None


@dataclass
class FilterApplied(Message):
    """A filter ran over the loaded events (in a worker); ``view`` is the result."""

    text: str
    view: pl.DataFrame
    generation: int
    warnings: tuple[str, ...] = ()


@dataclass
class FilterFailed(Message):
    """A filter compiled but failed while running (e.g. a regex the engine rejects late)."""

    text: str
    error: str
    generation: int


@dataclass
class LiveUpdate(Message):
    """The live rings gave new events: the bounded frame of everything kept, and its filtered view
    under ``filter_text`` (the filter current when the worker ran)."""

    full: pl.DataFrame
    view: pl.DataFrame
    filter_text: str
    received: int
    """Events received since the tail started (cumulative, so a replaced message loses nothing)."""
    rings: int = 0
    ended: int = 0
    dropped: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LiveUpdate)


@dataclass
class SearchResult(Message):
    """Rows of the view whose text holds the search term (ascending row numbers)."""

    term: str
    generation: int
    rows: np.ndarray
