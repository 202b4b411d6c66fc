"""Per-connection translation between the quorum core's messages and Apache ZooKeeper's peer protocol.

Sans-I/O: bytes and core messages in, bytes and core messages out, so the asyncio transport and tests
drive the same objects. See docs/architecture.md, "Apache's peer protocol", for the mapping and why it
holds: TCP makes each connection FIFO and exactly-once, so the core's `session` is the connection and
its `seq` numbers are implied by order.

* `ElectionInbound` turns one election connection's notifications into `Vote`s (the incarnation is the
  connection, the round counts its notifications); `vote_frame` is the other direction.
* `LearnerEnd` is a learner's connection to its leader's peerPort, `LeaderEnd` the leader's end of one
  learner connection.

Where corral needs more than Apache's packets say, it puts it where Apache's readers do not look, so
an Apache peer reads the same packets as from another Apache server:

* ACKEPOCH: after Apache's ``int currentEpoch``, corral appends ``long committed, vector<long> marks,
  boolean complete`` (`LearnerHandler` reads only the int). Without them (an Apache learner) the leader
  gets ``marks=[lastZxid]``, ``complete=False``: DIFF when it holds that zxid, TRUNC within a shared
  epoch, SNAP otherwise.
* UPTODATE: zxid = the leader's committed zxid (Apache sends -1 and never reads it; from an Apache
  leader the learner takes its sync's last COMMIT, or its DIFF or TRUNC zxid if later: both committed).
* PING: zxid = the ping round (Apache's learner echoes it untouched); SYNC: zxid = the sync's target.
* SNAP: Apache's database stream (`snapsync.ApacheSnap`: the body of the core's snapshot file image,
  then ``BenWasHere``; a received one is read and handed to the core as a file image).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

from ..peerwire import Notification, PacketReader
from ..peerwire import packets as P
from ..protocol import OpCode, QuorumPacket
from ..quorum.errors import PeerProtocolError
from ..quorum.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    Inform,
    LeaderInfo,
    LearnerInfo,
    Message,
    NewLeader,
    Ping,
    PingReply,
    Proposal,
    Request,
    Reset,
    SessionTouch,
    Snap,
    SyncReply,
    SyncRequest,
    Trunc,
    UpToDate,
    Vote,
)
from .forwarded import request_from_wire, request_to_wire
from .snapsync import ApacheSnap, SnapCodec, SnapReader

__all__ = ["ElectionInbound", "LeaderEnd", "LearnerEnd", "txn_payload", "vote_frame"]

_EXT = struct.Struct(">qi")  # committed, number of marks
_Q = struct.Struct(">q")

_INT = struct.Struct(">i")  # a TxnHeader's type sits after clientId, cxid, zxid and time (offset 28)
#: The (voters, observers) a reconfig txn's payload installs (corral.server.host.reconfig_members)
ReconfigOf = Callable[[bytes], tuple[frozenset[int], frozenset[int]] | None]
_COUNTER = 0xFFFFFFFF
_MAX_MARKS = 4096


def txn_payload(data: bytes) -> bytes:
    """A PROPOSAL's or INFORM's data as the core carries it: TxnHeader + txn, checked, digest dropped
    (corral does not compute Apache's tree digest yet, see docs/architecture.md)."""
    return P.txn_log_payload(data)


def vote_frame(vote: Vote, config: bytes) -> bytes:
    """A core vote as an Apache notification frame (version 2, with our config text)."""
    return Notification(vote.state, vote.leader, vote.zxid, vote.election_epoch, vote.peer_epoch,
                        config=config).frame()


class ElectionInbound:
    """Notifications of one election connection as core `Vote`s.

    `incarnation` must differ between two connections from the same server (a transport-wide counter
    is fine), so the core never mistakes a new connection's votes for stale copies of the old one's.
    """

    def __init__(self, incarnation: int) -> None:
        self.incarnation = incarnation
        self.round = 0

    def vote(self, body: bytes) -> Vote:
        n = Notification.decode(body)
        self.round += 1
        # The core keeps votes as non-negative epochs and zxids; an observer's Long.MIN_VALUE
        # ("no vote") becomes -1, which it never prefers.
        vote = Vote(state=n.state, leader=max(n.leader, -1), zxid=max(n.zxid, 0),
                    election_epoch=max(n.election_epoch, 0), peer_epoch=max(n.peer_epoch, 0),
                    incarnation=self.incarnation, round=self.round)
        vote.validate()
        return vote


def _encode_ack_epoch_ext(m: AckEpoch) -> bytes:
    marks = m.marks or []
    out = bytearray(P.ack_epoch_data(m.current_epoch))
    out += _EXT.pack(m.committed, len(marks))
    for z in marks:
        out += _Q.pack(z)
    out += b"\x01" if m.complete else b"\x00"
    return bytes(out)


def _decode_ack_epoch(pkt: QuorumPacket, epoch: int, session: int, seq: int) -> AckEpoch:
    data = pkt.data
    if data is None or len(data) < 4:
        raise PeerProtocolError("ACKEPOCH without its epoch")
    (current,) = struct.unpack_from(">i", data, 0)
    if current < -1:
        raise PeerProtocolError(f"ACKEPOCH epoch {current}")
    last = pkt.zxid
    if last < 0:
        raise PeerProtocolError(f"ACKEPOCH last zxid {last}")
    if len(data) == 4:  # an Apache learner: only its last zxid
        marks = [last] if last > 0 else []
        msg = AckEpoch(session=session, seq=seq, epoch=epoch, current_epoch=current, last_zxid=last,
                       committed=0, marks=marks, complete=False)
    else:
        if len(data) < 4 + _EXT.size:
            raise PeerProtocolError("truncated ACKEPOCH extension")
        committed, n = _EXT.unpack_from(data, 4)
        if not 0 <= n <= _MAX_MARKS or len(data) != 4 + _EXT.size + 8 * n + 1 or data[-1] > 1:
            raise PeerProtocolError("malformed ACKEPOCH extension")
        marks = [int(z) for (z,) in _Q.iter_unpack(data[4 + _EXT.size:-1])]
        msg = AckEpoch(session=session, seq=seq, epoch=epoch, current_epoch=current, last_zxid=last,
                       committed=committed, marks=marks, complete=bool(data[-1]))
    msg.validate()  # the same range and order rules as the core's own codec
    return msg


class _End:
    """What both ends share: the core session of this connection and the seq of what we hand the core."""

    def __init__(self, session: int) -> None:
        self.session = session
        self.in_seq = 0
        self.reader = PacketReader()
        self.closed = False

    def _seq(self) -> int:
        self.in_seq += 1
        return self.in_seq - 1


class LearnerEnd(_End):
    """A learner's connection to the leader. Created with the core's `LearnerInfo` (its first message).

    `to_wire(msg)` turns a core message into bytes; `from_wire(data)` returns the core messages the
    bytes complete and the bytes to send back at once (an observer acknowledges NEWLEADER itself: the
    core's observers never see one).
    """

    def __init__(self, info: LearnerInfo, my_id: int, payload_of: Callable[[bytes], bytes] = txn_payload,
                 request_packet: Callable[[bytes], bytes] = request_to_wire, snap: SnapCodec | None = None) -> None:
        """`payload_of` reads a PROPOSAL's or INFORM's data, `request_packet` makes a core `Request`'s
        payload a REQUEST packet, `snap` reads the database after SNAP (Apache's stream by default;
        tests with opaque payloads and snapshots replace all three)."""
        snap = snap or ApacheSnap()
        super().__init__(info.session)
        self.payload_of = payload_of
        self.request_packet = request_packet
        self.in_seq = 0
        self.observer = info.observer
        self.my_id = my_id
        self.info = info
        self.epoch = -1
        self.log_end = info.last_zxid  # the core's log end as the sync stream leaves it
        self.newleader: int | None = None  # the zxid the core must ack for NEWLEADER
        self.unacked: deque[int] = deque()  # proposals of this connection not yet acknowledged
        self.last_commit = -1
        # An Apache leader's DIFF or TRUNC zxid is one it has committed (LearnerHandler.syncFollower), and
        # our log matches its history up to there: what we logged up to it is committed (see UPTODATE).
        self.certified = -1
        self.pings: dict[int, int] = {}  # core round -> the PING's zxid to echo
        self.ping_round = 0
        self.syncs: deque[int] = deque()  # core sync tokens, in the order sent
        self.revalidations = 0  # REVALIDATEs sent whose answer has not come yet
        self.pending_inform: dict[int, bytes] = {}  # observer: PROPOSAL payloads awaiting their COMMIT
        self.newleader_seen = False
        self.leader_config: bytes | None = None  # NEWLEADER's configuration text (the leader's last seen)
        self.early_commits: list[int] = []  # COMMITs of the sync stream, passed on after NEWLEADER
        self.snap_zxid: int | None = None
        self.snap_buf = bytearray()
        self.snap = snap
        self.snap_reader: SnapReader | None = None

    def hello(self) -> bytes:
        ptype = P.OBSERVERINFO if self.observer else P.FOLLOWERINFO
        return P.encode_packet(ptype, self.info.accepted_epoch << 32, P.learner_info_data(self.my_id, 0))

    def revalidate(self, session_id: int, timeout: int) -> bytes:
        """REVALIDATE (Learner.validateSession): a client session (re)connects through this learner.
        The leader touches the session and makes this learner its owner; an Apache leader refuses a
        session's requests (SESSIONMOVED) from any other learner than the one that last revalidated it."""
        self.revalidations += 1
        return P.encode_packet(P.REVALIDATE, -1, P.RevalidateAsk(session_id, timeout).encode())

    def to_wire(self, msg: Message) -> bytes:
        if isinstance(msg, LearnerInfo):
            return b""  # the core re-sends it during discovery; the connection already said it
        if isinstance(msg, AckEpoch):
            self.log_end = msg.last_zxid
            return P.encode_packet(P.ACKEPOCH, msg.last_zxid, _encode_ack_epoch_ext(msg))
        if isinstance(msg, Ack):
            out = bytearray()
            if self.newleader is not None and msg.zxid >= self.newleader:
                out += P.encode_packet(P.ACK, self.epoch << 32)  # the NEWLEADER ack comes first
                self.newleader = None
            while self.unacked and self.unacked[0] <= msg.zxid:
                out += P.encode_packet(P.ACK, self.unacked.popleft())
            return bytes(out)
        if isinstance(msg, PingReply):
            zxid = self.pings.pop(msg.round, msg.round)
            touches = [(t.session_id, t.timeout) for t in msg.touches or ()]
            return P.encode_packet(P.PING, zxid, P.encode_ping_touches(touches))
        if isinstance(msg, Request):
            return self.request_packet(msg.payload or b"")
        if isinstance(msg, SyncRequest):
            self.syncs.append(msg.token)
            return P.encode_packet(P.REQUEST, -1, P.ForwardedRequest(0, 0, OpCode.sync, b"").encode())
        raise PeerProtocolError(f"a learner does not send {type(msg).__name__}")

    def from_wire(self, data: bytes) -> tuple[list[Message], bytes]:
        to_core: list[Message] = []
        reply = bytearray()
        pkts = self.reader.feed(data) if self.snap_zxid is None else []
        if self.snap_zxid is not None:
            self.snap_buf += data
        for _ in range(1 << 20):  # bounded: each pass consumes a whole SNAP or stops
            for pkt in pkts:
                to_core += self._packet(pkt, reply)  # a SNAP is always the last of a batch
            if self.snap_zxid is None:
                break
            self.snap_buf += self.reader.take_rest()
            done = self._snap_body()
            if done is None:
                break
            snap, end = done
            to_core.append(snap)
            self.snap_zxid = None
            rest, self.snap_buf = bytes(self.snap_buf[end:]), bytearray()
            pkts = self.reader.resume(rest)
        for msg in to_core:
            msg.validate()  # what the core gets keeps its own codec's range rules
        return to_core, bytes(reply)

    def _snap_body(self) -> tuple[Snap, int] | None:
        """The database after a SNAP packet as the core's `Snap`, or None until complete."""
        assert self.snap_zxid is not None and self.snap_reader is not None
        done = self.snap_reader.read(self.snap_buf)
        if done is None:
            return None
        data, end = done
        self.log_end = self.snap_zxid
        self.snap_reader = None
        return Snap(session=self.session, seq=self._seq(), zxid=self.snap_zxid, data=data), end

    def _packet(self, pkt: QuorumPacket, reply: bytearray) -> list[Message]:
        t = pkt.type
        s = self.session
        if t == P.LEADERINFO:
            P.decode_leader_info(pkt)
            self.epoch = pkt.zxid >> 32
            return [LeaderInfo(session=s, seq=self._seq(), epoch=self.epoch)]
        if t == P.DIFF:
            self.certified = min(max(pkt.zxid, 0), self.log_end)
            return [Diff(session=s, seq=self._seq(), zxid=max(pkt.zxid, 0))]
        if t == P.TRUNC:
            self.log_end = pkt.zxid
            self.certified = max(pkt.zxid, 0)
            return [Trunc(session=s, seq=self._seq(), zxid=max(pkt.zxid, 0))]
        if t == P.SNAP:
            self.snap_zxid = max(pkt.zxid, 0)
            self.snap_reader = self.snap.reader(self.snap_zxid)
            return []
        if t == P.INFORMANDACTIVATE:  # the designated leader, then INFORM's data; activated when applied
            data = pkt.data or b""
            if len(data) < 8:
                raise PeerProtocolError("INFORMANDACTIVATE without its designated leader")
            pkt = QuorumPacket(P.INFORM, pkt.zxid, data[8:], None)
            t = P.INFORM
        if t == P.COMMITANDACTIVATE:  # COMMIT of a reconfig: the host activates it when it applies it
            if len(pkt.data or b"") != 8:
                raise PeerProtocolError("COMMITANDACTIVATE without its designated leader")
            pkt = QuorumPacket(P.COMMIT, pkt.zxid, None, None)
            t = P.COMMIT
        if t in (P.PROPOSAL, P.INFORM):
            payload = self.payload_of(pkt.data or b"")
            if t == P.INFORM:
                self.log_end = pkt.zxid
                return [Inform(session=s, seq=self._seq(), zxid=pkt.zxid, payload=payload)]
            if self.observer:
                self.pending_inform[pkt.zxid] = payload
                return []
            self.log_end = pkt.zxid
            self.unacked.append(pkt.zxid)
            return [Proposal(session=s, seq=self._seq(), zxid=pkt.zxid, payload=payload)]
        if t == P.COMMIT:
            self.last_commit = max(self.last_commit, pkt.zxid)
            if self.observer:
                if pkt.zxid not in self.pending_inform:
                    return []
                payload = self.pending_inform.pop(pkt.zxid)
                self.log_end = pkt.zxid
                return [Inform(session=s, seq=self._seq(), zxid=pkt.zxid, payload=payload)]
            if not self.newleader_seen:
                # Apache's leader sends committed txns of the sync as PROPOSAL + COMMIT pairs before
                # NEWLEADER; the core takes commits only once the sync is complete: they follow it.
                self.early_commits.append(pkt.zxid)
                return []
            return [Commit(session=s, seq=self._seq(), zxid=pkt.zxid)]
        if t == P.NEWLEADER:
            self.leader_config = pkt.data
            if self.observer:
                reply += P.encode_packet(P.ACK, pkt.zxid)
                return []
            self.newleader = self.log_end
            self.newleader_seen = True
            out: list[Message] = [NewLeader(session=s, seq=self._seq(), epoch=pkt.zxid >> 32, zxid=self.log_end)]
            out += [Commit(session=s, seq=self._seq(), zxid=z) for z in self.early_commits]
            self.early_commits.clear()
            return out
        if t == P.UPTODATE:
            # Apache's UPTODATE says nothing (zxid -1): the commits it implies are its sync's COMMITs and,
            # for the entries we had logged before (a restart, a swap), its DIFF or TRUNC zxid. Without
            # the latter a member rejoining an idle ensemble would serve an older tree than its log holds
            # until the next write's COMMIT (Apache's learner applies its whole log at start-up).
            zxid = pkt.zxid if pkt.zxid >= 0 else max(self.last_commit, self.certified, 0)
            reply += P.encode_packet(P.ACK, self.epoch << 32)
            return [UpToDate(session=s, seq=self._seq(), zxid=zxid)]
        if t == P.PING:
            self.ping_round += 1
            self.pings[self.ping_round] = pkt.zxid
            return [Ping(session=s, seq=self._seq(), round=self.ping_round)]
        if t == P.REVALIDATE:
            if self.revalidations <= 0:
                raise PeerProtocolError("REVALIDATE answer without a question")
            P.RevalidateAnswer.decode(pkt)  # whether it is valid, the host learns from its sync
            self.revalidations -= 1
            return []
        if t == P.SYNC:
            if not self.syncs:
                raise PeerProtocolError("SYNC without a pending sync")
            target = pkt.zxid if pkt.zxid > 0 else max(self.last_commit, 0)
            return [SyncReply(session=s, seq=self._seq(), token=self.syncs.popleft(), zxid=target)]
        raise PeerProtocolError(f"a leader does not send {P.packet_name(t)} here")


class LeaderEnd(_End):
    """The leader's end of one learner connection; `session` is chosen by the transport, increasing."""

    def __init__(self, session: int, voters: frozenset[int], config: bytes | Callable[[int], bytes],
                 request_type: Callable[[QuorumPacket], int] = P.request_type,
                 request_payload: Callable[[QuorumPacket], bytes] = request_from_wire,
                 revalidate: Callable[[int, int], bool] | None = None, snap: SnapCodec | None = None,
                 my_id: int = -1, reconfig_of: ReconfigOf | None = None) -> None:
        """`request_type` reads a REQUEST's opcode (a sync becomes the core's `SyncRequest`),
        `request_payload` makes any other REQUEST the host's forwarded-request payload, `revalidate`
        answers an Apache learner's REVALIDATE (may this session reconnect there? it touches it);
        without it a REVALIDATE is a protocol error. `config` is NEWLEADER's configuration text, or
        what gives it for an epoch (the leader's last seen configuration may take the epoch's version).
        `reconfig_of` reads the membership a reconfig txn installs: its COMMIT goes out as COMMITANDACTIVATE
        and its INFORM as INFORMANDACTIVATE, naming the designated leader (`my_id` if it stays a voter)."""
        super().__init__(session)
        self.my_id = my_id
        self.reconfig_of = reconfig_of
        self.designated: dict[int, int] = {}  # reconfig proposals of this connection -> designated leader
        self.request_type = request_type
        self.request_payload = request_payload
        self.revalidate = revalidate
        self.snap = snap or ApacheSnap()
        self.reply = bytearray()  # answers the transport sends at once (REVALIDATE), taken by take_reply()
        self.voters = voters
        self.config = config
        self.sid: int | None = None
        self.observer = False
        self.epoch = -1
        self.newleader = -1
        self.awaiting_newleader_ack = False
        self.acked = -1
        self.proposed: deque[int] = deque()  # proposals sent on this connection, not yet committed
        self.committed = -1
        self.syncs: deque[int] = deque()
        self.next_sync = 1
        self.sync_started = False  # DIFF, TRUNC or SNAP sent: PINGs may flow
        self.between_newleader_and_uptodate = False

    def _config(self, epoch: int) -> bytes:
        return self.config if isinstance(self.config, bytes) else self.config(epoch)

    def from_wire(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        for pkt in self.reader.feed(data):
            out += self._packet(pkt)
        for msg in out:
            msg.validate()  # what the core gets keeps its own codec's range rules
        return out

    def _packet(self, pkt: QuorumPacket) -> list[Message]:
        t = pkt.type
        s = self.session
        if self.sid is None:
            if t not in (P.FOLLOWERINFO, P.OBSERVERINFO):
                raise PeerProtocolError(f"first packet is {P.packet_name(t)}, not FOLLOWERINFO or OBSERVERINFO")
            info = P.decode_learner_info(pkt)
            self.sid = info.serverid
            self.observer = t == P.OBSERVERINFO
            if pkt.zxid < 0:
                raise PeerProtocolError("negative accepted epoch")
            return [LearnerInfo(session=s, seq=self._seq(), accepted_epoch=pkt.zxid >> 32, last_zxid=0,
                                observer=self.observer)]
        if t == P.ACKEPOCH:
            return [_decode_ack_epoch(pkt, self.epoch, s, self._seq())]
        if t == P.ACK:
            if self.observer:
                return []  # Apache observers ack NEWLEADER and UPTODATE; the core expects nothing
            if pkt.zxid & _COUNTER == 0:
                if self.awaiting_newleader_ack:
                    self.awaiting_newleader_ack = False
                    self.acked = self.newleader
                    return [Ack(session=s, seq=self._seq(), zxid=self.newleader)]
                return []  # the ACK of UPTODATE (Apache's leader ignores it too)
            if self.awaiting_newleader_ack or pkt.zxid <= self.acked:
                # A synced txn acked on its own (Apache learners ack each logged txn, some before
                # their NEWLEADER ack, ZOOKEEPER-4685): the NEWLEADER ack covers it.
                return []
            self.acked = pkt.zxid
            return [Ack(session=s, seq=self._seq(), zxid=pkt.zxid)]
        if t == P.PING:
            touches = [SessionTouch(session_id=a, timeout=b) for a, b in P.decode_ping_touches(pkt)]
            return [PingReply(session=s, seq=self._seq(), round=pkt.zxid, touches=touches)]
        if t == P.REVALIDATE and self.revalidate is not None:
            ask = P.RevalidateAsk.decode(pkt)
            valid = self.revalidate(ask.session_id, ask.timeout)
            self.reply += P.encode_packet(P.REVALIDATE, pkt.zxid, P.RevalidateAnswer(ask.session_id, valid).encode())
            return []
        if t == P.REQUEST:
            if self.request_type(pkt) == OpCode.sync:
                token = self.next_sync
                self.next_sync += 1
                self.syncs.append(token)
                return [SyncRequest(session=s, seq=self._seq(), token=token)]
            return [Request(session=s, seq=self._seq(), payload=self.request_payload(pkt))]
        raise PeerProtocolError(f"a learner does not send {P.packet_name(t)}")

    def take_reply(self) -> bytes:
        out, self.reply = bytes(self.reply), bytearray()
        return out

    def to_wire(self, msg: Message) -> bytes:
        if isinstance(msg, LeaderInfo):
            self.epoch = msg.epoch
            return P.encode_packet(P.LEADERINFO, msg.epoch << 32, P.leader_info_data())
        if isinstance(msg, Diff):
            self.sync_started = True
            return P.encode_packet(P.DIFF, msg.zxid)
        if isinstance(msg, Trunc):
            self.sync_started = True
            return P.encode_packet(P.TRUNC, msg.zxid)
        if isinstance(msg, Snap):
            self.sync_started = True
            return P.encode_packet(P.SNAP, msg.zxid) + self.snap.stream(msg.data or b"")
        if isinstance(msg, Proposal):
            self.proposed.append(msg.zxid)
            designated = self._designated(msg.payload or b"")
            if designated is not None:
                self.designated[msg.zxid] = designated
            return P.encode_packet(P.PROPOSAL, msg.zxid, msg.payload)
        if isinstance(msg, Inform):
            designated = self._designated(msg.payload or b"")
            if designated is not None:  # Leader.informAndActivate: the designated leader, then the txn
                return P.encode_packet(P.INFORMANDACTIVATE, msg.zxid, _Q.pack(designated) + (msg.payload or b""))
            return P.encode_packet(P.INFORM, msg.zxid, msg.payload)
        if isinstance(msg, NewLeader):
            self.newleader = msg.zxid
            self.awaiting_newleader_ack = True
            self.between_newleader_and_uptodate = True
            return P.encode_packet(P.NEWLEADER, msg.epoch << 32, self._config(msg.epoch))
        if isinstance(msg, Commit):
            if self.between_newleader_and_uptodate:
                # An Apache 3.8.0 learner fails on a COMMIT between NEWLEADER and UPTODATE: it logged
                # the synced txns at NEWLEADER and reads COMMIT against an emptied queue
                # (Learner.syncWithLeader, ZOOKEEPER-4394). Cumulative: UPTODATE's COMMITs cover it.
                return b""
            return self._commits(msg.zxid)
        if isinstance(msg, UpToDate):
            self.between_newleader_and_uptodate = False
            out = bytearray()
            if self.observer:  # Apache observers expect NEWLEADER too; the core sends them none
                out += P.encode_packet(P.NEWLEADER, self.epoch << 32, self._config(self.epoch))
            out += P.encode_packet(P.UPTODATE, msg.zxid)
            # After UPTODATE a follower commits its pending (logged) txns one COMMIT at a time, in order.
            out += self._commits(msg.zxid)
            return bytes(out)
        if isinstance(msg, Ping):
            if not self.sync_started:
                # An Apache learner exits on anything but DIFF/TRUNC/SNAP after its ACKEPOCH; Apache's
                # LearnerHandler.ping() sends nothing before the sync either. The round goes unanswered.
                return b""
            return P.encode_packet(P.PING, msg.round)
        if isinstance(msg, SyncReply):
            if not self.syncs or self.syncs[0] != msg.token:
                raise PeerProtocolError("sync replies out of order")
            self.syncs.popleft()
            return P.encode_packet(P.SYNC, msg.zxid)
        if isinstance(msg, Reset):
            self.closed = True
            return b""
        raise PeerProtocolError(f"a leader does not send {type(msg).__name__}")

    def _designated(self, payload: bytes) -> int | None:
        """Leader.getDesignatedLeader, for a reconfig txn (None for any other): this leader if it stays
        a voter, else one of the new voters (corral's leader steps down and the new voters elect)."""
        if self.reconfig_of is None or len(payload) < 32 or _INT.unpack_from(payload, 28)[0] != OpCode.reconfig:
            return None
        members = self.reconfig_of(payload)
        if members is None or not members[0]:
            return None
        voters = members[0]
        return self.my_id if self.my_id in voters else min(voters)

    def _commits(self, zxid: int) -> bytes:
        out = bytearray()
        while self.proposed and self.proposed[0] <= zxid:
            z = self.proposed.popleft()
            designated = self.designated.pop(z, None)
            if designated is not None:  # Leader.commitAndActivate
                out += P.encode_packet(P.COMMITANDACTIVATE, z, _Q.pack(designated))
                continue
            out += P.encode_packet(P.COMMIT, z)
        self.committed = max(self.committed, zxid)
        return bytes(out)
