"""The hand-driven cluster of `harness.py` with Apache's peer protocol on every path.

Every core message is translated by the transport's own per-connection objects
(`corral.server.peerlink`) to Apache packet bytes and back: votes become notifications, a learner's
`LearnerInfo` with a new session opens a new "connection" (a `LearnerEnd` at the learner, a `LeaderEnd`
at the leader) and everything of that session travels through that pair. The queue stays FIFO per
connection unless a test holds or drops messages (which then looks like a broken connection).
"""

from __future__ import annotations

from itertools import count

from corral.peerwire import ElectionFrameReader
from corral.peerwire import packets as P
from corral.protocol import QuorumPacket
from corral.quorum import Message
from corral.quorum.messages import LearnerInfo, Reset, SessionMessage, Vote
from corral.server.peerlink import ElectionInbound, LeaderEnd, LearnerEnd, vote_frame
from corral.server.snapsync import BufferSnap

from .harness import Cluster

CONFIG = b"version=0"
_TO_LEADER_TYPES = ("LearnerInfo", "AckEpoch", "Ack", "Request", "SyncRequest", "PingReply")


def _request_type(pkt: QuorumPacket) -> int:
    """The harness forwards opaque payloads; only the transport's own sync REQUESTs are 16 bytes here."""
    return P.ForwardedRequest.decode(pkt).type if pkt.data is not None and len(pkt.data) == 16 else -1


class _Conn:
    def __init__(self, learner: int, leader: int, info: LearnerInfo, leader_session: int, voters: frozenset[int]):
        self.learner = learner
        self.leader = leader
        # Harness payloads are opaque bytes, not txns or forwarded requests: carried as they are.
        self.learner_end = LearnerEnd(info, learner, payload_of=bytes,
                                      request_packet=lambda p: P.encode_packet(P.REQUEST, -1, p), snap=BufferSnap())
        self.leader_end = LeaderEnd(leader_session, voters, CONFIG, request_type=_request_type,
                                    request_payload=lambda pkt: pkt.data or b"", snap=BufferSnap())


class ApacheWireCluster(Cluster):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.incarnations = count(1)
        self.inbound: dict[tuple[int, int], ElectionInbound] = {}
        self.by_learner: dict[tuple[int, int], _Conn] = {}  # (learner sid, learner session)
        self.by_leader: dict[tuple[int, int], _Conn] = {}  # (leader sid, leader session)
        self.sessions = count(1)
        self.translated = 0
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def start(self, sid, rec):  # type: ignore[no-untyped-def]
        # A restarted server has new connections: forget the old ones of both its ends.
        for key in [k for k in self.inbound if sid in k]:
            del self.inbound[key]
        return super().start(sid, rec)

    def transcode(self, frm: int, to: int, msg: Message) -> list[tuple[int, int, Message]]:
        self.translated += 1
        if isinstance(msg, Vote):
            inbound = self.inbound.get((frm, to))
            if inbound is None:
                inbound = self.inbound[(frm, to)] = ElectionInbound(next(self.incarnations))
            (body,) = ElectionFrameReader().feed(vote_frame(msg, CONFIG))
            return [(frm, to, inbound.vote(body))]
        assert isinstance(msg, SessionMessage)
        if type(msg).__name__ in _TO_LEADER_TYPES:
            return self._from_learner(frm, to, msg)
        return self._from_leader(frm, to, msg)

    def _from_learner(self, frm: int, to: int, msg: SessionMessage) -> list[tuple[int, int, Message]]:
        conn = self.by_learner.get((frm, msg.session))
        if conn is None or conn.leader != to:
            if not isinstance(msg, LearnerInfo):
                return []  # no connection any more: the message is lost with it
            conn = _Conn(frm, to, msg, next(self.sessions), self.config.voters)
            self.by_learner[(frm, msg.session)] = conn
            self.by_leader[(to, conn.leader_end.session)] = conn
            return [(frm, to, m) for m in conn.leader_end.from_wire(conn.learner_end.hello())]
        data = conn.learner_end.to_wire(msg)
        return [(frm, to, m) for m in conn.leader_end.from_wire(data)] if data else []

    def _from_leader(self, frm: int, to: int, msg: SessionMessage) -> list[tuple[int, int, Message]]:
        conn = self.by_leader.get((frm, msg.session))
        if conn is None or conn.learner != to:
            return []
        if isinstance(msg, Reset):  # the connection closes; the learner sees it as a reset
            del self.by_leader[(frm, msg.session)]
            self.by_learner.pop((to, conn.learner_end.session), None)
            return [(frm, to, Reset(session=conn.learner_end.session, seq=0))]
        data = conn.leader_end.to_wire(msg)
        to_learner, reply = conn.learner_end.from_wire(data)
        out = [(frm, to, m) for m in to_learner]
        if reply:
            out += [(to, frm, m) for m in conn.leader_end.from_wire(reply)]
        return out
