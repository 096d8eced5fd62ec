"""Numbers behind the group-by, histogram and timeline views and the CLI's ``stats`` and ``hist``.

Every function takes an event frame (see :mod:`ttview.schema`; a LazyFrame is collected first)
and works column-wise in polars; no Python loop runs per event.

Definitions, used everywhere in this module:

- **Percentiles** use linear interpolation between closest ranks (numpy's default, Hyndman-Fan
  type 7; polars ``quantile(q, "linear")``): for sorted values ``x[0..n-1]`` and ``h = (n-1)q``,
  the result is ``x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])``. ``qs`` are fractions
  (``0.999`` is p99.9).
- **Values** of a field are its finite numbers: nulls (events without the field), NaN and ±inf
  are left out of percentiles, means and bins, and counted separately where it matters.
- **Rate** is a group's event count divided by the span of the whole frame (newest ``ts`` minus
  oldest), in events per second, so the group rates add up to the frame's rate. It is null when
  the span is zero.

Invariants: no UI imports; inputs are never mutated; empty frames give empty (zero) results, not
errors; a missing or non-numeric field gives null statistics in :func:`group_stats` and a clear
``ValueError`` in :func:`histogram`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import numpy as np
import polars as pl

from ttview.query import parse_duration
from ttview.schema import (
    is_numeric_dtype,
    is_union_dtype,
    level_name,
    level_name_expr,
    numeric_expr,
    text_expr,
)
from ttview.summary import SKETCH_ERROR, VALUE_BUDGET, Summary, summarize

__all__ = [
    "QUANTILE_METHOD",
    "STAT_COLUMNS",
    "GroupStats",
    "Histogram",
    "HistogramSeries",
    "group_stats",
    "group_summary",
    "histogram",
    "percentiles",
    "pick_every",
    "timeline",
]

QUANTILE_METHOD = "linear"
"""The polars quantile interpolation every percentile here uses (see the module docstring)."""

_GROUP_QS: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999))

STAT_COLUMNS: tuple[str, ...] = ("n", "min", "mean", "p50", "p90", "p99", "p99.9", "max")
"""The statistic columns :func:`group_stats` adds for ``field`` (``n`` counts its values)."""

ALL_GROUP = "all"
"""The name of the single group when nothing is grouped by."""

NULL_GROUP = "(none)"
"""The name shown for events that lack the grouping column."""


def _frame(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return df.collect() if isinstance(df, pl.LazyFrame) else df


def _no_column(df: pl.DataFrame | pl.Schema, name: str, what: str) -> ValueError:
    columns = list(df) if isinstance(df, pl.Schema) else df.columns
    hint = get_close_matches(name, columns, n=1)
    more = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ValueError(f"no {what} {name!r} in the data{more}")


def _values(column: str) -> pl.Expr:
    """The column as Float64 with NaN and ±inf turned into nulls."""
    x = pl.col(column).cast(pl.Float64)
    return pl.when(x.is_finite()).then(x).otherwise(None)


def percentiles(
    values: pl.Series | Sequence[float] | np.ndarray, qs: Iterable[float]
) -> dict[float, float | None]:
    """``{q: percentile}`` of the finite values (nulls, NaN and ±inf left out); None if there are none.

    ``qs`` are fractions in [0, 1]: ``percentiles(s, [0.5, 0.99, 0.999])``.
    """
    series = values if isinstance(values, pl.Series) else pl.Series("", values)
    if not (is_numeric_dtype(series.dtype) or isinstance(series.dtype, pl.Null)):
        raise ValueError(f"percentiles need numbers, not {series.dtype}")
    qs = list(qs)
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} is outside [0, 1] (use 0.99 for p99)")
    x = series.cast(pl.Float64)
    x = x.filter(x.is_finite())
    if x.is_empty():
        return dict.fromkeys(qs)
    return {q: x.quantile(q, QUANTILE_METHOD) for q in qs}


# ---- group-by ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupStats:
    """:func:`group_summary`'s result: the table :func:`group_stats` gives, and whether its
    percentiles are exact (every value held) or estimates within ``relative_error``."""

    table: pl.DataFrame
    exact: bool = True
    relative_error: float | None = None
    events: int = 0
    total: pl.DataFrame | None = None
    """The same statistics over every event (one row, group ``all``), from the same pass."""
    ts_min: int | None = None
    ts_max: int | None = None


def group_stats(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | None,
    field: str | None = "latency_us",
    sort: str = "count",
    descending: bool | None = None,
) -> pl.DataFrame:
    """One row per group: count, share, rate, and statistics of the numeric ``field``.

    Columns: the group column (named ``by``, or ``group`` holding ``"all"`` when ``by`` is None;
    levels are shown by name), ``count`` (events), ``share`` (of all events), ``rate`` (events/s
    over the whole frame's span), then, unless ``field`` is None, ``n`` (events with a finite
    value of ``field``), ``min``, ``mean``, ``p50``, ``p90``, ``p99``, ``p99.9``, ``max`` — null
    when ``field`` is absent, not numeric, or has no values in the group.

    Sorted by ``sort`` (any output column), descending for numbers and ascending for the group
    column unless ``descending`` says otherwise; nulls last, ties by group. A LazyFrame is
    streamed in bounded memory (:func:`group_summary` says whether percentiles are exact).
    """
    return group_summary(df, by=by, field=field, sort=sort, descending=descending).table


def group_summary(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | None,
    field: str | None = "latency_us",
    sort: str = "count",
    descending: bool | None = None,
    budget: int = VALUE_BUDGET,
) -> GroupStats:
    """:func:`group_stats` with the exactness of its percentiles (see :mod:`ttview.summary`)."""
    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    schema = _schema(lazy)
    if by is not None and by not in schema:
        raise _no_column(schema, by, "column")
    key = "group" if by is None else by
    value = numeric_expr(field, schema[field]) if field is not None and field in schema else None
    summary = summarize(lazy, key=_key_expr(by, schema), value=value, budget=budget,
                        with_time="ts" in schema)
    total = summary.total
    span = None
    if summary.ts_min is not None and summary.ts_max is not None and summary.ts_max > summary.ts_min:
        span = (summary.ts_max - summary.ts_min) / 1e9
    codes = range(len(summary.keys))
    key_dtype = schema[by] if by is not None and not is_union_dtype(schema[by]) else pl.String
    if by is not None and by == "level":
        key_dtype = schema[by]
    columns: dict[str, Any] = {
        key: pl.Series([ALL_GROUP if by is None else k for k in summary.keys],
                       dtype=pl.String if by is None else key_dtype),
        "count": pl.Series([summary.events[c] for c in codes], dtype=pl.Int64),
    }
    stat_names: tuple[str, ...] = ()
    if field is not None:
        stat_names = STAT_COLUMNS
        columns.update(_value_stats(summary, value is not None))
    out = pl.DataFrame(columns)
    out = out.with_columns(
        (pl.col("count") / total if total else pl.lit(None, dtype=pl.Float64)).alias("share"),
        (pl.col("count") / span if span else pl.lit(None, dtype=pl.Float64)).alias("rate"),
    ).select(key, "count", "share", "rate", *stat_names)
    if by is None and total == 0:
        out = out.clear()
    elif by is None and not out.height:
        out = pl.DataFrame({key: [ALL_GROUP], "count": [0]}).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("share"), pl.lit(None, dtype=pl.Float64).alias("rate"),
            *[pl.lit(0 if n == "n" else None, dtype=pl.Int64 if n == "n" else pl.Float64).alias(n)
              for n in stat_names]).clear()
    columns_out = out.columns
    if sort not in columns_out:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(columns_out)}")
    desc = (sort != key) if descending is None else descending
    order = [sort] if sort == key else [sort, key]
    out = out.sort(order, descending=[desc] + [False] * (len(order) - 1), nulls_last=True)
    if by == "level" and out.schema[key].is_integer():
        out = out.with_columns(level_name_expr(pl.col(key)).alias(key))
    overall = (_overall(summary, field, value is not None, span) if by is not None
               else out.rename({key: "group"}))
    return GroupStats(out, summary.exact, None if summary.exact else SKETCH_ERROR, total, overall,
                      summary.ts_min, summary.ts_max)


def _overall(summary: Summary, field: str | None, numeric: bool, span: float | None) -> pl.DataFrame:
    """One row, group ``all``, over every event of ``summary`` (its groups merged)."""
    total = summary.total
    merged = Summary(keys=[ALL_GROUP], events=[total], n=[sum(summary.n)],
                     min=[min((m for m in summary.min if m is not None), default=None)],
                     max=[max((m for m in summary.max if m is not None), default=None)],
                     sum=[sum(summary.sum)], nonpositive=[sum(summary.nonpositive)])
    if summary.values is not None:
        merged.values = summary.values.select(pl.repeat(0, pl.len(), dtype=pl.UInt32).alias("code"), "x")
    elif summary.sketch is not None:
        merged.sketch = {0: sum(summary.sketch.values())} if summary.sketch else {}
    columns: dict[str, Any] = {"group": pl.Series([ALL_GROUP]), "count": pl.Series([total], dtype=pl.Int64)}
    stat_names: tuple[str, ...] = ()
    if field is not None:
        stat_names = STAT_COLUMNS
        columns.update(_value_stats(merged, numeric))
    out = pl.DataFrame(columns).with_columns(
        pl.lit(1.0 if total else None, dtype=pl.Float64).alias("share"),
        (pl.col("count") / span if span else pl.lit(None, dtype=pl.Float64)).alias("rate"),
    ).select("group", "count", "share", "rate", *stat_names)
    return out if total else out.clear()


def _key_expr(by: str | None, schema: pl.Schema) -> pl.Expr | None:
    if by is None:
        return None
    if is_union_dtype(schema[by]):
        return text_expr(by, schema[by])
    return pl.col(by)


def _value_stats(summary: Summary, numeric: bool) -> dict[str, pl.Series]:
    """The ``n``, ``min``, ``mean``, percentile and ``max`` columns, one row per group."""
    k = len(summary.keys)
    n = [0] * k
    cols: dict[str, list[float | None]] = {name: [None] * k for name in STAT_COLUMNS[1:]}
    if numeric and summary.values is not None:
        aggs = [pl.col("x").count().alias("n"), pl.col("x").min().alias("min"),
                pl.col("x").mean().alias("mean"),
                *[pl.col("x").quantile(q, QUANTILE_METHOD).alias(name) for name, q in _GROUP_QS],
                pl.col("x").max().alias("max")]
        if k == 1:  # one group: no grouping (and no copy of the values)
            rows = summary.values.select(pl.lit(0, dtype=pl.UInt32).alias("code"),
                                         *aggs).iter_rows(named=True)
        else:
            rows = summary.values.group_by("code").agg(aggs).iter_rows(named=True)
        for row in rows:
            code = row["code"]
            n[code] = row["n"]
            for name in STAT_COLUMNS[1:]:
                cols[name][code] = row[name]
    elif numeric:
        qs = summary.quantiles([q for _, q in _GROUP_QS])
        for code in range(k):
            n[code] = summary.n[code]
            if n[code]:
                cols["min"][code], cols["max"][code] = summary.min[code], summary.max[code]
                cols["mean"][code] = summary.sum[code] / n[code]
                for (name, _), v in zip(_GROUP_QS, qs[code], strict=True):
                    cols[name][code] = v
    out = {"n": pl.Series(n, dtype=pl.Int64)}
    out.update({name: pl.Series(v, dtype=pl.Float64) for name, v in cols.items()})
    return out


def _span_seconds(frame: pl.DataFrame) -> float | None:
    if "ts" not in frame.columns or frame.height == 0:
        return None
    lo, hi = frame.select(
        pl.col("ts").min().dt.epoch("ns").alias("lo"), pl.col("ts").max().dt.epoch("ns").alias("hi")
    ).row(0)
    if lo is None or hi is None or hi <= lo:
        return None
    return (hi - lo) / 1e9


# ---- histogram --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistogramSeries:
    """One series of a :class:`Histogram`: bin counts and the summary of its values."""

    name: str
    counts: tuple[int, ...]
    """Values per bin; ``sum(counts) == count - nonpositive`` (all of ``count`` for linear bins)."""
    count: int
    """Finite values of the field in this series."""
    nonpositive: int
    """Values <= 0, which log bins cannot show (always 0 for linear bins)."""
    nulls: int
    """Events in this series without a value (null, NaN or ±inf)."""
    min: float | None
    mean: float | None
    p50: float | None
    p99: float | None
    p999: float | None
    max: float | None


@dataclass(frozen=True)
class Histogram:
    """Bins shared by every series: bin ``i`` spans ``edges[i]`` to ``edges[i + 1]``.

    Bins are half-open except the last, which includes ``edges[-1]`` (the largest value).
    """

    field: str
    log: bool
    edges: tuple[float, ...]
    series: tuple[HistogramSeries, ...]
    by: str | None = None
    omitted_groups: int = 0
    """Groups left out because only the ``max_groups`` largest are shown."""
    omitted_values: int = 0
    """Finite values in the omitted groups."""
    exact: bool = True
    """Whether the percentiles are exact; else estimates within ``ttview.summary.SKETCH_ERROR``."""
    events: int = 0
    """Events the histogram was made from (with a value of the field or not)."""

    @property
    def bins(self) -> int:
        return len(self.edges) - 1

    @property
    def total(self) -> int:
        """Finite values across the shown series."""
        return sum(s.count for s in self.series)


def _edges(lo: float, hi: float, bins: int, log: bool) -> np.ndarray:
    if log:
        edges = np.exp(np.linspace(math.log(lo), math.log(hi), bins + 1))
    elif math.isfinite(hi - lo):
        edges = lo + (hi - lo) * np.arange(bins + 1) / bins
    else:  # values near the float range limits: halves keep the width finite
        edges = (lo / 2 + (hi / 2 - lo / 2) * np.arange(bins + 1) / bins) * 2
    edges[0], edges[-1] = lo, hi
    return edges


def _bin_index(x: np.ndarray, lo: float, hi: float, bins: int, log: bool) -> np.ndarray:
    if log:
        t = (np.log(x) - math.log(lo)) * bins / (math.log(hi) - math.log(lo))
    elif math.isfinite(hi - lo):
        t = (x - lo) * bins / (hi - lo)
    else:
        t = (x / 2 - lo / 2) * bins / (hi / 2 - lo / 2)
    return np.clip(np.floor(t), 0, bins - 1).astype(np.int64)


def histogram(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    field: str = "latency_us",
    bins: int = 50,
    log: bool = False,
    by: str | None = None,
    max_groups: int = 8,
    budget: int = VALUE_BUDGET,
) -> Histogram:
    """Bin the numeric ``field``: one series, or one per group of ``by`` (the ``max_groups`` groups
    with the most values; the rest are counted in ``omitted_groups`` / ``omitted_values``).

    Linear bins span the smallest to the largest value; log bins (``log=True``) are evenly spaced
    in log between the smallest positive value and the largest, and values <= 0 are counted in
    each series' ``nonpositive`` instead. A single distinct value gets a bin range around it.
    Percentiles cover every finite value, binned or not. Raises ValueError when ``field`` is
    missing from a non-empty frame or is not numeric.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, not {bins!r}")
    if max_groups < 1:
        raise ValueError(f"max_groups must be at least 1, not {max_groups!r}")
    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    schema = _schema(lazy)
    value: pl.Expr | None = None
    if field in schema:
        dtype = schema[field]
        value = numeric_expr(field, dtype)
        if value is None and not isinstance(dtype, pl.Null):
            raise ValueError(f"field {field!r} holds {dtype}, not numbers; a histogram needs a numeric field")
        if value is None:
            value = pl.col(field).cast(pl.Float64)
    if by is not None and by not in schema:
        if not _plain(lazy).select(pl.len()).collect(engine="streaming").item():
            return _empty_histogram(field, bins, log, by)
        raise _no_column(schema, by, "column")
    if value is None:
        value = pl.repeat(None, pl.len(), dtype=pl.Float64)
    summary = summarize(lazy, key=_key_expr(by, schema), value=value, budget=budget, with_time=False)
    if not summary.total:
        if field not in schema and isinstance(df, pl.DataFrame) and df.height:
            raise _no_column(schema, field, "field")
        return _empty_histogram(field, bins, log, by)
    if field not in schema:
        raise _no_column(schema, field, "field")

    order = sorted(range(len(summary.keys)), key=lambda c: (
        -summary.n[c], -summary.events[c], summary.keys[c] is None, _sort_key(summary.keys[c])))
    shown = order[:max_groups]
    omitted = order[max_groups:]
    slot = {code: j for j, code in enumerate(shown)}
    stats: dict[int, dict[str, Any]] = {}
    if summary.values is not None:
        values = summary.values.filter(pl.col("code").is_in(shown)).with_columns(
            pl.col("code").replace_strict(slot, return_dtype=pl.UInt32))
        aggs = [
            pl.col("x").min().alias("min"),
            pl.col("x").mean().alias("mean"),
            pl.col("x").quantile(0.5, QUANTILE_METHOD).alias("p50"),
            pl.col("x").quantile(0.99, QUANTILE_METHOD).alias("p99"),
            pl.col("x").quantile(0.999, QUANTILE_METHOD).alias("p999"),
            pl.col("x").max().alias("max"),
            (pl.col("x") <= 0).sum().alias("nonpositive"),
        ]
        stats = {row["code"]: row for row in values.group_by("code").agg(*aggs).iter_rows(named=True)}
        binned = values.filter(pl.col("x") > 0) if log else values
        lo_hi = binned.select(pl.col("x").min().alias("lo"), pl.col("x").max().alias("hi")).row(0)
    else:
        qs = summary.quantiles([0.5, 0.99, 0.999])
        for j, code in enumerate(shown):
            if summary.n[code]:
                stats[j] = {"min": summary.min[code], "max": summary.max[code],
                            "mean": summary.sum[code] / summary.n[code], "p50": qs[code][0],
                            "p99": qs[code][1], "p999": qs[code][2], "nonpositive": summary.nonpositive[code]}
        lo_hi = _bin_range(lazy, value, shown, summary, log)
    if lo_hi[0] is None:
        edges = _edges(1.0, 10.0, bins, log) if log else _edges(0.0, 1.0, bins, log)
        counts = np.zeros((len(shown), bins), dtype=np.int64)
    else:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
        if lo == hi:
            lo, hi = (
                (lo / 2, hi * 2) if log else (lo - max(0.5, abs(lo) * 1e-6), hi + max(0.5, abs(hi) * 1e-6))
            )
        edges = _edges(lo, hi, bins, log)
        if summary.values is not None:
            idx = _bin_index(binned["x"].to_numpy(), lo, hi, bins, log)
            code = binned["code"].to_numpy().astype(np.int64)
            counts = np.bincount(code * bins + idx, minlength=len(shown) * bins).reshape(len(shown), bins)
        else:  # every value was not held: count the bins in a second pass
            counts = _count_bins(lazy, _key_expr(by, schema), value, summary, slot, lo, hi, bins, log)

    series = []
    for j, code in enumerate(shown):
        st = stats.get(j, {})
        series.append(
            HistogramSeries(
                name=_group_name(by, summary.keys[code]),
                counts=tuple(int(c) for c in counts[j]),
                count=int(summary.n[code]),
                nonpositive=int(st.get("nonpositive") or 0) if log else 0,
                nulls=int(summary.events[code] - summary.n[code]),
                min=st.get("min"),
                mean=st.get("mean"),
                p50=st.get("p50"),
                p99=st.get("p99"),
                p999=st.get("p999"),
                max=st.get("max"),
            )
        )
    return Histogram(
        field=field,
        log=log,
        edges=tuple(float(e) for e in edges),
        series=tuple(series),
        by=by,
        omitted_groups=len(omitted),
        omitted_values=sum(summary.n[c] for c in omitted),
        exact=summary.exact,
        events=summary.total,
    )


