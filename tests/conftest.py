"""Shared fixtures: a corral server process per test module, started by the tests themselves."""

from __future__ import annotations

import pytest

from tests.support.server import ApacheZooKeeper, CorralProcess


@pytest.fixture(scope="module")
def corral_server():
    """One corral server for a test module (each test uses its own znode subtree or cleans up)."""
    srv = CorralProcess()
    srv.start()
    yield srv
    srv.close()


@pytest.fixture
def fresh_corral():
    """A corral server for one test: for tests that kill, restart or count things server-wide."""
    srv = CorralProcess()
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def apache_server():
    """One Apache ZooKeeper for a test module (skips, or fails under CI, when it is not installed)."""
    srv = ApacheZooKeeper()
    srv.start()
    yield srv
    srv.close()
