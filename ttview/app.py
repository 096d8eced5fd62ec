"""The ttview terminal app: open snapshots or follow live rings; filter, search, group, chart.

    make_app(paths=["snaps/"]).run()          # what `ttview open` does
    make_app(live=True, shm_dir="/dev/shm").run()
    python -m ttview.app PATH...              # the same, without the CLI (tests drive it in tmux)

The app holds two frames: ``full`` (every event loaded, or the newest ``max_live_events`` while
live) and ``view`` (``full`` under the current filter). Loading, filtering, searching, live
polling and exporting run in thread workers and report back with messages
(:mod:`ttview.messages`); the UI thread only draws the rows on screen.

| Key | Action |
|---|---|
| / | filter (the language of docs/FILTER.md; up/down: history) |
| s, ctrl+f | search text; n / N next / previous |
| enter | detail of the event (c copies it as JSON) |
| b | group by |
| h | latency histogram |
| l | timeline |
| t | go to a time |
| e | export the view (by the file name: .json, .ndjson, .csv, .parquet; via ttview.export) |
| p | pause / resume the live tail |
| g / G, home / end | first / last event (G follows) |
| d | dark / light theme |
| ? | help |
| ctrl+p | command palette |
| q | quit |
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

import numpy as np
import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Input
from textual.worker import Worker, WorkerState, get_current_worker

from ttview.messages import FilterApplied, FilterFailed, LiveUpdate, SearchResult, SourcesLoaded
from ttview.query import Filter, QueryError, compile_filter, parse_duration, parse_time
from ttview.render import event_json, format_date, visible
from ttview.screens import preload_screens
from ttview.widgets.detail_pane import DetailPane
from ttview.widgets.key_footer import KeyFooter
from ttview.widgets.log_view import LogView, search_expr
from ttview.widgets.prompt_bar import PromptBar
from ttview.widgets.status_header import HeaderState, StatusHeader

if TYPE_CHECKING:
    from ttview.sources import Loading

__all__ = ["SourceSpec", "TTViewApp", "make_app"]

_WORKER_TASKS = {
    "load": "loading",
    "live": "the live tail",
    "filter": "the filter",
    "search": "the search",
    "export": "the export",
}
"""Worker group → what it does, for the message when it fails."""

LIVE_INTERVAL = 0.1
"""Seconds between polls of the live rings: the newest event shown is about this old, plus the
time a poll takes (bench/bench_tui.py measures it under a producer at 500k events/s)."""

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"


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


def make_app(
    *,
    paths: list[str] | None = None,
    live: bool = False,
    shm_dir: str | None = None,
    service: str | None = None,
    max_live_events: int = 200_000,
    filter_text: str = "",
    preload: Loading | None = None,
) -> TTViewApp:
    """The app over snapshot ``paths`` (files, directories, globs; merged by time) or, with
    ``live=True``, over the live rings in ``shm_dir`` (of ``service`` only, if given), keeping the
    newest ``max_live_events``. ``filter_text`` is applied once the events are in. ``preload``: the
    load of ``paths`` begun earlier (see :func:`ttview.sources.start_loading`)."""
    spec = SourceSpec(
        paths=[str(p) for p in paths or []],
        live=live,
        shm_dir=shm_dir,
        service=service,
        max_live_events=max_live_events,
        preload=preload,
    )
    return TTViewApp(spec, filter_text=filter_text)


class TTViewCommands(Provider):
    """Command palette entries for the main actions."""

    COMMANDS: ClassVar[list[tuple[str, str, str]]] = [
        ("Filter…", "filter", "Filter the events (/)"),
        ("Clear filter", "clear_filter", "Show every event"),
        ("Search…", "search", "Find text in the lines (s)"),
        ("Group by…", "group_by", "Counts and latency percentiles per group (b)"),
        ("Histogram", "histogram", "Latency histogram of the filtered events (h)"),
        ("Timeline", "timeline", "Events per second by level (l)"),
        ("Go to time…", "goto", "Jump to a time (t)"),
        ("Export view…", "export", "Write the filtered events to JSON or NDJSON (e)"),
        ("Toggle detail", "toggle_detail", "Show or hide the selected event (enter)"),
        ("Copy event as JSON", "copy_event", "Copy the selected event (c)"),
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
        Binding("b", "group_by", "Group"),
        Binding("h", "histogram", "Histogram"),
        Binding("l", "timeline", "Timeline"),
        Binding("L", "latency", "Latency between paired events (order → fill)", show=False),
        Binding("t", "goto", "Go to time", show=False, priority=True),
        Binding("e", "export", "Export", show=False, priority=True),
        Binding("c", "copy_event", "Copy", show=False),
        Binding("p", "toggle_pause", "Pause", show=False),
        Binding("d", "toggle_theme", "Theme", show=False),
        Binding("escape", "escape", "Close", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, spec: SourceSpec | None = None, *, filter_text: str = "") -> None:
        super().__init__()
        self.spec = spec or SourceSpec()
        self.full: pl.DataFrame = pl.DataFrame()
        """Every event loaded (while live: the newest ``max_live_events``)."""
        self.view: pl.DataFrame = pl.DataFrame()
        """``full`` under the current filter: what the log shows."""
        self.filter_text = ""
        self.filter: Filter | None = None
        self.initial_filter = filter_text
        self.errors: list[str] = []
        self.sources: list[str] = []
        self.paused = False
        self.loaded = threading.Event()
        """Set once the first events (or the load errors) are in; tests wait on it."""
        self._filter_gen = 0
        self._search_gen = 0
        self._header = HeaderState()
        self._live_busy = False
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
            self.full = self.view = pl.DataFrame()
            self._set_header(mode="live", sources=tuple(self.sources))
            self.log_view.follow = True
            self.loaded.set()
            if self.initial_filter:
                self.prompt.histories["filter"].append(self.initial_filter)
                self.apply_filter(self.initial_filter)
            self._follow_live()
        else:
            self._set_header(mode="loading")
            self._load_snapshots(list(spec.paths))

    _EVERYWHERE: ClassVar[frozenset[str]] = frozenset({"help", "quit", "toggle_theme", "command_palette"})
    _PROMPTS: ClassVar[frozenset[str]] = frozenset({"filter", "search", "goto", "export"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The log screen's actions only run (and only show in the footer) on the log screen; the
        prompt keys do nothing while an input has the focus (they are typed into it)."""
        if action in self._EVERYWHERE:
            return True
        if self.screen is not self.screen_stack[0]:
            return False
        if action in self._PROMPTS and isinstance(self.focused, Input):
            return False  # the key goes to the input
        return True

    # ---- header -------------------------------------------------------------------------------

    def _set_header(self, **changes: Any) -> None:
        self._header = self._header.but(**changes)
        self.query_one("#status", StatusHeader).state = self._header

    def _counts_changed(self) -> None:
        self._set_header(
            total=self.full.height,
            shown=self.view.height,
            filter_text=self.filter_text,
            dropped=self._dropped,
            lost=self._lost,
            errors=tuple(self.errors),
        )

    # ---- loading snapshots --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_snapshots(self, paths: list[str]) -> None:
        from ttview.sources import start_loading

        loading, self.spec.preload = self.spec.preload, None
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
                result.frame,
                files,
                [e.message for e in result.errors],
                dropped=result.dropped,
                lost=result.lost,
            )
        )

    def on_sources_loaded(self, message: SourcesLoaded) -> None:
        log = self.log_view
        if message.total is not None:  # the newest events: shown until all are in
            if self.loaded.is_set():
                return
            self.full = self.view = message.frame
            self.sources = message.files or self.sources
            log.follow = False
            log.set_frame(message.frame, cursor=max(0, message.frame.height - 1))
            self._set_header(mode="loading", sources=tuple(self.sources), total=message.total,
                             shown=message.frame.height, busy="decoding the older events…")
            return
        # the first screen's cursor stays on its event (rows counted from the end)
        from_end = log.row_count - log.cursor if log.row_count else 1
        self.full = message.frame
        self.view = message.frame
        self.sources = message.files or self.sources
        self.errors = list(message.errors)
        self._dropped, self._lost = message.dropped, message.lost
        for error in message.errors:
            self.notify(
                visible(error, limit=300), title="cannot load", severity="error", markup=False, timeout=10
            )
        if not message.files and message.errors:
            self.sources = ["no snapshot loaded"]
        log.follow = False
        log.set_frame(self.view, cursor=max(0, self.view.height - max(1, from_end)))
        self._set_header(mode="snapshot", sources=tuple(self.sources), busy="")
        self._counts_changed()
        self.loaded.set()
        if self.initial_filter:
            self.prompt.histories["filter"].append(self.initial_filter)
            self.apply_filter(self.initial_filter)
        elif self.filter_text:  # typed while the events were loading: now over all of them
            self.apply_filter(self.filter_text, quiet=True)
        elif log.search_term:
            self._run_search(log.search_term)

    # ---- live tail ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="live", exit_on_error=False)
    def _follow_live(self) -> None:
        from ttview.sources import LiveSource

        worker = get_current_worker()
        spec = self.spec
        received = 0
        changed = True
        rings = (0, 0)
        live = LiveSource(spec.shm_dir, max_events=spec.max_live_events, service=spec.service)
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                new = live.poll()
                if new.height:
                    received += new.height
                    changed = changed or bool(new.height)
                if (len(live.rings), len(live.ended)) != rings:  # a ring appeared or ended
                    rings = (len(live.rings), len(live.ended))
                    changed = True
                if changed and not self._live_busy:
                    full = live.frame
                    text, flt = self.filter_text, self.filter
                    view = full
                    if flt is not None and full.height:
                        try:
                            view = full.filter(flt.bind(full.schema).expr)
                        except pl.exceptions.PolarsError:
                            view = full
                    infos = [s.info for s in live.rings.values() if s.info is not None]
                    self._live_busy = True
                    self.post_message(
                        LiveUpdate(
                            full,
                            view,
                            text,
                            received,
                            rings=len(live.rings),
                            ended=len(live.ended),
                            dropped=sum(i.dropped for i in infos),
                            lost=0,
                            errors=[f"{s.path.name}: {s.error}" for s in live.rings.values() if s.error],
                        )
                    )
                    changed = False
                worker.cancelled_event.wait(max(0.0, LIVE_INTERVAL - (time.monotonic() - started)))
        finally:
            live.close()

    def on_live_update(self, message: LiveUpdate) -> None:
        self._live_busy = False
        if self.paused:
            self._live_stash = message
            self._set_header(pending=message.received - self._live_seen)
            return
        self._apply_live(message)

    def _apply_live(self, message: LiveUpdate) -> None:
        self._live_seen = message.received
        self.full = message.full
        self._dropped, self._lost = message.dropped, message.lost
        new_errors = [e for e in message.errors if e not in self.errors]
        for error in new_errors:
            self.notify(visible(error, limit=300), title="ring", severity="error", markup=False)
        self.errors.extend(new_errors)
        mode = "ended" if message.rings and message.ended == message.rings else "live"
        self._set_header(mode=mode, rings=message.rings, ended=message.ended)
        if message.filter_text != self.filter_text:
            self.apply_filter(self.filter_text, quiet=True)
            return
        self._show_view(
            message.view, appended=self._newer_rows(message.view), keep_event=not self.log_view.follow
        )
        self.loaded.set()

    def _newer_rows(self, view: pl.DataFrame) -> int:
        """Rows of ``view`` newer than the newest row shown now (the live "N new" count)."""
        old = self.log_view.frame
        if not old.height or "ts" not in old.columns:
            return view.height
        last = old.select(pl.col("ts").dt.epoch("ns").max()).item()
        ts_values = view.get_column("ts").dt.epoch("ns").to_numpy()
        return int(view.height - np.searchsorted(ts_values, last, side="right"))

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

    def _show_view(self, view: pl.DataFrame, *, appended: int = 0, keep_event: bool = True) -> None:
        log = self.log_view
        cursor = None
        if keep_event and log.row_count and view.height and not log.follow:
            cursor = self._locate(view, log.cursor)
        self.view = view
        log.set_frame(view, cursor=cursor, appended=appended)
        self._counts_changed()
        if log.search_term:
            self._run_search(log.search_term)
        if self.detail.is_open:
            self._show_detail(log.cursor)

    def _locate(self, view: pl.DataFrame, old_row: int) -> int:
        """The row of ``view`` holding the event at ``old_row`` of the log, or the first after it."""
        old = self.log_view.frame
        if not 0 <= old_row < old.height:
            return 0
        ts, seq, pid = old.select(pl.col("ts").dt.epoch("ns"), "seq", "pid").row(old_row)
        ts_values = view.get_column("ts").dt.epoch("ns").to_numpy()
        lo = int(np.searchsorted(ts_values, ts, side="left"))
        hi = int(np.searchsorted(ts_values, ts, side="right"))
        if hi > lo:
            same = view.slice(lo, hi - lo).select("seq", "pid")
            for i, (s, p) in enumerate(same.iter_rows()):
                if s == seq and p == pid:
                    return lo + i
        return min(lo, view.height - 1)

    # ---- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.prompt.open("filter", self.filter_text)

    def action_clear_filter(self) -> None:
        self.apply_filter("")

    def apply_filter(self, text: str, *, quiet: bool = False) -> bool:
        """Compile ``text`` and run it over the events in a worker; a bad filter shows its error
        with a caret under the prompt and changes nothing. Returns False for a bad filter."""
        text = text.strip()
        try:
            flt = compile_filter(text, self.full.schema if self.full.width else None)
        except QueryError as exc:
            if not quiet:
                if not self.prompt.is_open:
                    self.prompt.open("filter", text)
                self.prompt.show_message(Text(exc.caret(text), no_wrap=True), "error")
            return False
        self._filter_gen += 1
        self.filter_text = text
        self.filter = None if flt.keeps_all else flt
        if flt.warnings and not quiet:
            self.prompt.show_message(Text("; ".join(visible(w) for w in flt.warnings)), "warning")
        self._set_header(busy="filtering…")
        self._run_filter(self.full, self.filter, text, self._filter_gen, flt.warnings)
        return True

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _run_filter(
        self, full: pl.DataFrame, flt: Filter | None, text: str, generation: int, warnings: tuple[str, ...]
    ) -> None:
        try:
            view = full if flt is None or not full.height else full.filter(flt.bind(full.schema).expr)
        except pl.exceptions.PolarsError as exc:
            self.post_message(
                FilterFailed(text, str(exc).splitlines()[0] if str(exc) else repr(exc), generation)
            )
            return
        if not get_current_worker().is_cancelled:
            self.post_message(FilterApplied(text, view, generation, warnings))

    def on_filter_applied(self, message: FilterApplied) -> None:
        if message.generation != self._filter_gen:
            return
        self._set_header(busy="")
        self._show_view(message.view)

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
                if not self._filter_has_warnings(value):
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
            if not path:
                bar.show_message(Text("give a file path"), "error")
                return
            fmt = export_format(path)
            if fmt is None:
                bar.show_message(Text("the file name must end .json, .ndjson, .csv or .parquet"), "error")
                return
            bar.input.remember(path)
            self._close_prompt()
            self._export(self.view, path, fmt)

    def _filter_has_warnings(self, text: str) -> bool:
        try:
            return bool(compile_filter(text, self.full.schema if self.full.width else None).warnings)
        except QueryError:
            return True

    @on(PromptBar.Changed)
    def _prompt_changed(self, event: PromptBar.Changed) -> None:
        if event.mode != "filter":
            return
        text = event.value
        try:
            flt = compile_filter(text, self.full.schema if self.full.width else None)
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
        """Highlight ``term`` in the lines and find the rows holding it (in a worker)."""
        log = self.log_view
        log.set_search(term)
        self._set_header(search=term, search_hits=None)
        if term:
            self._run_search(term)

    def _run_search(self, term: str) -> None:
        self._search_gen += 1
        self._search_rows(self.view, term, self._search_gen)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search_rows(self, view: pl.DataFrame, term: str, generation: int) -> None:
        if not view.height:
            rows = np.empty(0, dtype=np.int64)
        else:
            hits = view.select(search_expr(view, term).arg_true().alias("row"))
            rows = hits.get_column("row").to_numpy().astype(np.int64)
        self.post_message(SearchResult(term, generation, rows))

    def on_search_result(self, message: SearchResult) -> None:
        if message.generation != self._search_gen:
            return
        log = self.log_view
        log.search_rows = message.rows
        self._set_header(search_hits=len(message.rows))

    @on(LogView.SearchMoved)
    def _search_moved(self, event: LogView.SearchMoved) -> None:
        if event.index < 0:
            term = self.log_view.search_term
            self.notify("no search" if not term else "no match", severity="warning", timeout=2)
        elif event.wrapped:
            self.notify(f"search wrapped ({event.index + 1} of {event.total})", timeout=2)

    # ---- cursor, detail, copy -----------------------------------------------------------------

    @on(LogView.CursorMoved)
    def _cursor_moved(self, event: LogView.CursorMoved) -> None:
        # The message may be older than the frame the log shows now: read the cursor itself.
        log = self.log_view
        row = log.cursor if log.row_count else -1
        self._set_header(date=format_date(log.row_tuple(row)[0]) if row >= 0 else "", pending=log.pending)
        if self.detail.is_open:
            self._show_detail(row)

    @on(LogView.Selected)
    def _selected(self, event: LogView.Selected) -> None:
        self.action_toggle_detail()

    def action_toggle_detail(self) -> None:
        detail = self.detail
        if detail.is_open:
            detail.remove_class("-open")
        else:
            detail.add_class("-open")
            self._show_detail(self.log_view.cursor)
        self.call_after_refresh(self.log_view.scroll_to_cursor)

    def _show_detail(self, row: int) -> None:
        frame = self.log_view.frame
        self.detail.show_event(frame.slice(row, 1) if 0 <= row < frame.height else None)

    def action_copy_event(self) -> None:
        log = self.log_view
        if not log.row_count:
            self.notify("no event selected", severity="warning")
            return
        self.copy_to_clipboard(event_json(log.frame.slice(log.cursor, 1)))
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
        base = log.row_tuple(log.cursor)[0] if log.row_count else None
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
        view = self.view
        if not view.height:
            return
        ts_values = view.get_column("ts").dt.epoch("ns").to_numpy()
        row = int(np.searchsorted(ts_values, ts_ns, side="left"))
        self.log_view.move_to(min(row, view.height - 1))

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
        cursor_ts = log.row_tuple(log.cursor)[0] if log.row_count else None
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

    # ---- export -------------------------------------------------------------------------------

    def action_export(self) -> None:
        self.prompt.open("export", "ttview-export.ndjson")

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, view: pl.DataFrame, path: str, fmt: str) -> None:
        from ttview.export import write_export

        self.call_from_thread(self._set_header, busy=f"exporting {view.height:,} events…")
        try:
            count = write_export(view, path, fmt=fmt)
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            self.call_from_thread(self._set_header, busy="")
            self.call_from_thread(
                self.notify,
                visible(str(exc), limit=300),
                title="export failed",
                severity="error",
                markup=False,
            )
            return
        self.call_from_thread(self._set_header, busy="")
        self.call_from_thread(
            self.notify, visible(f"wrote {count:,} events to {path}", limit=300), title="export", markup=False
        )
        self.last_export = path


def export_format(path: str) -> str | None:
    """The export format a file name asks for (``.json``, ``.ndjson``/``.jsonl``, ``.csv``,
    ``.parquet``), or None."""
    suffix = Path(path).suffix.lower()
    return {
        ".json": "json",
        ".ndjson": "ndjson",
        ".jsonl": "ndjson",
        ".csv": "csv",
        ".parquet": "parquet",
    }.get(suffix)


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