def _schema(source: Any) -> pl.Schema:
    return _plain(source).collect_schema()


def _plain(source: Any) -> pl.LazyFrame:
    """The LazyFrame of a LazyFrame or of a ``ttview.scan.EventSource``."""
    return source.lazy if hasattr(source, "batches") else source


def _sort_key(key: object) -> tuple[int, Any]:
    if key is None:
        return (2, 0)
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, key)
    return (1, str(key))


def _bin_range(lazy: pl.LazyFrame, value: pl.Expr, shown: list[int], summary: Summary,
               log: bool) -> tuple[float | None, float | None]:
    """Smallest and largest binned value of the shown series (positive ones for log bins)."""
    if not log:
        lows = [summary.min[c] for c in shown if summary.min[c] is not None]
        highs = [summary.max[c] for c in shown if summary.max[c] is not None]
        return (min(lows), max(highs)) if lows else (None, None)
    highs = [summary.max[c] for c in shown if summary.max[c] is not None and summary.max[c] > 0]
    if not highs:
        return None, None
    x = value.cast(pl.Float64)
    low = pl.when(x.is_finite() & (x > 0)).then(x).alias("x")
    lows = [b.get_column("x").min() for b in _batches(lazy, [low])]
    lows = [v for v in lows if v is not None]
    return (min(lows) if lows else None), max(highs)


