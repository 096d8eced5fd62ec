"""ttview: look at what the ttview logging engine wrote (a Textual TUI and a typer CLI over one core)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ttview")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
