"""Safe, compact text for log data: what the TUI draws, as plain strings and Rich ``Text``.

Everything a log holds (messages, field keys and values, logger and service names, file names)
passes through :func:`visible` or :func:`safe_text` before it reaches the screen. The viewer
builds its lines from these ``Text`` objects (never from markup strings), so:

- No text this module makes for the screen contains a C0 or C1 control character, DEL, a lone
  surrogate, or a Unicode format or line/paragraph separator character (bidi overrides,
  zero-width joiners, U+2028, ...); :func:`event_json` alone returns exact JSON, for the
  clipboard. Each is replaced by a visible escape in Python's spelling: ``\\x1b``, ``\\t``,
  ``\\n``, ``\\x00``, ``\\u202e``, ``\\udc80``. ANSI and OSC sequences therefore show as text.
- Rich markup in data (``[bold red]``) is never parsed: text goes into ``Text(...)`` and
  ``Text.append``, never ``Text.from_markup`` or a widget's markup string.
- Long values are cut at a fixed number of characters, with a visible mark of how much was cut,
  before any per-character work, so a 100k-character line costs no more than a short one.

This module imports Rich but not Textual; it is unit-tested without an app.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text

from ttview.schema import LEVEL_NAMES, LEVELS, level_name, union_value
from ttview.textsafe import LINE_LIMIT, cut, cut_mark, escape_char, is_unsafe, visible

__all__ = [
    "DETAIL_LIMIT",
    "LINE_LIMIT",
    "LevelPalette",
    "LineLayout",
    "LineStyles",
    "DELTA_WIDTH",
    "append_safe",
    "event_json",
    "event_line",
    "format_clock",
    "format_date",
    "format_delta",
    "format_iso",
    "format_value",
    "level_palette",
    "rate_label",
    "safe_text",
    "si_label",
    "timeline_bars",
    "visible",
]

DETAIL_LIMIT = 20_000
"""Characters of one value shown in the detail pane."""

_DAY_NS = 86_400 * 10**9


def safe_text(
    text: str,
    style: Style | str = "",
    *,
    escape_style: Style | str | None = None,
    limit: int | None = LINE_LIMIT,
    multiline: bool = False,
) -> Text:
    """A Rich ``Text`` of ``text`` made visible (see :func:`visible`); escapes and the cut mark are
    drawn in ``escape_style`` so ``\\x1b`` in the data reads differently from an escaped ESC.

    ``multiline``: line feeds (and CR LF pairs) become real line breaks, for tracebacks and other
    multi-line values; every other control character is still shown as an escape."""
    if not multiline or "\n" not in text:
        out = Text(no_wrap=True, end="")
        append_safe(out, text, style, escape_style=escape_style, limit=limit)
        return out
    out = Text(end="")
    text, more = cut(text, limit)
    for i, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        if i:
            out.append("\n")
        append_safe(out, line, style, escape_style=escape_style, limit=None)
    if more:
        out.append(cut_mark(more), style if escape_style is None else escape_style)
    return out


def append_safe(
    out: Text,
    text: str,
    style: Style | str = "",
    *,
    escape_style: Style | str | None = None,
    limit: int | None = LINE_LIMIT,
) -> None:
    """Append ``text`` to ``out`` as :func:`safe_text` would draw it."""
    text, more = cut(text, limit)
    esc = style if escape_style is None else escape_style
    if text.isprintable():
        out.append(text, style)
    else:
        start = 0
        for i, ch in enumerate(text):
            if ch.isprintable() or not is_unsafe(ch):
                continue
            if i > start:
                out.append(text[start:i], style)
            out.append(escape_char(ch), esc)
            start = i + 1
        if start < len(text):
            out.append(text[start:], style)
    if more:
        out.append(cut_mark(more), esc)


# ---- values and times ---------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """The display text of one field value (before :func:`visible`): numbers in their shortest
    exact form, booleans as ``true``/``false``, bytes decoded with backslash escapes; a value of a
    field of several kinds is shown as the one kind it has (an int as an int)."""
    if isinstance(value, dict):
        value = union_value(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def format_clock(ts_ns: int) -> str:
    """``HH:MM:SS.ffffff`` (UTC) of nanoseconds since the epoch."""
    day_ns = ts_ns % _DAY_NS
    secs, ns = divmod(day_ns, 10**9)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ns // 1000:06d}"


def format_date(ts_ns: int) -> str:
    """``YYYY-MM-DD`` (UTC) of nanoseconds since the epoch."""
    import datetime

    day = ts_ns // _DAY_NS
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def format_delta(ns: int) -> str:
    """A time difference with its sign, in the unit that reads best: ``+0ns``, ``+812ns``,
    ``+123.456µs``, ``+12.345ms``, ``+1.234s``, ``+2m03.5s``, ``-4.000ms``."""
    sign = "-" if ns < 0 else "+"
    a = abs(ns)
    if a < 1_000:
        return f"{sign}{a}ns"
    if a < 1_000_000:
        return f"{sign}{a / 1e3:.3f}µs"
    if a < 1_000_000_000:
        return f"{sign}{a / 1e6:.3f}ms"
    if a < 60 * 10**9:
        return f"{sign}{a / 1e9:.3f}s"
    minutes, rest = divmod(a, 60 * 10**9)
    if minutes < 60:
        return f"{sign}{minutes}m{rest / 1e9:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}h{minutes:02d}m"


DELTA_WIDTH = 11
"""Cells of the delta column of a log line (``+123.456µs`` and a space)."""


def format_iso(ts_ns: int) -> str:
    """ISO-8601 UTC with nanoseconds: ``2026-11-21T14:30:00.123456789Z``."""
    secs = (ts_ns % _DAY_NS) // 10**9
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{format_date(ts_ns)}T{h:02d}:{m:02d}:{s:02d}.{ts_ns % 10**9:09d}Z"


# ---- levels -------------------------------------------------------------------------------------

# Distinct hues for the trading levels, darker variants for light backgrounds.
_DARK_COLORS = {
    LEVELS["TRACE"]: "grey50",
    LEVELS["DEBUG"]: "grey66",
    LEVELS["MARKET_DATA"]: "#5fafd7",
    LEVELS["INFO"]: "#87d787",
    LEVELS["ORDER"]: "#87afff",
    LEVELS["TRADE"]: "bold #d787ff",
    LEVELS["PORTFOLIO"]: "#5fd7af",
    LEVELS["RISK"]: "#ffaf5f",
    LEVELS["WARN"]: "bold #ffd75f",
    LEVELS["ERROR"]: "bold #ff5f5f",
    LEVELS["CRITICAL"]: "bold #ffffff on #d70000",
}
_LIGHT_COLORS = {
    LEVELS["TRACE"]: "grey42",
    LEVELS["DEBUG"]: "grey35",
    LEVELS["MARKET_DATA"]: "#005f87",
    LEVELS["INFO"]: "#005f00",
    LEVELS["ORDER"]: "#0000af",
    LEVELS["TRADE"]: "bold #870087",
    LEVELS["PORTFOLIO"]: "#00875f",
    LEVELS["RISK"]: "#af5f00",
    LEVELS["WARN"]: "bold #875f00",
    LEVELS["ERROR"]: "bold #af0000",
    LEVELS["CRITICAL"]: "bold #ffffff on #af0000",
}


@dataclass(frozen=True)
class LevelPalette:
    """A style per level number (unnamed numbers get the style of the nearest lower name)."""

    styles: Mapping[int, Style]

    def __getitem__(self, level: int) -> Style:
        style = self.styles.get(level)
        if style is not None:
            return style
        lower = [v for v in self.styles if v <= level]
        return self.styles[max(lower)] if lower else Style()

    def color(self, level: int) -> str:
        """A plain colour name for charts (no background)."""
        style = self[level]
        return style.color.name if style.color is not None else "default"


def level_palette(dark: bool) -> LevelPalette:
    """Level styles for a dark or a light background."""
    colors = _DARK_COLORS if dark else _LIGHT_COLORS
    return LevelPalette({lv: Style.parse(c) for lv, c in colors.items()})


# ---- a log line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineStyles:
    """Styles of the parts of a log line."""

    levels: LevelPalette
    time: Style = field(default_factory=Style)
    logger: Style = field(default_factory=Style)
    message: Style = field(default_factory=Style)
    key: Style = field(default_factory=Style)
    value: Style = field(default_factory=Style)
    escape: Style = field(default_factory=lambda: Style(reverse=True))
    match: Style = field(default_factory=lambda: Style(reverse=True, bold=True))
    mark: Style = field(default_factory=lambda: Style(reverse=True))
    delta: Style = field(default_factory=Style)


@dataclass(frozen=True)
class LineLayout:
    """Column widths of a log line (the message column is padded, never cut)."""

    logger: int = 12
    message: int = 24
    level: int = max(len(name) for name in LEVEL_NAMES.values())


def _needs_quotes(text: str) -> bool:
    return not text or any(ch.isspace() or ch in '"=' for ch in text)


def event_line(
    ts_ns: int,
    level: int,
    logger: str,
    message: str,
    fields: Iterable[tuple[str, Any]],
    *,
    layout: LineLayout,
    styles: LineStyles,
    cut: Sequence[str] = (),
    search: re.Pattern[str] | None = None,
    delta: str | None = None,
    marked: bool = False,
) -> Text:
    """One log line: ``time [delta] level logger message key=value ...``, every part made visible.

    ``fields`` are (column name, value) pairs of the fields the event carries; text values with
    spaces, ``"`` or ``=`` are quoted. A value the ring cut at its ``max_str`` (named in ``cut``)
    ends with ``…``. ``search`` matches are highlighted in the visible text. ``delta`` (the time
    since an earlier event, :func:`format_delta`; ``""`` for none) fills a column after the time;
    a ``marked`` event's time is drawn in the mark style.
    """
    esc = styles.escape
    line = Text(no_wrap=True, end="")
    line.append(format_clock(ts_ns), styles.time + styles.mark if marked else styles.time)
    line.append(" ")
    if delta is not None:
        line.append(delta.rjust(DELTA_WIDTH - 1), styles.delta)
        line.append(" ")
    line.append(level_name(level).ljust(layout.level), styles.levels[level])
    line.append(" ")
    start = len(line)
    append_safe(line, logger, styles.logger, escape_style=esc)
    pad = layout.logger - (len(line) - start)
    line.append(" " * max(1, pad + 1))
    start = len(line)
    append_safe(line, message, styles.message, escape_style=esc)
    if "message" in cut:
        line.append("…", esc)
    pad = layout.message - (len(line) - start)
    for name, value in fields:
        line.append(" " * max(1, pad + 1))
        pad = 0
        append_safe(line, name, styles.key, escape_style=esc, limit=64)
        line.append("=", styles.key)
        value = union_value(value)
        text = format_value(value)
        if isinstance(value, str) and _needs_quotes(text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        append_safe(line, text, styles.value, escape_style=esc)
        if name in cut:
            line.append("…", esc)
    if search is not None:
        line.highlight_regex(search, styles.match)
    return line


# ---- whole events -------------------------------------------------------------------------------


def event_json(row: Any) -> str:
    """One event (a one-row event DataFrame) as indented JSON, exactly as ``ttview export`` writes
    it (:mod:`ttview.export`: ``time`` ISO-8601 UTC with ns, ``ts_ns``, ``level``, ``level_no``,
    the metadata, then the fields the event carries). This is what ``c`` copies; control
    characters are JSON-escaped, so pass it through :func:`visible` only for the C1 range."""
    from ttview.export import json_lines, prepare

    line = json_lines(prepare(row.head(1), fmt="json"))[0]
    return json.dumps(json.loads(line), indent=2, ensure_ascii=False)


# ---- timeline chart -----------------------------------------------------------------------------

_BLOCKS = " ▁▂▃▄▅▆▇█"


def si_label(value: float) -> str:
    """``12.3k`` style: three significant digits and a k, M or G suffix."""
    a = abs(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def rate_label(per_second: float) -> str:
    """``12.3k/s`` style."""
    return si_label(per_second) + "/s"


def timeline_bars(
    counts: Sequence[Sequence[int]],
    levels: Sequence[int],
    *,
    height: int,
    column_width: int,
    palette: LevelPalette,
    cursor: int | None = None,
    cursor_style: Style | None = None,
) -> list[Text]:
    """Stacked bars, one per bucket (``column_width`` cells wide), ``height`` rows, top row first.

    ``counts[k][b]`` is the number of events of ``levels[k]`` in bucket ``b``; levels stack
    bottom-up in the order given. Each cell takes the colour of the level filling most of it; the
    top cell of a bar is a partial block (eighths). The ``cursor`` bucket is drawn in
    ``cursor_style`` (its background shows even where the bar is empty).
    """
    n_levels = len(levels)
    buckets = len(counts[0]) if n_levels else 0
    totals = [sum(counts[k][b] for k in range(n_levels)) for b in range(buckets)]
    peak = max(totals, default=0)
    rows = [Text(no_wrap=True, end="") for _ in range(height)]
    if height <= 0:
        return rows
    scale = height * 8 / peak if peak else 0.0
    styles = [palette[lv] for lv in levels]
    for b in range(buckets):
        bounds = []
        acc = 0
        for k in range(n_levels):
            acc += counts[k][b]
            bounds.append(acc * scale)
        top = bounds[-1] if bounds else 0.0
        if totals[b] and top < 1:
            top = 1.0  # a bucket with events always shows at least an eighth
        for r in range(height):
            lo = r * 8
            fill = max(0, min(8, round(top - lo)))
            line = rows[height - 1 - r]
            if fill == 0:
                cell = Text(" " * column_width)
            else:
                best, best_overlap, prev = 0, -1.0, 0.0
                for k, hi in enumerate(bounds):
                    overlap = max(0.0, min(hi, lo + fill) - max(prev, lo))
                    if overlap > best_overlap:
                        best, best_overlap = k, overlap
                    prev = hi
                chosen = styles[best] if styles else Style()
                style = Style(color=chosen.bgcolor or chosen.color)
                cell = Text(_BLOCKS[fill] * column_width, style=style)
            if b == cursor and cursor_style is not None:
                cell.stylize(cursor_style)
            line.append_text(cell)
    return rows
