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

import numpy as np
import polars as pl

from ttview.query import parse_duration
from ttview.schema import is_numeric_dtype, level_name, level_name_expr

__all__ = [
    "QUANTILE_METHOD",
    "STAT_COLUMNS",
    "Histogram",
    "HistogramSeries",
    "group_stats",
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


def _no_column(df: pl.DataFrame, name: str, what: str) -> ValueError:
    hint = get_close_matches(name, df.columns, n=1)
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
    column unless ``descending`` says otherwise; nulls last, ties by group.
    """
    frame = _frame(df)
    if by is not None and by not in frame.columns:
        raise _no_column(frame, by, "column")
    key = by if by is not None else "group"

    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("count")]
    stat_names: tuple[str, ...] = ()
    if field is not None:
        stat_names = STAT_COLUMNS
        if field in frame.columns and is_numeric_dtype(frame.schema[field]):
            x = _values(field)
            aggs += [
                x.count().cast(pl.Int64).alias("n"),
                x.min().alias("min"),
                x.mean().alias("mean"),
                *[x.quantile(q, QUANTILE_METHOD).alias(name) for name, q in _GROUP_QS],
                x.max().alias("max"),
            ]
        else:
            aggs += [pl.lit(0, dtype=pl.Int64).alias("n")]
            aggs += [pl.lit(None, dtype=pl.Float64).alias(name) for name in stat_names[1:]]

    if by is None:
        out = frame.select(pl.lit(ALL_GROUP).alias(key), *aggs)
    else:
        out = frame.group_by(by).agg(*aggs)

    total = frame.height
    span_s = _span_seconds(frame)
    out = out.with_columns(
        (pl.col("count") / total if total else pl.lit(None, dtype=pl.Float64)).alias("share"),
        (pl.col("count") / span_s if span_s else pl.lit(None, dtype=pl.Float64)).alias("rate"),
    )
    out = out.select(key, "count", "share", "rate", *stat_names)
    if by is None and total == 0:
        out = out.clear()

    columns = out.columns
    if sort not in columns:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(columns)}")
    desc = (sort != key) if descending is None else descending
    order = [sort] if sort == key else [sort, key]
    out = out.sort(order, descending=[desc] + [False] * (len(order) - 1), nulls_last=True)
    if by == "level" and out.schema[key].is_integer():
        out = out.with_columns(level_name_expr(pl.col(key)).alias(key))
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
    frame = _frame(df)
    if field in frame.columns:
        dtype = frame.schema[field]
        if not (is_numeric_dtype(dtype) or isinstance(dtype, pl.Null)):
            raise ValueError(f"field {field!r} holds {dtype}, not numbers; a histogram needs a numeric field")
    elif frame.height:
        raise _no_column(frame, field, "field")
    if frame.height == 0:
        return _empty_histogram(field, bins, log, by)
    if by is not None and by not in frame.columns:
        raise _no_column(frame, by, "column")

    if by is None:  # one series: no grouping and no join (the common case, and 1M rows)
        x = frame.select(_values(field).alias("x"))
        shown = pl.DataFrame(
            {"key": [ALL_GROUP], "events": [frame.height], "values": [x.height - x["x"].null_count()]}
        ).with_row_index("code")
        omitted = shown.clear()
        values = x.drop_nulls("x").with_columns(pl.lit(0, pl.UInt32).alias("code"))
    else:
        base = frame.select(pl.col(by).alias("key"), _values(field).alias("x"))
        groups = (
            base.group_by("key")
            .agg(pl.len().alias("events"), pl.col("x").count().alias("values"))
            .sort(["values", "events", "key"], descending=[True, True, False], nulls_last=True)
        )
        shown = groups.head(max_groups).with_row_index("code")
        omitted = groups.slice(max_groups)
        values = base.join(shown.select("key", "code"), on="key", nulls_equal=True).drop_nulls("x")
    aggs = [
        pl.col("x").min().alias("min"),
        pl.col("x").mean().alias("mean"),
        pl.col("x").quantile(0.5, QUANTILE_METHOD).alias("p50"),
        pl.col("x").quantile(0.99, QUANTILE_METHOD).alias("p99"),
        pl.col("x").quantile(0.999, QUANTILE_METHOD).alias("p999"),
        pl.col("x").max().alias("max"),
        (pl.col("x") <= 0).sum().alias("nonpositive"),
    ]
    summary = values.group_by("code").agg(*aggs).sort("code")  # (quicker than a select, even for one)

    binned = values.filter(pl.col("x") > 0) if log else values
    lo_hi = binned.select(pl.col("x").min(), pl.col("x").max().alias("hi")).row(0)
    if lo_hi[0] is None:
        edges = _edges(1.0, 10.0, bins, log) if log else _edges(0.0, 1.0, bins, log)
        counts = np.zeros((shown.height, bins), dtype=np.int64)
    else:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
        if lo == hi:
            lo, hi = (
                (lo / 2, hi * 2) if log else (lo - max(0.5, abs(lo) * 1e-6), hi + max(0.5, abs(hi) * 1e-6))
            )
        edges = _edges(lo, hi, bins, log)
        idx = _bin_index(binned["x"].to_numpy(), lo, hi, bins, log)
        code = binned["code"].to_numpy().astype(np.int64)
        counts = np.bincount(code * bins + idx, minlength=shown.height * bins).reshape(shown.height, bins)

    stats = {row["code"]: row for row in summary.iter_rows(named=True)}
    series = []
    for row in shown.iter_rows(named=True):
        s = stats.get(row["code"], {})
        series.append(
            HistogramSeries(
                name=_group_name(by, row["key"]),
                counts=tuple(int(c) for c in counts[row["code"]]),
                count=int(row["values"]),
                nonpositive=int(s.get("nonpositive") or 0) if log else 0,
                nulls=int(row["events"] - row["values"]),
                min=s.get("min"),
                mean=s.get("mean"),
                p50=s.get("p50"),
                p99=s.get("p99"),
                p999=s.get("p999"),
                max=s.get("max"),
            )
        )
    return Histogram(
        field=field,
        log=log,
        edges=tuple(float(e) for e in edges),
        series=tuple(series),
        by=by,
        omitted_groups=omitted.height,
        omitted_values=int(omitted["values"].sum()) if omitted.height else 0,
    )


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
    frame = _frame(df)
    if frame.height == 0 or "ts" not in frame.columns:
        return pl.DataFrame(schema={"ts": pl.Datetime("ns", "UTC"), "total": pl.Int64})
    epoch = pl.col("ts").dt.epoch("ns")
    lo, hi = frame.select(epoch.min().alias("lo"), epoch.max().alias("hi")).row(0)
    if lo is None:
        return pl.DataFrame(schema={"ts": pl.Datetime("ns", "UTC"), "total": pl.Int64})
    step = pick_every(hi - lo, target_buckets) if every == "auto" else _every_ns(every)
    first, last = lo // step * step, hi // step * step
    n = (last - first) // step + 1
    if n > max_buckets:
        raise ValueError(f"{n} buckets of {step} ns is too many (limit {max_buckets}); choose a wider every")

    has_level = "level" in frame.columns
    levels = sorted(frame["level"].drop_nulls().unique().to_list()) if has_level else []
    per_level = [(pl.col("level") == lv).sum().cast(pl.Int64).alias(level_name(lv)) for lv in levels]
    counts = (
        frame.select((epoch // step * step).alias("bucket"), *(["level"] if has_level else []))
        .group_by("bucket")
        .agg(*per_level, pl.len().cast(pl.Int64).alias("total"))
    )
    full = pl.DataFrame({"bucket": pl.int_range(first, last + step, step, dtype=pl.Int64, eager=True)})
    out = full.join(counts, on="bucket", how="left").fill_null(0).sort("bucket")
    return out.select(
        pl.col("bucket").cast(pl.Datetime("ns", "UTC")).alias("ts"),
        *[level_name(lv) for lv in levels],
        "total",
    )
