"""The sidecar's spool: a file of its own, beside a ring in the same shared-memory directory, that
the ring's records are copied into so the ring's space is free again within milliseconds, and
that snapshots are then written from (docs/FORMAT.md, "Spool files").

    .ttlog-spool.<ring file name>.<ring start_ns>

Invariants:
- The spool survives what the ring survives (a kill of the producer or of the sidecar): it is a
  file in the same directory, written with ``pwrite``/``copy_file_range`` (never through a map,
  so a full file system is an error, not a SIGBUS), read in place through a read-only map only
  after ``fstat`` shows it whole.
- It is this user's regular file, mode 0600, opened with O_NOFOLLOW; one with another owner,
  more than one link or a header that does not add up is refused (SpoolError), never trusted.
- A chunk is committed by one 8-byte store of ``head`` after its bytes and its header are
  written; ``ring_end`` (the ring position through which records are in the spool or in
  snapshots) is derived from the chunks on open, so a kill between the stores loses nothing.
- The ring's read position moves only after the chunk holding its records is committed here; a
  restart resumes the ring at the greater of the two positions: nothing lost, nothing copied twice.
- ``tail`` (the chunks before it are in snapshot files) moves only through an intent record:
  the intent is written once the snapshot file is complete and fsynced, before it is linked, and
  says where ``tail`` and the reported counts go; a restart finishes or drops it by looking for
  that file (by inode), so a kill between "snapshot linked" and "spool advanced" repeats nothing
  and loses nothing.
- The spool is bounded: a copy that does not fit waits (and the ring, once full, drops, counted).
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import stat
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import ring as R
from .files import describe_mode, temp_name
from .reader import POSITION_LIMIT, RingFile, StringTable

MAGIC = b"TTLOGSPL"
VERSION = 1
HEADER_SIZE = 4096
PREFIX = ".ttlog-spool."
CHUNK_ALIGN = 64
CHUNK_HEADER = 64
CHUNK_RECORDS = 1
CHUNK_PAD = 2
_CHUNK = struct.Struct("<IIQQQQQQQ")  # marker, kind, total, ring_start, ring_len, seq_hint, skip, check, 0
assert _CHUNK.size == CHUNK_HEADER
_CHUNK_SALT = 0x5B1E_C0DE
_CHECK_SALT = 0x7E11_5A7E_0F5B_001D
_U64 = struct.Struct("<Q")
MIN_DATA = 64 << 10

# ---- header offsets (little-endian) -------------------------------------------------------------
S_MAGIC = 0  # 8s
S_VERSION = 8  # u32
S_HEADER_SIZE = 12  # u32
S_FILE_SIZE = 16  # u64
S_STRTAB_OFF = 24  # u64
S_STRTAB_CAP = 32  # u64
S_DATA_OFF = 40  # u64
S_DATA_CAP = 48  # u64, a multiple of 64
S_PID = 56  # i64, the ring's producer
S_START_NS = 64  # i64, the ring's start_ns
S_FLAGS = 72  # u32, the ring's flags
S_ENDED = 76  # u32, 1: the ring was copied to its end and its producer is gone; no chunk follows
S_RING_CAP = 80  # u64, the ring's capacity
S_END_REASON = 96  # 32s, why the ring ended (exit, crash, exception, signal, truncated, ...)
S_SERVICE = 128  # 64s
S_HOST = 192  # 64s
S_RING_NAME = 256  # 128s, the ring's file name
S_HEAD = 512  # u64, spool position: end of the last committed chunk
S_TAIL = 520  # u64, spool position: the chunks before it are in snapshot files
S_RING_END = 528  # u64, ring position: records before it are here or in snapshot files
S_STRTAB_USED = 536  # u64, bytes of the ring's string table copied
S_NEXT_SEQ = 544  # u64, seq after the last record written to a snapshot (gaps from it are lost)
S_RING_DROPPED = 552  # u64, the ring's dropped count as last read from it
S_REPORTED_DROPPED = 560  # u64, drops carried by snapshot files so far
S_REPORTED_LOST = 568  # u64, lost records carried by snapshot files so far
S_EVENTS = 576  # u64, events written to snapshot files from this spool
S_SNAPSHOTS = 584  # u64, snapshot files written from this spool
S_CORRUPT = 592  # u64, corrupt stretches carried by snapshot files so far
S_SEQ_HINT = 600  # u64, the ring's seq_next at the last copy (an estimate of what is held)
S_COPY_CORRUPT = 608  # u64, corrupt stretches the copier skipped in the ring
S_COPY_CORRUPT_REPORTED = 616  # u64, how many of those snapshot files carry so far
# the intent record: written complete, then I_STATE = 1 last; cleared once applied
I_STATE = 1024  # u64, 0 none, 1 a snapshot file is complete and about to be linked
I_TAIL = 1032
I_NEXT_SEQ = 1040
I_REPORTED_DROPPED = 1048
I_REPORTED_LOST = 1056
I_EVENTS = 1064
I_SNAPSHOTS = 1072
I_CORRUPT = 1080
I_COPY_CORRUPT = 1088
I_DEV = 1096
I_INO = 1104
I_SIZE = 1112
I_TMP_NAME = 1120  # 256s, the snapshot's temporary file name (in I_DIR)
I_DIR = 2048  # 2048s, the snapshot directory (bytes of the path)


class SpoolError(Exception):
    """A spool file cannot be made or trusted; the message is one line."""


def spool_name(ring_name: str, start_ns: int) -> str:
    return f"{PREFIX}{ring_name}.{int(start_ns)}"


_NAME = re.compile(r"^\.ttlog-spool\.(?P<ring>.+\.ring)\.(?P<start>-?\d{1,20})$")


def is_spool_name(name: str) -> bool:
    """A spool's own name (not one moved aside as ``.bad``, nor a temporary name)."""
    return _NAME.match(name) is not None


