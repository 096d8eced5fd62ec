"""The engine's process-wide state: one ring per process, the loggers, and the exit hooks.

Invariants:
- One ring object per process for its whole life; ``init`` maps a file into it, ``shutdown``
  unmaps it. Loggers hold that object, so loggers made before ``init`` work after it.
- A forked child never writes into its parent's ring: it gets a ring of its own.
- The hooks record why the producer ended (``exit``, ``exception``, ``signal``) in the ring's
  header, then hand over to whatever handler was there before; they never swallow a signal.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from . import ring as R
from .logger import Logger, RingBase

_RING: Any = RingBase()
_LOGGERS: dict[str, Logger] = {}
_LOCK = threading.RLock()
_CONFIG: dict[str, Any] = {}
_EXIT_REASON = ["exit"]
_HOOKS_INSTALLED = [False]
_PREVIOUS: dict[str, Any] = {}
_FORK_SAFE = [False]


def get_logger(name: str = "root") -> Logger:
    """The logger called ``name`` (made once, then reused)."""
    name = str(name)
    logger = _LOGGERS.get(name)
    if logger is None:
        with _LOCK:
            logger = _LOGGERS.get(name)
            if logger is None:
                logger = _LOGGERS[name] = Logger(_RING, name)
    return logger


def init(
    service: str | None = None,
    *,
    ring_size: int | str = R.DEFAULT_RING_SIZE,
    overflow: str = "drop",
    level: int | str = "INFO",
    shm_dir: str | os.PathLike[str] | None = None,
    max_str: int = R.DEFAULT_MAX_STR,
    strtab_size: int | str = R.DEFAULT_STRTAB_SIZE,
    sidecar: bool = False,
    snapshot_dir: str | os.PathLike[str] | None = None,
    install_hooks: bool = True,
) -> Path:
    """Create this process's ring and start writing to it; returns the ring file's path.

    Raises ``RingError`` (one line) if the directory is missing or unwritable or a setting is
    out of range. Calling it again closes the old ring (reason ``exit``) and opens a new one.
    """
    if service is None:
        service = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "python"
    directory = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    try:
        R.level_value(level)
    except ValueError as exc:
        raise R.RingError(str(exc)) from None
    with _LOCK:
        if _RING.mapped:
            _close("exit")
        path = R.create_ring_file(directory, service=service, ring_size=ring_size, strtab_size=strtab_size,
                                  overflow=overflow, level=level, max_str=max_str)
        _RING.map(path)
        _CONFIG.clear()
        _CONFIG.update(service=service, ring_size=ring_size, overflow=overflow, shm_dir=directory,
                       max_str=max_str, strtab_size=strtab_size, snapshot_dir=snapshot_dir)
        _EXIT_REASON[0] = "exit"
        if not _FORK_SAFE[0]:  # not optional: a child must never write into its parent's ring
            _FORK_SAFE[0] = True
            os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        if install_hooks:
            _install_hooks()
    if sidecar:
        from .control import ensure_sidecar

        ensure_sidecar(shm_dir=directory, snapshot_dir=snapshot_dir)
    return path


def current_ring_path() -> Path | None:
    return Path(_RING.path) if _RING.path else None


def set_level(level: int | str) -> None:
    """Records below ``level`` are not written from now on (``"OFF"`` writes nothing)."""
    _RING.set_level(R.level_value(level))


def get_level() -> int:
    return int(_RING.min_level)


def snapshot(reason: str = "request") -> None:
    """Ask the sidecar for a snapshot now (it sees the request on its next pass)."""
    if not _RING.mapped:
        return
    with _LOCK:
        _RING.set_header_u32(R.H_SNAP_REASON, _RING.intern(str(reason)[:200], R.S_OTHER))
        _RING.set_header_u64(R.H_SNAP_REQ, _RING.header_u64(R.H_SNAP_REQ) + 1)


def shutdown(reason: str = "exit") -> None:
    """Mark the ring closed (the sidecar drains it, snapshots it with ``reason`` and removes it)."""
    with _LOCK:
        if _RING.mapped:
            _close(reason)


def _close(reason: str) -> None:
    _RING.set_header_u32(R.H_EXIT_REASON, _RING.intern(reason, R.S_OTHER))
    _RING.set_header_u32(R.H_STATE, R.STATE_CLOSED)
    _RING.unmap()


# ---- hooks ------------------------------------------------------------------------------------


def _at_exit() -> None:
    shutdown(_EXIT_REASON[0])


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    try:
        if issubclass(exc_type, KeyboardInterrupt):
            _EXIT_REASON[0] = "signal"
        else:
            _EXIT_REASON[0] = "exception"
            get_logger("uncaught").critical(
                "Uncaught exception", exc_type=exc_type.__qualname__, exc_message=R.obj_text(exc),
                traceback="".join(traceback.format_exception(exc_type, exc, tb)), thread="MainThread")
    finally:
        previous = _PREVIOUS.get("excepthook") or sys.__excepthook__
        previous(exc_type, exc, tb)


def _threading_excepthook(args: Any) -> None:
    try:
        if args.exc_type is not SystemExit:
            get_logger("uncaught").critical(
                "Uncaught exception in thread", exc_type=args.exc_type.__qualname__,
                exc_message=R.obj_text(args.exc_value),
                traceback="".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                             args.exc_traceback)),
                thread=getattr(args.thread, "name", "?"))
            snapshot("exception")
    finally:
        previous = _PREVIOUS.get("threading_excepthook") or threading.__excepthook__
        previous(args)


def _signal_handler(signum: int, frame: FrameType | None) -> None:
    _EXIT_REASON[0] = "signal"
    previous = _PREVIOUS.get(f"signal{signum}")
    if callable(previous):
        previous(signum, frame)
        return
    # the default action: mark the ring, restore the default and die of the same signal
    shutdown("signal")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    if not _RING.mapped or not _CONFIG:
        return
    cfg = dict(_CONFIG)
    _RING.unmap()  # the parent's ring stays the parent's
    try:
        path = R.create_ring_file(cfg["shm_dir"], service=cfg["service"], ring_size=cfg["ring_size"],
                                  strtab_size=cfg["strtab_size"], overflow=cfg["overflow"],
                                  level=_PREVIOUS.get("level", "INFO"), max_str=cfg["max_str"])
        _RING.map(path)
    except (R.RingError, OSError):
        pass  # the child logs nothing rather than corrupt its parent's ring


def _before_fork() -> None:
    if _RING.mapped:
        _PREVIOUS["level"] = int(_RING.min_level)


def _install_hooks() -> None:
    if _HOOKS_INSTALLED[0]:
        return
    _HOOKS_INSTALLED[0] = True
    atexit.register(_at_exit)
    _PREVIOUS["excepthook"] = sys.excepthook
    sys.excepthook = _excepthook
    _PREVIOUS["threading_excepthook"] = threading.excepthook
    threading.excepthook = _threading_excepthook
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            current: Callable[..., Any] | int | None = signal.getsignal(signum)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                _PREVIOUS[f"signal{signum}"] = current if callable(current) else None
                signal.signal(signum, _signal_handler)
