"""The host of `corral.quorum.Peer`: the one write path, for a standalone server and an ensemble member.

A standalone server is an ensemble of one voter: the same host runs around the same core, with a peer
network that has nobody to talk to. Every write, session creation and session close goes

    request ─► (follower: forward to the leader) ─► leader: prepare against the pending state, under
    the zxid the core will assign ─► Peer.propose ─► Ready.append ─► group commit (one write + fsync)
    ─► Peer.persisted ─► quorum of acks ─► Ready.commit ─► DataTree.apply ─► reply to the member's
    own client

and nothing else changes the tree. The host takes its disk (`LogStore`), its peer network
(`PeerNetwork`), its clock (`Clock`) and its event loop (`Scheduler`) as arguments, so the seeded
simulation in tests/simulation runs this very code on a simulated disk, network and clock.

Sessions are committed state: the tree's session table, changed only by createSession/closeSession
transactions. Only the current leader decides expiry, with a tracker it builds afresh from the
committed sessions whenever it starts leading (each gets a full timeout), and an expiry takes effect
only through a committed closeSession. A leader that has lost its quorum's lease steps down before a
new one can be elected (see `EnsembleConfig.lease_ticks`); ticks come from a monotonic clock, so a
process resumed after SIGSTOP sees the whole pause at its next tick and stops leading at once.

The core counts time in ticks; it ticks `TICKS_PER_TICKTIME` times per zoo.cfg tickTime so that an
election settles in a fraction of a tickTime (ZooKeeper's FastLeaderElection waits 200 ms, not ticks).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from mypy_extensions import mypyc_attr

from ..peerwire import config_version
from ..persistence import decode_txn_payload, encode_txn_payload
from ..persistence.snapshot import snapshot_bytes
from ..persistence.txnlog import TXN_HEADER_SIZE, TXN_TIME_OFFSET
from ..protocol import CreateSessionTxn, DecodeError, SetDataTxn, TxnHeader
from ..protocol.codes import (
    ERR_MARSHALLINGERROR,
    ERR_SESSIONEXPIRED,
    OP_CLOSE_SESSION,
    OP_CREATE_SESSION,
    OP_RECONFIG,
)
from ..protocol.inline import i32_at, i64_at
from ..quorum import (
    Activated,
    Anomaly,
    EnsembleConfig,
    Message,
    NoLeader,
    NotLeader,
    Overloaded,
    Peer,
    PeerProtocolError,
    Ready,
    Recovered,
    RequestForwarded,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
    make_zxid,
)
from ..quorum.messages import Ack, AckEpoch
from ..quorum.ready import ROLE_FOLLOWING, ROLE_LEADING, ROLE_LOOKING, ROLE_OBSERVING
from ..tree import ApplyResult, DataTree
from ..tree.acl import AuthId
from ..txn import AnyTxn, Preparer
from .config import ServerConfig
from .digests import carry_over
from .forwarded import decode_forwarded, encode_forwarded
from .measures import Summary
from .metrics import ServerMetrics
from .reconfig import Membership, ServerReconfig, parse_membership_text
from .sessions import ExpiryTracker, SessionIds
from .writes import decode_write

log = logging.getLogger("corral.host")
_NO_WAITER: Final[tuple[None, None]] = (None, None)

TICKS_PER_TICKTIME: Final = 10
#: How long a member looks for a leader before it serves read-only (QuorumPeer: max(2000, tickTime) ms).
READ_ONLY_GRACE_MS: Final = 2000
#: Deliberately broken behaviours, test-only (see tests/simulation): what corral did before sessions
#: became committed state. ``tick_by_calls``: the core's clock counts tick() calls, not elapsed time,
#: so a process resumed after a pause believes little time passed; ``local_expiry_verdict``: the
#: leader's expiry marks sessions dead locally, its prepare refuses them (SESSIONEXPIRED) and a new
#: term's tracker skips them, whether or not their closeSession ever commits.
HOST_UNSAFE_KNOBS: Final = frozenset({"tick_by_calls", "local_expiry_verdict"})
#: Called with (context, header, result) once a submitted request is applied here. A context object
#: instead of a closure per request: the write path builds none.
Waiter = Callable[[Any, TxnHeader, ApplyResult], None]


# ---- what the host is given ---------------------------------------------------------------------


class Clock(Protocol):
    def monotonic_ms(self) -> float:
        """Milliseconds that never jump (session expiry and ticks are measured on it)."""

    def wall_ms(self) -> int:
        """Wall-clock milliseconds, stamped into transactions (ctime/mtime), as ZooKeeper's leader does."""


class Scheduler(Protocol):
    def call_soon(self, fn: Callable[[], None]) -> object:
        """Run `fn` after the current batch of work (one event-loop turn later); what it returns (an
        asyncio Handle) is not used."""


class LogStore(Protocol):
    """The member's disk. Calls are made in order and must take effect in that order."""

    def write_epochs(self, accepted: int, current: int) -> None:
        """acceptedEpoch/currentEpoch, durably, before returning."""

    def append(self, batch: list[tuple[int, bytes]], done: Callable[[BaseException | None], None]) -> None:
        """Append (zxid, payload) records; call `done` (on the loop) once they are durable."""

    def truncate_after(self, zxid: int) -> None:
        """Drop logged records after `zxid` (after every earlier append), durably, before returning."""

    def install_snapshot(self, data: bytes) -> DataTree:
        """Replace the log by a snapshot from the leader, durably; return the tree it holds."""

    def applied(self, count: int, tree: DataTree) -> None:
        """`count` more transactions are applied to `tree`: take a snapshot when one is due."""

    def snapshot_now(self, tree: DataTree) -> None:
        """Take a snapshot of `tree` now (after startup replayed the log)."""


