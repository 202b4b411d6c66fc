"""Snapshot + log recovery gives back exactly the tree the server had; sessions survive a restart.

Why: recovery has three moving parts (the newest valid snapshot, the logs after it, the torn-tail cut),
and each can be subtly wrong in a way a few reads would not show — a pzxid, a cversion, an ACL, an
ephemeral owner. So a seeded random workload (creates incl. sequential and ephemeral, sets, deletes,
setACLs, multis incl. failing ones, sessions that expire) runs with a small snapCount, a *full* dump
(data, ACL, every Stat field) is taken right before `kill -9`, and compared with the dump after the
restart, with the tree recovered offline from a copy, and with a replay of every log from zxid 1 that
ignores snapshots entirely.
"""

from __future__ import annotations

import random
import time

import pytest
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from corral.persistence import recover
from tests.durability.support import (
    WAIT,
    close_kazoo,
    copy_server_dir,
    diff,
    dump_kazoo,
    dump_tree,
    kazoo_client,
    logs_of,
    new_server,
    replay_logs,
    snaps_of,
    srvr_zxid,
    start,
)
from tests.support.rawclient import CreateFlags, RawClient
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TICK = 200  # session timeouts 400 ms .. maxSessionTimeout, so expiries happen within the test
ROUNDS = 40
MIXED_ACL = [OPEN_ACL_UNSAFE[0], make_digest_acl("ops", "secret", all=True)]


def raw_session(srv, timeout_ms: int, session_id: int = 0, passwd: bytes = bytes(16)) -> RawClient:
    """A raw client with an established session (SessionRefused if the server refuses it).

    Why not kazoo: a kazoo client always tries to close its session or reconnect; these sessions must be
    able to vanish (`close()`, no closeSession) so that only expiry can end them."""
    c = RawClient(srv.host, srv.port, io_timeout=30.0)
    c.connect_session(timeout_ms, session_id, passwd)
    return c


