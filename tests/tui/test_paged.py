"""The viewer over more events than it holds in memory: a paged view (ttview.chunkview) that shows
the same rows, filters, charts and exports as the in-memory one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.tui.helpers import frame_of, loaded, screen_text, settle, sync, type_text, wait_until
from ttview.app import make_app
from ttview.chunkview import ChunkedEventView, FilteredChunkView
from ttview.query import apply_filter
from ttview.sources import load_snapshots
from ttview.stats import group_stats

SIZE = (120, 40)
SAMPLES = Path(__file__).resolve().parents[2] / "sample_snapshots"


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> None:
    import ttview.sources

    monkeypatch.setattr(ttview.sources, "IN_MEMORY_EVENTS", 0)  # page every snapshot in


@sync
async def test_the_paged_viewer_shows_filters_and_groups_like_the_in_memory_one(paged: None,
                                                                                tmp_path: Path) -> None:
    eager = load_snapshots([SAMPLES]).frame
    app = make_app(paths=[str(SAMPLES)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert isinstance(app.full, ChunkedEventView) and app.full.height == eager.height
        assert app.log_view.cursor == eager.height - 1  # the newest event, as in memory
        shown = app.view.rows(eager.height - 5, eager.height)
        assert shown.equals(eager.tail(5))
        assert "167,918 events" in screen_text(app)
        text = 'level >= WARN and logger == "oms.orders"'
        await pilot.press("slash")
        await type_text(pilot, text)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.view, FilteredChunkView) and app.view.complete,
                         what="the paged filter to finish")
        await settle(pilot)
        want = apply_filter(eager, text)
        assert app.view.height == want.height > 0
        assert frame_of(app.view).equals(want)
        assert f"{want.height:,} shown of 167,918 events" in screen_text(app)
        # e: the next error, as the in-memory view finds it
        await pilot.press("home")
        await pilot.press("e")
        await settle(pilot)
        errors = want.with_row_index().filter(pl.col("level") >= 40)
        if errors.height:
            assert app.log_view.cursor == errors["index"][0]
        # group-by over the filtered events: the same numbers
        got = group_stats(app.view.events(), by="logger", field="latency_us")
        assert got.equals(group_stats(want, by="logger", field="latency_us"))
        # export of the filtered view writes every matching event, in order
        out = tmp_path / "x.ndjson"
        app._export(app.view, str(out), "ndjson")
        await wait_until(pilot, lambda: out.exists() and app.last_export == str(out), what="the export")
        assert pl.read_ndjson(out).height == want.height


@sync
async def test_a_chunk_found_bad_while_paging_is_named_and_never_crashes_the_viewer(paged: None,
                                                                                    tmp_path: Path) -> None:
    # The header's total comes from the index; a chunk that turns out bad when read cuts its
    # file short. The viewer names the file, shows exactly the kept events, and filters them.
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(SAMPLES, bad, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    victim = max(bad.glob("*.ttsnap"), key=lambda p: p.stat().st_size)
    size = victim.stat().st_size
    with open(victim, "r+b") as fh:
        fh.seek(size // 2)
        flipped = bytes(x ^ 0xFF for x in fh.read(8))
        fh.seek(size // 2)
        fh.write(flipped)
    eager = load_snapshots([bad]).frame
    assert 0 < eager.height < 167_918
    app = make_app(paths=[str(bad)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("home")  # rows from every file, the bad one's too
        await settle(pilot)
        await pilot.press("end")
        text = "level >= WARN"
        await pilot.press("slash")
        await type_text(pilot, text)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.view, FilteredChunkView) and app.view.complete
                         and not app.view.stale, what="the paged filter to finish")
        await settle(pilot)
        want = apply_filter(eager, text)
        assert app.full.height == eager.height
        assert frame_of(app.view).equals(want)
        await wait_until(pilot, lambda: "⚠ 1 error: skipped" in screen_text(app), what="the bad file named")
        assert len(app.errors) == 1 and victim.name in app.errors[0]
        assert f"{want.height:,} shown of {eager.height:,} events" in screen_text(app)
