"""The filter language: what each construct selects, what each mistake reports, and fuzzing."""

from __future__ import annotations

import operator
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttview.query import (
    MAX_DEPTH,
    Filter,
    QueryError,
    apply_filter,
    compile_filter,
    format_error,
    parse_duration,
    parse_time,
    quote_name,
    quote_value,
)
from ttview.schema import CORE_COLUMNS, LEVELS, field_column_name

T0 = 1_795_271_400_000_000_000  # 2026-11-21T14:30:00Z in ns

FIELD_TYPES: dict[str, pl.DataType] = {
    "latency_us": pl.Int64(),
    "px": pl.Float64(),
    "symbol": pl.String(),
    "order_id": pl.String(),
    "is_buy": pl.Boolean(),
    "raw": pl.Binary(),
    "my key": pl.Int64(),
    "field.level": pl.String(),
}


def make_frame(rows: list[dict[str, Any]], fields: Mapping[str, pl.DataType] | None = None) -> pl.DataFrame:
    """An event frame in the ttview schema; core columns get defaults, fields are null if absent."""
    fields = FIELD_TYPES if fields is None else fields
    defaults = {"level": 20, "logger": "app", "message": "", "service": "svc", "pid": 1, "tid": 1}
    defaults["cut"] = None
    data: dict[str, list[Any]] = {name: [] for name in [*CORE_COLUMNS, *fields]}
    for i, row in enumerate(rows):
        data["ts"].append(row.get("ts", T0 + i * 1_000_000_000))
        data["seq"].append(row.get("seq", i))
        for name, value in defaults.items():
            data[name].append(row.get(name, value))
        for name in fields:
            data[name].append(row.get(name))
    columns = {
        name: pl.Series(name, data[name], dtype=dtype) for name, dtype in CORE_COLUMNS.items() if name != "ts"
    }
    ts = pl.Series("ts", data["ts"], dtype=pl.Int64).cast(CORE_COLUMNS["ts"])
    extra = {name: pl.Series(name, data[name], dtype=dtype) for name, dtype in fields.items()}
    return pl.DataFrame([ts, *columns.values(), *extra.values()])


ROWS: list[dict[str, Any]] = [
    {"level": 20, "logger": "orders", "message": "new order 1", "latency_us": 100, "symbol": "AAPL",
     "order_id": "5", "is_buy": True, "px": 1.5, "raw": b"ab"},
    {"level": 30, "logger": "md", "message": "Order REJECTED: size", "latency_us": 300, "symbol": "MSFT",
     "order_id": "5.0", "is_buy": False, "px": -2.0},
    {"level": 22, "logger": "orders", "message": "fill 100 @ 1.5", "symbol": None, "order_id": "abc",
     "px": 2.5, "raw": b"\xff\x00"},
    {"level": 40, "logger": "risk", "message": "limit breached", "latency_us": 500, "symbol": "X",
     "is_buy": True, "my key": 7, "field.level": "inner"},
    {"level": 21, "logger": "orders.gw", "message": "order sent", "latency_us": 250, "symbol": "AAPL",
     "order_id": "12", "px": 0.0},
    {"level": 50, "logger": "risk", "message": 'kill switch "armed"\n', "latency_us": 251, "symbol": "msft"},
]  # fmt: skip
DF = make_frame(ROWS)


def rows(text: str, df: pl.DataFrame = DF) -> list[int]:
    """The ``seq`` of the rows ``text`` keeps."""
    return apply_filter(df, text)["seq"].to_list()


def error(text: str, columns: Mapping[str, pl.DataType] | None = DF.schema) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_filter(text, columns)
    return info.value


