"""The key footer: Textual's ``Footer``, rebuilt only when the keys it shows change.

Textual's footer rebuilds every key widget each time its screen reports that the bindings may
have changed: on every focus change, when the screen is suspended and when it is resumed, often
several times for one key press, and a frame after each report. Each rebuild removes and mounts a
dozen widgets and restyles them (20–60 ms) on the path between a key that opens a screen and the
screen being drawn. This footer shows the same keys the same way, but

- builds its keys as soon as the screen has settled its focus (the first report), not a frame
  later, and then only when what it would show differs from what it shows;
- looks at a screen only while it is in view (a screen under another one is looked at again when
  it comes back), so opening and closing a screen does not rebuild the log's footer twice;
- gives each key its final style when it is made, not a default one first;
- fits the width it has: when the keys do not fit on one line, the ones named last are left out
  (their keys still work; ``?`` lists them all), but never Help, Quit or Back; the command
  palette's key (ctrl+p) is the first to go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.cells import cell_len
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["ALWAYS_SHOWN", "KeyFooter", "fit_keys"]

ALWAYS_SHOWN = frozenset({"help", "quit", "back", "app.help", "app.quit", "dismiss"})
"""Actions whose key the footer shows however narrow it is."""


def fit_keys(entries: list[tuple[str, int]], width: int) -> set[int]:
    """Indexes of the ``entries`` ((action, cells), in order) the footer keeps in ``width``
    cells: all if they fit, else without the last ones (never those of :data:`ALWAYS_SHOWN`)."""
    kept = set(range(len(entries)))
    total = sum(cells for _, cells in entries)
    for i in reversed(range(len(entries))):
        if total <= width:
            break
        action, cells = entries[i]
        if action in ALWAYS_SHOWN:
            continue
        kept.discard(i)
        total -= cells
    return kept


def _key_cells(key: FooterKey) -> int:
    """Cells a (not compact) footer key takes: `` k Description ``."""
    return cell_len(key.key_display) + 2 + (cell_len(key.description) + 1 if key.description else 0)


class KeyFooter(Footer):
    """A :class:`textual.widgets.Footer` that only recomposes when its keys change."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._shown: tuple[Any, ...] | None = None
        """The keys shown (None: not built yet)."""
        self._pending = False
        self._width = 0
        """The width the keys were fitted to."""

    def keys(self) -> tuple[Any, ...]:
        """What the footer would show now: one entry per key, in order."""
        app = self.app
        return tuple(
            (key, binding.action, app.get_key_display(binding), binding.description, binding.group)
            + (enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING
        )

    def _fit_width(self) -> int:
        return self.size.width or self.app.size.width

    def compose(self) -> Iterator[Widget]:
        if not self._bindings_ready:
            return
        self._shown = self.keys()
        self._width = self._fit_width()
        compact = self.compact
        widgets = list(super().compose())
        palette = [w for w in widgets if w.has_class("-command-palette")]
        keys = [w for w in widgets if isinstance(w, FooterKey) and w not in palette]
        entries = [(w.action, _key_cells(w)) for w in keys]
        palette_cells = sum(_key_cells(w) + 1 for w in palette if isinstance(w, FooterKey))
        dropped = set()
        if sum(cells for _, cells in entries) + palette_cells > self._width:
            dropped = {id(w) for w in palette}  # ctrl+p still works; the keys need the room
        kept = fit_keys(entries, self._width)
        dropped |= {id(w) for i, w in enumerate(keys) if i not in kept}
        if dropped:
            self.styles.grid_size_columns = len(kept)
        for widget in widgets:
            if id(widget) in dropped:
                continue
            # Footer binds most keys' ``compact`` to its own: set it before such a key is mounted,
            # so the key is styled once (not as compact first, then again as not compact).
            if "compact" in (getattr(widget, "_reactive_connect", None) or {}):
                widget.set_reactive(type(widget).compact, compact)  # type: ignore[attr-defined]
                widget.set_class(compact, "-compact", update=False)
            yield widget

    async def on_resize(self) -> None:
        if self._shown is not None and self._fit_width() != self._width and self.is_attached:
            await self.recompose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen or self._pending:
            return
        self._pending = True  # one look for any number of reports before it
        if self._shown is None:
            self.call_later(self._update_keys)  # the first keys: in the screen's first frame
        else:
            self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        self._pending = False
        if not self.is_attached or not self._in_view():
            return  # a screen hidden under another: looked at again when it is resumed
        if self._shown is None or self.keys() != self._shown:
            self._bindings_ready = True
            await self.recompose()

    def _in_view(self) -> bool:
        """True when the footer's screen is on top, or seen under modal screens only."""
        for screen in reversed(self.app.screen_stack):
            if screen is self.screen:
                return True
            if not screen.is_modal:
                return False
        return False
