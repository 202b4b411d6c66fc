"""An observer serves reads and follows writes; srvr/stat/mntr show who is who in the ensemble."""

from __future__ import annotations

import re
import threading

from kazoo.client import KazooState

from tests.support.wait import wait_until

from .clients import MemberView, session_lost, start_kazoo
from .cluster import NOT_SERVING, WAIT


def _int(mntr: dict[str, str], key: str) -> int:
    assert key in mntr, f"mntr has no {key}: {sorted(mntr)}"
    return int(mntr[key])


def test_srvr_stat_mntr_report_the_ensemble(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3, observers=1)
    leader = ens.wait_stable()
    observer = ens[4]
    modes = ens.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader", "observer"], modes
    assert modes[4] == "observer"

    # Some traffic, so the zxids move, then a burst to watch pending proposals.
    client = start_kazoo(ens.hosts)
    kazoo_clients.append(client)
    client.ensure_path("/vis")
    stat = client.set("/vis", b"x")
    pending_seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                pending_seen.append(_int(leader.mntr(), "zk_pending_proposals"))
            except OSError:
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        results = [client.create_async(f"/vis/n{i}", b"v") for i in range(600)]
        for r in results:
            r.get(timeout=WAIT)
    finally:
        stop.set()
        sampler.join(WAIT)
    print(f"\nleader zk_pending_proposals during a 600-create burst: max {max(pending_seen, default=0)} "
          f"over {len(pending_seen)} samples")
    last = ens.wait_converged()
    assert last > stat.mzxid

    configs: dict[int, str] = {}
    for m in ens.members:
        # conf: the quorum fields and the membership as ZooKeeper prints them (QuorumMaj.toString).
        conf = m.four_letter("conf")
        servers = [line for line in m.cfg_path.read_text().splitlines() if line.startswith("server.")]
        membership = [re.sub(r"^(server\.\d+=[^:]+:\d+:\d+)(:observer)?;", lambda g: g[1] + (
            ":observer;" if g[2] else ":participant;"), line) for line in servers]
        assert conf.endswith("".join(
            [f"serverId={m.sid}\n", f"initLimit={ens.init_limit}\n", f"syncLimit={ens.sync_limit}\n",
             "electionAlg=3\n", f"electionPort={m.election_port}\n", f"quorumPort={m.peer_port}\n",
             f"peerType={1 if m.observer else 0}\n", "membership: \n"]
            + [line + "\n" for line in membership] + ["version=0\n"])), conf
        configs[m.sid] = "\n".join([*membership, "version=0"])
        srvr = m.srvr()
        mntr = m.mntr()
        expected = modes[m.sid]
        assert srvr["Mode"] == expected
        assert mntr["zk_server_state"] == expected
        # QuorumPeer.getDetailedPeerState, as Apache's mntr: "following - broadcast"
        assert mntr["zk_peer_state"] == {"leader": "leading", "follower": "following",
                                         "observer": "observing"}[expected] + " - broadcast"
        assert int(srvr["Zxid"], 16) == last == _int(mntr, "zk_last_processed_zxid"), (m.sid, srvr, mntr)
        assert _int(mntr, "zk_quorum_size") == 3
        assert _int(mntr, "zk_election_count") >= 1
        assert _int(mntr, "zk_last_election_ms") >= 0
        assert _int(mntr, "zk_znode_count") == _int(ens[1].mntr(), "zk_znode_count")
        stat_text = m.four_letter("stat")
        assert "Clients:" in stat_text and f"Mode: {expected}" in stat_text
        assert f"Zxid: 0x{last:x}" in stat_text
        if expected == "leader":
            assert _int(mntr, "zk_learners") == 3
            assert _int(mntr, "zk_synced_followers") == 2
            assert _int(mntr, "zk_synced_observers") == 1
        else:
            assert "zk_synced_followers" not in mntr  # leader-only keys, as in ZooKeeper
    # Nothing stays pending once the burst is committed.
    wait_until(lambda: _int(leader.mntr(), "zk_pending_proposals") == 0, WAIT, "pending proposals drained")

    # A follower goes: the leader counts one synced follower fewer; it comes back: two again.
    follower = next(m for m in ens.members if modes[m.sid] == "follower")
    follower.kill()
    wait_until(lambda: _int(leader.mntr(), "zk_synced_followers") == 1, WAIT, "leader notices the lost follower")
    assert _int(leader.mntr(), "zk_learners") == 2
    follower.start()
    ens.wait_stable()
    assert leader.mode() == "leader"

    # /zookeeper/config holds the same membership on every member (getConfig; zkCli's `config`), with
    # ZooKeeper's initConfigInZKDatabase Stat: dataVersion -1, mzxid = the config version (0).
    for m in ens.members:
        member_client = start_kazoo(f"127.0.0.1:{m.client_port}")
        kazoo_clients.append(member_client)
        data, zstat = member_client.get("/zookeeper/config")
        assert data.decode() == configs[m.sid], data
        assert (zstat.version, zstat.mzxid) == (-1, 0), zstat

    # Quorum lost: the survivors say they are not serving (srvr and mntr, like ZooKeeper).
    for m in ens.voters:
        if m is not leader:
            m.kill()
    wait_until(lambda: NOT_SERVING in leader.four_letter("srvr"), WAIT, "leader stops serving without a quorum")
    assert NOT_SERVING in leader.four_letter("mntr")
    wait_until(lambda: NOT_SERVING in observer.four_letter("srvr"), WAIT, "observer stops serving without a quorum")
    assert leader.four_letter("ruok") == "imok"


