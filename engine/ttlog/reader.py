"""Reading rings: ring files (finding them, checking them), a peek reader that never moves
anything, and a consuming reader.

Invariants:
- A reader never writes to a ring, except a consuming reader's own fields (read position,
  read seq, drained and lost counts, sidecar pid and heartbeat), and only through its methods.
- Only the header page is mapped; records and strings are read with ``pread`` after an
  ``fstat`` shows the file whole, so a ring truncated under a reader is a RingError (one line),
  never a SIGBUS. A header whose positions cannot be right is a RingError too, never an
  exception of another kind or an allocation of its size.
- A record is returned only if it was committed (below ``write_pos``, or, for a dead producer,
  the one record it committed but had not yet published) and was not overwritten while it was
  being read (``tail_pos`` loaded after the copy is at or below its start).
- A torn, corrupt or overwritten record is skipped and counted, never returned, never raised; so
  is a record naming a string id beyond the ring's string table.
- Records are returned in ring order; ``seq`` gaps are records lost to overwrite, and counted.
- The rings of a directory are this user's regular, single-link files named like rings; other
  files with such names are listed apart (:func:`scan_rings`), never read as rings by the sidecar.
"""

from __future__ import annotations

import array
import bisect
import mmap
import os
import stat as stat_mod
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ring as R
from ._native import C as _C
from .files import describe_mode

KIND_NAMES = {
    R.K_INT: "int",
    R.K_FLOAT: "float",
    R.K_TRUE: "bool",
    R.K_FALSE: "bool",
    R.K_NONE: "none",
    R.K_STR: "str",
    R.K_BYTES: "bytes",
    R.K_OBJ: "obj",
}

_HDR = struct.Struct("<IIQqIIIBBH")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_KEYID = struct.Struct("<BI")


def py_decode(buf: Any, start_pos: int) -> dict[str, Any]:
    """Decode the records in ``buf``, a linear copy of ring bytes starting at ring ``start_pos``.

    Returns columns (see docs/FORMAT.md, "Decoded batches"); the C ``_ring.decode`` returns the
    identical structure, faster.
    """
    mv = memoryview(buf).cast("B")
    size = len(mv)
    seq = bytearray()
    ts = bytearray()
    tid = bytearray()
    logger = bytearray()
    message = bytearray()
    level = bytearray()
    inline: list[tuple[int, str, bool]] = []
    fields_cut: list[int] = []
    columns: dict[tuple[Any, str], Any] = {}
    strings: dict[tuple[Any, str], dict[bytes, int]] = {}
    off = 0
    n = 0
    error: str | None = None
    while off + 8 <= size:
        pos = start_pos + off
        length, commit = struct.unpack_from("<II", mv, off)
        if commit == R.pad_marker(pos) and length >= 8 and length % 8 == 0:
            if off + length > size:
                break
            off += length
            continue
        if commit != R.marker(pos) or length < R.REC_HEADER or length % 8:
            error = f"bad record at ring position {pos} (length {length}, commit {commit:#010x})"
            break
        if off + length > size:
            break
        _, _, r_seq, r_ts, r_tid, r_logger, r_msg, r_level, r_flags, r_nf = _HDR.unpack_from(mv, off)
        inline_msg, row_fields, why = _record_body(mv, off + R.REC_HEADER, off + length, r_flags, r_nf)
        if why is not None:
            error = f"bad record at ring position {pos}: {why}"
            break
        end = off + length
        row = n
        seq += struct.pack("<Q", r_seq)
        ts += struct.pack("<q", r_ts)
        tid += struct.pack("<I", r_tid)
        logger += struct.pack("<I", r_logger)
        message += struct.pack("<I", r_msg)
        level.append(r_level)
        if inline_msg is not None:
            inline.append((row, inline_msg[0], inline_msg[1]))
        if r_flags & R.RF_FIELDS_CUT:
            fields_cut.append(row)
        for key, kname, tbyte, value in row_fields:
            _append(columns, strings, key, kname, row, tbyte, value)
        n += 1
        off = end
    return {
        "n": n,
        "end": start_pos + off,
        "error": error,
        "seq": seq,
        "ts": ts,
        "tid": tid,
        "logger": logger,
        "message": message,
        "level": level,
        "inline": inline,
        "fields_cut": fields_cut,
        "columns": columns,
    }


_PAST = "field runs past its record"


