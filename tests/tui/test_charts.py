"""Group-by (b), histogram (h) and timeline (l) screens."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.tui.helpers import frame_of, loaded, screen_text, settle, sync, wait_until
from ttview.app import make_app
from ttview.screens.group_by import GroupByScreen, format_number, group_condition
from ttview.screens.histogram import HistogramScreen
from ttview.screens.timeline import TimelineScreen
from ttview.stats import group_stats, histogram

SIZE = (120, 40)


def table_rows(screen: GroupByScreen) -> list[list[str]]:
    from textual.widgets import DataTable

    table = screen.query_one(DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


@sync
async def test_group_by_numbers_sorting_and_choosing_a_group(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GroupByScreen)
        want = group_stats(frame_of(app.view), by="logger", field="latency_us")
        assert screen.result is not None
        assert screen.result.equals(want)
        rows = table_rows(screen)
        assert [r[0] for r in rows] == want["logger"].to_list()  # by count, largest first
        fills = want.filter(pl.col("logger") == "oms.fills").row(0, named=True)
        fill_row = next(r for r in rows if r[0] == "oms.fills")
        assert fill_row[1:] == [
            format_number(fills[c]) for c in ("count", "rate", "p50", "p90", "p99", "p99.9", "max")
        ]
        assert "p99.9" in screen_text(app)
        # o: the next column (count → rate); r reverses; clicking a heading sorts too
        await pilot.press("o")
        rates = screen.result["rate"].to_list()
        assert screen.sort == "rate" and rates == sorted(rates, reverse=True)
        screen.set_sort("p99")
        await pilot.pause()
        p99 = [v for v in screen.result["p99"].to_list() if v is not None]
        assert p99 == sorted(p99, reverse=True)
        await pilot.press("r")
        p99 = [v for v in screen.result["p99"].to_list() if v is not None]
        assert p99 == sorted(p99)
        await pilot.click("#group-table", offset=(2, 0))  # the group heading
        await pilot.pause()
        assert screen.sort == "logger" and screen.result["logger"].to_list() == sorted(
            want["logger"].to_list()
        )
        # choose oms.fills: the log is filtered to it
        index = screen.result["logger"].to_list().index("oms.fills")
        table = screen.query_one("#group-table")
        table.move_cursor(row=index)
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        assert app.filter_text == 'logger == "oms.fills"'
        assert app.view.height == fills["count"]


@sync
async def test_group_by_level_and_another_field_combines_with_the_filter(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text="latency_us > 20")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        await app.push_screen(
            GroupByScreen(app.view, filter_text=app.filter_text, by="level", field="latency_us"),
            app._group_chosen,
        )
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GroupByScreen)
        assert "TRADE" in screen.result["level"].to_list()
        screen.choose(screen.result["level"].to_list().index("TRADE"))
        await settle(pilot)
        assert app.filter_text == "(latency_us > 20) and level == TRADE"
        assert set(frame_of(app.view)["level"].to_list()) == {22}
        assert frame_of(app.view)["latency_us"].min() > 20


@pytest.mark.parametrize(
    ("by", "value", "text"),
    [
        ("symbol", "AAPL", 'symbol == "AAPL"'),
        ("symbol", None, "symbol is null"),
        ("level", "WARN", "level == WARN"),
        ("passed", True, "passed == true"),
        ("my key", 'q"uote', '`my key` == "q\\"uote"'),
    ],
)
def test_group_condition(by: str, value: object, text: str) -> None:
    assert group_condition(by, value) == text


@sync
async def test_histogram_series_percentiles_log_and_groups(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistogramScreen)
        want = histogram(frame_of(app.view), field="latency_us", bins=60, log=True)
        assert screen.result == want
        assert len(screen.result.series) == 1
        series = screen.result.series[0]
        shown = screen_text(app)
        for value in (series.p50, series.p99, series.p999):
            assert format_number(value) in shown
        assert "p99.9" in shown and "log bins" in shown
        await pilot.press("l")
        await settle(pilot)
        assert screen.result.log is False and screen.result == histogram(
            frame_of(app.view), field="latency_us", bins=60
        )
        await pilot.press("g")  # compare: one series per logger
        await settle(pilot)
        assert screen.by == "logger"
        names = {s.name for s in screen.result.series}
        assert {"oms.orders", "oms.fills", "md.feed"} <= names
        assert sum(s.count for s in screen.result.series) == series.count
        await pilot.press("f")  # the next numeric field
        await settle(pilot)
        assert screen.field != "latency_us" and screen.result.field == screen.field
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


@sync
async def test_histogram_uses_the_current_filter(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text='logger == "oms.fills"')
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        assert app.screen.result.series[0].count == app.view.height


@sync
async def test_timeline_counts_and_jump(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        await wait_until(pilot, lambda: screen.data is not None and screen.data.buckets > 0)
        data = screen.data
        assert sum(data.total(b) for b in range(data.buckets)) == 2000
        assert set(data.levels) >= {15, 20, 21, 22}
        assert data.buckets <= screen.chart.plot_width
        chart = screen.chart
        assert chart.cursor == data.buckets - 1  # on the bucket of the log cursor (the last event)
        await pilot.press("home", "right", "right", "right")
        assert chart.cursor == 3
        assert "events" in screen_text(app)
        start = data.starts[3]
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        log = app.log_view
        ts = log.row_tuple(log.cursor)[0]
        assert ts >= start and (log.cursor == 0 or log.row_tuple(log.cursor - 1)[0] < start)


@sync
async def test_timeline_click_jumps(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: screen.data is not None and screen.data.buckets > 0)
        chart = screen.chart
        x = 9 + chart.column_width * 10
        bucket = chart.bucket_at(x)
        assert bucket == 10
        start = screen.data.starts[10]
        await pilot.click("#timeline-chart", offset=(x, 5))
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        log = app.log_view
        assert log.row_tuple(log.cursor)[0] >= start > log.row_tuple(log.cursor - 1)[0]
