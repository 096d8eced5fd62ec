"""The ``ttview`` command line: thin typer commands over the headless core.

Every command parses its options, then hands off to keyword-only functions in ``ttview.sources``,
``ttview.query``, ``ttview.stats``, ``ttview.export``, ``ttview.lsinfo`` or ``engine``; this module
only turns their results into terminal output.

Exit codes (the same for every command; each command's ``--help`` says which apply):

- 0: success.
- 1: nothing matched where that matters: ``export``/``stats`` whose events (after ``--filter``)
  are none, ``hist`` with no value of the field, ``snapshot`` with no matching live ring or no
  sidecar; the output is still well formed (an empty JSON array, a CSV header, an empty table).
- 2: bad input: a missing path, an unreadable, corrupt or truncated snapshot, a bad filter, an
  unknown or non-numeric field, a bad option value, an unwritable output. One line on stderr
  names the problem; never a traceback.
- 141: stdout was closed early (``ttview export ... | head``); nothing is printed, as with SIGPIPE.

Output: tables and charts go to stdout, errors and progress to stderr. Colour and progress bars
appear only on a terminal (``NO_COLOR`` is honoured); text that came from the logs is shown with
control characters escaped and is never read as Rich markup.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from ttview.lsinfo import RingRow, SnapshotRow
    from ttview.sources import LoadResult

__all__ = ["app", "main", "visible"]

# ---- errors and terminal safety ----------------------------------------------------------------

# click's exceptions, whichever copy of click this typer uses (typer vendors click since 0.26)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def visible(text: object) -> str:
    """``text`` with every character that could drive a terminal (C0/C1 controls, DEL, bidi and
    other format characters, line separators) shown as an escape: ``\\x1b``, ``\\n``, ``\\u202e``."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in s
    )


def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class _PipeConsole(Console):
    """A console whose closed stdout raises BrokenPipeError (rich would exit 1 by itself)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def _out_console() -> Console:
    return _PipeConsole(highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr (``ttview: error: ...``), then exit with ``code``."""
    _err_console().print(Text.assemble(("ttview: error: ", "bold red"), visible(message).replace("\\n", " ")))
    raise typer.Exit(code)


def note(message: str, style: str = "yellow") -> None:
    """One line on stderr (a warning or a remark), never markup."""
    _err_console().print(Text.assemble(("ttview: ", style), visible(message)))


EXIT_PIPE_CLOSED = 141
"""The reader of stdout went away (``ttview export ... | head``): exit quietly, as SIGPIPE would."""


def _is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and (exc.errno == errno.EPIPE or "Broken pipe" in str(exc))
    )