# ---- selection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("level >= WARN", [1, 3, 5]),
        ("level >= warn", [1, 3, 5]),
        ("level >= Warning", [1, 3, 5]),
        ("level == trade", [2]),
        ("level == TRADE", [2]),
        ("level == 22", [2]),
        ('level == "fatal"', [5]),
        ("level < ORDER", [0]),
        ("level != INFO", [1, 2, 3, 4, 5]),
        ("level in (TRADE, ORDER)", [2, 4]),
        ("level not in (TRADE, order, 20)", [1, 3, 5]),
        ('logger == "orders"', [0, 2]),
        ('logger != "orders"', [1, 3, 4, 5]),
        ('logger > "p"', [3, 5]),
        ('service == "svc"', [0, 1, 2, 3, 4, 5]),
        ("pid == 1 and tid == 1 and seq >= 4", [4, 5]),
        ("latency_us > 250", [1, 3, 5]),
        ("latency_us >= 250", [1, 3, 4, 5]),
        ("latency_us < 250", [0]),
        ("latency_us <= 250", [0, 4]),
        ("latency_us == 300", [1]),
        ("latency_us != 300", [0, 3, 4, 5]),
        ("px > 0", [0, 2]),
        ("px == -2", [1]),
        ("px < -1.5e0", [1]),
        ("px == 0", [4]),
        ("is_buy == true", [0, 3]),
        ("is_buy == FALSE", [1]),
        ("is_buy != true", [1]),
        ('raw == "ab"', [0]),
        ("`my key` == 7", [3]),
        ('field.level == "inner"', [3]),
        ('`field.level` == "inner"', [3]),
    ],
)
def test_comparisons_select_the_right_rows(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_the_example_from_the_brief() -> None:
    text = 'level >= WARN and logger == "risk" and latency_us > 250'
    assert rows(text) == [3, 5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('logger == "risk" or logger == "md" and latency_us > 1000', [3, 5]),
        ('(logger == "risk" or logger == "md") and latency_us > 300', [3]),
        ('not logger == "orders" and level < WARN', [4]),
        ('not (logger == "orders" and level < WARN)', [1, 3, 4, 5]),
        ('!(logger == "orders") && level < WARN || level == FATAL', [4, 5]),
        ("not not level == INFO", [0]),
        ("NOT level == INFO AND latency_us > 0 OR level == ERROR", [1, 3, 4, 5]),
        ("level = INFO", [0]),
    ],
)
def test_precedence_is_not_then_and_then_or(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('message ~ "order"', [0, 4]),
        ('message ~* "order"', [0, 1, 4]),
        ('message !~ "order"', [1, 2, 3, 5]),
        ('message !~* "ORDER"', [2, 3, 5]),
        (r'message ~ "\d+ @ \d+\.\d"', [2]),
        (r'message ~ "^fill \d+"', [2]),
        ('message ~ "\\"armed\\"\\n$"', [5]),
        ('logger ~ "^orders(\\.|$)"', [0, 2, 4]),
        ('level ~ "^(WARN|ERROR)$"', [1, 3]),
        ('latency_us ~ "^25"', [4, 5]),
        ('symbol ~* "^msft$"', [1, 5]),
        ('symbol !~ "^A"', [1, 3, 5]),
        ('"rejected"', [1]),
        ('"ORDER"', [0, 1, 4]),
        ('"1.5"', [2]),
        ('"(" or "@"', [2]),
        ("''", [0, 1, 2, 3, 4, 5]),
    ],
)
def test_regex_and_free_text(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('symbol in ("AAPL", "MSFT")', [0, 1, 4]),
        ('symbol in ("AAPL",)', [0, 4]),
        ('symbol not in ("AAPL", "MSFT")', [3, 5]),
        ('symbol in ("AAPL", null)', [0, 2, 4]),
        ('symbol not in ("AAPL", null)', [1, 3, 5]),
        ("latency_us in (100, 500, 999)", [0, 3]),
        ("latency_us in (100, 250.0)", [0, 4]),
        ("px in (1.5, 0)", [0, 4]),
        ("is_buy in (true)", [0, 3]),
        ('raw in ("ab", "zz")', [0]),
        ('order_id in (5, "abc")', [0, 1, 2]),
    ],
)
def test_in_lists(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("has latency_us", [0, 1, 3, 4, 5]),
        ("HAS latency_us", [0, 1, 3, 4, 5]),
        ("exists(latency_us)", [0, 1, 3, 4, 5]),
        ("not has latency_us", [2]),
        ("latency_us is null", [2]),
        ("latency_us is not null", [0, 1, 3, 4, 5]),
        ("latency_us == null", [2]),
        ("latency_us != null", [0, 1, 3, 4, 5]),
        ("has `my key`", [3]),
        ("exists(`my key`)", [3]),
    ],
)
def test_existence(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_an_absent_field_makes_any_comparison_false_and_not_is_plain_negation() -> None:
    # row 2 has no latency_us
    assert 2 not in rows("latency_us != 300")
    assert 2 not in rows("latency_us not in (300)")
    assert 2 not in rows('latency_us !~ "^3"')
    assert 2 in rows("not (latency_us == 300)")
    assert 2 in rows("not latency_us > 0")


def test_filters_never_yield_null() -> None:
    for text in ["latency_us > 250", "not latency_us > 250", 'symbol !~ "A"', "symbol not in ('X')"]:
        mask = DF.select(compile_filter(text, DF.schema).expr.alias("m"))["m"]
        assert mask.null_count() == 0, text


# ---- values and literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latency_us == 1e2", [0]),
        ("latency_us == 1_00", [0]),
        ("latency_us < 1.01E+2", [0]),
        ("px == .5e1 - 0", None),  # arithmetic is only for times: an error, see below
        ("px > -2.5", [0, 1, 2, 4]),
        ("px == +1.5", [0]),
        ("px == - 2", [1]),
        ("symbol == 'AAPL'", [0, 4]),
        (r"message == 'kill switch \"armed\"\n'", [5]),
        (r'message == "kill switch \x22armed\u0022\n"', [5]),
        ("order_id == 5", [0, 1]),
        ("order_id > 6", [4]),
        ('order_id == "5"', [0]),
        ('latency_us == "300"', [1]),
        ('latency_us > " 250 "', [1, 3, 5]),
        ("order_id in (12)", [4]),
        ("order_id not in (5)", [2, 4]),
    ],
)
def test_literals_and_type_coercion(text: str, expected: list[int] | None) -> None:
    if expected is None:
        error(text)
    else:
        assert rows(text) == expected


