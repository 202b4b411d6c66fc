"""Sessions: timeout negotiation, expiry, close, reconnect, and refused handshakes.

The server runs with tickTime 200 ms, so negotiated timeouts are clamped to [400, 4000] ms and expiry
happens within seconds. Wire-level steps use the independent raw client (`tests/support/rawclient.py`); kazoo checks
what a real client observes. Each test runs against corral and Apache ZooKeeper 3.8 (the reference).
Waits are bounded; nothing asserts on how long something took.
"""

from __future__ import annotations

import queue
import socket
import time
import uuid

import pytest
from kazoo.protocol.states import EventType, KazooState

from tests.integration.conftest import start_kazoo, stop_kazoo
from tests.support.proxy import TcpProxy
from tests.support.rawclient import ZERO_PASSWD, RawClient, connect_request
from tests.support.server import make_server
from tests.support.wait import wait_until

pytestmark = pytest.mark.timeout(60)

TICK = 200
MIN_TIMEOUT, MAX_TIMEOUT = 2 * TICK, 20 * TICK
EXPIRY_WAIT = 20.0  # seconds: generous bound for a 1-2 s session to be expired and cleaned up
EVENT_WAIT = 10.0


@pytest.fixture(scope="module")
def server(server_kind):
    """A server with a small tickTime (session timeouts 400..4000 ms) for this module."""
    srv = make_server(server_kind, tick_time=TICK)
    yield srv
    srv.close()


@pytest.fixture
def raw(server):
    """`raw(timeout_ms)` -> a RawClient with an established session; closed after the test."""
    conns: list[RawClient] = []

    def open_session(timeout_ms: int = MAX_TIMEOUT) -> RawClient:
        conn = RawClient(server.host, server.port).open()
        conns.append(conn)
        resp = conn.connect(timeout_ms)
        assert resp.timeout > 0 and resp.session_id != 0, resp
        return conn

    yield open_session
    for conn in conns:
        conn.close()


@pytest.fixture
def path(zk) -> str:
    """A unique top-level path for an ephemeral node (deleted afterwards if it is still there)."""
    p = f"/sess-{uuid.uuid4().hex[:8]}"
    yield p
    if zk.connected and zk.exists(p):
        zk.delete(p)


def next_item(q: queue.Queue, timeout: float, what: str):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no {what} within {timeout}s")


# --- negotiation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("requested", "negotiated"), [
    (1, MIN_TIMEOUT), (100, MIN_TIMEOUT), (MIN_TIMEOUT, MIN_TIMEOUT), (1000, 1000),
    (MAX_TIMEOUT, MAX_TIMEOUT), (100_000, MAX_TIMEOUT),
])
def test_negotiated_timeout_is_clamped(server, requested, negotiated):
    """The server grants the requested timeout clamped to [2*tickTime, 20*tickTime], in a 37-byte
    ConnectResponse with a fresh session id and a 16-byte password."""
    with RawClient(server.host, server.port).open() as conn:
        resp = conn.connect(requested)
        assert resp.timeout == negotiated
        assert resp.length == 37
        assert resp.protocol_version == 0
        assert resp.session_id != 0
        assert len(resp.passwd) == 16 and resp.passwd != ZERO_PASSWD
        assert resp.read_only is False
        conn.close_session()


def test_sessions_get_distinct_ids(server, raw):
    """Every new session gets its own id and password."""
    sessions = [raw().session for _ in range(5)]
    assert len({s.session_id for s in sessions}) == 5
    assert len({s.passwd for s in sessions}) == 5


# --- expiry --------------------------------------------------------------------------------------------------
def test_silent_client_expires_and_its_ephemerals_go(server, zk, raw, path):
    """A client that stops sending (socket open, no pings) loses its session after the negotiated
    timeout: its ephemerals are deleted (watchers elsewhere get NodeDeleted), the server closes the
    connection, and a later reconnect with the old id and password is told timeOut 0."""
    conn = raw(1000)
    assert conn.session.timeout == 1000
    assert conn.create(path, b"", flags=1).err == 0
    events: queue.Queue = queue.Queue()
    stat = zk.exists(path, watch=events.put)
    assert stat is not None and stat.ephemeralOwner == conn.session.session_id

    # From here on the raw client is silent.
    event = next_item(events, EXPIRY_WAIT, "NodeDeleted after the session expired")
    assert (event.type, event.path) == (EventType.DELETED, path)
    assert zk.exists(path) is None
    assert conn.read_until_closed(EXPIRY_WAIT) == b""

    with RawClient(server.host, server.port).open() as again:
        resp = again.connect(1000, conn.session.session_id, conn.session.passwd, conn.last_zxid)
        assert (resp.timeout, resp.session_id, resp.passwd) == (0, 0, ZERO_PASSWD)
        assert resp.length == 37
        assert again.read_until_closed(EVENT_WAIT) == b""