class _OneLineErrors(TyperGroup):
    """Usage errors (bad option value, missing argument, unknown command) as one stderr line; a
    closed stdout pipe ends the command quietly with :data:`EXIT_PIPE_CLOSED`."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if not _is_broken_pipe(exc):
                raise
            try:  # nothing more can be written; stop Python's exit-time flush from complaining
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            raise typer.Exit(EXIT_PIPE_CLOSED) from None

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = exc.format_message()  # type: ignore[attr-defined]
            _err_console().print(
                Text.assemble(("ttview: error: ", "bold red"), visible(" ".join(message.split())) + where)
            )
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="ttview",
    cls=_OneLineErrors,
    help="Look at what the ttview logging engine wrote: live rings and snapshot files.\n\n"
    "With no command, opens the viewer on the live rings of the default shared-memory directory "
    "if a producer runs there, else on the newest snapshots of the default snapshot directory, "
    "else on the bundled sample snapshots.\n\n"
    "Exit codes: 0 success; 1 nothing matched (no events after --filter, no live ring); "
    "2 bad input (missing or corrupt file, bad filter, unknown field), with one line on stderr.",
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

# ---- shared options ----------------------------------------------------------------------------

SnapshotPaths = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Snapshot files, directories (every *.ttsnap inside) or globs; merged by time "
        "[default: the newest snapshots in the snapshot directory, else the bundled samples].",
        show_default=False,
        metavar="PATH",
    ),
]
RequiredSnapshotPaths = Annotated[
    list[Path],
    typer.Argument(
        help="Snapshot files, directories (every *.ttsnap inside) or globs; merged by time.",
        show_default=False,
        metavar="PATH",
    ),
]
FilterOption = Annotated[
    str,
    typer.Option(
        "--filter",
        "-f",
        metavar="EXPR",
        show_default=False,
        help="Keep only events matching EXPR, e.g. 'level >= WARN and latency_us > 250' "
        "(the filter language: docs/FILTER.md).",
    ),
]
ShmDirOption = Annotated[
    Path | None,
    typer.Option(
        "--shm-dir",
        metavar="DIR",
        show_default=False,
        help="Directory of the rings [default: $TTLOG_SHM_DIR or /dev/shm].",
    ),
]
SnapshotDirOption = Annotated[
    Path | None,
    typer.Option(
        "--snapshot-dir",
        metavar="DIR",
        show_default=False,
        help="Directory of the snapshots [default: $TTLOG_SNAPSHOT_DIR or ~/.local/share/ttview/snapshots].",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
ServiceArgument = Annotated[
    str | None,
    typer.Argument(help="Only the rings of this service [default: every service].", show_default=False),
]


def _version(value: bool) -> None:
    if value:
        from ttview import __version__

        typer.echo(f"ttview {__version__}")
        raise typer.Exit()


# ---- loading -----------------------------------------------------------------------------------


def _compile(filter_text: str) -> Any:
    """The compiled filter, or exit 2 with the error and its position."""
    from ttview.query import QueryError, compile_filter

    try:
        return compile_filter(filter_text)
    except QueryError as exc:
        _bad_filter(filter_text, exc)


def _bad_filter(text: str, exc: Any) -> NoReturn:
    pos = max(0, min(exc.position, len(text)))
    near = text[pos : pos + 24]
    where = f"near {near!r}" if near.strip() else "at the end"
    fail(f"bad filter at column {pos + 1}: {exc.message} ({where})")


def _load(paths: list[Path] | None, filter_text: str) -> tuple[LoadResult, pl.DataFrame]:
    """Load every snapshot named by ``paths`` (default: see lsinfo.default_snapshots) and apply the
    filter; exit 2 on any bad input."""
    from ttview.query import QueryError, apply_filter
    from ttview.sources import load_snapshots, resolve_paths

    flt = _compile(filter_text)
    if not paths:
        from ttview.lsinfo import default_snapshots

        source = default_snapshots()
        paths = list(source.paths)
        if _err_console().is_terminal:
            note(f"reading {source.describe()}", style="dim")
    files, errors = resolve_paths(paths)
    if errors:
        fail(errors[0].message)
    if not files:
        fail("no snapshot files given")
    err = _err_console()
    if err.is_terminal and len(files) > 1:
        with err.status(f"loading {len(files)} snapshot files…"):
            result = load_snapshots(files)
    else:
        result = load_snapshots(files)
    if result.errors:
        fail(result.errors[0].message)
    try:
        bound = flt.bind(result.frame.schema)
        frame = apply_filter(result.frame, bound)
    except QueryError as exc:
        _bad_filter(filter_text, exc)
    for warning in bound.warnings:
        note(f"warning: {warning}")
    return result, frame


def _need_column(frame: pl.DataFrame, name: str, option: str, *, numeric: bool = False) -> None:
    from difflib import get_close_matches

    from ttview.schema import is_numeric_dtype

    if name not in frame.columns:
        hint = get_close_matches(name, frame.columns, n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        fail(f"{option}: no field {name!r} in the data{more}")
    if numeric and not is_numeric_dtype(frame.schema[name]):
        fail(f"{option}: field {name!r} holds {frame.schema[name]}, not numbers")


# ---- formatting --------------------------------------------------------------------------------


def _num(value: object) -> str:
    """A statistic for a table: thousands separators, about four significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        a = abs(value)
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 1 or a == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return visible(value)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _utc(ns: int | None, *, date: bool = True) -> str:
    if ns is None:
        return "-"
    dt = datetime.datetime.fromtimestamp(ns // 10**9, tz=datetime.timezone.utc)
    ms = (ns % 10**9) // 10**6
    return dt.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S") + f".{ms:03d}"


def _span(first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return "-"
    s = (last - first) / 1e9
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def _cell(value: object) -> Text:
    return Text(visible(value) if value is not None else "-")


# Characters JSON may carry raw but a terminal must not see: DEL, C1, invisible and bidi controls.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _print_json(obj: object) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
    text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _json_default(value: object) -> object:
    if isinstance(value, float):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _clean_floats(obj: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_floats(v) for v in obj]
    return obj


def _range_line(frame: pl.DataFrame) -> str:
    if frame.height == 0 or "ts" not in frame.columns:
        return ""
    import polars as pl

    lo, hi = frame.select(
        pl.col("ts").min().dt.epoch("ns"), pl.col("ts").max().dt.epoch("ns").alias("hi")
    ).row(0)
    return f"{_utc(lo)} → {_utc(hi)} UTC ({_span(lo, hi)})"


# ---- the viewer --------------------------------------------------------------------------------


def _require_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail(
            "the viewer needs a terminal (stdin and stdout are not one); "
            "for scripts use 'ttview export', 'ttview stats' or 'ttview hist'"
        )


def _run_viewer(**kwargs: Any) -> NoReturn:
    _require_terminal()
    try:
        from ttview.app import make_app
    except ImportError as exc:
        fail(f"cannot start the viewer: {exc}", code=1)
    viewer = make_app(**kwargs)
    viewer.run()
    raise typer.Exit(int(getattr(viewer, "return_code", 0) or 0))


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from ttview.lsinfo import default_source

    source = default_source()
    _require_terminal()
    if source.kind == "live":
        _run_viewer(live=True, shm_dir=str(source.shm_dir))
    _run_viewer(paths=[str(p) for p in source.paths])


@app.command("open")
def open_(paths: RequiredSnapshotPaths, filter_text: FilterOption = "") -> None:
    """Open snapshot files in the viewer (several are merged by time).

    Exit codes: 2 for a missing path or a bad filter.
    """
    from ttview.sources import resolve_paths

    _compile(filter_text)
    files, errors = resolve_paths(paths)
    if errors:
        fail(errors[0].message)
    _run_viewer(paths=[str(p) for p in files], filter_text=filter_text)


@app.command()
def tail(
    service: ServiceArgument = None,
    shm_dir: ShmDirOption = None,
    filter_text: FilterOption = "",
    max_events: Annotated[
        int, typer.Option("--max-events", min=1, help="Events kept in memory while live.")
    ] = 200_000,
) -> None:
    """Follow the live rings in the viewer (read-only: never disturbs the producer or the sidecar).

    Exit codes: 2 for a missing --shm-dir or a bad filter.
    """
    _compile(filter_text)
    if shm_dir is not None and not shm_dir.is_dir():
        fail(f"{shm_dir}: no such directory")
    _run_viewer(
        live=True,
        shm_dir=str(shm_dir) if shm_dir else None,
        service=service,
        max_live_events=max_events,
        filter_text=filter_text,
    )


# ---- export ------------------------------------------------------------------------------------


class ExportFormat(str, Enum):
    """The ``--format`` choices of ``ttview export``."""

    json = "json"
    ndjson = "ndjson"
    csv = "csv"
    parquet = "parquet"


class Overflow(str, Enum):
    """What a full ring does (``ttview demo --overflow``)."""

    drop = "drop"
    overwrite = "overwrite"


class _Output:
    """Where an export goes: stdout, or a file written under a temporary name then renamed."""

    def __init__(self, target: str | None) -> None:
        self.path: Path | None = None if target in (None, "-") else Path(str(target))
        self.tmp: Path | None = None
        self.fh: Any = None
        if self.path is None:
            return
        if self.path.is_dir():
            fail(f"cannot write {self.path}: it is a directory")
        directory = self.path.parent
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            fail(f"cannot write {self.path}: {exc.strerror or exc}")
        self.tmp = Path(name)
        self.fh = os.fdopen(fd, "wb")

    @property
    def is_terminal(self) -> bool:
        return self.path is None and sys.stdout.isatty()

    def stream(self) -> Any:
        if self.fh is not None:
            return self.fh
        sys.stdout.flush()
        return sys.stdout.buffer

    def commit(self) -> None:
        if self.fh is None or self.tmp is None or self.path is None:
            sys.stdout.flush()
            return
        self.fh.close()
        try:
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            fail(f"cannot write {self.path}: {exc.strerror or exc}")

    def discard(self) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.close()
        if self.tmp is not None:
            try:
                self.tmp.unlink()
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@app.command()
def export(
    paths: SnapshotPaths = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-F",
            case_sensitive=False,
            help="json (one array), ndjson (one event per line), csv (fields as columns) or parquet (typed).",
        ),
    ] = ExportFormat.ndjson,
    filter_text: FilterOption = "",
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="A,B,...",
            show_default=False,
            help="Only these columns, in this order (names as exported: time, "
            "ts_ns, level, level_no, logger, message, ..., field keys).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|-",
            show_default=False,
            help="Write to FILE (atomically) instead of stdout.",
        ),
    ] = None,
) -> None:
    """Export events as JSON, NDJSON, CSV or Parquet.

    Columns: **time** (ISO-8601 UTC with nanoseconds; Parquet: a UTC timestamp in
    microseconds), **ts_ns** (integer nanoseconds since the epoch, exact), **level**
    (name), **level_no**, logger, message, service, pid, tid, seq, cut, then one column per
    field. JSON and NDJSON leave out keys whose value is null.

    Exit codes: 1 if no event matched (the output is still valid: [], a CSV header, an empty
    Parquet file); 2 for a missing or corrupt snapshot, a bad filter, an unknown --fields name,
    a bad --format or an unwritable -o.
    """
    from ttview.export import ExportError, prepare, write_export

    fmt = ExportFormat(fmt).value
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    out = _Output(output)
    err = _err_console()
    try:
        if out.is_terminal and fmt == "parquet":
            fail("refusing to write Parquet to a terminal; use -o FILE or a pipe")
        result, frame = _load(paths, filter_text)
        try:
            prepare(frame.head(0), fmt=fmt, fields=wanted)
        except ExportError as exc:
            fail(str(exc))
        show_progress = out.path is not None and err.is_terminal and frame.height > 0
        try:
            if show_progress:
                rows = _export_with_progress(frame, out.stream(), fmt=fmt, fields=wanted, console=err)
            else:
                rows = write_export(frame, out.stream(), fmt=fmt, fields=wanted, for_terminal=out.is_terminal)
        except OSError as exc:
            if out.path is None and _is_broken_pipe(exc):
                raise
            fail(f"cannot write {out.path or 'stdout'}: {exc.strerror or exc}")
        out.commit()
    finally:
        out.discard()
    if out.path is not None and err.is_terminal:
        note(f"wrote {rows:,} events to {out.path} ({_size(out.path.stat().st_size)})", style="green")
    if rows == 0:
        note("no events matched")
        raise typer.Exit(1)


