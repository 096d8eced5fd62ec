"""LZ4 frames, the snapshot container: writing (independent, checksummed blocks) and reading.

Written from the LZ4 frame format description. A frame is the magic ``04 22 4D 18``, a
descriptor (FLG, BD, optional content size and dictionary id, a header checksum byte), blocks
(a little-endian u32 size, high bit set when the block is stored uncompressed; the data; its
xxHash32 when block checksums are on), an end mark (four zero bytes) and the xxHash32 of the
whole content when content checksums are on.

The writer (:func:`write_frame`) makes frames that any LZ4 reader reads: FLG ``0x74`` (version 1,
independent blocks, block checksums, content checksum), blocks of at most 4 MiB. Each piece it
is given starts a new block, so a reader can seek to a piece and decompress it alone, and it
reports where each piece starts; a final :class:`Trailer` piece is stored uncompressed and may
use those offsets. Compression (``ttlog.kernels.K``: C, or the twin's uncompressed blocks) runs
in a worker thread while the caller encodes the next piece.

The reader (:func:`read_frame_header`, :func:`iter_blocks`, :func:`decompress`) takes any frame
(linked or independent blocks, with or without checksums and content size) and checks what it
can: sizes against the frame's block size, every checksum present, an end mark.

Invariants:
- A written frame's blocks each hold at most 4 MiB of content and start where a piece starts.
- Reading never decompresses more than the block size the frame declares per block, nor more
  than the ``max_size`` it is given in all; any malformed byte raises ValueError (one line).
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from .kernels import K

__all__ = [
    "BLOCK_MAX",
    "MAGIC",
    "FrameHeader",
    "Trailer",
    "decompress",
    "frame_header",
    "iter_blocks",
    "read_frame_header",
    "write_frame",
]

MAGIC = b"\x04\x22\x4d\x18"
BLOCK_MAX = 4 << 20
FLG = 0x40 | 0x20 | 0x10 | 0x04  # version 01, independent blocks, block checksums, content checksum
BD = 7 << 4  # blocks of at most 4 MiB
_RAW = 0x80000000
_BLOCK_SIZES = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}
_U32 = struct.Struct("<I")


def frame_header() -> bytes:
    """The magic and descriptor of the frames this module writes."""
    desc = bytes((FLG, BD))
    return MAGIC + desc + bytes(((K.xxh32(desc) >> 8) & 0xFF,))


@dataclass
class Trailer:
    """The last piece of a frame, made once the other pieces are placed: ``make(starts, at)``
    gets the file offset where each earlier piece's first block begins and where the trailer's
    own block begins, and returns the trailer's content (stored uncompressed)."""

    make: Callable[[list[int], int], bytes]


def _raw_blocks(data: bytes) -> list[bytes]:
    out = []
    for at in range(0, len(data), BLOCK_MAX):
        part = data[at : at + BLOCK_MAX]
        out += [_U32.pack(len(part) | _RAW), part, _U32.pack(K.xxh32(part))]
    return out


def write_frame(pieces: Iterable[Any], write: Callable[[list[bytes]], None], level: int = 0) -> int:
    """Write ``pieces`` (each bytes-like or a list of bytes-like parts, and at most one
    :class:`Trailer`, last) as one LZ4 frame
    through ``write`` (called with lists of bytes, in order); returns the frame's size.

    Each piece starts a new block. A worker thread compresses and writes while the caller's
    iterator makes the next piece; an exception on either side stops both and is raised here.
    """
    todo: queue.Queue[Any] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []
    done: list[int] = []
    stop = object()

    def worker() -> None:
        hasher = K.Xxh32()
        header = frame_header()
        out: list[bytes] = [header]
        pos, pending = len(header), 0
        starts: list[int] = []
        while True:
            piece = todo.get()
            if failed:  # keep taking pieces so the producer never blocks
                if piece is stop:
                    return
                continue
            try:
                if piece is stop:
                    out += [b"\0\0\0\0", _U32.pack(hasher.digest())]
                    write(out)
                    done.append(pos + 8)
                    return
                if isinstance(piece, Trailer):
                    data = bytes(piece.make(list(starts), pos))
                    blocks = _raw_blocks(data)
                    hasher.update(data)
                    out += blocks
                    pos += sum(map(len, blocks))
                else:
                    starts.append(pos)
                    blocks_b = K.frame_blocks(piece, level)
                    for part in piece if isinstance(piece, list) else (piece,):
                        hasher.update(part)
                    out.append(blocks_b)
                    pos += len(blocks_b)
                    pending += len(blocks_b)
                if pending >= 4 << 20:
                    write(out)
                    out, pending = [], 0
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)
                if piece is stop:
                    return

    thread = threading.Thread(target=worker, name="snapshot-compress", daemon=True)
    thread.start()
    try:
        for piece in pieces:
            if failed:
                break
            todo.put(piece)
    finally:
        todo.put(stop)
        thread.join()
    if failed:
        raise failed[0]
    return done[0]


