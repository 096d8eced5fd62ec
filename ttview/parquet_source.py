"""Parquet exports as a source: ``ttview stats``/``hist``/``export``/``open`` read what
``ttview export -F parquet`` wrote (one file, many, or a hive-partitioned dataset of many hosts)
as the same lazy event source as snapshots.

The export's columns turn back into the event schema (``ttview.schema``): ``ts`` from ``ts_ns``
(exact nanoseconds; from ``time`` when a file lacks it), ``level`` from ``level_no``, the core
columns as they are, every other column a field; a partition key that is a core column
(``service``, ``pid``, ...) fills that column, and ``date`` (derived from ``ts``) is left out.
polars' own Parquet scan does the reading: projection, predicate pushdown by the files'
statistics, streaming.

Invariants: headless; nothing is read before a query runs except the files' footers (schema and
row counts); a file that is not Parquet is reported (one line naming it) and left out.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ttview.query import ChunkBounds
from ttview.scan import FileError
from ttview.schema import CORE_COLUMNS, TS_DTYPE, unify_dtypes

__all__ = ["ParquetCatalog", "is_parquet_input", "open_parquet"]

SUFFIXES = (".parquet", ".pq")
_DERIVED = frozenset({"date", "time", "ts_ns", "level_no"})


def _is_parquet_file(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and path.is_file()


def _dataset_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if _is_parquet_file(p) and not p.name.startswith("."))


def is_parquet_input(paths: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether ``paths`` name Parquet (files, globs of them, or directories holding them and no
    snapshots)."""
    from ttlog.store import list_snapshots

    any_parquet = False
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            if list_snapshots(p):
                return False
            any_parquet = any_parquet or bool(_dataset_files(p))
        elif p.suffix.lower() in SUFFIXES:
            any_parquet = True
        else:
            return False
    return any_parquet


@dataclass
class ParquetCatalog:
    """Parquet files read together as events (the counterpart of :class:`ttview.scan.Catalog`)."""

    paths: list[Path]
    schema: pl.Schema
    errors: list[FileError] = field(default_factory=list)
    _scan: pl.LazyFrame | None = field(default=None, repr=False)
    _counts: tuple[int, int | None, int | None] | None = field(default=None, repr=False)

    files: list[Any] = field(default_factory=list)
    """(Snapshot headers: none here; the export carries no producer counts.)"""

    @property
    def dropped(self) -> int:
        return 0

    @property
    def lost(self) -> int:
        return 0

    @property
    def sources(self) -> list[dict[str, Any]]:
        return []

    def _stats(self) -> tuple[int, int | None, int | None]:
        if self._counts is None:
            assert self._scan is not None
            row = self._scan.select(pl.len().alias("n"), pl.col("ts").dt.epoch("ns").min().alias("lo"),
                                    pl.col("ts").dt.epoch("ns").max().alias("hi")).collect(engine="streaming").row(0)
            self._counts = (int(row[0]), row[1], row[2])
        return self._counts

    @property
    def total(self) -> int:
        return self._stats()[0]

    @property
    def first_ts(self) -> int | None:
        return self._stats()[1]

    @property
    def last_ts(self) -> int | None:
        return self._stats()[2]

    def lazy(self, *, hints: ChunkBounds | None = None, ordered: bool = True) -> pl.LazyFrame:
        """Every event as a LazyFrame (merged by ``ts`` when ``ordered``; polars sorts it)."""
        assert self._scan is not None
        lazy = self._scan
        if hints is not None:
            epoch = pl.col("ts").dt.epoch("ns")
            if hints.ts_min is not None:
                lazy = lazy.filter(epoch >= hints.ts_min)
            if hints.ts_max is not None:
                lazy = lazy.filter(epoch <= hints.ts_max)
        return lazy.sort("ts", maintain_order=True) if ordered and len(self.paths) > 1 else lazy

    def close(self) -> None:
        pass

    def __enter__(self) -> ParquetCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[FileError]]:
    found: list[Path] = []
    errors: list[FileError] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = _dataset_files(p)
            if not files:
                errors.append(FileError(p, f"{p}: no Parquet files in this directory"))
            found.extend(files)
        elif p.is_file():
            found.append(p)
        elif set("*?[") & set(str(raw)):
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True) if Path(m).is_file())
            if not matches:
                errors.append(FileError(p, f"{p}: no file matches"))
            found.extend(matches)
        else:
            errors.append(FileError(p, f"{p}: no such file or directory"))
    return list(dict.fromkeys(found)), errors


def _hive_keys(path: Path) -> dict[str, str]:
    return dict(part.split("=", 1) for part in path.parent.parts if "=" in part)


def open_parquet(paths: Iterable[str | os.PathLike[str]]) -> ParquetCatalog:
    """The Parquet files named by ``paths`` (files, globs, dataset directories) as events."""
    found, errors = _resolve(paths)
    good: list[Path] = []
    schemas: list[pl.Schema] = []
    for path in found:
        try:
            schemas.append(pl.read_parquet_schema(path))
        except Exception as exc:  # noqa: BLE001 - whatever the bytes, one clear line naming the file
            line = " ".join(str(exc).split())[:200]
            errors.append(FileError(path, f"{path}: not a readable Parquet file ({line})"))
            continue
        good.append(path)
    columns: dict[str, list[pl.DataType]] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            columns.setdefault(name, []).append(dtype)
    catalog = ParquetCatalog(paths=good, schema=pl.Schema(CORE_COLUMNS), errors=errors)
    if not good:
        return catalog
    frames = []
    target = {name: unify_dtypes(ds) for name, ds in columns.items()}
    for path in good:  # one scan per file: files may differ in their columns and dtypes
        lazy = pl.scan_parquet(path)
        keys = _hive_keys(path)
        own = pl.read_parquet_schema(path)
        lazy = lazy.with_columns(
            [pl.col(n).cast(target[n]) for n, d in own.items()
             if d != target[n] and not isinstance(target[n], pl.Struct)]
            + [pl.lit(v).alias(k) for k, v in keys.items() if k not in own])
        frames.append(lazy)
    scan = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    names = scan.collect_schema().names()
    exprs: list[pl.Expr] = []
    if "ts_ns" in names:
        exprs.append(pl.col("ts_ns").cast(pl.Int64).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC").alias("ts"))
    elif "time" in names:
        exprs.append(pl.col("time").dt.cast_time_unit("ns").dt.convert_time_zone("UTC").alias("ts"))
    else:
        exprs.append(pl.lit(None, dtype=TS_DTYPE).alias("ts"))
    for name, dtype in CORE_COLUMNS.items():
        if name == "ts":
            continue
        if name == "level":
            source = "level_no" if "level_no" in names else None
        else:
            source = name if name in names else None
        exprs.append((pl.col(source).cast(dtype) if source else pl.lit(None, dtype=dtype)).alias(name))
    for name in names:
        if name in CORE_COLUMNS or name in _DERIVED or name == "level":
            continue
        exprs.append(pl.col(name))
    catalog._scan = scan.select(exprs)
    catalog.schema = catalog._scan.collect_schema()
    return catalog