def _export_with_progress(
    frame: pl.DataFrame, stream: Any, *, fmt: str, fields: list[str] | None, console: Console
) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ttview.export import write_export

    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("export", total=frame.height)
        return write_export(
            frame,
            stream,
            fmt=fmt,
            fields=fields,
            progress=lambda done, total: progress.update(task, completed=done),
        )


# ---- stats -------------------------------------------------------------------------------------


@app.command()
def stats(
    paths: SnapshotPaths = None,
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by", "-g", metavar="COLUMN", help="Group by logger, level, service or any field."
        ),
    ] = "logger",
    field: Annotated[
        str | None,
        typer.Option(
            "--field",
            metavar="FIELD",
            show_default=False,
            help="Numeric field for the percentiles [default: latency_us when the data has it].",
        ),
    ] = None,
    filter_text: FilterOption = "",
    sort: Annotated[
        str,
        typer.Option(
            "--sort", metavar="COLUMN", help="Sort by count, rate, p50, p90, p99, p99.9, max or the group."
        ),
    ] = "count",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            show_default=False,
            help="Show at most N groups (0: all) [default: 50 in the table, all with --json].",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Count, rate and p50/p90/p99/p99.9/max of a field per group.

    Rate is a group's events per second over the whole time span of the (filtered) events.
    Percentiles interpolate linearly between closest ranks.

    Exit codes: 1 if no event matched; 2 for a missing or corrupt snapshot, a bad filter, or an
    unknown or non-numeric --field / --group-by.
    """
    from ttview.schema import is_numeric_dtype
    from ttview.stats import group_stats

    result, frame = _load(paths, filter_text)
    _need_column(frame, group_by, "--group-by")
    if field is not None:
        _need_column(frame, field, "--field", numeric=True)
    elif "latency_us" in frame.columns and is_numeric_dtype(frame.schema["latency_us"]):
        field = "latency_us"
    sort_key = {"group": group_by, "p999": "p99.9"}.get(sort, sort)
    try:
        groups = group_stats(frame, by=group_by, field=field, sort=sort_key)
        total = group_stats(frame, by=None, field=field)
    except ValueError as exc:
        fail(f"--sort: {exc}")
    shown = groups if limit == 0 or (limit is None and as_json) else groups.head(limit or 50)
    if as_json:
        _print_json(
            _clean_floats(
                {
                    "files": [str(p) for p in result.files],
                    "events": frame.height,
                    "group_by": group_by,
                    "field": field,
                    "sort": sort_key,
                    "groups": shown.to_dicts(),
                    "more_groups": groups.height - shown.height,
                    "total": total.to_dicts()[0] if total.height else None,
                }
            )
        )
    else:
        _print_stats(
            frame,
            shown,
            total,
            group_by=group_by,
            field=field,
            files=len(result.files),
            more=groups.height - shown.height,
        )
    if frame.height == 0:
        note("no events matched")
        raise typer.Exit(1)


def _print_stats(
    frame: pl.DataFrame,
    groups: pl.DataFrame,
    total: pl.DataFrame,
    *,
    group_by: str,
    field: str | None,
    files: int,
    more: int,
) -> None:
    console = _out_console()
    what = f"{field} by {group_by}" if field else f"events by {group_by}"
    console.print(
        Text(visible(f"{what}: {frame.height:,} events in {files} file{'s' if files != 1 else ''}"))
    )
    if frame.height:
        console.print(Text(_range_line(frame)))
    table = Table(
        show_footer=total.height > 0,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    stat_cols = ["p50", "p90", "p99", "p99.9", "max"] if field else []
    totals = total.to_dicts()[0] if total.height else {}
    names = [visible(v) if v is not None else "(none)" for v in groups[group_by].to_list()]
    wide = min(32, max([len(group_by), 3, *(len(n) for n in names)]))
    table.add_column(
        Text(visible(group_by)), footer=Text("all"), no_wrap=True, overflow="ellipsis", min_width=wide
    )
    for name, label in (("count", "count"), ("share", "share"), ("rate", "rate/s")):
        table.add_column(label, justify="right", footer=_stat_text(name, totals.get(name)))
    for name in stat_cols:
        table.add_column(name, justify="right", footer=_stat_text(name, totals.get(name)))
    for name, row in zip(names, groups.iter_rows(named=True), strict=True):
        cells = [Text(name)]
        cells += [_stat_text(name, row[name]) for name in ("count", "share", "rate", *stat_cols)]
        table.add_row(*cells)
    console.print(table)
    if more:
        console.print(Text(f"… {more:,} more groups not shown (--limit 0 shows all)"))


def _stat_text(name: str, value: object) -> Text:
    if value is None:
        return Text("-")
    if name == "share":
        return Text(f"{float(value):.1%}")  # type: ignore[arg-type]
    if name == "rate":
        return Text(f"{float(value):,.1f}")  # type: ignore[arg-type]
    return Text(_num(value))


# ---- hist --------------------------------------------------------------------------------------


@app.command()
def hist(
    paths: SnapshotPaths = None,
    field: Annotated[
        str, typer.Option("--field", metavar="FIELD", help="Numeric field to bin.")
    ] = "latency_us",
    bins: Annotated[int, typer.Option("--bins", min=1, max=1000, help="Number of bins.")] = 40,
    log: Annotated[
        bool, typer.Option("--log", help="Bins evenly spaced in log (values <= 0 are counted apart).")
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="COLUMN",
            show_default=False,
            help="One series per value of COLUMN (the 8 largest).",
        ),
    ] = None,
    filter_text: FilterOption = "",
    width: Annotated[
        int | None,
        typer.Option("--width", min=30, show_default=False, help="Chart width [default: the terminal's]."),
    ] = None,
    height: Annotated[int, typer.Option("--height", min=8, help="Chart height in lines.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """A histogram of a numeric field in the terminal, with p50/p99/p99.9 listed.

    Exit codes: 1 if no event has a value of the field; 2 for a missing or corrupt snapshot, a bad
    filter, or an unknown or non-numeric --field / --by.
    """
    from ttview.stats import histogram

    result, frame = _load(paths, filter_text)
    _need_column(frame, field, "--field", numeric=True)
    if by is not None:
        _need_column(frame, by, "--by")
    try:
        h = histogram(frame, field=field, bins=bins, log=log, by=by)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        _print_json(
            _clean_floats(
                {
                    "files": [str(p) for p in result.files],
                    "events": frame.height,
                    "field": h.field,
                    "log": h.log,
                    "by": h.by,
                    "edges": list(h.edges),
                    "series": [dataclasses.asdict(s) for s in h.series],
                    "omitted_groups": h.omitted_groups,
                    "omitted_values": h.omitted_values,
                }
            )
        )
    else:
        _print_hist(h, frame, width=width, height=height)
    if h.total == 0:
        note(f"no values of {field!r} matched")
        raise typer.Exit(1)


_MARKERS = ("hd", "dot", "x", "+", "o", "*", "#", "@")


def _print_hist(h: Any, frame: pl.DataFrame, *, width: int | None, height: int) -> None:
    import math

    import plotext as plt

    console = _out_console()
    color = console.is_terminal and not console.no_color
    w = width or max(40, min(console.width, 160))
    edges = list(h.edges)
    xs = [
        math.log10(edges[i]) + (math.log10(edges[i + 1]) - math.log10(edges[i])) / 2
        if h.log
        else (edges[i] + edges[i + 1]) / 2
        for i in range(h.bins)
    ]
    plt.clf()
    plt.theme("pro" if color else "clear")
    plt.plotsize(w, height)
    kind = "log" if h.log else "linear"
    plt.title(visible(f"{h.field}: {h.total:,} values, {h.bins} {kind} bins"))
    plotted = [s for s in h.series if s.count] or list(h.series[:1])
    if len(plotted) == 1:
        plt.bar(xs, list(plotted[0].counts), width=1.0, marker=None if color else "sd")
    else:
        for i, s in enumerate(plotted):
            plt.plot(xs, list(s.counts), label=visible(s.name)[:30], marker=_MARKERS[i % len(_MARKERS)])
    ticks = _ticks(edges, log=h.log)
    plt.xticks([math.log10(t) if h.log else t for t in ticks], [_tick_label(t) for t in ticks])
    if len(plotted) == 1 and plotted[0].count:
        s = plotted[0]
        for value in (s.p50, s.p99, s.p999):
            if value is not None and (value > 0 or not h.log):
                plt.vline(math.log10(value) if h.log else value, "red" if color else "default")
    chart = plt.build()
    plt.clf()
    if not color:
        chart = plt.uncolorize(chart)
    if h.total:
        sys.stdout.write("\n".join(line.rstrip() for line in chart.splitlines()) + "\n")
    else:
        sys.stdout.write(visible(f"{h.field}: no values to draw") + "\n")
    sys.stdout.flush()
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column(Text(visible(h.by or "series")))
    for name in ("values", "no value", "min", "mean", "p50", "p99", "p99.9", "max"):
        table.add_column(name, justify="right")
    if h.log:
        table.add_column("<= 0", justify="right")
    for s in h.series:
        cells = [_cell(s.name), Text(f"{s.count:,}"), Text(f"{s.nulls:,}")]
        cells += [Text(_num(v)) for v in (s.min, s.mean, s.p50, s.p99, s.p999, s.max)]
        if h.log:
            cells.append(Text(f"{s.nonpositive:,}"))
        table.add_row(*cells)
    console.print(table)
    if h.omitted_groups:
        console.print(Text(f"… {h.omitted_groups:,} more groups ({h.omitted_values:,} values) not shown"))


def _ticks(edges: list[float], *, log: bool, count: int = 6) -> list[float]:
    lo, hi = edges[0], edges[-1]
    if log:
        import math

        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        decades = [10.0**k for k in range(a, b + 1) if lo <= 10.0**k <= hi]
        if len(decades) >= 2:
            return decades
        return [lo, hi]
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def _tick_label(value: float) -> str:
    a = abs(value)
    if a >= 1e6:
        return f"{value:.3g}"
    if a >= 100 or a == 0:
        return f"{value:,.0f}"
    if a >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


# ---- ls ----------------------------------------------------------------------------------------


@app.command("ls")
def ls_(
    shm_dir: ShmDirOption = None,
    snapshot_dir: SnapshotDirOption = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="List every snapshot, not only the newest 50.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List live rings (service, pid, state, fill, drops, sidecar lag) and snapshots (time range,
    events, reason, size).

    Exit codes: 0 (an empty listing too); 2 for a --shm-dir or --snapshot-dir that does not exist.
    """
    from engine.ring import default_shm_dir
    from engine.sidecar import default_snapshot_dir
    from engine.snapshot import list_snapshots
    from ttview.lsinfo import live_rings, sidecar_status, snapshot_rows

    for given, option in ((shm_dir, "--shm-dir"), (snapshot_dir, "--snapshot-dir")):
        if given is not None and not given.is_dir():
            fail(f"{option}: {given}: no such directory")
    shm = shm_dir if shm_dir is not None else default_shm_dir()
    snaps = snapshot_dir if snapshot_dir is not None else default_snapshot_dir()
    status = sidecar_status(shm)
    rings = live_rings(shm, status=status)
    files = list_snapshots(snaps)
    shown = files if all_ else files[-50:]
    rows = snapshot_rows(shown)
    if as_json:
        _print_json(
            _clean_floats(
                {
                    "shm_dir": str(shm),
                    "sidecar": status,
                    "rings": [r.to_json() for r in rings],
                    "snapshot_dir": str(snaps),
                    "snapshots": [r.to_json() for r in rows],
                    "more_snapshots": len(files) - len(shown),
                }
            )
        )
        return
    console = _out_console()
    _print_rings(console, shm, status, rings)
    console.print()
    _print_snapshots(console, snaps, rows, more=len(files) - len(shown))


