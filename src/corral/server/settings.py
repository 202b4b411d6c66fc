"""Every zoo.cfg key and Java system property corral understands: its type, range and Apache default.

One table instead of an if/elif chain so that the parser, `corral config check --explain` and
docs/configuration.md agree on the names. Values are checked the way ZooKeeper reads them, and where
ZooKeeper would silently misread a value (`skipACL=true` keeps ACLs on, because Apache compares with
the exact string `yes`), corral refuses it with a message saying what to write instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

JAVA_INT_MAX = 2**31 - 1
JAVA_LONG_MAX = 2**63 - 1
_INT = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"[+-]?0[xX][0-9a-fA-F]+")
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


class BadValue(ValueError):
    """What is wrong with one value (the caller adds file, line and key)."""


Convert = Callable[[str], object]


def java_int(value: str, hi: int = JAVA_INT_MAX) -> int:
    """Decimal as Integer.parseInt (and hex as Integer.decode, which system properties go through);
    Python's extras (`1_000`, blanks inside) are not Java and are refused."""
    v = value.strip()
    if _INT.fullmatch(v):
        n = int(v)
    elif _HEX.fullmatch(v):
        n = int(v, 16)
    else:
        raise BadValue(f"not an integer: {value!r}")
    if not -hi - 1 <= n <= hi:
        raise BadValue(f"{v} is out of range for a Java {'int' if hi == JAVA_INT_MAX else 'long'}")
    return n


def int_at_least(lo: int, why: str = "", hi: int = JAVA_INT_MAX) -> Convert:
    def convert(value: str) -> int:
        n = java_int(value, hi)
        if n < lo:
            raise BadValue(f"must be at least {lo}, not {n}{why}")
        return n
    return convert


def timeout_ms(value: str) -> int:
    """min/maxSessionTimeout: -1 (the default: derived from tickTime) or a positive number of ms."""
    n = java_int(value)
    if n != -1 and n <= 0:
        raise BadValue(f"must be -1 (derive from tickTime) or > 0, not {n}")
    return n


def port(value: str) -> int:
    n = java_int(value)
    if n == 0:
        raise BadValue("0 is not a port (Apache would listen on a random one)")
    if not 1 <= n <= 65535:
        raise BadValue(f"{n} is not a port (1-65535)")
    return n


def java_bool(value: str) -> bool:
    """Boolean.parseBoolean reads anything but `true` as false; a typo would silently mean false."""
    v = value.strip().lower()
    if v in ("true", "false"):
        return v == "true"
    raise BadValue(f"not a boolean: {value!r} (Java reads only true or false)")


def yes_no(default_yes: bool) -> Convert:
    """Properties ZooKeeper compares with the exact string `yes` (skipACL) or `no` (forceSync)."""
    def convert(value: str) -> bool:
        v = value.strip()
        if v in ("yes", "no"):
            return v == "yes"
        meaning = "anything but 'no' means yes" if default_yes else "anything but 'yes' means no"
        raise BadValue(f"write yes or no, not {value!r} (ZooKeeper compares the exact string: {meaning})")
    return convert


def text(value: str) -> str:
    return value.strip()


def nonempty(value: str) -> str:
    v = value.strip()
    if not v:
        raise BadValue("empty value")
    return v


def path(value: str) -> Path:
    return Path(nonempty(value))


def auth_to_local(value: str) -> str:
    """Kerberos principal to short name rules (ZooKeeper's KerberosName): corral has the rule DEFAULT only;
    other rules would give other `sasl` ids than the operator wrote ACLs for."""
    v = value.strip()
    if v != "DEFAULT":
        raise BadValue("only DEFAULT is supported (RULE:[n:...] mappings are not implemented)")
    return v


def host(value: str) -> str:
    """An IP literal or a well-formed host name (not resolved: corral does not wait for DNS to check)."""
    v = nonempty(value)
    bare = v[1:-1] if v.startswith("[") and v.endswith("]") else v
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(bare):
        raise BadValue(f"not an IP address or host name: {value!r}")
    return bare


def word_list(value: str) -> frozenset[str]:
    return frozenset(w.strip() for w in value.split(",") if w.strip())


