"""The ring: its byte layout, creating and attaching ring files, and the pure-Python writer.

docs/FORMAT.md describes the same layout for people; this module (with ``layout.py``, the
format's numbers) is its executable form, and the C writer in ``_c/writer.c`` and ``_c/logger.c``
mirrors it byte for byte (tests/ttlog/test_c_twin.py compares whole ring files written by both).

Invariants:
- One producer writes a ring; it never blocks and never waits for a reader. A full ring in
  ``drop`` mode drops the new record and counts it; in ``overwrite`` mode the oldest records go.
- A record is published only after every byte of it is written: the commit word last, then
  ``write_pos``. Everything below ``write_pos`` is committed.
- ``tail_pos`` is a record boundary and is advanced *before* the bytes under it are reused, so a
  reader that copies records and then sees ``tail_pos`` at or below their start knows they are
  intact.
- Positions are byte offsets that only grow; the physical offset is ``pos & (capacity - 1)``.
- Nothing the log call is given can make it raise: odd values become visible text.
"""

from __future__ import annotations

import mmap
import os
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The format's numbers live in layout.py (the twin of _c/format.h); ring re-exports them all.
from .layout import *  # noqa: F403
from .layout import (  # the ones this module uses itself
    FLAG_OVERWRITE,
    H_DROPPED,
    H_FILE_SIZE,
    H_FLAGS,
    H_HOST,
    H_MAGIC,
    H_MAX_STR,
    H_MIN_LEVEL,
    H_PID,
    H_READ_POS,
    H_RESERVE_POS,
    H_SEQ_NEXT,
    H_SERVICE,
    H_STRTAB_USED,
    H_TAIL_POS,
    H_VERSION,
    H_WRITE_POS,
    HEADER_SIZE,
    K_BYTES,
    K_FALSE,
    K_FLOAT,
    K_INT,
    K_NONE,
    K_OBJ,
    K_STR,
    K_TRUE,
    LEVEL_NAMES,
    LEVEL_OFF,
    LEVELS,
    MAGIC,
    MAX_FIELDS,
    MAX_INTERNED_MESSAGE,
    MAX_RING_SIZE,
    METHOD_LEVELS,
    MIN_RING_SIZE,
    REC_HEADER,
    RF_FIELDS_CUT,
    RF_MSG_CUT,
    RF_MSG_INLINE,
    S_KEY,
    S_LOGGER,
    S_MESSAGE,
    S_OTHER,
    STATE_LIVE,
    STRTAB_FIRST,
    T_CUT,
    T_KEY_INLINE,
    VERSION,
    marker,
    pad_marker,
)

DEFAULT_RING_SIZE = 64 << 20
DEFAULT_STRTAB_SIZE = 1 << 20
DEFAULT_MAX_STR = 4096


class RingError(Exception):
    """A ring file cannot be created or attached; the message is one line for the user."""


def level_value(level: int | str) -> int:
    """``"warn"``, ``"WARNING"``, ``30`` -> 30. Raises ValueError for anything else."""
    if isinstance(level, bool):
        raise ValueError(f"not a level: {level!r}")
    if isinstance(level, int):
        if 0 <= level <= LEVEL_OFF:
            return level
        raise ValueError(f"level out of range 0..255: {level}")
    name = str(level).strip().upper()
    if name == "WARNING":
        name = "WARN"
    if name == "FATAL":
        name = "CRITICAL"
    if name == "OFF":
        return LEVEL_OFF
    if name in LEVELS:
        return LEVELS[name]
    if name.isdigit():
        return level_value(int(name))
    raise ValueError(f"unknown level {level!r} (one of {', '.join(LEVELS)})")


def level_name(value: int) -> str:
    return LEVEL_NAMES.get(value, f"L{value}")


