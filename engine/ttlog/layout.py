"""The ring format's numbers: header offsets, record layout, field kinds, flags and levels.

This is the pure-Python side of ``ttlog/_c/format.h``, which the C writer and decoder are compiled
from; docs/FORMAT.md says the same for people. ``ttlog.ring`` re-exports every name here, so
``ring.H_WRITE_POS`` and ``layout.H_WRITE_POS`` are one thing.

Invariants:
- Every constant here that format.h also has carries the same name and value: the C module
  exports its tables (``_ring.HEADER_OFFSETS``, ``_ring.CONSTANTS``, ...) and
  tests/ttlog/test_layout.py compares them with this module entry by entry, both ways. A
  constant added on one side only fails that test.
- Nothing here imports anything but the standard library: the twin works without a compiler.
"""

from __future__ import annotations

import struct

__all__ = [  # every name below; ttlog.ring re-exports them all (test_layout checks the list)
    "COMMIT_SALT", "FLAG_OVERWRITE", "HEADER_SIZE", "H_DATA_CAP", "H_DATA_OFF", "H_DRAINED", "H_DROPPED",
    "H_DROPPED_REPORTED", "H_EXIT_REASON", "H_FILE_SIZE", "H_FLAGS", "H_HEADER_SIZE", "H_HOST", "H_LOST",
    "H_MAGIC", "H_MAX_STR", "H_MIN_LEVEL", "H_PID", "H_READ_POS", "H_READ_SEQ", "H_RESERVE_POS",
    "H_SEQ_NEXT", "H_SERVICE", "H_SIDECAR_BEAT", "H_SIDECAR_PID", "H_SNAP_DONE", "H_SNAP_REASON",
    "H_SNAP_REQ", "H_START_NS", "H_STATE", "H_STRTAB_CAP", "H_STRTAB_OFF", "H_STRTAB_USED",
    "H_TAIL_POS", "H_VERSION", "H_WRITE_POS", "KIND_MASK", "K_BYTES", "K_FALSE", "K_FLOAT", "K_INT",
    "K_NONE", "K_OBJ", "K_STR", "K_TRUE", "LEVELS", "LEVEL_NAMES", "LEVEL_OFF", "MAGIC", "MAX_FIELDS",
    "MAX_INTERNED_MESSAGE", "MAX_RING_SIZE", "METHOD_LEVELS", "MIN_RING_SIZE", "REC_COMMIT",
    "REC_FLAGS", "REC_HEADER", "REC_LEN", "REC_LEVEL", "REC_LOGGER", "REC_MSG", "REC_NFIELDS",
    "REC_SEQ", "REC_STRUCT", "REC_TID", "REC_TS", "RF_FIELDS_CUT", "RF_MSG_CUT", "RF_MSG_INLINE",
    "STATE_CLOSED", "STATE_LIVE", "STRTAB_FIRST", "S_KEY", "S_LOGGER", "S_MESSAGE", "S_OTHER", "T_CUT",
    "T_KEY_INLINE", "VERSION", "marker", "pad_marker",
]

MAGIC = b"TTLOGRNG"
VERSION = 1
HEADER_SIZE = 4096

# ---- header offsets (little-endian); TTLOG_HEADER_FIELDS ----------------------------------------
H_MAGIC = 0  # 8s
H_VERSION = 8  # u32
H_HEADER_SIZE = 12  # u32
H_FILE_SIZE = 16  # u64
H_STRTAB_OFF = 24  # u64
H_STRTAB_CAP = 32  # u64
H_DATA_OFF = 40  # u64
H_DATA_CAP = 48  # u64, a power of two
H_PID = 56  # i64
H_START_NS = 64  # i64, wall clock
H_FLAGS = 72  # u32, FLAG_*
H_MAX_STR = 76  # u32, longest str/bytes value kept, in bytes
H_STATE = 80  # u32, STATE_*
H_MIN_LEVEL = 84  # u32, records below it are not written
H_SNAP_REQ = 88  # u64, incremented by ttlog.snapshot()
H_SNAP_REASON = 96  # u32, string id of the last snapshot reason
H_EXIT_REASON = 100  # u32, string id set with STATE_CLOSED ("exit", "exception", "signal")
H_SERVICE = 128  # 64s, UTF-8, NUL padded
H_HOST = 192  # 64s, UTF-8, NUL padded
# producer-written positions, own cache line
H_WRITE_POS = 256  # u64
H_RESERVE_POS = 264  # u64
H_TAIL_POS = 272  # u64
H_SEQ_NEXT = 280  # u64, records committed so far (the next record's seq)
H_DROPPED = 288  # u64, records dropped (ring full in drop mode, or larger than a ring half)
H_STRTAB_USED = 320  # u64, own cache line
# sidecar-written, own cache line
H_READ_POS = 384  # u64
H_READ_SEQ = 392  # u64, seq of the next record the sidecar will read
H_SIDECAR_PID = 400  # i64
H_SIDECAR_BEAT = 408  # i64, wall clock ns of the sidecar's last pass
H_DRAINED = 416  # u64, records the sidecar has made safe
H_LOST = 424  # u64, records overwritten before the sidecar read them
H_SNAP_DONE = 432  # u64, the snap_req value the sidecar has last answered with a snapshot
H_DROPPED_REPORTED = 440  # u64, how many of H_DROPPED the snapshot files have carried so far

