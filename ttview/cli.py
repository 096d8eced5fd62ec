"""The ``ttview`` command line: thin typer commands over the headless core.

Every command parses its options, then hands off to keyword-only functions in ``ttview.sources``,
``ttview.query``, ``ttview.stats``, ``ttview.export``, ``ttview.lsinfo``, ``ttview.demo_run`` or
``engine``, and passes their results to ``ttview.report`` (tables, numbers, JSON) or
``ttview.chart`` (the ``hist`` chart) for the terminal. What stays here: the commands, the option
types they share, and the error handling (:func:`fail`, one-line usage errors, exit codes).

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
import errno
import os
import re
import signal
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.text import Text
from ttlog.sidecar import DEFAULTS as SIDECAR_DEFAULTS
from typer.core import TyperGroup

from ttview.chart import print_hist
from ttview.demo_run import DemoRun
from ttview.report import (
    byte_size,
    demo_progress_line,
    err_console,
    export_with_progress,
    print_json,
    print_listing,
    print_stats,
    visible,
)

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl


__all__ = ["app", "main", "visible"]

# ---- errors and terminal safety ----------------------------------------------------------------

# click's exceptions, whichever copy of click this typer uses (typer vendors click since 0.26)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr (``ttview: error: ...``), then exit with ``code``."""
    err_console().print(Text.assemble(("ttview: error: ", "bold red"), visible(message).replace("\\n", " ")))
    raise typer.Exit(code)


