"""Screenshots of the log screen (pytest-textual-snapshot); `pytest --snapshot-update` renews them."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import before
from ttview.app import make_app


def test_log_120x40(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before())


def test_log_80x24(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(
        make_app(paths=[str(snapshot_file)]), terminal_size=(80, 24), run_before=before("home")
    )


def test_log_light_theme(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(
        make_app(paths=[str(snapshot_file)]),
        terminal_size=(120, 40),
        run_before=before("d", "home", "down", "down"),
    )


def test_filter_applied(snap_compare, snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    assert snap_compare(
        app,
        terminal_size=(120, 40),
        run_before=before("slash", text="level >= WARN or latency_us > 300", then=("enter",)),
    )


def test_filter_error_with_caret(snap_compare, snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    assert snap_compare(
        app,
        terminal_size=(120, 40),
        run_before=before("slash", text='level >= WARN and symbol ~ "(AAPL"', then=("enter",)),
    )


def test_search_highlight(snap_compare, snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    assert snap_compare(
        app, terminal_size=(120, 40), run_before=before("home", "s", text="AAPL", then=("enter", "n", "n"))
    )


def test_detail_pane(snap_compare, snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text='logger == "oms.fills"')
    assert snap_compare(app, terminal_size=(120, 40), run_before=before("home", "enter"))
