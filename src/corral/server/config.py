"""zoo.cfg: the same file Apache ZooKeeper reads, parsed into one typed object.

Keys that ZooKeeper turns into Java system properties (`jute.maxbuffer`, `zookeeper.skipACL`, …) are
accepted with or without their `zookeeper.` prefix. Unknown keys are warned about, never fatal, so an
existing zoo.cfg works unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import DEFAULT_MAX_BUFFER

log = logging.getLogger("corral.config")


class ConfigError(ValueError):
    """A zoo.cfg value that cannot be used (the message names the key)."""


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
    servers: dict[int, ServerSpec] = field(default_factory=dict)
    source: str = "<defaults>"

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
        lines.append("version=0")
        return "\n".join(lines)

    @property
    def min_timeout(self) -> int:
        return self.tick_time * 2 if self.min_session_timeout == -1 else self.min_session_timeout

    @property
    def max_timeout(self) -> int:
        return self.tick_time * 20 if self.max_session_timeout == -1 else self.max_session_timeout

    @property
    def log_dir(self) -> Path:
        return self.data_log_dir or self.data_dir

    def four_letter_allowed(self, cmd: str) -> bool:
        # ZooKeeper always allows srvr: zkServer.sh status depends on it.
        return cmd == "srvr" or "*" in self.four_letter_whitelist or cmd in self.four_letter_whitelist

    @classmethod
    def embedded(cls) -> ServerConfig:
        """What `corral server` runs with no file: a development server on 127.0.0.1:2181, data in ./data."""
        return cls(client_port_address="127.0.0.1", four_letter_whitelist=frozenset({"*"}), source="<embedded>")


def _int(key: str, value: str) -> int:
    try:
        return int(value, 0) if value.lower().startswith("0x") else int(value)
    except ValueError:
        raise ConfigError(f"{key}: not an integer: {value!r}")


def _bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("yes", "true", "on", "1"):
        return True
    if v in ("no", "false", "off", "0"):
        return False
    raise ConfigError(f"{key}: not a boolean: {value!r}")


def _server_spec(key: str, sid: int, value: str) -> ServerSpec:
    addr, _, client = value.partition(";")
    parts = addr.strip().split(":")
    if len(parts) < 3:
        raise ConfigError(f"{key}: expected host:peerPort:electionPort[:role][;[addr:]clientPort]")
    role = parts[3].strip() if len(parts) > 3 else "participant"
    if role not in ("participant", "observer"):
        raise ConfigError(f"{key}: unknown role {role!r}")
    spec = ServerSpec(sid, parts[0], _int(key, parts[1]), _int(key, parts[2]), observer=(role == "observer"))
    if client:
        caddr, _, cport = client.strip().rpartition(":")
        spec.client_addr = caddr or None
        spec.client_port = _int(key, cport)
    return spec


def parse(text: str, source: str = "<string>") -> ServerConfig:
    cfg = ServerConfig(source=source)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            log.warning("event=config_ignored file=%s line=%d reason=no_equals text=%r", source, lineno, line)
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        k = key[len("zookeeper."):] if key.startswith("zookeeper.") and key != "zookeeper.jute.maxbuffer" else key
        if k == "tickTime":
            cfg.tick_time = _int(key, value)
        elif k == "dataDir":
            cfg.data_dir = Path(value)
        elif k == "dataLogDir":
            cfg.data_log_dir = Path(value)
        elif k == "clientPort":
            cfg.client_port = _int(key, value)
        elif k == "clientPortAddress":
            cfg.client_port_address = value
        elif k == "maxClientCnxns":
            cfg.max_client_cnxns = _int(key, value)
        elif k == "minSessionTimeout":
            cfg.min_session_timeout = _int(key, value)
        elif k == "maxSessionTimeout":
            cfg.max_session_timeout = _int(key, value)
        elif k == "4lw.commands.whitelist":
            cfg.four_letter_whitelist = frozenset(w.strip() for w in value.split(",") if w.strip())
        elif k in ("jute.maxbuffer", "zookeeper.jute.maxbuffer"):
            cfg.jute_max_buffer = _int(key, value)
        elif k in ("sessionlessCnxnTimeout", "nio.sessionlessCnxnTimeout"):
            cfg.sessionless_cnxn_timeout = _int(key, value)
        elif k == "forceSync":
            cfg.force_sync = _bool(key, value)
        elif k == "snapCount":
            cfg.snap_count = _int(key, value)
        elif k == "autopurge.snapRetainCount":
            cfg.snap_retain_count = max(3, _int(key, value))
        elif k == "autopurge.purgeInterval":
            cfg.purge_interval = _int(key, value)
        elif k == "initLimit":
            cfg.init_limit = _int(key, value)
        elif k == "syncLimit":
            cfg.sync_limit = _int(key, value)
        elif k == "skipACL":
            cfg.skip_acl = _bool(key, value)
        elif k == "extendedTypesEnabled":
            cfg.extended_types = _bool(key, value)
        elif k == "enforceQuota":
            cfg.enforce_quota = _bool(key, value)
        elif k == "DigestAuthenticationProvider.superDigest":
            cfg.super_digest = value
        elif k == "znode.container.checkIntervalMs":
            cfg.container_check_interval = max(1, _int(key, value))
        elif k == "znode.container.maxPerMinute":
            cfg.container_max_per_minute = _int(key, value)
        elif k == "znode.container.maxNeverUsedIntervalMs":
            cfg.container_max_never_used = _int(key, value)
        elif k == "globalOutstandingLimit":
            cfg.global_outstanding_limit = _int(key, value)
        elif k.startswith("server.") and k[7:].isdigit():
            sid = int(k[7:])
            cfg.servers[sid] = _server_spec(key, sid, value)
        elif k in ("electionAlg",):
            if value.strip() not in ("3",):
                raise ConfigError(f"{key}: only electionAlg=3 is supported")
        elif k in ("admin.enableServer", "admin.serverPort", "admin.serverAddress", "standaloneEnabled",
                   "reconfigEnabled", "preAllocSize", "syncEnabled", "peerType", "maxCnxns",
                   "metricsProvider.className", "audit.enable", "clientPortListenBacklog", "digest.enabled",
                   "snapshot.trust.empty", "fsync.warningthresholdms", "leaderServes", "cnxTimeout"):
            log.info("event=config_accepted_unused key=%s", key)
        else:
            log.warning("event=config_unknown_key file=%s line=%d key=%s", source, lineno, key)
    if cfg.tick_time <= 0:
        raise ConfigError("tickTime must be > 0")
    if not 0 < cfg.jute_max_buffer <= 0x7FFFFFFF:
        raise ConfigError("jute.maxbuffer must be a positive int")
    if cfg.min_timeout > cfg.max_timeout:
        raise ConfigError("minSessionTimeout must not be larger than maxSessionTimeout")
    return cfg


def load(path: str | Path) -> ServerConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}")
    return parse(text, str(p))
