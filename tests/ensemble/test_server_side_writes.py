"""Writes a server makes on its own (expiring sessions, reaping containers) must be replicated like client
writes: proposed by the leader, committed by the quorum, applied by every member at the same zxid."""

from __future__ import annotations

import time

from tests.support.rawclient import Op, RawClient
from tests.support.wait import wait_until

from .clients import MemberView, start_kazoo
from .cluster import WAIT


def test_an_expired_session_is_closed_once_for_everybody(make_ensemble):
    ens = make_ensemble(voters=3)
    follower = next(m for m in ens.members if m.mode() == "follower")
    c = RawClient("127.0.0.1", follower.client_port)
    c.connect(timeout_ms=1000)
    assert c.create("/gone", b"", flags=1).ok  # ephemeral
    c.close()  # no closeSession: the leader expires it
    for m in ens.members:
        with MemberView(m) as v:
            wait_until(lambda v=v: v.synced().client.exists("/gone") is None, WAIT, f"/gone expired on {m.sid}")
    z = ens.wait_converged()
    assert {m.zxid() for m in ens.members} == {z}


def test_container_reaping_goes_through_the_quorum(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=3, extra_cfg={"znode.container.checkIntervalMs": "300"})
    leader = ens.wait_stable()
    c = RawClient("127.0.0.1", leader.client_port)
    try:
        c.connect()
        assert c.create("/box", b"", opcode=Op.CREATE_CONTAINER).ok
        assert c.create("/box/x", b"").ok
        assert c.delete("/box/x").ok
    finally:
        c.close()
    for m in ens.members:
        with MemberView(m) as v:
            wait_until(lambda v=v: v.synced().client.exists("/box") is None, WAIT, f"/box reaped on {m.sid}")
    client = start_kazoo(ens.hosts)
    kazoo_clients.append(client)
    client.create("/after-reaping", b"")
    client.set("/after-reaping", b"1")
    for m in ens.members:
        with MemberView(m) as v:
            v.synced()
    try:
        ens.wait_converged(timeout=15)
    except TimeoutError:
        raise AssertionError(f"members applied different histories: last zxids "
                             f"{ {m.sid: hex(m.zxid()) for m in ens.members} }") from None

    # Every member's log must still be a valid history: all of them restart after kill -9.
    for m in ens.members:
        m.kill()
    for m in ens.members:
        m.start()
    deadline = time.monotonic() + WAIT
    while not all(m.serving() for m in ens.members):
        dead = [m for m in ens.members if not m.alive]
        assert not dead, "\n".join(f"member {m.sid} exited with {m.proc.returncode}: {m.log(600)}" for m in dead)
        assert time.monotonic() < deadline, f"members not serving after restart: {ens.modes()}"
        time.sleep(0.1)
    client.set("/after-reaping", b"2")
    ens.wait_converged()
