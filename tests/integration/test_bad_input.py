"""Bad input on the client port: the server answers with an error where ZooKeeper does, otherwise
closes that one connection, and always keeps serving everybody else.

Every case runs against corral and Apache ZooKeeper 3.8 with the same expectation: Apache is the judge
of the exact reaction (which error code, close or not), and each case ends by checking that an
already-connected kazoo client and a brand-new one still work on the same server. Bytes are built by
the independent encoder in `tests/support/rawclient.py`.
"""

from __future__ import annotations

import random
import socket
import time
import uuid

import pytest

from tests.integration.conftest import start_kazoo, stop_kazoo
from tests.support.rawclient import (
    DEFAULT_MAX_BUFFER,
    XID_PING,
    ConnectionClosed,
    Err,
    Op,
    RawClient,
    connect_request,
    create_body,
    decode_connect_response,
    frame,
    jbuffer,
    jint,
    jstring,
    parse_reply,
    path_watch_body,
    request_packet,
)
from tests.support.server import make_server

pytestmark = pytest.mark.timeout(60)

CLOSE_WAIT = 10.0  # seconds: bound for the server to close a connection it should close
TIGHT_MAXBUFFER = 4096
SESSIONLESS_MS = 1000


@pytest.fixture(scope="module")
def tight_server(server_kind):
    """A server with jute.maxbuffer 4096 and a 1 s timeout for connections without a session."""
    srv = make_server(server_kind, extra_cfg={"jute.maxbuffer": str(TIGHT_MAXBUFFER),
                                              "sessionlessCnxnTimeout": str(SESSIONLESS_MS)})
    yield srv
    srv.close()


def assert_still_serving(srv, zk=None) -> None:
    """The server survived the bad input: a client connected before it still works, and a new kazoo
    client can connect and read."""
    if zk is not None:
        path = zk.create("/alive-", b"ok", ephemeral=True, sequence=True)
        assert zk.get(path)[0] == b"ok"
        zk.delete(path)
    fresh = start_kazoo(srv.hosts)
    try:
        assert "zookeeper" in fresh.get_children("/")
    finally:
        stop_kazoo(fresh)


def open_conn(srv, stage: str) -> RawClient:
    """A raw connection, with a session when stage == 'after-handshake'."""
    conn = RawClient(srv.host, srv.port).open()
    if stage == "after-handshake":
        resp = conn.connect(10_000)
        assert resp.timeout > 0
    return conn


STAGES = ["before-handshake", "after-handshake"]


# --- frame lengths ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("length", [DEFAULT_MAX_BUFFER + 1, 0x7FFFFFFF], ids=["maxbuffer+1", "int-max"])
def test_frame_longer_than_maxbuffer_closes(server, zk, stage, length):
    """A length prefix above jute.maxbuffer (default 1,048,575) is refused before any payload is read:
    the connection is closed without a reply."""
    with open_conn(server, stage) as conn:
        conn.send_bytes(jint(length) + b"\x00" * 64)
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("length", [-1, -(2**31), 0], ids=["minus-1", "int-min", "zero"])
def test_negative_or_empty_frame_closes(server, zk, stage, length):
    """A negative length is a framing error; an empty frame cannot hold a ConnectRequest or a request
    header. Both close the connection without a reply."""
    with open_conn(server, stage) as conn:
        conn.send_bytes(jint(length) + b"\x00" * 16)
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


def test_small_jute_maxbuffer(tight_server):
    """With jute.maxbuffer=4096: a create whose packet is exactly 4096 bytes is served, one byte more
    closes the connection, and an 8 KiB value is refused the same way."""
    def create_payload(path: str, total: int) -> bytes:
        header_and_rest = len(request_packet(1, Op.CREATE, create_body(path, b"")))
        return request_packet(1, Op.CREATE, create_body(path, b"x" * (total - header_and_rest)))

    tag = uuid.uuid4().hex[:8]
    with open_conn(tight_server, "after-handshake") as conn:
        small = create_payload(f"/fits-{tag}", 2048)
        conn.send_frame(small)
        assert parse_reply(conn.read_frame()).err == 0
        exact = create_payload(f"/exact-{tag}", TIGHT_MAXBUFFER)
        assert len(exact) == TIGHT_MAXBUFFER
        conn.send_frame(exact)
        assert parse_reply(conn.read_frame()).err == 0
        conn.send_frame(create_payload(f"/over-{tag}", TIGHT_MAXBUFFER + 1))
        assert conn.read_until_closed(CLOSE_WAIT) == b""

    with open_conn(tight_server, "after-handshake") as conn:
        try:
            conn.send_frame(request_packet(1, Op.CREATE, create_body(f"/big-{tag}", b"x" * 8192)))
        except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
            pass  # the server may close while we are still sending
        assert conn.read_until_closed(CLOSE_WAIT) == b""

    zk = start_kazoo(tight_server.hosts)
    try:
        assert zk.exists(f"/fits-{tag}") is not None
        assert zk.exists(f"/exact-{tag}") is not None
        assert zk.exists(f"/over-{tag}") is None
        assert zk.exists(f"/big-{tag}") is None
        assert_still_serving(tight_server, zk)
    finally:
        stop_kazoo(zk)


