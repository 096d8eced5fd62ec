"""The engine installs and runs alone: no third-party package, and its sidecar works without ttview.

One test builds a fresh virtual environment, installs ``engine/`` into it with ``--no-deps`` (the
isolated build fetches only setuptools and wheel), checks that nothing but pip/setuptools/wheel
and ttlog is installed in the environment, then runs a
producer and ``python -m ttlog.sidecar --once`` there, and reads the snapshot back here (where
the reference lz4/cbor2 and ttview are). Once with the C extension, once without (TTLOG_NO_C=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cbor2
import lz4.frame
import pytest

from ttview.decode import read_snapshot

REPO = Path(__file__).absolute().parents[2]
ENGINE = REPO / "engine"
EVENTS = 5000

PRODUCER = textwrap.dedent(f"""
    import sys, ttlog
    ttlog.init(service="alone", shm_dir=sys.argv[1], level="TRACE")
    log = ttlog.get_logger("orders")
    for i in range({EVENTS}):
        log.info("fill %s", i % 7, qty=i, px=i / 4, sym="ABC"[i % 3], oid=f"O-{{i}}", ok=i % 2 == 0,
                 raw=bytes([i % 256]), big=2**70 + i if i % 1000 == 0 else None)
    log.error("done", count={EVENTS})
""")

NOTHING_THIRD_PARTY = textwrap.dedent("""
    import sys
    before = {name.split(".")[0] for name in sys.modules}  # what the interpreter's site loaded
    import ttlog, ttlog.sidecar, ttlog.codec, ttlog.store, ttlog.events, ttlog.reader
    import ttlog.cbor, ttlog.lz4frame, ttlog.kernels, ttlog.demo
    from ttlog.kernels import IMPLEMENTATION
    top = {name.split(".")[0] for name in sys.modules} - before
    print(IMPLEMENTATION, sorted(t for t in top if t not in sys.stdlib_module_names and t != "ttlog"))
""")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_importing_the_engine_imports_nothing_third_party() -> None:
    env = dict(os.environ, PYTHONPATH=str(ENGINE))
    out = run([sys.executable, "-c", NOTHING_THIRD_PARTY], env=env, cwd=ENGINE).stdout.split(None, 1)
    assert out == ["c", "[]\n"]
    env["TTLOG_PURE_PYTHON"] = "1"
    assert run([sys.executable, "-c", NOTHING_THIRD_PARTY], env=env, cwd=ENGINE).stdout == "python []\n"


def check_snapshot(out: Path) -> None:
    files = sorted(out.glob("*.ttsnap"))
    assert len(files) == 1 and files[0].name.startswith("alone.")
    events = list(read_snapshot(files[0]).iter_events())
    assert len(events) == EVENTS + 1
    for i, e in enumerate(events[:EVENTS]):
        f = e["fields"]
        got = (e["logger"], e["message"], f["arg0"], f["qty"], f["px"], f["sym"], f["oid"], f["ok"], f["raw"])
        want = ("orders", "fill %s", i % 7, i, i / 4, "ABC"[i % 3], f"O-{i}", i % 2 == 0, bytes([i % 256]))
        assert got == want
        assert f["big"] is None if i % 1000 else f["big"].text == str(2**70 + i)
    assert events[-1]["message"] == "done" and events[-1]["fields"] == {"count": EVENTS}
    content = cbor2.loads(lz4.frame.decompress(files[0].read_bytes()))  # the reference readers agree
    assert content["count"] == EVENTS + 1 and content["reason"] == "exit"


@pytest.mark.parametrize("build", ["c", "python"])
def test_fresh_venv_with_the_engine_alone(build: str, tmp_path: Path) -> None:
    src = tmp_path / "engine"
    shutil.copytree(ENGINE, src, ignore=shutil.ignore_patterns("*.so", "build", "__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "TTLOG", "PIP_", "VIRTUAL_ENV"))}
    if build == "python":
        env["TTLOG_NO_C"] = "1"
    run([py, "-m", "pip", "install", "-q", "--no-deps", str(src)],  # build isolation: setuptools, wheel
        env=env, cwd=tmp_path)
    installed = {p["name"].lower() for p in json.loads(run([py, "-m", "pip", "list", "--format=json"],
                                                            env=env, cwd=tmp_path).stdout)}
    assert installed - {"pip", "setuptools", "wheel"} == {"ttlog"}
    assert run([py, "-c", NOTHING_THIRD_PARTY], env=env, cwd=tmp_path).stdout == f"{build} []\n"
    shm, out = tmp_path / "shm", tmp_path / "out"
    shm.mkdir()
    out.mkdir()
    run([py, "-c", PRODUCER, str(shm)], env=env, cwd=tmp_path)
    run([py, "-m", "ttlog.sidecar", "--once", "--shm-dir", str(shm), "--snapshot-dir", str(out)],
        env=env, cwd=tmp_path)
    assert (venv / "bin" / "ttlog-sidecar").exists()
    assert not list(shm.glob("*.ring"))  # drained and removed
    check_snapshot(out)
