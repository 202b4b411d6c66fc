"""Peer messages: election votes and the ZAB learner/leader session, the quorum core's events.

Between processes, members speak Apache ZooKeeper's peer protocol (`corral.peerwire`, translated per
connection by `corral.server.peerlink`); these records are what the core consumes and produces. They
keep a strict body codec (``u16 version | u8 type | fields``, jute-encoded) for the seeded simulation,
whose network copies bytes and delivers them late, twice or never, and for tests: `decode()` raises
`PeerProtocolError` and nothing else for an unknown version or type, a truncated or over-long body, a
field out of range or trailing bytes. `validate()` holds the range rules, which the translation to and
from Apache's packets applies too.

Type numbers reuse ZooKeeper's `Leader.java` packet numbers where the meaning is the same, so a
trace reads like a ZooKeeper one. The differences, and why:

* every learner-session message carries `session` (chosen by the learner, unique per connection
  attempt) and `seq` (per direction, starting at 0). The core therefore does not trust the
  transport to be FIFO and exactly-once: a duplicate is dropped, a gap or reordering breaks the
  session (the learner goes back to LOOKING, as ZooKeeper does when its TCP connection drops). The
  asyncio transport never causes either (one TCP connection per session: both are implied by order),
  the simulator causes both on purpose.
* ACK is cumulative ("durable up to zxid"), so one ACK can cover a whole fsync group.
* PING carries a `round`, echoed by PINGREPLY, so the leader can prove it still leads a quorum
  before answering a SYNC (ZooKeeper answers without that check, which can serve a stale read
  from a deposed leader during a partition).
* RESET tells a learner its session is unknown here (a leader that restarted or stepped down); on
  Apache's protocol it is the learner connection's close.
"""

from __future__ import annotations

import struct
from itertools import pairwise
from typing import ClassVar

from ..protocol.jute import Bool, Buffer, Int, Long, Record, record
from .errors import PeerProtocolError

__all__ = [
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "Ack",
    "AckEpoch",
    "Commit",
    "Diff",
    "Inform",
    "LeaderInfo",
    "LearnerInfo",
    "Message",
    "NewLeader",
    "Ping",
    "PingReply",
    "Proposal",
    "Request",
    "Reset",
    "SessionMessage",
    "SessionTouch",
    "Snap",
    "SyncReply",
    "SyncRequest",
    "Trunc",
    "UpToDate",
    "Vote",
    "decode",
]

PROTOCOL_VERSION = 1
_HEADER = struct.Struct(">HB")

#: Server states as carried in votes (ZooKeeper's ServerState order).
LOOKING, FOLLOWING, LEADING, OBSERVING = 0, 1, 2, 3


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise PeerProtocolError(what)


