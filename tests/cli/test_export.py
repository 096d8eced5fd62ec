"""Exports read back equal to the source events; the export module's edge cases."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.cli.conftest import Ran
from ttview.export import (
    CORE_EXPORT_COLUMNS,
    ExportError,
    export_columns,
    json_lines,
    prepare,
    write_export,
)
from ttview.schema import is_union_dtype, level_name_expr, numeric_expr
from ttview.sources import load_snapshots


@pytest.fixture(scope="module")
def source() -> pl.DataFrame:
    from ttview.lsinfo import sample_dir

    result = load_snapshots(sample_dir())
    assert not result.errors and result.frame.height > 100_000
    return result.frame


def _expected(frame: pl.DataFrame) -> pl.DataFrame:
    """The source events in the export's naming, as the text formats carry them."""
    fields = [
        c
        for c in frame.columns
        if c not in ("ts", "seq", "level", "logger", "message", "service", "pid", "tid", "cut")
    ]
    # a field of several kinds (qty: ints and floats) reads back from text as numbers
    fields = [numeric_expr(c, frame.schema[c]).alias(c) if is_union_dtype(frame.schema[c]) else pl.col(c)
              for c in fields]
    return frame.select(
        pl.col("ts").dt.epoch("ns").alias("ts_ns"),
        level_name_expr(pl.col("level")).alias("level"),
        pl.col("level").cast(pl.Int64).alias("level_no"),
        "logger",
        "message",
        "service",
        "pid",
        "tid",
        "seq",
        *fields,
    )


