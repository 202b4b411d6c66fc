"""Watches as one-shot callbacks and as re-arming async iterators, on corral and on Apache ZooKeeper.

Events are awaited with bounded waits (`next_event`), never with sleeps-and-hope; there are no
timing asserts.
"""

from __future__ import annotations

import asyncio

import pytest

from corral.client import (
    ChildrenSnapshot,
    Client,
    CreateMode,
    DataSnapshot,
    EventType,
    KeeperState,
    NoWatcherError,
    WatchedEvent,
    WatcherType,
)
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)

WAIT = 10.0


def connect(server, chroot: str = "") -> Client:
    return Client(server.hosts + chroot, timeout=10)


class Events:
    """A watch callback that queues its events for the test to await."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[WatchedEvent] = asyncio.Queue()

    def __call__(self, event: WatchedEvent) -> None:
        self.queue.put_nowait(event)

    async def next(self) -> WatchedEvent:
        return await asyncio.wait_for(self.queue.get(), WAIT)

    async def none_within(self, zk: Client, base: str) -> bool:
        """True if no event is queued once a round trip has passed (the server sends events before
        the replies of later requests, so a sync + read fences everything already triggered)."""
        await zk.sync(base)
        await zk.exists(base)
        return self.queue.empty()


async def test_data_watch_fires_once_on_change_and_delete(server, base):
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base, b"0")
        ev = Events()
        await zk.get_data(base, watch=ev)
        await writer.set_data(base, b"1")
        e = await ev.next()
        assert (e.type, e.state, e.path) == (EventType.NodeDataChanged, KeeperState.SyncConnected, base)
        await writer.set_data(base, b"2")  # one-shot: no second event without re-arming
        assert await ev.none_within(zk, base)
        await zk.get_data(base, watch=ev)
        await writer.delete(base)
        assert (await ev.next()).type == EventType.NodeDeleted


async def test_exists_watch_on_missing_node_fires_on_create(server, base):
    async with connect(server) as zk, connect(server) as writer:
        ev = Events()
        assert await zk.exists(base, watch=ev) is None
        await writer.create(base)
        e = await ev.next()
        assert (e.type, e.path) == (EventType.NodeCreated, base)
        assert await zk.exists(base, watch=ev) is not None
        await writer.set_data(base, b"x")
        assert (await ev.next()).type == EventType.NodeDataChanged


async def test_child_watch(server, base):
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base)
        ev = Events()
        assert await zk.get_children(base, watch=ev) == []
        await writer.create(f"{base}/c", mode=CreateMode.EPHEMERAL)
        e = await ev.next()
        assert (e.type, e.path) == (EventType.NodeChildrenChanged, base)
        await zk.get_children(base, watch=ev, include_stat=True)
        await writer.close()  # the ephemeral child goes away with the session
        assert (await ev.next()).type == EventType.NodeChildrenChanged


async def test_one_notification_many_local_watchers(server, base):
    """Several callbacks on one path all run; the same callback twice runs once (Java's Set<Watcher>)."""
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base)
        a, b = Events(), Events()
        got: list[WatchedEvent] = []
        done = asyncio.Event()

        async def async_cb(event: WatchedEvent) -> None:
            got.append(event)
            done.set()

        await zk.get_data(base, watch=a)
        await zk.get_data(base, watch=a)
        await zk.exists(base, watch=b)
        await zk.exists(base, watch=async_cb)
        await writer.set_data(base, b"x")
        assert (await a.next()).type == EventType.NodeDataChanged
        assert (await b.next()).type == EventType.NodeDataChanged
        await asyncio.wait_for(done.wait(), WAIT)
        assert [e.type for e in got] == [EventType.NodeDataChanged]
        assert await a.none_within(zk, base)


async def test_watch_event_paths_are_chroot_relative(server, base):
    async with connect(server) as root:
        await root.create(base)
        async with connect(server, chroot=base) as zk:
            ev = Events()
            assert await zk.exists("/x", watch=ev) is None
            await root.create(f"{base}/x")
            e = await ev.next()
            assert (e.type, e.path) == (EventType.NodeCreated, "/x")


async def test_watch_sees_change_before_later_reply(server, base):
    """ZooKeeper's ordering guarantee: the watch event is delivered before the reply of a later read."""
    async with connect(server) as zk:
        await zk.create(base, b"0")
        ev = Events()
        await zk.get_data(base, watch=ev)
        await zk.set_data(base, b"1")
        data, _ = await zk.get_data(base)
        assert data == b"1"
        assert not ev.queue.empty()  # already delivered by the time the read returned


