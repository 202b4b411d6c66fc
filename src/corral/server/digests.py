"""The tree digest history on demand, for the `hash` four-letter word and the AdminServer's `hash`.

Apache keeps DataTree.digestLog (the tree digest after each zxid that is a multiple of 128) always;
corral keeps it only while `hash` is being asked for (corral/tree/digestlog.py says why). The first
request of either kind attaches it (digesting the whole tree once) and answers the entries so far, i.e.
none; it is dropped after HASH_IDLE_SECONDS without a request, and with the tree when a leader's
snapshot replaces it (as Apache's, whose log starts over with its new DataTree). `corral migrate check`
compares these histories between members, so both interfaces must see the same log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..tree import digestlog

if TYPE_CHECKING:
    from ..tree import DataTree

log = logging.getLogger("corral.server.digests")

HASH_IDLE_SECONDS = 900.0  # the digest log is dropped when `hash` has not been asked for this long


def digest_history(tree: DataTree) -> digestlog.DigestLog:
    """The tree's digest log, attached now if it has none (call on the event loop)."""
    dlog = tree.digest_log
    if dlog is None:
        t0 = time.perf_counter()
        dlog = digestlog.attach(tree)
        log.info("event=digest_log_started zxid=0x%x nodes=%d ms=%.1f", tree.last_zxid, len(tree.nodes),
                 (time.perf_counter() - t0) * 1000)
        _drop_when_idle(tree, dlog)
    dlog.last_read = time.monotonic()
    return dlog


def _drop_when_idle(tree: DataTree, dlog: digestlog.DigestLog) -> None:
    def check() -> None:
        if tree.digest_log is not dlog:
            return
        idle = time.monotonic() - dlog.last_read
        if idle >= HASH_IDLE_SECONDS:
            tree.digest_log = None
            log.info("event=digest_log_stopped zxid=0x%x idle_s=%.0f", tree.last_zxid, idle)
        else:
            asyncio.get_running_loop().call_later(HASH_IDLE_SECONDS - idle, check)

    asyncio.get_running_loop().call_later(HASH_IDLE_SECONDS, check)
