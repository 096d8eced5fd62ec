"""The ttview terminal app: open snapshots or follow live rings; filter, search, mark, group, chart.

    make_app(paths=["snaps/"]).run()          # what `ttview open` does
    make_app(live=True, shm_dir="/dev/shm").run()
    python -m ttview.app PATH...              # the same, without the CLI (tests drive it in tmux)

The app holds two :class:`~ttview.eventview.EventView` objects: ``full`` (every event loaded, or
the newest ``max_live_events`` while live) and ``view`` (``full`` under the current filter); the
log, the detail pane and the screens read events only through them. Loading, filtering,
counting search matches, live polling, SQL and exporting run in thread workers that take what
they need as arguments and report back with messages (:mod:`ttview.messages`); the UI thread
only draws the rows on screen. Marks are event identities ``(ts_ns, seq, pid)``, so they survive
filters and live updates.

| Key | Action |
|---|---|
| / | filter (the language of docs/FILTER.md; up/down: history) |
| s, ctrl+f | search text; n / N next / previous |
| e / E, w / W | next / previous event at ERROR or worse, at WARN or worse |
| m | mark or unmark the event; u / U next / previous mark; M the marks; C clears them |
| enter | detail of the event (tab into it: x hides or shows a field in the log) |
| f | fields: show or hide each in the log lines |
| T | delta column: time since the previous event, since the mark above, off |
| ctrl+w | wrap long lines |
| ; | SQL over the view's events (table ``events``) |
| b | group by |
| h | latency histogram |
| l | timeline |
| t | go to a time |
| ctrl+s | export the view (by the file name: .json, .ndjson, .csv, .parquet) |
| c | copy the event as JSON |
| p | pause / resume the live tail |
| g / G, home / end | first / last event (G follows) |
| d | dark / light theme |
| ? | help |
| ctrl+p | command palette |
| q, ctrl+c | quit |
"""

from __future__ import annotations

import gc
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Input
from textual.worker import Worker, WorkerState, get_current_worker

from ttview.chunkview import ChunkedEventView, _PagedView
from ttview.eventview import EventId, EventView, FrameEventView
from ttview.marks import Marks
from ttview.messages import FilterApplied, FilterFailed, LiveUpdate, SearchCounted, SourcesLoaded, SqlDone
from ttview.query import Filter, QueryError, compile_filter, parse_duration, parse_time
from ttview.render import event_json, format_date, visible
from ttview.screens import preload_screens
from ttview.search import search_expr
from ttview.widgets.detail_pane import DetailPane
from ttview.widgets.key_footer import KeyFooter
from ttview.widgets.log_view import DELTA_MODES, LogView
from ttview.widgets.prompt_bar import PromptBar
from ttview.widgets.status_header import HeaderState, StatusHeader

if TYPE_CHECKING:
    from ttview.sources import Loading

__all__ = ["LiveControl", "SourceSpec", "TTViewApp", "export_format", "make_app"]

_WORKER_TASKS = {
    "load": "loading",
    "live": "the live tail",
    "filter": "the filter",
    "search": "the search",
    "export": "the export",
    "sql": "the SQL query",
}
"""Worker group → what it does, for the message when it fails."""

LIVE_INTERVAL = 0.1
"""Seconds between polls of the live rings: the newest event shown is about this old, plus the
time a poll takes (bench/bench_tui.py measures it under a producer at 500k events/s)."""

SQL_ROWS = 1_000
"""Rows of a SQL result shown in its table (the count of all of them is shown beside)."""

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"

_DELTA_NAMES = {
    "off": "delta column off",
    "previous": "delta: time since the previous event",
    "mark": "delta: time since the nearest mark above",
}


@dataclass
class SourceSpec:
    """What the app shows: snapshot ``paths``, the live rings of ``shm_dir``, or a ``frame``."""

    paths: list[str] = field(default_factory=list)
    live: bool = False
    shm_dir: str | None = None
    service: str | None = None
    max_live_events: int = 200_000
    frame: pl.DataFrame | None = None
    label: str = ""
    preload: Loading | None = None
    """The load of ``paths`` already under way (:func:`ttview.sources.start_loading`)."""
    skipped: list[str] = field(default_factory=list)
    """Lines naming the files the caller found unreadable and left out (shown as errors)."""


