"""The project's own fixture: kazoo clients that are closed after each test. Servers come from the
corral plugin (`corral_server`, `corral_ensemble`, ...), which pytest loads by itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from kazoo.client import KazooClient


@pytest.fixture
def kazoo_client() -> Iterator[Callable[..., KazooClient]]:
    clients: list[KazooClient] = []

    def connect(hosts: str, **kwargs) -> KazooClient:
        kwargs.setdefault("timeout", 10.0)
        # Bounded retries with short pauses: a failover takes a second or two, and a test must not hang.
        kwargs.setdefault("connection_retry", {"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
        kwargs.setdefault("command_retry", {"max_tries": 50, "delay": 0.1, "max_delay": 1.0, "deadline": 30})
        zk = KazooClient(hosts=hosts, **kwargs)
        zk.start(timeout=15)
        clients.append(zk)
        return zk

    yield connect
    for zk in clients:
        zk.stop()
        zk.close()
