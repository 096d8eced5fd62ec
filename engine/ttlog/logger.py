"""Loggers, levels, ``timed()`` and the bridge from the standard library's ``logging``.

Invariants:
- ``log.info(...)`` and its siblings are the C methods themselves (the Python subclass below adds
  no per-call wrapper), so an enabled call is one C call and a disabled one a compare.
- The engine never raises into the caller's hot path: odd messages and values are stored as text.
- ``TTLOG_PURE_PYTHON=1`` (or a build without a compiler) selects the pure-Python twin, which
  writes the same bytes; the reader follows the same switch (``ttlog._native``).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from . import ring as R
from ._native import IMPLEMENTATION as IMPLEMENTATION  # re-exported as ttlog.IMPLEMENTATION
from ._native import C as _C

if _C is not None:
    RingBase: Any = _C.Ring
    LoggerBase: Any = _C.Logger
else:
    RingBase = R.PyRing
    LoggerBase = R.PyLogger


class Level(enum.IntEnum):
    """Levels, standard and trading; the numbers match the stdlib's where both have one."""

    TRACE = R.LEVELS["TRACE"]
    DEBUG = R.LEVELS["DEBUG"]
    MARKET_DATA = R.LEVELS["MARKET_DATA"]
    INFO = R.LEVELS["INFO"]
    ORDER = R.LEVELS["ORDER"]
    TRADE = R.LEVELS["TRADE"]
    PORTFOLIO = R.LEVELS["PORTFOLIO"]
    RISK = R.LEVELS["RISK"]
    WARN = R.LEVELS["WARN"]
    ERROR = R.LEVELS["ERROR"]
    CRITICAL = R.LEVELS["CRITICAL"]


class Timed:
    """``with log.timed("risk check", symbol="AAPL"):`` logs one record when the block ends.

    The record carries the block's duration in microseconds (field ``latency_us`` unless told
    otherwise) and, if the block raised, ``error`` with the exception's type name. Also works as
    a decorator.
    """

    __slots__ = ("_logger", "_message", "_level", "_field", "_fields", "_start")

    def __init__(self, logger: Logger, message: str, level: int, field: str, fields: dict[str, Any]) -> None:
        self._logger = logger
        self._message = message
        self._level = level
        self._field = field
        self._fields = fields
        self._start = 0

    def __enter__(self) -> Timed:
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        elapsed_us = (time.perf_counter_ns() - self._start) / 1000.0
        fields = dict(self._fields)
        fields[self._field] = elapsed_us
        if exc_type is not None:
            fields["error"] = exc_type.__name__
        self._logger.log(self._level, self._message, **fields)

    def __call__(self, func: Any) -> Any:
        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Timed(self._logger, self._message, self._level, self._field, self._fields):
                return func(*args, **kwargs)

        return wrapper


class Logger(LoggerBase):  # type: ignore[misc,valid-type]
    """A named logger: ``log.info(msg, *args, **fields)``, ``log.trade(...)``, ``log.timed(...)``.

    Methods: trace, debug, market_data, info, order, trade, portfolio, risk, warn (warning),
    error, critical, and ``log(level, msg, ...)``. Positional args are kept as fields ``arg0``...
    As in the standard library, ``exc_info=True`` (or an exception, or a ``sys.exc_info()``
    tuple) stores the formatted traceback in field ``exc_info``, ``stack_info=True`` the caller's
    stack in field ``stack_info``, and ``log.exception(msg)`` is ``log.error(msg, exc_info=True)``.
    """

    __slots__ = ()

    def timed(
        self, message: str, *, level: int | str = "INFO", field: str = "latency_us", **fields: Any
    ) -> Timed:
        return Timed(self, message, R.level_value(level), field, fields)

    def __repr__(self) -> str:
        return f"<ttlog.Logger {self.name!r}>"


_STD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class LoggingHandler(logging.Handler):
    """Sends stdlib ``logging`` records to the engine's ring.

    The logger name becomes the engine logger; levels keep their numbers (WARNING is WARN 30);
    the message is the formatted one, and %-args are also kept as typed fields ``arg0``...
    (named args of a mapping under their names); ``extra=`` keys become fields; ``exc_info`` and
    ``stack_info`` are stored as formatted text fields of those names.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from . import get_logger

            fields: dict[str, Any] = {}
            args = record.args
            if isinstance(args, dict):
                fields.update((str(k), v) for k, v in args.items())
            elif args:
                fields.update((f"arg{i}", a) for i, a in enumerate(args))
            for key, value in record.__dict__.items():
                if key not in _STD_ATTRS and not key.startswith("_"):
                    fields[key] = value
            if record.exc_info:
                fields["exc_info"] = self._formatter.formatException(record.exc_info)
            elif record.exc_text:
                fields["exc_info"] = record.exc_text
            if record.stack_info:
                fields["stack_info"] = record.stack_info
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad %-format is logged as the template
                message = R.obj_text(record.msg)
                fields["format_error"] = True
            level = min(max(int(record.levelno), 0), R.LEVEL_OFF - 1)
            get_logger(record.name).log(level, message, **fields)
        except Exception:  # noqa: BLE001
            self.handleError(record)
