"""The event DataFrame every ttview source yields, as constants and a few small helpers.

A source (a snapshot file, a live ring) hands the viewer a polars DataFrame with the core columns
in :data:`CORE_COLUMNS` followed by one column per field key. Field columns are ``Int64``,
``Float64``, ``Boolean``, ``String`` or ``Binary`` and are null where an event lacks the field.
A field key that equals a core column name is renamed ``field.<key>`` (:func:`field_column_name`)
so it never shadows the core column.

Levels are numbers (``level`` is ``UInt8``); :data:`LEVELS` maps names to numbers, taken from
``ttlog.ring`` so the writer and the viewer cannot disagree, plus the aliases ``WARNING`` and
``FATAL``. A number with no name is shown as its decimal text (``7``), everywhere the viewer and
the CLI print a level (:func:`level_name`, :func:`level_name_expr`): the filter language reads
it back (``level == 7``).

An event is identified by ``(ts, seq, pid)`` (:func:`event_id_expr`): the marks of the viewer
and the cursor across filters use it.

Invariants: this module imports no UI library, does no work at import time beyond building a
few small dicts, and never reorders or renames a core column.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
from ttlog.ring import LEVELS as _ENGINE_LEVELS

__all__ = [
    "CORE_COLUMNS",
    "CUT_COLUMN",
    "CUT_DTYPE",
    "EVENT_ID_COLUMNS",
    "EXPORT_ONLY_COLUMNS",
    "FIELDS_CUT_MARK",
    "FieldLayout",
    "KIND_DTYPES",
    "RESERVED_NAMES",
    "conform",
    "dtype_kinds",
    "field_column_names",
    "field_dtype",
    "is_union_dtype",
    "numeric_expr",
    "text_expr",
    "unify_dtypes",
    "union_value",
    "value_kinds",
    "FIELD_PREFIX",
    "LEVELS",
    "LEVEL_ALIASES",
    "LEVEL_NAMES",
    "TS_DTYPE",
    "event_id_expr",
    "field_column_name",
    "field_names",
    "group_columns",
    "is_numeric_dtype",
    "level_name",
    "level_name_expr",
    "numeric_fields",
]

TS_DTYPE = pl.Datetime("ns", "UTC")
"""The dtype of ``ts``: nanoseconds since the Unix epoch, UTC."""

CORE_COLUMNS: dict[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "seq": pl.Int64(),
    "level": pl.UInt8(),
    "logger": pl.String(),
    "message": pl.String(),
    "service": pl.String(),
    "pid": pl.Int64(),
    "tid": pl.Int64(),
    "cut": pl.List(pl.String()),
}
"""Core column name → dtype, in the order sources emit them. ``cut`` lists what was cut at the
ring's ``max_str`` ("message", field column names, or "*" for fields past the 255th); null when
nothing was."""

EVENT_ID_COLUMNS = ("ts", "seq", "pid")
"""The columns that identify an event: its time, its sequence number in its ring, its producer."""

FIELD_PREFIX = "field."
"""Prefix given to a field key that collides with a reserved column name."""

EXPORT_ONLY_COLUMNS: tuple[str, ...] = ("time", "ts_ns", "level_no")
"""Columns an export adds beside the core ones (``ttview.export``)."""

RESERVED_NAMES: frozenset[str] = frozenset(CORE_COLUMNS) | frozenset(EXPORT_ONLY_COLUMNS)
"""Names a field column never takes: a field key equal to one is renamed ``field.<key>``."""

CUT_COLUMN = "cut"
"""Per event: the columns whose value was cut (List(String)), null when none was."""
CUT_DTYPE = pl.List(pl.String())
FIELDS_CUT_MARK = "*"
"""In ``cut``: the record had more fields than a record holds; the rest were not stored."""

LEVEL_ALIASES: dict[str, int] = {"WARNING": _ENGINE_LEVELS["WARN"], "FATAL": _ENGINE_LEVELS["CRITICAL"]}
"""Extra names accepted on input; output always uses the canonical name."""

LEVELS: dict[str, int] = {**_ENGINE_LEVELS, **LEVEL_ALIASES}
"""Every accepted level name (upper case, aliases included) → number."""

LEVEL_NAMES: dict[int, str] = {value: name for name, value in _ENGINE_LEVELS.items()}
"""Level number → canonical name (no aliases)."""


def field_column_name(key: str) -> str:
    """The column name for field ``key`` alone: the key itself, or ``field.<key>`` for a reserved
    or empty name (:func:`field_column_names` also settles clashes between keys)."""
    return FIELD_PREFIX + key if key in RESERVED_NAMES or not key else key


def field_column_names(keys: Iterable[str]) -> dict[str, str]:
    """Field key -> column name, for keys in order of first appearance: the key itself, or
    ``field.<key>`` when the key is a reserved name (:data:`RESERVED_NAMES`) or empty, with more
    ``field.`` prefixes while the name is taken by an earlier key. The one naming rule of every
    frame, view and export."""
    taken: set[str] = set(RESERVED_NAMES)
    out: dict[str, str] = {}
    for key in keys:
        if key in out:
            continue
        name = field_column_name(key)
        while name in taken:
            name = FIELD_PREFIX + name
        taken.add(name)
        out[key] = name
    return out


def field_names(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """The field columns of an event schema (every column that is not a core column), in order."""
    return [name for name in schema if name not in CORE_COLUMNS]


def numeric_fields(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """The field columns holding numbers (what percentiles and histograms take)."""
    return [name for name in field_names(schema) if numeric_expr(name, schema[name]) is not None]


def group_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Columns worth grouping by: logger, level, service, then text, integer and boolean fields."""
    out = [c for c in ("logger", "level", "service") if c in schema]
    for name in field_names(schema):
        dtype = schema[name]
        if dtype == pl.String or dtype == pl.Boolean or dtype.is_integer() or is_union_dtype(dtype):
            out.append(name)
    return out


