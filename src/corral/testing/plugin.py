"""The pytest plugin: fixtures that give a test a real corral server or ensemble.

Registered by the `pytest11` entry point `corral`, so installing corral is enough; `-p no:corral`
turns it off. This is the only module of `corral.testing` that imports pytest.

Fixtures (each stops what it started at teardown, only by PID):

* `corral_server`: a fresh standalone server process for one test.
* `corral_server_module`, `corral_server_session`: one server shared by a module / the whole run.
* `corral_server_factory`: `corral_server_factory(tick_time=200, extra_cfg={...})` for servers with
  their own configuration (any number per test).
* `corral_in_process`: a server on a background event loop of the test process (fast; no crashes).
* `corral_server_async`: only with pytest-asyncio installed, a server on the test's own loop.
* `corral_ensemble`: `corral_ensemble(3, observers=1, tick_time=200)` gives a started `Ensemble`.

When a test fails, the log tail of every corral server and ensemble it used is added to its report.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .ensemble import Ensemble
from .inprocess import InProcessServer
from .process import ServerProcess

LOG_TAIL = 4000  # characters of each server's log shown with a failed test


class ServerFactory:
    """What `corral_server_factory` returns: call it for a started `ServerProcess`; every server it made
    is closed at teardown."""

    def __init__(self) -> None:
        self.created: list[ServerProcess] = []

    def __call__(self, *, tick_time: int = 2000, extra_cfg: Mapping[str, object] | None = None,
                 data_dir: str | Path | None = None, port: int | None = None, start: bool = True) -> ServerProcess:
        """A server with its own zoo.cfg keys; `start=False` to start it yourself (`srv.start()`)."""
        srv = ServerProcess(data_dir=data_dir, port=port, tick_time=tick_time, extra_cfg=extra_cfg)
        self.created.append(srv)
        return srv.start() if start else srv

    def close(self) -> None:
        """Close every server made (the fixture's teardown)."""
        for srv in self.created:
            srv.close()


class EnsembleFactory:
    """What `corral_ensemble` returns: `corral_ensemble(voters=3, observers=0, tick_time=200, **kw)` starts
    an `Ensemble` (keywords as for `Ensemble`) and waits until it is stable; closed at teardown."""

    def __init__(self) -> None:
        self.created: list[Ensemble] = []

    def __call__(self, voters: int = 3, observers: int = 0, *, tick_time: int = 200, start: bool = True,
                 **kwargs: Any) -> Ensemble:
        ens = Ensemble(voters, observers, tick_time=tick_time, **kwargs)
        self.created.append(ens)
        return ens.start() if start else ens

    def close(self) -> None:
        """Close every ensemble made (the fixture's teardown)."""
        for ens in self.created:
            ens.close()


def _server() -> Iterator[ServerProcess]:
    with ServerProcess() as srv:
        yield srv


@pytest.fixture
def corral_server() -> Iterator[ServerProcess]:
    """A fresh standalone corral process for this test (free port on 127.0.0.1, private dataDir, ready
    once it answers `ruok`); `.hosts` is the connect string. Stopped and removed afterwards."""
    yield from _server()


@pytest.fixture(scope="module")
def corral_server_module() -> Iterator[ServerProcess]:
    """One corral process shared by the tests of a module: faster, so each test should use its own
    znode paths (and not kill or restart it)."""
    yield from _server()


@pytest.fixture(scope="session")
def corral_server_session() -> Iterator[ServerProcess]:
    """One corral process for the whole test run: fastest, so tests must use their own znode paths
    and leave the server running."""
    yield from _server()


@pytest.fixture
def corral_server_factory() -> Iterator[ServerFactory]:
    """A factory for servers with their own configuration:
    `corral_server_factory(tick_time=200, extra_cfg={"extendedTypesEnabled": "true"})`."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def corral_in_process() -> Iterator[InProcessServer]:
    """A standalone corral on a background event loop inside the test process: starts in milliseconds,
    `.server` is the live `CorralServer`. Cannot be killed or paused (use `corral_server` for that)."""
    with InProcessServer() as srv:
        yield srv


@pytest.fixture
def corral_ensemble() -> Iterator[EnsembleFactory]:
    """A factory for ensembles: `ens = corral_ensemble(3)` (optionally `observers=1`, `tick_time=`)
    starts one and waits until it is stable; `ens.hosts`, `ens.leader()`, `ens.kill(m)`,
    `ens.pause(m)`/`resume(m)`, `ens.partition(m)`/`heal(m)`, `ens.restart(m)`. All stopped afterwards."""
    factory = EnsembleFactory()
    try:
        yield factory
    finally:
        factory.close()


async def _corral_server_async() -> AsyncIterator[InProcessServer]:
    """A standalone corral on the test's own event loop (pytest-asyncio): `async with
    corral_server_async.client() as zk`. The test must keep awaiting: the server runs between its
    awaits."""
    async with InProcessServer() as srv:
        yield srv


def _asyncio_plugin() -> Any:
    """pytest-asyncio when installed: corral does not depend on it (the other fixtures are synchronous)."""
    try:
        return importlib.import_module("pytest_asyncio")
    except ImportError:
        return None


if _asyncio_plugin() is not None:  # pragma: no cover - depends on the user's environment
    corral_server_async = _asyncio_plugin().fixture(_corral_server_async, name="corral_server_async")


# ---- failure reports ------------------------------------------------------------------------------


def _logs(value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, Ensemble):
        for m in value.members:
            yield f"member {m.sid} {m.hosts} pid {m.pid}", m.log(LOG_TAIL)
    elif isinstance(value, ServerProcess):
        yield f"{value.hosts} pid {value.pid}", value.log(LOG_TAIL)
    elif isinstance(value, ServerFactory | EnsembleFactory):
        for made in value.created:
            yield from _logs(made)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Add the log tail of every corral server the failed test used to its report (pytest prints it
    with the failure, like captured output)."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        for value in getattr(item, "funcargs", {}).values():
            for title, text in _logs(value):
                if text:
                    report.sections.append((f"Captured corral log {title}", text))
    return report
