"""Reading rings: a peek reader that never moves anything, and a consuming reader for the sidecar.

Invariants:
- A reader never writes to a ring, except the consuming reader's own fields (read position,
  read seq, drained and lost counts, sidecar pid and heartbeat), and only through ``commit()``.
- A record is returned only if it was committed (below ``write_pos``, or, for a dead producer,
  the one record it committed but had not yet published) and was not overwritten while it was
  being read (``tail_pos`` loaded after the copy is at or below its start). The consuming reader
  of a drop-mode ring decodes in place, without a copy (the producer never writes at or after
  the read position there), and checks ``tail_pos`` after decoding all the same.
- A torn, corrupt or overwritten record is skipped and counted, never returned, never raised.
- Records are returned in ring order; ``seq`` gaps are records lost to overwrite, and counted.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ring as R
from ._native import C as _C

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
    """Ids -> text for one ring, read incrementally as the producer appends."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {0: ""}
        self.kinds: dict[int, int] = {}
        self._read_to = R.STRTAB_FIRST

    def update(self, mm: Any, geo: R.Geometry) -> None:
        used = min(load_u64(mm, R.H_STRTAB_USED), geo.strtab_cap)
        off = self._read_to
        base = geo.strtab_off
        while off + 8 <= used:
            n, kind = struct.unpack_from("<II", mm, base + off)
            size = (8 + n + 7) & ~7
            if off + size > used:
                break
            self.texts[off >> 3] = bytes(mm[base + off + 8 : base + off + 8 + n]).decode("utf-8", "replace")
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

    @property
    def fill(self) -> float:
        """Fraction of the ring holding records the sidecar has not drained."""
        return min(1.0, max(0, self.write_pos - max(self.read_pos, self.tail_pos)) / self.capacity)

    @property
    def lag_bytes(self) -> int:
        return max(0, self.write_pos - self.read_pos)

    @property
    def closed(self) -> bool:
        return self.state == R.STATE_CLOSED


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a zombie (exited, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")
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
    )


