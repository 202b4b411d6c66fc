"""The peerPort connections: a learner's connection to its leader, and the leader's end of each.

Apache ZooKeeper's layout (`Learner.connectToLeader`, `LearnerCnxAcceptor`): the learner dials the
leader's peerPort once per learner session and both directions are a bare stream of jute QuorumPackets
(the translation to and from the core's messages is `corral.server.peerlink`). One connection *is* one
learner session, so the session's end is the connection's end: the core's RESET closes it, and a
closed connection is `disconnected(sid, session)` for the core (its learner re-elects; as leader it
drops that learner session).

An accepted connection must send its FOLLOWERINFO/OBSERVERINFO within `HANDSHAKE_TIMEOUT` and in its
first `HANDSHAKE_BYTES`; it must name another member of the configuration. Anything a correct peer
would not send closes that one connection and is logged.

With quorum SASL the learner authenticates first (Learner.connectToLeader, LearnerHandler's
constructor): the leader's end runs the server side of the exchange before it reads a QuorumPacket, and
the learner holds its FOLLOWERINFO until the leader said SUCCESS.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from ..quorum import PeerProtocolError
from ..quorum.messages import Diff, LearnerInfo, Message, Snap, Trunc
from ..security.quorum_auth import SaslQuorumLearner, SaslQuorumServer
from .host import reconfig_members
from .peerlink import LeaderEnd, LearnerEnd

if TYPE_CHECKING:
    from .peers import PeerTransport

log = logging.getLogger("corral.peers")

HANDSHAKE_TIMEOUT = 5.0  # seconds for an accepted learner to say who it is
HANDSHAKE_BYTES = 4096  # a FOLLOWERINFO is 40-odd bytes
MAX_QUEUE_BYTES = 256 << 20  # a SNAP of a large tree is queued at once; a learner that reads nothing is cut off


class _Conn(asyncio.Protocol):
    """What both ends share: the stream transport, a bounded write, logged aborts."""

    side = "?"

    def __init__(self, mgr: PeerTransport) -> None:
        self.mgr = mgr
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._out: list[bytes] = []  # written this loop pass, sent together at its end

    @property
    def peer(self) -> int | None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Queued until the end of this loop pass: a leader proposing a batch of client requests
        writes a PROPOSAL per txn and learner, a follower an ACK per txn, and a send() each was a
        syscall (~9 % of a leader's CPU under write load). One writev per connection and pass."""
        t = self.transport
        if t is None or self.closed or not data:
            return
        out = self._out
        if not out:
            if t.get_write_buffer_size() > MAX_QUEUE_BYTES:
                self.abort("send queue over its bound")
                return
            asyncio.get_running_loop().call_soon(self.send_queued)
        out.append(data)

    def send_queued(self) -> None:
        """Hands what write() queued to the transport (also before a deliberate close)."""
        out, self._out = self._out, []
        if not out:
            return
        t = self.transport
        if t is None or self.closed or t.is_closing():
            return
        if len(out) == 1:
            t.write(out[0])
        else:
            t.writelines(out)

    def abort(self, reason: str, *, quiet: bool = False) -> None:
        if self.closed:
            return
        if quiet:
            log.info("event=peer_closed port=peer side=%s peer=%s reason=%s", self.side, self.peer, reason)
        else:
            log.warning("event=peer_disconnected port=peer side=%s peer=%s reason=%s", self.side, self.peer, reason)
        # What was written before the abort reaches the socket first, as when every write was immediate:
        # a leader stepping down after a reconfig commits it (COMMITANDACTIVATE) and then drops its
        # learners in the same loop pass, and that commit must not be lost with the connection.
        self.send_queued()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class LearnerConn(_Conn):
    """Our learner session's connection to the leader `leader`. Bytes the core sends before the
    connection is up wait in `pending` (after the FOLLOWERINFO/OBSERVERINFO that opens it)."""

    side = "learner"

    def __init__(self, mgr: PeerTransport, leader: int, info: LearnerInfo) -> None:
        super().__init__(mgr)
        self.leader = leader
        self.session = info.session
        self.end = LearnerEnd(info, mgr.my_id)
        self.pending = bytearray(self.end.hello())
        self.task: asyncio.Task[None] | None = None
        self.auth: SaslQuorumLearner | None = mgr.sasl.learner() if mgr.sasl is not None else None

    @property
    def peer(self) -> int | None:
        return self.leader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports; uvloop's are not subclasses of asyncio.Transport, so no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        if self.closed:  # given up while the dial was in flight
            self.transport.abort()
            return
        if self.auth is not None:
            self.write(self.auth.start())
        else:
            self._flush()
        log.info("event=peer_connected port=peer side=learner peer=%d session=0x%x", self.leader, self.session)

    def _flush(self) -> None:
        data, self.pending = bytes(self.pending), bytearray()
        self.write(data)

    def send(self, msg: Message) -> None:
        try:
            data = self.end.to_wire(msg)
        except PeerProtocolError as e:  # the core sent what a learner never sends: a bug, not the peer's
            log.error("event=peer_send_failed peer=%d reason=%s", self.leader, e)
            self.abort(str(e))
            return
        if self.transport is None or self.auth is not None:
            self.pending += data
        else:
            self.write(data)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.auth is not None:
            self.write(self.auth.feed(data))
            if not self.auth.done:
                return
            auth, self.auth = self.auth, None
            if auth.failure is not None:
                self.abort(f"quorum authentication failed: {auth.failure}")
                return
            self._flush()
            data = auth.rest
            if not data:
                return
        try:
            msgs, reply = self.end.from_wire(data)
        except PeerProtocolError as e:
            self.abort(str(e))
            return
        self.write(reply)
        if self.end.leader_config is not None:  # NEWLEADER named the leader's configuration
            config, self.end.leader_config = self.end.leader_config, None
            self.mgr.on_leader_config(self.leader, config)
        for msg in msgs:
            if self.closed:
                return
            self.mgr.deliver(self.leader, msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.mgr.learner_lost(self)


class LeaderConn(_Conn):
    """The leader's end of one learner connection (accepted on our peerPort)."""

    side = "leader"

    def __init__(self, mgr: PeerTransport, session: int) -> None:
        super().__init__(mgr)
        self.end = LeaderEnd(session, mgr.voters, mgr.newleader_config, revalidate=mgr.revalidate, my_id=mgr.my_id,
                             reconfig_of=reconfig_members)
        self.session = session
        self.info: LearnerInfo | None = None  # the learner's first message, until the core answers it
        self.answered = False
        self.received = 0
        self._timer: asyncio.TimerHandle | None = None
        self.auth: SaslQuorumServer | None = mgr.sasl.server() if mgr.sasl is not None else None

    @property
    def sid(self) -> int | None:
        return self.end.sid

    @property
    def peer(self) -> int | None:
        return self.end.sid

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._overdue)

    def _overdue(self) -> None:
        if self.info is None and not self.answered:
            self.abort("no FOLLOWERINFO or OBSERVERINFO in time")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.auth is not None:
            self.write(self.auth.feed(data))
            if not self.auth.done:
                return
            auth, self.auth = self.auth, None
            if not self._authenticated(auth):
                return
            data = auth.rest
            if not data:
                return
        known = self.end.sid is not None
        if not known:
            self.received += len(data)
        try:
            msgs = self.end.from_wire(data)
            if not known and self.end.sid is not None:
                self.mgr.learner_arrived(self)  # may abort: an unknown id, or our own
            elif not known and self.received > HANDSHAKE_BYTES:
                raise PeerProtocolError("no FOLLOWERINFO or OBSERVERINFO in the first bytes")
        except PeerProtocolError as e:
            self.abort(str(e))
            return
        self.write(self.end.take_reply())
        sid = self.end.sid
        for msg in msgs:
            if self.closed or sid is None:
                return
            if isinstance(msg, LearnerInfo):
                self.info = msg
            self.mgr.deliver(sid, msg)

    def _authenticated(self, auth: SaslQuorumServer) -> bool:
        """LearnerHandler: a failed exchange closes the connection when serverRequireSasl."""
        if auth.failure is None:
            if auth.user is not None:
                log.info("event=peer_authenticated port=peer user=%s", auth.user)
            return True
        if auth.required:
            log.warning("event=peer_refused port=peer side=leader reason=quorum_sasl: %s", auth.failure)
            self.send_queued()
            self.closed = True
            if self.transport is not None:
                self.transport.close()  # after the ERROR packet
            return False
        log.warning("event=peer_auth_failed port=peer reason=%s kept=serverRequireSasl_false", auth.failure)
        return True

    def send(self, msg: Message) -> None:
        self.answered = True
        self.info = None
        try:
            data = self.end.to_wire(msg)
        except PeerProtocolError as e:
            log.error("event=peer_send_failed peer=%s reason=%s", self.sid, e)
            self.abort(str(e))
            return
        self.write(data)
        if isinstance(msg, Diff | Trunc | Snap):
            self.mgr.learner_sync_sent(isinstance(msg, Snap))
        if self.end.closed:  # the core reset this learner session: the connection goes with it
            self.abort("session reset", quiet=True)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.closed = True
        self.mgr.leader_conn_lost(self)
