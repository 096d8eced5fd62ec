"""Exports of an event frame: JSON, NDJSON, CSV and Parquet, written column-wise by polars.

Used by ``ttview export`` and by the TUI's export action::

    from ttview.export import write_export
    rows = write_export(frame, "events.ndjson", fmt="ndjson")

Exported columns (the same names in every format; see :data:`CORE_EXPORT_COLUMNS`):

========== ======================================================= ==============================
name       text formats (JSON, NDJSON, CSV)                        Parquet
========== ======================================================= ==============================
time       ISO-8601 UTC with nanoseconds: 2026-11-20T14:30:00.1Z   TIMESTAMP(MICROS, UTC)
ts_ns      integer nanoseconds since the Unix epoch (exact)        INT64
level      level name (``TRADE``; a number with no name: its text) STRING
level_no   level number (``22``)                                   INT32
logger, message, service                                           STRING
pid, tid, seq                                                      INT64
cut        columns cut at the ring's size limit (JSON array;       LIST<STRING>
           CSV: names joined by ``,``); absent/empty when none
<field>    one per field key, typed as loaded (Int64, Float64,     as loaded
           Boolean, String; bytes as base64 text)                  (bytes: BINARY)
========== ======================================================= ==============================

Parquet's ``time`` is microseconds because that is the timestamp every reader takes natively
(Spark refuses TIMESTAMP(NANOS)); ``ts_ns`` carries the exact nanoseconds in every format.
A field whose key equals an export column name is exported as ``field.<key>``.

JSON and NDJSON leave out a key whose value is null, so an event carries exactly the fields it
logged (a float field holding NaN or ±infinity, which JSON cannot spell, is written as null). JSON
is one array with an event per line; NDJSON is one event per line. CSV has every column, empty
where null.

Invariants: headless (no textual, rich or typer); no Python code runs per event: lines are built
by polars expressions on groups of events that share a key set; the input frame is never
mutated; output for a terminal (``for_terminal=True``) has control characters replaced, so logged
text can never drive the terminal.
"""

from __future__ import annotations

import io
import json
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np
import polars as pl

from ttview.schema import LEVEL_NAMES

