"""The event loop's side of durability: group-committed log writes on a worker thread, snapshots in a
forked child, autopurge on a timer.

Why fork for snapshots: the child gets an exact copy-on-write image of the tree at one zxid, so the
loop pauses only for fork() (page tables, ~tens of ms for GBs), not for serialising a million nodes,
and the image needs no fuzzy-replay reasoning. Redis takes its RDB snapshots the same way.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import queue
import random
import resource
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..persistence import Recovered as RecoveryReport
from ..persistence import TxnLogWriter, purge, recover, write_snapshot
from ..persistence.epochs import ACCEPTED, CURRENT, read_epoch, write_epoch
from ..persistence.files import make_private_dir, version_dir
from ..persistence.purge import remove_stale_temps
from ..persistence.snapshot import install_snapshot
from ..persistence.txnlog import remove_all, truncate_after
from ..quorum import Recovered
from ..tree import digestlog
from . import memory
from .metrics import ServerMetrics

if TYPE_CHECKING:
    from ..tree import DataTree
    from .config import ServerConfig

log = logging.getLogger("corral.storage")
_PR_SET_PDEATHSIG = 1
# An inline group is small: what one client or a few send at a time (more is a batch worth the thread).
_INLINE_MAX_RECORDS = 8
_INLINE_MAX_BYTES = 64 * 1024
_RECENT_SYNCS = 8


class _Done:
    """Where the log thread leaves a `run_sync` job's outcome, then sets the event its caller waits on."""

    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.outcome: tuple[object, BaseException | None] = (None, None)


# A job for the log thread: fn(*args), its outcome passed to a callback on its loop (appends, whose
# caller goes on) or left in `_Done` (`run_sync`, whose caller waits).
_Job = tuple[Callable[..., object], tuple[object, ...], "asyncio.AbstractEventLoop | None",
             "Callable[[BaseException | None], None] | None", "_Done | None"]


