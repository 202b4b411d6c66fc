"""corral.server.memory while serving: the collector's thresholds, and freezing the tree's growth only
under uvloop (the plain asyncio loop leaves small cycles a freeze would keep forever)."""

from __future__ import annotations

import asyncio
import gc

import pytest
import uvloop

from corral.server import memory


@pytest.fixture
def collector():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    memory._frozen_at = 0


def test_serving_thresholds(collector):
    memory.serving()
    assert gc.get_threshold() == memory.SERVING_THRESHOLDS


def test_growth_is_frozen_under_uvloop_every_step(collector):
    async def grow() -> list[int]:
        counts = []
        for nodes in (10, memory.FREEZE_EVERY - 1, memory.FREEZE_EVERY + 10, memory.FREEZE_EVERY + 20,
                      2 * memory.FREEZE_EVERY + 10):
            memory.tree_grown(nodes)
            counts.append(memory._frozen_at)
        return counts

    gc.unfreeze()
    assert uvloop.run(grow()) == [0, 0, memory.FREEZE_EVERY + 10, memory.FREEZE_EVERY + 10,
                                  2 * memory.FREEZE_EVERY + 10]
    assert gc.get_freeze_count() > 0


def test_shrinking_tree_counts_growth_from_its_low(collector):
    async def run() -> int:
        memory.tree_grown(memory.FREEZE_EVERY)  # frozen at FREEZE_EVERY
        memory.tree_grown(10)  # most of the tree deleted
        memory.tree_grown(memory.FREEZE_EVERY)  # grown back by FREEZE_EVERY - 10: not yet
        return memory._frozen_at

    assert uvloop.run(run()) == 10


def test_no_freeze_on_the_plain_asyncio_loop_or_outside_a_loop(collector):
    gc.unfreeze()

    async def grow() -> None:
        memory.tree_grown(5 * memory.FREEZE_EVERY)

    asyncio.run(grow())
    memory.tree_grown(10 * memory.FREEZE_EVERY)
    assert gc.get_freeze_count() == 0 and memory._frozen_at == 0