def _compact_table(console: Console, title: Text, *, footer: bool = False) -> Table:
    console.print(title, soft_wrap=True)
    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
        show_footer=footer,
    )


def _print_rings(console: Console, shm: Path, status: dict[str, Any] | None, rings: list[RingRow]) -> None:
    if status:
        side = (
            f"sidecar pid {status.get('pid')}: {int(status.get('snapshots_written', 0)):,} snapshots, "
            f"{int(status.get('events_drained', 0)):,} events drained"
        )
    else:
        side = "no sidecar running"
    head = Text.assemble(("Live rings", "bold"), f" in {visible(shm)} ({side})")
    if not rings:
        console.print(head, soft_wrap=True)
        console.print(Text("  none"))
        return
    table = _compact_table(console, head)
    table.add_column("service", overflow="fold")
    for name in ("pid", "state", "fill", "events", "dropped", "lost", "sidecar lag", "size"):
        table.add_column(name, justify="left" if name == "state" else "right", no_wrap=True)
    for r in rings:
        if r.error:
            table.add_row(_cell(r.path.name), Text("-"), Text("unreadable", style="red"), _cell(r.error))
            continue
        state = "closed" if r.closed else ("alive" if r.alive else "dead")
        lag = _size(r.lag_bytes) + (f", {r.lag_events:,} ev" if r.lag_events is not None else "")
        table.add_row(
            _cell(r.service),
            Text(str(r.pid)),
            Text(state, style="green" if r.alive else "red"),
            Text(f"{r.fill:.1%}"),
            Text(f"{r.events:,}"),
            Text(f"{r.dropped:,}"),
            Text(f"{r.lost:,}"),
            Text(lag),
            Text(_size(r.capacity) + (" (overwrite)" if r.overwrite else "")),
        )
    console.print(table)


