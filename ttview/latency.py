"""Latency between paired events: each ``from`` event (an order placed) and the ``to`` event that
answers it (its fill), matched by a key field (``order_id``); the numbers a trading desk watches.

The pairing rule (the CLI's ``--help``, README and docs/LATENCY.md say the same):

- Events are taken in time order; events with the same ``ts`` keep the order they have in the
  data (the log's order). "After" below means later in that order, so a ``to`` with the same
  ``ts`` as its ``from`` pairs with it (latency 0) when it comes after it in the log.
- Each ``from`` pairs with the FIRST ``to`` after it that has the same key, and each ``to`` is
  claimed by the LATEST ``from`` before it with that key. So in the events of one key, a pair is
  a ``from`` directly followed by a ``to``. Every other event is counted, never dropped:

  - **repeated from** (``from_repeated``): another ``from`` of the same key came before any
    ``to`` (a re-sent order). The latest one pairs: the fill answers the latest send, and an
    order id reused later in the day (or by a restarted process) never pairs with a stale order.
  - **unmatched from** (``from_unmatched``): no ``to`` of its key after it (not filled yet).
  - **extra to** (``to_extra``): a ``to`` after the first one of an already paired ``from``
    (partial fills: the first fill is the latency).
  - **unmatched to** (``to_unmatched``): no ``from`` of its key before it.
  - **no key** (``from_no_key``, ``to_no_key``): the key is null (or NaN) in the event; such
    events never pair.

- An event matching both filters is a ``to`` for the ``from`` before it, then a ``from`` for the
  next ``to`` (with ``--from X --to X`` the latencies are the gaps between consecutive events).
- The key compares by the value of the loaded column. A key is global across services and
  processes: add ``service`` or ``pid`` to the key (``key=["pid", "order_id"]``) to pair only
  within one. A field logged as an integer in some events and as text in others is loaded as
  text, so ``17`` and ``"17"`` are the same key.
- ``group_by``: a pair's group is the ``from`` event's value of that column, or the ``to``
  event's when the ``from`` event lacks it (``venue`` is on fills only, ``type`` on orders only).
  Unpaired events are counted in the group of their own value.

Statistics use :mod:`ttview.stats`' definitions (percentiles interpolate linearly,
:data:`ttview.stats.QUANTILE_METHOD`); the histogram is :func:`ttview.stats.histogram` over the
latencies, so the CLI and the viewer draw it with their usual chart code.

How: one sort of the ``from`` and ``to`` events by key, time, row and role, then comparisons of
each row with its neighbours (no Python loop per event, no join). The scan, the filters and the
projection run lazily on polars' streaming engine; only the ``from``/``to`` events are held.

Invariants: no UI imports; the input is never mutated; for the whole and for each group,
``from_events == pairs + from_repeated + from_unmatched + from_no_key`` and ``to_events == pairs
+ to_extra + to_unmatched + to_no_key``; a pair's latency is never negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from difflib import get_close_matches

import polars as pl

from ttview.query import Filter, QueryError
from ttview.schema import is_union_dtype, text_expr
from ttview.stats import QUANTILE_METHOD, Histogram, histogram

__all__ = [
    "COUNT_NAMES",
    "PAIR_COLUMNS",
    "RULE",
    "UNITS",
    "LatencyCounts",
    "LatencyError",
    "LatencyResult",
    "LatencyStats",
    "latency_histogram",
    "pair_events",
]

RULE = (
    "each from pairs with the first to after it with the same key; a to pairs with the latest "
    "from before it (a repeated from before the to is superseded); later tos of a paired from are "
    "extra (partial fills); events with the same ts keep the log's order; null keys never pair"
)
"""The pairing rule in one line (printed under the CLI's output)."""

UNITS: dict[str, int] = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
"""Unit name → nanoseconds per unit."""

# internal column names (an event field may be called anything, "pairs" or "to_ts" too)
_ROW = "__lat_row"
_ROLE = "__lat_role"  # 0: to, 1: from (an event that is both sorts as its to first)
_GROUP = "__lat_group"
_TS = "__lat_ts"


class LatencyError(ValueError):
    """Bad input to :func:`pair_events`: ``option`` names what was wrong (``key``, ``group_by``,
    ``from``, ``to``, ``unit``); ``str()`` is one line, with "did you mean" for a misspelt field."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
        self.message = message


@dataclass(frozen=True)
class LatencyCounts:
    """How the ``from`` and ``to`` events were used (see the module docstring for each kind)."""

    pairs: int = 0
    from_events: int = 0
    to_events: int = 0
    from_repeated: int = 0
    from_unmatched: int = 0
    from_no_key: int = 0
    to_extra: int = 0
    to_unmatched: int = 0
    to_no_key: int = 0

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(LatencyCounts))
"""The fields of :class:`LatencyCounts`, in order."""


@dataclass(frozen=True)
class LatencyStats:
    """The latencies of one group (or of all pairs), in the result's unit; None when no pairs."""

    group: str | None
    """The group's value as text (None for the whole, ``"(none)"`` for pairs without a value)."""
    counts: LatencyCounts
    min: float | None = None
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            **self.counts.to_dict(),
            "min": self.min,
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99.9": self.p999,
            "max": self.max,
        }


