"""Driven as a person would: the app in a real terminal (tmux), keys sent, the screen read back.

CI installs tmux (.ci/run); without it this test fails and says so, it is never skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.tui.helpers import write_events
from ttview.query import apply_filter
from ttview.render import format_clock
from ttview.sources import load_snapshots

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """One tmux server of our own (its own socket), so nothing of the user's is touched."""

    def __init__(self, name: str) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            pytest.fail("tmux is not installed: install it (apt-get install tmux) to run the terminal test")
        self.tmux = tmux
        self.socket = f"ttview-test-{os.getpid()}-{name}"
        self.session = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tmux, "-L", self.socket, *args], capture_output=True, text=True, check=check, timeout=20
        )

    def start(self, command: str, width: int, height: int) -> None:
        self.run("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command)

    def send(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", self.session, *(["-l"] if literal else []), *keys)
        if keys[-1] == "Escape":
            time.sleep(0.4)  # a key right after ESC would read as alt+key

    def screen(self) -> str:
        result = self.run("capture-pane", "-p", "-t", self.session, check=False)
        return result.stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def wait_for(self, *texts: str, timeout: float = 15.0) -> str:
        """The screen once every one of ``texts`` is on it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} never all appeared; the screen was:\n{screen}")

    def close(self) -> None:
        self.run("kill-server", check=False)


def app_command(*paths: Path) -> str:
    """The shell command running ``python -m ttview.app PATH...`` from the repository.

    COLUMNS and LINES are dropped: the shell may have exported the pane's size before tmux
    resized it, and the app should ask the terminal itself.
    """
    env = [f"PYTHONPATH={ROOT}"]
    if os.environ.get("LD_PRELOAD"):
        env.append(f"LD_PRELOAD={os.environ['LD_PRELOAD']}")
    args = " ".join(shlex.quote(str(p)) for p in paths)
    run = f"exec env -u COLUMNS -u LINES {' '.join(env)} {sys.executable} -m ttview.app {args}"
    return f"cd {shlex.quote(str(ROOT))} && {run}"


def test_filter_in_a_real_terminal(tmp_path: Path) -> None:
    snapshot = write_events(tmp_path)
    text = 'logger == "oms.fills" and latency_us > 40'
    want = apply_filter(load_snapshots([snapshot]).frame, text)
    assert 0 < want.height < 2000
    command = app_command(snapshot)
    tmux = Tmux("filter")
    try:
        tmux.start(command, 120, 40)
        tmux.wait_for("2,000 shown of 2,000 events")
        tmux.send("/")
        tmux.send(text, literal=True)  # no waiting: keys right behind / land in the prompt
        tmux.send("Enter")
        tmux.wait_for(f"{want.height:,} shown of 2,000 events")
        screen = tmux.wait_for("Histogram")  # the footer of the log is back: the prompt closed
        lines = screen.splitlines()
        assert len(lines) == 40
        assert f"filter: {text}"[:40] in lines[1]
        rows = [line for line in lines[2:] if line[:2].isdigit() and line[2] == ":"]
        assert len(rows) == min(want.height, 40 - 3)  # two header lines, one footer
        assert all(" TRADE " in row and " oms.fills " in row for row in rows)
        last = want.row(want.height - 1, named=True)
        assert last["order_id"] in rows[-1]  # the cursor stayed on the newest event
        # a bad filter: the error with its caret under the prompt; the rows stay
        tmux.send("/", "C-u")
        tmux.wait_for("filter › e.g.")  # C-u emptied the prompt (a binding: it runs after queued keys)
        tmux.send("latency_us >> 5", literal=True)
        tmux.send("Enter")
        screen = tmux.wait_for("^ ")
        assert f"{want.height:,} shown of 2,000 events" in screen
        tmux.send("Escape")
        tmux.send("q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tmux.alive(), "q did not quit the app"
    finally:
        tmux.close()


def test_80x24_in_a_real_terminal(tmp_path: Path) -> None:
    snapshot = write_events(tmp_path, events=300)
    tmux = Tmux("small")
    try:
        tmux.start(app_command(snapshot), 80, 24)
        # the footer may be drawn a frame after the events (they can be decoded before the app mounts)
        screen = tmux.wait_for("300 shown of 300 events", "Filter")
        lines = screen.splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert "Filter" in lines[-1]
        assert "? Help" in lines[-1] and "q Quit" in lines[-1]  # the footer fits: Help and Quit shown
        tmux.send("b")
        tmux.wait_for("p99.9")
        tmux.send("Escape")
        tmux.send("h")
        screen = tmux.wait_for("latency_us (log)", "lines at p50")
        # whole counts on the y axis, no percentile legend over the bars
        assert not re.search(r"\d\.\d+┤", screen) and "│ p50" not in screen.split("lines at")[0]
        tmux.send("Escape")
        tmux.send("q")
    finally:
        tmux.close()


def _quit_with(tmux: Tmux, *keys: str) -> None:
    tmux.send(*keys)
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), f"{keys} did not quit the app"


def test_lnav_keys_in_a_real_terminal(tmp_path: Path) -> None:
    snapshot = write_events(tmp_path)
    frame = load_snapshots([snapshot]).frame
    errors = frame.filter(pl.col("level") >= 40)
    first_error = format_clock(errors["ts"].dt.epoch("ns")[0])
    tmux = Tmux("lnav")
    try:
        tmux.start(app_command(snapshot), 120, 40)
        tmux.wait_for("2,000 shown of 2,000 events", "Filter")
        tmux.send("g")
        tmux.send("e")  # the first error is on the cursor row, so on the screen
        screen = tmux.wait_for(first_error)
        assert any(line.startswith(first_error) and " ERROR " in line for line in screen.splitlines())
        tmux.send("m")
        tmux.wait_for("1 mark")
        tmux.send("T")  # the delta column
        screen = tmux.wait_for("delta: time since the previous event")
        assert re.search(r"^\d\d:\d\d:\d\d\.\d{6} +\+\d+\.\d{3}[µm]?s ", screen, re.MULTILINE)
        tmux.send("C-w")  # word wrap: a line's fields continue on the next, indented
        screen = tmux.wait_for("word wrap on")
        assert any(line.startswith("    ") and "=" in line for line in screen.splitlines())
        tmux.send("C-w")
        tmux.wait_for("word wrap off")
        # SQL: ';' opens the prompt (tmux's own ';' must be sent literally)
        tmux.send(";SELECT level, count(*) AS n FROM events GROUP BY level ORDER BY n DESC", literal=True)
        tmux.send("Enter")
        screen = tmux.wait_for("SQL · SELECT level", "rows · ctrl+s")
        assert "ctrl+s: export all" in screen
        tmux.send("Escape")
        tmux.wait_for("Filter")
        _quit_with(tmux, "C-c")  # ctrl+c quits, as in lnav and toolong
    finally:
        tmux.close()


def test_an_unknown_field_from_the_command_line_in_a_real_terminal(tmp_path: Path) -> None:
    snapshot = write_events(tmp_path, events=200)
    env = [f"PYTHONPATH={ROOT}"]
    opened = shlex.quote(str(snapshot))
    run = f"exec env -u COLUMNS -u LINES {' '.join(env)} {sys.executable} -m ttview open {opened}"
    tmux = Tmux("unknown")
    try:
        tmux.start(f"cd {shlex.quote(str(ROOT))} && {run} -f 'latncy_us > 5'", 100, 30)
        screen = tmux.wait_for("did you mean 'latency_us'?")
        assert "200 shown of 200 events" in screen  # not an empty list
        tmux.send("Escape")  # closes the prompt
        _quit_with(tmux, "q")
    finally:
        tmux.close()