def test_string_escapes() -> None:
    f = compile_filter(r'message == "a\tb\\c\'d\"e\x41\u00e9\U0001F600\q"', None)
    lit = f.text  # the source is kept as typed
    assert lit.startswith("message")
    df = make_frame([{"message": "a\tb\\c'd\"eA\u00e9\U0001f600\\q"}, {"message": "other"}])
    assert rows(r'message == "a\tb\\c\'d\"e\x41\u00e9\U0001F600\q"', df) == [0]


def test_backtick_names_allow_any_key() -> None:
    df = make_frame([{"odd key`s": 1}, {"odd key`s": 2}], fields={"odd key`s": pl.Int64()})
    assert rows("`odd key``s` >= 2", df) == [1]


def test_field_column_name_renames_core_names() -> None:
    assert field_column_name("level") == "field.level"
    assert field_column_name("latency_us") == "latency_us"


# ---- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('ts >= "2026-11-21T14:30:02"', [2, 3, 4, 5]),
        ('ts >= "2026-11-21T14:30:02Z"', [2, 3, 4, 5]),
        ('ts >= "2026-11-21 14:30:02.000000001"', [3, 4, 5]),
        ('ts < "2026-11-21t14:30:01.999999999"', [0, 1]),
        ('ts < "2026-11-21T14:30:01"', [0]),
        ('ts <= "2026-11-21T14:30:01.000000000"', [0, 1]),
        ('ts >= "2026-11-21T16:30:03+02:00"', [3, 4, 5]),
        ('ts < "2026-11-21T09:30:02-0500"', [0, 1]),
        ('ts == "2026-11-21T14:30:04"', [4]),
        ('ts >= "2026-11-21"', [0, 1, 2, 3, 4, 5]),
        ('ts < "2026-11-22"', [0, 1, 2, 3, 4, 5]),
        ('ts > "2026-11-21 +14:00"', [0, 1, 2, 3, 4, 5]),
        ('ts >= "14:30:03"', [3, 4, 5]),
        ('ts >= "14:30:03.5" and ts < "14:30:05"', [4]),
        ('ts >= "15:30:03+01:00"', [3, 4, 5]),
        ("ts > last - 2s", [4, 5]),
        ("ts >= last - 2s", [3, 4, 5]),
        ("ts >= last - 1500ms", [4, 5]),
        ("ts < first + 1s", [0]),
        ("ts <= first + 1m - 58s", [0, 1, 2]),
        ("ts == last", [5]),
        ("ts == first", [0]),
        ('ts >= "2026-11-21T14:30:00" + 4s', [4, 5]),
        ('ts in ("2026-11-21T14:30:01", last)', [1, 5]),
    ],
)
def test_time_ranges(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_time_anchors_follow_the_frame_they_are_applied_to() -> None:
    flt = compile_filter("ts > last - 1s", DF.schema)
    assert apply_filter(DF, flt)["seq"].to_list() == [5]
    assert apply_filter(DF.head(3), flt)["seq"].to_list() == [2]


def test_parse_time_and_duration_helpers() -> None:
    assert parse_time("2026-11-21T14:30:00Z") == T0
    assert parse_time("2026-11-21 14:30:00.000000007") == T0 + 7
    assert parse_time("2026-11-21T16:30:00+02:00") == T0
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("250us") == 250_000
    assert parse_duration("1.5s") == 1_500_000_000
    for bad in ("14:30", "2026-13-01", "yesterday"):
        with pytest.raises(ValueError):
            parse_time(bad)
    for bad in ("5", "5x", "", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ---- unknown fields, binding, API ---------------------------------------------------------------


def test_unknown_field_is_an_error_with_the_closest_name() -> None:
    err = error("level == ERROR or latncy_us > 250")
    assert err.message == "unknown field 'latncy_us' (did you mean 'latency_us'?)"
    assert err.position == 18
    for text, pos in (("nope is null", 0), ("has nope", 4), ("nope not in (1)", 0), ("nope ~ 'x'", 0)):
        assert error(text).position == pos, text
    with pytest.raises(QueryError, match="unknown field 'latncy_us'"):
        apply_filter(DF, "latncy_us > 250")


def test_unknown_field_in_warn_mode_is_a_warning_and_false() -> None:
    f = compile_filter("latncy_us > 250 or level == ERROR", DF.schema, unknown="warn")
    assert f.warnings == ("unknown field 'latncy_us' (did you mean 'latency_us'?)",)
    assert f.fields == ("latncy_us", "level")
    assert apply_filter(DF, f)["seq"].to_list() == [3]

    def warn_rows(text: str) -> list[int]:
        return apply_filter(DF, compile_filter(text, unknown="warn"))["seq"].to_list()

    assert warn_rows("nope is null") == [0, 1, 2, 3, 4, 5]
    assert warn_rows("nope is not null or has nope or nope != 1 or nope not in (1)") == []


def test_unknown_field_still_checks_its_value() -> None:
    with pytest.raises(QueryError) as info:
        compile_filter("nope == AAPL", DF.schema, unknown="warn")
    assert info.value.position == 8


def test_a_filter_binds_to_each_frame_so_late_fields_work() -> None:
    early = make_frame([{"message": "a"}], fields={})
    flt = compile_filter("latency_us > 250", early.schema, unknown="warn")
    assert flt.warnings
    assert apply_filter(early, flt).height == 0
    assert apply_filter(DF, flt)["seq"].to_list() == [1, 3, 5]


def test_a_bare_word_suggests_quoting_it() -> None:
    for text, pos in (("reject", 0), ("level >= WARN and reject", 18), ("(reject)", 1)):
        err = error(text)
        assert err.position == pos
        assert 'message ~ "reject"' in err.message, err.message
    # a name followed by an operator is still a field
    assert rows("latency_us > 250") == [1, 3, 5]


def test_marked_selects_the_marked_events() -> None:
    ids = DF.select(pl.col("ts").dt.epoch("ns"), "seq", "pid").rows()
    marks = {ids[1], ids[4]}
    flt = compile_filter("marked", DF.schema, marks=marks)
    assert flt.uses_marks
    assert apply_filter(DF, flt)["seq"].to_list() == [1, 4]
    either = compile_filter("marked or level >= ERROR", DF.schema, marks=marks)
    errors = DF.filter(pl.col("level") >= 40)["seq"].to_list()
    assert apply_filter(DF, either)["seq"].to_list() == sorted({1, 4, *errors})
    assert apply_filter(DF, compile_filter("not marked", DF.schema, marks=marks))["seq"].to_list() == [
        0,
        2,
        3,
        5,
    ]
    assert apply_filter(DF, compile_filter("marked", DF.schema, marks=set())).height == 0
    # rebinding keeps the marks unless new ones are given
    assert apply_filter(DF, flt.bind(DF.schema))["seq"].to_list() == [1, 4]
    assert apply_filter(DF, flt.bind(DF.schema, marks={ids[0]}))["seq"].to_list() == [0]
    assert not compile_filter("level >= WARN").uses_marks


def test_marked_needs_marks_and_a_field_called_marked_still_works() -> None:
    err = error("marked")
    assert "marked in the viewer" in err.message and err.position == 0
    frame = make_frame([{"marked": 1}, {"marked": 2}], fields={"marked": pl.Int64()})
    assert apply_filter(frame, "marked == 2")["seq"].to_list() == [1]
    assert apply_filter(frame, "has marked")["seq"].to_list() == [0, 1]


def test_without_columns_core_columns_are_still_typed() -> None:
    f = compile_filter('level >= WARN and ts > last - 3s and symbol == "X"')
    assert f.warnings == ()
    assert DF.filter(f.expr)["seq"].to_list() == [3]


def test_empty_filter_keeps_everything() -> None:
    for text in ("", "   ", "\n\t"):
        f = compile_filter(text, DF.schema)
        assert f.keeps_all and f.fields == () and f.warnings == ()
        assert apply_filter(DF, f) is DF
        assert DF.filter(f.expr).height == DF.height


def test_filter_is_frozen_and_comparable() -> None:
    a = compile_filter("level >= WARN", DF.schema)
    b = compile_filter("level >= WARN", DF.schema)
    assert a == b and hash(a) == hash(b)
    assert isinstance(a, Filter)
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]


def test_fields_lists_every_name_once_in_order() -> None:
    f = compile_filter(
        '"x" or symbol == "A" and (has latency_us or symbol ~ "B") and `my key` > 1', DF.schema
    )
    assert f.fields == ("message", "symbol", "latency_us", "my key")


def test_apply_filter_keeps_laziness() -> None:
    out = apply_filter(DF.lazy(), "level >= ERROR")
    assert isinstance(out, pl.LazyFrame)
    assert out.collect()["seq"].to_list() == [3, 5]


def test_categorical_columns_compare_as_text() -> None:
    df = DF.with_columns(pl.col("logger").cast(pl.Categorical))
    assert rows('logger == "risk"', df) == [3, 5]
    assert rows('logger ~ "^ord"', df) == [0, 2, 4]
    assert rows('logger in ("md", "risk")', df) == [1, 3, 5]


def test_log_data_is_only_ever_data() -> None:
    hostile = ['__import__("os").system("false")', 'level >= 0 or "x"', "\x1b[31mred\x1b[0m", "${HOME}"]
    df = make_frame([{"message": m} for m in hostile])
    assert rows('message == "__import__(\\"os\\").system(\\"false\\")"', df) == [0]
    assert rows('message ~ "^level >= 0 or"', df) == [1]
    assert rows('"\\x1b[31m"', df) == [2]
    assert error('__import__("os")').position == 10


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("level >= WARN )", 14, "unexpected ')'"),
        ("(level >= WARN", 14, "expected ')' to close the '(' at 0"),
        ("level >= ", 9, "expected a value after '>='"),
        ("level >= WARNN", 9, "unknown level 'WARNN'"),
        ("level >= 300", 9, "out of range"),
        ("level >= 2.5", 9, "level compares with"),
        ("latency_us > 2 and", 18, "expected a condition, found end of filter"),
        ("and level == INFO", 0, "expected a condition, found 'and'"),
        ("latency_us 250", 11, "expected an operator"),
        ("latency_us >> 250", 12, "expected a value"),
        ("symbol == AAPL", 10, "unquoted word 'AAPL'"),
        ('latency_us == "abc"', 14, "is a number"),
        ("symbol == true", 10, "is text"),
        ("is_buy == 1", 10, "true/false"),
        ("is_buy > true", 9, "only == and !="),
        ("raw == 5", 7, "binary"),
        ('raw ~ "a"', 0, "regular expressions apply to text"),
        ('message ~ "(unclosed"', 10, "invalid regular expression: unclosed group"),
        ('message ~* "a(?=b)"', 11, "look-around"),
        ('message ~ "[z-a]"', 10, "invalid regular expression"),
        ('message ~ "a{99999999}"', 10, "invalid regular expression"),
        ("message ~ order", 10, "expected a quoted regular expression"),
        ('message == "unterminated', 11, "unterminated string"),
        ("message == 'a\\x4'", 13, "invalid \\x escape"),
        ('message == "\\ud800"', 12, "not a character"),
        ("`unterminated == 1", 0, "unterminated `name`"),
        ("`` == 1", 0, "empty field name"),
        ("latency_us == 1e", 14, "invalid number '1e'"),
        ("latency_us == 12abc", 14, "invalid number '12abc'"),
        ("latency_us == 99999999999999999999", 14, "out of range"),
        ("latency_us == 5m", 14, "durations and time arithmetic only apply to times"),
        ("latency_us == 5 + 5m", 14, "durations and time arithmetic"),
        ("ts > last - 5", 12, "expected a duration"),
        ("ts > last - 5m -", 16, "expected a duration"),
        ('ts > "yesterday"', 5, "invalid time 'yesterday'"),
        ('ts > "2026-02-30"', 5, "invalid date"),
        ('ts > "25:00"', 5, "out of range"),
        ("ts > 5", 5, "compare times with a quoted ISO-8601 time"),
        ("ts > now", 5, "compare times with"),
        ("ts > null", 5, "null only compares with == and !="),
        ("symbol in ()", 11, "expected a value after 'in'"),
        ("symbol in ('a' 'b')", 15, "expected ',' or ')'"),
        ("symbol in 'a'", 10, "expected '(' to open the list"),
        ("symbol is nul", 10, "expected 'null' after 'is'"),
        ("symbol not 'a'", 7, "expected an operator"),
        ("has", 3, "expected a field name after 'has'"),
        ("has (x)", 4, "expected a field name after 'has'"),
        ("exists(x", 8, "expected ')' to close exists("),
        ("exists(and)", 7, "expected a field name in exists(...)"),
        ("level >= WARN ; drop", 14, "unexpected character ';'"),
        ("a == 1 @", 7, "unexpected character '@'"),
        ("level == INFO level == WARN", 14, "unexpected 'level'"),
        ("not", 3, "expected a condition"),
        ("((a == 1)", 9, "expected ')'"),
        ("5 > latency_us", 0, "expected a condition, found '5'"),
    ],
)
def test_errors_carry_message_and_position(text: str, position: int, fragment: str) -> None:
    err = error(text)
    assert err.position == position, (str(err), text)
    assert fragment in err.message, str(err)
    assert str(err) == f"{err.message} at {position}"


