"""The viewer's text search (``s``): which events' log lines hold a piece of text.

    expr = search_expr(view.schema, "reject")     # a Boolean polars expression
    view.find(expr, cursor + 1)                   # the next matching row

The search matches what the log line shows (time, level, logger, message and the ``key=value``
pairs), ignoring case, and takes the text literally (no regular expression): the filter
language (:mod:`ttview.query`) is for conditions, the search for "where is this text".

Invariants: headless (no UI import); the text is escaped before it reaches the regex engine, so
nothing typed is interpreted; the expression is never null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from ttview.schema import field_names, level_name_expr

__all__ = ["search_expr"]

_NUMBER_CHARS = frozenset("0123456789.+-eE")


def search_expr(schema: Mapping[str, pl.DataType], term: str) -> pl.Expr:
    """True for rows whose log line text holds ``term`` (ignoring case): the time, level, logger,
    message and the ``key=value`` pairs, as the view draws them.

    Columns that cannot hold the term are skipped (numbers when it has letters, the time when it
    is not made of digits and ``:``/``.``), so a word is found in a million rows quickly; a term
    with ``=`` is matched against the whole ``key=value`` text.
    """
    pattern = "(?i)" + re.escape(term)
    lower = term.lower()
    names = field_names(schema)

    def text_of(name: str) -> pl.Expr:
        dtype = schema[name]
        if dtype == pl.Binary:
            return pl.col(name).cast(pl.String, strict=False)
        if dtype == pl.Boolean:
            return pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false"))
        return pl.col(name).cast(pl.String)

    if "=" in term:  # may span a key and its value: match the drawn text itself
        parts = [pl.col("logger"), pl.col("message")]
        parts += [pl.when(pl.col(n).is_not_null()).then(pl.lit(n + "=") + text_of(n)) for n in names]
        return pl.concat_str(parts, separator=" ", ignore_nulls=True).str.contains(pattern).fill_null(False)

    checks: list[pl.Expr] = [
        level_name_expr(pl.col("level")).str.contains(pattern),
        pl.col("logger").str.contains(pattern),
        pl.col("message").str.contains(pattern),
    ]
    if set(term) <= set("0123456789:."):
        checks.append(pl.col("ts").dt.strftime("%H:%M:%S%.6f").str.contains(pattern, literal=False))
    could_be_value = set(lower) <= _NUMBER_CHARS or lower in "true" or lower in "false" or lower in "nan inf"
    for name in names:
        dtype = schema[name]
        if lower in name.lower():
            checks.append(pl.col(name).is_not_null())  # the key itself: every event carrying it
        elif dtype == pl.String or dtype == pl.Binary or could_be_value:
            checks.append(text_of(name).str.contains(pattern))
    return pl.any_horizontal(checks).fill_null(False)