@dataclass(frozen=True)
class LatencyResult:
    """The pairs and their statistics.

    ``pairs`` has one row per pair, in time order of the ``from`` events: the key column(s), the
    group column (``group_by``'s name) if any, ``from_ts`` and ``to_ts`` (UTC), ``delta_ns``
    (Int64, exact), ``latency`` (Float64, in ``unit``), and ``from_row`` / ``to_row`` (the rows
    of the two events in the frame given, counted before ``where``).
    """

    pairs: pl.DataFrame
    total: LatencyStats
    groups: tuple[LatencyStats, ...]
    """One per group, most pairs first (empty when ``group_by`` is None)."""
    key: tuple[str, ...]
    group_by: str | None
    unit: str
    events: int
    """Events considered (after ``where``)."""

    @property
    def counts(self) -> LatencyCounts:
        return self.total.counts


PAIR_COLUMNS = ("from_ts", "to_ts", "delta_ns", "from_row", "to_row", "latency")
"""The columns of :attr:`LatencyResult.pairs` besides the key and group columns."""

NO_GROUP = "(none)"
"""The group of pairs whose events both lack the ``group_by`` column."""


def _no_column(schema: pl.Schema, name: str, option: str) -> LatencyError:
    hint = get_close_matches(name, list(schema), n=1)
    more = f" (did you mean {hint[0]!r}?)" if hint else ""
    return LatencyError(option, f"no field {name!r} in the data{more}")


def _check_key(schema: pl.Schema, name: str, option: str) -> None:
    if name not in schema:
        raise _no_column(schema, name, option)
    dtype = schema[name]
    if dtype.is_nested() or isinstance(dtype, (pl.Null, pl.Object)):
        raise LatencyError(option, f"field {name!r} holds {dtype}, which cannot be a key")


def _bind(flt: Filter, schema: pl.Schema, option: str) -> pl.Expr:
    try:
        bound = flt.bind(schema)
    except QueryError as exc:
        raise LatencyError(option, f"{exc.message} (at column {exc.position + 1})") from None
    if bound.keeps_all:
        raise LatencyError(
            option,
            "an empty filter would take every event; say which events, e.g. 'message == \"Order placed\"'",
        )
    if bound.warnings:
        raise LatencyError(option, "; ".join(bound.warnings))
    return bound.expr


def _has_key(names: Sequence[str], schema: pl.Schema) -> pl.Expr:
    """True where every key column holds a value (not null, not NaN)."""
    parts = []
    for name in names:
        ok = pl.col(name).is_not_null()
        if schema[name].is_float():
            ok = ok & ~pl.col(name).is_nan()
        parts.append(ok)
    return pl.all_horizontal(parts)