class LiveControl:
    """What the app hands its live worker: the filter to apply to the events, and whether the last
    update has been drawn (the worker sends no new one before; a newer one would replace it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._filter: tuple[str, Filter | None] = ("", None)
        self.drawn = threading.Event()
        """Set by the app once it has drawn an update; cleared by the worker as it sends one."""
        self.drawn.set()

    def set_filter(self, text: str, flt: Filter | None) -> None:
        with self._lock:
            self._filter = (text, flt)

    def filter(self) -> tuple[str, Filter | None]:
        """(filter text, compiled filter or None) the app last set."""
        with self._lock:
            return self._filter


def make_app(
    *,
    paths: list[str] | None = None,
    live: bool = False,
    shm_dir: str | None = None,
    service: str | None = None,
    max_live_events: int = 200_000,
    filter_text: str = "",
    preload: Loading | None = None,
    skipped: list[str] | None = None,
) -> TTViewApp:
    """The app over snapshot ``paths`` (files, directories, globs; merged by time) or, with
    ``live=True``, over the live rings in ``shm_dir`` (of ``service`` only, if given), keeping the
    newest ``max_live_events``. ``filter_text`` is applied once the events are in. ``preload``: the
    load of ``paths`` begun earlier (see :func:`ttview.sources.start_loading`). ``skipped``: lines
    naming files left out before the app started (shown in the header)."""
    spec = SourceSpec(
        paths=[str(p) for p in paths or []],
        live=live,
        shm_dir=shm_dir,
        service=service,
        max_live_events=max_live_events,
        preload=preload,
        skipped=list(skipped or []),
    )
    return TTViewApp(spec, filter_text=filter_text)


class TTViewCommands(Provider):
    """Command palette entries for the main actions."""

    COMMANDS: ClassVar[list[tuple[str, str, str]]] = [
        ("Filter…", "filter", "Filter the events (/)"),
        ("Clear filter", "clear_filter", "Show every event"),
        ("Search…", "search", "Find text in the lines (s)"),
        ("SQL…", "sql", "A SQL query over the view's events, table 'events' (;)"),
        ("Group by…", "group_by", "Counts and latency percentiles per group (b)"),
        ("Histogram", "histogram", "Latency histogram of the filtered events (h)"),
        ("Timeline", "timeline", "Events per second by level (l)"),
        ("Go to time…", "goto", "Jump to a time (t)"),
        ("Export view…", "export", "Write the filtered events to JSON, NDJSON, CSV or Parquet (ctrl+s)"),
        ("Toggle detail", "toggle_detail", "Show or hide the selected event (enter)"),
        ("Copy event as JSON", "copy_event", "Copy the selected event (c)"),
        ("Mark / unmark event", "toggle_mark", "Mark the selected event (m)"),
        ("Marks", "marks", "The marked events (M)"),
        ("Clear marks", "clear_marks", "Unmark every event (C)"),
        ("Fields…", "fields", "Show or hide fields in the log lines (f)"),
        ("Delta column", "toggle_delta", "Time since the previous event / the mark above (T)"),
        ("Word wrap", "toggle_wrap", "Wrap long lines (ctrl+w)"),
        ("Pause / resume live tail", "toggle_pause", "Stop or restart updating the view (p)"),
        ("Follow newest events", "follow", "Go to the last event and follow (G)"),
        ("Toggle dark / light theme", "toggle_theme", "Switch between the dark and the light theme (d)"),
        ("Keys", "help", "Every key (?)"),
    ]

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, TTViewApp)
        for name, action, help_text in self.COMMANDS:
            yield DiscoveryHit(name, partial(app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, TTViewApp)
        matcher = self.matcher(query)
        for name, action, help_text in self.COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(app.run_action, action), help=help_text)


class TTViewApp(App[None]):
    """The log viewer (see the module docstring for the keys)."""

    CSS_PATH = "app.tcss"
    TITLE = "ttview"
    COMMANDS = App.COMMANDS | {TTViewCommands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        # Keys that open the prompt are priority bindings: they run as soon as the app reads them,
        # so keys typed right behind them (a paste, tmux send-keys) already go to the prompt.
        # check_action turns them off while an input has the focus, so they can be typed there.
        Binding("slash", "filter", "Filter", priority=True),
        Binding("s,ctrl+f", "search", "Search", priority=True),
        Binding("semicolon", "sql", "SQL", show=False, priority=True),
        Binding("b", "group_by", "Group"),
        Binding("h", "histogram", "Histogram"),
        Binding("l", "timeline", "Timeline"),
        Binding("L", "latency", "Latency between paired events (order → fill)", show=False),
        Binding("t", "goto", "Go to time", show=False, priority=True),
        Binding("ctrl+s", "export", "Export", show=False, priority=True),
        Binding("c", "copy_event", "Copy", show=False),
        Binding("m", "toggle_mark", "Mark/unmark", show=False),
        Binding("M", "marks", "Marks", show=False),
        Binding("C", "clear_marks", "Clear marks", show=False),
        Binding("f", "fields", "Fields", show=False),
        Binding("T", "toggle_delta", "Delta column", show=False),
        Binding("ctrl+w", "toggle_wrap", "Word wrap", show=False),
        Binding("p", "toggle_pause", "Pause", show=False),
        Binding("d", "toggle_theme", "Theme", show=False),
        Binding("escape", "escape", "Close", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, spec: SourceSpec | None = None, *, filter_text: str = "") -> None:
        super().__init__()
        self.spec = spec or SourceSpec()
        self.full: EventView = FrameEventView()
        """Every event loaded (while live: the newest ``max_live_events``)."""
        self.view: EventView = FrameEventView()
        """``full`` under the current filter: what the log shows."""
        self.filter_text = ""
        self.filter: Filter | None = None
        self.initial_filter = filter_text
        self.errors: list[str] = list(self.spec.skipped)
        self.sources: list[str] = []
        self.paused = False
        self.marks = Marks()
        """The marked events (identities), in the order they were marked."""
        self.hidden: frozenset[str] = frozenset()
        """Field columns left out of the log lines."""
        self.last_export: str | None = None
        """The path of the last export that was written."""
        self.loaded = threading.Event()
        """Set once the first events (or the load errors) are in; tests wait on it."""
        self._complete = False
        """True once every event of the snapshots is in (not while live or loading)."""
        self._filter_gen = 0
        self._filter_shown = -1  # the filter generation whose results the log view shows
        self._search_gen = 0
        self._header = HeaderState()
        self._live = LiveControl()
        self._live_stash: LiveUpdate | None = None
        self._live_seen = 0
        self._dropped = 0
        self._lost = 0

    # ---- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status")
        yield LogView(id="log")
        yield DetailPane(id="detail")
        yield PromptBar(id="prompt")
        yield KeyFooter()

    @property
    def log_view(self) -> LogView:
        return self.query_one("#log", LogView)

    @property
    def prompt(self) -> PromptBar:
        return self.query_one("#prompt", PromptBar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    def on_mount(self) -> None:
        # The objects of the imports and the first layout live as long as the app: out of the
        # cyclic collector's sight, its full collections (which stall the UI for 100+ ms while a
        # live tail allocates) have far less to walk.
        gc.freeze()
        self.log_view.focus()
        preload_screens(self, self.loaded)  # the other screens' modules, once the events are drawn
        spec = self.spec
        if spec.frame is not None:
            self.sources = [spec.label or "events"]
            self.post_message(SourcesLoaded(spec.frame, self.sources, []))
        elif spec.live:
            self.sources = [
                f"live: {spec.shm_dir or '/dev/shm'}" + (f" ({spec.service})" if spec.service else "")
            ]
            self._set_header(mode="live", sources=tuple(self.sources))
            self.log_view.follow = True
            self.loaded.set()
            if self.initial_filter:
                self._apply_initial_filter()
            self._follow_live(spec.shm_dir, spec.service, spec.max_live_events, self._live)
        else:
            self._set_header(mode="loading", errors=tuple(self.errors))
            self._load_snapshots(list(spec.paths), spec.preload)
            spec.preload = None

    _EVERYWHERE: ClassVar[frozenset[str]] = frozenset({"help", "quit", "toggle_theme", "command_palette"})
    _PROMPTS: ClassVar[frozenset[str]] = frozenset({"filter", "search", "goto", "export", "sql"})
    _LOG_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        [b.action for b in BINDINGS if isinstance(b, Binding)] + [a for _, a, _ in TTViewCommands.COMMANDS]
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The log screen's actions only run (and only show in the footer) on the log screen; the
        prompt keys do nothing while an input has the focus (they are typed into it). Textual's
        own actions (tab: focus_next, ...) are never held back."""
        if action in self._EVERYWHERE or action not in self._LOG_ACTIONS:
            return True
        if self.screen is not self.screen_stack[0]:
            return False
        if action in self._PROMPTS and isinstance(self.focused, Input):
            return False  # the key goes to the input
        return True

    # ---- header -------------------------------------------------------------------------------

    def _set_header(self, **changes: Any) -> None:
        self._header = self._header.with_changes(**changes)
        self.query_one("#status", StatusHeader).state = self._header

    def _counts_changed(self) -> None:
        self._note_bad_files()
        self._set_header(
            total=self.full.height,
            shown=self.view.height,
            filter_text=self.filter_text,
            dropped=self._dropped,
            lost=self._lost,
            errors=tuple(self.errors),
            marks=len(self.marks),
            hidden=tuple(sorted(self.hidden)),
        )

    # ---- loading snapshots --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_snapshots(self, paths: list[str], loading: Loading | None) -> None:
        from ttview.sources import start_loading

        if loading is None:
            loading = start_loading(paths)
        newest = loading.newest.result()
        if newest is not None:  # the first screen, while the rest is decoded
            names = [p.name for p in newest.files]
            self.post_message(SourcesLoaded(newest.frame, names, [], total=newest.total))
        result = loading.full.result()
        files = [p.name for p in result.files]
        self.post_message(
            SourcesLoaded(
                None if result.view is not None else result.frame,
                files,
                [f"skipped {e.message}" for e in result.errors],
                dropped=result.dropped,
                lost=result.lost,
                view=result.view,
            )
        )
        if result.view is not None:
            # learn every segment's size now, for paging anywhere: oldest first, since the rows on
            # screen learn the newest sizes on demand and a filter learns them from the newest end
            worker = get_current_worker()
            breaks = result.view.catalog.breaks
            result.view.seg.index_all(newest_first=False, cancelled=lambda: worker.is_cancelled)
            if result.view.catalog.breaks != breaks:  # a file turned out bad: its rows are fewer
                self.post_message(LogView.Shrank(self.log_view))

    def on_sources_loaded(self, message: SourcesLoaded) -> None:
        log = self.log_view
        if message.total is not None:  # the newest events: shown until all are in
            if self.loaded.is_set():
                return
            self.full = self.view = FrameEventView(message.frame)
            self.sources = message.files or self.sources
            log.follow = False
            log.set_view(self.view, cursor=max(0, message.frame.height - 1))
            self._set_header(mode="loading", sources=tuple(self.sources), total=message.total,
                             shown=message.frame.height, busy="decoding the older events…")
            return
        # the first screen's cursor stays on its event (rows counted from the end)
        from_end = log.row_count - log.cursor if log.row_count else 1
        self.full = self.view = message.view if message.view is not None else FrameEventView(message.frame)
        self.sources = message.files or self.sources
        self.errors = [*self.spec.skipped, *message.errors]
        self._dropped, self._lost = message.dropped, message.lost
        for error in [*self.spec.skipped, *message.errors]:
            self.notify(
                visible(error, limit=300), title="cannot load", severity="error", markup=False, timeout=10
            )
        if not message.files and message.errors:
            self.sources = ["no snapshot loaded"]
        log.follow = False
        log.set_view(self.view, cursor=max(0, self.view.height - max(1, from_end)))
        self._set_header(mode="snapshot", sources=tuple(self.sources), busy="")
        self._counts_changed()
        self._complete = not self.spec.live
        self.loaded.set()
        if self.initial_filter:
            self._apply_initial_filter()
        elif self.filter_text:  # typed while the events were loading: now over all of them
            self.apply_filter(self.filter_text)
        elif log.search_term:
            self._count_search(log.search_term)

    def _apply_initial_filter(self) -> None:
        """The filter given on the command line (``-f``): applied, and any error or warning shown
        in the open prompt, so a mistyped field is not a silently empty view."""
        text, self.initial_filter = self.initial_filter, ""
        self.prompt.histories["filter"].append(text)
        if self.apply_filter(text) and self.filter is not None and self.filter.warnings:
            self.prompt.open("filter", text)
            self.prompt.show_message(Text("; ".join(visible(w) for w in self.filter.warnings)), "warning")

    # ---- live tail ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="live", exit_on_error=False)
    def _follow_live(
        self, shm_dir: str | None, service: str | None, max_events: int, control: LiveControl
    ) -> None:
        from ttview.livetail import LiveTail

        worker = get_current_worker()
        tail = LiveTail(shm_dir, max_events=max_events, service=service)
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                if tail.poll() and control.drawn.is_set():
                    text, flt = control.filter()
                    control.drawn.clear()
                    self.post_message(LiveUpdate(tail.state(flt), text))
                worker.cancelled_event.wait(max(0.0, LIVE_INTERVAL - (time.monotonic() - started)))
        finally:
            tail.close()

    def on_live_update(self, message: LiveUpdate) -> None:
        if self.paused:
            self._live_stash = message
            self._set_header(pending=message.state.received - self._live_seen)
            self._live.drawn.set()
            return
        self._apply_live(message)
        self._live.drawn.set()

    def _apply_live(self, message: LiveUpdate) -> None:
        state = message.state
        self._live_seen = state.received
        self.full = state.full
        self._dropped, self._lost = state.dropped, state.lost
        new_errors = [e for e in state.errors if e not in self.errors]
        for error in new_errors:
            self.notify(visible(error, limit=300), title="ring", severity="error", markup=False)
        self.errors.extend(new_errors)
        self._set_header(
            mode="ended" if state.rings and state.ended == state.rings else "live",
            rings=state.rings,
            ended=state.ended,
            end_reasons=state.end_reasons,
            received=state.received,
            no_sidecar=state.no_sidecar,
        )
        if message.filter_text != self.filter_text:
            self.apply_filter(self.filter_text, quiet=True)
            return
        appended = self._newer_rows(state.view)
        self._show_view(state.view, appended=appended, keep_event=not self.log_view.follow)
        self.loaded.set()

    def _newer_rows(self, view: EventView) -> int:
        """Rows of ``view`` newer than the newest row shown now (the live "N new" count)."""
        log = self.log_view
        last = log.row_ts(log.row_count - 1)
        return view.height if last is None else view.rows_after(last)

    def action_toggle_pause(self) -> None:
        if not self.spec.live:
            self.notify("pause is for a live tail", severity="warning")
            return
        self.paused = not self.paused
        self._set_header(mode="paused" if self.paused else "live", pending=0)
        if not self.paused and self._live_stash is not None:
            stash, self._live_stash = self._live_stash, None
            self._apply_live(stash)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed says so (one line), and the app goes on."""
        if event.state != WorkerState.ERROR or event.worker.group not in _WORKER_TASKS:
            return
        error = event.worker.error
        what = _WORKER_TASKS[event.worker.group]
        line = visible(f"{type(error).__name__}: {error}" if error is not None else "failed", limit=300)
        self.notify(line, title=f"{what} failed", severity="error", markup=False, timeout=10)
        self.errors.append(f"{what}: {line}")
        self._set_header(busy="", errors=tuple(self.errors))
        if event.worker.group == "load":
            self.post_message(SourcesLoaded(pl.DataFrame(), [], [f"{what}: {line}"]))

    # ---- showing a view -----------------------------------------------------------------------

    def _show_view(self, view: EventView, *, appended: int = 0, keep_event: bool = True,
                   growing: bool = False) -> None:
        log = self.log_view
        cursor = None
        if growing and log.row_count and not log.follow:
            # the rows added are older than every row shown: the cursor's event moved down by them
            cursor = log.cursor + view.height - log.view.height
        elif keep_event and log.row_count and view.height and not log.follow:
            event = log.view.identity(log.cursor)
            cursor = view.locate(*event) if event is not None else None
        self.view = view
        log.set_view(view, cursor=cursor, appended=appended, growing=growing)
        log.set_marks(self.marks.rows_in(view))
        self._counts_changed()
        if log.search_term:
            self._count_search(log.search_term)
        if self.detail.is_open:
            self._show_detail(log.cursor)

    def on_log_view_shrank(self, message: LogView.Shrank) -> None:
        """A file turned out bad while its rows were read: name it, and show the smaller view (a
        filter's result is computed again, its matches may name rows no longer there)."""
        self._note_bad_files()
        if getattr(self.view, "stale", False):
            self.apply_filter(self.filter_text, quiet=True)
        else:
            self._show_view(self.view)

    def _note_bad_files(self) -> None:
        catalog = getattr(getattr(self.full, "seg", None), "catalog", None)
        for error in catalog.errors if catalog is not None else []:
            line = f"skipped {error.message}"
            if line not in self.errors:
                self.errors.append(line)
                self.notify(visible(line, limit=300), title="cannot load", severity="error", markup=False,
                            timeout=10)

    # ---- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.prompt.open("filter", self.filter_text)

    def action_clear_filter(self) -> None:
        self.apply_filter("")

    def _compile(self, text: str) -> Filter:
        """``text`` compiled against the events: a field they lack is an error once every event of
        the snapshots is in, a warning while fields may still appear (live, or loading)."""
        schema = self.full.schema if self.full.width else None
        return compile_filter(
            text, schema, unknown="error" if self._complete else "warn", marks=self.marks.events
        )

    def apply_filter(self, text: str, *, quiet: bool = False) -> bool:
        """Compile ``text`` and run it over the events in a worker; a bad filter shows its error
        with a caret under the prompt and changes nothing. Returns False for a bad filter."""
        text = text.strip()
        try:
            flt = self._compile(text)
        except QueryError as exc:
            if not quiet:
                if not self.prompt.is_open:
                    self.prompt.open("filter", text)
                self.prompt.show_message(Text(exc.caret(text), no_wrap=True), "error")
            return False
        self._filter_gen += 1
        self.filter_text = text
        self.filter = None if flt.keeps_all else flt
        self._live.set_filter(text, self.filter)
        if flt.warnings and not quiet:
            self.prompt.show_message(Text("; ".join(visible(w) for w in flt.warnings)), "warning")
        self._set_header(busy="filtering…")
        self._run_filter(self.full, self.filter, text, self._filter_gen, flt.warnings)
        return True

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _run_filter(
        self, full: EventView, flt: Filter | None, text: str, generation: int, warnings: tuple[str, ...]
    ) -> None:
        worker = get_current_worker()

        def partial(view: EventView, done: int, parts: int) -> None:  # a paged filter's matches so far
            if done < parts and not worker.is_cancelled:
                self.post_message(FilterApplied(text, view, generation, warnings, progress=(done, parts)))

        try:
            if isinstance(full, ChunkedEventView):
                view = full.where(flt, progress=partial, cancelled=lambda: worker.is_cancelled)
            else:
                view = full.where(flt)
        except (pl.exceptions.PolarsError, QueryError) as exc:
            self.post_message(
                FilterFailed(text, str(exc).splitlines()[0] if str(exc) else repr(exc), generation)
            )
            return
        if not get_current_worker().is_cancelled:
            self.post_message(FilterApplied(text, view, generation, warnings))

    def on_filter_applied(self, message: FilterApplied) -> None:
        if message.generation != self._filter_gen:
            return
        if message.progress is not None:
            done, parts = message.progress
            self._set_header(busy=f"filtering… {done * 100 // max(1, parts)}%, newest first")
        elif getattr(message.view, "stale", False):  # a file turned out bad while it ran: again
            self._note_bad_files()
            self.apply_filter(message.text, quiet=True)
            return
        else:
            self._set_header(busy="")
        # a running filter's results only grow older rows: the same filter's first result set
        # the column widths
        self._show_view(message.view, growing=self._filter_shown == message.generation)
        self._filter_shown = message.generation

    def on_filter_failed(self, message: FilterFailed) -> None:
        if message.generation != self._filter_gen:
            return
        self._set_header(busy="")
        self.prompt.show_message(Text(visible(message.error, limit=300)), "error")
        self.notify(visible(message.error, limit=300), title="filter failed", severity="error", markup=False)

    # ---- prompt -------------------------------------------------------------------------------

    @on(PromptBar.Submitted)
    def _prompt_submitted(self, event: PromptBar.Submitted) -> None:
        bar = self.prompt
        value = event.value
        if event.mode == "filter":
            if self.apply_filter(value):
                bar.input.remember(value)
                if self.filter is None or not self.filter.warnings:
                    self._close_prompt()
        elif event.mode == "search":
            bar.input.remember(value)
            self.set_search(value)
            self._close_prompt()
        elif event.mode == "goto":
            try:
                ts_ns = self._parse_goto(value)
            except ValueError as exc:
                bar.show_message(Text(visible(str(exc), limit=300)), "error")
                return
            bar.input.remember(value)
            self._close_prompt()
            self.jump_to_time(ts_ns)
        elif event.mode == "export":
            path = value.strip()
            problem = export_problem(path)
            if problem:
                bar.show_message(Text(problem), "error")
                return
            bar.input.remember(path)
            self._close_prompt()
            self._export(self.view, path, export_format(path) or "ndjson")
        elif event.mode == "sql":
            query = value.strip()
            if not query:
                example = "e.g. SELECT logger, count(*) FROM events GROUP BY 1"
                bar.show_message(Text(f"give a query, {example}"), "error")
                return
            bar.input.remember(query)
            bar.show_message(Text("running…"), "info")
            self._run_sql(self.view, query)

    @on(PromptBar.Changed)
    def _prompt_changed(self, event: PromptBar.Changed) -> None:
        if event.mode != "filter":
            return
        text = event.value
        try:
            flt = self._compile(text)
        except QueryError as exc:
            self.prompt.show_message(Text(exc.caret(text), no_wrap=True), "error")
            return
        if flt.warnings:
            self.prompt.show_message(Text("; ".join(visible(w) for w in flt.warnings)), "warning")
        else:
            self.prompt.show_message(None)

    @on(PromptBar.Closed)
    def _prompt_closed(self, event: PromptBar.Closed) -> None:
        self.screen.set_focus(self.log_view)

    def _close_prompt(self) -> None:
        self.prompt.close()
        self.screen.set_focus(self.log_view)  # at once, so the next queued key reaches the log

    # ---- search -------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.prompt.open("search", self.log_view.search_term)

    def set_search(self, term: str) -> None:
        """Highlight ``term`` in the lines and count the rows holding it (in a worker); n / N go
        from match to match."""
        log = self.log_view
        log.set_search(term)
        self._set_header(search=term, search_hits=None)
        if term:
            self._count_search(term)

    def _count_search(self, term: str) -> None:
        self._search_gen += 1
        self._count_matches(self.view, term, self._search_gen)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _count_matches(self, view: EventView, term: str, generation: int) -> None:
        count = view.count(search_expr(view.schema, term)) if view.width else 0
        self.post_message(SearchCounted(term, generation, count))

    def on_search_counted(self, message: SearchCounted) -> None:
        if message.generation == self._search_gen:
            self._set_header(search_hits=message.count)

    @on(LogView.Jumped)
    def _jumped(self, event: LogView.Jumped) -> None:
        where = "above" if event.backward else "below"
        if not event.found:
            if event.what == "search match" and not self.log_view.search_term:
                self.notify("no search: s to search", severity="warning", timeout=2)
            elif event.what == "mark" and not self.marks:
                self.notify("no marks: m marks the event under the cursor", severity="warning", timeout=2)
            elif event.what == "search match":
                self.notify("no match", severity="warning", timeout=2)
            else:
                self.notify(f"no {event.what} {where}", severity="warning", timeout=2)
        elif event.wrapped:
            self.notify(f"search wrapped to the {'bottom' if event.backward else 'top'}", timeout=2)

    # ---- marks --------------------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        log = self.log_view
        event = log.view.identity(log.cursor)
        if event is None:
            self.notify("no event selected", severity="warning", timeout=2)
            return
        self.marks.toggle(event)
        self._marks_changed()

    def action_clear_marks(self) -> None:
        if self.marks:
            self.marks.clear()
            self._marks_changed()
            self.notify("marks cleared", timeout=2)

    def unmark(self, event: EventId) -> None:
        """Remove the mark of ``event`` (if marked)."""
        if self.marks.discard(event):
            self._marks_changed()

    def _marks_changed(self) -> None:
        self.log_view.set_marks(self.marks.rows_in(self.view))
        self._counts_changed()
        if self.filter is not None and self.filter.uses_marks:
            self.apply_filter(self.filter_text, quiet=True)

    def action_marks(self) -> None:
        from ttview.screens.marks import MarksScreen

        self.push_screen(MarksScreen(self.full, list(self.marks.events), self.view), self._mark_chosen)

    def _mark_chosen(self, event: EventId | None) -> None:
        if event is None:
            return
        row = self.view.row_of(event)
        if row is None:
            self.notify("that event is not in the filtered view", severity="warning", timeout=3)
            return
        self.log_view.move_to(row)

    # ---- fields, delta, wrap ------------------------------------------------------------------

    def set_hidden(self, hidden: frozenset[str]) -> None:
        """Leave the field columns ``hidden`` out of the log lines (the detail still lists them)."""
        self.hidden = frozenset(hidden)
        self.log_view.set_hidden(self.hidden)
        self._counts_changed()
        if self.detail.is_open:
            self._show_detail(self.log_view.cursor)

    @on(DetailPane.FieldToggled)
    def _field_toggled(self, event: DetailPane.FieldToggled) -> None:
        self.set_hidden(self.hidden ^ {event.name})

    def action_fields(self) -> None:
        from ttview.screens.fields import FieldsScreen

        self.push_screen(FieldsScreen(self.full.schema, self.hidden), self._fields_chosen)

    def _fields_chosen(self, hidden: frozenset[str] | None) -> None:
        if hidden is not None:
            self.set_hidden(hidden)

    def action_toggle_delta(self) -> None:
        log = self.log_view
        mode = DELTA_MODES[(DELTA_MODES.index(log.delta) + 1) % len(DELTA_MODES)]
        log.delta = mode
        if mode == "mark" and not self.marks:
            self.notify(_DELTA_NAMES[mode] + " (no marks yet: m marks an event)", timeout=3)
        else:
            self.notify(_DELTA_NAMES[mode], timeout=2)

    def action_toggle_wrap(self) -> None:
        log = self.log_view
        log.wrap = not log.wrap
        self.notify("word wrap on" if log.wrap else "word wrap off", timeout=2)

    # ---- cursor, detail, copy -----------------------------------------------------------------

    @on(LogView.CursorMoved)
    def _cursor_moved(self, event: LogView.CursorMoved) -> None:
        # The message may be older than the view the log shows now: read the cursor itself.
        log = self.log_view
        ts = log.row_ts(log.cursor) if log.row_count else None
        self._set_header(date=format_date(ts) if ts is not None else "", pending=log.pending)
        if self.detail.is_open:
            self._show_detail(log.cursor if log.row_count else -1)

    @on(LogView.Selected)
    def _selected(self, event: LogView.Selected) -> None:
        self.action_toggle_detail()

    def action_toggle_detail(self) -> None:
        detail = self.detail
        if detail.is_open:
            detail.remove_class("-open")
            if self.focused is detail:
                self.screen.set_focus(self.log_view)
        else:
            detail.add_class("-open")
            self._show_detail(self.log_view.cursor)
        self.call_after_refresh(self.log_view.scroll_to_cursor)

    def _show_detail(self, row: int) -> None:
        view = self.log_view.view
        event = view.rows(row, row + 1) if 0 <= row < view.height else None
        self.detail.show_event(event, hidden=self.hidden)

    def action_copy_event(self) -> None:
        log = self.log_view
        if not log.row_count:
            self.notify("no event selected", severity="warning")
            return
        self.copy_to_clipboard(event_json(log.view.rows(log.cursor, log.cursor + 1)))
        self.notify("event copied to the clipboard as JSON", timeout=2)

    def action_escape(self) -> None:
        if self.prompt.is_open:
            self.prompt.action_close()
        elif self.detail.is_open:
            self.action_toggle_detail()
        elif self.log_view.search_term:
            self.set_search("")

    def action_follow(self) -> None:
        self.log_view.action_last()

    # ---- time ---------------------------------------------------------------------------------

    def action_goto(self) -> None:
        self.prompt.open("goto")

    def _parse_goto(self, text: str) -> int:
        text = text.strip()
        log = self.log_view
        if not text:
            raise ValueError("give a time, like 14:30:05 or +5s")
        base = log.row_ts(log.cursor) if log.row_count else None
        if text[0] in "+-":
            if base is None:
                raise ValueError("no events to move from")
            step = parse_duration(text[1:])
            return base + step if text[0] == "+" else base - step
        if re.match(r"\d{4}-\d{2}-\d{2}", text):
            return parse_time(text)
        if base is None:
            raise ValueError("no events: give a date too")
        return parse_time(f"{format_date(base)}T{text}")

    def jump_to_time(self, ts_ns: int) -> None:
        """Put the cursor on the first event of the view at or after ``ts_ns``."""
        if self.view.height:
            self.log_view.move_to(self.view.row_at_time(ts_ns))

    # ---- screens ------------------------------------------------------------------------------

    def _events_ready(self) -> bool:
        if not self.loaded.is_set():
            self.notify("still loading the events", severity="warning", timeout=2)
            return False
        return True

    def action_group_by(self) -> None:
        from ttview.screens.group_by import GroupByScreen

        if not self._events_ready():
            return
        self.push_screen(GroupByScreen(self.view, filter_text=self.filter_text), self._group_chosen)

    def _group_chosen(self, condition: str | None) -> None:
        if not condition:
            return
        text = f"({self.filter_text}) and {condition}" if self.filter_text else condition
        self.prompt.histories["filter"].append(text)
        self.apply_filter(text)

    def action_histogram(self) -> None:
        from ttview.screens.histogram import HistogramScreen

        if not self._events_ready():
            return
        self.push_screen(HistogramScreen(self.view, filter_text=self.filter_text))

    def action_timeline(self) -> None:
        from ttview.screens.timeline import TimelineScreen

        if not self._events_ready():
            return
        log = self.log_view
        cursor_ts = log.row_ts(log.cursor) if log.row_count else None
        self.push_screen(
            TimelineScreen(self.view, filter_text=self.filter_text, cursor_ts=cursor_ts),
            self._timeline_chosen,
        )

    def _timeline_chosen(self, ts_ns: int | None) -> None:
        if ts_ns is not None:
            self.jump_to_time(ts_ns)

    def action_latency(self) -> None:
        from ttview.screens.latency import LatencyScreen, show_pairs

        if not self._events_ready():
            return
        self.push_screen(LatencyScreen(self.view, filter_text=self.filter_text), partial(show_pairs, self))

    def action_help(self) -> None:
        from ttview.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME

    # ---- SQL ----------------------------------------------------------------------------------

    def action_sql(self) -> None:
        if not self._events_ready():
            return
        self.prompt.open("sql")

    @work(thread=True, exclusive=True, group="sql", exit_on_error=False)
    def _run_sql(self, view: EventView, query: str) -> None:
        from ttview.sqlquery import SqlError, run_sql

        try:
            head, total = run_sql(view.lazy(), query, rows=SQL_ROWS)
        except SqlError as exc:
            self.post_message(SqlDone(query, None, error=str(exc)))
            return
        self.post_message(SqlDone(query, head, total))

    def on_sql_done(self, message: SqlDone) -> None:
        from ttview.screens.sql import SqlScreen

        bar = self.prompt
        if message.head is None:
            if bar.is_open and bar.mode == "sql":  # one line, cut to the width
                line = visible(message.error, limit=None)
                room = max(20, self.size.width - 3)
                bar.show_message(Text(line if len(line) <= room else line[: room - 1] + "…"))
            return
        if bar.is_open and bar.mode == "sql":
            self._close_prompt()
        self.push_screen(SqlScreen(message.query, message.head, message.total, self.view))

    # ---- export -------------------------------------------------------------------------------

    def action_export(self) -> None:
        self.prompt.open("export")

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, view: EventView, path: str, fmt: str) -> None:
        from ttview.export import write_export

        self.call_from_thread(self._set_header, busy=f"exporting {view.height:,} events…")
        try:
            source = view.lazy() if isinstance(view, _PagedView) else view.lazy().collect()
            count = write_export(source, path, fmt=fmt, total=view.height)
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            self.call_from_thread(self._export_done, None, visible(str(exc), limit=300))
            return
        line = visible(f"wrote {count:,} events to {path}", limit=300)
        self.call_from_thread(self._export_done, path, line)

    def _export_done(self, path: str | None, line: str) -> None:
        self._set_header(busy="")
        if path is None:
            self.notify(line, title="export failed", severity="error", markup=False)
            return
        self.last_export = path
        self.notify(line, title="export", markup=False)


EXPORT_SUFFIXES = {
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".csv": "csv",
    ".parquet": "parquet",
}
"""File name ending → export format."""


def export_format(path: str) -> str | None:
    """The export format a file name asks for (``.json``, ``.ndjson``/``.jsonl``, ``.csv``,
    ``.parquet``), or None."""
    return EXPORT_SUFFIXES.get(Path(path).suffix.lower())


def export_problem(path: str) -> str:
    """Why ``path`` cannot be an export's file name (empty if it can)."""
    if not path:
        return "give a file path, e.g. events.ndjson"
    if export_format(path) is None:
        return "the file name must end .json, .ndjson, .csv or .parquet"
    return ""


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m ttview.app [PATH...]``: open snapshots, or follow the live rings when none."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0])
        return 0
    if args:
        from ttview.sources import start_loading

        app = make_app(paths=args, preload=start_loading(args))
    else:
        app = make_app(live=True)
    app.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
