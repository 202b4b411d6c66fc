"""reconfig's refusals compared with Apache ZooKeeper 3.8: one Apache ensemble and one corral ensemble,
both with reconfigEnabled=true and the default ACL on /zookeeper/config (world:anyone READ), get the same
requests from an unauthenticated kazoo session and must give the same answers. Apache checks, in this
order (PrepRequestProcessor, case reconfig): enabled, a reconfig in progress, the version, the member
specs, at least 2 voters, a synced quorum of the new voters, and only then WRITE permission; so the
no-permission session sees every earlier error first, and NoAuth for a request that passes them."""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import KazooException

from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApacheEnsemble
from tests.support.net import HOST, free_ports
from tests.support.server import make_server

from .clients import start_kazoo

pytestmark = pytest.mark.slow


def _answers(hosts: str, follower: int, kazoo_clients: list) -> dict[str, str]:
    """What each request gets: the kazoo exception's class name (or "ok")."""
    zk = start_kazoo(hosts)
    kazoo_clients.append(zk)
    data, _ = zk.get("/zookeeper/config")
    version = int(data.decode().rsplit("version=", 1)[1], 16)
    p = free_ports(9)
    absent = ",".join(f"server.{7 + i}={HOST}:{p[3 * i]}:{p[3 * i + 1]};{HOST}:{p[3 * i + 2]}" for i in range(3))
    requests = {
        "stale version": dict(leaving=str(follower), from_config=version + 1),
        "garbage spec": dict(joining="server.5=garbage"),
        "no server.N=": dict(joining="foo"),
        "quorum port = election port": dict(joining=f"server.6={HOST}:1:1;{HOST}:2"),
        "hierarchical bulk": dict(new_members="group.1=1:2:3"),
        "unknown bulk key": dict(new_members="tickTime=10"),
        "non-numeric leaving id": dict(leaving="abc"),
        "one voter left": dict(leaving="2,3" if follower != 1 else "1,2"),
        "new voters not running": dict(joining=absent),
        "valid, no permission": dict(leaving=str(follower)),
        "valid from this version, no permission": dict(leaving=str(follower), from_config=version),
    }
    out = {}
    for what, kw in requests.items():
        try:
            zk.reconfig(joining=kw.get("joining"), leaving=kw.get("leaving"), new_members=kw.get("new_members"),
                        from_config=kw.get("from_config", -1))
            out[what] = "ok"
        except KazooException as e:
            out[what] = type(e).__name__
    assert zk.get("/zookeeper/config")[0] == data  # nothing changed
    return out


EXPECTED = {
    "stale version": "BadVersionError",
    "garbage spec": "BadArgumentsError",
    "no server.N=": "BadArgumentsError",
    "quorum port = election port": "BadArgumentsError",
    "unknown bulk key": "BadArgumentsError",
    "non-numeric leaving id": "MarshallingError",
    "one voter left": "BadArgumentsError",
    "new voters not running": "NewConfigNoQuorumError",
    "valid, no permission": "NoAuthError",
    "valid from this version, no permission": "NoAuthError",
}


def test_reconfig_errors_match_apache(make_ensemble, kazoo_clients, tmp_path):
    require_apache()
    apache = ApacheEnsemble(tmp_path / "apache", extra_cfg={"reconfigEnabled": "true"})
    with apache:
        leader = apache.leader()
        follower = next(m.sid for m in apache.members if m is not leader)
        apache_answers = _answers(leader.hosts, follower, kazoo_clients)
    ens = make_ensemble(extra_cfg={"reconfigEnabled": "true"})
    leader_sid = next(sid for sid, mode in ens.modes().items() if mode == "leader")
    follower = next(m.sid for m in ens.members if m.sid != leader_sid)
    corral_answers = _answers(ens.hosts, follower, kazoo_clients)
    # Apache reads group/weight as a hierarchical quorum (which may then be refused for other reasons);
    # corral refuses hierarchical quorums outright: compare that one only by its corral answer.
    assert corral_answers.pop("hierarchical bulk") == "BadArgumentsError"
    apache_answers.pop("hierarchical bulk")
    assert apache_answers == EXPECTED
    assert corral_answers == apache_answers


@pytest.mark.parametrize("enabled,expected", [("false", "ReconfigDisabledError"), ("true", "UnimplementedError")])
def test_standalone_answers_match_apache(enabled, expected, kazoo_clients):
    """A standalone server: ReconfigDisabled unless reconfigEnabled=true, then Unimplemented (Apache's
    preparer finds no LeaderZooKeeperServer)."""
    require_apache()
    answers = {}
    for kind in ("apache", "corral"):
        srv = make_server(kind, extra_cfg={"reconfigEnabled": enabled})
        try:
            zk = start_kazoo(srv.hosts)
            kazoo_clients.append(zk)
            with pytest.raises(KazooException) as e:
                zk.reconfig(joining=None, leaving="2", new_members=None)
            answers[kind] = type(e.value).__name__
        finally:
            srv.close()
    assert answers == {"apache": expected, "corral": expected}


def _in_progress(leader_hosts: str, followers: list, kazoo_clients: list) -> tuple[str, str]:
    """A reconfig proposed while both followers are paused (SIGSTOP) cannot commit; a second one from
    another session, prepared meanwhile, is refused with ReconfigInProgress (Apache: the leader's last
    seen config is newer than its committed one). Both answers wait for the followers (a refusal is an
    error txn, committed like any other), which resume well within syncLimit."""
    first_zk, second_zk = start_kazoo(leader_hosts), start_kazoo(leader_hosts)
    kazoo_clients += [first_zk, second_zk]
    removed, other = followers
    for m in followers:
        m.pause()
    try:
        first = first_zk.reconfig_async(joining=None, leaving=str(removed.sid), new_members=None, from_config=-1)
        time.sleep(0.3)  # the first is prepared (and proposed) before the second arrives
        second = second_zk.reconfig_async(joining=None, leaving=str(other.sid), new_members=None, from_config=-1)
        time.sleep(0.3)
    finally:
        for m in followers:
            m.resume()
    answers = []
    for result in (first, second):
        try:
            result.get(timeout=20)
            answers.append("ok")
        except KazooException as e:
            answers.append(type(e).__name__)
    return answers[0], answers[1]


def test_a_second_reconfig_while_one_is_in_progress_matches_apache(make_ensemble, kazoo_clients, tmp_path):
    require_apache()
    apache = ApacheEnsemble(tmp_path / "apache", extra_cfg={"reconfigEnabled": "true"},
                            jvm_props={"zookeeper.skipACL": "yes"})
    with apache:
        leader = apache.leader()
        apache_answers = _in_progress(leader.hosts, [m for m in apache.members if m is not leader], kazoo_clients)
    ens = make_ensemble(extra_cfg={"reconfigEnabled": "true", "skipACL": "yes"})
    leader_sid = next(sid for sid, mode in ens.modes().items() if mode == "leader")
    lead = next(m for m in ens.members if m.sid == leader_sid)
    corral_answers = _in_progress(lead.hosts, [m for m in ens.members if m is not lead], kazoo_clients)
    assert apache_answers == ("ok", "ReconfigInProcessError")  # kazoo's name for ReconfigInProgress (-14)
    assert corral_answers == apache_answers
