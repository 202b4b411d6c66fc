"""Scenario tests of the ZAB rules, one rule per test, on the hand-driven harness."""

from __future__ import annotations

import pytest

from corral.quorum import (
    Activated,
    Anomaly,
    EnsembleConfig,
    HostContractError,
    NoLeader,
    NotLeader,
    Overloaded,
    Phase,
    Recovered,
    RequestForwarded,
    Role,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
    make_zxid,
)
from corral.quorum import messages as m
from corral.quorum.peer import Peer

from .harness import Cluster


def rec(epoch: int, entries: list[tuple[int, int]], applied: int = 0, accepted: int | None = None,
        base: int = 0) -> Recovered:
    """A recovered disk whose log holds (epoch, counter) entries."""
    log = [(make_zxid(e, c), b"e%d.%d" % (e, c)) for e, c in entries]
    return Recovered(accepted_epoch=epoch if accepted is None else accepted, current_epoch=epoch,
                     log_base=base, log=log, applied_zxid=applied)


# ---- election -----------------------------------------------------------------------------------


def test_single_server_elects_itself_and_commits_after_its_own_fsync() -> None:
    c = Cluster([1])
    node = c[1]
    assert node.peer.role is Role.LEADING and node.peer.serving
    node.auto_persist = False
    assert node.peer.next_zxid == make_zxid(1, 1)
    z = c.call(1, "propose", b"x")
    assert z == make_zxid(1, 1) and node.peer.next_zxid == make_zxid(1, 2)
    assert node.applied == []  # logged, not yet durable: not committed
    c.persist(1)
    assert node.applied == [(z, b"x")]


def test_election_picks_most_recent_log_then_highest_id() -> None:
    # Server 1 has the longest log of the highest epoch; 3 has the highest id.
    c = Cluster([1, 2, 3], recovered={1: rec(1, [(1, 1), (1, 2)]), 2: rec(1, [(1, 1)]), 3: rec(1, [(1, 1)])})
    c.settle()
    assert c.leader().sid == 1
    c = Cluster([1, 2, 3])
    c.settle()
    assert c.leader().sid == 3


def test_current_epoch_beats_a_longer_log_of_an_older_epoch() -> None:
    # 2 synced with the epoch-2 leader (currentEpoch 2) but has no epoch-2 entry yet; 1 has more
    # epoch-1 entries that the epoch-2 leader truncated away. 2's history is the newer one.
    c = Cluster([1, 2, 3], recovered={1: rec(1, [(1, 1), (1, 2), (1, 3)]), 2: rec(2, [(1, 1)]),
                                      3: rec(1, [(1, 1)], accepted=2)})
    c.settle()
    assert c.leader().sid == 2
    assert [z for z, _ in c[1].log] == [make_zxid(1, 1)]  # TRUNC removed the uncommitted entries


def test_observers_never_lead_or_vote() -> None:
    c = Cluster([1, 2, 3], observers=[9], recovered={9: rec(5, [(5, 1), (5, 2)])})
    c.settle()
    assert c.leader().sid == 3
    assert c[9].peer.role is Role.OBSERVING
    votes = [msg for frm, to, msg in c.sent if isinstance(msg, m.Vote) and frm == 9]
    assert all(v.leader == -1 for v in votes)


def test_restarted_server_rejoins_the_established_leader() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    for i in range(3):
        c.call(3, "propose", b"w%d" % i)
    c.deliver()
    c.crash(1)
    c.call(3, "propose", b"while-1-is-down")
    c.deliver()
    committed = c[3].peer.committed_zxid
    c.nodes[1].alive = True
    node = c.start(1, Recovered(accepted_epoch=1, current_epoch=1, log=c[1].log, applied_zxid=c[1].applied[-1][0]))
    c.settle()
    assert node.peer.role is Role.FOLLOWING and node.peer.leader_id == 3
    assert node.peer.committed_zxid == committed
    assert c[3].peer.epoch == 1  # no new election happened


