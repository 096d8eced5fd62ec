"""Live tail: events written to a ring by a PyRing logger during the test reach the view."""

from __future__ import annotations

from pathlib import Path

from ttlog import ring as R

from tests.tui.helpers import frame_of, screen_text, sync, wait_until
from ttview.app import make_app

SIZE = (120, 40)


class Producer:
    """A ring in ``directory`` and a logger writing to it, as a producer process would (``pid``:
    the producer's process id in the ring header; a pid that does not run is a producer that
    ended)."""

    def __init__(self, directory: Path, service: str = "live-test", pid: int | None = None) -> None:
        self.path = R.create_ring_file(directory, service=service, ring_size="1MiB", level="TRACE", pid=pid)
        self.ring = R.PyRing()
        self.ring.map(self.path)
        self.log = R.PyLogger(self.ring, "orders")
        self.n = 0

    def write(self, count: int) -> None:
        for _ in range(count):
            self.n += 1
            method = self.log.warn if self.n % 5 == 0 else self.log.order
            method("Order placed", order_id=f"ORD-{self.n:05d}", latency_us=float(self.n))

    def end(self, reason: str) -> None:
        """End as ``ttlog.shutdown(reason)`` does: name the reason, mark the ring closed."""
        self.ring.set_header_u32(R.H_EXIT_REASON, self.ring.intern(reason, R.S_OTHER))
        self.ring.set_header_u32(R.H_STATE, R.STATE_CLOSED)

    def close(self) -> None:
        if self.ring.mapped:
            self.ring.unmap()


@sync
async def test_live_tail_follows_new_events_marks_new_ones_and_pauses(tmp_path: Path) -> None:
    producer = Producer(tmp_path)
    try:
        producer.write(10)
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            log = app.log_view
            await wait_until(pilot, lambda: log.row_count == 10, what="the first events")
            assert "LIVE" in screen_text(app) and "1 ring" in screen_text(app)
            assert log.follow and log.cursor == 9
            producer.write(15)
            await wait_until(pilot, lambda: log.row_count == 25, what="new events")
            assert log.cursor == 24  # following
            assert frame_of(app.view)["order_id"].to_list()[-1] == "ORD-00025"
            # scrolled back: new events are counted, not jumped to
            await pilot.press("up", "up")
            assert not log.follow and log.cursor == 22
            producer.write(5)
            await wait_until(pilot, lambda: log.row_count == 30, what="more events")
            assert log.cursor == 22 and log.pending == 5
            assert "▼ 5 new" in screen_text(app)
            await pilot.press("G")
            assert log.follow and log.cursor == 29 and log.pending == 0
            # a filter applies to what arrives later too
            await pilot.press("slash", *"level == WARN", "enter")
            await wait_until(pilot, lambda: app.view.height == 6, what="the filter")
            producer.write(10)
            await wait_until(pilot, lambda: app.view.height == 8, what="filtered new events")
            assert app.full.height == 40
            # pause: the view stands still, the header counts what waits
            await pilot.press("p")
            assert app.paused and "PAUSED" in screen_text(app)
            producer.write(10)
            await wait_until(
                pilot,
                lambda: app._live_stash is not None and app._live_stash.state.received == 50,
                what="events while paused",
            )
            assert app.view.height == 8 and app.full.height == 40
            assert "▼ 10 new" in screen_text(app)
            await pilot.press("p")
            assert not app.paused and app.view.height == 10 and app.full.height == 50
            assert "LIVE" in screen_text(app)
    finally:
        producer.close()


@sync
async def test_live_memory_is_bounded_and_service_filtered(tmp_path: Path) -> None:
    wanted = Producer(tmp_path, service="wanted")
    other = Producer(tmp_path, service="other")
    try:
        app = make_app(live=True, shm_dir=str(tmp_path), service="wanted", max_live_events=40)
        async with app.run_test(size=SIZE) as pilot:
            other.write(30)
            wanted.write(30)
            await wait_until(pilot, lambda: app.full.height == 30, what="the first events")
            assert set(frame_of(app.full)["service"].to_list()) == {"wanted"}
            wanted.write(30)
            await wait_until(
                pilot, lambda: frame_of(app.view)["order_id"].to_list()[-1] == "ORD-00060", what="more events"
            )
            assert app.full.height == 40  # the newest max_live_events
            assert frame_of(app.full)["order_id"].to_list() == [f"ORD-{i:05d}" for i in range(21, 61)]
            # the header says that only the newest are kept, of how many
            await wait_until(pilot, lambda: "newest 40 of 60 received" in screen_text(app), what="the cap")
            assert "40 shown" in screen_text(app) and "of 40 events" not in screen_text(app)
    finally:
        wanted.close()
        other.close()