def test_error_str_matches_the_documented_form() -> None:
    assert str(error("(level >= WARN))")) == "unexpected ')' at 15"
    assert isinstance(error("("), ValueError)


def test_format_error_draws_a_caret_under_the_position() -> None:
    text = 'level >= WARN and logger ~ "(x"'
    err = error(text)
    assert format_error(text, err) == (
        'level >= WARN and logger ~ "(x"\n'
        "                           ^ invalid regular expression: unclosed group"
    )
    assert err.caret(text) == format_error(text, err)


def test_format_error_on_the_right_line_with_control_chars_and_wide_chars() -> None:
    text = 'level >= WARN and\n\tsymbol == "\x1b[2J" and 株 == 1 )'
    err = error(text)
    first, second = format_error(text, err).split("\n")
    assert first == ' symbol == "?[2J" and 株 == 1 )'
    assert "\x1b" not in first
    assert second.index("^") == len(' symbol == "?[2J" and ') + 2 + len(" == 1 ")


def test_format_error_windows_long_lines() -> None:
    text = "latency_us > 1 and " * 50 + ")"
    out = format_error(text, error(text), width=60)
    line, caret = out.split("\n")
    assert len(line) <= 62 and line.startswith("…")
    assert line[caret.index("^")] == ")"


def test_nesting_is_limited_not_a_stack_overflow() -> None:
    ok = "(" * MAX_DEPTH + "level == INFO" + ")" * MAX_DEPTH
    assert rows(ok) == [0]
    too_deep = "(" * (MAX_DEPTH + 1) + "level == INFO" + ")" * (MAX_DEPTH + 1)
    err = error(too_deep)
    assert err.position == MAX_DEPTH and "nested deeper" in err.message
    assert error("(" * 100_000).position == MAX_DEPTH


