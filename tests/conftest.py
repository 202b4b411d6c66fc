"""Shared fixtures (Apache ZooKeeper per test module; corral servers come from corral's own pytest plugin,
`corral.testing.plugin`: `corral_server`, `corral_server_module`, ...) and the `slow` marker that
`make test-fast` leaves out.

What is slow: every test that starts a server process, Java, a shell or another program, or opens real
sockets. It is marked in three ways, so that a new test of that kind cannot slip into the fast run:
whole directories below (all of their tests do), every test that uses one of the server fixtures below,
and `pytestmark = pytest.mark.slow` in the other modules that do (tests/client, tests/shell,
tests/durability). The pure cores — protocol, tree, txn, quorum, simulation and the unit tests — stay fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import ApacheZooKeeper

TESTS = Path(__file__).resolve().parent
# Directories where every test starts servers, shells or programs, or talks to them over sockets.
SLOW_DIRS = frozenset({"integration", "ensemble", "compat", "examples", "testing", "apache_datadir"})
# Fixtures that start a process: any test using one is slow wherever it lives (java_reference runs Java in
# tests/server/test_sessions.py; the corral_* ones come from the corral.testing plugin, see docs/testing.md).
SLOW_FIXTURES = frozenset({"corral_server", "corral_server_module", "corral_server_session", "corral_server_factory",
                           "corral_in_process", "corral_ensemble", "apache_server", "java_reference",
                          "console", "console_server", "console_browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of SLOW_DIRS and the users of SLOW_FIXTURES `slow` (module marks do the rest)."""
    for item in items:
        try:
            top = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            top = ""
        if top in SLOW_DIRS or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def apache_server():
    """One Apache ZooKeeper for a test module (skips, or fails under CI, when it is not installed)."""
    srv = ApacheZooKeeper()
    srv.start()
    yield srv
    srv.close()
