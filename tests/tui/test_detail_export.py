"""The detail pane (enter), copy (c) and export (e)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tests.tui.helpers import frame_of, loaded, screen_text, settle, sync, type_text, wait_until
from ttview.app import make_app

SIZE = (120, 40)


@sync
async def test_enter_toggles_the_detail_of_the_selected_event(snapshot_file: Path) -> None:
    app = make_app(paths=[str(snapshot_file)])
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        log = app.log_view
        await pilot.press("home")
        # the first trade of the fixture
        trade_row = frame_of(app.view).with_row_index().filter(pl.col("logger") == "oms.fills")["index"][0]
        for _ in range(trade_row):
            log.action_cursor_down()
        await pilot.press("enter")
        detail = app.detail
        assert detail.is_open
        row = frame_of(app.view).row(trade_row, named=True)
        event = detail.event
        assert event is not None
        assert event["level"] == "TRADE" and event["logger"] == "oms.fills" and event["seq"] == row["seq"]
        assert event["time"].startswith("2026-11-21T14:30:") and event["time"].endswith("Z")
        fields = {"order_id", "symbol", "side", "qty", "price", "venue", "latency_us"}
        assert (
            set(event)
            == {"time", "ts_ns", "level", "level_no", "logger", "message", "service", "pid", "tid", "seq"}
            | fields
        )
        text = detail.plain
        for needle in (
            "time",
            "ts_ns",
            "TRADE (22)",
            "oms.fills",
            "demo-trader",
            "4242 / 1001",
            "Trade executed",
            "fields (7)",
            row["order_id"],
            "latency_us",
            '"ts_ns":',
        ):
            assert needle in text, needle
        assert json.loads(detail.json_text)["order_id"] == row["order_id"]
        assert "fields (7)" in screen_text(app)
        # the pane follows the cursor
        await pilot.press("up")
        assert detail.event["seq"] == frame_of(app.view).row(trade_row - 1, named=True)["seq"]
        # copy
        await pilot.press("c")
        copied = json.loads(app.clipboard)
        assert copied["seq"] == detail.event["seq"] and copied["ts_ns"] == detail.event["ts_ns"]
        await pilot.press("enter")
        assert not detail.is_open
        await pilot.press("enter", "escape")
        assert not detail.is_open


@sync
async def test_export_writes_the_filtered_view(snapshot_file: Path, tmp_path: Path) -> None:
    app = make_app(paths=[str(snapshot_file)], filter_text='logger == "oms.orders"')
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await settle(pilot)
        shown = app.view.height
        assert 0 < shown < 2000
        target = tmp_path / "orders.ndjson"
        await pilot.press("ctrl+s")
        # the prompt opens empty (typing a path must not append to a suggestion)
        assert app.prompt.is_open and app.prompt.mode == "export" and app.prompt.input.value == ""
        await type_text(pilot, str(target))
        await pilot.press("enter")
        await wait_until(pilot, target.exists, what="the export")
        await settle(pilot)
        await wait_until(pilot, lambda: app.last_export == str(target), what="the export's end")
        events = [json.loads(line) for line in target.read_text().splitlines()]
        assert len(events) == shown
        assert {e["logger"] for e in events} == {"oms.orders"}
        first = frame_of(app.view).row(0, named=True)
        assert events[0]["seq"] == first["seq"] and events[0]["order_id"] == first["order_id"]
        assert events[0]["time"].startswith("2026-11-21T14:30:") and events[0]["time"].endswith("Z")
        await pilot.press("home", "c")
        assert json.loads(app.clipboard) == events[0]  # c copies an event as export writes it
        ns = frame_of(app.view).select(pl.col("ts").dt.epoch("ns")).to_series().to_list()
        assert [e["ts_ns"] for e in events] == ns
        back = pl.read_ndjson(target)
        assert back.height == shown
        # JSON: one array
        target_json = tmp_path / "orders.json"
        await pilot.press("ctrl+s")
        await type_text(pilot, str(target_json))
        await pilot.press("enter")
        await wait_until(pilot, target_json.exists, what="the export")
        await settle(pilot)
        assert len(json.loads(target_json.read_text())) == shown
        # a bad name is refused in the prompt
        await pilot.press("ctrl+s")
        await type_text(pilot, str(tmp_path / "orders.txt"))
        await pilot.press("enter")
        assert app.prompt.is_open and ".json, .ndjson, .csv or .parquet" in app.prompt.message_text
        # CSV and Parquet too (ttview.export writes them)
        target_parquet = tmp_path / "orders.parquet"
        await pilot.press("ctrl+u")
        await type_text(pilot, str(target_parquet))
        await pilot.press("enter")
        await wait_until(pilot, target_parquet.exists, what="the export")
        await settle(pilot)
        assert pl.read_parquet(target_parquet)["seq"].to_list() == frame_of(app.view)["seq"].to_list()
