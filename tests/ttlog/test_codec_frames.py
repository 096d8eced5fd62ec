"""LZ4 blocks and frames, xxHash32 and CBOR of the engine's own making, against the reference
packages (lz4, cbor2); the whole snapshot writer on C and on the twin; reading one chunk alone."""

from __future__ import annotations

import io
import os
import random
import struct
from pathlib import Path
from typing import Any

import cbor2
import lz4.block
import lz4.frame
import pytest
import ttlog.codec
import ttlog.lz4frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import _codec as C  # noqa: E402 - a missing build fails loudly here, never skips
from ttlog import _codec_py as P
from ttlog import cbor
from ttlog import ring as R
from ttlog.codec import SnapshotWriter
from ttlog.reader import RingReader
from ttlog.store import read_header

from ttview.decode import read_snapshot

from .test_snapshot import clocked, py_ring, write_everything, write_trading

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAMPLES = sorted((Path(__file__).absolute().parents[2] / "sample_snapshots").glob("*.ttsnap"))


def compressible(rnd: random.Random, n: int) -> bytes:
    """Columns-like bytes: runs, repeated records, small integers, some noise."""
    out = bytearray()
    while len(out) < n:
        pick = rnd.random()
        if pick < 0.3:
            out += bytes([rnd.randrange(256)]) * rnd.randrange(1, 300)
        elif pick < 0.6:
            out += struct.pack("<H", rnd.randrange(300)) * rnd.randrange(1, 50)
        elif pick < 0.8 and out:
            start = rnd.randrange(len(out))
            out += out[start : start + rnd.randrange(1, 200)]
        else:
            out += rnd.randbytes(rnd.randrange(1, 40))
    return bytes(out[:n])


# ---- xxHash32 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 4097, 70001])
def test_xxh32_matches_lz4_content_checksums(n: int) -> None:
    data = random.Random(n).randbytes(n)
    frame = lz4.frame.compress(data, content_checksum=True, store_size=False)
    expected = struct.unpack("<I", frame[-4:])[0]
    assert C.xxh32(data) == P.xxh32(data) == expected
    for mod in (C, P):
        h = mod.Xxh32()
        for at in range(0, n, 7):
            h.update(data[at : at + 7])
        assert h.digest() == expected
    assert C.xxh32(data, 12345) == P.xxh32(data, 12345)


# ---- LZ4 blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_blocks_read_by_lz4_and_by_ours(seed: int) -> None:
    rnd = random.Random(seed)
    for n in (0, 1, 12, 13, 14, 100, 5000, 70000, 300000):
        for data in (rnd.randbytes(n), compressible(rnd, n), bytes(n)):
            for level in (0, 1):
                block = C.compress_block(data, level)
                assert lz4.block.decompress(block, uncompressed_size=max(n, 1)) == data
                assert C.decompress_block(block, n) == P.decompress_block(block, n) == data
            literal = P.compress_block(data)  # the twin's block: literals only, still valid LZ4
            assert lz4.block.decompress(literal, uncompressed_size=max(n, 1)) == data
            theirs = lz4.block.compress(data, store_size=False)
            assert C.decompress_block(theirs, n) == P.decompress_block(theirs, n) == data
    data = compressible(rnd, 100000)
    assert len(C.compress_block(data)) < len(data) // 3


def test_block_decompression_is_bounded() -> None:
    data = bytes(100000)
    block = C.compress_block(data)
    for mod in (C, P):
        assert mod.decompress_block(block, 100000) == data
        with pytest.raises(ValueError):
            mod.decompress_block(block, 99999)  # one byte more than allowed
        with pytest.raises(ValueError):
            mod.decompress_block(b"", 10)
        with pytest.raises(ValueError):
            mod.decompress_block(b"\x00\x01\x00", 10)  # a match with no history
        with pytest.raises(ValueError):
            mod.decompress_block(b"\x1fa\x00\x00", 100)  # offset 0
    # a match may reach into the prefix (a linked block's history), and no further
    block = b"\x04" + b"\x05\x00" + b"\x00"  # no literals, copy 8 bytes from 5 back; then empty literals
    assert C.decompress_block(block, 8, b"abcde") == P.decompress_block(block, 8, b"abcde") == b"abcdeabc"
    for mod in (C, P):
        with pytest.raises(ValueError):
            mod.decompress_block(block, 8, b"bcde")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), size=st.integers(0, 2000))
def test_block_decompression_of_any_bytes_agrees(data: bytes, size: int) -> None:
    results = []
    for mod in (C, P):
        try:
            results.append(mod.decompress_block(data, size, b"xyz"))
        except ValueError:
            results.append("bad")
    assert results[0] == results[1]
    if results[0] != "bad":
        assert len(results[0]) <= size


