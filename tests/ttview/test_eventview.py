"""The headless event view the viewer reads events through (FrameEventView), and the schema
helpers that moved out of the UI modules."""

from __future__ import annotations

import polars as pl

from ttview.eventview import FrameEventView
from ttview.query import compile_filter
from ttview.schema import group_columns, level_name, level_name_expr, numeric_fields

T0 = 1_795_271_400_000_000_000


def frame(n: int = 10_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series([T0 + (i // 2) * 1000 for i in range(n)]).cast(pl.Datetime("ns", "UTC")),
            "seq": list(range(n)),
            "level": pl.Series([40 if i % 997 == 0 else 20 for i in range(n)], dtype=pl.UInt8),
            "logger": ["a"] * n,
            "message": ["m"] * n,
            "pid": [7] * n,
            "latency_us": [float(i) for i in range(n)],
        }
    )


def test_rows_and_identity() -> None:
    view = FrameEventView(frame())
    assert view.height == 10_000 and view.width == 7
    assert view.rows(5, 8)["seq"].to_list() == [5, 6, 7]
    assert view.rows(9_998, 20_000)["seq"].to_list() == [9_998, 9_999]
    assert view.identity(3) == (T0 + 1000, 3, 7)
    assert view.identity(10_000) is None
    assert view.ts_ns(4) == T0 + 2000


def test_find_forward_and_backward_matches_a_plain_scan() -> None:
    df = frame()
    view = FrameEventView(df)
    expr = pl.col("level") >= 40
    hits = df.with_row_index().filter(expr)["index"].to_list()
    for start in (0, 1, 996, 997, 998, 5000, 9_999):
        after = [h for h in hits if h >= start]
        before = [h for h in hits if h <= start]
        assert view.find(expr, start) == (after[0] if after else None)
        assert view.find(expr, start, backward=True) == (before[-1] if before else None)
    assert view.find(pl.col("seq") == 9_999, 0) == 9_999  # past several doubling steps
    # stop bounds the search, exclusive, in its direction
    assert view.find(expr, 1, stop=997) is None and view.find(expr, 1, stop=998) == 997
    assert view.find(expr, 1990, backward=True, stop=1994) is None
    assert view.find(expr, 1995, backward=True, stop=1993) == 1994
    assert view.find(pl.col("seq") == -1, 0) is None
    assert FrameEventView().find(expr, 0) is None


def test_locate_row_of_and_time() -> None:
    view = FrameEventView(frame())
    assert view.row_of((T0 + 1000, 3, 7)) == 3
    assert view.row_of((T0 + 1000, 3, 8)) is None
    assert view.locate(T0 + 1000, 3, 7) == 3
    assert view.locate(T0 + 1500, 99, 7) == 4  # not there: the first event after its time
    assert view.row_at_time(T0 + 2000) == 4
    assert view.row_at_time(T0 + 10**12) == 9_999
    assert view.rows_after(T0 + 4_998_000) == 2
    filtered = view.where(compile_filter("seq >= 5000", view.schema))
    assert filtered.height == 5000 and filtered.locate(T0 + 1000, 3, 7) == 0


def test_count_and_lazy() -> None:
    view = FrameEventView(frame())
    assert view.count(pl.col("level") >= 40) == frame().filter(pl.col("level") >= 40).height
    assert view.lazy().select(pl.len()).collect().item() == 10_000


def test_schema_helpers_take_a_schema() -> None:
    schema = frame().with_columns(pl.lit(True).alias("ok"), pl.lit("x").alias("venue")).schema
    assert numeric_fields(schema) == ["latency_us"]
    assert group_columns(schema) == ["logger", "level", "ok", "venue"]


def test_an_unnamed_level_prints_as_its_number_everywhere() -> None:
    from ttview.export import prepare
    from ttview.render import LineLayout, LineStyles, event_line, level_palette

    assert level_name(7) == "7" and level_name(22) == "TRADE"
    df = frame(2).with_columns(pl.Series("level", [7, 22], dtype=pl.UInt8), pl.col("pid").alias("tid"))
    assert df.select(level_name_expr())["level"].to_list() == ["7", "TRADE"]
    df = df.with_columns(pl.lit("svc").alias("service"))
    assert prepare(df, fmt="ndjson")["level"].to_list() == ["7", "TRADE"]
    line = event_line(T0, 7, "a", "m", [], layout=LineLayout(), styles=LineStyles(levels=level_palette(True)))
    assert line.plain.split()[1] == "7"
    assert compile_filter("level == 7", df.schema).expr is not None
