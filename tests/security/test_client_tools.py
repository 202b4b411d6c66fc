"""corral's client and shell, and Apache's zkCli, over TLS (a client certificate: the x509 scheme) and
SASL DIGEST-MD5 (the sasl scheme), each against corral and Apache ZooKeeper 3.8 configured the same
way (tests/security/common.py). What each tool prints or returns must be the same from both servers,
and the corral shell must print what zkCli prints for the same script.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.client import (
    AuthFailedError,
    Client,
    ConnectionLossError,
    KeeperError,
    SaslCredentials,
    SessionState,
    make_acl,
    sasl_from_jaas,
    tls_context,
)
from tests.security.common import KINDS, Material, secure_server
from tests.shell.drivers import JAVA_ONLY, SHELL_CMD, run_script, shell_env
from tests.support.apache import require_zkcli
from tests.support.pki import PASSWORD
from tests.support.proxy import TcpProxy
from tests.support.server import ServerProcess
from tests.support.shells import zkcli_secure_env

pytestmark = [pytest.mark.slow, pytest.mark.compat]

Servers = dict[str, tuple[ServerProcess, int]]


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return Material(tmp_path_factory.mktemp("client-security"))


@pytest.fixture(scope="module")
def servers(material: Material) -> Iterator[Servers]:
    """One server of each kind for the whole module (the tests use disjoint paths)."""
    started: Servers = {}
    try:
        for kind in KINDS:
            started[kind] = secure_server(kind, material)
        yield started
    finally:
        for srv, _ in started.values():
            srv.close()


# ---- the corral client ---------------------------------------------------------------------------------

async def _outcome(aw: Any) -> Any:
    """A call's result, or the name of the KeeperError it raised (so two servers' answers compare)."""
    try:
        return await aw
    except KeeperError as e:
        return type(e).__name__


def _acl(acls: Any) -> Any:
    return acls if isinstance(acls, str) else [(a.id.scheme, a.id.id, a.perms) for a in acls[0]]


async def _client_scenario(srv: ServerProcess, sp: int, m: Material) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    tls = tls_context(ca=m.pki.ca_pem, cert=m.alice.cert, key=m.alice.key)
    async with Client(f"localhost:{sp}", tls=tls, timeout=10) as zk:  # the certificate names localhost
        out.append(("tls whoami", sorted(await zk.who_am_i())))
        out.append(("tls create", await zk.create("/c-tls", b"t", [make_acl("x509", m.alice.dn)])))
        out.append(("tls getAcl", _acl(await zk.get_acl("/c-tls"))))
        await zk.set_data("/c-tls", b"t2")
        out.append(("tls get", (await zk.get_data("/c-tls"))[0]))
        await zk.create("/c-tls-auth", b"", [make_acl("auth", "")])
        out.append(("tls auth acl", _acl(await zk.get_acl("/c-tls-auth"))))
    # a PKCS12 client key store (the Java client's format) and the PEM key store (key + cert in one file)
    for cert in (m.alice.p12, m.alice.pem):
        async with Client(f"localhost:{sp}", tls=tls_context(ca=m.pki.ca_p12, cert=cert, password=PASSWORD),
                          timeout=10) as zk:
            out.append((f"tls {cert.suffix} get", (await zk.get_data("/c-tls"))[0]))
    async with Client(srv.hosts, sasl=SaslCredentials("bob", "bobpw"), timeout=10) as zk:
        out.append(("sasl whoami", sorted(await zk.who_am_i())))
        out.append(("sasl create", await zk.create("/c-sasl", b"s", [make_acl("sasl", "bob")])))
        out.append(("sasl get", (await zk.get_data("/c-sasl"))[0]))
        out.append(("sasl get x509 node", await _outcome(zk.get_data("/c-tls"))))
        await zk.create("/c-sasl-auth", b"", [make_acl("auth", "")])
        out.append(("sasl auth acl", _acl(await zk.get_acl("/c-sasl-auth"))))
    async with Client(srv.hosts, sasl=sasl_from_jaas(m.carol_jaas), timeout=10) as zk:
        out.append(("carol get", await _outcome(zk.get_data("/c-sasl"))))
        out.append(("carol set x509 node", await _outcome(zk.set_data("/c-tls", b"no"))))
    wrong = Client(srv.hosts, sasl=SaslCredentials("bob", "wrong"), timeout=10)
    out.append(("wrong password", await _outcome(wrong.start(timeout=10)), wrong.state))  # type: ignore[arg-type]
    no_cert = Client(f"localhost:{sp}", tls=tls_context(ca=m.pki.ca_pem), timeout=10)
    out.append(("no client certificate (clientAuth=need)", await _outcome(no_cert.start(timeout=2))))
    # the server's certificate is not from a CA the client trusts
    untrusted = Client(f"localhost:{sp}", tls=tls_context(ca=m.rogue_ca, cert=m.alice.cert, key=m.alice.key),
                       timeout=10)
    out.append(("untrusted server", await _outcome(untrusted.start(timeout=2))))
    return out


async def _reconnect_scenario(srv: ServerProcess, sp: int, m: Material) -> list[tuple[str, Any]]:
    """Connections cut under a SASL and a TLS session: the client reconnects, authenticates again on the
    new connection (SASL ids are per connection on the server) and keeps its identity."""
    out: list[tuple[str, Any]] = []
    for name, port, kw in (("sasl", srv.port, {"sasl": SaslCredentials("bob", "bobpw")}),
                           ("tls", sp, {"tls": tls_context(ca=m.pki.ca_pem, cert=m.alice.cert, key=m.alice.key)})):
        proxy = TcpProxy(port, name=f"{srv.kind}-{name}")
        try:
            states: list[SessionState] = []
            async with Client(proxy.hosts, timeout=10, **kw) as zk:
                zk.add_listener(states.append)
                before = sorted(await zk.who_am_i())
                assert proxy.drop_connections() >= 1
                for _ in range(200):  # bounded: the reconnect takes milliseconds
                    if SessionState.DISCONNECTED in states and zk.connected:
                        break
                    await asyncio.sleep(0.05)
                after = sorted(await zk.who_am_i())
                node = "/c-sasl" if name == "sasl" else "/c-tls"
                out.append((f"{name} reconnect", before == after, states.count(SessionState.CONNECTED) >= 1,
                            (await zk.get_data(node))[0]))
        finally:
            proxy.close()
    return out


def test_corral_client_tls_and_sasl(servers: Servers, material: Material) -> None:
    """CRUD and ACLs through corral's client over TLS with a client certificate (x509 ids) and over
    SASL DIGEST-MD5 (sasl ids): the same results from corral and from Apache."""
    got = {kind: asyncio.run(_client_scenario(srv, sp, material)) for kind, (srv, sp) in servers.items()}
    assert got["corral"] == got["apache"]
    r = dict((step[0], step[1:]) for step in got["corral"])
    assert r["tls whoami"] == ([("ip", "127.0.0.1"), ("x509", material.alice.dn)],)
    assert r["tls getAcl"] == ([("x509", material.alice.dn, 31)],)
    assert r["sasl auth acl"] == ([("sasl", "bob", 31)],)
    assert r["carol get"] == ("NoAuthError",)
    assert r["wrong password"] == ("AuthFailedError", SessionState.AUTH_FAILED)
    assert r["no client certificate (clientAuth=need)"] == ("ConnectionLossError",)
    assert r["untrusted server"] == ("ConnectionLossError",)
    re_got = {kind: asyncio.run(_reconnect_scenario(srv, sp, material)) for kind, (srv, sp) in servers.items()}
    assert re_got["corral"] == re_got["apache"] == [("sasl reconnect", True, True, b"s"),
                                                      ("tls reconnect", True, True, b"t2")]


# ---- corral shell and zkCli ----------------------------------------------------------------------------

TLS_SCRIPT = """whoami
create {p}-a data auth::cdrwa
getAcl {p}-a
set {p}-a v2
get {p}-a
create {p}-b b x509:CN=nobody:r
getAcl {p}-b
get {p}-b
delete {p}-a
get {p}-a
quit
"""
SASL_SCRIPT = """whoami
create {p}-a d sasl:bob:cdrwa
getAcl {p}-a
get {p}-a
create {p}-b d auth::cdrwa
getAcl {p}-b
quit
"""
CAROL_SCRIPT = """whoami
get {p}-a
set {p}-b x
quit
"""
_EVENT = re.compile(r"\nWATCHER::\n\n(WatchedEvent [^\n]*)\n")
_WHOAMI = re.compile(r"(?m)^Auth scheme: User\n((?:(?:ip|sasl|x509|digest|super): [^\n]*\n)+)")


def normalize(text: str, hosts: list[str], prefix: str) -> tuple[str, list[str]]:
    """A transcript without what must differ: addresses, the node prefix, Java-only lines; the watch
    events apart (zkCli prints SaslAuthenticated from its event thread, so where it lands among the
    lines is a race); whoami's ids sorted (Apache lists a connection's ids in hash-set order)."""
    for h in hosts:
        text = text.replace(h, "<server>")
    text = JAVA_ONLY.sub("", text.replace(prefix, "<p>"))
    events = _EVENT.findall(text)
    text = _EVENT.sub("", text)
    text = _WHOAMI.sub(lambda mm: "Auth scheme: User\n" + "".join(sorted(mm.group(1).splitlines(True))), text)
    return text, events


def _corral_shell(hosts: str, script: str, *flags: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    return run_script([*SHELL_CMD, "-server", hosts, "-waitforconnection", *flags], script, env or shell_env())


def _zkcli(zkcli: str, hosts: str, script: str, env: dict[str, str]) -> tuple[int, str]:
    return run_script([zkcli, "-server", hosts, "-waitforconnection"], script, env)


def _runs(servers: Servers, m: Material, zkcli: str | None, tmp: Path) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(tool, kind, case) -> (exit status, output) for every tool, server and case."""
    client_cfg = tmp / "client.properties"  # zkCli's -client-configuration, with PKCS12 stores
    client_cfg.write_text(
        "zookeeper.client.secure=true\nzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n"
        f"zookeeper.ssl.keyStore.location={m.alice.p12}\nzookeeper.ssl.keyStore.password={PASSWORD}\n"
        f"zookeeper.ssl.trustStore.location={m.pki.ca_p12}\nzookeeper.ssl.trustStore.password={PASSWORD}\n")
    out: dict[tuple[str, str, str], tuple[int, str]] = {}
    for kind, (srv, sp) in servers.items():
        tls_hosts = f"localhost:{sp}"
        out["corral", kind, "tls"] = _corral_shell(
            tls_hosts, TLS_SCRIPT.format(p="/sh-tls"), "--tls-ca", str(m.pki.ca_pem), "--tls-cert", str(m.alice.cert),
            "--tls-key", str(m.alice.key))
        out["corral", kind, "tls-config"] = _corral_shell(
            tls_hosts, TLS_SCRIPT.format(p="/sh-tlsc"), "-client-configuration", str(client_cfg))
        out["corral", kind, "sasl"] = _corral_shell(srv.hosts, SASL_SCRIPT.format(p="/sh-sasl"), "--jaas",
                                                    str(m.bob_jaas))
        out["corral", kind, "carol"] = _corral_shell(srv.hosts, CAROL_SCRIPT.format(p="/sh-sasl"), "--sasl-user",
                                                     "carol", env=shell_env(CORRAL_SASL_PASSWORD="carolpw"))
        if zkcli is None:
            continue
        out["zkcli", kind, "tls"] = _zkcli(zkcli, tls_hosts, TLS_SCRIPT.format(p="/zk-tls"), zkcli_secure_env(
            keystore=str(m.alice.p12), truststore=str(m.pki.ca_p12), password=PASSWORD))
        out["zkcli", kind, "sasl"] = _zkcli(zkcli, srv.hosts, SASL_SCRIPT.format(p="/zk-sasl"),
                                            zkcli_secure_env(jaas=str(m.bob_jaas)))
        out["zkcli", kind, "carol"] = _zkcli(zkcli, srv.hosts, CAROL_SCRIPT.format(p="/zk-sasl"),
                                             zkcli_secure_env(jaas=str(m.carol_jaas)))
    return out


