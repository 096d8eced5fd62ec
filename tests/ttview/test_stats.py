"""Group-by statistics, percentiles, histograms and the timeline, checked against plain Python."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ttview.test_query import T0, make_frame
from ttview.stats import (
    STAT_COLUMNS,
    Histogram,
    group_stats,
    histogram,
    percentiles,
    pick_every,
    timeline,
)

FIELDS = {"latency_us": pl.Int64(), "px": pl.Float64(), "symbol": pl.String(), "flag": pl.Boolean()}
SEC = 1_000_000_000


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return make_frame(rows, fields=FIELDS)


def py_quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, Hyndman-Fan type 7)."""
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


# ---- percentiles --------------------------------------------------------------------------------


def test_percentiles_use_linear_interpolation() -> None:
    got = percentiles([1, 2, 3, 4, 10], [0, 0.25, 0.5, 0.9, 1])
    assert got == {0: 1.0, 0.25: 2.0, 0.5: 3.0, 0.9: pytest.approx(7.6), 1: 10.0}


def test_percentiles_ignore_nulls_nan_and_inf() -> None:
    s = pl.Series([None, 1.0, float("nan"), 3.0, float("inf"), -float("inf")])
    assert percentiles(s, [0.5]) == {0.5: 2.0}
    assert percentiles(pl.Series([None, None], dtype=pl.Int64), [0.5, 0.99]) == {0.5: None, 0.99: None}
    assert percentiles([], [0.5]) == {0.5: None}


def test_percentiles_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        percentiles([1, 2], [99])
    with pytest.raises(ValueError, match="need numbers"):
        percentiles(pl.Series(["a"]), [0.5])


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False)), max_size=40
    ),
    q=st.floats(0, 1),
)
def test_percentiles_match_python(values: list[float], q: float) -> None:
    got = percentiles(pl.Series(values, dtype=pl.Float64), [q])[q]
    want = py_quantile([float(v) for v in values], q)
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


# ---- group_stats --------------------------------------------------------------------------------

STATS_ROWS: list[dict[str, Any]] = [
    {"ts": T0 + 0 * SEC, "logger": "orders", "level": 20, "latency_us": 10, "symbol": "A"},
    {"ts": T0 + 1 * SEC, "logger": "orders", "level": 22, "latency_us": 20, "symbol": "B"},
    {"ts": T0 + 2 * SEC, "logger": "md", "level": 15, "latency_us": 5, "px": 1.0},
    {"ts": T0 + 3 * SEC, "logger": "orders", "level": 30, "latency_us": 40, "symbol": "A"},
    {"ts": T0 + 4 * SEC, "logger": "risk", "level": 40, "symbol": "A"},
    {"ts": T0 + 5 * SEC, "logger": "md", "level": 15, "latency_us": 7, "px": float("nan")},
    {"ts": T0 + 6 * SEC, "logger": "orders", "level": 20, "latency_us": 1000},
    {"ts": T0 + 8 * SEC, "logger": "md", "level": 15, "latency_us": 6},
]
STATS_DF = frame(STATS_ROWS)


def expected_stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": min(values),
        "mean": sum(values) / len(values),
        "p50": py_quantile(values, 0.5),
        "p90": py_quantile(values, 0.9),
        "p99": py_quantile(values, 0.99),
        "p99.9": py_quantile(values, 0.999),
        "max": max(values),
    }


def test_group_stats_by_logger_matches_python() -> None:
    out = group_stats(STATS_DF, by="logger")
    assert out.columns == ["logger", "count", "share", "rate", *STAT_COLUMNS]
    assert out["logger"].to_list() == ["orders", "md", "risk"]  # count desc
    span = 8.0
    by_name = {row["logger"]: row for row in out.iter_rows(named=True)}
    for name in ("orders", "md"):
        members = [r for r in STATS_ROWS if r["logger"] == name]
        values = [float(r["latency_us"]) for r in members if r.get("latency_us") is not None]
        row = by_name[name]
        assert row["count"] == len(members)
        assert row["share"] == pytest.approx(len(members) / len(STATS_ROWS))
        assert row["rate"] == pytest.approx(len(members) / span)
        for key, want in expected_stats(values).items():
            assert row[key] == pytest.approx(want), (name, key)
    risk = by_name["risk"]
    assert risk["count"] == 1 and risk["n"] == 0
    assert all(risk[k] is None for k in STAT_COLUMNS[1:])
    assert sum(out["rate"]) == pytest.approx(len(STATS_ROWS) / span)