def test_pings_keep_a_session_alive(server, zk, raw, path):
    """Pings (xid -2) touch the session: a client pinging well within its timeout keeps it, and its
    ephemeral, for several timeouts in a row. Each ping is answered with xid -2, err 0, no body."""
    conn = raw(1000)
    assert conn.create(path, b"", flags=1).err == 0
    for _ in range(15):  # ~3 s = 3 session timeouts
        time.sleep(0.2)
        reply = conn.ping()
        assert (reply.err, reply.body) == (0, b"")
    stat = zk.exists(path)
    assert stat is not None and stat.ephemeralOwner == conn.session.session_id
    assert conn.close_session().err == 0


def test_frozen_kazoo_client_expires_and_sees_lost(server, zk, path):
    """kazoo behind a proxy that stops forwarding (no FIN: the server sees a silent open socket):
    the session expires, another client's watch sees the ephemeral deleted, and when the network
    comes back kazoo is told its session expired (LOST) and starts a new session."""
    proxy = TcpProxy(server.port, server.host)
    states: list[KazooState] = []
    client = None
    try:
        client = start_kazoo(proxy.hosts, timeout=2.0)
        client.add_listener(states.append)
        old_id = client.client_id[0]
        client.create(path, ephemeral=True)
        events: queue.Queue = queue.Queue()
        assert zk.exists(path, watch=events.put).ephemeralOwner == old_id

        proxy.hold(refuse_new=True)  # frozen: nothing forwarded, sockets open, new connections closed
        event = next_item(events, EXPIRY_WAIT, "NodeDeleted for the frozen client's ephemeral")
        assert (event.type, event.path) == (EventType.DELETED, path)
        wait_until(lambda: KazooState.SUSPENDED in states, EXPIRY_WAIT, what="kazoo SUSPENDED")

        proxy.drop_connections()  # thawed: the frozen connections are stale, drop them; forward again
        proxy.pass_through()
        wait_until(lambda: KazooState.LOST in states, EXPIRY_WAIT, what="kazoo LOST")
        wait_until(lambda: client.connected and states[-1] == KazooState.CONNECTED, EXPIRY_WAIT,
                   what="kazoo reconnected with a new session")
        assert client.client_id[0] != old_id
        assert states.index(KazooState.SUSPENDED) < states.index(KazooState.LOST)
        assert client.exists(path) is None
    finally:
        if client is not None:
            stop_kazoo(client)
        proxy.close()


# --- explicit close --------------------------------------------------------------------------------------------
def test_explicit_close_deletes_ephemerals_at_once(server, zk, path, kazoo_factory):
    """closeSession removes the session's ephemerals before it is answered: right after kazoo's stop()
    returns they are gone for everyone, and watchers get NodeDeleted."""
    owner = kazoo_factory(server, timeout=4.0)
    owner.create(path, ephemeral=True)
    seq = owner.create(f"{path}-seq-", ephemeral=True, sequence=True)
    events: queue.Queue = queue.Queue()
    assert zk.exists(path, watch=events.put) is not None
    assert zk.exists(seq) is not None

    owner.stop()
    assert zk.exists(path) is None  # no waiting: the close was already applied
    assert zk.exists(seq) is None
    event = next_item(events, EVENT_WAIT, "NodeDeleted")
    assert (event.type, event.path) == (EventType.DELETED, path)


def test_close_session_is_answered_then_connection_closed(server, zk, raw, path):
    """On the wire, closeSession (op -11) gets a normal reply (err 0, no body) and then the server
    closes the connection; the session's ephemeral is gone."""
    conn = raw()
    assert conn.create(path, b"", flags=1).err == 0
    reply = conn.close_session()
    assert (reply.err, reply.body) == (0, b"")
    assert conn.read_until_closed(EVENT_WAIT) == b""
    assert zk.exists(path) is None


