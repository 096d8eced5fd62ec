"""The two-line header: sources, date, live or paused; counts, drops, filter and search.

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
    shown: int = 0
    dropped: int = 0
    """Records the producers dropped because their ring was full."""
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

    def but(self, **changes: Any) -> HeaderState:
        return replace(self, **changes)


_BADGES = {
    "loading": ("LOADING", "statusheader--busy"),
    "snapshot": ("SNAPSHOT", "statusheader--badge"),
    "live": ("● LIVE", "statusheader--live"),
    "paused": ("❚❚ PAUSED", "statusheader--paused"),
    "ended": ("■ ENDED", "statusheader--badge"),
}


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
        one.append(f" {label} ", style(badge))
        one.append("  ")
        if s.date:
            one.append(f"{s.date} UTC", value)
            one.append("  ")
        if s.sources:
            append_safe(one, s.sources[0], dim, limit=80)
            if len(s.sources) > 1:
                one.append(f" +{len(s.sources) - 1} more", dim)
        if s.errors:
            one.append("  ")
            word = "error" if len(s.errors) == 1 else "errors"
            one.append(f"⚠ {len(s.errors)} {word}: ", style("statusheader--error"))
            append_safe(one, s.errors[0], style("statusheader--error"), limit=200)

        two = Text(no_wrap=True, overflow="ellipsis", end="")
        two.append(" ")
        two.append(f"{s.shown:,}", value)
        two.append(" shown", dim)
        two.append(" of ", dim)
        two.append(f"{s.total:,}", value)
        two.append(" events", dim)
        two.append(" · ", dim)
        two.append(f"{s.dropped:,}", style("statusheader--error") if s.dropped else value)
        two.append(" dropped", dim)
        if s.lost:
            two.append(" · ", dim)
            two.append(f"{s.lost:,}", style("statusheader--error"))
            two.append(" overwritten", dim)
        if s.mode in ("live", "paused", "ended"):
            two.append(" · ", dim)
            two.append(f"{s.rings}", value)
            two.append(" ring" if s.rings == 1 else " rings", dim)
            if s.ended:
                two.append(f" ({s.ended} ended)", dim)
        if s.pending:
            two.append(" · ", dim)
            two.append(f"▼ {s.pending:,} new", style("statusheader--paused"))
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