def test_group_stats_whole_frame() -> None:
    out = group_stats(STATS_DF, by=None)
    assert out["group"].to_list() == ["all"]
    values = [float(r["latency_us"]) for r in STATS_ROWS if r.get("latency_us") is not None]
    row = out.row(0, named=True)
    assert row["count"] == 8 and row["share"] == 1.0 and row["rate"] == pytest.approx(1.0)
    for key, want in expected_stats(values).items():
        assert row[key] == pytest.approx(want), key


def test_group_stats_shows_levels_by_name_and_sorts_them_by_number() -> None:
    out = group_stats(STATS_DF, by="level", sort="level")
    assert out["level"].to_list() == ["MARKET_DATA", "INFO", "TRADE", "WARN", "ERROR"]
    assert out["count"].to_list() == [3, 2, 1, 1, 1]
    desc = group_stats(STATS_DF, by="level", sort="level", descending=True)
    assert desc["level"].to_list() == ["ERROR", "WARN", "TRADE", "INFO", "MARKET_DATA"]


def test_group_stats_by_field_keeps_events_without_it_as_a_null_group() -> None:
    out = group_stats(STATS_DF, by="symbol")
    assert out["symbol"].to_list() == [None, "A", "B"]
    assert out["count"].to_list() == [4, 3, 1]


def test_group_stats_float_field_ignores_nan() -> None:
    row = group_stats(STATS_DF, by="logger", field="px").filter(pl.col("logger") == "md").row(0, named=True)
    assert row["n"] == 1 and row["max"] == 1.0 and row["p50"] == 1.0


def test_group_stats_sorting() -> None:
    assert group_stats(STATS_DF, by="logger", sort="p50")["logger"].to_list() == ["orders", "md", "risk"]
    asc = group_stats(STATS_DF, by="logger", sort="max", descending=False)["logger"].to_list()
    assert asc == ["md", "orders", "risk"]  # nulls last either way
    assert group_stats(STATS_DF, by="logger", sort="logger")["logger"].to_list() == ["md", "orders", "risk"]
    with pytest.raises(ValueError, match="cannot sort by 'p42'"):
        group_stats(STATS_DF, by="logger", sort="p42")


def test_group_stats_ties_break_by_group() -> None:
    df = frame([{"logger": name} for name in ["b", "a", "c", "a", "b", "c"]])
    assert group_stats(df, by="logger")["logger"].to_list() == ["a", "b", "c"]


def test_group_stats_without_a_usable_field() -> None:
    for field in ("symbol", "flag", "missing"):
        out = group_stats(STATS_DF, by="logger", field=field)
        assert out.columns[-len(STAT_COLUMNS) :] == list(STAT_COLUMNS)
        assert out["n"].to_list() == [0, 0, 0]
        assert out["p99"].null_count() == 3
    out = group_stats(STATS_DF, by="logger", field=None)
    assert out.columns == ["logger", "count", "share", "rate"]


def test_group_stats_edge_cases() -> None:
    empty = group_stats(STATS_DF.clear(), by="logger")
    assert empty.height == 0 and empty.columns[:2] == ["logger", "count"]
    assert group_stats(STATS_DF.clear(), by=None).height == 0
    one = group_stats(STATS_DF.head(1), by=None).row(0, named=True)
    assert one["count"] == 1 and one["rate"] is None  # zero span: no rate
    assert group_stats(STATS_DF.lazy(), by="logger").height == 3
    with pytest.raises(ValueError, match="no column 'loger' in the data \\(did you mean 'logger'\\?\\)"):
        group_stats(STATS_DF, by="loger")


# ---- histogram ----------------------------------------------------------------------------------


def values_frame(values: list[Any], dtype: pl.DataType | None = None, **extra: list[Any]) -> pl.DataFrame:
    rows = [{"v": v, **{k: col[i] for k, col in extra.items()}} for i, v in enumerate(values)]
    fields: dict[str, pl.DataType] = {"v": dtype or pl.Float64()}
    fields.update({k: pl.String() for k in extra})
    return make_frame(rows, fields=fields)