def test_json_reads_back_equal(
    run: Callable[..., Ran], source: pl.DataFrame, samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.json"
    ran = run("export", samples, "-F", "json", "-o", out)
    assert ran.exit_code == 0, ran.stderr
    events = json.loads(out.read_text())
    assert len(events) == source.height
    assert all(v is not None for e in events for v in e.values()), "null values are left out"
    back = pl.DataFrame(events, infer_schema_length=None)
    expected = _expected(source)
    assert_frame_equal(back.select(expected.columns), expected, check_dtypes=False)
    # ISO time with nanoseconds, equal to ts_ns
    first = events[0]
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-11-20T14:30:00.123456789Z")
    secs = pl.Series([first["time"]]).str.to_datetime("%Y-%m-%dT%H:%M:%S%.9fZ", time_unit="ns")
    assert secs.dt.epoch("ns")[0] == first["ts_ns"]
    # every value as it was logged: qty is an int for shares, a float for coins
    text = out.read_text()
    qty = [union for union in source["qty"].to_list() if union is not None]
    ints = sum(1 for v in qty if v["int"] is not None)
    assert ints and ints < len(qty)
    assert sum(1 for e in events if isinstance(e.get("qty"), int)) == ints
    assert sum(1 for e in events if isinstance(e.get("qty"), float)) == len(qty) - ints
    assert '"qty":100,' in text or '"qty":100}' in text


def test_ndjson_reads_back_equal(run: Callable[..., Ran], source: pl.DataFrame, samples: Path) -> None:
    ran = run("export", samples, "-F", "ndjson")
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout_bytes.splitlines()
    assert len(lines) == source.height
    back = pl.read_ndjson(io.BytesIO(ran.stdout_bytes), infer_schema_length=None)
    expected = _expected(source)
    assert_frame_equal(back.select(expected.columns), expected, check_dtypes=False)


def test_parquet_keeps_types(
    run: Callable[..., Ran], source: pl.DataFrame, samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.parquet"
    ran = run("export", samples, "-F", "parquet", "-o", out)
    assert ran.exit_code == 0, ran.stderr
    back = pl.read_parquet(out)
    assert back.columns == export_columns(source)
    assert back.schema["time"] == pl.Datetime("ns", "UTC")
    assert back.schema["ts_ns"] == pl.Int64 and back.schema["level"] == pl.String
    for name in source.columns:
        if name not in ("ts", "level", "cut"):
            assert back.schema[name] == source.schema[name], name  # qty: Struct{int, float} as loaded
    assert back["qty"].equals(source["qty"])
    expected = _expected(source).with_columns(pl.col("level_no").cast(pl.Int32))
    assert_frame_equal(back.with_columns(numeric_expr("qty", back.schema["qty"]).alias("qty"))
                       .select(expected.columns), expected)
    assert back["time"].dt.epoch("ns").equals(source["ts"].dt.epoch("ns"))
    # microseconds for Spark, on request
    micro = tmp_path / "us.parquet"
    assert run("export", samples, "-F", "parquet", "--time-unit", "us", "-o", micro).exit_code == 0
    assert_frame_equal(
        pl.read_parquet(micro).select(pl.col("time").dt.epoch("us")),
        source.select((pl.col("ts").dt.epoch("ns") // 1000).alias("time")),
    )


def test_parquet_logical_types_for_other_readers(tmp_path: Path, source: pl.DataFrame) -> None:
    import pyarrow.parquet as pq  # in the test extra: the standard Parquet reader others use

    out = tmp_path / "x.parquet"
    write_export(source.head(100), out, fmt="parquet", time_unit="us", metadata={"ttview.hosts": "h1"})
    schema = pq.read_schema(out)
    time_type = schema.field("time").type
    assert str(time_type) == "timestamp[us, tz=UTC]", time_type
    meta = pq.ParquetFile(out).schema.column(0).logical_type
    assert "isAdjustedToUTC=true" in str(meta) and "timeUnit=microseconds" in str(meta)
    kv = pq.read_metadata(out).metadata
    assert kv[b"ttview.schema_version"] == b"1" and kv[b"ttview.hosts"] == b"h1"
    write_export(source.head(100), out, fmt="parquet")
    assert str(pq.read_schema(out).field("time").type) == "timestamp[ns, tz=UTC]"


def test_csv_flattens_fields(run: Callable[..., Ran], source: pl.DataFrame, samples: Path) -> None:
    ran = run("export", samples, "-F", "csv", "-f", "level >= WARN")
    assert ran.exit_code == 0, ran.stderr
    back = pl.read_csv(io.BytesIO(ran.stdout_bytes), infer_schema_length=None)
    assert back.columns == export_columns(source)
    expected = _expected(source.filter(pl.col("level") >= 30))
    assert_frame_equal(back.select(expected.columns), expected, check_dtypes=False)


def test_file_output_is_complete_and_replaces(run: Callable[..., Ran], samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.ndjson"
    out.write_text("old")
    ran = run("export", samples, "-f", "level == ERROR", "-o", out)
    assert ran.exit_code == 0 and ran.stdout == ""
    assert out.read_text().count("\n") == 506
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.ndjson"]


def test_no_match_still_writes_valid_output(run: Callable[..., Ran], samples: Path, tmp_path: Path) -> None:
    for fmt, check in (
        ("json", lambda b: json.loads(b) == []),
        ("ndjson", lambda b: b == b""),
        ("parquet", lambda b: pl.read_parquet(io.BytesIO(b)).height == 0),
    ):
        out = tmp_path / f"empty.{fmt}"
        ran = run("export", samples, "-F", fmt, "-f", "level == TRACE", "-o", out)
        assert ran.exit_code == 1 and ran.stderr == "ttview: no events matched\n"
        assert check(out.read_bytes()), fmt


# ---- the module itself -------------------------------------------------------------------------


def _frame(rows: dict[str, list[object]]) -> pl.DataFrame:
    n = len(next(iter(rows.values())))
    base = {
        "ts": pl.Series([1_795_185_000_000_000_000 + i for i in range(n)]).cast(pl.Datetime("ns", "UTC")),
        "seq": list(range(n)),
        "level": pl.Series([20] * n, dtype=pl.UInt8),
        "logger": ["l"] * n,
        "message": ["m"] * n,
        "service": ["s"] * n,
        "pid": [1] * n,
        "tid": [1] * n,
        "cut": pl.Series([None] * n, dtype=pl.List(pl.String)),
    }
    return pl.DataFrame({**base, **rows})


def test_json_chunks_make_one_valid_array() -> None:
    frame = _frame({"x": [1, None, 3, None, 5]})
    for chunk in (1, 2, 3, 5, 100):
        buf = io.BytesIO()
        assert write_export(frame, buf, fmt="json", chunk_rows=chunk, threads=2) == 5
        events = json.loads(buf.getvalue())
        assert [e.get("x") for e in events] == [1, None, 3, None, 5]
        assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
        buf = io.BytesIO()
        write_export(frame, buf, fmt="csv", chunk_rows=chunk)
        assert buf.getvalue().decode().count("time,") == 1


def test_many_key_sets_take_the_column_path() -> None:
    n = 64 * 3
    cols = {f"f{i}": [j if (j >> (i % 8)) & 1 else None for j in range(n)] for i in range(12)}
    frame = prepare(_frame(cols), fmt="ndjson")
    lines = json_lines(frame).to_list()
    for j, line in enumerate(lines):
        obj = json.loads(line)
        assert obj["seq"] == j
        assert {k for k in obj if k.startswith("f")} == {f"f{i}" for i in range(12) if (j >> (i % 8)) & 1}


def test_values_json_cannot_spell_and_bytes() -> None:
    frame = _frame({"f": [1.5, math.nan, math.inf, None], "b": [b"\x00\xff", None, b"", b"z"]})
    lines = [json.loads(x) for x in json_lines(prepare(frame, fmt="ndjson")).to_list()]
    assert [x.get("f", "absent") for x in lines] == [1.5, "NaN", "Infinity", "absent"]  # NaN is not null
    assert [base64.b64decode(x["b"]) if "b" in x else None for x in lines] == [b"\x00\xff", None, b"", b"z"]
    back = pl.read_parquet(_parquet(frame))
    assert back["b"].to_list() == [b"\x00\xff", None, b"", b"z"] and math.isnan(back["f"][1])


def _parquet(frame: pl.DataFrame) -> io.BytesIO:
    buf = io.BytesIO()
    write_export(frame, buf, fmt="parquet")
    buf.seek(0)
    return buf


def test_field_names_never_shadow_export_columns() -> None:
    frame = _frame({"time": ["field"], "ts_ns": [7], "level_no": [True]})
    assert export_columns(frame)[len(CORE_EXPORT_COLUMNS) :] == [
        "field.time",
        "field.ts_ns",
        "field.level_no",
    ]
    obj = json.loads(json_lines(prepare(frame, fmt="ndjson"))[0])
    assert obj["field.time"] == "field" and obj["field.ts_ns"] == 7 and obj["time"].endswith("Z")


def test_fields_select_and_order() -> None:
    frame = _frame({"x": [1, None], "y": ["a", "b"]})
    out = prepare(frame, fmt="csv", fields=["y", "time", "x", "y"])
    assert out.columns == ["y", "time", "x"]
    with pytest.raises(ExportError, match="did you mean 'x'"):
        prepare(frame, fmt="csv", fields=["xx"])
    with pytest.raises(ExportError, match="unknown format"):
        prepare(frame, fmt="xml")


def test_levels_without_a_name_and_cut() -> None:
    frame = _frame({"x": [1, 2]}).with_columns(
        pl.Series("level", [22, 99], dtype=pl.UInt8),
        pl.Series("cut", [["message"], None], dtype=pl.List(pl.String)),
    )
    lines = [json.loads(x) for x in json_lines(prepare(frame, fmt="ndjson"))]
    assert [(x["level"], x["level_no"]) for x in lines] == [("TRADE", 22), ("99", 99)]
    assert lines[0]["cut"] == ["message"] and "cut" not in lines[1]
    assert prepare(frame, fmt="csv")["cut"].to_list() == ["message", None]


def test_terminal_output_has_no_control_characters() -> None:
    frame = _frame({"s": ["\x1b[31mred\x07", "\x9b2J\u202eabc"]}).with_columns(
        pl.lit("a\x1bb").alias("message")
    )
    for fmt in ("csv", "ndjson", "json"):
        buf = io.BytesIO()
        write_export(frame, buf, fmt=fmt, for_terminal=True)
        text = buf.getvalue().decode()
        assert not any(c in text for c in "\x1b\x07\x9b\u202e"), (fmt, text)
    raw = io.BytesIO()
    write_export(frame, raw, fmt="ndjson")
    assert json.loads(raw.getvalue().splitlines()[0])["s"] == "\x1b[31mred\x07"  # files keep the data


def test_empty_frame_every_format() -> None:
    frame = _frame({"x": [1]}).head(0)
    for fmt, expected in (("json", b"[]\n"), ("ndjson", b""), ("csv", None)):
        buf = io.BytesIO()
        assert write_export(frame, buf, fmt=fmt) == 0
        if expected is not None:
            assert buf.getvalue() == expected
    assert pl.read_parquet(_parquet(frame)).columns == export_columns(frame)
