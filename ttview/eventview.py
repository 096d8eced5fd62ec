"""The events a view of the viewer shows, behind a few small methods.

The app, the log view, the detail pane and the screens read events only through an
:class:`EventView`: how many there are, their schema, a slice of rows, the next row matching a
polars expression, the row of an event or of a time, and a LazyFrame for whole-view work (group
by, histogram, timeline, SQL, export). :class:`FrameEventView` implements it over an in-memory
polars DataFrame; a view that pages rows in from snapshot chunks implements the same methods.

    view = FrameEventView(frame)
    view.rows(0, 50)                                   # the first 50 events, every column
    view.find(pl.col("level") >= 40, cursor + 1)       # the next ERROR or worse, or None
    view.find(expr, cursor - 1, backward=True)         # the previous one
    view.locate(ts_ns, seq, pid)                       # the row of an event, or the first after it
    view.where(flt)                                    # the view under a compiled filter

An event is named by its identity ``(ts_ns, seq, pid)`` (:data:`EventId`), never by a row number:
row numbers change with every filter, identities do not. Marks are kept as identities.

Invariants: no UI import (no textual, no rich); the frame handed in is never mutated; rows are
in time order (``ts`` ascending; events of one instant in the order the sources gave them), which
:meth:`EventView.locate` and :meth:`EventView.row_at_time` rely on; every method takes and
returns row numbers in ``[0, height)`` or None, never raises for an empty view.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ttview.schema import event_id_expr

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ttview.query import Filter

__all__ = ["EventId", "EventView", "FrameEventView"]

EventId = tuple[int, int, int]
"""An event's identity: (ts as integer ns since the epoch, seq, pid)."""

FIRST_FIND_ROWS = 4096
"""Rows :meth:`FrameEventView.find` looks at first; each further step looks at twice as many, so a
match near the start costs little and a miss costs about one pass over the rest."""


class EventView(ABC):
    """The events of one view, in time order (see the module docstring)."""

    @property
    @abstractmethod
    def height(self) -> int:
        """Number of events."""

    @property
    @abstractmethod
    def schema(self) -> pl.Schema:
        """Column name → dtype (core columns, then one column per field key)."""

    @abstractmethod
    def rows(self, start: int, stop: int) -> pl.DataFrame:
        """Events ``start`` to ``stop`` (exclusive; clipped to the view), every column."""

    @abstractmethod
    def find(
        self, expr: pl.Expr, start: int, *, backward: bool = False, stop: int | None = None
    ) -> int | None:
        """The first row at or after ``start`` (``backward``: the last at or before it) where the
        Boolean ``expr`` holds, or None. ``stop`` bounds the search, exclusive: forward rows
        ``start .. stop - 1``, backward ``start`` down to ``stop + 1`` (default: the end of the
        view), so a caller can look a part at a time."""

    @abstractmethod
    def count(self, expr: pl.Expr) -> int:
        """Number of rows where the Boolean ``expr`` holds."""

    @abstractmethod
    def row_at_time(self, ts_ns: int) -> int:
        """The first row at or after ``ts_ns`` (the last row if every event is older; 0 if none)."""

    @abstractmethod
    def locate(self, ts_ns: int, seq: int, pid: int) -> int:
        """The row of the event (ts_ns, seq, pid), or else of the first event after its time
        (clipped to the last row; 0 for an empty view)."""

    @abstractmethod
    def row_of(self, event: EventId) -> int | None:
        """The row of ``event``, or None if the view does not hold it."""

    @abstractmethod
    def lazy(self) -> pl.LazyFrame:
        """Every event, as a LazyFrame (for group-by, histogram, timeline, SQL and export)."""

    def events(self) -> Any:
        """The events for aggregations (group-by, histogram, timeline): a LazyFrame, or for a
        paged view a ``ttview.scan.EventSource`` that reads its batches as they are asked for."""
        return self.lazy()

    @abstractmethod
    def where(self, flt: Filter | None) -> EventView:
        """The view of the events ``flt`` keeps (None keeps all). Runs the filter: call it from a
        worker for a large view."""

    @property
    def width(self) -> int:
        """Number of columns (0: no events were ever loaded)."""
        return len(self.schema)

    def tail_sample(self, limit: int, columns: Sequence[str]) -> pl.DataFrame:
        """``columns`` of up to ``limit`` of the newest events, cheaply: what column widths are
        measured on. A paged view may return fewer (it reads only a few of its newest segments)."""
        return self.rows(max(0, self.height - limit), self.height).select(columns)

    def identity(self, row: int) -> EventId | None:
        """The identity of event ``row``, or None outside the view."""
        if not 0 <= row < self.height:
            return None
        ts, seq, pid = self.rows(row, row + 1).select(event_id_expr().struct.unnest()).row(0)
        return int(ts), int(seq), int(pid)

    def ts_ns(self, row: int) -> int | None:
        """The time of event ``row`` in integer ns, or None outside the view."""
        if not 0 <= row < self.height:
            return None
        return int(self.rows(row, row + 1).select(pl.col("ts").dt.epoch("ns")).item())

    def rows_after(self, ts_ns: int) -> int:
        """How many events are newer than ``ts_ns`` (the live "N new" count)."""
        if not self.height:
            return 0
        return self.height - self._first_after(ts_ns)

    @abstractmethod
    def _first_after(self, ts_ns: int) -> int:
        """The first row whose time is after ``ts_ns`` (``height`` if none)."""


