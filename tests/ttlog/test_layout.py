"""The ring format is written once for C (ttlog/_c/format.h) and once for Python (ttlog.layout, so
the twin runs without a compiler); this checks the two against each other, entry by entry, both
ways. ttlog._ring exports format.h's X-macro tables as dicts, exactly as the C code was compiled.
"""

from __future__ import annotations

import os
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from ttlog import layout
from ttlog import ring as R
from ttlog.reader import KIND_NAMES

if os.environ.get("TTLOG_NO_C") in ("1", "true", "yes"):  # pragma: no cover
    pytest.skip("built without the C extension (TTLOG_NO_C)", allow_module_level=True)

from ttlog import _ring  # noqa: E402 - a missing build fails loudly here, never skips

# the integer names of layout.py, by the format.h table that holds them
OFFSET_TABLES = {"HEADER_OFFSETS": "H_", "RECORD_OFFSETS": "REC_", "FIELD_KINDS": "K_"}
NOT_OFFSETS = {"REC_HEADER"}  # a size: in CONSTANTS
# limits that create_ring_file and read_geometry enforce; no C code reads them
PY_ONLY = {"MIN_RING_SIZE", "MAX_RING_SIZE"}


def int_names(module: Any) -> set[str]:
    return {n for n in module.__all__ if isinstance(getattr(module, n), int) and n.isupper()}


def differences(c: Any, py: Any) -> list[str]:
    """Every way the Python layout ``py`` and the C module's tables ``c`` disagree."""
    out: list[str] = []

    def compare(table: str, c_table: dict[str, Any], names: set[str]) -> None:
        for name in sorted(set(c_table) | names):
            if name not in names:
                out.append(f"{table}: {name} = {c_table[name]!r} in format.h, missing from layout.py")
            elif name not in c_table:
                out.append(f"{table}: {name} = {getattr(py, name)!r} in layout.py, missing from format.h")
            elif getattr(py, name) != c_table[name]:
                out.append(f"{table}: {name} is {getattr(py, name)!r} in layout.py, "
                           f"{c_table[name]!r} in format.h")

    ints = int_names(py)
    claimed: set[str] = set()
    for table, prefix in OFFSET_TABLES.items():
        names = {n for n in ints if n.startswith(prefix)} - NOT_OFFSETS
        compare(table, getattr(c, table), names)
        claimed |= names
    compare("CONSTANTS", c.CONSTANTS, ints - claimed - PY_ONLY)
    for table in ("LEVELS", "METHOD_LEVELS"):
        if getattr(py, table) != getattr(c, table):
            out.append(f"{table}: {getattr(py, table)} in layout.py, {getattr(c, table)} in format.h")
    if py.MAGIC != c.MAGIC:
        out.append(f"MAGIC: {py.MAGIC!r} in layout.py, {c.MAGIC!r} in format.h")
    return out


def test_layout_py_matches_format_h_entry_by_entry() -> None:
    assert differences(_ring, layout) == []
    # the tables are not empty, and each C table has every entry the Python side has
    assert len(_ring.HEADER_OFFSETS) == 33 and _ring.HEADER_OFFSETS["H_WRITE_POS"] == layout.H_WRITE_POS
    assert _ring.CONSTANTS["COMMIT_SALT"] == layout.COMMIT_SALT and "RF_FIELDS_CUT" in _ring.CONSTANTS
    assert list(_ring.LEVELS.items()) == list(layout.LEVELS.items())  # the same order too


def test_any_drift_is_reported() -> None:
    """The comparison above fails on a changed value, a missing name and an extra name, on each side."""
    def shifted(**changes: Any) -> SimpleNamespace:
        py = SimpleNamespace(**{n: getattr(layout, n) for n in layout.__all__})
        py.__all__ = [*layout.__all__, *[n for n in changes if n not in layout.__all__]]
        for name, value in changes.items():
            if value is None:
                py.__all__.remove(name)
            else:
                setattr(py, name, value)
        return py

    assert differences(_ring, shifted(H_WRITE_POS=257)) == [
        "HEADER_OFFSETS: H_WRITE_POS is 257 in layout.py, 256 in format.h"]
    assert differences(_ring, shifted(H_NEW_FIELD=448)) == [
        "HEADER_OFFSETS: H_NEW_FIELD = 448 in layout.py, missing from format.h"]
    assert differences(_ring, shifted(RF_MSG_CUT=None)) == [
        "CONSTANTS: RF_MSG_CUT = 2 in format.h, missing from layout.py"]
    assert differences(_ring, shifted(COMMIT_SALT=0x7A3C5E92))[0].startswith("CONSTANTS: COMMIT_SALT is")
    assert differences(_ring, shifted(K_OBJ=9)) != []
    assert differences(_ring, shifted(LEVELS={**layout.LEVELS, "NOTICE": 35})) != []
    assert differences(_ring, shifted(METHOD_LEVELS={**layout.METHOD_LEVELS, "warning": 31})) != []
    c = SimpleNamespace(**{n: getattr(_ring, n) for n in dir(_ring) if n.isupper()})
    c.RECORD_OFFSETS = {**_ring.RECORD_OFFSETS, "REC_EXTRA": 40}
    assert differences(c, layout) == ["RECORD_OFFSETS: REC_EXTRA = 40 in format.h, missing from layout.py"]


def test_record_struct_follows_the_record_offsets() -> None:
    """REC_STRUCT (one unpack of a record header) lays its fields where the REC_* offsets say."""
    fmt = layout.REC_STRUCT.format
    codes = fmt[1:]
    offsets = [struct.calcsize("<" + codes[:i]) for i in range(len(codes))]
    assert offsets == sorted(_ring.RECORD_OFFSETS.values())
    assert layout.REC_STRUCT.size == _ring.CONSTANTS["REC_HEADER"]


def test_decoded_kind_names_match_format_h() -> None:
    assert KIND_NAMES == _ring.KIND_NAMES


def test_ring_re_exports_the_layout() -> None:
    """layout.__all__ lists every name layout.py defines (so none escapes the checks above), and
    ttlog.ring re-exports each of them."""
    defined = {n for n, v in vars(layout).items()
               if n.isupper() or (callable(v) and getattr(v, "__module__", None) == layout.__name__)}
    assert set(layout.__all__) == defined
    for name in layout.__all__:
        assert getattr(R, name) is getattr(layout, name), name