def one_of(*choices: str) -> Convert:
    def convert(value: str) -> str:
        v = value.strip()
        if v not in choices:
            raise BadValue(f"{value!r} is not one of {', '.join(choices)}")
        return v
    return convert


_URL_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
DEFAULT_METRICS_PROVIDER = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
PROMETHEUS_METRICS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def url_path(value: str) -> str:
    """An absolute URL path without query or fragment (admin.commandURL); a trailing / is dropped."""
    v = value.strip()
    if not _URL_PATH.fullmatch(v) or "//" in v:
        raise BadValue(f"not an absolute URL path such as /commands: {value!r}")
    return v.rstrip("/") or "/"


def metrics_provider(value: str) -> str:
    """ZooKeeper's two providers, by class name; any other class would not load in ZooKeeper either."""
    v = value.strip()
    if v in (DEFAULT_METRICS_PROVIDER, PROMETHEUS_METRICS_PROVIDER):
        return v
    raise BadValue(f"unknown metrics provider {value!r} (corral has {DEFAULT_METRICS_PROVIDER} and "
                   f"{PROMETHEUS_METRICS_PROVIDER})")


def election_alg(value: str) -> int:
    if value.strip() != "3":
        raise BadValue("only electionAlg=3 is supported (as in ZooKeeper 3.6+)")
    return 3


def client_auth(value: str) -> str:
    """ssl.clientAuth as X509Util.ClientAuth.fromPropertyValue reads it: case-insensitive, empty = need."""
    v = value.strip().lower() or "need"
    if v not in ("need", "want", "none"):
        raise BadValue(f"{value!r} is not one of need, want, none")
    return v


def store_type(value: str) -> str:
    """ssl.keyStore.type / ssl.trustStore.type (KeyStoreFileType.fromPropertyValue: case-insensitive;
    empty: inferred from the file name)."""
    v = value.strip().upper()
    if v not in ("", "PEM", "PKCS12", "JKS", "BCFKS"):
        raise BadValue(f"{value!r} is not one of PEM, PKCS12, JKS, BCFKS")
    return v


def tls_protocol(value: str) -> str:
    v = value.strip()
    if v in ("TLSv1", "TLSv1.1"):
        raise BadValue(f"{v} is disabled (as in Java 17 and OpenSSL 3): use TLSv1.2 or TLSv1.3")
    if v not in ("TLS", "TLSv1.2", "TLSv1.3"):
        raise BadValue(f"{value!r} is not one of TLSv1.2, TLSv1.3, TLS")
    return v


def tls_protocols(value: str) -> tuple[str, ...]:
    out = tuple(tls_protocol(p) for p in value.split(",") if p.strip())
    if not out:
        raise BadValue("empty list")
    return out


def name_list(value: str) -> tuple[str, ...]:
    out = tuple(w.strip() for w in value.split(",") if w.strip())
    if not out:
        raise BadValue("empty list")
    return out


_FACTORIES = ("org.apache.zookeeper.server.NettyServerCnxnFactory", "org.apache.zookeeper.server.NIOServerCnxnFactory")


def cnxn_factory(value: str) -> str:
    """serverCnxnFactory: both of Apache's factories are accepted (corral has one client transport)."""
    v = value.strip()
    if v not in _FACTORIES:
        raise BadValue(f"{value!r} is not one of {', '.join(_FACTORIES)}")
    return v


def ssl_auth_provider(value: str) -> str:
    v = value.strip()
    if v != "x509":
        raise BadValue(f"only the x509 provider is available, not {value!r}")
    return v


