"""Fixtures for the integration tests: real server processes, real kazoo clients, real sockets.

Every test here runs against corral and against Apache ZooKeeper 3.8 (the reference). A test that
passes on `[apache]` and fails on `[corral]` shows a compatibility gap; a test that fails on `[apache]`
is a wrong test. `CORRAL_IT_SERVERS=corral` (or `=apache`) narrows the run to one server; the default
is both.
"""

from __future__ import annotations

import re
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError

from tests.support.server import kinds_under_test, make_server

try:
    SERVER_KINDS = kinds_under_test()
except ValueError as e:
    raise pytest.UsageError(str(e)) from None


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server_kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(server_kind):
    """One server (tickTime 2000) per kind for a test module; tests use their own znode subtrees."""
    srv = make_server(server_kind)
    yield srv
    srv.close()


# Bounded reconnect backoff: kazoo's default grows to an hour between attempts.
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5}


def start_kazoo(hosts: str, timeout: float = 10.0, **kwargs) -> KazooClient:
    kwargs.setdefault("connection_retry", dict(FAST_RETRY))
    client = KazooClient(hosts=hosts, timeout=timeout, **kwargs)
    try:
        client.start(timeout=15)
    except BaseException:
        client.close()
        raise
    return client


def stop_kazoo(client: KazooClient) -> None:
    try:
        client.stop()
    finally:
        client.close()


@pytest.fixture
def kazoo_factory():
    """`kazoo_factory(server, **kw)` -> a started KazooClient; all of them are stopped after the test."""
    clients: list[KazooClient] = []

    def factory(srv, **kwargs) -> KazooClient:
        client = start_kazoo(srv.hosts, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        try:
            stop_kazoo(client)
        except Exception:
            pass


@pytest.fixture
def zk(server, kazoo_factory) -> KazooClient:
    return kazoo_factory(server)


@pytest.fixture
def base(zk, request) -> str:
    """A fresh persistent znode for this test, removed (recursively) afterwards."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60]
    path = f"/it-{name}-{uuid.uuid4().hex[:6]}"
    zk.create(path)
    yield path
    try:
        if zk.connected:
            zk.delete(path, recursive=True)
    except (NoNodeError, NoAuthError):
        pass  # best effort: a failed test may leave nodes this client cannot read
