"""Messages shared between the app, its widgets, screens and workers.

Workers never touch widgets: they post one of these to the app, which updates the view on its own
thread. A frequent message (:class:`LiveUpdate`) sets ``can_replace`` so that a newer one
replaces an older one still queued: the live frame is cumulative, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from textual.message import Message

from ttview.eventview import EventView
from ttview.livetail import LiveState

__all__ = [
    "FilterApplied",
    "FilterFailed",
    "LiveUpdate",
    "SearchCounted",
    "SourcesLoaded",
    "SqlDone",
]


@dataclass
class SourcesLoaded(Message):
    """Snapshot files were read (in a worker). With ``total`` set, ``frame`` holds only their
    newest events (the last rows of all ``total``), shown while the rest are decoded."""

    frame: pl.DataFrame | None
    files: list[str]
    errors: list[str]
    dropped: int = 0
    lost: int = 0
    total: int | None = None
    view: EventView | None = None
    """Instead of ``frame``: a view paging the events in from the files (too many to hold)."""


@dataclass
class FilterApplied(Message):
    """A filter ran over the loaded events (in a worker); ``view`` is the result."""

    text: str
    view: EventView
    generation: int
    warnings: tuple[str, ...] = ()
    progress: tuple[int, int] | None = None
    """While a paged filter runs: (parts done, parts); ``view`` holds the matches so far."""


@dataclass
class FilterFailed(Message):
    """A filter compiled but failed while running (e.g. a regex the engine rejects late)."""

    text: str
    error: str
    generation: int


@dataclass
class LiveUpdate(Message):
    """The live rings' state (:class:`ttview.livetail.LiveState`): every event kept and their view
    under the filter the app last handed the worker (``filter_text``), with the rings' counts."""

    state: LiveState
    filter_text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LiveUpdate)


@dataclass
class SearchCounted(Message):
    """How many rows of the view hold the search term."""

    term: str
    generation: int
    count: int


@dataclass
class SqlDone(Message):
    """A SQL query over the view's events ran (in a worker): its first rows and its row count, or
    the error in one line."""

    query: str
    head: pl.DataFrame | None
    total: int = 0
    error: str = ""
