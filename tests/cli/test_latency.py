"""``ttview latency``: its numbers are the core's, its bad inputs exit 2 with one line, nothing
paired exits 1, and names from the logs are escaped (the outputs themselves: golden files)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Ran, fill_ring, snapshot_of
from tests.cli.test_errors import _one_line_error
from ttview.latency import RULE, pair_events
from ttview.query import compile_filter
from ttview.sources import load_snapshots, resolve_paths

ORDER, FILL = 'message == "Order placed"', 'message == "Trade executed"'
PAIR = ("--from", ORDER, "--to", FILL)


def test_json_numbers_are_the_cores(run: Callable[..., Ran], samples: Path) -> None:
    ran = run("latency", samples, *PAIR, "--by", "pid,order_id", "-g", "venue", "--unit", "ms", "--json")
    assert ran.exit_code == 0, ran.stderr
    out = json.loads(ran.stdout)
    files, _ = resolve_paths([samples])
    core = pair_events(
        load_snapshots(files).frame,
        start=compile_filter(ORDER),
        end=compile_filter(FILL),
        key=["pid", "order_id"],
        group_by="venue",
        unit="ms",
    )
    assert out["counts"] == core.counts.to_dict()
    assert out["latency"] == {
        k: v
        for k, v in core.total.to_dict().items()
        if k in ("min", "mean", "p50", "p90", "p99", "p99.9", "max")
    }
    assert out["groups"] == [g.to_dict() for g in core.groups]
    assert (out["key"], out["group_by"], out["unit"], out["rule"]) == (
        ["pid", "order_id"],
        "venue",
        "ms",
        RULE,
    )
    assert sum(sum(s["counts"]) + s["nonpositive"] for s in out["histogram"]["series"]) == core.counts.pairs


def test_text_output_names_every_count_and_the_rule(run: Callable[..., Ran], samples: Path) -> None:
    ran = run("latency", samples, *PAIR, "--by", "order_id", env={"COLUMNS": "80"})
    assert ran.exit_code == 0, ran.stderr
    for heading in (
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "from: no to",
        "from: repeated",
        "to: no from",
        "to: extra",
        "no key",
        "rule: each from pairs with the first to after it",
    ):
        assert heading in ran.stdout, heading
    assert "2,061" in ran.stdout  # the sessions reuse order ids: repeated froms, and a hint
    assert "--by pid,order_id" in ran.stdout
    assert max(len(line) for line in ran.stdout.splitlines()) <= 80


def test_the_filter_applies_before_pairing(run: Callable[..., Ran], samples: Path) -> None:
    ran = run("latency", samples, *PAIR, "--by", "order_id", "-f", "pid == 4317", "--json")
    out = json.loads(ran.stdout)
    assert out["counts"]["from_repeated"] == 0 and out["counts"]["pairs"] > 1000
    assert out["events"] == 40_000


def test_nothing_paired_exits_1(run: Callable[..., Ran], samples: Path) -> None:
    ran = run(
        "latency", samples, "--from", ORDER, "--to", 'message == "Order rejected"', "--by", "pid,order_id"
    )
    assert ran.exit_code == 1
    assert ran.stderr == "ttview: nothing paired\n"
    assert "to: no from" in ran.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--by", "ordr_id"), ("--by: no field 'ordr_id'", "did you mean 'order_id'")),
        (("--by", "order_id", "-g", "venu"), ("--group-by: no field 'venu'", "did you mean 'venue'")),
        (("--by", "pid,ordr_id"), ("--by: no field 'ordr_id'",)),
        (("--by", "order_id,order_id"), ("--by: a key field is named twice",)),
        (("--by", "cut"), ("--by: field 'cut' holds List(String), which cannot be a key",)),
        (("--by", " , "), ("--by: give a key field",)),
        (("--by", "order_id", "-f", "level >="), ("bad filter at column 9",)),
        (("--by", "order_id", "--bins", "0"), ("--bins",)),
        (("--by", "order_id", "--unit", "min"), ("--unit",)),
    ],
)
def test_bad_key_group_or_option(
    run: Callable[..., Ran], samples: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    _one_line_error(run("latency", samples, *PAIR, *args), *needles)


@pytest.mark.parametrize(
    ("start", "end", "needles"),
    [
        ("message ==", FILL, ("--from: bad filter at column 11",)),
        (ORDER, "message ~ '('", ("--to: bad filter at column", "regular expression")),
        ("mesage == 'x'", FILL, ("--from: unknown field 'mesage'", "did you mean 'message'")),
        ("", FILL, ("--from: give a filter",)),
        (ORDER, " ", ("--to: give a filter",)),
    ],
)
def test_bad_from_or_to(
    run: Callable[..., Ran], samples: Path, start: str, end: str, needles: tuple[str, ...]
) -> None:
    _one_line_error(run("latency", samples, "--from", start, "--to", end, "--by", "order_id"), *needles)


def test_missing_options_and_paths(run: Callable[..., Ran], samples: Path, tmp_path: Path) -> None:
    _one_line_error(run("latency", samples, "--to", FILL, "--by", "order_id"), "--from")
    _one_line_error(run("latency", samples, *PAIR), "--by")
    _one_line_error(run("latency", tmp_path / "none.ttsnap", *PAIR, "--by", "order_id"), "none.ttsnap")
    bad = tmp_path / "bad.ttsnap"
    bad.write_bytes(os.urandom(512))
    _one_line_error(run("latency", bad, *PAIR, "--by", "order_id"))


def test_names_from_the_logs_are_escaped(run: Callable[..., Ran], tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    evil = "\x1b[31mRED\x1b]0;pwned\x07[bold]x[/bold]"
    events = [
        ("oms", "order", "Order placed", {"order_id": "A", "venue": evil}),
        ("oms", "trade", "Trade executed", {"order_id": "A", "venue": evil}),
    ]
    snap = snapshot_of(fill_ring(shm, service="oms", pid=9, events=events), tmp_path, service="oms", pid=9)
    ran = run("latency", snap, *PAIR, "--by", "order_id", "-g", "venue")
    assert ran.exit_code == 0, ran.stderr
    assert "\x1b" not in ran.stdout and "\x07" not in ran.stdout
    assert "\\x1b[31mRED" in ran.stdout and "[bold]x[/bold]" in ran.stdout
    assert ": 1 pair among 2 events in 1" in ran.stdout


def test_help_states_the_rule(run: Callable[..., Ran]) -> None:
    ran = run("latency", "--help", env={"COLUMNS": "200"})
    assert ran.exit_code == 0
    text = " ".join(ran.stdout.split())
    for phrase in (
        "FIRST to after it",
        "LATEST from before it",
        "partial fills",
        "null never pair",
        "global across services",
        "Exit codes: 1 if nothing paired",
    ):
        assert phrase in text, phrase
