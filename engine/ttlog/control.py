"""Talking to a shared-memory directory's sidecar from another process: is one running, start
one, ask it for a snapshot, read its status; and the names of the files it keeps there.

Invariants:
- Nothing here blocks on or follows a planted file: the lock, the status file and the request
  directory are opened with O_NOFOLLOW (and O_NONBLOCK) and must be this user's regular file
  (directory).
- A status file is believed only while the process it names is alive.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import ring as R
from .files import read_small
from .reader import pid_alive

__all__ = [
    "LOCK_NAME",
    "REQUEST_DIR",
    "STATUS_NAME",
    "default_snapshot_dir",
    "ensure_sidecar",
    "read_status",
    "request_snapshot",
    "sidecar_running",
]

LOCK_NAME = ".ttlog-sidecar.lock"
STATUS_NAME = ".ttlog-sidecar.json"
REQUEST_DIR = ".ttlog-requests"


def default_snapshot_dir() -> Path:
    env = os.environ.get("TTLOG_SNAPSHOT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ttview" / "snapshots"


def read_status(shm_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The running sidecar's last status for a shm directory, or None if it isn't running."""
    directory = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    try:
        status = json.loads(read_small(directory / STATUS_NAME, 16 << 20))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    pid = status.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    return status


def request_snapshot(shm_dir: str | os.PathLike[str] | None, *, service: str | None, reason: str = "request",
                     path: Path | None = None) -> Path:
    """Ask the sidecar for a snapshot of ``service``'s rings (all rings if None). Raises OSError
    if the request directory cannot be used (it must be this user's directory)."""
    directory = (Path(shm_dir) if shm_dir is not None else R.default_shm_dir()) / REQUEST_DIR
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.stat(directory, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise OSError(errno.EPERM, f"{directory} is not a directory of this user", str(directory))
    name = directory / f"{time.time_ns()}-{os.getpid()}-{os.urandom(3).hex()}.json"
    body = {"service": service, "reason": reason, **({"path": str(path)} if path else {})}
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    return name


def sidecar_running(shm_dir: str | os.PathLike[str]) -> bool:
    """Whether a sidecar holds the lock of ``shm_dir`` (a lock file that is not this user's
    regular file counts as no sidecar; never blocks on a FIFO)."""
    path = Path(shm_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def ensure_sidecar(*, shm_dir: str | os.PathLike[str],
                   snapshot_dir: str | os.PathLike[str] | None = None) -> bool:
    """Start a sidecar for ``shm_dir`` unless one runs; True if one was started. The sidecar
    started here exits once nothing is left to drain in ``shm_dir`` (``--exit-when-idle``)."""
    if sidecar_running(shm_dir):
        return False
    snap = Path(snapshot_dir) if snapshot_dir is not None else default_snapshot_dir()
    snap.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_fd = _open_log(snap / "sidecar.log")
    cmd = [sys.executable, "-m", "ttlog.sidecar", "--shm-dir", str(shm_dir), "--snapshot-dir", str(snap),
           "--exit-when-idle"]
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, start_new_session=True,
                         close_fds=True, env=env)
    finally:
        if log_fd != subprocess.DEVNULL:
            os.close(log_fd)
    return True


def _open_log(path: Path) -> int:
    """The sidecar's log file for appending, or DEVNULL if ``path`` is not a regular file of this
    user (a FIFO there must not block the producer's ``init``)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError:
        return subprocess.DEVNULL
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        return subprocess.DEVNULL
    return fd
