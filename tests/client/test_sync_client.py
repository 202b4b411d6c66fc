"""SyncClient: the blocking wrapper used by scripts (and later the shell), on both servers."""

from __future__ import annotations

import queue
import threading

import pytest

from corral.client import (
    BadVersionError,
    CreateMode,
    EventType,
    NoNodeError,
    RolledBackError,
    SessionState,
    Stat,
    SyncClient,
    WatchedEvent,
)

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)


def test_basic_calls(server, base):
    with SyncClient(server.hosts, timeout=10) as zk:
        assert zk.state is SessionState.CONNECTED and zk.session_id
        assert zk.create(base, b"v") == base
        path, stat = zk.create(f"{base}/s-", mode=CreateMode.EPHEMERAL_SEQUENTIAL, include_stat=True)
        assert path.startswith(f"{base}/s-") and stat.ephemeralOwner == zk.session_id
        assert zk.get_data(base)[0] == b"v"
        assert isinstance(zk.set_data(base, b"w"), Stat)
        with pytest.raises(BadVersionError):
            zk.set_data(base, b"x", version=0)
        assert zk.exists(f"{base}/nope") is None
        with pytest.raises(NoNodeError):
            zk.get_data(f"{base}/nope")
        children, stat = zk.get_children(base, include_stat=True)
        assert len(children) == 1 and stat.numChildren == 1
        assert zk.sync(base) == base
        acl, _ = zk.get_acl(base)
        zk.set_acl(base, acl)
        zk.add_auth("digest", "a:b")
        results = zk.transaction().create(f"{base}/t").delete(f"{base}/none").commit()
        assert isinstance(results[0], RolledBackError) and isinstance(results[1], NoNodeError)
        assert zk.transaction().create(f"{base}/t").commit() == [f"{base}/t"]
        zk.delete(base, recursive=True)
        assert zk.exists(base) is None
    assert zk.state is SessionState.CLOSED


def test_callbacks_run_on_the_client_thread_and_cannot_block(server, base):
    with SyncClient(server.hosts, timeout=10) as zk, SyncClient(server.hosts, timeout=10) as writer:
        zk.create(base)
        got: queue.Queue[tuple[WatchedEvent, str, str]] = queue.Queue()

        def watcher(event: WatchedEvent) -> None:
            try:
                zk.exists(base)  # a blocking call from the client's own thread must not deadlock
                outcome = "no error"
            except RuntimeError as e:
                outcome = str(e)
            got.put((event, threading.current_thread().name, outcome))

        zk.get_data(base, watch=watcher)
        writer.set_data(base, b"x")
        event, thread, outcome = got.get(timeout=10)
        assert event.type == EventType.NodeDataChanged and event.path == base
        assert thread == "corral-client"
        assert "deadlock" in outcome


def test_blocking_watch_iterator(server, base):
    with SyncClient(server.hosts, timeout=10) as zk, SyncClient(server.hosts, timeout=10) as writer:
        zk.create(base, b"0")
        it = zk.watch_data(base)
        assert next(it).data == b"0"
        writer.set_data(base, b"1")
        assert next(it).data == b"1"
        writer.delete(base)
        assert next(it).data is None
        it.close()
        children = zk.watch_children("/")
        assert "zookeeper" in (next(children).children or [])
        children.close()