def parse_size(size: int | str) -> int:
    """``"64MiB"``, ``"1g"``, ``65536`` -> bytes."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(i?b)?\s*", str(size), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {size!r} (e.g. 64MiB)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def default_shm_dir() -> Path:
    return Path(os.environ.get("TTLOG_SHM_DIR") or "/dev/shm")


_SAFE = re.compile(r"[^A-Za-z0-9_.]")
RING_SUFFIX = ".ring"
RING_PREFIX = "ttlog-"


def ring_filename(service: str, pid: int, n: int = 0) -> str:
    """``ttlog-<service>-<pid>.ring``; a second ring of the same pid gets ``.<n>`` before it."""
    safe = _SAFE.sub("_", service)[:48] or "service"
    extra = f".{n}" if n else ""
    return f"{RING_PREFIX}{safe}-{pid}{extra}{RING_SUFFIX}"


def is_ring_filename(name: str) -> bool:
    return name.startswith(RING_PREFIX) and name.endswith(RING_SUFFIX)


def _put_text(buf: Any, off: int, text: str, size: int) -> None:
    raw = text.encode("utf-8", "backslashreplace")[: size - 1]
    buf[off : off + size] = raw + b"\0" * (size - len(raw))


def create_ring_file(
    shm_dir: str | os.PathLike[str],
    *,
    service: str,
    ring_size: int | str = DEFAULT_RING_SIZE,
    strtab_size: int | str = DEFAULT_STRTAB_SIZE,
    overflow: str = "drop",
    level: int | str = "INFO",
    max_str: int = DEFAULT_MAX_STR,
    pid: int | None = None,
) -> Path:
    """Create, size and initialise a ring file (mode 0600) and return its path.

    The file is built under a temporary name and linked into place, so no reader ever sees a
    half-written header and an existing ring is never replaced.
    """
    cap = parse_size(ring_size)
    if cap < MIN_RING_SIZE or cap > MAX_RING_SIZE or cap & (cap - 1):
        raise RingError(f"ring_size must be a power of two from 64KiB to 16GiB, not {ring_size!r}")
    stcap = parse_size(strtab_size)
    if stcap < 4096 or stcap % 8 or stcap > (1 << 34):
        raise RingError(f"strtab_size must be a multiple of 8 from 4KiB to 16GiB, not {strtab_size!r}")
    if overflow not in ("drop", "overwrite"):
        raise RingError(f"overflow must be 'drop' or 'overwrite', not {overflow!r}")
    if not 16 <= max_str <= (1 << 24):
        raise RingError(f"max_str must be from 16 to 16777216 bytes, not {max_str!r}")
    lvl = level_value(level)
    pid = os.getpid() if pid is None else pid
    directory = Path(shm_dir)
    if not directory.is_dir():
        raise RingError(f"shared-memory directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise RingError(f"shared-memory directory {directory} is not writable")

    data_off = HEADER_SIZE + stcap
    data_off = (data_off + 4095) & ~4095
    file_size = data_off + cap
    tmp = directory / f".{ring_filename(service, pid)}.{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise RingError(f"cannot create a ring in {directory}: {exc.strerror}") from None
    try:
        try:
            os.ftruncate(fd, file_size)
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, file_size)
        except OSError as exc:
            raise RingError(f"cannot size a {file_size}-byte ring in {directory}: {exc.strerror}") from None
        with mmap.mmap(fd, HEADER_SIZE) as hdr:
            hdr[H_MAGIC : H_MAGIC + 8] = MAGIC
            struct.pack_into("<II", hdr, H_VERSION, VERSION, HEADER_SIZE)
            struct.pack_into("<QQQQQ", hdr, H_FILE_SIZE, file_size, HEADER_SIZE, stcap, data_off, cap)
            struct.pack_into("<qq", hdr, H_PID, pid, time.time_ns())
            struct.pack_into("<IIII", hdr, H_FLAGS, FLAG_OVERWRITE if overflow == "overwrite" else 0,
                             max_str, STATE_LIVE, lvl)
            _put_text(hdr, H_SERVICE, service, 64)
            _put_text(hdr, H_HOST, socket.gethostname(), 64)
            struct.pack_into("<Q", hdr, H_STRTAB_USED, STRTAB_FIRST)
        n = 0
        while True:
            path = directory / ring_filename(service, pid, n)
            try:
                os.link(tmp, path)
                break
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise RingError(f"cannot create a ring in {directory}: {exc.strerror}") from None
    finally:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return path


@dataclass(frozen=True)
class Geometry:
    """Where things are in a mapped ring; read from and checked against its header."""

    file_size: int
    strtab_off: int
    strtab_cap: int
    data_off: int
    capacity: int

    @property
    def mask(self) -> int:
        return self.capacity - 1


def read_geometry(buf: Any, name: str, actual_size: int | None = None) -> Geometry:
    """Check magic, version and sizes of a mapped header; RingError with one line if wrong."""
    if len(buf) < HEADER_SIZE or bytes(buf[0:8]) != MAGIC:
        raise RingError(f"{name}: not a ttlog ring (bad magic)")
    version, hsize = struct.unpack_from("<II", buf, H_VERSION)
    if version != VERSION:
        raise RingError(f"{name}: ring format version {version}, this engine reads version {VERSION}")
    file_size, st_off, st_cap, data_off, cap = struct.unpack_from("<QQQQQ", buf, H_FILE_SIZE)
    ok = (
        hsize == HEADER_SIZE
        and st_off == HEADER_SIZE
        and st_off + st_cap <= data_off
        and cap >= MIN_RING_SIZE
        and cap <= MAX_RING_SIZE
        and not cap & (cap - 1)
        and data_off + cap == file_size
        and (actual_size is None or actual_size >= file_size)
    )
    if not ok:
        raise RingError(f"{name}: ring header is inconsistent (truncated or corrupt file)")
    return Geometry(file_size, st_off, st_cap, data_off, cap)


def open_ring_map(path: str | os.PathLike[str], *, writable: bool) -> tuple[mmap.mmap, Geometry]:
    """Map a ring file (read-only for peeking readers) and check its header."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise RingError(f"{path}: cannot open ring: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if size < HEADER_SIZE:
            raise RingError(f"{path}: not a ttlog ring (file too small)")
        if writable:  # the producer: map every page now, so the first lap takes no page faults
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            mm = mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        else:
            mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    try:
        geo = read_geometry(mm, str(path), size)
    except RingError:
        mm.close()
        raise
    return mm, geo


