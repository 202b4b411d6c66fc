"""SASL GSSAPI (Kerberos) side by side: corral and Apache ZooKeeper 3.8 configured the same way (a JAAS
`Server` section logging in with Krb5LoginModule from a keytab, `-Djava.security.krb5.conf` naming a
throwaway realm whose KDC runs on loopback, the SASL provider), driven by kazoo with
`sasl_options={"mechanism": "GSSAPI"}` and tickets from that KDC, and by raw sockets for hostile tokens.

Needs MIT Kerberos (krb5-kdc, krb5-admin-server, krb5-user, libkrb5-dev) and the `test-kerberos` extra
(python-gssapi for the server, pykerberos for kazoo's pure-sasl GSSAPI client): `make test-deps` installs
both; without them the tests skip with that hint (and fail under CI=true).
"""

from __future__ import annotations

import base64
import importlib.util
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

from corral.security.sasl_gssapi import sasl_id
from corral.server.config import ConfigError, load
from tests.security.common import KINDS, closed, raw_session, sasl_step, start_with_flags, still_served
from tests.shell.drivers import run_script
from tests.support.apache import require, require_zkcli
from tests.support.kdc import REALM, SERVICE_PRINCIPAL, Kdc
from tests.support.server import ServerProcess
from tests.support.shells import zkcli_secure_env

SASL_PROVIDER = {"authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}
HINT = "run `make test-deps` (pip install -e '.[test,test-kerberos]' after the krb5 packages)"


def server_jaas(keytab: Path, principal: str = SERVICE_PRINCIPAL) -> str:
    return ('Server {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n'
            f'  keyTab="{keytab}"\n  storeKey=true\n  useTicketCache=false\n  principal="{principal}";\n}};\n')


@dataclass
class Realm:
    kdc: Kdc
    base: Path
    jaas: Path

    def flags(self) -> list[str]:
        return [f"-Djava.security.auth.login.config={self.jaas}", f"-Djava.security.krb5.conf={self.kdc.krb5_conf}"]


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    """The KDC, the service keytab, and tickets for alice, bob and app/localhost in one DIR: collection
    that this process's Kerberos library uses (KRB5_CONFIG and KRB5CCNAME, restored afterwards)."""
    for module in ("gssapi", "kerberos"):
        require(f"the Python module {module}", importlib.util.find_spec(module) is not None, HINT)
    base = tmp_path_factory.mktemp("gssapi")
    kdc = Kdc(base / "kdc").start()
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME")}
    try:
        kdc.principal(SERVICE_PRINCIPAL, base / "zookeeper.keytab")
        (base / "cc").mkdir()
        for name in ("alice", "bob", "app/localhost"):
            keytab = base / f"{name.replace('/', '_')}.keytab"
            env = kdc.kinit(kdc.principal(name, keytab), keytab, f"DIR:{base / 'cc'}")
        os.environ.update({"KRB5_CONFIG": env["KRB5_CONFIG"], "KRB5CCNAME": env["KRB5CCNAME"]})
        jaas = base / "jaas.conf"
        jaas.write_text(server_jaas(base / "zookeeper.keytab"))
        yield Realm(kdc, base, jaas)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        kdc.close()


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest, realm: Realm) -> Iterator[ServerProcess]:
    srv = start_with_flags(request.param, dict(SASL_PROVIDER), realm.flags())
    yield srv
    srv.close()


def gssapi_client(srv: ServerProcess, principal: str) -> KazooClient:
    """kazoo over GSSAPI as `principal` (its ticket picked from the collection); `localhost` names the
    service principal zookeeper/localhost, as the Java client would ask for it."""
    return KazooClient(hosts=f"localhost:{srv.port}", timeout=10,
                       sasl_options={"mechanism": "GSSAPI", "principal": f"{principal}@{REALM}"})


@pytest.mark.slow
@pytest.mark.compat
def test_gssapi_sasl_acl(server: ServerProcess) -> None:
    alice = gssapi_client(server, "alice")
    alice.start(timeout=20)
    try:
        alice.create("/krb", b"secret", acl=[make_acl("sasl", f"alice@{REALM}", all=True)])
        assert alice.get("/krb")[0] == b"secret"
        alice.create("/krb-auth", b"", acl=[make_acl("auth", "", all=True)], ephemeral=True)
        assert [(a.id.scheme, a.id.id) for a in alice.get_acls("/krb-auth")[0]] == [("sasl", f"alice@{REALM}")]
        bob = gssapi_client(server, "bob")
        bob.start(timeout=20)
        try:
            with pytest.raises(NoAuthError):
                bob.get("/krb")
            with pytest.raises(NoAuthError):
                bob.set("/krb", b"mine")
        finally:
            bob.stop()
            bob.close()
        app = gssapi_client(server, "app/localhost")  # a principal with a host keeps it in the id by default
        app.start(timeout=20)
        try:
            app.create("/krb-app", b"", acl=[make_acl("auth", "", all=True)], ephemeral=True)
            assert [a.id.id for a in app.get_acls("/krb-app")[0]] == [f"app/localhost@{REALM}"]
        finally:
            app.stop()
            app.close()
        alice.delete("/krb")
    finally:
        alice.stop()
        alice.close()