class Storage:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.snap_dir = version_dir(config.data_dir)
        self.log_dir = version_dir(config.log_dir)
        make_private_dir(self.snap_dir)
        make_private_dir(self.log_dir)
        self.writer = TxnLogWriter(self.log_dir, force_sync=config.force_sync,
                                   prealloc_bytes=config.pre_alloc_kb * 1024)
        # One dedicated thread owns the log file: disk operations run in submission order. A plain
        # queue + call_soon_threadsafe costs ~15 µs a hop here, run_in_executor ~75 µs.
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="corral-txnlog", daemon=True)
        self._thread.start()
        self._thread_appends = 0  # appends handed to the thread whose callbacks have not run yet
        self._inline: list[tuple[list[tuple[int, bytes]], Callable[[BaseException | None], None]]] = []
        # The last fsyncs' durations (µs): an inline write needs every one of them under the limit. Unknown
        # at the start, so the first ones run on the thread and measure the disk.
        self._recent_sync_us = [float("inf")] * _RECENT_SYNCS
        self._slowest_recent_us = float("inf") if config.force_sync else 0.0
        self.inline_writes = 0  # groups written on the loop (the `zk_txnlog_inline_writes` metric)
        self.since_snapshot = 0
        self.snapshot_pid: int | None = None
        self._waiter: threading.Thread | None = None
        self.snapshot_started = 0.0
        self.last_snapshot_zxid = -1
        self.snapshots_taken = 0
        self.last_fork_ms = 0.0
        self.max_fork_ms = 0.0
        self.fsync_ms_total = 0.0
        self.metrics = ServerMetrics()  # the server shares one with its frontend and host
        self._next_threshold()
        self._purge_handle: asyncio.TimerHandle | None = None
        # The AdminServer's `snapshot` command waiting for the child in flight: resolved with its file,
        # or None if it failed.
        self._snapshot_waiters: list[asyncio.Future[Path | None]] = []
        self.restoring = False  # the AdminServer's `restore` is writing its snapshot: no child may start
        if not config.force_sync:
            log.warning("event=force_sync_disabled detail=acknowledged_writes_can_be_lost_on_power_failure")

    def _next_threshold(self) -> None:
        # ZooKeeper randomises so that ensemble members do not all snapshot at once.
        half = max(1, self.config.snap_count // 2)
        self.threshold = half + random.randint(1, half)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, loop, callback, done = job
            try:
                result, exc = fn(*args), None
            except BaseException as e:  # reported to the loop, which decides (a log failure is fatal)
                result, exc = None, e
            if callback is not None:
                assert loop is not None  # an append's callback travels with its loop
                try:
                    loop.call_soon_threadsafe(callback, exc)
                except RuntimeError:  # the loop is closed: the server is shutting down
                    pass
            if done is not None:
                done.outcome = (result, exc)
                done.event.set()

    def append(self, batch: list[tuple[int, bytes]], done: Callable[[BaseException | None], None]) -> None:
        """Write and fsync a group; `done` runs on the loop once it is durable.

        Usually on the log thread, so that the loop serves clients while the disk works. A small group
        arriving while the thread is idle, on a disk whose recent fsyncs were all fast
        (fsync.inlineMaxMicros), is written on the loop itself, one callback after the current one (so
        that the messages already queued this pass, such as a leader's PROPOSALs, go out first): with
        one write in flight, the handoff to the thread and back costs two thread wakeups and a GIL
        exchange (~0.1 ms on this VM, more than a fast fdatasync), and the loop has nothing else to do
        in the meantime. Appends keep their order: nothing goes to the thread while inline groups wait,
        and nothing is written inline while the thread has appends."""
        loop = asyncio.get_running_loop()
        inline = self._inline
        if inline or (not self._thread_appends and self._inline_fits(batch)):
            if not inline:
                loop.call_soon(self._write_inline)
            inline.append((batch, done))
            return
        self._thread_appends += 1
        # The callback goes straight to the loop (no Future in between: one loop turn less per group).
        self._jobs.put((self._append_timed, (batch,), loop, functools.partial(self._thread_appended, done), None))

    def _thread_appended(self, done: Callable[[BaseException | None], None], exc: BaseException | None) -> None:
        self._thread_appends -= 1
        done(exc)

    def _inline_fits(self, batch: list[tuple[int, bytes]]) -> bool:
        limit = self.config.inline_sync_us
        if limit <= 0 or self._slowest_recent_us > limit or len(batch) > _INLINE_MAX_RECORDS:
            return False
        size = 0
        for _, payload in batch:
            size += len(payload)
        return size <= _INLINE_MAX_BYTES

    def _write_inline(self, defer: bool = False) -> None:
        """Write the waiting inline groups with one fdatasync, then report each (`defer`: on later
        callbacks, for a caller in the middle of the host's batch)."""
        todo = self._inline
        if not todo:
            return
        records = todo[0][0] if len(todo) == 1 else [r for batch, _ in todo for r in batch]
        self.inline_writes += 1
        try:
            self._append_timed(records)
            exc: BaseException | None = None
        except Exception as e:  # reported like the thread's: the host decides (a log failure is fatal)
            exc = e
        self._inline = []  # only now: until the records are written, later appends queue behind them
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # `close()` after the loop ended: written, and nobody is left to tell
            return
        for _, done in todo:
            if defer:
                loop.call_soon(done, exc)
            else:
                done(exc)

    def write_epochs(self, accepted: int, current: int) -> None:
        write_epoch(self.snap_dir, ACCEPTED, accepted)
        write_epoch(self.snap_dir, CURRENT, current)

    def truncate_after(self, zxid: int) -> None:
        """On the log thread, after every earlier append: close the open file (the next append starts
        a new one), then cut."""
        def cut() -> int:
            self.writer.close()
            return truncate_after(self.log_dir, zxid)
        self.run_sync(cut)

    def install_snapshot(self, data: bytes) -> DataTree:
        def forget() -> None:
            self.writer.close()
            remove_all(self.log_dir)
        self.run_sync(forget)
        with memory.bulk_load():
            tree, path = install_snapshot(data, self.snap_dir)
        log.info("event=snapshot_received file=%s", path)
        return tree

    def applied(self, count: int, tree: DataTree) -> None:
        memory.tree_grown(len(tree.nodes))
        self.logged(count, tree)

    def snapshot_now(self, tree: DataTree) -> None:
        self.take_snapshot(tree)

    def run_sync(self, fn: Callable[..., object], *args: object) -> object:
        """Run a disk operation on the log thread, after everything queued before it, and wait for it
        (rare operations: truncating the log for a new leader, dropping it for a snapshot)."""
        self._write_inline(defer=True)  # earlier appends first, in order
        done = _Done()
        self._jobs.put((fn, args, None, None, done))
        done.event.wait()
        result, exc = done.outcome
        if exc is not None:
            raise exc
        return result

    def _append_timed(self, batch: list[tuple[int, bytes]]) -> float:
        """On the log thread or (inline) the loop, never both at once: `append` keeps them apart."""
        t0 = time.perf_counter()
        self.writer.append(batch)
        if self.writer.force_sync:
            ms = self.writer.last_sync_ms
            recent = self._recent_sync_us
            recent[self.writer.fsyncs % len(recent)] = us = ms * 1000
            self._slowest_recent_us = max(recent)
            self.metrics.fsync_time_us.observe(round(us))
            self.metrics.fsynctime.observe(round(ms))
            if ms > self.config.fsync_warning_ms:
                self.metrics.fsync_threshold_exceed.value += 1
                log.warning("event=fsync_slow ms=%.0f threshold_ms=%d", ms, self.config.fsync_warning_ms)
        return (time.perf_counter() - t0) * 1000

    def logged(self, count: int, tree: DataTree) -> None:
        """Called on the loop after a group is durable and applied: snapshot when it is time."""
        self.since_snapshot += count
        if self.since_snapshot >= self.threshold and self.snapshot_pid is None:
            self.take_snapshot(tree)

    def take_snapshot(self, tree: DataTree) -> None:
        """Roll the log and fork a child that writes `snapshot.<zxid>` (must run between applies)."""
        if self.snapshot_pid is not None or self.restoring:
            return
        self.since_snapshot = 0
        self._next_threshold()
        self.writer.roll()
        zxid = tree.last_zxid
        t0 = time.perf_counter()
        parent = os.getpid()
        memory.before_fork()
        pid = os.fork()
        if pid == 0:  # child: serialise and leave without running any of the parent's cleanup
            code = 1
            try:
                memory.in_child()
                # Die with the server: an orphaned child would keep writing a snapshot for a server
                # that is gone (and hold memory) while its restarted successor works in the same dir.
                _die_with_parent(parent)
                # Drop the inherited sockets (listener, clients) so that a killed server's port is free
                # at once for its restart; the child needs only the file it is about to create. This also
                # closes the dataDir lock's descriptor, which does not unlock it (persistence/lock.py).
                os.closerange(3, max(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
                write_snapshot(tree, self.snap_dir)
                code = 0
            finally:
                os._exit(code)
        fork_ms = (time.perf_counter() - t0) * 1000
        self.last_fork_ms = fork_ms
        self.metrics.snapshot_fork_time.observe(fork_ms)
        self.max_fork_ms = max(self.max_fork_ms, fork_ms)
        self.snapshot_pid = pid
        self.snapshot_started = time.monotonic()
        log.info("event=snapshot_started zxid=0x%x nodes=%d child=%d fork_ms=%.1f", zxid, len(tree.nodes), pid,
                 fork_ms)
        loop = asyncio.get_running_loop()
        # The only waitpid on this child: close() joins this thread instead of reaping the child itself.
        self._waiter = threading.Thread(target=self._wait_child, args=(loop, pid, zxid), daemon=True,
                                        name="corral-snapshot-wait")
        self._waiter.start()

    def _wait_child(self, loop: asyncio.AbstractEventLoop, pid: int, zxid: int) -> None:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        try:
            loop.call_soon_threadsafe(self._snapshot_done, pid, zxid, code)
        except RuntimeError:  # the loop is closed: the server is shutting down
            self.snapshot_pid = None
            log.info("event=snapshot_finished_at_shutdown zxid=0x%x exit=%d", zxid, code)

    def _snapshot_done(self, pid: int, zxid: int, code: int) -> None:
        self.snapshot_pid = None
        secs = time.monotonic() - self.snapshot_started
        written: Path | None = None
        if code == 0:
            self.metrics.snapshottime.observe(round(secs * 1000))
            self.snapshots_taken += 1
            self.last_snapshot_zxid = zxid
            written = self.snap_dir / f"snapshot.{zxid:x}"
            log.info("event=snapshot_written zxid=0x%x file=%s seconds=%.2f", zxid, written, secs)
        else:
            log.error("event=snapshot_failed zxid=0x%x exit=%d seconds=%.2f", zxid, code, secs)
        waiters, self._snapshot_waiters = self._snapshot_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(written)

    async def snapshot_file(self, tree: Callable[[], DataTree]) -> Path:
        """A snapshot of the tree as it is now, on disk (the AdminServer's `snapshot` command, which
        Apache answers with a snapshot it takes on the spot). A snapshot already being written is waited
        for first; it is reused if nothing was applied since. OSError if the writer fails."""
        for _ in range(3):  # a child in flight, then ours (bounded: at most one other can be in between)
            if self.restoring:
                raise OSError("a restore is replacing the tree; try again")
            if self.snapshot_pid is not None:
                fut: asyncio.Future[Path | None] = asyncio.get_running_loop().create_future()
                self._snapshot_waiters.append(fut)
                await fut
                continue
            current = tree()
            path = self.snap_dir / f"snapshot.{current.last_zxid:x}"
            if self.last_snapshot_zxid == current.last_zxid and path.exists():
                return path
            self.take_snapshot(current)
            fut = asyncio.get_running_loop().create_future()
            self._snapshot_waiters.append(fut)
            written = await fut
            if written is None:
                raise OSError(f"the snapshot writer for 0x{current.last_zxid:x} failed (see the server log)")
            return written
        raise OSError("snapshots kept being started by the server; try again")

    async def snapshot_idle(self) -> None:
        """Wait for the snapshot child in flight, if any (it exits when done, or with the server)."""
        while self.snapshot_pid is not None:
            fut: asyncio.Future[Path | None] = asyncio.get_running_loop().create_future()
            self._snapshot_waiters.append(fut)
            await fut

    async def write_restored(self, tree: DataTree) -> Path:
        """Write the tree of a `restore` as this server's newest snapshot, `snapshot.<its last_zxid>`
        (the current zxid: it replaces a snapshot of the old tree at that zxid, atomically), before the
        server switches to it: a crash then recovers either the old tree or the restored one, whole.
        `restoring` must be set (no snapshot child may start meanwhile). On a worker thread: the loop
        keeps serving reads of the old tree while the file is written."""
        assert self.restoring and self.snapshot_pid is None
        path = await asyncio.to_thread(write_snapshot, tree, self.snap_dir)
        self.since_snapshot = 0
        self.last_snapshot_zxid = tree.last_zxid
        return path

    def start_autopurge(self) -> None:
        hours = self.config.purge_interval
        if hours <= 0:
            return
        loop = asyncio.get_running_loop()

        def run() -> None:
            loop.run_in_executor(None, self.purge_now)
            self._purge_handle = loop.call_later(hours * 3600, run)

        log.info("event=autopurge_enabled interval_hours=%d retain=%d", hours, self.config.snap_retain_count)
        self._purge_handle = loop.call_later(hours * 3600, run)

    def purge_now(self) -> list[Path]:
        return purge(self.config.data_dir, self.config.log_dir, self.config.snap_retain_count)

    def close(self, wait_snapshot: bool = True) -> None:
        if self._purge_handle is not None:
            self._purge_handle.cancel()
        self.run_sync(self.writer.close)
        self._jobs.put(None)
        self._thread.join(10)
        if wait_snapshot and self._waiter is not None:
            self._waiter.join()

    def corral_metrics(self) -> list[tuple[str, object]]:
        return [("zk_fsync_count", self.writer.fsyncs), ("zk_txnlog_appended", self.writer.appended),
                ("zk_txnlog_inline_writes", self.inline_writes),
                ("zk_snapshots_taken", self.snapshots_taken), ("zk_last_snapshot_fork_ms", round(self.last_fork_ms, 1)),
                ("zk_max_snapshot_fork_ms", round(self.max_fork_ms, 1))]


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG).

    If the parent is already gone by the time the request is made, leave at once.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to ask for
        pass
    if os.getppid() != parent:
        os._exit(1)


def recover_member(config: ServerConfig) -> tuple[DataTree, Recovered, RecoveryReport]:
    """What the disk holds, for the host: the tree of the newest valid snapshot, and the logged
    transactions after it with the epoch files for the quorum core, which commits them again (an
    ensemble member's log may end in proposals that were never committed; a standalone server's may
    not, but it takes the same path)."""
    remove_stale_temps(config.data_dir)
    with memory.bulk_load():
        report = recover(config.data_dir, config.log_dir, replay=False)
    snap_dir = version_dir(config.data_dir)
    tree = report.tree
    if config.is_ensemble:
        _digest_log_at_start(tree, report)
    state = Recovered(accepted_epoch=read_epoch(snap_dir, ACCEPTED), current_epoch=read_epoch(snap_dir, CURRENT),
                      log_base=tree.last_zxid, log=report.entries, applied_zxid=tree.last_zxid)
    return tree, state, report


def _digest_log_at_start(tree: DataTree, report: RecoveryReport) -> None:
    """Keep the `hash` digest history from start-up (tree/digestlog.py, `at_recovery`): the logged txns
    the member applies next (its own log, then the leader's DIFF) give the entries Apache's replay gives,
    so `corral migrate check` passes right after a swap on an idle ensemble. The server drops the log
    when `hash` is not asked for (server/digests.py). Members of an ensemble only: the history is
    compared between members, and keeping it costs about a microsecond of the event loop per write
    (`bench.core_cpu --digest-log`), so a standalone server starts it at the first `hash`, as before."""
    d = report.digest
    t0 = time.perf_counter()
    dlog = digestlog.at_recovery(tree, d.zxid, d.version, d.digest) if d is not None else \
        digestlog.at_recovery(tree, 0, 0, 0)
    if dlog is None:
        log.info("event=digest_log_deferred reason=%s nodes=%d", "no_snapshot_digest", len(tree.nodes))
    else:
        dlog.last_read = time.monotonic()  # the idle clock starts now (server/digests.py drops it)
        log.info("event=digest_log_started at=recovery zxid=0x%x from_zxid=0x%x nodes=%d ms=%.1f", tree.last_zxid,
                 dlog.start_after or tree.last_zxid, len(tree.nodes), (time.perf_counter() - t0) * 1000)
