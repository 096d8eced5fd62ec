"""Log text made safe to draw: the one policy of ttview for characters a terminal could act on.

Unsafe is every character of the Unicode categories Cc (C0 and C1 controls, DEL), Cf (format
characters: bidi overrides and isolates, zero-width space and joiners U+200B-U+200D, word joiner
and invisible operators U+2060-U+2064, the byte order mark U+FEFF, ...), Cs (lone surrogates),
Zl and Zp (U+2028, U+2029). Each is shown as a visible escape in Python's spelling (``\\x1b``,
``\\n``, ``\\u202e``). Three forms of the one rule:

- :func:`visible` / :func:`is_unsafe`: the viewer and the CLI's tables print through them;
- :data:`TERMINAL_UNSAFE_REGEX`: the same set as a polars (Rust) regular expression, less tab
  and line feed, which ``ttview export`` to a terminal replaces column-wise;
- :func:`json_escape_unsafe`: JSON printed to a terminal (``--json``) with each unsafe character
  that JSON allows raw written as a ``\\uXXXX`` escape.

No import beyond the standard library, so error paths stay quick."""

from __future__ import annotations

import unicodedata

__all__ = [
    "LINE_LIMIT",
    "TERMINAL_UNSAFE_REGEX",
    "cut",
    "cut_mark",
    "escape_char",
    "is_unsafe",
    "json_escape_unsafe",
    "visible",
]

LINE_LIMIT = 1_000
"""Characters of one value shown in a log line; the rest is cut with a mark."""

_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

TERMINAL_UNSAFE_REGEX = r"[[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]--[\t\n]]"
"""The unsafe characters but tab and line feed, as a regular expression of polars (Rust regex
syntax; text in polars is UTF-8, so it holds no lone surrogate)."""


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


def json_escape_unsafe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with every unsafe character it
    holds raw (DEL, C1, format characters, U+2028/U+2029) written as a JSON ``\\uXXXX`` escape
    (a pair of them above U+FFFF); JSON's own line feeds are kept."""
    if text.replace("\n", "").isprintable():
        return text
    out = []
    for ch in text:
        if ch != "\n" and not ch.isprintable() and is_unsafe(ch):
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
