"""ttview.render without an app: escaping, cutting, line layout, JSON, export."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from rich.console import Console

from ttview.render import (
    LineLayout,
    LineStyles,
    event_json,
    event_line,
    format_clock,
    format_iso,
    format_value,
    level_palette,
    safe_text,
    timeline_bars,
    visible,
)
from ttview.schema import LEVELS

HOSTILE = [  # the markup one is plain text already
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://x\x07link\x1b]8;;\x07",
    "[bold red]markup[/]",
    "\r\n\t\x00",
    "\x9b31m C1 CSI",
    "bidi \u202e override",
    "sep \u2028 line",
    "lone \udc80 surrogate",
    "del \x7f",
]


def _unsafe(text: str) -> list[str]:
    import unicodedata

    return [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


@pytest.mark.parametrize("raw", HOSTILE)
def test_visible_leaves_no_control_character(raw: str) -> None:
    out = visible(raw)
    assert not _unsafe(out)
    assert "\\" in out or raw == out  # escapes shown; markup kept as plain text


def test_visible_spells_escapes_like_python() -> None:
    assert visible("\x1b[31mred") == "\\x1b[31mred"
    assert visible("a\tb\nc\rd\x00") == "a\\tb\\nc\\rd\\x00"
    assert visible("\u202e") == "\\u202e"
    assert visible("\udc80") == "\\udc80"
    assert visible("plain text, ünïcödé, 日本語") == "plain text, ünïcödé, 日本語"


def test_visible_cuts_long_values_with_a_mark() -> None:
    out = visible("x" * 100_000, limit=1000)
    assert out.startswith("x" * 1000)
    assert out.endswith("…(+99,000 chars)")
    assert len(out) < 1100


def test_safe_text_never_parses_markup_and_styles_escapes() -> None:
    text = safe_text("[bold red]hi[/] \x1b[1m", escape_style="reverse")
    assert text.plain == "[bold red]hi[/] \\x1b[1m"
    assert not text.spans or all(span.style == "reverse" for span in text.spans)
    segments = list(text.render(Console(width=200)))
    assert "\x1b" not in "".join(s.text for s in segments)


def test_format_value_and_times() -> None:
    assert format_value(1.5) == "1.5"
    assert format_value(True) == "true"
    assert format_value(None) == "null"
    assert visible(format_value(b"\xff\x00a")) == "\\xff\\x00a"
    assert format_value(float("nan")) == "nan"
    ns = 1_795_271_405_123_456_789  # 2026-11-21T14:30:05.123456789Z
    assert format_clock(ns) == "14:30:05.123456"
    assert format_iso(ns) == "2026-11-21T14:30:05.123456789Z"


def test_event_line_layout_and_search() -> None:
    styles = LineStyles(levels=level_palette(True))
    line = event_line(
        1_795_271_405_123_456_789,
        LEVELS["TRADE"],
        "oms.fills",
        "Trade executed",
        [("symbol", "AAPL"), ("reason", "two words"), ("qty", 100)],
        layout=LineLayout(logger=10, message=16),
        styles=styles,
        search=re.compile("aapl", re.I),
    )
    assert line.plain == (
        '14:30:05.123456 TRADE       oms.fills  Trade executed   symbol=AAPL reason="two words" qty=100'
    )
    start = line.plain.index("AAPL")
    assert any(s.start == start and s.end == start + 4 for s in line.spans)


def test_event_line_marks_cut_values() -> None:
    styles = LineStyles(levels=level_palette(False))
    line = event_line(
        0, 20, "l", "long messa", [("k", "v")], layout=LineLayout(), styles=styles, cut=["message", "k"]
    )
    assert "long messa…" in line.plain and "k=v…" in line.plain


def test_event_json_is_the_export_layout() -> None:
    frame = pl.DataFrame(
        {
            "ts": pl.Series([1_795_271_405_000_000_001]).cast(pl.Datetime("ns", "UTC")),
            "seq": [3],
            "level": pl.Series([22], dtype=pl.UInt8),
            "logger": ["x"],
            "message": ["m\x1b"],
            "service": ["s"],
            "pid": [1],
            "tid": [2],
            "qty": [5],
            "px": pl.Series([None], dtype=pl.Float64),
        }
    )
    text = event_json(frame)
    data = json.loads(text)
    assert data["time"] == "2026-11-21T14:30:05.000000001Z" and data["ts_ns"] == 1_795_271_405_000_000_001
    assert data["level"] == "TRADE" and data["level_no"] == 22 and data["message"] == "m\x1b"
    assert data["qty"] == 5 and "px" not in data  # only the fields the event carries
    assert "\x1b" not in text  # JSON escapes control characters itself
    from ttview.export import json_lines, prepare

    assert data == json.loads(json_lines(prepare(frame, fmt="ndjson"))[0])  # an export line


def test_timeline_bars_stack_levels() -> None:
    palette = level_palette(True)
    rows = timeline_bars([[4, 0, 2], [4, 1, 0]], [20, 40], height=4, column_width=2, palette=palette)
    assert len(rows) == 4 and all(len(r.plain) == 6 for r in rows)
    assert rows[0].plain[:2] == "██" and rows[-1].plain[4:] == "██"  # bucket 0 is the tallest
    assert rows[-1].plain[2:4].strip()  # a single event still shows


def test_render_is_headless() -> None:
    import subprocess
    import sys

    code = "import sys, ttview.render; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