@sync
async def test_live_with_no_rings_waits_quietly(tmp_path: Path) -> None:
    app = make_app(live=True, shm_dir=str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.6)
        assert app.view.height == 0 and "LIVE" in screen_text(app)
        producer = Producer(tmp_path)
        try:
            producer.write(3)
            await wait_until(pilot, lambda: app.view.height == 3, what="a ring that appeared later")
        finally:
            producer.close()


@sync
async def test_a_ring_whose_producer_ended_is_drained_and_marked(tmp_path: Path) -> None:
    gone = Producer(tmp_path, service="gone", pid=2**22 + 12345)  # no such process
    try:
        gone.write(7)
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.view.height == 7, what="the events of the ended ring")
            await wait_until(pilot, lambda: "CRASHED" in screen_text(app), what="the ended mark")
            assert "1 ring (1 ended: killed (no clean exit: SIGKILL or a crash))" in screen_text(app)
            assert "■ ENDED" not in screen_text(app)
    finally:
        gone.close()


@sync
async def test_the_header_says_why_each_producer_ended(tmp_path: Path) -> None:
    clean = Producer(tmp_path, service="clean")
    failed = Producer(tmp_path, service="failed")
    try:
        clean.write(3)
        failed.write(4)
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_until(pilot, lambda: app.view.height == 7, what="the events")
            assert "● LIVE" in screen_text(app)
            clean.end("exit")
            clean_exit = "(1 ended: exited cleanly)"
            await wait_until(pilot, lambda: clean_exit in screen_text(app), what="a clean exit")
            assert "● LIVE" in screen_text(app)  # the other one still runs
            failed.end("exception")
            failed.close()
            failed.path.unlink()  # the sidecar removes a drained ring: its reason is still read
            await wait_until(pilot, lambda: "2 ended" in screen_text(app), what="the exception")
            top = screen_text(app)
            assert "1 exited cleanly, 1 uncaught exception" in top
            assert "■ ENDED" in top  # two reasons: the badge stays general
    finally:
        clean.close()
        failed.close()


@sync
async def test_one_reason_names_the_badge(tmp_path: Path) -> None:
    producer = Producer(tmp_path)
    try:
        producer.write(2)
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.view.height == 2, what="the events")
            producer.end("exception")
            await wait_until(pilot, lambda: "✖ EXCEPTION" in screen_text(app), what="the badge")
            assert "(1 ended: uncaught exception)" in screen_text(app)
    finally:
        producer.close()


@sync
async def test_a_full_ring_with_no_sidecar_says_so(tmp_path: Path) -> None:
    producer = Producer(tmp_path)
    try:
        producer.write(40_000)  # more than a 1 MiB ring holds: nothing drains it, so it drops
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_until(pilot, lambda: app.view.height > 1000, what="the events")
            await wait_until(
                pilot,
                lambda: "(no sidecar drains this ring)" in screen_text(app),
                what="the hint",
                timeout=10,
            )
            dropped = app._dropped
            assert dropped > 0 and f"{dropped:,} dropped (no sidecar drains this ring)" in screen_text(app)
    finally:
        producer.close()


@sync
async def test_live_with_a_filter_from_the_command_line(tmp_path: Path) -> None:
    producer = Producer(tmp_path)
    try:
        app = make_app(live=True, shm_dir=str(tmp_path), filter_text="level == WARN")
        async with app.run_test(size=SIZE) as pilot:
            producer.write(20)
            await wait_until(pilot, lambda: app.full.height == 20, what="the events")
            await wait_until(pilot, lambda: app.view.height == 4, what="the filtered view")
            assert set(frame_of(app.view)["level"].to_list()) == {30}
            await pilot.press("up")  # stop following: new matching rows are counted
            producer.write(10)
            await wait_until(pilot, lambda: app.view.height == 6, what="new matching events")
            assert app.log_view.pending == 2 and "▼ 2 new" in screen_text(app)
    finally:
        producer.close()


@sync
async def test_the_rings_lost_counts_reach_the_header(tmp_path: Path) -> None:
    producer = Producer(tmp_path)
    try:
        producer.write(5)
        producer.ring.set_header_u64(R.H_LOST, 1234)  # as a sidecar counts records overwritten unread
        app = make_app(live=True, shm_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.view.height == 5, what="the events")
            await wait_until(pilot, lambda: "1,234 overwritten" in screen_text(app), what="the lost count")
    finally:
        producer.close()


def test_the_live_worker_reads_no_app_state() -> None:
    """The live worker gets what it needs as arguments (a LiveControl for the filter) and sends
    results as messages: its code never reads the app's filter or flips a flag of the app."""
    import inspect

    from ttview.app import TTViewApp

    source = inspect.getsource(TTViewApp._follow_live)
    for name in ("self.filter", "self.filter_text", "self.spec", "self._live", "self.full", "self.view"):
        assert name not in source, name
