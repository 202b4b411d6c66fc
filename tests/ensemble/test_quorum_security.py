"""Security between members: TLS on both peer ports (sslQuorum), port unification, quorum SASL.

Corral ensembles with each, an Apache 3.8 member joining a corral ensemble configured the same way,
and what must be refused (a plaintext peer or a peer whose certificate our trust store does not know on
a TLS port, a learner with a wrong quorum password): refused, logged, and the ensemble keeps serving.
"""

from __future__ import annotations

import socket
import ssl
import struct
from pathlib import Path

import pytest

from corral.peerwire import InitialMessage
from corral.security.quorum_auth import MAGIC
from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApachePeer
from tests.support.net import HOST
from tests.support.pki import PASSWORD, Credential, Pki
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT, Ensemble, Member
from .peer_dial import dial_plaintext_peer

pytestmark = pytest.mark.slow

LEARNER_JAAS = ("QuorumServer {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
                '  user_member="{server_pw}";\n}};\n'
                "QuorumLearner {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
                '  username="member"\n  password="{learner_pw}";\n}};\n')  # no Server section: not needed
SASL_CFG = {"quorum.auth.enableSasl": "true", "quorum.auth.learnerRequireSasl": "true",
            "quorum.auth.serverRequireSasl": "true"}


def tls_cfg(cred: Credential, ca: Path) -> dict[str, str]:
    """sslQuorum with PKCS12 stores (read by corral and by Apache 3.8 alike)."""
    return {"sslQuorum": "true", "ssl.quorum.keyStore.location": str(cred.p12),
            "ssl.quorum.keyStore.password": PASSWORD, "ssl.quorum.keyStore.type": "PKCS12",
            "ssl.quorum.trustStore.location": str(ca), "ssl.quorum.trustStore.password": PASSWORD,
            "ssl.quorum.trustStore.type": "PKCS12"}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


def jaas_file(path: Path, learner_pw: str = "memberpw") -> Path:
    path.write_text(LEARNER_JAAS.format(server_pw="memberpw", learner_pw=learner_pw))
    return path


def with_jaas(member: Member, jaas: Path) -> None:
    """The JAAS file as a -D flag in SERVER_JVMFLAGS, the way Apache users give it."""
    base = member.env
    member.env = lambda: {**base(), "SERVER_JVMFLAGS": f"-Djava.security.auth.login.config={jaas}"}  # type: ignore[method-assign]


