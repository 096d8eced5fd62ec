"""The keys of issue 11: lnav's navigation (e/E, w/W, marks), the delta column, word wrap,
hidden fields, multi-line values, SQL, and keys that did nothing (tab in group-by, ctrl+c)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from tests.tui.helpers import (
    START_NS,
    frame_of,
    loaded,
    screen_text,
    settle,
    sync,
    synthetic_frame,
    type_text,
    wait_until,
)
from ttview.app import SourceSpec, TTViewApp, make_app
from ttview.render import format_delta

SIZE = (120, 40)


def app_over(frame: pl.DataFrame) -> TTViewApp:
    return TTViewApp(SourceSpec(frame=frame, label="synthetic"))


def rows_where(frame: pl.DataFrame, expr: pl.Expr) -> list[int]:
    return frame.with_row_index().filter(expr)["index"].to_list()


# ---- e / E, w / W ------------------------------------------------------------------------------


@sync
async def test_e_and_w_go_to_the_next_and_previous_error_or_warning(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        frame = frame_of(app.view)
        errors = rows_where(frame, pl.col("level") >= 40)
        warnings = rows_where(frame, pl.col("level") >= 30)
        assert len(errors) >= 2 and len(warnings) > len(errors)
        log = app.log_view
        await pilot.press("home")
        await pilot.press("e")
        assert log.cursor == errors[0]
        await pilot.press("e")
        assert log.cursor == errors[1]
        await pilot.press("E")
        assert log.cursor == errors[0]
        await pilot.press("home", "w", "w", "w")
        assert log.cursor == warnings[2]
        await pilot.press("W")
        assert log.cursor == warnings[1]
        # none below the last: the cursor stays and a notification says so
        await pilot.press("end")
        last = log.cursor
        await pilot.press("e")
        await pilot.pause()
        assert log.cursor == last
        assert any("no ERROR or worse below" in str(n.message) for n in app._notifications)


@sync
async def test_e_finds_a_rare_error_far_away_in_a_million_events() -> None:
    frame = synthetic_frame(1_000_000).with_columns(
        level=pl.when(pl.col("seq").is_in([3, 999_990]))
        .then(pl.lit(40, pl.UInt8))
        .otherwise(pl.lit(20, pl.UInt8))
    )
    app = app_over(frame)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("home", "e")
        await settle(pilot)
        assert app.log_view.cursor == 3
        await pilot.press("e")
        await settle(pilot)
        assert app.log_view.cursor == 999_990
        await pilot.press("E")
        await settle(pilot)
        assert app.log_view.cursor == 3


@sync
async def test_a_long_search_goes_on_in_a_worker(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ttview.widgets.log_view as log_view_module

    monkeypatch.setattr(log_view_module, "FIND_BUDGET", 0.0)  # one part on the UI thread, then a worker
    frame = synthetic_frame(300_000).with_columns(
        message=pl.when(pl.col("seq") == 250_000).then(pl.lit("needle")).otherwise(pl.col("message"))
    )
    app = app_over(frame)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("home", "s")
        await type_text(pilot, "needle")
        await pilot.press("enter", "n")
        await settle(pilot)
        assert app.log_view.cursor == 250_000
        await pilot.press("n")  # the only match: wraps round to itself
        await settle(pilot)
        assert app.log_view.cursor == 250_000
        assert any("search wrapped" in str(n.message) for n in app._notifications)
        # a search overtaken by a move of the cursor (or a new view) does not move it afterwards
        log = app.log_view
        await pilot.press("home", "down")
        log._found_later(log.view, 0, 250_000, "search match", False, False)
        assert log.cursor == 1
        log._found_later(log.view, 1, 250_000, "search match", False, False)
        assert log.cursor == 250_000


# ---- marks -------------------------------------------------------------------------------------


@sync
async def test_marks_move_list_filter_and_survive_a_filter(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        frame = frame_of(app.view)
        await pilot.press("home", *["down"] * 5, "m", *["down"] * 10, "m", *["down"] * 20, "m")
        assert list(log.mark_rows) == [5, 15, 35]
        assert "3 marks" in screen_text(app)
        marked = frame[[5, 15, 35]]
        assert list(app.marks) == [
            (int(ts), int(seq), int(pid))
            for ts, seq, pid in marked.select(pl.col("ts").dt.epoch("ns"), "seq", "pid").rows()
        ]
        await pilot.press("home", "u")
        assert log.cursor == 5
        await pilot.press("u", "u")
        assert log.cursor == 35
        await pilot.press("U")
        assert log.cursor == 15
        await pilot.press("m")  # unmark
        assert list(log.mark_rows) == [5, 35] and "2 marks" in screen_text(app)
        # the marked time is drawn in the mark style
        mark_style = log.get_component_rich_style("logview--mark", partial=True)
        assert any(s.style.bgcolor == mark_style.bgcolor for s in log.line_text(5).spans if s.start == 0)
        assert not any(s.start == 0 and s.style == mark_style for s in log.line_text(6).spans)
        # the filter language selects them: 'marked'
        await pilot.press("slash")
        await type_text(pilot, "marked or level >= ERROR")
        await pilot.press("enter")
        await settle(pilot)
        errors = frame.filter(pl.col("level") >= 40).height
        assert app.view.height == 2 + errors
        assert set(frame_of(app.view)["seq"].to_list()) >= {frame["seq"][5], frame["seq"][35]}
        # marking in a 'marked' view changes it at once
        await pilot.press("slash", "ctrl+u")
        await type_text(pilot, "marked")
        await pilot.press("enter")
        await settle(pilot)
        assert app.view.height == 2
        await pilot.press("home", "m")  # unmark the first: it leaves the view
        await settle(pilot)
        assert app.view.height == 1 and frame_of(app.view)["seq"][0] == frame["seq"][35]
        # marks are identities: clearing the filter finds the remaining one at its row
        await pilot.press("slash", "ctrl+u", "enter")
        await settle(pilot)
        assert list(app.log_view.mark_rows) == [35]
        # M lists them; enter goes there
        from ttview.screens.marks import MarksScreen

        await pilot.press("home", "M")
        await pilot.pause()
        assert isinstance(app.screen, MarksScreen)
        assert "1 marked event" in screen_text(app) and "in the view" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.screen_stack[0] and app.log_view.cursor == 35
        await pilot.press("C")
        assert not app.marks and len(app.log_view.mark_rows) == 0


@sync
async def test_the_marks_screen_unmarks(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("home", "m", "down", "m", "M")
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert len(app.marks) == 1 and "1 marked event" in screen_text(app)
        await pilot.press("escape")
        assert list(app.log_view.mark_rows) == [1]


# ---- delta column ------------------------------------------------------------------------------


@sync
async def test_delta_column_since_previous_and_since_mark(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        ts = frame_of(app.view)["ts"].dt.epoch("ns").to_list()
        await pilot.press("home", "T")
        assert log.delta == "previous"
        assert log.delta_text(0) == ""
        assert log.delta_text(7) == format_delta(ts[7] - ts[6])
        assert format_delta(ts[7] - ts[6]) in screen_text(app)
        await pilot.press(*["down"] * 3, "m", "T")
        assert log.delta == "mark"
        assert log.delta_text(2) == ""  # no mark above
        assert log.delta_text(3) == "+0ns"
        assert log.delta_text(10) == format_delta(ts[10] - ts[3])
        await pilot.press("T")
        assert log.delta == "off" and log.delta_text(10) is None


def test_format_delta() -> None:
    assert format_delta(0) == "+0ns"
    assert format_delta(812) == "+812ns"
    assert format_delta(123_456) == "+123.456µs"
    assert format_delta(12_345_678) == "+12.346ms"
    assert format_delta(1_234_000_000) == "+1.234s"
    assert format_delta(123_500_000_000) == "+2m03.5s"
    assert format_delta(-4_000_000) == "-4.000ms"
    assert format_delta(2 * 3600 * 10**9 + 5 * 60 * 10**9) == "+2h05m"


# ---- word wrap ---------------------------------------------------------------------------------


@sync
async def test_word_wrap_shows_a_long_line_whole() -> None:
    long = "x" * 50 + " " + "y" * 50 + " tail-end"
    frame = synthetic_frame(30).with_columns(note=pl.lit(long))
    app = app_over(frame)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("home")
        assert "tail-end" not in screen_text(app)
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert app.log_view.wrap
        lines = screen_text(app).splitlines()
        assert any("tail-end" in line for line in lines)
        assert all(len(line) <= 80 for line in lines)
        first = next(i for i, line in enumerate(lines) if line.startswith("14:30:00.000000"))
        assert lines[first + 1].startswith("    ")  # continuation lines are indented
        # the cursor stays on screen as it moves down through wrapped rows
        await pilot.press(*["down"] * 12)
        await pilot.pause()
        cursor_time = "14:30:00.012000"
        assert any(line.startswith(cursor_time) for line in screen_text(app).splitlines())
        await pilot.press("end")
        await pilot.pause()
        assert any(line.startswith("14:30:00.029000") for line in screen_text(app).splitlines())
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert not app.log_view.wrap and "tail-end" not in screen_text(app)


# ---- hidden fields -----------------------------------------------------------------------------


@sync
async def test_x_in_the_detail_hides_a_field_and_the_header_says_so(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text='logger == "oms.fills"')
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        log = app.log_view
        assert "latency_us=" in log.line_text(0).plain
        await pilot.press("home", "enter", "tab")
        assert app.focused is app.detail
        fields = app.detail.fields
        target = fields.index("latency_us")
        await pilot.press(*["down"] * target)
        assert app.detail.selected_field == "latency_us"
        await pilot.press("x")
        await pilot.pause()
        assert app.hidden == {"latency_us"}
        assert "latency_us=" not in log.line_text(0).plain and "symbol=" in log.line_text(0).plain
        assert "hidden: latency_us" in screen_text(app)
        assert "(hidden in the log)" in app.detail.plain
        # the choice is kept across filters
        await pilot.press("escape", "slash", "ctrl+u", "enter")
        await settle(pilot)
        assert app.view.height == 2000
        assert not any("latency_us=" in log.line_text(r).plain for r in range(20))
        # x again shows it (on an event that carries the field)
        fills = rows_where(frame_of(app.view), pl.col("logger") == "oms.fills")
        app.log_view.move_to(fills[0])
        await pilot.press("enter", "tab")
        detail = app.detail
        assert detail.selected_field == "latency_us"  # the pane keeps the field chosen before
        await pilot.press("x")
        await pilot.pause()
        assert not app.hidden and "latency_us=" in log.line_text(fills[0]).plain


@sync
async def test_the_field_picker_lists_every_field_and_hides_them(snapshot_file: Path) -> None:
    from textual.widgets import SelectionList

    from ttview.schema import field_names
    from ttview.screens.fields import FieldsScreen

    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FieldsScreen)
        names = field_names(app.full.schema)
        listing = screen.query_one(SelectionList)
        assert listing.option_count == len(names)
        assert set(listing.selected) == set(names)  # all shown
        await pilot.press("enter")  # the first: hidden
        await pilot.press("down", "space")  # the second: hidden
        await pilot.press("escape")
        await pilot.pause()
        assert app.hidden == {names[0], names[1]}
        assert f"hidden: {', '.join(sorted(names[:2]))}" in screen_text(app)
        await pilot.press("f", "a", "escape")
        await pilot.pause()
        assert not app.hidden


# ---- multi-line values -------------------------------------------------------------------------


@sync
async def test_a_traceback_shows_on_many_lines_still_escaped() -> None:
    tb = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "\x1b[31mValueError: [bold]no[/bold]"
    )
    frame = synthetic_frame(3).with_columns(exc_info=pl.lit(tb), message=pl.lit("failed\nbadly"))
    app = app_over(frame)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await pilot.pause()
        text = app.detail.plain
        assert "Traceback (most recent call last):\n" in text
        assert '  File "x.py", line 1, in <module>\n' in text
        assert "\\x1bValueError" in text.replace("[31m", "") or "\\x1b[31mValueError" in text
        assert "[bold]no[/bold]" in text  # markup shown as text
        assert "\x1b" not in screen_text(app)
        screen = screen_text(app)
        assert "Traceback (most recent call last):" in screen and '  File "x.py", line 1' in screen
        assert "failed" in screen and "badly" in screen
        # the log line keeps it on one line, escaped
        assert "\\n" in app.log_view.line_text(0).plain


# ---- SQL ---------------------------------------------------------------------------------------


@sync
async def test_sql_prompt_shows_a_table_with_the_total_and_exports_it(
    snapshot_file: Path, tmp_path: Path
) -> None:
    from textual.widgets import DataTable

    from ttview.screens.sql import SqlScreen

    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("semicolon")
        assert app.prompt.is_open and app.prompt.mode == "sql"
        await type_text(pilot, "SELECT nope FROM events")
        await pilot.press("enter")
        await settle(pilot)
        message = app.prompt.message_text
        assert app.prompt.is_open and 'unable to find column "nope"' in message and "\n" not in message
        await pilot.press("ctrl+u")
        await type_text(pilot, "SELECT logger, count(*) AS n FROM events GROUP BY logger ORDER BY n DESC")
        await pilot.press("enter")
        await settle(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, SqlScreen), what="the result")
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        want = frame_of(app.view).group_by("logger").len().sort("len", descending=True)
        assert screen.total == want.height
        table = screen.query_one(DataTable)
        assert table.row_count == want.height
        assert [str(c) for c in table.get_row_at(0)] == [want["logger"][0], str(want["len"][0])]
        assert f"{want.height} rows" in screen_text(app)
        # ctrl+s exports every row
        target = tmp_path / "by-logger.csv"
        await pilot.press("ctrl+s")
        await type_text(pilot, str(target))
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_export == str(target), what="the export")
        back = pl.read_csv(target)
        assert back["logger"].to_list() == want["logger"].to_list()
        assert back["n"].to_list() == want["len"].to_list()
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


@sync
async def test_a_large_sql_result_shows_a_bounded_number_of_rows() -> None:
    from textual.widgets import DataTable

    from ttview.app import SQL_ROWS
    from ttview.screens.sql import SqlScreen

    app = app_over(synthetic_frame(5_000))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("semicolon")
        await type_text(pilot, "SELECT seq, latency_us FROM events WHERE latency_us > 10")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SqlScreen), what="the result")
        screen = app.screen
        total = synthetic_frame(5_000).filter(pl.col("latency_us") > 10).height
        assert screen.total == total > SQL_ROWS
        assert screen.query_one(DataTable).row_count == SQL_ROWS
        assert f"{SQL_ROWS:,} of {total:,} rows shown" in screen_text(app)


# ---- keys that did nothing ----------------------------------------------------------------------


@sync
async def test_tab_in_group_by_moves_to_the_choices(snapshot_file: Path) -> None:
    from textual.widgets import DataTable, Select

    from ttview.screens.group_by import GroupByScreen

    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GroupByScreen)
        assert isinstance(app.focused, DataTable)
        await pilot.press("tab")
        assert isinstance(app.focused, Select) and app.focused.id == "group-by"
        await pilot.press("tab")
        assert isinstance(app.focused, Select) and app.focused.id == "group-field"
        await pilot.press("shift+tab")
        assert app.focused.id == "group-by"
        # choose the next grouping from the keyboard alone
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert screen.by == "level"
        await wait_until(pilot, lambda: screen.result is not None and screen.result.columns[0] == "level")


@sync
async def test_ctrl_c_quits(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not app.is_running


@sync
async def test_ctrl_c_quits_from_the_prompt_too(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", "l", "ctrl+c")
        await pilot.pause()
        assert not app.is_running


@sync
async def test_one_group_is_not_groups() -> None:
    from ttview.screens.group_by import GroupByScreen

    frame = synthetic_frame(20).with_columns(logger=pl.lit("only"))
    app = app_over(frame)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, GroupByScreen)
        text = screen_text(app)
        assert "1 group ·" in text and "1 groups" not in text


def test_json_of_an_event_is_unchanged_by_the_event_view() -> None:
    from ttview.eventview import FrameEventView
    from ttview.render import event_json

    frame = synthetic_frame(3)
    view = FrameEventView(frame)
    assert json.loads(event_json(view.rows(1, 2)))["seq"] == 1
    assert view.identity(2) == (START_NS + 2_000_000, 2, 1)
    assert np.array_equal(view.lazy().collect()["seq"].to_numpy(), frame["seq"].to_numpy())
