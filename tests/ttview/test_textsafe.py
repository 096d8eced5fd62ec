"""One escaping policy (ttview.textsafe) in its three forms: visible text, the export's regex for a
terminal, and JSON printed to a terminal."""

from __future__ import annotations

import json

import polars as pl
import pytest

from ttview.textsafe import TERMINAL_UNSAFE_REGEX, is_unsafe, json_escape_unsafe, visible

# every character a terminal could act on, from the list and the usual suspects
UNSAFE = [
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b",
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f",
    "\u2028", "\u2029",
    "\u202a", "\u202e", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064", "\u2066", "\u2069",
    "\ufeff", "\U000e0001",
]  # fmt: skip
SAFE = ["a", "é", "日", "😀", " ", "\u00a0"]


@pytest.mark.parametrize("ch", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_form_escapes_an_unsafe_character(ch: str) -> None:
    assert is_unsafe(ch)
    shown = visible(f"a{ch}b")
    assert ch not in shown and shown.startswith("a\\") and shown.endswith("b")
    replaced = pl.Series([f"a{ch}b"]).str.replace_all(TERMINAL_UNSAFE_REGEX, "\ufffd")[0]
    assert replaced == "a\ufffdb"
    text = json_escape_unsafe(json.dumps({"v": f"a{ch}b"}, ensure_ascii=False))
    assert ch not in text and json.loads(text) == {"v": f"a{ch}b"}


@pytest.mark.parametrize("ch", SAFE)
def test_every_form_keeps_a_safe_character(ch: str) -> None:
    assert not is_unsafe(ch)
    assert visible(f"a{ch}b") == f"a{ch}b"
    assert pl.Series([f"a{ch}b"]).str.replace_all(TERMINAL_UNSAFE_REGEX, "\ufffd")[0] == f"a{ch}b"
    raw = json.dumps(f"a{ch}b", ensure_ascii=False)
    assert json_escape_unsafe(raw) == raw


def test_the_terminal_regex_keeps_tab_and_line_feed() -> None:
    assert pl.Series(["a\tb\nc\rd"]).str.replace_all(TERMINAL_UNSAFE_REGEX, "?")[0] == "a\tb\nc?d"


def test_the_export_and_the_json_printer_use_the_one_policy() -> None:
    import ttview.export as export
    import ttview.report as report

    assert export._TERMINAL_UNSAFE == TERMINAL_UNSAFE_REGEX
    assert not hasattr(report, "_JSON_UNSAFE")
    frame = pl.DataFrame({"ts": [0], "message": ["zero\u200bwidth \u2060 joiner \ufeff bom"]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns", "UTC"))
    )
    prepared = export.prepare(frame, fmt="ndjson", for_terminal=True)
    assert prepared["message"][0] == "zero\ufffdwidth \ufffd joiner \ufffd bom"