def list_spools(directory: Path) -> list[Path]:
    """Spool files of this user in ``directory`` (regular, one link), by name."""
    out = []
    uid = os.geteuid()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return out
    for entry in entries:
        if not is_spool_name(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == uid and st.st_nlink == 1:
            out.append(Path(entry.path))
    return sorted(out)


def _marker(pos: int) -> int:
    return ((pos >> 3) ^ _CHUNK_SALT) & 0xFFFFFFFF


def _check(pos: int, total: int, ring_start: int, ring_len: int, seq_hint: int, skip: int) -> int:
    mixed = pos ^ total ^ ring_start ^ (ring_len << 1) ^ (seq_hint << 2) ^ (skip << 3) ^ _CHECK_SALT
    return mixed & (2**64 - 1)


def _text(raw: bytes, off: int, size: int) -> str:
    return raw[off : off + size].split(b"\0", 1)[0].decode("utf-8", "replace")


def _put_text(text: str, size: int) -> bytes:
    raw = text.encode("utf-8", "backslashreplace")[: size - 1]
    return raw + b"\0" * (size - len(raw))


@dataclass(frozen=True)
class Chunk:
    """One copy of ring bytes in the spool: ``ring_len`` bytes from ring position ``ring_start``,
    of which the first ``skip`` were overwritten in the ring during the copy (overwrite mode)."""

    pos: int
    total: int
    ring_start: int
    ring_len: int
    seq_hint: int
    skip: int

    @property
    def end(self) -> int:
        return self.pos + self.total

    @property
    def ring_end(self) -> int:
        return self.ring_start + self.ring_len


@dataclass
class Intent:
    """Where a snapshot about to be linked moves the spool (absolute values: applying it twice
    is applying it once)."""

    tail: int
    next_seq: int
    reported_dropped: int
    reported_lost: int
    events: int
    snapshots: int
    corrupt: int
    copy_corrupt_reported: int
    dev: int = 0
    ino: int = 0
    size: int = 0
    tmp_name: str = ""
    directory: str = ""


_COUNTERS = (
    ("head", S_HEAD), ("tail", S_TAIL), ("ring_end", S_RING_END), ("strtab_used", S_STRTAB_USED),
    ("next_seq", S_NEXT_SEQ), ("ring_dropped", S_RING_DROPPED), ("reported_dropped", S_REPORTED_DROPPED),
    ("reported_lost", S_REPORTED_LOST), ("events", S_EVENTS), ("snapshots", S_SNAPSHOTS),
    ("corrupt", S_CORRUPT), ("seq_hint", S_SEQ_HINT), ("copy_corrupt", S_COPY_CORRUPT),
    ("copy_corrupt_reported", S_COPY_CORRUPT_REPORTED),
)


class Spool:
    """One ring's spool file (see the module docstring). ``lock`` guards the header fields: the
    copier appends chunks and moves ``head``; the snapshot writer reads the chunks before it and
    moves ``tail``."""

    def __init__(self, path: Path, fd: int, head: bytes) -> None:
        self.path = path
        self.fd = fd
        self.lock = threading.RLock()
        self.file_size, self.strtab_off, self.strtab_cap, self.data_off, self.data_cap = struct.unpack_from(
            "<QQQQQ", head, S_FILE_SIZE)
        self.pid, self.start_ns = struct.unpack_from("<qq", head, S_PID)
        self.flags, ended = struct.unpack_from("<II", head, S_FLAGS)
        self.ended = bool(ended)
        self.ring_capacity = struct.unpack_from("<Q", head, S_RING_CAP)[0]
        self.end_reason = _text(head, S_END_REASON, 32)
        self.service = _text(head, S_SERVICE, 64)
        self.host = _text(head, S_HOST, 64)
        self.ring_name = _text(head, S_RING_NAME, 128)
        for name, off in _COUNTERS:
            setattr(self, name, struct.unpack_from("<Q", head, off)[0])
        self.head: int
        self.tail: int
        self.ring_end: int
        self.strtab_used: int
        self.next_seq: int
        self.ring_dropped: int
        self.reported_dropped: int
        self.reported_lost: int
        self.events: int
        self.snapshots: int
        self.corrupt: int
        self.seq_hint: int
        self.copy_corrupt: int
        self.copy_corrupt_reported: int
        self.strings = StringTable()
        self._mm: mmap.mmap | None = None  # read-only map for payload(), made on first use

    # -- making and opening --
    @classmethod
    def create(cls, directory: Path, *, ring: RingFile, data_cap: int, ring_end: int, next_seq: int,
               reported_dropped: int) -> Spool:
        """A new, empty spool for ``ring`` (never replacing a file); SpoolError if impossible."""
        info = ring.info()
        geo = ring.geo
        name = spool_name(ring.path.name, info.start_ns)
        data_cap = max(MIN_DATA, data_cap) // CHUNK_ALIGN * CHUNK_ALIGN
        strtab_cap = geo.strtab_cap
        data_off = (HEADER_SIZE + strtab_cap + 4095) & ~4095
        file_size = data_off + data_cap
        head = bytearray(HEADER_SIZE)
        head[0:8] = MAGIC
        struct.pack_into("<II", head, S_VERSION, VERSION, HEADER_SIZE)
        struct.pack_into("<QQQQQ", head, S_FILE_SIZE, file_size, HEADER_SIZE, strtab_cap, data_off, data_cap)
        struct.pack_into("<qqII", head, S_PID, info.pid, info.start_ns, ring.u32(R.H_FLAGS), 0)
        struct.pack_into("<Q", head, S_RING_CAP, geo.capacity)
        head[S_SERVICE : S_SERVICE + 64] = _put_text(info.service, 64)
        head[S_HOST : S_HOST + 64] = _put_text(info.host, 64)
        head[S_RING_NAME : S_RING_NAME + 128] = _put_text(ring.path.name, 128)
        struct.pack_into("<Q", head, S_RING_END, ring_end)
        struct.pack_into("<Q", head, S_STRTAB_USED, R.STRTAB_FIRST)
        struct.pack_into("<Q", head, S_NEXT_SEQ, next_seq)
        struct.pack_into("<Q", head, S_RING_DROPPED, info.dropped)
        struct.pack_into("<Q", head, S_REPORTED_DROPPED, reported_dropped)
        tmp = directory / temp_name(name)
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot create a spool in {directory}: {exc.strerror or exc}") from None
        try:
            try:
                os.ftruncate(fd, file_size)
                _pwrite_all(fd, head, 0)
                os.link(tmp, directory / name)
            except FileExistsError:
                raise SpoolError(f"{directory / name}: a spool of that name exists already") from None
            except OSError as exc:
                raise SpoolError(f"cannot create a spool in {directory}: {exc.strerror or exc}") from None
        except BaseException:
            os.close(fd)
            raise
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return cls(directory / name, fd, bytes(head))

    @classmethod
    def open(cls, path: Path) -> Spool:
        """An existing spool, checked (header, then every chunk between tail and head)."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise SpoolError(f"{path.name}: cannot open spool: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SpoolError(f"{path.name}: {describe_mode(st)}, not a spool")
            if st.st_uid != os.geteuid() or st.st_nlink != 1:
                raise SpoolError(f"{path.name}: not this user's single-link file")
            head = os.pread(fd, HEADER_SIZE, 0)
            problem = _header_problem(head, st.st_size)
            if problem:
                raise SpoolError(f"{path.name}: spool header is inconsistent: {problem}")
            spool = cls(path, fd, head)
        except BaseException:
            os.close(fd)
            raise
        spool._verify_chunks()
        return spool

    def close(self) -> None:
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a view of it is still held somewhere: it goes with that view
                pass
            self._mm = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def unlink(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _verify_chunks(self) -> None:
        """Walk the chunks from tail to head; a chunk that does not check ends the spool there
        (what follows is counted as one corrupt stretch). ``ring_end`` is brought up to the last."""
        pos = self.tail
        last_end = None
        while pos < self.head:
            chunk = self._chunk_at(pos)
            if chunk is None:
                self._put(S_HEAD, pos)
                self.head = pos
                self.add_copy_corrupt()
                break
            if chunk.ring_len:
                last_end = chunk.ring_end
            pos = chunk.end
        if last_end is not None and last_end > self.ring_end:
            self.ring_end = last_end
            self._put(S_RING_END, last_end)

    # -- the header --
    def _put(self, off: int, value: int) -> None:
        _pwrite_all(self.fd, _U64.pack(value), off)

    def _get(self, off: int) -> int:
        return int(_U64.unpack(os.pread(self.fd, 8, off))[0])

    @property
    def held(self) -> int:
        """Spool bytes between tail and head (what snapshots have yet to take)."""
        return self.head - self.tail

    @property
    def held_events(self) -> int:
        """About how many records are held (from the ring's seq at the last copy)."""
        return max(0, self.seq_hint - self.next_seq) if self.head > self.tail else 0

    @property
    def free(self) -> int:
        return self.data_cap - (self.head - self.tail)

    def sample_dropped(self, dropped: int) -> None:
        """The ring's dropped count as just read from it (only ever grows here)."""
        if dropped > self.ring_dropped and dropped < POSITION_LIMIT:
            with self.lock:
                self.ring_dropped = dropped
                self._put(S_RING_DROPPED, dropped)

    def mark_ended(self, reason: str, dropped: int, seq_next: int | None = None) -> None:
        """No chunk follows: the ring was copied to its end and its producer is gone (``seq_next``:
        the ring's count of records, if known; those never copied are lost)."""
        with self.lock:
            self.sample_dropped(dropped)
            if seq_next is not None and self.seq_hint < seq_next < POSITION_LIMIT:
                self.seq_hint = seq_next
                self._put(S_SEQ_HINT, seq_next)
            self.end_reason = reason[:31]
            _pwrite_all(self.fd, _put_text(self.end_reason, 32), S_END_REASON)
            self._put_u32(S_ENDED, 1)
            self.ended = True

    def add_copy_corrupt(self) -> None:
        with self.lock:
            self.copy_corrupt += 1
            self._put(S_COPY_CORRUPT, self.copy_corrupt)

    def _put_u32(self, off: int, value: int) -> None:
        _pwrite_all(self.fd, struct.pack("<I", value), off)

    # -- copying from the ring --
    def copy_strings(self, ring: RingFile, used: int) -> None:
        """The ring's string table up to ``used`` bytes (at the same offsets: ids stay valid)."""
        used = min(used, self.strtab_cap, ring.geo.strtab_cap)
        if used <= self.strtab_used:
            return
        start = self.strtab_used
        _copy_range(ring.fd, self.fd, ring.geo.strtab_off + start, self.strtab_off + start, used - start,
                    ring)
        with self.lock:
            self.strtab_used = used
            self._put(S_STRTAB_USED, used)

    def room_for(self, ring_len: int) -> bool:
        """Whether a chunk of ``ring_len`` ring bytes fits now (with a pad to the end, if needed)."""
        return self._placement(ring_len) is not None

    def largest_fit(self) -> int:
        """The most ring bytes one chunk could take now (0: none)."""
        free = self.free
        phys = self.head % self.data_cap
        to_end = self.data_cap - phys
        best = min(free, to_end) - CHUNK_HEADER
        if free > to_end:
            best = max(best, min(free - to_end, self.data_cap) - CHUNK_HEADER)
        return max(0, best // 8 * 8)

    def _placement(self, ring_len: int) -> tuple[int, int] | None:
        """(pad bytes before the chunk, chunk total) if a chunk of ``ring_len`` fits, else None."""
        total = (CHUNK_HEADER + ring_len + CHUNK_ALIGN - 1) // CHUNK_ALIGN * CHUNK_ALIGN
        if total > self.data_cap:
            return None
        phys = self.head % self.data_cap
        pad = self.data_cap - phys if phys + total > self.data_cap else 0
        if pad + total > self.free:
            return None
        return pad, total

    def append(self, ring: RingFile, start: int, end: int, *, seq_hint: int, overwrite: bool) -> Chunk | None:
        """Copy ring positions [start, end) (record boundaries) into a new chunk and commit it.

        For an overwrite-mode ring, ``tail_pos`` is loaded after the copy: the bytes below it may
        have been reused meanwhile and are marked skipped (None if nothing of the copy is intact).
        Returns None, changing nothing, if the chunk does not fit. Raises OSError or RingError.
        """
        n = end - start
        place = self._placement(n)
        if place is None or n <= 0:
            return None
        pad, total = place
        pos = self.head
        if pad:
            pad_hdr = _CHUNK.pack(_marker(pos), CHUNK_PAD, pad, 0, 0, 0, 0, _check(pos, pad, 0, 0, 0, 0), 0)
            _pwrite_all(self.fd, pad_hdr, self.data_off + pos % self.data_cap)
            pos += pad
        payload = self.data_off + pos % self.data_cap + CHUNK_HEADER
        geo = ring.geo
        first = min(n, geo.capacity - (start & geo.mask))
        _copy_range(ring.fd, self.fd, geo.data_off + (start & geo.mask), payload, first, ring)
        if first < n:
            _copy_range(ring.fd, self.fd, geo.data_off, payload + first, n - first, ring)
        skip = 0
        if overwrite:
            tail = ring.u64(R.H_TAIL_POS)  # after the copy: anything below it may have been reused
            if tail >= end:
                return None
            skip = max(0, tail - start)
        ring.check()  # the file is still whole: the bytes copied are the ring's
        hdr = _CHUNK.pack(_marker(pos), CHUNK_RECORDS, total, start, n, seq_hint, skip,
                          _check(pos, total, start, n, seq_hint, skip), 0)
        _pwrite_all(self.fd, hdr, self.data_off + pos % self.data_cap)
        with self.lock:
            self.head = pos + total
            self._put(S_HEAD, self.head)  # the commit point
            self.ring_end = end
            self.seq_hint = seq_hint
            self._put(S_RING_END, end)
            self._put(S_SEQ_HINT, seq_hint)
        return Chunk(pos, total, start, n, seq_hint, skip)

    def cut_head(self, pos: int) -> None:
        """The spool is damaged from ``pos`` on: it ends there, and so does the ring's copy."""
        with self.lock:
            self.head = max(pos, self.tail)
            self._put(S_HEAD, self.head)
            if not self.ended:
                self.mark_ended("corrupt", self.ring_dropped)

    def skip_ring_to(self, ring_pos: int) -> None:
        """Nothing of the ring before ``ring_pos`` will be copied (it was overwritten or corrupt)."""
        with self.lock:
            if ring_pos > self.ring_end:
                self.ring_end = ring_pos
                self._put(S_RING_END, ring_pos)

    # -- reading for snapshots --
    def _chunk_at(self, pos: int) -> Chunk | None:
        raw = os.pread(self.fd, CHUNK_HEADER, self.data_off + pos % self.data_cap)
        if len(raw) != CHUNK_HEADER:
            return None
        marker, kind, total, ring_start, ring_len, seq_hint, skip, check, _ = _CHUNK.unpack(raw)
        ok = (
            marker == _marker(pos)
            and check == _check(pos, total, ring_start, ring_len, seq_hint, skip)
            and kind in (CHUNK_RECORDS, CHUNK_PAD)
            and total >= CHUNK_HEADER and total % CHUNK_ALIGN == 0
            and pos % self.data_cap + total <= self.data_cap
            and pos + total <= self.head
            and CHUNK_HEADER + ring_len <= total and skip <= ring_len
            and ring_start < POSITION_LIMIT and ring_len <= self.ring_capacity
        )
        if not ok:
            return None
        if kind == CHUNK_PAD:
            return Chunk(pos, total, 0, 0, 0, 0)
        return Chunk(pos, total, ring_start, ring_len, seq_hint, skip)

    def chunks(self, start: int, stop: int) -> Iterator[Chunk]:
        """The record chunks between spool positions ``start`` and ``stop`` (pads skipped).
        SpoolError at a chunk that does not check."""
        pos = start
        while pos < stop:
            chunk = self._chunk_at(pos)
            if chunk is None:
                raise SpoolError(f"{self.path.name}: corrupt chunk at spool position {pos}")
            if chunk.ring_len:
                yield chunk
            pos = chunk.end

    def payload(self, chunk: Chunk) -> memoryview:
        """The intact ring bytes of ``chunk`` (after its skip), read in place: a view of the
        spool mapped read-only (once the file is checked to be whole, so the read cannot fault),
        valid until the spool is closed; release it when done."""
        n = chunk.ring_len - chunk.skip
        offset = self.data_off + chunk.pos % self.data_cap + CHUNK_HEADER + chunk.skip
        if os.fstat(self.fd).st_size < self.file_size:
            raise SpoolError(f"{self.path.name}: shorter than its header says (truncated)")
        if self._mm is None:
            try:
                self._mm = mmap.mmap(self.fd, self.file_size, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise SpoolError(f"{self.path.name}: cannot be read: {exc}") from None
        with memoryview(self._mm) as whole:
            return whole[offset : offset + n]

    def load_strings(self) -> StringTable:
        """The copied string table (read incrementally)."""
        used = self.strtab_used
        if used > self.strings.read_to:
            start = self.strings.read_to
            raw = os.pread(self.fd, used - start, self.strtab_off + start)
            self.strings.feed(raw, start + len(raw))
        return self.strings

    # -- the intent record --
    def write_intent(self, intent: Intent) -> None:
        head = bytearray(HEADER_SIZE - I_STATE)
        struct.pack_into("<QQQQQQQQQQQQ", head, I_TAIL - I_STATE, intent.tail, intent.next_seq,
                         intent.reported_dropped, intent.reported_lost, intent.events, intent.snapshots,
                         intent.corrupt, intent.copy_corrupt_reported, intent.dev, intent.ino, intent.size, 0)
        tmp_name = _put_bytes(os.fsencode(intent.tmp_name), 256)
        head[I_TMP_NAME - I_STATE : I_TMP_NAME - I_STATE + 256] = tmp_name
        head[I_DIR - I_STATE : I_DIR - I_STATE + 2048] = _put_bytes(os.fsencode(intent.directory), 2048)
        with self.lock:
            _pwrite_all(self.fd, bytes(head), I_STATE)  # I_STATE stays 0 in this write
            self._put(I_STATE, 1)  # then the record counts

    def read_intent(self) -> Intent | None:
        raw = os.pread(self.fd, HEADER_SIZE - I_STATE, I_STATE)
        if len(raw) < HEADER_SIZE - I_STATE or struct.unpack_from("<Q", raw, 0)[0] != 1:
            return None
        vals = struct.unpack_from("<QQQQQQQQQQQ", raw, I_TAIL - I_STATE)
        tmp = raw[I_TMP_NAME - I_STATE : I_TMP_NAME - I_STATE + 256].split(b"\0", 1)[0]
        directory = raw[I_DIR - I_STATE : I_DIR - I_STATE + 2048].split(b"\0", 1)[0]
        return Intent(*vals, tmp_name=os.fsdecode(tmp), directory=os.fsdecode(directory))

    def apply(self, intent: Intent) -> None:
        """Move the spool as ``intent`` says (its snapshot is linked), then clear the intent."""
        with self.lock:
            if not self.tail <= intent.tail <= self.head:
                raise SpoolError(f"{self.path.name}: an intent moves the tail outside the spool")
            self.tail = intent.tail
            self.next_seq = max(self.next_seq, intent.next_seq)
            self.reported_dropped = max(self.reported_dropped, intent.reported_dropped)
            self.reported_lost = max(self.reported_lost, intent.reported_lost)
            self.events = max(self.events, intent.events)
            self.snapshots = max(self.snapshots, intent.snapshots)
            self.corrupt = max(self.corrupt, intent.corrupt)
            self.copy_corrupt_reported = max(self.copy_corrupt_reported, intent.copy_corrupt_reported)
            self._put(S_TAIL, self.tail)
            for name, off in (("next_seq", S_NEXT_SEQ), ("reported_dropped", S_REPORTED_DROPPED),
                              ("reported_lost", S_REPORTED_LOST), ("events", S_EVENTS),
                              ("snapshots", S_SNAPSHOTS), ("corrupt", S_CORRUPT),
                              ("copy_corrupt_reported", S_COPY_CORRUPT_REPORTED)):
                self._put(off, getattr(self, name))
            self._put(I_STATE, 0)

    def clear_intent(self) -> None:
        with self.lock:
            self._put(I_STATE, 0)


def _put_bytes(raw: bytes, size: int) -> bytes:
    raw = raw[: size - 1]
    return raw + b"\0" * (size - len(raw))


def _header_problem(head: bytes, size: int) -> str | None:
    if len(head) < HEADER_SIZE or head[0:8] != MAGIC:
        return "bad magic"
    version, hsize = struct.unpack_from("<II", head, S_VERSION)
    if version != VERSION or hsize != HEADER_SIZE:
        return f"version {version}, this engine reads version {VERSION}"
    file_size, st_off, st_cap, data_off, data_cap = struct.unpack_from("<QQQQQ", head, S_FILE_SIZE)
    if not (st_off == HEADER_SIZE and st_off + st_cap <= data_off and data_off % 4096 == 0
            and data_cap >= MIN_DATA and data_cap % CHUNK_ALIGN == 0 and data_off + data_cap == file_size
            and file_size <= size and st_cap <= 1 << 34):
        return "sizes do not add up (truncated or corrupt file)"
    vals = {name: struct.unpack_from("<Q", head, off)[0] for name, off in _COUNTERS}
    if any(v >= POSITION_LIMIT for v in vals.values()):
        return "a position is beyond any spool's reach"
    if not vals["tail"] <= vals["head"] <= vals["tail"] + data_cap or vals["head"] % CHUNK_ALIGN \
            or vals["tail"] % CHUNK_ALIGN:
        return f"tail {vals['tail']} and head {vals['head']} do not fit the spool"
    if vals["strtab_used"] > st_cap:
        return "the string table is larger than its room"
    ring_cap = struct.unpack_from("<Q", head, S_RING_CAP)[0]
    if ring_cap < R.MIN_RING_SIZE or ring_cap > R.MAX_RING_SIZE or ring_cap & (ring_cap - 1):
        return f"ring capacity {ring_cap} is not a ring's"
    return None


def _pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[n:]
        offset += n


_NO_COPY_RANGE: list[bool] = [not hasattr(os, "copy_file_range")]


def _copy_range(src: int, dst: int, src_off: int, dst_off: int, n: int, ring: RingFile) -> None:
    """Copy ``n`` bytes between files in the kernel (``copy_file_range``, or ``pread``/``pwrite``
    where that is not supported); RingError if the source ends first (truncated)."""
    done = 0
    while done < n and not _NO_COPY_RANGE[0]:
        try:
            got = os.copy_file_range(src, dst, n - done, src_off + done, dst_off + done)
        except OSError as exc:
            if exc.errno in (errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                _NO_COPY_RANGE[0] = True
                break
            raise
        if got <= 0:
            raise R.RingError(f"{ring.path.name}: truncated while being copied")
        done += got
    if done < n:
        buf = bytearray(min(n - done, 4 << 20))
        view = memoryview(buf)
        while done < n:
            part = view[: min(len(view), n - done)]
            ring.pread_into(part, src_off + done)
            _pwrite_all(dst, part, dst_off + done)
            done += len(part)