# ---- LZ4 frames ---------------------------------------------------------------------------------


def frame_of(pieces: list[Any], monkeypatch: pytest.MonkeyPatch, impl: str,
             trailer: Any = None) -> bytes:
    monkeypatch.setattr(ttlog.lz4frame, "K", C if impl == "c" else P)
    out: list[bytes] = []
    size = ttlog.lz4frame.write_frame(pieces + ([trailer] if trailer else []), out.extend)
    data = b"".join(out)
    assert len(data) == size
    return data


def blocks_by_hand(data: bytes, start: int, stop: int) -> bytes:
    """The content of the blocks in data[start:stop], read with lz4.block alone."""
    out = bytearray()
    at = start
    while at < stop:
        (word,) = struct.unpack_from("<I", data, at)
        size = word & 0x7FFFFFFF
        block = data[at + 4 : at + 4 + size]
        out += block if word & 0x80000000 else lz4.block.decompress(block, uncompressed_size=4 << 20)
        at += 8 + size  # the size, the block, its checksum
    assert at == stop
    return bytes(out)


@pytest.mark.parametrize("impl", ["c", "python"])
def test_frames_read_by_lz4_block_by_block_and_by_ours(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    pieces: list[Any] = [compressible(rnd, 100), rnd.randbytes(5000), compressible(rnd, (4 << 20) + 12345),
                         [compressible(rnd, 3000), b"", bytearray(compressible(rnd, 70000))], b"x"]
    starts: list[int] = []

    def trail(offsets: list[int], at: int) -> bytes:
        starts.extend(offsets + [at])
        return b"THE END"

    data = frame_of(pieces, monkeypatch, impl, ttlog.lz4frame.Trailer(trail))
    content = [b"".join(p) if isinstance(p, list) else p for p in pieces]
    whole = b"".join(content) + b"THE END"
    assert lz4.frame.decompress(data) == whole
    assert ttlog.lz4frame.decompress(data) == whole
    info = lz4.frame.get_frame_info(data)
    assert not info["block_linked"] and info["block_checksum"] and info["content_checksum"]
    assert info["block_size"] == 4 << 20
    assert [blocks_by_hand(data, a, b) for a, b in zip(starts, starts[1:], strict=False)] == content
    assert data[starts[-1] : starts[-1] + 4] == struct.pack("<I", 7 | 0x80000000)  # stored as it is
    if impl == "c":  # compressed where it helps
        assert len(data) < len(whole) * 0.6
        monkeypatch.setattr(ttlog.lz4frame, "K", P)
        assert ttlog.lz4frame.decompress(data) == whole  # the twin reads C's frames too


def test_frame_reader_takes_lz4_frames_of_every_kind() -> None:
    rnd = random.Random(3)
    data = compressible(rnd, 600000)
    for kw in ({}, {"block_linked": True, "block_size": lz4.frame.BLOCKSIZE_MAX64KB},
               {"block_checksum": True, "content_checksum": False, "store_size": True},
               {"compression_level": 9, "block_linked": True}):
        frame = lz4.frame.compress(data, **kw)
        assert ttlog.lz4frame.decompress(frame) == data
        with pytest.raises(ValueError, match="more than"):
            ttlog.lz4frame.decompress(frame, max_size=len(data) - 1)
    frame = lz4.frame.compress(data, content_checksum=True, block_checksum=True)
    broken = bytearray(frame)
    broken[len(frame) // 2] ^= 1
    with pytest.raises(ValueError):
        ttlog.lz4frame.decompress(bytes(broken))
    with pytest.raises(ValueError, match="after the LZ4 frame"):
        ttlog.lz4frame.decompress(frame + b"\0")
    with pytest.raises(ValueError, match="checksum"):
        ttlog.lz4frame.decompress(frame[:4] + bytes([frame[4] ^ 0x08]) + frame[5:])


# ---- CBOR ---------------------------------------------------------------------------------------

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=16) | st.builds(cbor.Tag, st.sampled_from([64, 69, 70, 79, 86, 99, 1000]),
                                         st.binary(max_size=24)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | st.integers(), inner,
                                                                 max_size=4),
    max_leaves=16,
)


def to_cbor2(x: Any) -> Any:
    if isinstance(x, cbor.Tag):
        return cbor2.CBORTag(x.tag, to_cbor2(x.value))
    if isinstance(x, list):
        return [to_cbor2(v) for v in x]
    if isinstance(x, dict):
        return {k: to_cbor2(v) for k, v in x.items()}
    return x


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(value=cbor_values)
def test_cbor_encoder_is_cbor2s_and_decoder_reads_it_back(value: Any) -> None:
    data = cbor.dumps(value)
    assert data == cbor2.dumps(to_cbor2(value))
    assert b"".join(cbor.dumps_parts(value)) == data
    assert same_value(cbor.loads(data), value)