@dataclass(frozen=True)
class Setting:
    """`key` as written in zoo.cfg; `sysprop` the Java system property ZooKeeper reads it from (None:
    a zoo.cfg-only key); `attr` the ServerConfig field (None: accepted and checked, but unused)."""

    key: str
    convert: Convert
    attr: str | None
    sysprop: str | None = None
    apache_default: str = ""
    aliases: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("tickTime", int_at_least(1), "tick_time", apache_default="3000"),
    Setting("dataDir", path, "data_dir", apache_default="(required)"),
    Setting("dataLogDir", path, "data_log_dir", apache_default="dataDir"),
    Setting("clientPort", port, "client_port", apache_default="(none)"),
    Setting("clientPortAddress", host, "client_port_address", apache_default="0.0.0.0"),
    Setting("maxClientCnxns", int_at_least(0, " (0: unlimited)"), "max_client_cnxns", apache_default="60"),
    Setting("minSessionTimeout", timeout_ms, "min_session_timeout", apache_default="2 x tickTime"),
    Setting("maxSessionTimeout", timeout_ms, "max_session_timeout", apache_default="20 x tickTime"),
    Setting("initLimit", int_at_least(1), "init_limit", apache_default="(required in an ensemble)"),
    Setting("syncLimit", int_at_least(1), "sync_limit", apache_default="(required in an ensemble)"),
    Setting("electionAlg", election_alg, None, apache_default="3"),
    Setting("autopurge.snapRetainCount", int_at_least(-JAVA_INT_MAX), "snap_retain_count", apache_default="3"),
    Setting("autopurge.purgeInterval", java_int, "purge_interval", apache_default="0"),
    Setting("4lw.commands.whitelist", word_list, "four_letter_whitelist", "zookeeper.4lw.commands.whitelist",
            "srvr"),
    Setting("jute.maxbuffer", int_at_least(1), "jute_max_buffer", "jute.maxbuffer", "1048575 (0xfffff)"),
    Setting("sessionlessCnxnTimeout", int_at_least(1), "sessionless_cnxn_timeout",
            "zookeeper.nio.sessionlessCnxnTimeout", "10000", aliases=("nio.sessionlessCnxnTimeout",)),
    Setting("forceSync", yes_no(True), "force_sync", "zookeeper.forceSync", "yes"),
    Setting("snapCount", java_int, "snap_count", "zookeeper.snapCount", "100000"),
    Setting("preAllocSize", int_at_least(1), "pre_alloc_kb", "zookeeper.preAllocSize", "65536 (KB)"),
    Setting("skipACL", yes_no(False), "skip_acl", "zookeeper.skipACL", "no"),
    Setting("extendedTypesEnabled", java_bool, "extended_types", "zookeeper.extendedTypesEnabled", "false"),
    Setting("enforceQuota", java_bool, "enforce_quota", "zookeeper.enforceQuota", "false"),
    Setting("DigestAuthenticationProvider.superDigest", nonempty, "super_digest",
            "zookeeper.DigestAuthenticationProvider.superDigest", "(none)"),
    Setting("globalOutstandingLimit", int_at_least(1), "global_outstanding_limit",
            "zookeeper.globalOutstandingLimit", "1000"),
    Setting("znode.container.checkIntervalMs", int_at_least(1), "container_check_interval",
            "znode.container.checkIntervalMs", "60000"),
    Setting("znode.container.maxPerMinute", int_at_least(1), "container_max_per_minute",
            "znode.container.maxPerMinute", "10000"),
    Setting("znode.container.maxNeverUsedIntervalMs", int_at_least(0, hi=JAVA_LONG_MAX),
            "container_max_never_used", "znode.container.maxNeverUsedIntervalMs", "0"),
    Setting("datadir.autocreate", java_bool, "data_dir_autocreate", "zookeeper.datadir.autocreate", "true"),
    Setting("fsync.warningthresholdms", java_int, "fsync_warning_ms", "zookeeper.fsync.warningthresholdms", "1000"),
    Setting("fsync.inlineMaxMicros", int_at_least(0, " (0: never inline)"), "inline_sync_us",
            apache_default="(corral only) 1000"),
    Setting("admin.enableServer", java_bool, "admin_enabled", "zookeeper.admin.enableServer", "true"),
    Setting("admin.serverAddress", host, "admin_address", "zookeeper.admin.serverAddress", "0.0.0.0"),
    Setting("admin.serverPort", port, "admin_port", "zookeeper.admin.serverPort", "8080"),
    Setting("admin.commandURL", url_path, "admin_command_url", "zookeeper.admin.commandURL", "/commands"),
    Setting("admin.snapshot.enabled", java_bool, "admin_snapshot_enabled", "zookeeper.admin.snapshot.enabled",
            "true"),
    Setting("admin.restore.enabled", java_bool, "admin_restore_enabled", "zookeeper.admin.restore.enabled", "true"),
    Setting("admin.rateLimiterIntervalInMS", int_at_least(0), "admin_rate_limit_interval",
            "zookeeper.admin.rateLimiterIntervalInMS", "300000"),
    Setting("leader.ackLoggingFrequency", java_int, "ack_logging_frequency", "zookeeper.leader.ackLoggingFrequency",
            "1000"),
    Setting("metricsProvider.className", metrics_provider, "metrics_provider",
            apache_default="org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"),
    Setting("metricsProvider.httpHost", host, "prometheus_host", apache_default="0.0.0.0"),
    Setting("metricsProvider.httpPort", port, "prometheus_port", apache_default="7000"),
    Setting("prometheus.enable", java_bool, "prometheus_enable", apache_default="(corral only) false"),
    # Client security (docs/security.md).
    Setting("secureClientPort", port, "secure_client_port", apache_default="(none)"),
    Setting("secureClientPortAddress", host, "secure_client_port_address", apache_default="all addresses"),
    Setting("serverCnxnFactory", cnxn_factory, None, "zookeeper.serverCnxnFactory", "NIOServerCnxnFactory"),
    Setting("ssl.keyStore.location", path, "ssl_keystore", "zookeeper.ssl.keyStore.location", "(none)"),
    Setting("ssl.keyStore.password", text, "ssl_keystore_password", "zookeeper.ssl.keyStore.password", "(none)"),
    Setting("ssl.keyStore.type", store_type, "ssl_keystore_type", "zookeeper.ssl.keyStore.type",
            "from the file name"),
    Setting("ssl.trustStore.location", path, "ssl_truststore", "zookeeper.ssl.trustStore.location", "(none)"),
    Setting("ssl.trustStore.password", text, "ssl_truststore_password", "zookeeper.ssl.trustStore.password",
            "(none)"),
    Setting("ssl.trustStore.type", store_type, "ssl_truststore_type", "zookeeper.ssl.trustStore.type",
            "from the file name"),
    Setting("ssl.clientAuth", client_auth, "ssl_client_auth", "zookeeper.ssl.clientAuth", "need"),
    Setting("ssl.protocol", tls_protocol, "ssl_protocol", "zookeeper.ssl.protocol", "TLSv1.3"),
    Setting("ssl.enabledProtocols", tls_protocols, "ssl_enabled_protocols", "zookeeper.ssl.enabledProtocols",
            "ssl.protocol (TLSv1.3: TLSv1.3,TLSv1.2)"),
    Setting("ssl.ciphersuites", name_list, "ssl_ciphersuites", "zookeeper.ssl.ciphersuites", "(the TLS library's)"),
    Setting("ssl.hostnameVerification", java_bool, "ssl_hostname_verification",
            "zookeeper.ssl.hostnameVerification", "true"),
    Setting("ssl.authProvider", ssl_auth_provider, None, "zookeeper.ssl.authProvider", "x509"),
    Setting("X509AuthenticationProvider.superUser", nonempty, "x509_super_user",
            "zookeeper.X509AuthenticationProvider.superUser", "(none)"),
    Setting("DigestAuthenticationProvider.enabled", java_bool, "digest_enabled",
            "zookeeper.DigestAuthenticationProvider.enabled", "true"),
    Setting("java.security.auth.login.config", path, "jaas_config", "java.security.auth.login.config", "(none)"),
    Setting("sasl.serverconfig", nonempty, "jaas_section", "zookeeper.sasl.serverconfig", "Server"),
    Setting("java.security.krb5.conf", path, "krb5_conf", "java.security.krb5.conf",
            "(KRB5_CONFIG, else /etc/krb5.conf)"),
    Setting("kerberos.removeHostFromPrincipal", java_bool, "kerberos_remove_host",
            "zookeeper.kerberos.removeHostFromPrincipal", "false"),
    Setting("kerberos.removeRealmFromPrincipal", java_bool, "kerberos_remove_realm",
            "zookeeper.kerberos.removeRealmFromPrincipal", "false"),
    Setting("security.auth_to_local", auth_to_local, None, "zookeeper.security.auth_to_local", "DEFAULT"),
    Setting("SASLAuthenticationProvider.superPassword", text, "sasl_super_password",
            "zookeeper.SASLAuthenticationProvider.superPassword", "(none)"),
    Setting("allowSaslFailedClients", java_bool, "allow_sasl_failed", "zookeeper.allowSaslFailedClients", "false"),
    Setting("enforce.auth.enabled", java_bool, "enforce_auth", "zookeeper.enforce.auth.enabled", "false"),
    Setting("enforce.auth.schemes", name_list, "enforce_auth_schemes", "zookeeper.enforce.auth.schemes", "(none)"),
    Setting("sessionRequireClientSASLAuth", java_bool, "require_sasl", "zookeeper.sessionRequireClientSASLAuth",
            "false"),
    # Member-to-member security (docs/security.md, "Between members").
    Setting("sslQuorum", java_bool, "ssl_quorum", apache_default="false"),
    Setting("portUnification", java_bool, "port_unification", apache_default="false"),
    Setting("sslQuorumReloadCertFiles", java_bool, "ssl_quorum_reload", apache_default="false"),
    Setting("ssl.quorum.keyStore.location", path, "ssl_quorum_keystore", "zookeeper.ssl.quorum.keyStore.location",
            "(none)"),
    Setting("ssl.quorum.keyStore.password", text, "ssl_quorum_keystore_password",
            "zookeeper.ssl.quorum.keyStore.password", "(none)"),
    Setting("ssl.quorum.keyStore.type", store_type, "ssl_quorum_keystore_type", "zookeeper.ssl.quorum.keyStore.type",
            "from the file name"),
    Setting("ssl.quorum.trustStore.location", path, "ssl_quorum_truststore",
            "zookeeper.ssl.quorum.trustStore.location", "(none)"),
    Setting("ssl.quorum.trustStore.password", text, "ssl_quorum_truststore_password",
            "zookeeper.ssl.quorum.trustStore.password", "(none)"),
    Setting("ssl.quorum.trustStore.type", store_type, "ssl_quorum_truststore_type",
            "zookeeper.ssl.quorum.trustStore.type", "from the file name"),
    Setting("ssl.quorum.clientAuth", client_auth, "ssl_quorum_client_auth", "zookeeper.ssl.quorum.clientAuth", "need"),
    Setting("ssl.quorum.protocol", tls_protocol, "ssl_quorum_protocol", "zookeeper.ssl.quorum.protocol", "TLSv1.3"),
    Setting("ssl.quorum.enabledProtocols", tls_protocols, "ssl_quorum_enabled_protocols",
            "zookeeper.ssl.quorum.enabledProtocols", "ssl.quorum.protocol (TLSv1.3: TLSv1.3,TLSv1.2)"),
    Setting("ssl.quorum.ciphersuites", name_list, "ssl_quorum_ciphersuites", "zookeeper.ssl.quorum.ciphersuites",
            "(the TLS library's)"),
    Setting("ssl.quorum.hostnameVerification", java_bool, "ssl_quorum_hostname_verification",
            "zookeeper.ssl.quorum.hostnameVerification", "true"),
    Setting("quorum.auth.enableSasl", java_bool, "quorum_sasl", apache_default="false"),
    Setting("quorum.auth.learnerRequireSasl", java_bool, "quorum_learner_require_sasl", apache_default="false"),
    Setting("quorum.auth.serverRequireSasl", java_bool, "quorum_server_require_sasl", apache_default="false"),
    Setting("quorum.auth.learner.saslLoginContext", nonempty, "quorum_learner_context",
            apache_default="QuorumLearner"),
    Setting("quorum.auth.server.saslLoginContext", nonempty, "quorum_server_context", apache_default="QuorumServer"),
    Setting("audit.enable", java_bool, "audit_enable", "zookeeper.audit.enable", "false"),
    Setting("log.dir", path, "log_dir_audit", "zookeeper.log.dir", "dataDir"),
    Setting("auditlog.file", nonempty, "audit_file", "zookeeper.auditlog.file", "zookeeper_audit.log"),
    # Read-only mode and local sessions (docs/operations.md).
    Setting("readonlymode.enabled", java_bool, "read_only_enabled", "readonlymode.enabled", "false"),
    Setting("localSessionsEnabled", java_bool, "local_sessions_enabled", apache_default="false"),
    Setting("localSessionsUpgradingEnabled", java_bool, "local_sessions_upgrading", apache_default="false"),
    # corral's own: the web console (corral.console) in the admin HTTP server; false for locked-down installs.
    Setting("admin.console.enable", java_bool, "console_enable", apache_default="(corral only)"),
    # Dynamic reconfiguration: the membership in its own file, rewritten at each reconfig.
    Setting("dynamicConfigFile", path, "dynamic_config_file", apache_default="(none: server.N lines in zoo.cfg)"),
    Setting("standaloneEnabled", java_bool, "standalone_enabled", apache_default="true"),
    Setting("reconfigEnabled", java_bool, "reconfig_enabled", apache_default="false"),
    # Accepted and checked like ZooKeeper, but without effect in corral.
    Setting("metricsProvider.exportJvmInfo", java_bool, None, apache_default="true"),
    Setting("syncEnabled", java_bool, None, apache_default="true"),
    Setting("quorumListenOnAllIPs", java_bool, None, apache_default="false"),
    Setting("peerType", one_of("participant", "observer"), None, apache_default="participant"),
    Setting("clientPortListenBacklog", java_int, None, apache_default="-1"),
    Setting("observerMasterPort", port, None, apache_default="(none)"),
    Setting("maxCnxns", int_at_least(0), None, apache_default="0"),
    Setting("digest.enabled", java_bool, None, "zookeeper.digest.enabled", "true"),
    Setting("snapshot.trust.empty", java_bool, None, "zookeeper.snapshot.trust.empty", "false"),
    Setting("leaderServes", yes_no(True), None, "zookeeper.leaderServes", "yes"),
    Setting("cnxTimeout", int_at_least(1), None, "zookeeper.cnxTimeout", "5000"),
    # QuorumCnxManager's pool for quorum SASL handshakes (Apache's docs set it beside quorum.auth.*):
    # corral's handshakes run on its event loop, so there is no pool to size.
    Setting("quorum.cnxn.threads.size", int_at_least(1), None, apache_default="20"),
)

