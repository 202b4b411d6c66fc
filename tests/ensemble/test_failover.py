"""Acceptance: real processes, kill -9, kazoo clients on the full host list keep writing.

* 3 members: writers keep going while the leader is killed, then (after it came back) while a follower is;
  afterwards every acknowledged write is on every member, ephemerals of live sessions are still there
  (same owner), the ephemeral of a session that died with no one to keep it alive was expired by the new
  leader, and the restarted members caught up.
* 5 members survive the loss of two (the leader first, then a follower).

Nothing here asserts on timing; failover times are printed (`pytest -s`) and measured properly by
bench/ensemble/failover.py.
"""

from __future__ import annotations

import time

from kazoo.client import KazooState

from tests.support.rawclient import RawClient
from tests.support.wait import wait_until

from .clients import MemberView, Writer, session_lost, start_kazoo
from .cluster import WAIT, Ensemble, Member

ACKS_PER_PHASE = 40


def _wait_acks(writers: list[Writer], since: float, n: int = ACKS_PER_PHASE, what: str = "") -> None:
    def enough() -> bool:
        for w in writers:
            if w.error is not None:
                raise AssertionError(f"writer {w.prefix} failed: {w.error!r}")
        return all(w.acked_after(since) >= n for w in writers)
    wait_until(enough, WAIT, f"{n} acknowledged writes per writer {what}")


def _failover_s(writers: list[Writer], killed_at: float) -> float:
    firsts = [w.first_ack_after(killed_at) for w in writers]
    return min(f for f in firsts if f is not None) - killed_at


def _restart_paused(member: Member, writers: list[Writer], ens: Ensemble) -> None:
    for w in writers:
        w.pause()
    try:
        member.start()
        ens.wait_stable()
    finally:
        for w in writers:
            w.resume()


def _check_everywhere(ens: Ensemble, writers: list[Writer], members: list[Member]) -> dict[int, dict[str, set]]:
    """Every acknowledged write is on each member in `members`, and they all hold the same children."""
    seen: dict[int, dict[str, set]] = {}
    for m in members:
        with MemberView(m) as v:
            v.synced()
            seen[m.sid] = {w.prefix: v.children(w.prefix) for w in writers}
    for w in writers:
        acked = {p.rsplit("/", 1)[1] for p in w.paths()}
        for sid, by_prefix in seen.items():
            missing = acked - by_prefix[w.prefix]
            assert not missing, f"member {sid} lacks {len(missing)} acknowledged writes of {w.prefix}: " \
                                f"{sorted(missing)[:10]}"
        first = seen[members[0].sid][w.prefix]
        for sid, by_prefix in seen.items():
            assert by_prefix[w.prefix] == first, f"members {members[0].sid} and {sid} differ under {w.prefix}"
    return seen


def _orphan_session_with_ephemeral(ens: Ensemble, path: str, timeout_ms: int = 2000) -> int:
    """A raw session that creates an ephemeral and then vanishes without closeSession (its socket closes)."""
    for m in ens.members:
        if m.serving():
            c = RawClient("127.0.0.1", m.client_port)
            try:
                c.connect(timeout_ms=timeout_ms)
                r = c.create(path, b"orphan", flags=1)
                assert r.ok, r
                return c.session_id
            finally:
                c.close()
    raise AssertionError("no serving member for the orphan session")


def test_three_members_survive_leader_then_follower_kill(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3)
    leader = ens.wait_stable()
    # Both clients have the full host list; `a` starts on the leader, `b` on a follower.
    a = start_kazoo(ens.hosts_first(leader), randomize_hosts=False)
    kazoo_clients.append(a)
    b = start_kazoo(ens.hosts_first(next(m for m in ens.members if m is not leader)), randomize_hosts=False)
    kazoo_clients.append(b)
    a.ensure_path("/w/a")
    a.ensure_path("/w/b")
    a.ensure_path("/eph")
    a.create("/eph/a", b"a", ephemeral=True)
    b.create("/eph/b", b"b", ephemeral=True)
    writers = [Writer(a, "/w/a"), Writer(b, "/w/b")]
    for w in writers:
        w.start()
    try:
        _wait_acks(writers, 0, what="before any kill")

        # -- the leader dies (with `a` connected to it)
        old_leader = ens.leader()
        assert ens.serving_session(a.client_id[0]) is old_leader
        orphan = _orphan_session_with_ephemeral(ens, "/eph/orphan")
        killed_at = time.monotonic()
        old_leader.kill()
        _wait_acks(writers, killed_at, what="after the leader was killed")
        print(f"\nleader {old_leader.sid} killed: first acknowledged write after "
              f"{_failover_s(writers, killed_at):.3f}s")
        new_leader = ens.leader()
        assert new_leader is not old_leader

        # -- it comes back and catches up (it may hold uncommitted proposals: TRUNC or DIFF). The writers
        # pause meanwhile so that a slow restart on a busy machine stays within the leader's DIFF window:
        # a slow restart under load may catch up by SNAP; the writers pause so the member restarts cleanly.
        _restart_paused(old_leader, writers, ens)
        assert old_leader.mode() == "follower"

        # -- then a follower dies: one that serves a writer's connection if there is one
        hosting = [ens.serving_session(c.client_id[0]) for c in (a, b)]
        follower = next((m for m in hosting if m is not None and m.mode() == "follower"), None) or \
            next(m for m in ens.members if m.mode() == "follower")
        killed_at = time.monotonic()
        follower.kill()
        _wait_acks(writers, killed_at, what="after a follower was killed")
        print(f"follower {follower.sid} killed: first acknowledged write after "
              f"{_failover_s(writers, killed_at):.3f}s")
        _restart_paused(follower, writers, ens)
        _wait_acks(writers, time.monotonic(), 5, what="with every member back")
    finally:
        for w in writers:
            w.stop()
    for w in writers:
        assert w.error is None, f"writer {w.prefix}: {w.error!r}"
    print(f"acknowledged: {[len(w.acked) for w in writers]}, retried: {[w.retries for w in writers]}")

    zxid = ens.wait_converged()
    assert all(m.zxid() == zxid for m in ens.members)
    _check_everywhere(ens, writers, ens.members)

    # Live sessions survived both failovers: never LOST, ephemerals still there with the same owner.
    for client in (a, b):
        assert not session_lost(client), f"session lost: {client.states}"
        assert client.state == KazooState.CONNECTED
    for m in ens.members:
        with MemberView(m) as v:
            v.synced()
            assert v.ephemeral_owner("/eph/a") == a.client_id[0], f"member {m.sid}"
            assert v.ephemeral_owner("/eph/b") == b.client_id[0], f"member {m.sid}"
            # The orphan session had nobody to keep it alive: a leader expired it after the failover.
            wait_until(lambda v=v: v.synced().client.exists("/eph/orphan") is None,
                       WAIT, f"orphan session 0x{orphan & (2**64 - 1):x} expired on member {m.sid}")
    counts = {m.sid: m.mntr()["zk_ephemerals_count"] for m in ens.members}
    assert set(counts.values()) == {"2"}, counts


