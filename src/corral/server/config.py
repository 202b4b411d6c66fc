"""zoo.cfg: the same file Apache ZooKeeper reads, checked as strictly as ZooKeeper checks it, into one
typed object.

The syntax is java.util.Properties (`properties.py`); the keys, types and ranges are in `settings.py`.
Keys that ZooKeeper reads as Java system properties (`jute.maxbuffer`, `zookeeper.skipACL`, ...) are
accepted in zoo.cfg with or without their `zookeeper.` prefix, and as `-Dname=value` flags in the
`SERVER_JVMFLAGS` and `JVMFLAGS` environment variables that zkServer.sh passes to the JVM; zoo.cfg wins,
as in ZooKeeper (a zoo.cfg key is set as a system property after the JVM started). Unknown keys are
warned about (an existing zoo.cfg keeps working); everything that would make the server run other than
as written (a bad number, a `server.a` line, an ensemble without its myid, an unsupported security
setting) is a `ConfigError` that names the file, line and key, so the CLI can print it on one line.
Every effective setting remembers where it came from (`ServerConfig.origins`) for `config check --explain`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import DEFAULT_MAX_BUFFER
from . import settings as S
from .properties import PropertiesSyntaxError, parse_properties

log = logging.getLogger("corral.config")


class ConfigError(ValueError):
    """A configuration that cannot be used; `str()` is `FILE:LINE: KEY: what is wrong`, leaving out
    the parts that do not apply (a myid problem names the myid file, an env flag names the variable)."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.source, self.line, self.key = message, source, line, key

    def __str__(self) -> str:
        where = None if self.source is None else f"{self.source}:{self.line}" if self.line else self.source
        return ": ".join(p for p in (where, self.key, self.message) if p)


@dataclass
class ServerSpec:
    """One `server.N=host:peerPort:electionPort[:role][;[clientAddr:]clientPort]` line."""

    sid: int
    host: str
    peer_port: int
    election_port: int
    observer: bool = False
    client_addr: str | None = None
    client_port: int | None = None
    line: int = field(default=0, compare=False)


