"""Run every benchmark and write BENCHMARKS.md from what they print (the only source of the
figures in README.md and BENCHMARKS.md).

    python bench/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ["bench_log_call.py", "bench_drain.py", "bench_accounting.py", "bench_snapshot.py",
           "bench_export.py", "bench_stats.py", "bench_latency.py", "bench_tui.py", "bench_scale.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    sections = []
    failed = []
    for name in BENCHES:
        script = ROOT / "bench" / name
        if args.only and name.removesuffix(".py") not in args.only and name not in args.only:
            continue
        if not script.exists():
            continue
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"running {name} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            failed.append(name)
            sections.append(f"## {name}\n\nfailed (exit {proc.returncode}):\n\n"
                            f"```\n{proc.stderr[-2000:]}\n```\n")
        else:
            sections.append(proc.stdout.strip() + f"\n\n(produced by `python bench/{name}`)\n")
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = (
        "# Benchmarks\n\n"
        f"Made by `python bench/run_all.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today().isoformat()}: {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}. "
        "Every figure below is printed by the script named under it, "
        "with its peer measured in the same run.\n\n"
    )
    args.out.write_text(head + "\n".join(sections))
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
