"""The quorum core's share of a reconfiguration (ZooKeeper's Leader.propose / tryToCommit with a
reconfig proposal, QuorumPeer.processReconfig): the joint quorum, activation at commit, roles that change."""

from __future__ import annotations

import pytest

from corral.quorum import EnsembleConfig, Overloaded, Reconfigured, Recovered, Role, SteppedDown

from .harness import Cluster


def activate_where_applied(c: Cluster, zxid: int, voters: set[int], observers: frozenset[int] = frozenset()) -> None:
    """What the host does: a member that applied the reconfiguration's txn activates it in its core."""
    for node in c.nodes.values():
        if node.alive and any(z == zxid for z, _ in node.applied):
            c.call(node.sid, "reconfigure", frozenset(voters), frozenset(observers))
    c.deliver()


def test_a_reconfiguration_and_later_proposals_need_a_quorum_of_the_old_and_the_new_voters() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    leader = c.leader().sid
    other = min({1, 2, 3} - {leader})
    removed = max({1, 2, 3} - {leader})
    c.crash(other)  # the old quorum (leader + removed) is there, the new one (leader + other) is not
    r = c.call(leader, "propose_reconfig", b"reconfig", frozenset({leader, other}), frozenset())
    after = c.call(leader, "propose", b"after")
    c.deliver()
    assert c[leader].applied == [] and c[removed].applied == []
    with pytest.raises(Overloaded):
        c.call(leader, "propose_reconfig", b"again", frozenset({leader, removed}), frozenset())
    c.nodes[other].alive = True
    c.tick(4)  # it finds it missed messages (or was dropped) and rejoins; then the new quorum acks
    c.settle()
    assert [z for z, _ in c[leader].applied][:2] == [r, after]
    assert c[leader].peer.config.voters == {leader, other}
    assert c[leader].events_of(Reconfigured)[-1].voters == {leader, other}


def test_a_removed_follower_no_longer_counts_and_follows_without_a_vote() -> None:
    """Apache's documented behaviour: a removed server is not shut down, it becomes a non-voting follower."""
    c = Cluster([1, 2, 3])
    c.settle()
    leader = c.leader().sid
    removed = min({1, 2, 3} - {leader})
    stays = max({1, 2, 3} - {leader})
    r = c.call(leader, "propose_reconfig", b"reconfig", frozenset({leader, stays}), frozenset())
    c.deliver()
    activate_where_applied(c, r, {leader, stays})
    assert c[removed].peer.role is Role.FOLLOWING and not c[removed].peer.is_voter
    z = c.call(leader, "propose", b"x")
    c.deliver()
    assert c[removed].applied[-1] == (z, b"x")  # it still follows
    c.crash(stays)  # a quorum of {leader, stays} is both of them now: the removed member's ack is not counted
    c.call(leader, "propose", b"y")
    c.deliver()
    assert c[leader].applied[-1] == (z, b"x")


def test_a_joiner_follows_without_a_vote_until_a_reconfiguration_adds_it() -> None:
    """Apache's procedure for adding a server: it starts with the current members plus itself, follows the
    leader as a non-voting follower, and counts once the reconfiguration adding it commits."""
    c = Cluster([1, 2, 3])
    c.settle()
    leader = c.leader().sid
    c.config = EnsembleConfig(voters=frozenset({1, 2, 3, 4}))
    c.start(4, Recovered())
    c.settle()
    assert c[4].peer.role is Role.FOLLOWING and c[4].peer.serving
    assert 4 in c[leader].peer.synced_followers()  # Leader.isQuorumSynced counts it for the new voters
    z = c.call(leader, "propose", b"x")
    c.deliver()
    assert c[4].applied[-1] == (z, b"x")
    r = c.call(leader, "propose_reconfig", b"add 4", frozenset({1, 2, 3, 4}), frozenset())
    c.deliver()
    activate_where_applied(c, r, {1, 2, 3, 4})
    assert c[leader].peer.config.voters == {1, 2, 3, 4}
    c.crash(min({1, 2, 3} - {leader}))
    c.hold = lambda frm, to, msg: frm == 4  # 3 of 4 voters are needed: without 4's acks nothing commits
    y = c.call(leader, "propose", b"y")
    c.deliver()
    assert c[leader].applied[-1] == (r, b"add 4")
    c.release()
    assert c[leader].applied[-1] == (y, b"y")


