"""``ttview export -o TARGET`` on targets that are not plain files (issue 10 item 15): a device or a
FIFO is written through, never replaced by a regular file; a symbolic link is refused with one
line and left as it is; a regular file is replaced atomically and keeps its permissions."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from typer.testing import CliRunner

from ttview.cli import app

SAMPLES = Path(__file__).resolve().parents[2] / "sample_snapshots"


def export(target: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["export", str(SAMPLES), "-F", "ndjson", "-f", "level >= ERROR", "-o",
                                      str(target)])
    return result.exit_code, result.output


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code, output = export(fifo)
    reader.join(timeout=10)
    if reader.is_alive():  # the export never opened the FIFO: let the reader go
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        reader.join(timeout=10)
    assert code == 0, output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    lines = got[0].decode().splitlines()
    assert lines and all(json.loads(line)["level"] in ("ERROR", "CRITICAL") for line in lines)


def test_a_device_is_written_through(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # a null device of our own, so the system's is never at stake
        device = tmp_path / "null"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        device = Path("/dev/null")
    code, output = export(device)
    assert code == 0, output
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_symbolic_link_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out.ndjson"
    link.symlink_to(target)
    code, output = export(link)
    assert code == 2
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "symbolic link" in lines[0] and "Traceback" not in output
    assert link.is_symlink() and target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([link.name, target.name])


def test_a_regular_file_is_replaced_and_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    out.write_text("old\n")
    os.chmod(out, 0o600)
    code, output = export(out)
    assert code == 0, output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and out.read_text() != "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ndjson"]  # no temporary file left


def test_a_failed_export_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    out.write_text("old\n")
    result = CliRunner().invoke(app, ["export", str(SAMPLES), "-f", "level >>> 3", "-o", str(out)])
    assert result.exit_code == 2 and out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ndjson"]