class Workload:
    """Seeded random writes through several kazoo sessions plus short-lived raw sessions that vanish."""

    def __init__(self, srv, clients, seed: int) -> None:
        self.srv, self.clients, self.rng = srv, clients, random.Random(seed)
        self.persistent = ["/w"]
        self.ephemeral: list[str] = []
        self.vanished_paths: list[str] = []
        self.vanished_ids: list[int] = []
        self.counts = {"ok": 0, "error": 0, "multi_ok": 0, "multi_failed": 0, "expired_sessions": 0}

    def _path(self, delete: bool = False) -> str:
        """A path that probably exists; "/w" itself is never deleted (the workload would starve)."""
        return self.rng.choice(self.persistent[delete:] + self.ephemeral or ["/w/none-yet"])

    def _data(self) -> bytes:
        return self.rng.randbytes(self.rng.choice((0, 3, 40, 120)))

    def _new_child(self) -> str:
        parents = [p for p in self.persistent if p.count("/") < 4]
        return f"{self.rng.choice(parents)}/{self.rng.choice('abcdefgh')}{self.rng.randrange(100)}"

    def _one(self, zk):
        """Issue one random async request; returns (kind, async result)."""
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            eph, seq = rng.random() < 0.2, rng.random() < 0.3
            acl = MIXED_ACL if rng.random() < 0.1 else None
            return ("create", eph), zk.create_async(self._new_child() + ("-" if seq else ""), self._data(), acl=acl,
                                                     ephemeral=eph, sequence=seq)
        if r < 0.6:
            version = rng.choice((-1, -1, 0, 1, 2))
            return ("set", None), zk.set_async(self._path(), self._data(), version=version)
        if r < 0.72:
            return ("delete", None), zk.delete_async(self._path(delete=True), version=rng.choice((-1, -1, 0)))
        if r < 0.76:
            return ("acl", None), zk.set_acls_async(self._path(), MIXED_ACL if rng.random() < 0.5 else
                                                    OPEN_ACL_UNSAFE, version=-1)
        t = zk.transaction()
        for _ in range(rng.randint(1, 4)):
            k = rng.random()
            if k < 0.35:
                t.create(self._new_child(), self._data(), sequence=rng.random() < 0.3)
            elif k < 0.65:
                t.set_data(self._path(), self._data(), version=rng.choice((-1, -1, 0, 5)))
            elif k < 0.8:
                t.delete(self._path(delete=True))
            else:
                t.check(self._path(), rng.choice((0, 1, 7)))
        return ("multi", None), t.commit_async()

    def _absorb(self, kind: tuple, res: object) -> None:
        if kind[0] == "multi":
            failed = any(isinstance(x, Exception) for x in res)  # type: ignore[union-attr]
            self.counts["multi_failed" if failed else "multi_ok"] += 1
            if not failed:
                for x in res:  # type: ignore[union-attr]
                    if isinstance(x, str):
                        self.persistent.append(x)
            return
        self.counts["ok"] += 1
        if kind[0] == "create":
            (self.ephemeral if kind[1] else self.persistent).append(res)  # type: ignore[arg-type]

    def _vanishing_session(self) -> None:
        """A session that creates ephemerals and disappears without closing: the server must expire it."""
        s = raw_session(self.srv, self.rng.choice((400, 600, 800)))
        for _ in range(self.rng.randint(1, 3)):
            parent = self.rng.choice([p for p in self.persistent if p.count("/") < 4])
            try:
                self.vanished_paths.append(
                    s.create(f"{parent}/x", b"doomed", flags=CreateFlags.EPHEMERAL_SEQUENTIAL).unwrap())
            except Exception:  # the parent may be gone already
                pass
        self.vanished_ids.append(s.session_id)
        s.close()  # vanish: no closeSession

    def run(self, rounds: int) -> None:
        for _ in range(rounds):
            pending = [self._one(self.rng.choice(self.clients)) for _ in range(self.rng.randint(5, 25))]
            for kind, ar in pending:
                try:
                    self._absorb(kind, ar.get(timeout=WAIT))
                except KazooTimeoutError:
                    raise
                except KazooException:
                    self.counts["error"] += 1  # NoNode, NodeExists, BadVersion, NotEmpty...: an error txn
            if self.rng.random() < 0.25:
                self._vanishing_session()
            # forget what is gone, so later requests mostly hit live paths
            if self.rng.random() < 0.2:
                zk = self.clients[0]
                self.persistent = ["/w"] + [p for p in self.persistent[1:] if zk.exists(p)]
                self.ephemeral = [p for p in self.ephemeral if zk.exists(p)]

    def wait_expired(self) -> None:
        """Until every vanished session has expired and its closeSession is applied (and so logged).

        Waiting for the ephemerals alone is not enough: a session whose creates all failed has none.
        So: its ephemerals are gone, the session tracker (`dump`) no longer lists it, and a `sync` —
        a barrier behind every write submitted before it, the expiries' closeSessions included — returns.
        """
        zk = self.clients[0]
        wait_until(lambda: all(zk.exists(p) is None for p in self.vanished_paths), WAIT,
                   "the vanished sessions to expire and their ephemerals to go")
        ids = ["0x%x" % (sid & 0xFFFFFFFFFFFFFFFF) for sid in self.vanished_ids]

        def tracker_forgot() -> bool:
            listed = self.srv.four_letter("dump")
            return not any(f"\t{h}\n" in listed for h in ids)

        wait_until(tracker_forgot, WAIT, "the session tracker to drop the vanished sessions")
        zk.sync("/")
        self.counts["expired_sessions"] = len(self.vanished_ids)


