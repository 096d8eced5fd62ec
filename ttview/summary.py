"""One pass over a lazy source of events, in bounded memory: per group the event count, and the
count, min, mean, max and percentiles of a numeric field.

:func:`summarize` streams the query's batches (polars' streaming engine runs the scan and the
filter) and keeps, per group, what adds up across batches (counts, sums, minima, maxima) plus the
field's values themselves while they fit in ``budget`` values, so percentiles are exact, computed
as ``ttview.stats`` defines them over all the values. Past the budget it drops the values and
keeps a log-bucket histogram per group instead (a mergeable sketch): percentiles are then
estimates within :data:`SKETCH_ERROR` relative error, and the summary says so
(:attr:`Summary.exact` is False); nothing is approximated silently.

Invariants: headless; memory is bounded by the budget and the number of groups, never by the
number of events; with every value held, the numbers equal the in-memory ones of
``ttview.stats`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

__all__ = ["SKETCH_ERROR", "VALUE_BUDGET", "Summary", "summarize"]

VALUE_BUDGET = 16_000_000
"""Values of the field held for exact percentiles (12 bytes each with their group code: 192 MB)."""

SKETCH_ERROR = 0.005
"""Relative error of a percentile estimated from the sketch (past the budget)."""

_GAMMA = (1 + SKETCH_ERROR) / (1 - SKETCH_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_EXP = math.floor(math.log(1e-300) / _LOG_GAMMA)
_MAX_EXP = math.ceil(math.log(1.7976931348623157e308) / _LOG_GAMMA)
_SPAN = _MAX_EXP - _MIN_EXP + 1  # buckets per sign


@dataclass
class Summary:
    """What :func:`summarize` found: groups in order of first appearance (``keys``), per group the
    events (``events``), finite values (``n``), their ``min``/``max``/``sum``/``nonpositive``, and
    either every value (``values``: a frame of group ``code`` and value ``x``) or a sketch."""

    keys: list[Any] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    min: list[float | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    sum: list[float] = field(default_factory=list)
    nonpositive: list[int] = field(default_factory=list)
    ts_min: int | None = None
    ts_max: int | None = None
    values: pl.DataFrame | None = None
    sketch: dict[int, np.ndarray] | None = None

    @property
    def exact(self) -> bool:
        """Whether every value was held (percentiles exact) rather than sketched."""
        return self.sketch is None

    @property
    def total(self) -> int:
        return sum(self.events)

    def quantiles(self, qs: list[float]) -> list[list[float | None]]:
        """Per group, the percentiles ``qs`` of its values (linear interpolation, as
        ``ttview.stats`` defines them; from the sketch when not :attr:`exact`)."""
        out: list[list[float | None]] = [[None] * len(qs) for _ in self.keys]
        if self.values is not None:
            if self.values.height:
                got = self.values.group_by("code").agg(
                    [pl.col("x").quantile(q, "linear").alias(f"q{j}") for j, q in enumerate(qs)])
                for row in got.iter_rows():
                    out[row[0]] = list(row[1:])
            return out
        assert self.sketch is not None
        for code, hist in self.sketch.items():
            out[code] = [_sketch_quantile(hist, self.n[code], q, self.min[code], self.max[code]) for q in qs]
        return out

    def mean(self, code: int) -> float | None:
        if not self.n[code]:
            return None
        if self.values is not None:
            return None  # computed by the caller from the values, as the in-memory path does
        return self.sum[code] / self.n[code]


def _bucket(x: np.ndarray) -> np.ndarray:
    """Sketch bucket of each finite value: 0 for zero, 1.._SPAN for positive, -(1.._SPAN) negative."""
    mag = np.abs(x)
    idx = np.zeros(len(x), dtype=np.int64)
    nz = mag > 0
    b = np.ceil(np.log(np.maximum(mag[nz], 1e-300)) / _LOG_GAMMA).astype(np.int64) - _MIN_EXP + 1
    b = np.clip(b, 1, _SPAN)
    idx[nz] = np.where(x[nz] > 0, b, -b)
    return idx


def _sketch_quantile(hist: np.ndarray, n: int, q: float, lo: float | None, hi: float | None) -> float | None:
    """The value at fraction ``q`` of a sketch histogram (index: bucket + _SPAN)."""
    if not n:
        return None
    rank = q * (n - 1)
    cum = np.cumsum(hist)
    pos = int(np.searchsorted(cum, rank + 1, side="left"))
    b = pos - _SPAN
    if b == 0:
        value = 0.0
    else:
        e = abs(b) - 1 + _MIN_EXP
        value = 2 * _GAMMA**e / (_GAMMA + 1)  # the bucket's (1 +- error) midpoint
        value = value if b > 0 else -value
    if lo is not None:
        value = max(value, lo)
    if hi is not None:
        value = min(value, hi)
    return value


def summarize(lazy: Any, *, key: pl.Expr | None, value: pl.Expr | None,
              budget: int = VALUE_BUDGET, with_time: bool = True) -> Summary:
    """Stream ``lazy`` (a LazyFrame, or a ``ttview.scan.EventSource``) once and summarize ``value``
    (a Float64 expression; None: counts only) per group of ``key`` (an expression; None: one group).

    Non-finite values (NaN, +-inf) and nulls are not values (``events - n`` counts them).
    """
    exprs = [(key if key is not None else pl.repeat(0, pl.len(), dtype=pl.UInt8)).alias("k")]
    if value is not None:
        x = value.cast(pl.Float64)
        exprs.append(pl.when(x.is_finite()).then(x).alias("x"))
    span_of = getattr(lazy, "time_span", None)
    from_index = with_time and span_of is not None and span_of() is not False
    if with_time and not from_index:  # (an unfiltered scan of snapshots has it from the index)
        exprs.append(pl.col("ts").dt.epoch("ns").alias("t"))
    out = Summary()
    index: dict[Any, int] = {}
    held_codes: list[np.ndarray] = []
    held_values: list[np.ndarray] = []
    held_n = 0
    source = lazy.batches(exprs) if hasattr(lazy, "batches") else lazy.select(exprs).collect_batches(
        maintain_order=True)
    for batch in source:
        if not batch.height:
            continue
        aggs = [pl.len().alias("events")]
        if value is not None:
            xc = pl.col("x")
            aggs += [xc.count().alias("n"), xc.min().alias("min"), xc.max().alias("max"),
                     xc.sum().alias("sum"), (xc <= 0).sum().alias("nonpositive")]
        part = batch.group_by("k", maintain_order=True).agg(aggs)
        for row in part.iter_rows(named=True):
            k = row["k"]
            code = index.get(k)
            if code is None:
                code = index[k] = len(out.keys)
                out.keys.append(k)
                out.events.append(0)
                out.n.append(0)
                out.min.append(None)
                out.max.append(None)
                out.sum.append(0.0)
                out.nonpositive.append(0)
            out.events[code] += row["events"]
            if value is not None and row["n"]:
                out.n[code] += row["n"]
                out.sum[code] += row["sum"]
                out.nonpositive[code] += row["nonpositive"]
                out.min[code] = row["min"] if out.min[code] is None else min(out.min[code], row["min"])
                out.max[code] = row["max"] if out.max[code] is None else max(out.max[code], row["max"])
        if with_time and not from_index:
            lo, hi = batch.select(pl.col("t").min().alias("lo"), pl.col("t").max().alias("hi")).row(0)
            if lo is not None:
                out.ts_min = lo if out.ts_min is None else min(out.ts_min, lo)
                out.ts_max = hi if out.ts_max is None else max(out.ts_max, hi)
        if value is None:
            continue
        vals = batch.filter(pl.col("x").is_not_null())
        if not vals.height:
            continue
        codes = _codes(vals, index)
        xs = vals.get_column("x").to_numpy()
        if out.sketch is None and held_n + len(xs) <= budget:
            held_codes.append(codes)
            held_values.append(xs)
            held_n += len(xs)
            continue
        if out.sketch is None:  # past the budget: the values held so far go into the sketch
            out.sketch = {}
            for c, v in zip(held_codes, held_values, strict=True):
                _sketch_add(out, c, v)
            held_codes, held_values = [], []
        _sketch_add(out, codes, xs)
    if from_index:
        span = span_of()
        if span:
            out.ts_min, out.ts_max = span
    if value is not None and out.sketch is None:
        out.values = pl.DataFrame({
            "code": np.concatenate(held_codes) if held_codes else np.zeros(0, np.uint32),
            "x": np.concatenate(held_values) if held_values else np.zeros(0, np.float64),
        })
    return out


def _codes(vals: pl.DataFrame, index: dict[Any, int]) -> np.ndarray:
    """The group code of each row of ``vals`` (its ``k``), as uint32."""
    k = vals.get_column("k")
    if len(index) == 1:
        return np.zeros(vals.height, dtype=np.uint32)
    keys = list(index)
    if any(key is None for key in keys):
        null_code = index[None]
        known = [key for key in keys if key is not None]
        mapped = k.replace_strict(known, [index[key] for key in known], default=null_code,
                                  return_dtype=pl.UInt32)
        return mapped.fill_null(null_code).to_numpy()
    return k.replace_strict(keys, [index[key] for key in keys], return_dtype=pl.UInt32).to_numpy()


def _sketch_add(out: Summary, codes: np.ndarray, xs: np.ndarray) -> None:
    assert out.sketch is not None
    b = _bucket(xs) + _SPAN
    width = 2 * _SPAN + 1
    for code in np.unique(codes).tolist():
        sel = b[codes == code] if len(out.keys) > 1 else b
        counts = np.bincount(sel, minlength=width)
        if code in out.sketch:
            out.sketch[code] += counts
        else:
            out.sketch[code] = counts