def event_id_expr() -> pl.Expr:
    """A struct expression of each event's identity ``{ts: ns Int64, seq, pid}``."""
    return pl.struct(pl.col("ts").dt.epoch("ns").alias("ts"), pl.col("seq"), pl.col("pid")).alias("event_id")


def level_name(value: int) -> str:
    """The canonical name of level ``value``; a number with no name becomes its decimal text."""
    return LEVEL_NAMES.get(value, str(value))


def level_name_expr(expr: pl.Expr | None = None) -> pl.Expr:
    """A String expression naming the levels in ``expr`` (default ``pl.col("level")``); a level
    with no name is its number. (A chain of ``when``, which polars streams; a ``replace``
    would hold the whole column.)"""
    expr = pl.col("level") if expr is None else expr
    names = iter(LEVEL_NAMES.items())
    value, name = next(names)
    chain = pl.when(expr == value).then(pl.lit(name))
    for value, name in names:
        chain = chain.when(expr == value).then(pl.lit(name))
    return chain.otherwise(expr.cast(pl.String)).name.keep()


def is_numeric_dtype(dtype: pl.DataType) -> bool:
    """True for integer, unsigned and float dtypes (what percentiles and histograms accept)."""
    return dtype.is_numeric() and not isinstance(dtype, pl.Decimal)


# ---- field types --------------------------------------------------------------------------------

KIND_DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "str": pl.String(),
    "bytes": pl.Binary(),
}
"""The dtype of a field whose values are all of one kind (``obj`` values are text, like ``str``)."""

_KIND_OF = {"int": "int", "float": "float", "bool": "bool", "str": "str", "obj": "str", "bytes": "bytes"}


def value_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The distinct value kinds among snapshot kinds (``obj`` counts as ``str``, ``none`` as no
    value), in the order of :data:`KIND_DTYPES`."""
    present = {_KIND_OF[k] for k in kinds if k in _KIND_OF}
    return tuple(k for k in KIND_DTYPES if k in present)


def field_dtype(kinds: Iterable[str]) -> pl.DataType:
    """The column dtype of a field whose values have ``kinds``.

    One kind: its dtype (:data:`KIND_DTYPES`). Only ``none``: String, all null. Several kinds
    (``qty=100`` in one event and ``qty=0.5`` in another): a Struct with one field per kind, named
    by the kind (``{"int": Int64, "float": Float64}``), exactly one of them set in an event that
    has the field. So every value keeps its type: an int stays an int, on screen and in every
    export (:func:`numeric_expr` and :func:`text_expr` read such a column as numbers or text).
    """
    ks = value_kinds(kinds)
    if not ks:
        return pl.String()
    if len(ks) == 1:
        return KIND_DTYPES[ks[0]]
    return pl.Struct([pl.Field(k, KIND_DTYPES[k]) for k in ks])


def is_union_dtype(dtype: pl.DataType) -> bool:
    """Whether ``dtype`` is a field of several kinds (:func:`field_dtype`)."""
    return isinstance(dtype, pl.Struct) and all(f.name in KIND_DTYPES for f in dtype.fields)


def numeric_expr(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """Column ``name`` as Float64 numbers, or None when it holds no numbers: a numeric column
    cast, or a union column's ``int`` and ``float`` parts (other kinds are null)."""
    if is_numeric_dtype(dtype):
        return pl.col(name).cast(pl.Float64)
    if is_union_dtype(dtype):
        assert isinstance(dtype, pl.Struct)
        parts = [pl.col(name).struct.field(f.name).cast(pl.Float64) for f in dtype.fields
                 if f.name in ("int", "float")]
        if parts:
            return pl.coalesce(parts) if len(parts) > 1 else parts[0]
    return None


def text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as the text the viewer shows for its values (null where there is none)."""
    col = pl.col(name)
    if is_union_dtype(dtype):
        assert isinstance(dtype, pl.Struct)
        return pl.coalesce([text_expr_of(col.struct.field(f.name), f.dtype) for f in dtype.fields])
    return text_expr_of(col, dtype)


def text_expr_of(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Binary:
        return expr.bin.encode("base64")
    if dtype == pl.Boolean:
        return pl.when(expr).then(pl.lit("true")).when(expr.not_()).then(pl.lit("false"))
    return expr.cast(pl.String)


def union_value(value: object) -> object:
    """The one value a union column's struct holds (a dict from polars), else ``value`` itself."""
    if isinstance(value, dict):
        for v in value.values():
            if v is not None:
                return v
        return None
    return value


