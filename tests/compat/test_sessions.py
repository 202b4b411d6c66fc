"""Sessions side by side: the handshake (with and without the readOnly byte, timeout negotiation,
reconnect with the right or a wrong password, unknown sessions, a client ahead of the server),
closeSession, ephemeral nodes and getEphemerals."""

from __future__ import annotations

import struct

import pytest

from tests.support.rawclient import ConnectionClosed, Err, Op, Unordered, path_body

from .steps import CLOSED, attempt, closed_after, scenarios_of

pytestmark = pytest.mark.compat

EPH, EPH_SEQ = 1, 3


def scenario_handshake(ctx):
    """ConnectResponse fields: 37 bytes with readOnly, 36 without (pre-3.4 client), the negotiated
    timeout clamped to [2, 20] ticks, a 16-byte password; ping replies with xid -2."""
    for name, kw in [("default", {}), ("no readOnly byte", {"read_only": None}),
                     ("readOnly requested", {"read_only": True})]:
        c = ctx.unconnected()
        resp = c.connect(**kw)
        ctx.name_session(resp.session_id, name)
        ctx.rec(f"connect {name}", resp)
        ctx.rec(f"ping {name}", c.ping())
        ctx.rec(f"create {name}", c.create(f"/{name.replace(' ', '-')}", b"", flags=EPH))
    for timeout in (0, 1, 3999, 4000, 10000, 40000, 40001, 1_000_000, -5):
        c = ctx.unconnected()
        resp = attempt(c.connect, timeout_ms=timeout)
        if resp != CLOSED:
            ctx.name_session(resp.session_id, f"timeout {timeout}")
        ctx.rec(f"connect timeout {timeout}", resp)
    c = ctx.unconnected()
    resp = c.connect()
    ctx.name_session(resp.session_id, "P")
    c.send(Op.PING, b"", xid=5)
    ctx.rec("ping with an ordinary xid", attempt(c.read_reply, None, Op.PING))
    ctx.rec("connection after odd ping", closed_after(c))


def scenario_reconnect(ctx):
    """Reconnecting with (sessionId, password): the same session and its ephemerals; the old connection
    is closed (even by an attempt with a wrong password); a wrong password or an unknown session gets
    timeOut 0 / sessionId 0 / zero password then EOF; a client whose lastZxidSeen is ahead of the
    server is refused without a ConnectResponse."""
    a = ctx.raw("A")
    ctx.rec("A create ephemeral", a.create("/a", b"", flags=EPH))
    sid, pw = a.session_id, a.passwd
    a2 = ctx.unconnected()
    ctx.rec("reconnect right password", a2.connect(session_id=sid, passwd=pw))
    ctx.rec("old connection after move", closed_after(a))
    ctx.rec("ephemeral survives reconnect", a2.exists("/a"))
    ctx.rec("create on moved session", a2.create("/a2", b"", flags=EPH))
    wrong = ctx.unconnected()
    ctx.rec("reconnect wrong password", attempt(wrong.connect, session_id=sid, passwd=bytes(16)))
    ctx.rec("after wrong password", closed_after(wrong))
    # Apache closes the session's current connection before it checks the password; corral does not let a
    # client that cannot prove the session disconnect its owner.
    ctx.rec_deviation("session's connection after wrong-password attempt", closed_after(a2),
                      why="a wrong password does not disconnect the session's owner",
                      apache=lambda s: s == CLOSED, corral=lambda s: s == "still open")
    a2.close()
    a2 = ctx.unconnected()
    ctx.rec("reconnect again", a2.connect(session_id=sid, passwd=pw))
    unknown = ctx.unconnected()
    ctx.rec("reconnect unknown session", attempt(unknown.connect, session_id=sid ^ 0xFFFF, passwd=pw))
    ctx.rec("after unknown session", closed_after(unknown))
    ahead = ctx.unconnected()
    ctx.rec("lastZxidSeen ahead of server", attempt(ahead.connect, last_zxid=1 << 40))
    ctx.rec("after lastZxidSeen ahead", closed_after(ahead))
    same = ctx.unconnected()
    current = a2.exists("/").zxid
    ctx.rec("lastZxidSeen equal to server", same.connect(last_zxid=current))
    ctx.name_session(same.session_id, "S")
    ctx.rec("A2 still works", a2.get_children("/"))
    ctx.rec("closeSession", a2.close_session())
    ctx.rec("connection after closeSession", closed_after(a2))
    dead = ctx.unconnected()
    ctx.rec("reconnect closed session", attempt(dead.connect, session_id=sid, passwd=pw))
    ctx.rec("after reconnect closed session", closed_after(dead))
    ctx.rec("ephemerals gone", same.get_children("/"))


def scenario_malformed_handshake(ctx):
    """Bad first frames: a truncated ConnectRequest, a negative length, a length over jute.maxbuffer
    are all answered by closing the connection; the server keeps serving others."""
    cases = {
        "truncated ConnectRequest": struct.pack(">i", 10) + bytes(10),
        "negative length": struct.pack(">i", -1),
        "oversized length": struct.pack(">i", 0x100000) + bytes(64),
        "empty frame": struct.pack(">i", 0),
    }
    for name, data in cases.items():
        c = ctx.unconnected()
        try:
            c.send_bytes(data)
            ctx.rec(name, "reply frame" if attempt(c.read_frame) != CLOSED else CLOSED)
        except ConnectionClosed:
            ctx.rec(name, CLOSED)
    ok = ctx.raw("OK")
    ctx.rec("server still serves", ok.get_children("/"))