class Message(Record):
    """Base of all peer messages: a jute record with a type number and range checks."""

    __slots__ = ()
    TYPE: ClassVar[int] = -1
    #: Long fields that must be >= 0 (zxids, epochs, ids, session numbers, counters).
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ()
    #: Buffer fields that must be present (jute allows a null buffer, we do not).
    REQUIRED_BYTES: ClassVar[tuple[str, ...]] = ()

    def encode(self) -> bytes:
        """The message body: version, type, fields."""
        out = bytearray(_HEADER.pack(PROTOCOL_VERSION, self.TYPE))
        self.serialize(out)
        return bytes(out)

    def validate(self) -> None:
        """Raise `PeerProtocolError` for field values no correct peer sends."""
        for name in self.NON_NEGATIVE:
            _check(getattr(self, name) >= 0, f"{type(self).__name__}.{name} is negative")
        for name in self.REQUIRED_BYTES:
            _check(getattr(self, name) is not None, f"{type(self).__name__}.{name} is null")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Strictly decode one body; see the module docstring."""
        return decode(data)


class SessionMessage(Message):
    """A message of one learner connection: `session` id and per-direction `seq` number."""

    __slots__ = ()
    session: int
    seq: int


# ---- leader election ---------------------------------------------------------------------------


@record
class Vote(Message):
    """FastLeaderElection notification: the sender's state and the vote it currently holds.

    `incarnation`/`round` let a receiver drop a notification older than one it already has from the
    same process (the simulated network reorders; ZooKeeper relies on TCP order instead).
    """

    TYPE = 32
    NON_NEGATIVE = ("zxid", "election_epoch", "peer_epoch", "incarnation", "round")
    state: Int
    leader: Long
    zxid: Long
    election_epoch: Long
    peer_epoch: Long
    incarnation: Long
    round: Long

    def validate(self) -> None:
        Message.validate(self)
        _check(self.state in (LOOKING, FOLLOWING, LEADING, OBSERVING), f"bad vote state {self.state}")
        _check(self.leader >= -1, "bad vote leader")


# ---- discovery ---------------------------------------------------------------------------------


@record
class LearnerInfo(SessionMessage):
    """FOLLOWERINFO / OBSERVERINFO: a learner opens a session with the leader it elected."""

    TYPE = 11
    NON_NEGATIVE = ("session", "seq", "accepted_epoch", "last_zxid")
    session: Long
    seq: Long
    accepted_epoch: Long
    last_zxid: Long
    observer: Bool


@record
class LeaderInfo(SessionMessage):
    """LEADERINFO: the epoch the leader proposes (max acceptedEpoch of a quorum + 1)."""

    TYPE = 17
    NON_NEGATIVE = ("session", "seq", "epoch")
    session: Long
    seq: Long
    epoch: Long


@record
class AckEpoch(SessionMessage):
    """ACKEPOCH: the learner accepted `epoch`; `current_epoch` -1 means "accepted it before".

    Echoing the epoch keeps a delayed ACKEPOCH of an older session (or of an earlier term of the
    same leader) from being counted for a newer epoch.

    The rest describes the learner's log so the leader can find where it diverges from its own:
    `committed` (everything up to it is committed, hence in the leader's log), and `marks`, the
    last zxid of each epoch among the entries after `committed`, newest first; `complete` is false
    when there were too many epochs to list (the leader then sends a SNAP).
    """

    TYPE = 18
    NON_NEGATIVE = ("session", "seq", "epoch", "last_zxid", "committed")
    session: Long
    seq: Long
    epoch: Long
    current_epoch: Long
    last_zxid: Long
    committed: Long
    marks: list[Long] | None  # never None once decoded: validate() refuses a null list
    complete: Bool

    def validate(self) -> None:
        Message.validate(self)
        _check(self.current_epoch >= -1, "bad current epoch")
        marks = self.marks
        if marks is None:
            raise PeerProtocolError("null epoch marks")
        _check(marks[0] == self.last_zxid if marks else self.last_zxid == self.committed, "marks do not end the log")
        _check(all(a > b for a, b in pairwise(marks)), "marks not decreasing")
        _check(not marks or marks[-1] > self.committed, "marks not after committed")


# ---- synchronisation ---------------------------------------------------------------------------


@record
class Diff(SessionMessage):
    """DIFF: the learner's log is a prefix of the leader's; missing entries follow."""

    TYPE = 13
    NON_NEGATIVE = ("session", "seq", "zxid")
    session: Long
    seq: Long
    zxid: Long


@record
class Trunc(SessionMessage):
    """TRUNC: drop every entry after `zxid` (never committed), then entries follow."""

    TYPE = 14
    NON_NEGATIVE = ("session", "seq", "zxid")
    session: Long
    seq: Long
    zxid: Long


@record
class Snap(SessionMessage):
    """SNAP: replace state and log by the leader's snapshot at `zxid`; entries after it follow."""

    TYPE = 15
    NON_NEGATIVE = ("session", "seq", "zxid")
    REQUIRED_BYTES = ("data",)
    session: Long
    seq: Long
    zxid: Long
    data: Buffer


@record
class Proposal(SessionMessage):
    """PROPOSAL: a log entry (in a sync stream, or a new write in broadcast)."""

    TYPE = 2
    NON_NEGATIVE = ("session", "seq", "zxid")
    REQUIRED_BYTES = ("payload",)
    session: Long
    seq: Long
    zxid: Long
    payload: Buffer

    def validate(self) -> None:
        # Every write brings these (per learner): the generic check, by name, only to say what is wrong.
        if self.session < 0 or self.seq < 0 or self.zxid < 0 or self.payload is None:
            Message.validate(self)


@record
class NewLeader(SessionMessage):
    """NEWLEADER: the sync stream ends at `zxid`; ack it once that log is durable."""

    TYPE = 10
    NON_NEGATIVE = ("session", "seq", "epoch", "zxid")
    session: Long
    seq: Long
    epoch: Long
    zxid: Long


@record
class UpToDate(SessionMessage):
    """UPTODATE: the leader is established; everything up to `zxid` is committed; serve clients."""

    TYPE = 12
    NON_NEGATIVE = ("session", "seq", "zxid")
    session: Long
    seq: Long
    zxid: Long


# ---- broadcast ---------------------------------------------------------------------------------


@record
class Ack(SessionMessage):
    """ACK: the learner's log matches the leader's and is durable up to `zxid` (cumulative)."""

    TYPE = 3
    NON_NEGATIVE = ("session", "seq", "zxid")
    session: Long
    seq: Long
    zxid: Long

    def validate(self) -> None:
        # Every write brings these (per learner): the generic check, by name, only to say what is wrong.
        if self.session < 0 or self.seq < 0 or self.zxid < 0:
            Message.validate(self)


@record
class Commit(SessionMessage):
    """COMMIT: every entry up to `zxid` is committed (cumulative)."""

    TYPE = 4
    NON_NEGATIVE = ("session", "seq", "zxid")
    session: Long
    seq: Long
    zxid: Long

    def validate(self) -> None:
        # Every write brings these (per learner): the generic check, by name, only to say what is wrong.
        if self.session < 0 or self.seq < 0 or self.zxid < 0:
            Message.validate(self)


@record
class Inform(SessionMessage):
    """INFORM: a committed entry, for observers (they never see uncommitted proposals)."""

    TYPE = 8
    NON_NEGATIVE = ("session", "seq", "zxid")
    REQUIRED_BYTES = ("payload",)
    session: Long
    seq: Long
    zxid: Long
    payload: Buffer

    def validate(self) -> None:
        # Every write brings these (per learner): the generic check, by name, only to say what is wrong.
        if self.session < 0 or self.seq < 0 or self.zxid < 0 or self.payload is None:
            Message.validate(self)


@record
class Ping(SessionMessage):
    """PING: leader heartbeat; `round` is echoed so a SYNC can wait for a fresh quorum."""

    TYPE = 5
    NON_NEGATIVE = ("session", "seq", "round")
    session: Long
    seq: Long
    round: Long


@record
class SessionTouch(Record):
    """One client session the learner saw activity on (ZooKeeper's ping touch table entry)."""

    session_id: Long
    timeout: Int


@record
class PingReply(SessionMessage):
    """The learner's answer to PING: the round it saw and the client sessions it touched."""

    TYPE = 33
    NON_NEGATIVE = ("session", "seq", "round")
    session: Long
    seq: Long
    round: Long
    touches: list[SessionTouch] | None  # never None once decoded: validate() refuses a null list

    def validate(self) -> None:
        Message.validate(self)
        _check(self.touches is not None, "null touch list")


@record
class Request(SessionMessage):
    """REQUEST: a write (or session create/close) forwarded to the leader, opaque to the core."""

    TYPE = 1
    NON_NEGATIVE = ("session", "seq")
    REQUIRED_BYTES = ("payload",)
    session: Long
    seq: Long
    payload: Buffer

    def validate(self) -> None:
        # Every forwarded write: the generic check, by name, only to say what is wrong.
        if self.session < 0 or self.seq < 0 or self.payload is None:
            Message.validate(self)


@record
class SyncRequest(SessionMessage):
    """SYNC from a learner: answer once everything proposed before it is committed."""

    TYPE = 7
    NON_NEGATIVE = ("session", "seq", "token")
    session: Long
    seq: Long
    token: Long


@record
class SyncReply(SessionMessage):
    """The leader's answer to SYNC: apply up to `zxid`, then the learner's client may read."""

    TYPE = 34
    NON_NEGATIVE = ("session", "seq", "token", "zxid")
    session: Long
    seq: Long
    token: Long
    zxid: Long


@record
class Reset(SessionMessage):
    """This session is unknown or broken at the receiver of the learner's message: re-elect."""

    TYPE = 35
    NON_NEGATIVE = ("session", "seq")
    session: Long
    seq: Long


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Vote, LearnerInfo, LeaderInfo, AckEpoch, Diff, Trunc, Snap, Proposal, NewLeader, UpToDate, Ack,
        Commit, Inform, Ping, PingReply, Request, SyncRequest, SyncReply, Reset,
    )
}


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Decode one message body strictly; every failure is a `PeerProtocolError`."""
    try:
        buf = bytes(data)
        if len(buf) < _HEADER.size:
            raise PeerProtocolError("truncated header")
        version, mtype = _HEADER.unpack_from(buf, 0)
        if version != PROTOCOL_VERSION:
            raise PeerProtocolError(f"unsupported peer protocol version {version}")
        cls = MESSAGE_TYPES.get(mtype)
        if cls is None:
            raise PeerProtocolError(f"unknown message type {mtype}")
        msg, end = cls.deserialize(buf, _HEADER.size)
        if end != len(buf):
            raise PeerProtocolError(f"{len(buf) - end} trailing bytes after {cls.__name__}")
        msg.validate()
        return msg
    except PeerProtocolError:
        raise
    except Exception as exc:  # a decoder boundary: whatever the bytes do, one error type leaves
        raise PeerProtocolError(f"malformed message: {exc}") from exc
