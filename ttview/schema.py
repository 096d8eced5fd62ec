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

import polars as pl
from ttlog.ring import LEVELS as _ENGINE_LEVELS

__all__ = [
    "CORE_COLUMNS",
    "EVENT_ID_COLUMNS",
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
"""Prefix given to a field key that collides with a core column name."""

LEVEL_ALIASES: dict[str, int] = {"WARNING": _ENGINE_LEVELS["WARN"], "FATAL": _ENGINE_LEVELS["CRITICAL"]}
"""Extra names accepted on input; output always uses the canonical name."""

LEVELS: dict[str, int] = {**_ENGINE_LEVELS, **LEVEL_ALIASES}
"""Every accepted level name (upper case, aliases included) → number."""

LEVEL_NAMES: dict[int, str] = {value: name for name, value in _ENGINE_LEVELS.items()}
"""Level number → canonical name (no aliases)."""


def field_column_name(key: str) -> str:
    """The column name for field ``key``: the key itself, or ``field.<key>`` if it is a core name."""
    return FIELD_PREFIX + key if key in CORE_COLUMNS else key


def field_names(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """The field columns of an event schema (every column that is not a core column), in order."""
    return [name for name in schema if name not in CORE_COLUMNS]


def numeric_fields(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """The field columns holding numbers (what percentiles and histograms take)."""
    return [name for name in field_names(schema) if is_numeric_dtype(schema[name])]


def group_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Columns worth grouping by: logger, level, service, then text, integer and boolean fields."""
    out = [c for c in ("logger", "level", "service") if c in schema]
    for name in field_names(schema):
        dtype = schema[name]
        if dtype == pl.String or dtype == pl.Boolean or dtype.is_integer():
            out.append(name)
    return out


def event_id_expr() -> pl.Expr:
    """A struct expression of each event's identity ``{ts: ns Int64, seq, pid}``."""
    return pl.struct(pl.col("ts").dt.epoch("ns").alias("ts"), pl.col("seq"), pl.col("pid")).alias("event_id")


def level_name(value: int) -> str:
    """The canonical name of level ``value``; a number with no name becomes its decimal text."""
    return LEVEL_NAMES.get(value, str(value))


def level_name_expr(expr: pl.Expr | None = None) -> pl.Expr:
    """A String expression naming the levels in ``expr`` (default ``pl.col("level")``)."""
    expr = pl.col("level") if expr is None else expr
    return expr.replace_strict(LEVEL_NAMES, default=expr.cast(pl.String), return_dtype=pl.String)


def is_numeric_dtype(dtype: pl.DataType) -> bool:
    """True for integer, unsigned and float dtypes (what percentiles and histograms accept)."""
    return dtype.is_numeric() and not isinstance(dtype, pl.Decimal)
