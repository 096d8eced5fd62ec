"""The golden CLI cases: each runs one ``ttview`` command on the bundled sample snapshots.

``tests/cli/test_golden.py`` runs every case and compares its stdout with
``tests/cli/golden/<name>.txt``; ``tests/cli/update_golden.py`` writes those files. When the
samples are regenerated (scripts/make_samples.py) or an output changes on purpose::

    python tests/cli/update_golden.py        # then review `git diff tests/cli/golden`

Cases run with ``TZ=UTC``, ``COLUMNS=100`` (or the case's ``columns``), ``NO_COLOR=1`` and the
working directory set to the
folder holding ``sample_snapshots/``, so the paths in the output are relative and the same on
every machine. A Parquet export is stored as its schema and rows (``parquet_dump``), not as bytes;
trailing spaces of table and chart lines are dropped (exports are kept byte for byte).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from ttview.cli import app
from ttview.lsinfo import sample_dir

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
ENV = {"TZ": "UTC", "COLUMNS": "100", "LINES": "40", "NO_COLOR": "1", "TERM": "dumb"}
SAMPLES = "sample_snapshots"
SHM_PLACEHOLDER = "<SHM_DIR>"

# 72 events across the three samples: the first of each clean/crash session, the warnings and
# errors early on, and three events of the flight recorder (whose seqs start at 52082).
EXPORT_FILTER = "seq < 4 or (level >= WARN and seq < 1500) or seq in (52082, 52083, 59999)"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    exit_code: int = 0
    parquet: bool = False  # stdout is a Parquet file: compare its dump
    columns: int = 100  # the terminal width the command sees

    @property
    def path(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.txt"


CASES: tuple[Case, ...] = (
    Case("stats_logger", ("stats", SAMPLES)),
    Case("stats_level_json", ("stats", SAMPLES, "--group-by", "level", "--json")),
    Case(
        "stats_symbol_price",
        ("stats", SAMPLES, "-g", "symbol", "--field", "price", "-f", "level == TRADE", "--sort", "group"),
    ),
    Case("stats_service_rtt_json", ("stats", SAMPLES, "-g", "service", "--field", "rtt_us", "--json")),
    Case(
        "stats_venue_no_field", ("stats", SAMPLES, "-g", "venue", "-f", 'logger == "gateway"', "--limit", "3")
    ),
    Case("stats_no_match", ("stats", SAMPLES, "-f", "level == TRACE"), exit_code=1),
    Case("hist_linear", ("hist", SAMPLES, "--field", "latency_us", "--bins", "30")),
    Case("hist_log", ("hist", SAMPLES, "--log", "-f", 'logger == "oms.orders"', "--height", "16")),
    Case("hist_log_by_service", ("hist", SAMPLES, "--log", "--by", "service", "--bins", "30")),
    Case("hist_by_logger_json", ("hist", SAMPLES, "--log", "--by", "logger", "--bins", "12", "--json")),
    Case("hist_reconnect", ("hist", SAMPLES, "--field", "reconnect_ms", "--bins", "10", "--height", "12")),
    Case("hist_no_values", ("hist", SAMPLES, "--field", "rtt_us", "-f", "level == TRADE"), exit_code=1),
    Case("export_json", ("export", SAMPLES, "-F", "json", "-f", EXPORT_FILTER)),
    Case("export_ndjson", ("export", SAMPLES, "-F", "ndjson", "-f", EXPORT_FILTER)),
    Case("export_csv", ("export", SAMPLES, "-F", "csv", "-f", EXPORT_FILTER)),
    Case("export_parquet", ("export", SAMPLES, "-F", "parquet", "-f", EXPORT_FILTER), parquet=True),
    Case(
        "export_csv_fields",
        (
            "export",
            SAMPLES,
            "--format",
            "csv",
            "-f",
            "level == ERROR and seq < 3000",
            "--fields",
            "time,level,logger,message,venue,reconnect_ms",
        ),
    ),
    Case(
        "export_ndjson_fields",
        (
            "export",
            SAMPLES,
            "-f",
            "level == RISK and seq < 200",
            "--fields",
            "ts_ns,symbol,passed,latency_us,utilisation",
        ),
    ),
    Case("export_json_empty", ("export", SAMPLES, "-F", "json", "-f", "level == TRACE"), exit_code=1),
    Case(
        "export_csv_empty",
        ("export", SAMPLES, "-F", "csv", "--fields", "time,message", "-f", "level == TRACE"),
        exit_code=1,
    ),
    Case("ls_samples", ("ls", "--shm-dir", SHM_PLACEHOLDER, "--snapshot-dir", SAMPLES)),
    Case("ls_samples_json", ("ls", "--shm-dir", SHM_PLACEHOLDER, "--snapshot-dir", SAMPLES, "--json")),
    # 80 columns: names shortened in the middle, never a number or size cut, one line per row
    Case("ls_samples_80", ("ls", "--shm-dir", SHM_PLACEHOLDER, "--snapshot-dir", SAMPLES), columns=80),
    Case("stats_reason_80", ("stats", SAMPLES, "-g", "reason"), columns=80),
    Case("hist_log_80", ("hist", SAMPLES, "--log", "--height", "14"), columns=80),
)

ORDER, FILL = 'message == "Order placed"', 'message == "Trade executed"'
LATENCY_CASES: tuple[Case, ...] = (
    Case("latency_order_fill", ("latency", SAMPLES, "--from", ORDER, "--to", FILL, "--by", "pid,order_id")),
    Case(
        "latency_by_venue_ms",
        ("latency", SAMPLES, "--from", ORDER, "--to", FILL, "--by", "pid,order_id", "-g", "venue",
         "--unit", "ms", "--linear", "--bins", "24", "--height", "12"),
    ),
    Case("latency_global_key_json", ("latency", SAMPLES, "--from", ORDER, "--to", FILL, "--by", "order_id",
                                     "--bins", "8", "--json")),
    Case(
        "latency_filtered_symbol",
        ("latency", SAMPLES, "--from", ORDER, "--to", FILL, "--by", "pid,order_id",
         "-f", 'service == "demo-trader"', "-g", "symbol", "--limit", "3", "--height", "10", "--bins", "20"),
    ),
    Case(
        "latency_no_pairs",
        ("latency", SAMPLES, "--from", "level == TRACE", "--to", FILL, "--by", "order_id"),
        exit_code=1,
    ),
)
CASES = CASES + LATENCY_CASES


@contextmanager
def golden_env() -> Iterator[Path]:
    """Run with the golden environment: cwd beside the samples, TZ=UTC; yields an empty shm dir."""
    old_cwd = os.getcwd()
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory(prefix="ttview-golden-shm-") as shm:
        os.chdir(sample_dir().parent)
        try:
            yield Path(shm)
        finally:
            os.chdir(old_cwd)
            if old_tz is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old_tz
            time.tzset()


def parquet_dump(data: bytes) -> str:
    """A Parquet file as text: its polars schema, then one JSON object per row."""
    import polars as pl

    frame = pl.read_parquet(io.BytesIO(data))
    lines = [json.dumps({name: str(dtype) for name, dtype in frame.schema.items()})]
    for row in frame.iter_rows(named=True):
        lines.append(json.dumps(row, default=str, sort_keys=False))
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_case(case: Case, shm_dir: Path) -> Outcome:
    """Run ``case`` (inside :func:`golden_env`); stdout normalised as the golden file holds it."""
    args = [str(shm_dir) if a == SHM_PLACEHOLDER else a for a in case.args]
    result = CliRunner().invoke(app, args, env={**ENV, "COLUMNS": str(case.columns)}, catch_exceptions=False)
    if case.parquet:
        out = parquet_dump(result.stdout_bytes)
    else:
        out = result.stdout.replace(str(shm_dir), SHM_PLACEHOLDER)
    if case.args[0] != "export":  # tables pad lines with spaces; editors strip them
        out = "".join(line.rstrip() + "\n" for line in out.splitlines())
    return Outcome(result.exit_code, out, result.stderr)