def test_settled_members_report_the_epoch_they_established_as_their_vote() -> None:
    """ZOOKEEPER-1732: after sync the vote's peer epoch is the new epoch, on the leader and learners."""
    c = Cluster([1, 2, 3])
    c.settle()
    epoch = c.leader().peer.epoch
    assert epoch >= 1
    for sid in (1, 2, 3):
        asker = 1 if sid != 1 else 2
        c.queue.clear()
        c[sid].peer.receive(asker, m.Vote(state=0, leader=asker, zxid=0, election_epoch=1, peer_epoch=0,
                                          incarnation=99, round=1))
        c.drain(c[sid])
        (vote,) = [msg for frm, to, msg in c.queue if frm == sid and to == asker and isinstance(msg, m.Vote)]
        assert vote.peer_epoch == epoch and vote.leader == c.leader().sid and vote.state != 0


def test_a_looking_member_joins_only_a_quorum_settled_on_the_same_leader_and_epoch() -> None:
    c = Cluster([1, 2, 3])
    node = c[1]
    assert node.peer.role is Role.LOOKING
    node.peer.receive(2, m.Vote(state=1, leader=3, zxid=0, election_epoch=1, peer_epoch=1, incarnation=7, round=1))
    node.peer.receive(3, m.Vote(state=2, leader=3, zxid=0, election_epoch=1, peer_epoch=2, incarnation=8, round=1))
    assert node.peer.role is Role.LOOKING  # 2 follows 3 in epoch 1, 3 leads epoch 2: no quorum for either
    node.peer.receive(2, m.Vote(state=1, leader=3, zxid=0, election_epoch=1, peer_epoch=2, incarnation=7, round=2))
    assert node.peer.role is Role.FOLLOWING and node.peer.leader_id == 3


# ---- discovery and sync ---------------------------------------------------------------------------


def test_new_epoch_is_max_accepted_plus_one_and_written_before_ackepoch() -> None:
    c = Cluster([1, 2, 3], recovered={1: rec(1, [], accepted=7), 2: rec(1, []), 3: rec(1, [])})
    c.settle()
    assert c.leader().peer.epoch == 8
    for node in c.nodes.values():
        assert node.peer.accepted_epoch == 8 and node.peer.current_epoch == 8
    # Whenever a follower acknowledges a new epoch, the epoch to persist is in the same batch,
    # which the host writes before sending anything.
    acks = 0
    for node in (c[1], c[2]):
        for r in node.readies:
            for _, msg in r.messages:
                if isinstance(msg, m.AckEpoch) and msg.current_epoch != -1:
                    acks += 1
                    assert r.epochs is not None and r.epochs.accepted == msg.epoch
    assert acks >= 2
    # 3 and 2 settled on epoch 2 before 1 (acceptedEpoch 7) showed up; the leader stepped down
    # and re-elected above 7 so that 1 could join.
    assert any("accepted epoch 7" in e.reason for e in c[3].events_of(SteppedDown))


def test_follower_acks_newleader_only_after_its_log_is_durable() -> None:
    c = Cluster([1, 2, 3], recovered={3: rec(1, [(1, 1), (1, 2)]), 1: rec(1, [(1, 1), (1, 2)]),
                                      2: rec(1, [])})
    c[2].auto_persist = False
    c.settle(ticks=3)
    acks = [msg for frm, to, msg in c.sent if frm == 2 and isinstance(msg, m.Ack)]
    assert acks == [] and c[2].peer.current_epoch == 1
    c.persist(2)
    c.deliver()
    assert c[2].peer.current_epoch == 2
    assert [msg.zxid for frm, to, msg in c.sent if frm == 2 and isinstance(msg, m.Ack)] == [make_zxid(1, 2)]


def test_leader_steps_down_when_a_learner_of_its_epoch_quorum_is_ahead() -> None:
    # 1 has the longest log but its votes are delayed, so 3 wins with 2's vote; 2's ACKEPOCH is
    # delayed too, so 3 is still gathering its epoch quorum when 1 joins with a newer history.
    c = Cluster([1, 2, 3], recovered={1: rec(1, [(1, 1), (1, 2)]), 3: rec(1, [(1, 1)])})
    c.drop = lambda frm, to, msg: 1 in (frm, to) and isinstance(msg, m.Vote)
    c.hold = lambda frm, to, msg: frm == 2 and isinstance(msg, m.AckEpoch)
    c.tick(3)
    assert c[3].peer.role is Role.LEADING and c[3].peer.phase is Phase.DISCOVERY
    c.heal()
    c.tick(5)  # 1's notifications back off to one every max_notify_ticks
    (down,) = c[3].events_of(SteppedDown)
    assert "learner 1 is ahead" in down.reason
    c.release()
    c.settle()
    assert c.leader().sid == 1
    assert all(n.log[-1][0] == make_zxid(1, 2) for n in c.nodes.values())


