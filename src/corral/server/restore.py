"""Replacing a running standalone server's tree by a snapshot: the AdminServer's `restore` (Apache 3.9,
ZooKeeperServer.restoreFromSnapshot).

Apache loads the snapshot into a new ZKDatabase, blocks request submission (its restoreLatch) while it
swaps the database in, and builds a new session tracker from the snapshot's sessions. The restored tree
lives in memory only there (a restart recovers the old data from the dataDir), and the server's zxid
goes back to the snapshot's.

corral keeps its write path's rules instead:

* writes are held (`QuorumHost.hold_writes`) and the ones in flight are let finish, so every logged
  transaction is applied and the log holds nothing after the current zxid Z;
* the restored tree is labelled with Z and written as `snapshot.<Z>` in the dataDir, atomically, before
  anything switches: a crash at any point recovers the old tree or the restored one, whole, and a
  restart keeps the restore. The zxid never goes back, so a client that saw Z is never refused. If
  the file cannot be written the old tree goes on serving; if it cannot be renamed into place durably
  (the directory may hold either tree), the server stops, as when its log cannot be written;
* then the tree is switched (`QuorumHost.install_restored`): sessions and their expiry come from the
  snapshot, the held writes are dropped unanswered and every client connection is closed, so clients
  reconnect (a session the snapshot has lives on, one it lacks is expired) and register their watches
  again on the new tree (Apache keeps the connections and loses their watches silently).

Standalone only: an ensemble member cannot switch its tree alone without diverging from the others
under the same zxids (corral would need the restore to travel the quorum), so it is refused there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..persistence.snapshot import SnapshotPublishError

if TYPE_CHECKING:
    from ..tree import DataTree
    from .server import CorralServer

log = logging.getLogger("corral.restore")
QUIESCE_POLLS = 3000  # polls 10 ms apart: how long the writes in flight may take to finish


class RestoreRefused(Exception):
    """The server cannot take a restore now (`reason` is a log token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def restore_tree(srv: CorralServer, tree: DataTree) -> int:
    """Make `tree` (loaded from a snapshot) the server's tree, durably; returns the current zxid,
    which the restored tree is now labelled with. The caller runs one restore at a time."""
    host, storage = srv.host, srv.storage
    if host.ensemble:
        raise RestoreRefused("ensemble")
    if not host.serving:
        raise RestoreRefused("not_serving")
    t0 = time.monotonic()
    host.hold_writes()
    storage.restoring = True
    try:
        await storage.snapshot_idle()
        for _ in range(QUIESCE_POLLS):
            if host.quiescent:
                break
            await asyncio.sleep(0.01)
        else:
            raise RestoreRefused("writes_in_flight")
        old = host.tree
        zxid = old.last_zxid
        tree.last_zxid = zxid
        try:
            path = await storage.write_restored(tree)
        except SnapshotPublishError as e:
            # snapshot.<zxid> may now hold the restored tree while the server serves the old one: a
            # restart would replay the old tree's later writes onto it. Stop, as for a failed log write.
            srv.fatal(f"restore: {e}")
            raise RestoreRefused("snapshot_not_durable") from e
        dropped = host.install_restored(tree)
    finally:
        storage.restoring = False
        host.release_writes()
    ms = (time.monotonic() - t0) * 1000
    srv.metrics.restore_time.observe(round(ms))
    log.info("event=restored file=%s zxid=0x%x znodes=%d sessions=%d held_writes_dropped=%d ms=%.0f", path, zxid,
             tree.node_count(), len(tree.sessions), dropped, ms)
    return zxid
