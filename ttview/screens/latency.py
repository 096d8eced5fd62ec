"""Latency between paired events: two filters (``from`` and ``to``) and a key picked from the
keyboard, the histogram of the latencies (log bins, p50 / p99 / p99.9 marked, groups compared as
series), the numbers, and ``enter`` on a bin to see its slowest pairs in the log.

The pairing is :func:`ttview.latency.pair_events` (the rule is in its module docstring), run in a
thread worker over the events the log showed when the screen opened; the histogram is
:func:`ttview.latency.latency_histogram`. Choosing a bin dismisses the screen with a
:class:`PairsChosen`, which :func:`show_pairs` turns into a filter on the log (the pairs' key
values, their from and to events) with the cursor on the slowest pair's ``from`` event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Label, Select, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from ttview.chart import count_label, count_ticks
from ttview.latency import UNITS, LatencyError, LatencyResult, latency_histogram, pair_events
from ttview.query import QueryError, compile_filter
from ttview.query import quote_name as quote_filter_name
from ttview.query import quote_value as quote_filter_value
from ttview.render import si_label, visible
from ttview.screens import ComputedScreen
from ttview.screens.group_by import format_number, group_columns
from ttview.stats import Histogram
from ttview.widgets.history_input import HistoryInput
from ttview.widgets.key_footer import KeyFooter
from ttview.widgets.log_view import field_names

__all__ = ["LatencyScreen", "PairsChosen", "show_pairs", "slowest_pairs"]

BINS = 40
SLOWEST = 20
"""Pairs of a bin shown in the log by ``enter``: the slowest ones."""
NO_GROUPS = "(no groups)"
ANYWHERE = "anywhere"
"""The key is global (the default, as in the CLI); else pairs stay within one ``service`` or ``pid``."""
MARKS = (("p50", "p50", "green"), ("p99", "p99", "orange"), ("p999", "p99.9", "red"))
SERIES_COLORS = ("blue+", "magenta+", "cyan+", "yellow+", "green+", "red+", "white", "orange")
DEFAULT_FROM = 'message == "Order placed"'
DEFAULT_TO = 'message == "Trade executed"'
UNIT_LABEL = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}


@dataclass(frozen=True)
class PairsChosen:
    """What ``enter`` on a bin asks of the log: show ``filter_text``, with the cursor on the event
    at ``row`` of ``frame`` (the slowest pair's from event), at ``ts_ns``."""

    filter_text: str
    frame: Any
    """The view (``ttview.eventview.EventView``) the pairs were made from."""
    row: int
    ts_ns: int
    pairs: int


def slowest_pairs(
    result: LatencyResult, lo: float, hi: float, *, last: bool, limit: int = SLOWEST
) -> pl.DataFrame:
    """The pairs whose latency lies in the bin [``lo``, ``hi``) (``hi`` included for the ``last``
    bin), slowest first, at most ``limit``."""
    x = pl.col("latency")
    inside = (x >= lo) & ((x <= hi) if last else (x < hi))
    return result.pairs.filter(inside).sort(["delta_ns", "from_row"], descending=[True, False]).head(limit)


def pairs_filter(result: LatencyResult, pairs: pl.DataFrame, *, start: str, end: str, base: str) -> str:
    """A filter showing the from and to events of ``pairs`` (by their key values) among ``base``."""
    keys = result.key
    if len(keys) == 1:
        name = quote_filter_name(keys[0])
        values = ", ".join(quote_filter_value(v) for v in dict.fromkeys(pairs[keys[0]].to_list()))
        key_cond = f"{name} in ({values})"
    else:
        rows = dict.fromkeys(pairs.select(keys).iter_rows())
        key_cond = " or ".join(
            "("
            + " and ".join(
                f"{quote_filter_name(k)} == {quote_filter_value(v)}" for k, v in zip(keys, row, strict=True)
            )
            + ")"
            for row in rows
        )
    text = f"({start} or {end}) and ({key_cond})" if len(keys) > 1 else f"({start} or {end}) and {key_cond}"
    return f"({base}) and {text}" if base else text


def show_pairs(app: Any, chosen: PairsChosen | None) -> None:
    """The latency screen's result on the log: the cursor on the slowest pair's from event, then
    the filter (the log keeps the cursor's event when a filter changes the view)."""
    if chosen is None:
        return
    same = app.view is chosen.frame and 0 <= chosen.row < chosen.frame.height
    if same:
        app.log_view.move_to(chosen.row)
    else:  # the view changed meanwhile (a live tail): the first event at that time
        app.jump_to_time(chosen.ts_ns)
    app.prompt.histories["filter"].append(chosen.filter_text)
    app.apply_filter(chosen.filter_text)
    if not same:
        app.notify(
            f"the {chosen.pairs} slowest pairs of that bin, among the events kept now: the live tail "
            "moved on since they were paired, so the oldest may have gone",
            timeout=6,
        )
        return
    app.notify(
        f"the {chosen.pairs} slowest pairs of that bin; the cursor is on the slowest one's from event",
        timeout=4,
    )


class LatencyPlot(PlotextPlot, can_focus=True):
    """The histogram; focusable, so left / right / enter reach the screen's bin keys."""


@dataclass
class _Inputs:
    start: str
    end: str
    key: str
    group_by: str | None
    log: bool
    unit: str
    within: str = ANYWHERE


class LatencyScreen(ComputedScreen[PairsChosen | None]):
    """Latency between paired events of the log's view.

    | Key | Action |
    |---|---|
    | enter (in a filter) | pair with these filters |
    | tab / shift+tab | next / previous choice (from, to, key, within, compare, histogram) |
    | left / right | previous / next bin with pairs (on the histogram) |
    | enter (on the histogram) | the bin's slowest pairs in the log |
    | l | log / linear bins |
    | g | compare groups: next column (or none) |
    | u | next unit (ns, µs, ms, s) |
    | escape / q | back to the log |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("tab", "focus_next_choice", "Next choice", show=False),
        Binding("shift+tab", "focus_previous_choice", "Previous choice", show=False),
        Binding("left", "move_bin(-1)", "Previous bin", show=False),
        Binding("right", "move_bin(1)", "Next bin", show=False),
        Binding("enter", "choose_bin", "Slowest pairs in the log"),
        Binding("l", "toggle_log", "Log/linear bins"),
        Binding("g", "next_group", "Compare groups"),
        Binding("u", "next_unit", "Unit"),
    ]

    DEFAULT_CSS = """
    LatencyScreen {
        #lat-title { height: 1; padding: 0 1; background: $panel; color: $accent; text-style: bold; }
        .lat-row { height: 1; padding: 0 1; }
        .lat-row Label { width: 8; }
        .lat-row Input { width: 1fr; border: none; height: 1; padding: 0; }
        .lat-row Input:focus { background: $boost; }
        #lat-choices Label { width: auto; padding: 0 1 0 0; }
        #lat-choices Select { width: 1fr; max-width: 26; margin-right: 1; }
        #lat-msg { height: auto; max-height: 3; padding: 0 1; }
        #lat-msg.-error { color: $error; }
        #lat-msg.-warning { color: $warning; }
        #lat-plot, #lat-wait { height: 1fr; min-height: 6; }
        #lat-plot:focus { background-tint: $foreground 4%; }
        #lat-wait { padding: 1 2; color: $foreground 60%; }
        #lat-bin { height: 1; padding: 0 1; }
        #lat-stats { height: auto; max-height: 12; padding: 0 1; }
    }
    """

    last: ClassVar[_Inputs | None] = None
    """What was paired last (the screen opens with it again)."""

    def __init__(self, view: Any, *, filter_text: str = "") -> None:
        """``view``: the events to pair (an ``ttview.eventview.EventView``, or a DataFrame)."""
        super().__init__()
        if isinstance(view, pl.DataFrame):
            from ttview.eventview import FrameEventView

            view = FrameEventView(view)
        self.frame = view
        self.filter_text = filter_text
        schema = view.schema
        self.key_options = [c for c in ("service", "pid") if c in schema] + field_names(schema)
        self.group_options = group_columns(schema)
        self.within_options = [ANYWHERE] + [c for c in ("service", "pid") if c in schema]
        self.inputs = self._initial_inputs()
        self.result: LatencyResult | None = None
        """The pairs and numbers shown."""
        self.hist: Histogram | None = None
        self.error = ""
        self.bin = 0
        """The bin under the cursor."""

    def _initial_inputs(self) -> _Inputs:
        last = LatencyScreen.last
        if last is not None and (not last.key or last.key in self.key_options or "," in last.key):
            return _Inputs(**vars(last))
        key = "order_id" if "order_id" in self.key_options else ""
        start = end = ""
        if key and "message" in self.frame.schema:
            has = self.frame.lazy().select(
                (pl.col("message") == "Order placed").any().alias("f"),
                (pl.col("message") == "Trade executed").any().alias("t"),
            ).collect().row(0)
            if all(has):
                start, end = DEFAULT_FROM, DEFAULT_TO
        return _Inputs(start, end, key, None, True, "us")

    # ---- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="lat-title")
        with Horizontal(classes="lat-row"):
            yield Label("from")
            yield HistoryInput(
                value=self.inputs.start, placeholder='e.g. message == "Order placed"', id="lat-from"
            )
        with Horizontal(classes="lat-row"):
            yield Label("to")
            yield HistoryInput(
                value=self.inputs.end, placeholder='e.g. message == "Trade executed"', id="lat-to"
            )
        with Horizontal(classes="lat-row", id="lat-choices"):
            yield Label("key")
            yield Select(
                [(Text(visible(c, limit=40)), c) for c in self.key_options] or [(Text("(no fields)"), "")],
                value=self.inputs.key if self.inputs.key in self.key_options else Select.BLANK,
                prompt="choose the key",
                compact=True,
                id="lat-key",
            )
            yield Label("within")
            yield Select(
                [(Text(f"one {c}" if c != ANYWHERE else c), c) for c in self.within_options],
                value=self.inputs.within if self.inputs.within in self.within_options else ANYWHERE,
                allow_blank=False,
                compact=True,
                id="lat-within",
            )
            yield Label("compare")
            yield Select(
                [(Text(NO_GROUPS), NO_GROUPS)]
                + [(Text(visible(c, limit=40)), c) for c in self.group_options],
                value=self.inputs.group_by or NO_GROUPS,
                allow_blank=False,
                compact=True,
                id="lat-by",
            )
        yield Static("", id="lat-msg")
        yield Static(Text("give the from and to filters and the key"), id="lat-wait")
        plot = LatencyPlot(id="lat-plot")
        plot.display = False
        yield plot
        yield Static("", id="lat-bin")
        yield Static("", id="lat-stats")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._update_title()
        if self.inputs.start and self.inputs.end and self.inputs.key:
            self.compute()
            self.query_one(LatencyPlot).focus()
        else:
            self._shown = True
            self.query_one("#lat-from" if not self.inputs.start else "#lat-to", Input).focus()

    def _update_title(self) -> None:
        i = self.inputs
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"Latency · {self.frame.height:,} events")
        if i.key:
            title.append(f" · key {visible(i.key, limit=40)}")
            if i.within != ANYWHERE:
                title.append(f" within one {i.within}")
        if self.filter_text:
            title.append(" · filter: " + visible(self.filter_text, limit=80))
        self.query_one("#lat-title", Static).update(title)

    def _message(self, text: Text | str | None, kind: str = "") -> None:
        msg = self.query_one("#lat-msg", Static)
        msg.set_class(kind == "error", "-error")
        msg.set_class(kind == "warning", "-warning")
        msg.update(text if isinstance(text, Text) else Text(text or ""))
        msg.display = bool(text)

    # ---- computing ----------------------------------------------------------------------------

    def _filters_ok(self) -> bool:
        """Check both filters' syntax; show the first error with a caret under it."""
        for which, text in (("from", self.inputs.start), ("to", self.inputs.end)):
            if not text.strip():
                self._message(f"give the {which} filter (enter runs it)", "warning")
                return False
            try:
                compile_filter(text)
            except QueryError as exc:
                self._message(
                    Text(
                        f"{which}: " + exc.caret(text).replace("\n", "\n" + " " * (len(which) + 2)),
                        no_wrap=True,
                    ),
                    "error",
                )
                return False
        if not self.inputs.key:
            self._message("choose the key the from and to events share", "warning")
            return False
        return True

    def compute(self) -> None:
        """Pair with the current inputs (in a worker), if they are complete and parse."""
        self._update_title()
        if not self._filters_ok():
            return
        self._message(None)
        LatencyScreen.last = _Inputs(**vars(self.inputs))
        i = self.inputs
        key = i.key if i.within == ANYWHERE or i.within == i.key else f"{i.within},{i.key}"
        self._compute(self.frame, i.start, i.end, key, i.group_by, i.log, i.unit)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _compute(
        self, frame: Any, start: str, end: str, key: str, group_by: str | None, log: bool, unit: str
    ) -> tuple[LatencyResult, Histogram]:
        keys = [k.strip() for k in key.split(",") if k.strip()]
        result = pair_events(
            frame.lazy(),
            start=compile_filter(start),
            end=compile_filter(end),
            key=keys,
            group_by=group_by,
            unit=unit,
        )
        return result, latency_histogram(result, bins=BINS, log=log)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not self._computed(event):
            return
        if event.state == WorkerState.SUCCESS:
            self.result, self.hist = event.worker.result
            self.error = ""
            self.bin = self._last_bin()
        else:
            error = event.worker.error
            self.result, self.hist = None, None
            if isinstance(error, LatencyError):
                self.error = f"{error.option.replace('_', ' ')}: {error.message}"
            else:
                self.error = f"{type(error).__name__}: {error}"
        self._draw()

    # ---- drawing ------------------------------------------------------------------------------

    def _x(self, value: float) -> float:
        return math.log10(value) if self.hist is not None and self.hist.log else value

    def _centers(self, h: Histogram) -> list[float]:
        e = h.edges
        if h.log:
            return [math.sqrt(e[i] * e[i + 1]) for i in range(h.bins)]
        return [(e[i] + e[i + 1]) / 2 for i in range(h.bins)]

    def _bin_counts(self) -> list[int]:
        h = self.hist
        if h is None:
            return []
        return [sum(s.counts[b] for s in h.series) for b in range(h.bins)]

    def _last_bin(self) -> int:
        counts = self._bin_counts()
        nonempty = [b for b, c in enumerate(counts) if c]
        return nonempty[-1] if nonempty else 0

    def _draw(self) -> None:
        with self.app.batch_update():
            self.query_one("#lat-wait").display = False
            self.query_one(LatencyPlot).display = True
            self._draw_plot()
            self._draw_bin()
            self.query_one("#lat-stats", Static).update(self._stats_table())
            if self.error:
                self._message(Text(visible(self.error, limit=300)), "error")

    def _draw_plot(self) -> None:
        plot = self.query_one(LatencyPlot)
        plt = plot.plt
        plt.clear_figure()
        h, result = self.hist, self.result
        if h is None or result is None or not result.counts.pairs:
            plt.title("no pairs" if result is not None else "")
            plot.refresh()
            return
        xs = [self._x(c) for c in self._centers(h)]
        ymax = 1
        shown = [s for s in h.series if any(s.counts)]
        for i, series in enumerate(shown):
            ymax = max(ymax, max(series.counts))
            if len(h.series) == 1:
                plt.bar(xs, list(series.counts), width=1, reset_ticks=False, color=SERIES_COLORS[0])
            else:
                plt.plot(
                    xs,
                    list(series.counts),
                    label=visible(series.name, limit=20),
                    color=SERIES_COLORS[i % len(SERIES_COLORS)],
                    marker="braille",
                )
        total = result.total
        for attr, label, color in MARKS:
            value = getattr(total, attr)
            if value is not None and (value > 0 or not h.log):
                x = self._x(value)
                plt.plot([x, x], [0, ymax], color=color, marker="│", label=f"{label} {si_label(value)}")
        if 0 <= self.bin < h.bins:  # the cursor: the chosen bin, drawn over the bars
            counts = self._bin_counts()
            if len(h.series) == 1:
                plt.bar([xs[self.bin]], [counts[self.bin]], width=1, reset_ticks=False, color="yellow")
            else:
                plt.plot([xs[self.bin]] * 2, [0, ymax], color="yellow", marker="┊")
        ticks = self._ticks(h)
        plt.xticks([self._x(t) for t in ticks], [si_label(t) for t in ticks])
        counts = [c for c in count_ticks(ymax) if c <= ymax]  # whole pairs, as the histogram screen
        plt.yticks(counts, [count_label(c) for c in counts])
        plt.ylim(0, ymax)
        plt.xlabel(f"latency ({UNIT_LABEL[result.unit]}{', log' if h.log else ''})")
        plt.ylabel("pairs")
        plot.refresh()

    def _ticks(self, h: Histogram) -> list[float]:
        lo, hi = h.edges[0], h.edges[-1]
        if h.log and lo > 0:
            out = [10.0**k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
            return [t for t in out if lo <= t <= hi] or [lo, hi]
        return [lo + (hi - lo) * i / 4 for i in range(5)]

    def _draw_bin(self) -> None:
        line = self.query_one("#lat-bin", Static)
        h, result = self.hist, self.result
        if h is None or result is None or not result.counts.pairs:
            line.update("")
            return
        lo, hi = h.edges[self.bin], h.edges[self.bin + 1]
        n = self._bin_counts()[self.bin]
        unit = UNIT_LABEL[result.unit]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"bin {self.bin + 1}/{h.bins}: ", style="bold")
        text.append(f"{si_label(lo)}–{si_label(hi)} {unit} · {n:,} pair{'s' if n != 1 else ''}")
        if n:
            text.append(f" · enter: the {min(n, SLOWEST)} slowest in the log", style="dim")
        line.update(text)

    def _stats_table(self) -> Table | Text:
        result = self.result
        if result is None:
            return Text(visible(self.error or "", limit=300))
        c = result.counts
        table = Table(box=None, padding=(0, 1), expand=False, show_edge=False)
        table.add_column(Text(visible(result.group_by or "", limit=20)), no_wrap=True, max_width=20)
        for heading in ("pairs", "min", "p50", "p90", "p99", "p99.9", "max"):
            table.add_column(Text(heading), justify="right", no_wrap=True)
        rows = list(result.groups[:6]) if result.groups else []
        for g in [*rows, result.total]:
            name = "all" if g.group is None else visible(g.group, limit=20)
            table.add_row(
                Text(name, style="bold" if g.group is None else ""),
                Text(format_number(g.counts.pairs)),
                *(Text(format_number(getattr(g, a))) for a in ("min", "p50", "p90", "p99", "p999", "max")),
            )
        if len(result.groups) > 6:
            table.add_row(Text(f"+{len(result.groups) - 6} groups"), Text(""))
        counts = Text(no_wrap=False)
        counts.append(f"from {c.from_events:,}: ", style="bold")
        counts.append(f"{c.from_unmatched:,} no to, {c.from_repeated:,} repeated")
        counts.append(f" · to {c.to_events:,}: ", style="bold")
        counts.append(f"{c.to_unmatched:,} no from, {c.to_extra:,} extra")
        counts.append(f" · no key {c.from_no_key + c.to_no_key:,}")
        counts.append(f" · latency in {UNIT_LABEL[result.unit]}", style="dim")
        if c.from_repeated and self.inputs.within == ANYWHERE and len(self.within_options) > 1:
            counts.append(
                "\nrepeated froms: if ids restart in each process, pair within one pid", style="dim"
            )
        outer = Table.grid()
        outer.add_row(table)
        outer.add_row(counts)
        return outer

    # ---- choices ------------------------------------------------------------------------------

    @on(Input.Changed, "#lat-from, #lat-to")
    def _filter_typed(self, event: Input.Changed) -> None:
        which = "from" if event.input.id == "lat-from" else "to"
        try:
            compile_filter(event.value)
        except QueryError as exc:
            pad = " " * (len(which) + 2)
            self._message(
                Text(f"{which}: " + exc.caret(event.value).replace("\n", "\n" + pad), no_wrap=True), "error"
            )
            return
        self._message(None)

    @on(Input.Submitted, "#lat-from, #lat-to")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._read_inputs()
        if isinstance(event.input, HistoryInput):
            event.input.remember(event.value)
        if event.input.id == "lat-from" and not self.inputs.end.strip():
            self.query_one("#lat-to", Input).focus()
            return
        self.compute()
        if self._filters_ok():
            self.query_one(LatencyPlot).focus()

    def _read_inputs(self) -> None:
        self.inputs.start = self.query_one("#lat-from", Input).value.strip()
        self.inputs.end = self.query_one("#lat-to", Input).value.strip()

    @on(Select.Changed, "#lat-key")
    def _key_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.inputs.key:
            self.inputs.key = event.value
            self._read_inputs()
            self.compute()

    @on(Select.Changed, "#lat-within")
    def _within_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.inputs.within:
            self.inputs.within = event.value
            self._read_inputs()
            self.compute()

    @on(Select.Changed, "#lat-by")
    def _by_changed(self, event: Select.Changed) -> None:
        by = None if event.value == NO_GROUPS else event.value
        if by != self.inputs.group_by and isinstance(by, (str, type(None))):
            self.inputs.group_by = by
            self._read_inputs()
            self.compute()

    def _typing(self) -> bool:
        return isinstance(self.focused, Input)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Letter keys go to a filter being typed; bin keys need pairs."""
        if action in ("toggle_log", "next_group", "next_unit", "move_bin", "choose_bin") and self._typing():
            return False
        if action in ("move_bin", "choose_bin") and not isinstance(self.focused, LatencyPlot):
            return False
        return True

    def action_focus_next_choice(self) -> None:
        self.focus_next()

    def action_focus_previous_choice(self) -> None:
        self.focus_previous()

    def action_toggle_log(self) -> None:
        self.inputs.log = not self.inputs.log
        self._read_inputs()
        self.compute()

    def action_next_group(self) -> None:
        options = [NO_GROUPS, *self.group_options]
        current = self.inputs.group_by or NO_GROUPS
        i = options.index(current) if current in options else 0
        self.query_one("#lat-by", Select).value = options[(i + 1) % len(options)]

    def action_next_unit(self) -> None:
        names = list(UNITS)
        self.inputs.unit = names[(names.index(self.inputs.unit) + 1) % len(names)]
        self._read_inputs()
        self.compute()

    def action_move_bin(self, step: int) -> None:
        counts = self._bin_counts()
        if not counts:
            return
        b = self.bin + step
        while 0 <= b < len(counts) and not counts[b]:
            b += step
        if 0 <= b < len(counts):
            self.bin = b
            self._draw_plot()
            self._draw_bin()

    def action_choose_bin(self) -> None:
        h, result = self.hist, self.result
        if h is None or result is None or not self._bin_counts()[self.bin]:
            self.notify("no pairs in this bin", severity="warning", timeout=2)
            return
        lo, hi = h.edges[self.bin], h.edges[self.bin + 1]
        slow = slowest_pairs(result, lo, hi, last=self.bin == h.bins - 1)
        if not slow.height:
            return
        text = pairs_filter(result, slow, start=self.inputs.start, end=self.inputs.end, base=self.filter_text)
        first = slow.row(0, named=True)
        ts_ns = int(slow.select(pl.col("from_ts").dt.epoch("ns")).item(0, 0))
        self.dismiss(PairsChosen(text, self.frame, int(first["from_row"]), ts_ns, slow.height))

    def action_back(self) -> None:
        self.dismiss(None)