def test_late_learner_with_uncommitted_entries_is_truncated_not_feared() -> None:
    c = Cluster([1, 2, 3], recovered={1: rec(1, [(1, 1), (1, 2)]), 3: rec(1, [(1, 1)])})
    c.crash(1)
    c.settle()
    c.nodes[1].alive = True
    c.tick(5)
    c.settle()
    assert c.leader().sid == 3 and not c[3].events_of(SteppedDown)
    assert [r.truncate_to for r in c[1].readies if r.truncate_to is not None] == [make_zxid(1, 1)]


def test_diff_trunc_and_snap() -> None:
    old = [(1, i) for i in range(1, 9)]
    c = Cluster(
        [1, 2, 3, 4, 5],
        recovered={
            5: rec(2, [*old, (2, 1)], applied=make_zxid(1, 8)),  # leader: most recent
            4: rec(2, [*old, (2, 1)], applied=make_zxid(1, 8)),  # identical: empty DIFF
            3: rec(1, old[:6], applied=make_zxid(1, 6)),  # prefix: DIFF of the missing entries
            2: rec(1, [*old, (1, 9), (1, 10)], applied=make_zxid(1, 8), accepted=2),  # extra: TRUNC
            1: rec(0, [], accepted=2),  # empty and far behind the window: SNAP
        },
        log_window=4,
    )
    c.settle()
    leader = c.leader()
    assert leader.sid == 5
    kinds = {to: type(msg).__name__ for frm, to, msg in c.sent if isinstance(msg, m.Diff | m.Trunc | m.Snap)}
    assert kinds == {4: "Diff", 3: "Diff", 2: "Trunc", 1: "Snap"}
    assert [r.truncate_to for r in c[2].readies if r.truncate_to is not None] == [make_zxid(1, 8)]
    assert [r.install_snapshot[0] for r in c[1].readies if r.install_snapshot] == [make_zxid(1, 8)]
    for node in c.nodes.values():
        assert node.peer.committed_zxid == make_zxid(2, 1)
        assert [z for z, _ in node.log][-2:] == [make_zxid(1, 8), make_zxid(2, 1)] or node.sid == 1


def test_trunc_goes_to_where_the_logs_really_diverge() -> None:
    # Found by simulation seed 104757. The follower's log [1.1, 3.1] and the leader's
    # [1.1, 2.1, 4.1] diverge after 1.1; truncating to the largest leader zxid below the
    # follower's last (2.1, ZooKeeper's choice) would keep [1.1] and then append 4.1: a hole.
    c = Cluster([1, 2, 3], recovered={3: rec(4, [(1, 1), (2, 1), (4, 1)], applied=make_zxid(1, 1)),
                                      2: rec(3, [(1, 1), (3, 1)], applied=make_zxid(1, 1)),
                                      1: rec(4, [(1, 1), (2, 1), (4, 1)], applied=make_zxid(1, 1))})
    c.settle()
    assert c.leader().sid == 3
    assert [r.truncate_to for r in c[2].readies if r.truncate_to is not None] == [make_zxid(1, 1)]
    assert c[2].log == c[3].log
    assert not any(n.events_of(Anomaly) for n in c.nodes.values())


def test_new_leader_commits_old_entries_only_with_a_newleader_quorum() -> None:
    # 3 has an entry of epoch 1 that may or may not have been committed; it must commit it in
    # epoch 2, after a quorum acked NEWLEADER, never by counting acks from epoch 1.
    c = Cluster([1, 2, 3], recovered={3: rec(1, [(1, 1), (1, 2)], applied=make_zxid(1, 1)),
                                      2: rec(1, [(1, 1)], applied=make_zxid(1, 1)),
                                      1: rec(1, [(1, 1)], applied=make_zxid(1, 1))})
    c[1].auto_persist = False
    c[2].auto_persist = False
    c.settle(ticks=3)
    assert c[3].peer.role is Role.LEADING and not c[3].peer.serving
    assert c[3].applied == []
    c.persist(2)
    c.deliver()
    assert c[3].peer.serving
    assert c[3].applied == [(make_zxid(1, 2), b"e1.2")]