async def test_data_iterator_follows_changes_deletion_and_recreation(server, base):
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base, b"v0")
        it = zk.watch_data(base)
        seen: list[DataSnapshot] = []

        async def step() -> DataSnapshot:
            snap = await asyncio.wait_for(it.__anext__(), WAIT)
            seen.append(snap)
            return snap

        snap = await step()
        assert snap.data == b"v0" and snap.event is None and snap.exists
        await writer.set_data(base, b"v1")
        snap = await step()
        assert snap.data == b"v1" and snap.event is not None and snap.event.type == EventType.NodeDataChanged
        await writer.delete(base)
        snap = await step()
        assert snap.data is None and snap.stat is None and not snap.exists
        await writer.create(base, b"again")
        snap = await step()
        assert snap.data == b"again" and snap.event is not None and snap.event.type == EventType.NodeCreated
        await it.aclose()
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()


async def test_data_iterator_with_async_for_coalesces_but_ends_on_newest(server, base):
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base, b"0")
        values: list[bytes | None] = []
        async with zk.watch_data(base) as it:
            async for snap in it:
                values.append(snap.data)
                if snap.data == b"0":
                    for i in range(1, 6):  # a burst: may be seen as fewer snapshots
                        await writer.set_data(base, str(i).encode())
                if snap.data == b"5":
                    break
        assert values[0] == b"0" and values[-1] == b"5"
        assert values == sorted(values, key=lambda v: int(v or b"0"))


async def test_children_iterator(server, base):
    async with connect(server) as zk, connect(server) as writer:
        it = zk.watch_children(base)
        snap: ChildrenSnapshot = await asyncio.wait_for(it.__anext__(), WAIT)
        assert snap.children is None and not snap.exists
        await writer.create(base)
        snap = await asyncio.wait_for(it.__anext__(), WAIT)
        assert snap.children == [] and snap.exists
        await writer.create(f"{base}/b")
        await writer.create(f"{base}/a")
        for _ in range(3):  # the two creates may arrive as one or two snapshots
            snap = await asyncio.wait_for(it.__anext__(), WAIT)
            if snap.children == ["a", "b"]:
                break
        assert snap.children == ["a", "b"]
        await writer.set_data(base, b"not a child change")  # must not produce a duplicate snapshot
        await writer.delete(f"{base}/a")
        snap = await asyncio.wait_for(it.__anext__(), WAIT)
        assert snap.children == ["b"]
        await it.aclose()


async def test_iterators_end_when_the_client_closes(server, base):
    async with connect(server) as root:
        await root.create(base)
    zk = connect(server)
    await zk.start()
    it = zk.watch_data(base)
    await asyncio.wait_for(it.__anext__(), WAIT)
    waiter = asyncio.ensure_future(it.__anext__())
    ev = Events()
    await zk.exists(f"{base}/x", watch=ev)
    await zk.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, WAIT)
    # Pending one-shot callbacks hear about the end of the session instead of hanging forever.
    e = await ev.next()
    assert (e.type, e.state, e.path) == (EventType.None_, KeeperState.Closed, None)


# ---- persistent and recursive watches (addWatch), removeWatches -------------------------------------

async def _events(ev: Events, n: int) -> list[tuple[EventType, str | None]]:
    return [(e.type, e.path) for e in [await ev.next() for _ in range(n)]]


async def test_persistent_watch_sees_every_event_of_its_node_and_stays(server, base):
    async with connect(server) as zk, connect(server) as writer:
        ev = Events()
        await zk.add_watch(base, ev)  # the node need not exist yet
        await writer.create(base, b"0")
        await writer.set_data(base, b"1")
        await writer.create(f"{base}/c")
        await writer.set_data(f"{base}/c", b"x")  # a child's data: not this node's event
        await writer.delete(f"{base}/c")
        await writer.delete(base)
        await writer.create(base)
        assert await _events(ev, 6) == [
            (EventType.NodeCreated, base), (EventType.NodeDataChanged, base),
            (EventType.NodeChildrenChanged, base), (EventType.NodeChildrenChanged, base),
            (EventType.NodeDeleted, base), (EventType.NodeCreated, base)]
        assert await ev.none_within(zk, base)


