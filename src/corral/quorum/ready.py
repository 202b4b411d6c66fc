"""What the core asks its host to do: the `Ready` batch and the events in it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .messages import Message

__all__ = [
    "Activated",
    "Anomaly",
    "Epochs",
    "Event",
    "Phase",
    "Ready",
    "Reconfigured",
    "RequestForwarded",
    "Role",
    "RoleChanged",
    "SessionTouches",
    "SteppedDown",
    "SyncDone",
    "SyncFailed",
]


class Role(enum.IntEnum):
    """ZooKeeper's server states (the numbers are the ones votes carry)."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


class Phase(enum.IntEnum):
    """Where a role is within ZAB: a peer only serves clients in BROADCAST."""

    ELECTION = 0
    DISCOVERY = 1
    SYNC = 2
    BROADCAST = 3


# The members as statics, for the compiled modules: there `Role.LEADING` goes through the enum class's
# attribute hook (EnumType.__getattr__ on 3.11) at every use; a `Final` is a C static.
ROLE_LOOKING: Final = Role.LOOKING
ROLE_FOLLOWING: Final = Role.FOLLOWING
ROLE_LEADING: Final = Role.LEADING
ROLE_OBSERVING: Final = Role.OBSERVING
PHASE_ELECTION: Final = Phase.ELECTION
PHASE_DISCOVERY: Final = Phase.DISCOVERY
PHASE_SYNC: Final = Phase.SYNC
PHASE_BROADCAST: Final = Phase.BROADCAST


@dataclass(frozen=True)
class Epochs:
    """ZooKeeper's `acceptedEpoch` and `currentEpoch` files: write both durably, first."""

    accepted: int
    current: int


class Event:
    """Base of the notifications in `Ready.events`."""

    __slots__ = ()


@dataclass(frozen=True)
class RoleChanged(Event):
    """The peer entered `role` (LOOKING: election started; others: leader chosen, not yet serving).

    `reason` says why, for the host's log (why a learner gave up on its leader, for instance).
    """

    role: Role
    leader: int | None
    epoch: int
    reason: str = ""


@dataclass(frozen=True)
class Activated(Event):
    """Broadcast phase reached: a leader may `propose()`, a learner may serve clients.

    `epoch` is the established epoch and `zxid` what is committed so far.
    """

    role: Role
    leader: int
    epoch: int
    zxid: int


@dataclass(frozen=True)
class SteppedDown(Event):
    """The leader gave up (lost its quorum, a learner is ahead, ...): stop serving writes."""

    epoch: int
    reason: str


@dataclass(frozen=True)
class Reconfigured(Event):
    """A new membership is active in the core (a committed reconfiguration): who votes, who observes."""

    voters: frozenset[int]
    observers: frozenset[int]


class RequestForwarded(Event):
    """At the leader: a write a server (`origin`, possibly the leader itself) forwarded.

    The host prepares it against its pending state and calls `propose()` with the resulting txn;
    the origin server recognises its request when the txn is committed there.

    A plain class, unlike the other (rare) events: the leader makes one per forwarded write, and
    compiled, a frozen dataclass's `__init__` is interpreted code setting each field through
    `object.__setattr__`.
    """

    __slots__ = ("origin", "payload")

    def __init__(self, origin: int, payload: bytes) -> None:
        self.origin: Final = origin
        self.payload: Final = payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestForwarded):
            return NotImplemented
        return self.origin == other.origin and self.payload == other.payload

    def __hash__(self) -> int:
        return hash((self.origin, self.payload))

    def __repr__(self) -> str:
        return f"RequestForwarded(origin={self.origin!r}, payload={self.payload!r})"


@dataclass(frozen=True)
class SyncDone(Event):
    """A `sync(token)` barrier completed: the state applied so far includes every write committed
    before the sync reached the leader, so the host may now answer its client's read."""

    token: int
    zxid: int


@dataclass(frozen=True)
class SyncFailed(Event):
    """A `sync(token)` will never complete here (the peer lost its leader)."""

    token: int
    reason: str


@dataclass(frozen=True)
class SessionTouches(Event):
    """At the leader: client sessions a learner saw activity on, as (session id, timeout) pairs."""

    origin: int
    touches: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Anomaly(Event):
    """A peer broke the protocol in a way a correct peer never does; the session was dropped.

    Under a correct implementation this never happens, whatever the network does; the simulator
    fails a run that sees one, and a server should log it loudly.
    """

    peer: int
    description: str


class Ready:
    """One batch of work for the host. Handle the fields in this order, then call `advance()`:

    1. `epochs`: write acceptedEpoch/currentEpoch durably (fsync) before anything else, because
       the messages below promise them.
    2. `truncate_to`: drop log entries after this zxid (they were never committed).
    3. `install_snapshot`: (zxid, bytes) replaces the state machine and the whole log.
    4. `append`: (zxid, payload) entries to append to the log; start an fsync and call
       `persisted(zxid)` when the log is durable up to zxid (group commit is fine). Do not report
       an fsync that started before a later `truncate_to`/`install_snapshot`: drop that report,
       the next fsync covers it.
    5. `messages`: (server id, message) to send, in order per destination.
    6. `commit`: (zxid, payload) to apply to the state machine, in order.
    7. `events`: `Event`s, after the commits so that their effects are visible.

    `log_end` is set when the batch changes the log (2-4): the zxid to pass to `persisted()` once
    this batch's log changes are durable (after a truncation or a snapshot with nothing appended,
    the host still reports it, so that a learner can acknowledge its sync).

    A plain class, not a dataclass: compiled, a dataclass keeps the interpreted `__init__` that
    `dataclasses` generates (four `default_factory` calls), and the core makes one per poll.
    """

    __slots__ = ("append", "commit", "epochs", "events", "install_snapshot", "log_end", "messages",
                 "truncate_to")

    def __init__(self) -> None:
        self.epochs: Epochs | None = None
        self.truncate_to: int | None = None
        self.install_snapshot: tuple[int, bytes] | None = None
        self.append: list[tuple[int, bytes]] = []
        self.messages: list[tuple[int, Message]] = []
        self.commit: list[tuple[int, bytes]] = []
        self.events: list[Event] = []
        self.log_end: int | None = None

    def __repr__(self) -> str:
        return (f"Ready(epochs={self.epochs!r}, truncate_to={self.truncate_to!r}, "
                f"install_snapshot={self.install_snapshot!r}, append={self.append!r}, "
                f"messages={self.messages!r}, commit={self.commit!r}, events={self.events!r}, "
                f"log_end={self.log_end!r})")

    def __bool__(self) -> bool:
        # The usual fields first: a host asks this after every call it makes.
        return bool(
            self.append or self.commit or self.messages or self.events or self.epochs is not None
            or self.truncate_to is not None or self.install_snapshot is not None
        )
