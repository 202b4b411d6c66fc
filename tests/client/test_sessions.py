"""Session life: state events, failover across a host list, read timeout, restarts and expiry.

Standalone servers cannot hand a session to each other, so failover *with the same session* is
tested through two TCP proxies in front of one server (`tests/support/proxy.py`): stopping the proxy in
use is, for the client, its server going away. Restart and expiry tests start their own servers.
Every wait is bounded; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from corral.client import (
    Client,
    ConnectionLossError,
    CreateMode,
    EventType,
    KeeperState,
    SessionExpiredError,
    SessionState,
    WatchedEvent,
)
from tests.support.net import free_port
from tests.support.proxy import TcpProxy
from tests.support.server import make_server

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)

WAIT = 20.0


class States:
    """Records state changes; `until(state)` waits (bounded) for one."""

    def __init__(self, zk: Client) -> None:
        self.seen: list[SessionState] = []
        self._changed = asyncio.Event()
        zk.add_listener(self)

    def __call__(self, state: SessionState) -> None:
        self.seen.append(state)
        self._changed.set()

    async def until(self, state: SessionState, after: int = 0, timeout: float = WAIT) -> None:
        """Wait until `state` shows up among the changes recorded after index `after`."""
        async def wait() -> None:
            while state not in self.seen[after:]:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def test_state_events_connect_and_close(server):
    zk = Client(server.hosts, timeout=10)
    states = States(zk)
    assert zk.state is SessionState.CLOSED
    await zk.start()
    assert zk.connected and zk.session_id != 0 and len(zk.session_password) == 16
    assert 0 < zk.negotiated_timeout <= 10
    await zk.close()
    assert states.seen == [SessionState.CONNECTING, SessionState.CONNECTED, SessionState.CLOSED]
    await zk.close()  # idempotent
    from corral.client import ClientClosedError

    with pytest.raises(ClientClosedError):
        await zk.exists("/")


async def test_dead_server_first_in_the_list(server):
    dead = free_port()
    zk = Client(f"127.0.0.1:{dead},{server.hosts}", timeout=10, randomize_hosts=False)
    async with zk:
        assert zk.connected_to == ("127.0.0.1", server.port)
        assert await zk.exists("/") is not None


async def test_failover_keeps_the_session_watches_and_ephemerals(server, base):
    p1, p2 = TcpProxy(server.port), TcpProxy(server.port)
    try:
        zk = Client(f"{p1.hosts},{p2.hosts}", timeout=10, randomize_hosts=False)
        states = States(zk)
        async with zk, Client(server.hosts, timeout=10) as writer:
            assert zk.connected_to == ("127.0.0.1", p1.port)
            sid = zk.session_id
            await zk.create(base, b"0")
            eph = await zk.create(f"{base}/e", mode=CreateMode.EPHEMERAL)
            events: asyncio.Queue[WatchedEvent] = asyncio.Queue()
            await zk.get_data(base, watch=events.put_nowait)
            await zk.add_auth("digest", "bob:pw")

            p2.black_hole(refuse_new=True)  # refuses connections for now: the client stays disconnected
            mark = len(states.seen)
            await p1.aclose()
            await states.until(SessionState.DISCONNECTED, mark)
            # A change while the client is away: SetWatches must catch it up after the reconnect.
            await writer.set_data(base, b"changed while away")
            # A call made while disconnected waits for the reconnect.
            pending = asyncio.ensure_future(zk.get_data(base))
            await asyncio.sleep(0)
            assert not pending.done()
            p2.pass_through()
            await states.until(SessionState.CONNECTED, mark)
            assert zk.connected_to == ("127.0.0.1", p2.port)
            assert zk.session_id == sid
            data, _ = await asyncio.wait_for(pending, WAIT)
            assert data == b"changed while away"
            event = await asyncio.wait_for(events.get(), WAIT)
            assert (event.type, event.path) == (EventType.NodeDataChanged, base)
            assert (await writer.exists(eph)) is not None  # the session, and its ephemeral, survived
            # The credential was re-sent: whoami-free check via an ACL only bob can write.
            from corral.client import digest_acl

            await writer.create(f"{base}/bob", acl=[digest_acl("bob", "pw")])
            await zk.set_data(f"{base}/bob", b"ok")
    finally:
        await p1.aclose()
        await p2.aclose()


async def test_in_flight_request_fails_with_connection_loss(server, base):
    p1, p2 = TcpProxy(server.port), TcpProxy(server.port)
    try:
        zk = Client(f"{p1.hosts},{p2.hosts}", timeout=10, randomize_hosts=False)
        async with zk:
            await zk.create(base)
            sid = zk.session_id
            p1.black_hole(refuse_new=True)  # the request below goes into a black hole...
            request = asyncio.ensure_future(zk.get_data(base))
            await asyncio.sleep(0.05)
            assert not request.done()
            await p1.aclose()  # ...and the connection then drops under it
            with pytest.raises(ConnectionLossError):
                await asyncio.wait_for(request, WAIT)
            await zk.wait_connected(WAIT)
            assert (await zk.get_data(base))[0] == b""
            assert zk.session_id == sid
    finally:
        await p1.aclose()
        await p2.aclose()


async def test_silent_server_is_detected_by_the_read_timeout(server, base):
    """A server that stops answering (socket still open) is dropped after 2/3 of the session timeout,
    well before the session itself expires, and the client fails over with the same session."""
    p1, p2 = TcpProxy(server.port), TcpProxy(server.port)
    try:
        zk = Client(f"{p1.hosts},{p2.hosts}", timeout=6, randomize_hosts=False)
        states = States(zk)
        async with zk:
            sid = zk.session_id
            mark = len(states.seen)
            p1.black_hole(refuse_new=True)
            await states.until(SessionState.DISCONNECTED, mark)
            await states.until(SessionState.CONNECTED, mark)
            assert zk.connected_to == ("127.0.0.1", p2.port) and zk.session_id == sid
            assert await zk.exists("/") is not None
    finally:
        await p1.aclose()
        await p2.aclose()


async def test_unreachable_servers_expire_the_session_locally(server, base):
    """No server reachable for a whole negotiated timeout: the servers have expired the session, so the
    client reports EXPIRED itself (as Curator does) instead of retrying forever."""
    proxy = TcpProxy(server.port)
    try:
        zk = Client(proxy.hosts, timeout=4)
        states = States(zk)
        await zk.start()
        mark = len(states.seen)
        proxy.black_hole(refuse_new=True)
        await proxy.aclose()
        await states.until(SessionState.EXPIRED, mark, timeout=WAIT + zk.negotiated_timeout)
        assert states.seen[mark:] == [SessionState.DISCONNECTED, SessionState.EXPIRED]
        with pytest.raises(SessionExpiredError):
            await zk.exists("/")
        await zk.close()
    finally:
        await proxy.aclose()


async def test_session_expiry_events(server_kind, base):
    """Freeze the client's heartbeat so the server expires the session (tickTime 200 → 400 ms minimum
    timeout); the client learns it on reconnect and reports EXPIRED to listeners, watches and iterators."""
    srv = make_server(server_kind, start=False, tick_time=200)
    srv.start()
    try:
        async with Client(srv.hosts, timeout=10) as observer:
            zk = Client(srv.hosts, timeout=0.5)
            states = States(zk)
            await zk.start()
            assert zk.negotiated_timeout < 1.0
            await zk.create(base)
            eph = await zk.create(f"{base}/e", mode=CreateMode.EPHEMERAL)
            events: asyncio.Queue[WatchedEvent] = asyncio.Queue()
            await zk.exists(f"{base}/never", watch=events.put_nowait)
            it = zk.watch_children(base)
            assert (await asyncio.wait_for(it.__anext__(), WAIT)).children == ["e"]
            waiting = asyncio.ensure_future(it.__anext__())

            zk._heartbeat_frozen = True  # test hook: no pings, no read timeout
            await states.until(SessionState.EXPIRED)
            assert states.seen == [SessionState.CONNECTING, SessionState.CONNECTED, SessionState.DISCONNECTED,
                                   SessionState.EXPIRED]
            ev = await asyncio.wait_for(events.get(), WAIT)
            assert (ev.type, ev.state) == (EventType.None_, KeeperState.Expired)
            # The iterator may first see the ephemeral's deletion, but it must end with the expiry.
            with pytest.raises(SessionExpiredError):
                await asyncio.wait_for(waiting, WAIT)
                await asyncio.wait_for(it.__anext__(), WAIT)
            with pytest.raises(SessionExpiredError):
                await zk.get_data(base)
            assert await observer.exists(eph) is None

            # A new session on the same Client works.
            old = zk.session_id
            zk._heartbeat_frozen = False
            await zk.start()
            assert zk.connected and zk.session_id != old
            assert await zk.get_children(base) == []
            await zk.close()
    finally:
        srv.close()


async def test_server_restart_keeps_the_session(server_kind, base, tmp_path):
    """A server restarted on the same port with its data recovers the session: the client reconnects
    with the same session id and its data is there."""
    srv = make_server(server_kind, start=False, data_dir=str(tmp_path))
    srv.start()
    try:
        zk = Client(srv.hosts, timeout=30)
        states = States(zk)
        await zk.start()
        sid = zk.session_id
        await zk.create(base, b"before")
        eph = await zk.create(f"{base}/e", mode=CreateMode.EPHEMERAL)
        mark = len(states.seen)
        srv.stop()
        await states.until(SessionState.DISCONNECTED, mark)
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, srv.start)
        restart_s = time.monotonic() - t0
        try:
            await states.until(SessionState.CONNECTED, mark, timeout=35)  # inside the test's 60 s limit
        except TimeoutError:  # seen once against Apache under make test, not reproduced: say what happened
            raise AssertionError(f"no reconnect; restart took {restart_s:.1f} s, states {states.seen[mark:]}, "
                                 f"client error {getattr(zk, '_terminal', None)!r}\n{srv.log()[-3000:]}") from None
        assert zk.session_id == sid
        assert (await zk.get_data(base))[0] == b"before"
        assert await zk.exists(eph) is not None
        await zk.close()
    finally:
        srv.close()


async def test_wiped_server_on_the_same_port_expires_the_session(server_kind, base, tmp_path):
    """The server comes back without the session (fresh data): the client must report EXPIRED — here the
    fresh server even refuses the handshake, since the client has seen a newer zxid, so the client's own
    expiry rule decides — and a new session on the same Client then works."""
    old = make_server(server_kind, start=False, tick_time=200, data_dir=str(tmp_path / "old"))
    (tmp_path / "old").mkdir()
    old.start()
    fresh = None
    try:
        zk = Client(old.hosts, timeout=2)
        states = States(zk)
        await zk.start()
        sid = zk.session_id
        await zk.create(base, b"before")
        mark = len(states.seen)
        old.stop()
        await states.until(SessionState.DISCONNECTED, mark)
        (tmp_path / "fresh").mkdir()
        fresh = make_server(server_kind, start=False, tick_time=200, port=old.port, data_dir=str(tmp_path / "fresh"))
        await asyncio.get_running_loop().run_in_executor(None, fresh.start)
        await states.until(SessionState.EXPIRED, mark)
        with pytest.raises(SessionExpiredError):
            await zk.exists(base)
        await zk.start()
        assert zk.connected and zk.session_id != sid
        assert await zk.exists(base) is None
        await zk.create(base, b"after")
        assert (await zk.get_data(base))[0] == b"after"
        await zk.close()
    finally:
        old.close()
        if fresh is not None:
            fresh.close()


async def test_fail_fast_reports_a_refused_server_at_once_and_still_reconnects(server):
    """`fail_fast=True` (what `corral shell` uses, as zkCli fails queued requests on a failed connection
    attempt): a call made while no server accepts fails with ConnectionLoss once every server has refused,
    not after the 30 s session timeout; the client keeps trying in the background and connects as soon as
    the server is reachable. Without it, the same call waits for `connect_wait`."""
    with TcpProxy(server.port) as proxy:
        proxy.refuse()
        zk = Client(proxy.hosts, timeout=30, fail_fast=True)
        starting = asyncio.ensure_future(zk.start(timeout=60))
        try:
            await asyncio.sleep(0)
            t0 = time.monotonic()
            with pytest.raises(ConnectionLossError):
                await zk.get_children("/")
            with pytest.raises(ConnectionLossError):
                await zk.wait_connected()
            assert time.monotonic() - t0 < 5.0, "fail-fast calls must not wait for the session timeout"
            assert zk.state is SessionState.CONNECTING and not starting.done(), "still trying in the background"

            patient = Client(proxy.hosts, timeout=30, connect_wait=1.0)
            patient_start = asyncio.ensure_future(patient.start(timeout=60))
            try:
                await asyncio.sleep(0)
                t0 = time.monotonic()
                with pytest.raises(ConnectionLossError):
                    await patient.get_children("/")
                assert time.monotonic() - t0 >= 0.9, "without fail_fast a call waits connect_wait"
            finally:
                patient_start.cancel()
                await asyncio.gather(patient_start, return_exceptions=True)
                await patient.close()

            proxy.pass_through()
            await asyncio.wait_for(starting, 30)
            assert zk.connected and "zookeeper" in await zk.get_children("/")
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await zk.close()
