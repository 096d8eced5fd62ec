"""Reading LZ4 frames (the container of a snapshot) with a bound on what they may inflate to.

A snapshot is one standard LZ4 frame. This module walks the frame's blocks without inflating
them (so a reader can find a block by its file offset), inflates a range of blocks on its own
when the blocks are independent (random access to one chunk of a snapshot), and streams the
whole content through the ``lz4`` package's frame decompressor otherwise.

Invariants:
- Nothing here inflates more than the caller's ``budget`` bytes: a frame that would is
  reported as :class:`FrameError` before the excess is held in memory.
- Every length read from the file is checked against the file's size before it is used; a
  truncated or corrupt frame raises :class:`FrameError` (one line), never anything else.
- No UI library here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.block
import lz4.frame
from ttlog.kernels import IMPLEMENTATION, K

__all__ = ["FrameError", "FrameLayout", "BlockStream", "SequentialStream", "open_map", "read_layout"]

MAGIC = 0x184D2204
_BLOCK_MAX = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}
_END_MARK = b"\0\0\0\0"


_XXH32 = K.xxh32 if IMPLEMENTATION == "c" else None
"""xxHash32 in C, to check each block before it is inflated; None: the lz4 package checks it."""


def _inflate(raw: bytes, block_max: int) -> bytes:
    try:
        return lz4.block.decompress(raw, uncompressed_size=block_max)
    except Exception as exc:  # noqa: BLE001 - any failure of the LZ4 library is a bad file
        raise FrameError(f"corrupt snapshot (LZ4 block: {' '.join(str(exc).split())[:120]})") from None


def _one_block_header(block_max: int) -> bytes:
    """The header of a frame of independent, checksummed blocks of ``block_max`` bytes with no
    content checksum: one block of a snapshot, given this header and an end mark, is a frame of
    its own that the ``lz4`` package inflates and checks (the block's xxHash32) in C."""
    code = next(c for c, size in _BLOCK_MAX.items() if size == block_max)
    desc = bytes((0x40 | 0x20 | 0x10, code << 4))
    return MAGIC.to_bytes(4, "little") + desc + bytes(((K.xxh32(desc) >> 8) & 0xFF,))


class FrameError(Exception):
    """The bytes are not a readable LZ4 frame, or inflate past the allowed size (one line)."""


@dataclass(frozen=True)
class FrameLayout:
    """Where a frame's parts are: its header's flags and the file offset of every data block.

    ``blocks[i]`` is the offset of block i's 4-byte size field; ``end_mark`` the offset of the
    end mark (a zero size field). ``independent`` blocks can be inflated alone.
    """

    size: int
    data_start: int
    block_max: int
    independent: bool
    block_checksum: bool
    content_checksum: bool
    blocks: tuple[int, ...]
    end_mark: int


class FileBytes:
    """A file's bytes, read on demand with ``pread`` (``data[a:b]``, ``len(data)``): unlike a map,
    what was read does not stay resident, so reading a day of snapshots keeps memory flat."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: slice | int) -> Any:
        if isinstance(key, int):
            return self[key : key + 1][0]
        start, stop, _ = key.indices(self._size)
        if stop <= start:
            return b""
        try:
            data = os.pread(self._fd, stop - start, start)
        except OSError as exc:
            raise FrameError(f"cannot read snapshot: {exc.strerror or exc}") from None
        if len(data) != stop - start:
            raise FrameError("truncated snapshot (the file shrank while it was read)")
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def u32(data: Any, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "little")


def open_map(path: Path) -> tuple[FileBytes | bytes, int]:
    """The file's bytes, read on demand (an empty file gives ``b""``), and its size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise FrameError(f"cannot open snapshot: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        import stat

        if not stat.S_ISREG(st.st_mode):
            raise FrameError("cannot read snapshot: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    if st.st_size == 0:
        os.close(fd)
        return b"", 0
    return FileBytes(fd, st.st_size), st.st_size


def read_layout(data: Any, size: int) -> FrameLayout:
    """Parse the frame header and walk the block size fields (nothing is inflated)."""
    head = data[0:15]
    if size < 7 or int.from_bytes(head[0:4], "little") != MAGIC:
        raise FrameError("not a ttlog snapshot (not an LZ4 frame)")
    flg, bd = head[4], head[5]
    if flg >> 6 != 1:
        raise FrameError("LZ4 frame of an unknown version")
    if flg & 0x02 or bd & 0x8F:
        raise FrameError("LZ4 frame header has reserved bits set")
    if flg & 0x01:
        raise FrameError("LZ4 frame needs a dictionary")
    block_max = _BLOCK_MAX.get((bd >> 4) & 0x07)
    if block_max is None:
        raise FrameError("LZ4 frame with an unknown block size")
    pos = 6 + (8 if flg & 0x08 else 0) + 1  # content size, then the header checksum byte
    if pos > size:
        raise FrameError("truncated snapshot (the LZ4 frame header is cut)")
    block_checksum = bool(flg & 0x10)
    blocks = []
    extra = 4 if block_checksum else 0
    while True:
        if pos + 4 > size:
            raise FrameError("truncated snapshot (the LZ4 frame does not end)")
        word = u32(data, pos)
        if word == 0:
            end_mark = pos
            break
        length = word & 0x7FFFFFFF
        if length > block_max:
            raise FrameError("corrupt snapshot (an LZ4 block is larger than the frame allows)")
        blocks.append(pos)
        pos += 4 + length + extra
    tail = end_mark + 4 + (4 if flg & 0x04 else 0)
    if tail > size:
        raise FrameError("truncated snapshot (the LZ4 frame does not end)")
    if tail < size:
        raise FrameError(f"corrupt snapshot ({size - tail} bytes after the LZ4 frame)")
    return FrameLayout(size, 7 if not flg & 0x08 else 15, block_max, bool(flg & 0x20), block_checksum,
                       bool(flg & 0x04), tuple(blocks), end_mark)


class BlockStream:
    """The inflated bytes of the blocks from file offset ``start`` up to ``stop`` (exclusive), as
    a read-only stream (``read(n)``), inflating one block at a time. Independent blocks only."""

    def __init__(self, data: Any, layout: FrameLayout, start: int, stop: int, budget: int) -> None:
        self._data = data
        self._layout = layout
        self._pos = start
        self._stop = stop
        self._budget = budget
        self._buf = b""
        self._off = 0
        self.inflated = 0
        self._header = _one_block_header(layout.block_max) if layout.block_checksum else b""

    def _next_block(self) -> bool:
        if self._pos >= self._stop:
            return False
        block = self._block()
        self._buf = self._buf[self._off :] + block if self._off < len(self._buf) else block
        self._off = 0
        return True

    def _block(self) -> bytes:
        """The next block, checked and inflated (within the budget)."""
        layout = self._layout
        extra = 4 if layout.block_checksum else 0
        word = u32(self._data, self._pos)
        length = word & 0x7FFFFFFF
        begin = self._pos + 4
        raw = self._data[begin : begin + length + extra]  # the block and its checksum, one read
        self._pos = begin + length + extra
        if len(raw) != length + extra:
            raise FrameError("truncated snapshot (an LZ4 block is cut)")
        if layout.block_checksum and _XXH32 is None:
            block = self._checked_by_lz4(word, raw)
        else:
            if extra:
                raw, check = raw[:length], raw[length:]
                if int.from_bytes(check, "little") != _XXH32(raw):  # before a byte of it is used
                    raise FrameError("corrupt snapshot (an LZ4 block's checksum does not match)")
            block = bytes(raw) if word & 0x80000000 else _inflate(raw, layout.block_max)
        self.inflated += len(block)
        if self.inflated > self._budget:
            raise FrameError(f"corrupt snapshot (inflates to more than the {self._budget:,} bytes its "
                             "header allows)")
        return block

    def content(self) -> bytes:
        """Everything not yet read, to the stop: the blocks joined once (no growing buffer)."""
        parts = [self._buf[self._off :]] if self._off < len(self._buf) else []
        self._buf, self._off = b"", 0
        while self._pos < self._stop:
            parts.append(self._block())
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _checked_by_lz4(self, word: int, raw: bytes) -> bytes:
        """Without the C kernels: the block (``raw``: its bytes, then its checksum) as a frame of
        its own, inflated and its checksum checked by the ``lz4`` package (slower)."""
        framed = b"".join((self._header, word.to_bytes(4, "little"), raw, _END_MARK))
        try:
            return lz4.frame.decompress(framed)
        except Exception as exc:  # noqa: BLE001 - any failure of the LZ4 library is a bad file
            raise FrameError(f"corrupt snapshot (LZ4 block: {' '.join(str(exc).split())[:120]})") from None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # so a CBOR decoder reads exactly what it needs, never ahead
        return False

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return self.content()
        while len(self._buf) - self._off < n:
            if not self._next_block():
                break
        out = self._buf[self._off : self._off + n]
        self._off += len(out)
        return out

    def at_end(self) -> bool:
        return self._off >= len(self._buf) and self._pos >= self._stop


class SequentialStream:
    """The inflated content of a whole frame, read front to back through the ``lz4`` package's
    frame decompressor (linked blocks and checksums handled there), never more than ``budget``."""

    def __init__(self, data: Any, size: int, budget: int, *, step: int = 1 << 20) -> None:
        self._data = data
        self._size = size
        self._in = 0
        self._step = step
        self._budget = budget
        self._dec = lz4.frame.LZ4FrameDecompressor()
        self._buf = b""
        self._off = 0
        self.inflated = 0
        self.position = 0  # content bytes handed out so far
        self._limit: int | None = None  # a tighter bound for what is read next (one chunk)

    def limit_next(self, size: int) -> None:
        """From here on, at most ``size`` more bytes may be read (what the next item may hold)."""
        self._limit = self.position + size

    def _more(self, want: int) -> bool:
        dec = self._dec
        if dec.eof:
            return False
        try:
            if dec.needs_input:
                if self._in >= self._size:
                    raise FrameError("truncated snapshot (the LZ4 frame does not end)")
                piece = self._data[self._in : self._in + self._step]
                self._in += len(piece)
                block = dec.decompress(piece, max_length=max(want, 1 << 16))
            else:
                block = dec.decompress(b"", max_length=max(want, 1 << 16))
        except FrameError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the LZ4 library is a bad file
            raise FrameError("corrupt or truncated snapshot "
                             f"(LZ4: {' '.join(str(exc).split())[:120]})") from None
        self.inflated += len(block)
        if self.inflated > self._budget:
            raise FrameError(f"corrupt snapshot (inflates to more than the {self._budget:,} bytes its "
                             "header allows)")
        if block:
            self._buf = self._buf[self._off :] + block if self._off < len(self._buf) else block
            self._off = 0
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # so a CBOR decoder reads exactly what it needs, never ahead
        return False

    def read(self, n: int) -> bytes:
        if self._limit is not None and self.position + n > self._limit:
            raise FrameError(f"corrupt snapshot (a chunk holds more than the {self._limit:,} bytes "
                             "its events can take)")
        while len(self._buf) - self._off < n:
            if not self._more(n - (len(self._buf) - self._off)):
                break
        out = self._buf[self._off : self._off + n]
        self._off += len(out)
        self.position += len(out)
        return out

    def finish(self) -> None:
        """Check that nothing follows what was read: the frame ends, with nothing after it."""
        while True:
            if self._off < len(self._buf):
                raise FrameError("corrupt snapshot (bytes after the CBOR map inside the LZ4 frame)")
            if not self._more(1 << 16):
                break
        if not self._dec.eof:
            raise FrameError("truncated snapshot (the LZ4 frame does not end)")
        if self._dec.unused_data or self._in < self._size:
            raise FrameError("corrupt snapshot (bytes after the LZ4 frame)")
