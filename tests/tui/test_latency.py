"""The latency screen (L): filters and a key from the keyboard, its numbers, bins, and enter on a
bin showing the slowest pairs in the log."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from textual.widgets import Input, Select

from tests.tui.helpers import loaded, screen_text, settle, sync, type_text
from ttview.app import make_app
from ttview.latency import latency_histogram, pair_events
from ttview.query import compile_filter
from ttview.screens.latency import DEFAULT_FROM, DEFAULT_TO, LatencyPlot, LatencyScreen

SIZE = (120, 40)


async def open_latency(pilot, *, fresh: bool = True) -> LatencyScreen:
    if fresh:
        LatencyScreen.last = None  # the screen remembers the last pairing: start from the defaults
    await loaded(pilot)
    await pilot.press("L")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LatencyScreen)
    return screen


def core(view, *, start: str = DEFAULT_FROM, end: str = DEFAULT_TO, key="order_id", **kw):
    return pair_events(view.lazy(), start=compile_filter(start), end=compile_filter(end), key=key, **kw)


@sync
async def test_opens_on_orders_and_fills_with_the_cores_numbers(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        assert (screen.inputs.start, screen.inputs.end, screen.inputs.key) == (
            DEFAULT_FROM,
            DEFAULT_TO,
            "order_id",
        )
        want = core(app.view)
        assert screen.result is not None and screen.hist is not None
        assert screen.result.counts == want.counts and want.counts.pairs > 50
        assert screen.result.total == want.total
        assert (
            screen.hist.log
            and screen.hist.series[0].counts == latency_histogram(want, bins=40).series[0].counts
        )
        text = screen_text(app)
        for needle in (
            "p50",
            "p99.9",
            f"{want.counts.pairs:,}",
            "no to",
            "repeated",
            "no from",
            "extra",
            "bin ",
        ):
            assert needle in text, needle
        assert isinstance(app.focused, LatencyPlot)
        assert screen.bin == max(
            b for b, c in enumerate(screen.hist.series[0].counts) if c
        )  # the slowest bin


@sync
async def test_bad_filter_shows_a_caret_and_pairs_nothing_until_fixed(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        before = screen.result
        entry = screen.query_one("#lat-from", Input)
        entry.focus()
        entry.value = ""
        await pilot.pause()
        await type_text(pilot, "message ==")
        text = screen_text(app)
        assert "from: message ==" in text and "^ expected a value" in text
        await pilot.press("enter")
        await settle(pilot)
        assert screen.result is before  # nothing recomputed
        await type_text(pilot, ' "Order rejected"')
        await pilot.press("enter")
        await settle(pilot)
        assert screen.result is not None
        assert screen.result.counts == core(app.view, start='message == "Order rejected"').counts
        assert isinstance(app.focused, LatencyPlot)


@sync
async def test_unknown_field_in_a_filter_says_did_you_mean(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        entry = screen.query_one("#lat-to", Input)
        entry.focus()
        entry.value = ""
        await pilot.pause()
        await type_text(pilot, 'mesage == "Trade executed"')
        await pilot.press("enter")
        await settle(pilot)
        assert screen.result is None
        assert "to: unknown field 'mesage' (did you mean 'message'?)" in screen_text(app)


@sync
async def test_key_and_compare_groups_from_the_keyboard(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        # tab from the histogram wraps to the filters, then the key chooser
        key_select = screen.query_one("#lat-key", Select)
        for _ in range(6):
            if app.focused is key_select:
                break
            await pilot.press("tab")
        assert app.focused is key_select
        options = screen.key_options
        target = "symbol"
        await pilot.press("enter")
        steps = options.index(target) - options.index("order_id")
        await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
        await settle(pilot)
        assert screen.inputs.key == "symbol"
        assert screen.result is not None and screen.result.counts == core(app.view, key="symbol").counts
        # g on the histogram: compare groups (logger first), one series per group
        screen.query_one(LatencyPlot).focus()
        key_select.value = "order_id"
        await pilot.pause()
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert screen.inputs.group_by == "logger"
        await pilot.press("g", "g")  # level, service ... any grouping column
        await settle(pilot)
        by = screen.inputs.group_by
        want = core(app.view, group_by=by)
        assert [(g.group, g.counts) for g in screen.result.groups] == [
            (g.group, g.counts) for g in want.groups
        ]
        assert screen.hist is not None and screen.hist.by == by


@sync
async def test_bins_units_and_log_linear(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        counts = screen.hist.series[0].counts
        nonempty = [b for b, c in enumerate(counts) if c]
        assert screen.bin == nonempty[-1]
        await pilot.press("left")
        assert screen.bin == nonempty[-2]  # empty bins are skipped
        await pilot.press("right", "right")
        assert screen.bin == nonempty[-1]  # and it stops at the last
        await pilot.press("left", "left", "left")
        assert screen.bin == nonempty[-4]
        lo, hi = screen.hist.edges[screen.bin], screen.hist.edges[screen.bin + 1]
        assert f"{counts[screen.bin]:,} pair" in screen_text(app)
        assert lo < hi
        await pilot.press("l")
        await settle(pilot)
        assert not screen.hist.log and screen.inputs.log is False
        await pilot.press("u")
        await settle(pilot)
        assert screen.result.unit == "ms"
        assert screen.result.total.p50 == core(app.view, unit="ms").total.p50
        assert "latency in ms" in screen_text(app)


@sync
async def test_enter_on_a_bin_shows_its_slowest_pairs_in_the_log(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text="level >= ORDER")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        view_before = app.view
        screen = await open_latency(pilot)
        await pilot.press("left")  # the second slowest bin with pairs
        h, result = screen.hist, screen.result
        lo, hi = h.edges[screen.bin], h.edges[screen.bin + 1]
        in_bin = result.pairs.filter((pl.col("latency") >= lo) & (pl.col("latency") < hi))
        assert in_bin.height == h.series[0].counts[screen.bin] > 0
        slowest = in_bin.sort("delta_ns", descending=True).row(0, named=True)
        want_event = view_before.rows(slowest["from_row"], slowest["from_row"] + 1).row(0, named=True)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        assert app.filter_text.startswith("(level >= ORDER) and (") and "order_id in (" in app.filter_text
        # the log shows the from and to events of those pairs (and nothing else)
        keys = set(in_bin.sort("delta_ns", descending=True).head(20)["order_id"].to_list())
        shown = app.view.lazy().collect()
        assert set(shown["order_id"].to_list()) == keys
        assert set(shown["message"].to_list()) <= {"Order placed", "Trade executed"}
        # the cursor is on the slowest pair's from event
        log = app.log_view
        here = app.view.rows(log.cursor, log.cursor + 1).row(0, named=True)
        assert (here["ts"], here["seq"], here["pid"]) == (
            want_event["ts"],
            want_event["seq"],
            want_event["pid"],
        )
        assert here["message"] == "Order placed" and here["order_id"] == slowest["order_id"]


@sync
async def test_escape_and_q_go_back_but_q_is_typed_in_a_filter(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        await pilot.press("u")  # µs → ms, paired again
        await settle(pilot)
        entry = screen.query_one("#lat-from", Input)
        entry.focus()
        await pilot.pause()
        await pilot.press("end", "q", "l", "g", "u")
        assert entry.value == DEFAULT_FROM + "qlgu" and app.screen is screen
        assert screen.inputs.log and screen.inputs.unit == "ms"  # the letters were typed, not run
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.screen_stack[0] and app.filter_text == ""
        await pilot.press("L")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, LatencyScreen) and again is not screen
        # what was last paired comes back (not the text left unsubmitted)
        assert (again.inputs.start, again.inputs.unit) == (DEFAULT_FROM, "ms")
        assert again.result is not None and again.result.unit == "ms"
        assert isinstance(app.focused, LatencyPlot)
        await pilot.press("q")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]


@sync
async def test_empty_inputs_without_order_events(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text='logger == "md.feed"')
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        screen = await open_latency(pilot)
        assert screen.inputs.start == "" and screen.result is None
        assert app.focused is screen.query_one("#lat-from", Input)
        screen.query_one("#lat-key", Select).value = "symbol"
        await pilot.pause()
        assert "give the from filter" in screen_text(app)
        await type_text(pilot, 'symbol == "AAPL"')
        await pilot.press("enter")  # on to the to filter
        assert app.focused is screen.query_one("#lat-to", Input)
        await type_text(pilot, 'symbol == "AAPL"')
        await pilot.press("enter")
        await settle(pilot)
        # a quote of AAPL to the next quote of AAPL, by symbol: the gaps between quotes
        want = core(app.view, start='symbol == "AAPL"', end='symbol == "AAPL"', key="symbol")
        assert screen.result is not None and screen.result.counts == want.counts
        assert want.counts.pairs == want.counts.to_events - 1


@sync
async def test_help_lists_the_key(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        text = app.screen.plain
        assert "L  Latency between paired events" in text
        assert "Latency (L)" in text and "Slowest pairs in the log" in text


@sync
async def test_within_one_pid_pairs_per_process_and_jumps_by_both_keys(tmp_path: Path) -> None:
    from tests.tui.helpers import write_events

    # two processes whose order ids restart: global keys pair across them, within one pid does not
    paths = [write_events(tmp_path, pid=pid, seed=seed, events=1500) for pid, seed in ((11, 3), (12, 4))]
    app = make_app(paths=[str(p) for p in paths])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_latency(pilot)
        assert screen.result.counts == core(app.view).counts
        assert screen.result.counts.from_repeated > 0
        assert "pair within one pid" in screen_text(app)
        screen.query_one("#lat-within", Select).value = "pid"
        await settle(pilot)
        want = core(app.view, key=["pid", "order_id"])
        assert screen.result.key == ("pid", "order_id") and screen.result.counts == want.counts
        assert want.counts.from_repeated == 0 and "within one pid" in screen_text(app)
        screen.query_one(LatencyPlot).focus()
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        assert "(pid == " in app.filter_text and " and order_id == " in app.filter_text
        slowest = want.pairs.sort("delta_ns", descending=True).row(0, named=True)
        here = app.view.rows(app.log_view.cursor, app.log_view.cursor + 1).row(0, named=True)
        assert (here["pid"], here["order_id"], here["message"]) == (
            app.full.rows(slowest["from_row"], slowest["from_row"] + 1).row(0, named=True)["pid"],
            slowest["order_id"],
            "Order placed",
        )