@dataclass
class ServerConfig:
    tick_time: int = 2000
    data_dir: Path = Path("./data")
    data_log_dir: Path | None = None
    client_port: int = 2181
    client_port_address: str = "0.0.0.0"
    max_client_cnxns: int = 60
    min_session_timeout: int = -1
    max_session_timeout: int = -1
    four_letter_whitelist: frozenset[str] = frozenset({"srvr"})
    jute_max_buffer: int = DEFAULT_MAX_BUFFER
    sessionless_cnxn_timeout: int = 10000
    force_sync: bool = True
    snap_count: int = 100000
    pre_alloc_kb: int = 65536  # txn log files are extended by this much at a time (FilePadding)
    snap_retain_count: int = 3
    purge_interval: int = 0
    init_limit: int = 10
    sync_limit: int = 5
    skip_acl: bool = False
    extended_types: bool = False
    enforce_quota: bool = False  # zookeeper.enforceQuota: hard quota limits refuse writes (3.7+)
    super_digest: str | None = None
    global_outstanding_limit: int = 1000
    container_check_interval: int = 60000
    container_max_per_minute: int = 10000
    container_max_never_used: int = 0
    data_dir_autocreate: bool = True  # zookeeper.datadir.autocreate (zkServer.sh: ZOO_DATADIR_AUTOCREATE_DISABLE)
    fsync_warning_ms: int = 1000
    # corral's own: a small log write while the log thread is idle runs on the event loop when the last
    # fsyncs all took at most this long (µs); 0: always on the thread (Storage.append says why).
    inline_sync_us: int = 1000
    admin_enabled: bool = True  # the AdminServer (HTTP JSON commands), on by default as in ZooKeeper
    admin_address: str = "0.0.0.0"
    admin_port: int = 8080
    admin_command_url: str = "/commands"
    metrics_provider: str = S.DEFAULT_METRICS_PROVIDER
    prometheus_host: str = "0.0.0.0"
    prometheus_port: int = 7000
    prometheus_enable: bool = False  # corral's own switch for /metrics, beside metricsProvider.className
    initial_text: str = field(default="", repr=False)  # the zoo.cfg as read (the `initial_configuration` command)
    # Client security (docs/security.md); the checks that combine them are in corral.security.setup.
    secure_client_port: int | None = None
    secure_client_port_address: str | None = None
    plain_client_port: bool = True  # False: only secureClientPort was given
    ssl_keystore: Path | None = None
    ssl_keystore_password: str = ""
    ssl_keystore_type: str = ""
    ssl_truststore: Path | None = None
    ssl_truststore_password: str = ""
    ssl_truststore_type: str = ""
    ssl_client_auth: str = "need"
    ssl_protocol: str = "TLSv1.3"
    ssl_enabled_protocols: tuple[str, ...] | None = None
    ssl_ciphersuites: tuple[str, ...] | None = None
    ssl_hostname_verification: bool = True
    x509_super_user: str | None = None
    digest_enabled: bool = True
    jaas_config: Path | None = None
    jaas_section: str = "Server"
    krb5_conf: Path | None = None  # java.security.krb5.conf: the Kerberos configuration (GSSAPI)
    kerberos_remove_host: bool = False
    kerberos_remove_realm: bool = False
    sasl_super_password: str | None = None
    allow_sasl_failed: bool = False
    enforce_auth: bool = False
    enforce_auth_schemes: tuple[str, ...] = ()
    require_sasl: bool = False
    # Between members (corral.security.quorum): TLS on both peer ports, port unification, quorum SASL.
    ssl_quorum: bool = False
    port_unification: bool = False
    ssl_quorum_reload: bool = False
    ssl_quorum_keystore: Path | None = None
    ssl_quorum_keystore_password: str = ""
    ssl_quorum_keystore_type: str = ""
    ssl_quorum_truststore: Path | None = None
    ssl_quorum_truststore_password: str = ""
    ssl_quorum_truststore_type: str = ""
    ssl_quorum_client_auth: str = "need"
    ssl_quorum_protocol: str = "TLSv1.3"
    ssl_quorum_enabled_protocols: tuple[str, ...] | None = None
    ssl_quorum_ciphersuites: tuple[str, ...] | None = None
    ssl_quorum_hostname_verification: bool = True
    quorum_sasl: bool = False
    quorum_learner_require_sasl: bool = False
    quorum_server_require_sasl: bool = False
    quorum_learner_context: str = "QuorumLearner"
    quorum_server_context: str = "QuorumServer"
    audit_enable: bool = False
    log_dir_audit: Path | None = None
    audit_file: str = "zookeeper_audit.log"
    auth_providers: dict[str, str] = field(default_factory=dict)  # authProvider.N key -> Java class name
    sasl_super_users: dict[str, str] = field(default_factory=dict)  # superUser[.N] -> SASL id
    admin_snapshot_enabled: bool = True  # the AdminServer's `snapshot` command (3.9)
    admin_restore_enabled: bool = True  # the AdminServer's `restore` command (3.9)
    admin_rate_limit_interval: int = 300000  # admin.rateLimiterIntervalInMS: snapshot/restore rate limit
    ack_logging_frequency: int = 1000  # leader.ackLoggingFrequency: which zxids' acks ack_latency samples
    read_only_enabled: bool = False  # readonlymode.enabled: serve reads while cut off from the quorum
    local_sessions_enabled: bool = False  # localSessionsEnabled: new sessions stay on their member
    local_sessions_upgrading: bool = False  # localSessionsUpgradingEnabled: an ephemeral create makes it global
    console_enable: bool = True  # admin.console.enable (corral only): serve the web console on the admin server
    servers: dict[int, ServerSpec] = field(default_factory=dict)
    standalone_enabled: bool = True  # false: a single server line still runs as an ensemble (of one)
    reconfig_enabled: bool = False  # the reconfig operation (opcode 16) is allowed
    # dynamicConfigFile: where the server.N lines are (None: in zoo.cfg itself, a static configuration)
    dynamic_config_file: Path | None = None
    # The membership's version (QuorumVerifier.getVersion): the zxid of the reconfig that made it, read
    # from the dynamic file's name (`zoo.cfg.dynamic.<hex>`); 0 for a static configuration.
    config_version: int = 0
    servers_source: str = ""  # the file the server.N lines came from (zoo.cfg or the dynamic file)
    path: Path | None = None  # the zoo.cfg read by load(), which a configuration change rewrites
    source: str = "<defaults>"
    my_id: int | None = None  # an ensemble member's dataDir/myid, read by load()
    origins: dict[str, str] = field(default_factory=dict)  # key -> "FILE:LINE", "$SERVER_JVMFLAGS", ...
    lines: dict[str, int] = field(default_factory=dict, repr=False)  # key -> its zoo.cfg line, for errors

    @property
    def prometheus_enabled(self) -> bool:
        """`/metrics` is served when asked for either way: Apache's provider class or corral's key."""
        return self.prometheus_enable or self.metrics_provider == S.PROMETHEUS_METRICS_PROVIDER

    def membership(self) -> str:
        """The ensemble's configuration as ZooKeeper's QuorumMaj.toString writes it (and keeps it in
        /zookeeper/config): `server.N=host:peerPort:electionPort:role[;clientAddr:clientPort]` lines, then
        `version=<hex>` (0: a static configuration). The client part only when the server line has one."""
        lines = []
        for sid, spec in sorted(self.servers.items()):
            text = f"{spec.host}:{spec.peer_port}:{spec.election_port}:{'observer' if spec.observer else 'participant'}"
            if spec.client_port is not None:
                text += f";{spec.client_addr or '0.0.0.0'}:{spec.client_port}"
            lines.append(f"server.{sid}={text}")
        lines.append(f"version={self.config_version:x}")
        return "\n".join(lines)

    @property
    def min_timeout(self) -> int:
        return self.tick_time * 2 if self.min_session_timeout == -1 else self.min_session_timeout

    @property
    def max_timeout(self) -> int:
        return self.tick_time * 20 if self.max_session_timeout == -1 else self.max_session_timeout

    @property
    def is_ensemble(self) -> bool:
        """More than one server line, or any with `standaloneEnabled=false` (QuorumPeerConfig.isDistributed:
        a single server line otherwise means standalone)."""
        return len(self.servers) > 1 or (bool(self.servers) and not self.standalone_enabled)

    @property
    def log_dir(self) -> Path:
        return self.data_log_dir or self.data_dir

    def four_letter_allowed(self, cmd: str) -> bool:
        # ZooKeeper always allows srvr: zkServer.sh status depends on it.
        return cmd == "srvr" or "*" in self.four_letter_whitelist or cmd in self.four_letter_whitelist

    @classmethod
    def embedded(cls) -> ServerConfig:
        """What `corral server` runs with no file: a development server on 127.0.0.1:2181, data in ./data."""
        cfg = cls(client_port_address="127.0.0.1", four_letter_whitelist=frozenset({"*"}), source="<embedded>")
        cfg.admin_address = "127.0.0.1"
        for key in ("clientPort", "clientPortAddress", "dataDir", "4lw.commands.whitelist", "admin.serverAddress"):
            cfg.origins[key] = "embedded default of `corral server` without a file"
        return cfg



