"""reconfig that takes effect, for members already in everyone's server list (issue 11): a participant
becomes an observer and back, a follower is removed, each committed by a quorum of the old and the new
voters; every member activates the new membership (its /zookeeper/config, the dynamic file zoo.cfg points
to), a watch on /zookeeper/config fires, writes go on, and a member restarted afterwards comes back from
its rewritten files with the new membership."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from kazoo.exceptions import KazooException

from tests.support.net import HOST, four_letter, free_ports
from tests.support.wait import wait_until

from .clients import MemberView, Writer, start_kazoo
from .cluster import WAIT, Ensemble, Member

pytestmark = pytest.mark.slow

CFG = {"reconfigEnabled": "true", "skipACL": "yes"}


def line(m: Member, role: str = "participant") -> str:
    return f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port}:{role};{HOST}:{m.client_port}"


def roles(data: bytes) -> dict[int, str]:
    return {int(sid): role for sid, role in re.findall(r"^server\.(\d+)=[^:]+:\d+:\d+:(\w+)", data.decode(), re.M)}


def dynamic_roles(m: Member) -> dict[int, str]:
    """The membership in the dynamic file this member's zoo.cfg points to now."""
    cfg = dict(ln.split("=", 1) for ln in m.cfg_path.read_text().splitlines() if "=" in ln)
    return roles(Path(cfg["dynamicConfigFile"]).read_bytes())


def agreed_config(ens: Ensemble, members: list[Member], kazoo_clients: list) -> bytes:
    """Every member's /zookeeper/config (after a sync), dynamic file and `conf` say the same; returns the data."""
    def same() -> bytes | None:
        seen = set()
        for m in members:
            zk = clients.get(m.sid)
            if zk is None:
                zk = clients[m.sid] = start_kazoo(m.hostport)
                kazoo_clients.append(zk)
            zk.sync("/zookeeper/config")
            seen.add(zk.get("/zookeeper/config")[0])
        return seen.pop() if len(seen) == 1 else None
    clients: dict[int, object] = {}
    data = wait_until(same, WAIT, "members agree on /zookeeper/config")
    for m in members:
        wait_until(lambda m=m: dynamic_roles(m) == roles(data), WAIT, f"member {m.sid}'s dynamic file")
        if m.sid in roles(data):  # `conf` prints the membership as /zookeeper/config holds it
            assert m.four_letter("conf").endswith("membership: \n" + data.decode() + "\n"), m
    return data


def test_observer_and_back_then_remove_a_follower(make_ensemble, kazoo_clients):
    ens = make_ensemble(extra_cfg=CFG)
    leader = ens.leader()
    a, b = (m for m in ens.members if m is not leader)
    zk = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(zk)
    fired = threading.Event()
    zk.get("/zookeeper/config", watch=lambda event: fired.set())
    zk.create("/before", b"1")

    data, stat = zk.reconfig(joining=line(b, "observer"), leaving=None, new_members=None)
    assert roles(data) == {leader.sid: "participant", a.sid: "participant", b.sid: "observer"}
    assert int(data.decode().rsplit("version=", 1)[1], 16) == stat.mzxid
    assert fired.wait(WAIT)
    b.observer = True
    ens.wait_stable()
    wait_until(lambda: b.mode() == "observer", WAIT, "the member to observe")
    assert agreed_config(ens, ens.members, kazoo_clients) == data
    zk.create("/observed", b"2")
    with pytest.raises(KazooException):  # it would leave one voter: Apache's BadArguments
        zk.reconfig(joining=None, leaving=str(a.sid), new_members=None)

    # Back to a participant, on another client port: the member listens there (ServerCnxnFactory.reconfigure)
    old_port, b.client_port = b.client_port, free_ports(1)[0]
    data, _ = zk.reconfig(joining=line(b), leaving=None, new_members=None)
    assert roles(data) == {m.sid: "participant" for m in ens.members}
    assert f";{HOST}:{b.client_port}" in data.decode()
    b.port = b.client_port
    wait_until(lambda: b.four_letter("ruok") == "imok", WAIT, "the member on its new client port")
    with pytest.raises(OSError):
        four_letter(HOST, old_port, "ruok", timeout=2)
    b.observer = False
    ens.wait_stable()
    wait_until(lambda: b.mode() == "follower", WAIT, "the member to follow again")
    assert agreed_config(ens, ens.members, kazoo_clients) == data

    data, _ = zk.reconfig(joining=None, leaving=str(a.sid), new_members=None)
    assert roles(data) == {leader.sid: "participant", b.sid: "participant"}
    assert agreed_config(ens, [leader, b], kazoo_clients) == data
    # Apache: a removed server is not shut down; it follows without a vote (its dynamic file says so)
    assert agreed_config(ens, [a], kazoo_clients) == data and a.mode() == "follower"
    zk.create("/after", b"3")
    a.kill()

    # A member restarted afterwards reads the rewritten zoo.cfg and dynamic file.
    b.rewrite_config = False
    b.restart()
    ens.wait_stable(members=[leader, b])
    assert dynamic_roles(b) == roles(data)
    zk_b = start_kazoo(b.hostport)
    kazoo_clients.append(zk_b)
    zk_b.sync("/")
    assert zk_b.get("/zookeeper/config")[0] == data
    assert {p for p in ("/before", "/observed", "/after") if zk_b.exists(p)} == {"/before", "/observed", "/after"}