def _print_snapshots(console: Console, directory: Path, rows: list[SnapshotRow], *, more: int) -> None:
    count = len(rows) + more
    head = Text.assemble(
        ("Snapshots", "bold"), f" in {visible(directory)} ({count} file{'' if count == 1 else 's'})"
    )
    if not rows:
        console.print(head, soft_wrap=True)
        console.print(Text("  none"))
        return
    table = _compact_table(console, head, footer=True)
    losses = any(r.dropped or r.lost for r in rows)
    table.add_column("file", footer=Text(f"{len(rows)} shown"), overflow="fold", min_width=12)
    table.add_column("reason", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True, footer=Text(f"{sum(r.count for r in rows):,}"))
    table.add_column("first (UTC)", no_wrap=True)
    table.add_column("span", justify="right", no_wrap=True)
    if losses:
        table.add_column("drop/lost", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True, footer=Text(_size(sum(r.size for r in rows))))
    for r in rows:
        if r.error:
            message = r.error.split(": ", 1)[-1] if r.error.startswith(str(r.path)) else r.error
            table.add_row(
                _cell(r.path.name),
                Text("unreadable", style="red"),
                Text("-"),
                _cell(message),
                Text("-"),
                Text("-"),
                Text(_size(r.size)),
            )
            continue
        cells = [
            _cell(r.path.name),
            _cell(r.reason),
            Text(f"{r.count:,}"),
            Text(_utc(r.first_ts)[:16]),
            Text(_span(r.first_ts, r.last_ts)),
        ]
        table.add_row(*cells, *([Text(f"{r.dropped:,}/{r.lost:,}")] if losses else []), Text(_size(r.size)))
    console.print(table)
    if more:
        console.print(Text(f"… {more:,} older snapshots not shown (--all lists them)"))


