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
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_load() -> Iterator[None]:
    """Build a large structure without collector passes, then move it out of the collector's reach."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(1)
        gc.freeze()
        if was_enabled:
            gc.enable()


def before_fork() -> None:
    """Freeze what exists now, so neither process's collector dirties the pages they share."""
    if not _on_uvloop():
        return
    gc.collect(1)
    gc.freeze()


def _on_uvloop() -> bool:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return type(loop).__module__.startswith("uvloop")


def in_child() -> None:
    """The snapshot child lives for one serialisation and exits: no collector passes at all."""
    gc.disable()
