"""From a checked zoo.cfg to the server's security: which schemes exist, the TLS context, the SASL
users, authentication enforcement and the audit log.

`check_security` runs inside config parsing, so `corral config check` and a server start refuse the
same things with the same one line (a key store that cannot be read, an enforced scheme without its
provider, a JAAS file without its section), before anything listens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import jaas, tls
from .digest_md5 import DigestMd5Server, SaslError
from .providers import provider_scheme
from .sasl_gssapi import GssapiServer, KerberosServer

if TYPE_CHECKING:
    from ..server.config import ServerConfig


_TLS_FIELDS = ("keystore", "keystore_password", "keystore_type", "truststore", "truststore_password",
               "truststore_type", "client_auth", "protocol", "enabled_protocols", "ciphersuites",
               "hostname_verification")


def tls_settings(cfg: ServerConfig, prefix: str = "ssl.") -> tls.TlsSettings:
    """The `ssl.*` (client port) or `ssl.quorum.*` (between members) settings: one set of keys under two
    prefixes, as ZooKeeper's ClientX509Util and QuorumX509Util read them."""
    attr = {"ssl.": "ssl_", "ssl.quorum.": "ssl_quorum_"}[prefix]
    values: dict[str, Any] = {name: getattr(cfg, attr + name) for name in _TLS_FIELDS}
    return tls.TlsSettings(**values, prefix=prefix)


def schemes(cfg: ServerConfig) -> frozenset[str]:
    """ProviderRegistry: ip always, digest unless disabled, and every authProvider.N."""
    out = {"ip"} | ({"digest"} if cfg.digest_enabled else set())
    out |= {provider_scheme(c) for c in cfg.auth_providers.values()}
    return frozenset(out)


def enforced_schemes(cfg: ServerConfig) -> tuple[str, ...]:
    """AuthenticationHelper: sessionRequireClientSASLAuth means enforce.auth with sasl."""
    if cfg.require_sasl:
        return ("sasl",)
    return cfg.enforce_auth_schemes if cfg.enforce_auth else ()


def check_security(cfg: ServerConfig) -> None:
    from ..server.config import ConfigError

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(msg, source=cfg.source, line=cfg.lines.get(key), key=key)

    registered = schemes(cfg)
    if (cfg.enforce_auth or cfg.require_sasl) and not enforced_schemes(cfg):
        raise bad("enforce.auth.schemes", "enforce.auth.enabled is true but no scheme is given (as in ZooKeeper)")
    for scheme in enforced_schemes(cfg):
        if scheme not in registered:
            key = "sessionRequireClientSASLAuth" if cfg.require_sasl else "enforce.auth.schemes"
            raise bad(key, f"authentication scheme {scheme} is not available: add its authProvider.N line")
    if cfg.secure_client_port is not None:
        if cfg.ssl_keystore is None:
            raise bad("secureClientPort", "needs ssl.keyStore.location (the server's key and certificate)")
        if cfg.plain_client_port and cfg.secure_client_port == cfg.client_port:
            raise bad("secureClientPort", f"{cfg.secure_client_port} is also clientPort "
                      "(port unification is not supported)")
        try:
            tls.server_context(tls_settings(cfg))
        except tls.TlsError as e:
            raise bad("ssl.keyStore.location" if "ssl." not in str(e) else "ssl", str(e)) from None
    try:
        kerberos = client_kerberos(cfg)
        if kerberos is None:
            client_sasl_users(cfg)
        else:
            kerberos.credentials()  # the binding, the keytab and the principal, checked before anything listens
    except (jaas.JaasError, SaslError) as e:
        raise ConfigError(str(e), source=str(cfg.jaas_config), key="java.security.auth.login.config") from None
    from .quorum import check_quorum_security  # that module builds on this one
    check_quorum_security(cfg)


def client_kerberos(cfg: ServerConfig) -> KerberosServer | None:
    """The client port's SASL GSSAPI acceptor when the JAAS section logs in with Krb5LoginModule (Apache
    then speaks GSSAPI only); None otherwise. `java.security.krb5.conf` becomes KRB5_CONFIG, where MIT
    Kerberos looks for the realm's configuration, as Java looks at the property."""
    if cfg.jaas_config is None:
        return None
    if cfg.quorum_sasl and not jaas.has_section(cfg.jaas_config, cfg.jaas_section):
        return None
    options = jaas.kerberos_options(cfg.jaas_config, cfg.jaas_section)
    if options is None:
        return None
    if cfg.krb5_conf is not None:
        os.environ["KRB5_CONFIG"] = str(cfg.krb5_conf)
    return KerberosServer.from_options(cfg.jaas_section, options, remove_host=cfg.kerberos_remove_host,
                                       remove_realm=cfg.kerberos_remove_realm)


def client_sasl_users(cfg: ServerConfig) -> dict[str, str] | None:
    """The client port's DIGEST-MD5 users (the JAAS `Server` section); None: SASL is not configured.
    A JAAS file given for quorum SASL need not have that section: Apache then has no client SASL."""
    if cfg.jaas_config is None:
        return None
    if cfg.quorum_sasl and not jaas.has_section(cfg.jaas_config, cfg.jaas_section):
        return None
    return jaas.digest_users(cfg.jaas_config, cfg.jaas_section)


@dataclass
class Security:
    """What the frontend asks per connection and request."""

    schemes: frozenset[str] = frozenset({"ip", "digest"})
    sasl_users: dict[str, str] | None = None  # None: no DIGEST-MD5 users in a JAAS Server section
    kerberos: KerberosServer | None = None  # GSSAPI instead of DIGEST-MD5 (Krb5LoginModule)
    kerberos_creds: Any = field(default=None, repr=False)
    x509_super: str | None = None
    sasl_supers: frozenset[str] = frozenset()
    sasl_super_password: str | None = None
    enforce: frozenset[str] = frozenset()  # empty: not enforced
    allow_sasl_failed: bool = False
    tls: tls.ReloadingContext | None = field(default=None, repr=False)

    @property
    def sasl_enabled(self) -> bool:
        return self.sasl_users is not None or self.kerberos is not None

    def sasl_server(self) -> DigestMd5Server | GssapiServer:
        """A new exchange: GSSAPI when the JAAS section logs in with Kerberos, DIGEST-MD5 otherwise (as
        ZooKeeper's SecurityUtils.createSaslServer chooses; the client does not name its mechanism)."""
        if self.kerberos is not None:
            return self.kerberos.exchange(self.kerberos_creds)
        return DigestMd5Server(self.sasl_password)

    @property
    def sasl_required(self) -> bool:
        return "sasl" in self.enforce

    def sasl_password(self, user: str) -> str | None:
        """SaslServerCallbackHandler: `super` may have its password in superPassword."""
        if user == "super" and self.sasl_super_password is not None:
            return self.sasl_super_password
        return None if self.sasl_users is None else self.sasl_users.get(user)


def build(cfg: ServerConfig) -> Security:
    kerberos = client_kerberos(cfg)
    users = client_sasl_users(cfg) if kerberos is None else None
    creds = kerberos.credentials() if kerberos is not None else None
    reloading = tls.ReloadingContext(tls_settings(cfg)) if cfg.secure_client_port is not None else None
    return Security(schemes=schemes(cfg), sasl_users=users, kerberos=kerberos, kerberos_creds=creds,
                    x509_super=cfg.x509_super_user,
                    sasl_supers=frozenset(cfg.sasl_super_users.values()),
                    sasl_super_password=cfg.sasl_super_password, enforce=frozenset(enforced_schemes(cfg)),
                    allow_sasl_failed=cfg.allow_sasl_failed, tls=reloading)