# ---- snapshot and sidecar -----------------------------------------------------------------------

_REASON = re.compile(r"[A-Za-z0-9_-]{1,32}")


@app.command()
def snapshot(
    service: ServiceArgument = None,
    reason: Annotated[
        str, typer.Option("--reason", metavar="WORD", help="Reason recorded in the snapshot.")
    ] = "request",
    shm_dir: ShmDirOption = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", metavar="SECONDS", min=0, help="Wait up to SECONDS for the snapshot and print its path."
        ),
    ] = 0.0,
) -> None:
    """Ask the sidecar to snapshot the live rings now (of SERVICE, or all).

    Exit codes: 1 if no live ring matches, no sidecar is running, or --wait ran out; 2 for a bad
    --reason or a missing --shm-dir.
    """
    from engine.ring import default_shm_dir
    from engine.sidecar import request_snapshot, sidecar_running
    from ttview.lsinfo import live_rings, sidecar_status

    if not _REASON.fullmatch(reason):
        fail(f"--reason: {reason!r} must be 1 to 32 letters, digits, '_' or '-'")
    if shm_dir is not None and not shm_dir.is_dir():
        fail(f"--shm-dir: {shm_dir}: no such directory")
    shm = shm_dir if shm_dir is not None else default_shm_dir()
    rings = [r for r in live_rings(shm) if r.alive and (service is None or r.service == service)]
    if not rings:
        who = f"of service {service!r} " if service is not None else ""
        fail(f"no live ring {who}in {shm}", code=1)
    if not sidecar_running(shm):
        fail(f"no sidecar drains {shm}; start one with: ttview sidecar --shm-dir {shm}", code=1)
    before = sidecar_status(shm) or {}
    request_snapshot(shm, service=service, reason=reason)
    names = ", ".join(f"{visible(r.service)} (pid {r.pid})" for r in rings)
    typer.echo(
        f"asked the sidecar for a snapshot of {len(rings)} ring{'s' if len(rings) != 1 else ''}: {names}"
    )
    if wait <= 0:
        return
    deadline = time.monotonic() + wait
    seen = int(before.get("snapshots_written", 0))
    while time.monotonic() < deadline:
        now = sidecar_status(shm) or {}
        if int(now.get("snapshots_written", 0)) > seen and now.get("last_snapshot"):
            typer.echo(visible(Path(str(now.get("snapshot_dir", ""))) / str(now["last_snapshot"])))
            return
        time.sleep(0.05)
    fail(f"no snapshot appeared within {wait:g} s", code=1)


