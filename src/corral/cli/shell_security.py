"""The shell's TLS and SASL settings: zkCli's client configuration file plus explicit options.

zkCli takes its security from JVM properties (`-Dzookeeper.client.secure=true`,
`-Dzookeeper.ssl.keyStore.location=...`, `-Djava.security.auth.login.config=jaas.conf`) or from
`-client-configuration FILE`, a properties file with the same `zookeeper.*` keys. `corral shell`
reads that file too (it used to ignore it: a file asking for TLS then connected in plaintext, a silent
downgrade), and has plain options for the common cases:

    --tls                          TLS with the system's CAs
    --tls-ca FILE                  trusted CAs (PEM, or a PKCS12 trust store); implies --tls
    --tls-cert FILE [--tls-key FILE]  client certificate (x509 authentication); implies --tls
    --tls-password-env VAR         password of the key/trust store or of an encrypted key, read from $VAR
    --tls-no-hostname-check        zookeeper.ssl.hostnameVerification=false
    --sasl-user NAME               DIGEST-MD5 as NAME, password from $CORRAL_SASL_PASSWORD or
                                   --sasl-password-env VAR (never on the command line: `ps` shows it)
    --jaas FILE                    a JAAS file's `Client` section (DigestLoginModule username/password)

A key of the file that would change security and that corral cannot honour is an error naming it.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from ..client.security import SaslCredentials, TlsError, sasl_from_jaas, tls_context
from ..security.jaas import JaasError
from ..security.tls import TlsSettings
from ..server.properties import PropertiesSyntaxError, parse_properties

__all__ = ["SecurityError", "SecurityOptions", "read_client_configuration"]

DEFAULT_SASL_PASSWORD_ENV = "CORRAL_SASL_PASSWORD"

# zookeeper.* client keys that corral's shell honours, and those it accepts because they do not change
# what is protected (the socket implementation; Netty is what Java needs for TLS, corral needs nothing).
_SSL_KEYS = ("keyStore.location", "keyStore.password", "keyStore.type", "trustStore.location",
             "trustStore.password", "trustStore.type", "hostnameVerification", "protocol", "enabledProtocols",
             "ciphersuites")
_ACCEPTED = {"zookeeper.clientCnxnSocket", "zookeeper.client.secure", "zookeeper.sasl.client",
             "zookeeper.sasl.clientconfig", *(f"zookeeper.ssl.{k}" for k in _SSL_KEYS)}
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


class SecurityError(ValueError):
    """A security option or file that cannot be used; the message names it and says why."""


@dataclass
class SecurityOptions:
    """What the command line asked for; `build()` turns it into the client's `tls` and `sasl`."""

    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    password_env: str | None = None
    hostname_check: bool = True
    sasl_user: str | None = None
    sasl_password_env: str | None = None
    jaas: Path | None = None
    client_config: Path | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def build(self) -> tuple[ssl.SSLContext | None, SaslCredentials | None]:
        props = read_client_configuration(self.client_config) if self.client_config else {}
        return self._tls(props), self._sasl(props)

    def _tls(self, props: dict[str, str]) -> ssl.SSLContext | None:
        secure = _bool(props, "zookeeper.client.secure", False)
        explicit = self.tls or self.ca is not None or self.cert is not None or self.key is not None
        if not (secure or explicit):
            if any(k.startswith("zookeeper.ssl.") for k in props):
                raise SecurityError(f"{self.client_config}: zookeeper.ssl.* keys without zookeeper.client.secure=true "
                                    "(set it, or remove the keys)")
            return None
        password = ""
        if self.password_env is not None:
            if self.password_env not in os.environ:
                raise SecurityError(f"--tls-password-env: ${self.password_env} is not set")
            password = os.environ[self.password_env]
        try:
            if explicit:
                return tls_context(ca=self.ca, cert=self.cert, key=self.key, password=password,
                                   check_hostname=self.hostname_check)
            return tls_context(settings=_settings(props, self.hostname_check))
        except TlsError as e:
            raise SecurityError(f"TLS: {e}") from None
        except ssl.SSLError as e:
            raise SecurityError(f"TLS: {e}") from None

    def _sasl(self, props: dict[str, str]) -> SaslCredentials | None:
        if self.sasl_user is not None:
            if self.jaas is not None:
                raise SecurityError("give either --sasl-user or --jaas, not both")
            var = self.sasl_password_env or DEFAULT_SASL_PASSWORD_ENV
            if var not in os.environ:
                raise SecurityError(f"--sasl-user: the password is read from ${var}, which is not set")
            try:
                return SaslCredentials(self.sasl_user, os.environ[var])
            except ValueError as e:
                raise SecurityError(f"--sasl-user: {e}") from None
        if self.jaas is None:
            return None
        if not _bool(props, "zookeeper.sasl.client", True):
            return None  # zkCli: zookeeper.sasl.client=false turns SASL off even with a JAAS file
        section = props.get("zookeeper.sasl.clientconfig", "Client")
        try:
            return sasl_from_jaas(self.jaas, section)
        except JaasError as e:
            raise SecurityError(f"--jaas: {e}") from None


def _bool(props: dict[str, str], key: str, default: bool) -> bool:
    value = props.get(key)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise SecurityError(f"{key}={value}: not a boolean (true or false)")


def _settings(props: dict[str, str], hostname_check: bool) -> TlsSettings:
    def path(key: str) -> Path | None:
        v = props.get(f"zookeeper.ssl.{key}")
        return Path(v) if v else None

    def words(key: str) -> tuple[str, ...] | None:
        v = props.get(f"zookeeper.ssl.{key}")
        return tuple(w.strip() for w in v.split(",") if w.strip()) if v else None

    return TlsSettings(
        keystore=path("keyStore.location"), keystore_password=props.get("zookeeper.ssl.keyStore.password", ""),
        keystore_type=props.get("zookeeper.ssl.keyStore.type", "").upper(),
        truststore=path("trustStore.location"), truststore_password=props.get("zookeeper.ssl.trustStore.password", ""),
        truststore_type=props.get("zookeeper.ssl.trustStore.type", "").upper(),
        protocol=props.get("zookeeper.ssl.protocol", "TLSv1.3"), enabled_protocols=words("enabledProtocols"),
        ciphersuites=words("ciphersuites"),
        hostname_verification=hostname_check and _bool(props, "zookeeper.ssl.hostnameVerification", True))


def read_client_configuration(path: Path) -> dict[str, str]:
    """zkCli's `-client-configuration FILE` (Java properties). Keys outside `zookeeper.` are ignored as
    zkCli ignores them; a `zookeeper.ssl.*` or `zookeeper.sasl.*` key corral does not honour is an
    error, so that no setting asking for protection is dropped silently."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SecurityError(f"-client-configuration {path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SecurityError(f"-client-configuration {path}: not UTF-8 text") from None
    try:
        entries = parse_properties(text)
    except PropertiesSyntaxError as e:
        raise SecurityError(f"{path}:{e.line}: {e.message}") from None
    out: dict[str, str] = {}
    for entry in entries:
        key = entry.key
        if key.startswith(("zookeeper.ssl.", "zookeeper.sasl.", "zookeeper.client.secure")) and key not in _ACCEPTED:
            raise SecurityError(f"{path}:{entry.line}: {key} is not supported by corral shell")
        if key == "zookeeper.clientCnxnSocket" and not entry.value.startswith("org.apache.zookeeper.ClientCnxnSocket"):
            raise SecurityError(f"{path}:{entry.line}: zookeeper.clientCnxnSocket={entry.value} is not a ZooKeeper "
                                "client socket")
        out[key] = entry.value.strip()
    return out
