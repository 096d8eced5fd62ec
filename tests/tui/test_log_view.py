"""The log view: cursor keys, mouse, top/bottom, go to time, and virtualisation."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.tui.helpers import START_NS, loaded, screen_text, sync, synthetic_frame, type_text, wait_until
from ttview.app import SourceSpec, TTViewApp, make_app
from ttview.render import format_clock

SIZE = (120, 40)


@sync
async def test_opens_at_the_newest_event_and_moves(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        assert log.row_count == 2000
        assert log.cursor == 1999
        await pilot.press("up", "up", "k")
        assert log.cursor == 1996
        await pilot.press("down", "j")
        assert log.cursor == 1998
        await pilot.press("home")
        assert log.cursor == 0 and log.scroll_offset.y == 0
        await pilot.press("pagedown")
        assert log.cursor == log.page_height
        await pilot.press("pageup")
        assert log.cursor == 0
        await pilot.press("G")
        assert log.cursor == 1999 and log.follow
        await pilot.press("g")
        assert log.cursor == 0 and not log.follow
        await pilot.press("end")
        assert log.cursor == 1999
        assert "2026-11-21 UTC" in screen_text(app)


@sync
async def test_mouse_click_selects_a_row_and_double_click_opens_detail(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        await pilot.press("home")
        await pilot.click("#log", offset=(10, 5))
        assert log.cursor == 5
        await pilot.click("#log", offset=(10, 7), times=2)
        await pilot.pause()
        assert log.cursor == 7
        assert app.detail.is_open


async def goto(pilot, text: str) -> None:
    await pilot.press("t")
    await type_text(pilot, text)
    await pilot.press("enter")


@sync
async def test_go_to_time(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        await pilot.press("t", *"14:30:01", "enter")  # typed key by key once
        await pilot.pause()
        ts = log.row_tuple(log.cursor)[0]
        before = log.row_tuple(log.cursor - 1)[0]
        assert before < START_NS + 10**9 <= ts
        assert format_clock(ts).startswith("14:30:01")
        await goto(pilot, "+500ms")
        await pilot.pause()
        assert log.row_tuple(log.cursor)[0] >= ts + 500 * 10**6
        await goto(pilot, "2026-11-21T14:30:00Z")
        await pilot.pause()
        assert log.cursor == 0
        await goto(pilot, "half past two")
        await pilot.pause()
        assert app.prompt.is_open and "invalid time" in app.prompt.message_text


@sync
async def test_rendering_a_page_costs_the_same_for_1k_and_1m_events() -> None:
    """Virtualisation: a page draws the same number of lines and fetches the same rows."""
    costs = []
    for rows in (1_000, 1_000_000):
        frame = synthetic_frame(rows)
        app = TTViewApp(SourceSpec(frame=frame, label="synthetic"))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            log = app.log_view
            await pilot.press("home")
            await pilot.pause()
            log.lines_rendered = log.rows_fetched = 0
            log._strips.clear()
            log._blocks.clear()
            log.refresh()
            await pilot.pause()
            page = (log.lines_rendered, log.rows_fetched)
            await pilot.press("pagedown")
            await pilot.pause()
            costs.append((page, log.lines_rendered, log.rows_fetched, log.page_height))
    (page_1k, lines_1k, rows_1k, height), (page_1m, lines_1m, rows_1m, _) = costs
    assert page_1k == page_1m
    assert page_1k[0] <= 2 * height  # about one line per row on screen
    assert page_1k[1] <= 64 * 2  # one or two blocks of rows, never the frame
    assert (lines_1k, rows_1k) == (lines_1m, rows_1m)


@sync
async def test_horizontal_scroll_shows_the_end_of_long_lines() -> None:
    frame = synthetic_frame(5).with_columns(pl.lit("z" * 300).alias("note"))
    app = TTViewApp(SourceSpec(frame=frame))
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        first = screen_text(app).splitlines()[2]
        await pilot.press(*["right"] * 10)
        assert app.log_view.h_offset == 80
        assert screen_text(app).splitlines()[2] != first
        await pilot.press("left")
        assert app.log_view.h_offset == 72


@sync
async def test_empty_frame_is_fine() -> None:
    app = TTViewApp(SourceSpec(frame=synthetic_frame(0)))
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("up", "down", "home", "end", "enter", "n", "c", "slash", *"level >= WARN", "enter")
        await wait_until(pilot, lambda: app.filter_text == "level >= WARN")
        assert app.log_view.row_count == 0
