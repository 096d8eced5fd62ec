"""What opening a screen rebuilds and draws: the footers only when their keys change, the
histogram's plot once (with its numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tui.helpers import loaded, screen_text, settle, sync
from ttview.app import make_app
from ttview.widgets.key_footer import KeyFooter

SIZE = (120, 40)


@pytest.fixture
def rebuilt(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The screens whose footer was (re)built, in order."""
    out: list[str] = []
    recompose = KeyFooter.recompose

    async def counted(self: KeyFooter) -> None:
        out.append(type(self.screen).__name__)
        await recompose(self)

    monkeypatch.setattr(KeyFooter, "recompose", counted)
    return out


@sync
async def test_opening_and_closing_screens_builds_each_footer_once(
    snapshot_file: Path, rebuilt: list[str]
) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert rebuilt == ["Screen"]  # the log's, once
        for key, screen in (("h", "HistogramScreen"), ("b", "GroupByScreen"), ("l", "TimelineScreen")):
            rebuilt.clear()
            await pilot.press(key)
            await settle(pilot)
            assert type(app.screen).__name__ == screen
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is app.screen_stack[0]
            assert rebuilt == [screen], key  # not the log's, hidden under it and back unchanged


@sync
async def test_the_footer_follows_the_keys_that_work(snapshot_file: Path, rebuilt: list[str]) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "/ Filter" in footer and "h Histogram" in footer
        await pilot.press("slash")  # the prompt has the focus: its keys are typed, not bound
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "/ Filter" not in footer and "esc Close" in footer
        await pilot.press("escape")
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "/ Filter" in footer and "esc Close" not in footer
        await pilot.press("question_mark")  # a modal screen: the log's footer is seen under it
        await settle(pilot)
        assert "h Histogram" not in screen_text(app).splitlines()[-1]


@sync
async def test_the_histogram_plot_is_drawn_once_with_its_numbers(
    snapshot_file: Path, monkeypatch: Any
) -> None:
    from textual_plotext import PlotextPlot

    from ttview.screens.histogram import HistogramScreen

    drawn: list[bool] = []
    render = PlotextPlot.render

    def counted(self: PlotextPlot) -> Any:
        screen = self.screen
        assert isinstance(screen, HistogramScreen)
        drawn.append(screen.result is not None)
        return render(self)

    monkeypatch.setattr(PlotextPlot, "render", counted)
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.pause(0.1)
        assert drawn == [True]
        assert "computing…" not in screen_text(app)
        await pilot.press("l")  # log → linear bins: drawn again, once
        await settle(pilot)
        await pilot.pause(0.1)
        assert drawn == [True, True]