def test_commit_needs_a_quorum_of_durable_acks_and_pipelines() -> None:
    c = Cluster([1, 2, 3, 4, 5])
    c.settle()
    for sid in (1, 2, 3, 4):
        c[sid].auto_persist = False
    zs = [c.call(5, "propose", b"p%d" % i) for i in range(5)]  # five in flight at once
    c.deliver()
    assert c[5].applied == []
    c.persist(1)
    c.deliver()
    assert c[5].applied == []  # leader + 1 of 5 is not a quorum
    c.persist(2)
    c.deliver()
    assert [z for z, _ in c[5].applied] == zs  # one cumulative ACK commits all five, in order
    for sid in (1, 2):
        assert [z for z, _ in c[sid].applied] == zs
    # 3 has not made them durable, yet applies what the quorum committed; it acks only later.
    assert [z for z, _ in c[3].applied] == zs
    assert not any(isinstance(msg, m.Ack) and msg.zxid in zs for frm, to, msg in c.sent if frm == 3)
    c.persist(3)
    c.deliver()
    assert any(isinstance(msg, m.Ack) and msg.zxid == zs[-1] for frm, to, msg in c.sent if frm == 3)


def test_follower_applies_commits_before_its_own_fsync() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    c[1].auto_persist = False
    z = c.call(3, "propose", b"x")
    c.deliver()
    assert c[1].applied[-1] == (z, b"x")  # quorum 3+2 acked; 1 learns the commit before its fsync
    assert not any(isinstance(msg, m.Ack) and msg.zxid == z for frm, to, msg in c.sent if frm == 1)


# ---- broadcast phase rules ------------------------------------------------------------------------


def test_leader_without_quorum_steps_down_and_stops_taking_writes() -> None:
    c = Cluster([1, 2, 3], sync_limit=3)
    c.settle()
    c.isolate(3)
    c.tick(5)
    assert c[3].events_of(SteppedDown)
    assert c[3].peer.role is Role.LOOKING
    with pytest.raises(NotLeader):
        c[3].peer.propose(b"x")
    c.settle()
    assert c.leader().sid == 2


def test_follower_goes_looking_when_the_leader_is_silent() -> None:
    c = Cluster([1, 2, 3], sync_limit=2)
    c.settle()
    c.crash(3)
    c.tick(4, only=[1, 2])
    assert c[1].peer.role is not Role.FOLLOWING or c[1].peer.leader_id != 3
    c.settle()
    assert c.leader().sid == 2


def test_forward_reaches_the_leader_host_with_its_origin() -> None:
    c = Cluster([1, 2, 3], observers=[4])
    c.settle()
    c.call(1, "forward", b"from-1")
    c.call(4, "forward", b"from-4")
    c.call(3, "forward", b"from-3")
    c.deliver()
    got = [(e.origin, e.payload) for e in c[3].events_of(RequestForwarded)]
    assert sorted(got) == [(1, b"from-1"), (3, b"from-3"), (4, b"from-4")]


def test_sync_barrier_on_a_follower_waits_for_the_proposals_before_it() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    c[2].auto_persist = False
    c[3].auto_persist = False
    z = c.call(3, "propose", b"x")
    c.call(1, "sync", 77)
    c.deliver()
    assert not c[1].events_of(SyncDone)  # x is proposed before the sync but not committed
    c.persist(3)
    c.persist(2)
    c.deliver()
    assert c[1].events_of(SyncDone) == [SyncDone(77, z)]
    assert c[1].applied[-1][0] == z


def test_sync_on_the_leader_waits_for_a_ping_round_answered_by_a_quorum() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    before = len(c.sent)
    c.call(3, "sync", 5)
    assert not c[3].events_of(SyncDone)
    c.deliver()
    assert c[3].events_of(SyncDone) == [SyncDone(5, c[3].peer.last_zxid)]
    pings = [msg for frm, to, msg in c.sent[before:] if isinstance(msg, m.Ping)]
    assert len(pings) == 2 and all(p.round == 1 for p in pings)


