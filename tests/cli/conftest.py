"""Fixtures for the CLI tests: a runner with the golden environment, rings and snapshots made here."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ttlog import ring as R
from ttlog.codec import write_snapshot
from ttlog.reader import RingReader
from typer.testing import CliRunner

from tests.cli.golden import ENV
from ttview.cli import app
from ttview.lsinfo import sample_dir

HOSTILE = {
    "ansi": "\x1b[31mRED\x1b[0m",
    "osc": "\x1b]0;pwned\x07title",
    "markup": "[bold red]markup[/bold red] [link=http://x]y[/link]",
    "bidi": "abc\u202eevil\u202c",
    "c1": "csi\x9b31m",
    "newline": "two\nlines\rback",
}


@dataclass
class Ran:
    """What one CLI invocation did."""

    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def run() -> Callable[..., Ran]:
    """run(*args, env=None) -> Ran: the CLI in-process (typer's CliRunner), stderr apart."""

    def invoke(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Ran:
        result = CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)

    return invoke


@pytest.fixture(scope="session")
def samples() -> Path:
    return sample_dir()


def fill_ring(
    directory: Path,
    *,
    service: str,
    pid: int,
    events: list[tuple[str, str, str, dict[str, Any]]],
    ring_size: str = "1MiB",
    start_ns: int = 1_795_185_000_000_000_000,
) -> Path:
    """A ring written by the pure-Python writer with fixed times: (logger, method, message, fields)."""
    path = R.create_ring_file(directory, service=service, pid=pid, ring_size=ring_size, level="TRACE")
    ring = R.PyRing()
    ring.map(path)
    loggers: dict[str, Any] = {}
    for i, (logger, method, message, fields) in enumerate(events):
        ring._set_fixed(start_ns + i * 1_000_000, pid)
        log = loggers.setdefault(logger, R.PyLogger(ring, logger))
        getattr(log, method)(message, **fields)
    ring.unmap()
    return path


def snapshot_of(ring_path: Path, out_dir: Path, *, service: str, pid: int, reason: str = "exit") -> Path:
    with RingReader(ring_path, consume=True) as reader:
        batches = reader.read_all(final=True)
    return write_snapshot(
        out_dir, batches, service=service, pid=pid, reason=reason, created_ns=1_795_185_100_000_000_000
    )


@pytest.fixture
def hostile_snapshot(tmp_path: Path) -> Path:
    """A snapshot whose logger names, messages, field keys and values try to drive the terminal."""
    shm = tmp_path / "shm"
    shm.mkdir()
    events = []
    for i, (name, text) in enumerate(HOSTILE.items()):
        events.append(
            (
                f"log.{name}{text}",
                "warn",
                f"msg {text}",
                {
                    "latency_us": float(10 * (i + 1)),
                    "tag": text,
                    f"key{text}": i,
                },
            )
        )
        events.append(("plain", "info", "ok", {"latency_us": 1.5, "tag": name}))
    ring = fill_ring(shm, service="evil\x1b[2Jsvc", pid=31337, events=events)
    out = tmp_path / "snaps"
    out.mkdir()
    return snapshot_of(ring, out, service="evil\x1b[2Jsvc", pid=31337)
