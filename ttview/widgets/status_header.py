"""The two-line header: sources, date, live, paused or why the producers ended; counts, drops,
marks, hidden fields, filter and search.

It shows no clock (so screenshots are repeatable) and builds its text from Rich ``Text``
(file names and errors pass through :func:`ttview.render.visible`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ttview.render import append_safe

__all__ = ["HeaderState", "StatusHeader"]


@dataclass(frozen=True)
class HeaderState:
    """Everything the header shows."""

    sources: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    mode: str = "loading"
    """``loading``, ``snapshot``, ``live``, ``paused`` or ``ended``."""
    total: int = 0
    """Events kept (a live tail keeps the newest ``max_live_events``)."""
    shown: int = 0
    received: int = 0
    """Live: events received since the tail began (more than ``total`` once the cap is reached)."""
    dropped: int = 0
    """Records the producers dropped because their ring was full."""
    no_sidecar: bool = False
    """Live: no sidecar drains the rings (so a full ring stays full)."""
    lost: int = 0
    """Records overwritten before they were read (flight-recorder rings)."""
    date: str = ""
    filter_text: str = ""
    search: str = ""
    search_hits: int | None = None
    pending: int = 0
    busy: str = ""
    rings: int = 0
    ended: int = 0
    """Rings whose producer ended (drained and marked)."""
    end_reasons: tuple[str, ...] = ()
    """Why each ended ring ended: ``exit``, ``exception``, ``signal`` or ``crash``."""
    marks: int = 0
    hidden: tuple[str, ...] = ()
    """Field columns left out of the log lines."""

    def with_changes(self, **changes: Any) -> HeaderState:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


_BADGES = {
    "loading": ("LOADING", "statusheader--busy"),
    "snapshot": ("SNAPSHOT", "statusheader--badge"),
    "live": ("● LIVE", "statusheader--live"),
    "paused": ("❚❚ PAUSED", "statusheader--paused"),
    "ended": ("■ ENDED", "statusheader--badge"),
}

END_BADGES = {
    "exit": ("■ EXITED", "statusheader--badge"),
    "exception": ("✖ EXCEPTION", "statusheader--error"),
    "signal": ("■ SIGNALLED", "statusheader--badge"),
    "crash": ("✖ CRASHED", "statusheader--error"),
}
"""Badge of a tail whose producers all ended for one reason."""

END_WORDS = {
    "exit": "exited cleanly",
    "exception": "uncaught exception",
    "signal": "stopped by a signal",
    "crash": "killed (no clean exit: SIGKILL or a crash)",
}
"""How the header explains each reason a producer ended."""


class StatusHeader(Widget):
    """Two lines of status at the top of the log screen."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "statusheader--title",
        "statusheader--badge",
        "statusheader--live",
        "statusheader--paused",
        "statusheader--busy",
        "statusheader--error",
        "statusheader--dim",
        "statusheader--value",
    }

    DEFAULT_CSS = """
    StatusHeader {
        height: 2;
        background: $panel;
        color: $foreground;
        & > .statusheader--title { color: $accent; text-style: bold; }
        & > .statusheader--badge { color: $foreground; background: $boost; text-style: bold; }
        & > .statusheader--live { color: $text-success; background: $success-muted; text-style: bold; }
        & > .statusheader--paused { color: $text-warning; background: $warning-muted; text-style: bold; }
        & > .statusheader--busy { color: $text-accent; text-style: italic; }
        & > .statusheader--error { color: $text-error; text-style: bold; }
        & > .statusheader--dim { color: $foreground 60%; }
        & > .statusheader--value { color: $foreground; text-style: bold; }
    }
    """

    state: reactive[HeaderState] = reactive(HeaderState, layout=False)
    """What is shown."""

    def lines(self) -> tuple[Text, Text]:
        """The two lines, uncut."""
        s = self.state
        style = self.get_component_rich_style
        dim = style("statusheader--dim")
        value = style("statusheader--value")
        one = Text(no_wrap=True, overflow="ellipsis", end="")
        one.append(" ttview ", style("statusheader--title"))
        label, badge = _BADGES.get(s.mode, (s.mode.upper(), "statusheader--badge"))
        if s.mode == "ended" and s.end_reasons and len(set(s.end_reasons)) == 1:
            label, badge = END_BADGES.get(s.end_reasons[0], (label, badge))
        one.append(f" {label} ", style(badge))
        one.append("  ")
        if s.date:
            one.append(f"{s.date} UTC", value)
            one.append("  ")
        if s.errors:  # before the sources: what went wrong must not be cut off by a long name
            word = "error" if len(s.errors) == 1 else "errors"
            one.append(f"⚠ {len(s.errors)} {word}: ", style("statusheader--error"))
            append_safe(one, s.errors[0], style("statusheader--error"), limit=200)
            one.append("  ")
        if s.sources:
            append_safe(one, s.sources[0], dim, limit=80)
            if len(s.sources) > 1:
                one.append(f" +{len(s.sources) - 1} more", dim)

        two = Text(no_wrap=True, overflow="ellipsis", end="")
        two.append(" ")
        two.append(f"{s.shown:,}", value)
        two.append(" shown", dim)
        if s.received > s.total:  # the live cap: only the newest are kept
            two.append(" · newest ", dim)
            two.append(f"{s.total:,}", value)
            two.append(" of ", dim)
            two.append(f"{s.received:,}", value)
            two.append(" received", dim)
        else:
            two.append(" of ", dim)
            two.append(f"{s.total:,}", value)
            two.append(" events", dim)
        two.append(" · ", dim)
        two.append(f"{s.dropped:,}", style("statusheader--error") if s.dropped else value)
        two.append(" dropped", dim)
        if s.no_sidecar and s.dropped:
            two.append(" (no sidecar drains this ring)", style("statusheader--error"))
        if s.lost:
            two.append(" · ", dim)
            two.append(f"{s.lost:,}", style("statusheader--error"))
            two.append(" overwritten", dim)
        if s.mode in ("live", "paused", "ended"):
            two.append(" · ", dim)
            two.append(f"{s.rings}", value)
            two.append(" ring" if s.rings == 1 else " rings", dim)
            if s.ended:
                reasons = ", ".join(
                    f"{count} {END_WORDS.get(r, r)}" if len(s.end_reasons) > 1 else END_WORDS.get(r, r)
                    for r, count in _counted(s.end_reasons)
                )
                two.append(f" ({s.ended} ended" + (f": {reasons})" if reasons else ")"), dim)
        if s.pending:
            two.append(" · ", dim)
            two.append(f"▼ {s.pending:,} new", style("statusheader--paused"))
        if s.marks:
            two.append(" · ", dim)
            two.append(f"{s.marks:,}", value)
            two.append(" mark" if s.marks == 1 else " marks", dim)
        if s.hidden:
            two.append(" · hidden: ", dim)
            append_safe(two, ", ".join(s.hidden), value, limit=60)
        if s.filter_text:
            two.append(" · filter: ", dim)
            append_safe(two, s.filter_text, value, limit=120)
        if s.search:
            two.append(" · search: ", dim)
            append_safe(two, s.search, value, limit=60)
            if s.search_hits is not None:
                two.append(f" ({s.search_hits:,} lines)", dim)
        if s.busy:
            two.append("  ")
            two.append(s.busy, style("statusheader--busy"))
        return one, two

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y > 1:
            return Strip.blank(width, self.rich_style)
        text = self.lines()[y].copy()
        text.truncate(width, overflow="ellipsis", pad=True)
        return Strip(text.render(self.app.console), width).apply_style(self.rich_style)


def _counted(items: tuple[str, ...]) -> list[tuple[str, int]]:
    """(item, how many times) in order of first appearance."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return list(counts.items())