def test_histogram_linear_bins_are_exact_on_simple_data() -> None:
    h = histogram(values_frame(list(range(100)), pl.Int64()), field="v", bins=10)
    assert isinstance(h, Histogram) and h.bins == 10 and not h.log
    assert h.edges[0] == 0 and h.edges[-1] == 99
    assert [s.name for s in h.series] == ["all"]
    s = h.series[0]
    assert sum(s.counts) == s.count == 100 and s.nulls == 0
    assert s.min == 0 and s.max == 99 and s.p50 == 49.5
    assert s.p99 == pytest.approx(py_quantile(list(range(100)), 0.99))
    assert s.p999 == pytest.approx(py_quantile(list(range(100)), 0.999))
    edges = np.linspace(0, 99, 11)
    want = np.histogram(np.arange(100), bins=edges)[0].tolist()
    assert list(s.counts) == want


def test_histogram_counts_each_value_in_its_bin() -> None:
    vals = [0.0, 1.0, 2.5, 2.5, 7.0, 10.0]
    s = histogram(values_frame(vals), field="v", bins=4).series[0]
    # edges 0, 2.5, 5, 7.5, 10: the last bin includes 10
    assert s.counts == (2, 2, 1, 1)


def test_histogram_nulls_nan_and_inf_are_not_binned() -> None:
    vals = [1.0, None, float("nan"), 2.0, float("inf"), 3.0]
    s = histogram(values_frame(vals), field="v", bins=3).series[0]
    assert s.count == 3 and s.nulls == 3 and sum(s.counts) == 3


@pytest.mark.parametrize("log", [False, True])
def test_histogram_of_all_events_equals_one_group_of_all(log: bool) -> None:
    rng = np.random.default_rng(5)
    vals = [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.lognormal(3, 1, 2000) - 2)]
    frame = values_frame(vals).with_columns(pl.lit("x").alias("g"))
    alone = histogram(frame, field="v", bins=20, log=log)
    grouped = histogram(frame, field="v", bins=20, log=log, by="g")
    assert alone.edges == grouped.edges
    a, g = alone.series[0], grouped.series[0]
    assert (a.counts, a.count, a.nulls, a.nonpositive) == (g.counts, g.count, g.nulls, g.nonpositive)
    assert (a.min, a.mean, a.p50, a.p99, a.p999, a.max) == (g.min, g.mean, g.p50, g.p99, g.p999, g.max)
    assert a.name == "all" and a.nulls == sum(v is None for v in vals)


def test_histogram_log_bins_count_nonpositive_values_apart() -> None:
    vals = [0.0, -5.0, 1.0, 10.0, 100.0, 1000.0]
    h = histogram(values_frame(vals), field="v", bins=3, log=True)
    s = h.series[0]
    assert h.log and h.edges[0] == pytest.approx(1) and h.edges[-1] == pytest.approx(1000)
    assert h.edges[1] == pytest.approx(10) and h.edges[2] == pytest.approx(100)
    assert s.nonpositive == 2 and s.count == 6
    assert sum(s.counts) == 4 and s.counts == (1, 1, 2)
    assert s.min == -5.0  # percentiles cover every value, binned or not


def test_histogram_single_distinct_value() -> None:
    for log in (False, True):
        h = histogram(values_frame([42.0] * 5), field="v", bins=7, log=log)
        s = h.series[0]
        assert sum(s.counts) == 5 and s.p50 == 42.0 and s.max == 42.0
        assert h.edges[0] < 42.0 < h.edges[-1]
        assert s.counts[3] == 5  # the middle bin


def test_histogram_empty_data() -> None:
    for df in (values_frame([]), values_frame([None, None]), make_frame([], fields={})):
        h = histogram(df, field="v", bins=5)
        assert h.bins == 5 and len(h.series) == 1
        assert h.series[0].counts == (0,) * 5 and h.series[0].count == 0 and h.series[0].p50 is None
    assert histogram(values_frame([]), field="v", by="g").series == ()


def test_histogram_needs_a_numeric_field() -> None:
    with pytest.raises(ValueError, match="'symbol' holds String, not numbers"):
        histogram(STATS_DF, field="symbol")
    with pytest.raises(
        ValueError, match="no field 'latncy_us' in the data \\(did you mean 'latency_us'\\?\\)"
    ):
        histogram(STATS_DF, field="latncy_us")
    with pytest.raises(ValueError, match="bins"):
        histogram(STATS_DF, bins=0)
    with pytest.raises(ValueError, match="no column"):
        histogram(STATS_DF, by="nope")


