"""ZooKeeper's rule: a member refuses a client that has seen a newer zxid than it has, so the client moves on.

Made deterministic with relays on the peer connections: holding the leader<->F link makes F lag while
it still serves (it only gives up on the leader after syncLimit, set long here), so a write committed by
the leader and the other follower is certainly not on F when the client arrives.
"""

from __future__ import annotations

import time

import pytest

from tests.support.rawclient import ConnectionClosed, RawClient
from tests.support.wait import wait_until

from .clients import start_kazoo
from .cluster import WAIT, Member


def _connect(member: Member, last_zxid: int) -> int:
    """Session id of a new raw session on `member` with this lastZxidSeen; ConnectionClosed if refused."""
    c = RawClient("127.0.0.1", member.client_port, io_timeout=10.0)
    try:
        resp = c.connect(timeout_ms=2000, last_zxid=last_zxid)
        assert resp.session_id != 0 and resp.timeout > 0, resp
        return resp.session_id
    finally:
        c.close()


def _refused(member: Member, last_zxid: int) -> bool:
    try:
        _connect(member, last_zxid)
    except ConnectionClosed:
        return True
    return False


def test_lagging_follower_refuses_a_client_ahead_of_it(make_ensemble, kazoo_clients):
    # syncLimit 20 x 300 ms: a follower whose leader link is held keeps serving for ~6 s.
    ens = make_ensemble(voters=3, relay=True, sync_limit=20)
    leader = ens.wait_stable()
    lagging, other = [m for m in ens.voters if m is not leader]
    client = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(client)
    client.create("/lag", b"0")
    before = ens.wait_converged()
    assert not _refused(lagging, before), "a member refused a client that has seen exactly its zxid"

    link = ens.relay(leader.sid, lagging.sid)
    link.hold()
    try:
        z = client.set("/lag", b"1").mzxid  # committed by the leader and `other`
        assert lagging.mode() == "follower" and lagging.zxid() < z, "the held follower should lag and serve"
        assert _refused(lagging, z), "a lagging member accepted a client that has seen a newer zxid"
        assert "refusing session: client has seen zxid" in lagging.log(20000)
        assert lagging.mode() == "follower"  # refused for the zxid, not because it stopped serving
        # (A client it would accept cannot be shown while the link is held: creating a session is a write.)
        assert not _refused(other, z), "the client must be able to move on to an up-to-date member"
    finally:
        link.release()
    wait_until(lambda: lagging.zxid() >= z, WAIT, "the lagging follower catches up once the link flows")
    assert not _refused(lagging, z)


def test_restarted_member_serves_nobody_until_synced(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3, relay=True)
    leader = ens.wait_stable()
    member = next(m for m in ens.voters if m is not leader)
    client = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(client)
    client.create("/restart", b"0")

    member.kill()
    link = ens.relay(leader.sid, member.sid)
    link.hold()
    try:
        for i in range(50):  # the quorum goes on without it
            client.create(f"/restart/n{i}", b"x")
        z = client.set("/restart", b"1").mzxid
        member.start()
        wait_until(lambda: member.four_letter("ruok", timeout=1.0) == "imok", WAIT, "restarted member answers ruok")
        # It can reach the other follower but not the leader: it must not serve, whatever the client saw.
        for _ in range(10):
            assert member.mode() == "not serving", member.srvr()
            assert _refused(member, 0)
            assert _refused(member, z)
    finally:
        link.release()
    wait_until(lambda: member.serving() and member.zxid() >= z, WAIT, "restarted member synced")
    assert not _refused(member, z)
    with pytest.raises(ConnectionClosed):
        _connect(member, z + 1_000_000)  # nobody has that zxid


def test_reads_are_local_and_sync_catches_the_member_up(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3, relay=True, sync_limit=20)
    leader = ens.wait_stable()
    lagging = next(m for m in ens.voters if m is not leader)
    writer = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(writer)
    reader = start_kazoo(lagging.hostport, randomize_hosts=False)
    kazoo_clients.append(reader)
    writer.create("/synced", b"old")
    reader.sync("/synced")
    assert reader.get("/synced")[0] == b"old"

    link = ens.relay(leader.sid, lagging.sid)
    link.hold()
    try:
        writer.set("/synced", b"new")
        assert reader.get("/synced")[0] == b"old"  # a read is served locally: it may be stale
        barrier = reader.sync_async("/synced")
        after = reader.get_async("/synced")  # ordered after the sync on this session
        time.sleep(0.5)
        assert not barrier.ready(), "sync returned while the member could not hear from the leader"
        assert not after.ready()
    finally:
        link.release()
    barrier.get(timeout=WAIT)
    assert after.get(timeout=WAIT)[0] == b"new"
