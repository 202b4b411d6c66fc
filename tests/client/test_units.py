"""Client pieces that need no server: connect strings, chroot, errors, the watch registry, multi codec."""

from __future__ import annotations

import pytest

import corral.client
from corral.client import (
    BadArgumentsError,
    BadVersionError,
    Client,
    ClientClosedError,
    ConnectionLossError,
    CreateMode,
    EventType,
    KeeperError,
    KeeperState,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    SessionExpiredError,
    SessionState,
    WatchedEvent,
    digest_id,
    error_for,
    errors,
    parse_connect_string,
)
from corral.client.client import _reply_names, _reply_path
from corral.client.transaction import _MultiRequest, _Op, decode_multi_response
from corral.client.watches import CHILD, DATA, EXIST, WatchRegistry
from corral.protocol import (
    CreateRequest,
    CreateResponse,
    DecodeError,
    DeleteRequest,
    Err,
    ErrorResponse,
    MultiHeader,
    OpCode,
    SetDataResponse,
    Stat,
)


def test_connect_string_hosts_and_chroot():
    cs = parse_connect_string("h1:2181,h2:2182,h3/app/x")
    assert cs.hosts == (("h1", 2181), ("h2", 2182), ("h3", 2181))
    assert cs.chroot == "/app/x"
    assert cs.to_server("/") == "/app/x"
    assert cs.to_server("/a") == "/app/x/a"
    assert cs.to_client("/app/x") == "/"
    assert cs.to_client("/app/x/a/b") == "/a/b"
    assert cs.to_client("/app/xy") == "/app/xy"  # not under the chroot: unchanged
    assert parse_connect_string("[::1]:2191").hosts == (("::1", 2191),)
    assert parse_connect_string("127.0.0.1:1/").chroot == ""


@pytest.mark.parametrize("bad", ["", "h:notaport", "h:0", "h:70000", "::1:2181", "h1,,h2", "h/a//b", "h/a/"])
def test_connect_string_rejects(bad):
    with pytest.raises(BadArgumentsError):
        parse_connect_string(bad)


def test_errors_are_typed_and_java_worded():
    e = error_for(Err.NONODE, "/x")
    assert isinstance(e, NoNodeError) and isinstance(e, KeeperError)
    assert e.code == -101 and e.path == "/x"
    assert str(e) == "KeeperErrorCode = NoNode for /x"
    assert str(error_for(Err.NOTEMPTY, "/d")) == "KeeperErrorCode = Directory not empty for /d"
    assert isinstance(error_for(Err.NOTEMPTY), NotEmptyError)
    assert isinstance(error_for(Err.BADVERSION), BadVersionError)
    assert isinstance(error_for(Err.SESSIONEXPIRED), SessionExpiredError)
    assert isinstance(error_for(Err.CONNECTIONLOSS), ConnectionLossError)
    assert isinstance(error_for(0), RolledBackError)
    unknown = error_for(-999, "/p")
    assert type(unknown) is KeeperError and unknown.code == -999
    assert isinstance(BadArgumentsError("x"), ValueError)
    # Every code the protocol knows maps to its own class.
    classes = {type(error_for(c)) for c in Err}
    assert len(classes) == len(Err)


def test_watch_registry_materialize_rules():
    reg = WatchRegistry()
    calls: list[str] = []

    def a(ev):
        calls.append("a")

    def b(ev):
        calls.append("b")

    reg.add(DATA, "/n", a)
    reg.add(DATA, "/n", a)  # registered twice: fires once
    reg.add(CHILD, "/n", b)
    reg.add(EXIST, "/m", b)
    assert len(reg) == 3
    assert reg.materialize(EventType.NodeChildrenChanged, "/n") == [b]
    assert reg.materialize(EventType.NodeChildrenChanged, "/n") == []  # one-shot
    assert reg.materialize(EventType.NodeCreated, "/m") == [b]
    reg.add(CHILD, "/n", b)
    assert reg.materialize(EventType.NodeDeleted, "/n") == [a, b]
    assert len(reg) == 0
    reg.add(DATA, "/x", a)
    reg.add(CHILD, "/y", a)
    reg.remove(a)
    assert len(reg) == 0
    reg.add(DATA, "/x", a)
    reg.add(EXIST, "/z", b)
    assert reg.paths() == (["/x"], ["/z"], [], [], [])
    assert reg.drain() == [a, b] and len(reg) == 0


