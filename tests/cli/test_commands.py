"""ls, snapshot, the viewer commands' wiring, the default source, help/version, hostile text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ttview.cli as cli
from tests.cli.conftest import HOSTILE, Ran, fill_ring
from ttview.lsinfo import default_source, newest_snapshots, sample_dir, snapshot_rows
from ttview.sources import load_snapshots

EVENTS = [
    ("orders", "trade", "fill", {"qty": 5, "latency_us": 12.5}),
    ("md", "info", "tick", {"px": 1.5}),
] * 10


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- ls ------------------------------------------------------------------------------------------


def test_ls_lists_live_and_dead_rings(run: Callable[..., Ran], tmp_path: Path, samples: Path) -> None:
    fill_ring(tmp_path, service="trader", pid=os.getpid(), events=EVENTS)
    fill_ring(tmp_path, service="gone", pid=_dead_pid(), events=EVENTS[:3])
    ran = run("ls", "--shm-dir", tmp_path, "--snapshot-dir", samples, "--json")
    assert ran.exit_code == 0, ran.stderr
    data = json.loads(ran.stdout)
    rings = {r["service"]: r for r in data["rings"]}
    assert (
        rings["trader"]["alive"] and rings["trader"]["events"] == 20 and rings["trader"]["pid"] == os.getpid()
    )
    assert not rings["gone"]["alive"] and rings["gone"]["events"] == 3
    assert rings["trader"]["lag_bytes"] > 0 and 0 < rings["trader"]["fill"] < 1
    assert data["sidecar"] is None
    assert [s["reason"] for s in data["snapshots"]] == ["exit", "crash", "crash"]
    table = run("ls", "--shm-dir", tmp_path, "--snapshot-dir", samples, env={"COLUMNS": "140"})
    assert table.exit_code == 0
    assert "trader" in table.stdout and "alive" in table.stdout and "dead" in table.stdout
    assert "no sidecar running" in table.stdout and "120,000" in table.stdout


def test_ls_shows_unreadable_snapshots_and_empty_places(run: Callable[..., Ran], tmp_path: Path) -> None:
    (tmp_path / "bad.ttsnap").write_bytes(b"not a snapshot at all")
    ran = run("ls", "--shm-dir", tmp_path, "--snapshot-dir", tmp_path, env={"COLUMNS": "140"})
    assert ran.exit_code == 0, ran.stderr
    assert "none" in ran.stdout and "unreadable" in ran.stdout and "bad.ttsnap" in ran.stdout
    rows = snapshot_rows([tmp_path / "bad.ttsnap"])
    assert rows[0].error and "not a ttlog snapshot" in rows[0].error


def test_ls_limits_snapshots_unless_all(run: Callable[..., Ran], tmp_path: Path, samples: Path) -> None:
    src = sorted(samples.glob("*.ttsnap"))[-1]
    for i in range(53):
        shutil.copy(src, tmp_path / f"svc.1.20261120T1630{i:02d}.000000Z.exit.ttsnap")
    few = json.loads(run("ls", "--shm-dir", tmp_path, "--snapshot-dir", tmp_path, "--json").stdout)
    assert len(few["snapshots"]) == 50 and few["more_snapshots"] == 3
    every = json.loads(run("ls", "--shm-dir", tmp_path, "--snapshot-dir", tmp_path, "--json", "--all").stdout)
    assert len(every["snapshots"]) == 53


# ---- snapshot ------------------------------------------------------------------------------------


def test_snapshot_needs_a_live_ring_and_a_sidecar(run: Callable[..., Ran], tmp_path: Path) -> None:
    ran = run("snapshot", "--shm-dir", tmp_path)
    assert ran.exit_code == 1 and ran.stderr.count("\n") == 1 and "no live ring" in ran.stderr
    fill_ring(tmp_path, service="trader", pid=os.getpid(), events=EVENTS)
    ran = run("snapshot", "other", "--shm-dir", tmp_path)
    assert ran.exit_code == 1 and "of service 'other'" in ran.stderr
    ran = run("snapshot", "trader", "--shm-dir", tmp_path)
    assert ran.exit_code == 1 and "no sidecar" in ran.stderr
    assert not (tmp_path / ".ttlog-requests").exists(), "no request is left when nothing will act on it"


def test_snapshot_request_that_cannot_be_written_is_one_line(
        run: Callable[..., Ran], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request directory is taken by a file that is not this user's directory: one line, exit
    2, and the file is left as it was."""
    import ttlog.sidecar

    fill_ring(tmp_path, service="trader", pid=os.getpid(), events=EVENTS)
    (tmp_path / ".ttlog-requests").write_text("not a directory")
    monkeypatch.setattr(ttlog.sidecar, "sidecar_running", lambda shm: True)
    ran = run("snapshot", "trader", "--shm-dir", tmp_path)
    assert ran.exit_code == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert "cannot ask the sidecar for a snapshot" in ran.stderr and "Traceback" not in ran.stderr
    assert (tmp_path / ".ttlog-requests").read_text() == "not a directory"