def test_long_flat_chains_and_many_nots_are_fine() -> None:
    chain = " or ".join(f"latency_us == {i}" for i in range(3000))
    assert rows(chain) == [0, 1, 3, 4, 5]
    assert rows("not " * 10_001 + "level == INFO") == [1, 2, 3, 4, 5]
    assert rows("!" * 10_000 + "level == INFO") == [0]
    assert error("x == 1 or " * 20_000 + "x == 1").message.startswith("filter longer than")


def test_only_strings_are_filters() -> None:
    with pytest.raises(TypeError):
        compile_filter(5)  # type: ignore[arg-type]


# ---- property tests -----------------------------------------------------------------------------

_TOKENS = [
    "level", "logger", "message", "latency_us", "px", "symbol", "is_buy", "raw", "ts", "nope", "`my key`",
    "WARN", "trade", "AAPL", "last", "first", "and", "or", "not", "in", "is", "null", "true", "false", "has",
    "exists", "&&", "||", "!", "==", "!=", "<", "<=", ">", ">=", "=", "~", "!~", "~*", "!~*", "(", ")", ",",
    "+", "-", "5", "-3", "2.5", "1e3", "1_000", "5m", "250ms", "1h30m", '"AAPL"', "'x'", '"("', '"\\d+"',
    '"2026-11-21T14:30:00"', '"14:30"', '"abc', "`", "``", "\\", ";", "@", "1e", ".", "\x00", "株",
]  # fmt: skip

