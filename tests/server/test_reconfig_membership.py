"""The membership arithmetic of reconfig (corral.server.reconfig) on its own: member specs parsed as
QuorumPeer.QuorumServer parses them and written back as QuorumMaj.toString, the incremental and bulk
forms, and which failures are BadArguments and which are Apache's uncaught NumberFormatException
(MarshallingError). The live comparison with Apache is tests/ensemble/test_reconfig_errors.py."""

from __future__ import annotations

import pytest

from corral.protocol import Errs, ReconfigRequest
from corral.server.config import parse
from corral.server.reconfig import Membership, QuorumServer, ServerReconfig, host_and_port, parse_server
from corral.txn.prepare import KeeperError

CFG = ("dataDir=/d\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\n"
       "server.1=127.0.0.1:2888:3888;127.0.0.1:2181\nserver.2=127.0.0.1:2889:3889;2182\n"
       "server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n")


def policy(synced: frozenset[int] = frozenset({1, 2})) -> ServerReconfig:
    cfg = parse(CFG, "zoo.cfg")
    return ServerReconfig(cfg, lambda: synced, Membership.of_config(cfg))


def req(joining: str | None = None, leaving: str | None = None, members: str | None = None,
        version: int = -1) -> ReconfigRequest:
    return ReconfigRequest(joiningServers=joining, leavingServers=leaving, newMembers=members, curConfigId=version)


@pytest.mark.parametrize("spec,text", [
    ("127.0.0.1:1:2;127.0.0.1:3", "127.0.0.1:1:2:participant;127.0.0.1:3"),
    ("h:1:2:observer;3", "h:1:2:observer;0.0.0.0:3"),
    ("[::1]:1:2:participant;[::1]:3", "[::1]:1:2:participant;[::1]:3"),
    ("h:1:2", "h:1:2:participant"),
])
def test_specs_round_trip_as_apache_writes_them(spec: str, text: str) -> None:
    assert parse_server(4, spec).text() == text


@pytest.mark.parametrize("text,parts", [
    ("h:1:2", ["h", "1", "2"]),
    ("h:1:2:", ["h", "1", "2"]),  # Java's String.split drops trailing empty parts
    ("h:1::", ["h", "1"]),
    ("[::1]:1:2:observer", ["::1", "1", "2", "observer"]),
    ("[::1]:1:2:", ["::1", "1", "2"]),
    ("[::1]", ["::1"]),
])
def test_host_and_port_splits_as_configutils(text: str, parts: list[str]) -> None:
    assert host_and_port(text) == parts


@pytest.mark.parametrize("text,message", [
    ("[::1:1:2", "[::1:1:2 starts with '[' but has no matching ']:'"),
    ("[::1]:", "[::1]: doesn't have a port after colon"),
    ("[::1]x", "[::1]x doesn't have a port after colon"),
])
def test_host_and_port_refuses_as_configutils(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        host_and_port(text)
    assert str(e.value) == message


def test_membership_text_is_quorummaj_tostring() -> None:
    assert policy().membership.text() == (
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
        "server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n"
        "server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\nversion=0")


def test_incremental_and_bulk_forms_make_the_new_membership_at_the_reconfig_zxid() -> None:
    p = policy()
    out = p.prepare(req(joining="server.4=127.0.0.1:2891:3891;127.0.0.1:2184", leaving="3"), 0x100000005).decode()
    assert out.splitlines()[2:] == ["server.4=127.0.0.1:2891:3891:participant;127.0.0.1:2184", "version=100000005"]
    out = p.prepare(req(members="server.1=127.0.0.1:2888:3888;127.0.0.1:2181,"
                                "server.2=127.0.0.1:2889:3889;2182\nserver.3=127.0.0.1:2890:3890:observer;2183"),
                    7).decode()
    assert out == ("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                   "server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n"
                   "server.3=127.0.0.1:2890:3890:observer;0.0.0.0:2183\nversion=7")


@pytest.mark.parametrize("request_,code", [
    (req(leaving="3", version=5), Errs.BADVERSION),
    (req(joining="server.5=garbage"), Errs.BADARGUMENTS),
    (req(joining="foo"), Errs.BADARGUMENTS),
    (req(joining="server.5=h:1:1;2"), Errs.BADARGUMENTS),
    (req(joining="server.5=h:1:2"), Errs.BADARGUMENTS),  # no client port: "at least 3 ports"
    (req(joining="server.5=h:1:2:witness;3"), Errs.BADARGUMENTS),
    (req(joining="server.5=127.0.0.1:2888:9999;3"), Errs.BADARGUMENTS),  # server.1's quorum port
    (req(joining="server.x=h:1:2;3"), Errs.MARSHALLINGERROR),
    (req(leaving="abc"), Errs.MARSHALLINGERROR),
    (req(leaving="2"), Errs.BADARGUMENTS),  # one voter left
    (req(members="tickTime=5"), Errs.BADARGUMENTS),
    (req(members="server.1=h:1:2;3,server.2=h:4:5:observer;6"), Errs.MARSHALLINGERROR),  # observers w/o quorum
    (req(joining="server.4=h:1:2;3,server.5=h:4:5;6"), Errs.NEWCONFIGNOQUORUM),  # 2 of 4 voters synced
])
def test_refusals(request_: ReconfigRequest, code: int) -> None:
    with pytest.raises(KeeperError) as e:
        policy().prepare(request_, 9)
    assert e.value.code == code


def test_a_joiner_replaces_a_member_of_the_same_id() -> None:
    out = policy().prepare(req(joining="server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183"), 9)
    assert b"server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183" in out
    assert QuorumServer(3, "h", 1, 2).text() == "h:1:2:participant"
