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
- gives each key its final style when it is made, not a default one first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

__all__ = ["KeyFooter"]


class KeyFooter(Footer):
    """A :class:`textual.widgets.Footer` that only recomposes when its keys change."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._shown: tuple[Any, ...] | None = None
        """The keys shown (None: not built yet)."""
        self._pending = False

    def keys(self) -> tuple[Any, ...]:
        """What the footer would show now: one entry per key, in order."""
        app = self.app
        return tuple(
            (key, binding.action, app.get_key_display(binding), binding.description, binding.group)
            + (enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING
        )

    def compose(self) -> Iterator[Widget]:
        if not self._bindings_ready:
            return
        self._shown = self.keys()
        compact = self.compact
        for widget in super().compose():
            # Footer binds most keys' ``compact`` to its own: set it before such a key is mounted,
            # so the key is styled once (not as compact first, then again as not compact).
            if "compact" in (getattr(widget, "_reactive_connect", None) or {}):
                widget.set_reactive(type(widget).compact, compact)  # type: ignore[attr-defined]
                widget.set_class(compact, "-compact", update=False)
            yield widget

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
