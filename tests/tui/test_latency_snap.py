"""Screenshots of the latency screen (L) at 120x40 and 80x24."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tui.helpers import before, settle
from ttview.app import make_app
from ttview.screens.latency import LatencyScreen


def fresh(*keys: str) -> Any:
    """``before(...)`` from the screen's defaults (it remembers the last pairing otherwise)."""
    run = before(*keys)

    async def go(pilot: Any) -> None:
        LatencyScreen.last = None
        await run(pilot)

    return go


def test_latency_order_to_fill(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=fresh("L"))


def test_latency_order_to_fill_80x24(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(80, 24), run_before=fresh("L"))


def test_latency_compare_venues_bin_moved(snap_compare, snapshot_file: Path) -> None:
    async def venues(pilot: Any) -> None:
        await fresh("L")(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LatencyScreen)
        for _ in screen.group_options:  # g: the next grouping column, until venue
            if screen.inputs.group_by == "venue":
                break
            await pilot.press("g")
            await settle(pilot)
        assert screen.inputs.group_by == "venue"
        await settle(pilot)
        await pilot.press("left", "left")
        await settle(pilot)

    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=venues)