token_soup = st.lists(st.sampled_from(_TOKENS), max_size=14).map(" ".join)
glued_soup = st.lists(st.sampled_from(_TOKENS), max_size=10).map("".join)
any_text = st.text(max_size=60)


def _compile_only_query_errors(text: str, columns: Mapping[str, pl.DataType] | None) -> Filter | None:
    try:
        return compile_filter(text, columns)
    except QueryError as err:
        assert 0 <= err.position <= len(text)
        format_error(text, err)
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(token_soup, glued_soup, any_text))
def test_fuzz_malformed_input_only_raises_query_error(text: str) -> None:
    _compile_only_query_errors(text, None)
    flt = _compile_only_query_errors(text, DF.schema)
    if flt is not None:  # anything that compiles against a schema runs on that frame
        mask = DF.select(flt.expr.alias("m"))["m"]
        assert mask.dtype == pl.Boolean and mask.null_count() == 0


_PY_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), max_size=25),
    op=st.sampled_from(sorted(_PY_OPS)),
    rhs=st.integers(-1000, 1000),
    negate=st.booleans(),
)
def test_numeric_comparisons_match_python(values: list[int | None], op: str, rhs: int, negate: bool) -> None:
    df = make_frame([{"latency_us": v} for v in values])
    text = f"{'not ' if negate else ''}latency_us {op} {rhs}"
    expected = [i for i, v in enumerate(values) if (v is not None and _PY_OPS[op](v, rhs)) != negate]
    assert rows(text, df) == expected


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(st.text(alphabet="abcAB.*()[]{}?+^$|\\ -#&~x", max_size=8), max_size=10),
    needle=st.text(alphabet="abcAB.*()[]{}?+^$|\\ -#&~x", max_size=4),
)
def test_free_text_is_literal_and_case_insensitive(messages: list[str], needle: str) -> None:
    df = make_frame([{"message": m} for m in messages])
    quoted = '"' + needle.replace("\\", "\\\\").replace('"', '\\"') + '"'
    expected = [i for i, m in enumerate(messages) if needle.lower() in m.lower()]
    assert rows(quoted, df) == expected