# zkServer.sh runs `java $JVMFLAGS` after `JVMFLAGS="$SERVER_JVMFLAGS $JVMFLAGS"`: both are split on
# blanks (no shell quoting), and of two -D flags for one property the later one wins.
ENV_VARS = ("SERVER_JVMFLAGS", "JVMFLAGS")
WILDCARDS = ("0.0.0.0", "::", "")
MAX_SERVER_ID = 255
_HEX_VERSION = re.compile(r"[0-9a-fA-F]{1,16}")  # ZooKeeper keeps the server id in the top byte of every session id


def _set(cfg: ServerConfig, setting: S.Setting, raw: str, *, origin: str, source: str, line: int | None,
         key: str) -> None:
    try:
        value = setting.convert(raw)
    except S.BadValue as e:
        raise ConfigError(str(e), source=source, line=line, key=key) from None
    if setting.attr is not None:
        setattr(cfg, setting.attr, value)
    cfg.origins[setting.key] = origin
    if line is not None:
        cfg.lines[setting.key] = line
    else:
        cfg.lines.pop(setting.key, None)


def _numbered(cfg: ServerConfig, key: str, value: str, origin: str, source: str, line: int | None) -> bool:
    """`authProvider.N` and `superUser[.N]` (a family of keys, as ZooKeeper reads them from system
    properties by prefix); False: not one of them."""
    if key.startswith("authProvider."):
        from ..security.providers import provider_scheme  # the security package imports this module
        try:
            provider_scheme(value.strip())
        except ValueError as e:
            raise ConfigError(str(e), source=source, line=line, key=key) from None
        cfg.auth_providers[key] = value.strip()
    elif key == "superUser" or key.startswith("superUser."):
        cfg.sasl_super_users[key] = value.strip()
    else:
        return False
    cfg.origins[key] = origin
    return True


