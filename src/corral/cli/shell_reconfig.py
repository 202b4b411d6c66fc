"""The argument rules of zkCli 3.8's `reconfig` command (ReconfigCommand), kept apart from the shell.

zkCli checks little on the client side and lets the leader judge the membership: `-add`, `-remove`
and `-members` are sent as written (lower-cased, as zkCli does), and only `-file` is parsed locally,
because the file must become the comma-free member list the request carries. That parse follows
`QuorumPeerConfig.parseDynamicConfig` for what a client can check: only `server.N` and `version` keys,
`host:port:port[:role][;[host:]port]` values with numeric ports, a participant unless `:observer`.
Any failure is zkCli's `Error processing <file><reason>` (no separator: zkCli concatenates them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..server.properties import PropertiesSyntaxError, parse_properties
from ..server.reconfig import host_and_port
from .shell_format import CliError, OptionSpec, ParsedArgs, parse_options

__all__ = ["RECONFIG_OPTS", "RECONFIG_USAGE", "ReconfigArgs", "members_from_file", "parse_reconfig"]

RECONFIG_USAGE = ("[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | "
                  "[-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]")
RECONFIG_OPTS = [OptionSpec("s", False, "stats"), OptionSpec("v", True, "required current config version"),
                 OptionSpec("file", True, "path of config file to parse for membership"),
                 OptionSpec("members", True, "comma-separated list of config strings for non-incremental reconfig"),
                 OptionSpec("add", True, "comma-separated list of config strings for new servers"),
                 OptionSpec("remove", True, "comma-separated list of server IDs to remove")]

_WRONG_FORMAT = (" does not have the form server_config or server_config;client_config where server_config is the "
                 "pipe separated list of host:port:port or host:port:port:type and client_config is port or host:port")
_HEX = re.compile(r"^[+-]?[0-9a-fA-F]+$")


@dataclass(frozen=True)
class ReconfigArgs:
    """What the request carries: joining/leaving/members (None when absent), fromConfig, and `-s`."""

    joining: str | None
    leaving: str | None
    members: str | None
    version: int
    stats: bool


def _java_port(text: str) -> bool:
    """Integer.parseInt accepts it (the port range is the server's business, as with zkCli)."""
    return bool(re.fullmatch(r"[+-]?\d+", text)) and -(1 << 31) <= int(text) < (1 << 31)


def _check_server(sid: int, value: str) -> None:
    """QuorumServer's address-string checks (messages as Java's ConfigException)."""
    parts = value.split(";")
    if len(parts) > 2:
        raise ValueError(value + _WRONG_FORMAT)
    if len(parts) == 2:
        client = host_and_port(parts[1])
        if len(client) > 2:
            raise ValueError(value + _WRONG_FORMAT)
        if not _java_port(client[-1]):
            raise ValueError(f"Address unresolved: null:{client[-1]}")
    addresses = parts[0].split("|")
    if len(addresses) > 1:
        raise ValueError(f"Multiple address feature is disabled, but multiple addresses were specified for sid {sid}")
    server = host_and_port(addresses[0])
    if not 3 <= len(server) <= 4:
        raise ValueError(value + _WRONG_FORMAT)
    for port in server[1:3]:
        if not _java_port(port):
            raise ValueError(f"Address unresolved: {server[0]}:{port}")
    if int(server[1]) == int(server[2]):
        raise ValueError(f"Client and election port must be different! Please update the configuration file on "
                         f"server.{sid}")
    if len(server) == 4 and server[3].strip().lower() not in ("observer", "participant"):
        raise ValueError(f"Unrecognised peertype: {server[3]}")


def members_from_file(path: str) -> str:
    """The membership of a dynamic config file as the request's member list (lines `server.N=...`)."""
    try:
        with open(path, encoding="latin-1") as f:  # Properties.load(InputStream) reads ISO-8859-1
            text = f.read()
    except FileNotFoundError:
        raise CliError(f"Error processing {path}{path} (No such file or directory)")
    except IsADirectoryError:
        raise CliError(f"Error processing {path}{path} (Is a directory)")
    except OSError as e:
        raise CliError(f"Error processing {path}{path} ({e.strerror or e})")
    try:
        entries = parse_properties(text)
    except PropertiesSyntaxError as e:
        raise CliError(f"Error processing {path}{e.message}")
    members: dict[int, str] = {}
    voters = 0
    try:
        for entry in entries:
            key = entry.key.strip()
            if key.startswith(("group", "weight")):
                raise ValueError("hierarchical quorums (group/weight) are not supported by corral shell")
            if key == "version":
                if not _HEX.match(entry.value.strip()):
                    raise ValueError(f'For input string: "{entry.value.strip()}"')
                continue
            if not key.startswith("server."):
                raise ValueError(f"Unrecognised parameter: {key}")
            num = key[key.index(".") + 1:]
            if not re.fullmatch(r"[+-]?\d+", num) or not -(1 << 63) <= int(num) < (1 << 63):
                raise ValueError(f'For input string: "{num}"')
            value = entry.value.strip()
            _check_server(int(num), value)
            members[int(num)] = value
            role = value.split(";")[0].split(":")
            voters += not (len(role) == 4 and role[3].strip().lower() == "observer")
        if members and voters == 0:
            raise ValueError("Observers w/o participants is an invalid configuration")
        if voters == 1 and len(members) > 1:
            raise ValueError("Observers w/o quorum is an invalid configuration")
    except ValueError as e:
        raise CliError(f"Error processing {path}{e}")
    return "\n".join(f"server.{sid}={value}" for sid, value in members.items())


def parse_reconfig(words: list[str], usage: str) -> ReconfigArgs:
    """ReconfigCommand.parse: the same checks in the same order, with the same messages."""
    p: ParsedArgs = parse_options(words, RECONFIG_OPTS)
    bulk = p.has("file") or p.has("members")
    if not bulk and not p.has("add") and not p.has("remove"):
        raise CliError(usage)
    version = -1
    if p.has("v"):
        text = p.value("v") or ""
        if not _HEX.match(text) or not -(1 << 63) <= int(text, 16) < (1 << 63):
            raise CliError("-v must be followed by a long (configuration version)")
        version = int(text, 16)
    if bulk and (p.has("add") or p.has("remove")):
        raise CliError("Can't use -file or -members together with -add or -remove (mixing incremental and "
                       "non-incremental modes is not allowed)")
    if p.has("file") and p.has("members"):
        raise CliError("Can't use -file and -members together (conflicting non-incremental modes)")
    joining = (p.value("add") or "").lower() if p.has("add") else None
    leaving = (p.value("remove") or "").lower() if p.has("remove") else None
    members = (p.value("members") or "").lower() if p.has("members") else None
    if p.has("file"):
        members = members_from_file(p.value("file") or "")
    return ReconfigArgs(joining, leaving, members, version, p.has("s"))
