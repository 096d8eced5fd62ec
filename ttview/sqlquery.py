"""SQL over the events of a view, for what the filter language cannot say.

    head, total = run_sql(view.lazy(), "SELECT logger, count(*) AS n FROM events GROUP BY logger")
    frame = sql_frame(view.lazy(), query)          # every row, for an export

The events are one table, ``events``, with the columns of the view (``ts`` a UTC timestamp with
nanoseconds, ``level`` its number, one column per field key). The query runs on polars' SQL
engine (``pl.SQLContext``), lazily: the first ``rows`` rows and the count of all of them are
computed, never a copy of a large result held for the screen.

Invariants: headless (no UI import); the query text goes to polars' SQL parser only, never to
Python; every error polars raises becomes one :class:`SqlError` line.
"""

from __future__ import annotations

import polars as pl

__all__ = ["TABLE", "SqlError", "run_sql", "sql_frame"]

TABLE = "events"
"""The name of the events' table in a query."""


class SqlError(ValueError):
    """A query polars refused or failed to run; the message is one line."""


def _plan(events: pl.LazyFrame, query: str) -> pl.LazyFrame:
    if not query.strip():
        raise SqlError("empty query; e.g. SELECT logger, count(*) AS n FROM events GROUP BY logger")
    try:
        with pl.SQLContext({TABLE: events}) as ctx:
            return ctx.execute(query, eager=False)
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        raise SqlError(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def run_sql(events: pl.LazyFrame, query: str, *, rows: int = 1000) -> tuple[pl.DataFrame, int]:
    """The first ``rows`` rows of ``query`` over ``events`` (table :data:`TABLE`), and how many
    rows it has in all. Raises :class:`SqlError`."""
    plan = _plan(events, query)
    try:
        head = plan.head(rows).collect()
        total = head.height if head.height < rows else int(plan.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        raise SqlError(_one_line(exc)) from None
    return head, total


def sql_frame(events: pl.LazyFrame, query: str) -> pl.DataFrame:
    """Every row of ``query`` over ``events``. Raises :class:`SqlError`."""
    plan = _plan(events, query)
    try:
        return plan.collect()
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        raise SqlError(_one_line(exc)) from None