def test_observer_serves_reads_and_follows_writes(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3, observers=1)
    leader = ens.wait_stable()
    observer = ens[4]
    assert observer.mode() == "observer"
    on_observer = start_kazoo(observer.hostport, randomize_hosts=False)
    kazoo_clients.append(on_observer)
    on_leader = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(on_leader)

    # Writes through the observer are forwarded to the leader and reach every voter.
    on_observer.create("/obs", b"from-observer")
    on_observer.create("/obs/eph", b"", ephemeral=True)
    for m in ens.voters:
        with MemberView(m) as v:
            assert v.synced().client.get("/obs")[0] == b"from-observer"
            assert v.ephemeral_owner("/obs/eph") == on_observer.client_id[0]

    # Writes through the leader reach the observer: a watch set there fires, reads then see them.
    fired = threading.Event()
    on_observer.get("/obs", watch=lambda ev: fired.set())
    on_leader.set("/obs", b"from-leader")
    assert fired.wait(WAIT), "the observer's data watch did not fire"
    assert on_observer.get("/obs")[0] == b"from-leader"
    on_leader.create("/obs/child", b"c")
    on_observer.sync("/obs")
    assert sorted(on_observer.get_children("/obs")) == ["child", "eph"]
    assert _int(leader.mntr(), "zk_synced_observers") == 1

    # The observer does not vote: with two voters gone it stops serving and closes its clients
    # (SUSPENDED); when they are back it serves again and the same session goes on (never LOST).
    dead = [m for m in ens.voters if m is not leader]
    for m in dead:
        m.kill()
    wait_until(lambda: observer.mode() == "not serving", WAIT, "observer stops serving without a quorum")
    wait_until(lambda: any(s == KazooState.SUSPENDED for _, s in on_observer.states), WAIT,
               "observer's client suspended")
    for m in dead:
        m.start()
    ens.wait_stable()
    wait_until(lambda: on_observer.state == KazooState.CONNECTED, WAIT, "observer's client reconnected")
    assert on_observer.get("/obs")[0] == b"from-leader"
    on_observer.set("/obs", b"after")
    assert not session_lost(on_observer)
    with MemberView(observer) as v:
        assert v.ephemeral_owner("/obs/eph") == on_observer.client_id[0]