def list_rings(shm_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Ring files in a shared-memory directory, oldest first. A missing directory -> []."""
    directory = Path(shm_dir) if shm_dir is not None else R.default_shm_dir()
    try:
        names = [e for e in os.scandir(directory)
                 if R.is_ring_filename(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    names.sort(key=lambda e: (e.stat(follow_symlinks=False).st_mtime_ns, e.name))
    return [Path(e.path) for e in names]


# ---- batches ------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Records decoded from one ring, as columns, with the strings needed to resolve them."""

    info: RingInfo
    cols: dict[str, Any]
    strings: StringTable
    lost: int = 0  # records overwritten before this reader saw them (seq gaps before this batch)
    corrupt: int = 0  # times decoding hit a bad record and skipped ahead

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


# ---- readers ------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    pos: int
    seq: int
    lost: int = 0
    corrupt: int = 0
    recovered: bool = False
    extra: dict[str, int] = field(default_factory=dict)


class RingReader:
    """Reads the records of one ring file.

    ``consume=False`` (peek): starts at the oldest record still in the ring (or at the newest,
    with ``from_end=True``), keeps its position to itself and maps the file read-only.
    ``consume=True`` (the sidecar): starts at the header's read position; ``commit()`` stores how
    far records have been made safe, so a restarted sidecar resumes exactly there.
    """

    def __init__(self, path: str | os.PathLike[str], *, consume: bool = False, from_end: bool = False,
                 max_batch_bytes: int = 16 << 20) -> None:
        self.path = Path(path)
        self.consume = consume
        self.max_batch_bytes = max_batch_bytes
        self._mm: mmap.mmap | None
        self._mm, self.geo = R.open_ring_map(self.path, writable=consume)
        self.strings = StringTable()
        mm = self._mm
        if consume:
            pos = load_u64(mm, R.H_READ_POS)
            seq = load_u64(mm, R.H_READ_SEQ)
        elif from_end:
            pos = load_u64(mm, R.H_WRITE_POS)
            seq = load_u64(mm, R.H_SEQ_NEXT)
        else:
            pos = load_u64(mm, R.H_TAIL_POS)
            seq = -1  # learned from the first record
        self._cur = _Cursor(pos=pos, seq=seq)
        self._buf = bytearray()  # reused by _copy
        # drop mode: the producer never writes at or after the read position, which only this
        # (consuming) reader moves, so its records can be decoded where they lie
        self._in_place = consume and not struct.unpack_from("<I", mm, R.H_FLAGS)[0] & R.FLAG_OVERWRITE

    # -- context manager --
    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None

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
        assert self._mm is not None
        return header_info(self._mm, self.path)

    def _u64(self, off: int) -> int:
        assert self._mm is not None
        return load_u64(self._mm, off)

    def _copy(self, start: int, end: int) -> memoryview:
        """Bytes of ring positions [start, end) as one linear buffer (handles the wrap).

        The bytes land in a buffer the reader keeps and reuses (fresh memory for every batch
        costs a page fault per 4 KiB), so the view is valid only until the next call; release it
        when done.
        """
        mm, geo = self._mm, self.geo
        assert mm is not None
        a = geo.data_off + (start & geo.mask)
        n = end - start
        first = min(n, geo.capacity - (start & geo.mask))
        if len(self._buf) < n:
            self._buf = bytearray(max(n, min(2 * len(self._buf), self.max_batch_bytes)))
        with memoryview(mm) as src:
            out = memoryview(self._buf)
            out[:first] = src[a : a + first]
            if first < n:
                out[first:n] = src[geo.data_off : geo.data_off + n - first]
        return out[:n]

    def _decode(self, start: int, stop: int) -> tuple[dict[str, Any], int]:
        """Decode ring positions [start, stop); returns the columns and the start actually used.

        Reads as docs/FORMAT.md says: copy, then load ``tail_pos``; records below it may have
        been overwritten during the copy and are skipped. In drop mode the producer never writes
        below the read position, so a consuming reader decodes straight from the map (no copy)
        and checks ``tail_pos`` afterwards all the same; should it have moved past ``start``
        meanwhile, the batch is read again the usual way.
        """
        mm, geo = self._mm, self.geo
        assert mm is not None
        if stop <= start:
            return decode(b"", start), start
        a = geo.data_off + (start & geo.mask)
        if self._in_place and (start & geo.mask) + (stop - start) <= geo.capacity:
            with memoryview(mm) as whole, whole[a : a + stop - start] as part:
                cols = decode(part, start)
            if self._u64(R.H_TAIL_POS) <= start:
                return cols, start
        data = self._copy(start, stop)
        try:
            tail_after = self._u64(R.H_TAIL_POS)  # read after the copy: anything below was reused
            if tail_after > start:
                skip = min(tail_after, stop) - start
                start += skip
                with data[skip:] as rest:
                    return decode(rest, start), start
            return decode(data, start), start
        finally:
            data.release()

    def _unpublished_end(self, write_pos: int) -> int:
        """For a dead producer: the end of a record it committed but never published, else write_pos.

        The producer stores reserve_pos before writing and write_pos after the commit word; a
        record between them counts only if its commit word is right and it ends exactly at
        reserve_pos.
        """
        mm, geo = self._mm, self.geo
        assert mm is not None
        reserve = self._u64(R.H_RESERVE_POS)
        if reserve <= write_pos or reserve - write_pos > geo.capacity:
            return write_pos
        p = write_pos
        length, commit = struct.unpack_from("<II", mm, geo.data_off + (p & geo.mask))
        if commit == R.pad_marker(p) and length == geo.capacity - (p & geo.mask):
            p += length
            if p >= reserve:
                return write_pos
            length, commit = struct.unpack_from("<II", mm, geo.data_off + (p & geo.mask))
        if commit == R.marker(p) and p + length == reserve and length >= R.REC_HEADER and length % 8 == 0:
            return reserve
        return write_pos

    def poll(self, *, final: bool = False) -> Batch:
        """Records committed since the last poll (at most ``max_batch_bytes`` of them).

        ``final=True`` is for a producer known to be dead: it also takes the record that was
        committed but not yet published when the producer died.
        """
        mm, geo = self._mm, self.geo
        assert mm is not None
        cur = self._cur
        self.strings.update(mm, geo)
        info = header_info(mm, self.path)
        write_pos = info.write_pos
        end = self._unpublished_end(write_pos) if final else write_pos
        lost_before = cur.lost
        corrupt_before = cur.corrupt
        tail = self._u64(R.H_TAIL_POS)
        if cur.pos < tail or cur.pos > end:
            cur.pos = tail  # the records between were overwritten: resume at the oldest intact one
        stop = min(end, cur.pos + self.max_batch_bytes)
        cols, start = self._decode(cur.pos, stop)
        next_pos = cols["end"]
        if cols["error"] is not None:
            # Past a bad record nothing is known to be aligned: go on from the oldest intact
            # record if the producer has moved its tail beyond it, else from the newest.
            cur.corrupt += 1
            tail_now = self._u64(R.H_TAIL_POS)
            next_pos = tail_now if tail_now > next_pos else end
        n = cols["n"]
        if n:
            first_seq = struct.unpack_from("<Q", cols["seq"], 0)[0]
            last_seq = struct.unpack_from("<Q", cols["seq"], (n - 1) * 8)[0]
            if cur.seq >= 0 and first_seq > cur.seq:
                cur.lost += first_seq - cur.seq
            cur.seq = last_seq + 1
        cur.pos = max(next_pos, start)
        self.strings.update(mm, geo)
        return Batch(info=info, cols=cols, strings=self.strings, lost=cur.lost - lost_before,
                     corrupt=cur.corrupt - corrupt_before)

    def lost_total(self) -> int:
        return self._cur.lost

    def at_end(self, *, final: bool = False) -> bool:
        end = self._u64(R.H_WRITE_POS)
        if final:
            end = self._unpublished_end(end)
        return self._cur.pos >= end

    def commit(self, pos: int | None = None, seq: int | None = None, *, drained: int = 0,
               lost: int = 0) -> None:
        """Consuming reader: records before ``pos`` are safe; the producer may reuse their bytes."""
        if not self.consume:
            raise RuntimeError("commit() is for a consuming reader")
        mm = self._mm
        assert mm is not None
        pos = self._cur.pos if pos is None else pos
        seq = self._cur.seq if seq is None else seq
        if seq >= 0:
            store_u64(mm, R.H_READ_SEQ, seq)
        store_u64(mm, R.H_DRAINED, self._u64(R.H_DRAINED) + drained)
        store_u64(mm, R.H_LOST, self._u64(R.H_LOST) + lost)
        store_u64(mm, R.H_READ_POS, pos)  # last: the producer may now reuse the bytes

    def snap_done(self) -> int:
        """The snapshot request count the sidecar has last answered (stored in the header)."""
        return self._u64(R.H_SNAP_DONE)

    def set_snap_done(self, value: int) -> None:
        if self._mm is not None and self.consume:
            store_u64(self._mm, R.H_SNAP_DONE, value)

    def heartbeat(self, sidecar_pid: int, now_ns: int) -> None:
        if self._mm is not None and self.consume:
            struct.pack_into("<qq", self._mm, R.H_SIDECAR_PID, sidecar_pid, now_ns)

    def read_all(self, *, final: bool = False) -> list[Batch]:
        """Poll until nothing is left (for tests and one-shot readers)."""
        out = []
        while True:
            batch = self.poll(final=final)
            if len(batch):
                out.append(batch)
            if self.at_end(final=final) or (not len(batch) and not batch.corrupt):
                break
        return out


def slice_batch(batch: Batch, start: int, stop: int) -> Batch:
    """Rows [start, stop) of a batch, as a batch of their own (row numbers start at 0 again)."""
    import bisect
    from array import array

    c = batch.cols
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
        rows = array("I")
        rows.frombytes(bytes(rows_b))
        a, b = bisect.bisect_left(rows, start), bisect.bisect_left(rows, stop)
        if a == b:
            continue
        new_rows = array("I", (r - start for r in rows[a:b]))
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
    return Batch(info=batch.info, cols=cols, strings=batch.strings, lost=batch.lost, corrupt=batch.corrupt)