def _batches(source: Any, exprs: list[pl.Expr]) -> Any:
    if hasattr(source, "batches"):
        return source.batches(exprs)
    return source.select(exprs).collect_batches(maintain_order=False)


def _count_bins(lazy: pl.LazyFrame, key: pl.Expr | None, value: pl.Expr, summary: Summary,
                slot: dict[int, int], lo: float, hi: float, bins: int, log: bool) -> np.ndarray:
    index = {k: c for c, k in enumerate(summary.keys)}
    counts = np.zeros((len(slot), bins), dtype=np.int64)
    k = key if key is not None else pl.repeat(0, pl.len(), dtype=pl.UInt8)
    x = pl.col("x")
    keep = x.is_finite() & ((x > 0) if log else pl.lit(True))
    for batch in _batches(lazy, [k.alias("k"), value.cast(pl.Float64).alias("x")]):
        batch = batch.filter(keep)
        for (k,), part in batch.group_by("k"):
            j = slot.get(index.get(k, -1), -1)
            if j < 0:
                continue
            idx = _bin_index(part.get_column("x").to_numpy(), lo, hi, bins, log)
            counts[j] += np.bincount(idx, minlength=bins)
    return counts


def _group_name(by: str | None, key: object) -> str:
    if by is None:
        return ALL_GROUP
    if key is None:
        return NULL_GROUP
    if by == "level" and isinstance(key, int):
        return level_name(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "backslashreplace")
    return str(key)


