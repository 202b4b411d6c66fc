"""What the client-security tests share: certificates and JAAS files, and a server of either kind
configured the same way (clientPort and secureClientPort, the x509 and sasl providers, DIGEST-MD5 users
from a JAAS file given as a -D flag, the audit log)."""

from __future__ import annotations

from pathlib import Path

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
    srv = make_server(kind, start=False, extra_cfg=cfg)
    flag = f"-Djava.security.auth.login.config={m.jaas}"
    base_env, base_cmd = srv.env, srv.command
    if kind == "corral":
        srv.env = lambda: {**base_env(), "SERVER_JVMFLAGS": flag}  # type: ignore[method-assign]
    else:
        srv.command = lambda: [base_cmd()[0], flag, "-Dzookeeper.audit.enable=true",  # type: ignore[method-assign]
                               *base_cmd()[1:]]
    try:
        srv.start()
    except BaseException:
        srv.close()
        raise
    return srv, sp