def test_the_leader_pings_every_ping_interval_and_syncs_do_not_wait_for_it() -> None:
    """Apache's leader pings every tickTime/2: with 10 core ticks per tickTime, ping_ticks=5. A sync
    still starts its own round at once; a short syncLimit (lease of 7 ticks) pings every tick."""
    assert EnsembleConfig(voters=frozenset({1}), sync_limit=50, ping_ticks=5).ping_interval == 5
    assert EnsembleConfig(voters=frozenset({1}), sync_limit=10, ping_ticks=5).ping_interval == 1
    c = Cluster([1, 2, 3], sync_limit=50, init_limit=100, ping_ticks=5)
    c.settle()
    leader = c.leader().sid
    before = len(c.sent)
    for _ in range(20):
        c.tick()
        c.deliver()
    rounds = {msg.round for frm, to, msg in c.sent[before:] if isinstance(msg, m.Ping) and frm == leader}
    assert len(rounds) == 4, rounds  # 20 ticks, a round every 5
    assert c.leader().sid == leader  # the lease holds
    before = len(c.sent)
    c.call(leader, "sync", 9)
    c.deliver()
    assert c[leader].events_of(SyncDone)[-1].token == 9
    assert any(isinstance(msg, m.Ping) for _, _, msg in c.sent[before:])


def test_a_deposed_leader_never_answers_a_sync() -> None:
    # Cut off, 3 may still think it leads while 1 and 2 elect 2 and commit new writes: answering
    # from 3's state would be a stale read. 3 holds the sync and fails it when it steps down.
    c = Cluster([1, 2, 3], sync_limit=3)
    c.settle()
    c.isolate(3)
    c.call(3, "sync", 5)
    c.tick(6)
    assert not c[3].events_of(SyncDone)
    assert c[3].events_of(SteppedDown) and c[3].events_of(SyncFailed)[0].token == 5
    assert c.leader().sid == 2


def test_pending_syncs_fail_when_the_leader_is_lost() -> None:
    c = Cluster([1, 2, 3], sync_limit=2)
    c.settle()
    c.crash(3)
    c.call(1, "sync", 9)
    c.tick(4, only=[1, 2])
    assert c[1].events_of(SyncFailed)[0].token == 9


def test_observer_gets_committed_entries_only_and_never_counts() -> None:
    c = Cluster([1, 2, 3], observers=[4])
    c.settle()
    c.crash(1)
    c.crash(2)
    c.call(3, "propose", b"x")
    c.deliver()
    assert c[3].applied == [] and c[4].applied == []  # leader + observer is no quorum
    assert not any(isinstance(msg, m.Proposal) for frm, to, msg in c.sent if to == 4)
    c.nodes[1].alive = True
    c.call(3, "propose", b"y")  # 1 missed x: the leader's stream to it has a gap now
    c.tick(3)
    c.settle()
    leader = c.leader()
    z = c.call(leader.sid, "propose", b"z")
    c.deliver()
    assert c[4].applied[-1] == (z, b"z")
    assert any(isinstance(msg, m.Inform) for frm, to, msg in c.sent if to == 4)


def test_session_touches_ride_on_ping_replies() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    c.call(1, "touch", 0x1234, 4000)
    c.tick()
    assert c[3].events_of(SessionTouches) == [SessionTouches(1, ((0x1234, 4000),))]


def test_not_serving_errors() -> None:
    c = Cluster([1, 2, 3])
    with pytest.raises(NotLeader):
        c[1].peer.propose(b"x")
    with pytest.raises(NotLeader):
        c[1].peer.next_zxid  # noqa: B018
    with pytest.raises(NoLeader):
        c[1].peer.forward(b"x")
    with pytest.raises(NoLeader):
        c[1].peer.sync(1)
    c.settle()
    with pytest.raises(NotLeader):
        c[1].peer.propose(b"x")


def test_outstanding_proposals_are_bounded() -> None:
    c = Cluster([1, 2, 3], max_outstanding=3)
    c.settle()
    c.isolate(3)
    for i in range(3):
        c.call(3, "propose", b"%d" % i)
    with pytest.raises(Overloaded):
        c.call(3, "propose", b"one too many")