# ---- reading ------------------------------------------------------------------------------------


@dataclass
class FrameHeader:
    """What a frame's descriptor says."""

    size: int  # bytes from the magic to the first block
    block_max: int
    linked: bool
    block_checksum: bool
    content_checksum: bool
    content_size: int | None


def read_frame_header(data: bytes) -> FrameHeader:
    """Parse the frame descriptor at the start of ``data`` (at least 19 bytes, or the whole
    file if shorter). ValueError (one line) if it is not an LZ4 frame this reader takes."""
    if data[:4] != MAGIC:
        raise ValueError("not an LZ4 frame")
    if len(data) < 7:
        raise ValueError("the LZ4 frame ends inside its header")
    flg, bd = data[4], data[5]
    if flg >> 6 != 1:
        raise ValueError(f"LZ4 frame version {flg >> 6} (this reader reads version 1)")
    if flg & 0x02 or bd & 0x8F:
        raise ValueError("reserved bits set in the LZ4 frame header")
    block_max = _BLOCK_SIZES.get(bd >> 4)
    if block_max is None:
        raise ValueError(f"LZ4 block size code {bd >> 4} is not valid")
    size = 6 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
    if len(data) < size + 1:
        raise ValueError("the LZ4 frame ends inside its header")
    if flg & 0x01:
        raise ValueError("LZ4 frames with a dictionary id are not supported")
    if (K.xxh32(data[4:size]) >> 8) & 0xFF != data[size]:
        raise ValueError("the LZ4 frame header checksum does not match")
    content_size = int.from_bytes(data[6:14], "little") if flg & 0x08 else None
    return FrameHeader(size + 1, block_max, not flg & 0x20, bool(flg & 0x10), bool(flg & 0x04), content_size)


def iter_blocks(fh: BinaryIO, header: FrameHeader, *,
                verify: bool = True) -> Iterator[tuple[int, bool, bytes]]:
    """``(offset, stored_raw, data)`` for each block of the frame, reading ``fh`` from the
    first block on (the caller has read the header); stops at the end mark. Block checksums are
    verified when present (and ``verify``). ValueError if the file ends or a size is too big."""
    pos = header.size
    while True:
        raw_size = fh.read(4)
        if len(raw_size) < 4:
            raise ValueError("the LZ4 frame ends before its end mark")
        (word,) = _U32.unpack(raw_size)
        if word == 0:
            return
        size = word & ~_RAW
        if size > header.block_max + (0 if word & _RAW else header.block_max // 255 + 16):
            raise ValueError(f"an LZ4 block of {size} bytes in a frame of {header.block_max}-byte blocks")
        data = fh.read(size)
        if len(data) < size:
            raise ValueError("the LZ4 frame ends inside a block")
        if header.block_checksum:
            check = fh.read(4)
            if len(check) < 4:
                raise ValueError("the LZ4 frame ends inside a block")
            if verify and _U32.unpack(check)[0] != K.xxh32(data):
                raise ValueError(f"the LZ4 block at byte {pos} fails its checksum")
        yield pos, bool(word & _RAW), data
        pos += 4 + size + (4 if header.block_checksum else 0)


def block_content(header: FrameHeader, raw: bool, data: bytes, history: bytes = b"") -> bytes:
    """The content of one block (``history``: the content before it, for linked blocks)."""
    if raw:
        if len(data) > header.block_max:
            raise ValueError("an LZ4 block holds more than the frame's block size")
        return data
    try:
        return K.decompress_block(data, header.block_max, history if header.linked else b"")
    except ValueError:
        raise ValueError("an LZ4 block is corrupt") from None


def decompress(data: bytes, max_size: int = 1 << 32) -> bytes:
    """The content of a whole frame held in ``data`` (checksums verified, nothing after the
    frame); ValueError if malformed or if it would hold more than ``max_size`` bytes."""
    import io

    header = read_frame_header(data[:19])
    fh = io.BytesIO(data)
    fh.seek(header.size)
    out = bytearray()
    for _, raw, block in iter_blocks(fh, header):
        out += block_content(header, raw, block, bytes(out[-65536:]))
        if len(out) > max_size:
            raise ValueError(f"the LZ4 frame holds more than {max_size} bytes")
    if header.content_checksum:
        check = fh.read(4)
        if len(check) < 4:
            raise ValueError("the LZ4 frame ends before its content checksum")
        if _U32.unpack(check)[0] != K.xxh32(out):
            raise ValueError("the LZ4 frame fails its content checksum")
    if header.content_size is not None and header.content_size != len(out):
        raise ValueError("the LZ4 frame's content size does not match")
    if fh.read(1):
        raise ValueError("bytes after the LZ4 frame")
    return bytes(out)
