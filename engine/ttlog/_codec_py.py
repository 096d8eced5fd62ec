"""The pure-Python twin of ``ttlog._codec``: LZ4 blocks, xxHash32 and the writer's typed-array kernels.

Every function takes the arguments of its C namesake (engine/ttlog/_c/codec/) and returns the
same result, byte for byte, so a snapshot written on an install without a compiler holds the
same CBOR. Two differences, both allowed by the LZ4 frame format and invisible after
decompression: :func:`frame_blocks` stores every block uncompressed (the high bit of the block
size), and :func:`compress_block` makes a valid block of literals only. Slow is acceptable here;
the C module is what a sidecar runs.

Typed arrays are bytes-like objects of little-endian values, named by ``struct``/``array``
type codes (B H I b h i q d). See engine/ttlog/events.py for what each column holds.

Invariants:
- Same results as the C module, including which inputs raise ValueError.
- Nothing allocates more than the sizes of its arguments call for.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BLOCK_MAX",
    "Xxh32",
    "argsort_i64",
    "compress_block",
    "decompress_block",
    "distinct",
    "float_scale",
    "frame_blocks",
    "iota_u32",
    "is_sorted_i64",
    "join_text",
    "lut_from_mask",
    "mark_u32",
    "pack_ints",
    "remap_u32",
    "shift_u32",
    "take",
    "take_sparse",
    "xxh32",
]

BLOCK_MAX = 4 << 20
UNMAPPED = 0xFFFFFFFF
_BIG = sys.byteorder == "big"
_SIZES = {"B": 1, "H": 2, "I": 4, "b": 1, "h": 2, "i": 4, "q": 8, "d": 8}
_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1
TAG_U8, TAG_U16, TAG_U32, TAG_U64 = 64, 69, 70, 71
TAG_I8, TAG_I16, TAG_I32, TAG_I64 = 72, 77, 78, 79
_TAG_CODE = {TAG_U8: "B", TAG_U16: "H", TAG_U32: "I", TAG_U64: "Q",
             TAG_I8: "b", TAG_I16: "h", TAG_I32: "i", TAG_I64: "q"}

if array("I").itemsize != 4 or array("q").itemsize != 8 or array("Q").itemsize != 8:  # pragma: no cover
    raise ImportError("ttlog._codec_py needs 4-byte 'I' and 8-byte 'q' arrays")


def _load(buf: Any, code: str, what: str) -> array:
    """The values of a little-endian typed array as an ``array`` of type ``code``."""
    data = memoryview(buf).cast("B")
    size = _SIZES.get(code) if code != "Q" else 8
    if size is None:
        raise ValueError("a type code is one of B H I b h i q d")
    if len(data) % size:
        raise ValueError(f"{what}: {len(data)} bytes is not a whole number of {size}-byte values")
    out = array(code)
    out.frombytes(data)
    if _BIG and size > 1:  # pragma: no cover - little-endian machines only in CI
        out.byteswap()
    return out


def _dump(code: str, values: Any) -> bytes:
    out = array(code, values)
    if _BIG and out.itemsize > 1:  # pragma: no cover
        out.byteswap()
    return out.tobytes()


def _check_code(code: Any) -> str:
    if not isinstance(code, str) or len(code) != 1 or code not in _SIZES:
        raise ValueError("a type code is one of B H I b h i q d")
    return code


# ---- pack_ints ----------------------------------------------------------------------------------


def _narrow(lo: int, hi: int) -> int:
    if lo >= 0:
        for tag, limit in ((TAG_U8, 0xFF), (TAG_U16, 0xFFFF), (TAG_U32, _M32)):
            if hi <= limit:
                return tag
        return TAG_U64
    for tag, bits in ((TAG_I8, 7), (TAG_I16, 15), (TAG_I32, 31)):
        if -(1 << bits) <= lo and hi < 1 << bits:
            return tag
    return TAG_I64


def pack_ints(buf: Any, code: str, delta_from: int | None = None) -> tuple[int, bytes, int, bytes | None]:
    """The integers of ``buf`` (or their differences from the one before, the first from
    ``delta_from``, in wrapping 64-bit arithmetic) as the narrowest RFC 8746 typed array:
    ``(tag, data, hi_tag, hi_data)``. Values that need 32 bits, or 64 bits but fit in 48, are
    split: ``data`` holds the low 16 bits (tag 69) and ``hi_data`` the rest (``value >> 16``,
    its own narrowest tag); otherwise ``hi_tag`` is 0 and ``hi_data`` None."""
    code = _check_code(code)
    if code == "d":
        raise ValueError("pack_ints takes integers")
    if delta_from is not None and not -(1 << 63) <= delta_from < 1 << 63:
        raise ValueError("delta_from is not a 64-bit integer")
    values: Any = _load(buf, code, "pack_ints")
    if not values:
        return TAG_U8, b"", 0, None
    if delta_from is not None:
        prev = [delta_from, *values[:-1]]
        values = [v - p for v, p in zip(values, prev, strict=True)]
        lo, hi = min(values), max(values)
        if lo < -(1 << 63) or hi >= 1 << 63:  # wrapped, as int64 arithmetic does
            values = [((v + (1 << 63)) & _M64) - (1 << 63) for v in values]
    lo, hi = min(values), max(values)
    tag = _narrow(lo, hi)
    if tag in (TAG_U32, TAG_I32) or (tag in (TAG_U64, TAG_I64) and -(1 << 47) <= lo and hi < 1 << 48):
        hi_tag = _narrow(lo >> 16, hi >> 16)
        return (TAG_U16, _dump("H", [v & 0xFFFF for v in values]),
                hi_tag, _dump(_TAG_CODE[hi_tag], [v >> 16 for v in values]))
    return tag, _dump(_TAG_CODE[tag], values), 0, None


# ---- float_scale --------------------------------------------------------------------------------

_LIMIT = float(1 << 53)


def float_scale(buf: Any, max_scale: int) -> tuple[int, bytes] | None:
    """The smallest ``scale <= max_scale`` such that every float64 ``v`` equals
    ``rint(v * 10**scale) / 10**scale`` bit for bit, with those integers (int64 bytes); None if
    no scale does. The first 64 values are tried first (all must be finite)."""
    if not 0 <= max_scale <= 22:
        raise ValueError("max_scale must be from 0 to 22")
    values = _load(buf, "d", "float_scale")
    if not values:
        return None
    sample = values[:64]
    if not all(map(math.isfinite, sample)):
        return None
    raw = memoryview(buf).cast("B")
    for scale in range(max_scale + 1):
        p = 10.0**scale
        scaled = [x * p for x in sample]
        if max(map(abs, scaled)) >= _LIMIT:
            break
        if _dump("d", [round(y) / p for y in scaled]) != bytes(raw[: 8 * len(sample)]):
            continue
        scaled = [x * p for x in values]
        if not all(-_LIMIT < y < _LIMIT for y in scaled):  # also an infinity or a NaN
            break
        ks = [round(y) for y in scaled]
        if _dump("d", [k / p for k in ks]) == bytes(raw):
            return scale, _dump("q", ks)
    return None


# ---- string ids ---------------------------------------------------------------------------------


def remap_u32(ids: Any, lut: Any, extra_keys: Any = None,
              extra_vals: Any = None) -> tuple[bytearray, list[int]]:
    """``lut[id]`` for each uint32 id, else the extra mapping (sorted keys), else 0xFFFFFFFF;
    and the ids neither maps, distinct and ascending."""
    ids_a = _load(ids, "I", "remap_u32 ids")
    table = _load(lut, "I", "remap_u32 lut")
    extra: dict[int, int] = {}
    if extra_keys is not None:
        keys = _load(extra_keys, "I", "remap_u32 extra_keys")
        vals = _load(extra_vals, "I", "remap_u32 extra_vals")
        if len(keys) != len(vals):
            raise ValueError("remap_u32: extra keys and values differ in length")
        extra = dict(zip(keys, vals, strict=True))
    size = len(table)
    out = [table[i] if i < size else UNMAPPED for i in ids_a]
    missing = set()
    if UNMAPPED in out:
        for k, (i, sid) in enumerate(zip(ids_a, out, strict=True)):
            if sid == UNMAPPED:
                sid = extra.get(i, UNMAPPED)
                if sid == UNMAPPED:
                    missing.add(i)
                else:
                    out[k] = sid
    return bytearray(_dump("I", out)), sorted(missing)


def distinct(buf: Any, code: str, limit: int) -> list[int] | None:
    """The distinct values of a B or I array, ascending; None if there are more than ``limit``."""
    code = _check_code(code)
    if code not in ("B", "I"):
        raise ValueError("distinct takes B or I arrays")
    if not 0 <= limit <= 4096:
        raise ValueError("distinct: limit must be from 0 to 4096")
    values = set(_load(buf, code, "distinct"))
    return None if len(values) > limit else sorted(values)


def mark_u32(mask: bytearray, ids: Any) -> None:
    """``mask[id] = 1`` for every uint32 id."""
    view = memoryview(mask).cast("B")
    size = len(view)
    for i in _load(ids, "I", "mark_u32 ids"):
        if i >= size:
            raise ValueError("mark_u32: an id past the end of the mask")
        view[i] = 1


def lut_from_mask(mask: Any) -> bytes:
    """uint32 per slot of ``mask``: its rank among the marked slots, 0xFFFFFFFF if unmarked."""
    out = []
    rank = 0
    for m in memoryview(mask).cast("B"):
        if m:
            out.append(rank)
            rank += 1
        else:
            out.append(UNMAPPED)
    return _dump("I", out)


def join_text(codes: Any, pool: list[str]) -> bytes | None:
    """UTF-8 of ``pool[code]`` for each code, joined by U+0000; None if a text holds U+0000."""
    if not isinstance(pool, list):
        raise TypeError("join_text(codes, pool: list)")
    size = len(pool)
    texts = []
    for c in _load(codes, "I", "join_text codes"):
        if c >= size:
            raise ValueError("join_text: a code past the end of the pool")
        text = pool[c]
        if not isinstance(text, str):
            raise TypeError("join_text: the pool holds a non-text")
        if "\0" in text:  # (checked in order, as the C module does: later codes are not looked at)
            return None
        texts.append(text)
    return "\0".join(texts).encode("utf-8")


# ---- merging by time ----------------------------------------------------------------------------


def is_sorted_i64(buf: Any) -> bool:
    """Whether the int64 values never decrease."""
    v = _load(buf, "q", "is_sorted_i64")
    return all(a <= b for a, b in zip(v, v[1:], strict=False))


def argsort_i64(buf: Any) -> bytes:
    """The stable ascending order of the int64 values, as uint32 indexes."""
    v = _load(buf, "q", "argsort_i64")
    if len(v) > 1 << 32:
        raise ValueError("argsort_i64: more than 2**32 values")
    return _dump("I", sorted(range(len(v)), key=v.__getitem__))


_TAKE_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


def take(buf: Any, itemsize: int, perm: Any) -> bytes:
    """Element ``perm[i]`` of ``buf`` for each uint32 ``perm[i]``."""
    code = _TAKE_CODES.get(itemsize)
    if code is None:
        raise ValueError("take: itemsize must be 1, 2, 4 or 8")
    data = memoryview(buf).cast("B")
    if len(data) % itemsize:
        raise ValueError(f"take: {len(data)} bytes is not a whole number of {itemsize}-byte values")
    src = data.cast(code)
    n = len(src)
    out = []
    for j in _load(perm, "I", "take perm"):
        if j >= n:
            raise ValueError("take: an index past the end")
        out.append(src[j])
    return array(code, out).tobytes()


def take_sparse(perm: Any, rows: Any, n: int) -> tuple[bytes, bytes]:
    """Where the ascending ``rows`` of a sparse column land once ``n`` rows are reordered by
    ``perm`` (new row i is old row perm[i]), and the index of the value each new row takes."""
    p = _load(perm, "I", "take_sparse perm")
    r = _load(rows, "I", "take_sparse rows")
    if len(p) != n or n > 0x7FFFFFFF or len(r) > n:
        raise ValueError("take_sparse: the permutation is not of n rows")
    mark: dict[int, int] = {}
    for j, row in enumerate(r):
        if row >= n:
            raise ValueError("take_sparse: rows or permutation out of range")
        mark[row] = j
    new_rows, order = [], []
    for i, old in enumerate(p):
        if old >= n:
            raise ValueError("take_sparse: rows or permutation out of range")
        j = mark.get(old)
        if j is not None:
            new_rows.append(i)
            order.append(j)
    if len(new_rows) != len(r):
        raise ValueError("take_sparse: rows or permutation out of range")
    return _dump("I", new_rows), _dump("I", order)


def shift_u32(buf: Any, delta: int) -> bytes:
    """Every uint32 plus ``delta`` (ValueError if a result leaves 0..2**32-1)."""
    out = [v + delta for v in _load(buf, "I", "shift_u32")]
    if out and (min(out) < 0 or max(out) > _M32):
        raise ValueError("shift_u32: a value leaves the uint32 range")
    return _dump("I", out)


def iota_u32(start: int, count: int) -> bytes:
    """``start, start + 1, ...`` as ``count`` uint32 values."""
    if start < 0 or count < 0 or start + count > 1 << 32:
        raise ValueError("iota_u32: values leave the uint32 range")
    return _dump("I", range(start, start + count))


# ---- xxHash32 -----------------------------------------------------------------------------------

_P1, _P2, _P3, _P4, _P5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1


def _lanes(v: list[int], words: Sequence[int]) -> list[int]:
    """The four lanes after the 16-byte stripes of ``words`` (a multiple of four uint32)."""
    out = []
    for i, acc in enumerate(v):
        for w in words[i::4]:
            acc = (acc + w * _P2) & _M32
            acc = (((acc << 13) | (acc >> 19)) & _M32) * _P1 & _M32
        out.append(acc)
    return out


class Xxh32:
    """xxHash32 of a stream: ``update(data)`` as often as needed, then ``digest()``."""

    def __init__(self, seed: int = 0) -> None:
        seed &= _M32
        self._seed = seed
        self._v = [(seed + _P1 + _P2) & _M32, (seed + _P2) & _M32, seed, (seed - _P1) & _M32]
        self._total = 0
        self._rest = b""

    def update(self, data: Any) -> None:
        data = bytes(memoryview(data).cast("B"))
        self._total += len(data)
        data = self._rest + data
        whole = len(data) // 16 * 16
        if whole:
            words = _load(data[:whole], "I", "xxh32")
            self._v = _lanes(self._v, words)
        self._rest = data[whole:]

    def digest(self) -> int:
        v = self._v
        if self._total >= 16:
            rotated = (((x << r) | (x >> (32 - r))) & _M32 for x, r in zip(v, (1, 7, 12, 18), strict=True))
            h = sum(rotated) & _M32
        else:
            h = (self._seed + _P5) & _M32
        h = (h + self._total) & _M32
        rest = self._rest
        i = 0
        while i + 4 <= len(rest):
            h = (h + struct.unpack_from("<I", rest, i)[0] * _P3) & _M32
            h = (((h << 17) | (h >> 15)) & _M32) * _P4 & _M32
            i += 4
        for b in rest[i:]:
            h = (h + b * _P5) & _M32
            h = (((h << 11) | (h >> 21)) & _M32) * _P1 & _M32
        h ^= h >> 15
        h = h * _P2 & _M32
        h ^= h >> 13
        h = h * _P3 & _M32
        h ^= h >> 16
        return h


def xxh32(data: Any, seed: int = 0) -> int:
    """xxHash32 of ``data``."""
    h = Xxh32(seed)
    h.update(data)
    return h.digest()


# ---- LZ4 blocks ---------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    """A length beyond the token's nibble: 255s, then the rest."""
    return b"\xff" * (n // 255) + bytes([n % 255])


def compress_block(data: Any, level: int = 0) -> bytes:
    """A valid LZ4 block holding ``data`` as literals only (the C module really compresses)."""
    raw = bytes(memoryview(data).cast("B"))
    if len(raw) > 0x7E000000:
        raise ValueError("compress_block: more than an LZ4 block holds")
    n = len(raw)
    if n >= 15:
        return b"\xf0" + _length(n - 15) + raw
    return bytes([n << 4]) + raw


def frame_blocks(data: Any, level: int = 0, block_max: int = BLOCK_MAX) -> bytes:
    """``data`` (bytes-like, or a list of bytes-like parts taken as one) as LZ4 frame blocks of
    at most ``block_max`` bytes each, stored uncompressed (size with the high bit set, the
    bytes, their xxHash32)."""
    if not 1 <= block_max <= BLOCK_MAX:
        raise ValueError("frame_blocks: block_max must be from 1 to 4 MiB")
    if isinstance(data, list):
        data = b"".join(data)
    raw = memoryview(data).cast("B")
    out = bytearray()
    for at in range(0, len(raw), block_max):
        part = raw[at : at + block_max]
        out += struct.pack("<I", len(part) | 0x80000000)
        out += part
        out += struct.pack("<I", xxh32(part))
    return bytes(out)


def decompress_block(data: Any, max_size: int, prefix: Any = b"") -> bytes:
    """The content of one LZ4 block of at most ``max_size`` bytes; ``prefix``: the content
    before it, for a linked block (its last 64 KiB matter). ValueError if malformed."""
    if not 0 <= max_size <= 0x7E000000:
        raise ValueError("decompress_block: max_size out of range")
    src = bytes(memoryview(data).cast("B"))
    history = bytes(memoryview(prefix).cast("B"))[-65536:]
    out = bytearray(history)
    base = len(history)
    limit = base + max_size
    n = len(src)
    bad = ValueError("not a valid LZ4 block (or it holds more than max_size bytes)")
    if not n:
        raise bad
    ip = 0
    while True:
        token = src[ip]
        ip += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if ip >= n:
                    raise bad
                b = src[ip]
                ip += 1
                lit += b
                if b != 255:
                    break
        if lit > n - ip or lit > limit - len(out):
            raise bad
        out += src[ip : ip + lit]
        ip += lit
        if ip == n:
            break
        if n - ip < 2:
            raise bad
        offset = src[ip] | src[ip + 1] << 8
        ip += 2
        if offset == 0 or offset > len(out):
            raise bad
        length = token & 15
        if length == 15:
            while True:
                if ip >= n:
                    raise bad
                b = src[ip]
                ip += 1
                length += b
                if b != 255:
                    break
        length += 4
        if length > limit - len(out):
            raise bad
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:  # overlapping: the output repeats with period offset
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
        if ip >= n:
            raise bad
    return bytes(out[base:])
