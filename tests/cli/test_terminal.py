"""The CLI with a terminal on stdout (a pseudo-terminal): what it refuses to pour onto a screen."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_on_terminal(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    """``python -m ttview ARGS`` with stdin, stdout and stderr on a pseudo-terminal: its exit
    code and everything it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "LINES": "40", "TERM": "xterm"}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttview", *args], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError("the command did not finish")
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(out: str) -> list[str]:
    """The lines left on the screen: terminal controls (the loading spinner) taken out."""
    lines = []
    for line in _CONTROL.sub("", out).replace("\r\n", "\n").split("\n"):
        line = line.split("\r")[-1]
        if line.strip() and "loading" not in line:
            lines.append(line)
    return lines


def test_export_to_a_terminal_refuses_many_events_and_says_how(samples: Path) -> None:
    code, out = run_on_terminal("export", str(samples))
    assert code == 2, out[-2000:]
    lines = screen_lines(out)
    assert lines == [
        "ttview: error: 167,918 events are too many for the terminal: write them with -o FILE, "
        "or page them with | less"
    ], lines[:5]


def test_export_to_a_terminal_prints_a_few_events(samples: Path) -> None:
    code, out = run_on_terminal("export", str(samples), "-f", "level >= ERROR")  # 506 events
    lines = screen_lines(out)
    assert code == 0, out[-2000:]
    assert len(lines) == 506 and all(line.startswith('{"time":') for line in lines)