def _diff(a: str, b: str, an: str, bn: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), an, bn))


def test_shells_tls_and_sasl(servers: Servers, material: Material, tmp_path: Path) -> None:
    """`corral shell` (--tls-ca/--tls-cert/--tls-key, -client-configuration, --jaas, --sasl-user) and
    zkCli.sh (TLS via CLIENT_JVMFLAGS with PKCS12 stores and the Netty socket; a JAAS Client section)
    run the same scripts against both servers: each tool prints the same from corral as from Apache,
    and corral's shell prints what zkCli prints."""
    zkcli = require_zkcli()
    runs = _runs(servers, material, zkcli, tmp_path)
    hosts = [h for srv, sp in servers.values() for h in (srv.hosts, f"localhost:{sp}")]
    prefixes = {"tls": "/sh-tls", "tls-config": "/sh-tlsc", "sasl": "/sh-sasl", "carol": "/sh-sasl"}
    norm: dict[tuple[str, str, str], tuple[str, list[str]]] = {}
    for (tool, kind, case), (_, text) in runs.items():
        prefix = prefixes[case] if tool == "corral" else {"tls": "/zk-tls"}.get(case, "/zk-sasl")
        norm[tool, kind, case] = normalize(text, hosts, prefix)
    for tool, kind, case in norm:
        if kind == "corral":
            a, b = norm[tool, "corral", case], norm[tool, "apache", case]
            assert a == b, f"{tool} {case}: corral and Apache differ:\n{_diff(b[0], a[0], 'apache', 'corral')}"
            assert runs[tool, "corral", case][0] == runs[tool, "apache", case][0], f"{tool} {case}: exit status"
    for case in ("tls", "sasl", "carol"):
        zk, co = norm["zkcli", "corral", case], norm["corral", "corral", case]
        assert co == zk, f"{case}: corral shell and zkCli differ:\n{_diff(zk[0], co[0], 'zkCli', 'corral shell')}"
    assert norm["corral", "corral", "tls-config"] == norm["corral", "corral", "tls"]
    tls_text = norm["corral", "corral", "tls"][0]
    assert f"x509: {material.alice.dn}\n" in tls_text and "Insufficient permission : <p>-b" in tls_text
    sasl_text, sasl_events = norm["corral", "corral", "sasl"]
    assert "'sasl,'bob\n: cdrwa" in sasl_text
    assert "WatchedEvent state:SaslAuthenticated type:None path:null" in sasl_events
    assert "Insufficient permission : <p>-a" in norm["corral", "corral", "carol"][0]


