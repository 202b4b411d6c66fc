"""Apache 3.9's `snapshot` and `restore` admin commands and the authentication they require, and `hash`
checked against the digest a snapshot records.

The reference Apache in the suite is 3.8, which has none of these; the expectations are Apache 3.9.4's
Commands.java (runCommand's auth checks and status codes, SnapshotCommand's headers and streaming,
RestoreCommand: test_admin_restore.py) and the digest Apache's own snapshot loader checks.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE as OPEN_ACL
from kazoo.security import make_digest_acl

from corral.admin import auth
from corral.persistence.snapshot import parse_snapshot
from corral.testing import parse_srvr
from corral.tree.acl import OPEN_ACL_UNSAFE
from tests.admin.support import command, request
from tests.support.net import HOST, free_port
from tests.support.server import ServerProcess, make_server

AUTH = {"Authorization": "digest admin:secret"}


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# ---- the auth check on its own (fast) ------------------------------------------------------------------

SCHEMES = frozenset({"ip", "digest"})
ADMIN_ONLY = ((31, "digest", "admin:" + "x" * 28), (1, "world", "anyone"))


@pytest.mark.parametrize(("header", "status", "error"), [
    (None, 401, auth.MISSING),
    ("digest", 401, auth.NOT_AUTHENTICATED),  # no credential: Apache's provider throws
    ("digest a:b extra", 401, auth.NOT_AUTHENTICATED),  # more than two parts
    ("digest  a:b", 401, auth.NOT_AUTHENTICATED),  # Java's split keeps the empty part: three
    ("nosuch a:b", 401, auth.NOT_AUTHENTICATED),
    ("x509", 401, auth.NOT_AUTHENTICATED),  # not a provider here; over plain HTTP it yields nothing anyway
    ("sasl u", 401, auth.NOT_AUTHENTICATED),
    ("world anyone", 401, auth.NOT_AUTHENTICATED),
    ("", 401, auth.NOT_AUTHENTICATED),
    ("\x00\xff" * 50, 401, auth.NOT_AUTHENTICATED),
    ("digest a:b", 200, None),  # the default ACL of / grants ALL to world:anyone
    ("ip", 200, None),
    ("digest a:b ", 200, None),  # a trailing empty part is dropped, as by Java's split
    ("digest \udcff:\udc80", 200, None),  # undecodable header bytes, as aiohttp hands them over
])
def test_auth_outcomes_with_the_default_root_acl(header: str | None, status: int, error: str | None) -> None:
    out = auth.check(header, OPEN_ACL_UNSAFE, SCHEMES, "127.0.0.1", None, skip_acl=False)
    assert (out.status, out.error) == (status, error)


def test_every_permission_of_the_root_acl_is_needed() -> None:
    """Each bit of ALL is checked alone: an identity with READ only is refused, super passes, skipACL too."""
    assert auth.check("digest a:b", ADMIN_ONLY, SCHEMES, "127.0.0.1", None, False).status == 403
    assert auth.check("ip", ((31, "ip", "10.0.0.0/8"),), SCHEMES, "127.0.0.1", None, False).status == 403
    assert auth.check("ip", ((31, "ip", "127.0.0.1"),), SCHEMES, "127.0.0.1", None, False).status == 200
    split = ((1, "ip", "127.0.0.1"), (30, "digest", auth.aclmod.digest("a:b")))  # READ by ip, the rest by digest
    assert auth.check("digest a:b", split, SCHEMES, "127.0.0.1", None, False).status == 403
    sup = auth.aclmod.digest("root:pw")
    assert auth.check("digest root:pw", ADMIN_ONLY, SCHEMES, "127.0.0.1", sup, False).status == 200
    assert auth.check("digest a:b", ADMIN_ONLY, SCHEMES, "127.0.0.1", None, True).status == 200
    assert auth.check("digest a:b", ADMIN_ONLY, frozenset({"ip"}), "127.0.0.1", None, False).status == 401


# ---- against a running server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerProcess, int, KazooClient]]:
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin), "admin.rateLimiterIntervalInMS": "0"})
    zk = KazooClient(srv.hosts, timeout=10)
    try:
        zk.start(15)
        yield srv, admin, zk
    finally:
        zk.stop()
        zk.close()
        srv.close()


@pytest.mark.slow
def test_snapshot_streams_the_tree_in_apaches_format(server: tuple[ServerProcess, int, KazooClient]) -> None:
    _, admin, zk = server
    zk.create("/snap", b"data")
    zk.create("/snap/child", b"x" * 100)
    status, headers, body = _get(admin, "/commands/snapshot", AUTH)
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert int(headers["snapshot_size"]) == len(body)
    zxid = int(headers["last_zxid"], 16)
    assert headers["last_zxid"].startswith("0x")
    snap = parse_snapshot(body, None)
    assert snap.zxid == zxid == snap.last_processed_zxid
    assert snap.tree.get("/snap/child").data == b"x" * 100
    assert snap.digest is not None and snap.digest.zxid == zxid
    # streaming=false: the JSON answer with the same headers; nothing changed, so the same snapshot
    status, headers2, body2 = _get(admin, "/commands/snap?streaming=false", AUTH)
    assert status == 200 and json.loads(body2) == {"command": "snapshot", "error": None}
    assert headers2["last_zxid"] == headers["last_zxid"]


@pytest.mark.slow
def test_hash_is_the_digest_a_snapshot_records(server: tuple[ServerProcess, int, KazooClient]) -> None:
    """Writes up to a zxid that is a multiple of 128: `hash` logs the tree digest there, and a snapshot
    taken at that zxid records the same digest (the one Apache compares when it loads the file)."""
    srv, admin, zk = server
    command(admin, "hash")  # corral starts its digest log at the first request
    zk.ensure_path("/h")
    zxid = int(parse_srvr(srv.four_letter("srvr"))["Zxid"], 16)
    for i in range(128 - zxid % 128 + (128 if zxid & 0xFFFFFFFF < 128 else 0)):
        zk.create(f"/h/n{i}", b"v")  # one txn each: nobody else writes
    _, headers, _ = _get(admin, "/commands/snapshot?streaming=false", AUTH)
    zxid = int(headers["last_zxid"], 16)
    assert zxid % 128 == 0 and zxid == int(parse_srvr(srv.four_letter("srvr"))["Zxid"], 16)
    digests = command(admin, "hash")["digests"]
    assert digests and digests[-1]["zxid"] == zxid and digests[-1]["digest_version"] == 2
    _, _, body = _get(admin, "/commands/snapshot", AUTH)
    snap = parse_snapshot(body, None)
    assert snap.digest is not None and (snap.digest.zxid, snap.digest.digest) == (zxid, digests[-1]["digest"])


@pytest.mark.slow
def test_root_acl_protects_snapshot(server: tuple[ServerProcess, int, KazooClient]) -> None:
    _, admin, zk = server
    status, _, body = request(admin, "GET", "/commands/snapshot")
    assert status == 401 and json.loads(body) == {"command": "snapshot", "error": auth.MISSING}
    for header in ("digest", "nosuch x", "digest a b c", "x509"):
        assert request(admin, "GET", "/commands/snapshot", headers={"Authorization": header})[0] == 401, header
    zk.add_auth("digest", "admin:secret")
    zk.set_acls("/", [make_digest_acl("admin", "secret", all=True), make_digest_acl("reader", "r", read=True)])
    try:
        status, _, body = request(admin, "GET", "/commands/snapshot?streaming=false",
                                  headers={"Authorization": "digest reader:r"})
        assert status == 403 and json.loads(body)["error"] == auth.NOT_AUTHORIZED
        assert request(admin, "GET", "/commands/snapshot?streaming=false", headers={"Authorization": "ip"})[0] == 403
        assert request(admin, "GET", "/commands/snapshot?streaming=false", headers=AUTH)[0] == 200
    finally:
        zk.set_acls("/", OPEN_ACL)
    assert command(admin, "ruok")["error"] is None  # unprotected commands never needed it


@pytest.mark.slow
def test_snapshot_rate_limit_and_switch() -> None:
    """Apache reads admin.rateLimiterIntervalInMS as microseconds for snapshots: 600000000 is ten
    minutes, so the second request in a row is 429 and counted; admin.snapshot.enabled=false is 503."""
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin),
                                           "admin.rateLimiterIntervalInMS": "600000000"})
    try:
        assert request(admin, "GET", "/commands/snapshot?streaming=false", headers=AUTH)[0] == 200
        status, _, body = request(admin, "GET", "/commands/snapshot?streaming=false", headers=AUTH)
        assert status == 429 and json.loads(body) == {"command": "snapshot", "error": None}
        assert command(admin, "monitor")["snapshot_rate_limited_count"] == 1
    finally:
        srv.close()
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin), "admin.snapshot.enabled": "false"})
    try:
        assert request(admin, "GET", "/commands/snapshot", headers=AUTH)[0] == 503
        assert request(admin, "GET", "/commands/snapshot")[0] == 401  # auth comes first
    finally:
        srv.close()


@pytest.mark.slow
def test_hostile_requests_to_the_protected_commands(server: tuple[ServerProcess, int, KazooClient]) -> None:
    """Raw bytes in the header, junk parameters, a body where none is read: an HTTP error or Apache's
    answer, and the server keeps serving."""
    import socket

    srv, admin, _ = server
    for raw in (b"GET /commands/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: digest \xff\xfe:\x80\r\n\r\n",
                b"GET /commands/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: " + b"a" * 9000 + b"\r\n\r\n",
                b"POST /commands/restore HTTP/1.1\r\nHost: x\r\nAuthorization: ip\r\nContent-Length: 4096\r\n"
                b"\r\n" + b"\x00" * 4096):
        with socket.create_connection((HOST, admin), timeout=10) as s:
            s.sendall(raw)
            status = s.recv(64).split(b" ")[1]
        # 200: the default ACL of / lets any identity take a snapshot; 500: zeros are no snapshot to restore
        assert status in (b"200", b"400", b"401", b"500"), (raw[:60], status)
    status, _, body = request(admin, "GET", "/commands/snapshot?streaming=%00&streaming=true", headers=AUTH)
    assert status == 200 and json.loads(body)["error"] is None  # parseBoolean("\0") is false: JSON only
    assert srv.four_letter("ruok") == "imok"