def test_levels_table_includes_aliases() -> None:
    assert LEVELS["WARNING"] == LEVELS["WARN"] == 30
    assert LEVELS["FATAL"] == LEVELS["CRITICAL"] == 50
    assert LEVELS["MARKET_DATA"] == 15


def test_headless_modules_import_no_ui() -> None:
    code = (
        "import sys, ttview, ttview.query, ttview.stats, ttview.schema, ttview.eventview, ttview.search,"
        " ttview.sqlquery, ttview.ringend, ttview.textsafe\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'typer'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "text",
    [
        'level >= WARN and logger == "orders" and latency_us > 250',
        'message ~* "reject" or (symbol in ("AAPL", "MSFT") and not has fill_px)',
        "ts > last - 5m",
        '"timeout"',
        "has a or has b and not has c",
        "`my key` == 1 or `x-request-id` == 'r' or `in` == 1 or `a``b` == 1 or order.id == 1",
        'ts >= "2026-11-21T14:30:00"',
        'ts < "2026-11-21 14:31:05.123456789"',
        'ts >= "2026-11-21T16:30:00+02:00"',
        'ts < "2026-11-22"',
        'ts >= "14:30" and ts < "14:35"',
        'ts >= "14:30:05.25" or ts >= "15:30+01:00"',
        'ts > last - 5m or ts < first + 30s or ts == last or ts >= "2026-11-21T14:30:00" + 90s',
        'latency_us > "250" or order_id == 5 or order_id > 6',
        'level == trade or level in (TRADE, ORDER) or level == "warn" or level ~ "^(WARN|ERROR)$"',
        r'message ~ "\d+" or message ~ "a\.b"',
        'latency_us != 300 or latency_us not in (300) or latency_us !~ "^3" or not latency_us == 300',
    ],
)
def test_documented_examples_compile_and_run(text: str) -> None:
    apply_filter(DF, compile_filter(text, unknown="warn"))  # some name fields DF lacks


