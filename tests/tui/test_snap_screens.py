"""Screenshots of the group-by, histogram, timeline and help screens."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import before
from ttview.app import make_app


def test_group_by(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before("b"))


def test_group_by_80x24(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(80, 24), run_before=before("b"))


def test_histogram_log_bins(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before("h"))


def test_histogram_compare_loggers(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(
        make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before("h", "g")
    )


def test_timeline(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(
        make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before("l", "left", "left")
    )


def test_help(snap_compare, snapshot_file: Path) -> None:
    assert snap_compare(
        make_app(paths=[str(snapshot_file)]), terminal_size=(120, 40), run_before=before("question_mark")
    )