def _wait_acked_after(writer: Writer, t: float, what: str) -> None:
    wait_until(lambda: writer.acked_after(t) >= 3 or writer.error is not None, WAIT, f"writes acknowledged {what}")
    assert writer.error is None, writer.error


def test_the_leader_removed_added_back_and_killed_under_writes(make_ensemble, kazoo_clients):
    """Removing the leader: it commits the reconfig with a quorum of the old and the new voters, steps
    down, and the new voters elect among themselves (corral's handover is this election; Apache names a
    designated leader); it follows them without a vote until it is added back. Then kill -9 of the
    leader: no acknowledged write is lost on any member."""
    ens = make_ensemble(extra_cfg=CFG)
    old = ens.leader()
    a, b = (m for m in ens.members if m is not old)
    writer_client = start_kazoo(ens.hosts)
    kazoo_clients.append(writer_client)
    writer_client.create("/w")
    writer = Writer(writer_client, "/w")
    writer.start()
    try:
        _wait_acked_after(writer, 0, "before the reconfig")
        zk = start_kazoo(a.hostport, randomize_hosts=False)
        kazoo_clients.append(zk)
        removed_at = time.monotonic()
        data, _ = zk.reconfig(joining=None, leaving=str(old.sid), new_members=None)
        assert roles(data) == {a.sid: "participant", b.sid: "participant"}
        new = wait_until(lambda: next((m for m in (a, b) if m.mode() == "leader"), None), WAIT, "a new leader")
        wait_until(lambda: old.mode() == "follower", WAIT, "the old leader to follow without a vote")
        _wait_acked_after(writer, removed_at, "after the leader was removed")
        assert agreed_config(ens, [a, b], kazoo_clients) == data

        data, _ = zk.reconfig(joining=line(old), leaving=None, new_members=None)
        assert roles(data) == {m.sid: "participant" for m in ens.members}
        wait_until(lambda: old.mode() == "follower", WAIT, "the old leader to follow with a vote")
        assert agreed_config(ens, ens.members, kazoo_clients) == data

        killed_at = time.monotonic()
        new.kill()
        _wait_acked_after(writer, killed_at, "after the new leader was killed")
    finally:
        writer.stop()
    assert writer.error is None, writer.error
    survivors = [m for m in ens.members if m.alive]
    ens.wait_converged(members=survivors)
    for m in survivors:
        with MemberView(m) as view:
            assert {f"/w/{c}" for c in view.synced().children("/w")} >= writer.paths(), m


def _join(ens: Ensemble, sid: int) -> Member:
    """Apache's procedure: the joiner starts with the current members plus itself as a participant."""
    joiner = Member(ens, sid, *free_ports(3), observer=False)
    ens.members.append(joiner)
    joiner.start()
    return joiner


