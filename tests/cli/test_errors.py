"""Every bad input: exit code 2, exactly one line on stderr naming the problem, no traceback, and
nothing half-written on stdout or on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Ran


def _one_line_error(ran: Ran, *needles: str) -> str:
    assert ran.exit_code == 2, (ran.exit_code, ran.stdout[-500:], ran.stderr)
    assert "Traceback" not in ran.output
    assert ran.stderr.endswith("\n") and ran.stderr.count("\n") == 1, repr(ran.stderr)
    assert ran.stderr.startswith("ttview: error: "), ran.stderr
    assert ran.stdout == "", ran.stdout[:500]
    for needle in needles:
        assert needle in ran.stderr, (needle, ran.stderr)
    return ran.stderr


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "random.ttsnap"
    path.write_bytes(os.urandom(4096))
    return path


@pytest.fixture
def truncated(tmp_path: Path, samples: Path) -> Path:
    src = sorted(samples.glob("*.ttsnap"))[0].read_bytes()
    path = tmp_path / "truncated.ttsnap"
    path.write_bytes(src[: len(src) // 2])
    return path


@pytest.fixture
def lz4_garbage(tmp_path: Path) -> Path:
    """A valid LZ4 frame holding something that is not a snapshot."""
    import lz4.frame

    path = tmp_path / "foreign.ttsnap"
    path.write_bytes(lz4.frame.compress(b"\xa1\x63foo\x63bar"))
    return path


COMMANDS = (
    ("stats",),
    ("hist",),
    ("export", "-F", "ndjson"),
    ("export", "-F", "parquet", "-o", "{tmp}/o.pq"),
)


def _args(cmd: tuple[str, ...], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in cmd]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: "-".join(c[:3]))
def test_missing_path(run: Callable[..., Ran], cmd: tuple[str, ...], tmp_path: Path) -> None:
    missing = tmp_path / "nope.ttsnap"
    _one_line_error(run(*_args(cmd, tmp_path), missing), str(missing), "no such file")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: "-".join(c[:3]))
@pytest.mark.parametrize("bad", ["corrupt", "truncated", "lz4_garbage"])
def test_bad_snapshot(
    run: Callable[..., Ran], cmd: tuple[str, ...], bad: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = request.getfixturevalue(bad)
    _one_line_error(run(*_args(cmd, tmp_path), path), str(path))
    assert not list(tmp_path.glob("*o.pq*")), "an export that failed left a file behind"


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: "-".join(c[:3]))
def test_bad_snapshot_among_good_ones(run: Callable[..., Ran], cmd: tuple[str, ...], samples: Path,
                                      corrupt: Path, truncated: Path, tmp_path: Path) -> None:
    """Each bad file is named in one warning line; the good ones are still read; exit 3 says some
    input was bad (issue 10, item 14)."""
    ran = run(*_args(cmd, tmp_path), samples, corrupt, truncated)
    assert ran.exit_code == 3, (ran.exit_code, ran.stderr)
    assert "Traceback" not in ran.output
    lines = ran.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("ttview: warning: skipped: ") for line in lines), lines
    assert str(corrupt) in lines[0] and str(truncated) in lines[1]
    good = run(*_args(cmd, tmp_path), samples)
    assert good.exit_code == 0 and good.stdout == ran.stdout  # the same output as from the good files alone
    if "-o" in cmd:
        import polars as pl

        assert pl.read_parquet(tmp_path / "o.pq").height == 167_918


def test_empty_directory_and_glob(run: Callable[..., Ran], tmp_path: Path) -> None:
    _one_line_error(run("stats", tmp_path), "no *.ttsnap")
    _one_line_error(run("stats", str(tmp_path / "*.ttsnap")), "no file matches")


@pytest.mark.parametrize(
    "text",
    [
        "level >=",
        "((level == INFO)",
        'message ~ "["',
        "latency_us > 5ms5",
        "symbol in ()",
        "level == NOPE",
        "\x1b[31m",
    ],
)
def test_bad_filter(run: Callable[..., Ran], samples: Path, text: str) -> None:
    err = _one_line_error(run("export", samples, "-f", text), "bad filter at column")
    assert "\x1b" not in err


def test_bad_filter_is_caught_before_loading(run: Callable[..., Ran], tmp_path: Path) -> None:
    # the filter is checked first: a bad filter on a missing file names the filter
    _one_line_error(run("stats", tmp_path / "missing.ttsnap", "-f", "level >="), "bad filter")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("stats", "--field", "latncy_us"), ("--field", "latncy_us", "did you mean 'latency_us'")),
        (("stats", "--field", "symbol"), ("--field", "'symbol'", "not numbers")),
        (("stats", "--group-by", "nope"), ("--group-by", "'nope'")),
        (("stats", "--sort", "nope"), ("--sort",)),
        (("hist", "--field", "nope"), ("--field", "'nope'")),
        (("hist", "--field", "symbol"), ("'symbol'", "not numbers")),
        (("hist", "--field", "order_id"), ("'order_id'", "not numbers")),
        (("hist", "--by", "nope"), ("--by", "'nope'")),
        (("hist", "--bins", "0"), ("--bins",)),
        (("hist", "--bins", "many"), ("--bins",)),
        (("export", "--format", "xml"), ("--format", "xml")),
        (("export", "-F", "csv", "--fields", "time,nope"), ("--fields", "'nope'")),
    ],
    ids=lambda v: " ".join(v),
)
def test_bad_option(
    run: Callable[..., Ran], samples: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    _one_line_error(run(args[0], samples, *args[1:]), *needles)


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file", "is-a-dir"])
def test_unwritable_output(run: Callable[..., Ran], samples: Path, tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    target = {
        "missing-dir": tmp_path / "no" / "such" / "out.json",
        "under-a-file": a_file / "out.json",
        "is-a-dir": tmp_path,
    }[where]
    _one_line_error(run("export", samples, "-F", "json", "-o", target), "cannot write", str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("open",), "Missing argument"),
        (("nope",), "No such command"),
        (("stats", "--nope"), "No such option"),
        (("ls", "--shm-dir", "/nonexistent/shm"), "/nonexistent/shm"),
        (("ls", "--snapshot-dir", "/nonexistent/snaps"), "/nonexistent/snaps"),
        (("snapshot", "--reason", "bad reason!"), "--reason"),
        (("snapshot", "--shm-dir", "/nonexistent/shm"), "/nonexistent/shm"),
        (("tail", "--shm-dir", "/nonexistent/shm"), "/nonexistent/shm"),
        (("tail", "-f", "level >"), "bad filter"),
        (("open", "/nonexistent/x.ttsnap"), "/nonexistent/x.ttsnap"),
        (("open", "/nonexistent/x.ttsnap", "-f", "(("), "bad filter"),
        (("sidecar", "--keep-bytes", "lots"), "--keep-bytes"),
        (("sidecar", "--shm-dir", "/nonexistent/shm"), "/nonexistent/shm"),
        (("demo", "--overflow", "explode", "--no-ui"), "--overflow"),
        (("demo", "--ring-size", "huge", "--no-ui"), "--ring-size"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_bad_usage(run: Callable[..., Ran], args: tuple[str, ...], needle: str) -> None:
    _one_line_error(run(*args), needle)


def test_viewer_needs_a_terminal(run: Callable[..., Ran], samples: Path, tmp_path: Path) -> None:
    env = {"TTLOG_SHM_DIR": str(tmp_path), "TTLOG_SNAPSHOT_DIR": str(tmp_path)}
    _one_line_error(run(env=env), "needs a terminal")
    _one_line_error(run("open", samples), "needs a terminal")


def test_hostile_path_names_are_escaped(run: Callable[..., Ran], tmp_path: Path) -> None:
    evil = tmp_path / "a\x1b[2Jb\x07.ttsnap"
    err = _one_line_error(run("stats", evil))
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b[2Jb\\x07" in err


# ---- issue 11: what broke for a new user ---------------------------------------------------------


@pytest.mark.parametrize("cmd", [("stats",), ("hist",), ("export", "-F", "csv")], ids=lambda c: c[0])
def test_an_unknown_field_in_a_filter_is_bad_input_everywhere(
    run: Callable[..., Ran], samples: Path, cmd: tuple[str, ...]
) -> None:
    err = _one_line_error(run(*cmd, samples, "-f", "latncy_us > 5"), "unknown field 'latncy_us'")
    assert "did you mean 'latency_us'?" in err


def test_a_bare_word_in_a_filter_suggests_quoting_it(run: Callable[..., Ran], samples: Path) -> None:
    _one_line_error(run("stats", samples, "-f", "reject"), 'message ~ "reject"')


def test_an_unknown_format_names_the_choices(run: Callable[..., Ran], samples: Path) -> None:
    err = _one_line_error(run("export", samples, "-F", "xml"))
    assert err == "ttview: error: --format: unknown format 'xml' (json, ndjson, csv, parquet)\n"


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "lz4_garbage", "empty"])
def test_open_refuses_a_file_that_is_no_snapshot(
    run: Callable[..., Ran], bad: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if bad == "empty":
        path = tmp_path / "empty.ttsnap"
        path.write_bytes(b"")
    else:
        path = request.getfixturevalue(bad)
    # checked before the viewer would start (which would need a terminal)
    err = _one_line_error(run("open", path), str(path))
    assert "needs a terminal" not in err


def test_open_refuses_a_directory_of_bad_files(run: Callable[..., Ran], tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"bad{i}.ttsnap").write_bytes(b"not a snapshot %d" % i)
    ran = run("open", tmp_path)
    _one_line_error(ran, "bad0.ttsnap", "not a ttlog snapshot", "and 2 more unreadable files")


def test_open_with_some_good_files_starts_the_viewer(
    run: Callable[..., Ran], samples: Path, corrupt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ttview.cli as cli

    started: dict[str, object] = {}

    def fake_viewer(**kwargs: object) -> None:
        started.update(kwargs)

    monkeypatch.setattr(cli, "_run_viewer", fake_viewer)
    ran = run("open", samples, corrupt)
    assert ran.exit_code == 0, ran.output
    assert [Path(str(p)).name for p in started["paths"]] == sorted(p.name for p in samples.glob("*.ttsnap"))
    assert started["skipped"] == [f"skipped {corrupt.name}: not a ttlog snapshot (not an LZ4 frame)"]
