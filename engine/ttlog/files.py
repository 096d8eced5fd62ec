"""Files that appear whole: "write under a temporary name in the same directory, fsync, then link
(never replace) or rename", once, for snapshots, the sidecar's status file and ``ttview export -o``.

Invariants:
- A file reaches its final name only complete and fsynced, and its directory is fsynced after.
- :func:`write_new` and :func:`link_new` never replace anything: a taken name gets a counter.
- :func:`replace_file` renames over a regular file (or nothing); :func:`open_output` writes
  through to what is not a regular file (a device, a FIFO), refuses a symbolic link and a
  directory, and replaces a regular file atomically.
- Temporary names are ``.<final name>.<pid>.<8 hex>.tmp`` (mode 0600, O_EXCL | O_NOFOLLOW); a
  failure removes the temporary file; :func:`clean_orphans` removes only such files of processes
  that are gone, only regular files owned by this user.
- Nothing here imports anything but the standard library.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OutputError",
    "OutputFile",
    "TEMP_RE",
    "clean_orphans",
    "describe_mode",
    "fsync_dir",
    "link_new",
    "open_output",
    "read_small",
    "replace_file",
    "temp_name",
    "with_counter",
    "write_new",
]

TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d{1,10})\.[0-9a-f]{8}\.tmp$")
"""Temporary names made by :func:`temp_name`: the final name and the pid of the writer."""
LEGACY_TEMP_RE = re.compile(r"^\.(?P<name>.+\.ttsnap)\.[0-9a-f]{12}\.tmp$")
"""Temporary snapshot names of engines before this one (no pid): removed once an hour old."""
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputError(Exception):
    """An output target that cannot be written; the message is one line for the user."""


def temp_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"


def with_counter(name: str, counter: int) -> str:
    """``a.ttsnap``, 2 -> ``a.2.ttsnap`` (the counter goes before the last suffix)."""
    if not counter:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{counter}.{suffix}" if dot and stem else f"{name}.{counter}"


def fsync_dir(directory: Path) -> None:
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


def _create_temp(directory: Path, name: str, mode: int) -> tuple[int, Path]:
    tmp = directory / temp_name(name)
    return os.open(tmp, _CREATE, mode), tmp


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def link_new(src: Path, directory: Path, name: str, *,
             counter: Callable[[str, int], str] = with_counter) -> Path:
    """Give the complete file ``src`` the first free name among ``name``, ``counter(name, 1)``, ...
    in ``directory`` (a hard link; never replacing a file), then fsync the directory. ``src``
    keeps its own name. Where hard links are not supported, ``src`` is renamed instead (only onto
    a name that is free). Raises OSError."""
    n = 0
    while True:
        candidate = directory / counter(name, n)
        try:
            os.link(src, candidate, follow_symlinks=False)
            break
        except FileExistsError:
            n += 1
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(candidate):
                n += 1
                continue
            os.rename(src, candidate)  # no hard links on this file system
            break
    try:
        fsync_dir(directory)
    except OSError:
        _unlink_quietly(candidate)  # not known to be on disk: as if it never appeared
        raise
    return candidate


def write_new(directory: Path, name: str, write: Callable[[int], None], *, mode: int = 0o600,
              counter: Callable[[str, int], str] = with_counter,
              before_link: Callable[[Path, os.stat_result], None] | None = None) -> Path:
    """Create a new file in ``directory`` called ``name`` (or ``counter(name, n)`` if taken):
    ``write(fd)`` fills a temporary file, which is fsynced, handed to ``before_link(path, stat)``
    if given (the sidecar records it there before it has a final name), and linked into place.
    Returns the final path; raises OSError (the temporary file is gone either way)."""
    fd, tmp = _create_temp(directory, name, mode)
    try:
        try:
            write(fd)
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if before_link is not None:
            before_link(tmp, st)
        return link_new(tmp, directory, name, counter=counter)
    finally:
        _unlink_quietly(tmp)


def replace_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``. Raises
    OSError; the temporary file is gone either way."""
    fd, tmp = _create_temp(path.parent, path.name, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    finally:
        _unlink_quietly(tmp)


def clean_orphans(directory: Path, *, alive: Callable[[int], bool], legacy_age: float = 3600.0,
                  keep: Callable[[Path], bool] | None = None) -> list[Path]:
    """Remove temporary files of writers that are gone: names made by :func:`temp_name` whose pid
    is not ``alive``, and older temporary snapshot names (no pid) at least ``legacy_age`` seconds
    old. Only regular files owned by this user, never one ``keep`` wants. Returns what went."""
    removed: list[Path] = []
    uid = os.geteuid()
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = TEMP_RE.match(entry.name)
        legacy = None if m else LEGACY_TEMP_RE.match(entry.name)
        if not m and not legacy:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            continue
        path = Path(entry.path)
        if keep is not None and keep(path):
            continue
        if m and (int(m.group("pid")) == os.getpid() or alive(int(m.group("pid")))):
            continue
        if legacy and now - st.st_mtime < legacy_age:
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


class OutputFile:
    """A command's output file: write to ``fh``, then ``commit()``; ``discard()`` undoes an
    uncommitted one (see :func:`open_output`)."""

    def __init__(self, path: Path, fh: IO[bytes], tmp: Path | None, mode: int | None) -> None:
        self.path = path
        self.fh = fh
        self.tmp = tmp
        self.mode = mode

    def commit(self) -> None:
        self.fh.flush()
        if self.tmp is None:
            self.fh.close()
            return
        os.fsync(self.fh.fileno())
        if self.mode is not None:
            os.fchmod(self.fh.fileno(), self.mode)
        self.fh.close()
        os.rename(self.tmp, self.path)
        self.tmp = None
        fsync_dir(self.path.parent)

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        if self.tmp is not None:
            _unlink_quietly(self.tmp)
            self.tmp = None


def open_output(target: Path) -> OutputFile:
    """An output file for a command's result: write to ``out.fh``, then ``out.commit()``; call
    ``out.discard()`` in any case (it undoes an uncommitted file).

    - a new name or a regular file: written under a temporary name beside it and renamed over it
      by ``commit()`` (a regular file keeps its permission bits; a new one gets 0666 less the
      umask); nothing changes if the command fails before ``commit()``;
    - a device, a FIFO or anything else that is not a regular file: opened and written through
      (``-o /dev/null`` stays /dev/null);
    - a symbolic link or a directory: refused (OutputError): a link is never replaced, nor
      written through.
    """
    try:
        st: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise OutputError(f"cannot write {target}: it is a symbolic link (give the file it points to)")
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {target}: it is a directory")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            return OutputFile(target, os.fdopen(fd, "wb"), None, None)
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        fd, tmp = _create_temp(target.parent, target.name, 0o600)
        return OutputFile(target, os.fdopen(fd, "wb"), tmp, mode)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_small(path: Path, limit: int = 1 << 20) -> bytes:
    """The bytes of a small regular file (at most ``limit``), never blocking on a FIFO nor
    following a symbolic link. Raises OSError (ValueError-free)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.read(fd, limit)
    finally:
        os.close(fd)


def describe_mode(st: Any) -> str:
    """``a FIFO``, ``a directory``, ... for a one-line message about a file of the wrong kind."""
    mode = st.st_mode
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return what
    return "not a regular file"