def test_zxid_counter_exhaustion_forces_a_new_epoch() -> None:
    last = make_zxid(1, 0xFFFFFFFE)
    r = Recovered(accepted_epoch=1, current_epoch=1, log=[(last, b"x")], applied_zxid=last)
    c = Cluster([1], recovered={1: r})
    assert c[1].peer.epoch == 2
    assert c.call(1, "propose", b"y") == make_zxid(2, 1)
    peer = c[1].peer
    peer.log.append(make_zxid(2, 0xFFFFFFFE), b"z")  # pretend the epoch is used up
    with pytest.raises(NotLeader):
        peer.propose(b"w")
    c.drain(c[1])
    assert c[1].events_of(SteppedDown)


# ---- robustness -----------------------------------------------------------------------------------


def test_duplicates_are_ignored_and_gaps_break_the_session() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    c.call(3, "propose", b"a")
    dup = [(frm, to, msg) for frm, to, msg in c.queue if to == 1]
    c.queue.extend(dup)  # every message to 1 twice
    c.deliver()
    assert [p for _, p in c[1].applied] == [b"a"]
    assert c[1].peer.role is Role.FOLLOWING
    c.call(3, "propose", b"b")
    c.queue = [q for q in c.queue if not (q[1] == 1 and isinstance(q[2], m.Proposal))]  # lose one
    c.call(3, "propose", b"c")
    c.deliver()
    # A gap means the stream is broken: 1 went back to LOOKING, rejoined and resynced.
    assert any(e.role is Role.LOOKING and "gap" in e.reason for e in c[1].events_of(RoleChanged))
    c.settle()
    assert [p for _, p in c[1].applied] == [b"a", b"b", b"c"]
    assert not any(n.events_of(Anomaly) for n in c.nodes.values())


def test_stale_ackepoch_from_an_earlier_term_is_not_counted() -> None:
    c = Cluster([1, 2, 3, 4, 5])
    c.settle()
    old_info = next(msg for frm, to, msg in c.sent if frm == 1 and isinstance(msg, m.LearnerInfo))
    old_ack = next(msg for frm, to, msg in c.sent if frm == 1 and isinstance(msg, m.AckEpoch))
    c.crash(1)
    # 5 restarts: a new term. 3 and 4's ACKEPOCHs are lost, so 5 has the epoch acks of 2 only.
    c.drop = lambda frm, to, msg: isinstance(msg, m.AckEpoch) and frm in (3, 4)
    node = c.start(5, Recovered(accepted_epoch=1, current_epoch=1))
    leader = node.peer
    for _ in range(30):
        c.tick()
        if leader.role is Role.LEADING and leader._leader is not None and leader._leader.epoch is not None:
            break
    assert leader.role is Role.LEADING and leader.epoch >= 2 and not leader.serving
    # Copies of 1's first session, kept by the network, arrive now.
    leader.receive(1, old_info)
    leader.receive(1, old_ack)
    c.drain(node)
    assert not leader.serving  # without the epoch echo, 5+2+1 would have made a quorum
    assert leader._leader is not None and 1 not in leader._leader.epoch_acks


def test_learner_reports_a_leader_breaking_the_protocol() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    ls = c[1].peer._learner
    assert ls is not None
    bad = m.Commit(session=ls.session, seq=ls.in_seq, zxid=make_zxid(9, 9))
    c[1].peer.receive(3, bad)
    c.drain(c[1])
    assert c[1].events_of(Anomaly) and c[1].peer.role is Role.LOOKING


def test_truncate_after_appends_in_one_batch_keeps_the_host_order_valid() -> None:
    r = rec(1, [(1, 1), (1, 2), (1, 3)], applied=make_zxid(1, 1))
    peer = Peer(1, Cluster([1, 2, 3]).config, r, lambda: (0, b""))
    peer.ready()
    peer.advance()
    peer._append(make_zxid(1, 4), b"x")
    peer._truncate(make_zxid(1, 2))
    peer._append(make_zxid(2, 1), b"y")
    out = peer.ready()
    assert out.truncate_to == make_zxid(1, 2)
    assert out.append == [(make_zxid(2, 1), b"y")]
    assert out.log_end == make_zxid(2, 1)


def test_persisted_ignores_unknown_or_truncated_zxids() -> None:
    c = Cluster([1])
    peer = c[1].peer
    c[1].auto_persist = False
    z = c.call(1, "propose", b"x")
    peer.persisted(z + 5)
    c.drain(c[1])
    assert c[1].applied == []
    peer.persisted(z)
    c.drain(c[1])
    assert c[1].applied == [(z, b"x")]


