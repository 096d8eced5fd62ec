"""The writer's typed-array kernels: C (ttlog._codec) and the twin (ttlog._codec_py) give the same
results, and those results are right (checked against plain Python, not against each other only)."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ttlog import _codec as C  # noqa: E402 - a missing build fails loudly here, never skips
from ttlog import _codec_py as P

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {"B": (0, 255), "H": (0, 65535), "I": (0, 2**32 - 1), "b": (-128, 127), "h": (-(2**15), 2**15 - 1),
         "i": (-(2**31), 2**31 - 1), "q": (-(2**63), 2**63 - 1)}
TAG_CODES = {64: "B", 69: "H", 70: "I", 71: "Q", 72: "b", 77: "h", 78: "i", 79: "q"}


def arr(code: str, values: list[Any]) -> bytes:
    return struct.pack(f"<{len(values)}{code}", *values)


def unpack(code: str, data: bytes) -> list[Any]:
    return list(struct.unpack(f"<{len(data) // struct.calcsize(code)}{code}", data))


def both(name: str, *args: Any) -> Any:
    """Call the kernel in C and in the twin: the same result, or the same exception type."""
    results = []
    for mod in (C, P):
        try:
            results.append(("ok", getattr(mod, name)(*args)))
        except (ValueError, TypeError) as exc:
            results.append(("raised", type(exc)))
    assert results[0] == results[1], (name, results)
    kind, value = results[0]
    if kind == "raised":
        raise value("raised by both")
    return value


def wrap64(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


# ---- pack_ints ----------------------------------------------------------------------------------


def packed_values(result: tuple[int, bytes, int, bytes | None]) -> list[int]:
    tag, data, hi_tag, hi_data = result
    values = unpack(TAG_CODES[tag], data)
    if hi_tag:
        assert tag == 69 and hi_data is not None
        values = [v + (h << 16) for v, h in zip(values, unpack(TAG_CODES[hi_tag], hi_data), strict=True)]
    return values


@st.composite
def int_arrays(draw: Any) -> tuple[str, list[int]]:
    code = draw(st.sampled_from(sorted(CODES)))
    lo, hi = CODES[code]
    edge = st.sampled_from([lo, hi, 0, 1, -1 if lo < 0 else 2, 2**16, 2**32, 2**47, 2**48])
    ints = st.integers(lo, hi) | edge.filter(lambda v: lo <= v <= hi)
    return code, draw(st.lists(ints, max_size=300))


@FUZZ
@given(arrays=int_arrays(), delta=st.none() | st.integers(-(2**63), 2**63 - 1))
def test_pack_ints_twin_and_values(arrays: tuple[str, list[int]], delta: int | None) -> None:
    code, values = arrays
    if delta is not None and code != "q":
        delta = max(CODES[code][0], min(CODES[code][1], delta))
    result = both("pack_ints", arr(code, values), code, delta)
    if delta is None:
        expected = values
    else:
        expected = [wrap64(v - p) for v, p in zip(values, [delta, *values[:-1]], strict=False)]
    assert packed_values(result) == expected


def test_pack_ints_narrowing_and_split_rule() -> None:
    def tags(values: list[int]) -> tuple[int, int]:
        tag, _, hi_tag, _ = both("pack_ints", arr("q", values), "q")
        return tag, hi_tag

    assert both("pack_ints", b"", "q") == (64, b"", 0, None)
    assert tags([0, 255]) == (64, 0) and tags([-1, 127]) == (72, 0)
    assert tags([0, 65535]) == (69, 0) and tags([-32768, 5]) == (77, 0)
    assert tags([0, 2**16]) == (69, 64)  # needs 32 bits: low 16 bits + the rest
    assert tags([0, 2**32 - 1]) == (69, 69)
    assert tags([-(2**31), 0]) == (69, 77)
    assert tags([0, 2**40]) == (69, 70) and tags([-(2**47), 2**47 - 1]) == (69, 78)  # 48 bits: split
    assert tags([-(2**47), 2**48 - 1]) == (69, 79)  # the high half needs 33 bits signed
    assert tags([0, 2**48]) == (71, 0) and tags([-(2**47) - 1, 0]) == (79, 0)  # wider: as they are
    assert tags([7] * 5) == (64, 0)
    with pytest.raises(ValueError):
        both("pack_ints", b"\0" * 7, "q")  # not whole values
    with pytest.raises(ValueError):
        both("pack_ints", b"", "x")


# ---- float_scale --------------------------------------------------------------------------------

prices = st.integers(-(10**9), 10**9).flatmap(
    lambda k: st.sampled_from([k / 100, k / 1000, k / 10**6, k / 1.0]))


@FUZZ
@given(values=st.lists(prices, max_size=200) | st.lists(prices | st.floats(allow_nan=True), max_size=120),
       max_scale=st.integers(0, 8))
def test_float_scale_twin_and_exactness(values: list[float], max_scale: int) -> None:
    result = both("float_scale", arr("d", values), max_scale)
    if result is None:
        return
    scale, ks = result
    assert 0 <= scale <= max_scale
    back = [k / 10.0**scale for k in unpack("q", ks)]
    assert arr("d", back) == arr("d", values)  # bit for bit


def test_float_scale_cases() -> None:
    assert both("float_scale", arr("d", [150.25, 99.5, 0.01]), 6)[0] == 2
    assert both("float_scale", arr("d", [1.0, 2.0]), 6)[0] == 0
    assert both("float_scale", arr("d", [12.345]), 6)[0] == 3
    assert both("float_scale", arr("d", [math.pi]), 6) is None
    assert both("float_scale", arr("d", [-0.0]), 6) is None  # -0.0 is not 0 / 1
    assert both("float_scale", arr("d", [1.5, math.inf]), 6) is None
    assert both("float_scale", arr("d", [1.5] * 70 + [math.nan]), 6) is None  # past the sample
    assert both("float_scale", arr("d", [2.0**60]), 6) is None  # k would not be exact
    assert both("float_scale", b"", 6) is None
    assert both("float_scale", arr("d", [0.1] * 1000 + [0.2]), 6)[0] == 1  # runs of one value


# ---- string ids ---------------------------------------------------------------------------------


@FUZZ
@given(ids=st.lists(st.integers(0, 40) | st.just(2**32 - 1), max_size=200),
       lut=st.lists(st.integers(0, 1000) | st.just(2**32 - 1), max_size=30),
       extra=st.dictionaries(st.integers(0, 60) | st.just(2**32 - 1), st.integers(0, 1000), max_size=5))
def test_remap_u32(ids: list[int], lut: list[int], extra: dict[int, int]) -> None:
    keys = sorted(extra)
    out, missing = both("remap_u32", arr("I", ids), arr("I", lut), arr("I", keys),
                        arr("I", [extra[k] for k in keys]))
    expected = []
    for i in ids:
        sid = lut[i] if i < len(lut) else 2**32 - 1
        expected.append(extra.get(i, sid) if sid == 2**32 - 1 else sid)
    assert unpack("I", bytes(out)) == expected
    assert missing == sorted({i for i, e in zip(ids, expected, strict=True) if e == 2**32 - 1})
    assert isinstance(out, bytearray)
    assert both("remap_u32", arr("I", ids), arr("I", lut)) == (bytearray(arr("I", [
        lut[i] if i < len(lut) else 2**32 - 1 for i in ids])), sorted(
        {i for i in ids if (lut[i] if i < len(lut) else 2**32 - 1) == 2**32 - 1}))


@FUZZ
@given(values=st.lists(st.integers(0, 300), max_size=300), limit=st.integers(0, 70))
def test_distinct(values: list[int], limit: int) -> None:
    expected = sorted(set(values))
    assert both("distinct", arr("I", values), "I", limit) == (expected if len(expected) <= limit else None)
    small = [v % 256 for v in values]
    expected = sorted(set(small))
    assert both("distinct", bytes(small), "B", limit) == (expected if len(expected) <= limit else None)


@FUZZ
@given(ids=st.lists(st.integers(0, 50), max_size=100), size=st.integers(1, 60))
def test_mark_and_lut_from_mask(ids: list[int], size: int) -> None:
    masks = []
    for mod in (C, P):
        mask = bytearray(size)
        try:
            mod.mark_u32(mask, arr("I", ids))
            masks.append(mask)
        except ValueError:
            masks.append("raised")
    assert masks[0] == masks[1]
    if masks[0] == "raised":
        assert max(ids) >= size
        return
    assert [i for i in range(size) if masks[0][i]] == sorted(set(ids))
    lut = unpack("I", both("lut_from_mask", masks[0]))
    used = sorted(set(ids))
    assert [lut[i] for i in used] == list(range(len(used)))
    assert all(lut[i] == 2**32 - 1 for i in range(size) if i not in used)


@FUZZ
@given(pool=st.lists(st.text(max_size=6), min_size=1, max_size=8),
       codes=st.lists(st.integers(0, 9), max_size=40))
def test_join_text(pool: list[str], codes: list[int]) -> None:
    expected: bytes | None | type[ValueError] = None
    texts = []
    for c in codes:  # in order: the first bad code raises, the first text holding U+0000 gives None
        if c >= len(pool):
            expected = ValueError
            break
        if "\0" in pool[c]:
            break
        texts.append(pool[c])
    else:
        expected = "\0".join(texts).encode("utf-8")
    if expected is ValueError:
        with pytest.raises(ValueError):
            both("join_text", arr("I", codes), pool)
    else:
        assert both("join_text", arr("I", codes), pool) == expected


def test_join_text_odd_pools() -> None:
    assert both("join_text", arr("I", [0, 1, 0]), ["naïve ☃", ""]) == "naïve ☃\0\0naïve ☃".encode()
    assert both("join_text", b"", ["x"]) == b""
    with pytest.raises(TypeError):
        both("join_text", arr("I", [0]), [b"bytes"])
    with pytest.raises(TypeError):
        both("join_text", arr("I", [0]), ("tuple",))


# ---- merging by time ----------------------------------------------------------------------------


@FUZZ
@given(values=st.lists(st.integers(-5, 5) | st.integers(-(2**63), 2**63 - 1), max_size=300))
def test_sorting_and_gathering(values: list[int]) -> None:
    data = arr("q", values)
    assert both("is_sorted_i64", data) == (values == sorted(values))
    perm = both("argsort_i64", data)
    assert unpack("I", perm) == sorted(range(len(values)), key=values.__getitem__)  # stable
    assert unpack("q", both("take", data, 8, perm)) == sorted(values)
    n = len(values)
    rows = [i for i in range(n) if values[i] % 3 == 0]
    new_rows, order = both("take_sparse", perm, arr("I", rows), n)
    p = unpack("I", perm)
    assert unpack("I", new_rows) == [i for i in range(n) if p[i] in set(rows)]
    assert [rows[j] for j in unpack("I", order)] == [p[i] for i in unpack("I", new_rows)]


def test_argsort_runs_of_batches() -> None:
    """Several ascending runs (one per ring batch) with ties across them: ties keep run order."""
    runs = [list(range(0, 300, 3)), list(range(0, 300, 2)), list(range(100, 110)), [5] * 20]
    values = [v for run in runs for v in run]
    perm = unpack("I", both("argsort_i64", arr("q", values)))
    assert perm == sorted(range(len(values)), key=values.__getitem__)


def test_take_shift_iota_edges() -> None:
    assert both("take", arr("H", [5, 6, 7]), 2, arr("I", [2, 0])) == arr("H", [7, 5])
    with pytest.raises(ValueError):
        both("take", arr("H", [5]), 2, arr("I", [1]))
    with pytest.raises(ValueError):
        both("take", b"abc", 3, b"")
    assert both("shift_u32", arr("I", [1, 2]), 10) == arr("I", [11, 12])
    assert both("shift_u32", arr("I", [10, 20]), -10) == arr("I", [0, 10])
    with pytest.raises(ValueError):
        both("shift_u32", arr("I", [1]), -2)
    with pytest.raises(ValueError):
        both("shift_u32", arr("I", [2**32 - 1]), 1)
    assert both("iota_u32", 5, 3) == arr("I", [5, 6, 7]) and both("iota_u32", 0, 0) == b""
    with pytest.raises(ValueError):
        both("iota_u32", 2**32 - 1, 2)
    with pytest.raises(ValueError):
        both("take_sparse", arr("I", [0, 1]), arr("I", [0, 0]), 2)  # rows not distinct
    with pytest.raises(ValueError):
        both("take_sparse", arr("I", [0, 1]), arr("I", [2]), 2)
    with pytest.raises(ValueError):
        both("take_sparse", arr("I", [0]), b"", 2)
