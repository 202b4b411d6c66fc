"""The electionPort connections between members, as Apache ZooKeeper's QuorumCnxManager makes them.

Rules (Apache 3.8 `QuorumCnxManager`), so an Apache member and a corral member agree on which of two
simultaneous connections survives:

* every member listens on the electionPort of its `server.N` line; one connection per pair carries the
  FastLeaderElection notifications both ways;
* the member that dials sends the initial message (protocol version, its sid, its election address);
  the accepting side answers nothing;
* the connection dialled by the *higher* sid is kept. A lower-sid dialer sends its initial message and
  closes; the higher-sid side, seeing a lower sid dial it, closes that connection and dials back;
* while a pair has no connection, only the newest notification for it is kept (Apache's send queue has
  capacity 1): FastLeaderElection re-sends anyway, and an old vote is worthless.

An accepted connection must complete its initial message within `HANDSHAKE_TIMEOUT` (Apache's
cnxTimeout) and may not exceed the message's own byte bounds; garbage, an unknown sid, our own sid or a
malformed frame or notification closes that connection and is logged, never more.

With quorum SASL (`corral.security.quorum_auth`) the exchange follows the initial message, as in
Apache: the dialer authenticates (when learnerRequireSasl) before it keeps or drops its connection, and
the accepting side authenticates before it applies the keep rule. TLS is below all this
(`peer_sockets`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from itertools import count
from typing import cast

from ..peerwire import ElectionFrameReader, InitialMessage, InitialMessageReader, config_version
from ..peerwire.election import Notification
from ..quorum import PeerProtocolError
from ..quorum.messages import Vote
from ..security.quorum_auth import QuorumSaslConfig, SaslQuorumLearner, SaslQuorumServer
from .config import ServerSpec
from .peer_sockets import Listener, PeerSockets
from .peerlink import ElectionInbound, vote_frame

log = logging.getLogger("corral.peers")

HANDSHAKE_TIMEOUT = 5.0  # seconds for a dialer to finish its initial message (Apache's cnxTimeout)
DIAL_TIMEOUT = 5.0
REDIAL_INTERVAL = 0.1  # at most one dial per peer this often: votes are re-sent, dials need not be
MAX_QUEUE_BYTES = 4 << 20  # notifications are small; a peer that does not read them is cut off


class ElectionConn(asyncio.Protocol):
    """One electionPort connection; `sid` is known from the start (we dialled) or after the initial
    message (we accepted)."""

    def __init__(self, links: ElectionLinks, sid: int | None) -> None:
        self.links = links
        self.sid = sid
        self.dialed = sid is not None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.initial: InitialMessageReader | None = None if self.dialed else InitialMessageReader()
        self.frames = ElectionFrameReader()
        self.inbound = ElectionInbound(next(links.incarnations))
        self._timer: asyncio.TimerHandle | None = None
        self.hello: InitialMessage | None = None  # an accepted dialer's message, until it is authenticated
        self.auth: SaslQuorumServer | SaslQuorumLearner | None = None
        self.authed: asyncio.Future[bool] | None = None  # a dialer's authentication outcome

    def start_auth(self, learner: SaslQuorumLearner) -> asyncio.Future[bool]:
        """We dialled and authenticate as a learner: the future says whether the server accepted us."""
        self.auth = learner
        self.authed = asyncio.get_running_loop().create_future()
        self.write(learner.start())
        return self.authed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports; uvloop's are not subclasses of asyncio.Transport, so no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        if not self.dialed:
            self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._overdue)

    def _overdue(self) -> None:
        if self.sid is None:
            self.abort("no initial message in time")
        elif self.hello is not None:
            self.abort("no quorum authentication in time")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            if self.initial is not None:
                msg = self.initial.feed(data)
                if msg is None:
                    return
                data = self.initial.rest
                self.initial = None
                if msg.sid == self.links.my_id or (msg.sid not in self.links.specs and not msg.addresses):
                    # the rest of `accepted`'s rules wait for authentication: an unknown id that names
                    # its address may be a member joining by reconfig
                    self.abort(f"initial message from server id {msg.sid}, not another member")
                    return
                self.hello, self.sid = msg, msg.sid
                if self.links.sasl is not None:
                    self.auth = self.links.sasl.server()
            if self.auth is not None:
                self.write(self.auth.feed(data))
                if not self.auth.done:
                    return
                auth, self.auth = self.auth, None
                data = auth.rest
                if not self.links.authenticated(self, auth):
                    return
            if self.hello is not None:
                msg, self.hello = self.hello, None
                if not self.links.accepted(self, msg):
                    return
            for body in self.frames.feed(data):
                if self.closed:
                    return
                self.links.notification(self, body)
        except PeerProtocolError as e:
            self.abort(str(e))

    def write(self, data: bytes) -> None:
        t = self.transport
        if t is None or self.closed:
            return
        if t.get_write_buffer_size() > MAX_QUEUE_BYTES:
            self.abort("send queue over its bound")
            return
        t.write(data)

    def close(self) -> None:
        """Close after what is written (the lower sid's initial message must reach the higher one)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self, reason: str) -> None:
        if self.closed:
            return
        log.warning("event=peer_disconnected port=election peer=%s reason=%s", self.sid, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.closed = True
        if self.authed is not None and not self.authed.done():
            self.authed.set_result(False)
        if isinstance(self.auth, SaslQuorumServer) and self.hello is not None and self.auth.eof():
            # Apache lets a learner through whose stream ends before any authentication when SASL is
            # not required: a lower id that dialled and hung up is then dialled back.
            self.links.dial_back(self.hello.sid)
        self.links.lost(self)


#: Servers outside the configuration remembered from their initial messages (joiners): a bound, so that
#: garbage naming ever new ids cannot grow the table without end.
MAX_JOINING = 64


class ElectionLinks:
    """Every election connection of this member; `send(sid, vote)` and `on_vote(sid, vote)`."""

    def __init__(self, my_id: int, specs: dict[int, ServerSpec], config_text: bytes,
                 on_vote: Callable[[int, Vote], None], sockets: PeerSockets | None = None,
                 sasl: QuorumSaslConfig | None = None) -> None:
        self.my_id = my_id
        self.sockets = sockets or PeerSockets(None)
        self.sasl = sasl
        self.specs = specs
        self.config_text = config_text
        self.config_version = config_version(config_text)
        # Told of a notification carrying a newer configuration (the host adopts it while looking)
        self.on_newer_config: Callable[[int, bytes], None] = lambda sid, text: None
        self._newer_seen: set[int] = set()  # versions of newer configurations already logged
        # Servers outside our configuration that dialled us (a joiner, a member we removed): the election
        # address their initial message named, as QuorumCnxManager keeps it to dial them back
        self.joining: dict[int, tuple[str, int]] = {}
        self.on_vote = on_vote
        self.links: dict[int, ElectionConn] = {}
        self.pending: dict[int, bytes] = {}  # sid -> the newest notification frame not yet sent
        self.incarnations = count(1)
        self._dialing: dict[int, asyncio.Task[None]] = {}
        self._last_dial: dict[int, float] = {}
        self._server: Listener | None = None
        self._stopping = False

    async def start(self) -> None:
        me = self.specs[self.my_id]
        self._server = await self.sockets.listen(me.host, me.election_port, lambda: ElectionConn(self, None),
                                                 "election")
        log.info("event=election_listening address=%s port=%d", me.host, me.election_port)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._dialing.values():
            task.cancel()
        for conn in list(self.links.values()):
            conn.abort("shutting down")
        if self._server is not None:
            await self._server.close()

    # ---- sending ----------------------------------------------------------------------------------

    def known(self, sid: int) -> bool:
        """A member of a configuration we had, or a server that named its election address to us."""
        return sid != self.my_id and (sid in self.specs or sid in self.joining)

    def send(self, sid: int, vote: Vote) -> None:
        if not self.known(sid):
            return
        frame = vote_frame(vote, self.config_text)
        conn = self.links.get(sid)
        if conn is not None and not conn.closed:
            conn.write(frame)
            return
        self.pending[sid] = frame
        self._connect(sid)

    def _connect(self, sid: int) -> None:
        """Dial `sid` unless a dial is under way or one started very recently (Apache's connectOne)."""
        if self._stopping or sid in self._dialing:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._last_dial.get(sid, -1e9) < REDIAL_INTERVAL:
            return
        self._last_dial[sid] = now
        task = loop.create_task(self._dial(sid))
        self._dialing[sid] = task
        task.add_done_callback(lambda _t: self._dialing.pop(sid, None))

    async def _dial(self, sid: int) -> None:
        spec = self.specs.get(sid)
        host, port = (spec.host, spec.election_port) if spec is not None else self.joining[sid]
        me = self.specs[self.my_id]
        try:
            conn = await self.sockets.dial(host, port, lambda: ElectionConn(self, sid), "election", DIAL_TIMEOUT)
        except (OSError, TimeoutError):
            return
        conn.write(InitialMessage(self.my_id, ((me.host, me.election_port),)).encode())
        learner = self.sasl.learner() if self.sasl is not None else None
        if learner is not None:
            try:
                ok = await asyncio.wait_for(asyncio.shield(conn.start_auth(learner)), HANDSHAKE_TIMEOUT)
            except TimeoutError:
                conn.abort("no quorum authentication answer in time")
                return
            if not ok:
                return
        if sid > self.my_id:
            # The higher sid keeps only the connections it dials: it reads who we are and dials back.
            conn.close()
            return
        self._attach(conn)

    # ---- receiving --------------------------------------------------------------------------------

    def authenticated(self, conn: ElectionConn, auth: SaslQuorumServer | SaslQuorumLearner) -> bool:
        """The exchange of `conn` finished; False when the connection is closed for it."""
        if isinstance(auth, SaslQuorumLearner):
            if conn.authed is not None and not conn.authed.done():
                conn.authed.set_result(auth.failure is None)
            if auth.failure is not None:
                conn.abort(f"quorum authentication failed: {auth.failure}")
                return False
            return True
        if auth.failure is None:
            if auth.user is not None:
                log.info("event=peer_authenticated port=election peer=%s user=%s", conn.sid, auth.user)
            return True
        if auth.required:
            log.warning("event=peer_refused port=election peer=%s reason=quorum_sasl: %s", conn.sid, auth.failure)
            conn.close()  # after the ERROR packet
            return False
        log.warning("event=peer_auth_failed port=election peer=%s reason=%s kept=serverRequireSasl_false",
                    conn.sid, auth.failure)
        return True

    def accepted(self, conn: ElectionConn, msg: InitialMessage) -> bool:
        """An accepted connection said who it is; False when it is closed for it."""
        sid = msg.sid
        if sid == self.my_id or (sid not in self.specs and not msg.addresses):
            # QuorumCnxManager takes any other id and dials back to the address its initial message
            # names; a server we do not know that names none (a pre-3.5 peer) cannot be reached.
            conn.abort(f"initial message from server id {sid}, not another member")
            return False
        if sid not in self.specs and self.joining.get(sid) != msg.addresses[0]:
            if sid not in self.joining and len(self.joining) >= MAX_JOINING:
                conn.abort(f"initial message from server id {sid}: {MAX_JOINING} unknown servers known already")
                return False
            self.joining[sid] = msg.addresses[0]
            log.info("event=peer_joining port=election peer=%d address=%s:%d", sid, *msg.addresses[0])
        conn.sid = sid
        if sid < self.my_id:
            # Apache's rule: the connection dialled by the higher id is kept, so answer by dialling back.
            conn.close()
            self.dial_back(sid)
            return False
        self._attach(conn)
        return True

    def dial_back(self, sid: int) -> None:
        if sid < self.my_id and not self._stopping and (sid in self.specs or sid in self.joining):
            log.info("event=election_dial_back peer=%d", sid)
            self._last_dial.pop(sid, None)
            self._connect(sid)

    def _attach(self, conn: ElectionConn) -> None:
        assert conn.sid is not None
        old = self.links.get(conn.sid)
        if old is not None and old is not conn:
            old.abort("replaced by a newer connection")
        self.links[conn.sid] = conn
        log.info("event=peer_connected port=election peer=%d", conn.sid)
        frame = self.pending.pop(conn.sid, None)
        if frame is not None:
            conn.write(frame)

    def set_config_text(self, text: bytes) -> None:
        self.config_text = text
        self.config_version = config_version(text)

    def notification(self, conn: ElectionConn, body: bytes) -> None:
        assert conn.sid is not None
        note = Notification.decode(body)
        if note.config is not None:
            # Apache's FastLeaderElection reads the sender's configuration and (when looking) adopts a
            # newer one; a version it cannot read is a broken peer (PeerProtocolError closes the link).
            theirs = config_version(note.config)
            if theirs > self.config_version:
                if theirs not in self._newer_seen:
                    self._newer_seen.add(theirs)
                    log.info("event=newer_config_seen peer=%d version=%x ours=%x", conn.sid, theirs,
                             self.config_version)
                self.on_newer_config(conn.sid, note.config)
        self.on_vote(conn.sid, conn.inbound.vote(body))

    def lost(self, conn: ElectionConn) -> None:
        if conn.sid is not None and self.links.get(conn.sid) is conn:
            del self.links[conn.sid]
