"""The commit pipeline: prepared transactions → (log) → commit → apply → reply, in zxid order.

Standalone is an ensemble of one, so the stages are the same as with replication: `submit` queues a
prepared transaction (or a `sync` barrier), and the batch is handed on once per event-loop turn, so
everything that arrived in one read burst commits together. Without a transaction log (this stage),
commit is immediate; the durability layer plugs in between `_flush` and `_commit`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol import Record, TxnHeader
from ..tree import ApplyResult

if TYPE_CHECKING:
    from .server import CorralServer

Done = Callable[[TxnHeader | None, ApplyResult | None], None]


class CommitPipeline:
    def __init__(self, server: CorralServer) -> None:
        self.server = server
        self.pending: list[tuple[TxnHeader | None, Record | None, Done]] = []
        self.scheduled = False
        self.outstanding = 0

    def submit(self, hdr: TxnHeader | None, txn: Record | None, done: Done) -> None:
        """Queue a transaction (hdr None = a barrier that completes after everything before it)."""
        self.pending.append((hdr, txn, done))
        self.outstanding += 1
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        batch, self.pending = self.pending, []
        self._commit(batch)

    def _commit(self, batch: list[tuple[TxnHeader | None, Record | None, Done]]) -> None:
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
