"""``ttview demo --no-ui`` end to end: producer, sidecar, snapshot, clean up (a few seconds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ttview.cli as cli


def _env() -> dict[str, str]:
    root = str(Path(cli.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), "TZ": "UTC"}


def _private_dirs() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("ttview-demo-*")} if shm.is_dir() else set()


def test_demo_no_ui_writes_a_snapshot_and_cleans_up(tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    before = _private_dirs()
    out = subprocess.run(
        [sys.executable, "-m", "ttview", "demo", "--no-ui", "--seconds", "2", "--rate", "2000",
         "--snapshot-dir", str(snaps)],
        capture_output=True, text=True, env=_env(), timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    progress = [line for line in out.stdout.splitlines() if " events " in line]
    assert progress, out.stdout
    made = sorted(snaps.glob("demo-trader.*.ttsnap"))
    assert len(made) == 1 and made[0].name.endswith(".exit.ttsnap"), out.stdout
    assert f"demo: snapshot {made[0]}" in out.stdout
    assert _private_dirs() <= before, "the private shm directory is removed"
    if shutil.which("pgrep"):
        sidecars = subprocess.run(["pgrep", "-f", f"ttlog.sidecar.*{snaps}"], capture_output=True, text=True)
        assert sidecars.stdout == "", "the sidecar started by the demo is stopped"
    stats = subprocess.run(
        [sys.executable, "-m", "ttview", "stats", str(made[0]), "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    data = json.loads(stats.stdout)
    assert 1000 <= data["events"] <= 10_000 and data["total"]["count"] == data["events"]


def test_demo_in_a_given_shm_dir_leaves_it(tmp_path: Path) -> None:
    shm, snaps = tmp_path / "shm", tmp_path / "snaps"
    shm.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "ttview", "demo", "--no-ui", "--seconds", "0.5", "--rate", "1000",
         "--shm-dir", str(shm), "--snapshot-dir", str(snaps), "--service", "mini", "--overflow", "overwrite"],
        capture_output=True, text=True, env=_env(), timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert shm.is_dir() and not list(shm.glob("*.ring")), "the ring was snapshotted, then removed"
    assert len(list(snaps.glob("mini.*.exit.ttsnap"))) == 1
