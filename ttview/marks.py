"""The marks of the viewer (``m``): events kept by identity, in the order they were marked.

    marks = Marks()
    marks.toggle(view.identity(row))      # True: now marked
    marks.rows_in(view)                   # the rows of a view holding a marked event
    compile_filter("marked", schema, marks=marks.events)

An identity is ``(ts_ns, seq, pid)`` (:data:`ttview.eventview.EventId`), so a mark outlives
filters and live updates; a view that does not hold the event just has no row for it.

Invariants: headless (no UI import); an event is marked at most once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ttview.eventview import EventId, EventView

__all__ = ["Marks"]


class Marks:
    """An ordered set of marked events."""

    def __init__(self) -> None:
        self._events: dict[EventId, None] = {}

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[EventId]:
        return iter(self._events)

    def __contains__(self, event: object) -> bool:
        return event in self._events

    @property
    def events(self) -> tuple[EventId, ...]:
        """The marked events, in the order they were marked."""
        return tuple(self._events)

    def toggle(self, event: EventId) -> bool:
        """Mark ``event``, or unmark it if marked; True if it is marked now."""
        if event in self._events:
            del self._events[event]
            return False
        self._events[event] = None
        return True

    def discard(self, event: EventId) -> bool:
        """Unmark ``event``; True if it was marked."""
        if event not in self._events:
            return False
        del self._events[event]
        return True

    def clear(self) -> None:
        self._events.clear()

    def rows_in(self, view: EventView) -> np.ndarray:
        """The rows of ``view`` holding a marked event, ascending."""
        rows = [row for event in self._events if (row := view.row_of(event)) is not None]
        return np.array(sorted(rows), dtype=np.int64)
