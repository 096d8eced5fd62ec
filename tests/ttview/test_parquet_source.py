"""Parquet exports read back as events: one file, a hive-partitioned dataset, DuckDB beside us."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from ttview.export import write_export
from ttview.parquet_source import is_parquet_input, open_parquet
from ttview.sources import load_snapshots

SAMPLES = Path(__file__).resolve().parents[2] / "sample_snapshots"


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return load_snapshots([SAMPLES]).frame


def test_one_file_reads_back_as_the_same_events(events: pl.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    assert write_export(events, out, fmt="parquet") == events.height
    assert is_parquet_input([out]) and not is_parquet_input([SAMPLES])
    back = load_snapshots([out]).frame
    assert back.schema == events.schema  # every column and dtype, the Struct of qty included
    assert back.equals(events)


def test_a_partitioned_dataset_is_one_table(events: pl.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_export(events.lazy(), out, fmt="parquet", partition_by=["service", "date"],
                 metadata={"ttview.hosts": "hostA"})
    files = sorted(out.rglob("*.parquet"))
    assert {f.parent.parent.name for f in files} == {"service=demo-trader", "service=md-recorder"}
    assert all(f.parent.name == "date=2026-11-20" for f in files)
    catalog = open_parquet([out])
    assert catalog.total == events.height and not catalog.errors
    back = catalog.lazy().collect()
    assert back.equals(events)
    # a second host's export into the same tree: file names never collide, all rows are kept
    write_export(events.lazy(), out, fmt="parquet", partition_by=["service", "date"])
    assert len(list(out.rglob("*.parquet"))) >= len(files)
    assert open_parquet([out]).total == 2 * events.height
    # DuckDB reads the same dataset as one table, with the same numbers
    import duckdb  # in the test extra

    got = duckdb.sql(f"select service, count(*) as n, quantile_cont(latency_us, 0.99) as p99 "
                     f"from read_parquet('{out}/**/*.parquet', hive_partitioning=true) "
                     f"group by all order by 1").fetchall()
    doubled = pl.concat([events, events])
    want = (doubled.group_by("service").agg(pl.len().alias("n"),
                                            pl.col("latency_us").quantile(0.99, "linear"))
            .sort("service").rows())
    assert [(s, n) for s, n, _ in got] == [(s, n) for s, n, _ in want]
    assert all(abs(a[2] - b[2]) < 1e-6 * abs(b[2]) for a, b in zip(got, want, strict=True))


def test_the_cli_reads_parquet_like_snapshots(events: pl.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "ttview"]
    ran = subprocess.run([*cmd, "export", str(SAMPLES), "-F", "parquet", "--partition-by", "service,date",
                          "-o", str(out)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    snap = subprocess.run([*cmd, "stats", str(SAMPLES), "-g", "service", "--json"], capture_output=True,
                          text=True)
    pq = subprocess.run([*cmd, "stats", str(out), "-g", "service", "--json"], capture_output=True, text=True)
    import json

    a, b = json.loads(snap.stdout), json.loads(pq.stdout)
    assert a["groups"] == b["groups"] and a["total"] == b["total"] and a["events"] == b["events"]


def test_many_hosts_in_one_tree_as_readme_shows(events: pl.DataFrame, tmp_path: Path) -> None:
    """README's multi-host layout: each host exports into ``host=NAME``; ttview, DuckDB and polars
    read the tree as one table with a host column, and agree on every count."""
    import json

    import duckdb

    root = tmp_path / "ttlog"
    cmd = [sys.executable, "-m", "ttview"]
    md = sorted(SAMPLES.glob("*md-recorder*.ttsnap"))
    for host, paths in (("alpha", [SAMPLES]), ("beta", md)):
        ran = subprocess.run([*cmd, "export", *map(str, paths), "-F", "parquet", "--partition-by",
                              "service,date", "-o", str(root / f"host={host}")],
                             capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr
    beta = load_snapshots(md).frame.height
    assert 0 < beta < events.height
    ran = subprocess.run([*cmd, "stats", str(root), "-g", "host", "--json"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    ours = {g["host"]: g["count"] for g in json.loads(ran.stdout)["groups"]}
    assert ours == {"alpha": events.height, "beta": beta}
    got = dict(duckdb.sql(f"select host, count(*) from read_parquet('{root}/**/*.parquet', "
                          f"hive_partitioning = true, union_by_name = true) group by all").fetchall())
    assert got == ours
    lazy = pl.scan_parquet(root / "**/*.parquet", hive_partitioning=True, missing_columns="insert")
    assert dict(lazy.group_by("host").len().collect().rows()) == ours


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"PAR1 not really")
    catalog = open_parquet([bad])
    assert not catalog.paths and str(bad) in catalog.errors[0].message
