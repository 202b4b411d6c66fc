"""The tree digest history on demand, for the `hash` four-letter word and the AdminServer's `hash`.

Apache keeps DataTree.digestLog (the tree digest after each zxid that is a multiple of 128) always;
corral keeps it only while `hash` is being asked for (corral/tree/digestlog.py says why). It is attached
at start-up on an ensemble member when that is cheap (`storage.recover_member`: the snapshot's digest,
or a small tree), so the log replay and the leader's DIFF give the entries they give Apache and
`corral migrate check` passes right after a member is swapped in on an idle ensemble; otherwise (and
on a standalone server, where nothing compares it) the first request of either kind attaches it
(digesting the whole tree once) and answers the entries so far, i.e. none. It is dropped after
HASH_IDLE_SECONDS without a request (counted from its start when none came), and when a leader's
snapshot replaces the tree, as Apache's, whose log starts over with its new DataTree, unless the new
tree is small enough to digest at once (`carry_over`). `corral migrate check` compares these
histories between members, so both interfaces must see the same log.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..tree import digestlog

if TYPE_CHECKING:
    from ..tree import DataTree

log = logging.getLogger("corral.server.digests")

HASH_IDLE_SECONDS = 900.0  # the digest log is dropped when `hash` has not been asked for this long
IDLE_CHECK_SECONDS = 60.0  # how often the server looks (so a log lives at most this much longer)


def digest_history(tree: DataTree) -> digestlog.DigestLog:
    """The tree's digest log, attached now if it has none (call on the event loop)."""
    dlog = tree.digest_log
    if dlog is None:
        t0 = time.perf_counter()
        dlog = digestlog.attach(tree)
        log.info("event=digest_log_started zxid=0x%x nodes=%d ms=%.1f", tree.last_zxid, len(tree.nodes),
                 (time.perf_counter() - t0) * 1000)
    dlog.last_read = time.monotonic()
    return dlog


def carry_over(old: DataTree, new: DataTree) -> None:
    """A leader's snapshot replaced `old` by `new`: keep a log on `new` if `old` had one and `new` is
    small enough to digest whole now (a member syncing has initLimit ticks; a million znodes would take
    seconds). The idle clock goes on from the old log's last request."""
    dlog = old.digest_log
    if dlog is None:
        return
    if len(new.nodes) > digestlog.SMALL_TREE:
        log.info("event=digest_log_stopped reason=snapshot_from_leader nodes=%d", len(new.nodes))
        return
    fresh = digestlog.attach(new)
    fresh.last_read = dlog.last_read


def drop_if_idle(tree: DataTree, idle: float = HASH_IDLE_SECONDS) -> None:
    """Drop the tree's digest log if `hash` has not been asked for `idle` seconds (the server calls this
    every IDLE_CHECK_SECONDS on the tree it serves now: a leader's snapshot may have replaced it)."""
    dlog = tree.digest_log
    if dlog is not None and (quiet := time.monotonic() - dlog.last_read) >= idle:
        tree.digest_log = None
        log.info("event=digest_log_stopped zxid=0x%x idle_s=%.0f", tree.last_zxid, quiet)
