"""Public value types of the client: session states, watch events, ACL helpers, watch snapshots.

`Stat`, `ACL` and `Id` are the protocol's own jute records (`corral.protocol`), re-exported so that a
caller never needs two definitions of the same thing.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from ..protocol import ACL, CreateMode, EventType, Id, KeeperState, Perms, Stat

__all__ = [
    "ACL",
    "ANYONE_ID_UNSAFE",
    "AUTH_IDS",
    "CREATOR_ALL_ACL",
    "OPEN_ACL_UNSAFE",
    "READ_ACL_UNSAFE",
    "ChildrenSnapshot",
    "CreateMode",
    "DataSnapshot",
    "EventType",
    "Id",
    "KeeperState",
    "Perms",
    "SessionState",
    "Stat",
    "WatchedEvent",
    "digest_acl",
    "digest_id",
    "make_acl",
]


class SessionState(StrEnum):
    """Where the client's session stands, as reported to state listeners.

    CONNECTING, CONNECTED, CONNECTED_READ_ONLY and DISCONNECTED are live states: the session may still exist on the
    servers. EXPIRED, AUTH_FAILED and CLOSED are terminal for that session: every later call raises
    (SessionExpiredError, AuthFailedError, ClientClosedError); `Client.start()` may begin a new one.
    """

    CONNECTING = "CONNECTING"
    """No session yet: the first connection is being established."""
    CONNECTED = "CONNECTED"
    """A server holds the session and the connection is up (ZooKeeper's SyncConnected)."""
    CONNECTED_READ_ONLY = "CONNECTED_READ_ONLY"
    """Connected to a server that lost its quorum and serves reads only (ZooKeeper's ConnectedReadOnly;
    only with `can_be_read_only=True`): reads work, writes fail with NotReadOnlyError, and the client
    looks for a read-write server in the background."""
    DISCONNECTED = "DISCONNECTED"
    """The connection dropped; the client is reconnecting with the same session (kazoo's SUSPENDED)."""
    EXPIRED = "EXPIRED"
    """The session expired (reported by a server on reconnect, or after being disconnected for the timeout)."""
    AUTH_FAILED = "AUTH_FAILED"
    """A server rejected the credentials of add_auth; it closes the connection."""
    CLOSED = "CLOSED"
    """The owner closed the client (the session was closed on the server if it was reachable)."""

    @property
    def keeper_state(self) -> KeeperState:
        """The matching ZooKeeper `Watcher.Event.KeeperState`, e.g. for printing Java-style events."""
        return _KEEPER_STATE[self]

    @property
    def is_connected(self) -> bool:
        """True for CONNECTED and CONNECTED_READ_ONLY (Java's `States.isConnected`)."""
        return self in (SessionState.CONNECTED, SessionState.CONNECTED_READ_ONLY)

    @property
    def is_terminal(self) -> bool:
        """True when this session can never be used again."""
        return self in (SessionState.EXPIRED, SessionState.AUTH_FAILED, SessionState.CLOSED)


_KEEPER_STATE = {
    SessionState.CONNECTING: KeeperState.Disconnected,
    SessionState.CONNECTED: KeeperState.SyncConnected,
    SessionState.CONNECTED_READ_ONLY: KeeperState.ConnectedReadOnly,
    SessionState.DISCONNECTED: KeeperState.Disconnected,
    SessionState.EXPIRED: KeeperState.Expired,
    SessionState.AUTH_FAILED: KeeperState.AuthFailed,
    SessionState.CLOSED: KeeperState.Closed,
}


@dataclass(frozen=True, slots=True)
class WatchedEvent:
    """A watch notification, ZooKeeper's `WatchedEvent`.

    Node events carry `state=SyncConnected` and the node's path (chroot stripped). When the session
    ends (expired, auth failed, closed) every still-registered watch receives one final event with
    `type=EventType.None_`, the terminal state and `path=None` — as the Java client does — so that code
    waiting on a one-shot watch is never left hanging.
    """

    type: EventType | int  # an int for codes this client does not know (a newer server)
    state: KeeperState | int
    path: str | None

    def __str__(self) -> str:
        # Same wording as Java's WatchedEvent.toString (zkCli's "WATCHER::" lines).
        # Unknown codes (a newer server) arrive as plain ints: printed as numbers.
        name = "None" if self.type == EventType.None_ else getattr(self.type, "name", str(self.type))
        state = getattr(self.state, "name", str(self.state))
        path = "null" if self.path is None else self.path
        return f"WatchedEvent state:{state} type:{name} path:{path}"


@dataclass(frozen=True, slots=True)
class DataSnapshot:
    """One value of a node as seen by `Client.watch_data`.

    `data` and `stat` are None while the node does not exist. `event` is the notification that caused
    this read (None for the first snapshot). Snapshots are read after the event, so several quick
    changes may show up as one snapshot with the newest value: nothing is missed, but not every
    intermediate version is seen (ZooKeeper's watches are one-shot by design).
    """

    data: bytes | None
    stat: Stat | None
    event: WatchedEvent | None = None

    @property
    def exists(self) -> bool:
        return self.stat is not None


@dataclass(frozen=True, slots=True)
class ChildrenSnapshot:
    """One child list of a node as seen by `Client.watch_children` (names sorted; None while the node is absent)."""

    children: list[str] | None
    stat: Stat | None
    event: WatchedEvent | None = None

    @property
    def exists(self) -> bool:
        return self.stat is not None


def make_acl(scheme: str, credential: str, perms: int = Perms.ALL) -> ACL:
    """One ACL entry, e.g. `make_acl("ip", "127.0.0.1", Perms.READ)`."""
    return ACL(int(perms), Id(scheme, credential))


def digest_id(username: str, password: str) -> str:
    """The `digest` scheme id for credentials: `user:base64(sha1("user:password"))` (DigestAuthenticationProvider)."""
    raw = hashlib.sha1(f"{username}:{password}".encode()).digest()
    return f"{username}:{base64.b64encode(raw).decode()}"


def digest_acl(username: str, password: str, perms: int = Perms.ALL) -> ACL:
    """An ACL entry granting `perms` to whoever did `add_auth("digest", "username:password")`."""
    return make_acl("digest", digest_id(username, password), perms)


ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")
OPEN_ACL_UNSAFE: list[ACL] = [ACL(int(Perms.ALL), ANYONE_ID_UNSAFE)]
"""Everyone may do everything (ZooDefs.Ids.OPEN_ACL_UNSAFE); the default for create."""
CREATOR_ALL_ACL: list[ACL] = [ACL(int(Perms.ALL), AUTH_IDS)]
"""Everything for the creator's authenticated ids (needs a prior add_auth, else InvalidACL)."""
READ_ACL_UNSAFE: list[ACL] = [ACL(int(Perms.READ), ANYONE_ID_UNSAFE)]
"""Everyone may read."""
