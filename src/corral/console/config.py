"""What the console needs to know from its host: where its own server is, who the ensemble members are,
and whether edits are allowed.

The console is a ZooKeeper *client* of the server it is mounted in (as ZooNavigator is), so the
server's ACLs, not the console, decide what a browser may read or change. The member list is separate
from the connect string because the ensemble view probes every member's client port with four-letter
words, including members the console's own session is not connected to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..client import parse_connect_string
from ..client.errors import BadArgumentsError

__all__ = ["ConsoleConfig", "MemberAddress", "members_from_connect", "parse_member"]


@dataclass(frozen=True, slots=True)
class MemberAddress:
    """One ensemble member as the ensemble view shows it: its `server.N` id and client address."""

    sid: int
    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.sid <= 255:
            raise ValueError(f"member id {self.sid} is outside 0..255")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"member {self.sid}: port {self.port} is outside 1..65535")
        if not self.host:
            raise ValueError(f"member {self.sid}: empty host")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Settings of one console app (`console_app(cfg)`).

    connect: the connect string of the console's own ZooKeeper sessions (the hosting server's client
        address, or a whole ensemble's, optionally with a chroot).
    members: the ensemble members to probe for the ensemble, sessions and watches views.
    writes: False hides and refuses create/set/delete even for logged-in users (a read-only console).
    session_timeout: ZooKeeper session timeout (s) of the console's sessions.
    idle_timeout: a logged-in browser session unused this long (s) is logged out and its ZooKeeper
        session closed.
    max_logins: at most this many logged-in browser sessions (each holds a ZooKeeper session) at once.
    poll_interval: seconds between two probes of the members while someone looks at the console.
    probe_timeout: seconds one four-letter-word probe may take before the member counts as down.
    max_children: a tree level lists at most this many children (sorted), the rest is summarised.
    """

    connect: str
    members: tuple[MemberAddress, ...] = ()
    writes: bool = True
    session_timeout: float = 30.0
    idle_timeout: float = 900.0
    max_logins: int = 64
    poll_interval: float = 1.0
    probe_timeout: float = 2.0
    max_children: int = 1000
    auth_schemes: tuple[str, ...] = field(default=("digest",))

    def __post_init__(self) -> None:
        parse_connect_string(self.connect)  # raises BadArgumentsError with ZooKeeper's wording
        for name in ("session_timeout", "idle_timeout", "poll_interval", "probe_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_logins < 1 or self.max_children < 1:
            raise ValueError("max_logins and max_children must be at least 1")
        ids = [m.sid for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError(f"member ids must be unique, got {ids}")

    @property
    def probe_members(self) -> tuple[MemberAddress, ...]:
        """The members to probe: the configured ones, or else the hosts of the connect string."""
        return self.members or members_from_connect(self.connect)


def members_from_connect(connect: str) -> tuple[MemberAddress, ...]:
    """Members numbered 1.. from a connect string, for a console started without a member list."""
    try:
        hosts = parse_connect_string(connect).hosts
    except BadArgumentsError as e:
        raise ValueError(str(e)) from None
    return tuple(MemberAddress(i + 1, h, p) for i, (h, p) in enumerate(hosts))


def parse_member(text: str) -> MemberAddress:
    """`ID=HOST:PORT` (IPv6 hosts in brackets), as the runner's `--member` takes it."""
    sid_text, eq, addr = text.partition("=")
    if not eq:
        raise ValueError(f"{text!r}: expected ID=HOST:PORT")
    try:
        sid = int(sid_text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: member id {sid_text!r} is not a number") from None
    host, colon, port_text = addr.strip().rpartition(":")
    if not colon or not port_text.isdigit():
        raise ValueError(f"{text!r}: expected ID=HOST:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return MemberAddress(sid, host, int(port_text))


def as_members(items: Sequence[MemberAddress | tuple[int, str, int]]) -> tuple[MemberAddress, ...]:
    """Accept plain (id, host, port) tuples from a host that has no MemberAddress at hand."""
    return tuple(m if isinstance(m, MemberAddress) else MemberAddress(*m) for m in items)