class FrameEventView(EventView):
    """An :class:`EventView` over an in-memory polars DataFrame."""

    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._frame = frame if frame is not None else pl.DataFrame()
        self._ts: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"FrameEventView({self.height:,} events)"

    @property
    def frame(self) -> pl.DataFrame:
        """The DataFrame behind this view (for code that builds views, not for readers of one)."""
        return self._frame

    @property
    def height(self) -> int:
        return self._frame.height

    @property
    def schema(self) -> pl.Schema:
        return self._frame.schema

    def rows(self, start: int, stop: int) -> pl.DataFrame:
        start = max(0, start)
        return self._frame.slice(start, max(0, min(stop, self.height) - start))

    def lazy(self) -> pl.LazyFrame:
        return self._frame.lazy()

    def events(self) -> Any:
        from ttview.scan import EventSource

        return EventSource(self._frame.lazy(), frame=self._frame)

    def where(self, flt: Filter | None) -> FrameEventView:
        if flt is None or flt.keeps_all or not self.height:
            return self
        from ttview.query import apply_filter

        return FrameEventView(apply_filter(self._frame, flt))

    def count(self, expr: pl.Expr) -> int:
        if not self.height:
            return 0
        return int(self._frame.select(expr.fill_null(False).sum()).item())

    def find(
        self, expr: pl.Expr, start: int, *, backward: bool = False, stop: int | None = None
    ) -> int | None:
        height = self.height
        if not height:
            return None
        expr = expr.fill_null(False)
        step = FIRST_FIND_ROWS
        if backward:
            floor = max(-1, -1 if stop is None else stop) + 1  # the lowest row looked at
            end = min(start, height - 1) + 1
            while end > floor:
                lo = max(floor, end - step)
                hit = self._frame.slice(lo, end - lo).select(expr.arg_true().last()).item()
                if hit is not None:
                    return lo + int(hit)
                end, step = lo, step * 2
            return None
        ceiling = height if stop is None else min(stop, height)
        lo = max(0, start)
        while lo < ceiling:
            n = min(step, ceiling - lo)
            hit = self._frame.slice(lo, n).select(expr.arg_true().first()).item()
            if hit is not None:
                return lo + int(hit)
            lo, step = lo + n, step * 2
        return None

    # ---- time ---------------------------------------------------------------------------------

    def _times(self) -> np.ndarray:
        if self._ts is None:
            if "ts" not in self._frame.columns:
                self._ts = np.empty(0, dtype=np.int64)
            else:
                self._ts = self._frame.get_column("ts").dt.epoch("ns").to_numpy()
        return self._ts

    def row_at_time(self, ts_ns: int) -> int:
        if not self.height:
            return 0
        return min(int(np.searchsorted(self._times(), ts_ns, side="left")), self.height - 1)

    def _first_after(self, ts_ns: int) -> int:
        return int(np.searchsorted(self._times(), ts_ns, side="right"))

    def row_of(self, event: EventId) -> int | None:
        ts_ns, seq, pid = event
        times = self._times()
        lo = int(np.searchsorted(times, ts_ns, side="left"))
        hi = int(np.searchsorted(times, ts_ns, side="right"))
        if hi > lo:
            same = self._frame.slice(lo, hi - lo).select("seq", "pid")
            for i, (s, p) in enumerate(same.iter_rows()):
                if s == seq and p == pid:
                    return lo + i
        return None

    def locate(self, ts_ns: int, seq: int, pid: int) -> int:
        if not self.height:
            return 0
        row = self.row_of((ts_ns, seq, pid))
        if row is not None:
            return row
        return min(self._first_after(ts_ns - 1), self.height - 1)
