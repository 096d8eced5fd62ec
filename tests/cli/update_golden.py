"""Rewrite tests/cli/golden/*.txt from the current code and sample snapshots.

    python tests/cli/update_golden.py [CASE ...]

Run it after regenerating sample_snapshots/ or after changing an output on purpose, then review
the diff. It refuses to write a case whose exit code is not the one the case expects.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.cli.golden import CASES, GOLDEN_DIR, golden_env, run_case  # noqa: E402


def main(argv: list[str]) -> int:
    wanted = set(argv)
    unknown = wanted - {c.name for c in CASES}
    if unknown:
        print(f"unknown case(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    GOLDEN_DIR.mkdir(exist_ok=True)
    known = {c.path.name for c in CASES}
    for stale in GOLDEN_DIR.glob("*.txt"):
        if stale.name not in known and not wanted:
            stale.unlink()
            print(f"removed {stale.name}")
    failed = 0
    with golden_env() as shm:
        for case in CASES:
            if wanted and case.name not in wanted:
                continue
            outcome = run_case(case, shm)
            if outcome.exit_code != case.exit_code:
                print(
                    f"{case.name}: exit code {outcome.exit_code}, expected {case.exit_code}; not written\n"
                    f"{outcome.stderr}",
                    file=sys.stderr,
                )
                failed += 1
                continue
            old = case.path.read_text(encoding="utf-8") if case.path.exists() else None
            case.path.write_text(outcome.stdout, encoding="utf-8")
            state = "unchanged" if old == outcome.stdout else ("new" if old is None else "updated")
            print(f"{case.name}: {state} ({len(outcome.stdout):,} chars)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
