"""TCP between ensemble members on Apache ZooKeeper's two ports: the core's messages routed to them.

The quorum core addresses a message to a server id; which connection carries it depends on the message
(docs/architecture.md, "Apache's peer protocol"):

* `Vote` -> the pair's electionPort connection (`election_links`), as a FastLeaderElection notification;
* a learner's messages -> our one learner connection, dialled to the leader's peerPort when the core
  opens a learner session (its `LearnerInfo` with a new session id), closed when the core leaves it;
* a leader's messages -> the accepted connection whose session they name (`peer_port.LeaderConn`); a
  `Reset` closes it.

What comes back is delivered as core messages; a closed connection becomes `disconnected(sid, session)`
for the core (our learner re-elects; the leader drops that learner). The core's own retransmissions
that TCP makes pointless are dropped (a re-sent `LearnerInfo`), and the one it needs is made here: the
leader's core ignores a learner that arrives while it is still electing, so the transport hands it the
learner's `LearnerInfo` again each tick until the core answers that connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from itertools import count

from ..quorum.messages import (
    Ack,
    AckEpoch,
    LearnerInfo,
    Message,
    PingReply,
    Request,
    Reset,
    SessionMessage,
    SyncRequest,
    Vote,
)
from ..security.quorum import QuorumSecurity
from .config import ServerSpec
from .election_links import ElectionLinks
from .metrics import ServerMetrics
from .peer_port import LeaderConn, LearnerConn
from .peer_sockets import Listener, PeerSockets

log = logging.getLogger("corral.peers")

_TO_LEADER = (LearnerInfo, AckEpoch, Ack, PingReply, Request, SyncRequest)
_DIAL_PAUSE = 0.1  # between attempts to reach the leader's peerPort
_DIAL_TIMEOUT = 5.0
_SESSION_LIMIT = (1 << 20) - 1  # the core's session counter bits: leader-side sessions are numbered below


class PeerTransport:
    """Both ports of this member. `on_message(sid, msg)` and `on_disconnect(sid, session)` feed the core;
    `learner_session()` says which learner session the core runs now ((leader, session) or None);
    `dial_window` (seconds) is how long a learner keeps dialling an unreachable leader before the
    core hears its session reset; `revalidate(session, timeout)` answers an Apache learner's
    REVALIDATE. `newleader_config(epoch)` is the configuration text a leader sends with NEWLEADER
    (default: `config_text`); `on_leader_config(leader, text)` hears the one a leader sent us."""

    def __init__(self, my_id: int, specs: dict[int, ServerSpec], config_text: bytes,
                 on_message: Callable[[int, Message], None], on_disconnect: Callable[[int, int], None],
                 learner_session: Callable[[], tuple[int, int] | None], dial_window: float,
                 revalidate: Callable[[int, int], bool] = lambda session, timeout: False,
                 newleader_config: Callable[[int], bytes] | None = None,
                 on_leader_config: Callable[[int, bytes], None] = lambda leader, text: None,
                 security: QuorumSecurity | None = None) -> None:
        self.my_id = my_id
        self.security = security
        self.sasl = security.sasl if security is not None else None
        self.sockets = PeerSockets(security)
        self.specs = specs
        self.config_text = config_text
        self._newleader_config = newleader_config
        self.on_leader_config = on_leader_config
        self.voters = frozenset(s for s, spec in specs.items() if not spec.observer)
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.learner_session = learner_session
        self.dial_window = dial_window
        self.revalidate = revalidate
        self.election = ElectionLinks(my_id, specs, config_text, on_message, self.sockets, self.sasl)
        self.learner: LearnerConn | None = None
        self.leader_conns: dict[int, LeaderConn] = {}  # by the session we numbered them with
        self._answered: dict[int, LeaderConn] = {}  # per learner id, the session the core took on last
        self._sessions = count(1)
        self._server: Listener | None = None
        self._stopping = False
        self.metrics = ServerMetrics()  # the server's own, once it is built

    def newleader_config(self, epoch: int) -> bytes:
        return self.config_text if self._newleader_config is None else self._newleader_config(epoch)

    def set_config_text(self, text: bytes) -> None:
        """A new version of the configuration is active: election notifications carry it from now on."""
        self.config_text = text
        self.election.set_config_text(text)

    def add_members(self, specs: Mapping[int, ServerSpec]) -> None:
        """A new configuration is active: its members' addresses are known from now on. Members it left
        out stay known, so a member removed and added back again can still be reached."""
        self.specs.update(specs)
        self.voters = frozenset(s for s, spec in self.specs.items() if not spec.observer)

    async def start(self) -> None:
        me = self.specs[self.my_id]
        self._server = await self.sockets.listen(me.host, me.peer_port, self._accept, "peer")
        await self.election.start()
        log.info("event=peer_listening address=%s port=%d electionPort=%d peers=%s", me.host, me.peer_port,
                 me.election_port, sorted(s for s in self.specs if s != self.my_id))

    async def stop(self) -> None:
        self._stopping = True
        await self.election.stop()
        if self.learner is not None:
            self.learner.abort("shutting down", quiet=True)
            if self.learner.task is not None:
                self.learner.task.cancel()
        for conn in list(self.leader_conns.values()):
            conn.abort("shutting down", quiet=True)
        if self._server is not None:
            await self._server.close()

    def _accept(self) -> LeaderConn:
        session = next(self._sessions)
        if session > _SESSION_LIMIT:  # a million learner connections in one life: start over, safely
            self._sessions = count(2)
            session = 1
        return LeaderConn(self, session)

    # ---- from the core ----------------------------------------------------------------------------

    def send(self, to: int, msg: Message) -> None:
        if self._stopping:
            return
        if isinstance(msg, Vote):
            self.election.send(to, msg)
            return
        assert isinstance(msg, SessionMessage)
        if isinstance(msg, _TO_LEADER):
            self._to_leader(to, msg)
            return
        conn = self.leader_conns.get(msg.session)
        if conn is None or conn.sid != to or conn.closed:
            return
        if not conn.answered and not isinstance(msg, Reset):
            # The core took this session on: it keeps one per learner, so an older one it replaced
            # is dead (a learner that reconnected, or an impostor using its id) and its connection goes.
            old = self._answered.get(to)
            if old is not None and old is not conn:
                old.abort("superseded by a newer session of that learner", quiet=True)
            self._answered[to] = conn
        conn.send(msg)

    def _to_leader(self, to: int, msg: SessionMessage) -> None:
        cur = self.learner
        if cur is not None and cur.leader == to and cur.session == msg.session:
            if not cur.closed:
                cur.send(msg)  # a re-sent LearnerInfo is dropped by the translation
            return
        if not isinstance(msg, LearnerInfo):
            return  # a message of a session whose connection is gone: lost with it
        if cur is not None:
            self.learner = None
            cur.abort("a new learner session", quiet=True)
        if to not in self.specs or to == self.my_id:
            return
        conn = self.learner = LearnerConn(self, to, msg)
        conn.task = asyncio.get_running_loop().create_task(self._dial_leader(conn))

    async def _dial_leader(self, conn: LearnerConn) -> None:
        """Dial the leader's peerPort until connected, superseded, or `dial_window` is over (Apache's
        learner retries too: the leader may not have opened its port yet)."""
        spec = self.specs[conn.leader]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dial_window
        for _ in range(100_000):  # bounded; the deadline ends it long before
            if conn.closed or self.learner is not conn or self._stopping:
                return
            try:
                await self.sockets.dial(spec.host, spec.peer_port, lambda: conn, "peer", _DIAL_TIMEOUT)
                return
            except (OSError, TimeoutError) as e:
                if loop.time() >= deadline:
                    log.warning("event=leader_unreachable peer=%d reason=%s", conn.leader, e)
                    break
            await asyncio.sleep(_DIAL_PAUSE)
        if self.learner is conn:
            self.learner = None
            conn.closed = True
            self.on_disconnect(conn.leader, conn.session)

    def revalidate_at_leader(self, session_id: int, timeout: int) -> None:
        """A client session reconnects here: tell the leader (REVALIDATE), as Apache's learners do. An
        Apache leader accepts a session's requests only from the learner that last revalidated it, so a
        session that moved here from another member would get SESSIONMOVED without it. Sent at once, on
        the learner connection, ahead of the sync that answers the reconnect (the leader handles both in
        order); the answer is not waited for: the host answers from its committed sessions after that
        sync. Nothing to do without a connected leader (the sync fails too)."""
        conn = self.learner
        if conn is None or conn.closed or conn.transport is None or self._stopping:
            return
        conn.write(conn.end.revalidate(session_id, timeout))

    # ---- from the connections ---------------------------------------------------------------------

    def learner_sync_sent(self, snap: bool) -> None:
        """As leader, this member starts a learner's sync: by SNAP, or by DIFF/TRUNC (LearnerHandler's
        snap_count and diff_count)."""
        if snap:
            self.metrics.snap_count.value += 1
        else:
            self.metrics.diff_count.value += 1

    def deliver(self, sid: int, msg: Message) -> None:
        if not self._stopping:
            self.on_message(sid, msg)

    def learner_arrived(self, conn: LeaderConn) -> None:
        sid = conn.sid
        if sid is None or not self.election.known(sid):
            # Apache's LearnerHandler takes any id; corral wants the learner to have said who it is on
            # electionPort first (a joiner does: it looks for the leader there before it follows).
            conn.abort(f"learner info from server id {sid}, not another member nor a joining server")
            return
        self.leader_conns[conn.session] = conn
        log.info("event=peer_connected port=peer side=leader peer=%d session=%d", sid, conn.session)

    def learner_lost(self, conn: LearnerConn) -> None:
        if self.learner is conn:
            self.learner = None
            if not self._stopping:
                self.on_disconnect(conn.leader, conn.session)

    def leader_conn_lost(self, conn: LeaderConn) -> None:
        if self._answered.get(conn.sid or -1) is conn:
            del self._answered[conn.sid or -1]
        if self.leader_conns.get(conn.session) is conn:
            del self.leader_conns[conn.session]
            if conn.sid is not None and not self._stopping:
                self.on_disconnect(conn.sid, conn.session)

    # ---- housekeeping -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Each core tick: close a learner connection the core has left, and hand the core again the
        `LearnerInfo` of learners it has not answered yet."""
        cur = self.learner
        if cur is not None and self.learner_session() != (cur.leader, cur.session):
            self.learner = None
            cur.abort("learner session ended", quiet=True)
        for conn in list(self.leader_conns.values()):
            if not conn.answered and conn.info is not None and not conn.closed and conn.sid is not None:
                self.deliver(conn.sid, conn.info)