def _record_body(
    mv: memoryview, p: int, end: int, flags: int, nfields: int
) -> tuple[tuple[str, bool] | None, list[tuple[Any, str, int, Any]], str | None]:
    """The inline message (text, cut) and the fields (key, kind name, type byte, value bytes) of
    the record body ``mv[p:end]``, or why the record is bad. These checks, their order and their
    words are the C decoder's too: nothing is read past the record's end."""
    inline_msg = None
    if flags & R.RF_MSG_INLINE:
        if p + 4 > end:
            return None, [], "message runs past its record"
        (mlen,) = _U32.unpack_from(mv, p)
        if p + 4 + mlen > end:
            return None, [], "message runs past its record"
        inline_msg = (bytes(mv[p + 4 : p + 4 + mlen]).decode("utf-8", "replace"), bool(flags & R.RF_MSG_CUT))
        p += 4 + mlen
    fields: list[tuple[Any, str, int, Any]] = []
    for _ in range(nfields):
        if p + 1 > end:
            return None, [], _PAST
        tbyte = mv[p]
        if tbyte & R.T_KEY_INLINE:
            if p + 3 > end:
                return None, [], _PAST
            (klen,) = _U16.unpack_from(mv, p + 1)
            key: Any = bytes(mv[p + 3 : p + 3 + klen]).decode("utf-8", "replace")
            p += 3 + klen
        else:
            if p + 5 > end:
                return None, [], _PAST
            key = _KEYID.unpack_from(mv, p)[1]
            p += 5
        kind = tbyte & R.KIND_MASK
        if kind in (R.K_INT, R.K_FLOAT):
            if p + 8 > end:
                return None, [], _PAST
            value: Any = bytes(mv[p : p + 8])
            p += 8
        elif kind in (R.K_TRUE, R.K_FALSE, R.K_NONE):
            value = kind == R.K_TRUE
        elif kind in (R.K_STR, R.K_BYTES, R.K_OBJ):
            if p + 4 > end:
                return None, [], _PAST
            (vlen,) = _U32.unpack_from(mv, p)
            value = bytes(mv[p + 4 : p + 4 + vlen])
            p += 4 + vlen
        else:
            return None, [], f"unknown field kind {kind}"
        if p > end:
            return None, [], _PAST
        fields.append((key, KIND_NAMES[kind], tbyte, value))
    return inline_msg, fields, None


def _append(columns: dict, strings: dict, key: Any, kname: str, row: int, tbyte: int, value: Any) -> None:
    ck = (key, kname)
    col = columns.get(ck)
    if col is None:
        if kname in ("int", "float", "bool"):
            values: Any = bytearray()
        elif kname == "none":
            values = None
        elif kname in ("str", "obj"):
            values = (bytearray(), [])
            strings[ck] = {}
        else:
            values = []
        col = columns[ck] = (bytearray(), values, [])
    rows, values, cut_rows = col
    replace = len(rows) >= 4 and _U32.unpack_from(rows, len(rows) - 4)[0] == row
    cut = bool(tbyte & R.T_CUT)
    if replace:
        if cut_rows and cut_rows[-1] == row:
            cut_rows.pop()
    else:
        rows += _U32.pack(row)
    if cut:
        cut_rows.append(row)
    if kname in ("int", "float"):
        if replace:
            values[-8:] = value
        else:
            values += value
    elif kname == "bool":
        if replace:
            values[-1] = int(value)
        else:
            values.append(int(value))
    elif kname in ("str", "obj"):
        codes, uniques = values
        index = strings[ck]
        code = index.get(value)
        if code is None:
            code = index[value] = len(uniques)
            uniques.append(value.decode("utf-8", "replace"))
        if replace:
            codes[-4:] = _U32.pack(code)
        else:
            codes += _U32.pack(code)
    elif kname == "bytes":
        if replace:
            values[-1] = value
        else:
            values.append(value)


# the C batch decoder unless the one switch (ttlog._native: TTLOG_PURE_PYTHON, or no build) says the twin
decode = _C.decode if _C is not None else py_decode


# ---- string table -------------------------------------------------------------------------------


class StringTable:
    """Ids -> text for one ring, read incrementally as the producer appends (from the ring, or
    from the sidecar's copy of its table in a spool)."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {0: ""}
        self.kinds: dict[int, int] = {}
        self._read_to = R.STRTAB_FIRST

    @property
    def read_to(self) -> int:
        """Bytes of the table read so far; every id below ``read_to >> 3`` that names an entry is known."""
        return self._read_to

    def feed(self, raw: bytes | memoryview, used: int) -> None:
        """Take the table's bytes ``[read_to, used)`` (``raw`` holds exactly those bytes)."""
        off = self._read_to
        base = off
        while off + 8 <= used:
            n, kind = struct.unpack_from("<II", raw, off - base)
            size = (8 + n + 7) & ~7
            if n > used or off + size > used:
                break
            start = off - base + 8
            self.texts[off >> 3] = bytes(raw[start : start + n]).decode("utf-8", "replace")
            self.kinds[off >> 3] = kind
            off += size
        self._read_to = off

    def get(self, sid: int) -> str:
        return self.texts.get(sid, f"<string {sid}?>")