# Security settings corral does not implement: ignoring one would run a server less protected than its
# operator asked for, so they are errors (in zoo.cfg and in -D flags alike).
_INSECURE_IF_IGNORED = re.compile(
    r"(zookeeper\.)?(ssl\.|sslQuorum|secureClientPort|client\.secure|serverCnxnFactory|authProvider\.|"
    r"quorum\.auth\.|quorum\.cnxn\.|kerberos\.|requireClientAuthScheme|enforce\.auth\.|sessionRequireClientSASLAuth|"
    r"X509AuthenticationProvider|DigestAuthenticationProvider\.(?!superDigest$)|superUser|allowSaslFailedClients|"
    r"portUnification|sasl\.|ensembleAuthName)|java\.security\.auth\.login\.config$")


def is_security_key(key: str) -> bool:
    return _INSECURE_IF_IGNORED.match(key) is not None


def _index() -> tuple[dict[str, Setting], dict[str, Setting]]:
    by_cfg: dict[str, Setting] = {}
    by_prop: dict[str, Setting] = {}
    for s in SETTINGS:
        names = [s.key, f"zookeeper.{s.key}", *s.aliases, *(f"zookeeper.{a}" for a in s.aliases)]
        if s.sysprop is not None:
            names += [s.sysprop, s.sysprop.removeprefix("zookeeper.")]
            by_prop[s.sysprop] = s
        for name in names:
            by_cfg.setdefault(name, s)
    return by_cfg, by_prop


BY_CFG_KEY, BY_SYSPROP = _index()