# --- handshake ----------------------------------------------------------------------------------------------
_CR = connect_request(4000)  # 45 bytes: int, long, int, long, buffer(16), bool


@pytest.mark.parametrize("payload", [
    _CR[:4],
    _CR[:20],
    _CR[:30],
    _CR[:24] + jint(1000) + b"\x00" * 17,
    _CR[:24] + jint(0x7FFFFFFF) + b"\x00" * 17,
    _CR[:24] + jint(-2) + b"\x00" * 17,
], ids=["4-bytes", "cut-in-sessionId", "cut-in-passwd", "passwd-past-frame", "passwd-len-huge",
        "passwd-len-minus-2"])
def test_truncated_or_malformed_connect_request_closes(server, zk, payload):
    """A ConnectRequest that cannot be decoded is not answered: the connection is closed."""
    with RawClient(server.host, server.port).open() as conn:
        conn.send_frame(payload)
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


def test_connect_request_without_read_only_flag_is_an_old_client(server, zk):
    """Contrast case: a 44-byte ConnectRequest (no trailing readOnly byte, as pre-3.4 clients send) is
    valid; the ConnectResponse then omits readOnly too (36 bytes)."""
    with RawClient(server.host, server.port).open() as conn:
        conn.send_frame(_CR[:44])
        resp = decode_connect_response(conn.read_frame())
        assert resp.timeout == 4000 and resp.session_id != 0
        assert resp.length == 36 and resp.read_only is None
        assert conn.ping().err == 0
        assert conn.close_session().err == 0
    assert_still_serving(server, zk)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
    b"hello world\n",
    b"\x00\x00\x00\x05hello",
], ids=["http", "tls-client-hello", "text", "tiny-frame"])
def test_garbage_before_handshake_closes(server, zk, garbage):
    """Bytes that are not a ConnectRequest (an HTTP request, a TLS hello, text, a tiny frame) get no
    reply; the connection is closed."""
    with RawClient(server.host, server.port).open() as conn:
        conn.send_bytes(garbage)
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


@pytest.mark.parametrize("sent", [b"", frame(_CR)[:10]], ids=["nothing", "partial-connect-request"])
def test_connection_without_handshake_is_closed_after_sessionless_timeout(tight_server, sent):
    """A connection that never completes a handshake holds no session, so nothing would ever expire
    it: the server closes it after sessionlessCnxnTimeout (1 s here)."""
    with RawClient(tight_server.host, tight_server.port).open() as conn:
        if sent:
            conn.send_bytes(sent)
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(tight_server)


def test_sessionless_timeout_does_not_apply_to_sessions(tight_server):
    """Contrast case: once a session exists its own timeout governs; a pinging client outlives
    sessionlessCnxnTimeout several times over."""
    with open_conn(tight_server, "after-handshake") as conn:
        for _ in range(6):  # ~3 s = 3 sessionless timeouts
            time.sleep(0.5)
            assert conn.ping().err == 0
        assert conn.close_session().err == 0


@pytest.mark.parametrize("stage", STAGES)
def test_half_a_frame_then_disconnect(server, zk, stage):
    """A client that sends half a frame and disconnects leaves no damage. After a handshake the
    session outlives the dropped connection and can be resumed."""
    conn = open_conn(server, stage)
    if stage == "before-handshake":
        conn.send_bytes(frame(_CR)[:20])
    else:
        conn.send_bytes(frame(request_packet(1, Op.CREATE, create_body("/half", b"x" * 100)))[:40])
    conn.close()
    assert_still_serving(server, zk)
    if conn.session is not None:
        with RawClient(server.host, server.port).open() as again:
            resp = again.connect(10_000, conn.session.session_id, conn.session.passwd)
            assert resp.session_id == conn.session.session_id and resp.timeout > 0
            assert again.exists("/half").err == Err.NONODE
            assert again.close_session().err == 0


