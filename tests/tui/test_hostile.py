"""Hostile log data is shown as visible text, never sent to the terminal or parsed as markup."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.tui.helpers import START_NS, loaded, settle, sync, write_events
from ttview.app import SourceSpec, TTViewApp, make_app

CONTROL = (
    {chr(c) for c in range(0x20)} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)} | {"\u202e", "\u2028"}
)

MESSAGES = [
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://x\x07link\x1b]8;;\x07",
    "[bold red]markup[/]",
    "\r\n\t\x00",
    "\x9b2J C1 clear screen",
    "right-to-left \u202e override",
    "L" * 100_000,
]


def hostile_frame() -> pl.DataFrame:
    n = len(MESSAGES)
    return pl.DataFrame(
        {
            "ts": pl.Series([START_NS + i * 10**6 for i in range(n)]).cast(pl.Datetime("ns", "UTC")),
            "seq": list(range(n)),
            "level": pl.Series([20, 30, 40, 22, 50, 5, 21], dtype=pl.UInt8),
            "logger": ["log\x1b[2Jger", "[link=http://x]l[/link]", "ok", "ok", "ok", "ok", "ok"],
            "message": MESSAGES,
            "service": ["svc\x07"] * n,
            "pid": [1] * n,
            "tid": [1] * n,
            "note": [
                "\x1b[5mblink",
                "[red]x",
                None,
                "tab\there",
                None,
                "\udc80".encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace"),
                None,
            ],
            "[b]key\x1b": ["v", None, None, None, None, None, None],
            "raw": pl.Series([b"\xff\xfe\x1b[2J", None, None, None, None, None, None], dtype=pl.Binary),
        }
    )


def strips_text(strips) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def assert_inert(text: str) -> None:
    bad = sorted({repr(ch) for ch in text if ch in CONTROL and ch != "\n"})
    assert not bad, f"control characters reached the screen: {bad}"


@sync
async def test_hostile_values_render_as_visible_text() -> None:
    frame = hostile_frame()
    app = TTViewApp(SourceSpec(frame=frame, label="hostile"))
    async with app.run_test(size=(140, 30)) as pilot:
        await loaded(pilot)
        log = app.log_view
        await pilot.press("home")
        await pilot.pause()
        lines = [log.render_line(y) for y in range(frame.height)]
        assert_inert(strips_text(lines))
        text = "\n".join(log.line_text(row).plain for row in range(frame.height))
        assert_inert(text)
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "\\x1b]8;;http://x\\x07link" in text
        assert "[bold red]markup[/]" in text  # as written, not bold red
        assert "\\r\\n\\t\\x00" in text
        assert "\\x9b2J" in text and "\\u202e" in text
        assert "log\\x1b[2Jger" in text and "[link=http://x]l[/link]" in text
        assert "[b]key\\x1b=v" in text and "raw=\\xff\\xfe\\x1b[2J" in text
        assert "\\xed\\xb2\\x80" in text  # a surrogate the source escaped stays escaped
        # escapes are styled apart from the text around them
        escape = log.get_component_rich_style("logview--escape", partial=True)
        first = log.line_text(0)
        spans = [first.plain[s.start : s.end] for s in first.spans if s.style == escape]
        assert spans and set(spans) == {"\\x1b"}
        assert len(spans) == first.plain.count("\\x1b")
        # no style came from the data: the markup row has only the styles of the line's parts
        allowed = {
            str(s)
            for s in (
                log._line_styles().levels[40],
                log._line_styles().time,
                log._line_styles().logger,
                log._line_styles().message,
                log._line_styles().key,
                log._line_styles().value,
                escape,
            )
        }
        assert {str(s.style) for s in log.line_text(2).spans} <= allowed
        # the 100k line is cut, and costs no more than a page
        long_line = log.line_text(6)
        assert len(long_line.plain) < 1200 and "chars)" in long_line.plain
        # the whole screen, with the detail of every row
        for row in range(frame.height):
            log.move_to(row)
            if not app.detail.is_open:
                await pilot.press("enter")
            await pilot.pause()
            screen = strips_text(app.screen._compositor.render_strips())
            assert_inert(screen)
            assert_inert(app.detail.plain)
        log.move_to(0)
        await pilot.pause()
        assert "\\x1b[31mred\\x1b[0m" in app.detail.plain and "\\x1b[5mblink" in app.detail.plain
        assert_inert(app.export_screenshot())  # the SVG text too


@sync
async def test_hostile_events_through_the_ring_and_snapshot(tmp_path: Path) -> None:
    extra = [
        (
            "error",
            "gw\x1b[2J",
            "\x1b]0;pwned\x07 title",
            {"f": "\x1b[31m", "b": b"\xff\x1b[0m", "m": "[red]r[/]"},
        ),
        ("info", "x", "lone \udc80 surrogate and \x00 nul", {"k\x1bk": 1}),
        ("warn", "x", "M" * 100_000, {}),
    ]
    path = write_events(tmp_path, events=50, extra=extra)
    app = make_app(paths=[str(path)])
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        await settle(pilot)
        await pilot.press("end", "enter")
        await pilot.pause()
        screen = strips_text(app.screen._compositor.render_strips())
        assert_inert(screen)
        for row in range(47, 53):
            app.log_view.move_to(row)
            await pilot.pause()
            assert_inert(strips_text(app.screen._compositor.render_strips()))
        text = strips_text(app.log_view.render_line(y) for y in range(app.log_view.page_height))
        assert "\\x1b]0;pwned\\x07 title" in text and "gw\\x1b[2J" in text
        assert "[red]r[/]" in text and "\\udc80" in text
        last = app.log_view.line_text(app.log_view.row_count - 1).plain
        assert last.startswith("14:30:00") and last.endswith("…")  # the ring cut the message; marked
