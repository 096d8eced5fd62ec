"""Shared fixtures: every ring test runs against the C writer and its pure-Python twin."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ttlog import ring as R

IMPLS = ["python"] if os.environ.get("TTLOG_NO_C") in ("1", "true", "yes") else ["python", "c"]


def ring_classes(impl: str) -> tuple[Any, Any]:
    if impl == "python":
        return R.PyRing, R.PyLogger
    from ttlog import _ring  # a missing build fails loudly here, never skips

    return _ring.Ring, _ring.Logger


@dataclass
class RingUnderTest:
    impl: str
    path: Path
    ring: Any
    logger_cls: Any

    def logger(self, name: str = "test") -> Any:
        return self.logger_cls(self.ring, name)


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_ring(impl: str, tmp_path: Path):
    """make_ring(**create_ring_file options) -> a mapped ring of the parametrized implementation."""
    made: list[Any] = []

    def make(**kw: Any) -> RingUnderTest:
        kw.setdefault("service", "test")
        kw.setdefault("ring_size", "1MiB")
        kw.setdefault("level", "TRACE")
        directory = kw.pop("directory", tmp_path)
        path = R.create_ring_file(directory, **kw)
        ring_cls, logger_cls = ring_classes(impl)
        ring = ring_cls()
        ring.map(path)
        made.append(ring)
        return RingUnderTest(impl, path, ring, logger_cls)

    yield make
    for ring in made:
        ring.unmap()
