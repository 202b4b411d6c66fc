"""Read-only mode and local sessions on real ensembles, with kazoo as the client.

Read-only (`readonlymode.enabled=true`): one member of three is cut off from its quorum by killing the
other two; after Apache's grace (max(2000 ms, tickTime)) it serves read-only: a `read_only=True` kazoo
client keeps reading there and gets NotReadOnlyCallError on writes, a client without it is refused,
`isro`/`srvr`/`mntr` say so; once the other two are back the member leaves read-only mode, closing
its connections, and the kazoo client finds a read-write member by itself and writes again. A member
cut off by the proxies (the majority keeps serving) does the same and rejoins when they heal.

Local sessions (`localSessionsEnabled=true`): many clients connect to followers and read without a
single createSession transaction reaching the leader's log; an ephemeral create upgrades its session
(one createSession, the ephemeral owned by that session id), and closing that session removes the
ephemeral; a local session resumes only on its own member and expires there. Without
`localSessionsUpgradingEnabled` the ephemeral create fails; that scenario runs against Apache
ZooKeeper 3.8 and corral with the same body.
"""

from __future__ import annotations

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import EphemeralOnLocalSessionError, NotReadOnlyCallError
from kazoo.handlers.threading import KazooTimeoutError

from corral.server.sessions import session_password
from tests.admin.support import command as admin_command
from tests.durability.support import corral_cli, logs_of
from tests.support.apache_ensemble import ApacheEnsemble, ApacheMember
from tests.support.net import HOST, free_port
from tests.support.rawclient import RawClient, SessionRefused
from tests.support.wait import wait_until

from .clients import close_kazoo, session_lost, start_kazoo
from .cluster import WAIT, Ensemble, Member, parse_mntr

pytestmark = pytest.mark.slow

LOCAL = {"localSessionsEnabled": "true", "localSessionsUpgradingEnabled": "true"}
CLIENTS = 50


def create_sessions_logged(member: Member | ApacheMember) -> int:
    """createSession transactions in the member's transaction log (`corral log dump`)."""
    logs = logs_of(member.data_dir)
    if not logs:
        return 0
    r = corral_cli("log", "dump", *logs)
    assert r.returncode == 0, r.stderr
    return sum(1 for line in r.stdout.splitlines() if " createSession " in f"{line} ")


def _isro(member: Member) -> str:
    try:
        return member.four_letter("isro", timeout=1.0)
    except OSError:
        return ""


def test_read_only_member_serves_kazoo_reads_until_the_quorum_returns(make_ensemble, kazoo_clients) -> None:
    ens: Ensemble = make_ensemble(extra_cfg={"readonlymode.enabled": "true"}, start=False)
    survivor, *others = ens.members
    admin = free_port()
    survivor.extra_cfg.update({"admin.enableServer": "true", "admin.serverAddress": HOST,
                               "admin.serverPort": str(admin)})
    ens.start()
    assert admin_command(admin, "is_read_only")["read_only"] is False
    setup = start_kazoo(ens.hosts)
    kazoo_clients.append(setup)
    setup.create("/ro", b"before")
    close_kazoo(setup)
    for m in others:
        m.kill()
    wait_until(lambda: _isro(survivor) == "ro", WAIT, "the survivor to serve read-only")
    assert survivor.srvr()["Mode"] == "read-only"
    assert survivor.mntr()["zk_server_state"] == "read-only"
    assert admin_command(admin, "is_read_only")["read_only"] is True

    ro = KazooClient(hosts=ens.hosts, read_only=True, timeout=6.0)
    kazoo_clients.append(ro)
    ro.start(timeout=WAIT)
    assert ro.client_state == "CONNECTED_RO"
    data, stat = ro.get("/ro")
    assert (data, stat.version, ro.exists("/ro").numChildren) == (b"before", 0, 0)
    tx = ro.transaction()
    tx.create("/in-multi", b"")
    for write in (lambda: ro.delete("/ro"), lambda: ro.sync("/"), tx.commit):  # writes, sync and multi
        with pytest.raises(NotReadOnlyCallError):
            write()
    assert int(survivor.mntr()["zk_local_sessions"]) == 1  # a read-only member's sessions are its own

    plain = KazooClient(hosts=survivor.hosts, timeout=6.0)
    kazoo_clients.append(plain)
    with pytest.raises(KazooTimeoutError):  # no read-write member, and it did not ask for read-only
        plain.start(timeout=2.0)
    close_kazoo(plain)
    assert "refusing session request for not-read-only client" in survivor.log()

    for m in others:
        m.start()
    wait_until(lambda: ro.client_state == "CONNECTED", WAIT, "the kazoo client to reach a read-write member")
    ro.set("/ro", b"after")
    ro.create("/write", b"x")
    assert ro.get("/ro")[0] == b"after"
    assert _isro(survivor) in ("rw", "null")  # back in the quorum (or still syncing with it)
    assert "event=read_only_ended" in survivor.log()