def jvm_flags(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, flag) for every word of SERVER_JVMFLAGS then JVMFLAGS."""
    return [(var, flag) for var in ENV_VARS for flag in env.get(var, "").split()]


def _apply_env(cfg: ServerConfig, env: Mapping[str, str]) -> None:
    for var, flag in jvm_flags(env):
        if not flag.startswith("-D"):
            log.info("event=jvm_flag_ignored var=%s flag=%s reason=jvm_option", var, flag)
            continue
        name, _, value = flag[2:].partition("=")
        setting = S.BY_SYSPROP.get(name)
        if setting is None and name.startswith("zookeeper.") and \
                _numbered(cfg, name.removeprefix("zookeeper."), value, f"${var}", var, None):
            continue
        if setting is None:
            if S.is_security_key(name):
                raise ConfigError("corral does not implement this security setting; refusing to run without it",
                                  source=var, key=f"-D{name}")
            log.warning("event=jvm_flag_ignored var=%s flag=%s reason=unknown_property", var, flag)
            continue
        _set(cfg, setting, value, origin=f"${var}", source=var, line=None, key=name)


def _server_spec(key: str, sid: int, value: str, source: str, line: int) -> ServerSpec:
    """`host:peerPort:electionPort[:participant|observer][;[clientAddr:]clientPort]` (IPv6 in brackets)."""
    def bad(msg: str) -> ConfigError:
        return ConfigError(msg, source=source, line=line, key=key)

    addr, _, client = value.partition(";")
    addr = addr.strip()
    if "|" in addr:
        raise bad("several addresses per server (a|b) are not supported")
    host_part, rest = addr, ""
    if addr.startswith("["):
        close = addr.find("]")
        host_part, rest = addr[:close + 1], addr[close + 1:]
        parts = [host_part, *rest.lstrip(":").split(":")] if close > 0 else addr.split(":")
    else:
        parts = addr.split(":")
    if len(parts) < 3 or len(parts) > 4:
        raise bad(f"expected host:peerPort:electionPort[:participant|observer][;[clientAddr:]clientPort], "
                  f"not {value!r}")
    role = parts[3].strip() if len(parts) == 4 else "participant"
    if role not in ("participant", "observer"):
        raise bad(f"unknown role {role!r} (participant or observer)")
    try:
        spec = ServerSpec(sid, S.host(parts[0]), S.port(parts[1]), S.port(parts[2]), observer=role == "observer",
                          line=line)
        client = client.strip()
        if client:
            caddr, _, cport = client.rpartition(":")
            spec.client_addr = S.host(caddr) if caddr else None
            spec.client_port = S.port(cport)
    except S.BadValue as e:
        raise bad(str(e)) from None
    return spec


def _server_line(cfg: ServerConfig, key: str, value: str, source: str, line: int) -> None:
    num = key[len("server."):]
    if not (num.isascii() and num.isdigit()):
        raise ConfigError(f"server id {num!r} is not a number (server.N with N in 0-{MAX_SERVER_ID})",
                          source=source, line=line, key=key)
    sid = int(num)
    if sid > MAX_SERVER_ID:
        raise ConfigError(f"server id {sid} is above {MAX_SERVER_ID} (session ids keep it in one byte)",
                          source=source, line=line, key=key)
    if sid in cfg.servers:
        raise ConfigError(f"server.{sid} is already defined on line {cfg.servers[sid].line}",
                          source=source, line=line, key=key)
    cfg.servers[sid] = _server_spec(key, sid, value, source, line)


def _endpoints(spec: ServerSpec) -> list[tuple[str, int, str]]:
    eps = [(spec.host.lower(), spec.peer_port, "quorum port"), (spec.host.lower(), spec.election_port, "election port")]
    if spec.client_port is not None:
        h = spec.client_addr if spec.client_addr and spec.client_addr not in WILDCARDS else spec.host
        eps.append((h.lower(), spec.client_port, "client port"))
    return eps


def _check_servers(cfg: ServerConfig) -> None:
    """Membership as QuorumPeerConfig.parseDynamicConfig checks it, plus ports two lines would share."""
    src = cfg.servers_source or cfg.source
    specs = sorted(cfg.servers.values(), key=lambda s: s.line)
    voters = [s for s in specs if not s.observer]
    observers = [s for s in specs if s.observer]
    if observers and not voters:
        o = observers[0]
        raise ConfigError("every server line is an observer: an ensemble needs voting participants",
                          source=src, line=o.line, key=f"server.{o.sid}")
    if observers and len(voters) == 1 and cfg.standalone_enabled:  # an ensemble of one may have observers
        o = observers[0]
        raise ConfigError(f"observers need a quorum, but server.{voters[0].sid} is the only participant",
                          source=src, line=o.line, key=f"server.{o.sid}")
    if len(voters) == 1 and cfg.standalone_enabled:
        log.warning("event=config_single_server file=%s server=%d meaning=standalone", src, voters[0].sid)
    taken: dict[tuple[str, int], tuple[ServerSpec, str]] = {}
    for spec in specs:
        for host, port, what in _endpoints(spec):
            if (host, port) in taken:
                other, owhat = taken[(host, port)]
                whose = "this server's" if other is spec else f"server.{other.sid}'s (line {other.line})"
                raise ConfigError(f"{what} {host}:{port} is already {whose} {owhat}",
                                  source=src, line=spec.line, key=f"server.{spec.sid}")
            taken[(host, port)] = (spec, what)
    if cfg.extended_types and any(sid > 254 for sid in cfg.servers):
        raise ConfigError("server ids above 254 cannot be used with extendedTypesEnabled=true (as in ZooKeeper)",
                          source=src, line=cfg.lines.get("extendedTypesEnabled"), key="extendedTypesEnabled")


def _check_http_ports(cfg: ServerConfig) -> None:
    """The AdminServer, /metrics and the client port cannot share a port (one would fail to bind)."""
    used: list[tuple[str, int]] = [("clientPort", cfg.client_port)]
    if cfg.admin_enabled:
        used.append(("admin.serverPort", cfg.admin_port))
    if cfg.prometheus_enabled:
        used.append(("metricsProvider.httpPort", cfg.prometheus_port))
    for i, (key, port) in enumerate(used):
        for other, oport in used[:i]:
            if port == oport:
                raise ConfigError(f"{port} is also {other}", source=cfg.source, line=cfg.lines.get(key), key=key)


def _check(cfg: ServerConfig) -> None:
    src, lines = cfg.source, cfg.lines
    if "dataDir" not in cfg.origins or cfg.origins["dataDir"] == "default":
        raise ConfigError("not set (required, as in ZooKeeper)", source=src, key="dataDir")
    if cfg.min_timeout > cfg.max_timeout:
        key = "minSessionTimeout" if "minSessionTimeout" in lines else "maxSessionTimeout"
        raise ConfigError(f"minimum session timeout {cfg.min_timeout} ms is larger than the maximum "
                          f"{cfg.max_timeout} ms", source=src, line=lines.get(key), key=key)
    if cfg.snap_retain_count < 3:
        log.warning("event=config_raised key=autopurge.snapRetainCount value=%d now=3", cfg.snap_retain_count)
        cfg.snap_retain_count = 3
    if cfg.snap_count < 2:
        log.warning("event=config_raised key=snapCount value=%d now=2", cfg.snap_count)
        cfg.snap_count = 2
    _check_servers(cfg)
    _check_http_ports(cfg)
    if cfg.is_ensemble:
        for key in ("initLimit", "syncLimit"):
            if key not in cfg.origins or cfg.origins[key] == "default":
                raise ConfigError("not set (required for an ensemble, as in ZooKeeper)", source=src, key=key)
    elif "clientPort" not in lines and cfg.origins.get("clientPort") == "default":
        if cfg.secure_client_port is None:
            raise ConfigError("not set (a standalone server needs it or secureClientPort, as in ZooKeeper)",
                              source=src, key="clientPort")
        cfg.plain_client_port = False
    from ..security.setup import check_security  # the security package imports this module
    check_security(cfg)


def parse(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> ServerConfig:
    """The configuration in `text` (zoo.cfg syntax), over the -D flags of `env` (None: no environment).

    Checks everything that does not need the disk; `load()` also reads an ensemble member's myid."""
    cfg = ServerConfig(source=source)
    for setting in S.SETTINGS:
        if setting.attr is not None:
            cfg.origins[setting.key] = "default"
    if env:
        _apply_env(cfg, env)
    try:
        entries = parse_properties(text)
    except PropertiesSyntaxError as e:
        raise ConfigError(e.message, source=source, line=e.line) from None
    first_line: dict[str, int] = {}
    dynamic = next((e for e in entries if e.key.strip() in ("dynamicConfigFile", "zookeeper.dynamicConfigFile")),
                   None)
    for entry in entries:
        key, value, line = entry.key.strip(), entry.value.strip(), entry.line
        if key.startswith(("server.", "group", "weight")) and dynamic is not None:
            raise ConfigError("must be in the separate dynamic config file (dynamicConfigFile is set)",
                              source=source, line=line, key=key)
        if key.startswith("server."):
            _server_line(cfg, key, value, source, line)
            continue
        known = S.BY_CFG_KEY.get(key)
        if known is not None:
            if known.key in first_line:
                log.warning("event=config_duplicate_key file=%s line=%d key=%s first_line=%d kept=last", source,
                            line, key, first_line[known.key])
            first_line[known.key] = line
            _set(cfg, known, value, origin=f"{source}:{line}", source=source, line=line, key=key)
        elif _numbered(cfg, key.removeprefix("zookeeper."), value, f"{source}:{line}", source, line):
            pass
        elif key.startswith(("group.", "weight.")):
            raise ConfigError("hierarchical quorums (group/weight) are not supported", source=source, line=line,
                              key=key)
        elif S.is_security_key(key):
            raise ConfigError("corral does not implement this security setting; refusing to run without it",
                              source=source, line=line, key=key)
        else:
            log.warning("event=config_unknown_key file=%s line=%d key=%s", source, line, key)
    cfg.servers_source = source
    if cfg.dynamic_config_file is not None:
        _read_dynamic(cfg, cfg.dynamic_config_file)
    _check(cfg)
    return cfg


