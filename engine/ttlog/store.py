"""Snapshot files on disk: names, atomic LZ4-framed writes, listing, retention, the header.

Invariants:
- A snapshot appears under its final name only when complete and on disk: it is written to a
  temporary file (O_EXCL, O_NOFOLLOW, mode 0600) in the same directory, fsynced, linked to its
  final name and the directory fsynced (:mod:`ttlog.files`). A failed write raises
  :class:`SnapshotError` (one line) and leaves no temporary file behind.
- An existing file is never replaced: a name that is taken gets a counter.
- Retention deletes only files the sidecar wrote and recorded in the directory's manifest (the
  same inode, a regular file of this user); a file anyone else put there is never deleted.
- No UI library, no polars, no numpy, no third-party package here.
"""

from __future__ import annotations

import calendar
import contextlib
import contextvars
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .cbor import Decoder, Incomplete
from .files import clean_orphans, replace_file, write_new
from .lz4frame import MAGIC as LZ4_MAGIC
from .lz4frame import FrameHeader, block_content, iter_blocks, read_frame_header, write_frame

__all__ = [
    "SUFFIX",
    "SnapshotError",
    "MANIFEST_NAME",
    "apply_retention",
    "before_link",
    "clean_temp_files",
    "list_snapshots",
    "read_header",
    "record_written",
    "snapshot_filename",
    "snapshot_sort_key",
    "write_atomic",
    "written_snapshots",
]

SUFFIX = ".ttsnap"
HEADER_KEYS_STOP = ("strings", "chunks")
"""The keys after the header: a header reader stops at the first of them."""


class SnapshotError(Exception):
    """A snapshot cannot be written or read; the message is one line for the user."""


def one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---- names and atomic files ---------------------------------------------------------------------

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME_TIME = re.compile(r"\.(\d{8}T\d{6})\.(\d{6})Z\.")


def snapshot_filename(service: str, pid: int, created_ns: int, reason: str, counter: int = 0) -> str:
    """``<service>.<pid>.<YYYYmmddTHHMMSS.ffffff>Z.<reason>[.<n>].ttsnap`` (service, reason sanitised)."""
    safe_service = _NAME_SAFE.sub("_", str(service))[:64] or "service"
    safe_reason = _NAME_SAFE.sub("_", str(reason))[:32] or "snapshot"
    secs, ns = divmod(int(created_ns), 10**9)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)) + f".{ns // 1000:06d}Z"
    extra = f".{counter}" if counter else ""
    return f"{safe_service}.{int(pid)}.{stamp}.{safe_reason}{extra}{SUFFIX}"


_write_fd = os.write  # a seam for tests (a full disk)
_BEFORE_LINK: contextvars.ContextVar[Callable[[Path, os.stat_result], None] | None] = contextvars.ContextVar(
    "ttlog_store_before_link", default=None)


@contextlib.contextmanager
def before_link(hook: Callable[[Path, os.stat_result], None]) -> Iterator[None]:
    """Within this block, every snapshot :func:`write_atomic` writes is handed to ``hook(temporary
    path, stat)`` once it is complete and fsynced, before it is linked to its final name (the
    sidecar records its intent there, so a kill at any point repeats and loses nothing)."""
    token = _BEFORE_LINK.set(hook)
    try:
        yield
    finally:
        _BEFORE_LINK.reset(token)


def write_atomic(directory: Path, name: str, pieces: Iterator[Any], level: int) -> Path:
    """Compress ``pieces`` into one LZ4 frame in a new file called ``name`` (or with a counter).

    A worker thread compresses and writes (LZ4 and write() release the GIL) while this thread
    encodes the next chunk. The file is placed by :func:`ttlog.files.write_new`.
    """
    where = f"snapshot {name} in {directory}"
    if not directory.is_dir():
        raise SnapshotError(f"cannot write {where}: no such directory")
    try:
        return write_new(directory, name, lambda fd: _compress_to(fd, pieces, level),
                         counter=_with_counter, before_link=_BEFORE_LINK.get())
    except (OSError, MemoryError) as exc:
        why = getattr(exc, "strerror", None) or one_line(exc) or type(exc).__name__
        raise SnapshotError(f"cannot write {where}: {why}") from None


