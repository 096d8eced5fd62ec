"""A big snapshot's first screen: its newest events are shown while the rest is decoded, and the
full load then takes over without moving the cursor off its event or losing a filter typed
meanwhile."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tests.tui.helpers import screen_text, sync, type_text, wait_until, write_events
from ttview.app import TTViewApp, make_app
from ttview.screens.group_by import GroupByScreen
from ttview.sources import Loading, LoadResult, NewestEvents, load_snapshots

SIZE = (120, 40)


def pending(tmp_path: Path) -> tuple[TTViewApp, Loading, NewestEvents, LoadResult]:
    """The app over a snapshot of 2000 events whose two load stages the test releases itself."""
    path = write_events(tmp_path, events=2000)
    result = load_snapshots([path])
    newest = NewestEvents(result.frame.tail(50), result.frame.height, result.files)
    loading = Loading(Future(), Future())
    return make_app(paths=[str(path)], preload=loading), loading, newest, result


async def show_newest(pilot: Any, loading: Loading, newest: NewestEvents) -> None:
    loading.newest.set_result(newest)
    await wait_until(pilot, lambda: pilot.app.log_view.row_count == 50, what="the newest events")


@sync
async def test_newest_events_first_then_all_with_the_cursor_on_the_same_event(tmp_path: Path) -> None:
    app, loading, newest, result = pending(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        log = app.log_view
        await show_newest(pilot, loading, newest)
        text = screen_text(app)
        assert "LOADING" in text and "50 shown of 2,000 events" in text
        assert not app.loaded.is_set() and log.cursor == 49
        await pilot.press("b")  # needs every event: not yet
        assert not isinstance(app.screen, GroupByScreen)
        await pilot.press("up", "up", "up")
        event = log.row_tuple(log.cursor)
        loading.full.set_result(result)
        await wait_until(pilot, lambda: app.loaded.is_set() and log.row_count == 2000, what="all events")
        assert log.cursor == 2000 - 4 and log.row_tuple(log.cursor) == event
        text = screen_text(app)
        assert "2,000 shown of 2,000 events" in text and "LOADING" not in text
        await pilot.press("b")
        assert isinstance(app.screen, GroupByScreen)


@sync
async def test_a_filter_typed_while_loading_applies_to_every_event(tmp_path: Path) -> None:
    app, loading, newest, result = pending(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await show_newest(pilot, loading, newest)
        await pilot.press("slash")
        await type_text(pilot, "level >= WARN")
        await pilot.press("enter")
        warn_newest = newest.frame.filter(newest.frame["level"] >= 30).height
        await wait_until(pilot, lambda: app.view.height == warn_newest, what="the filter on the newest")
        loading.full.set_result(result)
        warn_all = result.frame.filter(result.frame["level"] >= 30).height
        assert warn_all > warn_newest
        await wait_until(
            pilot, lambda: app.loaded.is_set() and app.view.height == warn_all, what="the filter on all"
        )
        assert app.filter_text == "level >= WARN" and app.full.height == 2000
        assert f"{warn_all:,} shown of 2,000 events" in screen_text(app)