def test_multi_request_and_response_codec():
    ops = [_Op(OpCode.create, CreateRequest("/a", b"x", [], 0), "/a"), _Op(OpCode.delete, DeleteRequest("/b", 3), "/b")]
    out = bytearray()
    _MultiRequest(ops).serialize(out)
    mh, off = MultiHeader.deserialize(out, 0)
    assert (mh.type, mh.done, mh.err) == (OpCode.create, False, -1)
    req, off = CreateRequest.deserialize(out, off)
    assert req.path == "/a"
    mh, off = MultiHeader.deserialize(out, off)
    assert mh.type == OpCode.delete
    _, off = DeleteRequest.deserialize(out, off)
    mh, off = MultiHeader.deserialize(out, off)
    assert mh.done and off == len(out)

    stat = Stat(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11)
    resp = bytearray()
    MultiHeader(OpCode.create, False, 0).serialize(resp)
    CreateResponse("/a").serialize(resp)
    MultiHeader(OpCode.setData, False, 0).serialize(resp)
    SetDataResponse(stat).serialize(resp)
    MultiHeader(OpCode.delete, False, 0).serialize(resp)
    MultiHeader(-1, True, -1).serialize(resp)
    results, end = decode_multi_response(bytes(resp), 0)
    assert results == [(0, "/a"), (0, stat), (0, True)] and end == len(resp)

    failed = bytearray()
    for code in (0, Err.NONODE, Err.RUNTIMEINCONSISTENCY):
        MultiHeader(-1, False, code).serialize(failed)
        ErrorResponse(code).serialize(failed)
    MultiHeader(-1, True, -1).serialize(failed)
    results, _ = decode_multi_response(bytes(failed), 0)
    assert [r[0] for r in results] == [0, Err.NONODE, Err.RUNTIMEINCONSISTENCY]

    # A create result must name the node: jute can carry a null string, no server sends one.
    nullpath = bytearray()
    MultiHeader(OpCode.create, False, 0).serialize(nullpath)
    CreateResponse(None).serialize(nullpath)
    MultiHeader(-1, True, -1).serialize(nullpath)
    with pytest.raises(DecodeError):
        decode_multi_response(bytes(nullpath), 0)


def test_null_strings_in_replies_are_marshalling_errors():
    """Reply fields the client hands out as `str` fail the call when the server sent jute's null."""
    assert _reply_path("/a", "/a") == "/a"
    with pytest.raises(errors.MarshallingError):
        _reply_path(None, "/a")
    assert _reply_names(None, "/a") == []  # a null vector reads as empty, as it always did
    assert _reply_names(["b", "c"], "/a") == ["b", "c"]
    with pytest.raises(errors.MarshallingError):
        _reply_names(["b", None], "/a")


def test_public_names_are_listed():
    """`__all__` is written out (type checkers read it literally); every error class must stay in it."""
    assert set(errors.__all__) <= set(corral.client.__all__)
    assert all(hasattr(corral.client, n) for n in corral.client.__all__)


def test_digest_id_matches_zookeeper():
    # The example from ZooKeeper's documentation (verified against DigestAuthenticationProvider).
    assert digest_id("user1", "12345") == "user1:+owfoSBn/am19roBPzR1/MfCblE="


def test_watched_event_prints_like_java():
    ev = WatchedEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/a")
    assert str(ev) == "WatchedEvent state:SyncConnected type:NodeDataChanged path:/a"
    assert str(WatchedEvent(EventType.None_, KeeperState.Expired, None)) == \
        "WatchedEvent state:Expired type:None path:null"


def test_client_derives_timeouts_from_the_session_timeout():
    zk = Client("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4", timeout=6.0, randomize_hosts=False)
    assert zk.state is SessionState.CLOSED
    assert zk.hosts == (("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3), ("127.0.0.1", 4))
    assert zk.read_timeout == pytest.approx(4.0)  # 2/3 of the (requested, before negotiation) timeout
    assert zk.connect_timeout == pytest.approx(1.5)  # timeout / number of hosts
    zk._negotiated_ms = 3000  # what a server granted
    assert zk.read_timeout == pytest.approx(2.0)
    assert zk.connect_timeout == pytest.approx(0.75)
    # One host: one attempt may not take the whole session timeout (the client would expire the session
    # after a single unanswered handshake): it is capped at the read timeout, leaving time for a retry.
    one = Client("127.0.0.1:1", timeout=6.0)
    assert one.connect_timeout == pytest.approx(4.0) and one.read_timeout == pytest.approx(4.0)


async def test_calls_before_start_raise_client_closed():
    zk = Client("127.0.0.1:1")
    with pytest.raises(ClientClosedError):
        await zk.exists("/")


async def test_invalid_paths_and_modes_fail_before_sending():
    zk = Client("127.0.0.1:1")
    for bad in ("", "a", "/a/", "/a//b", "/a/./b", "/a\x00"):
        with pytest.raises(BadArgumentsError):
            await zk.get_data(bad)
    with pytest.raises(BadArgumentsError):
        await zk.create("/t", mode=CreateMode.PERSISTENT_WITH_TTL)  # TTL mode without ttl
    with pytest.raises(BadArgumentsError):
        await zk.create("/t", ttl=1000)  # ttl for a non-TTL mode
    with pytest.raises(TypeError):
        await zk.create("/t", "text")  # data must be bytes


@pytest.mark.slow  # a real connection attempt to a closed loopback port, and a 0.5 s timeout
async def test_start_times_out_with_connection_loss():
    from tests.support.net import free_port

    zk = Client(f"127.0.0.1:{free_port()}", timeout=2)
    states: list[SessionState] = []
    zk.add_listener(states.append)
    with pytest.raises(ConnectionLossError):
        await zk.start(timeout=0.5)
    assert states == [SessionState.CONNECTING, SessionState.CLOSED]
