"""Reading the ensemble's membership out of `/zookeeper/config`, as a client needs it.

The node holds the dynamic configuration in java.util.Properties syntax, one
`server.N=host:peerPort:electionPort[:role][;[clientAddr:]clientPort]` line per member and a
`version=<hex>` line. A client cares about two things in it: the version (to notice a change) and
the client address of every member, participant or observer (to connect to).

Why a wildcard client address (`0.0.0.0`, `::`, or a bare `;2181`) is replaced by the member's
quorum host: the server listens on every interface, so the only name the configuration offers that
reaches it from elsewhere is the one its peers use. Curator's EnsembleTracker does the same; the Java
shell's `config -c` prints the wildcard as it is (`client_config_string` keeps that form).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONFIG_NODE", "Member", "Membership", "parse_membership"]

CONFIG_NODE = "/zookeeper/config"
_WILDCARDS = ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")


@dataclass(frozen=True)
class Member:
    """One `server.N` line: its id, quorum host, role and client address (None when it has none)."""

    sid: int
    host: str
    observer: bool
    client: tuple[str, int] | None
    client_as_written: str | None  # `clientAddr:clientPort` as Java's QuorumServer renders it


@dataclass(frozen=True)
class Membership:
    """The parsed node: `version` as written (hex, "" when absent) and the members in file order."""

    version: str
    members: tuple[Member, ...]

    def client_hosts(self) -> list[tuple[str, int]]:
        """Where clients connect: every member with a client address, wildcards replaced by its host."""
        out = []
        for m in self.members:
            if m.client is None:
                continue
            host, port = m.client
            out.append((m.host if host in _WILDCARDS else host, port))
        return out

    def client_config_string(self) -> str:
        """ConfigUtils.getClientConfigStr, what `config -c` prints: `<version> host:port,host:port`.

        The members come in the order Java's `Properties` (a ConcurrentHashMap since Java 9) iterates
        its keys, as zkCli prints them; a member without a client address leaves an empty item.
        """
        order = java_properties_order([f"server.{m.sid}" for m in self.members] + ["version"])
        by_key = {f"server.{m.sid}": m for m in self.members}
        items = [by_key[k].client_as_written or "" for k in order if k in by_key]
        return f"{self.version} " + ",".join(items)


def _java_string_hash(text: str) -> int:
    h = 0
    for unit in text.encode("utf-16-be").hex(" ", 2).split():  # Java hashes UTF-16 code units
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h


def java_properties_order(keys: list[str]) -> list[str]:
    """The iteration order of `keys` put (in this order) into a fresh java.util.Properties.

    ConcurrentHashMap(8) starts with 16 bins and doubles when the count reaches 3/4 of them; keys are
    visited bin by bin, and in insertion order within a bin. (After a resize Java may reorder keys
    sharing a bin; configurations that large are not what this is for.)
    """
    unique = list(dict.fromkeys(keys))
    size = 16
    while len(unique) >= size - (size >> 2):
        size <<= 1

    def bin_of(key: str) -> int:
        h = _java_string_hash(key)
        return ((h ^ (h >> 16)) & 0x7FFFFFFF) & (size - 1)

    return sorted(unique, key=lambda k: bin_of(k))  # sorted() is stable: insertion order within a bin


def _split_host_port(text: str) -> tuple[str, str]:
    """`host:port` or `[v6]:port` → (host, port text); a bare port gives host ""."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r} starts with '[' but has no matching ']'")
        return text[1:end], text[end + 2:] if text[end + 1:end + 2] == ":" else ""
    host, sep, port = text.rpartition(":")
    return (host, port) if sep else ("", text)


def _member(sid: int, value: str) -> Member:
    server, _, client = value.partition(";")
    if server.strip().startswith("["):
        end = server.find("]")
        host = server[server.find("[") + 1:end] if end > 0 else ""
        rest = server[end + 2:].split(":") if end > 0 else []
    else:
        parts = server.strip().split(":")
        host, rest = parts[0], parts[1:]
    if not host or len(rest) < 2:
        raise ValueError(f"server.{sid}: expected host:peerPort:electionPort, got {value!r}")
    role = rest[2].strip().lower() if len(rest) > 2 else "participant"
    observer = role == "observer"
    client_pair: tuple[str, int] | None = None
    written: str | None = None
    if client.strip():
        chost, cport = _split_host_port(client)
        chost = chost or "0.0.0.0"
        if not cport.isdigit() or not 0 < int(cport) < 65536:
            raise ValueError(f"server.{sid}: bad client port in {value!r}")
        client_pair = (chost, int(cport))
        written = f"{chost}:{int(cport)}"
    return Member(sid, host, observer, client_pair, written)


def parse_membership(data: bytes | str) -> Membership:
    """Parse the node's data; ValueError for a line that is not a member (the caller decides what to do).

    Only `key=value` lines matter here (the node is written by the servers, always in that form);
    blank lines and `#` comments are skipped.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    version = ""
    members: list[Member] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "version":
            version = value
        elif key.startswith("server."):
            num = key[len("server."):]
            if not num.isdigit():
                raise ValueError(f"bad server id in {key!r}")
            members.append(_member(int(num), value))
    return Membership(version, tuple(members))