@app.command()
def sidecar(
    shm_dir: ShmDirOption = None,
    snapshot_dir: SnapshotDirOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Drain every ring, write the snapshots, and exit.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            min=0.1,
            metavar="SECONDS",
            help="Seconds between periodic snapshots of a ring with new events.",
        ),
    ] = 30.0,
    max_events: Annotated[
        int, typer.Option("--max-events", min=1, help="Pending events of one ring that trigger a snapshot.")
    ] = 1_000_000,
    keep_files: Annotated[
        int, typer.Option("--keep-files", min=1, help="Retention: newest snapshots kept.")
    ] = 1000,
    keep_bytes: Annotated[
        str, typer.Option("--keep-bytes", metavar="SIZE", help="Retention: total size kept, e.g. 10GiB.")
    ] = "10GiB",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            metavar="PORT",
            show_default=False,
            help="Serve Prometheus metrics on 127.0.0.1:PORT (needs prometheus-client).",
        ),
    ] = None,
) -> None:
    """Drain the rings of a shared-memory directory into snapshot files (runs until SIGTERM/SIGINT).

    Exit codes: 0 when stopped; 1 if a ring could not be snapshotted; 2 for a missing --shm-dir, a
    bad --keep-bytes or a metrics port that cannot be served.
    """
    from engine.ring import parse_size
    from engine.sidecar import run_sidecar

    try:
        keep = parse_size(keep_bytes)
    except ValueError as exc:
        fail(f"--keep-bytes: {exc}")
    if shm_dir is not None and not shm_dir.is_dir():
        fail(f"--shm-dir: {shm_dir}: no such directory")
    code = run_sidecar(
        shm_dir=shm_dir,
        snapshot_dir=snapshot_dir,
        once=once,
        interval=interval,
        max_events=max_events,
        keep_files=keep_files,
        keep_bytes=keep,
        metrics_port=metrics_port,
    )
    raise typer.Exit(code)


# ---- demo --------------------------------------------------------------------------------------