def _spnego_token() -> bytes:
    """A valid first token for zookeeper/localhost from alice's ticket, wrapped in SPNEGO (RFC 4178)."""
    import gssapi

    creds = gssapi.Credentials(name=gssapi.Name(f"alice@{REALM}", gssapi.NameType.kerberos_principal),
                               usage="initiate")
    ctx = gssapi.SecurityContext(name=gssapi.Name("zookeeper@localhost", gssapi.NameType.hostbased_service),
                                 creds=creds, mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"), usage="initiate")
    return bytes(ctx.step())


@pytest.mark.slow
@pytest.mark.compat
def test_hostile_gssapi_tokens(server: ServerProcess) -> None:
    """Garbage where a Kerberos AP-REQ belongs (small, large), an empty first token, and a real ticket
    wrapped in SPNEGO (a mechanism Java's GSSAPI server does not take): AuthFailed (-115) and the
    connection closed; then a Kerberos client and a plain one are still served."""
    for token in (b"\x60\x82\x01\x00" + b"\x00" * 64, os.urandom(300), os.urandom(200_000), b"", _spnego_token()):
        sock = raw_session(server.port)
        try:
            zxid, err, _ = sasl_step(sock, 1, token)
            assert (zxid, err) == (0, -115), token[:8]
            assert closed(sock)
        finally:
            sock.close()
    still_served(server)
    alice = gssapi_client(server, "alice")
    alice.start(timeout=20)
    try:
        assert alice.exists("/") is not None
    finally:
        alice.stop()
        alice.close()


def _sasl_token(body: bytes | None) -> bytes:
    assert body is not None
    (n,) = struct.unpack(">i", body[:4])
    return body[4:4 + n]


@pytest.mark.slow
@pytest.mark.compat
def test_exchange_by_hand(server: ServerProcess) -> None:
    """The RFC 4752 steps driven one by one with pykerberos: the mutual-authentication token, then the
    wrapped security-layer offer (none only, 65536-byte buffer: the same bytes from both servers). An
    exchange cut off after the offer leaves the server serving; a client choosing a layer that was not
    offered (confidentiality) gets AuthFailed and the connection closed."""
    import kerberos

    for choice in (None, b"\x04\x01\x00\x00" + f"alice@{REALM}".encode()):
        _, ctx = kerberos.authGSSClientInit("zookeeper@localhost", principal=f"alice@{REALM}")
        try:
            kerberos.authGSSClientStep(ctx, "")
            first = base64.b64decode(kerberos.authGSSClientResponse(ctx))
            sock = raw_session(server.port)
            try:
                zxid, err, body = sasl_step(sock, 1, first)
                assert (zxid, err) == (0, 0)
                assert kerberos.authGSSClientStep(ctx, base64.b64encode(_sasl_token(body)).decode()) == \
                    kerberos.AUTH_GSS_COMPLETE
                zxid, err, body = sasl_step(sock, 2, b"")
                assert (zxid, err) == (0, 0)
                kerberos.authGSSClientUnwrap(ctx, base64.b64encode(_sasl_token(body)).decode())
                assert base64.b64decode(kerberos.authGSSClientResponse(ctx)) == b"\x01\x01\x00\x00"
                if choice is not None:
                    kerberos.authGSSClientWrap(ctx, base64.b64encode(choice).decode())
                    wrapped = base64.b64decode(kerberos.authGSSClientResponse(ctx))
                    zxid, err, _ = sasl_step(sock, 3, wrapped)
                    assert (zxid, err) == (0, -115)
                    assert closed(sock)
            finally:
                sock.close()
        finally:
            kerberos.authGSSClientClean(ctx)
        still_served(server)


@pytest.mark.slow
@pytest.mark.compat
@pytest.mark.parametrize("kind", KINDS)
def test_remove_host_and_realm(kind: str, realm: Realm) -> None:
    """kerberos.removeHostFromPrincipal and removeRealmFromPrincipal (zoo.cfg keys Apache turns into
    zookeeper.* system properties) shorten the id to the principal's first component, which superUser
    names."""
    cfg = {**SASL_PROVIDER, "kerberos.removeHostFromPrincipal": "true", "kerberos.removeRealmFromPrincipal": "true",
           "superUser": "app"}
    srv = start_with_flags(kind, cfg, realm.flags())
    try:
        app = gssapi_client(srv, "app/localhost")
        app.start(timeout=20)
        try:
            app.create("/short", b"", acl=[make_acl("auth", "", all=True)], ephemeral=True)
            assert [a.id.id for a in app.get_acls("/short")[0]] == ["app"]
            app.create("/others", b"theirs", acl=[make_acl("sasl", "nobody", all=True)], ephemeral=True)
            assert app.get("/others")[0] == b"theirs"  # super
        finally:
            app.stop()
            app.close()
    finally:
        srv.close()


@pytest.mark.slow
def test_keytab_without_the_principal_refused(realm: Realm, tmp_path: Path) -> None:
    """A JAAS principal its keytab has no key for: the configuration is refused with one line (at startup
    and by `corral config check`), rather than every client failing later."""
    realm.kdc.principal("other/localhost", tmp_path / "other.keytab")
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(server_jaas(tmp_path / "other.keytab"))
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort=2181\n"
                   f"authProvider.sasl={SASL_PROVIDER['authProvider.sasl']}\n")
    env = {"SERVER_JVMFLAGS": f"-Djava.security.auth.login.config={jaas} "
                              f"-Djava.security.krb5.conf={realm.kdc.krb5_conf}"}
    with pytest.raises(ConfigError, match="no usable key for zookeeper/localhost"):
        load(cfg, env=env)