def test_five_members_survive_two_losses(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=5)
    a = start_kazoo(ens.hosts)
    kazoo_clients.append(a)
    a.ensure_path("/w5/a")
    a.create("/eph5", b"", ephemeral=True)
    writers = [Writer(a, "/w5/a")]
    writers[0].start()
    try:
        _wait_acks(writers, 0, what="before any kill")
        first = ens.leader()
        killed_at = time.monotonic()
        first.kill()
        _wait_acks(writers, killed_at, what="after the leader was killed (4 of 5 left)")
        print(f"\n5 members, leader {first.sid} killed: first write after {_failover_s(writers, killed_at):.3f}s")
        leader = ens.leader()
        second = next(m for m in ens.members if m.alive and m is not leader)
        killed_at = time.monotonic()
        second.kill()
        _wait_acks(writers, killed_at, what="after a follower was killed too (3 of 5 left)")
        survivors = [m for m in ens.members if m.alive]
        assert len(survivors) == 3
        assert sorted(m.mode() for m in survivors) == ["follower", "follower", "leader"]
    finally:
        writers[0].stop()
    assert writers[0].error is None, repr(writers[0].error)
    _check_everywhere(ens, writers, survivors)

    # Both come back and catch up.
    first.start()
    second.start()
    ens.wait_stable()
    ens.wait_converged()
    _check_everywhere(ens, writers, ens.members)
    assert not session_lost(a)
    for m in ens.members:
        with MemberView(m) as v:
            assert v.synced().ephemeral_owner("/eph5") == a.client_id[0]


def test_member_far_behind_catches_up_with_a_snapshot_and_keeps_it(make_ensemble, kazoo_clients):
    """More than the leader's DIFF window (500 entries) behind: the member gets a SNAP, installs it, and
    after another kill -9 recovers from it and rejoins with the same state."""
    ens = make_ensemble(voters=3)
    leader = ens.wait_stable()
    client = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(client)
    client.ensure_path("/far")
    behind = next(m for m in ens.members if m is not leader)
    behind.kill()
    pending = [client.create_async(f"/far/n{i:04d}", b"x" * 50) for i in range(800)]
    for p in pending:
        p.get(timeout=WAIT)
    behind.start()
    ens.wait_stable()
    zxid = ens.wait_converged()
    assert "event=snapshot_installed" in behind.log(10**6), "expected a SNAP for a member 800 entries behind"
    with MemberView(behind) as v:
        assert len(v.synced().children("/far")) == 800

    # The installed snapshot is on disk: after another kill -9 it recovers and rejoins at the same state.
    behind.kill()
    client.set("/far", b"after")
    behind.start()
    ens.wait_stable()
    assert ens.wait_converged() > zxid
    with MemberView(behind) as v:
        assert len(v.synced().children("/far")) == 800
        assert v.client.get("/far")[0] == b"after"


def test_a_live_session_can_move_to_a_member_that_caught_up_with_a_snapshot(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3)
    leader = ens.wait_stable()
    client = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(client)
    client.ensure_path("/snapsess")
    behind = next(m for m in ens.members if m is not leader)
    behind.kill()
    pending = [client.create_async(f"/snapsess/n{i:04d}", b"x") for i in range(800)]
    for p in pending:
        p.get(timeout=WAIT)
    behind.start()
    ens.wait_stable()
    ens.wait_converged()
    assert "event=snapshot_installed" in behind.log(10**6)
    # The session is alive (its kazoo client pings the leader); a client moving to `behind` must keep it.
    session_id, passwd = client.client_id
    raw = RawClient("127.0.0.1", behind.client_port)
    try:
        resp = raw.connect(timeout_ms=6000, session_id=session_id, passwd=passwd, last_zxid=0)
    finally:
        raw.close()
    assert resp.session_id == session_id and resp.timeout > 0, \
        f"member {behind.sid} refused live session 0x{session_id:x} after a SNAP: {resp}"