def test_histogram_by_group_keeps_the_largest_groups() -> None:
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 1 + [None] * 4
    vals = [float(i) for i in range(len(groups))]
    vals[-1] = None  # one of the ungrouped events has no value
    h = histogram(values_frame(vals, g=groups), field="v", bins=4, by="g", max_groups=3)
    assert [s.name for s in h.series] == ["a", "(none)", "b"]
    assert [s.count for s in h.series] == [5, 3, 3]
    assert h.series[1].nulls == 1
    assert h.omitted_groups == 2 and h.omitted_values == 3
    assert all(sum(s.counts) == s.count for s in h.series)
    assert h.total == 11
    a = h.series[0]
    assert a.p50 == 2.0 and a.max == 4.0 and a.min == 0.0


def test_histogram_by_level_names_series() -> None:
    h = histogram(STATS_DF, by="level", bins=5)
    assert [s.name for s in h.series][:2] == ["MARKET_DATA", "INFO"]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False), st.integers(-1000, 1000).map(float)),
        max_size=60,
    ),
    bins=st.integers(1, 40),
    log=st.booleans(),
)
def test_histogram_counts_add_up_and_land_in_their_bins(
    values: list[float | None], bins: int, log: bool
) -> None:
    h = histogram(values_frame(values), field="v", bins=bins, log=log)
    s = h.series[0]
    finite = [v for v in values if v is not None]
    assert s.count == len(finite) and s.nulls == len(values) - len(finite)
    assert len(h.edges) == bins + 1 and all(a < b for a, b in zip(h.edges, h.edges[1:], strict=False))
    binned = [v for v in finite if v > 0] if log else finite
    assert sum(s.counts) == len(binned) and s.nonpositive == len(finite) - len(binned)
    for i, count in enumerate(s.counts):  # each bin holds the values between its edges (fp slack)
        lo, hi = h.edges[i], h.edges[i + 1]
        slack = 1e-9 * max(abs(lo), abs(hi), 1e-300)
        inside = [v for v in binned if lo - slack <= v <= hi + slack]
        assert count <= len(inside)
    if finite:
        assert s.p50 == pytest.approx(py_quantile(finite, 0.5), rel=1e-9, abs=1e-6)
        assert s.max == max(finite)


# ---- timeline -----------------------------------------------------------------------------------


def test_timeline_counts_per_bucket_and_level() -> None:
    df = frame(
        [
            {"ts": T0 + 100_000_000, "level": 20},
            {"ts": T0 + 900_000_000, "level": 30},
            {"ts": T0 + 1_000_000_000, "level": 20},
            {"ts": T0 + 3_500_000_000, "level": 40},
            {"ts": T0 + 3_600_000_000, "level": 20},
        ]
    )
    out = timeline(df, every="1s")
    assert out.columns == ["ts", "INFO", "WARN", "ERROR", "total"]
    assert out["ts"].dt.epoch("ns").to_list() == [T0 + i * SEC for i in range(4)]
    assert out["INFO"].to_list() == [1, 1, 0, 1]
    assert out["WARN"].to_list() == [1, 0, 0, 0]
    assert out["ERROR"].to_list() == [0, 0, 0, 1]
    assert out["total"].to_list() == [2, 1, 0, 2]
    assert out["total"].sum() == df.height
    assert out.schema["ts"] == pl.Datetime("ns", "UTC")


def test_timeline_bucket_widths() -> None:
    df = frame([{"ts": T0 + i * 250_000_000} for i in range(20)])  # 5 s of events
    assert timeline(df, every="500ms").height == 10
    assert timeline(df, every=2 * SEC).height == 3
    import datetime

    assert timeline(df, every=datetime.timedelta(seconds=1)).height == 5
    auto = timeline(df, every="auto", target_buckets=4)
    assert auto.height <= 4 and auto["total"].sum() == 20
    with pytest.raises(ValueError, match="too many"):
        timeline(df, every="1ns", max_buckets=1000)
    with pytest.raises(ValueError):
        timeline(df, every="soon")
    with pytest.raises(ValueError):
        timeline(df, every=0)


def test_timeline_empty() -> None:
    out = timeline(frame([]))
    assert out.height == 0 and out.columns == ["ts", "total"]


def test_pick_every_gives_nice_widths() -> None:
    assert pick_every(10 * SEC, 120) == 100_000_000
    assert pick_every(3600 * SEC, 120) == 60 * SEC
    assert pick_every(0, 120) == 1
    for span in (1, 999, 10**12, 10**15, 10**18):
        step = pick_every(span, 50)
        assert span // step + 1 <= 50