def test_missing_binding_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without python-gssapi a Kerberos JAAS section stops the server with one line naming the extra."""
    monkeypatch.setitem(sys.modules, "gssapi", None)  # import gssapi raises ImportError
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(server_jaas(tmp_path / "zookeeper.keytab"))
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort=2181\n")
    with pytest.raises(ConfigError, match=r"pip install 'corral\[kerberos\]'"):
        load(cfg, env={"SERVER_JVMFLAGS": f"-Djava.security.auth.login.config={jaas}"})


def test_sasl_id_mapping() -> None:
    """SaslServerCallbackHandler with KerberosName's DEFAULT rule."""
    assert sasl_id("alice@R", "R") == "alice@R"
    assert sasl_id("app/h@R", "R") == "app/h@R"
    assert sasl_id("app/h@R", "R", remove_host=True) == "app@R"
    assert sasl_id("app/h@R", "R", remove_host=True, remove_realm=True) == "app"
    assert sasl_id("alice@OTHER", "R", remove_realm=True) == "alice@OTHER"  # no rule maps another realm
    assert sasl_id("plain", "R") == "plain"


def test_unsupported_auth_to_local_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}\nclientPort=2181\n")
    with pytest.raises(ConfigError, match="only DEFAULT"):
        load(cfg, env={"SERVER_JVMFLAGS": "-Dzookeeper.security.auth_to_local=RULE:[1:$1]"})



ZKCLI_SCRIPT = """whoami
create /zk-krb d sasl:alice@EXAMPLE.TEST:cdrwa
getAcl /zk-krb
get /zk-krb
quit
"""


@pytest.mark.slow
@pytest.mark.compat
def test_zkcli_krb5_client(server: ServerProcess, realm: Realm) -> None:
    """zkCli with a Krb5LoginModule `Client` section (the Java client's GSSAPI: it logs in with alice's
    keytab and asks for zookeeper/<canonical host name>) gets the same answers from both servers: the
    SaslAuthenticated event, whoami with the Kerberos id, the sasl ACL."""
    zkcli = require_zkcli()
    client_jaas = realm.base / "client-alice.jaas"
    client_jaas.write_text('Client {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n'
                           f'  keyTab="{realm.base / "alice.keytab"}"\n  storeKey=true\n  useTicketCache=false\n'
                           f'  principal="alice@{REALM}";\n}};\n')
    env = zkcli_secure_env(jaas=str(client_jaas))
    env["CLIENT_JVMFLAGS"] += f" -Djava.security.krb5.conf={realm.kdc.krb5_conf}"
    code, out = run_script([zkcli, "-server", f"localhost:{server.port}", "-waitforconnection"], ZKCLI_SCRIPT, env)
    assert code == 0, out
    assert "WatchedEvent state:SaslAuthenticated" in out, out
    whoami = out.split("Auth scheme: User\n", 1)[1].split("Created", 1)[0]
    assert sorted(whoami.splitlines()) == ["ip: 127.0.0.1", f"sasl: alice@{REALM}"]  # Apache: hash-set order
    assert f"Created /zk-krb\n'sasl,'alice@{REALM}\n: cdrwa\nd\n" in out, out


def test_server_section_checks(tmp_path: Path) -> None:
    """What a Kerberos Server section must say, each refused with a line naming it."""
    jaas = tmp_path / "jaas.conf"
    krb5 = "com.sun.security.auth.module.Krb5LoginModule required"
    cases = {
        f"Server {{ {krb5} principal=\"zookeeper/h@R\"; }};": "needs useKeyTab=true and keyTab",
        f"Server {{ {krb5} useKeyTab=true keyTab=\"/k\" principal=\"zookeeper@R\"; }};": "service/host@REALM",
        (f"Server {{ {krb5} useKeyTab=true keyTab=\"/k\" principal=\"zookeeper/h@R\";\n"
         " org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"b\"; };"): "beside",
        f"Server {{ {krb5} useKeyTab=true keyTab=\"{tmp_path}/none\" principal=\"zookeeper/h@R\"; }};":
            "does not exist",
    }
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort=2181\n")
    for text, message in cases.items():
        jaas.write_text(text)
        if message == "does not exist":
            require("the Python module gssapi", importlib.util.find_spec("gssapi") is not None, HINT)
        with pytest.raises(ConfigError, match=message):
            load(cfg, env={"SERVER_JVMFLAGS": f"-Djava.security.auth.login.config={jaas}"})