class PeerNetwork(Protocol):
    def send(self, to: int, msg: Message) -> None:
        """Queue `msg` for server `to` (dropped if there is no connection: the core copes)."""


class HostListener(Protocol):
    """The client side of the member (connections), told what the write path did."""

    def session_closed(self, session_id: int) -> None:
        """A closeSession was applied: close the session's connection here, if any."""

    def stopped_serving(self, reason: str) -> None:
        """This member lost its leader or its quorum: close every client connection."""

    def read_only_ended(self, reason: str) -> None:
        """The member rejoined a quorum and stops serving read-only: close every client connection."""

    def batch_done(self) -> None:
        """A batch of replies and notifications is ready to be written."""

    def fatal(self, reason: str) -> None:
        """Durability cannot be guaranteed any more: stop the server."""


@mypyc_attr(allow_interpreted_subclasses=True)
class HostObserver:
    """Hooks for tests (the simulation's oracle, a Python subclass); the server passes none."""

    def proposed(self, host: QuorumHost, zxid: int) -> None:
        pass

    def committing(self, host: QuorumHost, entries: list[tuple[int, bytes]]) -> None:
        pass

    def applied(self, host: QuorumHost, zxid: int, payload: bytes, hdr: TxnHeader, txn: AnyTxn,
                res: ApplyResult) -> None:
        pass

    def anomaly(self, host: QuorumHost, ev: Anomaly) -> None:
        pass