FLAG_OVERWRITE = 1

STATE_LIVE = 1
STATE_CLOSED = 2

# ---- records; TTLOG_RECORD_FIELDS --------------------------------------------------------------
REC_HEADER = 40
REC_LEN = 0  # u32, whole record in bytes, a multiple of 8
REC_COMMIT = 4  # u32, marker(pos), written last
REC_SEQ = 8  # u64
REC_TS = 16  # i64, ns since the epoch
REC_TID = 24  # u32
REC_LOGGER = 28  # u32, string id
REC_MSG = 32  # u32, string id (0: the message is inline)
REC_LEVEL = 36  # u8
REC_FLAGS = 37  # u8, RF_*
REC_NFIELDS = 38  # u16
# the same fields in that order, as one struct
REC_STRUCT = struct.Struct("<IIQqIIIBBH")
assert REC_STRUCT.size == REC_HEADER

RF_MSG_INLINE = 0x01  # message text follows the header (u32 len + bytes) instead of msg_id
RF_MSG_CUT = 0x02  # that inline message was cut at max_str
RF_FIELDS_CUT = 0x04  # more fields were given than a record holds; the rest are not stored

MAX_FIELDS = 255

# ---- fields; TTLOG_FIELD_KINDS (the low nibble of the type byte) --------------------------------
K_INT = 1  # i64
K_FLOAT = 2  # f64
K_TRUE = 3
K_FALSE = 4
K_NONE = 5
K_STR = 6  # u32 len + UTF-8
K_BYTES = 7  # u32 len + bytes
K_OBJ = 8  # u32 len + UTF-8 of str(value): a value of a type the ring does not store natively
T_KEY_INLINE = 0x40  # the key is u16 len + UTF-8 instead of a u32 string id
T_CUT = 0x80  # the str/bytes/obj value was cut at max_str bytes
KIND_MASK = 0x0F

COMMIT_SALT = 0x7A3C5E91


def marker(pos: int) -> int:
    """Commit word of a record at ``pos``; a pad record carries its bitwise complement."""
    return ((pos >> 3) ^ COMMIT_SALT) & 0xFFFFFFFF


def pad_marker(pos: int) -> int:
    return marker(pos) ^ 0xFFFFFFFF


# ---- string table ------------------------------------------------------------------------------
# Entries at 8-aligned offsets: u32 len, u32 kind, UTF-8 bytes, zero pad to 8. An entry's id is
# its offset / 8; offset 0 holds 8 zero bytes so id 0 means "none".
S_LOGGER = 1
S_MESSAGE = 2
S_KEY = 3
S_OTHER = 4
MAX_INTERNED_MESSAGE = 256  # longer messages are stored inline in the record
STRTAB_FIRST = 8

# ---- levels; TTLOG_LEVELS ----------------------------------------------------------------------
LEVELS: dict[str, int] = {
    "TRACE": 5,
    "DEBUG": 10,
    "MARKET_DATA": 15,
    "INFO": 20,
    "ORDER": 21,
    "TRADE": 22,
    "PORTFOLIO": 23,
    "RISK": 25,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
LEVEL_NAMES: dict[int, str] = {v: k for k, v in LEVELS.items()}
LEVEL_OFF = 255  # min_level that writes nothing

# The logger methods that write at a level: the twin's are made from this dict, the C ones from
# format.h's TTLOG_LEVELS (method column) and TTLOG_LEVEL_ALIASES, which test_layout checks this
# dict against. Logger.exception (ERROR, plus the traceback) and Logger.log(level, ...) are not in it.
METHOD_LEVELS: dict[str, int] = {
    "trace": 5,
    "debug": 10,
    "market_data": 15,
    "info": 20,
    "order": 21,
    "trade": 22,
    "portfolio": 23,
    "risk": 25,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "critical": 50,
}

# ---- ring sizes a reader accepts -----------------------------------------------------------------
MIN_RING_SIZE = 64 << 10
MAX_RING_SIZE = 1 << 34  # keeps commit words of one physical slot distinct across laps