def note(message: str, style: str = "yellow") -> None:
    """One line on stderr (a warning or a remark), never markup."""
    err_console().print(Text.assemble(("ttview: ", style), visible(message)))


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
            err_console().print(
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
        help="Snapshot files, directories (every *.ttsnap inside) or globs; merged by time. A "
        "Parquet export (a .parquet file, or a directory of them such as a --partition-by "
        "dataset) is read as a source too "
        "[default: the newest snapshots in the snapshot directory, else the bundled samples].",
        show_default=False,
        metavar="PATH",
    ),
]
RequiredSnapshotPaths = Annotated[
    list[Path],
    typer.Argument(
        help="Snapshot files, directories (every *.ttsnap inside) or globs; merged by time. A "
        "Parquet export (a .parquet file, or a directory of them such as a --partition-by "
        "dataset) is read as a source too.",
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
        "(the filter language: docs/FILTER.md). A field no event has is an error (exit 2), "
        "with the closest name offered.",
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


EXIT_PARTIAL = 3
"""Some input was bad (a corrupt snapshot among good ones, or one cut short by a bad chunk): each
was named on stderr, and the output covers the rest."""


@dataclasses.dataclass
class Selection:
    """The events a command reads: the files (``catalog``) as a lazy source under the filter,
    merged by time (``ordered``) or in any order (``unordered``, for aggregations)."""

    catalog: Any
    ordered: pl.LazyFrame
    unordered: pl.LazyFrame
    reported: int = 0
    hints: Any = None
    predicate: Any = None

    def events(self) -> Any:
        """The events for aggregations (any order; snapshots read batch by batch as asked for)."""
        from ttview.scan import Catalog, EventSource

        if isinstance(self.catalog, Catalog):
            return EventSource(self.unordered, self.catalog, self.hints, self.predicate)
        return self.unordered

    def batches(self) -> Any:
        """The events in time order, batch by batch as they are asked for (snapshots), or the
        ordered lazy source (Parquet)."""
        from ttview.scan import Catalog

        if isinstance(self.catalog, Catalog):
            return self.catalog.frames(hints=self.hints, predicate=self.predicate)
        return self.ordered

    @property
    def schema(self) -> pl.Schema:
        return self.catalog.schema

    @property
    def files(self) -> list[Path]:
        return self.catalog.paths

    def report_errors(self) -> int:
        """Name each bad file not named yet (one line each); the exit code they call for."""
        errors = self.catalog.errors
        for error in errors[self.reported :]:
            note(f"warning: skipped: {error.message}")
        self.reported = len(errors)
        return EXIT_PARTIAL if errors else 0


def _select(paths: list[Path] | None, filter_text: str) -> Selection:
    """The events of the snapshots named by ``paths`` (default: see lsinfo.default_snapshots)
    under the filter, as a lazy source. A path that names nothing or a bad filter exits 2; a bad
    file among good ones is named on stderr and left out (:meth:`Selection.report_errors`); when
    none can be read, exit 2."""
    from ttview.query import QueryError
    from ttview.scan import open_catalog, resolve_paths

    flt = _compile(filter_text)
    if not paths:
        from ttview.lsinfo import default_snapshots

        source = default_snapshots()
        paths = list(source.paths)
        if err_console().is_terminal:
            note(f"reading {source.describe()}", style="dim")
    from ttview.parquet_source import is_parquet_input, open_parquet

    catalog: Any
    if is_parquet_input(paths):  # a Parquet export (a file, many, or a hive dataset) reads the same way
        catalog = open_parquet(paths)
        missing = [e for e in catalog.errors if not Path(e.path).exists()]
        if missing:
            fail(missing[0].message)
    else:
        files, missing = resolve_paths(paths)
        if missing:
            fail(missing[0].message)
        if not files:
            fail("no snapshot files given")
        catalog = open_catalog(files)
    if not catalog.paths:
        for error in catalog.errors[:-1]:
            note(f"warning: skipped: {error.message}")
        fail(catalog.errors[-1].message if catalog.errors else "no snapshot files given")
    bounds = (catalog.first_ts, catalog.last_ts) if catalog.first_ts is not None else None
    try:
        bound = flt.bind(catalog.schema, time_bounds=bounds)  # type: ignore[arg-type]
    except QueryError as exc:
        _bad_filter(filter_text, exc)
    for warning in bound.warnings:
        note(f"warning: {warning}")
    hints = bound.hints()
    ordered, unordered = catalog.lazy(hints=hints), catalog.lazy(hints=hints, ordered=False)
    if not bound.keeps_all:
        ordered, unordered = ordered.filter(bound.expr), unordered.filter(bound.expr)
    selection = Selection(catalog, ordered, unordered, hints=hints,
                          predicate=None if bound.keeps_all else bound.expr)
    selection.report_errors()
    return selection


def _need_column(schema: pl.Schema, name: str, option: str, *, numeric: bool = False) -> None:
    from difflib import get_close_matches

    import polars as pl

    from ttview.schema import numeric_expr

    if name not in schema:
        hint = get_close_matches(name, list(schema), n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        fail(f"{option}: no field {name!r} in the data{more}")
    if numeric and numeric_expr(name, schema[name]) is None and schema[name] != pl.Null:
        fail(f"{option}: field {name!r} holds {schema[name]}, not numbers")


# ---- the viewer --------------------------------------------------------------------------------


def _require_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail(
            "the viewer needs a terminal (stdin and stdout are not one); "
            "for scripts use 'ttview export', 'ttview stats' or 'ttview hist'"
        )


def _run_viewer(**kwargs: Any) -> NoReturn:
    _require_terminal()
    if kwargs.get("paths") and not kwargs.get("live"):
        from ttview.sources import start_loading

        # the snapshots load while the UI below is imported and laid out
        kwargs["preload"] = start_loading(kwargs["paths"])
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


def _readable_snapshots(files: list[Path]) -> tuple[list[Path], list[str]]:
    """The files whose snapshot header reads (:func:`ttview.decode.snapshot_info`), and one line
    per file that does not (empty, truncated, not a snapshot)."""
    from ttlog.store import SnapshotError

    from ttview.decode import snapshot_info

    good: list[Path] = []
    bad: list[str] = []
    for path in files:
        try:
            snapshot_info(path)
        except SnapshotError as exc:
            bad.append(str(exc))
        else:
            good.append(path)
    return good, bad


def _skipped_line(error: str) -> str:
    """``skipped NAME: why`` of a snapshot error line ``PATH: why`` (the viewer's header is narrow)."""
    path, sep, why = error.partition(": ")
    return f"skipped {Path(path).name}: {why}" if sep else f"skipped {error}"


@app.command("open")
def open_(paths: RequiredSnapshotPaths, filter_text: FilterOption = "") -> None:
    """Open snapshot files in the viewer (several are merged by time), or a Parquet export of them
    (files, or a directory holding a partitioned dataset).

    Files that are not readable snapshots (empty, truncated, something else) are left out and
    named in the viewer's header; when none is readable the viewer does not start.

    Exit codes: 2 for a missing path, no readable snapshot, or a bad filter (an unknown field
    is reported in the viewer's filter prompt, with the closest name).
    """
    from ttview.parquet_source import is_parquet_input
    from ttview.sources import resolve_paths

    _compile(filter_text)
    if is_parquet_input(paths):
        _run_viewer(paths=[str(p) for p in paths], filter_text=filter_text)
    files, errors = resolve_paths(paths)
    if errors:
        fail(errors[0].message)
    good, bad = _readable_snapshots(files)
    if not good:
        others = len(bad) - 1
        more = f" (and {others} more unreadable file{'s' if others > 1 else ''})" if others else ""
        fail(f"{bad[0]}{more}")
    _run_viewer(
        paths=[str(p) for p in good], filter_text=filter_text, skipped=[_skipped_line(line) for line in bad]
    )


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
    """Where an export goes: stdout, or ``-o FILE`` through :func:`ttlog.files.open_output` (a
    regular file is replaced atomically, a device or FIFO is written through, a symbolic link or
    a directory is refused)."""

    def __init__(self, target: str | None) -> None:
        from ttlog.files import OutputError, open_output

        self.path: Path | None = None if target in (None, "-") else Path(str(target))
        self.out: Any = None
        if self.path is None:
            return
        try:
            self.out = open_output(self.path)
        except OutputError as exc:
            fail(str(exc))

    @property
    def is_terminal(self) -> bool:
        return self.path is None and sys.stdout.isatty()

    def stream(self) -> Any:
        if self.out is not None:
            return self.out.fh
        sys.stdout.flush()
        return sys.stdout.buffer

    def commit(self) -> None:
        if self.out is None:
            sys.stdout.flush()
            return
        try:
            self.out.commit()
        except OSError as exc:
            self.discard()
            fail(f"cannot write {self.path}: {exc.strerror or exc}")

    def discard(self) -> None:
        if self.out is not None:
            self.out.discard()


TERMINAL_EXPORT_LIMIT = 1_000
"""Events ``ttview export`` prints to a terminal at most; more need ``-o FILE`` or a pipe."""


def _export_format(value: str) -> str:
    """The ``--format`` value, or one line naming the choices and exit 2."""
    choices = [f.value for f in ExportFormat]
    if value.lower() not in choices:
        fail(f"--format: unknown format {value!r} ({', '.join(choices)})")
    return value.lower()


@app.command()
def export(
    paths: SnapshotPaths = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-F",
            metavar="json|ndjson|csv|parquet",
            callback=_export_format,
            help="json (one array), ndjson (one event per line), csv (fields as columns) or parquet (typed).",
        ),
    ] = ExportFormat.ndjson.value,
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
            help="Write to FILE instead of stdout: a regular file is replaced atomically (only once "
            "the export succeeded), a device or FIFO is written to (-o /dev/null stays /dev/null), "
            "a symbolic link or a directory is refused.",
        ),
    ] = None,
    partition_by: Annotated[
        str | None,
        typer.Option(
            "--partition-by",
            metavar="KEY,...",
            show_default=False,
            help="Parquet only: write a hive-partitioned dataset into the directory -o DIR, one folder "
            "level per key (service, date (UTC day), pid, level, logger or a field), e.g. "
            "service,date; DuckDB, polars and Spark read it as one table.",
        ),
    ] = None,
    time_unit: Annotated[
        str,
        typer.Option(
            "--time-unit",
            metavar="ns|us",
            help="Parquet: the precision of the time column (us for Spark, which reads no ns timestamps); "
            "ts_ns always holds the exact nanoseconds.",
        ),
    ] = "ns",
) -> None:
    """Export events as JSON, NDJSON, CSV or Parquet.

    Columns: **time** (ISO-8601 UTC with nanoseconds; Parquet: a UTC timestamp in
    nanoseconds, or microseconds with --time-unit us), **ts_ns** (integer nanoseconds since the
    epoch, exact), **level** (name), **level_no**, logger, message, service, pid, tid, seq, cut,
    then one column per field, named by its key (a key equal to one of these names is exported as
    **field.KEY**). Every value keeps its type: an int stays an int; a field holding values of
    several kinds is a Parquet STRUCT with one member per kind. JSON and NDJSON leave out keys
    whose value is null, and write NaN and the infinities as "NaN", "Infinity", "-Infinity".
    Events are written as they are read: memory does not grow with the export.

    To a terminal (no -o, no pipe) at most 1,000 events are printed; more are refused with one
    line saying how to get them (-o FILE, or a pipe such as | less).

    Exit codes: 1 if no event matched (the output is still valid: [], a CSV header, an empty
    Parquet file); 2 for a missing path, no readable snapshot, a bad filter or unknown field in
    it, an unknown --fields name, a bad --format, too many events for a terminal, or an unwritable
    -o; 3 when some snapshots were bad (each named on stderr) and the others were exported.
    """
    from ttview.export import ExportError, parquet_metadata, prepare, write_export

    fmt = ExportFormat(fmt).value
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    keys = [k.strip() for k in partition_by.split(",") if k.strip()] if partition_by else None
    if keys and fmt != "parquet":
        fail("--partition-by writes a Parquet dataset; add -F parquet")
    if keys and not output:
        fail("--partition-by needs -o DIR (the dataset's directory)")
    out = None if keys else _Output(output)
    err = err_console()
    code = 0
    try:
        if out is not None and out.is_terminal and fmt == "parquet":
            fail("refusing to write Parquet to a terminal; use -o FILE or a pipe")
        selection = _select(paths, filter_text)
        if out is not None and out.is_terminal and selection.catalog.total > TERMINAL_EXPORT_LIMIT:
            import polars as pl

            count = selection.unordered.select(pl.len()).collect(engine="streaming").item()
            if count > TERMINAL_EXPORT_LIMIT:
                fail(
                    f"{count:,} events are too many for the terminal: write them with -o FILE, "
                    f"or page them with | less"
                )
        try:
            prepare(selection.ordered.head(0), fmt=fmt, fields=wanted, time_unit=time_unit)
        except ExportError as exc:
            fail(str(exc))
        expected = selection.catalog.total
        options: dict[str, Any] = {
            "fmt": fmt, "fields": wanted, "time_unit": time_unit, "total": expected,
            "metadata": parquet_metadata([f.info for f in selection.catalog.files]),
        }
        show_progress = (out is None or out.path is not None) and err.is_terminal and expected > 0
        try:
            if keys:
                target: Any = Path(str(output))
                options["partition_by"] = keys
            else:
                assert out is not None
                target = out.stream()
                options["for_terminal"] = out.is_terminal
            source = selection.ordered if fmt == "parquet" else selection.batches()
            options["schema"] = selection.schema
            if show_progress:
                rows = export_with_progress(source, target, console=err, **options)
            else:
                rows = write_export(source, target, **options)
        except ExportError as exc:
            fail(str(exc))
        except OSError as exc:
            if out is not None and out.path is None and _is_broken_pipe(exc):
                raise
            fail(f"cannot write {output or 'stdout'}: {exc.strerror or exc}")
        code = selection.report_errors()
        if out is not None:
            out.commit()
    finally:
        if out is not None:
            out.discard()
    if output not in (None, "-") and err.is_terminal:
        where = Path(str(output))
        size = f" ({byte_size(where.stat().st_size)})" if where.is_file() else ""
        note(f"wrote {rows:,} events to {where}{size}", style="green")
    if code:
        raise typer.Exit(code)
    if rows == 0:
        note("no events matched")
        raise typer.Exit(1)


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
    Percentiles interpolate linearly between closest ranks, over every value: exact while the
    values fit in memory (tens of millions), estimates within 0.5% past that, and then the output
    says so. Memory does not grow with the number of events. The drops and losses the snapshots
    record are shown beside the counts.

    Exit codes: 1 if no event matched; 2 for a missing path, no readable snapshot, a bad filter,
    or an unknown or non-numeric --field / --group-by; 3 when some snapshots were bad (each named
    on stderr) and the numbers cover the others.
    """
    from ttview.schema import numeric_expr
    from ttview.stats import group_summary

    selection = _select(paths, filter_text)
    schema = selection.schema
    _need_column(schema, group_by, "--group-by")
    if field is not None:
        _need_column(schema, field, "--field", numeric=True)
    elif "latency_us" in schema and numeric_expr("latency_us", schema["latency_us"]) is not None:
        field = "latency_us"
    sort_key = {"group": group_by, "p999": "p99.9"}.get(sort, sort)
    try:
        result = group_summary(selection.events(), by=group_by, field=field, sort=sort_key)
    except ValueError as exc:
        fail(f"--sort: {exc}")
    groups = result.table
    total = result.total if result.total is not None else groups.clear()
    shown = groups if limit == 0 or (limit is None and as_json) else groups.head(limit or 50)
    catalog = selection.catalog
    if as_json:
        print_json(
            {
                "files": [str(p) for p in selection.files],
                "events": result.events,
                "group_by": group_by,
                "field": field,
                "sort": sort_key,
                "percentiles": "exact" if result.exact else f"estimated within {result.relative_error:.1%}",
                "dropped": catalog.dropped,
                "lost": catalog.lost,
                "groups": shown.to_dicts(),
                "more_groups": groups.height - shown.height,
                "total": total.to_dicts()[0] if total.height else None,
                "skipped_files": [e.message for e in catalog.errors],
            }
        )
    else:
        print_stats(
            result,
            shown,
            total,
            group_by=group_by,
            field=field,
            files=len(selection.files),
            more=groups.height - shown.height,
            dropped=catalog.dropped,
            lost=catalog.lost,
        )
    code = selection.report_errors()
    if code:
        raise typer.Exit(code)
    if result.events == 0:
        note("no events matched")
        raise typer.Exit(1)


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

    Memory does not grow with the number of events; percentiles are exact while the values fit in
    memory, estimates within 0.5% past that (and then marked so).

    Exit codes: 1 if no event has a value of the field; 2 for a missing path, no readable
    snapshot, a bad filter, or an unknown or non-numeric --field / --by; 3 when some snapshots
    were bad (each named on stderr) and the chart covers the others.
    """
    from ttview.stats import histogram

    selection = _select(paths, filter_text)
    _need_column(selection.schema, field, "--field", numeric=True)
    if by is not None:
        _need_column(selection.schema, by, "--by")
    try:
        h = histogram(selection.events(), field=field, bins=bins, log=log, by=by)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(
            {
                "files": [str(p) for p in selection.files],
                "events": h.events,
                "field": h.field,
                "log": h.log,
                "by": h.by,
                "percentiles": "exact" if h.exact else "estimated within 0.5%",
                "edges": list(h.edges),
                "series": [dataclasses.asdict(s) for s in h.series],
                "omitted_groups": h.omitted_groups,
                "omitted_values": h.omitted_values,
                "skipped_files": [e.message for e in selection.catalog.errors],
            }
        )
    else:
        print_hist(h, width=width, height=height)
    code = selection.report_errors()
    if code:
        raise typer.Exit(code)
    if h.total == 0:
        note(f"no values of {field!r} matched")
        raise typer.Exit(1)