# ---- ring info ----------------------------------------------------------------------------------


@dataclass
class RingInfo:
    """What a ring's header says, plus whether its producer still runs."""

    path: Path
    service: str
    host: str
    pid: int
    start_ns: int
    overwrite: bool
    capacity: int
    state: int
    min_level: int
    write_pos: int
    tail_pos: int
    read_pos: int
    seq_next: int
    dropped: int
    drained: int
    lost: int
    sidecar_pid: int
    sidecar_beat_ns: int
    snap_req: int
    alive: bool
    reserve_pos: int = 0
    read_seq: int = 0
    strtab_used: int = 0

    @property
    def fill(self) -> float:
        """Fraction of the ring holding records the sidecar has not drained."""
        if not self.capacity:
            return 0.0
        return min(1.0, max(0, self.write_pos - max(self.read_pos, self.tail_pos)) / self.capacity)

    @property
    def lag_bytes(self) -> int:
        return max(0, self.write_pos - self.read_pos)

    @property
    def closed(self) -> bool:
        return self.state == R.STATE_CLOSED


PID_MAX = (1 << 22)  # Linux's largest pid_max; no process has a larger pid


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not). Any number is fine: a pid no process can
    have (0, negative, 2**62) is not alive."""
    if not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    try:  # a zombie (exited, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat_line = fh.read()
        return stat_line[stat_line.rindex(b")") + 2 : stat_line.rindex(b")") + 3] not in (b"Z", b"X")
    except (OSError, ValueError):
        return True


def _text(mm: Any, off: int, size: int) -> str:
    return bytes(mm[off : off + size]).split(b"\0", 1)[0].decode("utf-8", "replace")


def load_u64(mm: Any, off: int) -> int:
    """One aligned 8-byte load of a header word.

    ``struct.pack_into`` zero-fills its target before it writes the value, so a position stored
    with it can be seen as 0 by another process (and stays 0 if the writer is killed in between);
    a store to a memoryview of 8-byte words is a single access. Only the header is viewed as
    words: the file may be longer than its header says, by any number of bytes.
    """
    with memoryview(mm) as raw, raw[: R.HEADER_SIZE] as head, head.cast("Q") as words:
        return int(words[off >> 3])


def store_u64(mm: Any, off: int, value: int) -> None:
    """One aligned 8-byte store of a header word (see load_u64)."""
    with memoryview(mm) as raw, raw[: R.HEADER_SIZE] as head, head.cast("Q") as words:
        words[off >> 3] = value


def header_info(mm: Any, path: Path) -> RingInfo:
    u64 = lambda off: load_u64(mm, off)  # noqa: E731
    i64 = lambda off: struct.unpack_from("<q", mm, off)[0]  # noqa: E731
    u32 = lambda off: struct.unpack_from("<I", mm, off)[0]  # noqa: E731
    pid = i64(R.H_PID)
    state = u32(R.H_STATE)
    return RingInfo(
        path=path,
        service=_text(mm, R.H_SERVICE, 64),
        host=_text(mm, R.H_HOST, 64),
        pid=pid,
        start_ns=i64(R.H_START_NS),
        overwrite=bool(u32(R.H_FLAGS) & R.FLAG_OVERWRITE),
        capacity=u64(R.H_DATA_CAP),
        state=state,
        min_level=u32(R.H_MIN_LEVEL),
        write_pos=u64(R.H_WRITE_POS),
        tail_pos=u64(R.H_TAIL_POS),
        read_pos=u64(R.H_READ_POS),
        seq_next=u64(R.H_SEQ_NEXT),
        dropped=u64(R.H_DROPPED),
        drained=u64(R.H_DRAINED),
        lost=u64(R.H_LOST),
        sidecar_pid=i64(R.H_SIDECAR_PID),
        sidecar_beat_ns=i64(R.H_SIDECAR_BEAT),
        snap_req=u64(R.H_SNAP_REQ),
        alive=state != R.STATE_CLOSED and pid_alive(pid),
        reserve_pos=u64(R.H_RESERVE_POS),
        read_seq=u64(R.H_READ_SEQ),
        strtab_used=u64(R.H_STRTAB_USED),
    )


POSITION_LIMIT = 1 << 62
"""Positions and counts at or above this are a corrupt header (a producer writing 1 GB/s would
need 146 years to get there)."""


def header_problem(info: RingInfo, geo: R.Geometry) -> str | None:
    """Why a ring's header cannot be trusted, or None. Only what holds at every instant of a live
    producer is checked (the producer's fields are read one at a time while it writes)."""
    for name in ("write_pos", "reserve_pos", "tail_pos", "read_pos", "seq_next", "read_seq", "dropped"):
        value = getattr(info, name)
        if value >= POSITION_LIMIT:
            return f"{name} {value} is beyond any ring's reach"
    for name in ("write_pos", "tail_pos", "read_pos"):
        if getattr(info, name) % 8:
            return f"{name} {getattr(info, name)} is not a multiple of 8"
    if info.read_pos > max(info.write_pos, info.reserve_pos):  # a dead producer's last record counts
        return f"read_pos {info.read_pos} is beyond write_pos {info.write_pos}"
    if not info.overwrite and info.write_pos - info.read_pos > geo.capacity:
        return f"write_pos {info.write_pos} is more than a ring ahead of read_pos {info.read_pos}"
    if info.strtab_used > geo.strtab_cap:
        return f"strtab_used {info.strtab_used} is beyond the string table's {geo.strtab_cap} bytes"
    return None


# ---- ring files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A file named like a ring that is not one this user's readers take, and why."""

    path: Path
    reason: str
    ino: int = 0


def _candidate_problem(st: os.stat_result) -> str | None:
    """Why a file named like a ring is not a ring of this user (None: it may be one)."""
    if not stat_mod.S_ISREG(st.st_mode):
        return f"{describe_mode(st)}, not a ring file"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
    if st.st_nlink != 1:
        return f"has {st.st_nlink} hard links (a ring has one)"
    return None


def scan_rings(shm_dir: str | os.PathLike[str] | None = None) -> tuple[list[Path], list[Skipped]]:
    """The ring files of this user in a shared-memory directory, oldest first, and the files named
    like rings that are not (another user's, a symbolic link, a hard link, a FIFO, ...). Only
    names and ``lstat`` are looked at; a missing directory -> ([], [])."""
    directory = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    try:
        entries = [e for e in os.scandir(directory) if R.is_ring_filename(e.name)]
    except OSError:
        return [], []
    rings: list[tuple[int, str, Path]] = []
    skipped: list[Skipped] = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        problem = _candidate_problem(st)
        if problem:
            skipped.append(Skipped(Path(entry.path), problem, st.st_ino))
        else:
            rings.append((st.st_mtime_ns, entry.name, Path(entry.path)))
    rings.sort()
    return [p for _, _, p in rings], sorted(skipped, key=lambda s: s.path.name)


def list_rings(shm_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Ring files of this user in a shared-memory directory, oldest first (see :func:`scan_rings`)."""
    return scan_rings(shm_dir)[0]


class RingFile:
    """One ring file opened for reading: the header page is mapped (single 8-byte loads, and for
    the sidecar single stores of its own fields), everything else is read with ``pread``. A file
    truncated under the reader is found by ``fstat`` before each access and reported
    (RingError), so reading never faults (SIGBUS) on a page that is gone.
    """

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = False) -> None:
        self.path = Path(path)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise R.RingError(f"{self.path}: cannot open ring: {exc.strerror or exc}") from None
        self._fd: int | None = fd
        self._mm: mmap.mmap | None = None
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise R.RingError(f"{self.path}: {describe_mode(st)}, not a ring file")
            # the sidecar writes its fields into the ring and deletes it at the end: only this
            # user's single-link rings; a peek reader reads any regular file it can open
            problem = _candidate_problem(st) if writable else None
            if problem is not None:
                raise R.RingError(f"{self.path}: {problem}")
            self.ino = st.st_ino
            if st.st_size < R.HEADER_SIZE:
                raise R.RingError(f"{self.path}: not a ttlog ring (file too small)")
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self._mm = mmap.mmap(fd, R.HEADER_SIZE, access=access)
            self.geo = R.read_geometry(self._mm, str(self.path), st.st_size)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def closed_file(self) -> bool:
        return self._fd is None

    @property
    def fd(self) -> int:
        assert self._fd is not None, "ring file closed"
        return self._fd

    def check(self) -> None:
        """RingError if the file is now shorter than its header says (truncated under us)."""
        size = os.fstat(self.fd).st_size
        if size < self.geo.file_size:
            raise R.RingError(f"{self.path.name}: truncated to {size} bytes while being read "
                              f"(it had {self.geo.file_size})")

    # every access to the mapped header checks first that the file is still whole
    def u64(self, off: int) -> int:
        self.check()
        assert self._mm is not None, "ring file closed"
        return load_u64(self._mm, off)

    def u32(self, off: int) -> int:
        self.check()
        assert self._mm is not None, "ring file closed"
        return int(struct.unpack_from("<I", self._mm, off)[0])

    def store_u64(self, off: int, value: int) -> None:
        self.check()
        assert self._mm is not None, "ring file closed"
        store_u64(self._mm, off, value)

    def info(self) -> RingInfo:
        self.check()
        assert self._mm is not None, "ring file closed"
        return header_info(self._mm, self.path)

    def pread_into(self, out: memoryview, offset: int) -> None:
        """Fill ``out`` from file offset ``offset``; RingError if the file ends first."""
        done = 0
        n = len(out)
        while done < n:
            got = os.preadv(self.fd, [out[done:]], offset + done)
            if got <= 0:
                raise R.RingError(f"{self.path.name}: truncated while being read")
            done += got

    def read_data(self, start: int, out: memoryview) -> None:
        """Ring positions ``[start, start + len(out))`` into ``out`` (across the wrap)."""
        geo = self.geo
        n = len(out)
        first = min(n, geo.capacity - (start & geo.mask))
        self.pread_into(out[:first], geo.data_off + (start & geo.mask))
        if first < n:
            self.pread_into(out[first:n], geo.data_off)

    def read_strtab(self, table: StringTable, used: int) -> None:
        """Bring ``table`` up to ``used`` bytes of this ring's string table."""
        used = min(used, self.geo.strtab_cap)
        if used <= table.read_to:
            return
        raw = bytearray(used - table.read_to)
        self.pread_into(memoryview(raw), self.geo.strtab_off + table.read_to)
        table.feed(raw, used)

    def string(self, sid: int) -> str | None:
        """The text of string ``sid`` in this ring's table, or None (0, out of range, torn)."""
        used = min(self.u64(R.H_STRTAB_USED), self.geo.strtab_cap)
        off = sid * 8
        if sid <= 0 or off + 8 > used:
            return None
        head = bytearray(8)
        self.pread_into(memoryview(head), self.geo.strtab_off + off)
        n = struct.unpack_from("<I", head)[0]
        if off + 8 + n > used:
            return None
        raw = bytearray(n)
        self.pread_into(memoryview(raw), self.geo.strtab_off + off + 8)
        return raw.decode("utf-8", "replace")

    def unpublished_end(self, write_pos: int) -> int:
        """For a dead producer: the end of a record it committed but never published, else write_pos.

        The producer stores reserve_pos before writing and write_pos after the commit word; a
        record between them counts only if its commit word is right and it ends exactly at
        reserve_pos.
        """
        geo = self.geo
        reserve = self.u64(R.H_RESERVE_POS)
        if reserve <= write_pos or reserve - write_pos > geo.capacity or reserve >= POSITION_LIMIT:
            return write_pos
        head = bytearray(8)
        p = write_pos
        self.read_data(p, memoryview(head))
        length, commit = struct.unpack_from("<II", head)
        if commit == R.pad_marker(p) and length == geo.capacity - (p & geo.mask):
            p += length
            if p >= reserve:
                return write_pos
            self.read_data(p, memoryview(head))
            length, commit = struct.unpack_from("<II", head)
        if commit == R.marker(p) and p + length == reserve and length >= R.REC_HEADER and length % 8 == 0:
            return reserve
        return write_pos


# ---- batches ------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Records decoded from one ring, as columns, with the strings needed to resolve them."""

    info: RingInfo
    cols: dict[str, Any]
    strings: StringTable
    lost: int = 0  # records missing from the sequence before and in this batch (overwritten, or corrupt)
    corrupt: int = 0  # times decoding hit a bad record and skipped ahead
    dropped: int = 0  # records the producer dropped that this batch reports (see docs/FORMAT.md)

    def __len__(self) -> int:
        return int(self.cols["n"])

    def key_name(self, key_ref: Any) -> str:
        return key_ref if isinstance(key_ref, str) else self.strings.get(key_ref)

    def events(self) -> Iterator[dict[str, Any]]:
        """Row-wise dicts (slow; for tests, small exports and the detail view)."""
        c = self.cols
        n = c["n"]
        seqs = struct.unpack(f"<{n}Q", c["seq"])
        tss = struct.unpack(f"<{n}q", c["ts"])
        tids = struct.unpack(f"<{n}I", c["tid"])
        loggers = struct.unpack(f"<{n}I", c["logger"])
        msgs = struct.unpack(f"<{n}I", c["message"])
        inline = {row: (text, cut) for row, text, cut in c["inline"]}
        per_row: list[dict[str, Any]] = [{} for _ in range(n)]
        cut_rows: list[set[str]] = [set() for _ in range(n)]
        for (key_ref, kname), (rows_b, values, cuts) in c["columns"].items():
            key = self.key_name(key_ref)
            rows = struct.unpack(f"<{len(rows_b) // 4}I", rows_b)
            vals = _column_values(kname, values, len(rows))
            for row, val in zip(rows, vals, strict=True):
                per_row[row][key] = val
            for row in cuts:
                cut_rows[row].add(key)
        for i in range(n):
            text, cut = inline.get(i, (None, False))
            yield {
                "seq": seqs[i],
                "ts": tss[i],
                "tid": tids[i],
                "level": c["level"][i],
                "logger": self.strings.get(loggers[i]),
                "message": text if text is not None else self.strings.get(msgs[i]),
                "message_cut": cut,
                "fields": per_row[i],
                "cut_fields": cut_rows[i],
                "pid": self.info.pid,
                "service": self.info.service,
            }


@dataclass(frozen=True)
class ObjText:
    """A field value that was stored as the text of an object of another type (kind ``obj``)."""

    text: str


def _column_values(kname: str, values: Any, count: int) -> list[Any]:
    if kname == "int":
        return list(struct.unpack(f"<{count}q", values))
    if kname == "float":
        return list(struct.unpack(f"<{count}d", values))
    if kname == "bool":
        return [bool(b) for b in values]
    if kname == "none":
        return [None] * count
    if kname == "str":
        codes, uniques = values
        return [uniques[c] for c in struct.unpack(f"<{count}I", codes)]
    if kname == "obj":
        codes, uniques = values
        return [ObjText(uniques[c]) for c in struct.unpack(f"<{count}I", codes)]
    return list(values)


def _max_uint(raw: Any, count: int, width: int) -> int:
    """The largest of ``count`` little-endian unsigned ints of ``width`` bytes (4 or 8) in ``raw``."""
    if not count:
        return 0
    try:
        import numpy

        return int(numpy.frombuffer(raw, f"<u{width}", count=count).max())
    except ImportError:  # pragma: no cover - ttlog runs without numpy; the sidecar has it
        return max(struct.unpack(f"<{count}{'I' if width == 4 else 'Q'}", bytes(raw[: count * width])))


def first_bad_row(cols: dict[str, Any], limit: int) -> int | None:
    """The first row that cannot be a record a producer wrote, or None: its logger, message or a
    field key names a string id at or beyond ``limit`` (no such string exists yet), or its seq
    is at or beyond :data:`POSITION_LIMIT`. ``limit`` is the string table's bytes read
    (``StringTable.read_to``) / 8."""
    n = int(cols["n"])
    bad: int | None = None
    if _max_uint(cols["seq"], n, 8) >= POSITION_LIMIT:
        seqs = struct.unpack(f"<{n}Q", cols["seq"][: n * 8])
        bad = next(i for i, v in enumerate(seqs) if v >= POSITION_LIMIT)
    for name in ("logger", "message"):
        if _max_uint(cols[name], n, 4) >= limit:
            ids = struct.unpack(f"<{n}I", cols[name][: n * 4])
            row = next(i for i, v in enumerate(ids) if v >= limit)
            bad = row if bad is None else min(bad, row)
    for (key_ref, _), (rows_b, _, _) in cols["columns"].items():
        if isinstance(key_ref, int) and key_ref >= limit and len(rows_b) >= 4:
            row = struct.unpack_from("<I", rows_b, 0)[0]
            bad = row if bad is None else min(bad, row)
    return bad


def seq_span(cols: dict[str, Any]) -> tuple[int, int] | None:
    """The first and last seq of decoded columns, or None if they hold no record."""
    n = int(cols["n"])
    if not n:
        return None
    return struct.unpack_from("<Q", cols["seq"], 0)[0], struct.unpack_from("<Q", cols["seq"], (n - 1) * 8)[0]


def empty_cols(pos: int) -> dict[str, Any]:
    """Decoded columns holding no record (a batch that only reports counts)."""
    return decode(b"", pos)


# ---- readers ------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    pos: int
    seq: int
    lost: int = 0
    corrupt: int = 0
    dropped_seen: int = 0


class RingReader:
    """Reads the records of one ring file.

    ``consume=False`` (peek): starts at the oldest record still in the ring (or at the newest,
    with ``from_end=True``) and keeps its position to itself.
    ``consume=True``: starts at the header's read position; ``commit()`` stores how far records
    have been made safe, so another consuming reader resumes exactly there.

    A ring whose header cannot be trusted (positions out of range, see :func:`header_problem`)
    or whose file is truncated meanwhile raises RingError (one line) from ``poll``/``info``.
    """

    def __init__(self, path: str | os.PathLike[str], *, consume: bool = False, from_end: bool = False,
                 max_batch_bytes: int = 16 << 20) -> None:
        self.path = Path(path)
        self.consume = consume
        self.max_batch_bytes = max_batch_bytes
        self.file = RingFile(self.path, writable=consume)
        self.geo = self.file.geo
        self.strings = StringTable()
        info = self.file.info()
        problem = header_problem(info, self.geo)
        if problem is not None:
            self.file.close()
            raise R.RingError(f"{self.path}: ring header is inconsistent: {problem}")
        if consume:
            pos, seq = info.read_pos, info.read_seq
        elif from_end:
            pos, seq = info.write_pos, info.seq_next
        else:
            pos, seq = info.tail_pos, -1  # the seq is learned from the first record
        self._cur = _Cursor(pos=pos, seq=seq)
        self._buf = bytearray()  # reused by _read

    @property
    def _mm(self) -> Any:
        """The mapped header page (for header_info)."""
        return self.file._mm

    # -- context manager --
    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def position(self) -> int:
        return self._cur.pos

    @property
    def next_seq(self) -> int:
        return self._cur.seq

    def info(self) -> RingInfo:
        return self.file.info()

    def string(self, sid: int) -> str | None:
        """The text of string ``sid`` in the ring's table (None for 0 or an id not in it)."""
        return self.file.string(sid)

    def _read(self, start: int, end: int) -> memoryview:
        """Bytes of ring positions [start, end) as one linear buffer (handles the wrap).

        The bytes land in a buffer the reader keeps and reuses (fresh memory for every batch
        costs a page fault per 4 KiB), so the view is valid only until the next call; release it
        when done.
        """
        n = end - start
        if len(self._buf) < n:
            self._buf = bytearray(max(n, min(2 * len(self._buf), self.max_batch_bytes)))
        out = memoryview(self._buf)[:n]
        self.file.read_data(start, out)
        return out

    def _decode(self, start: int, stop: int) -> tuple[dict[str, Any], int]:
        """Decode ring positions [start, stop); returns the columns and the start actually used.

        Reads as docs/FORMAT.md says: copy, then load ``tail_pos``; records below it may have
        been overwritten during the copy and are skipped.
        """
        if stop <= start:
            return decode(b"", start), start
        data = self._read(start, stop)
        try:
            tail_after = self.file.u64(R.H_TAIL_POS)  # read after the copy: anything below was reused
            if tail_after > start:
                skip = min(tail_after, stop) - start
                start += skip
                with data[skip:] as rest:
                    return decode(rest, start), start
            return decode(data, start), start
        finally:
            data.release()

    def poll(self, *, final: bool = False) -> Batch:
        """Records committed since the last poll (at most ``max_batch_bytes`` of them, or the one
        record there if it is larger).

        ``final=True`` is for a producer known to be dead: it also takes the record that was
        committed but not yet published when the producer died.
        """
        cur = self._cur
        info = self.file.info()
        problem = header_problem(info, self.geo)
        if problem is not None:
            raise R.RingError(f"{self.path.name}: ring header is inconsistent: {problem}")
        self.file.read_strtab(self.strings, info.strtab_used)
        write_pos = info.write_pos
        end = self.file.unpublished_end(write_pos) if final else write_pos
        lost_before = cur.lost
        corrupt_before = cur.corrupt
        tail = self.file.u64(R.H_TAIL_POS)
        if cur.pos < tail or cur.pos > end:
            cur.pos = tail  # the records between were overwritten: resume at the oldest intact one
        stop = min(end, cur.pos + self.max_batch_bytes)
        cols, start = self._decode(cur.pos, stop)
        if not cols["n"] and cols["error"] is None and cols["end"] == start and stop < end:
            cols, start = self._decode(cur.pos, end)  # one record larger than a batch
        next_pos = cols["end"]
        # the table again, after the records: every string they name is in it now
        self.file.read_strtab(self.strings, self.file.u64(R.H_STRTAB_USED))
        bad = first_bad_row(cols, self.strings.read_to >> 3) if cols["n"] else None
        if bad is not None:
            cols = slice_cols(cols, 0, bad)
            cols["error"] = f"a record names a string that is not in the ring's table (row {bad})"
        if cols["error"] is not None:
            # Past a bad record nothing is known to be aligned: go on from the oldest intact
            # record if the producer has moved its tail beyond it, else from the newest.
            cur.corrupt += 1
            tail_now = self.file.u64(R.H_TAIL_POS)
            next_pos = tail_now if tail_now > next_pos else end
        span = seq_span(cols)
        if span is not None:
            first_seq, last_seq = span
            if cur.seq >= 0 and first_seq > cur.seq:
                cur.lost += first_seq - cur.seq
            cur.seq = last_seq + 1
        cur.pos = max(next_pos, start)
        dropped = max(0, info.dropped - cur.dropped_seen)
        cur.dropped_seen = max(cur.dropped_seen, info.dropped)
        return Batch(info=info, cols=cols, strings=self.strings, lost=cur.lost - lost_before,
                     corrupt=cur.corrupt - corrupt_before, dropped=dropped)

    def lost_total(self) -> int:
        return self._cur.lost

    def at_end(self, *, final: bool = False) -> bool:
        end = self.file.u64(R.H_WRITE_POS)
        if final:
            end = self.file.unpublished_end(end)
        return self._cur.pos >= end

    def batches(self, *, final: bool = False, max_bytes: int | None = None) -> Iterator[Batch]:
        """Poll until the reader is at the end (or has read ``max_bytes``): the one "read what
        is there" loop. Yields batches with records, and empty ones that carry counts."""
        budget = max_bytes
        while True:
            before = self._cur.pos
            batch = self.poll(final=final)
            if len(batch) or batch.corrupt or batch.lost or batch.dropped:
                yield batch
            if budget is not None:
                budget -= max(0, self._cur.pos - before)
            if self.at_end(final=final) or (not len(batch) and not batch.corrupt):
                return
            if budget is not None and budget <= 0:
                return

    def read_all(self, *, final: bool = False) -> list[Batch]:
        """Every batch until the end (for tests and one-shot readers); see :meth:`batches`."""
        return list(self.batches(final=final))

    def commit(self, pos: int | None = None, seq: int | None = None, *, drained: int = 0,
               lost: int = 0) -> None:
        """Consuming reader: records before ``pos`` are safe; the producer may reuse their bytes."""
        if not self.consume:
            raise RuntimeError("commit() is for a consuming reader")
        f = self.file
        f.check()
        pos = self._cur.pos if pos is None else pos
        seq = self._cur.seq if seq is None else seq
        if seq >= 0:
            f.store_u64(R.H_READ_SEQ, seq)
        f.store_u64(R.H_DRAINED, f.u64(R.H_DRAINED) + drained)
        f.store_u64(R.H_LOST, f.u64(R.H_LOST) + lost)
        f.store_u64(R.H_READ_POS, pos)  # last: the producer may now reuse the bytes

    def snap_done(self) -> int:
        """The snapshot request count the sidecar has last answered (stored in the header)."""
        return self.file.u64(R.H_SNAP_DONE)

    def set_snap_done(self, value: int) -> None:
        if self.consume and not self.file.closed_file:
            self.file.store_u64(R.H_SNAP_DONE, value)

    def heartbeat(self, sidecar_pid: int, now_ns: int) -> None:
        if self.consume and not self.file.closed_file:
            self.file.store_u64(R.H_SIDECAR_PID, sidecar_pid & 0xFFFFFFFFFFFFFFFF)
            self.file.store_u64(R.H_SIDECAR_BEAT, now_ns)


def _u32_le(buf: Any) -> array.array[int]:
    """A buffer of little-endian u32 as an array of ints (row numbers of a field column)."""
    out = array.array("I")
    out.frombytes(bytes(buf))
    if sys.byteorder != "little":
        out.byteswap()
    return out


def slice_cols(c: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
    """Rows [start, stop) of decoded columns, as columns of their own (row numbers start at 0).
    Pure Python (the sidecar runs without numpy); it runs once per part boundary, not per event."""
    n = c["n"]
    start, stop = max(0, start), min(n, stop)
    count = max(0, stop - start)
    cols: dict[str, Any] = {
        "n": count,
        "end": c["end"],
        "error": c["error"],
        "seq": c["seq"][start * 8 : stop * 8],
        "ts": c["ts"][start * 8 : stop * 8],
        "tid": c["tid"][start * 4 : stop * 4],
        "logger": c["logger"][start * 4 : stop * 4],
        "message": c["message"][start * 4 : stop * 4],
        "level": c["level"][start:stop],
        "inline": [(row - start, text, cut) for row, text, cut in c["inline"] if start <= row < stop],
        "fields_cut": [row - start for row in c["fields_cut"] if start <= row < stop],
        "columns": {},
    }
    width = {"int": 8, "float": 8, "bool": 1}
    for key, (rows_b, values, cuts) in c["columns"].items():
        rows = _u32_le(rows_b)
        a, b = bisect.bisect_left(rows, start), bisect.bisect_left(rows, stop)
        if a == b:
            continue
        new_rows = array.array("I", [r - start for r in rows[a:b]])
        if sys.byteorder != "little":
            new_rows.byteswap()
        kname = key[1]
        if kname in width:
            w = width[kname]
            new_values: Any = bytearray(values[a * w : b * w])
        elif kname == "none":
            new_values = None
        elif kname in ("str", "obj"):
            new_values = (bytearray(values[0][a * 4 : b * 4]), values[1])
        else:
            new_values = values[a:b]
        cols["columns"][key] = (bytearray(new_rows.tobytes()), new_values,
                                [r - start for r in cuts if start <= r < stop])
    return cols


def slice_batch(batch: Batch, start: int, stop: int) -> Batch:
    """Rows [start, stop) of a batch, as a batch of their own (row numbers start at 0 again)."""
    return Batch(info=batch.info, cols=slice_cols(batch.cols, start, stop), strings=batch.strings,
                 lost=batch.lost, corrupt=batch.corrupt, dropped=batch.dropped)
