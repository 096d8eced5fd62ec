"""The live tail's state, polled: the events kept, their view under a filter, and what the header
says about the rings (how many ended and why, drops, records lost, whether a sidecar drains them).

    tail = LiveTail(shm_dir, max_events=200_000, service=None)
    while running:
        if tail.poll():                          # something new since the last state taken
            state = tail.state(flt)              # flt: the filter the app handed over, or None
        wait(0.1)
    tail.close()

Invariants: headless (no UI import); read-only towards the rings (peek readers, see
:class:`ttview.sources.LiveSource`); :meth:`LiveTail.poll` never raises for a ring that is bad or
gone (the error is part of the state); ``received`` only grows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from ttview.eventview import EventView, FrameEventView
from ttview.query import Filter, QueryError

if TYPE_CHECKING:  # pragma: no cover
    from ttview.ringend import RingEnds
    from ttview.sources import LiveSource

__all__ = ["SIDECAR_CHECK_INTERVAL", "LiveState", "LiveTail"]

SIDECAR_CHECK_INTERVAL = 1.0
"""Seconds between looks for a sidecar draining the rings."""


@dataclass(frozen=True)
class LiveState:
    """What the tail holds at one moment."""

    full: EventView
    """Every event kept (the newest ``max_events``)."""
    view: EventView
    """``full`` under the filter given to :meth:`LiveTail.state` (``full`` if it failed)."""
    received: int
    """Events received since the tail began."""
    rings: int
    ended: int
    end_reasons: tuple[str, ...]
    """Why each ended ring's producer ended (:mod:`ttview.ringend`)."""
    dropped: int
    lost: int
    no_sidecar: bool
    errors: list[str] = field(default_factory=list)


class LiveTail:
    """The rings of a shared-memory directory, followed (see the module docstring)."""

    def __init__(self, shm_dir: str | None, *, max_events: int, service: str | None = None) -> None:
        from ttlog.ring import default_shm_dir

        from ttview.ringend import RingEnds
        from ttview.sources import LiveSource

        self.shm_dir = shm_dir if shm_dir is not None else str(default_shm_dir())
        self._source: LiveSource = LiveSource(shm_dir, max_events=max_events, service=service)
        self._ends: RingEnds = RingEnds()
        self.received = 0
        self._rings = (0, 0)
        self._changed = True
        self._no_sidecar = False
        self._next_sidecar_check = 0.0

    def poll(self) -> bool:
        """Read what the rings committed since the last poll; True if the state changed since it
        was last taken (new events, a ring appeared or ended, the sidecar came or went)."""
        from ttlog.reader import list_rings
        from ttlog.sidecar import sidecar_running

        live = self._source
        for path in list_rings(self.shm_dir):
            self._ends.watch(path)  # before the ring can end and be removed: see ttview.ringend
        new = live.poll()
        self.received += new.height
        self._changed = self._changed or bool(new.height)
        rings = (len(live.rings), len(live.ended))
        if rings != self._rings:
            self._rings = rings
            self._changed = True
        now = time.monotonic()
        if now >= self._next_sidecar_check:
            self._next_sidecar_check = now + SIDECAR_CHECK_INTERVAL
            missing = not sidecar_running(self.shm_dir)
            self._changed = self._changed or missing != self._no_sidecar
            self._no_sidecar = missing
        return self._changed

    def state(self, flt: Filter | None) -> LiveState:
        """The state now, its view under ``flt``; the next :meth:`poll` reports changes after it."""
        live = self._source
        full = FrameEventView(live.frame)
        try:
            view = full.where(flt)
        except (pl.exceptions.PolarsError, QueryError):
            view = full
        infos = [s.info for s in live.rings.values() if s.info is not None]
        self._changed = False
        return LiveState(
            full=full,
            view=view,
            received=self.received,
            rings=len(live.rings),
            ended=len(live.ended),
            end_reasons=tuple(self._ends.reason(p, s.info) for p, s in live.rings.items() if s.ended),
            dropped=sum(i.dropped for i in infos),
            lost=sum(i.lost for i in infos),
            no_sidecar=self._no_sidecar,
            errors=[f"{s.path.name}: {s.error}" for s in live.rings.values() if s.error],
        )

    def close(self) -> None:
        self._source.close()
        self._ends.close()