def tls_probe(port: int, cred: Credential, ca: Path) -> None:
    """A TLS client with `cred`'s certificate: raises when the member refuses it."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(cred.cert), str(cred.key))
    with socket.create_connection((HOST, port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"\0" * 64)
        if not tls.recv(100):
            raise ConnectionError("closed")


def test_ssl_quorum_ensemble_survives_leader_kill_and_refuses_intruders(tmp_path, pki, kazoo_clients):
    """sslQuorum and quorum SASL together: the ensemble forms and fails over; plaintext, untrusted and
    misnamed peers are refused at the TLS handshake; the killed leader restarted with a certificate of
    another CA cannot join, and joins again with its own."""
    cred = pki.issue("localhost", file_stem="member")
    ens = Ensemble(tmp_path / "tls", voters=3, extra_cfg={**tls_cfg(cred, pki.ca_p12), **SASL_CFG})
    jaas = jaas_file(tmp_path / "quorum.jaas")
    for m in ens.members:
        with_jaas(m, jaas)
    try:
        ens.start()
        leader = ens.leader()
        zk = start_kazoo(ens.hosts)
        kazoo_clients.append(zk)
        zk.create("/tls", b"before")
        log = leader.log()
        assert "event=peer_port_security port=election mode=tls" in log
        assert "event=peer_authenticated port=peer user=member" in log, "the followers not authenticated"

        # A plaintext peer on a TLS election port: refused and logged; the member is unharmed.
        target = next(m for m in ens.members if m is not leader)
        dial_plaintext_peer(target.election_port, leader.sid)
        wait_until(lambda: "event=peer_refused port=election" in target.log(), WAIT, "the plaintext peer logged")
        # A peer with a certificate of another CA: the handshake fails on both sides.
        rogue = Pki(tmp_path / "rogue", "rogue").issue("localhost", file_stem="rogue")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_probe(target.peer_port, rogue, pki.ca_pem)
        wait_until(lambda: "event=peer_refused port=peer" in target.log(), WAIT, "the untrusted peer logged")
        # A certificate of our CA that names another address than the one it connects from.
        elsewhere = pki.issue("localhost", file_stem="elsewhere", ip="192.0.2.7")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_probe(target.election_port, elsewhere, pki.ca_pem)
        wait_until(lambda: "does not name the address" in target.log(), WAIT, "the misnamed peer logged")

        leader.kill()
        others = [m for m in ens.members if m is not leader]
        new = ens.wait_stable(members=others)
        assert new is not leader
        zk.set("/tls", b"after")

        # The old leader back with a certificate our trust store does not know: it cannot join.
        refusals = sum(m.log().count("event=peer_refused") for m in others)
        leader.extra_cfg.update(tls_cfg(rogue, pki.ca_p12))
        leader.start()
        wait_until(lambda: sum(m.log().count("event=peer_refused") for m in others) > refusals, WAIT,
                   "the members refusing the untrusted member")
        assert not leader.serving(), "a member with an untrusted certificate joined"
        leader.stop()
        for key in tls_cfg(rogue, pki.ca_p12):
            del leader.extra_cfg[key]
        leader.start()
        ens.wait_stable()
        assert zk.get("/tls")[0] == b"after"
        close_kazoo(zk)
    finally:
        ens.close()


def test_quorum_sasl_refuses_a_wrong_password_then_admits_the_right_one(tmp_path, kazoo_clients):
    ens = Ensemble(tmp_path / "sasl", voters=3, extra_cfg=SASL_CFG)
    good = jaas_file(tmp_path / "good.jaas")
    for m in ens.members[:2]:
        with_jaas(m, good)
    three = ens[3]
    with_jaas(three, jaas_file(tmp_path / "wrong.jaas", learner_pw="not-the-password"))
    try:
        ens[1].start()
        ens[2].start()
        leader = ens.wait_stable(members=[ens[1], ens[2]])
        assert "event=peer_authenticated port=peer user=member" in leader.log(), "the follower not authenticated"
        zk = start_kazoo(ens[1].hostport)
        kazoo_clients.append(zk)
        zk.create("/sasl", b"1")
        # A hostile learner: a valid initial message, then an authentication token of 1 GiB announced.
        with socket.create_connection((HOST, ens[1].election_port), timeout=5) as s:
            s.sendall(InitialMessage(3, ((HOST, 1),)).encode() + struct.pack(">qii", MAGIC, 0, 1 << 30))
            s.settimeout(5)
            for _ in range(10):  # an ERROR packet, then the close
                if not s.recv(100):
                    break
        wait_until(lambda: "reason=quorum_sasl: authentication token of" in ens[1].log(), WAIT,
                   "the oversized token refused")

        three.start()
        wait_until(lambda: any("reason=quorum_sasl" in m.log() for m in ens.members[:2]), WAIT,
                   "a member refusing the wrong quorum password")
        wait_until(lambda: "quorum authentication failed" in three.log(), WAIT, "member 3 logging its refusal")
        assert not three.serving(), "a member with a wrong quorum password joined"
        zk.set("/sasl", b"2")  # the other two serve on

        three.stop()
        with_jaas(three, good)
        three.start()
        ens.wait_stable()
        ens.wait_converged()
        on_three = start_kazoo(three.hostport)
        kazoo_clients.append(on_three)
        assert on_three.get("/sasl")[0] == b"2"
    finally:
        ens.close()


@pytest.mark.parametrize("kind", ["tls", "sasl"])
def test_an_apache_member_joins_a_secured_corral_ensemble(tmp_path, pki, kazoo_clients, kind):
    """Apache 3.8 as member 3 of a corral ensemble with sslQuorum (PKCS12 stores), or with quorum SASL
    DIGEST-MD5 (the JAAS file as -Djava.security.auth.login.config): it follows the corral leader and
    its clients' writes reach the corral members."""
    require_apache()
    cred = pki.issue("localhost", file_stem="member")
    jaas = jaas_file(tmp_path / "quorum.jaas")
    cfg = tls_cfg(cred, pki.ca_p12) if kind == "tls" else SASL_CFG
    ens = Ensemble(tmp_path / kind, voters=3, tick_time=500, extra_cfg=cfg)
    if kind == "sasl":
        for m in ens.members:
            with_jaas(m, jaas)
    three = ens[3]
    servers = [f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port};{HOST}:{m.client_port}" for m in ens.members]
    apache = ApachePeer(tmp_path / "apache3", 3, three.client_port, servers, tick_time=500,
                        jvm_props={"java.security.auth.login.config": str(jaas)} if kind == "sasl" else None)
    apache.extra_cfg.update(cfg)
    try:
        ens[1].start()
        ens[2].start()
        leader = ens.wait_stable(members=[ens[1], ens[2]])
        apache.start(wait=False)
        wait_until(lambda: apache.mode() == "follower", WAIT, f"the Apache member following ({kind})")
        on_apache = start_kazoo(apache.hosts)
        kazoo_clients.append(on_apache)
        on_apache.create("/from-apache", kind.encode())
        on_corral = start_kazoo(leader.hostport)
        kazoo_clients.append(on_corral)
        on_corral.sync("/")
        assert on_corral.get("/from-apache")[0] == kind.encode()
        word = "SSL handshake complete" if kind == "tls" else "Successfully completed the authentication using SASL"
        assert word in apache.log(), apache.log()

        # The corral leader killed: the corral survivor and Apache elect, and Apache (the higher id, as
        # up to date) leads; the corral member now dials Apache's ports as its learner.
        leader.kill()
        survivor = ens[1] if leader is ens[2] else ens[2]
        wait_until(lambda: {survivor.mode(), apache.mode()} == {"leader", "follower"}, WAIT,
                   f"a new leader between the corral survivor and Apache ({kind})")
        on_survivor = start_kazoo(survivor.hostport)
        kazoo_clients.append(on_survivor)
        on_survivor.create("/after-kill", b"x")
        on_apache.sync("/")
        assert on_apache.get("/after-kill")[0] == b"x"
        if kind == "sasl" and apache.mode() == "leader":
            assert "learner addr" in apache.log(), "Apache did not authenticate the corral learner"
    finally:
        apache.close()
        ens.close()