# ---- value encoding shared by both writers ------------------------------------------------------


def obj_text(value: object) -> str:
    """The text stored for a value of a type the ring does not hold natively (kind K_OBJ).

    Both writers call this one function, so they store the same text. It never raises.
    """
    try:
        text = str(value)
        if type(text) is not str:  # a __str__ returning a str subclass
            text = "".join(text)
        return text
    except BaseException as exc:  # noqa: BLE001 - a log call must not raise whatever __str__ does
        try:
            kind = type(exc).__name__
        except BaseException:  # noqa: BLE001
            kind = "error"
        return f"<unprintable {type(value).__name__}: {kind}>"


def utf8(text: str) -> bytes:
    """UTF-8 of ``text``; lone surrogates (which UTF-8 cannot hold) become ``\\udXXX`` escapes.

    Every text the ring stores goes through here (messages, keys, logger names, str and obj
    values, in both writers), so a lone surrogate reads back the same wherever it was."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def exc_text(exc_info: object) -> str:
    """The traceback text the standard library's ``logging`` stores for ``exc_info``.

    ``exc_info`` is an exception, a ``(type, value, traceback)`` tuple, or anything else true,
    meaning the exception being handled (``sys.exc_info()``). Never raises.
    """
    import traceback

    try:
        if isinstance(exc_info, BaseException):
            info: Any = (type(exc_info), exc_info, exc_info.__traceback__)
        elif isinstance(exc_info, tuple) and len(exc_info) == 3:
            info = exc_info
        else:
            info = sys.exc_info()
        text = "".join(traceback.format_exception(info[0], info[1], info[2]))
        return text[:-1] if text.endswith("\n") else text
    except BaseException as exc:  # noqa: BLE001 - a log call must not raise whatever formatting does
        return f"<unprintable traceback: {type(exc).__name__}>"


def stack_text(frame: Any) -> str:
    """The stack the standard library's ``logging`` stores for ``stack_info=True``: the frames
    up to and including ``frame`` (the log call's caller). Never raises."""
    import traceback

    try:
        text = "Stack (most recent call last):\n" + "".join(traceback.format_stack(frame))
        return text[:-1] if text.endswith("\n") else text
    except BaseException as exc:  # noqa: BLE001
        return f"<unprintable stack: {type(exc).__name__}>"


def stdlib_fields(fields: dict[str, Any], frame: Any, exception: bool) -> dict[str, Any]:
    """The fields of a log call given ``exc_info`` or ``stack_info`` (or made by ``exception()``),
    as the standard library reads those keywords: a true ``exc_info`` becomes the formatted
    traceback (:func:`exc_text`), a true ``stack_info`` the caller's stack (:func:`stack_text`;
    ``frame`` is the caller's frame), a false one of either is not stored, and a non-empty str is
    stored as it is (text formatted already, as ``LoggingHandler`` passes on a stdlib record's).
    ``exception`` adds ``exc_info=True`` unless it is given. Both loggers call this one function,
    so they store the same text; the other fields keep their order, ``exc_info`` its place (or the
    end)."""
    out = dict(fields)
    if exception:
        out.setdefault("exc_info", True)
    if "exc_info" in out:
        value = out["exc_info"]
        if not isinstance(value, str) and _true(value):
            out["exc_info"] = exc_text(value)
        elif not value:
            del out["exc_info"]
    if "stack_info" in out:
        value = out["stack_info"]
        if not isinstance(value, str) and _true(value) and frame is not None:
            out["stack_info"] = stack_text(frame)
        elif not isinstance(value, str) or not value:
            del out["stack_info"]
    return out


def _true(value: object) -> bool:
    """bool(value); an object whose __bool__ raises counts as true (it was given, after all)."""
    try:
        return bool(value)
    except BaseException:  # noqa: BLE001
        return True


def cut_utf8(raw: bytes, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes, never splitting a UTF-8 sequence; and whether it was cut."""
    if len(raw) <= limit:
        return raw, False
    end = limit
    while end > 0 and (raw[end] & 0xC0) == 0x80:
        end -= 1
    return raw[:end], True


def cut_bytes(raw: bytes, limit: int) -> tuple[bytes, bool]:
    if len(raw) <= limit:
        return raw, False
    return raw[:limit], True


class _Reentered(Exception):
    pass


class PyRing:
    """The producer side of a mapped ring, in pure Python (the twin of ``_ring.Ring``).

    ``Ring()`` is created unmapped (every call is then a no-op) so loggers made at import time,
    before ``ttlog.init``, keep working once it maps a file.
    """

    def __init__(self) -> None:
        self._mm: mmap.mmap | None = None
        self._geo: Geometry | None = None
        self._lock = threading.RLock()
        self._busy = False
        self._strings: dict[tuple[int, str], int] = {}
        self._clock: Callable[[], int] = time.time_ns
        self._fixed_tid: int | None = None
        self.generation = 0
        self.path: str | None = None

    # -- mapping --
    def map(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            self.unmap()
            mm, geo = open_ring_map(path, writable=True)
            self._mm, self._geo = mm, geo
            self._strings = {}
            self._load_strings()
            self.generation += 1
            self.path = os.fspath(path)

    def unmap(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.close()
            self._mm = None
            self._geo = None
            self.path = None
            self.generation += 1

    @property
    def mapped(self) -> bool:
        return self._mm is not None

    def _load_strings(self) -> None:
        """Re-learn ids already in the table (a re-mapped ring keeps its strings)."""
        mm, geo = self._mm, self._geo
        assert mm is not None and geo is not None
        used = self._u64(H_STRTAB_USED)
        off = STRTAB_FIRST
        while off < used:
            n, kind = struct.unpack_from("<II", mm, geo.strtab_off + off)
            at = geo.strtab_off + off + 8
            text = bytes(mm[at : at + n]).decode("utf-8", "replace")
            self._strings.setdefault((kind, text), off >> 3)
            off += (8 + n + 7) & ~7

    # -- header access --
    def _u64(self, off: int) -> int:
        # one aligned 8-byte access: struct.pack_into zero-fills before it writes, and a reader
        # in another process must never see a position other than its old or new value. Only the
        # header is viewed as words: the file may be longer than its header says.
        assert self._mm is not None
        with memoryview(self._mm) as raw, raw[:HEADER_SIZE] as head, head.cast("Q") as words:
            return int(words[off >> 3])

    def _set_u64(self, off: int, value: int) -> None:
        assert self._mm is not None
        with memoryview(self._mm) as raw, raw[:HEADER_SIZE] as head, head.cast("Q") as words:
            words[off >> 3] = value

    def _u32(self, off: int) -> int:
        # one aligned 4-byte access, for the same reason: another thread or process reading the
        # minimum level must never see the zero that pack_into writes first
        assert self._mm is not None
        with memoryview(self._mm) as raw, raw[:HEADER_SIZE] as head, head.cast("I") as words:
            return int(words[off >> 2])

    def _set_u32(self, off: int, value: int) -> None:
        assert self._mm is not None
        with memoryview(self._mm) as raw, raw[:HEADER_SIZE] as head, head.cast("I") as words:
            words[off >> 2] = value

    @property
    def min_level(self) -> int:
        return self._u32(H_MIN_LEVEL) if self._mm is not None else LEVEL_OFF

    def set_level(self, level: int) -> None:
        if self._mm is not None:
            self._set_u32(H_MIN_LEVEL, level)

    def header_u64(self, off: int) -> int:
        return self._u64(off) if self._mm is not None else 0

    def set_header_u32(self, off: int, value: int) -> None:
        if self._mm is not None:
            self._set_u32(off, value)

    def set_header_u64(self, off: int, value: int) -> None:
        if self._mm is not None:
            self._set_u64(off, value)

    def _set_fixed(self, ts_ns: int | None, tid: int | None) -> None:
        """Tests: stamp every record with this time and thread id (byte-identity checks)."""
        self._clock = time.time_ns if ts_ns is None else (lambda: ts_ns)
        self._fixed_tid = tid

    # -- string table --
    def intern(self, text: str, kind: int = S_OTHER) -> int:
        """Id of ``text`` in the ring's string table, adding it if there is room; 0 if not."""
        key = (kind, text)
        sid = self._strings.get(key)
        if sid is not None:
            return sid
        mm, geo = self._mm, self._geo
        if mm is None or geo is None:
            return 0
        raw = utf8(text)
        used = self._u64(H_STRTAB_USED)
        size = (8 + len(raw) + 7) & ~7
        if used + size > geo.strtab_cap or used >> 3 > 0xFFFFFFFF:
            return 0
        base = geo.strtab_off + used
        struct.pack_into("<II", mm, base, len(raw), kind)
        mm[base + 8 : base + 8 + len(raw)] = raw
        mm[base + 8 + len(raw) : base + size] = b"\0" * (size - 8 - len(raw))
        self._set_u64(H_STRTAB_USED, used + size)
        sid = used >> 3
        self._strings[key] = sid
        return sid

    # -- the log call --
    def write(self, logger_id: int, level: int, msg: object, args: tuple[Any, ...],
              fields: dict[str, Any]) -> None:
        """Append one record; never raises for anything in ``msg``, ``args`` or ``fields``."""
        mm = self._mm
        if mm is None or level < struct.unpack_from("<I", mm, H_MIN_LEVEL)[0]:
            return
        ts = self._clock()
        tid = self._fixed_tid if self._fixed_tid is not None else threading.get_native_id() & 0xFFFFFFFF
        # Phase 1: turn everything into bytes. This may run user code (str()), which may log in
        # turn; no ring state is held yet.
        text = msg if type(msg) is str else obj_text(msg)
        mm = self._mm
        if mm is None:  # the message's __str__ unmapped the ring
            return
        items: list[tuple[str, Any]] = [(f"arg{i}", a) for i, a in enumerate(args)]
        items.extend(fields.items())
        flags = 0
        if len(items) > MAX_FIELDS:
            items = items[:MAX_FIELDS]
            flags |= RF_FIELDS_CUT
        max_str = struct.unpack_from("<I", mm, H_MAX_STR)[0]
        encoded = [(key, _encode_value(value, max_str)) for key, value in items]
        with self._lock:
            if self._busy:  # a signal handler logging in the middle of a write
                self._set_u64(H_DROPPED, self._u64(H_DROPPED) + 1)
                return
            self._busy = True
            try:
                self._write_locked(ts, tid, logger_id, level, text, flags, encoded, max_str)
            finally:
                self._busy = False

    def _write_locked(self, ts: int, tid: int, logger_id: int, level: int, text: str, flags: int,
                      encoded: list[tuple[str, tuple[int, bytes]]], max_str: int) -> None:
        mm = self._mm
        if mm is None:
            return
        parts: list[bytes] = []
        msg_raw = utf8(text)
        msg_id = 0
        if len(msg_raw) <= MAX_INTERNED_MESSAGE:
            msg_id = self.intern(text, S_MESSAGE)
        if not msg_id:
            msg_raw, cut = cut_utf8(msg_raw, max_str)
            flags |= RF_MSG_INLINE | (RF_MSG_CUT if cut else 0)
            parts.append(struct.pack("<I", len(msg_raw)) + msg_raw)
        for key, (tbyte, payload) in encoded:
            kid = self.intern(key, S_KEY)
            if kid:
                parts.append(struct.pack("<BI", tbyte, kid) + payload)
            else:
                kraw, _ = cut_utf8(utf8(key), 0xFFFF)
                parts.append(struct.pack("<BH", tbyte | T_KEY_INLINE, len(kraw)) + kraw + payload)
        body = b"".join(parts)
        length = (REC_HEADER + len(body) + 7) & ~7
        self._commit(length, ts, tid, logger_id, msg_id, level, flags, len(encoded), body)

    def _commit(self, length: int, ts: int, tid: int, logger_id: int, msg_id: int, level: int,
                flags: int, nfields: int, body: bytes) -> None:
        mm, geo = self._mm, self._geo
        assert mm is not None and geo is not None
        cap, mask = geo.capacity, geo.mask
        if length > cap // 2 or length > 0xFFFFFFF8:
            self._set_u64(H_DROPPED, self._u64(H_DROPPED) + 1)
            return
        w = self._u64(H_WRITE_POS)
        room = cap - (w & mask)
        total = length + (room if length > room else 0)
        end = w + total
        overwrite = self._u32(H_FLAGS) & FLAG_OVERWRITE
        if not overwrite and end - self._u64(H_READ_POS) > cap:
            self._set_u64(H_DROPPED, self._u64(H_DROPPED) + 1)
            return
        self._set_u64(H_RESERVE_POS, end)
        # Move the tail past every record whose bytes are about to be reused.
        limit = end - cap
        tail = t = self._u64(H_TAIL_POS)
        while t < limit:
            step = struct.unpack_from("<I", mm, geo.data_off + (t & mask))[0]
            if step < 8 or step % 8 or step > cap:  # a corrupt length: restart the tail here
                t = end - length
                break
            t += step
        if t != tail:
            self._set_u64(H_TAIL_POS, t)
        if length > room:
            struct.pack_into("<II", mm, geo.data_off + (w & mask), room, pad_marker(w))
            w += room
        base = geo.data_off + (w & mask)
        seq = self._u64(H_SEQ_NEXT)
        struct.pack_into("<I", mm, base, length)
        struct.pack_into("<QqIIIBBH", mm, base + 8, seq, ts, tid, logger_id, msg_id, level, flags, nfields)
        mm[base + REC_HEADER : base + REC_HEADER + len(body)] = body
        padding = length - REC_HEADER - len(body)
        if padding:
            mm[base + length - padding : base + length] = b"\0" * padding
        struct.pack_into("<I", mm, base + 4, marker(w))  # commit word, written last
        self._set_u64(H_SEQ_NEXT, seq + 1)
        self._set_u64(H_WRITE_POS, end)


def _encode_value(value: Any, max_str: int) -> tuple[int, bytes]:
    """(type byte, payload) of one field value; the C writer makes the same bytes."""
    if value is True:
        return K_TRUE, b""
    if value is False:
        return K_FALSE, b""
    if value is None:
        return K_NONE, b""
    if isinstance(value, int) and not isinstance(value, bool):
        if -(1 << 63) <= value < (1 << 63):
            return K_INT, struct.pack("<q", value)
        return _encode_text(K_OBJ, obj_text(value), max_str)
    if isinstance(value, float):
        return K_FLOAT, struct.pack("<d", value)
    if isinstance(value, str):
        return _encode_text(K_STR, str.__str__(value), max_str)
    if isinstance(value, (bytes, bytearray)):
        raw, cut = cut_bytes(value if type(value) is bytes else bytes(memoryview(value)), max_str)
        return K_BYTES | (T_CUT if cut else 0), struct.pack("<I", len(raw)) + raw
    if isinstance(value, bool):  # a bool subclass cannot exist, but keep the order explicit
        return (K_TRUE if value else K_FALSE), b""
    if hasattr(type(value), "__index__"):
        try:
            number = int(value.__index__())
        except BaseException:  # noqa: BLE001
            number = None
        if number is not None and -(1 << 63) <= number < (1 << 63):
            return K_INT, struct.pack("<q", number)
    return _encode_text(K_OBJ, obj_text(value), max_str)


def _encode_text(kind: int, text: str, max_str: int) -> tuple[int, bytes]:
    raw, cut = cut_utf8(utf8(text), max_str)
    return kind | (T_CUT if cut else 0), struct.pack("<I", len(raw)) + raw


class PyLogger:
    """A named logger over a ring, in pure Python (the twin of ``_ring.Logger``).

    ``log.info(msg, *args, **fields)`` and its siblings (one per entry of METHOD_LEVELS) write
    one record; positional ``args`` are stored as fields ``arg0``, ``arg1``, ...; ``exc_info`` and
    ``stack_info`` mean what they mean to the standard library (:func:`stdlib_fields`), and
    ``log.exception(msg)`` is ``error`` with the current traceback.
    """

    __slots__ = ("_ring", "_name", "_id", "_gen")

    def __init__(self, ring: PyRing, name: str) -> None:
        if not isinstance(ring, PyRing):
            raise TypeError("ring must be a PyRing")
        self._ring = ring
        self._name = str(name)
        self._id = 0
        self._gen = -1

    @property
    def name(self) -> str:
        return self._name

    @property
    def ring(self) -> PyRing:
        return self._ring

    def _logger_id(self) -> int:
        ring = self._ring
        if self._gen != ring.generation:
            self._id = ring.intern(self._name, S_LOGGER)
            self._gen = ring.generation
        return self._id

    def log(self, level: int, msg: object = "", /, *args: Any, **fields: Any) -> None:
        if type(level) is not int or not 0 <= level < LEVEL_OFF:
            try:
                level = level_value(level)
            except ValueError:
                level = LEVELS["INFO"]
            if level >= LEVEL_OFF:  # "OFF" is a threshold, not a record's level
                level = LEVELS["INFO"]
        ring = self._ring
        if ring._mm is None or level < ring.min_level:
            return
        if "exc_info" in fields or "stack_info" in fields:
            fields = stdlib_fields(fields, sys._getframe(1), False)
        ring.write(self._logger_id(), level, msg, args, fields)

    def exception(self, msg: object = "", /, *args: Any, **fields: Any) -> None:
        """``error()`` with the traceback of the exception being handled in field ``exc_info``."""
        ring = self._ring
        if ring._mm is None or _ERROR < ring.min_level:
            return
        ring.write(self._logger_id(), _ERROR, msg, args, stdlib_fields(fields, sys._getframe(1), True))

    def is_enabled_for(self, level: int) -> bool:
        return level >= self._ring.min_level


_ERROR = LEVELS["ERROR"]


def _level_method(value: int) -> Callable[..., None]:
    def method(self: PyLogger, msg: object = "", /, *args: Any, **fields: Any) -> None:
        ring = self._ring
        if ring._mm is None or value < ring.min_level:
            return
        if "exc_info" in fields or "stack_info" in fields:
            fields = stdlib_fields(fields, sys._getframe(1), False)
        ring.write(self._logger_id(), value, msg, args, fields)

    return method


for _name, _value in METHOD_LEVELS.items():
    setattr(PyLogger, _name, _level_method(_value))
del _name, _value