def test_a_participant_becomes_an_observer_and_back() -> None:
    c = Cluster([1, 2, 3])
    c.settle()
    leader = c.leader().sid
    moved = min({1, 2, 3} - {leader})
    voters = {1, 2, 3} - {moved}
    r = c.call(leader, "propose_reconfig", b"to-observer", frozenset(voters), frozenset({moved}))
    c.deliver()
    activate_where_applied(c, r, voters, {moved})
    c.settle()
    assert c[moved].peer.role is Role.OBSERVING and c[moved].peer.serving
    z = c.call(leader, "propose", b"x")
    c.deliver()
    assert c[moved].applied[-1] == (z, b"x")
    r2 = c.call(leader, "propose_reconfig", b"to-participant", frozenset({1, 2, 3}), frozenset())
    c.deliver()
    activate_where_applied(c, r2, {1, 2, 3})
    c.settle()
    assert c[moved].peer.role is Role.FOLLOWING and c[moved].peer.serving
    assert c.leader().sid == leader
    for sid in {1, 2, 3} - {moved}:
        c.crash(sid)  # the leader and the member that moved back make a quorum of three no more
    assert c[moved].peer.config.quorum == 2


def test_a_leader_removed_by_its_own_reconfiguration_steps_down_and_the_new_voters_elect() -> None:
    c = Cluster([1, 2, 3, 4])
    c.settle()
    leader = c.leader().sid
    rest = {1, 2, 3, 4} - {leader}
    r = c.call(leader, "propose_reconfig", b"reconfig", frozenset(rest), frozenset({leader}))
    c.deliver()
    assert c[leader].events_of(SteppedDown)
    activate_where_applied(c, r, rest, {leader})
    c.settle()
    new = c.leader().sid
    assert new in rest
    assert c[leader].peer.role is Role.OBSERVING
    z = c.call(new, "propose", b"x")
    c.deliver()
    assert all(c[s].applied[-1] == (z, b"x") for s in (1, 2, 3, 4))


def test_a_new_leader_establishes_an_inherited_reconfiguration_with_both_quorums() -> None:
    """Apache's leader adds its last seen configuration to the NEWLEADER proposal: a reconfiguration its
    predecessor left uncommitted commits at establishment only with a quorum of its voters too."""
    new_voters, new_observers = frozenset({2, 4, 5}), frozenset({1, 3})

    def decode(payload: bytes) -> tuple[frozenset[int], frozenset[int]] | None:
        return (new_voters, new_observers) if payload == b"reconfig" else None

    c = Cluster([1, 2, 3, 4, 5], reconfig_of=decode)
    c.settle()
    assert c.leader().sid == 5
    c.hold = lambda frm, to, msg: frm == 5 and to != 1  # only 1 logs it: no quorum of either set
    c.call(5, "propose_reconfig", b"reconfig", new_voters, new_observers)
    c.deliver()
    c.crash(5)
    c.held.clear()
    c.paused.clear()
    c.hold = lambda frm, to, msg: False
    c.crash(4)  # the old voters 1, 2, 3 are a quorum; of the new ones only 2 is up
    c.tick(60, only=[1, 2, 3])
    assert not any(n.peer.serving and n.peer.role is Role.LEADING for n in c.nodes.values() if n.alive)
    assert not any(p == b"reconfig" for s in (1, 2, 3) for _, p in c[s].applied)
    c.nodes[4].alive = True  # now a quorum of the new voters (2, 4) can ack NEWLEADER too
    c.tick(60)
    r = max(z for z, p in c[1].peer.log.after(0) if p == b"reconfig")
    activate_where_applied(c, r, set(new_voters), new_observers)
    for node in c.nodes.values():  # a member that missed it adopts it from the votes' configuration
        if node.alive and node.peer.config.voters != new_voters:
            c.call(node.sid, "reconfigure", new_voters, new_observers)
    c.settle()
    new = c.leader()
    assert new.sid in (2, 4) and new.peer.config.voters == new_voters
    assert all(c[s].state_zxid >= r and c[s].peer.serving for s in (1, 2, 3, 4))
