"""The console's pure parts, without sockets: configuration and member lists, four-letter-word
parsers, the lag computation, login schemes, input checks, ACL display, origin checks, event
fan-out, and the runner's argument errors."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import make_mocked_request

from corral.client import ACL, Id
from corral.console import ConsoleConfig, MemberAddress, parse_member
from corral.console.__main__ import main as runner_main
from corral.console.auth import SCHEMES, BadCredential
from corral.console.ensemble import add_lag
from corral.console.hub import EventHub
from corral.console.nodes import BadInput, acl_json, check_path, decode_data
from corral.console.security import Refused, _same_origin, check_write_request
from corral.console.sessions import logval
from corral.probe import Zxid, parse_cons, parse_mntr, parse_srvr, parse_wchc


def test_members_from_flags_and_connect_string() -> None:
    assert parse_member("2=10.0.0.2:2181") == MemberAddress(2, "10.0.0.2", 2181)
    assert parse_member("3=[::1]:2182") == MemberAddress(3, "::1", 2182)
    cfg = ConsoleConfig("127.0.0.1:2181,127.0.0.1:2182/chroot")
    assert [(m.sid, m.port) for m in cfg.probe_members] == [(1, 2181), (2, 2182)]


@pytest.mark.parametrize("text", ["", "2", "x=h:1", "2=h", "2=h:port", "2=h:70000", "300=h:1", "2=:1"])
def test_bad_member_flags(text: str) -> None:
    with pytest.raises(ValueError):
        parse_member(text)


@pytest.mark.parametrize("kwargs", [
    {"connect": ""}, {"connect": "h:notaport"}, {"connect": "h:1", "poll_interval": 0},
    {"connect": "h:1", "max_logins": 0},
    {"connect": "h:1", "members": (MemberAddress(1, "a", 1), MemberAddress(1, "b", 2))},
])
def test_bad_console_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConsoleConfig(**kwargs)  # type: ignore[arg-type]


def test_runner_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--port", "http"], ["--port", "99999"], ["--member", "one=h:1"], ["--log-level", "LOUD"]):
        with pytest.raises(SystemExit) as e:
            runner_main(argv)
        assert e.value.code == 2
    assert runner_main(["--connect", "h:x"]) == 2
    assert "error" in capsys.readouterr().err


SRVR = """Zookeeper version: 3.9.4-corral-0.1.0, built on 2026-01-01 00:00 UTC
Latency min/avg/max: 0/0.5/3
Received: 10
Sent: 11
Connections: 2
Outstanding: 0
Zxid: 0x300000007
Mode: follower
Node count: 9
"""


def test_four_letter_parsers() -> None:
    s = parse_srvr(SRVR)
    assert (s["Mode"], s["Zxid"], s["Latency min/avg/max"]) == ("follower", "0x300000007", "0/0.5/3")
    assert parse_mntr("zk_version\t3.9\nzk_server_state\tleader\n")["zk_server_state"] == "leader"
    cons = parse_cons(" /127.0.0.1:5000[1](queued=0,recved=3,sent=4,sid=0x1a2,lop=PING,est=1,to=30000)\n"
                      " /127.0.0.1:5001[0](queued=0,recved=0,sent=0)\n\ngarbage line\n")
    assert cons[0]["sid"] == "0x1a2" and cons[0]["addr"] == "127.0.0.1:5000" and cons[1]["active"] == "0"
    assert parse_wchc("0x1a2\n\t/a\n\t/b c\n0x1a3\n\t/\n\nnoise\n") == {"0x1a2": ["/a", "/b c"], "0x1a3": ["/"]}
    assert Zxid.parse("0x300000007") == Zxid(0x300000007) and Zxid.parse("junk") is None


def test_lag_within_an_epoch_only() -> None:
    rows = [{"id": 1, "mode": "leader", "zxid": "0x30000000a"}, {"id": 2, "mode": "follower", "zxid": "0x300000007"},
            {"id": 3, "mode": "follower", "zxid": "0x200000050"}, {"id": 4, "up": False}]
    assert add_lag(rows) is rows[0]
    assert [r["lag"] for r in rows] == [0, 3, None, None]
    assert rows[2]["lag_note"] == "epoch 2 (leader 3)"
    leaderless = [{"id": 1, "mode": "follower", "zxid": "0x1"}]
    assert add_lag(leaderless) is None and leaderless[0]["lag"] is None


def test_digest_login_never_keeps_the_password_in_what_it_shows() -> None:
    login = SCHEMES["digest"].build({"user": "alice", "password": "pw:with:colons"})
    assert (login.scheme, login.credential, login.display) == ("digest", b"alice:pw:with:colons", "digest:alice")
    assert "pw" not in repr(SCHEMES["digest"].describe())
    for form in ({"user": ""}, {"user": "a:b"}, {"user": "x" * 2000}, {"user": "a\0b"}, {"user": "a\nevent=x"},
                 {"user": 5}, {"user": "u", "password": "p\r\n"}):
        with pytest.raises(BadCredential):
            SCHEMES["digest"].build(form)  # type: ignore[arg-type]


def test_input_checks() -> None:
    assert check_path("/a/b") == "/a/b"
    assert check_path("/a/", sequential=True) == "/a/"
    for bad in ("", "a", "/a/", "/a//b", "/.", "/a/..", "/a\0", None, 7):
        with pytest.raises(BadInput):
            check_path(bad)
    assert decode_data("héllo", "text") == "héllo".encode()
    assert decode_data("AAE=", "base64") == b"\x00\x01"
    for value, enc in (("***", "base64"), ("x", "utf-16"), (None, "text"), ("x" * (1024 * 1024), "text")):
        with pytest.raises(BadInput):
            decode_data(value, enc)


def test_acl_display_hides_digest_hashes() -> None:
    acl = [ACL(31, Id("digest", "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI=")), ACL(1, Id("world", "anyone")),
           ACL(3, Id("ip", "10.0.0.0/8"))]
    assert acl_json(acl) == [{"scheme": "digest", "id": "alice:(hash hidden)", "perms": "cdrwa"},
                             {"scheme": "world", "id": "anyone", "perms": "r"},
                             {"scheme": "ip", "id": "10.0.0.0/8", "perms": "rw"}]


def _post(headers: dict[str, str]) -> object:
    return make_mocked_request("POST", "/api/create", headers={"Host": "console.test:8081", **headers})


@pytest.mark.parametrize(("headers", "ok"), [
    ({"Origin": "http://console.test:8081"}, True),
    ({"Origin": "https://console.test:8081"}, True),  # TLS terminated in front of the console
    ({"Origin": "http://evil.test"}, False),
    ({"Origin": "http://console.test:8081.evil.test"}, False),
    ({"Origin": "null"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-site"}, False),
    ({"Sec-Fetch-Site": "same-origin"}, True),
    ({}, True),  # not a browser: it still needs the session cookie and its token
])
def test_origin_rules(headers: dict[str, str], ok: bool) -> None:
    assert _same_origin(_post(headers)) is ok  # type: ignore[arg-type]


def test_csrf_token_rules() -> None:
    good = {"Origin": "http://console.test:8081", "X-CSRF-Token": "t0ken", "Content-Type": "application/json"}
    check_write_request(_post(good), "t0ken")  # type: ignore[arg-type]
    for changed, status in (({"X-CSRF-Token": "other"}, 403), ({"X-CSRF-Token": ""}, 403),
                            ({"Content-Type": "text/plain"}, 415), ({"Origin": "http://evil.test"}, 403)):
        with pytest.raises(Refused) as e:
            check_write_request(_post({**good, **changed}), "t0ken")  # type: ignore[arg-type]
        assert e.value.status == status
    with pytest.raises(Refused):
        check_write_request(_post(good), None)  # type: ignore[arg-type]  # no session at all


def test_a_slow_stream_gets_resync_instead_of_an_unbounded_backlog() -> None:
    async def run() -> list[str]:
        hub = EventHub()
        q: asyncio.Queue[tuple[str, object]] = asyncio.Queue(4)
        hub.subscribe(q)
        for i in range(10):
            hub.publish("node", {"i": i})
        names = []
        while not q.empty():
            names.append(q.get_nowait()[0])
        hub.unsubscribe(q)
        hub.publish("node", {})
        assert q.empty()
        return names

    names = asyncio.run(run())
    assert "resync" in names and len(names) <= 4


def test_log_values_cannot_forge_fields() -> None:
    assert logval("digest:alice") == "digest:alice"
    assert logval("/app/config") == "/app/config"
    assert logval("digest:a b event=forged") == "'digest:a b event=forged'"
    assert logval("/a\u2028b") == "'/a\\u2028b'"
    assert logval("") == "''"


def test_console_config_from_a_servers_zoo_cfg() -> None:
    from corral.console import console_config
    from corral.server.config import parse

    standalone = console_config(parse("dataDir=/tmp/x\nclientPort=2190\n"))
    assert standalone.connect == "127.0.0.1:2190" and standalone.members == (MemberAddress(0, "127.0.0.1", 2190),)
    ens = parse("dataDir=/tmp/x\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n"
                "server.1=10.0.0.1:2888:3888;10.0.1.1:2181\nserver.2=10.0.0.2:2888:3888\n"
                "server.3=10.0.0.3:2888:3888:observer;0.0.0.0:2182\n")
    ens.my_id = 2
    cfg = console_config(ens, writes=False)
    assert cfg.connect == "127.0.0.1:2181" and cfg.writes is False
    assert cfg.members == (MemberAddress(1, "10.0.1.1", 2181), MemberAddress(2, "127.0.0.1", 2181),
                           MemberAddress(3, "10.0.0.3", 2182))
