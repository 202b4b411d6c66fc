"""The membership arithmetic of a `reconfig` request, as ZooKeeper's leader does it in
PrepRequestProcessor (case OpCode.reconfig): the version check, the incremental (`joining`/`leaving`)
and bulk (`newMembers`) forms, the spec checks of QuorumPeer.QuorumServer, the "at least 2 voters" rule
and the synced-quorum check. Each failure is the KeeperError code Apache answers, in Apache's order:

* `curConfigId` other than -1 and the current version: BadVersion;
* a malformed member spec (QuorumServer's ConfigException) or a joiner without `server.N=`: BadArguments;
* a member id that is not a number (Java's NumberFormatException, which Apache's preparer does not catch):
  MarshallingError;
* fewer than 2 voters left (1 with standaloneEnabled=false): BadArguments;
* the new voters without a quorum connected and synced with the leader: NewConfigNoQuorum.

The preparer (corral.txn.prepare) asks this module through `ReconfigPolicy` and keeps what is its own:
ReconfigDisabled, standalone servers, a reconfig already in progress and the WRITE permission on
/zookeeper/config. Hierarchical quorums (group/weight) are not supported: BadArguments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..protocol import Errs, ReconfigRequest
from ..txn.prepare import KeeperError
from .config import ServerConfig, ServerSpec
from .properties import PropertiesSyntaxError, parse_properties

__all__ = ["Membership", "QuorumServer", "ServerReconfig", "host_and_port", "parse_membership_text"]

log = logging.getLogger("corral.reconfig")
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_JAVA_LONG_MAX = 2**63 - 1
_WILDCARDS = frozenset({"0.0.0.0", "::", "0:0:0:0:0:0:0:0"})


class _SpecError(ValueError):
    """QuorumServer's ConfigException: the reconfig is BadArguments."""


class _NotANumber(ValueError):
    """Java's NumberFormatException outside QuorumServer's own catches: Apache answers MarshallingError."""


@dataclass(frozen=True)
class QuorumServer:
    """One member as QuorumPeer.QuorumServer holds it (one address: multiAddress is off)."""

    sid: int
    host: str
    peer_port: int
    election_port: int
    observer: bool = False
    client: tuple[str, int] | None = None

    def text(self) -> str:
        """QuorumServer.toString: `host:peer:election:role[;clientHost:clientPort]`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        out = f"{host}:{self.peer_port}:{self.election_port}:{'observer' if self.observer else 'participant'}"
        if self.client is not None:
            chost = f"[{self.client[0]}]" if ":" in self.client[0] else self.client[0]
            out += f";{chost}:{self.client[1]}"
        return out

    def spec(self) -> ServerSpec:
        """The `server.N` line as zoo.cfg's parser holds it (what the transport and `conf` read)."""
        return ServerSpec(self.sid, self.host, self.peer_port, self.election_port, self.observer,
                          None if self.client is None else self.client[0],
                          None if self.client is None else self.client[1])

    def endpoints(self) -> set[tuple[str, int]]:
        """The addresses checkAddressDuplicate compares (wildcard client addresses excluded)."""
        eps = {(self.host.lower(), self.peer_port), (self.host.lower(), self.election_port)}
        if self.client is not None and self.client[0] not in _WILDCARDS:
            eps.add((self.client[0].lower(), self.client[1]))
        return eps


@dataclass(frozen=True)
class Membership:
    """A QuorumMaj: the members by id and the configuration's version."""

    servers: Mapping[int, QuorumServer]
    version: int

    @property
    def voters(self) -> frozenset[int]:
        return frozenset(sid for sid, s in self.servers.items() if not s.observer)

    @property
    def observers(self) -> frozenset[int]:
        return frozenset(sid for sid, s in self.servers.items() if s.observer)

    def text(self) -> str:
        """QuorumMaj.toString, the data of /zookeeper/config."""
        lines = [f"server.{sid}={s.text()}" for sid, s in sorted(self.servers.items())]
        return "\n".join([*lines, f"version={self.version:x}"])

    def has_quorum(self, ids: frozenset[int]) -> bool:
        """QuorumMaj.containsQuorum over the voters among `ids`."""
        return len(ids & self.voters) > len(self.voters) // 2

    @classmethod
    def of_config(cls, cfg: ServerConfig) -> Membership:
        servers = {sid: QuorumServer(sid, s.host, s.peer_port, s.election_port, s.observer,
                                     None if s.client_port is None else (s.client_addr or "0.0.0.0", s.client_port))
                   for sid, s in cfg.servers.items()}
        return cls(servers, cfg.config_version)


