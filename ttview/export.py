"""Exports of events: JSON, NDJSON, CSV and Parquet, written as the events are read.

Used by ``ttview export`` and by the TUI's export action::

    from ttview.export import write_export
    rows = write_export(catalog.lazy(), "events.ndjson", fmt="ndjson")   # or a DataFrame

Exported columns (the same names in every format; see :data:`CORE_EXPORT_COLUMNS`):

========== ======================================================= ==============================
name       text formats (JSON, NDJSON, CSV)                        Parquet
========== ======================================================= ==============================
time       ISO-8601 UTC with nanoseconds: 2026-11-20T14:30:00.1Z   TIMESTAMP(NANOS, UTC); MICROS
                                                                   with ``time_unit="us"`` (Spark)
ts_ns      integer nanoseconds since the Unix epoch (exact)        INT64
level      level name (``TRADE``; a number with no name: its text) STRING
level_no   level number (``22``)                                   INT32
logger, message, service                                           STRING
pid, tid, seq                                                      INT64
cut        columns cut at the ring's size limit (JSON array;       LIST<STRING>
           CSV: names joined by ``,``); absent/empty when none
<field>    one per field key, each value as it was logged: an int  the column's type: INT64,
           an integer, a float a number with a fraction or an      DOUBLE, BOOLEAN, STRING,
           exponent (``100.0``), text a string, true/false, bytes  BINARY; a field of several
           as base64 text                                          kinds a STRUCT with one member
                                                                   per kind (int, float, bool,
                                                                   str, bytes), one of them set
========== ======================================================= ==============================

A field whose key equals an export column name (``time``, ``level``, ``cut``...) is exported as
``field.<key>`` (``ttview.schema.field_column_names``: the same name the viewer and the filters
use).

JSON and NDJSON leave out a key whose value is null (an event carries the fields it logged; a
field logged as ``None`` is left out too). Floats JSON cannot spell are strings: NaN as
``"NaN"``, infinities as ``"Infinity"`` and ``"-Infinity"`` (never null, so NaN is not mistaken
for a missing value). JSON is one array with an event per line; NDJSON is one event per line.
CSV has every column, empty where null; NaN and the infinities are ``NaN``, ``inf``, ``-inf``.

Parquet files carry key-value metadata: ``ttview.schema_version``, ``ttview.services``,
``ttview.hosts``, ``ttview.pids`` (what :func:`parquet_metadata` is given).
``partition_by`` writes a hive-partitioned dataset (``service=<s>/date=<YYYY-MM-DD>/...``, UTC
dates; other characters than ``A-Za-z0-9_.-`` in a value are %-escaped) that DuckDB, polars and
Spark read as one table; file names carry the host and a unique stamp, so the exports of many
hosts can be copied into one tree.

Invariants: headless (no textual, rich or typer); memory is bounded by a batch of events, never
by the export's size (the source is read as it is written); no Python code runs per event: lines
are built by polars expressions; output for a terminal (``for_terminal=True``) has control
characters replaced (``ttview.textsafe``), so logged text can never drive the terminal.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

from ttview.schema import (
    CORE_COLUMNS,
    field_column_names,
    is_union_dtype,
    level_name_expr,
    text_expr,
)
from ttview.textsafe import TERMINAL_UNSAFE_REGEX

__all__ = [
    "CORE_EXPORT_COLUMNS",
    "FORMATS",
    "ISO_FORMAT",
    "PARTITION_KEYS",
    "SCHEMA_VERSION",
    "ExportError",
    "export_columns",
    "json_lines",
    "parquet_metadata",
    "prepare",
    "write_export",
]

FORMATS: tuple[str, ...] = ("json", "ndjson", "csv", "parquet")
"""Export formats, by the name ``--format`` takes."""

CORE_EXPORT_COLUMNS: tuple[str, ...] = (
    "time", "ts_ns", "level", "level_no", "logger", "message", "service", "pid", "tid", "seq", "cut",
)  # fmt: skip
"""The columns every export starts with, in order; field columns follow."""

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%9fZ"
"""``time`` in the text formats: ISO-8601, UTC, nanoseconds (``2026-11-20T14:30:00.123456789Z``)."""

SCHEMA_VERSION = "1"
"""The export layout's version, in every Parquet file's metadata (``ttview.schema_version``)."""

PARTITION_KEYS: tuple[str, ...] = ("service", "date", "pid", "level", "logger")
"""What ``partition_by`` accepts: columns, plus ``date`` (the UTC day of ``ts``)."""

DEFAULT_CHUNK_ROWS = 1 << 16
"""Events encoded and written per step (progress is reported per step)."""

_FRAME_CORE = frozenset(CORE_COLUMNS)
# Characters that must never reach a terminal: the one policy of ttview.textsafe (tab and LF kept).
_TERMINAL_UNSAFE = TERMINAL_UNSAFE_REGEX

Progress = Callable[[int, int], None]
"""``progress(rows_written, rows_total)``, called after each batch (total 0 when unknown)."""

Prep = Callable[[pl.DataFrame], pl.DataFrame]
"""Turns a batch of events into the export columns (:func:`prepare` with the export's options)."""


class ExportError(ValueError):
    """An export that cannot be made (unknown format or field); the message is one line."""


# ---- columns -----------------------------------------------------------------------------------


def export_columns(columns: Sequence[str] | pl.Schema | pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The export column names for a frame with ``columns`` (core ones the frame has, then fields)."""
    if isinstance(columns, pl.LazyFrame):
        names = list(columns.collect_schema())
    else:
        names = list(columns.columns if isinstance(columns, pl.DataFrame) else columns)
    present = set(names)
    core = [c for c in CORE_EXPORT_COLUMNS if _frame_source(c) in present]
    return core + list(_field_names(names).values())


def _field_names(columns: Sequence[str]) -> dict[str, str]:
    """Frame field column -> export name: itself (a frame from a snapshot is named so already), or
    ``field.<name>`` for a frame whose field column takes an export column's name."""
    return field_column_names(n for n in columns if n not in _FRAME_CORE)


def _frame_source(export: str) -> str:
    return {"time": "ts", "ts_ns": "ts", "level_no": "level"}.get(export, export)


def _select_fields(available: list[str], fields: Sequence[str] | None) -> list[str]:
    if not fields:
        return available
    known = set(available)
    chosen: list[str] = []
    for name in fields:
        if name not in known:
            from difflib import get_close_matches

            hint = get_close_matches(name, available, n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ExportError(
                f"unknown field {name!r} for --fields{more}; the data has: {', '.join(available)}"
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def prepare(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    fmt: str,
    fields: Sequence[str] | None = None,
    for_terminal: bool = False,
    time_unit: str = "ns",
    extra: dict[str, pl.Expr] | None = None,
) -> Any:
    """The events as they are exported in ``fmt``: the export columns (module docstring), typed
    for the format, restricted to ``fields`` (export names, in that order) if given. A DataFrame
    gives a DataFrame, a LazyFrame a LazyFrame. Raises :class:`ExportError` for an unknown format
    or field (before anything is read)."""
    _check_format(fmt)
    if time_unit not in ("ns", "us"):
        raise ExportError(f"unknown time unit {time_unit!r}; choose ns or us")
    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    schema = lazy.collect_schema()
    text = fmt != "parquet"
    exprs: dict[str, pl.Expr] = {}
    if "ts" in schema:
        ts = pl.col("ts")
        exprs["time"] = ts.dt.to_string(ISO_FORMAT) if text else ts.dt.cast_time_unit(time_unit)  # type: ignore[arg-type]
        exprs["ts_ns"] = ts.dt.epoch("ns")
    if "level" in schema:
        lv = pl.col("level")
        exprs["level"] = level_name_expr(lv)
        exprs["level_no"] = lv.cast(pl.Int32)
    for name in ("logger", "message", "service", "pid", "tid", "seq"):
        if name in schema:
            exprs[name] = pl.col(name)
    if "cut" in schema:
        cut = pl.col("cut")
        if isinstance(schema["cut"], pl.List):
            cut = pl.when(cut.list.len() > 0).then(cut)
            if fmt == "csv":
                cut = cut.list.join(",")
        exprs["cut"] = cut
    for name, export in _field_names(list(schema)).items():
        dtype = schema[name]
        col = pl.col(name)
        if fmt == "csv" and (is_union_dtype(dtype) or dtype == pl.Binary):
            col = text_expr(name, dtype)
        elif text and dtype == pl.Binary:
            col = col.bin.encode("base64")
        exprs[export] = col
    order = _select_fields(list(exprs), fields)
    plan = lazy.select([exprs[name].alias(name) for name in order] +
                       [expr.alias(name) for name, expr in (extra or {}).items()])
    if for_terminal and text:
        plan = plan.with_columns(pl.col(pl.String).str.replace_all(_TERMINAL_UNSAFE, "\ufffd"))
    return plan.collect() if isinstance(df, pl.DataFrame) else plan


# ---- JSON lines --------------------------------------------------------------------------------

MAX_SHAPES = 64
"""Distinct key sets in one batch above which lines are built per column instead of per key set."""

_SHAPE, _ROW, _PART = "\x00shape", "\x00row", "\x00"  # helper names; no export column can be named so


def _variants(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """The frame with each column JSON cannot encode as it is split into parts that never hold a
    value in the same row: a union column into its kinds, a float column holding NaN or an
    infinity into its finite numbers and the text of the others ("NaN", "Infinity",
    "-Infinity"). Returns the new frame and part name -> export name."""
    exprs: list[pl.Expr] = []
    names: dict[str, str] = {}

    def add(expr: pl.Expr, dtype: pl.DataType, name: str, part: str) -> None:
        if dtype.is_float() and frame.select(expr.is_finite().not_().any()).item():
            x = expr
            exprs.append(pl.when(x.is_finite()).then(x).alias(part + _PART + "f"))
            exprs.append(pl.when(x.is_finite().not_()).then(
                pl.when(x.is_nan()).then(pl.lit("NaN")).when(x > 0).then(pl.lit("Infinity"))
                .otherwise(pl.lit("-Infinity"))).alias(part + _PART + "s"))
            names[part + _PART + "f"] = names[part + _PART + "s"] = name
        else:
            exprs.append(expr.alias(part))
            names[part] = name

    for name, dtype in frame.schema.items():
        if is_union_dtype(dtype):
            assert isinstance(dtype, pl.Struct)
            for f in dtype.fields:
                add(pl.col(name).struct.field(f.name), f.dtype, name, name + _PART + f.name)
        else:
            add(pl.col(name), dtype, name, name)
    return frame.select(exprs), names


def _shape_codes(frame: pl.DataFrame, nullable: list[str]) -> np.ndarray:
    """Per row, an integer naming which of the ``nullable`` columns hold a value."""
    m = frame.height
    if not nullable:
        return np.zeros(m, dtype=np.int64)
    if len(nullable) <= 62:
        bits = np.zeros(m, dtype=np.int64)
        for i, name in enumerate(nullable):
            bits |= frame.get_column(name).is_not_null().to_numpy().astype(np.int64) << i
        return bits
    matrix = np.column_stack([frame.get_column(c).is_not_null().to_numpy() for c in nullable])
    packed = np.packbits(matrix, axis=1)
    _, inverse = np.unique(packed, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _lines_by_column(frame: pl.DataFrame, names: dict[str, str]) -> pl.Series:
    """One JSON object per row, null keys left out, built column by column (any number of key sets)."""
    parts = []
    for part in frame.columns:
        col = pl.col(part)
        encoded = pl.struct(col.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
        parts.append(pl.when(col.is_not_null()).then(pl.lit(json.dumps(names[part], ensure_ascii=False) + ":")
                                                      + encoded))
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return frame.select((pl.lit("{") + body + pl.lit("}")).alias("line")).to_series()


def json_lines(frame: pl.DataFrame) -> pl.Series:
    """One JSON object per row of a prepared frame (see :func:`prepare`), keys whose value is null
    left out; row order kept.

    Rows are grouped by which columns (or column parts, see :func:`_variants`) hold a value; each
    group is encoded by polars' JSON encoder with just its columns, and the lines are put back in
    row order with one gather.
    """
    m = frame.height
    if m == 0 or frame.width == 0:
        return pl.Series("line", ["{}"] * m, dtype=pl.String)
    work, names = _variants(frame)
    nulls = work.null_count().row(0)
    columns = work.columns
    nullable = [c for c, n in zip(columns, nulls, strict=True) if 0 < n < m]
    present = [c for c, n in zip(columns, nulls, strict=True) if n < m]
    if len(present) < len(columns):
        work = work.select(present)
    codes = _shape_codes(work, nullable)
    shapes, first = np.unique(codes, return_index=True)
    if len(shapes) > MAX_SHAPES:
        return _lines_by_column(work, names)

    def encoded(cols: list[str]) -> pl.Expr:
        return pl.struct([pl.col(c).alias(names[c]) for c in cols]).struct.json_encode()

    if len(shapes) == 1:
        return work.select(encoded(present).alias("line")).to_series()
    plan = work.lazy().with_columns(pl.Series(_SHAPE, codes), pl.Series(_ROW, np.arange(m, dtype=np.int64)))
    parts = []
    for shape, row in zip(shapes.tolist(), first.tolist(), strict=True):
        cols = [c for c in present if c not in nullable or work.get_column(c)[row] is not None]
        parts.append(plan.filter(pl.col(_SHAPE) == shape).select(_ROW, encoded(cols).alias("line")))
    out = pl.concat(parts).collect(engine="streaming")
    inverse = np.empty(m, dtype=np.int64)
    inverse[out.get_column(_ROW).to_numpy()] = np.arange(m, dtype=np.int64)
    return out.get_column("line").gather(inverse)


# ---- writing -----------------------------------------------------------------------------------


def parquet_metadata(infos: Sequence[Any] = ()) -> dict[str, str]:
    """The key-value metadata of an exported Parquet file, from the snapshot headers it was made
    of (``ttview.decode.SnapshotInfo``; empty: only the schema version)."""
    services = sorted({str(s.get("service", "")) for i in infos for s in i.sources} |
                      {i.service for i in infos})
    hosts = sorted({str(s.get("host", "")) for i in infos for s in i.sources if s.get("host")} |
                   {i.host for i in infos if i.host})
    pids = sorted({int(s.get("pid", 0)) for i in infos for s in i.sources} | {i.pid for i in infos})
    return {
        "ttview.schema_version": SCHEMA_VERSION,
        "ttview.services": ",".join(s for s in services if s),
        "ttview.hosts": ",".join(hosts),
        "ttview.pids": ",".join(str(p) for p in pids if p),
    }


_HIVE_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _hive_value(value: object) -> str:
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    text = str(value)
    return _HIVE_SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), text) or "%00"


def _partition_plan(lazy: pl.LazyFrame, partition_by: Sequence[str]) -> tuple[pl.LazyFrame, list[str]]:
    """``lazy`` with a column per partition key (``date`` added from ``ts``), and the key names."""
    schema = lazy.collect_schema()
    keys = []
    for key in partition_by:
        if key not in PARTITION_KEYS and key not in schema:
            raise ExportError(f"cannot partition by {key!r}; "
                              f"choose from {', '.join(PARTITION_KEYS)} or a column")
        if key == "date" and "date" not in schema:
            if "ts" not in schema:
                raise ExportError("partitioning by date needs the ts/time column")
            lazy = lazy.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.date().alias("date"))
        elif key not in schema:
            raise ExportError(f"cannot partition by {key!r}: the data has no such column")
        keys.append(key)
    return lazy, keys


def write_export(
    df: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    dest: str | os.PathLike[str] | IO[bytes],
    *,
    fmt: str,
    fields: Sequence[str] | None = None,
    for_terminal: bool = False,
    progress: Progress | None = None,
    total: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threads: int | None = None,
    time_unit: str = "ns",
    metadata: dict[str, str] | None = None,
    partition_by: Sequence[str] | None = None,
    schema: pl.Schema | None = None,
) -> int:
    """Write the events of ``df`` (a frame, a lazy source, or batches of events, each read as it
    is written) to ``dest`` (a path or a binary file; with ``partition_by``, a directory) as
    ``fmt``; returns the number of events written. ``schema``: the events' schema, for an export
    of batches that turn out to be none (a CSV header).

    ``fields`` restricts and orders the columns (export names). ``for_terminal`` replaces control
    characters in text. ``progress(done, total)`` is called after each batch (``total``: the
    events expected, when known). Text formats encode batches on ``threads`` worker threads while
    this one writes them in order. Raises :class:`ExportError` (unknown format, field or
    partition key) before anything is written, and OSError if writing fails.
    """
    if total is None and isinstance(df, pl.DataFrame):
        total = df.height
    expected = total or 0
    prep = functools.partial(prepare, fmt=fmt, fields=fields, for_terminal=for_terminal, time_unit=time_unit)
    if not isinstance(df, (pl.DataFrame, pl.LazyFrame)):  # batches of events, read as they are written
        _check_format(fmt)
        if fmt == "parquet" or partition_by:
            raise ExportError("Parquet is written from a frame or a lazy source, not from batches")
        batches = iter(df)
        first = next(batches, None)
        if first is None:
            return _write_text_to(dest, _schema_only(schema, fmt, fields, for_terminal), fmt, progress, 0,
                                  chunk_rows, threads)
        return _write_text_to(dest, _chain(first, batches), fmt, progress, expected, chunk_rows, threads,
                              prep=prep)
    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    if partition_by:
        if fmt != "parquet":
            raise ExportError("partitioned exports are Parquet datasets; use the parquet format")
        lazy, keys = _partition_plan(lazy, partition_by)
        plan = prepare(lazy, fmt=fmt, fields=fields, time_unit=time_unit,
                       extra={_KEY + k: pl.col(k) for k in keys})
        return _write_partitioned(plan, keys, Path(dest), metadata, progress, expected)  # type: ignore[arg-type]
    if fmt == "parquet":
        plan = prepare(lazy, fmt=fmt, fields=fields, for_terminal=for_terminal, time_unit=time_unit)
        return _write_parquet(plan, dest, metadata, progress, expected)
    if isinstance(df, pl.DataFrame):  # sliced here, each slice prepared and encoded by a worker
        prepare(df.head(0), fmt=fmt, fields=fields)  # an unknown field: raise before writing
        return _write_text_to(dest, df, fmt, progress, expected, chunk_rows, threads, prep=prep)
    plan = prepare(lazy, fmt=fmt, fields=fields, for_terminal=for_terminal, time_unit=time_unit)
    return _write_text_to(dest, plan, fmt, progress, expected, chunk_rows, threads)


def _chain(first: pl.DataFrame, rest: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    yield first
    yield from rest


def _schema_only(schema: pl.Schema | None, fmt: str, fields: Sequence[str] | None,
                 for_terminal: bool) -> pl.DataFrame:
    """A prepared zero-row frame (a CSV header for an export with no events)."""
    return prepare(pl.DataFrame(schema=schema or CORE_COLUMNS), fmt=fmt, fields=fields,
                   for_terminal=for_terminal)


def _write_text_to(dest: Any, plan: Any, fmt: str, progress: Progress | None, expected: int, chunk_rows: int,
                   threads: int | None, prep: Prep | None = None) -> int:
    fh, owned = (open(dest, "wb"), True) if isinstance(dest, (str, os.PathLike)) else (dest, False)  # noqa: SIM115
    try:
        return _write_text(plan, fh, fmt, progress, expected, chunk_rows, threads, prep)
    finally:
        if owned:
            fh.close()


def _counted(plan: pl.LazyFrame, progress: Progress | None, expected: int) -> tuple[pl.LazyFrame, list[int]]:
    """``plan`` passing its batches through a counter (``count[0]``), reporting progress."""
    count = [0]

    def tick(batch: pl.DataFrame) -> pl.DataFrame:
        count[0] += batch.height
        if progress:
            progress(count[0], max(expected, count[0]))
        return batch

    return plan.map_batches(tick, streamable=True), count


def _write_parquet(plan: pl.LazyFrame, dest: Any, metadata: dict[str, str] | None, progress: Progress | None,
                   expected: int) -> int:
    counted, count = _counted(plan, progress, expected)
    meta = dict(parquet_metadata()) | dict(metadata or {})
    counted.sink_parquet(dest, compression="zstd", statistics=True, metadata=meta)
    if hasattr(dest, "flush"):
        dest.flush()
    return count[0]


_KEY = "\x00key:"  # the partition columns' names while they travel beside the exported ones


def _write_partitioned(plan: pl.LazyFrame, keys: list[str], directory: Path, metadata: dict[str, str] | None,
                       progress: Progress | None, expected: int) -> int:
    """A hive-partitioned Parquet dataset in ``directory``: one file per partition per export,
    named after the host, the time, the pid and a random tag (so exports of many hosts, or many
    exports of one, can share a tree; an existing file is never overwritten)."""
    counted, count = _counted(plan, progress, expected)
    host = _HIVE_SAFE.sub("_", socket.gethostname())[:40] or "host"
    stamp = f"{host}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}-{os.urandom(3).hex()}"

    def path_of(args: Any) -> str:
        row = args.partition_keys.row(0, named=True)
        parts = [f"{k}={_hive_value(row[_KEY + k])}" for k in keys]
        return str(Path(*parts) / f"{stamp}-{args.index_in_partition}.parquet")

    meta = dict(parquet_metadata()) | dict(metadata or {})
    directory.mkdir(parents=True, exist_ok=True)
    counted.sink_parquet(
        pl.PartitionBy(directory, key=[_KEY + k for k in keys], include_key=False,
                       file_path_provider=path_of),
        compression="zstd", statistics=True, metadata=meta, mkdir=True)
    return count[0]


def _write_text(plan: Any, fh: IO[bytes], fmt: str, progress: Progress | None, expected: int,
                chunk_rows: int, threads: int | None, prep: Prep | None = None) -> int:
    """The events as text, batch by batch: each batch encoded on a worker thread (polars' JSON and
    CSV encoders release the GIL) while this one writes the previous ones in order; a batch is
    read only when a worker is free, so memory holds a few batches, whatever the export's size.
    ``plan`` is a prepared frame, lazy source, or an iterator of prepared batches; or, with
    ``prep``, of batches of events that ``prep`` prepares (on the worker, with the encoding)."""
    batches = _batches(plan, chunk_rows)
    first_batch = next(batches, None)
    schema = first_batch.schema if first_batch is not None else _schema_of(plan)
    if prep is not None:
        schema = prep(pl.DataFrame(schema=schema)).schema
    if fmt == "csv":
        fh.write(pl.DataFrame(schema=schema).write_csv().encode("utf-8"))
    elif fmt == "json":
        fh.write(b"[")
    workers = max(1, min(2, os.cpu_count() or 1) if threads is None else threads)
    done = 0
    first = True
    pending: deque[tuple[int, Future[bytes]]] = deque()

    def flush_one() -> None:
        nonlocal done, first
        rows, fut = pending.popleft()
        data = fut.result()
        if fmt == "json" and data:
            fh.write(b"\n" if first else b",\n")
            first = False
        fh.write(data)
        done += rows
        if progress:
            progress(done, max(expected, done))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        batch = first_batch
        while batch is not None:
            if batch.height:
                pending.append((batch.height, pool.submit(_encode, batch, fmt, prep)))
                if len(pending) > workers:
                    flush_one()
            batch = next(batches, None)
        while pending:
            flush_one()
    if fmt == "json":
        fh.write(b"\n]\n" if not first else b"]\n")
    fh.flush()
    return done


def _schema_of(plan: Any) -> pl.Schema:
    if isinstance(plan, pl.DataFrame):
        return plan.schema
    if isinstance(plan, pl.LazyFrame):
        return plan.collect_schema()
    return pl.Schema()


def _batches(plan: Any, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Batches of at most ``chunk_rows`` events from a frame, a lazy source or batches."""
    step = max(1, chunk_rows)
    if isinstance(plan, pl.DataFrame):
        for start in range(0, plan.height, step):
            yield plan.slice(start, step)
        return
    source = plan.collect_batches(chunk_size=step) if isinstance(plan, pl.LazyFrame) else plan
    for batch in source:
        for start in range(0, batch.height, step):
            yield batch.slice(start, step) if batch.height > step else batch


def _encode(batch: pl.DataFrame, fmt: str, prep: Prep | None = None) -> bytes:
    """A batch (prepared by ``prep`` first, if given) as text, built by polars (the GIL released)
    rather than joined in Python."""
    if prep is not None:
        batch = prep(batch)
    buf = io.BytesIO()
    if fmt == "csv":
        batch.write_csv(buf, include_header=False)
        return buf.getvalue()
    lines = json_lines(batch)
    if fmt == "json":
        return lines.str.join(",\n").item().encode("utf-8")
    lines.to_frame().write_csv(buf, include_header=False, quote_style="never")  # a line each, as is
    return buf.getvalue()
