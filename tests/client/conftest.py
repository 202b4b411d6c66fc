"""Fixtures for the client tests: the same test body against corral and against Apache ZooKeeper.

`async def` tests are run here with `asyncio.run` (the venv has no pytest-asyncio), each bounded by
`ASYNC_TEST_TIMEOUT`. The `server` fixture is module-scoped and parametrized over both servers, with
`extendedTypesEnabled=true` so that TTL nodes can be tested; `CORRAL_IT_SERVERS=corral` (or `=apache`)
narrows the run, as for the integration tests.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid

import pytest

from tests.support.server import kinds_under_test, make_server

ASYNC_TEST_TIMEOUT = 60.0
try:
    SERVER_KINDS = kinds_under_test()
except ValueError as e:
    raise pytest.UsageError(str(e)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop, with a timeout so a hung await fails the test."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), ASYNC_TEST_TIMEOUT))
    return True


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request):
    """One server per module and kind, TTL nodes enabled."""
    srv = make_server(request.param, extra_cfg={"extendedTypesEnabled": "true"})
    yield srv
    srv.close()


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    """For tests that start (and stop, restart) their own servers."""
    return request.param


@pytest.fixture
def base() -> str:
    """A unique top-level path for one test (servers are shared within a module)."""
    return f"/ct-{uuid.uuid4().hex[:12]}"
