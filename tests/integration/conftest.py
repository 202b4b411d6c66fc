"""Fixtures for the integration tests: real server processes, real kazoo clients, real sockets.

Every test here runs against corral and against Apache ZooKeeper 3.8 (the reference). A test that
passes on `[apache]` and fails on `[corral]` shows a compatibility gap; a test that fails on `[apache]`
is a wrong test. `CORRAL_IT_SERVERS=corral` (or `=apache`) narrows the run to one server; the default
is both.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError

from tests.support.apache import ApacheZooKeeper
from tests.support.corral_proc import CorralProcess

ALL_KINDS = ("corral", "apache")
SERVER_KINDS = tuple(k.strip() for k in os.environ.get("CORRAL_IT_SERVERS", ",".join(ALL_KINDS)).split(",")
                     if k.strip())
if not SERVER_KINDS or set(SERVER_KINDS) - set(ALL_KINDS):
    raise pytest.UsageError(f"CORRAL_IT_SERVERS must name some of {ALL_KINDS}, got {SERVER_KINDS}")

# corral reads these limits from zoo.cfg; Apache ZooKeeper 3.8 only from JVM system properties.
_APACHE_SYSTEM_PROPERTIES = {
    "jute.maxbuffer": "jute.maxbuffer",
    "sessionlessCnxnTimeout": "zookeeper.nio.sessionlessCnxnTimeout",
}


class _ApacheWithProperties(ApacheZooKeeper):
    """ApacheZooKeeper that turns the corral zoo.cfg keys above into `-D` JVM flags (JAVA_TOOL_OPTIONS)."""

    def __init__(self, tick_time: int = 2000, extra_cfg: dict[str, str] | None = None) -> None:
        cfg = dict(extra_cfg or {})
        self.jvm_props = {_APACHE_SYSTEM_PROPERTIES[k]: cfg.pop(k) for k in list(cfg)
                          if k in _APACHE_SYSTEM_PROPERTIES}
        super().__init__(tick_time=tick_time, extra_cfg=cfg)

    def start(self, timeout: float = 60.0) -> ApacheZooKeeper:
        if not self.jvm_props:
            return super().start(timeout)
        saved = os.environ.get("JAVA_TOOL_OPTIONS")
        flags = " ".join(f"-D{k}={v}" for k, v in self.jvm_props.items())
        os.environ["JAVA_TOOL_OPTIONS"] = f"{saved} {flags}" if saved else flags
        try:
            return super().start(timeout)
        finally:
            if saved is None:
                del os.environ["JAVA_TOOL_OPTIONS"]
            else:
                os.environ["JAVA_TOOL_OPTIONS"] = saved


def make_server(kind: str, tick_time: int = 2000, extra_cfg: dict[str, str] | None = None):
    """Build and start a corral or Apache ZooKeeper server on 127.0.0.1; the caller closes it."""
    if kind == "corral":
        srv = CorralProcess(tick_time=tick_time, extra_cfg=extra_cfg)
    elif kind == "apache":
        srv = _ApacheWithProperties(tick_time=tick_time, extra_cfg=extra_cfg)
    else:
        raise ValueError(kind)
    try:
        srv.start()
    except BaseException:
        srv.close()
        raise
    return srv


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


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
