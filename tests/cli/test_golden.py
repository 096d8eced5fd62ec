"""Every command and format against golden files over the bundled samples.

A failure shows a diff. If the change is intended (or the samples were regenerated), run
``python tests/cli/update_golden.py`` and review ``git diff tests/cli/golden``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.golden import CASES, GOLDEN_DIR, Case, golden_env, run_case


@pytest.fixture(scope="module")
def shm() -> Iterator[Path]:
    with golden_env() as shm:
        yield shm


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), f"golden/{name}.txt", "actual", lineterm="", n=2
    )
    shown = "\n".join(list(lines)[:60])
    return f"{name}: output differs from its golden file (python tests/cli/update_golden.py)\n{shown}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden(case: Case, shm: Path) -> None:
    assert case.path.exists(), f"no golden file for {case.name}: run python tests/cli/update_golden.py"
    outcome = run_case(case, shm)
    assert outcome.exit_code == case.exit_code, outcome.stderr
    assert "Traceback" not in outcome.stderr
    if case.exit_code == 0:
        assert outcome.stderr == ""
    else:
        assert outcome.stderr.count("\n") == 1, outcome.stderr
    expected = case.path.read_text(encoding="utf-8")
    assert outcome.stdout == expected, _diff(expected, outcome.stdout, case.name)


def test_no_stray_golden_files() -> None:
    known = {c.path.name for c in CASES}
    assert {p.name for p in GOLDEN_DIR.glob("*.txt")} == known