def _empty_histogram(field: str, bins: int, log: bool, by: str | None) -> Histogram:
    edges = _edges(1.0, 10.0, bins, log) if log else _edges(0.0, 1.0, bins, log)
    series: tuple[HistogramSeries, ...] = ()
    if by is None:
        zero = HistogramSeries(ALL_GROUP, (0,) * bins, 0, 0, 0, None, None, None, None, None, None)
        series = (zero,)
    return Histogram(field, log, tuple(float(e) for e in edges), series, by)


# ---- timeline ---------------------------------------------------------------------------------

_NICE_STEPS_NS: tuple[int, ...] = tuple(
    m * unit
    for unit, mults in (
        (1, (1, 2, 5, 10, 20, 50, 100, 200, 500)),
        (10**3, (1, 2, 5, 10, 20, 50, 100, 200, 500)),
        (10**6, (1, 2, 5, 10, 20, 50, 100, 200, 500)),
        (10**9, (1, 2, 5, 10, 15, 30)),
        (60 * 10**9, (1, 2, 5, 10, 15, 30)),
        (3600 * 10**9, (1, 2, 3, 6, 12)),
        (86_400 * 10**9, (1, 7, 30, 365)),
    )
    for m in mults
)


def pick_every(span_ns: int, target: int = 120) -> int:
    """The smallest "nice" bucket width (1/2/5 steps, then seconds, minutes, hours, days) that cuts
    ``span_ns`` into at most ``target`` buckets, in nanoseconds."""
    for step in _NICE_STEPS_NS:
        if span_ns // step + 2 <= target:  # +2: bucket alignment can add one
            return step
    return max(_NICE_STEPS_NS[-1], -(-span_ns // max(target - 1, 1)))


def _every_ns(every: str | int | datetime.timedelta) -> int:
    if isinstance(every, datetime.timedelta):
        ns = (every.days * 86_400 + every.seconds) * 10**9 + every.microseconds * 1000
    elif isinstance(every, int) and not isinstance(every, bool):
        ns = every
    elif isinstance(every, str):
        ns = parse_duration(every)
    else:
        raise ValueError(f"every must be a duration like '1s', not {every!r}")
    if ns <= 0:
        raise ValueError(f"every must be positive, not {every!r}")
    return ns


def timeline(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    every: str | int | datetime.timedelta = "1s",
    target_buckets: int = 120,
    max_buckets: int = 100_000,
) -> pl.DataFrame:
    """Events per time bucket, by level: columns ``ts`` (bucket start, UTC), one Int64 column per
    level present (named, in level order) and ``total``.

    Buckets are ``every`` wide (``"500ms"``, ``"1s"``, ``"5m"``, a timedelta, or ns as an int;
    ``"auto"`` picks a nice width giving at most ``target_buckets``), aligned to multiples of
    ``every`` since the epoch, and continuous from the first event's bucket to the last's (empty
    buckets are zeros). More than ``max_buckets`` buckets raises ValueError.
    """
    lazy = _plain(df.lazy() if isinstance(df, pl.DataFrame) else df)
    schema = lazy.collect_schema()
    empty = pl.DataFrame(schema={"ts": pl.Datetime("ns", "UTC"), "total": pl.Int64})
    if "ts" not in schema:
        return empty
    epoch = pl.col("ts").dt.epoch("ns")
    lo, hi = lazy.select(epoch.min().alias("lo"), epoch.max().alias("hi")).collect(engine="streaming").row(0)
    if lo is None:
        return empty
    step = pick_every(hi - lo, target_buckets) if every == "auto" else _every_ns(every)
    first, last = lo // step * step, hi // step * step
    n = (last - first) // step + 1
    if n > max_buckets:
        raise ValueError(f"{n} buckets of {step} ns is too many (limit {max_buckets}); choose a wider every")

    has_level = "level" in schema
    keys = [(epoch // step * step).alias("bucket")] + ([pl.col("level")] if has_level else [])
    counts = lazy.group_by(keys).agg(pl.len().cast(pl.Int64).alias("n")).collect(engine="streaming")
    levels = sorted(counts["level"].drop_nulls().unique().to_list()) if has_level else []
    per_level = [pl.when(pl.col("level") == lv).then(pl.col("n")).otherwise(0).sum().alias(level_name(lv))
                 for lv in levels]
    table = counts.group_by("bucket").agg(*per_level, pl.col("n").sum().alias("total"))
    full = pl.DataFrame({"bucket": pl.int_range(first, last + step, step, dtype=pl.Int64, eager=True)})
    out = full.join(table, on="bucket", how="left").fill_null(0).sort("bucket")
    return out.select(
        pl.col("bucket").cast(pl.Datetime("ns", "UTC")).alias("ts"),
        *[level_name(lv) for lv in levels],
        "total",
    )