def test_shells_refused_sasl_login(servers: Servers, material: Material) -> None:
    """A wrong password in the JAAS file: both shells report AuthFailed, and nothing the script asks for
    reaches the server (zkCli answers 'Not connected'; when its state changes is a race, so only the
    event and the absence of the node are compared)."""
    zkcli = require_zkcli()
    for kind, (srv, _) in servers.items():
        for tool in ("corral", "zkcli"):
            script = f"create /refused-{tool} x\nquit\n"
            if tool == "corral":
                _, text = _corral_shell(srv.hosts, script, "--jaas", str(material.wrong_jaas))
            else:
                _, text = _zkcli(zkcli, srv.hosts, script, zkcli_secure_env(jaas=str(material.wrong_jaas)))
            assert "WatchedEvent state:AuthFailed type:None path:null" in text, f"{tool} vs {kind}:\n{text}"
            assert "Created /refused" not in text, f"{tool} vs {kind}:\n{text}"

    async def absent() -> list[Any]:
        async with Client(servers["corral"][0].hosts) as zk1, Client(servers["apache"][0].hosts) as zk2:
            return [await zk.exists(f"/refused-{t}") for zk in (zk1, zk2) for t in ("corral", "zkcli")]

    assert asyncio.run(absent()) == [None] * 4


def test_client_sasl_failure_is_terminal(servers: Servers) -> None:
    """A refused SASL login ends the session AUTH_FAILED (no retry loop): every later call raises."""
    async def run() -> None:
        zk = Client(servers["corral"][0].hosts, sasl=SaslCredentials("nobody", "x"), timeout=10)
        with pytest.raises(AuthFailedError):
            await zk.start(timeout=10)
        assert zk.state is SessionState.AUTH_FAILED
        with pytest.raises(AuthFailedError):
            await zk.exists("/")
        await zk.close()
        with pytest.raises(ConnectionLossError):  # plaintext to the TLS port: no session
            await Client(f"127.0.0.1:{servers['corral'][1]}", timeout=10).start(timeout=2)

    asyncio.run(run())