def version_from_filename(name: str) -> int:
    """QuorumPeerConfig.getVersionFromFilename: the hex after the last dot (`zoo.cfg.dynamic.100000000`);
    0 when the name has none (`zoo.cfg.dynamic`)."""
    tail = name.rpartition(".")[2]
    return int(tail, 16) if _HEX_VERSION.fullmatch(tail) else 0


def _read_dynamic(cfg: ServerConfig, path: Path) -> None:
    """The dynamic config file, as QuorumPeerConfig.parse reads it: only `server.N` lines (no `version`:
    that comes from the file name), relative paths from the working directory as Java opens them."""
    src = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", source=src, key=None) from None
    try:
        entries = parse_properties(data.decode("latin-1"))
    except PropertiesSyntaxError as e:
        raise ConfigError(e.message, source=src, line=e.line) from None
    for entry in entries:
        key, value, line = entry.key.strip(), entry.value.strip(), entry.line
        if key == "version":
            raise ConfigError("the dynamic file must not hold a version (it comes from the file name)",
                              source=src, line=line, key=key)
        if key.startswith(("group", "weight")):
            raise ConfigError("hierarchical quorums (group/weight) are not supported", source=src, line=line,
                              key=key)
        if not key.startswith("server."):
            raise ConfigError("unrecognised parameter in a dynamic config file (only server.N lines)",
                              source=src, line=line, key=key)
        _server_line(cfg, key, value, src, line)
    cfg.config_version = version_from_filename(path.name)
    cfg.servers_source = src
    log.info("event=dynamic_config_read file=%s servers=%d version=%x", src, len(cfg.servers), cfg.config_version)


