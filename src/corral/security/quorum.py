"""Security between ensemble members: TLS on both peer ports (`sslQuorum`, `ssl.quorum.*`), port
unification for the rolling enablement of TLS (`portUnification`), and quorum SASL DIGEST-MD5
(`quorum.auth.*`, JAAS `QuorumServer`/`QuorumLearner` sections).

`check_quorum_security` runs with the other configuration checks (one line naming the key, before
anything listens); `build_quorum_security` gives the peer transport what it needs. Which checks and
why, from Apache 3.8's QuorumPeerConfig and QuorumPeer: the two `require` flags need `enableSasl`, a
server that requires SASL must itself authenticate as a learner, and with `enableSasl` both JAAS
sections must exist (Apache builds the SASL server and learner at start and fails without them).
GSSAPI (a Krb5LoginModule section, `quorum.auth.kerberos.servicePrincipal`) is refused: only
DIGEST-MD5 is implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import jaas, tls
from .quorum_auth import QuorumSaslConfig
from .setup import tls_settings

if TYPE_CHECKING:
    from ..server.config import ServerConfig

PREFIX = "ssl.quorum."


@dataclass
class QuorumSecurity:
    """`dial_tls`: connections we make use TLS (sslQuorum); `accept_tls`: accepted ones must be TLS
    (sslQuorum without portUnification); `unified`: accepted ones may be either (portUnification);
    `reload`: sslQuorumReloadCertFiles."""

    dial_tls: bool = False
    unified: bool = False
    reload: bool = False
    hostname_verification: bool = True
    server_tls: tls.ReloadingContext | None = None
    client_tls: tls.ReloadingContext | None = None
    sasl: QuorumSaslConfig | None = None

    @property
    def accept_tls(self) -> bool:
        return self.server_tls is not None and not self.unified

    @property
    def plain(self) -> bool:
        """Nothing to do: plaintext both ways and no authentication."""
        return self.server_tls is None and self.sasl is None

    def check_files(self) -> None:
        """Each second when sslQuorumReloadCertFiles: changed key or trust stores apply to new
        connections (X509Util's file watcher)."""
        if self.reload:
            for ctx in (self.server_tls, self.client_tls):
                if ctx is not None:
                    ctx.check()


def uses_tls(cfg: ServerConfig) -> bool:
    return cfg.ssl_quorum or cfg.port_unification


def check_quorum_security(cfg: ServerConfig) -> None:
    from ..server.config import ConfigError

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(msg, source=cfg.source, line=cfg.lines.get(key), key=key)

    if not cfg.quorum_sasl:
        for key, on in (("quorum.auth.serverRequireSasl", cfg.quorum_server_require_sasl),
                        ("quorum.auth.learnerRequireSasl", cfg.quorum_learner_require_sasl)):
            if on:
                raise bad(key, "quorum.auth.enableSasl is disabled, so this cannot be enabled (as in ZooKeeper)")
    if cfg.quorum_server_require_sasl and not cfg.quorum_learner_require_sasl:
        raise bad("quorum.auth.serverRequireSasl", "quorum.auth.learnerRequireSasl is disabled, so this cannot "
                  "be enabled: this member could not join its own ensemble (as in ZooKeeper)")
    if not cfg.servers:
        return  # standalone: Apache ignores the quorum settings, and so does corral
    if uses_tls(cfg):
        key = "sslQuorum" if cfg.ssl_quorum else "portUnification"
        if cfg.ssl_quorum_keystore is None:
            raise bad(key, f"needs {PREFIX}keyStore.location (this member's key and certificate)")
        settings = tls_settings(cfg, PREFIX)
        try:
            tls.server_context(settings)
            tls.client_context(settings)
        except tls.TlsError as e:
            raise bad(f"{PREFIX}keyStore.location" if PREFIX not in str(e) else key, str(e)) from None
    if cfg.quorum_sasl:
        if cfg.jaas_config is None:
            raise bad("quorum.auth.enableSasl", "needs a JAAS file with QuorumServer and QuorumLearner sections "
                      "(-Djava.security.auth.login.config=FILE)")
        for section, reader in ((cfg.quorum_server_context, jaas.digest_users),
                                (cfg.quorum_learner_context, jaas.digest_login)):
            try:
                reader(cfg.jaas_config, section)
            except jaas.JaasError as e:
                raise ConfigError(f"quorum.auth.enableSasl: {e}", source=str(cfg.jaas_config),
                                  key="java.security.auth.login.config") from None


def build_quorum_security(cfg: ServerConfig) -> QuorumSecurity:
    out = QuorumSecurity(dial_tls=cfg.ssl_quorum, unified=cfg.port_unification, reload=cfg.ssl_quorum_reload,
                         hostname_verification=cfg.ssl_quorum_hostname_verification)
    if uses_tls(cfg):
        settings = tls_settings(cfg, PREFIX)
        out.server_tls = tls.ReloadingContext(settings)
        out.client_tls = tls.ReloadingContext(settings, tls.client_context)
    if cfg.quorum_sasl and cfg.jaas_config is not None:
        out.sasl = QuorumSaslConfig(
            learner_required=cfg.quorum_learner_require_sasl, server_required=cfg.quorum_server_require_sasl,
            users=jaas.digest_users(cfg.jaas_config, cfg.quorum_server_context),
            login=jaas.digest_login(cfg.jaas_config, cfg.quorum_learner_context))
    return out
