"""CBOR (RFC 8949) for snapshots: a small deterministic encoder and a bounded decoder.

The encoder writes what snapshots hold: ints (64-bit and beyond, as bignums), text, bytes,
floats, bools, None, lists, maps and tags (:class:`Tag`; RFC 8746 typed arrays are a tag over
bytes). Every item has one encoding: the shortest head for an int or a length, definite
lengths, floats as float64 (NaN and the infinities as float16), map keys in the order given; so
the same value always gives the same bytes, and ``cbor2.dumps`` gives them too.

The decoder reads such items back for the engine's own needs (a snapshot header in
:func:`ttlog.store.read_header`): it refuses indefinite lengths, nesting deeper than 64 and
simple values it does not know, and never allocates more than the bytes it was given (a length
or a count past the end raises :class:`Incomplete`, a ValueError).

Invariants:
- ``dumps(x) == cbor2.dumps(x)`` for every value the encoder accepts (tags as ``CBORTag``).
- Decoding bad bytes raises ValueError (one line), nothing else; it never reads past the buffer.
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

__all__ = ["Decoder", "Incomplete", "Tag", "Utf8", "dumps", "dumps_parts", "encode", "head", "loads"]


class Tag(NamedTuple):
    """A tagged item: ``tag`` (an RFC 8949 tag number) over ``value``."""

    tag: int
    value: Any


class Utf8(NamedTuple):
    """Text already encoded as UTF-8 (a bytes-like ``data``), written as a CBOR text string."""

    data: Any


class Incomplete(ValueError):
    """The bytes end inside an item (more may follow: a streaming reader reads on)."""


_HEAD1 = [bytes([i]) for i in range(256)]
_F64 = struct.Struct(">Bd")


def head(major: int, value: int) -> bytes:
    """The head of an item: major type and argument (an int, a length or a count)."""
    if value < 24:
        return _HEAD1[major << 5 | value]
    if value < 1 << 8:
        return bytes((major << 5 | 24, value))
    if value < 1 << 16:
        return bytes((major << 5 | 25,)) + value.to_bytes(2, "big")
    if value < 1 << 32:
        return bytes((major << 5 | 26,)) + value.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + value.to_bytes(8, "big")


def encode(obj: Any, out: bytearray) -> None:
    """Append the encoding of ``obj`` to ``out``."""
    t = type(obj)
    if t is str:
        data = obj.encode("utf-8")
        out += head(3, len(data))
        out += data
    elif t is int:
        if 0 <= obj < 1 << 64:
            out += head(0, obj)
        elif -(1 << 64) <= obj < 0:
            out += head(1, -1 - obj)
        else:  # a bignum (RFC 8949 tags 2 and 3)
            tag, mag = (2, obj) if obj >= 0 else (3, -1 - obj)
            data = mag.to_bytes((mag.bit_length() + 7) // 8, "big")
            out += head(6, tag)
            out += head(2, len(data))
            out += data
    elif t is dict:
        out += head(5, len(obj))
        for k, v in obj.items():
            encode(k, out)
            encode(v, out)
    elif t is list or t is tuple:
        out += head(4, len(obj))
        for v in obj:
            encode(v, out)
    elif obj is None:
        out += b"\xf6"
    elif t is bool:
        out += b"\xf5" if obj else b"\xf4"
    elif t is Tag:
        out += head(6, obj.tag)
        encode(obj.value, out)
    elif t is Utf8:
        data = memoryview(obj.data).cast("B")
        out += head(3, len(data))
        out += data
    elif t in (bytes, bytearray, memoryview):
        data = memoryview(obj).cast("B")
        out += head(2, len(data))
        out += data
    elif t is float:
        if math.isnan(obj):
            out += b"\xf9\x7e\x00"
        elif math.isinf(obj):
            out += b"\xf9\x7c\x00" if obj > 0 else b"\xf9\xfc\x00"
        else:
            out += _F64.pack(0xFB, obj)
    elif isinstance(obj, bool):  # pragma: no cover - bool cannot be subclassed
        out += b"\xf5" if obj else b"\xf4"
    elif isinstance(obj, int):
        encode(int(obj), out)
    elif isinstance(obj, str):
        encode(str(obj), out)
    else:
        raise TypeError(f"cannot encode a {t.__name__} as CBOR")


def dumps(obj: Any) -> bytes:
    """The encoding of ``obj``."""
    out = bytearray()
    encode(obj, out)
    return bytes(out)


BIG = 4096
"""Byte and text strings at least this long are parts of their own in :func:`dumps_parts`."""


def dumps_parts(obj: Any) -> list[Any]:
    """The encoding of ``obj`` as a list of bytes-like parts (the same bytes once joined):
    byte strings, typed arrays and pre-encoded text of at least ``BIG`` bytes are parts of
    their own, not copied, so the caller can hand them on (to the compressor) where they are."""
    parts: list[Any] = []
    small = bytearray()

    def emit(x: Any) -> None:
        nonlocal small
        t = type(x)
        if t is dict:
            small += head(5, len(x))
            for k, v in x.items():
                emit(k)
                emit(v)
        elif t is list:
            small += head(4, len(x))
            for v in x:
                emit(v)
        elif t is Tag:
            small += head(6, x.tag)
            emit(x.value)
        elif t in (bytes, bytearray, memoryview) or t is Utf8:
            data = memoryview(x.data if t is Utf8 else x).cast("B")
            small += head(3 if t is Utf8 else 2, len(data))
            if len(data) >= BIG:
                parts.append(small)
                parts.append(data)
                small = bytearray()
            else:
                small += data
        else:
            encode(x, small)

    emit(obj)
    if small:
        parts.append(small)
    return parts


# ---- decoding -----------------------------------------------------------------------------------

MAX_DEPTH = 64
_SIMPLE = {20: False, 21: True, 22: None, 23: None}


class Decoder:
    """Items one after another from ``data``, starting at ``pos`` (advanced past each item).

    ``item()`` raises :class:`Incomplete` when the bytes end inside the item (``pos`` is then
    left where the item began) and ValueError for anything that is not CBOR this decoder takes.
    """

    def __init__(self, data: Any, pos: int = 0) -> None:
        self.data = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self.pos = pos

    def head(self) -> tuple[int, int]:
        """The next item's major type and argument (a map's count, say), without its content."""
        start = self.pos
        try:
            major, _, arg = self._head()
        except Incomplete:
            self.pos = start
            raise
        return major, arg

    def item(self) -> Any:
        start = self.pos
        try:
            return self._item(0)
        except Incomplete:
            self.pos = start
            raise
        except (IndexError, struct.error):  # pragma: no cover - every read is checked first
            self.pos = start
            raise Incomplete("the CBOR ends inside an item") from None

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise Incomplete("the CBOR ends inside an item")
        chunk = bytes(self.data[self.pos : end])
        self.pos = end
        return chunk

    def _head(self) -> tuple[int, int, int]:
        """(major, additional info, argument)."""
        if self.pos >= len(self.data):
            raise Incomplete("the CBOR ends inside an item")
        first = self.data[self.pos]
        self.pos += 1
        major, info = first >> 5, first & 31
        if info < 24:
            return major, info, info
        if info <= 27:
            return major, info, int.from_bytes(self._take(1 << (info - 24)), "big")
        if info == 31:
            raise ValueError("indefinite-length CBOR items are not supported")
        raise ValueError(f"reserved CBOR additional information {info}")

    def _count(self, n: int) -> int:
        """A length or count, refused if the rest of the bytes cannot hold it (each item takes
        at least one byte)."""
        if n > len(self.data) - self.pos:
            raise Incomplete("the CBOR ends inside an item")
        return n

    def _item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"CBOR nested deeper than {MAX_DEPTH}")
        major, info, arg = self._head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self._take(self._count(arg))
        if major == 3:
            raw = self._take(self._count(arg))
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("CBOR text that is not UTF-8") from None
        if major == 4:
            return [self._item(depth + 1) for _ in range(self._count(arg))]
        if major == 5:
            out: dict[Any, Any] = {}
            for _ in range(self._count(arg)):
                key = self._item(depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise ValueError("a CBOR map key that is a list or a map") from None
                out[key] = self._item(depth + 1)
            return out
        if major == 6:
            value = self._item(depth + 1)
            if arg in (2, 3) and isinstance(value, bytes):  # bignums
                mag = int.from_bytes(value, "big")
                return mag if arg == 2 else -1 - mag
            return Tag(arg, value)
        # major 7: simple values and floats
        if info == 25:
            return struct.unpack(">e", arg.to_bytes(2, "big"))[0]
        if info == 26:
            return struct.unpack(">f", arg.to_bytes(4, "big"))[0]
        if info == 27:
            return struct.unpack(">d", arg.to_bytes(8, "big"))[0]
        if arg in _SIMPLE:
            return _SIMPLE[arg]
        raise ValueError(f"CBOR simple value {arg} is not supported")


def loads(data: Any) -> Any:
    """The one item ``data`` holds (ValueError if anything follows it, or it is incomplete)."""
    dec = Decoder(data)
    value = dec.item()
    if dec.pos != len(dec.data):
        raise ValueError("bytes after the CBOR item")
    return value