def read_myid(cfg: ServerConfig) -> int:
    """dataDir/myid names this member of the ensemble, as in ZooKeeper (its first line, a number)."""
    path = cfg.data_dir / "myid"
    src = str(path)
    known = ", ".join(str(s) for s in sorted(cfg.servers))
    try:
        raw = path.read_text(errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"missing: an ensemble member needs its server id here (one of {known})",
                          source=src) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", source=src) from None
    first = raw.splitlines()[0].strip() if raw.strip() else ""
    if not (first.isascii() and first.isdigit()):
        raise ConfigError(f"not a server id: {first[:40]!r} (expected one of {known})", source=src)
    sid = int(first)
    if sid not in cfg.servers:
        raise ConfigError(f"id {sid} has no server.{sid} line in {cfg.servers_source or cfg.source} "
                          f"(servers: {known})", source=src)
    return sid


def resolve_member(cfg: ServerConfig) -> int:
    """An ensemble member: its id from myid, and its client address, which may come from its server line
    (`;[addr:]port`) and must then agree with clientPort/clientPortAddress (QuorumPeerConfig.setupClientPort)."""
    sid = cfg.my_id = read_myid(cfg)
    me, src, lines = cfg.servers[sid], cfg.source, cfg.lines
    if me.client_port is not None:
        if "clientPort" in cfg.origins and cfg.origins["clientPort"] != "default" and cfg.client_port != me.client_port:
            raise ConfigError(f"{cfg.client_port} differs from the client port {me.client_port} on this "
                              f"server's line (server.{sid}, line {me.line})", source=src,
                              line=lines.get("clientPort"), key="clientPort")
        explicit_addr = cfg.origins.get("clientPortAddress", "default") != "default"
        if (me.client_addr and me.client_addr not in WILDCARDS and explicit_addr
                and cfg.client_port_address not in WILDCARDS and cfg.client_port_address != me.client_addr):
            raise ConfigError(f"{cfg.client_port_address} differs from the client address {me.client_addr} on "
                              f"this server's line (server.{sid}, line {me.line})", source=src,
                              line=lines.get("clientPortAddress"), key="clientPortAddress")
        if cfg.origins.get("clientPort") == "default":
            cfg.client_port, cfg.origins["clientPort"] = me.client_port, f"{cfg.servers_source or src}:{me.line}"
        if me.client_addr and not explicit_addr:
            cfg.client_port_address = me.client_addr
            cfg.origins["clientPortAddress"] = f"{cfg.servers_source or src}:{me.line}"
    elif cfg.origins.get("clientPort") == "default":
        raise ConfigError(f"not set, and this server's line (server.{sid}, line {me.line}) has no ;clientPort",
                          source=src, key="clientPort")
    mine = {me.host.lower()} | ({cfg.client_port_address.lower()} - set(WILDCARDS))
    for spec in cfg.servers.values():
        for host, port, what in _endpoints(spec)[:2]:
            if port == cfg.client_port and host in mine:
                raise ConfigError(f"{host}:{port} is also server.{spec.sid}'s {what} (line {spec.line})",
                                  source=src, line=lines.get("clientPort") or me.line, key="clientPort")
    return sid