def test_port_unification_member_talks_to_a_tls_peer_and_a_plaintext_peer(tmp_path, pki, kazoo_clients):
    """The middle of Apache's rolling upgrade to sslQuorum: member 1 accepts both and dials in plaintext
    (portUnification only), member 2 accepts both and dials with TLS (portUnification and sslQuorum),
    member 3 is not upgraded yet (plaintext). Member 2 leads, all three serve, member 1 hears member 2
    with TLS and member 3 in plaintext; after the leader's kill -9 members 1 and 3 go on."""
    tls = tls_cfg(pki.issue("localhost", file_stem="member"), pki.ca_p12)
    ens = Ensemble(tmp_path / "unified", voters=3)
    one, two, three = ens.members
    one.extra_cfg.update({**tls, "sslQuorum": "false", "portUnification": "true"})
    two.extra_cfg.update({**tls, "portUnification": "true"})
    try:
        one.start()
        two.start()
        assert ens.wait_stable(members=[one, two]) is two
        three.start()
        ens.wait_stable()
        zk = start_kazoo(ens.hosts)
        kazoo_clients.append(zk)
        zk.create("/unified", b"1")
        log = one.log()
        assert "event=peer_port_security port=election mode=tls+plaintext" in log
        assert "event=peer_accepted port=election peer=127.0.0.1 tls=true" in log, "member 2 not heard with TLS"
        wait_until(lambda: "event=peer_accepted port=election peer=127.0.0.1 tls=false" in one.log(), WAIT,
                   "member 1 hearing member 3 in plaintext")
        assert "event=peer_accepted port=peer peer=127.0.0.1 tls=false" in two.log(), "member 3 not following"

        two.kill()
        ens.wait_stable(members=[one, three])
        zk.set("/unified", b"2")
        on_one = start_kazoo(one.hostport)
        kazoo_clients.append(on_one)
        on_one.sync("/")
        assert on_one.get("/unified")[0] == b"2"
        assert "event=peer_refused" not in one.log(), "member 1 refused a peer"
    finally:
        ens.close()
