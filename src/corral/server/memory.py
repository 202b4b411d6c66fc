"""Keeping CPython's cyclic garbage collector off the znode tree.

Why: the collector's full passes walk every tracked object. A 1M-znode tree is ~1M tracked objects
(a Node each, plus a children container per node that has children), so a full pass costs up to a
second — paid repeatedly while a snapshot is loaded (recovery took 2.5 times longer with the
collector on) and, once serving, as a stop-the-world pause whenever the old generation grows by a
quarter. The tree holds no reference cycles (children are paths, not nodes), so refcounting alone
frees deleted znodes; the collector has nothing to find there. The objects are therefore moved to the
permanent generation (`gc.freeze`): after a bulk load, and at each snapshot (CPython's documented
recipe for fork(): it also stops the collector from touching every object's header, which would
defeat copy-on-write sharing with the snapshot child).

Cost: cyclic garbage that exists at the moment of a freeze, or that later forms among frozen
objects, is never reclaimed. A young-generation collection first frees what is recent. Under uvloop
(the default on Linux) the server makes no cyclic garbage at all: churning 60 kazoo sessions with
creates, watches, errors and closes left 0 unreachable objects. The plain asyncio loop leaves a
7-object cycle per closed transport (its read callback is a bound method of itself), which a freeze
would keep for every connection open at that moment, so snapshots freeze only under uvloop.

Between snapshots the tree grows too: 100,000 znodes created in multis left the collector's old
generation 200,000 objects larger before the next snapshot, and each full pass over it (every quarter of
growth) stalled the server for up to 0.5 s. `tree_grown` therefore freezes again, under uvloop, each
time the tree has gained `FREEZE_EVERY` znodes since the last freeze: a full pass then walks at most
that much unfrozen growth.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_load() -> Iterator[None]:
    """Build a large structure without collector passes, then move it out of the collector's reach.

    No collection before the freeze: what a load allocates is the structure itself (a loader makes no
    cycles), and a young-generation pass over a just-loaded 1M-znode tree walks all of it (~0.1 s of a
    restart) to find nothing."""
    with paused():
        try:
            yield
        finally:
            gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No collector passes while a burst of long-lived objects is made (a restart committing its logged
    transactions again: 183k creates let the collector walk the growing tree ~10 times, ~0.15 s). What
    happens to the growth afterwards is `tree_grown`'s business, as for any other batch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def before_fork() -> None:
    """Freeze what exists now, so neither process's collector dirties the pages they share."""
    if not _on_uvloop():
        return
    gc.collect(1)
    gc.freeze()


SERVING_THRESHOLDS = (10_000, 10, 10)  # gc.set_threshold while serving; CPython's default is (700, 10, 10)


def serving() -> None:
    """A young-generation collection every 10,000 net allocations instead of 700. A write allocates a few
    records that die once it is applied, but a multi of 1000 ops keeps its ~8,000 alive for a while: with
    the default they outlived several young collections, were promoted, and counted towards the next full
    pass over everything not frozen (setData in multis: 7.2 µs per op with the default, 4.4 µs with no
    collector at all, 5.4 µs with this). Refcounting frees these objects either way; the collector only
    looks for cycles, and the server makes next to none, so collecting less often costs no memory."""
    gc.set_threshold(*SERVING_THRESHOLDS)


FREEZE_EVERY = 50_000  # znodes of growth between freezes while serving (~100k collector-tracked objects)
_frozen_at = 0  # the tree's node count at the last `tree_grown` freeze


def tree_grown(node_count: int) -> None:
    """After a batch of transactions is applied: freeze the growth once it reaches FREEZE_EVERY znodes
    (uvloop only, as `before_fork`; a young-generation collection first frees what is recent)."""
    global _frozen_at
    if node_count < _frozen_at:
        _frozen_at = node_count  # deletes: count growth from the new low
    elif node_count - _frozen_at >= FREEZE_EVERY and _on_uvloop():
        gc.collect(1)
        gc.freeze()
        _frozen_at = node_count


def _on_uvloop() -> bool:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return type(loop).__module__.startswith("uvloop")


def in_child() -> None:
    """The snapshot child lives for one serialisation and exits: no collector passes at all."""
    gc.disable()
