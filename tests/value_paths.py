"""Where a value sits in decoded CBOR: what the snapshot-mutation tests pick a place to damage from."""

from __future__ import annotations

from typing import Any


def value_paths(x: Any, *, items: int, prefix: tuple = ()) -> list[tuple]:
    """The key path of ``x`` and of every value inside it (maps by key, arrays by index, the
    first ``items`` of each array), the root's ``()`` first."""
    out = [prefix]
    if isinstance(x, dict):
        for k, v in x.items():
            out += value_paths(v, items=items, prefix=prefix + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x[:items]):
            out += value_paths(v, items=items, prefix=prefix + (i,))
    return out
