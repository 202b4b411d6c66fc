"""Fixtures for the real-process ensemble tests: ensembles and kazoo clients that are always cleaned up."""

from __future__ import annotations

import pytest

from .clients import close_kazoo
from .cluster import Ensemble


@pytest.fixture
def make_ensemble(tmp_path):
    """`make_ensemble(voters=3, observers=0, **kw)` -> a started Ensemble; every member is killed afterwards."""
    made: list[Ensemble] = []

    def factory(voters: int = 3, observers: int = 0, start: bool = True, **kw) -> Ensemble:
        e = Ensemble(tmp_path / f"ensemble{len(made)}", voters=voters, observers=observers, **kw)
        made.append(e)
        if start:
            e.start()
        return e

    try:
        yield factory
    finally:
        for e in made:
            e.close()


@pytest.fixture
def kazoo_clients():
    """A list the test appends its kazoo clients to; all are stopped and closed afterwards."""
    clients: list = []
    try:
        yield clients
    finally:
        for c in clients:
            close_kazoo(c)