def _same(key: Sequence[str], offset: int) -> pl.Expr:
    """True where the row ``offset`` away has the same key (false at the ends)."""
    return pl.all_horizontal([pl.col(k) == pl.col(k).shift(offset) for k in key]).fill_null(False)


def pair_events(
    events: pl.LazyFrame | pl.DataFrame,
    *,
    start: Filter,
    end: Filter,
    key: str | Sequence[str],
    where: Filter | None = None,
    group_by: str | None = None,
    unit: str = "us",
) -> LatencyResult:
    """Pair each ``start`` event (the ``--from`` filter) with its ``end`` event (``--to``) of the
    same ``key`` (a column, or several that must all be equal), by the rule of the module
    docstring, among the events ``where`` keeps (None: all); count what did not pair; give the
    latency statistics overall and per ``group_by`` value, in ``unit`` (ns, us, ms or s).

    Raises :class:`LatencyError` for an unknown or unusable key / group column, an unknown unit,
    or a ``start`` / ``end`` filter that is empty or names a field the data lacks.
    """
    if unit not in UNITS:
        raise LatencyError("unit", f"unknown unit {unit!r}; choose one of {', '.join(UNITS)}")
    keys = (key,) if isinstance(key, str) else tuple(key)
    if not keys:
        raise LatencyError("key", "give a key field, e.g. order_id")
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    schema = lf.collect_schema()
    unions = [k for k in {*keys, *([group_by] if group_by else [])}
              if k in schema and is_union_dtype(schema[k])]
    if unions:  # an id logged as 17 here and "17" there is one key: compare such fields by their text
        lf = lf.with_columns([text_expr(k, schema[k]).alias(k) for k in unions])
        schema = lf.collect_schema()
    for k in keys:
        _check_key(schema, k, "key")
    if len(set(keys)) != len(keys):
        raise LatencyError("key", f"a key field is named twice: {', '.join(keys)}")
    if group_by is not None:
        _check_key(schema, group_by, "group_by")
    for name, option in [*((k, "key") for k in keys), (group_by, "group_by")]:
        if name in PAIR_COLUMNS:
            raise LatencyError(option, f"a field named {name!r} clashes with the pairs' own {name!r} column")
    from_expr = _bind(start, schema, "from")
    to_expr = _bind(end, schema, "to")

    row_name = _ROW
    while row_name in schema:  # the events' own columns stay as they are
        row_name = "_" + row_name
    base = lf.with_row_index(row_name)
    if where is not None:
        try:
            bound = where.bind(schema)
        except QueryError as exc:
            raise LatencyError("where", f"{exc.message} (at column {exc.position + 1})") from None
        if not bound.keeps_all:
            base = base.filter(bound.expr)
    group_cols = [pl.col(group_by).alias(_GROUP)] if group_by is not None else []
    names = keys
    keys = tuple(f"__lat_key{i}" for i in range(len(names)))
    marked = base.select(
        pl.col(row_name).cast(pl.Int64).alias(_ROW),
        pl.col("ts").alias(_TS),
        *(pl.col(name).alias(k) for name, k in zip(names, keys, strict=True)),
        *group_cols,
        from_expr.alias("_f"),
        to_expr.alias("_t"),
        _has_key(names, schema).alias("_k"),
    )
    # the only events held in memory: those either filter takes
    wanted = marked.filter(pl.col("_f") | pl.col("_t"))
    roles = pl.concat(
        [
            wanted.filter(pl.col("_t")).with_columns(pl.lit(0, pl.Int8).alias(_ROLE)),
            wanted.filter(pl.col("_f")).with_columns(pl.lit(1, pl.Int8).alias(_ROLE)),
        ]
    ).drop("_f", "_t")
    total_events = base.select(pl.len().alias("n"))
    rows, n = pl.collect_all([roles, total_events], engine="streaming")
    events_seen = int(n.item())

    keyed = rows.filter(pl.col("_k")).sort([*keys, _TS, _ROW, _ROLE], maintain_order=False)
    is_from = pl.col(_ROLE) == 1
    is_to = pl.col(_ROLE) == 0
    same_next, same_prev = _same(keys, -1), _same(keys, 1)
    next_role, prev_role = pl.col(_ROLE).shift(-1), pl.col(_ROLE).shift(1)
    # froms of this key before the row: keyed is sorted by key, so a key's events are one run;
    # a running count of froms minus its value where the run began (no window: quicker)
    before = is_from.cast(pl.Int64).cum_sum() - is_from.cast(pl.Int64)
    keyed = keyed.with_columns(
        (before - pl.when(~same_prev).then(before).forward_fill()).alias("_froms_before")
    )
    froms_before = pl.col("_froms_before")
    to_paired = is_to & same_prev & (prev_role == 1)
    classified = keyed.with_columns(
        (is_from & same_next & (next_role == 0)).alias("pairs"),
        (is_from & same_next & (next_role == 1)).alias("from_repeated"),
        (is_from & ~same_next).alias("from_unmatched"),
        (is_to & ~to_paired & (froms_before > 0)).alias("to_extra"),
        (is_to & ~to_paired & (froms_before == 0)).alias("to_unmatched"),
        pl.col(_TS).shift(-1).alias("__lat_to_ts"),
        pl.col(_ROW).shift(-1).alias("__lat_to_row"),
        *([pl.col(_GROUP).shift(-1).alias("__lat_to_group")] if group_by is not None else []),
    )
    unkeyed = rows.filter(~pl.col("_k")).with_columns(
        (is_from).alias("from_no_key"), (is_to).alias("to_no_key")
    )

    factor = UNITS[unit]
    pair_rows = classified.filter(pl.col("pairs"))
    pair_group = []
    if group_by is not None and group_by not in names:  # (a key column already is its own group)
        pair_group = [pl.coalesce(_GROUP, "__lat_to_group").alias(group_by)]
    pairs = pair_rows.select(
        *(pl.col(k).alias(name) for k, name in zip(keys, names, strict=True)),
        *pair_group,
        pl.col(_TS).alias("from_ts"),
        pl.col("__lat_to_ts").alias("to_ts"),
        (pl.col("__lat_to_ts") - pl.col(_TS)).dt.total_nanoseconds().cast(pl.Int64).alias("delta_ns"),
        pl.col(_ROW).alias("from_row"),
        pl.col("__lat_to_row").alias("to_row"),
    ).with_columns((pl.col("delta_ns").cast(pl.Float64) / factor).alias("latency"))
    pairs = pairs.sort("from_ts", "from_row")

    # each unpaired event counts in the group of its own value; a pair in the pair's group
    group_col = [_GROUP] if group_by is not None else []
    tally = pl.concat(
        [
            classified.filter(~pl.col("pairs") & ~(is_to & (prev_role == 1) & same_prev)).select(
                *group_col, _ROLE, *_UNPAIRED
            ),
            unkeyed.select(*group_col, _ROLE, "from_no_key", "to_no_key"),
        ],
        how="diagonal",
    ).with_columns(pl.col(c).fill_null(False) for c in _UNPAIRED + ("from_no_key", "to_no_key"))
    total = _total_stats(rows, pairs, tally)
    groups = _group_stats(pairs, tally, group_by) if group_by is not None else ()
    return LatencyResult(
        pairs=pairs,
        total=total,
        groups=groups,
        key=names,
        group_by=group_by,
        unit=unit,
        events=events_seen,
    )


