"""Why the producer of a live ring ended: a clean exit, an uncaught exception, a signal, or a crash.

    ends = RingEnds()
    ends.watch(path)                 # when the tail first sees the ring
    ends.reason(path, info)          # once it has ended: "exit", "exception", "signal" or "crash"
    ends.close()

A producer that ends through ``ttlog.shutdown`` (normal exit, uncaught exception, SIGTERM/SIGINT)
marks its ring closed and names the reason in the ring header; one killed (SIGKILL, a crash in C)
leaves the ring open with no producer alive: that is a ``crash``. The sidecar removes a ring once
it has drained it, so the reason is read through a descriptor opened when the ring was first
seen (the file stays readable through it after the unlink).

Invariants: read-only (the descriptor is opened O_RDONLY and never written); no UI import;
never raises for a ring that is unreadable or gone (its reason is then ``exit`` if the header said
closed, else ``crash``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ttlog import ring as ring_format
from ttlog.reader import RingInfo

__all__ = ["END_REASONS", "RingEnds"]

END_REASONS = ("exit", "exception", "signal", "crash")
"""The reasons a producer ends, as the viewer names them."""


class RingEnds:
    """Descriptors of the rings a live tail follows, kept to read why each ended."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}

    def watch(self, path: Path) -> None:
        """Keep a read-only descriptor of ring ``path`` (once; an unreadable ring is skipped)."""
        if path in self._fds:
            return
        try:
            self._fds[path] = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            self._fds[path] = -1

    def reason(self, path: Path, info: RingInfo | None) -> str:
        """Why the producer of the ended ring ``path`` ended (``info``: its last header)."""
        if info is None or not info.closed:
            return "crash"
        text = self._exit_text(path)
        return text if text in END_REASONS else "exit"

    def _exit_text(self, path: Path) -> str | None:
        """The exit reason string the header names, read with pread (no mapping: a ring truncated
        under the reader cannot fault it), or None."""
        fd = self._fds.get(path, -1)
        if fd < 0:
            return None
        try:
            size = os.fstat(fd).st_size
            head = os.pread(fd, ring_format.HEADER_SIZE, 0)
            geo = ring_format.read_geometry(head, str(path), size)
            (sid,) = struct.unpack_from("<I", head, ring_format.H_EXIT_REASON)
            (used,) = struct.unpack_from("<Q", head, ring_format.H_STRTAB_USED)
            used = min(used, geo.strtab_cap)
            off = sid * 8
            if sid <= 0 or off + 8 > used:
                return None
            (n,) = struct.unpack_from("<I", os.pread(fd, 8, geo.strtab_off + off))
            if off + 8 + n > used or n > 4096:
                return None
            raw = os.pread(fd, n, geo.strtab_off + off + 8)
            return raw.decode("utf-8", "replace") if len(raw) == n else None
        except (OSError, ValueError, struct.error, ring_format.RingError):
            return None

    def forget(self, path: Path) -> None:
        """Close the descriptor of ``path``."""
        fd = self._fds.pop(path, -1)
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        for path in list(self._fds):
            self.forget(path)