__all__ = [
    "CORE_EXPORT_COLUMNS",
    "FORMATS",
    "ISO_FORMAT",
    "ExportError",
    "export_columns",
    "json_lines",
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

DEFAULT_CHUNK_ROWS = 1 << 17
"""Events encoded and written per step (progress is reported per step)."""

MAX_SHAPES = 64
"""Distinct key sets in one chunk above which lines are built per column instead of per key set."""

_FIELD_PREFIX = "field."
_SHAPE, _ROW = "\x00shape", "\x00row"  # helper columns; no export column can be named so
_FRAME_CORE = ("ts", "seq", "level", "logger", "message", "service", "pid", "tid", "cut")
# Characters that must never reach a terminal: the one policy of ttview.textsafe (tab and LF kept).
from ttview.textsafe import TERMINAL_UNSAFE_REGEX as _TERMINAL_UNSAFE  # noqa: E402

Progress = Callable[[int, int], None]
"""``progress(rows_written, rows_total)``, called after each chunk."""


class ExportError(ValueError):
    """An export that cannot be made (unknown format or field); the message is one line."""


# ---- columns -----------------------------------------------------------------------------------


def _field_names(columns: Sequence[str]) -> dict[str, str]:
    """Frame field column -> export name (``field.<name>`` when it collides with an export column)."""
    taken = set(CORE_EXPORT_COLUMNS)
    out: dict[str, str] = {}
    for name in columns:
        if name in _FRAME_CORE:
            continue
        export = name
        while export in taken:
            export = _FIELD_PREFIX + export
        taken.add(export)
        out[name] = export
    return out


def export_columns(columns: Sequence[str] | pl.Schema | pl.DataFrame) -> list[str]:
    """The export column names for a frame with ``columns`` (core ones the frame has, then fields)."""
    names = list(columns.columns if isinstance(columns, pl.DataFrame) else columns)
    present = set(names)
    core = [c for c in CORE_EXPORT_COLUMNS if _frame_source(c) in present]
    return core + list(_field_names(names).values())


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


def prepare(
    df: pl.DataFrame, *, fmt: str, fields: Sequence[str] | None = None, for_terminal: bool = False
) -> pl.DataFrame:
    """The frame as it is exported in ``fmt``: the export columns (see the module docstring), typed
    for the format, restricted to ``fields`` (export names, in that order) if given.

    Raises :class:`ExportError` for an unknown format or field.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    text = fmt != "parquet"
    renames = _field_names(df.columns)
    exprs: dict[str, pl.Expr] = {}
    schema = df.schema
    if "ts" in schema:
        ts = pl.col("ts")
        if text:
            exprs["time"] = ts.dt.to_string(ISO_FORMAT)
        else:
            exprs["time"] = ts.dt.cast_time_unit("us")
        exprs["ts_ns"] = ts.dt.epoch("ns")
    if "level" in schema:
        lv = pl.col("level")
        exprs["level"] = lv.replace_strict(LEVEL_NAMES, default=lv.cast(pl.String), return_dtype=pl.String)
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
    for name, export in renames.items():
        col = pl.col(name)
        if text and schema[name] == pl.Binary:
            col = col.bin.encode("base64")
        exprs[export] = col
    order = _select_fields(list(exprs), fields)
    plan = df.lazy().select([exprs[name].alias(name) for name in order])
    if for_terminal and text:
        plan = plan.with_columns(pl.col(pl.String).str.replace_all(_TERMINAL_UNSAFE, "\ufffd"))
    return plan.collect(engine="streaming")


# ---- JSON lines --------------------------------------------------------------------------------


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


def _encode_rows(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    return frame.select(pl.struct(columns).struct.json_encode().alias("line")).to_series()


def _lines_by_column(frame: pl.DataFrame) -> pl.Series:
    """One JSON object per row, null keys left out, built column by column (any number of key sets)."""
    parts = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        encoded = pl.struct(col.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
        if dtype.is_float():
            encoded = pl.when(col.is_finite()).then(encoded).otherwise(pl.lit("null"))
        parts.append(pl.when(col.is_not_null()).then(pl.lit(json.dumps(name) + ":") + encoded))
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return frame.select((pl.lit("{") + body + pl.lit("}")).alias("line")).to_series()


def json_lines(frame: pl.DataFrame) -> pl.Series:
    """One JSON object per row of a prepared frame (see :func:`prepare`), keys whose value is null
    left out; row order kept.

    Rows are grouped by which columns hold a value; each group is encoded by polars with just its
    columns (all groups in one streaming query, so on every core), and the lines are put back in
    row order with one gather.
    """
    m = frame.height
    if m == 0 or frame.width == 0:
        return pl.Series("line", ["{}"] * m, dtype=pl.String)
    nulls = frame.null_count().row(0)
    columns = frame.columns
    nullable = [c for c, n in zip(columns, nulls, strict=True) if 0 < n < m]
    present = [c for c, n in zip(columns, nulls, strict=True) if n < m]
    codes = _shape_codes(frame, nullable)
    shapes, first = np.unique(codes, return_index=True)
    if len(shapes) > MAX_SHAPES:
        return _lines_by_column(frame.select(present))
    if len(shapes) == 1:
        return _encode_rows(frame.select(present), present)
    plan = frame.lazy().with_columns(pl.Series(_SHAPE, codes), pl.Series(_ROW, np.arange(m, dtype=np.int64)))
    parts = []
    for shape, row in zip(shapes.tolist(), first.tolist(), strict=True):
        cols = [c for c in present if c not in nullable or frame.get_column(c)[row] is not None]
        parts.append(plan.filter(pl.col(_SHAPE) == shape).select(_ROW, pl.struct(cols).struct.json_encode()))
    out = pl.concat(parts).collect(engine="streaming")
    inverse = np.empty(m, dtype=np.int64)
    inverse[out.get_column(_ROW).to_numpy()] = np.arange(m, dtype=np.int64)
    return out.to_series(1).gather(inverse).alias("line")


# ---- writing -----------------------------------------------------------------------------------


def _open_dest(dest: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    if isinstance(dest, (str, os.PathLike)):
        return open(dest, "wb"), True  # noqa: SIM115 - closed by the caller
    return dest, False


def _encode_chunk(
    df: pl.DataFrame, *, fmt: str, fields: Sequence[str] | None, for_terminal: bool, last: bool
) -> pl.DataFrame:
    """A chunk of events, prepared and, for JSON and NDJSON, turned into one ``line`` column (JSON:
    each line but the very last of the export ends with a comma)."""
    frame = prepare(df, fmt=fmt, fields=fields, for_terminal=for_terminal)
    if fmt == "csv":
        return frame
    lines = json_lines(frame).to_frame()
    if fmt == "json":
        line = pl.col("line")
        final = pl.int_range(pl.len()) == pl.len() - 1 if last else pl.lit(False)
        lines = lines.select(pl.when(final).then(line).otherwise(line + ",").alias("line"))
    return lines


def write_export(
    df: pl.DataFrame,
    dest: str | os.PathLike[str] | IO[bytes],
    *,
    fmt: str,
    fields: Sequence[str] | None = None,
    for_terminal: bool = False,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threads: int | None = None,
) -> int:
    """Write ``df`` (an event frame) to ``dest`` (a path or a binary file) as ``fmt``; returns the
    number of events written.

    ``fields`` restricts and orders the columns (export names). ``for_terminal`` replaces control
    characters in text (for output shown on a terminal). ``progress(done, total)`` is called after
    each chunk of ``chunk_rows`` events. Text formats encode chunks on ``threads`` worker threads
    (default: the CPU count, at most 4) while the calling thread writes them in order. Raises
    :class:`ExportError` (unknown format or field) before anything is written, and OSError if
    writing fails.
    """
    prepare(df.head(0), fmt=fmt, fields=fields)  # unknown format or field: raise before writing
    total = df.height
    fh, owned = _open_dest(dest)
    try:
        if fmt == "parquet":
            _write_parquet(prepare(df, fmt=fmt, fields=fields), fh)
            if progress:
                progress(total, total)
            return total
        if fmt == "csv":
            prepare(df.head(0), fmt=fmt, fields=fields).write_csv(fh)
        elif fmt == "json":
            fh.write(b"[\n" if total else b"[]\n")
        step = max(1, chunk_rows)
        starts = range(0, total, step)
        workers = max(1, min(4, os.cpu_count() or 1) if threads is None else threads)
        done = 0
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[pl.DataFrame]] = deque()
            for start in starts:
                chunk = df.slice(start, step)
                last = start + step >= total
                pending.append(
                    pool.submit(
                        _encode_chunk, chunk, fmt=fmt, fields=fields, for_terminal=for_terminal, last=last
                    )
                )
                if len(pending) > workers:
                    done = _write_chunk(fh, pending.popleft().result(), fmt, done, total, progress)
            while pending:
                done = _write_chunk(fh, pending.popleft().result(), fmt, done, total, progress)
        if fmt == "json" and total:
            fh.write(b"]\n")
        fh.flush()
    finally:
        if owned:
            fh.close()
    return total


def _write_chunk(
    fh: IO[bytes], chunk: pl.DataFrame, fmt: str, done: int, total: int, progress: Progress | None
) -> int:
    if fmt == "csv":
        chunk.write_csv(fh, include_header=False)
    else:  # lines of JSON, written as they are
        chunk.write_csv(fh, include_header=False, quote_style="never")
    done += chunk.height
    if progress:
        progress(done, total)
    return done


def _write_parquet(frame: pl.DataFrame, fh: IO[bytes]) -> None:
    try:
        fh.fileno()
        direct = fh.seekable()
    except (AttributeError, OSError, ValueError):
        direct = False
    if direct:  # a real file: polars writes it itself
        frame.write_parquet(fh, compression="zstd", statistics=True)
        return
    buf = io.BytesIO()  # pipes and in-memory streams get the finished file in one write
    frame.write_parquet(buf, compression="zstd", statistics=True)
    fh.write(buf.getbuffer())