@pytest.mark.parametrize("seed", [11, 12])
def test_recovered_tree_equals_tree_before_kill(tmp_path, seed):
    """Dump right before kill -9 (every write answered, every vanished session expired) == dump after the
    restart == offline recover() of a copy == replay of all logs from zxid 1; srvr's zxid is unchanged."""
    root = tmp_path / "srv"
    srv = start(new_server(root, tick_time=TICK, snapCount="40", maxSessionTimeout="30000"))
    clients = [kazoo_client(srv.hosts, timeout=20.0) for _ in range(3)]
    try:
        clients[0].create("/w", b"root of the workload")
        wl = Workload(srv, clients, seed)
        wl.run(ROUNDS)
        wl.wait_expired()
        before = dump_kazoo(clients[0])
        zxid_before = srvr_zxid(srv)
        live = {zk.client_id[0] for zk in clients}
        srv.kill()
        copy = copy_server_dir(root, tmp_path / "copy")
        srv.start(timeout=120)
        assert srvr_zxid(srv) == zxid_before
        zk = kazoo_client(srv.hosts, timeout=20.0)
        after = dump_kazoo(zk)
        close_kazoo(zk)
    finally:
        for c in clients:
            close_kazoo(c)
        srv.stop()
    # The workload did what it claims to test.
    assert len(snaps_of(copy)) >= 2 and len(logs_of(copy)) >= 2, "snapCount=40 should give snapshots + logs"
    assert wl.counts["multi_ok"] and wl.counts["multi_failed"] and wl.counts["error"], wl.counts
    assert wl.counts["expired_sessions"] and any(e.ephemeralOwner for e in before.values()), wl.counts
    assert any(len(e.acl) == 2 for e in before.values()) and len(before) > 50

    assert after == before, "tree after restart differs:\n" + diff(before, after)
    rec = recover(copy / "data", copy / "data")
    offline = dump_tree(rec.tree)
    assert offline == before, "offline recovery differs:\n" + diff(before, offline)
    assert rec.snapshot is not None, "recovery should have started from a snapshot"
    replayed = dump_tree(replay_logs(logs_of(copy)))
    assert replayed == before, "snapshot + log recovery differs from replaying every log:\n" + diff(before, replayed)
    # Sessions: the live ones are restored with their ephemerals, the expired ones are gone for good.
    assert live <= set(rec.tree.sessions)
    assert not set(wl.vanished_ids) & set(rec.tree.sessions)
    assert not any(e.ephemeralOwner in wl.vanished_ids for e in after.values())


def test_sessions_survive_restart_and_dead_ones_expire_after_it(tmp_path):
    """A client that comes back within its timeout keeps its session and ephemerals (kazoo reconnecting
    by itself, and a raw client reconnecting with the same id and password). A session whose client never
    returns — here its timeout passes while the server is down — expires after the restart, its
    ephemerals are deleted, and that deletion is durable across the next kill."""
    root = tmp_path / "srv"
    srv = start(new_server(root, tick_time=TICK, maxSessionTimeout="30000"))
    a = kazoo_client(srv.hosts, timeout=20.0)
    try:
        a.create("/s", b"")
        a.create("/s/a", b"A", ephemeral=True)
        a_sid = a.client_id[0]
        b = raw_session(srv, 20000)
        b.create("/s/b", b"B", flags=CreateFlags.EPHEMERAL).unwrap()
        b_sid, b_pw = b.session_id, b.passwd
        c = raw_session(srv, 1500)
        c.create("/s/c", b"C", flags=CreateFlags.EPHEMERAL).unwrap()
        c.create("/s/c2-", b"C", flags=CreateFlags.EPHEMERAL_SEQUENTIAL).unwrap()
        c_sid = c.session_id
        b.close()  # B vanishes (no closeSession), its connection is gone too: it comes back after the restart
        srv.kill()
        c.close()  # C vanishes
        time.sleep(2.0)  # C's 1.5 s timeout passes while the server is down

        srv.start(timeout=120)
        wait_until(lambda: a.connected and a.client_id[0] == a_sid, WAIT, "kazoo to reconnect its session")
        b2 = raw_session(srv, 20000, session_id=b_sid, passwd=b_pw)
        assert b2.session_id == b_sid
        data, st = a.get("/s/a")
        assert (data, st.ephemeralOwner) == (b"A", a_sid)
        data, st = a.get("/s/b")
        assert (data, st.ephemeralOwner) == (b"B", b_sid)

        def c_gone() -> bool:
            b2.ping()
            return a.exists("/s/c") is None and not [k for k in a.get_children("/s") if k.startswith("c2-")]

        wait_until(c_gone, WAIT, "the session whose client never returned to expire after the restart")
        assert sorted(a.get_children("/s")) == ["a", "b"]
        assert f"event=session_expired session=0x{c_sid:x}" in srv.log()
        b2.ping()
        assert a.exists("/s/a") is not None and a.exists("/s/b") is not None

        before = dump_kazoo(a)
        srv.kill()
        srv.start(timeout=120)
        wait_until(lambda: a.connected, WAIT, "kazoo to reconnect")
        after = dump_kazoo(a)
        assert after == before, diff(before, after)
        assert "/s/c" not in after
        b2.close()
    finally:
        close_kazoo(a)
        srv.stop()
