"""The bundled sample snapshots (made by scripts/make_samples.py), the viewer's default data."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
