"""`corral migrate check`: the verdict from what members say (pure), and the command against real servers:
a bad address, an unreachable member, an Apache member whose whitelist refuses `hash`, two servers that
each lead, and a server whose digest history the check starts and then compares.

The passing case on mixed ensembles, under load, is tests/ensemble/test_rolling_migration.py.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from kazoo.client import KazooClient

from corral.cli.main import main
from corral.cli.migrate import MemberState, judge, parse_address, parse_hash
from tests.support.net import free_port
from tests.support.server import ApacheZooKeeper, CorralProcess
from tests.support.wait import wait_until


def _member(address: str, mode: str, zxid: int, digests: dict[int, int], synced: int | None = None) -> MemberState:
    host, port = parse_address(address)
    return MemberState(address, host, port, mode=mode, zxid=zxid, version="3.8.0", digests=digests,
                       synced_followers=synced)


def test_addresses() -> None:
    assert parse_address("127.0.0.1:2181") == ("127.0.0.1", 2181)
    assert parse_address("[::1]:2181") == ("::1", 2181)
    for bad in ("zk1", "zk1:", ":2181", "zk1:0", "zk1:65536", "zk1:http", "::1:2181"):
        with pytest.raises(ValueError):
            parse_address(bad)


def test_hash_lines() -> None:
    assert parse_hash("100000080: 1234\n100000100: -5\n") == {0x100000080: 1234, 0x100000100: -5}
    assert parse_hash("") == {}


def test_verdicts() -> None:
    good = [_member("a:1", "leader", 0x100000105, {0x100000080: 7, 0x100000100: 9}, synced=2),
            _member("b:1", "follower", 0x100000101, {0x100000100: 9}),
            _member("c:1", "follower", 0x100000100, {0x100000080: 7, 0x100000100: 9})]
    v = judge(good, 0x100000100, final=True)
    assert v.ok and v.digest_zxid == 0x100000100, v
    assert "digest 9 at zxid 0x100000100" in v.summary

    behind = [*good[:2], _member("c:1", "follower", 0x1000000ff, {0x100000080: 7})]
    assert not judge(behind, 0x100000100, final=False).reasons  # keep waiting
    v = judge(behind, 0x100000100, final=True)
    assert not v.ok and any("not yet at the leader's zxid 0x100000100" in r for r in v.reasons), v

    diverged = [*good[:2], _member("c:1", "follower", 0x100000100, {0x100000100: 10})]
    v = judge(diverged, 0x100000100, final=False)  # definitive: no waiting
    assert not v.ok and v.reasons == ["tree digests differ at zxid 0x100000100: a:1=9, b:1=9, c:1=10"], v

    two = [_member("a:1", "leader", 5, {}), _member("b:1", "leader", 5, {})]
    assert any("2 leaders" in r for r in judge(two, None, final=True).reasons)

    missing = [_member("a:1", "leader", 0x100000100, {0x100000100: 9}, synced=2),
               _member("b:1", "follower", 0x100000100, {0x100000100: 9})]
    v = judge(missing, 0x100000100, final=False)
    assert not v.ok and "name every member" in v.reasons[0], v


def _check(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["migrate", "check", *args])
    return res.exit_code, res.output


def test_bad_and_unreachable_addresses() -> None:
    code, out = _check("not-an-address")
    assert code == 2 and "expected HOST:PORT" in out, out
    code, out = _check("127.0.0.1:2181", "127.0.0.1:2181")
    assert code == 2 and "given twice" in out, out
    port = free_port()
    code, out = _check("--wait", "0.3", f"127.0.0.1:{port}")
    assert code == 1, out
    assert f"127.0.0.1:{port} no answer to srvr" in out and "0 leaders" in out, out


@pytest.mark.slow
def test_against_servers() -> None:
    with ApacheZooKeeper(extra_cfg={"4lw.commands.whitelist": "srvr,ruok"}) as apache, \
            CorralProcess(tick_time=500) as corral:
        code, out = _check("--wait", "1", apache.hosts)
        assert code == 1 and "refuses the four-letter word hash" in out and "4lw.commands.whitelist" in out, out

        code, out = _check("--wait", "0.5", apache.hosts, corral.hosts)
        assert code == 1 and "2 leaders" in out, out

        code, out = _check("--wait", "0.5", corral.hosts)  # starts corral's digest log: nothing to compare yet
        assert code == 1 and "no zxid with a tree digest on every member yet" in out, out
        zk = KazooClient(hosts=corral.hosts)
        zk.start(timeout=30)
        try:
            for r in [zk.create_async("/m-", b"x", sequence=True) for _ in range(130)]:
                r.get(timeout=30)
        finally:
            zk.stop()
            zk.close()
        wait_until(lambda: corral.zxid() >= 130, 30, "the writes applied")
        code, out = _check("--wait", "5", corral.hosts)
        assert code == 0, out
        assert out.splitlines()[0].split()[1:3] == ["standalone", "corral"], out
        assert "OK: one leader" in out and "1 member in the ensemble, all at or past" in out
        assert "at zxid 0x100000080 on every member" in out, out


def test_a_new_epochs_leader_before_its_first_txn() -> None:
    """Right after an election on an idle ensemble an Apache leader reports zxid epoch << 32, naming no
    txn: the members must agree on the newest txn any of them applied, not reach that zxid."""
    digests = {0x100000280: 5}
    members = [_member("a:1", "leader", 0x200000000, digests, synced=2),
               _member("b:1", "follower", 0x10000028d, digests),
               _member("c:1", "follower", 0x10000028d, digests)]
    v = judge(members, 0x200000000, final=True)
    assert v.ok, v
    lagging = [*members[:2], _member("c:1", "follower", 0x10000028c, digests)]
    v = judge(lagging, 0x200000000, final=True)
    assert not v.ok and "c:1 (0x10000028c)" in v.reasons[0], v