def test_documented_regex_error_caret() -> None:
    text = 'message ~ "a(?=b)"'
    assert format_error(text, error(text)) == (
        'message ~ "a(?=b)"\n'
        "          ^ invalid regular expression: look-around, including look-ahead and look-behind, "
        "is not supported"
    )


# ---- printing filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["AAPL", 'say "hi"', "back\\slash", "\x1b[31m", "日本", "zw\u200bsp", 5, 2.5, True, None]
)
def test_quote_value_round_trips(value: object) -> None:
    frame = pl.DataFrame({"v": [value, "other" if isinstance(value, str) or value is None else None]})
    if value is None:
        expr = f"{quote_name('v')} is null"
    else:
        expr = f"{quote_name('v')} == {quote_value(value)}"
    kept = frame.filter(compile_filter(expr, frame.schema).expr)
    assert kept.height == 1
    assert "\x1b" not in expr and "\u200b" not in expr  # printed as escapes, never raw


def test_quote_name_uses_the_parsers_keywords() -> None:
    from ttview.query import KEYWORDS

    assert quote_name("latency_us") == "latency_us"
    assert quote_name("x-request id") == "`x-request id`"
    for word in KEYWORDS:
        assert quote_name(word) == f"`{word}`"
        assert quote_name(word.upper()) == f"`{word.upper()}`"
        frame = pl.DataFrame({word: [1, 2]})
        assert frame.filter(compile_filter(f"{quote_name(word)} == 2", frame.schema).expr).height == 1


def test_the_documented_error_lines_are_the_ones_printed() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "FILTER.md").read_text()
    for text in ("latncy_us > 5", "reject"):
        caret = format_error(text, error(text))
        indented = "\n".join("  " + line for line in caret.splitlines())
        assert caret in doc or indented in doc, caret