# --- reconnect ------------------------------------------------------------------------------------------------
def test_kazoo_reconnect_after_dropped_tcp_keeps_session(server, zk, path, kazoo_factory):
    """A dropped TCP connection is not the end of a session: kazoo reconnects with its session id and
    password, gets the same session back, and its ephemeral never went away."""
    client = kazoo_factory(server, timeout=4.0)
    states: list[KazooState] = []
    client.add_listener(states.append)
    session_id = client.client_id[0]
    client.create(path, b"still here", ephemeral=True)

    client._connection._socket.shutdown(socket.SHUT_RDWR)  # cut the TCP connection under kazoo
    wait_until(lambda: KazooState.SUSPENDED in states, EVENT_WAIT, what="kazoo SUSPENDED")
    wait_until(lambda: client.connected and states[-1] == KazooState.CONNECTED, EVENT_WAIT,
               what="kazoo reconnected")
    assert KazooState.LOST not in states
    assert client.client_id[0] == session_id
    stat = zk.exists(path)
    assert stat is not None and stat.ephemeralOwner == session_id
    assert client.get(path)[0] == b"still here"
    client.set(path, b"after reconnect")
    assert zk.get(path)[0] == b"after reconnect"


def test_raw_reconnect_with_id_and_password_keeps_session(server, zk, raw, path):
    """Reconnecting with (sessionId, passwd) within the timeout revalidates the session: same id, same
    password, a positive timeout, and the ephemeral created on the first connection survives."""
    first = raw()
    sess = first.session
    assert first.create(path, b"", flags=1).err == 0
    first.close()  # abrupt: no closeSession

    with RawClient(server.host, server.port).open() as second:
        resp = second.connect(MAX_TIMEOUT, sess.session_id, sess.passwd, first.last_zxid)
        assert resp.session_id == sess.session_id
        assert resp.passwd == sess.passwd
        assert resp.timeout == MAX_TIMEOUT
        stat = zk.exists(path)
        assert stat is not None and stat.ephemeralOwner == sess.session_id
        reply = second.exists(path)
        assert reply.err == 0
        assert second.close_session().err == 0
    assert zk.exists(path) is None


def test_wrong_password_is_refused(server, zk, raw, path):
    """A reconnect with a valid session id but the wrong password gets timeOut 0, session id 0 and a
    zero password, then the connection is closed. The session itself is not harmed: its ephemeral
    stays, and the right password still works."""
    owner = raw()
    sess = owner.session
    assert owner.create(path, b"", flags=1).err == 0
    wrong = bytes(b ^ 0x5A for b in sess.passwd)

    with RawClient(server.host, server.port).open() as intruder:
        resp = intruder.connect(MAX_TIMEOUT, sess.session_id, wrong, owner.last_zxid)
        assert (resp.timeout, resp.session_id, resp.passwd) == (0, 0, ZERO_PASSWD)
        assert intruder.read_until_closed(EVENT_WAIT) == b""

    stat = zk.exists(path)
    assert stat is not None and stat.ephemeralOwner == sess.session_id
    # (Apache ZooKeeper closes the owner's current connection when anyone presents its session id,
    # even with a wrong password, so reconnect rather than reuse `owner`.)
    owner.close()
    with RawClient(server.host, server.port).open() as back:
        resp = back.connect(MAX_TIMEOUT, sess.session_id, sess.passwd, owner.last_zxid)
        assert resp.session_id == sess.session_id and resp.timeout > 0
        assert back.close_session().err == 0
    assert zk.exists(path) is None


def test_unknown_session_id_is_refused(server):
    """A session id the server never issued is treated like an expired one: timeOut 0, then close."""
    with RawClient(server.host, server.port).open() as conn:
        resp = conn.connect(MAX_TIMEOUT, 0x0FED_CBA9_8765_4321, bytes(range(16)))
        assert (resp.timeout, resp.session_id, resp.passwd) == (0, 0, ZERO_PASSWD)
        assert conn.read_until_closed(EVENT_WAIT) == b""


def test_client_ahead_of_server_is_refused(server, raw, path):
    """A client claiming to have seen a zxid the server has not reached (it must have talked to a
    more up-to-date server) is refused: the connection is closed with no ConnectResponse at all.
    The same handshake with the server's real last zxid is accepted."""
    conn = raw()
    reply = conn.create(path, b"", flags=1)
    assert reply.err == 0 and reply.zxid > 0
    with RawClient(server.host, server.port).open() as ahead:
        ahead.send_frame(connect_request(MAX_TIMEOUT, last_zxid=reply.zxid + (1 << 32)))
        assert ahead.read_until_closed(EVENT_WAIT) == b""
    with RawClient(server.host, server.port).open() as level:
        resp = level.connect(MAX_TIMEOUT, last_zxid=reply.zxid)
        assert resp.timeout == MAX_TIMEOUT and resp.session_id != 0
        assert level.close_session().err == 0
    assert conn.close_session().err == 0
