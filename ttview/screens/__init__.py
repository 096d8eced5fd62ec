"""The app's screens besides the log: help, group-by, histogram, timeline."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

ResultType = TypeVar("ResultType")

__all__ = ["ComputedScreen"]


class ComputedScreen(Screen[ResultType]):
    """A screen whose numbers come from a ``_compute`` worker; ``computing`` is True until the
    numbers asked for last are shown (the tests wait on it)."""

    _shown = False

    @property
    def computing(self) -> bool:
        if not self._shown:
            return True
        return any(w.name == "_compute" and w.node is self and not w.is_finished for w in self.app.workers)

    def _computed(self, event: Worker.StateChanged) -> bool:
        """Call from ``on_worker_state_changed``: True when ``event`` is a finished ``_compute``."""
        if event.worker.name != "_compute" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return False
        self._shown = True
        return True
