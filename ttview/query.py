"""The ttview filter language: text → tokens → syntax tree → one polars expression.

The TUI filter box and every CLI ``--filter`` use this module; ``docs/FILTER.md`` is the
language reference for people. In short::

    level >= WARN and logger == "orders" and latency_us > 250
    message ~* "reject" or (symbol in ("AAPL", "MSFT") and not has fill_px)
    ts > last - 5m

Grammar (keywords are case-insensitive; ``!``, ``&&``, ``||`` spell ``not``, ``and``, ``or``)::

    filter     := <empty> | or_expr
    or_expr    := and_expr (("or" | "||") and_expr)*
    and_expr   := not_expr (("and" | "&&") not_expr)*
    not_expr   := ("not" | "!")* primary
    primary    := "(" or_expr ")"
                | STRING                                   # free text: message contains, any case
                | "marked"                                 # the events marked in the viewer (m)
                | "has" name | "exists" "(" name ")"
                | name cmp_op value                        # == != < <= > >=  (= means ==)
                | name match_op STRING                     # ~  !~  ~*  !~*   (regex; * = any case)
                | name ["not"] "in" "(" value ("," value)* [","] ")"
                | name "is" ["not"] "null"
    name       := IDENT | BACKTICK_NAME                    # IDENT: letter or _, then letters, digits, _ .
    value      := atom (("+" | "-") DURATION)*             # arithmetic only on times
    atom       := ["-" | "+"] (INT | FLOAT) | STRING | DURATION | "true" | "false" | "null" | WORD

Invariants:
- User text is only ever tokenized and parsed here: never ``eval``, never Python's ``ast``. Values
  taken from it become polars literals; nothing in the log data is interpreted at all.
- Every malformed input raises :class:`QueryError` (a ``ValueError``) with a 0-based position;
  no other exception escapes :func:`compile_filter`. Nesting deeper than :data:`MAX_DEPTH`
  parentheses and text longer than :data:`MAX_LENGTH` characters are rejected, so no input
  can exhaust the stack.
- A comparison on an event that lacks the field is false, whatever the operator; ``not`` is
  plain negation, so ``not (x == 5)`` keeps the events without ``x``. Filters therefore never
  yield null.
- A field the frame does not have (when its schema is known) is an error, with the closest name
  offered (``unknown field 'latncy_us' (did you mean 'latency_us'?)``), for the viewer's ``-f``,
  its ``/`` prompt and every CLI ``--filter`` alike. Only where fields may still appear (a live
  tail, events still loading) is it compiled with ``unknown="warn"``: the comparison is false and
  the filter carries the same text as a warning.
- ``marked`` needs the set of marks (``marks=``, event identities ``(ts_ns, seq, pid)``); without
  one (the CLI) it is an error, since marks exist only in the viewer.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from fractions import Fraction
from typing import Any, Literal, TypeVar

import polars as pl

from ttview.schema import (
    CORE_COLUMNS,
    LEVEL_NAMES,
    LEVELS,
    dtype_kinds,
    event_id_expr,
    is_union_dtype,
    level_name_expr,
    numeric_expr,
    text_expr,
    union_value,
)
from ttview.textsafe import is_unsafe

__all__ = [
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Filter",
    "QueryError",
    "ChunkBounds",
    "apply_filter",
    "compile_filter",
    "format_error",
    "parse_duration",
    "parse_time",
    "quote_name",
    "quote_value",
    "regex_escape",
]

MAX_DEPTH = 64
"""Deepest parenthesis nesting accepted."""

MAX_LENGTH = 100_000
"""Longest filter text accepted, in characters."""

_I64_MAX = 2**63 - 1
_DAY_NS = 86_400 * 10**9


# ---- errors ---------------------------------------------------------------------------------------


class QueryError(ValueError):
    """A filter that cannot be parsed or compiled; ``position`` is a 0-based offset into the text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} at {self.position}"

    def caret(self, text: str) -> str:
        """The offending line of ``text`` with a caret under the error position (see format_error)."""
        return format_error(text, self)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _printable(ch: str) -> str:
    if ch == "\t":
        return " "
    return ch if ch.isprintable() else "?"


def format_error(text: str, error: QueryError, *, width: int = 100) -> str:
    """Two lines: the line of ``text`` holding the error, and a caret under it with the message.

    Control characters are shown as ``?`` (tabs as a space) so the input can never drive the
    terminal; long lines are cut to a window of about ``width`` characters around the error.
    """
    pos = max(0, min(error.position, len(text)))
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : len(text) if end < 0 else end]
    col = pos - start
    prefix = ""
    if len(line) > width:
        lo = max(0, col - width // 2)
        hi = min(len(line), lo + width)
        prefix = "…" if lo > 0 else ""
        line = prefix + line[lo:hi] + ("…" if hi < len(line) else "")
        col = col - lo + len(prefix)
    shown = "".join(_printable(ch) for ch in line)
    indent = sum(_char_width(ch) for ch in shown[:col])
    message = "".join(_printable(ch) for ch in error.message)
    return f"{shown}\n{' ' * indent}^ {message}"


# ---- tokens ---------------------------------------------------------------------------------------

_OPERATORS = (
    "!~*", "==", "!=", "<=", ">=", "!~", "~*", "&&", "||",
    "<", ">", "=", "!", "~", "(", ")", ",", "+", "-",
)  # fmt: skip
_D = r"[0-9](?:_?[0-9])*"
_INT_RE = re.compile(_D)
_FLOAT_RE = re.compile(rf"(?:{_D}\.(?:{_D})?|\.{_D}|{_D})(?:[eE][+-]?{_D})?")
_DUR_UNITS_NS = {
    "ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
    "h": 3600 * 10**9, "d": _DAY_NS, "w": 7 * _DAY_NS,
}  # fmt: skip
_DUR_PART = rf"({_D}(?:\.{_D})?)(ns|us|µs|ms|s|m|h|d|w)"
_DUR_RE = re.compile(rf"(?:{_DUR_PART})+")
_DUR_PART_RE = re.compile(_DUR_PART)
_EXP_TAIL_RE = re.compile(rf"(?:{_D}(?:\.(?:{_D})?)?|\.{_D})[eE]")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "`": "`"}
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "has", "exists"})
"""Words that are never a bare field name (case-insensitive); a field so named goes in backticks."""
_KEYWORDS = KEYWORDS
MARKED = "marked"
"""The condition naming the events marked in the viewer: a bare ``marked`` not followed by an
operator (a field called ``marked`` still reads ``marked == 1``)."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # NAME, QNAME, STRING, INT, FLOAT, DURATION, OP, EOF
    text: str  # the source text, quotes included
    value: object
    pos: int

    def describe(self) -> str:
        if self.kind == "EOF":
            return "end of filter"
        return _show(self.text)


def _show(text: str, limit: int = 30) -> str:
    """``text`` quoted for an error message: escapes visible, long text cut."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _check_utf8(value: str, pos: int, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError(f"{what} holds an unpaired surrogate", pos) from None


