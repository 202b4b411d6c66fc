"""TLS and SASL for the client: the TLS context builder and the SASL exchange the Java client runs.

Why here and not in `client.py`: both are optional and built from files (certificates, JAAS), and the
store reading and DIGEST-MD5 arithmetic already exist in `corral.security` (shared with the server);
this module only adapts them to a client's needs.

SASL follows ZooKeeper's `ZooKeeperSaslClient`: the exchange (opcode sasl, 102) runs on a fresh
connection right after the session handshake and before any other request (so a server enforcing
authentication never sees an unauthenticated request from us), and again after every reconnect,
because the server keeps SASL identities per connection. A server that rejects the credentials
answers AuthFailed (or SessionClosedRequireSaslAuth) and closes the connection; the session then
ends AUTH_FAILED, as the Java client's does.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from ..security import jaas
from ..security.digest_md5 import DigestMd5Client, SaslError
from ..security.tls import TlsError, TlsSettings, client_context, store_type

__all__ = ["MAX_SASL_ROUNDS", "SaslCredentials", "SaslError", "TlsError", "sasl_from_jaas", "tls_context"]

#: A DIGEST-MD5 exchange takes three tokens; a server asking for more is broken or hostile.
MAX_SASL_ROUNDS = 8


@dataclass(frozen=True)
class SaslCredentials:
    """Who the client authenticates as with SASL. Only DIGEST-MD5 is implemented.

    `repr` leaves the password out, so logging a client's options never leaks it.
    """

    username: str
    password: str = field(repr=False)
    mechanism: str = "DIGEST-MD5"

    def __post_init__(self) -> None:
        if self.mechanism.upper() != "DIGEST-MD5":
            raise ValueError(f"SASL mechanism {self.mechanism!r} is not supported by corral's client (DIGEST-MD5)")
        if not self.username:
            raise ValueError("SASL user name is empty")

    def mechanism_client(self) -> DigestMd5Client:
        """A fresh exchange (one per connection)."""
        return DigestMd5Client(self.username, self.password)


def sasl_from_jaas(path: Path, section: str = "Client") -> SaslCredentials:
    """The credentials of the JAAS `section` (zookeeper.sasl.clientconfig, default `Client`), as zkCli
    reads them from `-Djava.security.auth.login.config=FILE`:

        Client { org.apache.zookeeper.server.auth.DigestLoginModule required
                 username="bob" password="bobpw"; };

    JaasError names what is missing or unsupported (e.g. a Krb5LoginModule: GSSAPI)."""
    try:
        return SaslCredentials(*jaas.digest_login(path, section))
    except jaas.JaasError as e:
        raise jaas.JaasError(f"{path}: {e}") from None


def _key_type(path: Path) -> str:
    """PKCS12 (or a refused JKS/BCFKS) by its suffix; anything else is read as PEM (key + certificate)."""
    return "" if path.suffix.lower() in (".p12", ".pfx", ".jks", ".bcfks") else "PEM"


def _trust_type(path: Path) -> str:
    try:
        return store_type(path, "")
    except TlsError:
        return "PEM"  # a CA bundle with another suffix (e.g. .cer, ca-bundle) is PEM text


def tls_context(*, ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                password: str = "", verify: bool = True, check_hostname: bool = True,
                settings: TlsSettings | None = None) -> ssl.SSLContext:
    """A client TLS context.

    * `ca`: trusted CA certificates (PEM file, or PKCS12 trust store with `password`); without it, the
      system's CAs (as the Java client falls back to the JDK's).
    * `cert` (+ `key`): the client certificate for x509 authentication: PEM certificate and PEM key in
      two files, or one file holding both (ZooKeeper's PEM key store), or a PKCS12 key store
      (`.p12`/`.pfx`, opened with `password`).
    * `check_hostname`: ZooKeeper's `zookeeper.ssl.hostnameVerification` (default true); `verify=False`
      turns off certificate verification entirely (development only: anyone can then pose as the server).
    * `settings`: a Java-style configuration (key/trust stores, protocols, cipher suites) instead of the
      arguments above, as read from a zkCli client configuration file.

    TlsError names the file and what is wrong with it.
    """
    if settings is None:
        keystore = cert if key is None else None
        settings = TlsSettings(keystore=keystore, keystore_password=password if keystore else "",
                               keystore_type=_key_type(keystore) if keystore is not None else "",
                               truststore=ca, truststore_password=password,
                               truststore_type=_trust_type(ca) if ca is not None else "",
                               hostname_verification=check_hostname and verify)
    ctx = client_context(settings)
    if key is not None:
        if cert is None:
            raise TlsError(f"{key}: a client key without its certificate (give the certificate too)")
        try:
            ctx.load_cert_chain(cert, key, password or None)
        except FileNotFoundError as e:
            raise TlsError(f"{e.filename}: no such file") from None
        except (ssl.SSLError, OSError) as e:
            raise TlsError(f"{cert} / {key}: cannot use this certificate and key: {e}") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
