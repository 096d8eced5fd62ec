"""The one switch between the C core and the pure-Python twin, for writing and reading alike.

``IMPLEMENTATION`` is ``"c"`` when the extension ``ttlog._ring`` is built and not switched off,
else ``"python"``; ``C`` is that extension module, or None. ``TTLOG_PURE_PYTHON=1`` switches it
off: the extension is then not even imported. The writer (``ttlog.logger``: Ring, Logger) and
the reader (``ttlog.reader.decode``) both choose from here, so ``IMPLEMENTATION`` is the whole
truth. A build without a compiler (``TTLOG_NO_C=1 pip install ./engine``) has only the twin.

Invariant: both implementations write the same bytes and decode them to the same columns, so the
switch changes speed, never results (tests/ttlog/test_c_twin.py).
"""

from __future__ import annotations

import os
from types import ModuleType

PURE_PYTHON = os.environ.get("TTLOG_PURE_PYTHON", "") in ("1", "true", "yes")

C: ModuleType | None = None
if not PURE_PYTHON:
    try:
        from . import _ring as C
    except ImportError:  # no compiler at install time, or TTLOG_NO_C=1
        C = None

IMPLEMENTATION = "c" if C is not None else "python"
