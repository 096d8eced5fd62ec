"""The app's screens besides the log: help, group-by, histogram, timeline, marks, fields, SQL."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from textual.app import App
from textual.screen import Screen
from textual.worker import Worker, WorkerState

ResultType = TypeVar("ResultType")

__all__ = ["ComputedScreen", "preload_screens"]


def preload_screens(app: App[Any], ready: threading.Event) -> threading.Thread:
    """Import the screens (and plotext, which the histogram draws with) in a background thread,
    once ``ready`` is set and the app has drawn a frame after it: the first b, h, l or ? then
    does not wait 30–250 ms for imports. Returns the (daemon) thread."""

    def run() -> None:
        ready.wait()
        drawn = threading.Event()
        try:
            app.call_from_thread(app.call_after_refresh, drawn.set)
        except RuntimeError:  # the app has stopped
            return
        drawn.wait(5)
        import rich.ansi  # noqa: F401  (Text.from_ansi: the histogram's plot)

        import ttview.screens.fields
        import ttview.screens.group_by
        import ttview.screens.help
        import ttview.screens.histogram
        import ttview.screens.marks
        import ttview.screens.sql
        import ttview.screens.timeline  # noqa: F401

    thread = threading.Thread(target=run, name="ttview-preload", daemon=True)
    thread.start()
    return thread


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