async def test_recursive_watch_sees_the_subtree_but_no_child_events(server, base):
    """NodeCreated/NodeDataChanged/NodeDeleted for the node and every descendant. A NodeChildrenChanged
    that the server sends for a one-shot child watch of the same session goes to that watcher only."""
    async with connect(server) as zk, connect(server) as writer:
        await writer.create(base)
        ev, child = Events(), Events()
        await zk.add_watch(base, ev, recursive=True)
        await writer.create(f"{base}/a")
        await zk.get_children(f"{base}/a", watch=child)
        await writer.create(f"{base}/a/b", b"0")
        await writer.set_data(f"{base}/a/b", b"1")
        await writer.delete(f"{base}/a/b")
        await writer.set_data(base, b"top")
        assert await _events(ev, 5) == [
            (EventType.NodeCreated, f"{base}/a"), (EventType.NodeCreated, f"{base}/a/b"),
            (EventType.NodeDataChanged, f"{base}/a/b"), (EventType.NodeDeleted, f"{base}/a/b"),
            (EventType.NodeDataChanged, base)]
        assert await ev.none_within(zk, base)
        assert (await child.next()).type == EventType.NodeChildrenChanged


async def test_persistent_watches_survive_a_reconnect(server, base):
    """After the connection drops, SetWatches2 re-registers persistent and recursive watches."""
    p1, p2 = TcpProxy(server.port), TcpProxy(server.port)
    try:
        async with Client(f"{p1.hosts},{p2.hosts}", timeout=10, randomize_hosts=False) as zk, \
                connect(server) as writer:
            await writer.create(base)
            await writer.create(f"{base}/r")
            plain, rec = Events(), Events()
            # Different paths: Apache 3.8 keeps one mode per path and connection (ZOOKEEPER-4466).
            await zk.add_watch(base, plain)
            await zk.add_watch(f"{base}/r", rec, recursive=True)
            sid = zk.session_id
            await p1.aclose()
            for _ in range(int(WAIT / 0.01)):  # bounded: until the client has moved on to p2
                if p2.connections:
                    break
                await asyncio.sleep(0.01)
            await zk.wait_connected(WAIT)
            await zk.sync(base)  # the re-registration went out before this request
            assert zk.session_id == sid and p2.connections == 1
            await writer.set_data(base, b"after")
            await writer.create(f"{base}/kid")
            await writer.create(f"{base}/r/x")
            await writer.set_data(f"{base}/r", b"r")
            assert await _events(plain, 2) == [(EventType.NodeDataChanged, base),
                                               (EventType.NodeChildrenChanged, base)]
            assert await _events(rec, 2) == [(EventType.NodeCreated, f"{base}/r/x"),
                                             (EventType.NodeDataChanged, f"{base}/r")]
            assert await plain.none_within(zk, base)
    finally:
        await p1.aclose()
        await p2.aclose()


async def test_remove_watches_by_type(server, base):
    """removeAllWatches: the server drops its watches, each local watcher gets a *WatchRemoved event,
    nothing fires afterwards; with no watch left the server answers NoWatcher; `local` skips the server."""
    async with connect(server) as zk, connect(server) as writer:
        await zk.create(base)
        data, kids = Events(), Events()
        await zk.get_data(base, watch=data)
        await zk.get_children(base, watch=kids)
        await zk.remove_watches(base, WatcherType.Children)
        assert await _events(kids, 1) == [(EventType.ChildWatchRemoved, base)]
        await zk.remove_watches(base, WatcherType.Data)
        assert await _events(data, 1) == [(EventType.DataWatchRemoved, base)]
        await writer.create(f"{base}/c")
        await writer.set_data(base, b"1")
        assert await data.none_within(zk, base) and kids.queue.empty()
        with pytest.raises(NoWatcherError):
            await zk.remove_watches(base)
        persistent = Events()
        await zk.add_watch(base, persistent)
        await zk.remove_watches(base, WatcherType.Any)
        assert await _events(persistent, 1) == [(EventType.PersistentWatchRemoved, base)]
        await writer.set_data(base, b"2")
        assert await persistent.none_within(zk, base)
        one_shot = Events()
        await zk.exists(base, watch=one_shot)
        await zk.remove_watches(base, local=True)  # the server keeps its watch; its event finds no one
        assert await _events(one_shot, 1) == [(EventType.DataWatchRemoved, base)]
        await writer.set_data(base, b"3")
        assert await one_shot.none_within(zk, base)
