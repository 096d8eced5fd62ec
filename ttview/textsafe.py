"""Log text made safe to draw: every character that could drive a terminal (C0/C1 controls,
DEL, bidi and other format characters, line and paragraph separators, lone surrogates) shown as a
visible escape. The viewer and the CLI both print through :func:`visible`. No import beyond the
standard library, so error paths stay quick."""

from __future__ import annotations

import unicodedata

__all__ = ["LINE_LIMIT", "cut", "cut_mark", "escape_char", "is_unsafe", "visible"]

LINE_LIMIT = 1_000
"""Characters of one value shown in a log line; the rest is cut with a mark."""

_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def escape_char(ch: str) -> str:
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def cut(text: str, limit: int | None) -> tuple[str, int]:
    if limit is None or len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def cut_mark(n: int) -> str:
    return f"…(+{n:,} chars)"


def visible(text: str, *, limit: int | None = LINE_LIMIT) -> str:
    """``text`` with every unsafe character replaced by a visible escape, cut to ``limit`` chars.

    A cut value ends with ``…(+N chars)``. The result is always safe to draw.
    """
    text, more = cut(text, limit)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or not is_unsafe(ch) else escape_char(ch) for ch in text)
    return text + cut_mark(more) if more else text
