"""Client security side by side: corral and Apache ZooKeeper 3.8 configured the same way (TLS on
secureClientPort with PKCS12 stores, the x509 and sasl providers, DIGEST-MD5 users from a JAAS file,
the audit log), driven by kazoo over TLS with a client certificate and over SASL, and by raw sockets
for the hostile cases. Every hostile case ends by checking that another client is still served.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError
from kazoo.security import make_acl

from corral.testing import free_port
from tests.security.common import (
    KINDS,
    Material,
    closed,
    connect_request,
    raw_session,
    read_frame,
    sasl_step,
    secure_server,
    still_served,
)
from tests.support.pki import PASSWORD
from tests.support.server import ServerProcess, make_server
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.compat]


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return Material(tmp_path_factory.mktemp("security"))


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest, material: Material) -> Iterator[tuple[ServerProcess, int]]:
    srv, sp = secure_server(request.param, material)
    yield srv, sp
    srv.close()


def tls_client(port: int, m: Material, cert: bool = True) -> KazooClient:
    kw = {"certfile": str(m.alice.cert), "keyfile": str(m.alice.key)} if cert else {}
    return KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True, ca=str(m.pki.ca_pem), verify_certs=True,
                       timeout=10, **kw)


def sasl_client(srv: ServerProcess, user: str = "bob", password: str = "bobpw") -> KazooClient:
    return KazooClient(hosts=srv.hosts, timeout=10,
                       sasl_options={"mechanism": "DIGEST-MD5", "username": user, "password": password})




def test_x509_and_sasl_acls(server: tuple[ServerProcess, int], material: Material) -> None:
    """CRUD over TLS with a client certificate and over SASL; ACLs in both schemes hold for their owner
    only; the x509 id is the subject as Java prints it."""
    srv, sp = server
    m = material
    k = tls_client(sp, m)
    k.start(timeout=20)
    try:
        k.create("/tls", b"t", acl=[make_acl("x509", m.alice.dn, all=True)])
        acl, _ = k.get_acls("/tls")
        assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("x509", "CN=alice,OU=dev,O=corral-test,C=DE", 31)]
        k.set("/tls", b"t2")
        assert k.get("/tls")[0] == b"t2"
        k.create("/tls-auth", b"", acl=[make_acl("auth", "", all=True)])
        assert [a.id.scheme for a in k.get_acls("/tls-auth")[0]] == ["x509"]
    finally:
        k.stop()
        k.close()
    s = sasl_client(srv)
    s.start(timeout=20)
    try:
        s.create("/sasl", b"s", acl=[make_acl("sasl", "bob", all=True)])
        assert s.get("/sasl")[0] == b"s"
        with pytest.raises(NoAuthError):
            s.get("/tls")
        s.create("/sasl-auth", b"", acl=[make_acl("auth", "", all=True)], ephemeral=True)
        assert [(a.id.scheme, a.id.id) for a in s.get_acls("/sasl-auth")[0]] == [("sasl", "bob")]
    finally:
        s.stop()
        s.close()
    other = sasl_client(srv, "carol", "carolpw")
    other.start(timeout=20)
    try:
        with pytest.raises(NoAuthError):
            other.get("/sasl")
        with pytest.raises(NoAuthError):
            other.set("/tls", b"no")
    finally:
        other.stop()
        other.close()
    plain = tls_client(sp, m, cert=False)  # clientAuth=need: no certificate, no connection
    with pytest.raises(Exception):  # noqa: B017 - kazoo raises its timeout or a TLS error
        plain.start(timeout=5)
    plain.stop()
    plain.close()
    still_served(srv)












def test_hostile_tls_and_sasl(server: tuple[ServerProcess, int], material: Material) -> None:
    srv, sp = server
    m = material
    # plaintext to the TLS port: no answer, the connection closes
    sock = socket.create_connection(("127.0.0.1", sp), timeout=10)
    sock.sendall(connect_request())
    assert closed(sock)
    sock.close()
    still_served(srv)
    # TLS to the plaintext port: closed
    ctx = ssl.create_default_context(cafile=str(m.pki.ca_pem))
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        ctx.wrap_socket(raw, server_hostname="localhost").sendall(connect_request())
    raw.close()
    still_served(srv)
    # untrusted and expired client certificates: the handshake or the first read fails
    for cred in (m.rogue, m.expired):
        c = ssl.create_default_context(cafile=str(m.pki.ca_pem))
        c.load_cert_chain(cred.cert, cred.key)
        s = socket.create_connection(("127.0.0.1", sp), timeout=10)
        try:
            tls = c.wrap_socket(s, server_hostname="localhost")
            tls.sendall(connect_request())
            assert closed(tls), f"{cred.dn} was served"
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            s.close()
        still_served(srv)
    # wrong SASL password: AuthFailed, closed
    k = sasl_client(srv, "bob", "wrong")
    k.start(timeout=20)
    assert wait_until(lambda: not k.connected or None, 10, what="the server to close the connection") in (True, None) \
        or not k.connected
    k.stop()
    k.close()
    still_served(srv)
    # a SASL exchange cut off midway: challenge received, the client leaves
    sock = raw_session(srv.port)
    zxid, err, body = sasl_step(sock, 1, b"")
    assert (zxid, err) == (0, 0) and body and b"nonce=" in body
    sock.close()
    still_served(srv)
    # oversized SASL response (Java's DIGEST-MD5 server allows 4096 bytes): AuthFailed, closed
    sock = raw_session(srv.port)
    sasl_step(sock, 1, b"")
    zxid, err, _ = sasl_step(sock, 2, b"username=\"" + b"x" * 5000 + b"\"")
    assert err == -115
    assert closed(sock)
    sock.close()
    # an initial response where DIGEST-MD5 has none: Java's server ignores it; garbage next: AuthFailed
    sock = raw_session(srv.port)
    zxid, err, body = sasl_step(sock, 1, b"garbage")
    assert err == 0 and body and b'realm="zk-sasl-md5"' in body
    zxid, err, body = sasl_step(sock, 2, b"more garbage")
    assert (zxid, err, body) == (0, -115, b"\xff\xff\xff\xff")
    assert closed(sock)
    sock.close()
    still_served(srv)


def _audit_lines(srv: ServerProcess, kind: str) -> list[dict[str, str]]:
    if kind == "corral":
        text = (srv.data_dir / "data" / "zookeeper_audit.log").read_text()
        marker = "corral.audit: "
    else:
        text = srv.log_path.read_text(errors="replace")  # the whole log: srv.log() is only its tail
        marker = "Slf4jAuditLogger@"
    out = []
    for line in text.splitlines():
        if marker not in line or "operation=" not in line:
            continue
        msg = line.split(marker, 1)[1]
        if kind == "apache":
            msg = msg.split("] - ", 1)[1]
        fields = dict(f.split("=", 1) for f in msg.split("\t"))
        fields.pop("session", None)
        out.append(fields)
    return out


def test_audit_log(server: tuple[ServerProcess, int], material: Material) -> None:
    """One line per audited operation, the same fields as Apache's Slf4jAuditLogger writes."""
    srv, _ = server
    kind = srv.kind
    before = len(_audit_lines(srv, kind))
    s = sasl_client(srv)
    s.start(timeout=20)
    try:
        s.create("/audit", b"", acl=[make_acl("sasl", "bob", all=True)])
        s.create("/audit/e", b"", ephemeral=True)
        s.set("/audit", b"x")
        s.set_acls("/audit", [make_acl("sasl", "bob", all=True), make_acl("world", "anyone", read=True)])
        with pytest.raises(Exception):  # noqa: B017 - NodeExistsError
            s.create("/audit")
        t = s.transaction()
        t.create("/audit/m", b"")
        t.delete("/audit/m")
        t.commit()
        t = s.transaction()
        t.create("/audit/m", b"")
        t.create("/audit/m", b"")
        t.commit()
    finally:
        s.stop()
        s.close()

    def lines() -> list[dict[str, str]] | None:
        got = _audit_lines(srv, kind)[before:]
        return got if len(got) >= 9 else None

    got = wait_until(lines, 15, what="the audit lines")
    user = "bob,127.0.0.1"
    server_user = got[-1].get("user")
    expected = [
        {"user": user, "ip": "127.0.0.1", "operation": "create", "znode": "/audit", "znode_type": "persistent",
         "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "create", "znode": "/audit/e", "znode_type": "ephemeral",
         "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "setData", "znode": "/audit", "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "setAcl", "znode": "/audit",
         "acl": "sasl:bob:cdrwaworld:anyone:r", "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "create", "znode": "/audit", "znode_type": "persistent",
         "result": "failure"},
        {"user": user, "ip": "127.0.0.1", "operation": "create", "znode": "/audit/m", "znode_type": "persistent",
         "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "delete", "znode": "/audit/m", "result": "success"},
        {"user": user, "ip": "127.0.0.1", "operation": "multiOperation", "result": "failure"},
        {"user": server_user, "operation": "ephemeralZNodeDeletionOnSessionCloseOrExpire", "znode": "/audit/e",
         "result": "success"},
    ]
    assert got[:9] == expected


def test_audit_reconfig_and_server_lifecycle(server: tuple[ServerProcess, int], material: Material) -> None:
    """reconfig (standalone, reconfigEnabled left false): the answer and its audit line, then the
    serverStart line written at start and the serverStop line written on SIGTERM, as Apache's
    ZKAuditProvider writes them (user = the account the server runs as). Stops the module's server,
    so it runs last among the tests that use it."""
    srv, _ = server
    kind = srv.kind
    before = len(_audit_lines(srv, kind))
    s = sasl_client(srv)
    s.start(timeout=20)
    try:
        with pytest.raises(KazooException) as info:
            s.reconfig(joining=None, leaving="2", new_members=None)
        answer = type(info.value).__name__
    finally:
        s.stop()
        s.close()
    got = wait_until(lambda: _audit_lines(srv, kind)[before:] or None, 15, what="the reconfig audit line")
    assert answer == "ReconfigDisabledError"  # kazoo's name for ReconfigDisabled (-123)
    assert got == [{"user": "bob,127.0.0.1", "ip": "127.0.0.1", "operation": "reconfig", "result": "failure"}]
    start_lines = [a for a in _audit_lines(srv, kind) if a.get("operation") == "serverStart"]
    assert start_lines == [{"user": getpass.getuser(), "operation": "serverStart", "result": "success"}]
    srv.stop()
    stop_lines = [a for a in _audit_lines(srv, kind) if a.get("operation") == "serverStop"]
    assert stop_lines == [{"user": getpass.getuser(), "operation": "serverStop", "result": "invoked"}]


def test_audit_start_failure() -> None:
    """A server that cannot start (its client port is taken) writes serverStart with result=failure,
    as Apache's ZKAuditProvider.addServerStartFailureAuditLog does."""
    for kind in KINDS:
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            srv = make_server(kind, start=False, port=blocker.getsockname()[1], extra_cfg={"audit.enable": "true"})
            if kind == "apache":
                base_cmd = srv.command
                srv.command = lambda b=base_cmd: [b()[0], "-Dzookeeper.audit.enable=true",  # type: ignore[method-assign]
                                                  *b()[1:]]
            try:
                with pytest.raises(RuntimeError, match="did not start"):
                    srv.start(timeout=30)
                lines = _audit_lines(srv, kind) if kind == "apache" or \
                    (srv.data_dir / "data" / "zookeeper_audit.log").exists() else []
                assert lines == [{"user": getpass.getuser(), "operation": "serverStart", "result": "failure"}], kind
            finally:
                srv.close()


def test_enforce_auth(material: Material) -> None:
    """enforce.auth.enabled with schemes=sasl: a request before authentication is answered
    SessionClosedRequireSaslAuth (-124) and the connection closes; after SASL, requests are served."""
    for kind in KINDS:
        srv, _ = secure_server(kind, material, {"enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl"})
        try:
            sock = raw_session(srv.port)
            body = struct.pack(">ii", 1, 3) + struct.pack(">i", 1) + b"/" + b"\0"  # exists /
            sock.sendall(struct.pack(">i", len(body)) + body)
            frame = read_frame(sock)
            assert frame is not None
            assert struct.unpack(">iqi", frame[:16]) == (1, 0, -124), kind
            assert closed(sock)
            sock.close()
            s = sasl_client(srv)
            s.start(timeout=20)
            try:
                assert s.exists("/") is not None
            finally:
                s.stop()
                s.close()
        finally:
            srv.close()


def test_certificate_reload(tmp_path: Path, material: Material) -> None:
    """corral: replacing the key store file changes the certificate new handshakes present, without a
    restart (Apache's X509Util watches its store files the same way)."""
    m = material
    ks = tmp_path / "server.p12"
    shutil.copy(m.server.p12, ks)
    srv = make_server("corral", start=False, extra_cfg={})
    sp = free_port()
    srv.extra_cfg.update({"secureClientPort": str(sp), "ssl.keyStore.location": str(ks),
                          "ssl.keyStore.password": PASSWORD, "ssl.clientAuth": "none"})
    srv.start()
    try:
        def serial() -> int:
            ctx = ssl.create_default_context(cafile=str(m.pki.ca_pem))
            with socket.create_connection(("127.0.0.1", sp), timeout=10) as s, \
                    ctx.wrap_socket(s, server_hostname="localhost") as tls:
                der = tls.getpeercert(binary_form=True)
            from cryptography import x509
            return x509.load_der_x509_certificate(der).serial_number

        first = serial()
        fresh = m.pki.issue("localhost", file_stem="server2")
        shutil.copy(fresh.p12, ks)
        assert wait_until(lambda: serial() != first or None, 15, what="the new certificate")
        still_served(srv)
    finally:
        srv.close()