# ---- latency ------------------------------------------------------------------------------------


class LatencyUnit(str, Enum):
    """The ``--unit`` choices of ``ttview latency``."""

    ns = "ns"
    us = "us"
    ms = "ms"
    s = "s"


_LATENCY_OPTIONS = {"key": "--by", "group_by": "--group-by", "from": "--from", "to": "--to", "unit": "--unit"}


def _latency_filter(text: str, option: str) -> Any:
    from ttview.query import QueryError, compile_filter

    try:
        return compile_filter(text)
    except QueryError as exc:
        pos = max(0, min(exc.position, len(text)))
        near = text[pos : pos + 24]
        fail(f"{option}: bad filter at column {pos + 1}: {exc.message} "
             f"({f'near {near!r}' if near.strip() else 'at the end'})")


def _print_latency(result: Any, h: Any, *, from_text: str, to_text: str, files: int, limit: int,
                   width: int | None, height: int) -> None:
    from rich import box
    from rich.table import Table

    from ttview.latency import RULE
    from ttview.report import num, out_console

    console = out_console()
    c = result.counts
    key = ",".join(result.key)
    console.print(Text(visible(
        f"{from_text} → {to_text}, by {key}: {c.pairs:,} pair{'s' if c.pairs != 1 else ''} among "
        f"{result.events:,} event{'s' if result.events != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''}; latency in {result.unit}"
    )))
    print_hist(h, width=width, height=height)
    groups = list(result.groups)
    shown = groups if limit == 0 else groups[:limit]
    name = result.group_by or ""
    stats = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, show_footer=bool(groups))
    counts = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, show_footer=bool(groups))
    for table in (stats, counts):
        table.add_column(Text(visible(name)), footer=Text("all"), overflow="fold", min_width=3, ratio=1)
    stat_names = (("min", "min"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"),
                  ("max", "max"), ("mean", "mean"))
    total = result.total
    stats.add_column("pairs", justify="right", no_wrap=True, footer=Text(f"{c.pairs:,}"))
    for attr, label in stat_names:
        stats.add_column(label, justify="right", no_wrap=True, footer=Text(num(getattr(total, attr))))
    count_names = (("pairs", "pairs"), ("from_unmatched", "from: no to"), ("from_repeated", "from: repeated"),
                   ("to_unmatched", "to: no from"), ("to_extra", "to: extra"))
    for attr, label in count_names:
        counts.add_column(label, justify="right", no_wrap=True, footer=Text(f"{getattr(c, attr):,}"))
    no_key = Text(f"{c.from_no_key + c.to_no_key:,}")
    counts.add_column("no key", justify="right", no_wrap=True, footer=no_key)
    for g in shown if groups else [total]:
        label = Text(visible(g.group) if g.group is not None else "all")
        stats.add_row(label, Text(f"{g.counts.pairs:,}"), *(Text(num(getattr(g, a))) for a, _ in stat_names))
        counts.add_row(
            label.copy(),
            *(Text(f"{getattr(g.counts, a):,}") for a, _ in count_names),
            Text(f"{g.counts.from_no_key + g.counts.to_no_key:,}"),
        )
    console.print(stats)
    console.print(counts)
    if len(shown) < len(groups):
        console.print(Text(f"… {len(groups) - len(shown):,} more groups not shown (--limit 0 shows all)"))
    if c.from_repeated and not {"pid", "service"} & set(result.key):
        console.print(Text(
            f"note: {c.from_repeated:,} repeated from events; if ids restart in each process, pair "
            f"within one: --by pid,{key}"
        ))
    console.print(Text(f"rule: {RULE}", style="dim"))


@app.command()
def latency(
    paths: SnapshotPaths = None,
    from_text: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="EXPR",
            show_default=False,
            help="The events that start the clock, e.g. 'message == \"Order placed\"' (the filter language).",
        ),
    ] = "",
    to_text: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="EXPR",
            show_default=False,
            help="The events that stop it, e.g. 'message == \"Trade executed\"'.",
        ),
    ] = "",
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="FIELD[,FIELD]",
            show_default=False,
            help="The key a from and its to share, e.g. order_id; pid,order_id pairs only within a process.",
        ),
    ] = "",
    filter_text: FilterOption = "",
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            "-g",
            metavar="FIELD",
            show_default=False,
            help="Statistics and one histogram series per value of FIELD (the from event's, else the to's).",
        ),
    ] = None,
    unit: Annotated[
        LatencyUnit, typer.Option("--unit", case_sensitive=False, help="Unit of the latencies.")
    ] = LatencyUnit.us,
    bins: Annotated[int, typer.Option("--bins", min=1, max=1000, help="Number of histogram bins.")] = 40,
    log: Annotated[
        bool,
        typer.Option(
            "--log/--linear",
            help="Histogram bins evenly spaced in log (latencies of 0 counted apart) or linear.",
        ),
    ] = True,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Groups shown in the tables (0: all; --json has all).")
    ] = 20,
    width: Annotated[
        int | None,
        typer.Option("--width", min=30, show_default=False, help="Chart width [default: the terminal's]."),
    ] = None,
    height: Annotated[int, typer.Option("--height", min=8, help="Chart height in lines.")] = 16,
    as_json: JsonOption = False,
) -> None:
    """Latency between paired events: each --from event and the --to event with the same --by key,
    e.g. order placed → trade executed by order_id (order-to-fill). Prints count, min,
    p50/p90/p99/p99.9, max and mean (per --group-by value), what did not pair, and a histogram.

    Rule: events in time order (equal ts: the log's order); each from pairs with the FIRST to
    after it with its key, and each to with the LATEST from before it. So a repeated from before
    the to (a re-sent order) is superseded by the later one, later tos of a paired from are extra
    (partial fills: the first fill is the latency), a to with no from before it and a from with no
    to after it are unmatched; events whose key is null never pair. Every kind is counted. A key
    is global across services and processes unless --by names pid or service too. Percentiles
    interpolate linearly between closest ranks.

    Exit codes: 1 if nothing paired; 2 for a missing or corrupt snapshot, a bad or empty
    --from/--to/--filter, or an unknown --by / --group-by field.
    """
    from ttview.latency import LatencyError, latency_histogram, pair_events

    examples = {"--from": "'message == \"Order placed\"'", "--to": "'message == \"Trade executed\"'"}
    for text, option in ((from_text, "--from"), (to_text, "--to")):
        if not text.strip():
            fail(f"{option}: give a filter, e.g. {option} {examples[option]}")
    if not by.strip():
        fail("--by: give the key field the events share, e.g. --by order_id")
    start, end = _latency_filter(from_text, "--from"), _latency_filter(to_text, "--to")
    key = [k.strip() for k in by.split(",") if k.strip()]
    selection = _select(paths, filter_text)
    try:
        res = pair_events(
            selection.ordered, start=start, end=end, key=key, group_by=group_by, unit=LatencyUnit(unit).value
        )
        h = latency_histogram(res, bins=bins, log=log)
    except LatencyError as exc:
        fail(f"{_LATENCY_OPTIONS.get(exc.option, exc.option)}: {exc.message}")
    if as_json:
        from ttview.latency import RULE

        print_json(
            {
                "files": [str(p) for p in selection.files],
                "events": res.events,
                "from": from_text,
                "to": to_text,
                "key": list(res.key),
                "group_by": res.group_by,
                "unit": res.unit,
                "rule": RULE,
                "counts": res.counts.to_dict(),
                "latency": {k: v for k, v in res.total.to_dict().items() if k not in res.counts.to_dict()
                            and k != "group"},
                "groups": [g.to_dict() for g in res.groups],
                "histogram": {
                    "field": h.field,
                    "log": h.log,
                    "by": h.by,
                    "edges": list(h.edges),
                    "series": [dataclasses.asdict(s) for s in h.series],
                    "omitted_groups": h.omitted_groups,
                },
            }
        )
    else:
        _print_latency(res, h, from_text=from_text, to_text=to_text, files=len(selection.files), limit=limit,
                       width=width, height=height)
    code = selection.report_errors()
    if code:
        raise typer.Exit(code)
    if res.counts.pairs == 0:
        note("nothing paired")
        raise typer.Exit(1)


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
    from ttlog.ring import default_shm_dir
    from ttlog.sidecar import default_snapshot_dir
    from ttlog.store import list_snapshots

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
        print_json(
            {
                "shm_dir": str(shm),
                "sidecar": status,
                "rings": [r.to_json() for r in rings],
                "snapshot_dir": str(snaps),
                "snapshots": [r.to_json() for r in rows],
                "more_snapshots": len(files) - len(shown),
            }
        )
        return
    print_listing(
        shm_dir=shm,
        status=status,
        rings=rings,
        snapshot_dir=snaps,
        snapshots=rows,
        more_snapshots=len(files) - len(shown),
    )


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
    from ttlog.ring import default_shm_dir
    from ttlog.sidecar import request_snapshot, sidecar_running

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
    try:
        request_snapshot(shm, service=service, reason=reason)
    except OSError as exc:
        fail(f"cannot ask the sidecar for a snapshot: {exc.strerror or exc}"
             f"{f' ({visible(exc.filename)})' if exc.filename else ''}")
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
        bool, typer.Option("--once", help="Drain every ring to its end, write the snapshots, and exit.")
    ] = False,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Exit once no ring and no spool is left in --shm-dir.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            min=0.1,
            metavar="SECONDS",
            help="Seconds between periodic snapshots of a ring with new events.",
        ),
    ] = SIDECAR_DEFAULTS.interval,
    max_events: Annotated[
        int,
        typer.Option(
            "--max-events",
            min=1,
            help="Events held for a ring that trigger a snapshot (about the most one file holds).",
        ),
    ] = SIDECAR_DEFAULTS.max_events,
    keep_files: Annotated[
        int,
        typer.Option(
            "--keep-files", min=1, help="Retention: newest snapshots kept (of those the sidecar wrote)."
        ),
    ] = SIDECAR_DEFAULTS.retention_files or 1000,
    keep_bytes: Annotated[
        str, typer.Option("--keep-bytes", metavar="SIZE", help="Retention: total size kept, e.g. 10GiB.")
    ] = f"{(SIDECAR_DEFAULTS.retention_bytes or 0) >> 30}GiB",
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
    bad --keep-bytes, a lock file that is not a regular file of this user, or a metrics port that
    cannot be served.
    """
    from ttlog.ring import parse_size
    from ttlog.sidecar import run_sidecar

    try:
        keep = parse_size(keep_bytes)
    except ValueError as exc:
        fail(f"--keep-bytes: {exc}")
    if shm_dir is not None and not shm_dir.is_dir():
        fail(f"--shm-dir: {shm_dir}: no such directory")
    settings = dataclasses.replace(
        SIDECAR_DEFAULTS,
        shm_dir=shm_dir,
        snapshot_dir=snapshot_dir,
        once=once,
        exit_when_idle=exit_when_idle,
        interval=interval,
        max_events=max_events,
        retention_files=keep_files,
        retention_bytes=keep,
    )
    raise typer.Exit(run_sidecar(settings, metrics_port=metrics_port))


# ---- demo --------------------------------------------------------------------------------------


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

    Starts a sidecar (unless one already drains --shm-dir) and `python -m ttlog.demo` on the same
    shared-memory directory, then opens the viewer on the live ring. When the producer ends (or
    you quit the viewer), the sidecar writes the final snapshot into the snapshot directory, the
    sidecar started here is stopped and a private shm directory is removed.

    Exit codes: 0 when a snapshot was written; 1 if the producer failed or no snapshot appeared;
    2 for a bad option value.
    """
    from ttlog.ring import parse_size
    from ttlog.sidecar import default_snapshot_dir

    from ttview.decode import snapshot_info

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
                for tick in run.progress():
                    typer.echo(demo_progress_line(tick))
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
