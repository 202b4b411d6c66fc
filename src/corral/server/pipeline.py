"""The commit pipeline: prepared transactions → log (group commit) → commit → apply → reply.

Standalone is an ensemble of one, so the stages are the ones replication will use: `submit` queues a
prepared transaction (or a `sync` barrier); once per event-loop turn the queue becomes a group that
is written to the transaction log with one write + one fdatasync on the worker thread. Everything
that arrives while that fsync is in flight waits and forms the next group. Only after the fsync
covering a transaction returns is it applied and answered — nothing unlogged is ever acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..persistence import encode_txn_payload
from ..protocol import Record, TxnHeader
from ..tree import ApplyResult

if TYPE_CHECKING:
    from .server import CorralServer
    from .storage import Storage

log = logging.getLogger("corral.pipeline")

Done = Callable[[TxnHeader | None, ApplyResult | None], None]
Entry = tuple[TxnHeader | None, Record | None, Done]


class CommitPipeline:
    def __init__(self, server: CorralServer, storage: Storage | None = None) -> None:
        self.server = server
        self.storage = storage
        self.pending: list[Entry] = []
        self.scheduled = False
        self.writing = False
        self.outstanding = 0

    def submit(self, hdr: TxnHeader | None, txn: Record | None, done: Done) -> None:
        """Queue a transaction (hdr None = a barrier that completes after everything before it)."""
        self.pending.append((hdr, txn, done))
        self.outstanding += 1
        if not self.scheduled and not self.writing:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        if self.writing or not self.pending:
            return
        batch, self.pending = self.pending, []
        storage = self.storage
        if storage is None:
            self._commit(batch)
            return
        payloads = [(h.zxid, encode_txn_payload(h, t)) for h, t, _ in batch if h is not None]
        if not payloads:
            self._commit(batch)
            return
        self.writing = True
        fut = storage.append(payloads)
        fut.add_done_callback(lambda f: self._written(f, batch, len(payloads)))

    def _written(self, fut: asyncio.Future, batch: list[Entry], count: int) -> None:
        self.writing = False
        exc = fut.exception()
        if exc is not None:
            # The log is the ground truth: if it cannot be written, acknowledging anything would lie.
            self.server.fatal(f"cannot write the transaction log: {exc}")
            return
        self._commit(batch)
        assert self.storage is not None
        self.storage.logged(count, self.server.tree)
        if self.pending:
            self._flush()

    def _commit(self, batch: list[Entry]) -> None:
        srv = self.server
        tree = srv.tree
        committed = srv.preparer.committed
        for hdr, txn, done in batch:
            self.outstanding -= 1
            if hdr is None:
                done(None, None)
                continue
            res = tree.apply(hdr, txn)
            committed(hdr.zxid)
            srv.after_apply(hdr, txn, res)
            done(hdr, res)
        srv.flush_dirty()
