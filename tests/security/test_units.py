"""The security building blocks without sockets: Java's DN formatting, DIGEST-MD5 both ways and on
hostile input, the JAAS grammar, Java's lenient ip ACL ids, key stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from corral.security import jaas, tls
from corral.security.digest_md5 import DigestMd5Client, DigestMd5Server, SaslError, parse_directives
from corral.security.x509name import java_rfc2253, valid_dn
from corral.tree.acl import _ip_rule, ip_matches, java_parse_int
from tests.support.pki import PASSWORD, Pki


def _dn(*attrs: tuple[x509.ObjectIdentifier, str]) -> str:
    return java_rfc2253(x509.Name([x509.NameAttribute(o, v) for o, v in attrs]).public_bytes())


def test_java_rfc2253() -> None:
    assert _dn((NameOID.COUNTRY_NAME, "DE"), (NameOID.COMMON_NAME, "alice")) == "CN=alice,C=DE"
    assert _dn((NameOID.COMMON_NAME, "a,b=c+d#e")) == "CN=a\\,b\\=c\\+d\\#e"
    assert _dn((NameOID.COMMON_NAME, " x ")) == "CN=\\ x\\ "
    # emailAddress has no RFC 2253 keyword: Java writes the OID and the DER value in hex
    assert _dn((NameOID.EMAIL_ADDRESS, "a@b")) == "1.2.840.113549.1.9.1=#1603614062"
    assert java_rfc2253(x509.Name([]).public_bytes()) == ""


@pytest.mark.parametrize("text,ok", [("CN=a,O=b", True), ("cn=a;o=b", True), ("", True), ("2.5.4.3=#0c0161", True),
                                     ("CN", False), ("FOO=bar", False), ('CN="unterminated', False)])
def test_valid_dn(text: str, ok: bool) -> None:
    assert valid_dn(text) is ok


def test_digest_md5_round_trip_and_failures() -> None:
    users = {"bob": "pw"}
    server = DigestMd5Server(users.get)
    client = DigestMd5Client("bob", "pw")
    challenge = server.evaluate(client.evaluate(b""))
    answer = server.evaluate(client.evaluate(challenge))
    assert server.complete and server.user == "bob"
    client.evaluate(answer)
    assert client.complete
    with pytest.raises(SaslError):
        server.evaluate(b"")  # a third step
    bad = DigestMd5Server(users.get)
    wrong = DigestMd5Client("bob", "nope")
    with pytest.raises(SaslError, match="wrong password"):
        bad.evaluate(wrong.evaluate(bad.evaluate(wrong.evaluate(b""))))


@pytest.mark.parametrize("token", [b"", b"\xff\xfe", b"username", b'username="a",username="b"', b"a=b c",
                                   b'username="x', b"=", b"x" * 5000, b",,,"])
def test_digest_md5_hostile_responses(token: bytes) -> None:
    server = DigestMd5Server({"bob": "pw"}.get)
    server.evaluate(b"")
    with pytest.raises(SaslError):
        server.evaluate(token)


def test_directive_parsing() -> None:
    assert parse_directives(b'a="x\\"y",b=tok') == {"a": 'x"y', "b": "tok"}


def test_jaas(tmp_path: Path) -> None:
    f = tmp_path / "jaas.conf"
    f.write_text('// c\nServer {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                 ' user_bob="b\\"pw" /* x */ user_super=su;\n};\nClient { x required; };\n')
    assert jaas.digest_users(f) == {"bob": 'b"pw', "super": "su"}
    with pytest.raises(jaas.JaasError, match="no 'Other' section"):
        jaas.digest_users(f, "Other")
    f.write_text("Server { com.sun.security.auth.module.Krb5LoginModule required; };")
    with pytest.raises(jaas.JaasError, match="not supported"):
        jaas.digest_users(f)
    for garbage in ("Server {", "Server { x maybe; };", "{ };", "Server { m required k; };"):
        f.write_text(garbage)
        with pytest.raises(jaas.JaasError):
            jaas.digest_users(f)


@pytest.mark.parametrize("text,value", [("10", 10), ("010", 10), ("+1", 1), ("-1", -1), ("١٢", 12), ("", None),
                                        ("+", None), ("1 ", None), ("1_0", None), ("2147483648", None),
                                        ("-2147483648", -2147483648)])
def test_java_parse_int(text: str, value: int | None) -> None:
    assert java_parse_int(text) == value


@pytest.mark.parametrize("expr,remote,ok", [
    ("010.0.0.1", "10.0.0.1", True), ("10.0.0.0/8", "10.1.2.3", True), ("10.0.0.0/+8", "10.1.2.3", True),
    ("10.0.0.1", "10.0.0.2", False), ("::1", "::1", True), ("0:0:0:0:0:0:0:1", "::1", True),
    ("fe80::/16", "fe80::1", True), ("10.0.0.1", "::1", False)])
def test_ip_ids(expr: str, remote: str, ok: bool) -> None:
    assert ip_matches(remote, expr) is ok


@pytest.mark.parametrize("expr", ["1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4/33", "1.2.3.4/x", "::1::2", "12345::",
                                  "localhost", "1:2:3:4:5:6:7:8:9"])
def test_invalid_ip_ids(expr: str) -> None:
    assert _ip_rule(expr) is None


def test_key_stores(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    cred = pki.issue("localhost")
    for path, kind in ((cred.p12, "PKCS12"), (cred.pem, "PEM")):
        key, chain = tls.load_key_store(path, PASSWORD, kind)
        assert b"PRIVATE KEY" in key and b"CERTIFICATE" in chain
    assert "CERTIFICATE" in tls.load_trust_store(pki.ca_p12, PASSWORD)
    tls.server_context(tls.TlsSettings(keystore=cred.p12, keystore_password=PASSWORD, truststore=pki.ca_pem))
    with pytest.raises(tls.TlsError, match="wrong password"):
        tls.load_key_store(cred.p12, "nope")
    with pytest.raises(tls.TlsError, match="keytool"):
        tls.load_key_store(tmp_path / "x.jks", "")
    (tmp_path / "junk.pem").write_bytes(b"junk")
    with pytest.raises(tls.TlsError):
        tls.load_key_store(tmp_path / "junk.pem", "")
    with pytest.raises(tls.TlsError, match="all together"):
        tls.server_context(tls.TlsSettings(keystore=cred.p12, keystore_password=PASSWORD,
                                           ciphersuites=("TLS_AES_128_GCM_SHA256",)))
