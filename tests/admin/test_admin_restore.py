"""Apache 3.9's `restore` admin command on a standalone corral server: take a snapshot with `snapshot`,
change the tree, POST the snapshot back, and see the old tree with kazoo; bad streams are refused and
the server keeps serving.

The reference Apache in the suite is 3.8, which has no `restore`, so these tests check the documented
behaviour (Apache 3.9.4's Commands.RestoreCommand and ZooKeeperServer.restoreFromSnapshot: 200 with
`last_zxid`, the snapshot's; 500 and `restore_error_count` for a stream that is not a valid snapshot;
429 and `restore_rate_limited_count` when rate limited, the interval read as milliseconds) and corral's
own rules (docs/operations.md, server/restore.py): the restore is durable (it survives kill -9), the
zxid never goes back, and sessions the snapshot holds live on while the others expire.
"""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from tests.admin.support import command, request
from tests.support.net import HOST, free_port
from tests.support.server import ServerProcess, make_server
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "digest admin:secret"}


def _snapshot(admin: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, admin, timeout=30)
    try:
        conn.request("GET", "/commands/snapshot", headers=AUTH)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body[:200])
        return int(r.getheader("last_zxid", "0x0"), 16), body
    finally:
        conn.close()


def _restore(admin: int, body: bytes) -> tuple[int, dict[str, object]]:
    status, _, text = request(admin, "POST", "/commands/restore", timeout=30, headers=AUTH, body=body)
    return status, json.loads(text)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerProcess, int]]:
    """snapCount=20: the server's own snapshots are forked every 10-20 writes, so restores meet them
    in flight (a restore waits for the child, and no child starts while it writes its own)."""
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin), "admin.rateLimiterIntervalInMS": "0",
                                           "snapCount": "20"})
    try:
        yield srv, admin
    finally:
        srv.close()


def test_restore_brings_back_the_snapshot_and_survives_kill_9(server: tuple[ServerProcess, int]) -> None:
    srv, admin = server
    zk = KazooClient(srv.hosts, timeout=10)
    late = KazooClient(srv.hosts, timeout=10)
    zk.start(15)
    try:
        zk.create("/r", b"")
        zk.create("/r/a", b"before")
        zk.create("/r/b", b"kept")
        snap_zxid, snap = _snapshot(admin)
        session = zk.client_id
        # after the snapshot: changes, an ephemeral, and a session the snapshot does not know
        zk.set("/r/a", b"after")
        zk.delete("/r/b")
        zk.create("/r/c", b"new")
        zk.create("/r/eph", b"", ephemeral=True)
        late.start(15)
        late_states: list[KazooState] = []
        late.add_listener(late_states.append)
        before = srv.zxid()
        assert before > snap_zxid

        status, out = _restore(admin, snap)
        assert status == 200 and out == {"command": "restore", "error": None, "last_zxid": snap_zxid}
        assert srv.zxid() >= before  # the zxid never goes back (Apache's would: clients would be refused)
        # the client reconnects with its session (the snapshot has it) and reads the snapshot's tree
        wait_until(lambda: zk.connected and zk.exists("/r/b") is not None, 15, what="the restored tree")
        assert zk.client_id == session
        assert zk.get("/r/a")[0] == b"before" and zk.get("/r/b")[0] == b"kept"
        assert zk.exists("/r/c") is None and zk.exists("/r/eph") is None
        wait_until(lambda: KazooState.LOST in late_states, 15, what="the session the snapshot lacks to expire")
        assert command(admin, "monitor")["cnt_restore_time"] == 1
        # writes go on after it, then kill -9: recovery finds the restored tree and the new write
        zk.create("/r/d", b"post-restore")
    finally:
        late.stop()
        late.close()
        zk.stop()
        zk.close()
    srv.restart(hard=True)
    zk = KazooClient(srv.hosts, timeout=10)
    zk.start(15)
    try:
        assert sorted(zk.get_children("/r")) == ["a", "b", "d"]
        assert zk.get("/r/a")[0] == b"before"
    finally:
        zk.stop()
        zk.close()


