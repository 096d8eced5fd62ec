"""Snapshot files on disk: names, atomic LZ4-framed writes, listing, retention, the header.

Invariants:
- A snapshot appears under its final name only when complete and on disk: it is written to a
  temporary file (O_EXCL, O_NOFOLLOW, mode 0600) in the same directory, fsynced, linked to its
  final name and the directory fsynced. A failed write raises :class:`SnapshotError` (one line)
  and leaves no temporary file behind.
- An existing file is never replaced: a name that is taken gets a counter.
- No UI library, no polars, no numpy, no third-party package here.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .cbor import Decoder, Incomplete
from .lz4frame import MAGIC as LZ4_MAGIC
from .lz4frame import FrameHeader, block_content, iter_blocks, read_frame_header, write_frame

__all__ = [
    "SUFFIX",
    "SnapshotError",
    "apply_retention",
    "list_snapshots",
    "read_header",
    "snapshot_filename",
    "snapshot_sort_key",
    "write_atomic",
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


def write_atomic(directory: Path, name: str, pieces: Iterator[Any], level: int) -> Path:
    """Compress ``pieces`` into one LZ4 frame in a new file called ``name`` (or with a counter).

    A worker thread compresses and writes (LZ4 and write() release the GIL) while this thread
    encodes the next chunk.
    """
    where = f"snapshot {name} in {directory}"
    if not directory.is_dir():
        raise SnapshotError(f"cannot write {where}: no such directory")
    tmp = directory / f".{name}.{os.urandom(6).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise SnapshotError(f"cannot write {where}: {exc.strerror or exc}") from None
    final = None
    try:
        try:
            _compress_to(fd, pieces, level)
            os.fsync(fd)
        finally:
            os.close(fd)
        counter = 0
        while True:
            candidate = directory / _with_counter(name, counter)
            try:
                os.link(tmp, candidate)
                final = candidate
                break
            except FileExistsError:
                counter += 1
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if candidate.exists() or candidate.is_symlink():  # no hard links here: rename
                    counter += 1
                    continue
                os.rename(tmp, candidate)
                final = candidate
                break
        _fsync_dir(directory)
    except (OSError, MemoryError) as exc:
        if final is not None:
            try:
                final.unlink()
            except OSError:
                pass
        why = getattr(exc, "strerror", None) or one_line(exc) or type(exc).__name__
        raise SnapshotError(f"cannot write {where}: {why}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return final


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


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(dfd)


def snapshot_sort_key(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Oldest first: the UTC time in the file name (else the file's mtime), then the name."""
    p = Path(path)
    m = _NAME_TIME.search(p.name)
    if m:
        try:
            secs = time.mktime(time.strptime(m.group(1), "%Y%m%dT%H%M%S")) - time.timezone
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


def apply_retention(directory: str | os.PathLike[str], *, max_files: int | None = None,
                    max_bytes: int | None = None) -> list[Path]:
    """Delete the oldest snapshots until at most ``max_files`` remain, using at most ``max_bytes``.

    The newest snapshot is always kept, even if it alone is larger than ``max_bytes``. Files
    that vanish meanwhile are skipped. Returns the paths deleted.
    """
    files = list_snapshots(directory)
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
    return deleted



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