def test_cbor_special_forms() -> None:
    assert cbor.dumps(cbor.Utf8("naïve".encode())) == cbor2.dumps("naïve")
    assert cbor.dumps((1, 2)) == cbor2.dumps([1, 2])
    assert cbor.loads(bytes.fromhex("f97e00")) != cbor.loads(bytes.fromhex("f97e00"))  # NaN
    assert cbor.loads(bytes.fromhex("fa3fc00000")) == 1.5 and cbor.loads(b"\xf7") is None
    with pytest.raises(TypeError):
        cbor.dumps(object())


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_cbor_decoder_refuses_bad_bytes_cleanly(data: bytes) -> None:
    try:
        cbor.loads(data)
    except ValueError as exc:
        assert "\n" not in str(exc)


def test_cbor_decoder_is_bounded() -> None:
    for bad in (b"\x9b" + b"\xff" * 8, b"\x5b" + b"\x7f" + b"\xff" * 7, b"\xbb" + b"\x01" + b"\0" * 7,
                b"\x7a\xff\xff\xff\xff"):
        with pytest.raises(cbor.Incomplete):  # a count past the end: refused before allocating
            cbor.loads(bad)
    with pytest.raises(ValueError, match="deeper"):
        cbor.loads(b"\x81" * 100 + b"\x00")
    with pytest.raises(ValueError, match="indefinite"):
        cbor.loads(b"\x9f\xff")
    with pytest.raises(ValueError, match="not UTF-8"):
        cbor.loads(b"\x62\xff\xfe")
    with pytest.raises(ValueError, match="map key"):
        cbor.loads(b"\xa1\x80\x00")
    with pytest.raises(ValueError, match="after"):
        cbor.loads(b"\x00\x00")


# ---- snapshots: the header, one chunk alone, C and twin -----------------------------------------


def header_by_cbor2(path: Path) -> dict[str, Any]:
    content = cbor2.loads(lz4.frame.decompress(path.read_bytes()))
    keys = list(content)
    return {k: content[k] for k in keys[: keys.index("strings")]}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_read_header_of_older_files(path: Path) -> None:
    """Files of the numpy writer (linked blocks, no block checksums) read the same as with cbor2."""
    assert read_header(path) == header_by_cbor2(path)


def batches_of_everything(tmp_path: Path) -> list[Any]:
    ring, path = py_ring(tmp_path, max_str=64)
    clocked(ring, [1_700_000_000_000_000_000 + i * i * 1000 for i in range(3000)])
    write_everything(R.PyLogger(ring, "x"))
    write_trading(R.PyLogger(ring, "t"), 2000)
    return RingReader(path, max_batch_bytes=20000).read_all()


def merged_rings(tmp_path: Path) -> list[Any]:
    out = []
    for k in range(3):
        ring, path = py_ring(tmp_path, service=f"s{k}", pid=100 + k)
        clocked(ring, [10**18 + 7 * i + k for i in range(3000)])
        log = R.PyLogger(ring, f"l{k}")
        for i in range(1500):
            log.info("e", i=i, **({f"only{k}": f"v{i % 9}"} if i % (k + 2) else {"oid": f"O-{k}-{i}"}))
        out += RingReader(path, max_batch_bytes=8192).read_all()
    return out