def host_and_port(text: str) -> list[str]:
    """ConfigUtils.getHostAndPort: `[v6]:a:b` keeps the bracketed host whole, anything else splits on ':'
    (Java's String.split: trailing empty parts dropped). Raises a ValueError with Java's message. The
    server's spec parser and the shell's client-side check of `reconfig` both use it."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _SpecError(f"{text} starts with '[' but has no matching ']:'")
        if close + 2 == len(text):
            raise _SpecError(f"{text} doesn't have a port after colon")
        if close + 2 < len(text):
            return [text[1:close], *_java_split(text[close + 2:], ":")]
        return [text.replace("[", "").replace("]", "")]
    return _java_split(text, ":")


def _java_split(text: str, sep: str) -> list[str]:
    """String.split: trailing empty strings are dropped."""
    if text == "":
        return [""]
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _port(host: str, raw: str) -> int:
    """Integer.parseInt then InetSocketAddress: a bad number is QuorumServer's "Address unresolved"."""
    if not _JAVA_INT.fullmatch(raw):
        raise _SpecError(f"Address unresolved: {host}:{raw}")
    port = int(raw)
    if not 0 <= port <= 65535:
        raise _NotANumber(f"port out of range: {port}")  # IllegalArgumentException: not caught either
    return port


def parse_server(sid: int, spec: str) -> QuorumServer:
    """QuorumServer(sid, "host:peer:election[:role][;[clientHost:]clientPort]")."""
    parts = _java_split(spec, ";")
    server = parts[0] if parts else ""
    client: tuple[str, int] | None = None
    if len(parts) >= 2 and parts[1]:
        cparts = host_and_port(parts[1])
        if len(cparts) > 2:
            raise _SpecError(f"{spec} does not have the form server_config or server_config;client_config")
        chost = cparts[0] if len(cparts) == 2 else "0.0.0.0"
        client = (chost, _port(chost, cparts[-1]))
    if len(parts) >= 3 and parts[2]:
        raise _SpecError("a secure client address (;host:secureClientPort) is not supported")
    if "|" in server:
        raise _SpecError(f"Multiple address feature is disabled, but multiple addresses were specified for sid {sid}")
    sparts = host_and_port(server)
    if not 3 <= len(sparts) <= 4:
        raise _SpecError(f"{spec} does not have the form server_config or server_config;client_config")
    host = sparts[0]
    peer, election = _port(host, sparts[1]), _port(host, sparts[2])
    if peer == election:
        raise _SpecError(f"Client and election port must be different! Please update the configuration file on "
                         f"server.{sid}")
    observer = False
    if len(sparts) == 4:
        role = sparts[3].lower()
        if role not in ("participant", "observer"):
            raise _SpecError(f"Unrecognised peertype: {sparts[3]}")
        observer = role == "observer"
    return QuorumServer(sid, host, peer, election, observer, client)


def _java_long(raw: str) -> int:
    """Long.parseLong: NumberFormatException for anything else."""
    if not _JAVA_INT.fullmatch(raw) or not -_JAVA_LONG_MAX - 1 <= int(raw) <= _JAVA_LONG_MAX:
        raise _NotANumber(f"not a number: {raw!r}")
    return int(raw)


def _check_duplicates(new: QuorumServer, others: Mapping[int, QuorumServer]) -> None:
    """QuorumServer.checkAddressDuplicate against every other member."""
    for sid, other in others.items():
        if sid != new.sid and new.endpoints() & other.endpoints():
            raise _SpecError(f"server.{new.sid} shares an address with server.{sid}")


