"""The snapshot writer's primitives, chosen once: ``ttlog._codec`` (C) or its twin ``ttlog._codec_py``.

``K`` is the module in use: LZ4 blocks and frame blocks, xxHash32 and the typed-array kernels
(see either module for the list). The C module is used when it was built and
``TTLOG_PURE_PYTHON`` is not set; ``IMPLEMENTATION`` says which ("c" or "python").

Invariants:
- Both modules return the same results (tests/ttlog/test_codec_kernels.py runs every function
  on both), so the choice changes speed and the size of compressed blocks, never content.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _codec_py

__all__ = ["IMPLEMENTATION", "K", "PY"]

PY: ModuleType = _codec_py


def _choose() -> ModuleType:
    if os.environ.get("TTLOG_PURE_PYTHON", "") in ("1", "true", "yes"):
        return _codec_py
    try:
        from . import _codec
    except ImportError:  # no compiler at install time, or TTLOG_NO_C=1
        return _codec_py
    return _codec


K: ModuleType = _choose()
IMPLEMENTATION = "python" if K is _codec_py else "c"
