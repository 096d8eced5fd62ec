"""Fixtures of the TUI tests: a deterministic snapshot, and the app over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.helpers import write_events


@pytest.fixture(scope="session")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2,000-event market-replay snapshot with fixed times (2026-11-21 14:30 UTC onwards)."""
    return write_events(tmp_path_factory.mktemp("snap"))
