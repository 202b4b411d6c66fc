"""Leaders of either kind killed with kill -9 under kazoo write load in mixed ensembles, on Apache-written
zoo.cfg files. First ensemble: corral voters 1 and 2, Apache ZooKeeper 3.8 voter 3 and Apache observer 4.

1. The Apache leader (3) with corral followers is killed: the corral members elect one of themselves; the
   Apache observer now observes corral voters, and serves reads and writes; 3 restarts and follows the
   corral leader.
2. That corral leader is killed: the survivors (a corral and an Apache voter) elect a leader; the killed
   member restarts as a follower of whoever leads.

First, a session created on the Apache observer moves to a corral follower of the Apache leader and
writes there (the corral member revalidates it with the leader). Throughout, one session holds an
ephemeral and a writer records every acknowledged create. At the end every member holds every
acknowledged write, the session and its ephemeral are kept and the trees are identical.

Second ensemble (`test_leaders_killed_while_a_corral_observer_watches_apache_voters`): Apache voters 1
and 2, corral voter 3 and a corral observer 4. The Apache leader is killed (its Apache and corral
followers elect), then a corral leader of two Apache followers is killed (the Apache members elect); the
corral observer serves reads and writes under each new leader, of either kind.

(tests/ensemble/test_mixed_apache.py kills a corral leader of an Apache follower; the rolling migration
test passes through the arrangements without kills.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApacheEnsemble, EnsembleProcess
from tests.support.net import HOST
from tests.support.rawclient import RawClient
from tests.support.wait import wait_until

from .clients import Writer, session_lost, start_kazoo
from .cluster import WAIT
from .rolling import PACE, SESSION_TIMEOUT, assert_converged, kind, through_observer

pytestmark = pytest.mark.slow


def _kill_leader(ens: ApacheEnsemble, writer: Writer) -> tuple[EnsembleProcess, EnsembleProcess]:
    """kill -9 the leader under load; returns (killed, new leader) once the writer has written again."""
    leader = ens.settled()
    assert leader is not None, {m.sid: m.mode() for m in ens.members}
    before = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= before + 50, WAIT, "writes before the kill")
    leader.kill()
    killed_at = len(writer.acked)
    new = wait_until(ens.settled, WAIT, f"a new leader after killing member {leader.sid}")
    wait_until(lambda: writer.error or len(writer.acked) >= killed_at + 50, WAIT, "writes after the kill")
    assert writer.error is None, f"the writer failed: {writer.error!r}"
    print(f"\nkill -9 of leader {leader.sid} ({kind(leader)}): member {new.sid} ({kind(new)}) leads")
    return leader, new


def test_leaders_of_both_kinds_killed_under_load(tmp_path: Path, kazoo_clients: list[KazooClient]) -> None:
    require_apache()
    ens = ApacheEnsemble(tmp_path / "mixed", size=3, observers=1, corral={1, 2})
    writer: Writer | None = None
    try:
        # The Apache members first: with equal (empty) histories the election picks the highest id, 3.
        for m in ens.members[2:]:
            m.start(wait=False)
        wait_until(lambda: all(m.mode() == "not serving" for m in ens.members[2:]), WAIT, "Apache up, electing")
        for m in ens.members[:2]:
            m.start(wait=False)
        first = wait_until(ens.settled, WAIT, "the mixed ensemble serving")
        assert (first.sid, kind(first)) == (3, "apache"), f"member {first.sid} ({kind(first)}) leads"

        # A session created on the Apache observer moves to a corral follower of the Apache leader: the
        # corral member revalidates it with the leader (REVALIDATE), which would otherwise refuse the
        # session's requests from there (SESSIONMOVED): Apache leaders keep an owner per session.
        raw = RawClient(HOST, ens.members[3].port, io_timeout=10.0)
        try:
            resp = raw.connect(timeout_ms=int(SESSION_TIMEOUT * 1000))
        finally:
            raw.close()  # no closeSession: the session lives on
        moved = start_kazoo(ens.members[0].hosts, timeout=SESSION_TIMEOUT, randomize_hosts=False,
                            client_id=(resp.session_id, resp.passwd))
        kazoo_clients.append(moved)
        assert moved.client_id[0] == resp.session_id
        moved_eph = moved.create("/moved", b"m", ephemeral=True)
        assert moved.exists(moved_eph).ephemeralOwner == resp.session_id

        holder = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
        kazoo_clients.append(holder)
        holder.ensure_path("/failover/w")
        eph = holder.create("/failover/held", b"ephemeral", ephemeral=True)
        session = holder.client_id
        writer = Writer(start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT), "/failover/w", pace=PACE)
        kazoo_clients.append(writer.client)
        writer.start()

        killed, leader = _kill_leader(ens, writer)  # the Apache leader of corral followers
        assert kind(leader) == "corral", f"member {leader.sid} ({kind(leader)}) leads after the Apache leader"
        through_observer(ens.members[3], leader, "after-apache-leader", kazoo_clients)
        killed.start(wait=False)
        wait_until(lambda: killed.mode() == "follower", WAIT, "the Apache member following the corral leader")

        killed, leader = _kill_leader(ens, writer)  # the corral leader of a corral and an Apache follower
        killed.start(wait=False)
        wait_until(lambda: killed.mode() == "follower", WAIT, f"member {killed.sid} following member {leader.sid}")
        through_observer(ens.members[3], leader, "after-corral-leader", kazoo_clients)

        writer.stop()
        assert writer.error is None, f"the writer failed: {writer.error!r}"
        assert holder.client_id == session and not session_lost(holder), "the ephemeral's session was lost"
        assert_converged(ens.members, writer.paths(), eph, session[0], kazoo_clients)
        for m in ens.members:
            if kind(m) == "corral":
                text = m.log(2_000_000)
                assert "peer_anomaly" not in text and "Traceback" not in text, f"member {m.sid}:\n{text[-4000:]}"
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        ens.close()


def _apache_leader_until_corral(ens: ApacheEnsemble, writer: Writer, kazoo_clients: list[KazooClient],
                                attempts: int = 3) -> EnsembleProcess:
    """kill -9 Apache leaders (restarting each) until a corral member leads; returns that leader.

    With equal histories the survivors elect the highest id (corral 3), but a kill that lands between a
    proposal reaching one follower and the other gives the Apache follower the higher zxid, and it wins
    the election rightly; another Apache leader killed then hands the lead to corral 3. Bounded."""
    leader = ens.settled()
    for _ in range(attempts):
        assert leader is not None
        if kind(leader) == "corral":
            return leader
        killed, leader = _kill_leader(ens, writer)
        through_observer(ens.members[3], leader, f"after-apache-{killed.sid}", kazoo_clients)
        killed.start(wait=False)
        wait_until(lambda k=killed: k.mode() == "follower", WAIT, f"member {killed.sid} following again")
    raise AssertionError(f"no corral leader after {attempts} Apache leaders were killed")


def test_leaders_killed_while_a_corral_observer_watches_apache_voters(
        tmp_path: Path, kazoo_clients: list[KazooClient]) -> None:
    """Apache voters 1 and 2, corral voter 3 and corral observer 4 (issue 9's remaining arrangements):

    a. the Apache leader (2) is killed under load: Apache 1 and corral 3 elect a leader (with equal
       histories corral 3, by its higher id); the corral observer serves reads and writes across the kill;
    b. 2 restarts: a corral leader of two Apache followers, killed in turn; the Apache members elect one
       of themselves and the corral observer follows that Apache leader and serves reads and writes;
    c. 3 restarts and follows; every acknowledged write is on every member, the session and its
       ephemeral are kept and the trees are identical.
    """
    require_apache()
    ens = ApacheEnsemble(tmp_path / "mixed-obs", size=3, observers=1, corral={3, 4})
    writer: Writer | None = None
    try:
        assert [kind(m) for m in ens.members] == ["apache", "apache", "corral", "corral"]
        # The Apache voters first: a quorum of two, with equal (empty) histories the highest id, 2, leads.
        for m in ens.members[:2]:
            m.start(wait=False)
        wait_until(lambda: ens.members[1].mode() == "leader", WAIT, "Apache member 2 leading")
        for m in ens.members[2:]:
            m.start(wait=False)
        first = wait_until(ens.settled, WAIT, "the mixed ensemble serving")
        assert (first.sid, kind(first)) == (2, "apache"), f"member {first.sid} ({kind(first)}) leads"
        assert ens.members[3].mode() == "observer"

        holder = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
        kazoo_clients.append(holder)
        holder.ensure_path("/failover/w")
        eph = holder.create("/failover/held", b"ephemeral", ephemeral=True)
        session = holder.client_id
        writer = Writer(start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT), "/failover/w", pace=PACE)
        kazoo_clients.append(writer.client)
        writer.start()
        through_observer(ens.members[3], first, "apache-leader", kazoo_clients)

        # a. The Apache leader of an Apache and a corral follower, with a corral observer.
        killed, leader = _kill_leader(ens, writer)
        assert killed.sid == 2 and leader.sid in (1, 3), f"member {leader.sid} leads"
        through_observer(ens.members[3], leader, "after-kill-of-2", kazoo_clients)
        killed.start(wait=False)
        wait_until(lambda: killed.mode() == "follower", WAIT, f"member 2 following member {leader.sid}")
        leader = _apache_leader_until_corral(ens, writer, kazoo_clients)
        assert leader.sid == 3 and all(m.mode() == "follower" for m in ens.members[:2]), \
            {m.sid: m.mode() for m in ens.members}
        through_observer(ens.members[3], leader, "corral-leader", kazoo_clients)

        # b. The corral leader of two Apache followers.
        killed, leader = _kill_leader(ens, writer)
        assert killed.sid == 3 and kind(leader) == "apache", f"member {leader.sid} ({kind(leader)}) leads"
        assert ens.members[3].mode() == "observer"
        through_observer(ens.members[3], leader, "after-kill-of-3", kazoo_clients)

        # c. 3 back as a follower of the Apache leader.
        killed.start(wait=False)
        wait_until(lambda: killed.mode() == "follower", WAIT, f"member 3 following member {leader.sid}")
        rejoined = len(writer.acked)
        wait_until(lambda: writer.error or len(writer.acked) >= rejoined + 50, WAIT, "writes after 3 rejoined")
        writer.stop()
        assert writer.error is None, f"the writer failed: {writer.error!r}"
        print(f"\n{len(writer.acked)} acknowledged writes ({writer.retries} retries)")
        assert holder.client_id == session and not session_lost(holder), "the ephemeral's session was lost"
        assert_converged(ens.members, writer.paths(), eph, session[0], kazoo_clients)
        for m in ens.members:
            if kind(m) == "corral":
                text = m.log(2_000_000)
                assert "peer_anomaly" not in text and "Traceback" not in text, f"member {m.sid}:\n{text[-4000:]}"
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        ens.close()