def load(path: str | Path, env: Mapping[str, str] | None = None) -> ServerConfig:
    """A zoo.cfg file over the -D flags of `env` (None: this process's environment); an ensemble
    member's myid is read and checked too, so a config that loads is one the server can run."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", source=str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # Properties.load(InputStream) reads ISO 8859-1
        text = data.decode("latin-1")
    cfg = parse(text, str(p), os.environ if env is None else env)
    cfg.initial_text = text
    cfg.path = p
    if cfg.is_ensemble:
        resolve_member(cfg)
    return cfg


def _show(key: str, value: object) -> str:
    """A value as zoo.cfg would spell it."""
    if isinstance(value, bool):
        return ("yes" if value else "no") if key in ("skipACL", "forceSync") else str(value).lower()
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    return "" if value is None else str(value)


def explain(cfg: ServerConfig) -> list[str]:
    """`key=value  (origin)` for every setting corral uses, in table order (for `config check --explain`)."""
    out = []
    for setting in S.SETTINGS:
        if setting.attr is None:
            continue
        value: object = getattr(cfg, setting.attr)
        origin = cfg.origins.get(setting.key, "default")
        if setting.key == "dataLogDir" and value is None:
            value, origin = cfg.data_dir, f"{origin}: dataDir"
        elif setting.key in ("minSessionTimeout", "maxSessionTimeout") and value == -1:
            value = cfg.min_timeout if setting.key == "minSessionTimeout" else cfg.max_timeout
            origin = f"{origin}: {2 if setting.key == 'minSessionTimeout' else 20} x tickTime"
        value = _show(setting.key, value)
        out.append(f"{setting.key}={value}  ({origin})")
    if cfg.my_id is not None:
        out.append(f"myid={cfg.my_id}  ({cfg.data_dir / 'myid'})")
    for sid, spec in sorted(cfg.servers.items()):
        role = "observer" if spec.observer else "participant"
        client = f";{spec.client_addr or '0.0.0.0'}:{spec.client_port}" if spec.client_port is not None else ""
        out.append(f"server.{sid}={spec.host}:{spec.peer_port}:{spec.election_port}:{role}{client}  "
                   f"({cfg.servers_source or cfg.source}:{spec.line})")
    return out
