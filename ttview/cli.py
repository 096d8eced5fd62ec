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

    from ttview.sources import LoadResult

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
        if err_console().is_terminal:
            note(f"reading {source.describe()}", style="dim")
    files, errors = resolve_paths(paths)
    if errors:
        fail(errors[0].message)
    if not files:
        fail("no snapshot files given")
    err = err_console()
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
            help="Write to FILE instead of stdout: a regular file is replaced atomically (only once "
            "the export succeeded), a device or FIFO is written to (-o /dev/null stays /dev/null), "
            "a symbolic link or a directory is refused.",
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
    err = err_console()
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
                rows = export_with_progress(frame, out.stream(), fmt=fmt, fields=wanted, console=err)
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
        note(f"wrote {rows:,} events to {out.path} ({byte_size(out.path.stat().st_size)})", style="green")
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
        print_json(
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
    else:
        print_stats(
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
        print_json(
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
    else:
        print_hist(h, width=width, height=height)
    if h.total == 0:
        note(f"no values of {field!r} matched")
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
