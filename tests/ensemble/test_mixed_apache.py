"""A first mixed ensemble: two corral members and Apache ZooKeeper 3.8 (the Debian package) as the third.

On Apache's peer protocol the Apache member elects with the corral members, joins the corral leader
(DIFF from its log), serves the same tree and forwards its clients' writes; when the corral leader is
killed with kill -9, the survivors (one corral member, the Apache member) elect a new leader among
themselves and keep every acknowledged write and the live sessions' ephemerals.

Then the killed corral member restarts more than Apache's committed log (500 txns) behind; whoever
leads, it catches up, and from an Apache leader (on-disk DIFF disabled) that is a SNAP: Apache's
database stream, read by corral.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import CREATOR_ALL_ACL, make_digest_acl_credential

from corral.server.sessions import session_password
from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApachePeer
from tests.support.net import HOST
from tests.support.rawclient import ConnectionClosed, RawClient
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo, tree_of
from .cluster import WAIT, Ensemble

pytestmark = pytest.mark.slow


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[tuple[Ensemble, ApachePeer]]:
    """Corral members 1 and 2 serving, and member 3 as an Apache server (not started yet)."""
    require_apache()
    ens = Ensemble(tmp_path / "mixed", voters=3, tick_time=500)
    three = ens[3]
    servers = [f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port};{HOST}:{m.client_port}" for m in ens.members]
    # No DIFF from its log files: a member behind by more than the committed log (500 txns) gets a SNAP.
    apache = ApachePeer(tmp_path / "apache3", 3, three.client_port, servers, tick_time=500,
                        jvm_props={"zookeeper.snapshotSizeFactor": "-1"})
    try:
        ens[1].start()
        ens[2].start()
        ens.wait_stable(members=[ens[1], ens[2]])
        yield ens, apache
    finally:
        apache.close()
        ens.close()


def test_an_apache_member_joins_a_corral_leader_and_the_two_kinds_fail_over(mixed, kazoo_clients):
    ens, apache = mixed
    leader = ens.leader()
    writer = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(writer)
    writer.ensure_path("/mixed")
    acked = [writer.create("/mixed/pre-", b"%d" % i, sequence=True) for i in range(20)]
    writer.create("/mixed/eph-corral", b"c", ephemeral=True)

    apache.start(wait=False)
    wait_until(lambda: apache.mode() == "follower", WAIT, "the Apache member following the corral leader")
    wait_until(lambda: int(leader.mntr().get("zk_synced_followers", "0")) == 2, WAIT,
               "the corral leader counting the Apache member as synced")

    # A session of the corral leader reconnects to the Apache member: Apache asks the leader (REVALIDATE).
    # Apache refuses a client that has seen a newer zxid than it has applied: wait until it has applied it.
    seen = writer.get("/mixed")[1].pzxid
    wait_until(lambda: apache.zxid() >= seen, WAIT, f"the Apache member applying 0x{seen:x}")
    moved = RawClient(HOST, apache.port, io_timeout=10.0)
    try:
        resp = moved.connect(timeout_ms=6000, session_id=writer.client_id[0], passwd=writer.client_id[1],
                             last_zxid=seen)
        assert resp.session_id == writer.client_id[0] and resp.timeout > 0, resp
    finally:
        moved.close()
    unknown = RawClient(HOST, apache.port, io_timeout=10.0)
    try:
        bogus = writer.client_id[0] + 12345  # its password is right: only the leader can say it is unknown
        resp = unknown.connect(timeout_ms=6000, session_id=bogus, passwd=session_password(bogus))
        assert resp.timeout == 0, f"an unknown session was accepted: {resp}"
    except ConnectionClosed:
        pass
    finally:
        unknown.close()
    assert apache.mode() == "follower", "the REVALIDATEs cost the Apache member its leader"

    on_apache = start_kazoo(apache.hosts, randomize_hosts=False)  # its writes are forwarded REQUESTs
    kazoo_clients.append(on_apache)
    acked += [on_apache.create("/mixed/apache-", b"a%d" % i, sequence=True) for i in range(10)]
    eph = on_apache.create("/mixed/eph-apache", b"a", ephemeral=True)
    assert writer.get(eph)[1].ephemeralOwner == on_apache.client_id[0]
    acked += [writer.create("/mixed/post-", b"p%d" % i, sequence=True) for i in range(10)]
    on_apache.sync("/")
    writer.sync("/")
    assert tree_of(on_apache) == tree_of(writer), "the Apache follower's tree differs from the corral leader's"
    close_kazoo(writer)  # its session (and /mixed/eph-corral) ends now, not by expiry during the checks below
    on_apache.sync("/")
    assert on_apache.exists("/mixed/eph-corral") is None

    leader.kill()  # kill -9: the corral follower and the Apache member elect a new leader between them
    survivor = next(m for m in (ens[1], ens[2]) if m is not leader)

    def settled() -> bool:
        modes = {survivor.mode(), apache.mode()}
        return modes in ({"leader", "follower"},)
    wait_until(settled, WAIT, "a new leader between the corral survivor and the Apache member")
    late = start_kazoo(f"{survivor.hostport},{apache.hosts}")
    kazoo_clients.append(late)
    acked.append(late.create("/mixed/after-", b"x", sequence=True))
    on_apache.sync("/")
    late.sync("/")
    for client in (on_apache, late):
        names = {f"/mixed/{c}" for c in client.get_children("/mixed")}
        assert set(acked) <= names, f"acknowledged writes lost: {sorted(set(acked) - names)}"
        assert client.exists(eph) is not None, "the Apache client's ephemeral went with the old leader"
    view = start_kazoo(survivor.hostport, randomize_hosts=False)
    kazoo_clients.append(view)
    view.sync("/")
    assert tree_of(view) == tree_of(on_apache), "the survivors' trees differ"

    # The killed corral member comes back far behind: whoever leads now, it catches up (from an Apache
    # leader with a SNAP: its database stream read by corral) and serves the same tree.
    pending = [late.create_async("/mixed/while-down-", b"w", sequence=True) for _ in range(520)]
    acked += [p.get(timeout=WAIT) for p in pending]
    leader.start()
    wait_until(lambda: leader.mode() in ("follower", "leader"), WAIT, "the restarted corral member serving")
    back = start_kazoo(leader.hostport, randomize_hosts=False)
    kazoo_clients.append(back)
    back.sync("/")
    names = {f"/mixed/{c}" for c in back.get_children("/mixed")}
    assert set(acked) <= names, f"the restarted member lacks acknowledged writes: {sorted(set(acked) - names)}"
    view.sync("/")
    assert tree_of(back) == tree_of(view), "the restarted member's tree differs"

    close_kazoo(on_apache)
    wait_until(lambda: view.exists(eph) is None, WAIT, "the ephemeral gone with its closed session")
    for m in (ens[1], ens[2]):
        text = m.log(400000)
        assert "peer_anomaly" not in text and "Traceback" not in text, f"member {m.sid}:\n{text[-4000:]}"


def test_a_corral_leader_reconfigures_an_apache_member(tmp_path, kazoo_clients):
    """reconfig across kinds: the corral leader commits a reconfig with COMMITANDACTIVATE to the Apache
    follower, which activates it as Apache does (turned into an observer, it rejoins as one via
    OBSERVERINFO; turned back, as a follower); both kinds then hold the same /zookeeper/config."""
    require_apache()
    cfg = {"reconfigEnabled": "true", "skipACL": "yes"}
    ens = Ensemble(tmp_path / "mixed", voters=3, tick_time=500, extra_cfg=cfg)
    three = ens[3]
    servers = [f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port};{HOST}:{m.client_port}" for m in ens.members]
    apache = ApachePeer(tmp_path / "apache3", 3, three.client_port, servers, tick_time=500,
                        jvm_props={"zookeeper.skipACL": "yes"}, extra_cfg={"reconfigEnabled": "true"})
    try:
        ens[1].start()
        ens[2].start()
        ens.wait_stable(members=[ens[1], ens[2]])
        leader = ens.leader()
        apache.start(wait=False)
        wait_until(lambda: apache.mode() == "follower", WAIT, "the Apache member following the corral leader")
        zk = start_kazoo(leader.hostport, randomize_hosts=False)
        kazoo_clients.append(zk)
        spec = f"{HOST}:{three.peer_port}:{three.election_port}:%s;{HOST}:{three.client_port}"
        for role, mode in (("observer", "observer"), ("participant", "follower")):
            data, _ = zk.reconfig(joining=f"server.3={spec % role}", leaving=None, new_members=None)
            assert f"server.3={spec % role}" in data.decode()
            wait_until(lambda mode=mode: apache.mode() == mode, WAIT, f"the Apache member to be {mode}")
            on_apache = start_kazoo(apache.hosts, randomize_hosts=False)
            kazoo_clients.append(on_apache)
            on_apache.sync("/zookeeper/config")
            assert on_apache.get("/zookeeper/config")[0] == data
            zk.create(f"/after-{role}", b"x")
            on_apache.sync("/")
            assert on_apache.exists(f"/after-{role}") is not None
    finally:
        apache.close()
        ens.close()


def test_auth_ids_travel_with_forwarded_writes_both_ways(mixed, kazoo_clients):
    """A digest-authenticated client writes through a corral follower and through the Apache follower:
    the leader sees its auth ids in the REQUEST packet (a creator-only ACL names it, reads need it)."""
    ens, apache = mixed
    leader = ens.leader()
    follower = next(m for m in (ens[1], ens[2]) if m is not leader)
    apache.start(wait=False)
    wait_until(lambda: apache.mode() == "follower", WAIT, "the Apache member following the corral leader")
    expected_id = make_digest_acl_credential("alice", "secret")
    for name, hosts in (("corral", follower.hostport), ("apache", apache.hosts)):
        zk = start_kazoo(hosts, randomize_hosts=False, auth_data=[("digest", "alice:secret")])
        kazoo_clients.append(zk)
        path = zk.create(f"/authed-{name}", b"private", acl=CREATOR_ALL_ACL)
        on_leader = start_kazoo(leader.hostport, randomize_hosts=False)
        kazoo_clients.append(on_leader)
        on_leader.sync(path)
        with pytest.raises(NoAuthError):  # getData and getACL need READ (ADMIN): only alice has it
            on_leader.get(path)
        acl = zk.get_acls(path)[0]  # the ACL the leader built from the REQUEST's auth ids
        assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("digest", expected_id, 31)], acl
        assert zk.get(path)[0] == b"private"