@pytest.mark.parametrize("workload", [batches_of_everything, merged_rings])
@pytest.mark.parametrize("chunk_size", [1, 97, 65536])
def test_writer_gives_the_same_content_with_c_and_twin(workload: Any, chunk_size: int, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    batches = workload(tmp_path)
    content = {}
    files = {}
    for impl, mod in (("c", C), ("python", P)):
        monkeypatch.setattr(ttlog.codec, "K", mod)
        monkeypatch.setattr(ttlog.lz4frame, "K", mod)
        writer = SnapshotWriter(chunk_size=chunk_size)
        for b in batches:
            writer.add(b)
        content[impl] = writer.encode(reason="x", created_ns=5)
        out = tmp_path / impl
        out.mkdir(exist_ok=True)
        files[impl] = writer.write(out, reason="x", created_ns=5)
    assert content["c"] == content["python"]
    c, py = (cbor2.loads(lz4.frame.decompress(files[i].read_bytes())) for i in ("c", "python"))
    assert c.pop("chunk_offsets") != py.pop("chunk_offsets")  # the twin stores blocks uncompressed
    assert c == py == cbor2.loads(content["c"])
    assert files["python"].stat().st_size > files["c"].stat().st_size


def read_chunk_alone(path: Path, i: int) -> Any:
    """Chunk i of a snapshot from its bytes, with lz4.block and cbor2 only (docs/FORMAT.md)."""
    data = path.read_bytes()
    assert data[-21] == 0x1B
    at = struct.unpack(">Q", data[-20:-12])[0]
    (word,) = struct.unpack_from("<I", data, at)
    dec = cbor2.CBORDecoder(io.BytesIO(data[at + 4 : at + 4 + (word & 0x7FFFFFFF)]))
    assert dec.decode() == "chunk_offsets"
    offsets = dec.decode()
    assert offsets[-1] == at
    return cbor2.loads(blocks_by_hand(data, offsets[i], offsets[i + 1]))


@pytest.mark.parametrize("impl", ["c", "python"])
def test_each_chunk_reads_alone(impl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ttlog.lz4frame, "K", C if impl == "c" else P)
    batches = batches_of_everything(tmp_path)
    for chunk_size in (50, 700, 65536):
        writer = SnapshotWriter(chunk_size=chunk_size)
        for b in batches:
            writer.add(b)
        path = writer.write(tmp_path, reason="x")
        whole = cbor2.loads(lz4.frame.decompress(path.read_bytes()))
        assert len(whole["chunk_offsets"]) == len(whole["chunks"]) + 1
        assert [read_chunk_alone(path, i) for i in range(len(whole["chunks"]))] == whole["chunks"]
        assert read_header(path) == header_by_cbor2(path)


def test_big_chunks_span_blocks_and_still_read_alone(tmp_path: Path) -> None:
    """A chunk of more than 4 MiB of CBOR takes several blocks; its offsets still bound it."""
    ring, path = py_ring(tmp_path, ring_size="64MiB", max_str=4096)
    log = R.PyLogger(ring, "x")
    rnd = random.Random(5)
    for i in range(3000):
        log.info("big", blob=rnd.randbytes(2000), i=i)
    writer = SnapshotWriter()
    for b in RingReader(path).read_all():
        writer.add(b)
    snap = writer.write(tmp_path, reason="x")
    whole = cbor2.loads(lz4.frame.decompress(snap.read_bytes()))
    assert len(whole["chunks"]) == 1
    offsets = whole["chunk_offsets"]
    assert offsets[1] - offsets[0] > 4 << 20
    assert read_chunk_alone(snap, 0) == whole["chunks"][0]
    assert len(read_snapshot(snap)) == 3000


def test_header_over_many_tiny_blocks(tmp_path: Path) -> None:
    """A valid frame may cut its content anywhere: the header reader takes what it needs."""
    ring, path = py_ring(tmp_path)
    write_trading(R.PyLogger(ring, "t"), 200)
    writer = SnapshotWriter(chunk_size=10)
    for b in RingReader(path).read_all():
        writer.add(b)
    content = writer.encode(created_ns=1)
    blocks = b"".join(struct.pack("<I", 1 | 0x80000000) + content[i : i + 1] for i in range(len(content)))
    desc = bytes((0x60, 0x70))  # independent blocks, no checksums
    frame = b"\x04\x22\x4d\x18" + desc + bytes([(C.xxh32(desc) >> 8) & 0xFF]) + blocks + b"\0\0\0\0"
    assert lz4.frame.decompress(frame) == content
    snap = tmp_path / "tiny.ttsnap"
    snap.write_bytes(frame)
    assert read_header(snap) == header_by_cbor2(snap)


def test_read_header_refuses_hostile_headers(tmp_path: Path) -> None:
    snap = tmp_path / "h.ttsnap"
    cases = [
        b"\xbb" + b"\xff" * 8,  # a map of 2**64 - 1 entries
        b"\xa2\x66format\x9b" + b"\x00\x00\x00\x00\xff\xff\xff\xff",  # an array counted past the end
        b"\xa1\x66format\x7a\x10\x00\x00\x00" + b"x" * 100,  # text longer than the file
        b"\x80",  # not a map
        b"\xa1" + b"\x81" * 200 + b"\x00",  # nested deeper than the decoder goes
    ]
    for content in cases:
        snap.write_bytes(lz4.frame.compress(content))
        with pytest.raises(ValueError) as exc:
            read_header(snap)
        assert "\n" not in str(exc.value)
    big = b"\xa1\x66format\x5a\x05\x00\x00\x00" + bytes(80 << 20)  # 80 MiB of header: refused past 64
    snap.write_bytes(lz4.frame.compress(big))
    with pytest.raises(ValueError, match="MiB"):
        read_header(snap)
    os.truncate(snap, 30)
    with pytest.raises(ValueError):
        read_header(snap)