def test_restore_under_write_load_loses_only_what_it_replaces(server: tuple[ServerProcess, int]) -> None:
    """Creates pipelined while the restore runs (Apache's testClientRequest_restoreInProgress): each is
    answered before the switch (then it is in the replaced tree, and gone), or after it (then it stays),
    or fails with a lost connection (held, dropped unanswered). Nothing acknowledged after the
    restore's zxid is lost, and the server takes writes afterwards."""
    srv, admin = server
    zk = KazooClient(srv.hosts, timeout=10)
    zk.start(15)
    try:
        zk.ensure_path("/load")
        _, snap = _snapshot(admin)
        states: list[KazooState] = []
        zk.add_listener(states.append)
        pending = [zk.create_async(f"/load/n{i}", b"x", include_data=True) for i in range(300)]
        assert _restore(admin, snap)[0] == 200
        acked: dict[str, int] = {}
        for res in pending:
            res.wait(15)
            assert res.ready()
            if res.successful():
                path, stat = res.get()
                acked[path.rsplit("/", 1)[1]] = stat.czxid
        # the restore closed the connection: wait for kazoo to notice and reconnect
        wait_until(lambda: KazooState.SUSPENDED in states and zk.connected, 15, what="the client to reconnect")
        present = set(zk.get_children("/load"))
        assert present <= set(acked)  # a write dropped unanswered never took effect
        kept = [acked[n] for n in present]
        gone = [z for n, z in acked.items() if n not in present]
        assert not kept or not gone or max(gone) < min(kept)  # the restore is a cut in zxid order
        zk.create("/load/after", b"")
        assert srv.four_letter("ruok") == "imok"
    finally:
        zk.stop()
        zk.close()


def test_bad_streams_are_refused_and_the_server_keeps_serving(server: tuple[ServerProcess, int]) -> None:
    srv, admin = server
    zk = KazooClient(srv.hosts, timeout=10)
    zk.start(15)
    try:
        zk.ensure_path("/bad")
        zk.set("/bad", b"live")
        _, snap = _snapshot(admin)
        flipped = bytearray(snap)
        flipped[len(snap) // 2] ^= 0x10
        bodies = [b"", b"Invalid snapshot data", snap[:len(snap) // 2], bytes(flipped), snap[:-1],
                  gzip.compress(b"not a snapshot"), b"\x1f\x8b" + b"\x00" * 40, b"\x82SNAPPY\x00" + b"\xff" * 40,
                  snap[:16] + b"\xff" * 64 + snap[-13:]]
        errors = command(admin, "monitor")["restore_error_count"]
        for i, body in enumerate(bodies):
            status, out = _restore(admin, body)
            assert (status, out) == (500, {"command": "restore", "error": None}), i
        assert command(admin, "monitor")["restore_error_count"] == errors + len(bodies)
        assert zk.connected and zk.get("/bad")[0] == b"live"  # not even a reconnect
        zk.set("/bad", b"still writable")
        assert srv.four_letter("ruok") == "imok"
        assert request(admin, "POST", "/commands/restore", body=snap)[0] == 401  # auth first, as snapshot
        assert request(admin, "GET", "/commands/restore", headers=AUTH)[0] == 405
    finally:
        zk.stop()
        zk.close()


def test_restore_rate_limit_and_switch() -> None:
    """The restore limiter reads admin.rateLimiterIntervalInMS as milliseconds (the snapshot one as
    microseconds); admin.restore.enabled=false answers 503 after authentication."""
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin),
                                           "admin.rateLimiterIntervalInMS": "600000"})
    try:
        _, snap = _snapshot(admin)
        assert _restore(admin, snap)[0] == 200
        assert _restore(admin, snap) == (429, {"command": "restore", "error": None})
        assert command(admin, "monitor")["restore_rate_limited_count"] == 1
    finally:
        srv.close()
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin), "admin.restore.enabled": "false"})
    try:
        assert _restore(admin, b"x") == (503, {"command": "restore", "error": None})
        assert request(admin, "POST", "/commands/rest")[0] == 401
    finally:
        srv.close()