class DemoRun:
    """The processes of ``ttview demo``: a sidecar (unless one already drains ``shm_dir``) and the
    demo producer (``python -m engine.demo``), both on ``shm_dir``.

    Leaving the ``with`` block stops the producer (SIGTERM: the engine snapshots with reason
    ``signal``) if it still runs, waits until the sidecar has snapshotted and removed its ring,
    stops the sidecar started here, and removes ``shm_dir`` if it was made here (``private``).
    """

    def __init__(
        self, *, shm_dir: Path | None, snapshot_dir: Path, producer_args: list[str], quiet: bool
    ) -> None:
        self.private = shm_dir is None
        self.shm_dir = shm_dir if shm_dir is not None else self._private_dir()
        self.snapshot_dir = snapshot_dir
        self.producer_args = producer_args
        self.quiet = quiet
        self.sidecar: subprocess.Popen[bytes] | None = None
        self.producer: subprocess.Popen[bytes] | None = None
        self._before: set[Path] = set()

    @staticmethod
    def _private_dir() -> Path:
        base = Path("/dev/shm")
        usable = base.is_dir() and os.access(base, os.W_OK)
        return Path(tempfile.mkdtemp(prefix="ttview-demo-", dir=base if usable else None))

    @staticmethod
    def _env() -> dict[str, str]:
        """The children's environment: the engine importable from where this one was imported."""
        import engine

        env = dict(os.environ)
        root = str(Path(engine.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def __enter__(self) -> DemoRun:
        from engine.sidecar import sidecar_running
        from engine.snapshot import list_snapshots

        self._before = set(list_snapshots(self.snapshot_dir))
        env = self._env()
        shm = str(self.shm_dir)
        try:
            if not sidecar_running(self.shm_dir):
                with open(self.snapshot_dir / "sidecar.log", "ab") as log:
                    self.sidecar = subprocess.Popen(
                        [sys.executable, "-m", "engine.sidecar", "--shm-dir", shm, "--snapshot-dir",
                         str(self.snapshot_dir)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
                    )  # fmt: skip
            self.producer = subprocess.Popen(
                [sys.executable, "-m", "engine.demo", "--shm-dir", shm, *self.producer_args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL if self.quiet else None, env=env, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.producer is not None:
            self._stop(self.producer, timeout=10)
            self._wait_drained(self.producer.pid, timeout=15)
        if self.sidecar is not None:
            self._stop(self.sidecar, timeout=15)
        if self.private:
            shutil.rmtree(self.shm_dir, ignore_errors=True)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _wait_drained(self, pid: int, *, timeout: float) -> None:
        """Wait until the sidecar has snapshotted and removed the ring of ``pid`` (or ``timeout``)."""
        from engine.reader import list_rings

        deadline = time.monotonic() + timeout
        mine = re.compile(rf"-{pid}(\.\d+)?\.ring$")
        while time.monotonic() < deadline and any(mine.search(p.name) for p in list_rings(self.shm_dir)):
            time.sleep(0.1)

    def progress(self, every: float = 1.0) -> Iterator[str]:
        """A line about the producer's ring every ``every`` seconds, until the producer exits."""
        from ttview.lsinfo import live_rings

        assert self.producer is not None
        start = last_t = time.monotonic()
        last_n = 0
        while True:
            try:
                self.producer.wait(timeout=every)
            except subprocess.TimeoutExpired:
                pass
            rows = [r for r in live_rings(self.shm_dir) if r.pid == self.producer.pid]
            now = time.monotonic()
            if rows:
                r = rows[0]
                rate = (r.events - last_n) / max(now - last_t, 1e-3)
                last_n, last_t = r.events, now
                yield (
                    f"demo: {now - start:5.1f}s  {r.events:>10,} events  {rate:>9,.0f}/s  "
                    f"fill {r.fill:5.1%}  dropped {r.dropped:,}  sidecar lag {_size(r.lag_bytes)}"
                )
            if self.producer.poll() is not None:
                return

    def new_snapshots(self) -> list[Path]:
        from engine.snapshot import list_snapshots

        return [p for p in list_snapshots(self.snapshot_dir) if p not in self._before]


@app.command()
def demo(
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="Events per second (0: as fast as possible).")
    ] = 20_000,
    seconds: Annotated[
        float | None,
        typer.Option(
            "--seconds",
            min=0.1,
            show_default=False,
            help="How long the producer runs [default: 10 with --no-ui, "
            "until you quit the viewer otherwise].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the market replay.")] = 7,
    service: Annotated[
        str, typer.Option("--service", help="Service name of the demo producer.")
    ] = "demo-trader",
    overflow: Annotated[
        Overflow, typer.Option("--overflow", case_sensitive=False, help="What a full ring does.")
    ] = Overflow.drop,
    ring_size: Annotated[
        str, typer.Option("--ring-size", metavar="SIZE", help="Ring size, e.g. 64MiB.")
    ] = "64MiB",
    shm_dir: Annotated[
        Path | None,
        typer.Option(
            "--shm-dir",
            metavar="DIR",
            show_default=False,
            help="Directory for the demo's ring [default: a private "
            "temporary directory under /dev/shm, removed at the end].",
        ),
    ] = None,
    snapshot_dir: SnapshotDirOption = None,
    no_ui: Annotated[
        bool,
        typer.Option(
            "--no-ui",
            help="Print a progress line per second instead of "
            "opening the viewer; exit when the producer is done.",
        ),
    ] = False,
) -> None:
    """Run the bundled market-replay producer with a sidecar, and watch it live.

    Starts a sidecar (unless one already drains --shm-dir) and `python -m engine.demo` on the same
    shared-memory directory, then opens the viewer on the live ring. When the producer ends (or
    you quit the viewer), the sidecar writes the final snapshot into the snapshot directory, the
    sidecar started here is stopped and a private shm directory is removed.

    Exit codes: 0 when a snapshot was written; 1 if the producer failed or no snapshot appeared;
    2 for a bad option value.
    """
    from engine.ring import parse_size
    from engine.sidecar import default_snapshot_dir
    from engine.snapshot import snapshot_info

    try:
        parse_size(ring_size)
    except ValueError as exc:
        fail(f"--ring-size: {exc}")
    if shm_dir is not None and not shm_dir.is_dir():
        fail(f"--shm-dir: {shm_dir}: no such directory")
    if not no_ui:
        _require_terminal()
    snaps = snapshot_dir if snapshot_dir is not None else default_snapshot_dir()
    try:
        snaps.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        fail(f"--snapshot-dir: cannot create {snaps}: {exc.strerror or exc}")
    run_for = seconds if seconds is not None else (10.0 if no_ui else 7 * 86400.0)
    producer_args = [
        *("--rate", str(rate), "--seconds", str(run_for), "--seed", str(seed), "--service", service),
        *("--ring-size", ring_size, "--overflow", Overflow(overflow).value),
    ]
    code = 0
    run = DemoRun(shm_dir=shm_dir, snapshot_dir=snaps, producer_args=producer_args, quiet=not no_ui)
    try:
        with run:
            if no_ui:
                for line in run.progress():
                    typer.echo(line)
            else:
                from ttview.app import make_app

                make_app(live=True, shm_dir=str(run.shm_dir), service=service).run()
            status = run.producer.wait() if no_ui and run.producer is not None else 0
            if status not in (0, -signal.SIGTERM):
                note(f"the demo producer exited with status {status}", style="bold red")
                code = 1
    except KeyboardInterrupt:
        code = 130
    new = run.new_snapshots()
    for path in new:
        try:
            events = f"{snapshot_info(path).count:,} events"
        except Exception:  # noqa: BLE001 - a bad file is listed, not raised
            events = "unreadable"
        typer.echo(f"demo: snapshot {visible(path)} ({events})")
    if code:
        raise typer.Exit(code)
    if not new:
        fail(f"the demo wrote no snapshot into {snaps} (see {snaps / 'sidecar.log'})", code=1)


# ---- entry point -------------------------------------------------------------------------------


def main() -> None:
    """The ``ttview`` console script (and ``python -m ttview``)."""
    app(prog_name="ttview")


if __name__ == "__main__":  # pragma: no cover
    main()
