"""ttlog.init/get_logger/shutdown, timed(), the stdlib bridge, fork, and the headless promise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ttlog
from ttlog import ring as R
from ttlog.reader import RingReader, header_info


def events_of(path: Path) -> list[dict]:
    with RingReader(path) as reader:
        return [e for b in reader.read_all() for e in b.events()]


@pytest.fixture
def ring_path(tmp_path: Path):
    path = ttlog.init("api-test", shm_dir=tmp_path, ring_size="1MiB", level="TRACE", install_hooks=False)
    yield path
    ttlog.shutdown()


def test_logger_made_before_init_writes_after_it(tmp_path: Path) -> None:
    early = ttlog.get_logger("early")
    early.info("before init: nowhere to go")
    path = ttlog.init("api-test", shm_dir=tmp_path, ring_size="1MiB", install_hooks=False)
    try:
        early.info("after init", k=1)
        assert ttlog.get_logger("early") is early
    finally:
        ttlog.shutdown()
    assert [(e["logger"], e["message"]) for e in events_of(path)] == [("early", "after init")]


def test_set_level_and_trading_levels(ring_path: Path) -> None:
    log = ttlog.get_logger("orders")
    ttlog.set_level("ORDER")
    assert ttlog.get_level() == ttlog.Level.ORDER
    log.market_data("filtered out")
    log.order("Order placed", order_id="ORD-1", qty=100, price=150.25)
    log.trade("Trade executed", symbol="BTCUSD", side="buy", qty=1.5, price=45000.0)
    log.portfolio("pnl", pnl=-12.5)
    log.risk("limit", used=0.93)
    got = [(e["level"], e["message"]) for e in events_of(ring_path)]
    assert got == [(21, "Order placed"), (22, "Trade executed"), (23, "pnl"), (25, "limit")]
    with pytest.raises(ValueError):
        ttlog.set_level("LOUD")


def test_timed_records_latency(ring_path: Path) -> None:
    log = ttlog.get_logger("risk")
    with log.timed("risk check", symbol="AAPL"):
        pass
    with pytest.raises(KeyError):
        with log.timed("lookup", level="RISK"):
            raise KeyError("x")

    @log.timed("decorated")
    def work() -> int:
        return 7

    assert work() == 7
    a, b, c = events_of(ring_path)
    assert a["message"] == "risk check" and a["fields"]["symbol"] == "AAPL"
    assert 0 <= a["fields"]["latency_us"] < 1e6
    assert b["level"] == 25 and b["fields"]["error"] == "KeyError"
    assert c["message"] == "decorated" and "latency_us" in c["fields"]


def test_stdlib_bridge(ring_path: Path) -> None:
    std = logging.getLogger("bridge.test")
    std.setLevel(logging.DEBUG)
    std.propagate = False  # only our handler sees these records
    handler = ttlog.LoggingHandler()
    std.addHandler(handler)
    try:
        std.warning("fill %s qty %d", "AAPL", 100, extra={"venue": "XNAS"})
        std.info("named %(sym)s", {"sym": "MSFT"})
        try:
            raise ValueError("bad")
        except ValueError:
            std.exception("failed")
        std.error("broken %d", "not a number")
    finally:
        std.removeHandler(handler)
    a, b, c, d = events_of(ring_path)
    assert (a["logger"], a["level"], a["message"]) == ("bridge.test", 30, "fill AAPL qty 100")
    assert a["fields"] == {"arg0": "AAPL", "arg1": 100, "venue": "XNAS"}
    assert b["message"] == "named MSFT" and b["fields"] == {"sym": "MSFT"}
    assert c["level"] == 40 and "ValueError: bad" in c["fields"]["exc_info"]
    assert d["message"] == "broken %d" and d["fields"]["format_error"] is True


def test_exception_and_exc_info_as_stdlib_users_write_them(ring_path: Path) -> None:
    log = ttlog.get_logger("errors")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed", order_id="A")
        log.error("again", exc_info=True)
    a, b = events_of(ring_path)
    assert (a["level"], a["message"], list(a["fields"])) == (40, "failed", ["order_id", "exc_info"])
    assert a["fields"]["exc_info"].startswith("Traceback (most recent call last):\n")
    assert a["fields"]["exc_info"].endswith("ValueError: bad")
    assert b["fields"] == {"exc_info": a["fields"]["exc_info"]}


def test_stdlib_bridge_keeps_the_records_own_traceback_and_stack(tmp_path: Path) -> None:
    """The handler passes the stdlib record's formatted text on; the engine's reading of exc_info
    and stack_info must not replace it (outside an except block, or with the handler's stack)."""
    path = ttlog.init("api-test", shm_dir=tmp_path, ring_size="1MiB", max_str=1 << 16, install_hooks=False)
    std = logging.getLogger("bridge.text")
    std.setLevel(logging.DEBUG)
    std.propagate = False
    kept: list[logging.LogRecord] = []
    keep = logging.Handler()
    keep.emit = kept.append  # type: ignore[method-assign]
    std.addHandler(ttlog.LoggingHandler())
    std.addHandler(keep)
    try:
        try:
            raise KeyError("k")
        except KeyError as exc:
            caught = exc
        std.error("given later", exc_info=caught)
        std.warning("where", stack_info=True)
    finally:
        std.handlers.clear()
        ttlog.shutdown()
    a, b = events_of(path)
    assert a["fields"] == {"exc_info": logging.Formatter().formatException(kept[0].exc_info)}  # type: ignore[arg-type]
    assert a["fields"]["exc_info"].endswith("KeyError: 'k'")
    assert b["fields"] == {"stack_info": kept[1].stack_info}
    assert b["fields"]["stack_info"].endswith('std.warning("where", stack_info=True)')


def test_snapshot_request_and_shutdown_mark_the_header(tmp_path: Path) -> None:
    path = ttlog.init("api-test", shm_dir=tmp_path, ring_size="1MiB", install_hooks=False)
    ttlog.snapshot("before deploy")
    ttlog.snapshot("again")
    ttlog.shutdown("exit")
    with RingReader(path) as reader:
        info = reader.info()
        reader.poll()
        strings = reader.strings
        import struct

        with open(path, "rb") as fh:
            hdr = fh.read(4096)
        reason_id = struct.unpack_from("<I", hdr, R.H_SNAP_REASON)[0]
        exit_id = struct.unpack_from("<I", hdr, R.H_EXIT_REASON)[0]
    assert info.snap_req == 2 and strings.get(reason_id) == "again"
    assert info.closed and not info.alive and strings.get(exit_id) == "exit"
    ttlog.get_logger("x").critical("after shutdown: a no-op")


def test_init_errors(tmp_path: Path) -> None:
    with pytest.raises(ttlog.RingError, match="does not exist"):
        ttlog.init("x", shm_dir=tmp_path / "nope", install_hooks=False)
    with pytest.raises(ttlog.RingError):
        ttlog.init("x", shm_dir=tmp_path, level="LOUD", install_hooks=False)
    with pytest.raises(ttlog.RingError):
        ttlog.init("x", shm_dir=tmp_path, overflow="block", install_hooks=False)


def test_forked_child_gets_its_own_ring(ring_path: Path, tmp_path: Path) -> None:
    log = ttlog.get_logger("forky")
    log.info("parent before fork")
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            log.info("child")
            ttlog.shutdown()
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.info("parent after fork")
    assert [e["message"] for e in events_of(ring_path)] == ["parent before fork", "parent after fork"]
    child_rings = [p for p in tmp_path.glob("*.ring") if f"-{pid}" in p.name]
    assert len(child_rings) == 1
    child = events_of(child_rings[0])
    assert [(e["message"], e["pid"]) for e in child] == [("child", pid)]


def test_exit_hooks_record_the_reason(tmp_path: Path) -> None:
    script = (
        "import sys, ttlog\n"
        "ttlog.init('hooks', shm_dir=sys.argv[1], ring_size='64KiB')\n"
        "ttlog.get_logger('main').info('about to fail')\n"
        "raise RuntimeError('boom')\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1 and "RuntimeError: boom" in out.stderr
    (path,) = tmp_path.glob("*.ring")
    events = events_of(path)
    assert [e["message"] for e in events] == ["about to fail", "Uncaught exception"]
    assert "RuntimeError: boom" in events[1]["fields"]["traceback"]
    with RingReader(path) as reader:
        assert header_info(reader._mm, path).closed


def test_core_modules_are_headless() -> None:
    code = (
        "import sys, ttlog, ttlog.reader, ttlog.ring, ttlog.logger\n"
        "bad = [m for m in ('textual', 'rich', 'typer', 'polars') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""


SWITCH_PROBE = (
    "import sys, ttlog, ttlog.reader as rd, ttlog._api as api, ttlog.ring as R\n"
    "path = ttlog.init('switch', shm_dir=sys.argv[1], ring_size='64KiB', install_hooks=False)\n"
    "ttlog.get_logger('s').info('hello', k=1)\n"
    "ttlog.shutdown()\n"
    "events = [e for b in rd.RingReader(path).read_all() for e in b.events()]\n"
    "print(ttlog.IMPLEMENTATION, type(api._RING).__module__, rd.decode.__module__,\n"
    "      'ttlog._ring' in sys.modules, [(e['message'], e['fields']) for e in events])\n"
)


@pytest.mark.parametrize("pure", ["1", "0"])
def test_one_switch_selects_writer_and_reader_alike(pure: str, tmp_path: Path) -> None:
    """TTLOG_PURE_PYTHON=1 gives the twin for writing and for reading (the extension is not even
    imported), so IMPLEMENTATION is the whole truth; otherwise both are C where it is built."""
    env = {**os.environ, "TTLOG_PURE_PYTHON": pure}
    out = subprocess.run([sys.executable, "-c", SWITCH_PROBE, str(tmp_path)], capture_output=True, text=True,
                         env=env, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    c_built = os.environ.get("TTLOG_NO_C") not in ("1", "true", "yes")
    if pure == "1" or not c_built:
        want = "python ttlog.ring ttlog.reader False"
    else:
        want = "c ttlog._ring ttlog._ring True"
    assert out.stdout.strip() == want + " [('hello', {'k': 1})]"