def ensemble_config(cfg: ServerConfig, server_id: int) -> EnsembleConfig:
    """The core's view of zoo.cfg; a server without `server.N` lines (or with one) is an ensemble of one voter."""
    if cfg.is_ensemble:
        voters = frozenset(s for s, spec in cfg.servers.items() if not spec.observer)
        observers = frozenset(s for s, spec in cfg.servers.items() if spec.observer)
    else:
        voters, observers = frozenset({server_id}), frozenset()
    return EnsembleConfig(voters=voters, observers=observers,
                          init_limit=cfg.init_limit * TICKS_PER_TICKTIME,
                          sync_limit=cfg.sync_limit * TICKS_PER_TICKTIME,
                          max_outstanding=max(1, cfg.global_outstanding_limit),
                          finalize_ticks=max(1, TICKS_PER_TICKTIME // 10),
                          max_notify_ticks=2 * TICKS_PER_TICKTIME,
                          ping_ticks=max(1, TICKS_PER_TICKTIME // 2))


def reconfig_members(payload: bytes) -> tuple[frozenset[int], frozenset[int]] | None:
    """The core's `ReconfigDecoder`: the (voters, observers) a logged reconfig txn installs."""
    if len(payload) < 32 or i32_at(payload, 28) != OP_RECONFIG:
        return None
    try:
        _, txn = decode_txn_payload(payload)
        assert isinstance(txn, SetDataTxn)
        new = QuorumHost._membership_of(txn)
    except (DecodeError, PeerProtocolError, UnicodeDecodeError, ValueError, AssertionError):
        return None
    return new.voters, new.observers


class QuorumHost:
    def __init__(self, server_id: int, cfg: ServerConfig, tree: DataTree, recovered: Recovered,
                 store: LogStore, network: PeerNetwork, clock: Clock, scheduler: Scheduler,
                 listener: HostListener, incarnation: int, observer: HostObserver | None = None,
                 core_overrides: Mapping[str, Any] | None = None, unsafe: frozenset[str] = frozenset()) -> None:
        """`core_overrides` replace fields of the core's `EnsembleConfig` (the simulation's small log
        windows and broken-core knobs); `unsafe` names deliberately broken host behaviours from
        `HOST_UNSAFE_KNOBS`, for proving that the simulation catches them. A server passes neither."""
        self.server_id = server_id
        self.cfg = cfg
        self.ensemble = cfg.is_ensemble
        self.tree = tree
        self.store = store
        self.network = network
        self.clock = clock
        self.scheduler = scheduler
        self.listener = listener
        self.observer = observer
        if self.ensemble:
            tree.init_config(cfg.membership(), cfg.config_version, clock.wall_ms())
        self.preparer = Preparer(tree, cfg.extended_types, cfg.enforce_quota)
        self.preparer.skip_acl = cfg.skip_acl
        if cfg.local_sessions_enabled and self.ensemble:
            self.preparer.local_session = self._valid_local_session
        self.reconfig = ServerReconfig(cfg, lambda: self.peer.synced_followers(), Membership.of_config(cfg))
        self.preparer.reconfig = self.reconfig
        # The configuration text the leader sent with NEWLEADER (the transport tells us), adopted once
        # this member serves under that leader; and who is told when a new version becomes active.
        self.leader_config: bytes | None = None
        self.config_activated: Callable[[Membership], None] | None = None
        self.config = dataclasses.replace(ensemble_config(cfg, server_id), **(core_overrides or {}))
        if not unsafe <= HOST_UNSAFE_KNOBS:
            raise ValueError(f"unknown unsafe host knobs {sorted(unsafe - HOST_UNSAFE_KNOBS)}")
        self.unsafe = unsafe
        self.max_outstanding = self.config.max_outstanding
        self._tick_ms = cfg.tick_time / TICKS_PER_TICKTIME
        self._t0 = clock.monotonic_ms()
        self._replayed_at_start = len(recovered.log) > 0 and recovered.applied_zxid < recovered.last_zxid
        self.peer = Peer(server_id, self.config, recovered, self._snapshot_source, incarnation=incarnation,
                         reconfig_of=reconfig_members)
        self.ids = SessionIds(server_id, clock.wall_ms())
        self.expiry: ExpiryTracker | None = None  # only while leading
        self.role = ROLE_LOOKING
        self.serving = False
        self.leader_id: int | None = None
        # Leader: proposals of this term by zxid, with the decoded txn (so committing needs no decode)
        # and the waiter of this member's own client, if any.
        self._prepared: dict[int, tuple[TxnHeader, AnyTxn, Waiter | None, Any]] = {}
        # Any member: requests of this member's clients forwarded to a leader elsewhere.
        self.waiters: dict[tuple[int, int], tuple[Waiter, Any]] = {}
        self.sync_waiters: dict[int, Callable[[bool], None]] = {}
        self._creating: set[int] = set()  # session ids this member minted whose createSession is in flight
        self._tokens = 0
        # Requests over max_outstanding, proposed as commits make room.
        self._backlog: deque[tuple[int, int, int, bytes, list[AuthId], Waiter | None, Any, int]] = deque()
        self._remote: list[RequestForwarded] = []
        self._gen = 0  # bumped by truncations/snapshot installs: fsync reports from before are dropped
        self._log_pending: list[tuple[int, bytes]] = []  # appends waiting for the fsync in flight
        self._log_inflight = 0
        self._draining = False
        self._drain_scheduled = False
        self._held = False  # a restore is switching trees: new proposals wait in the backlog
        self._queued_since = 0.0  # monotonic ms: when the oldest append waiting for the log writer came
        self._sync_since: float | None = None  # monotonic ms: when this learner's sync with its leader began
        self.elections = 0
        self.last_election_ms = 0.0
        self._looking_since = self._t0
        # Read-only mode (readonlymode.enabled): an ensemble member LOOKING for READ_ONLY_GRACE_MS (at
        # least a tickTime) serves reads, as Apache's QuorumPeer starts its ReadOnlyZooKeeperServer.
        self.read_only_enabled = cfg.read_only_enabled and self.ensemble
        self.read_only = False
        self._ro_looking_since = self._t0
        # Local sessions (localSessionsEnabled; every read-only session too): kept on this member only,
        # id -> timeout, expired by this member's own tracker. No transaction creates or closes them.
        self.local_sessions_enabled = cfg.local_sessions_enabled and self.ensemble
        self.local_sessions_upgrading = cfg.local_sessions_upgrading
        self.local_sessions: dict[int, int] = {}
        self.local_expiry = ExpiryTracker(cfg.tick_time)
        self.expired_sessions = 0
        self.metrics = ServerMetrics()  # the server shares one with its frontend and storage
        self._dead: set[int] = set()  # only with the "local_expiry_verdict" knob

    # ---- state ---------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        if not self.ensemble:
            return "standalone"
        if self.read_only:
            return "read-only"
        if not self.serving:
            return "looking"
        return {ROLE_LEADING: "leader", ROLE_FOLLOWING: "follower", ROLE_OBSERVING: "observer"}.get(
            self.role, "looking")

    @property
    def is_leader(self) -> bool:
        return self.serving and self.role is ROLE_LEADING

    @property
    def log_busy(self) -> bool:
        """An fsync is in flight or appends wait for one."""
        return bool(self._log_inflight or self._log_pending)

    def now_ms(self) -> int:
        return int(self.clock.monotonic_ms())

    def new_session_id(self) -> int:
        sid = self.ids.new_id(self._session_id_taken)
        self._creating.add(sid)
        return sid

    def _session_id_taken(self, sid: int) -> bool:
        return sid in self.tree.sessions or sid in self._creating or sid in self.local_sessions

    # ---- local sessions (LocalSessionTracker) --------------------------------------------------

    def new_local_session(self, timeout: int) -> int:
        """A session of this member alone, from the same id generator as global ones (so the two never
        collide): no createSession transaction, expired by this member."""
        sid = self.ids.new_id(self._session_id_taken)
        self.local_sessions[sid] = timeout
        self.local_expiry.track(sid, timeout, self.now_ms())
        return sid

    def is_local_session(self, sid: int) -> bool:
        return sid in self.local_sessions

    def remove_local_session(self, sid: int) -> int | None:
        """Forget a local session (closed by its client, expired, or upgraded): its timeout, if it was one."""
        timeout = self.local_sessions.pop(sid, None)
        if timeout is not None:
            self.local_expiry.remove(sid)
        return timeout

    def upgrade_local_session(self, sid: int) -> bool:
        """UpgradeableSessionTracker.upgradeSession: the session becomes global through a createSession
        transaction submitted now, ahead of the request that needs it (an ephemeral create). False:
        the write path refused it (not serving)."""
        timeout = self.remove_local_session(sid)
        if timeout is None:
            return True  # upgraded already
        log.info("event=session_upgrading session=0x%x timeout=%d", sid & 0xFFFFFFFFFFFFFFFF, timeout)
        self._creating.add(sid)
        if not self.submit(sid, 0, OP_CREATE_SESSION, b"", [], None, None, timeout):
            self._creating.discard(sid)
            return False
        return True

    def _valid_local_session(self, sid: int) -> bool:
        """LeaderSessionTracker.checkSession: with local sessions on, a session the leader does not know
        is another member's local session (its id's top byte is that member's id) or one of its own."""
        return (sid >> 56) != self.server_id or sid in self.local_sessions

    def _drop_local_sessions(self) -> None:
        if self.local_sessions:
            log.info("event=local_sessions_dropped count=%d", len(self.local_sessions))
        self.local_sessions.clear()
        self.local_expiry = ExpiryTracker(self.cfg.tick_time)

    def forget_session_id(self, sid: int) -> None:
        """The createSession of `sid` will not happen (the request was refused)."""
        self._creating.discard(sid)

    # ---- driving it ----------------------------------------------------------------------------

    def start(self) -> None:
        """Handle what the core decided at construction (a single voter elects itself at once)."""
        self._drain()

    def tick(self) -> None:
        """Call about every tickTime/TICKS_PER_TICKTIME: brings the core's clock up to the monotonic
        clock (all of a pause at once), then lets the leader propose the expiry of idle sessions."""
        target = int((self.clock.monotonic_ms() - self._t0) // self._tick_ms)
        behind = target - self.peer.now
        if "tick_by_calls" in self.unsafe:
            behind = 1
        if behind > 0:
            self.peer.tick(behind)
            self._drain()
        if self.local_sessions:
            for sid in self.local_expiry.expired(self.now_ms()):
                self.local_sessions.pop(sid, None)
                self.metrics.stale_sessions_expired.value += 1
                log.info("event=session_expired session=0x%x local=true", sid & 0xFFFFFFFFFFFFFFFF)
                self.listener.session_closed(sid)
        if self.read_only_enabled and not self.read_only and not self.serving and self.role is ROLE_LOOKING \
                and self.clock.monotonic_ms() - self._ro_looking_since >= max(READ_ONLY_GRACE_MS, self.cfg.tick_time):
            self.read_only = True
            log.warning("event=read_only_started looking_ms=%.0f",
                        self.clock.monotonic_ms() - self._ro_looking_since)
        if self.is_leader and self.expiry is not None:
            for sid in self.expiry.expired(self.now_ms()):
                if "local_expiry_verdict" in self.unsafe:
                    self._dead.add(sid)
                self.expired_sessions += 1
                self.metrics.stale_sessions_expired.value += 1
                log.info("event=session_expired session=0x%x", sid & 0xFFFFFFFFFFFFFFFF)
                self._lead(sid, 0, OP_CLOSE_SESSION, b"", [], None, None, 0)
            self._drain()

    def on_message(self, frm: int, msg: Message) -> None:
        if type(msg) is Ack and self._prepared:
            self._ack_latency(frm, msg.zxid)
        self.peer.receive(frm, msg)
        self._schedule_drain()

    def on_disconnect(self, sid: int, session: int | None = None) -> None:
        self.peer.disconnected(sid, session)
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.scheduler.call_soon(self._scheduled_drain)

    def _scheduled_drain(self) -> None:
        if self._drain_scheduled:
            self._drain_scheduled = False
            self._drain()

    def flush(self) -> None:
        """When the disk is idle, hand what the requests just read produced to it (and to the peers)
        now rather than one loop turn later: a lone client waits one turn less. While an fsync is in
        flight the appends would only wait for it, so the drain stays scheduled, once per loop turn,
        and gathers every connection's requests (the frontend calls this after each chunk of bytes)."""
        if self._drain_scheduled and not self._draining and not self._log_inflight:
            self._drain_scheduled = False
            self._drain()

    def _snapshot_source(self) -> tuple[int, bytes]:
        return self.tree.last_zxid, snapshot_bytes(self.tree)

    # ---- requests from this member's clients ---------------------------------------------------

    def submit(self, session: int, cxid: int, op: int, body: bytes, auth: list[AuthId], done: Waiter | None,
               context: Any = None, timeout: int = 0) -> bool:
        """A write, createSession (`timeout`) or closeSession of this member's client (or the server's
        own, with session 0). `done(context, hdr, result)` runs once it is applied here. `auth`: the
        client's identities. False: not serving (the caller closes the connection; the client retries
        elsewhere)."""
        if not self.serving:
            return False
        if self.role is ROLE_LEADING:
            if self._held or self._backlog or self.peer.outstanding >= self.max_outstanding:
                self._backlog.append((session, cxid, op, body, auth, done, context, timeout))
            else:
                self._propose(session, cxid, op, body, auth, done, context, timeout)
        else:
            key = (session, cxid)
            if done is not None:
                self.waiters[key] = (done, context)
            try:
                self.peer.forward(encode_forwarded(session, cxid, op, timeout, body, auth))
            except (NoLeader, Overloaded) as e:
                self.waiters.pop(key, None)
                log.warning("event=forward_refused reason=%s", e)
                return False
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.scheduler.call_soon(self._scheduled_drain)
        return True

    def sync(self, done: Callable[[bool], None]) -> bool:
        """Barrier: `done(True)` once this member applied everything committed before the leader saw
        the sync, and the leader proved it still leads; `done(False)` if it loses its leader first."""
        if not self.serving:
            return False
        self._tokens += 1
        token = self._tokens
        self.sync_waiters[token] = done
        try:
            self.peer.sync(token)
        except (NoLeader, Overloaded):
            self.sync_waiters.pop(token, None)
            return False
        self._schedule_drain()
        return True

    def touch(self, session_id: int, timeout: int) -> None:
        """Client activity: a local session's own tracker, the leader's tracker directly, otherwise with
        the next ping reply."""
        if session_id in self.local_sessions:
            self.local_expiry.touch(session_id, self.now_ms(), timeout)
        elif self.role is ROLE_LEADING:
            if self.expiry is not None:
                self.expiry.touch(session_id, self.now_ms(), timeout)
        else:
            self.peer.touch(session_id, timeout)

    def revalidate(self, session_id: int, timeout: int) -> bool:
        """An Apache learner asks whether a client may reconnect there with this session
        (`LeaderZooKeeperServer.checkIfValidGlobalSession`): only the leader answers yes, for a
        committed session that is tracked and not closing, and the question counts as its activity."""
        if self.role is not ROLE_LEADING or self.expiry is None or session_id not in self.tree.sessions \
                or self.session_closing(session_id):
            return False
        return self.expiry.touch(session_id, self.now_ms(), timeout)

    def session_closing(self, session_id: int) -> bool:
        """On the leader: a closeSession for the session is in flight."""
        return self.role is ROLE_LEADING and self.preparer.session_closing(session_id)

    # ---- the leader's side of writes -----------------------------------------------------------

    def _lead(self, session: int, cxid: int, op: int, body: bytes, auth: list[AuthId], done: Waiter | None,
              context: Any, timeout: int) -> None:
        if self._held or self._backlog or self.peer.outstanding >= self.max_outstanding:
            # proposed when commits make room (ZooKeeper throttles too)
            self._backlog.append((session, cxid, op, body, auth, done, context, timeout))
            return
        self._propose(session, cxid, op, body, auth, done, context, timeout)

    def _propose(self, sid: int, cxid: int, op: int, body: bytes, auth: list[AuthId], done: Waiter | None,
                 context: Any, timeout: int) -> None:
        peer = self.peer
        try:
            zxid = peer.next_zxid
        except NotLeader:
            return
        pre = self.preparer
        wall = self.clock.wall_ms()
        self.metrics.prep_processor_request_queued.value += 1
        hdr: TxnHeader
        txn: AnyTxn
        if op == OP_CREATE_SESSION:
            if self.expiry is not None:
                self.expiry.track(sid, timeout, self.now_ms())
            hdr, txn = pre.session_txn(zxid, sid, op, timeout, wall)
        elif op == OP_CLOSE_SESSION:
            if not pre.session_alive(sid):
                if done is None:
                    return  # expiry of a session already closed or closing
                hdr, txn = pre.error_txn(zxid, sid, cxid, ERR_SESSIONEXPIRED, wall)
            else:
                hdr, txn = pre.session_txn(zxid, sid, op, 0, wall, cxid)
        elif sid in self._dead:  # the "local_expiry_verdict" knob: refused on a local verdict
            hdr, txn = pre.error_txn(zxid, sid, cxid, ERR_SESSIONEXPIRED, wall)
        else:
            try:
                rec = decode_write(op, body)
            except DecodeError as e:
                log.info("event=bad_request session=0x%x op=%d reason=%s", sid & 0xFFFFFFFFFFFFFFFF, op, e)
                hdr, txn = pre.error_txn(zxid, sid, cxid, ERR_MARSHALLINGERROR, wall)
            else:
                hdr, txn = pre.prepare(zxid, sid, cxid, op, rec, auth, wall)
        try:
            if hdr.type == OP_RECONFIG:
                proposed = self._propose_reconfig(hdr, txn)
            else:
                proposed = peer.propose(encode_txn_payload(hdr, txn))
        except (NotLeader, Overloaded) as e:
            log.warning("event=proposal_refused reason=%s", e)
            pre.reset()
            return
        if proposed != zxid:  # the core promised next_zxid; a mismatch would corrupt every replica
            self.listener.fatal(f"zxid mismatch between prepare (0x{zxid:x}) and the quorum core (0x{proposed:x})")
            return
        self._prepared[zxid] = (hdr, txn, done, context)
        if self.observer is not None:
            self.observer.proposed(self, zxid)

    def _propose_reconfig(self, hdr: TxnHeader, txn: AnyTxn) -> int:
        """Leader.propose of a reconfig: the core counts the new voters' acks too until it commits."""
        assert isinstance(txn, SetDataTxn)
        new = self._membership_of(txn)
        log.info("event=reconfig_proposed zxid=0x%x voters=%s observers=%s", hdr.zxid,
                 ",".join(map(str, sorted(new.voters))), ",".join(map(str, sorted(new.observers))))
        return self.peer.propose_reconfig(encode_txn_payload(hdr, txn), new.voters, new.observers)

    @staticmethod
    def _membership_of(txn: SetDataTxn) -> Membership:
        """The membership a reconfig txn carries: QuorumMaj text whose version is the txn's zxid."""
        text = (txn.data or b"").decode("utf-8")
        return parse_membership_text(text, config_version(text.encode()))

    def _reconfig_applied(self, zxid: int, txn: AnyTxn) -> None:
        """A committed reconfig is applied (QuorumPeer.processReconfig): the membership becomes this
        member's, the core counts and elects with its voters, the dynamic file is rewritten."""
        assert isinstance(txn, SetDataTxn)
        try:
            new = self._membership_of(txn)
        except (PeerProtocolError, UnicodeDecodeError, ValueError) as e:
            self.listener.fatal(f"unreadable committed reconfiguration 0x{zxid:x}: {e}")
            return
        if new.version <= self.reconfig.membership.version:
            # A restarted member re-commits its log: the configuration it read from its dynamic file
            # is this one or a later one already (the tree's /zookeeper/config still follows the log).
            return
        self._activate_membership(new, "reconfig")

    def _activate_membership(self, new: Membership, reason: str) -> None:
        """QuorumPeer.setQuorumVerifier: the membership, the server lines, the core's voters, the files."""
        current = self.reconfig.membership
        self.reconfig.membership = new
        if new.servers != current.servers:
            self.cfg.servers = {sid: s.spec() for sid, s in new.servers.items()}
        self.cfg.config_version = new.version
        log.info("event=config_activated version=%x previous=%x reason=%s role=%s voters=%s observers=%s",
                 new.version, current.version, reason, self.role.name.lower(),
                 ",".join(map(str, sorted(new.voters))), ",".join(map(str, sorted(new.observers))))
        if self.ensemble and new.voters:
            self.peer.reconfigure(new.voters, new.observers)
            self.config = self.peer.config  # what mntr's quorum_size and synced_* read
        if self.config_activated is not None:
            self.config_activated(new)

    # ---- the Ready loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        peer = self.peer
        try:
            while (r := peer.poll()) is not None:
                self._handle(r)
                peer.advance()
                if self._backlog and self.is_leader and not self._held:
                    while self._backlog and peer.outstanding < self.max_outstanding:
                        self._propose(*self._backlog.popleft())
                if self._remote:
                    todo, self._remote = self._remote, []
                    for ev in todo:
                        self._from_remote(ev)
        finally:
            self._draining = False
        self.listener.batch_done()

    def _from_remote(self, ev: RequestForwarded) -> None:
        if not self.is_leader:
            return
        try:
            session, cxid, op, timeout, body, auth = decode_forwarded(ev.payload)
        except DecodeError as e:
            log.error("event=bad_forwarded_request origin=%d reason=%s", ev.origin, e)
            return
        self._lead(session, cxid, op, body, auth, None, None, timeout)

    def _handle(self, r: Ready) -> None:
        store = self.store
        if not self.serving and self.ensemble and any(type(m) is AckEpoch for _, m in r.messages):
            self._sync_since = self.clock.monotonic_ms()  # a learner's sync starts after its ACKEPOCH
        if r.epochs is not None:
            store.write_epochs(r.epochs.accepted, r.epochs.current)
        log_changed = False
        if r.truncate_to is not None or r.install_snapshot is not None:
            self._flush_log(force=True)  # earlier appends reach the disk before the cut, in order
        if r.truncate_to is not None:
            self._gen += 1
            store.truncate_after(r.truncate_to)
            log.info("event=log_truncated after=0x%x", r.truncate_to)
            log_changed = True
        if r.install_snapshot is not None:
            self._gen += 1
            zxid, data = r.install_snapshot
            self._replace_tree(store.install_snapshot(data))
            log.info("event=snapshot_installed zxid=0x%x znodes=%d", zxid, self.tree.node_count())
            log_changed = True
        if r.append:
            m = self.metrics
            m.sync_processor_request_queued.value += len(r.append)
            if self.is_leader:
                m.proposal_count.value += len(r.append)
            elif self.serving and self.role is ROLE_FOLLOWING:  # PROPOSALs in broadcast (Follower)
                m.learner_proposal_received_count.value += len(r.append)
                self._observe_ages(m.proposal_latency, r.append)
            if not self._log_pending:
                self._queued_since = self.clock.monotonic_ms()
            self._log_pending.extend(r.append)
            m.sync_processor_queue_size.observe(len(self._log_pending))
        elif log_changed and r.log_end is not None:
            self.peer.persisted(r.log_end)
        send = self.network.send
        for to, msg in r.messages:
            send(to, msg)
        if r.append:
            # After the messages: a leader's PROPOSALs are queued before the append, so that an append
            # written on the loop itself (Storage.append) runs after they went out, not before. No
            # message here waits for this append: the core sends what needs it after `persisted`.
            self._flush_log()
        if r.commit:
            self._apply(r.commit)
        for ev in r.events:
            self._event(ev)

    def _replace_tree(self, tree: DataTree) -> None:
        """A snapshot from the leader replaced our state (the member is not serving: no connections)."""
        tree.adopt_hooks(self.tree)
        carry_over(self.tree, tree)
        self.tree = tree
        self.preparer.tree = tree
        self.preparer.reset()
        if self.ensemble:
            tree.init_config(self.cfg.membership(), self.cfg.config_version, self.clock.wall_ms())

    # ---- the AdminServer's `restore` (standalone) -------------------------------------------------

    def hold_writes(self) -> None:
        """From now on writes, session creations and closes wait in the backlog (ZooKeeper's
        restoreLatch blocks request submission the same way), so the write path can run dry."""
        self._held = True

    def release_writes(self) -> None:
        self._held = False
        self._schedule_drain()

    @property
    def quiescent(self) -> bool:
        """Nothing proposed is waiting for its fsync or its commit: every logged txn is applied."""
        return not self.peer.outstanding and not self._prepared and not self.log_busy

    def install_restored(self, tree: DataTree) -> int:
        """Replace the tree by one restored from a snapshot (already durable in the dataDir, labelled
        with the current zxid). Standalone only, held and quiescent: no proposal is in flight, so the
        log after the current zxid is empty and nothing acknowledged is lost. The writes held meanwhile
        are dropped unanswered with every client connection (clients reconnect; their sessions live on
        if the snapshot has them, and they register their watches again). Returns how many were dropped."""
        if self.ensemble or not self._held or not self.quiescent:
            raise RuntimeError("a restore needs a standalone server with its writes held and none in flight")
        dropped = len(self._backlog)
        self._backlog.clear()
        self._creating.clear()
        self._replace_tree(tree)
        if self.expiry is not None:  # every restored session gets a full timeout, as after an election
            tracker = ExpiryTracker(self.cfg.tick_time)
            now = self.now_ms()
            for sid, timeout in tree.sessions.items():
                tracker.track(sid, timeout, now)
            self.expiry = tracker
        self.listener.stopped_serving("restored from a snapshot")
        return dropped

    def _flush_log(self, force: bool = False) -> None:
        """Group commit: one write + fsync for everything appended while the previous fsync ran."""
        if not self._log_pending or (self._log_inflight and not force):
            return
        batch, self._log_pending = self._log_pending, []
        m = self.metrics
        m.sync_processor_batch_size.observe(len(batch))
        queued, started = self._queued_since, self.clock.monotonic_ms()
        m.sync_processor_queue_time.observe(started - queued)
        self._log_inflight += 1
        gen = self._gen
        self.store.append(batch, lambda exc: self._persisted(exc, gen, batch, queued, started))

    def _persisted(self, exc: BaseException | None, gen: int, batch: list[tuple[int, bytes]], queued: float,
                   started: float) -> None:
        self._log_inflight -= 1
        if exc is not None:
            # The log is the ground truth: if it cannot be written, acknowledging anything would lie.
            self.listener.fatal(f"cannot write the transaction log: {exc}")
            return
        m = self.metrics
        now = self.clock.monotonic_ms()
        m.sync_processor_flush_time.observe(now - started)
        m.sync_processor_queue_and_flush_time.observe(now - queued)
        self._flush_log()
        if gen == self._gen:
            if self.ensemble and self.serving and self.role is not ROLE_OBSERVING:  # the ack this fsync makes
                self._observe_ages(m.proposal_ack_creation_latency, batch)
                if self.role is ROLE_LEADING:
                    for zxid, _ in batch:
                        self._ack_latency(self.server_id, zxid)
            self.peer.persisted(batch[-1][0])
            self._drain()

    def _ack_latency(self, sid: int, zxid: int) -> None:
        """The leader's ack_latency by voter (Leader.processAck): sampled, for the zxids that are a
        multiple of leader.ackLoggingFrequency; an ack of a txn this leader did not propose is not."""
        freq = self.cfg.ack_logging_frequency
        if freq > 0 and zxid % freq == 0:
            entry = self._prepared.get(zxid)
            if entry is not None:
                age = self.clock.wall_ms() - entry[0].time
                if age >= 0:
                    self.metrics.ack_latency.observe(str(sid), age)

    def _observe_ages(self, summary: Summary, entries: list[tuple[int, bytes]]) -> None:
        """Each entry's age: now minus the time its leader stamped in its header (wall clocks, as
        ZooKeeper's Request.logLatency; a negative age from clock skew is not observed)."""
        now = self.clock.wall_ms()
        for _, payload in entries:
            if len(payload) >= TXN_HEADER_SIZE:
                age = now - i64_at(payload, TXN_TIME_OFFSET)
                if age >= 0:
                    summary.observe(age)

    def _apply(self, entries: list[tuple[int, bytes]]) -> None:
        tree = self.tree
        prepared = self._prepared
        committed = self.preparer.committed
        obs = self.observer
        if obs is not None:
            obs.committing(self, entries)
        m = self.metrics
        leader = self.is_leader
        if leader:
            m.commit_count.value += len(entries)
        # the txn's age as applied here; on a leader also when its quorum acked it, on a learner when
        # its COMMIT came (the same moment in corral: commits are applied as they arrive). Only while
        # serving: what a restart commits again from its own log, or a learner's sync brings, is hours
        # old and reached no client now (Apache loads and syncs those without FinalRequestProcessor).
        ages = self.serving
        quorum_age = m.quorum_ack_latency if leader and self.ensemble else None
        learner = self.ensemble and self.serving and not leader
        if learner:
            m.learner_commit_received_count.value += len(entries)
        commit_age = m.commit_propagation_latency if learner else None
        wall = self.clock.wall_ms()
        for zxid, payload in entries:
            entry = prepared.pop(zxid, None)
            if entry is not None:
                hdr, txn, done, context = entry
            else:
                try:
                    hdr, txn = decode_txn_payload(payload)
                except DecodeError as e:  # a committed entry we cannot read: the replicas would diverge
                    self.listener.fatal(f"undecodable committed transaction 0x{zxid:x}: {e}")
                    return
                done, context = self.waiters.pop((hdr.clientId, hdr.cxid), _NO_WAITER)
            res = tree.apply(hdr, txn)
            committed(zxid)
            age = wall - hdr.time
            if ages and age >= 0:
                m.propagation_latency.observe(age)
                if quorum_age is not None:
                    quorum_age.observe(age)
                elif commit_age is not None:
                    commit_age.observe(age)
            t = hdr.type
            if t in (OP_CLOSE_SESSION, OP_CREATE_SESSION):
                self._session_applied(hdr, txn)
            elif t == OP_RECONFIG:
                self._reconfig_applied(zxid, txn)
            if obs is not None:
                obs.applied(self, zxid, payload, hdr, txn, res)
            if done is not None:
                done(context, hdr, res)
        self.store.applied(len(entries), tree)

    def _session_applied(self, hdr: TxnHeader, txn: AnyTxn) -> None:
        sid = hdr.clientId
        if hdr.type == OP_CREATE_SESSION:
            self._creating.discard(sid)
            if self.expiry is not None and sid not in self.expiry and isinstance(txn, CreateSessionTxn):
                self.expiry.track(sid, txn.timeOut, self.now_ms())
            return
        if self.expiry is not None:
            self.expiry.remove(sid)
        self._dead.discard(sid)
        self.listener.session_closed(sid)

    def _event(self, ev: object) -> None:
        if isinstance(ev, RequestForwarded):
            self._remote.append(ev)
        elif isinstance(ev, Activated):
            self._activated(ev)
        elif isinstance(ev, RoleChanged | SteppedDown):
            self.leader_config = None  # a new leader (or none): only its NEWLEADER counts
            if isinstance(ev, RoleChanged) and ev.role is not ROLE_LOOKING:
                self.role = ev.role
                self.leader_id = ev.leader
                self._end_read_only(f"a leader was elected ({ev.leader})")
                return
            self._stop_serving(ev.reason or type(ev).__name__)
        elif isinstance(ev, SyncDone | SyncFailed):
            cb = self.sync_waiters.pop(ev.token, None)
            if cb is not None:
                cb(isinstance(ev, SyncDone))
        elif isinstance(ev, SessionTouches):
            if self.expiry is not None:
                now = self.now_ms()
                touch = self.expiry.touch
                for sid, timeout in ev.touches:
                    touch(sid, now, timeout)
        elif isinstance(ev, Anomaly):
            log.error("event=peer_anomaly peer=%d detail=%s", ev.peer, ev.description)
            if self.observer is not None:
                self.observer.anomaly(self, ev)

    def _end_read_only(self, reason: str) -> None:
        """QuorumPeer shuts its ReadOnlyZooKeeperServer down when its election ends: every connection
        and every (local) session of the read-only server goes, and clients look for a read-write member."""
        if self.read_only:
            self.read_only = False
            log.warning("event=read_only_ended reason=%s", reason)
            self._drop_local_sessions()
            self.listener.read_only_ended(reason)

    def _activated(self, ev: Activated) -> None:
        self._end_read_only("serving again")
        self.role = ev.role
        self.leader_id = ev.leader
        self.serving = True
        self.elections += 1
        self.last_election_ms = self.clock.monotonic_ms() - self._looking_since
        if self.ensemble:
            m = self.metrics
            m.election_time.observe(round(self.last_election_ms))
            m.unavailable_time.observe(round(self.last_election_ms))
            if ev.role is ROLE_LEADING:
                m.leader_unavailable_time.observe(round(self.last_election_ms))
            elif ev.role is ROLE_FOLLOWING and self._sync_since is not None:
                m.follower_sync_time.observe(round(self.clock.monotonic_ms() - self._sync_since))
        self._sync_since = None
        log.info("event=serving role=%s leader=%d epoch=%d zxid=0x%x election_ms=%.0f", ev.role.name.lower(),
                 ev.leader, ev.epoch, ev.zxid, self.last_election_ms)
        if self.ensemble and self.cfg.reconfig_enabled:
            self._establish_config(ev)
        if ev.role is ROLE_LEADING:
            # A new term: pending state and expiry start from what is committed. Every committed
            # session gets a full timeout, as ZooKeeper's new leader gives it.
            self.preparer.reset()
            self._prepared.clear()
            tracker = ExpiryTracker(self.cfg.tick_time)
            now = self.now_ms()
            for sid, timeout in self.tree.sessions.items():
                if sid not in self._dead:
                    tracker.track(sid, timeout, now)
            self.expiry = tracker
        if self._replayed_at_start:
            # Like ZooKeeper, start from a fresh snapshot so the next recovery replays little.
            self._replayed_at_start = False
            self.store.snapshot_now(self.tree)

    def newleader_config(self, epoch: int) -> Membership:
        """The configuration a leader of `epoch` sends with NEWLEADER (its last seen one): with reconfig
        enabled, a version-0 configuration takes the epoch's first zxid as its version (Leader.lead,
        ZOOKEEPER-1783: an established configuration outranks the initial ones of joining servers)."""
        m = self.reconfig.membership
        if self.cfg.reconfig_enabled and m.version == 0:
            return Membership(m.servers, make_zxid(epoch, 0))
        return m

    def _establish_config(self, ev: Activated) -> None:
        """Activate the configuration of the newly established term: the leader's own (re-versioned as
        `newleader_config` says), a learner's from its leader's NEWLEADER when newer than its own
        (Learner.syncWithLeader at UPTODATE, QuorumPeer.processReconfig)."""
        current = self.reconfig.membership
        if ev.role is ROLE_LEADING:
            new = self.newleader_config(ev.epoch)
        else:
            text, self.leader_config = self.leader_config, None
            if text is None:
                return
            try:
                version = config_version(text)
                new = parse_membership_text(text.decode("utf-8"), version)
            except (PeerProtocolError, UnicodeDecodeError, ValueError) as e:
                log.warning("event=config_not_adopted leader=%d reason=unreadable detail=%r", ev.leader, str(e))
                return
        if new.version <= current.version:
            return
        self.tree.init_config(new.text(), new.version, self.clock.wall_ms())
        self._activate_membership(new, f"newleader_{ev.role.name.lower()}")

    def adopt_config(self, peer: int, text: bytes) -> None:
        """A notification carried a newer configuration: FastLeaderElection adopts it while looking
        (QuorumPeer.processReconfig), so a member that missed a reconfig (removed and added back, or down
        while it committed) votes with the current voters."""
        if not self.cfg.reconfig_enabled or self.peer.role is not ROLE_LOOKING:
            return
        try:
            version = config_version(text)
            new = parse_membership_text(text.decode("utf-8"), version)
        except (PeerProtocolError, UnicodeDecodeError, ValueError) as e:
            log.warning("event=config_not_adopted peer=%d reason=unreadable detail=%r", peer, str(e))
            return
        if version <= self.reconfig.membership.version or not new.voters:
            return
        self.tree.init_config(new.text(), new.version, self.clock.wall_ms())
        self._activate_membership(new, f"notification_from_{peer}")
        self._schedule_drain()

    def _stop_serving(self, reason: str) -> None:
        if self.serving:
            log.warning("event=stopped_serving reason=%s", reason)
            self._looking_since = self.clock.monotonic_ms()
            self.metrics.looking_count.value += 1
        if self.serving or self.role is not ROLE_LOOKING:
            self._ro_looking_since = self.clock.monotonic_ms()  # a new LOOKING period: a new grace period
        if not self.read_only:
            self._drop_local_sessions()  # the member's sessions die with the server that held them
        self.serving = False
        self._sync_since = None
        self.role = ROLE_LOOKING
        self.leader_id = None
        self.expiry = None
        self.preparer.reset()
        self._prepared.clear()
        self.waiters.clear()
        self._creating.clear()
        self._backlog.clear()
        self._remote.clear()
        syncs, self.sync_waiters = self.sync_waiters, {}
        for cb in syncs.values():
            cb(False)
        if not self.read_only:  # a read-only member keeps its read-only clients while it looks on
            self.listener.stopped_serving(reason)

    # ---- monitoring ----------------------------------------------------------------------------

    def corral_metrics(self) -> list[tuple[str, object]]:
        p = self.peer
        rows: list[tuple[str, object]] = [("zk_pending_proposals", p.outstanding)]
        if not self.ensemble:
            return rows
        rows += [("zk_peer_state", self.mode),
                 ("zk_election_count", self.elections), ("zk_last_election_ms", round(self.last_election_ms))]
        return rows  # quorum_size, learners, synced_followers/observers: server/metrics.py gauges()
