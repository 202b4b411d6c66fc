"""Quorum SASL and quorum TLS settings without sockets: the QuorumAuthPacket exchange both ways, on
hostile input, the rolling-enablement rules (a learner that does not authenticate), the configuration
checks, and the peer certificate's address check."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from corral.security import quorum_auth as qa
from corral.security.tls import peer_address_matches
from corral.server.config import ConfigError, parse

FOLLOWERINFO = struct.pack(">iqi", 11, 0, 0)  # a plaintext learner's first bytes: a QuorumPacket


def run(server: qa.SaslQuorumServer, learner: qa.SaslQuorumLearner, after: bytes = b"") -> None:
    """Shuttle bytes between the two until both are done (bounded: DIGEST-MD5 takes two rounds)."""
    to_server = learner.start()
    for _ in range(10):
        to_learner = server.feed(to_server + (after if server.peeked else b""))
        to_server = learner.feed(to_learner) if to_learner else b""
        if server.done and learner.done:
            return
    raise AssertionError("the exchange did not finish")


def test_magic_is_javas() -> None:
    # -0xa0dbcafecafe1234L in Java: the literal is a negative long already, its negation positive.
    assert struct.pack(">q", qa.MAGIC) == bytes.fromhex("5f2435013501edcc")


def test_round_trip_and_rest_is_kept() -> None:
    server = qa.SaslQuorumServer({"member": "pw"}.get, required=True)
    learner = qa.SaslQuorumLearner("member", "pw")
    run(server, learner)
    assert server.failure is None and learner.failure is None
    assert server.user == "member"
    assert server.rest == b"" and learner.rest == b""
    # Bytes following the last packet in one read belong to the next layer.
    server = qa.SaslQuorumServer({"member": "pw"}.get, required=True)
    learner = qa.SaslQuorumLearner("member", "pw")
    challenge = server.feed(learner.start())
    response = learner.feed(challenge)
    server.feed(response + FOLLOWERINFO)
    assert server.done and server.failure is None and server.rest == FOLLOWERINFO


def test_wrong_password_fails_both_sides_with_an_error_packet() -> None:
    server = qa.SaslQuorumServer({"member": "pw"}.get, required=True)
    learner = qa.SaslQuorumLearner("member", "wrong")
    challenge = server.feed(learner.start())
    answer = server.feed(learner.feed(challenge))
    assert server.done and server.failure is not None and "wrong password" in server.failure
    assert answer[8:12] == struct.pack(">i", qa.ERROR)
    learner.feed(answer)
    assert learner.done and learner.failure is not None and "ERROR" in learner.failure


def test_a_learner_that_does_not_authenticate() -> None:
    required = qa.SaslQuorumServer({}.get, required=True)
    assert required.feed(FOLLOWERINFO) == b""
    assert required.done and "did not authenticate" in (required.failure or "")
    optional = qa.SaslQuorumServer({}.get, required=False)
    optional.feed(FOLLOWERINFO[:5])
    assert not optional.done
    optional.feed(FOLLOWERINFO[5:])
    assert optional.done and optional.failure is None and optional.rest == FOLLOWERINFO
    assert optional.user is None
    cut = qa.SaslQuorumServer({}.get, required=False)
    cut.feed(b"\1\2")
    assert cut.eof(), "a stream ending before the magic is let through when SASL is not required"


@pytest.mark.parametrize("data,why", [
    (struct.pack(">qii", qa.MAGIC, 7, 0), "unknown authentication status"),
    (struct.pack(">qii", qa.MAGIC, qa.IN_PROGRESS, 1 << 30), "token of"),
    (struct.pack(">qii", qa.MAGIC, qa.SUCCESS, 0), "status 1"),
    (qa.packet(qa.IN_PROGRESS, b"") + qa.packet(qa.IN_PROGRESS, b"x" * (qa.MAX_TOKEN - 1)), "exceeds"),
    (qa.packet(qa.IN_PROGRESS, b"") + struct.pack(">qii", 1, 0, 0), "not a quorum authentication packet"),
    (qa.packet(qa.IN_PROGRESS, b"") + qa.packet(qa.IN_PROGRESS, b"username=x"), "missing directive"),
])
def test_hostile_learner(data: bytes, why: str) -> None:
    server = qa.SaslQuorumServer({"member": "pw"}.get, required=False)
    out = server.feed(data)
    assert server.done and why in (server.failure or ""), server.failure
    assert out.endswith(qa.packet(qa.ERROR, b"")), "the learner is told with an ERROR packet"


def test_hostile_server() -> None:
    learner = qa.SaslQuorumLearner("member", "pw")
    learner.start()
    learner.feed(qa.packet(qa.SUCCESS, b"rspauth=0"))
    assert learner.done and learner.failure is not None
    learner = qa.SaslQuorumLearner("member", "pw")
    learner.start()
    learner.feed(struct.pack(">qii", qa.MAGIC, qa.IN_PROGRESS, -2))
    assert learner.done and "token of" in (learner.failure or "")


def test_an_authorization_id_other_than_the_user_is_refused() -> None:
    server = qa.SaslQuorumServer({"member": "pw"}.get, required=True)
    learner = qa.SaslQuorumLearner("member", "pw")
    learner.sasl.authzid = "someone-else"
    run(server, learner)
    assert "may not act as" in (server.failure or "")


BASE = "dataDir=/tmp/d\nclientPort=2181\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n" \
       "initLimit=5\nsyncLimit=2\n"


def _jaas(tmp_path: Path, text: str) -> str:
    f = tmp_path / "q.jaas"
    f.write_text(text)
    return f"java.security.auth.login.config={f}\n"


def test_quorum_configuration_checks(tmp_path: Path) -> None:
    sasl = "quorum.auth.enableSasl=true\n"
    server_only = ('QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="b"; };')
    with pytest.raises(ConfigError, match="no 'QuorumLearner' section"):
        parse(BASE + sasl + _jaas(tmp_path, server_only))
    krb = ('QuorumServer { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };\n'
           'QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="a" password="b"; };')
    with pytest.raises(ConfigError, match="Kerberos/GSSAPI is not implemented"):
        parse(BASE + sasl + _jaas(tmp_path, krb))
    both = server_only + ('\nQuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required '
                          'username="a" password="b"; };')
    cfg = parse(BASE + sasl + "quorum.auth.learnerRequireSasl=true\nquorum.cnxn.threads.size=20\n"
                + _jaas(tmp_path, both))
    assert cfg.quorum_sasl and cfg.quorum_learner_require_sasl and cfg.quorum_learner_context == "QuorumLearner"
    with pytest.raises(ConfigError, match=r"ssl\.quorum\.keyStore\.location: .*cannot read"):
        parse(BASE + "sslQuorum=true\nssl.quorum.keyStore.location=/nonexistent.pem\n")
    with pytest.raises(ConfigError, match=r"portUnification: needs ssl\.quorum\.keyStore\.location"):
        parse(BASE + "portUnification=true\n")
    cfg = parse("dataDir=/tmp/d\nclientPort=2181\nsslQuorum=true\n")  # standalone: ignored, as Apache
    assert cfg.ssl_quorum


def test_peer_address_check() -> None:
    cert = {"subjectAltName": (("DNS", "localhost"), ("IP Address", "127.0.0.1"))}
    assert peer_address_matches(cert, "127.0.0.1")
    assert peer_address_matches(cert, "::ffff:127.0.0.1")
    assert not peer_address_matches(cert, "127.0.0.2")
    assert not peer_address_matches({"subjectAltName": (("DNS", "127.0.0.1"),)}, "127.0.0.1")
    assert not peer_address_matches(None, "127.0.0.1")
    assert not peer_address_matches(cert, "not-an-ip")


def test_quorum_stores_reload_only_when_asked(tmp_path: Path) -> None:
    """sslQuorumReloadCertFiles (default false, as in Apache): changed stores make new contexts for
    both the accepting and the dialling side."""
    from corral.security.quorum import build_quorum_security
    from tests.support.pki import Pki

    pki = Pki(tmp_path / "pki")
    cred = pki.issue("localhost", file_stem="member")
    keys = (f"sslQuorum=true\nssl.quorum.keyStore.location={cred.pem}\n"
            f"ssl.quorum.trustStore.location={pki.ca_pem}\n")
    for reload, expected in (("false", 0), ("true", 1)):
        sec = build_quorum_security(parse(BASE + keys + f"sslQuorumReloadCertFiles={reload}\n"))
        assert sec.dial_tls and sec.accept_tls and not sec.unified and sec.sasl is None
        assert sec.server_tls is not None and sec.client_tls is not None
        pki.issue("localhost", file_stem="member")  # a new key and certificate in the same file
        sec.check_files()
        assert (sec.server_tls.reloads, sec.client_tls.reloads) == (expected, expected)