def _number_token(text: str, pos: int) -> _Token:
    if _INT_RE.fullmatch(text):
        value = int(text) if len(text) <= 40 else _I64_MAX + 1  # int() refuses over 4300 digits
        if value > _I64_MAX:
            raise QueryError(f"integer {_show(text)} is out of range", pos)
        return _Token("INT", text, value, pos)
    if _FLOAT_RE.fullmatch(text):
        return _Token("FLOAT", text, float(text), pos)
    if _DUR_RE.fullmatch(text):
        if len(text) > 64:
            raise QueryError(f"duration {_show(text)} is out of range", pos)
        total = sum(
            Fraction(num.replace("_", "")) * _DUR_UNITS_NS[unit] for num, unit in _DUR_PART_RE.findall(text)
        )
        ns = round(total)
        if ns > _I64_MAX:
            raise QueryError(f"duration {_show(text)} is out of range", pos)
        return _Token("DURATION", text, ns, pos)
    raise QueryError(f"invalid number {_show(text)}", pos)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            tokens.append(_string_token(text, i))
            i += len(tokens[-1].text)
        elif c == "`":
            tokens.append(_backtick_token(text, i))
            i += len(tokens[-1].text)
        elif "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            j = i
            while j < n and (text[j].isascii() and (text[j].isalnum() or text[j] in "_.") or text[j] == "µ"):
                j += 1
                # an exponent sign: 1e-3, 2.5E+7
                if (
                    j + 1 < n
                    and text[j] in "+-"
                    and "0" <= text[j + 1] <= "9"
                    and _EXP_TAIL_RE.fullmatch(text, i, j)
                ):
                    j += 1
            tokens.append(_number_token(text[i:j], i))
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            tokens.append(_Token("NAME", text[i:j], text[i:j], i))
            i = j
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(_Token("OP", op, "==" if op == "=" else op, i))
                    i += len(op)
                    break
            else:
                raise QueryError(f"unexpected character {c!r}", i)
    tokens.append(_Token("EOF", "", None, n))
    return tokens