def scenario_ephemerals_and_get_ephemerals(ctx):
    """getEphemerals (103) lists the caller's own ephemerals whose path starts with the prefix (plain
    string prefix; null, "" and "/" mean all); ephemeral owners in Stat; close removes them."""
    a = ctx.raw("A")
    b = ctx.raw("B")
    ctx.rec("create /eph", a.create("/eph"))
    ctx.rec("A /eph/a1", a.create("/eph/a1", b"", flags=EPH))
    ctx.rec("A /eph/a-seq", a.create("/eph/a-", b"", flags=EPH_SEQ))
    ctx.rec("A /ephx", a.create("/ephx", b"", flags=EPH))
    ctx.rec("A /other", a.create("/other", b"", flags=EPH))
    ctx.rec("B /eph/b1", b.create2("/eph/b1", b"", flags=EPH))
    for prefix in ("/eph", "/eph/", "/eph/a", "/", "", None, "/nope", "eph", "/eph/a1/"):
        ctx.rec(f"A getEphemerals {prefix!r}", a.get_ephemerals(prefix))
    ctx.rec("B getEphemerals '/'", b.get_ephemerals("/"))
    ctx.rec("stat /eph/a1", b.exists("/eph/a1"))
    ctx.rec("A delete /eph/a1", a.delete("/eph/a1"))
    ctx.rec("A getEphemerals after delete", a.get_ephemerals("/"))
    n = ctx.raw("N")
    ctx.rec("N getEphemerals (none)", n.get_ephemerals("/"))
    ctx.rec("A closeSession", a.close_session())
    ctx.rec("B getChildren2 /eph", b.get_children2("/eph"))
    ctx.rec("B getChildren /", b.get_children("/"))
    ctx.rec("B getEphemerals after A closed", b.get_ephemerals(""))
    c = ctx.raw("C")
    ctx.rec("C ephemeral under persistent", c.create("/eph/c", b"", flags=EPH))
    ctx.rec("C getEphemerals", c.get_ephemerals("/eph/"))


def scenario_get_all_children_number_and_sync(ctx):
    """getAllChildrenNumber (104) counts all descendants (/ on a fresh server counts /zookeeper's
    subtree), NoNode for missing paths; sync (9) echoes its path and consumes no zxid."""
    c = ctx.raw("A")
    ctx.rec("count / fresh", c.get_all_children_number("/"))
    ctx.rec("create /t", c.create("/t"))
    for p in ("/t/a", "/t/b", "/t/a/x", "/t/a/y", "/t/a/x/z"):
        ctx.rec(f"create {p}", c.create(p))
    for p in ("/", "/t", "/t/a", "/t/a/x/z", "/missing", "", "t", "/zookeeper"):
        ctx.rec(f"count {p!r}", c.get_all_children_number(p))
    for p in ("/", "/t", "/missing", "", "bad path", "/t/"):
        ctx.rec(f"sync {p!r}", attempt(c.sync, p))
    c.send(Op.SYNC, path_body(None), xid=99)
    ctx.rec("sync null path", attempt(c.read_reply, 99, Op.SYNC))
    if c.closed:
        c = ctx.raw()
    ctx.rec("create after syncs", c.create("/after"))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_sessions_match_apache(compat, scenario):
    obs = compat.check(scenario)
    if scenario is scenario_handshake:
        assert obs["connect default"]["payload_len"] == 37
        assert obs["connect no readOnly byte"]["payload_len"] == 36
    elif scenario is scenario_reconnect:
        assert obs["reconnect wrong password"]["timeOut"] == 0
        assert obs["reconnect wrong password"]["sessionId"] == 0
    elif scenario is scenario_get_all_children_number_and_sync:
        assert obs["count / fresh"]["value"] == 3
        assert obs["count '/missing'"]["err"] == Err.NONODE


def scenario_session_expiry(ctx):
    """A session that stops talking expires after its negotiated timeout (tickTime 200 ms here, so the
    minimum is 400 ms): its ephemerals go in one closeSession txn, other sessions' watches fire, and a
    late reconnect with its id and password gets the expired ConnectResponse (timeOut 0)."""
    a = ctx.raw("A", timeout_ms=400)
    b = ctx.raw("B", timeout_ms=4000)
    ctx.rec("A negotiated", a.connect_response)
    ctx.rec("A create /x", a.create("/x", b"", flags=EPH))
    ctx.rec("A create /y", a.create("/y", b"", flags=EPH))
    ctx.rec("B exists /x", b.exists("/x", watch=True))
    ctx.rec("B getChildren /", b.get_children("/", watch=True))
    sid, pw = a.session_id, a.passwd
    a.close()  # no closeSession: only expiry can remove the session
    # expiry is asynchronous (bucketed by tick); wait, bounded, for the two events it must cause
    ctx.rec("B events", Unordered(b.wait_events(2, timeout=10)))
    b.take_events()
    ctx.rec("B getChildren2 / after expiry", b.get_children2("/"))
    late = ctx.unconnected()
    ctx.rec("A reconnect after expiry", attempt(late.connect, session_id=sid, passwd=pw))
    ctx.rec("after expired reconnect", closed_after(late))


def test_session_expiry_matches_apache(compat):
    obs = compat.check(scenario_session_expiry, tick_time=200)
    assert obs["A negotiated"]["timeOut"] == 400
    assert obs["A reconnect after expiry"]["timeOut"] == 0