def test_local_sessions_read_without_leader_traffic_and_upgrade_on_ephemeral(make_ensemble, kazoo_clients) -> None:
    ens: Ensemble = make_ensemble(extra_cfg=LOCAL)
    leader = ens.leader()
    followers = [m for m in ens.members if m is not leader]
    before = create_sessions_logged(leader)
    global_before = int(leader.mntr()["zk_global_sessions"])

    clients = []
    for i in range(CLIENTS):
        c = start_kazoo(followers[i % 2].hosts)
        kazoo_clients.append(c)
        clients.append(c)
    for c in clients:
        assert c.get("/zookeeper")[1].numChildren >= 1
    assert sum(int(m.mntr()["zk_local_sessions"]) for m in followers) == CLIENTS
    assert int(leader.mntr()["zk_global_sessions"]) == global_before
    assert len({c.client_id[0] for c in clients}) == CLIENTS  # one id generator: no two sessions share one

    writer = clients[0]
    writer.create("/plain", b"from a local session")  # a write from a local session goes through the leader
    assert create_sessions_logged(leader) == before  # not one createSession for the readers (nor the write)
    sid = writer.client_id[0]
    writer.create("/eph", b"", ephemeral=True)  # upgrades the session first
    assert writer.exists("/eph").ephemeralOwner == sid
    assert int(leader.mntr()["zk_global_sessions"]) == global_before + 1
    assert sum(int(m.mntr()["zk_local_sessions"]) for m in followers) == CLIENTS - 1

    watcher = clients[1]
    assert watcher.exists("/eph") is not None
    close_kazoo(writer)
    wait_until(lambda: watcher.exists("/eph") is None, WAIT, "the upgraded session's ephemeral to go")
    wait_until(lambda: int(leader.mntr()["zk_global_sessions"]) == global_before, WAIT,
               "the upgraded session's close to commit")

    # The leader's own local sessions write through its own write path, and upgrade the same way.
    on_leader = start_kazoo(leader.hosts)
    kazoo_clients.append(on_leader)
    on_leader.create("/from-leader", b"x")
    assert int(leader.mntr()["zk_local_sessions"]) == 1
    on_leader.create("/eph-leader", b"", ephemeral=True)
    assert on_leader.exists("/eph-leader").ephemeralOwner == on_leader.client_id[0]
    assert int(leader.mntr()["zk_local_sessions"]) == 0
    assert create_sessions_logged(leader) == before + 2  # the two upgrades, nothing else


def test_local_session_stays_on_its_member_and_expires_there(make_ensemble, kazoo_clients) -> None:
    """A local session resumes only on its own member (elsewhere it is unknown: expired, as in Apache),
    once its client is gone for its timeout it expires there without any transaction, and it is lost
    when its member loses its leader (the leader paused)."""
    ens: Ensemble = make_ensemble(extra_cfg=LOCAL)
    leader = ens.leader()
    home, other = [m for m in ens.members if m is not leader]
    before = create_sessions_logged(leader)
    raw = RawClient(home.host, home.client_port, io_timeout=3.0)
    sid = raw.connect_session(timeout_ms=1000).session_id
    raw.close()
    assert int(home.mntr()["zk_local_sessions"]) == 1
    elsewhere = RawClient(other.host, other.client_port, io_timeout=3.0)
    with pytest.raises(SessionRefused):
        elsewhere.connect_session(timeout_ms=1000, session_id=sid, passwd=session_password(sid))
    again = RawClient(home.host, home.client_port, io_timeout=3.0)
    assert again.connect_session(timeout_ms=1000, session_id=sid, passwd=session_password(sid)).session_id == sid
    again.close()
    wait_until(lambda: home.mntr()["zk_local_sessions"] == "0", WAIT, "the local session to expire")
    late = RawClient(home.host, home.client_port, io_timeout=3.0)
    with pytest.raises(SessionRefused):
        late.connect_session(timeout_ms=1000, session_id=sid, passwd=session_password(sid))
    assert "local=true" in home.log() and f"session=0x{sid:x}" in home.log()

    # A member that loses its leader (SIGSTOP) stops serving and its local sessions die with it: the
    # client is told its session expired and kazoo opens a new one, local again.
    zk = start_kazoo(home.hosts)
    kazoo_clients.append(zk)
    first = zk.client_id[0]
    leader.pause()
    try:
        wait_until(lambda: session_lost(zk), WAIT, "the local session to be lost with its member's leader")
    finally:
        leader.resume()
    wait_until(lambda: zk.connected and zk.client_id[0] != first, WAIT, "kazoo to open a new session")
    assert zk.get("/zookeeper")[1].numChildren >= 1
    ens.wait_stable()
    assert home.mntr()["zk_local_sessions"] == "1"
    assert create_sessions_logged(ens.leader()) == before


