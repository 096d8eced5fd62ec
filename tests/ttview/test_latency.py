"""Latency pairing (ttview.latency), checked against an independent computation: a plain-Python
walk over the events in time order that implements the documented rule with a dict of open
``from`` events per key (no sort by key, no neighbour comparison, no polars)."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ttview.test_stats import py_quantile
from ttview.latency import (
    COUNT_NAMES,
    RULE,
    LatencyError,
    LatencyResult,
    latency_histogram,
    pair_events,
)
from ttview.query import compile_filter
from ttview.schema import TS_DTYPE

FROM = 'message in ("Order placed", "Both")'
TO = 'message in ("Trade executed", "Both")'
T0 = 1_795_185_000_000_000_000


# ---- the independent reference ----------------------------------------------------------------


@dataclass
class Reference:
    pairs: list[tuple[int, int]] = field(default_factory=list)
    """(from row, to row) in the order the to events were met."""
    groups: list[Any] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    deltas: list[int] = field(default_factory=list)


def _no_key(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def reference(
    frame: pl.DataFrame,
    *,
    is_from: list[bool],
    is_to: list[bool],
    key: Sequence[str],
    group: str | None = None,
) -> Reference:
    """The rule, walked event by event: events in (ts, row) order; a to closes the open (latest)
    from of its key, else it is extra (a from of the key was seen) or unmatched; then a from
    opens (a from still open is repeated). Froms left open at the end are unmatched."""
    ts = frame["ts"].dt.epoch("ns").to_list()
    keys = list(zip(*(frame[k].to_list() for k in key), strict=True))
    gs = frame[group].to_list() if group else [None] * frame.height
    out = Reference()
    open_from: dict[tuple[Any, ...], int] = {}
    seen: set[tuple[Any, ...]] = set()
    for row in sorted(range(frame.height), key=lambda r: (ts[r], r)):
        k = keys[row]
        if any(_no_key(v) for v in k):
            out.counts["from_no_key"] += is_from[row]
            out.counts["to_no_key"] += is_to[row]
            continue
        if is_to[row]:
            if k in open_from:
                start = open_from.pop(k)
                out.pairs.append((start, row))
                out.groups.append(gs[start] if gs[start] is not None else gs[row])
                out.deltas.append(ts[row] - ts[start])
            elif k in seen:
                out.counts["to_extra"] += 1
            else:
                out.counts["to_unmatched"] += 1
        if is_from[row]:
            if k in open_from:
                out.counts["from_repeated"] += 1
            open_from[k] = row
            seen.add(k)
    out.counts["from_unmatched"] = len(open_from)
    out.counts["pairs"] = len(out.pairs)
    out.counts["from_events"] = sum(is_from)
    out.counts["to_events"] = sum(is_to)
    return out


def check(frame: pl.DataFrame, result: LatencyResult, ref: Reference) -> None:
    """``result`` agrees with the reference: the same pairs, counts, latencies and statistics."""
    got = sorted(zip(result.pairs["from_row"].to_list(), result.pairs["to_row"].to_list(), strict=True))
    assert got == sorted(ref.pairs)
    counts = result.counts.to_dict()
    assert counts == {name: ref.counts[name] for name in COUNT_NAMES}
    # every event is counted once on each side it is on
    assert counts["from_events"] == (
        counts["pairs"] + counts["from_repeated"] + counts["from_unmatched"] + counts["from_no_key"]
    )
    assert counts["to_events"] == (
        counts["pairs"] + counts["to_extra"] + counts["to_unmatched"] + counts["to_no_key"]
    )
    by_pair = dict(zip(ref.pairs, ref.deltas, strict=True))
    for f, t, d in result.pairs.select("from_row", "to_row", "delta_ns").iter_rows():
        assert d == by_pair[(f, t)] >= 0
    lat = [d / 1000 for d in ref.deltas]
    total = result.total
    if not lat:
        assert total.p50 is None and total.min is None
        return
    assert total.min == min(lat) and total.max == max(lat)
    assert total.mean == pytest.approx(sum(lat) / len(lat))
    for q, got_q in ((0.5, total.p50), (0.9, total.p90), (0.99, total.p99), (0.999, total.p999)):
        assert got_q == pytest.approx(py_quantile(lat, q), rel=1e-12, abs=1e-9)


# ---- generated events with every awkward case ---------------------------------------------------


def make_events(
    rng: random.Random,
    n: int,
    *,
    key_kind: str = "str",
    keys: int = 12,
    ts_span: int = 40,
    shuffle: bool = False,
) -> pl.DataFrame:
    """Events of several services whose order ids repeat (re-sent orders, reused ids), with fills
    before orders, partial fills, events that are both, null (and NaN) keys, and many equal ts."""
    messages = ["Order placed", "Trade executed", "quote", "Both", "Order placed", "Trade executed"]
    rows = []
    for i in range(n):
        k = rng.randrange(keys)
        if rng.random() < 0.08:
            key: Any = None
        elif key_kind == "int":
            key = k
        elif key_kind == "float":
            key = float("nan") if rng.random() < 0.05 else k + 0.5
        else:
            key = f"ORD-{k}"
        rows.append(
            {
                "ts": T0 + rng.randrange(ts_span) * 1000,  # few distinct times: many ties
                "seq": i,
                "level": 21,
                "logger": "oms",
                "message": rng.choice(messages),
                "service": rng.choice(["oms-a", "oms-b"]),
                "pid": rng.choice([10, 11]),
                "order_id": key,
                "venue": rng.choice(["XNAS", "BATS", None]),
            }
        )
    if not shuffle:
        rows.sort(key=lambda r: r["ts"])
    dtype = {"int": pl.Int64, "float": pl.Float64, "str": pl.String}[key_kind]
    return pl.DataFrame(
        rows,
        schema={
            "ts": pl.Int64,
            "seq": pl.Int64,
            "level": pl.UInt8,
            "logger": pl.String,
            "message": pl.String,
            "service": pl.String,
            "pid": pl.Int64,
            "order_id": dtype,
            "venue": pl.String,
        },
    ).with_columns(pl.col("ts").cast(TS_DTYPE))


def roles(frame: pl.DataFrame) -> tuple[list[bool], list[bool]]:
    msgs = frame["message"].to_list()
    return [m in ("Order placed", "Both") for m in msgs], [m in ("Trade executed", "Both") for m in msgs]


def run(
    frame: pl.DataFrame | pl.LazyFrame, key: str | Sequence[str] = "order_id", **kw: Any
) -> LatencyResult:
    return pair_events(frame, start=compile_filter(FROM), end=compile_filter(TO), key=key, **kw)


@pytest.mark.parametrize("key_kind", ["str", "int", "float"])
@pytest.mark.parametrize("seed", range(6))
def test_pairs_match_the_reference_on_generated_events(key_kind: str, seed: int) -> None:
    rng = random.Random(seed * 31 + len(key_kind))
    frame = make_events(rng, 600, key_kind=key_kind, shuffle=seed % 2 == 1)
    is_from, is_to = roles(frame)
    ref = reference(frame, is_from=is_from, is_to=is_to, key=["order_id"])
    # the generator reaches every case
    for name in ("from_repeated", "from_unmatched", "to_extra", "to_unmatched", "from_no_key", "to_no_key"):
        assert ref.counts[name] > 0, name
    assert 0 in ref.deltas  # equal timestamps pair
    result = run(frame)
    check(frame, result, ref)
    assert run(frame.lazy()).counts == result.counts  # a LazyFrame gives the same


@pytest.mark.parametrize("seed", range(4))
def test_a_key_of_several_columns_pairs_within_each_service(seed: int) -> None:
    frame = make_events(random.Random(seed), 500, keys=5)
    is_from, is_to = roles(frame)
    ref = reference(frame, is_from=is_from, is_to=is_to, key=["service", "order_id"])
    result = run(frame, key=["service", "order_id"])
    check(frame, result, ref)
    services = frame["service"].to_list()
    assert all(services[f] == services[t] for f, t in ref.pairs)
    # global keys pair across services
    glob = reference(frame, is_from=is_from, is_to=is_to, key=["order_id"])
    assert any(services[f] != services[t] for f, t in glob.pairs)


@pytest.mark.parametrize("seed", range(3))
def test_groups_take_the_from_events_value_else_the_to_events(seed: int) -> None:
    frame = make_events(random.Random(100 + seed), 500)
    is_from, is_to = roles(frame)
    ref = reference(frame, is_from=is_from, is_to=is_to, key=["order_id"], group="venue")
    result = run(frame, group_by="venue")
    check(frame, result, ref)
    got = dict(
        zip(
            zip(result.pairs["from_row"], result.pairs["to_row"], strict=True),
            result.pairs["venue"],
            strict=True,
        )
    )
    assert got == dict(zip(ref.pairs, ref.groups, strict=True))
    assert sum(g.counts.pairs for g in result.groups) == result.counts.pairs
    for name in ("from_repeated", "from_unmatched", "to_extra", "to_unmatched", "from_no_key", "to_no_key"):
        assert sum(getattr(g.counts, name) for g in result.groups) == getattr(result.counts, name)
    for g in result.groups:
        lat = [
            d / 1000 for d, grp in zip(ref.deltas, ref.groups, strict=True) if (grp or "(none)") == g.group
        ]
        assert g.counts.pairs == len(lat)
        if lat:
            assert g.p99 == pytest.approx(py_quantile(lat, 0.99))
            assert g.min == min(lat) and g.max == max(lat)
    assert [g.counts.pairs for g in result.groups] == sorted(
        (g.counts.pairs for g in result.groups), reverse=True
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # ts
            st.sampled_from(["Order placed", "Trade executed", "Both", "quote"]),
            st.one_of(st.none(), st.integers(0, 3)),  # key
        ),
        max_size=40,
    )
)
def test_pairs_match_the_reference_on_any_small_input(events: list[tuple[int, str, int | None]]) -> None:
    frame = pl.DataFrame(
        {
            "ts": [T0 + t for t, _, _ in events],
            "message": [m for _, m, _ in events],
            "order_id": [k for _, _, k in events],
        },
        schema={"ts": pl.Int64, "message": pl.String, "order_id": pl.Int64},
    ).with_columns(pl.col("ts").cast(TS_DTYPE))
    is_from, is_to = roles(frame)
    check(frame, run(frame, unit="us"), reference(frame, is_from=is_from, is_to=is_to, key=["order_id"]))


# ---- the rule, case by case ----------------------------------------------------------------------


def small(events: list[tuple[int, str, Any]]) -> pl.DataFrame:
    """(ms after T0, message, order_id) in the given order."""
    return pl.DataFrame(
        {
            "ts": [T0 + ms * 1_000_000 for ms, _, _ in events],
            "message": [m for _, m, _ in events],
            "order_id": [k for _, _, k in events],
        },
        schema={"ts": pl.Int64, "message": pl.String, "order_id": pl.String},
    ).with_columns(pl.col("ts").cast(TS_DTYPE))


def pairs_of(result: LatencyResult) -> list[tuple[int, int]]:
    return list(zip(result.pairs["from_row"].to_list(), result.pairs["to_row"].to_list(), strict=True))


def test_first_fill_is_the_latency_and_later_fills_are_extra() -> None:
    frame = small([(0, "Order placed", "A"), (3, "Trade executed", "A"), (5, "Trade executed", "A")])
    result = run(frame, unit="ms")
    assert pairs_of(result) == [(0, 1)]
    assert result.total.p50 == 3.0
    assert (result.counts.to_extra, result.counts.to_unmatched) == (1, 0)


def test_a_resent_order_pairs_its_latest_send() -> None:
    frame = small([(0, "Order placed", "A"), (4, "Order placed", "A"), (5, "Trade executed", "A")])
    result = run(frame, unit="ms")
    assert pairs_of(result) == [(1, 2)]
    assert result.total.max == 1.0
    assert (result.counts.from_repeated, result.counts.from_unmatched) == (1, 0)


def test_a_fill_before_any_order_and_an_order_never_filled_are_unmatched() -> None:
    frame = small([(0, "Trade executed", "A"), (1, "Order placed", "A"), (2, "Order placed", "B")])
    result = run(frame)
    assert pairs_of(result) == []
    assert (result.counts.to_unmatched, result.counts.from_unmatched) == (1, 2)
    assert result.total.p50 is None


def test_equal_timestamps_keep_the_logs_order() -> None:
    after = run(small([(7, "Order placed", "A"), (7, "Trade executed", "A")]))
    assert pairs_of(after) == [(0, 1)] and after.total.max == 0.0
    before = run(small([(7, "Trade executed", "A"), (7, "Order placed", "A")]))
    assert pairs_of(before) == []
    assert (before.counts.to_unmatched, before.counts.from_unmatched) == (1, 1)


def test_an_event_matching_both_filters_closes_then_opens() -> None:
    frame = small([(0, "Both", "A"), (2, "Both", "A"), (7, "Both", "A")])
    result = run(frame, unit="ms")
    assert pairs_of(result) == [(0, 1), (1, 2)]  # never with itself
    assert result.pairs["latency"].to_list() == [2.0, 5.0]
    assert (result.counts.to_unmatched, result.counts.from_unmatched) == (1, 1)


def test_null_keys_never_pair_and_are_counted() -> None:
    frame = small([(0, "Order placed", None), (1, "Trade executed", None), (2, "Trade executed", "A")])
    result = run(frame)
    assert pairs_of(result) == []
    assert (result.counts.from_no_key, result.counts.to_no_key, result.counts.to_unmatched) == (1, 1, 1)


def test_pair_time_order_and_rows_refer_to_the_given_frame_before_where() -> None:
    frame = small(
        [
            (0, "quote", None),
            (1, "Order placed", "B"),
            (2, "Order placed", "A"),
            (3, "Trade executed", "A"),
            (4, "Trade executed", "B"),
        ]
    )
    result = run(frame, where=compile_filter('order_id != "zzz"'))
    assert pairs_of(result) == [(1, 4), (2, 3)]  # by the from event's time
    assert result.events == 4  # the quote has no order_id: the where filter drops it
    assert result.pairs.columns == [
        "order_id",
        "from_ts",
        "to_ts",
        "delta_ns",
        "from_row",
        "to_row",
        "latency",
    ]


@pytest.mark.parametrize(("unit", "value"), [("ns", 2_500_000.0), ("us", 2500.0), ("ms", 2.5), ("s", 0.0025)])
def test_units(unit: str, value: float) -> None:
    frame = pl.DataFrame(
        {"ts": [T0, T0 + 2_500_000], "message": ["Order placed", "Trade executed"], "order_id": [1, 1]}
    ).with_columns(pl.col("ts").cast(TS_DTYPE))
    result = run(frame, unit=unit)
    assert result.total.p50 == value
    assert result.pairs["delta_ns"].to_list() == [2_500_000]


def test_histogram_of_the_latencies_is_the_stats_histogram() -> None:
    frame = make_events(random.Random(5), 800)
    result = run(frame, group_by="venue")
    h = latency_histogram(result, bins=20, log=True, by_group=False)
    assert h.field == "latency_us" and h.log and h.bins == 20
    (series,) = h.series
    assert series.count == result.counts.pairs
    assert sum(series.counts) + series.nonpositive == series.count
    assert series.nonpositive == (result.pairs["delta_ns"] == 0).sum() > 0
    assert series.p99 == pytest.approx(result.total.p99)
    grouped = latency_histogram(result, bins=20, log=False)
    assert grouped.by == "venue"
    assert {s.name: s.count for s in grouped.series} == {
        g.group: g.counts.pairs for g in result.groups if g.counts.pairs
    }


# ---- bad input ----------------------------------------------------------------------------------


def test_an_unknown_key_suggests_the_field() -> None:
    frame = small([(0, "Order placed", "A")])
    with pytest.raises(
        LatencyError, match=r"no field 'order_ib' in the data \(did you mean 'order_id'\?\)"
    ) as exc:
        run(frame, key="order_ib")
    assert exc.value.option == "key"
    with pytest.raises(LatencyError, match="did you mean 'message'") as exc:
        run(frame, group_by="mesage")
    assert exc.value.option == "group_by"


@pytest.mark.parametrize(
    ("start", "end", "option", "message"),
    [
        ("", TO, "from", "empty filter"),
        (FROM, "  ", "to", "empty filter"),
        ("mesage == 'x'", TO, "from", "did you mean 'message'"),
    ],
)
def test_filters_that_cannot_select_events_are_refused(
    start: str, end: str, option: str, message: str
) -> None:
    frame = small([(0, "Order placed", "A")])
    with pytest.raises(LatencyError, match=message) as exc:
        pair_events(frame, start=compile_filter(start), end=compile_filter(end), key="order_id")
    assert exc.value.option == option


def test_bad_unit_and_unusable_key() -> None:
    frame = small([(0, "Order placed", "A")]).with_columns(pl.lit([1]).alias("lst"))
    with pytest.raises(LatencyError, match="unknown unit"):
        run(frame, unit="min")
    with pytest.raises(LatencyError, match="cannot be a key"):
        run(frame, key="lst")
    with pytest.raises(LatencyError, match="named twice"):
        run(frame, key=["order_id", "order_id"])


def test_fields_named_like_the_output_or_the_key_as_group() -> None:
    frame = small([(0, "Order placed", "A"), (2, "Trade executed", "A")]).with_columns(
        pl.col("order_id").alias("pairs"), pl.col("order_id").alias("to_ts"), pl.lit(1).alias("__lat_row")
    )
    for key in ("pairs", ["pairs", "__lat_row"]):
        result = run(frame, key=key, unit="ms")
        assert pairs_of(result) == [(0, 1)] and result.total.p50 == 2.0, key
    with pytest.raises(LatencyError, match="'to_ts' clashes with the pairs' own 'to_ts' column"):
        run(frame, key="to_ts")
    result = run(frame, key="order_id", group_by="order_id")
    assert [g.group for g in result.groups] == ["A"] and result.groups[0].counts.pairs == 1
    assert latency_histogram(result).series[0].name == "A"


def test_empty_input() -> None:
    frame = small([])
    result = run(frame)
    assert result.counts.pairs == 0 and result.pairs.height == 0 and result.total.p50 is None
    h = latency_histogram(result)
    assert h.total == 0


# ---- real snapshots -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples() -> pl.DataFrame:
    from ttview.lsinfo import sample_dir
    from ttview.sources import load_snapshots, resolve_paths

    files, _ = resolve_paths([sample_dir()])
    return load_snapshots(files).frame


@pytest.mark.parametrize("key", [["order_id"], ["pid", "order_id"]])
def test_the_sample_snapshots_match_the_reference(samples: pl.DataFrame, key: list[str]) -> None:
    start, end = 'message == "Order placed"', 'message == "Trade executed"'
    result = pair_events(
        samples, start=compile_filter(start), end=compile_filter(end), key=key, group_by="venue"
    )
    msgs = samples["message"].to_list()
    ref = reference(
        samples,
        is_from=[m == "Order placed" for m in msgs],
        is_to=[m == "Trade executed" for m in msgs],
        key=key,
        group="venue",
    )
    check(samples, result, ref)
    assert result.counts.pairs > 10_000
    if key == ["order_id"]:  # the sessions reuse order ids: global keys pair across processes
        assert result.counts.from_repeated > 0
    else:
        assert result.counts.from_repeated == 0 and result.counts.to_extra == 0


def test_int_and_text_order_ids_in_one_snapshot_are_one_key(tmp_path: Path) -> None:
    from tests.cli.conftest import fill_ring, snapshot_of
    from ttview.sources import load_snapshots

    shm = tmp_path / "shm"
    shm.mkdir()
    events = [
        ("oms", "order", "Order placed", {"order_id": 17}),
        ("oms", "order", "Order placed", {"order_id": "18"}),
        ("oms", "trade", "Trade executed", {"order_id": "17"}),
        ("oms", "trade", "Trade executed", {"order_id": 18}),
        ("oms", "trade", "Trade executed", {"order_id": 19.0}),
    ]
    ring = fill_ring(shm, service="oms", pid=7, events=events)
    frame = load_snapshots([snapshot_of(ring, tmp_path, service="oms", pid=7)]).frame
    # the frame keeps each id's type (a Struct of int, float and str); pairing compares their text
    assert frame.schema["order_id"] == pl.Struct({"int": pl.Int64, "float": pl.Float64, "str": pl.String})
    result = run(frame, unit="ms")
    assert pairs_of(result) == [(0, 2), (1, 3)]
    assert result.pairs["latency"].to_list() == [2.0, 2.0]
    assert result.counts.to_unmatched == 1


def test_rule_text_names_the_choices() -> None:
    for word in ("first to after", "latest", "extra", "same ts", "null keys"):
        assert word in RULE


def test_the_core_imports_no_ui() -> None:
    code = "import sys, ttview.latency; print([m for m in ('textual', 'rich', 'typer') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
