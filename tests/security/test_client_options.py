"""The client's and the shell's security entry points on bad input, without servers: each mistake is one
clear error naming the file or option, never a traceback, and no setting asking for protection is
dropped silently."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from corral.cli.shell import main_shell, parse_shell_args
from corral.cli.shell_security import SecurityError, SecurityOptions
from corral.client import Client, SaslCredentials, TlsError, sasl_from_jaas, tls_context
from corral.security.jaas import JaasError
from tests.support.pki import PASSWORD, Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_tls_context_forms(pki: Pki) -> None:
    alice = pki.issue("alice", server=False)
    for kw in ({"ca": pki.ca_pem, "cert": alice.cert, "key": alice.key}, {"ca": pki.ca_p12, "cert": alice.p12},
               {"ca": pki.ca_pem, "cert": alice.pem}, {"ca": pki.ca_pem}, {}):
        ctx = tls_context(password=PASSWORD, **kw)  # type: ignore[arg-type]
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert not tls_context(ca=pki.ca_pem, check_hostname=False).check_hostname
    insecure = tls_context(verify=False)
    assert (insecure.verify_mode, insecure.check_hostname) == (ssl.CERT_NONE, False)


def test_tls_context_errors(pki: Pki, tmp_path: Path) -> None:
    alice, other = pki.issue("alice2", server=False), pki.issue("other", server=False)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00not a certificate\xff")
    jks = tmp_path / "store.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed")
    cases: list[tuple[dict[str, object], str]] = [
        ({"ca": tmp_path / "missing.pem"}, "cannot read"),
        ({"ca": garbage}, "not a readable PEM trust store"),
        ({"ca": pki.ca_p12}, "wrong password"),  # no password given
        ({"cert": alice.cert, "key": other.key}, "cannot use this certificate and key"),
        ({"cert": alice.cert, "key": tmp_path / "nokey.pem"}, "no such file"),
        ({"key": alice.key}, "without its certificate"),
        ({"cert": alice.cert}, "no private key"),  # a certificate alone is no key store
        ({"cert": jks}, "keytool -importkeystore"),
    ]
    for kw, message in cases:
        with pytest.raises(TlsError, match=message):
            tls_context(**kw)  # type: ignore[arg-type]


def test_sasl_credentials_and_jaas(tmp_path: Path) -> None:
    assert "bobpw" not in repr(SaslCredentials("bob", "bobpw"))
    with pytest.raises(ValueError, match="GSSAPI"):
        SaslCredentials("bob", "x", mechanism="GSSAPI")
    with pytest.raises(ValueError, match="empty"):
        SaslCredentials("", "x")
    f = tmp_path / "client.jaas"
    f.write_text('Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="b\\"ob" '
                 'password="pw"; };\nOther { org.apache.zookeeper.server.auth.DigestLoginModule required '
                 'username="o" password="p"; };')
    assert sasl_from_jaas(f) == SaslCredentials('b"ob', "pw")
    assert sasl_from_jaas(f, "Other") == SaslCredentials("o", "p")
    bad = {
        "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"b\"; };": "no 'Client' section",
        "Client { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };": "not supported",
        "Client { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"a\"; };": "needs username",
        "Client { org.apache.zookeeper.server.auth.DigestLoginModule maybe; };": "control flag",
        "Client {": "expected",
    }
    for text, message in bad.items():
        f.write_text(text)
        with pytest.raises(JaasError, match=message):
            sasl_from_jaas(f)
    f.write_bytes(b"\xff\xfe")
    with pytest.raises(JaasError, match="UTF-8"):
        sasl_from_jaas(f)
    with pytest.raises(JaasError, match="cannot read"):
        sasl_from_jaas(tmp_path / "missing")


def test_client_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="SSLContext"):
        Client("127.0.0.1:1", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SaslCredentials"):
        Client("127.0.0.1:1", sasl=("bob", "pw"))  # type: ignore[arg-type]


def test_shell_security_options(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = pki.issue("alice3", server=False)
    o = parse_shell_args(["--tls-ca", str(pki.ca_pem), "--tls-cert", str(alice.cert), "--tls-key", str(alice.key),
                          "--tls-no-hostname-check", "ls", "/"])
    tls, sasl = o.security.build()
    assert tls is not None and not tls.check_hostname and sasl is None and o.command == ["ls", "/"]
    monkeypatch.setenv("CORRAL_SASL_PASSWORD", "pw")
    assert SecurityOptions(sasl_user="bob").build() == (None, SaslCredentials("bob", "pw"))
    monkeypatch.setenv("MY_PW", "other")
    assert SecurityOptions(sasl_user="bob", sasl_password_env="MY_PW").build()[1] == SaslCredentials("bob", "other")
    cfg = tmp_path / "client.properties"
    cfg.write_text(f"zookeeper.client.secure=true\nzookeeper.ssl.trustStore.location={pki.ca_p12}\n"
                   f"zookeeper.ssl.trustStore.password={PASSWORD}\nzookeeper.ssl.hostnameVerification=false\n"
                   "zookeeper.sasl.client=false\nsome.other.key=ignored\n")
    tls, sasl = SecurityOptions(client_config=cfg, jaas=tmp_path / "unused").build()
    assert tls is not None and not tls.check_hostname and sasl is None  # zookeeper.sasl.client=false


@pytest.mark.parametrize("text, message", [
    ("zookeeper.ssl.keyStore.passwordPath=/x\n", "passwordPath is not supported"),
    ("zookeeper.ssl.trustStore.location=/x\n", "without zookeeper.client.secure=true"),
    ("zookeeper.client.secure=maybe\n", "not a boolean"),
    ("zookeeper.sasl.client.username=zk\n", "not supported"),
    ("zookeeper.clientCnxnSocket=com.example.Socket\n", "not a ZooKeeper client socket"),
    ("zookeeper.client.secure=true\nzookeeper.ssl.trustStore.location=/nonexistent.pem\n", "cannot read"),
    ("zookeeper.client.secure=true\nzookeeper.ssl.ciphersuites=TLS_BOGUS\n", "unknown cipher suite"),
    ("zookeeper.client.secure=true\nzookeeper.ssl.keyStore.location=/k.jks\n", "keytool"),
    ("key=\\uZZZZ\n", "client.properties:1"),
])
def test_bad_client_configuration(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "client.properties"
    cfg.write_text(text)
    with pytest.raises(SecurityError, match=message):
        SecurityOptions(client_config=cfg).build()


def test_bad_security_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_SASL_PASSWORD", raising=False)
    cases = [(["--sasl-user", "bob"], "CORRAL_SASL_PASSWORD, which is not set"),
             (["--sasl-user", "bob", "--jaas", "/x"], "either --sasl-user or --jaas"),
             (["--tls-password-env", "NOPE_NOT_SET", "--tls"], "$NOPE_NOT_SET is not set"),
             (["--jaas", "/nonexistent.jaas"], "cannot read"),
             (["-client-configuration", "/nonexistent.properties"], "cannot read"),
             (["--tls-ca", "", "ls"], "needs a non-empty value")]
    for argv, message in cases:
        assert main_shell([*argv, "ls", "/"]) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert main_shell(["--tls-ca"]) == 2
    assert "no argument found for option --tls-ca" in capsys.readouterr().err
