"""ttlog engine: structured logging for latency-critical Python into shared-memory rings.

    import ttlog
    ttlog.init(service="trading-engine", ring_size="64MiB", overflow="drop", level="INFO")
    log = ttlog.get_logger("orders")
    log.info("Order placed", order_id="ORD-1", qty=100, price=150.25)
    log.trade("Trade executed", symbol="BTCUSD", side="buy", qty=1.5, price=45000.0)

Loggers made before ``init`` (at import time, say) write nothing until ``init`` maps a ring,
then write to it. Nothing here imports textual, rich, typer or polars.
"""

from __future__ import annotations

from ._api import (
    current_ring_path,
    get_level,
    get_logger,
    init,
    set_level,
    shutdown,
    snapshot,
)
from .logger import IMPLEMENTATION, Level, Logger, LoggingHandler
from .ring import LEVELS, RingError

__all__ = [
    "IMPLEMENTATION",
    "LEVELS",
    "Level",
    "Logger",
    "LoggingHandler",
    "RingError",
    "current_ring_path",
    "get_level",
    "get_logger",
    "init",
    "set_level",
    "shutdown",
    "snapshot",
]


def __getattr__(name: str) -> object:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ttlog")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module 'ttlog' has no attribute {name!r}")