def _string_token(text: str, start: int) -> _Token:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == quote:
            value = "".join(out)
            _check_utf8(value, start, "string")
            return _Token("STRING", text[start : i + 1], value, start)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        e = text[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = text[i + 2 : i + 2 + size]
            if len(digits) != size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise QueryError(f"invalid \\{e} escape: expected {size} hex digits", i)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise QueryError(f"invalid \\{e} escape: not a character", i)
            out.append(chr(code))
            i += 2 + size
        else:
            # Unknown escapes keep their backslash, so regexes read naturally: "\d+", "a\.b".
            out.append("\\" + e)
            i += 2
    raise QueryError("unterminated string", start)


def _backtick_token(text: str, start: int) -> _Token:
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        if text[i] == "`":
            if i + 1 < n and text[i + 1] == "`":  # `` inside a backtick name is one backtick
                out.append("`")
                i += 2
                continue
            value = "".join(out)
            if not value:
                raise QueryError("empty field name", start)
            _check_utf8(value, start, "field name")
            return _Token("QNAME", text[start : i + 1], value, start)
        out.append(text[i])
        i += 1
    raise QueryError("unterminated `name`", start)


# ---- syntax tree ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Name:
    column: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Lit:
    kind: str  # int, float, str, bool, null, word, duration
    value: object
    pos: int
    text: str


@dataclass(frozen=True, slots=True)
class _TimeExpr:
    base: _Lit
    offset_ns: int
    pos: int


_Value = _Lit | _TimeExpr


@dataclass(frozen=True, slots=True)
class _Or:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _And:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    item: _Node


@dataclass(frozen=True, slots=True)
class _Compare:
    name: _Name
    op: str
    value: _Value


@dataclass(frozen=True, slots=True)
class _InList:
    name: _Name
    negated: bool
    values: tuple[_Value, ...]


@dataclass(frozen=True, slots=True)
class _Regex:
    name: _Name
    negated: bool
    icase: bool
    pattern: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Has:
    name: _Name


@dataclass(frozen=True, slots=True)
class _IsNull:
    name: _Name
    negated: bool


@dataclass(frozen=True, slots=True)
class _Search:
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Marked:
    pos: int


@dataclass(frozen=True, slots=True)
class _All:
    pass


_Node = _Or | _And | _Not | _Compare | _InList | _Regex | _Has | _IsNull | _Search | _Marked | _All

_CMP_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_MATCH_OPS = frozenset({"~", "!~", "~*", "!~*"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
    def peek(self, k: int = 0) -> _Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    @staticmethod
    def is_kw(tok: _Token, *words: str) -> bool:
        return tok.kind == "NAME" and tok.text.lower() in words

    @staticmethod
    def is_op(tok: _Token, *ops: str) -> bool:
        return tok.kind == "OP" and tok.value in ops

    def expect_op(self, op: str, what: str) -> _Token:
        tok = self.next()
        if not self.is_op(tok, op):
            raise QueryError(f"expected {what}, found {tok.describe()}", tok.pos)
        return tok

    # grammar
    def parse(self) -> _Node:
        if self.peek().kind == "EOF":
            return _All()
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "EOF":
            raise QueryError(f"unexpected {tok.describe()}", tok.pos)
        return node

    def parse_or(self) -> _Node:
        items = [self.parse_and()]
        while self.is_kw(self.peek(), "or") or self.is_op(self.peek(), "||"):
            self.next()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else _Or(tuple(items))

    def parse_and(self) -> _Node:
        items = [self.parse_not()]
        while self.is_kw(self.peek(), "and") or self.is_op(self.peek(), "&&"):
            self.next()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else _And(tuple(items))

    def parse_not(self) -> _Node:
        negations = 0
        while self.is_kw(self.peek(), "not") or self.is_op(self.peek(), "!"):
            self.next()
            negations += 1
        node = self.parse_primary()
        return _Not(node) if negations % 2 else node

    def parse_primary(self) -> _Node:
        tok = self.peek()
        if self.is_op(tok, "("):
            self.next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"parentheses nested deeper than {MAX_DEPTH}", tok.pos)
            node = self.parse_or()
            close = self.next()
            if not self.is_op(close, ")"):
                raise QueryError(
                    f"expected ')' to close the '(' at {tok.pos}, found {close.describe()}", close.pos
                )
            self.depth -= 1
            return node
        if tok.kind == "STRING":
            self.next()
            return _Search(str(tok.value), tok.pos)
        if self.is_kw(tok, "has"):
            self.next()
            return _Has(self.parse_name("after 'has'"))
        if self.is_kw(tok, "exists") and self.is_op(self.peek(1), "("):
            self.next()
            self.next()
            name = self.parse_name("in exists(...)")
            self.expect_op(")", "')' to close exists(")
            return _Has(name)
        if tok.kind == "NAME" and tok.text.lower() == MARKED and self.ends_condition(self.peek(1)):
            self.next()
            return _Marked(tok.pos)
        if tok.kind == "QNAME" or (tok.kind == "NAME" and tok.text.lower() not in _KEYWORDS):
            if tok.kind == "NAME" and self.ends_condition(self.peek(1)):
                word = tok.text
                raise QueryError(
                    f"'{word}' alone is not a condition: to find text, write message ~ \"{word}\"; "
                    f"for a field, has {word}",
                    tok.pos,
                )
            return self.parse_condition(self.parse_name(""))
        raise QueryError(f"expected a condition, found {tok.describe()}", tok.pos)

    def ends_condition(self, tok: _Token) -> bool:
        """True if ``tok`` can follow a whole condition (so a name before it stands alone)."""
        return tok.kind == "EOF" or self.is_op(tok, ")", "&&", "||") or self.is_kw(tok, "and", "or")

    def parse_name(self, where: str) -> _Name:
        tok = self.next()
        if tok.kind == "QNAME" or (tok.kind == "NAME" and tok.text.lower() not in _KEYWORDS):
            return _Name(str(tok.value), tok.pos)
        where = f" {where}" if where else ""
        raise QueryError(f"expected a field name{where}, found {tok.describe()}", tok.pos)

    def parse_condition(self, name: _Name) -> _Node:
        tok = self.next()
        if tok.kind == "OP" and tok.value in _CMP_OPS:
            return _Compare(name, str(tok.value), self.parse_value(str(tok.value)))
        if tok.kind == "OP" and tok.value in _MATCH_OPS:
            pat = self.next()
            if pat.kind != "STRING":
                raise QueryError(f"expected a quoted regular expression after '{tok.value}'", pat.pos)
            op = str(tok.value)
            return _Regex(name, op.startswith("!"), op.endswith("*"), str(pat.value), pat.pos)
        if self.is_kw(tok, "in"):
            return _InList(name, False, self.parse_list())
        if self.is_kw(tok, "not") and self.is_kw(self.peek(), "in"):
            self.next()
            return _InList(name, True, self.parse_list())
        if self.is_kw(tok, "is"):
            negated = False
            if self.is_kw(self.peek(), "not"):
                self.next()
                negated = True
            null = self.next()
            if not self.is_kw(null, "null"):
                raise QueryError(f"expected 'null' after 'is', found {null.describe()}", null.pos)
            return _IsNull(name, negated)
        raise QueryError(
            f"expected an operator (== != < <= > >= ~ in is) after the field name, found {tok.describe()}",
            tok.pos,
        )

    def parse_list(self) -> tuple[_Value, ...]:
        self.expect_op("(", "'(' to open the list")
        values = [self.parse_value("in")]
        while self.is_op(self.peek(), ","):
            self.next()
            if self.is_op(self.peek(), ")"):
                break
            values.append(self.parse_value("in"))
        self.expect_op(")", "',' or ')' in the list")
        return tuple(values)

    def parse_value(self, after: str) -> _Value:
        atom = self.parse_atom(after)
        offset = 0
        arithmetic = False
        while self.is_op(self.peek(), "+", "-"):
            sign = self.next()
            dur = self.next()
            if dur.kind != "DURATION":
                raise QueryError(
                    f"expected a duration (like 5m, 250ms) after '{sign.value}', found {dur.describe()}",
                    dur.pos,
                )
            step = int(dur.value)  # type: ignore[call-overload]
            offset += step if sign.value == "+" else -step
            arithmetic = True
        return _TimeExpr(atom, offset, atom.pos) if arithmetic else atom

    def parse_atom(self, after: str) -> _Lit:
        tok = self.next()
        if self.is_op(tok, "-", "+"):
            num = self.next()
            if num.kind not in ("INT", "FLOAT"):
                raise QueryError(f"expected a number after '{tok.value}', found {num.describe()}", num.pos)
            value = -num.value if tok.value == "-" else num.value  # type: ignore[operator]
            return _Lit("int" if num.kind == "INT" else "float", value, tok.pos, tok.text + num.text)
        if tok.kind == "INT":
            return _Lit("int", tok.value, tok.pos, tok.text)
        if tok.kind == "FLOAT":
            return _Lit("float", tok.value, tok.pos, tok.text)
        if tok.kind == "STRING":
            return _Lit("str", tok.value, tok.pos, tok.text)
        if tok.kind == "DURATION":
            return _Lit("duration", tok.value, tok.pos, tok.text)
        if tok.kind == "NAME":
            word = tok.text.lower()
            if word in ("true", "false"):
                return _Lit("bool", word == "true", tok.pos, tok.text)
            if word == "null":
                return _Lit("null", None, tok.pos, tok.text)
            if word not in _KEYWORDS:
                return _Lit("word", tok.text, tok.pos, tok.text)
        raise QueryError(f"expected a value after '{after}', found {tok.describe()}", tok.pos)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> _Node:
    if len(text) > MAX_LENGTH:
        raise QueryError(f"filter longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return _Parser(text).parse()


# ---- times and durations --------------------------------------------------------------------------

_TIME_PART = r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)?"
_TZ_PART = r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)"
_DATETIME_RE = re.compile(
    rf"(?P<y>[0-9]{{4}})-(?P<mo>[0-9]{{2}})-(?P<d>[0-9]{{2}})(?:[Tt ]{_TIME_PART})?\s*{_TZ_PART}?"
)
_TIME_OF_DAY_RE = re.compile(rf"{_TIME_PART}\s*{_TZ_PART}?")
_ORDINAL_1970 = 719_163  # datetime.date(1970, 1, 1).toordinal()


def _clock_ns(m: re.Match[str]) -> int:
    h, mi, s = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError("hour, minute or second out of range")
    frac = int((m["f"] or "").ljust(9, "0"))
    tz = m["tz"]
    offset = 0
    if tz and tz not in "Zz":
        digits = tz[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 23 or om > 59:
            raise ValueError("UTC offset out of range")
        offset = (oh * 60 + om) * 60 * (1 if tz[0] == "+" else -1)
    return ((h * 60 + mi) * 60 + s - offset) * 10**9 + frac


def _parse_time(text: str) -> tuple[int, bool]:
    """``(ns, is_time_of_day)``: ns since the epoch, or since midnight UTC for a bare time of day."""
    text = text.strip()
    m = _DATETIME_RE.fullmatch(text)
    if m:
        try:
            day = datetime.date(int(m["y"]), int(m["mo"]), int(m["d"])).toordinal() - _ORDINAL_1970
        except ValueError:
            raise ValueError(f"invalid date {text!r}") from None
        if m["h"] is None and m["tz"] is not None:
            m = _DATETIME_RE.fullmatch(text[:10] + "T00:00" + text[10:].strip())
            assert m is not None
        try:
            clock = _clock_ns(m) if m["h"] is not None else 0
        except ValueError as exc:
            raise ValueError(f"invalid time {text!r}: {exc}") from None
        ns = day * _DAY_NS + clock
        if not -_I64_MAX <= ns <= _I64_MAX:
            raise ValueError(f"time {text!r} is out of range (years 1678 to 2262)")
        return ns, False
    m = _TIME_OF_DAY_RE.fullmatch(text)
    if m:
        try:
            return _clock_ns(m), True
        except ValueError as exc:
            raise ValueError(f"invalid time {text!r}: {exc}") from None
    raise ValueError(
        f'invalid time {text!r}: expected ISO-8601 like "2026-11-21T14:30:00.123456789Z" or "14:30"'
    )


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch for an ISO-8601 date or date-time (UTC unless an offset is given).

    Accepts ``2026-11-21``, ``2026-11-21 14:30``, ``2026-11-21T14:30:05.123456789+02:00`` and
    ``...Z``; raises ValueError otherwise (a bare time of day has no date, so it is refused here).
    """
    ns, time_of_day = _parse_time(text)
    if time_of_day:
        raise ValueError(f"time {text.strip()!r} has no date")
    return ns


def parse_duration(text: str) -> int:
    """Nanoseconds in a duration like ``5m``, ``250ms``, ``1h30m``, ``1.5s`` (units ns us µs ms s m h d w)."""
    text = text.strip()
    try:
        tok = _number_token(text, 0)
    except QueryError as exc:
        raise ValueError(f"invalid duration {text!r}") from exc
    if tok.kind != "DURATION":
        raise ValueError(f"invalid duration {text!r}: give a unit, like 5m or 250ms")
    return int(tok.value)  # type: ignore[call-overload]


def _parse_number_text(text: str) -> int | float | None:
    text = text.strip()
    sign = -1 if text[:1] == "-" else 1
    body = text[1:] if text[:1] in "+-" else text
    if _INT_RE.fullmatch(body) and len(body) <= 18:
        return sign * int(body)
    if _FLOAT_RE.fullmatch(body) or _INT_RE.fullmatch(body):
        return sign * float(body)
    return None


# ---- compiling to polars --------------------------------------------------------------------------

_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")


def regex_escape(text: str) -> str:
    """``text`` as a regular expression (polars' syntax) matching exactly that text."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


@functools.lru_cache(maxsize=512)
def _regex_problem(pattern: str) -> str | None:
    """None if polars (Rust regex syntax) accepts ``pattern``, else its complaint in one line."""
    try:
        pl.Series("", [""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:  # polars raises ComputeError; any failure means "not usable"
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        for line in lines:
            if line.startswith("error:"):
                return line[len("error:") :].strip()
        first = lines[0] if lines else "rejected"
        return first.removeprefix("regex error:").strip()
    return None


def _is(dtype: object, cls: type) -> bool:
    """isinstance for dtype instances and dtype classes alike (a schema may hold either)."""
    return isinstance(dtype, cls) or (isinstance(dtype, type) and issubclass(dtype, cls))


def _kind_of(column: str, dtype: pl.DataType) -> str:
    if is_union_dtype(dtype):
        return "union"
    if _is(dtype, pl.Datetime):
        return "time"
    if _is(dtype, pl.Null):
        return "null"
    if dtype.is_integer() and column == "level":
        return "level"
    if dtype.is_numeric():
        return "num"
    if _is(dtype, pl.String) or _is(dtype, pl.Categorical) or _is(dtype, pl.Enum):
        return "str"
    if _is(dtype, pl.Boolean):
        return "bool"
    if _is(dtype, pl.Binary):
        return "bin"
    return "other"


def _cmp(lhs: pl.Expr, op: str, rhs: pl.Expr) -> pl.Expr:
    if op == "==":
        return lhs == rhs
    if op == "!=":
        return lhs != rhs
    if op == "<":
        return lhs < rhs
    if op == "<=":
        return lhs <= rhs
    if op == ">":
        return lhs > rhs
    return lhs >= rhs


def _const(value: bool) -> pl.Expr:
    """A column of ``value``, as long as the frame (a bare literal would be one row in a select)."""
    return pl.repeat(value, pl.len(), dtype=pl.Boolean)


def _any(parts: list[pl.Expr]) -> pl.Expr:
    return parts[0] if len(parts) == 1 else pl.any_horizontal(*parts)


_LEVEL_LIST = ", ".join(LEVEL_NAMES.values())
_KIND_LABEL = {
    "num": "a number", "str": "text", "bool": "true/false", "bin": "binary",
    "time": "a time", "level": "a level", "null": "always null", "other": "not comparable",
    "union": "values of several kinds",
}  # fmt: skip


Unknown = Literal["error", "warn"]
"""What a field the schema lacks is: an error (the data is complete) or a warning (fields may still
appear: a live tail, events still loading)."""


class _Compiler:
    def __init__(
        self,
        columns: Mapping[str, pl.DataType] | None,
        *,
        unknown: Unknown = "error",
        marks: Collection[tuple[int, int, int]] | None = None,
        time_bounds: tuple[int, int] | None = None,
    ) -> None:
        self.columns = None if columns is None else dict(columns)
        self.unknown = unknown
        self.marks = marks
        self.time_bounds = time_bounds
        self.fields: dict[str, None] = {}
        self.warnings: dict[str, None] = {}

    # names
    def resolve(self, name: _Name) -> tuple[str, pl.Expr]:
        column = name.column
        self.fields.setdefault(column)
        if self.columns is not None:
            dtype = self.columns.get(column)
            if dtype is None:
                hint = get_close_matches(column, list(self.columns), n=1)
                more = f" (did you mean {hint[0]!r}?)" if hint else ""
                problem = f"unknown field {column!r}{more}"
                if self.unknown == "error":
                    raise QueryError(problem, name.pos)
                self.warnings.setdefault(problem)
                return "missing", pl.lit(None)
        else:
            dtype = CORE_COLUMNS.get(column)  # type: ignore[assignment]
            if dtype is None:
                return "unknown", pl.col(column)
        kind = _kind_of(column, dtype)
        expr = pl.col(column)
        if kind == "str" and not _is(dtype, pl.String):
            expr = expr.cast(pl.String)
        return kind, expr

    # values
    def coerce(self, kind: str, name: _Name, lhs: pl.Expr, v: _Value) -> tuple[str, pl.Expr, object]:
        """``(tag, lhs, rhs)``: the two sides to compare; rhs is a Python scalar or an expression."""
        if kind == "time":
            return "time", lhs.dt.epoch("ns"), self.time_value(lhs, v)
        if isinstance(v, _TimeExpr) or v.kind == "duration":
            raise QueryError(
                f"durations and time arithmetic only apply to times like ts, not {name.column!r}", v.pos
            )
        if kind == "level":
            level: object = v.value
            if v.kind in ("word", "str"):
                text = str(v.value).strip()
                level = LEVELS.get(text.upper())
                if level is None and len(text) < 10 and _INT_RE.fullmatch(text):
                    level = int(text)
                if level is None:
                    raise QueryError(f"unknown level {_show(text)} (levels: {_LEVEL_LIST})", v.pos)
            elif v.kind != "int":
                raise QueryError(f"level compares with a level name ({_LEVEL_LIST}) or an integer", v.pos)
            if not 0 <= level <= 255:  # type: ignore[operator]
                raise QueryError(f"level {level} is out of range 0-255", v.pos)
            return "level", lhs, level
        if v.kind == "word":
            raise QueryError(f'unquoted word {v.text!r}: quote text values, like "{v.text}"', v.pos)
        if kind == "unknown":
            return "plain", lhs, v.value
        if kind == "union":
            return self.coerce_union(name, v)
        if kind == "num":
            if v.kind in ("int", "float"):
                return "plain", lhs, v.value
            if v.kind == "str":
                number = _parse_number_text(str(v.value))
                if number is not None:
                    return "plain", lhs, number
            raise QueryError(f"{name.column!r} is a number; {_show(v.text)} is not", v.pos)
        if kind == "str":
            if v.kind == "str":
                return "plain", lhs, v.value
            if v.kind in ("int", "float"):
                return "float", lhs.cast(pl.Float64, strict=False), float(v.value)  # type: ignore[arg-type]
            raise QueryError(
                f"{name.column!r} is text; compare it with a quoted string, not {_show(v.text)}", v.pos
            )
        if kind == "bool":
            if v.kind == "bool":
                return "plain", lhs, v.value
            raise QueryError(f"{name.column!r} is true/false; compare it with true or false", v.pos)
        if kind == "bin":
            if v.kind == "str":
                return "plain", lhs, str(v.value).encode("utf-8")
            raise QueryError(f"{name.column!r} is binary; compare it with a quoted string", v.pos)
        raise QueryError(
            f"{name.column!r} holds values that cannot be compared; use 'has' or 'is null'", name.pos
        )

    def coerce_union(self, name: _Name, v: _Lit) -> tuple[str, pl.Expr, object]:
        """A field of several kinds compares by the literal's kind: a number with its numbers (int
        and float parts), quoted text with its text, true/false with its booleans."""
        assert self.columns is not None
        dtype = self.columns[name.column]
        kinds = dtype_kinds(dtype)
        col = pl.col(name.column)
        numbers = numeric_expr(name.column, dtype)
        if v.kind in ("int", "float") and numbers is not None:
            return "num", numbers, v.value
        if v.kind == "str":
            if "str" in kinds:
                return "str", col.struct.field("str"), v.value
            number = _parse_number_text(str(v.value))
            if number is not None and numbers is not None:
                return "num", numbers, number
            if "bytes" in kinds:
                return "bin", col.struct.field("bytes"), str(v.value).encode("utf-8")
        if v.kind == "bool" and "bool" in kinds:
            return "bool", col.struct.field("bool"), v.value
        raise QueryError(
            f"{name.column!r} holds {', '.join(kinds)} values; "
            f"compare it with one of those, not {_show(v.text)}",
            v.pos,
        )

    def check_value(self, name: _Name, v: _Value) -> None:
        """Raise what :meth:`coerce` would for a column of unknown type (or its core type)."""
        if isinstance(v, _Lit) and v.kind == "null":
            return
        dtype = CORE_COLUMNS.get(name.column)
        kind = "unknown" if dtype is None else _kind_of(name.column, dtype)
        self.coerce(kind, name, pl.col(name.column), v)

    def time_value(self, lhs: pl.Expr, v: _Value) -> int | pl.Expr:
        epoch = lhs.dt.epoch("ns")
        if isinstance(v, _TimeExpr):
            base = self.time_value(lhs, v.base)
            if isinstance(base, int):
                total = base + v.offset_ns
                if not -_I64_MAX <= total <= _I64_MAX:
                    raise QueryError("time out of range", v.pos)
                return total
            return base + v.offset_ns
        if v.kind == "str":
            try:
                ns, time_of_day = _parse_time(str(v.value))
            except ValueError as exc:
                raise QueryError(str(exc), v.pos) from None
            if time_of_day:  # that time on the (UTC) day of the earliest event
                if self.time_bounds is not None:
                    return self.time_bounds[0] // _DAY_NS * _DAY_NS + ns
                return epoch.min() // _DAY_NS * _DAY_NS + ns
            return ns
        if v.kind == "word" and v.text.lower() in ("last", "first"):
            if self.time_bounds is not None:  # the data's own first and last times, as numbers
                return self.time_bounds[1] if v.text.lower() == "last" else self.time_bounds[0]
            return epoch.max() if v.text.lower() == "last" else epoch.min()
        raise QueryError(
            f'compare times with a quoted ISO-8601 time ("2026-11-21T14:30:00", "14:30") or '
            f"last/first ± a duration, not {_show(v.text)}",
            v.pos,
        )

    # nodes
    def compile(self, node: _Node) -> pl.Expr:
        if isinstance(node, _All):
            return _const(True)
        if isinstance(node, _Or):
            return pl.any_horizontal(*[self.compile(item) for item in node.items])
        if isinstance(node, _And):
            return pl.all_horizontal(*[self.compile(item) for item in node.items])
        if isinstance(node, _Not):
            return ~self.compile(node.item)
        if isinstance(node, _Compare):
            return self.compare(node)
        if isinstance(node, _InList):
            return self.in_list(node)
        if isinstance(node, _Regex):
            return self.regex(node.name, node.pattern, node.pos, icase=node.icase, negated=node.negated)
        if isinstance(node, _Search):
            return self.regex(
                _Name("message", node.pos), regex_escape(node.text), node.pos, icase=True, negated=False
            )
        if isinstance(node, _Marked):
            return self.marked(node)
        if isinstance(node, _Has):
            kind, lhs = self.resolve(node.name)
            return _const(False) if kind == "missing" else lhs.is_not_null()
        if isinstance(node, _IsNull):
            kind, lhs = self.resolve(node.name)
            if kind == "missing":
                return _const(not node.negated)
            return lhs.is_not_null() if node.negated else lhs.is_null()
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def compare(self, node: _Compare) -> pl.Expr:
        kind, lhs = self.resolve(node.name)
        v = node.value
        if isinstance(v, _Lit) and v.kind == "null":
            if node.op not in ("==", "!="):
                raise QueryError(
                    f"null only compares with == and != (or use 'is null'), not {node.op}", v.pos
                )
            if kind == "missing":
                return _const(node.op == "==")
            return lhs.is_null() if node.op == "==" else lhs.is_not_null()
        if kind in ("missing", "null"):
            self.check_value(node.name, v)
            return _const(False)
        tag, side, rhs = self.coerce(kind, node.name, lhs, v)
        if kind == "bool" and node.op not in ("==", "!="):
            raise QueryError(f"only == and != apply to true/false, not {node.op}", v.pos)
        if tag == "bool" and node.op not in ("==", "!="):
            raise QueryError(f"only == and != apply to true/false, not {node.op}", v.pos)
        rhs_expr = rhs if isinstance(rhs, pl.Expr) else pl.lit(rhs)
        return _cmp(side, node.op, rhs_expr).fill_null(False)

    def in_list(self, node: _InList) -> pl.Expr:
        kind, lhs = self.resolve(node.name)
        if kind in ("missing", "null"):
            for v in node.values:
                self.check_value(node.name, v)
            return _const(False)
        parts: list[pl.Expr] = []
        groups: dict[str, tuple[pl.Expr, list[object]]] = {}
        for v in node.values:
            if isinstance(v, _Lit) and v.kind == "null":
                parts.append(lhs.is_null())
                continue
            tag, side, rhs = self.coerce(kind, node.name, lhs, v)
            if isinstance(rhs, pl.Expr) or kind == "unknown":
                parts.append(side == (rhs if isinstance(rhs, pl.Expr) else pl.lit(rhs)))
            else:
                groups.setdefault(tag, (side, []))[1].append(rhs)
        for tag, (side, values) in groups.items():
            parts.append(self.is_in(kind, tag, side, values))
        found = _any(parts).fill_null(False)
        return (~found & lhs.is_not_null()) if node.negated else found

    def is_in(self, kind: str, tag: str, side: pl.Expr, values: list[object]) -> pl.Expr:
        dtype: pl.DataType
        if kind == "union":
            kind = tag
        if tag == "float":
            dtype = pl.Float64()
        elif kind in ("level", "time"):
            dtype, side = pl.Int64(), side.cast(pl.Int64)
        elif kind == "num":
            if all(isinstance(x, int) for x in values):
                dtype, side = pl.Int64(), side.cast(pl.Int64, strict=False)
            else:
                dtype, side = pl.Float64(), side.cast(pl.Float64)
        elif kind == "str":
            dtype = pl.String()
        elif kind == "bool":
            dtype = pl.Boolean()
        else:
            dtype = pl.Binary()
        return side.is_in(pl.lit(pl.Series("", values, dtype=dtype)).implode())

    def marked(self, node: _Marked) -> pl.Expr:
        if self.marks is None:
            raise QueryError(
                "'marked' selects the events marked in the viewer (m); there are none here", node.pos
            )
        for column in ("ts", "seq", "pid"):
            self.fields.setdefault(column)
        if not self.marks:
            return _const(False)
        if self.columns is not None and not all(c in self.columns for c in ("ts", "seq", "pid")):
            return _const(False)
        ids = pl.DataFrame(
            sorted(self.marks), schema={"ts": pl.Int64, "seq": pl.Int64, "pid": pl.Int64}, orient="row"
        )
        wanted = ids.select(pl.struct("ts", "seq", "pid").alias("event_id")).to_series()
        return event_id_expr().is_in(wanted.implode()).fill_null(False)

    def regex(self, name: _Name, pattern: str, pos: int, *, icase: bool, negated: bool) -> pl.Expr:
        kind, lhs = self.resolve(name)
        if kind in ("bin", "other"):
            raise QueryError(
                f"regular expressions apply to text; {name.column!r} is {_KIND_LABEL[kind]}", name.pos
            )
        full = "(?i)" + pattern if icase else pattern
        problem = _regex_problem(full)
        if problem is not None:
            raise QueryError(f"invalid regular expression: {problem}", pos)
        if kind in ("missing", "null"):
            return _const(False)
        if kind == "level":
            subject = level_name_expr(lhs)
        elif kind == "union":
            assert self.columns is not None
            subject = text_expr(name.column, self.columns[name.column])
        elif kind in ("num", "bool", "time"):
            subject = lhs.cast(pl.String)
        else:
            subject = lhs
        found = subject.str.contains(full).fill_null(False)
        return (~found & lhs.is_not_null()) if negated else found


# ---- public API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """A compiled filter: ``expr`` keeps the matching rows (never null), ``text`` is the source.

    ``fields`` names every column the filter refers to, in order of first use (core columns
    included; free text search refers to ``message``). ``warnings`` lists unknown fields when the
    filter was compiled against a schema. :meth:`bind` recompiles it for another schema.
    """

    text: str
    expr: pl.Expr = field(compare=False, repr=False)
    fields: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    _tree: _Node = field(default_factory=_All, compare=False, repr=False)
    _unknown: Unknown = field(default="error", compare=False, repr=False)
    _marks: Collection[tuple[int, int, int]] | None = field(default=None, compare=False, repr=False)
    _time_bounds: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    @property
    def keeps_all(self) -> bool:
        """True for the empty filter, which keeps every row."""
        return isinstance(self._tree, _All)

    @property
    def uses_marks(self) -> bool:
        """True if the filter says ``marked`` (its result changes when the marks do)."""
        return _uses_marks(self._tree)

    def bind(
        self,
        columns: Mapping[str, pl.DataType] | None,
        *,
        unknown: Unknown | None = None,
        marks: Collection[tuple[int, int, int]] | None = None,
        time_bounds: tuple[int, int] | None = None,
    ) -> Filter:
        """The same filter compiled against ``columns`` (e.g. a newer frame's schema); ``unknown``,
        ``marks`` and ``time_bounds`` default to the ones it was compiled with. ``time_bounds``:
        the data's first and last event times (ns), for ``first``/``last`` and times of day
        (None: computed from the frame the filter runs on)."""
        return _build(
            self.text,
            self._tree,
            columns,
            unknown=self._unknown if unknown is None else unknown,
            marks=self._marks if marks is None else marks,
            time_bounds=self._time_bounds if time_bounds is None else time_bounds,
        )

    def hints(self) -> ChunkBounds:
        """What the filter says about the events it can keep, read off its top-level ``and``:
        a time range, a set of levels and of loggers, each None when it does not say (for
        skipping chunks whose index rules them out; the filter itself still runs on the rest).
        Times need the filter compiled with ``time_bounds`` when it uses first/last."""
        return _hints(self._tree, self._time_bounds)

    @property
    def time_bounds(self) -> tuple[int, int] | None:
        return self._time_bounds


@dataclass(frozen=True)
class ChunkBounds:
    """Bounds a filter puts on the events it keeps (see :meth:`Filter.hints`)."""

    ts_min: int | None = None
    ts_max: int | None = None
    levels: frozenset[int] | None = None
    loggers: frozenset[str] | None = None


_ALL_LEVELS = frozenset(range(256))


def _hints(tree: _Node, time_bounds: tuple[int, int] | None) -> ChunkBounds:
    items = tree.items if isinstance(tree, _And) else (tree,)
    ts_min = ts_max = None
    levels: frozenset[int] | None = None
    loggers: frozenset[str] | None = None
    compiler = _Compiler(CORE_COLUMNS, time_bounds=time_bounds)
    for item in items:
        if (isinstance(item, _Compare) and item.name.column == "ts"
                and item.op in ("<", "<=", ">", ">=", "==")):
            try:
                bound = compiler.time_value(pl.col("ts"), item.value)
            except QueryError:
                continue
            if not isinstance(bound, int):
                continue
            if item.op in (">", ">=", "=="):
                ts_min = bound if ts_min is None else max(ts_min, bound)
            if item.op in ("<", "<=", "=="):
                ts_max = bound if ts_max is None else min(ts_max, bound)
        elif isinstance(item, _Compare) and item.name.column == "level":
            try:
                _, _, level = compiler.coerce("level", item.name, pl.col("level"), item.value)
            except QueryError:
                continue
            assert isinstance(level, int)
            keep = frozenset(v for v in _ALL_LEVELS if _holds(v, item.op, level))
            levels = keep if levels is None else levels & keep
        elif isinstance(item, _Compare) and item.name.column == "logger" and item.op == "==":
            if isinstance(item.value, _Lit) and item.value.kind == "str":
                keep_names = frozenset({str(item.value.value)})
                loggers = keep_names if loggers is None else loggers & keep_names
        elif isinstance(item, _InList) and item.name.column == "logger" and not item.negated:
            if all(isinstance(v, _Lit) and v.kind == "str" for v in item.values):
                keep_names = frozenset(str(v.value) for v in item.values if isinstance(v, _Lit))
                loggers = keep_names if loggers is None else loggers & keep_names
    return ChunkBounds(ts_min, ts_max, levels, loggers)


def _holds(a: int, op: str, b: int) -> bool:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _uses_marks(node: _Node) -> bool:
    if isinstance(node, _Marked):
        return True
    if isinstance(node, (_Or, _And)):
        return any(_uses_marks(item) for item in node.items)
    if isinstance(node, _Not):
        return _uses_marks(node.item)
    return False


def _build(
    text: str,
    tree: _Node,
    columns: Mapping[str, pl.DataType] | None,
    *,
    unknown: Unknown = "error",
    marks: Collection[tuple[int, int, int]] | None = None,
    time_bounds: tuple[int, int] | None = None,
) -> Filter:
    compiler = _Compiler(columns, unknown=unknown, marks=marks, time_bounds=time_bounds)
    expr = compiler.compile(tree)
    return Filter(text, expr, tuple(compiler.fields), tuple(compiler.warnings), tree, unknown, marks,
                  time_bounds)


def compile_filter(
    text: str,
    columns: Mapping[str, pl.DataType] | None = None,
    *,
    unknown: Unknown = "error",
    marks: Collection[tuple[int, int, int]] | None = None,
    time_bounds: tuple[int, int] | None = None,
) -> Filter:
    """Parse ``text`` and compile it to a polars expression; raises :class:`QueryError`.

    ``columns`` (a frame's schema) makes comparisons type-aware; a field it lacks is a
    :class:`QueryError` (``unknown="error"``, the default) or, with ``unknown="warn"``, a warning
    on the filter and a false comparison. Without ``columns``, core columns still get their schema
    types and other fields are compared as written; :func:`apply_filter` always binds to the
    frame. ``marks``: the identities ``(ts_ns, seq, pid)`` that ``marked`` selects (None: the
    filter may not say ``marked``). Empty or blank text keeps every row.
    """
    if not isinstance(text, str):
        raise TypeError(f"filter text must be str, not {type(text).__name__}")
    return _build(text, _parse(text), columns, unknown=unknown, marks=marks, time_bounds=time_bounds)


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def apply_filter(data: FrameT, flt: str | Filter) -> FrameT:
    """``data`` keeping only the rows ``flt`` matches, compiled against ``data``'s own schema (a
    text filter with the default rules; a :class:`Filter` keeps its own)."""
    schema = data.collect_schema() if isinstance(data, pl.LazyFrame) else data.schema
    compiled = compile_filter(flt, schema) if isinstance(flt, str) else flt.bind(schema)
    if compiled.keeps_all:
        return data
    return data.filter(compiled.expr)


# ---- printing filters -----------------------------------------------------------------------------

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def quote_name(name: str) -> str:
    """``name`` as the filter language reads it: bare when it is an identifier and not one of
    :data:`KEYWORDS`, else in backticks (a backtick inside doubled)."""
    if _IDENT_RE.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def quote_value(value: Any) -> str:
    """A literal of the filter language equal to ``value``: text quoted, with ``"`` and ``\\``
    escaped and every character a terminal could act on written as an escape the tokenizer reads
    back (``\\x1b``, ``\\u202e``). A value of a field of several kinds is its one kind's value."""
    value = union_value(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    out = ['"']
    for ch in str(value):
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() or not is_unsafe(ch):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
            )
    out.append('"')
    return "".join(out)
