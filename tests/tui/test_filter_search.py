"""Filter (/) and text search (s, ctrl+f, n, N)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.tui.helpers import frame_of, loaded, screen_text, settle, sync, type_text, wait_until
from ttview.app import make_app
from ttview.query import apply_filter
from ttview.search import search_expr
from ttview.sources import load_snapshots

SIZE = (120, 40)


def expected(snapshot_file: Path, text: str) -> int:
    return apply_filter(load_snapshots([snapshot_file]).frame, text).height


@sync
async def test_filter_applies_and_counts(snapshot_file: Path) -> None:
    text = 'level >= WARN or (logger == "oms.fills" and latency_us > 60)'
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash")
        assert app.prompt.is_open and app.focused is app.prompt.input
        await type_text(pilot, text)
        await pilot.press("enter")
        await settle(pilot)
        want = expected(snapshot_file, text)
        assert 0 < want < 2000
        assert app.view.height == app.log_view.row_count == want
        assert not app.prompt.is_open and app.focused is app.log_view
        assert f"{want:,} shown of 2,000 events" in screen_text(app)
        levels = frame_of(app.view).get_column("level").to_list()
        loggers = frame_of(app.view).get_column("logger").to_list()
        assert all(lv >= 30 or lg == "oms.fills" for lv, lg in zip(levels, loggers, strict=True))


@sync
async def test_bad_filter_shows_the_error_with_a_caret_and_changes_nothing(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash")
        await type_text(pilot, "level >= WARN")
        await pilot.press("enter")
        await settle(pilot)
        before = app.view.height
        await pilot.press("slash", "ctrl+u")
        await type_text(pilot, "level >= WARN and (latency_us > ")
        await pilot.press("enter")
        await settle(pilot)
        assert app.prompt.is_open
        message = app.prompt.message_text
        line, caret = message.splitlines()
        assert line == "level >= WARN and (latency_us >"
        assert caret.index("^") == len("level >= WARN and (latency_us >")
        assert "expected a value" in caret
        assert app.view.height == before and app.filter_text == "level >= WARN"
        screen = screen_text(app)
        assert "^ expected a value" in screen
        await pilot.press("escape")
        assert not app.prompt.is_open and app.view.height == before


@sync
async def test_error_shows_while_typing_and_unknown_fields_warn(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"symbol == AAPL")  # typed key by key: checked as it changes
        assert "^" in app.prompt.message_text
        await pilot.press("ctrl+u")
        await type_text(pilot, 'symbol == "AAPL"')
        assert app.prompt.message_text == ""
        await pilot.press("ctrl+u")
        await type_text(pilot, "latncy_us > 5")
        await pilot.press("enter")
        await settle(pilot)
        # an unknown field is an error, as on the command line: nothing applied, the prompt stays
        assert "^ unknown field 'latncy_us' (did you mean 'latency_us'?)" in app.prompt.message_text
        assert app.prompt.is_open and app.view.height == 2000 and app.filter_text == ""
        await pilot.press("ctrl+u")
        await type_text(pilot, "reject")  # a bare word: quote it
        assert 'message ~ "reject"' in app.prompt.message_text


@sync
async def test_an_unknown_field_from_the_command_line_says_did_you_mean(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text="latncy_us > 5")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.prompt.is_open and app.prompt.input.value == "latncy_us > 5"
        assert "did you mean 'latency_us'?" in app.prompt.message_text
        assert "did you mean 'latency_us'?" in screen_text(app)
        assert app.view.height == 2000  # not an empty list


@sync
async def test_filter_history_with_up_and_down(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for text in ("level >= WARN", 'logger == "risk"', "latency_us > 100"):
            await pilot.press("slash", "ctrl+u")
            await type_text(pilot, text)
            await pilot.press("enter")
            await settle(pilot)
        await pilot.press("slash", "ctrl+u", *"draft")
        entry = app.prompt.input
        await pilot.press("up")
        assert entry.value == "latency_us > 100"
        await pilot.press("up", "up")
        assert entry.value == "level >= WARN"
        await pilot.press("up")
        assert entry.value == "level >= WARN"
        await pilot.press("down")
        assert entry.value == 'logger == "risk"'
        await pilot.press("down", "down")
        assert entry.value == "draft"
        await pilot.press("ctrl+u", "enter")  # empty: every event again
        await settle(pilot)
        assert app.view.height == 2000 and app.filter_text == ""


@sync
async def test_filter_keeps_the_selected_event(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash")
        await type_text(pilot, 'logger == "oms.fills"')
        await pilot.press("enter")
        await settle(pilot)
        log = app.log_view
        await pilot.press("home", "down", "down")
        chosen = log.event_row(log.cursor)
        await pilot.press("slash", "ctrl+u", "enter")
        await settle(pilot)
        assert app.view.height == 2000
        now = log.event_row(log.cursor)
        assert (now["seq"], now["ts"]) == (chosen["seq"], chosen["ts"])


@sync
async def test_search_highlights_and_moves_between_matches(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        await pilot.press("home", "s", *"REJECTED", "enter")
        await settle(pilot)
        frame = load_snapshots([snapshot_file]).frame
        want = (
            frame.with_row_index().filter(pl.col("message").str.contains("(?i)rejected"))["index"].to_list()
        )
        assert f"search: REJECTED ({len(want):,} lines)" in screen_text(app)
        await pilot.press("n")
        assert log.cursor == want[0]
        await pilot.press("n")
        assert log.cursor == want[1]
        await pilot.press("N")
        assert log.cursor == want[0]
        await pilot.press("N")  # wraps to the last
        assert log.cursor == want[-1]
        # the match is highlighted in the visible line
        text = log.line_text(log.cursor)
        start = text.plain.index("Order rejected") + len("Order ")
        match_style = log.get_component_rich_style("logview--match", partial=True)
        assert any(s.start == start and s.end == start + 8 and s.style == match_style for s in text.spans)
        strip = log.render_line(log.cursor - round(log.scroll_offset.y))
        assert any("rejected" == seg.text for seg in strip)
        await pilot.press("escape")  # clears the search
        assert log.search_term == ""
        assert not any(s.style == match_style for s in log.line_text(log.cursor).spans)


@sync
async def test_search_matches_fields_and_ctrl_f(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+f")
        await type_text(pilot, "ORD-0000010")
        await pilot.press("enter")
        await settle(pilot)
        frame = frame_of(app.view)
        rows = frame.with_row_index().filter(search_expr(frame.schema, "ORD-0000010"))["index"].to_list()
        assert rows  # the order placed, and its fill or reject if any
        assert f"({len(rows)} lines)" in screen_text(app)
        for row in rows:
            assert "ORD-0000010" in app.log_view.line_text(row).plain
        await pilot.press("n")
        await wait_until(pilot, lambda: app.log_view.cursor in rows)
