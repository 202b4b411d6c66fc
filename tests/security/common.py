"""What the client-security tests share: certificates and JAAS files, a server of either kind
configured the same way (clientPort and secureClientPort, the x509 and sasl providers, DIGEST-MD5 users
from a JAAS file given as a -D flag, the audit log), and raw-socket SASL steps for the hostile cases."""

from __future__ import annotations

import socket
import ssl
import struct
import time
from pathlib import Path

from kazoo.client import KazooClient

from corral.testing import free_port
from tests.support.pki import PASSWORD, Pki
from tests.support.server import ServerProcess, make_server

KINDS = ("corral", "apache")
JAAS = ('Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
        '  user_bob="bobpw"\n  user_carol="carolpw";\n};\n')
PROVIDERS = {"authProvider.x509": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
             "authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}


def client_jaas(user: str, password: str) -> str:
    """A JAAS file's `Client` section, as zkCli (and `corral shell --jaas`) read it."""
    return ('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
            f'  username="{user}"\n  password="{password}";\n}};\n')


class Material:
    def __init__(self, base: Path) -> None:
        self.pki = Pki(base / "pki")
        self.server = self.pki.issue("localhost", file_stem="server")
        self.alice = self.pki.issue("alice", unit="dev", server=False, file_stem="alice")
        self.expired = self.pki.issue("old", server=False, expired=True, file_stem="expired")
        rogue = Pki(base / "rogue", "rogue")
        self.rogue = rogue.issue("mallory", server=False, file_stem="mallory")
        self.rogue_ca = rogue.ca_pem
        self.jaas = base / "jaas.conf"
        self.jaas.write_text(JAAS)
        self.bob_jaas = base / "client-bob.jaas"
        self.bob_jaas.write_text(client_jaas("bob", "bobpw"))
        self.carol_jaas = base / "client-carol.jaas"
        self.carol_jaas.write_text(client_jaas("carol", "carolpw"))
        self.wrong_jaas = base / "client-wrong.jaas"
        self.wrong_jaas.write_text(client_jaas("bob", "wrong"))


def secure_server(kind: str, m: Material, extra: dict[str, str] | None = None) -> tuple[ServerProcess, int]:
    """A server of `kind` with clientPort and secureClientPort, both providers, the JAAS users and the
    audit log; the JAAS file is a -D flag for both (SERVER_JVMFLAGS for corral)."""
    sp = free_port()
    cfg = {"secureClientPort": str(sp), "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
           "ssl.keyStore.location": str(m.server.p12), "ssl.keyStore.password": PASSWORD,
           "ssl.keyStore.type": "PKCS12", "ssl.trustStore.location": str(m.pki.ca_p12),
           "ssl.trustStore.password": PASSWORD, "ssl.trustStore.type": "PKCS12", "audit.enable": "true",
           **PROVIDERS, **(extra or {})}
    flag = f"-Djava.security.auth.login.config={m.jaas}"
    return start_with_flags(kind, cfg, [flag], apache_only=("-Dzookeeper.audit.enable=true",)), sp


def start_with_flags(kind: str, cfg: dict[str, str], flags: list[str],
                     apache_only: tuple[str, ...] = ()) -> ServerProcess:
    """A server of `kind` with zoo.cfg keys `cfg` and JVM `-D` flags as operators give them: SERVER_JVMFLAGS
    for corral (which reads it as zkServer.sh passes it to Java), the java command line for Apache."""
    srv = make_server(kind, start=False, extra_cfg=cfg)
    base_env, base_cmd = srv.env, srv.command
    if kind == "corral":
        srv.env = lambda: {**base_env(), "SERVER_JVMFLAGS": " ".join(flags)}  # type: ignore[method-assign]
    else:
        srv.command = lambda: [base_cmd()[0], *flags, *apache_only,  # type: ignore[method-assign]
                               *base_cmd()[1:]]
    try:
        srv.start()
    except BaseException:
        srv.close()
        raise
    return srv


def still_served(srv: ServerProcess) -> None:
    """A plain client is served (what every hostile case ends with)."""
    k = KazooClient(hosts=srv.hosts, timeout=10)
    k.start(timeout=20)
    try:
        assert k.exists("/") is not None
    finally:
        k.stop()
        k.close()


def connect_request() -> bytes:
    body = struct.pack(">iqiq", 0, 0, 30000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    return struct.pack(">i", len(body)) + body


def read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed frame, or None when the server closed first."""
    buf = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(buf) >= 4:
            (n,) = struct.unpack(">i", buf[:4])
            if len(buf) >= 4 + n:
                return buf[4:4 + n]
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
    raise AssertionError("no answer within 10 s")


def raw_session(port: int) -> socket.socket:
    """A socket with a session established by hand, for SASL exchanges a real client would not send."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(connect_request())
    assert read_frame(sock) is not None
    return sock


def sasl_step(sock: socket.socket, xid: int, token: bytes) -> tuple[int, int, bytes | None]:
    """One SASL request (op 102) and its answer: (zxid, error code, the rest of the reply)."""
    body = struct.pack(">ii", xid, 102) + struct.pack(">i", len(token)) + token
    sock.sendall(struct.pack(">i", len(body)) + body)
    frame = read_frame(sock)
    assert frame is not None
    rxid, zxid, err = struct.unpack(">iqi", frame[:16])
    assert rxid == xid
    return zxid, err, frame[16:]


def closed(sock: socket.socket) -> bool:
    try:
        return read_frame(sock) is None
    except OSError:
        return True