_UNPAIRED = ("from_repeated", "from_unmatched", "to_extra", "to_unmatched")
_LATENCY_AGGS = (
    ("min", lambda x: x.min()),
    ("mean", lambda x: x.mean()),
    ("p50", lambda x: x.quantile(0.5, QUANTILE_METHOD)),
    ("p90", lambda x: x.quantile(0.9, QUANTILE_METHOD)),
    ("p99", lambda x: x.quantile(0.99, QUANTILE_METHOD)),
    ("p999", lambda x: x.quantile(0.999, QUANTILE_METHOD)),
    ("max", lambda x: x.max()),
)


def _latency_aggs() -> list[pl.Expr]:
    return [pl.len().alias("pairs"), *(agg(pl.col("latency")).alias(name) for name, agg in _LATENCY_AGGS)]


def _tally_aggs() -> list[pl.Expr]:
    return [pl.col(c).sum().cast(pl.Int64).alias(c) for c in (*_UNPAIRED, "from_no_key", "to_no_key")]


def _make_stats(group: str | None, row: dict[str, object], from_events: int, to_events: int) -> LatencyStats:
    def count(name: str) -> int:
        value = row.get(name)
        return int(value) if isinstance(value, int) else 0

    counts = LatencyCounts(
        pairs=count("pairs"),
        from_events=from_events,
        to_events=to_events,
        **{name: count(name) for name in (*_UNPAIRED, "from_no_key", "to_no_key")},
    )
    values = {name: row.get(name) for name, _ in _LATENCY_AGGS} if counts.pairs else {}
    return LatencyStats(group, counts, **values)  # type: ignore[arg-type]