def test_snapshot_asks_the_running_sidecar(run: Callable[..., Ran], tmp_path: Path) -> None:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    fill_ring(shm, service="trader", pid=os.getpid(), events=EVENTS)
    side = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ttview",
            "sidecar",
            "--shm-dir",
            str(shm),
            "--snapshot-dir",
            str(snaps),
            "--interval",
            "3600",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        from ttlog.sidecar import sidecar_running

        _wait(lambda: sidecar_running(shm), "the sidecar to start")
        ran = run("snapshot", "trader", "--shm-dir", shm, "--reason", "manual", "--wait", "20")
        assert ran.exit_code == 0, ran.stderr
        assert "asked the sidecar for a snapshot of 1 ring: trader" in ran.stdout
        made = list(snaps.glob("*.manual.ttsnap"))
        assert len(made) == 1 and str(made[0]) in ran.stdout
    finally:
        side.terminate()
        side.wait(timeout=20)
    assert side.returncode == 0


def _env() -> dict[str, str]:
    root = str(Path(cli.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _wait(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sidecar_once(run: Callable[..., Ran], tmp_path: Path) -> None:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    ring = fill_ring(shm, service="gone", pid=_dead_pid(), events=EVENTS)
    ran = run("sidecar", "--shm-dir", shm, "--snapshot-dir", snaps, "--once")
    assert ran.exit_code == 0, ran.stderr
    made = list(snaps.glob("gone.*.ttsnap"))
    assert len(made) == 1 and not ring.exists()
    stats = run("stats", made[0], "--json")
    assert json.loads(stats.stdout)["events"] == 20


# ---- the default source and the viewer commands --------------------------------------------------


def test_default_source_prefers_live_then_snapshots_then_samples(tmp_path: Path, samples: Path) -> None:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    snaps.mkdir()
    src = default_source(shm_dir=shm, snapshot_dir=snaps)
    assert src.kind == "samples" and src.paths == tuple(sorted(sample_dir().glob("*.ttsnap"), key=_name_time))
    fill_ring(shm, service="dead", pid=_dead_pid(), events=EVENTS)
    assert default_source(shm_dir=shm, snapshot_dir=snaps).kind == "samples", "a dead ring is not live"
    for p in samples.glob("*.ttsnap"):
        shutil.copy(p, snaps / p.name)
    src = default_source(shm_dir=shm, snapshot_dir=snaps)
    assert src.kind == "snapshots"
    assert [p.name for p in src.paths] == [p.name for p in sorted(samples.glob("*.ttsnap"), key=_name_time)]
    fill_ring(shm, service="live", pid=os.getpid(), events=EVENTS)
    src = default_source(shm_dir=shm, snapshot_dir=snaps)
    assert src.kind == "live" and src.shm_dir == shm and "live rings" in src.describe()


def _name_time(p: Path) -> str:
    return p.name.split(".")[2]


def test_default_source_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTLOG_SHM_DIR", str(tmp_path))
    monkeypatch.setenv("TTLOG_SNAPSHOT_DIR", str(tmp_path / "nowhere"))
    src = default_source()
    assert src.shm_dir == tmp_path and src.snapshot_dir == tmp_path / "nowhere" and src.kind == "samples"


def test_stats_hist_export_default_to_the_newest_snapshots(
    run: Callable[..., Ran], tmp_path: Path, samples: Path
) -> None:
    from tests.cli.golden import GOLDEN_DIR

    env = {"TTLOG_SNAPSHOT_DIR": str(tmp_path)}
    ran = run("stats", env=env)  # an empty snapshot directory: the bundled samples
    shown = "".join(line.rstrip() + "\n" for line in ran.stdout.splitlines())
    assert ran.exit_code == 0 and shown == (GOLDEN_DIR / "stats_logger.txt").read_text()
    shutil.copy(sorted(samples.glob("md-recorder*.ttsnap"))[0], tmp_path)
    ran = run("hist", "--json", env=env)
    assert ran.exit_code == 0 and json.loads(ran.stdout)["events"] == 7918
    ran = run("export", "-F", "csv", "--fields", "seq", env=env)
    assert ran.exit_code == 0 and ran.stdout.count("\n") == 7918 + 1


def test_newest_snapshots_budget(tmp_path: Path, samples: Path) -> None:
    files = sorted(samples.glob("*.ttsnap"), key=_name_time)
    for p in files:
        shutil.copy(p, tmp_path / p.name)
    assert [p.name for p in newest_snapshots(tmp_path)] == [p.name for p in files]
    assert [p.name for p in newest_snapshots(tmp_path, max_files=2)] == [p.name for p in files[-2:]]
    assert [p.name for p in newest_snapshots(tmp_path, max_bytes=1)] == [files[-1].name], "the newest always"
    assert newest_snapshots(tmp_path / "missing") == []


class FakeApp:
    calls: list[dict[str, Any]] = []
    return_code = 0

    def __init__(self, **kwargs: Any) -> None:
        FakeApp.calls.append(kwargs)

    def run(self) -> None:
        pass


@pytest.fixture
def fake_viewer(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    module = types.ModuleType("ttview.app")
    module.make_app = FakeApp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ttview.app", module)
    monkeypatch.setattr(cli, "_require_terminal", lambda: None)
    FakeApp.calls = []
    return FakeApp.calls


def test_open_tail_and_no_command_hand_off_to_the_viewer(
    run: Callable[..., Ran], fake_viewer: list[dict[str, Any]], samples: Path, tmp_path: Path
) -> None:
    assert run("open", samples, "-f", "level >= WARN").exit_code == 0
    opened = dict(fake_viewer[-1])
    preload = opened.pop("preload")  # the load began before the viewer was imported
    paths = [str(p) for p in sorted(samples.glob("*.ttsnap"), key=_name_time)]
    assert opened == {"paths": paths, "filter_text": "level >= WARN", "skipped": []}
    loaded = preload.full.result(timeout=30)
    assert [str(f) for f in loaded.files] == paths
    assert loaded.frame.height == load_snapshots(paths).frame.height
    assert run("tail", "trader", "--shm-dir", tmp_path, "--max-events", "1000").exit_code == 0
    assert fake_viewer[-1] == {
        "live": True,
        "shm_dir": str(tmp_path),
        "service": "trader",
        "max_live_events": 1000,
        "filter_text": "",
    }
    env = {"TTLOG_SHM_DIR": str(tmp_path), "TTLOG_SNAPSHOT_DIR": str(tmp_path / "none")}
    assert run(env=env).exit_code == 0
    assert fake_viewer[-1]["preload"].full.result(timeout=30).frame.height > 0
    assert [Path(p).name for p in fake_viewer[-1]["paths"]] == [
        p.name for p in sorted(samples.glob("*.ttsnap"), key=_name_time)
    ]
    fill_ring(tmp_path, service="live", pid=os.getpid(), events=EVENTS)
    assert run(env=env).exit_code == 0
    assert fake_viewer[-1] == {"live": True, "shm_dir": str(tmp_path)}


# ---- help, version, entry points -------------------------------------------------------------------

COMMANDS = ["open", "tail", "export", "stats", "hist", "ls", "snapshot", "sidecar", "demo"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_everywhere(run: Callable[..., Ran], command: str | None, flag: str) -> None:
    ran = run(*([command] if command else []), flag)
    assert ran.exit_code == 0 and ran.stderr == ""
    assert "Usage: ttview" in ran.stdout
    if command is None:
        assert all(c in ran.stdout for c in COMMANDS)
    elif command not in ("sidecar", "demo", "open", "tail", "ls"):
        assert "Exit codes" in ran.stdout


def test_version(run: Callable[..., Ran]) -> None:
    from ttview import __version__

    for flag in ("--version", "-V"):
        ran = run(flag)
        assert ran.exit_code == 0 and ran.stdout == f"ttview {__version__}\n"


def test_python_dash_m_and_completion(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ttview", "--help"], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert out.returncode == 0 and "Usage: ttview" in out.stdout and "--install-completion" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "ttview", "stats", "--nope"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [["export", "-F", "ndjson"], ["stats", "-g", "order_id", "--limit", "0"]])
def test_closed_pipe_ends_quietly(args: list[str], samples: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttview", *args, str(samples)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        assert proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == cli.EXIT_PIPE_CLOSED
    assert err == b""


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        ("ttview.export, ttview.lsinfo", ("textual", "rich", "typer", "plotext")),
        ("ttview.cli", ("textual", "plotext", "polars")),  # `ttview --help` stays quick
    ],
)
def test_imports_stay_light(modules: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {modules}; print([m for m in {forbidden!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- logged text never drives the terminal ---------------------------------------------------------

UNSAFE = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def _no_raw_controls(text: str) -> None:
    for ch in UNSAFE:
        assert ch not in text, (ch, text[:2000])


def test_hostile_strings_are_shown_escaped(run: Callable[..., Ran], hostile_snapshot: Path) -> None:
    env = {"COLUMNS": "200"}
    stats = run("stats", hostile_snapshot, "--group-by", "logger", env=env)
    assert stats.exit_code == 0, stats.stderr
    _no_raw_controls(stats.output)
    assert "log.markup[bold red]markup[/bold red]" in stats.stdout, "markup is shown as text"
    assert "log.ansi\\x1b[31mRED\\x1b[0m" in stats.stdout
    by_tag = run("stats", hostile_snapshot, "--group-by", "tag", "--json")
    _no_raw_controls(by_tag.output)
    assert json.loads(by_tag.stdout)["events"] == 2 * len(HOSTILE)
    hist = run("hist", hostile_snapshot, "--by", "tag", "--log", env=env)
    assert hist.exit_code == 0, hist.stderr
    _no_raw_controls(hist.output)
    assert "[bold red]markup" in hist.stdout
    ls = run("ls", "--shm-dir", hostile_snapshot.parent, "--snapshot-dir", hostile_snapshot.parent, env=env)
    _no_raw_controls(ls.output)
    ls_json = run(
        "ls", "--shm-dir", hostile_snapshot.parent, "--snapshot-dir", hostile_snapshot.parent, "--json"
    )
    _no_raw_controls(ls_json.stdout)
    assert json.loads(ls_json.stdout)["snapshots"][0]["service"] == "evil\x1b[2Jsvc"


def test_hostile_strings_survive_export_to_files(
    run: Callable[..., Ran], hostile_snapshot: Path, tmp_path: Path
) -> None:
    out = tmp_path / "h.ndjson"
    assert run("export", hostile_snapshot, "-o", out).exit_code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    tags = {e["tag"] for e in events}
    assert set(HOSTILE.values()) <= tags, "files keep the logged bytes exactly"
    assert {f"key{v}" for v in HOSTILE.values()} <= {k for e in events for k in e}
    piped = run("export", hostile_snapshot, "-F", "json")
    assert json.loads(piped.stdout)[0]["message"].startswith("msg ")


# ---- tables at the terminal's width ---------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_stats_never_cuts_a_number_for_a_long_name(
    run: Callable[..., Ran], tmp_path: Path, columns: int
) -> None:
    from tests.cli.conftest import fill_ring, snapshot_of

    long_name = "venue.gateway." + "very-long-component-name." * 6 + "end"
    events = [(long_name if i % 2 else "short", "info", "m", {"latency_us": 1000.5 + i}) for i in range(40)]
    shm = tmp_path / "shm"
    shm.mkdir()
    snap = snapshot_of(fill_ring(shm, service="s", pid=9, events=events), tmp_path, service="s", pid=9)
    ran = run("stats", snap, env={"COLUMNS": str(columns)})
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert all(len(line.rstrip()) <= columns for line in lines), lines
    groups = {g["logger"]: g for g in json.loads(run("stats", snap, "--json").stdout)["groups"]}
    row = next(line for line in lines if line.lstrip().startswith("venue"))
    name = row.split()[0]
    assert "…" in name and name.endswith("end")  # the long name, shortened in the middle
    want = groups[long_name]
    cells = row.split()[1:]
    assert cells[0] == f"{want['count']:,}" and cells[-1] == f"{want['max']:,.0f}", (cells, want)
    assert all("…" not in c for c in cells)
    one_more = run("stats", snap, "--limit", "1", env={"COLUMNS": str(columns)})
    assert "… 1 more group not shown" in one_more.stdout  # one group: not "groups"