def test_host_contract_is_checked() -> None:
    c = Cluster([1])
    peer = c[1].peer
    peer.ready()
    with pytest.raises(HostContractError):
        peer.ready()
    peer.advance()
    with pytest.raises(HostContractError):
        peer.advance()
    with pytest.raises(ValueError):
        Peer(7, c.config, Recovered(), lambda: (0, b""))
    with pytest.raises(ValueError):
        Peer(1, c.config, Recovered(current_epoch=2, accepted_epoch=1), lambda: (0, b""))


def test_activated_events_carry_epoch_and_leader() -> None:
    c = Cluster([1, 2, 3], observers=[4])
    c.settle()
    for node in c.nodes.values():
        (act,) = node.events_of(Activated)
        assert act.leader == 3 and act.epoch == 1
        assert node.peer.phase is Phase.BROADCAST


@pytest.mark.parametrize("hint", [False, True])
def test_failover_takes_sync_limit_plus_an_election(hint: bool) -> None:
    # Writes stall only while followers notice the leader is gone (syncLimit ticks of silence,
    # or at once when the transport reports the dropped connection) and elect a successor.
    c = Cluster([1, 2, 3, 4, 5], sync_limit=5)
    c.settle()
    for i in range(10):
        c.call(5, "propose", b"%d" % i)
    c.deliver()
    committed = c[4].peer.committed_zxid
    c.crash(5)
    if hint:
        for sid in (1, 2, 3, 4):
            c.call(sid, "disconnected", 5)
        c.deliver()
    ticks = 0
    while not (c[4].peer.role is Role.LEADING and c[4].peer.serving):
        c.tick(only=[1, 2, 3, 4])
        ticks += 1
        assert ticks < 20
    assert ticks <= (3 if hint else 5 + 3)
    assert c[4].peer.committed_zxid >= committed  # nothing acknowledged was lost
    z = c.call(4, "propose", b"after")
    c.deliver()
    assert all(c[s].applied[-1] == (z, b"after") for s in (1, 2, 3, 4))


def test_a_dropped_session_is_never_revived_by_a_retransmitted_learnerinfo() -> None:
    # Found by simulation seed 100784: a reordered PINGREPLY made the leader drop 2's handler;
    # 2's retransmitted LEARNERINFO (same session) then opened a second stream under the same
    # (session, seq) space, and 2 took that stream's NEWLEADER for the continuation of the first.
    c = Cluster([1, 2, 3])
    c.hold = lambda frm, to, msg: frm == 2 and to == 3 and isinstance(msg, m.LearnerInfo)
    c.tick(3)
    info = c.held[0][2]
    assert isinstance(info, m.LearnerInfo)
    c.hold = lambda frm, to, msg: False
    c.held.clear()
    c.paused.clear()
    c.settle()
    leader = c[3].peer._leader
    assert leader is not None and leader.handlers[2].session == info.session
    leader.drop(leader.handlers[2], "test", anomaly=False)
    c.queue.clear()
    c[3].peer.receive(2, info)  # the retransmission arrives after the drop
    c.drain(c[3])
    assert 2 not in leader.handlers
    assert any(isinstance(msg, m.Reset) and msg.session == info.session for frm, to, msg in c.queue if to == 2)
    c.deliver()
    c.settle()
    assert c[2].peer.serving and c[2].peer._learner is not None and c[2].peer._learner.session != info.session
    assert not any(n.events_of(Anomaly) for n in c.nodes.values())


def test_synced_followers_are_the_leader_and_its_uptodate_voters() -> None:
    """What the leader's preparer counts for a reconfig's NewConfigNoQuorum (Leader.isQuorumSynced)."""
    c = Cluster([1, 2, 3], observers=[9])
    c.settle()
    leader = c.leader()
    assert leader.peer.synced_followers() == frozenset({1, 2, 3})  # observers never count
    assert all(c[s].peer.synced_followers() == frozenset() for s in (1, 2, 9) if s != leader.sid)
    follower = next(s for s in (1, 2, 3) if s != leader.sid)
    c.crash(follower)
    c.tick(60, only=[s for s in (1, 2, 3, 9) if s != follower])  # past syncLimit: the leader drops it
    c.deliver()
    assert c.leader().peer.synced_followers() == frozenset({1, 2, 3}) - {follower}