# --- requests after the handshake ------------------------------------------------------------------------
TRUNCATED_BODIES = {
    "getData-path-cut": (Op.GET_DATA, jint(10) + b"/ab"),
    "getData-no-watch-flag": (Op.GET_DATA, jstring("/")),
    "getData-negative-strlen": (Op.GET_DATA, jint(-5) + b"/ab"),
    "getData-huge-strlen": (Op.GET_DATA, jint(0x7FFFFFFF) + b"/ab"),
    "exists-empty": (Op.EXISTS, b""),
    "getChildren-empty": (Op.GET_CHILDREN, b""),
    "create-data-cut": (Op.CREATE, jstring("/bad-input-node") + jint(5) + b"ab"),
    "create-no-acl": (Op.CREATE, jstring("/bad-input-node") + jbuffer(b"ab")),
    "create-empty": (Op.CREATE, b""),
    "setData-no-version": (Op.SET_DATA, jstring("/bad-input-node") + jbuffer(b"")),
    "delete-empty": (Op.DELETE, b""),
    "sync-empty": (Op.SYNC, b""),
}


@pytest.mark.parametrize("case", list(TRUNCATED_BODIES))
def test_truncated_request_body_gets_marshalling_error(server, zk, case):
    """A request whose body cannot be decoded is answered with MarshallingError (-5) in the
    ReplyHeader (same xid, no body) and the connection stays usable; nothing is changed."""
    op, body = TRUNCATED_BODIES[case]
    with open_conn(server, "after-handshake") as conn:
        conn.send_frame(request_packet(77, op, body))
        reply = conn.read_reply()
        assert (reply.xid, reply.err, reply.body) == (77, Err.MARSHALLINGERROR, b"")
        assert conn.ping().err == 0
        assert conn.exists("/bad-input-node").err == Err.NONODE
        assert conn.close_session().err == 0
    assert_still_serving(server, zk)


@pytest.mark.parametrize("opcode", [999, 0, 10, -3, 6000, 0x7FFFFFFF])
def test_unknown_opcode_gets_unimplemented_then_close(server, zk, opcode):
    """An opcode the server does not know is answered with Unimplemented (-6) for that xid, no body,
    and then the connection is closed."""
    with open_conn(server, "after-handshake") as conn:
        conn.send_frame(request_packet(42, opcode, b"\x00" * 8))
        reply = conn.read_reply()
        assert (reply.xid, reply.err, reply.body) == (42, Err.UNIMPLEMENTED, b"")
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


_AUTH_CASES = {
    # name: (xid, AuthPacket body, expected reply (xid, err) or None for "closed without a reply")
    "unknown-scheme": (-4, jint(0) + jstring("nosuch") + jbuffer(b"x"), (-4, -115)),
    "unknown-scheme-other-xid": (5, jint(0) + jstring("nosuch") + jbuffer(b"x"), (5, -115)),
    "scheme-length-huge": (-4, jint(0) + jint(0x2F66757A) + b"abc", None),
    "empty-body": (-4, b"", None),
}


@pytest.mark.parametrize("case", list(_AUTH_CASES))
def test_bad_auth_packet(server, zk, case):
    """addauth (op 100) with a scheme the server has no provider for is answered AuthFailed (-115),
    echoing the request's xid, and the connection is closed; an AuthPacket that cannot be decoded
    closes the connection without any reply."""
    xid, body, expected = _AUTH_CASES[case]
    with open_conn(server, "after-handshake") as conn:
        conn.send_frame(request_packet(xid, Op.AUTH, body))
        if expected is not None:
            reply = conn.read_reply()
            assert (reply.xid, reply.err, reply.body) == (*expected, b"")
        assert conn.read_until_closed(CLOSE_WAIT) == b""
    assert_still_serving(server, zk)