def incremental(current: Membership, joining: str | None, leaving: str | None, version: int) -> Membership:
    """The incremental form: remove `leaving` ids, then add or replace each `server.N=spec` of `joining`."""
    servers = dict(current.servers)
    for raw in _java_split(leaving, ",") if leaving else []:
        servers.pop(_java_long(raw), None)
    for joiner in _java_split(joining, ",") if joining else []:
        parts = [p for p in joiner.split("=") if p]  # StringUtils.split drops empty pieces
        if len(parts) != 2:
            raise _SpecError("Wrong format of server string")
        sid = _java_long(parts[0][parts[0].rfind(".") + 1:])
        server = parse_server(sid, parts[1])
        if server.client is None:
            raise _SpecError("Wrong format of server string - each server should have at least 3 ports specified")
        _check_duplicates(server, servers)
        servers.pop(sid, None)
        servers[sid] = server
    return Membership(servers, version)


def parse_membership_text(text: str, version: int, standalone_enabled: bool = True) -> Membership:
    """The bulk form (QuorumPeerConfig.parseDynamicConfig of the `newMembers` lines, commas as newlines)."""
    try:
        entries = parse_properties(text.replace(",", "\n"))
    except PropertiesSyntaxError as e:
        raise _SpecError(e.message) from None
    values: dict[str, str] = {}
    for entry in entries:  # java.util.Properties: the last value of a key wins
        values[entry.key] = entry.value
    servers: dict[int, QuorumServer] = {}
    for key, value in values.items():
        if key.startswith(("group", "weight")):
            raise _SpecError("hierarchical quorums (group/weight) are not supported")
        if not key.startswith("server.") and key != "version":
            raise _SpecError(f"Unrecognised parameter: {key}")
        if key.startswith("server."):
            sid = _java_long(key[key.find(".") + 1:])
            servers[sid] = parse_server(sid, value)
    voters = sum(1 for s in servers.values() if not s.observer)
    if (voters == 0 and (servers or not standalone_enabled)) or (voters == 1 and standalone_enabled and
                                                                  len(servers) > 1):
        # IllegalArgumentException in parseDynamicConfig, which the preparer does not catch either
        raise _NotANumber("observers without a quorum, or no participants with standaloneEnabled=false")
    return Membership(servers, version)


@dataclass
class ServerReconfig:
    """The server's `ReconfigPolicy`: its configuration, and who is synced with it when it leads."""

    cfg: ServerConfig
    synced: Callable[[], frozenset[int]]
    membership: Membership

    @property
    def enabled(self) -> bool:
        return self.cfg.reconfig_enabled

    @property
    def standalone(self) -> bool:
        return not self.cfg.is_ensemble

    @property
    def skip_acl(self) -> bool:
        return self.cfg.skip_acl

    def prepare(self, req: ReconfigRequest, zxid: int) -> bytes:
        """The new membership's text (its version is the reconfig's zxid), or the KeeperError Apache answers."""
        current = self.membership
        if req.curConfigId != -1 and req.curConfigId != current.version:
            log.info("event=reconfig_refused reason=stale_version from=%x current=%x",
                     req.curConfigId & 0xFFFFFFFFFFFFFFFF, current.version)
            raise KeeperError(Errs.BADVERSION)
        try:
            if req.newMembers is not None:
                new = parse_membership_text(req.newMembers, zxid, self.cfg.standalone_enabled)
            else:
                new = incremental(current, req.joiningServers, req.leavingServers, zxid)
        except _SpecError as e:
            log.info("event=reconfig_refused reason=bad_arguments detail=%r", str(e))
            raise KeeperError(Errs.BADARGUMENTS) from None
        except _NotANumber as e:
            log.info("event=reconfig_refused reason=marshalling_error detail=%r", str(e))
            raise KeeperError(Errs.MARSHALLINGERROR) from None
        least = 2 if self.cfg.standalone_enabled else 1
        if len(new.voters) < least:
            log.info("event=reconfig_refused reason=too_few_voters voters=%d least=%d", len(new.voters), least)
            raise KeeperError(Errs.BADARGUMENTS)
        synced = self.synced()
        if not new.has_quorum(synced):
            log.info("event=reconfig_refused reason=new_config_no_quorum voters=%s synced=%s",
                     ",".join(map(str, sorted(new.voters))), ",".join(map(str, sorted(synced))))
            raise KeeperError(Errs.NEWCONFIGNOQUORUM)
        return new.text().encode()
