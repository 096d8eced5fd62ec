"""Regenerate sample_snapshots/ (deterministic: the same seed gives the same files).

    python scripts/make_samples.py [--seed 7] [--out sample_snapshots]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ttlog.demo import make_sample_snapshots  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_snapshots")
    args = parser.parse_args()
    for old in args.out.glob("*.ttsnap"):
        old.unlink()
    for path in make_sample_snapshots(args.out, seed=args.seed):
        print(f"{path.name}  {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