def test_malformed_paths_on_the_wire(server, zk):
    """Path validation that kazoo cannot reach (it normalises paths): creates with an invalid path get
    BadArguments (-8). ZooKeeper looks the parent up first, so a malformed path whose parent (the
    text before the last '/') does not exist is NoNode (-101) instead. Reads do not validate paths
    (a malformed path is simply not found) except exists, which refuses a NUL."""
    parent = f"/bi-{uuid.uuid4().hex[:8]}"
    with open_conn(server, "after-handshake") as conn:
        assert conn.create(parent).err == 0
        bad_arguments = ["", "relative", f"{parent}/", f"{parent}/.", f"{parent}/..",
                         f"{parent}/a\x00b", f"{parent}/ctl\x01", f"{parent}/del\x7f"]
        for path in bad_arguments:
            assert conn.create(path).err == Err.BADARGUMENTS, repr(path)
        no_parent = [f"{parent}//b", f"{parent}/./b", f"{parent}/../b", f"{parent}/missing/"]
        for path in no_parent:
            assert conn.create(path).err == Err.NONODE, repr(path)
        for path in (f"{parent}//b", f"{parent}/", "relative", f"{parent}/a\x00b"):
            assert conn.call(Op.GET_DATA, path_watch_body(path)).err == Err.NONODE, repr(path)
        assert conn.exists(f"{parent}/a\x00b").err == Err.BADARGUMENTS
        assert conn.exists(f"{parent}//b").err == Err.NONODE
        assert conn.call(Op.GET_CHILDREN, path_watch_body(parent)).body == jint(0)  # nothing created
        assert conn.call(Op.DELETE, jstring(parent) + jint(-1)).err == 0
        assert conn.close_session().err == 0
    assert_still_serving(server, zk)


# --- random input ------------------------------------------------------------------------------------------------
# Opcodes a server knows (so the random body reaches a decoder) plus the odd unknown one.
_KNOWN_OPS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, -11, 100, 101, 103,
              104, 105, 106, 107]
RANDOM_FRAMES = 30
RANDOM_STREAMS = 10


def _random_request(rng: random.Random) -> tuple[int, bytes]:
    xid = rng.choice([rng.randint(1, 2**31 - 1), rng.randint(-(2**31), -3)])  # never -1/-2
    op = rng.choice(_KNOWN_OPS) if rng.random() < 0.85 else rng.randint(-(2**31), 2**31 - 1)
    body = b""
    if rng.random() < 0.5:  # a plausible path first, to get past the first field
        name = "".join(rng.choice("abcxyz/.") for _ in range(rng.randint(0, 8)))
        body = jstring("/fuzz-" + name)
    body += rng.randbytes(rng.randint(0, 48))
    return xid, request_packet(xid, op, body)


@pytest.mark.parametrize("seed", [20240611])
def test_random_frames_after_handshake(server, zk, seed):
    """Well-framed requests with random headers and bodies, each on its own session, each followed by a
    ping: every reply the server sends is a well-formed ReplyHeader for the request's xid, and the
    connection then either answers the ping (still in step) or is closed; the server keeps serving."""
    rng = random.Random(seed)
    outcomes = {"answered-ping": 0, "closed": 0}
    for case in range(RANDOM_FRAMES):
        xid, payload = _random_request(rng)
        where = f"seed {seed} case {case}: payload {payload.hex()}"
        with open_conn(server, "after-handshake") as conn:
            try:
                conn.send_frame(payload)
                conn.send_frame(request_packet(XID_PING, Op.PING))
            except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
                pass  # closed while we were sending: checked below
            replies_to_request = 0
            deadline = time.monotonic() + CLOSE_WAIT
            while True:
                assert time.monotonic() < deadline, f"neither a ping reply nor a close; {where}"
                try:
                    raw = conn.read_frame(max(0.1, deadline - time.monotonic()))
                except ConnectionClosed:
                    outcomes["closed"] += 1
                    break
                except TimeoutError:
                    raise AssertionError(f"server went silent without closing; {where}")
                assert len(raw) >= 16, f"short reply {raw.hex()}; {where}"
                reply = parse_reply(raw)
                if reply.xid == XID_PING:
                    outcomes["answered-ping"] += 1
                    break
                if reply.xid == -1:
                    continue  # a watch notification
                assert reply.xid == xid, f"reply for unknown xid {reply.xid}; {where}"
                replies_to_request += 1
                assert replies_to_request == 1, f"two replies for one request; {where}"
    assert sum(outcomes.values()) == RANDOM_FRAMES
    assert_still_serving(server, zk)


@pytest.mark.parametrize("seed", [7, 99])
def test_random_byte_streams_after_handshake(server, zk, seed):
    """Unframed random bytes after a handshake, then end-of-stream from the client: whatever the bytes
    meant, the server closes the connection (it never waits forever on a half-closed socket) and keeps
    serving."""
    rng = random.Random(seed)
    for case in range(RANDOM_STREAMS // 2):
        junk = rng.randbytes(rng.randint(1, 256))
        with open_conn(server, "after-handshake") as conn:
            try:
                conn.send_bytes(junk)
                conn.sock.shutdown(socket.SHUT_WR)
            except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
                pass
            assert conn.is_closed_within(CLOSE_WAIT), f"seed {seed} case {case}: {junk.hex()}"
    assert_still_serving(server, zk)
