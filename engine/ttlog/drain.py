"""One ring's way from the ring to snapshot files, as the sidecar drives it: copy its new records
into its spool (the copier thread), write the spool out as snapshot parts (the main thread), and
finish the ring once it has ended and everything is written.

Invariants (see :mod:`ttlog.sidecar` and :mod:`ttlog.spool` for the whole protocol):
- The ring's read position moves only after its records are committed to the spool; the spool's
  tail only through an intent record, after the snapshot holding its records is fsynced.
- Each snapshot part carries what happened to the ring since the previous part: events, and the
  ``dropped``, ``lost`` and ``corrupt`` counts. A part with nothing to carry is not written,
  unless one was asked for. The last part of an ended ring is named by why it ended.
- A ring file that cannot be read on (truncated, a header that cannot be right) is given up:
  reported once, left where it is; what its spool holds is still written out.
- A ring is removed only once it has ended and its spool is written out; one in which a corrupt
  record was found is kept (renamed ``<name>.corrupt``) instead.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ring as R
from .files import link_new
from .reader import (
    Batch,
    RingFile,
    RingInfo,
    decode,
    empty_cols,
    first_bad_row,
    header_problem,
    pid_alive,
    seq_span,
    slice_cols,
)
from .spool import Chunk, Intent, Spool, SpoolError

if TYPE_CHECKING:  # pragma: no cover
    from .sidecar import Sidecar

__all__ = ["MAX_CHUNK", "RingDrain", "safe_reason", "say"]

MAX_CHUNK = 64 << 20
"""Most ring bytes one spool chunk holds (a default ring's worth, about 800,000 events); a larger
backlog is copied in windows that end where the records in them end."""


def say(message: str) -> None:
    """One line on stderr, stamped, as everything the sidecar reports."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    line = " ".join(str(message).split())
    print(f"{stamp}Z ttview-sidecar: {line}", file=sys.stderr, flush=True)


@dataclass
class RingDrain:
    """One ring on its way to snapshot files: its file (None once gone or given up), its spool,
    and what the sidecar keeps for it between passes. The copier calls :meth:`copy`; the main
    thread :meth:`write_parts` and :meth:`finish`."""

    path: Path
    file: RingFile | None
    spool: Spool
    ino: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    info: RingInfo | None = None
    snap_req_seen: int = 0
    copy_done: bool = False  # the ring was copied to its end and its producer is gone
    broken: str | None = None  # why the ring file was given up (truncated, inconsistent)
    corrupt_at: int | None = None  # ring position of the first corrupt record found
    last_flush: float = field(default_factory=time.monotonic)
    snapshots: int = 0
    last_snapshot: str | None = None
    last_error: str | None = None
    spool_full: bool = False
    chunk_cache: tuple[int, dict[str, Any], bool] | None = None  # a chunk a part ended inside

    def finish_intent(self, sc: Sidecar) -> None:
        """A snapshot was about to be linked when an earlier sidecar stopped: finish or drop it."""
        from .files import TEMP_RE
        from .store import record_written

        sp = self.spool
        intent = sp.read_intent()
        if intent is None:
            return
        directory = Path(intent.directory)
        tmp = directory / intent.tmp_name
        final: Path | None = None
        try:
            st = os.stat(tmp, follow_symlinks=False)
            same = (st.st_dev, st.st_ino, st.st_size) == (intent.dev, intent.ino, intent.size)
            if same and stat.S_ISREG(st.st_mode):
                if st.st_nlink >= 2:
                    final = _find_inode(directory, intent.dev, intent.ino, skip=tmp)
                if final is None:
                    m = TEMP_RE.match(tmp.name)
                    if m:
                        from .store import _with_counter

                        final = link_new(tmp, directory, m.group("name"), counter=_with_counter)
                os.unlink(tmp)
        except FileNotFoundError:
            final = _find_inode(directory, intent.dev, intent.ino)
        except OSError as exc:
            sc.report(f"intent:{sp.path}",
                      f"{sp.path.name}: cannot finish an earlier snapshot: {exc.strerror}")
            return
        if final is None:
            sp.clear_intent()  # never linked: its records are still in the spool, written again
            return
        try:
            record_written(directory, [final])
        except OSError:
            pass
        sp.apply(intent)
        self.update_ring_fields()
        say(f"{self.path.name}: finished {final.name}, which an earlier sidecar had written")

    def copy(self, sc: Sidecar) -> None:
        """One copy of the ring's new records into its spool; troubles are reported, never raised."""
        with self.lock:
            if self.file is None or self.copy_done:
                return
            try:
                self._copy(sc)
                self.last_error = None
            except R.RingError as exc:
                self.give_up(sc, str(exc))
            except (SpoolError, OSError) as exc:
                why = getattr(exc, "strerror", None) or str(exc)
                self.last_error = f"spool: {why}"
                sc.report(f"copy:{self.path}:{why}",
                          f"{self.path.name}: cannot copy into its spool: {why}; will retry")
            except Exception as exc:  # noqa: BLE001 - the copier must outlive any one ring
                self.give_up(sc, f"unexpected {type(exc).__name__}: {exc}")

    def _copy(self, sc: Sidecar) -> None:
        f, sp = self.file, self.spool
        assert f is not None
        info = f.info()  # checks the file is whole first
        problem = header_problem(info, f.geo)
        if problem is not None:
            raise R.RingError(f"{self.path.name}: ring header is inconsistent: {problem}")
        self.info = info
        dead = info.closed or not pid_alive(info.pid)
        f.store_u64(R.H_SIDECAR_PID, os.getpid())
        f.store_u64(R.H_SIDECAR_BEAT, time.time_ns())
        sp.sample_dropped(info.dropped)
        end = f.unpublished_end(info.write_pos) if dead else info.write_pos
        start = sp.ring_end
        if info.overwrite and start < info.tail_pos:
            start = info.tail_pos  # overwritten before it was copied: a seq gap, counted as lost
            sp.skip_ring_to(start)
        if start > end:
            raise R.RingError(f"{self.path.name}: ring header is inconsistent: write_pos {end} is behind "
                              f"what was already copied ({start})")
        while start < end:
            sp.copy_strings(f, f.u64(R.H_STRTAB_USED))  # after write_pos: names every string used
            fit = min(sp.largest_fit(), MAX_CHUNK)
            stop = end if end - start <= fit else start + _record_prefix(f, start, fit)
            if stop <= start:
                if end - start > fit and fit >= f.geo.capacity // 2 + R.REC_HEADER:
                    # not even one record fits where one must: the ring is corrupt here
                    sp.add_copy_corrupt()
                    start = max(f.u64(R.H_TAIL_POS), end) if info.overwrite else end
                    sp.skip_ring_to(start)
                    self._commit_ring(start)
                    continue
                if not self.spool_full:
                    self.spool_full = True
                    sc.report(f"full:{self.path}:{time.monotonic() // 60}",
                              f"{self.path.name}: its spool is full; the ring keeps the rest "
                              "(and drops once full)")
                return
            chunk = sp.append(f, start, stop, seq_hint=info.seq_next, overwrite=info.overwrite)
            if chunk is None:
                if info.overwrite:  # all of it was overwritten during the copy
                    start = max(start, f.u64(R.H_TAIL_POS))
                    sp.skip_ring_to(start)
                    continue
                return
            self.spool_full = False
            self._commit_ring(chunk.ring_end)
            start = chunk.ring_end
        if dead and start >= end:
            sp.copy_strings(f, f.u64(R.H_STRTAB_USED))
            reason = "crash"
            if info.closed:
                reason = f.string(f.u32(R.H_EXIT_REASON)) or "exit"
            sp.mark_ended(safe_reason(reason) or "exit", f.u64(R.H_DROPPED), f.u64(R.H_SEQ_NEXT))
            self.copy_done = True

    def _commit_ring(self, pos: int) -> None:
        assert self.file is not None
        self.file.check()
        self.file.store_u64(R.H_READ_POS, pos)  # the producer may reuse the bytes before it now

    def give_up(self, sc: Sidecar, why: str) -> None:
        """The ring file cannot be read on (truncated, corrupt header): report it, keep the file,
        and let the spool be written out, ending with the reason ``truncated`` or ``unreadable``."""
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None
            self.broken = why
            self.copy_done = True
            if not self.spool.ended:
                reason = "truncated" if "truncated" in why else "unreadable"
                self.spool.mark_ended(reason, self.spool.ring_dropped,
                                   self.info.seq_next if self.info is not None else None)
        sc.bad[self.path] = (self.ino, why)
        sc.report(f"bad:{self.path}:{why}",
                  f"{self.path.name}: {why}; what was read is kept, the file is left alone")

    def drain_into_spool(self, sc: Sidecar, *, full: bool) -> None:
        """Copy now (no copier thread, or a request): everything, writing parts meanwhile if the
        spool cannot hold the ring's backlog at once."""
        for _ in range(10_000):
            before = self.spool.ring_end
            self.copy(sc)
            if not full or self.file is None or self.copy_done or not self.spool_full:
                return
            wrote = self.write_parts(sc, "periodic", explicit=False, all_parts=False)
            if not wrote and self.spool.ring_end == before:
                return

    def write_parts(self, sc: Sidecar, reason: str, *, explicit: bool, all_parts: bool) -> bool:
        """Write the spool out as snapshot parts (one, or all up to its head now); the last part
        of an ended ring is named by why it ended, the last of a request by the request. True if
        the spool is empty afterwards."""
        sp = self.spool
        with sp.lock:
            stop = sp.head
        while True:
            before = (sp.tail, sp.next_seq)
            done = self.write_part(sc, reason, stop=stop, explicit=explicit)
            if done is None:
                return False  # a write failed: retried on a later pass
            if done or not all_parts:
                return done and sp.tail == sp.head
            if (sp.tail, sp.next_seq) == before:  # no part can move it on: never loop on it
                sc.report(f"stuck:{sp.path}:{before}", f"{self.path.name}: its spool does not move on at "
                          f"position {sp.tail}; will retry")
                return False

    def write_part(self, sc: Sidecar, reason: str, *, stop: int, explicit: bool) -> bool | None:
        """One snapshot of the spool's next chunks (up to about ``max_events`` events, not beyond
        ``stop``); moves the tail through an intent record. True if it reached ``stop``; None if
        the file could not be written (nothing moved)."""
        from .codec import SnapshotWriter
        from .store import SnapshotError, before_link, record_written

        sp = self.spool
        strings = sp.load_strings()
        limit = strings.read_to >> 3
        info = self._spool_info(sc)
        batches: list[Batch] = []
        events = lost = corrupt = 0
        next_seq = sp.next_seq
        pos = sp.tail
        reached = True
        try:
            for chunk in sp.chunks(sp.tail, stop):
                room = sc.settings.max_events - events
                if room <= 0:
                    reached = False
                    break
                cols, bad_stretch = self._chunk_cols(chunk, limit)
                n = int(cols["n"])
                # a part before this one may have ended inside this chunk: those rows are written
                first = _first_row_from(cols, next_seq)
                partial = n - first > room
                if first or partial:
                    stop_row = first + room if partial else n
                    part = slice_cols(cols, first, stop_row)
                else:
                    part = cols
                batch_lost = 0
                span = seq_span(part)
                if span is not None:
                    if span[0] > next_seq:
                        batch_lost = span[0] - next_seq
                    next_seq = max(next_seq, span[1] + 1)
                if partial:  # the part ends inside this chunk: the tail moves to it, the rest waits
                    self.chunk_cache = (chunk.pos, cols, bad_stretch)
                    batches.append(Batch(info=info, cols=part, strings=strings, lost=batch_lost))
                    lost += batch_lost
                    events += int(part["n"])
                    pos = chunk.pos
                    reached = False
                    break
                self.chunk_cache = None
                if bad_stretch:
                    corrupt += 1
                    if self.corrupt_at is None:
                        self.corrupt_at = int(cols["end"])
                    if not (sp.ended and self.copy_done):  # an ended ring says it once, at its end
                        sc.report(f"corrupt:{self.path}:{chunk.ring_start}",
                                    f"{self.path.name}: a corrupt record near ring position {cols['end']}; "
                                    "the rest of that stretch is skipped and counted")
                lost += batch_lost
                if part["n"] or batch_lost or bad_stretch:
                    batches.append(Batch(info=info, cols=part, strings=strings, lost=batch_lost,
                                         corrupt=int(bad_stretch)))
                events += int(part["n"])
                pos = chunk.end
            if reached:
                pos = stop
        except SpoolError as exc:
            # the spool itself is damaged past this point: keep what was read, end the ring here
            sc.report(f"spool:{sp.path}:{pos}", f"{exc}; the rest of this spool is skipped and counted")
            corrupt += 1
            if self.corrupt_at is None:
                self.corrupt_at = sp.ring_end
            sp.cut_head(pos)
            stop = sp.head
            reached = True
        final = sp.ended and self.copy_done and reached and stop == sp.head
        if final and sp.seq_hint > next_seq:  # records the ring numbered but nobody will ever copy
            trailing = sp.seq_hint - next_seq
            lost += trailing
            next_seq = sp.seq_hint
            batches.append(Batch(info=info, cols=empty_cols(sp.ring_end), strings=strings, lost=trailing))
        name = sp.end_reason if final else (reason if reached else "periodic")
        dropped = max(0, sp.ring_dropped - sp.reported_dropped)
        copy_corrupt = max(0, sp.copy_corrupt - sp.copy_corrupt_reported)
        corrupt += copy_corrupt
        intent = Intent(tail=pos, next_seq=next_seq, reported_dropped=sp.reported_dropped + dropped,
                        reported_lost=sp.reported_lost + lost, events=sp.events + events,
                        snapshots=sp.snapshots, corrupt=sp.corrupt + corrupt,
                        copy_corrupt_reported=sp.copy_corrupt)
        if not (events or dropped or lost or corrupt or explicit):
            if pos != sp.tail:
                sp.apply(intent)  # nothing to tell: no file (the spool only moves past the chunks)
            if final:
                self.record_end(sc, name)
            return reached
        if not batches:
            batches.append(Batch(info=info, cols=empty_cols(sp.ring_end), strings=strings))
        batches[0].dropped = dropped
        if copy_corrupt:
            batches[0].corrupt += copy_corrupt
        intent.snapshots += 1
        writer = SnapshotWriter()
        for b in batches:
            writer.add(b)

        def hook(tmp: Path, st: os.stat_result) -> None:
            intent.dev, intent.ino, intent.size = st.st_dev, st.st_ino, st.st_size
            intent.tmp_name, intent.directory = tmp.name, str(tmp.parent)
            sp.write_intent(intent)

        try:
            sc.snaps.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            pass  # the write says why, below
        try:
            with before_link(hook):
                out = writer.write(sc.snaps, reason=name, service=sp.service or info.service, pid=sp.pid)
        except SnapshotError as exc:
            sp.clear_intent()  # the file was never linked (and its temporary file is gone)
            sc.figures.write_errors += 1
            self.last_error = str(exc)
            sc._backoff_until = time.monotonic() + 1.0
            say(f"{self.path.name}: {exc} (nothing committed; retrying)")
            return None
        try:
            record_written(sc.snaps, [out])
        except OSError as exc:
            sc.report(f"manifest:{sc.snaps}", f"{sc.snaps}: cannot record {out.name} for retention: {exc}")
        sp.apply(intent)
        self.update_ring_fields()
        sc._retention_due = True
        size = 0
        try:
            size = out.stat().st_size
        except OSError:
            pass
        f = sc.figures
        f.events_drained += events
        f.bytes_written += size
        f.snapshots_written += 1
        f.last_snapshot = out.name
        f.last_snapshot_ns = time.time_ns()
        self.snapshots += 1
        self.last_snapshot = out.name
        self.last_error = None
        self.last_flush = time.monotonic()
        if final:
            self.record_end(sc, name)
        return reached

    def _chunk_cols(self, chunk: Chunk, limit: int) -> tuple[dict[str, Any], bool]:
        """A chunk's records, decoded (or as decoded for the previous part), and whether a corrupt
        stretch ends it (a bad record, a record naming an unknown string, a partial record)."""
        cache = self.chunk_cache
        if cache is not None and cache[0] == chunk.pos:
            return cache[1], cache[2]
        view = self.spool.payload(chunk)
        try:
            cols = decode(view, chunk.ring_start + chunk.skip)
        finally:
            view.release()
        bad_stretch = cols["error"] is not None or cols["end"] != chunk.ring_end
        bad = first_bad_row(cols, limit) if cols["n"] else None
        if bad is not None:
            cols = slice_cols(cols, 0, bad)
            bad_stretch = True
        return cols, bad_stretch

    def _spool_info(self, sc: Sidecar) -> RingInfo:
        """What a spool's batches say about their ring (its figures are the snapshot's to add)."""
        sp = self.spool
        closed = sp.ended and sp.end_reason not in ("crash", "gone", "truncated", "unreadable", "corrupt")
        return RingInfo(
            path=sc.shm / (sp.ring_name or self.path.name), service=sp.service, host=sp.host, pid=sp.pid,
            start_ns=sp.start_ns, overwrite=bool(sp.flags & R.FLAG_OVERWRITE), capacity=sp.ring_capacity,
            state=R.STATE_CLOSED if closed else R.STATE_LIVE, min_level=0, write_pos=0, tail_pos=0,
            read_pos=0,
            seq_next=sp.next_seq, dropped=sp.ring_dropped, drained=sp.events, lost=sp.reported_lost,
            sidecar_pid=os.getpid(), sidecar_beat_ns=0, snap_req=0, alive=False)

    def update_ring_fields(self) -> None:
        """The ring header's sidecar fields, after a snapshot: drained, lost, read seq, drops carried."""
        with self.lock:
            f = self.file
            if f is None:
                return
            sp = self.spool
            try:
                f.check()
                f.store_u64(R.H_DRAINED, sp.events)
                f.store_u64(R.H_LOST, sp.reported_lost)
                f.store_u64(R.H_READ_SEQ, sp.next_seq)
                f.store_u64(R.H_DROPPED_REPORTED, sp.reported_dropped)
            except (R.RingError, OSError):
                pass

    def record_end(self, sc: Sidecar, reason: str) -> None:
        sp = self.spool
        sc.ended.append({"ring": sp.ring_name, "service": sp.service, "pid": sp.pid, "reason": reason,
                           "events": sp.events, "dropped": sp.reported_dropped, "lost": sp.reported_lost,
                           "ended_ns": time.time_ns()})
        del sc.ended[:-100]

    def finish(self, sc: Sidecar) -> None:
        """The ring ended and everything is in snapshots: remove the ring (or keep a corrupt one,
        renamed) and the spool."""
        sp = self.spool
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None
                if self.corrupt_at is not None:
                    kept = self.path.with_name(self.path.name + ".corrupt")
                    try:
                        os.rename(self.path, kept)
                        say(f"{self.path.name}: producer {sp.pid} ended ({sp.end_reason}); a corrupt "
                            f"record near ring position {self.corrupt_at} and what followed it were "
                            f"skipped and counted, so the ring is kept as {kept.name}")
                    except OSError as exc:
                        say(f"{self.path.name}: cannot keep it as {kept.name}: {exc.strerror}")
                elif sc.settings.remove_dead:
                    try:
                        os.unlink(self.path)
                        say(f"{self.path.name}: producer {sp.pid} ended ({sp.end_reason}); "
                            f"{sp.events:,} events in {sp.snapshots} snapshot(s), ring removed")
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        say(f"{self.path.name}: cannot remove: {exc.strerror}")
            sp.unlink()
        if self.broken is not None:
            sc.bad[self.path] = (self.ino, self.broken)


def _record_prefix(f: RingFile, start: int, limit: int) -> int:
    """Bytes from ring position ``start`` that hold whole records, at most ``limit``: as far as
    the records decode (the decoder stops before a record cut by the limit, or a corrupt one)."""
    if limit < R.REC_HEADER:
        return 0
    n = min(limit, f.geo.capacity)
    buf = bytearray(n)
    f.read_data(start, memoryview(buf))
    return max(0, int(decode(buf, start)["end"]) - start)


def _first_row_from(cols: dict[str, Any], seq: int) -> int:
    """The first row whose seq is ``seq`` or more (rows before it are in a snapshot already):
    a binary search over the little-endian u64 seq column, which is in ring order."""
    seqs = cols["seq"]
    lo, hi = 0, int(cols["n"])
    while lo < hi:
        mid = (lo + hi) // 2
        if struct.unpack_from("<Q", seqs, 8 * mid)[0] < seq:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _find_inode(directory: Path, dev: int, ino: int, *, skip: Path | None = None) -> Path | None:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        if skip is not None and entry.path == str(skip):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_ino == ino and st.st_dev == dev and stat.S_ISREG(st.st_mode):
            return Path(entry.path)
    return None


def safe_reason(text: Any) -> str | None:
    """A reason fit for a file name and a header: one line, at most 64 characters."""
    if not isinstance(text, str) or not text.strip():
        return None
    return " ".join(text.split())[:64]