def test_read_only_member_behind_a_partition_rejoins(make_ensemble, kazoo_clients) -> None:
    """The proxies cut member 1 off while 2 and 3 keep the quorum: 1 turns read-only and serves its
    (now stale) tree; when the partition heals it rejoins, closes its read-only connections, and the
    client, which only knows member 1, gets a read-write session there with the majority's writes."""
    ens: Ensemble = make_ensemble(relay=True, extra_cfg={"readonlymode.enabled": "true"})
    cut, *majority = ens.members
    writer = start_kazoo(",".join(m.hosts for m in majority))
    kazoo_clients.append(writer)
    writer.create("/p", b"1")
    ens.wait_converged()
    for m in majority:
        ens.relay(cut.sid, m.sid).hold(refuse_new=True)
    wait_until(lambda: _isro(cut) == "ro", WAIT, "the cut-off member to serve read-only")
    ro = KazooClient(hosts=cut.hosts, read_only=True, timeout=6.0)
    kazoo_clients.append(ro)
    ro.start(timeout=WAIT)
    assert ro.client_state == "CONNECTED_RO" and ro.get("/p")[0] == b"1"
    ro_session = ro.client_id[0]
    writer.set("/p", b"2")  # the majority still takes writes
    assert ro.get("/p")[0] == b"1"  # the read-only member does not see them
    with pytest.raises(NotReadOnlyCallError):
        ro.set("/p", b"3")
    for m in majority:
        ens.relay(cut.sid, m.sid).release()
    wait_until(lambda: ro.client_state == "CONNECTED", WAIT, "the client to get a read-write session")
    assert ro.client_id[0] != ro_session
    assert ro.get("/p")[0] == b"2"
    ro.set("/p", b"3")
    assert writer.get("/p")[0] == b"3"


@pytest.fixture(params=[pytest.param("apache", marks=pytest.mark.compat), "corral"])
def no_upgrade_ensemble(request, tmp_path):
    cfg = {"localSessionsEnabled": "true"}
    ens: ApacheEnsemble | Ensemble
    if request.param == "apache":
        ens = ApacheEnsemble(tmp_path / "apache", extra_cfg=cfg)
    else:
        ens = Ensemble(tmp_path / "corral", extra_cfg=cfg)
    try:
        ens.start()
        yield ens
    finally:
        ens.close()


def test_ephemeral_from_a_local_session_without_upgrading(no_upgrade_ensemble, kazoo_clients) -> None:
    """Apache 3.8 answers EphemeralOnLocalSession (-120) on the member holding the session, but a multi
    holding an ephemeral create gets the leader's verdict (SessionExpired for that op); the session
    stays local (mntr), persistent writes and reads work, and no other member resumes it."""
    ens = no_upgrade_ensemble
    members = ens.members
    leader = next(m for m in members if m.mode() == "leader")
    follower = next(m for m in members if m is not leader)
    global_before = int(parse_mntr(leader.four_letter("mntr"))["zk_global_sessions"])
    zk = start_kazoo(follower.hosts)
    kazoo_clients.append(zk)
    zk.create("/p", b"v")
    with pytest.raises(EphemeralOnLocalSessionError):
        zk.create("/p/e", b"", ephemeral=True)
    with pytest.raises(EphemeralOnLocalSessionError):
        zk.create("/p/s", b"", ephemeral=True, sequence=True)
    tx = zk.transaction()
    tx.create("/p/m", b"")
    tx.create("/p/me", b"", ephemeral=True)
    results = tx.commit()
    assert [type(r).__name__ for r in results] == ["RolledBackError", "SessionExpiredError"], results
    assert zk.get_children("/p") == []
    assert zk.get("/p")[0] == b"v"
    mntr = parse_mntr(follower.four_letter("mntr"))
    assert mntr["zk_local_sessions"] == "1"
    assert int(parse_mntr(leader.four_letter("mntr"))["zk_global_sessions"]) == global_before
    assert zk.state == KazooState.CONNECTED

    # A local session is unknown to the other members: resuming it elsewhere is refused as expired.
    sid = zk.client_id[0]
    elsewhere = next(m for m in members if m is not follower)
    raw = RawClient(elsewhere.host, elsewhere.port, io_timeout=5.0)
    with pytest.raises(SessionRefused):
        raw.connect_session(timeout_ms=6000, session_id=sid, passwd=session_password(sid))
