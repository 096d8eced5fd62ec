"""The app as a whole: help, theme, command palette, header, bad files, small terminals, quit."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import (
    frame_of,
    loaded,
    screen_text,
    settle,
    sync,
    type_text,
    wait_until,
    write_events,
)
from ttview.app import TTViewApp, make_app
from ttview.render import level_palette
from ttview.screens.group_by import GroupByScreen
from ttview.screens.help import HelpScreen, key_sections

SIZE = (120, 40)


@sync
async def test_help_lists_every_key(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        text = screen.plain
        from textual.binding import Binding

        from ttview.screens.fields import FieldsScreen
        from ttview.screens.marks import MarksScreen
        from ttview.screens.sql import SqlScreen
        from ttview.widgets.detail_pane import DetailPane
        from ttview.widgets.log_view import LogView

        every = [
            *TTViewApp.BINDINGS,
            *LogView.BINDINGS,
            *DetailPane.BINDINGS,
            *GroupByScreen.BINDINGS,
            *MarksScreen.BINDINGS,
            *FieldsScreen.BINDINGS,
            *SqlScreen.BINDINGS,
        ]
        for binding in Binding.make_bindings(every):
            assert app.get_key_display(binding) in text, binding.key
            assert binding.description in text
        for section in ("Log", "Detail pane", "Group by", "Histogram", "Timeline", "Marks", "Fields", "SQL"):
            assert section in text
        for key, what in (("e", "Next error"), ("W", "Previous warning"), ("m", "Mark/unmark"),
                          ("u", "Next mark"), ("T", "Delta column"), ("^w", "Word wrap"), (";", "SQL"),
                          ("^s", "Export"), ("x", "Hide/show field"), ("f", "Fields")):
            assert f"{key}  {what}" in text or f"/ {key}  {what}" in text, (key, what)
        assert "filter" in screen_text(app).lower()
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]
        assert len(key_sections(app.get_key_display)) == 12


@sync
async def test_theme_toggles_between_dark_and_light(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        assert app.current_theme.dark
        dark_line = log.render_line(0)
        await pilot.press("d")
        await pilot.pause()
        assert app.theme == "textual-light" and not app.current_theme.dark
        assert log._line_styles().levels == level_palette(False)
        assert log.render_line(0) != dark_line
        await pilot.press("d")
        assert app.theme == "textual-dark"


@sync
async def test_command_palette_runs_the_main_actions(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "group by")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, GroupByScreen), what="the group-by screen")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await type_text(pilot, "toggle dark")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "textual-light", what="the light theme")


@sync
async def test_header_shows_sources_counts_drops_and_no_clock(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text="level >= WARN")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        top = "\n".join(screen_text(app).splitlines()[:2])
        assert "SNAPSHOT" in top and snapshot_file.name[:20] in top and "2026-11-21 UTC" in top
        assert f"{app.view.height:,} shown of 2,000 events" in top
        assert "0 dropped" in top and "filter: level >= WARN" in top
        import re

        assert not re.search(r"\b\d\d:\d\d:\d\d\b", top)  # no clock in the header


@sync
async def test_header_reports_dropped_and_overwritten_events(tmp_path: Path) -> None:
    dropping = write_events(tmp_path / "d", events=2000, seed=3, ring_size="64KiB")
    overwriting = write_events(
        tmp_path / "o", events=2000, seed=4, pid=4343, ring_size="64KiB", overflow="overwrite"
    )
    from ttview.sources import load_snapshots

    want = load_snapshots([dropping, overwriting])
    assert want.dropped > 0 and want.lost > 0
    app = make_app(paths=[str(dropping), str(overwriting)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        second = screen_text(app).splitlines()[1]
        assert f"{want.dropped:,} dropped" in second and f"{want.lost:,} overwritten" in second
        assert app.view.height == want.frame.height


@sync
async def test_a_corrupt_snapshot_among_several_shows_an_error_and_the_rest_load(tmp_path: Path) -> None:
    good1 = write_events(tmp_path / "a", events=300, seed=1)
    good2 = write_events(tmp_path / "b", events=200, seed=2, pid=4343)
    bad = tmp_path / "broken.ttsnap"
    bad.write_bytes(b"\x04\x22\x4d\x18 this is not an lz4 frame")
    app = make_app(paths=[str(good1), str(bad), str(good2)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.view.height == 500
        assert len(app.errors) == 1 and "broken.ttsnap" in app.errors[0]
        assert any("broken.ttsnap" in n.message for n in app._notifications)
        assert "⚠ 1 error" in screen_text(app)
        ts = frame_of(app.view)["ts"].to_list()
        assert ts == sorted(ts)  # merged by time


@sync
async def test_all_files_corrupt_still_opens(tmp_path: Path) -> None:
    bad = tmp_path / "x.ttsnap"
    bad.write_bytes(b"garbage")
    app = make_app(paths=[str(bad), str(tmp_path / "missing.ttsnap")])
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert app.view.height == 0 and len(app.errors) == 2
        text = screen_text(app)
        assert "⚠ 2 errors" in text and "0 shown of 0 events" in text
        await pilot.press("slash")
        await type_text(pilot, "level >= WARN")
        await pilot.press("enter", "b")
        await settle(pilot)
        await pilot.press("escape", "q")


def test_a_failing_loader_is_reported_and_the_app_stays_up(monkeypatch, tmp_path: Path) -> None:
    import ttview.sources

    def broken(paths, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ttview.sources, "open_catalog", broken)

    @sync
    async def run() -> None:
        app = make_app(paths=[str(tmp_path)])
        async with app.run_test(size=(80, 24)) as pilot:
            await loaded(pilot)
            assert app.view.height == 0
            assert any("disk on fire" in e for e in app.errors)
            assert "loading failed" in {n.title for n in app._notifications}
            await pilot.press("slash")
            assert app.prompt.is_open

    run()


@sync
async def test_usable_at_80x24(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        lines = screen_text(app).splitlines()
        assert len(lines) == 24
        assert lines[0].startswith(" ttview") and "Filter" in lines[-1]
        # the footer fits: Help and Quit are never cut off (the keys named last give way)
        assert "? Help" in lines[-1] and "q Quit" in lines[-1], lines[-1]
        assert app.log_view.page_height >= 18
        for key in ("b", "h", "l"):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is not app.screen_stack[0]
            assert all(len(line) <= 80 for line in screen_text(app).splitlines())
            await pilot.press("escape")
        await pilot.press("enter")
        assert app.detail.is_open and app.log_view.page_height >= 8


@sync
async def test_q_quits(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


def test_readme_keys_section_names_every_key_of_the_log() -> None:
    from textual.binding import Binding

    from ttview.widgets.log_view import LogView

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The viewer's keys", 1)[1].split("\n## ", 1)[0]
    spelled = {"slash": "/", "question_mark": "?", "semicolon": ";"}
    skip = {"escape", "up", "down", "k", "j", "pageup", "pagedown", "space", "left", "right"}
    for binding in Binding.make_bindings([*TTViewApp.BINDINGS, *LogView.BINDINGS]):
        if binding.key in skip:
            continue
        key = spelled.get(binding.key, binding.key)
        assert f"`{key}`" in section, (binding.key, binding.description)


@sync
async def test_files_skipped_before_the_start_are_named(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], skipped=["skipped fake.ttsnap: not a ttlog snapshot"])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        top = screen_text(app).splitlines()[0]
        assert "⚠ 1 error: skipped fake.ttsnap: not a ttlog snapshot" in top
        assert app.view.height == 2000
        assert any("fake.ttsnap" in str(n.message) for n in app._notifications)