def test_grow_3_to_5_and_back_to_3_under_writes(make_ensemble, kazoo_clients):
    """The acceptance test of issue 11: 3 -> 4 -> 5 by incremental reconfigs (each joiner follows without a
    vote first, as the leader's NewConfigNoQuorum check wants it synced), a joiner turned observer and
    back, then a bulk reconfig (`newMembers`) to three members that leaves the leader out, all under
    continuous writes; then kill -9 of the new leader and a restart of the killed member from its
    rewritten files. No acknowledged write is lost, every member agrees on /zookeeper/config and its
    dynamic file, and the joiners vote (the last original member killed, writes go on)."""
    ens = make_ensemble(extra_cfg=CFG)
    writer_client = start_kazoo(ens.hosts)
    kazoo_clients.append(writer_client)
    writer_client.create("/w")
    writer = Writer(writer_client, "/w")
    writers = [writer]
    writer.start()
    try:
        _wait_acked_after(writer, 0, "before the reconfigs")
        leader = ens.leader()
        admin = start_kazoo(leader.hostport, randomize_hosts=False)
        kazoo_clients.append(admin)
        for sid in (4, 5):
            joiner = _join(ens, sid)
            wait_until(lambda j=joiner: j.mode() == "follower", WAIT, f"joiner {sid} to follow without a vote")
            data, _ = admin.reconfig(joining=line(joiner), leaving=None, new_members=None)
            assert roles(data) == {m.sid: "participant" for m in ens.members}
            assert agreed_config(ens, ens.members, kazoo_clients) == data
            _wait_acked_after(writer, time.monotonic(), f"after server {sid} joined")
        for role, mode in (("observer", "observer"), ("participant", "follower")):
            data, _ = admin.reconfig(joining=line(ens[4], role), leaving=None, new_members=None)
            assert roles(data)[4] == role
            wait_until(lambda mode=mode: ens[4].mode() == mode, WAIT, f"server 4 to be {mode}")
            _wait_acked_after(writer, time.monotonic(), f"with server 4 {mode}")
        keep = [next(m for m in ens.members if m.sid <= 3 and m is not leader), ens[4], ens[5]]
        bulk = start_kazoo(keep[0].hostport, randomize_hosts=False)
        kazoo_clients.append(bulk)
        data, _ = bulk.reconfig(joining=None, leaving=None, new_members=",".join(line(m) for m in keep))
        assert roles(data) == {m.sid: "participant" for m in keep}
        assert agreed_config(ens, ens.members, kazoo_clients) == data
        new_leader = wait_until(lambda: next((m for m in keep if m.mode() == "leader"), None), WAIT,
                                "a leader among the new voters")
        _wait_acked_after(writer, time.monotonic(), "after the leader was removed")
        for m in ens.members:
            if m not in keep:
                m.kill()  # they follow without a vote: killing them leaves a quorum of `keep`
        # The first writer's kazoo knows only the original members: go on with one that knows `keep`.
        writer.stop()
        kept_client = start_kazoo(",".join(m.hostport for m in keep))
        kazoo_clients.append(kept_client)
        kept_client.create("/w2")
        writers.append(Writer(kept_client, "/w2"))
        writers[-1].start()
        _wait_acked_after(writers[-1], 0, "on the shrunk ensemble")
        new_leader.kill()
        _wait_acked_after(writers[-1], time.monotonic(), "after kill -9 of the new leader")
        new_leader.rewrite_config = False
        new_leader.start()
        ens.wait_stable(members=keep)
        assert dynamic_roles(new_leader) == roles(data)  # it came back from its rewritten files
        if keep[0] is not new_leader:
            keep[0].kill()  # the last original member: the two joiners elect and commit alone
            _wait_acked_after(writers[-1], time.monotonic(), "with only the joiners left")
            assert ens.leader().sid in (4, 5)
    finally:
        for w in writers:
            w.stop()
    assert all(w.error is None for w in writers), [w.error for w in writers]
    survivors = [m for m in ens.members if m.alive]
    ens.wait_converged(members=survivors)
    assert agreed_config(ens, survivors, kazoo_clients) == data
    for m in survivors:
        with MemberView(m) as view:
            view.synced()
            for w in writers:
                assert {f"{w.prefix}/{c}" for c in view.children(w.prefix)} >= w.paths(), m
