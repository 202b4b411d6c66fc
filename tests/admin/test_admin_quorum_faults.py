"""The quorum metrics through faults on a corral ensemble: a leader killed with kill -9, a follower
paused with SIGSTOP past syncLimit, both back. What moves is what moves on Apache's (ServerMetrics.java:
QuorumPeer.setZabState, Follower.followLeader, LearnerHandler's sync choice, Leader.processAck); the
names and types themselves are compared with Apache's in test_admin_vs_apache.py and
test_admin_ensemble_vs_apache.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.admin.support import command
from tests.ensemble.cluster import Ensemble, Member
from tests.support.net import HOST, free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[tuple[Ensemble, dict[int, int]]]:
    ens = Ensemble(tmp_path, tick_time=300)
    admin = {}
    for m in ens.members:
        admin[m.sid] = free_port()
        m.extra_cfg.update({"admin.enableServer": "true", "admin.serverAddress": HOST,
                            "admin.serverPort": str(admin[m.sid]), "leader.ackLoggingFrequency": "1"})
    try:
        ens.start()
        yield ens, admin
    finally:
        ens.close()


def _monitor(admin: dict[int, int], m: Member) -> dict[str, Any]:
    return command(admin[m.sid], "monitor")


def _write(ens: Ensemble, prefix: str, n: int) -> None:
    zk = KazooClient(ens.hosts, timeout=10)
    zk.start(30)
    try:
        for i in range(n):
            zk.create(f"{prefix}{i}", b"v")
    finally:
        zk.stop()
        zk.close()


def test_quorum_metrics_through_kill_9_and_sigstop(ensemble: tuple[Ensemble, dict[int, int]]) -> None:
    ens, admin = ensemble
    old = ens.wait_stable()
    _write(ens, "/before", 5)
    old.kill()
    new = ens.leader()
    survivor = next(m for m in ens.voters if m is not old and m is not new)
    ens.wait_stable(members=[new, survivor])
    lead = _monitor(admin, new)
    # the new leader was unavailable from LOOKING to broadcast, once as a follower and once as leader
    assert lead["looking_count"] >= 1 and lead["cnt_leader_unavailable_time"] >= 1
    assert lead["cnt_unavailable_time"] >= 2
    synced = lead["diff_count"] + lead["snap_count"]
    assert synced >= 1  # the survivor synced with it
    assert _monitor(admin, survivor)["cnt_follower_sync_time"] >= 2  # with each leader in turn

    old.start()  # kill -9'd, back: synced by the new leader, then a follower receiving proposals
    ens.wait_stable()
    _write(ens, "/after", 5)
    wait_until(lambda: _monitor(admin, old)["learner_commit_received_count"] >= 5, 30,
               "the restarted member to receive COMMITs")
    back = _monitor(admin, old)
    assert back["learner_proposal_received_count"] >= 5 and back["cnt_proposal_latency"] >= 5
    assert back["cnt_follower_sync_time"] >= 1 and back["cnt_quorum_ack_latency"] == 0
    lead = _monitor(admin, new)
    assert lead["diff_count"] + lead["snap_count"] > synced
    # acks by voter: those that came before their txn committed (a later one is not sampled, as Apache's
    # Leader.processAck returns first): at least a quorum's for each txn
    acked = {k for k in lead if k.startswith("cnt_") and k.endswith("_ack_latency") and k[4:-12].isdigit()}
    assert len(acked) >= 2 and acked <= {f"cnt_{m.sid}_ack_latency" for m in ens.voters}, acked

    # a follower paused past syncLimit loses its leader; resumed, it syncs again and counts it
    quorum_acks = lead["cnt_quorum_ack_latency"]
    survivor.pause()
    _write(ens, "/paused", 3)  # the other two are a quorum
    wait_until(lambda: _monitor(admin, new)["synced_followers"] == 1, 30, "the leader to drop the paused follower")
    survivor.resume()
    wait_until(lambda: _monitor(admin, survivor)["cnt_follower_sync_time"] >= 3 and
               _monitor(admin, survivor)["looking_count"] >= 2, 30, "the resumed follower to sync again")
    ens.wait_stable()
    assert _monitor(admin, new)["cnt_quorum_ack_latency"] >= quorum_acks + 3