def _compress_to(fd: int, pieces: Iterator[Any], level: int) -> None:
    """Write ``pieces`` to ``fd`` as one LZ4 frame (:func:`ttlog.lz4frame.write_frame`: each piece
    starts a new block, a final ``Trailer`` piece is stored as it is)."""
    write_frame(pieces, lambda parts: _write_all(fd, parts), level)


def _with_counter(name: str, counter: int) -> str:
    if not counter:
        return name
    return f"{name[: -len(SUFFIX)]}.{counter}{SUFFIX}"


def _write_all(fd: int, parts: list[bytes]) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            written = _write_fd(fd, view)
            view = view[written:]


def snapshot_sort_key(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Oldest first: the UTC time in the file name (else the file's mtime), then the name."""
    p = Path(path)
    m = _NAME_TIME.search(p.name)
    if m:
        try:
            secs = calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%S"))
            return int(secs) * 10**9 + int(m.group(2)) * 1000, p.name
        except (ValueError, OverflowError):
            pass
    try:
        return p.stat().st_mtime_ns, p.name
    except OSError:
        return 0, p.name


def list_snapshots(directory: str | os.PathLike[str]) -> list[Path]:
    """The ``*.ttsnap`` regular files in ``directory``, oldest first (a missing directory -> [])."""
    try:
        entries = [Path(e.path) for e in os.scandir(directory)
                   if e.name.endswith(SUFFIX) and not e.name.startswith(".")
                   and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    entries.sort(key=snapshot_sort_key)
    return entries


MANIFEST_NAME = ".ttlog-sidecar-manifest"
"""The snapshots the sidecar wrote into a directory, one ``<inode> <name>`` a line: retention
deletes only these (a file someone else put there is never deleted)."""
_MANIFEST_LINE = re.compile(r"^(\d+) ([^/\x00]+" + re.escape(SUFFIX) + r")$")


def _open_manifest(directory: Path, *, create: bool) -> int | None:
    """The manifest's fd, locked exclusively; None if there is none, or it is not a regular file
    of this user (a planted FIFO or link is never followed nor trusted)."""
    flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_CREAT if create else 0
    try:
        fd = os.open(directory / MANIFEST_NAME, flags, 0o600)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def record_written(directory: str | os.PathLike[str], paths: list[Path]) -> None:
    """Add snapshots this sidecar wrote to the directory's manifest (see :data:`MANIFEST_NAME`)."""
    fd = _open_manifest(Path(directory), create=True)
    if fd is None:
        raise OSError(f"{Path(directory) / MANIFEST_NAME}: not a regular file of this user")
    try:
        lines = []
        for p in paths:
            with contextlib.suppress(OSError):
                lines.append(f"{os.stat(p, follow_symlinks=False).st_ino} {Path(p).name}\n")
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)


def _read_manifest(fd: int) -> dict[str, int]:
    chunks = []
    offset = 0
    while True:
        part = os.pread(fd, 1 << 20, offset)
        if not part:
            break
        chunks.append(part)
        offset += len(part)
    out: dict[str, int] = {}
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        m = _MANIFEST_LINE.match(line)
        if m and not m.group(2).startswith("."):
            out[m.group(2)] = int(m.group(1))
    return out


def written_snapshots(directory: str | os.PathLike[str]) -> list[Path]:
    """The snapshots in ``directory`` that the sidecar wrote (listed in its manifest, still the
    same file, a regular file of this user), oldest first."""
    fd = _open_manifest(Path(directory), create=False)
    if fd is None:
        return []
    try:
        listed = _read_manifest(fd)
    finally:
        os.close(fd)
    return [p for p in list_snapshots(directory) if _is_listed(p, listed)]


def _is_listed(path: Path, listed: dict[str, int]) -> bool:
    ino = listed.get(path.name)
    if ino is None:
        return False
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return st.st_ino == ino and stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def apply_retention(directory: str | os.PathLike[str], *, max_files: int | None = None,
                    max_bytes: int | None = None) -> list[Path]:
    """Delete the oldest snapshots the sidecar wrote (see :func:`written_snapshots`) until at most
    ``max_files`` of them remain, using at most ``max_bytes``; other files are never touched.

    The newest is always kept, even if it alone is larger than ``max_bytes``. Files that vanish
    meanwhile are skipped. The manifest forgets what is gone. Returns the paths deleted.
    """
    directory = Path(directory)
    fd = _open_manifest(directory, create=False)
    if fd is None:
        return []
    try:
        listed = _read_manifest(fd)
        files = [p for p in list_snapshots(directory) if _is_listed(p, listed)]
        sizes = []
        for p in files:
            try:
                sizes.append(p.stat().st_size)
            except OSError:
                sizes.append(0)
        total = sum(sizes)
        count = len(files)
        deleted = []
        for p, size in zip(files[:-1], sizes[:-1], strict=True):
            over_files = max_files is not None and count > max(1, max_files)
            over_bytes = max_bytes is not None and total > max_bytes
            if not (over_files or over_bytes):
                break
            try:
                p.unlink()
                deleted.append(p)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            count -= 1
            total -= size
        kept = {p.name for p in files} - {p.name for p in deleted}
        if len(listed) > 2 * len(kept) + 64:  # forget what is gone, now and then
            body = "".join(f"{listed[name]} {name}\n" for name in sorted(kept))
            with contextlib.suppress(OSError):
                replace_file(directory / MANIFEST_NAME, body.encode())
    finally:
        os.close(fd)
    return deleted


def clean_temp_files(directory: str | os.PathLike[str], *, alive: Callable[[int], bool],
                     keep: Callable[[Path], bool] | None = None) -> list[Path]:
    """Remove temporary snapshot files that writers killed mid-write left behind (see
    :func:`ttlog.files.clean_orphans`); returns them."""
    return clean_orphans(Path(directory), alive=alive, keep=keep)


MAX_HEADER_BYTES = 64 << 20
"""A header (every key before ``strings``) larger than this is refused as not a snapshot's."""


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header keys of a snapshot (every key before ``strings``), unchecked: decompresses and
    decodes only the blocks that hold them, with the engine's own LZ4 and CBOR readers (no
    third-party package). Raises SnapshotError (one line) for a file that cannot be opened or is
    not an LZ4 frame, ValueError (one line) for bytes that are no snapshot header."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            start = fh.read(19)
            if start[:4] != LZ4_MAGIC:
                raise SnapshotError(f"{p}: not a ttlog snapshot (not an LZ4 frame)")
            frame = read_frame_header(start)
            fh.seek(frame.size)
            return _header_from_blocks(iter_blocks(fh, frame), frame)
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot read snapshot: {exc.strerror or exc}") from None


def _header_from_blocks(blocks: Iterator[tuple[int, bool, bytes]], frame: FrameHeader) -> dict[str, Any]:
    """Decode the header keys from the content of ``blocks``, taking only as many as it needs."""
    content = bytearray()
    dec = Decoder(content)
    count: int | None = None
    meta: dict[str, Any] = {}
    next_try = 0  # decode again once this much content is in: linear work, whatever the blocks
    ended = False
    while not ended:
        try:
            _, raw, block = next(blocks)
            content += block_content(frame, raw, block, content[-65536:])
        except StopIteration:
            ended = True
        if len(content) > MAX_HEADER_BYTES:
            raise ValueError(f"no snapshot header in the first {MAX_HEADER_BYTES >> 20} MiB")
        if len(content) < next_try and not ended:
            continue
        try:
            if count is None:
                major, count = dec.head()
                if major != 5:
                    raise ValueError("the content is not a CBOR map")
            while len(meta) < count:
                at = dec.pos
                key = dec.item()
                if isinstance(key, str) and key in HEADER_KEYS_STOP:
                    return meta
                try:
                    meta[key] = dec.item()
                except Incomplete:
                    dec.pos = at
                    raise
            return meta
        except Incomplete:
            next_try = 2 * len(content)
    raise ValueError("the snapshot ends inside its header")
