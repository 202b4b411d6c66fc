"""Fixtures for the shell tests: a server of each kind and the path of the reference zkCli.sh."""

from __future__ import annotations

import pytest

from tests.support.apache import require_zkcli
from tests.support.server import make_server


@pytest.fixture
def zkcli():
    """Path of Apache's zkCli.sh; listed before the server so a missing zkCli skips before a server starts."""
    return require_zkcli()


@pytest.fixture(scope="module", params=["corral", pytest.param("apache", marks=pytest.mark.compat)])
def any_server(request):
    """One server per module and kind: every comparison runs against corral and against Apache ZooKeeper,
    so a difference between the two shells can never be blamed on the server."""
    srv = make_server(request.param)
    yield srv
    srv.close()
