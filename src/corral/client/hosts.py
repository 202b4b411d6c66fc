"""Connect strings and chroot path translation.

A connect string is ZooKeeper's `host:port[,host:port...][/chroot]`, e.g.
`"10.0.0.1:2181,10.0.0.2:2181/apps/x"`. IPv6 literals are written in brackets (`[::1]:2181`); a
missing port means 2181. The chroot applies to every path the client sends and is stripped from
every path it receives (created paths, event paths, sync), as ZooKeeper's Java client does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import InvalidPath, validate_path
from .errors import BadArgumentsError

__all__ = ["DEFAULT_PORT", "ConnectString", "parse_connect_string"]

DEFAULT_PORT = 2181


@dataclass(frozen=True)
class ConnectString:
    """A parsed connect string: the servers in the order written, and the chroot ("" for none)."""

    hosts: tuple[tuple[str, int], ...]
    chroot: str = ""

    def to_server(self, path: str) -> str:
        """Client path → server path (prefix the chroot)."""
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    def to_client(self, path: str) -> str:
        """Server path → client path (strip the chroot; a path outside it is returned unchanged)."""
        chroot = self.chroot
        if not chroot or not path.startswith(chroot):
            return path
        if len(path) == len(chroot):
            return "/"
        if path[len(chroot)] == "/":
            return path[len(chroot):]
        return path


def _parse_host(item: str) -> tuple[str, int]:
    item = item.strip()
    if not item:
        raise BadArgumentsError("empty host in connect string")
    if item.startswith("["):
        end = item.find("]")
        if end < 0:
            raise BadArgumentsError(f"unterminated IPv6 literal in {item!r}")
        host, rest = item[1:end], item[end + 1:]
        if rest and not rest.startswith(":"):
            raise BadArgumentsError(f"bad host {item!r}")
        port_s = rest[1:] if rest else ""
    elif item.count(":") == 1:
        host, port_s = item.split(":")
    elif ":" in item:
        raise BadArgumentsError(f"IPv6 address must be in brackets: {item!r}")
    else:
        host, port_s = item, ""
    if not host:
        raise BadArgumentsError(f"bad host {item!r}")
    try:
        port = int(port_s) if port_s else DEFAULT_PORT
    except ValueError:
        raise BadArgumentsError(f"bad port in {item!r}")
    if not 0 < port < 65536:
        raise BadArgumentsError(f"port out of range in {item!r}")
    return host, port


def parse_connect_string(connect: str) -> ConnectString:
    """Parse `"h1:2181,h2:2181/chroot"`; raises BadArgumentsError for an empty list, bad port or bad chroot."""
    if not connect or not connect.strip():
        raise BadArgumentsError("empty connect string")
    # The chroot starts at the first '/' (hosts never contain one).
    slash = connect.find("/")
    hosts_part, chroot = (connect, "") if slash < 0 else (connect[:slash], connect[slash:])
    if chroot:
        try:
            validate_path(chroot)
        except InvalidPath as e:
            raise BadArgumentsError(f"bad chroot {chroot!r}: {e}")
        if chroot == "/":
            chroot = ""
    hosts = tuple(_parse_host(h) for h in hosts_part.split(","))
    return ConnectString(hosts, chroot)