class FieldLayout:
    """The field columns of events read together: each key's column name and dtype.

    Built from the (key, kind) pairs of every file, in order of first appearance
    (:meth:`from_kinds`), so the frames of all files stack into one schema.
    """

    def __init__(self, kinds: dict[str, set[str]]) -> None:
        self.kinds = {key: frozenset(ks) for key, ks in kinds.items()}
        self.columns = field_column_names(kinds)
        self._by_column = {column: key for key, column in self.columns.items()}
        fields = {self.columns[key]: field_dtype(ks) for key, ks in kinds.items()}
        self.schema = pl.Schema({**CORE_COLUMNS, **fields})

    @classmethod
    def from_kinds(cls, pairs: Iterable[tuple[str, str]]) -> FieldLayout:
        kinds: dict[str, set[str]] = {}
        for key, kind in pairs:
            kinds.setdefault(key, set()).add(kind)
        return cls(kinds)

    def column_of(self, key: str) -> str | None:
        return self.columns.get(key)

    def key_of(self, column: str) -> str | None:
        return self._by_column.get(column)

    def combine(self, column: str, parts: list[tuple[str, pl.Series]], n: int) -> pl.Series:
        """One column of ``n`` rows from the per-kind series of one chunk (each ``n`` long, null
        where another kind or no value is). An event has one value per key, so they never overlap."""
        dtype = self.schema[column]
        if is_union_dtype(dtype):
            assert isinstance(dtype, pl.Struct)
            by_kind: dict[str, list[pl.Series]] = {}
            for kind, s in parts:
                if kind in _KIND_OF:
                    by_kind.setdefault(_KIND_OF[kind], []).append(s)
            fields = []
            for f in dtype.fields:
                got = by_kind.get(f.name)
                if not got:
                    fields.append(pl.repeat(None, n, dtype=f.dtype, eager=True).alias(f.name))
                else:
                    fields.append(_coalesce(got).cast(f.dtype).alias(f.name))
            present = pl.any_horizontal([f.is_not_null() for f in fields]) if fields else None
            out = pl.struct(fields, eager=True)
            if present is not None:
                out = pl.select(pl.when(present).then(out)).to_series()
            return out.alias(column)
        series = [s for kind, s in parts if kind != "none"]
        if not series:
            return pl.repeat(None, n, dtype=dtype, eager=True).alias(column)
        return _coalesce(series).cast(dtype).alias(column)


def dtype_kinds(dtype: pl.DataType) -> tuple[str, ...]:
    """The value kinds a column of ``dtype`` holds (the inverse of :func:`field_dtype`)."""
    if is_union_dtype(dtype):
        assert isinstance(dtype, pl.Struct)
        return tuple(f.name for f in dtype.fields)
    for kind, kd in KIND_DTYPES.items():
        if dtype == kd:
            return (kind,)
    if dtype == pl.Null:
        return ()
    if dtype.is_integer():
        return ("int",)
    if dtype.is_float():
        return ("float",)
    return ("str",)


def unify_dtypes(dtypes: Iterable[pl.DataType]) -> pl.DataType:
    """The dtype a column takes when frames of ``dtypes`` are stacked: the same dtype if they
    agree (Null aside), else the union of their kinds (:func:`field_dtype`)."""
    distinct = []
    for d in dtypes:
        if d != pl.Null and d not in distinct:
            distinct.append(d)
    if not distinct:
        return pl.String()
    if len(distinct) == 1:
        return distinct[0]
    return field_dtype(k for d in distinct for k in dtype_kinds(d))


def conform(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``series`` as a column of ``dtype`` (:func:`unify_dtypes`' result): a plain column becomes
    its kind's part of a union (the other parts null), a union gains the parts it lacks."""
    if series.dtype == dtype:
        return series
    if not is_union_dtype(dtype):
        return series.cast(dtype)
    assert isinstance(dtype, pl.Struct)
    n = len(series)
    have = dtype_kinds(series.dtype)
    fields = []
    for f in dtype.fields:
        if is_union_dtype(series.dtype) and f.name in have:
            fields.append(series.struct.field(f.name).cast(f.dtype).alias(f.name))
        elif f.name in have:
            fields.append(series.cast(f.dtype).alias(f.name))
        else:
            fields.append(pl.repeat(None, n, dtype=f.dtype, eager=True).alias(f.name))
    out = pl.struct(fields, eager=True)
    return pl.select(pl.when(series.is_not_null()).then(out)).to_series().alias(series.name)


def _coalesce(series: list[pl.Series]) -> pl.Series:
    if len(series) == 1:
        return series[0]
    frame = pl.DataFrame({f"s{i}": s for i, s in enumerate(series)})
    return frame.select(pl.coalesce(pl.all())).to_series()


