"""Log writes on the event loop (`fsync.inlineMaxMicros`): which writes take that path, and that the log
keeps every append in order, whichever path each took.

Storage decides per group: a small group arriving while the log thread has nothing in hand goes inline
once the last fsyncs were fast; anything else goes to the thread. These tests drive `Storage.append`
from a real event loop and read the written log back with the recovery scanner.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.persistence.txnlog import encode_txn_payload, scan
from corral.protocol import OpCode, SetDataTxn, TxnHeader
from corral.server.config import ServerConfig
from corral.server.storage import Storage

Batch = list[tuple[int, bytes]]


def _batch(first: int, count: int) -> Batch:
    out = []
    for z in range(first, first + count):
        hdr = TxnHeader(clientId=1, cxid=z, zxid=z, time=0, type=OpCode.setData)
        out.append((z, encode_txn_payload(hdr, SetDataTxn(path="/n", data=b"x" * 20, version=z))))
    return out


def _logged(storage: Storage) -> list[int]:
    zxids = []
    for path in sorted(storage.log_dir.glob("log.*"), key=lambda p: int(p.name.split(".")[1], 16)):
        records, _ = scan(path, last_file=True)
        zxids += [r.zxid for r in records]
    return zxids


class Recorder:
    """Which thread wrote each group, and the order the `done` callbacks ran in."""

    def __init__(self, storage: Storage) -> None:
        self.writers: list[str] = []
        self.done: list[tuple[int, BaseException | None]] = []
        real = storage._append_timed

        def append_timed(batch: Batch) -> float:
            self.writers.append("loop" if threading.current_thread() is threading.main_thread() else "thread")
            return real(batch)

        storage._append_timed = append_timed  # type: ignore[method-assign]

    def callback(self, zxid: int) -> Callable[[BaseException | None], None]:
        return lambda exc: self.done.append((zxid, exc))


def _storage(tmp_path: Path, **cfg: object) -> Storage:
    return Storage(ServerConfig(data_dir=tmp_path / "data", **cfg))  # type: ignore[arg-type]


async def _append_and_wait(storage: Storage, rec: Recorder, batch: Batch) -> None:
    want = len(rec.done) + 1
    storage.append(batch, rec.callback(batch[-1][0]))
    for _ in range(2000):
        if len(rec.done) >= want:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("append never reported")


def _lone_writes(storage: Storage, count: int) -> Recorder:
    """`count` one-txn groups, each appended once the one before is durable (one client with one request in flight)."""
    rec = Recorder(storage)

    async def scenario() -> None:
        for z in range(1, count + 1):
            await _append_and_wait(storage, rec, _batch(z, 1))

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    return rec


def test_the_first_fsyncs_run_on_the_thread_then_lone_small_groups_run_on_the_loop(tmp_path):
    storage = _storage(tmp_path, inline_sync_us=10_000_000)  # any disk is fast enough once measured
    rec = _lone_writes(storage, 12)
    # Unknown disk at the start: the first 8 fsyncs are measured on the thread.
    assert rec.writers == ["thread"] * 8 + ["loop"] * 4
    assert storage.inline_writes == 4
    assert [z for z, _ in rec.done] == list(range(1, 13)) and all(exc is None for _, exc in rec.done)
    assert _logged(storage) == list(range(1, 13))


def test_groups_too_large_for_the_loop_go_to_the_thread(tmp_path):
    storage = _storage(tmp_path, force_sync=False)  # no fsync to measure: small groups inline at once
    rec = Recorder(storage)

    async def scenario() -> None:
        await _append_and_wait(storage, rec, _batch(1, 1))
        await _append_and_wait(storage, rec, _batch(2, 9))  # more records than an inline group holds
        big = [(11, encode_txn_payload(TxnHeader(clientId=1, cxid=11, zxid=11, time=0, type=OpCode.setData),
                                       SetDataTxn(path="/n", data=b"y" * 70_000, version=0)))]
        await _append_and_wait(storage, rec, big)  # one record, but over 64 KiB
        await _append_and_wait(storage, rec, _batch(12, 8))

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    assert rec.writers == ["loop", "thread", "thread", "loop"]
    assert _logged(storage) == list(range(1, 20))


BURSTS = ([9, 1, 1], [1, 9, 1], [2, 3], [9, 9, 1, 1], [1], [1, 9])
GROUPS = sum(len(b) for b in BURSTS)


def test_appends_stay_in_order_across_the_two_paths(tmp_path):
    """Whatever mix of paths: nothing goes inline while the thread holds appends, and nothing goes to the
    thread while inline groups wait, so the log and the callbacks follow the order of the appends."""
    storage = _storage(tmp_path, force_sync=False)
    rec = Recorder(storage)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        z = groups = 0
        # Each burst in one callback, starting with the thread idle: a big group (thread) then small
        # ones (they must follow it to the thread), or a small group (inline, scheduled) then a big one
        # (it must queue behind it, inline).
        for sizes in BURSTS:
            for n in sizes:
                storage.append(_batch(z + 1, n), rec.callback(z + n))
                z += n
            groups += len(sizes)
            deadline = loop.time() + 10
            while len(rec.done) < groups and loop.time() < deadline:
                await asyncio.sleep(0.001)

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    assert len(rec.done) == GROUPS and all(exc is None for _, exc in rec.done)
    ends = [z for z, _ in rec.done]
    assert ends == sorted(ends)
    assert _logged(storage) == list(range(1, ends[-1] + 1))
    # Groups waiting inline are written together, with one write: one "loop" per burst that went inline.
    assert rec.writers == ["thread"] * 3 + ["loop"] * 2 + ["thread"] * 4 + ["loop"] * 2


def test_a_slow_fsync_sends_small_groups_back_to_the_thread_until_eight_are_fast(tmp_path, monkeypatch):
    storage = _storage(tmp_path, inline_sync_us=20_000)
    rec = Recorder(storage)
    real = os.fdatasync
    slow = {"left": 0}

    def fdatasync(fd: int) -> None:
        real(fd)
        if slow["left"]:
            slow["left"] -= 1
            time.sleep(0.05)  # 50 ms: over the 20 ms limit

    monkeypatch.setattr(os, "fdatasync", fdatasync)

    async def scenario() -> None:
        z = 1
        for _ in range(9):  # 8 measured on the thread, then inline
            await _append_and_wait(storage, rec, _batch(z, 1))
            z += 1
        slow["left"] = 1
        await _append_and_wait(storage, rec, _batch(z, 1))  # inline, and slow
        z += 1
        for _ in range(9):  # on the thread until eight fast fsyncs replaced the slow one
            await _append_and_wait(storage, rec, _batch(z, 1))
            z += 1

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    assert rec.writers == ["thread"] * 8 + ["loop", "loop"] + ["thread"] * 8 + ["loop"]
    assert _logged(storage) == list(range(1, 20))


def test_zero_keeps_every_write_on_the_thread(tmp_path):
    storage = _storage(tmp_path, force_sync=False, inline_sync_us=0)
    rec = _lone_writes(storage, 5)
    assert rec.writers == ["thread"] * 5 and storage.inline_writes == 0


def test_a_truncation_writes_the_waiting_inline_group_first(tmp_path):
    """`truncate_after` (a new leader's TRUNC) runs on the thread after every earlier append: an inline
    group still waiting for its callback is written before the cut, and reported afterwards."""
    storage = _storage(tmp_path, force_sync=False)
    rec = Recorder(storage)

    async def scenario() -> None:
        await _append_and_wait(storage, rec, _batch(1, 3))
        storage.append(_batch(4, 4), rec.callback(7))  # inline, not yet run
        assert len(rec.done) == 1
        storage.truncate_after(5)
        assert rec.writers == ["loop", "loop"] and len(rec.done) == 1  # written; reported on a later callback
        await asyncio.sleep(0)
        assert rec.done[-1] == (7, None)
        await _append_and_wait(storage, rec, _batch(6, 1))

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    assert _logged(storage) == [1, 2, 3, 4, 5, 6]


def test_an_inline_write_that_fails_reports_the_error(tmp_path):
    storage = _storage(tmp_path, force_sync=False)
    rec = Recorder(storage)

    def broken(batch: Batch) -> float:
        raise OSError(28, "No space left on device")

    async def scenario() -> None:
        storage._append_timed = broken  # type: ignore[method-assign]
        storage.append(_batch(1, 1), rec.callback(1))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    try:
        asyncio.run(scenario())
    finally:
        storage.close()
    assert len(rec.done) == 1
    zxid, exc = rec.done[0]
    assert zxid == 1 and isinstance(exc, OSError) and exc.errno == 28


@pytest.mark.parametrize("force_sync", [True, False])
def test_metrics_count_inline_groups(tmp_path, force_sync):
    storage = _storage(tmp_path, force_sync=force_sync, inline_sync_us=10_000_000)
    _lone_writes(storage, 10)
    metrics = dict(storage.corral_metrics())
    assert metrics["zk_txnlog_inline_writes"] == (2 if force_sync else 10)
    assert metrics["zk_txnlog_appended"] == 10
    # every fdatasync in µs (ZooKeeper's fsynctime is whole ms); none without forceSync
    fsyncs = storage.metrics.fsync_time_us
    assert fsyncs.count == (10 if force_sync else 0) == storage.metrics.fsynctime.count
    assert not force_sync or 10_000_000 > fsyncs.max >= fsyncs.min >= 0


def test_closing_after_the_loop_ended_still_writes_a_waiting_inline_group(tmp_path):
    """An inline group whose callback never ran (the loop stopped first) is written by `close()`."""
    storage = _storage(tmp_path, force_sync=False)
    rec = Recorder(storage)
    loop = asyncio.new_event_loop()

    def append_then_stop() -> None:
        storage.append(_batch(1, 2), rec.callback(2))  # inline: scheduled for the loop's next pass
        loop.stop()  # which never comes

    loop.call_soon(append_then_stop)
    loop.run_forever()
    loop.close()
    assert rec.writers == [] and rec.done == []
    storage.close()
    assert rec.writers == ["loop"] and rec.done == []  # written on close; no loop to report on
    assert _logged(storage) == [1, 2]