def _total_stats(rows: pl.DataFrame, pairs: pl.DataFrame, tally: pl.DataFrame) -> LatencyStats:
    """The whole: ``from_events`` and ``to_events`` count the events themselves (so the kinds
    must add up to them: the tests check it)."""
    roles = rows.select((pl.col(_ROLE) == 1).sum().alias("f"), (pl.col(_ROLE) == 0).sum().alias("t")).row(0)
    row = {
        **pairs.select(_latency_aggs()).row(0, named=True),
        **tally.select(_tally_aggs()).row(0, named=True),
    }
    return _make_stats(None, row, int(roles[0]), int(roles[1]))


def _group_stats(pairs: pl.DataFrame, tally: pl.DataFrame, group_by: str) -> tuple[LatencyStats, ...]:
    """Per group, most pairs first; ``from_events`` / ``to_events`` are the group's pairs plus its
    unpaired events of each side."""
    per_pair = pairs.group_by(pl.col(group_by).alias(_GROUP)).agg(_latency_aggs())
    per_event = tally.group_by(_GROUP).agg(_tally_aggs())
    both = per_pair.join(per_event, on=_GROUP, how="full", coalesce=True, nulls_equal=True)
    both = both.with_columns(
        pl.col(c).fill_null(0) for c in ("pairs", *_UNPAIRED, "from_no_key", "to_no_key")
    )
    both = both.sort(["pairs", _GROUP], descending=[True, False], nulls_last=True)
    out = []
    for row in both.iter_rows(named=True):
        from_events = row["pairs"] + row["from_repeated"] + row["from_unmatched"] + row["from_no_key"]
        to_events = row["pairs"] + row["to_extra"] + row["to_unmatched"] + row["to_no_key"]
        out.append(_make_stats(_group_text(row[_GROUP]), row, from_events, to_events))
    return tuple(out)


def _group_text(value: object) -> str:
    if value is None:
        return NO_GROUP
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def latency_histogram(
    result: LatencyResult, *, bins: int = 40, log: bool = True, by_group: bool = True, max_groups: int = 8
) -> Histogram:
    """The histogram of ``result``'s latencies (:func:`ttview.stats.histogram`): one series, or one
    per group (the ``max_groups`` with most pairs) when the result is grouped and ``by_group``.
    The field is named ``latency_<unit>``."""
    name = f"latency_{result.unit}"
    by = result.group_by if by_group else None
    cols = [pl.col("latency").alias(name)]
    if by is not None:
        if by == name:
            name += "_pair"
            cols = [pl.col("latency").alias(name)]
        cols.append(pl.col(by))
    return histogram(result.pairs.select(cols), field=name, bins=bins, log=log, by=by, max_groups=max_groups)
