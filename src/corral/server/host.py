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
from typing import Any, Protocol

from ..persistence import decode_txn_payload, encode_txn_payload
from ..persistence.snapshot import snapshot_bytes
from ..protocol import CreateSessionTxn, DecodeError, Errs, Id, Ops, TxnHeader
from ..quorum import (
    Activated,
    Anomaly,
    EnsembleConfig,
    Message,
    NoLeader,
    NotLeader,
    Overloaded,
    Peer,
    Ready,
    Recovered,
    RequestForwarded,
    Role,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
)
from ..tree import ApplyResult, DataTree
from ..tree.acl import AuthId
from ..txn import AnyTxn, Preparer
from .config import ServerConfig
from .forwarded import ForwardedRequest
from .metrics import ServerMetrics
from .sessions import ExpiryTracker, SessionIds
from .writes import decode_write

log = logging.getLogger("corral.host")
_NO_WAITER: tuple[None, None] = (None, None)

TICKS_PER_TICKTIME = 10
#: Deliberately broken behaviours, test-only (see tests/simulation): what corral did before sessions
#: became committed state. ``tick_by_calls``: the core's clock counts tick() calls, not elapsed time,
#: so a process resumed after a pause believes little time passed; ``local_expiry_verdict``: the
#: leader's expiry marks sessions dead locally, its prepare refuses them (SESSIONEXPIRED) and a new
#: term's tracker skips them, whether or not their closeSession ever commits.
HOST_UNSAFE_KNOBS = frozenset({"tick_by_calls", "local_expiry_verdict"})
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
    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` after the current batch of work (one event-loop turn later)."""


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

    def batch_done(self) -> None:
        """A batch of replies and notifications is ready to be written."""

    def fatal(self, reason: str) -> None:
        """Durability cannot be guaranteed any more: stop the server."""


class HostObserver:
    """Hooks for tests (the simulation's oracle); the server passes none."""

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
    if len(cfg.servers) > 1:
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
        self.ensemble = len(cfg.servers) > 1
        self.tree = tree
        self.store = store
        self.network = network
        self.clock = clock
        self.scheduler = scheduler
        self.listener = listener
        self.observer = observer
        if self.ensemble:
            tree.init_config(cfg.membership(), 0, clock.wall_ms())
        self.preparer = Preparer(tree, cfg.extended_types, cfg.enforce_quota)
        self.config = dataclasses.replace(ensemble_config(cfg, server_id), **(core_overrides or {}))
        if not unsafe <= HOST_UNSAFE_KNOBS:
            raise ValueError(f"unknown unsafe host knobs {sorted(unsafe - HOST_UNSAFE_KNOBS)}")
        self.unsafe = unsafe
        self.max_outstanding = self.config.max_outstanding
        self._tick_ms = cfg.tick_time / TICKS_PER_TICKTIME
        self._t0 = clock.monotonic_ms()
        self._replayed_at_start = len(recovered.log) > 0 and recovered.applied_zxid < recovered.last_zxid
        self.peer = Peer(server_id, self.config, recovered, self._snapshot_source, incarnation=incarnation)
        self.ids = SessionIds(server_id, clock.wall_ms())
        self.expiry: ExpiryTracker | None = None  # only while leading
        self.role = Role.LOOKING
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
        self.elections = 0
        self.last_election_ms = 0.0
        self._looking_since = self._t0
        self.expired_sessions = 0
        self.metrics = ServerMetrics()  # the server shares one with its frontend and storage
        self._dead: set[int] = set()  # only with the "local_expiry_verdict" knob

    # ---- state ---------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        if not self.ensemble:
            return "standalone"
        if not self.serving:
            return "looking"
        return {Role.LEADING: "leader", Role.FOLLOWING: "follower", Role.OBSERVING: "observer"}.get(
            self.role, "looking")

    @property
    def is_leader(self) -> bool:
        return self.serving and self.role is Role.LEADING

    @property
    def log_busy(self) -> bool:
        """An fsync is in flight or appends wait for one."""
        return bool(self._log_inflight or self._log_pending)

    def now_ms(self) -> int:
        return int(self.clock.monotonic_ms())

    def new_session_id(self) -> int:
        sid = self.ids.new_id(lambda s: s in self.tree.sessions or s in self._creating)
        self._creating.add(sid)
        return sid

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
        if self.is_leader and self.expiry is not None:
            for sid in self.expiry.expired(self.now_ms()):
                if "local_expiry_verdict" in self.unsafe:
                    self._dead.add(sid)
                self.expired_sessions += 1
                self.metrics.stale_sessions_expired.value += 1
                log.info("event=session_expired session=0x%x", sid & 0xFFFFFFFFFFFFFFFF)
                self._lead(sid, 0, Ops.closeSession, b"", [], None, None, 0)
            self._drain()

    def on_message(self, frm: int, msg: Message) -> None:
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
        if self.role is Role.LEADING:
            if self._backlog or self.peer.outstanding >= self.max_outstanding:
                self._backlog.append((session, cxid, op, body, auth, done, context, timeout))
            else:
                self._propose(session, cxid, op, body, auth, done, context, timeout)
        else:
            key = (session, cxid)
            if done is not None:
                self.waiters[key] = (done, context)
            req = ForwardedRequest(session, cxid, op, timeout, body, [Id(s, i) for s, i in auth])
            try:
                self.peer.forward(req.to_bytes())
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
        """Client activity: the leader's tracker directly, otherwise with the next ping reply."""
        if self.role is Role.LEADING:
            if self.expiry is not None:
                self.expiry.touch(session_id, self.now_ms(), timeout)
        else:
            self.peer.touch(session_id, timeout)

    def revalidate(self, session_id: int, timeout: int) -> bool:
        """An Apache learner asks whether a client may reconnect there with this session
        (`LeaderZooKeeperServer.checkIfValidGlobalSession`): only the leader answers yes, for a
        committed session that is tracked and not closing, and the question counts as its activity."""
        if self.role is not Role.LEADING or self.expiry is None or session_id not in self.tree.sessions \
                or self.session_closing(session_id):
            return False
        return self.expiry.touch(session_id, self.now_ms(), timeout)

    def session_closing(self, session_id: int) -> bool:
        """On the leader: a closeSession for the session is in flight."""
        return self.role is Role.LEADING and self.preparer.session_closing(session_id)

    # ---- the leader's side of writes -----------------------------------------------------------

    def _lead(self, session: int, cxid: int, op: int, body: bytes, auth: list[AuthId], done: Waiter | None,
              context: Any, timeout: int) -> None:
        if self._backlog or self.peer.outstanding >= self.max_outstanding:
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
        if op == Ops.createSession:
            if self.expiry is not None:
                self.expiry.track(sid, timeout, self.now_ms())
            hdr, txn = pre.session_txn(zxid, sid, op, timeout, wall)
        elif op == Ops.closeSession:
            if not pre.session_alive(sid):
                if done is None:
                    return  # expiry of a session already closed or closing
                hdr, txn = pre.error_txn(zxid, sid, cxid, Errs.SESSIONEXPIRED, wall)
            else:
                hdr, txn = pre.session_txn(zxid, sid, op, 0, wall, cxid)
        elif sid in self._dead:  # the "local_expiry_verdict" knob: refused on a local verdict
            hdr, txn = pre.error_txn(zxid, sid, cxid, Errs.SESSIONEXPIRED, wall)
        else:
            try:
                rec = decode_write(op, body)
            except DecodeError as e:
                log.info("event=bad_request session=0x%x op=%d reason=%s", sid & 0xFFFFFFFFFFFFFFFF, op, e)
                hdr, txn = pre.error_txn(zxid, sid, cxid, Errs.MARSHALLINGERROR, wall)
            else:
                hdr, txn = pre.prepare(zxid, sid, cxid, op, rec, auth, wall)
        try:
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
                if self._backlog and self.is_leader:
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
            req = ForwardedRequest.from_bytes(ev.payload)
        except DecodeError as e:
            log.error("event=bad_forwarded_request origin=%d reason=%s", ev.origin, e)
            return
        auth = [(i.scheme or "", i.id or "") for i in req.auth or ()]
        self._lead(req.session, req.cxid, req.type, req.body or b"", auth, None, None, req.timeout)

    def _handle(self, r: Ready) -> None:
        store = self.store
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
            self.metrics.sync_processor_request_queued.value += len(r.append)
            if self.is_leader:
                self.metrics.proposal_count.value += len(r.append)
            self._log_pending.extend(r.append)
            self._flush_log()
        elif log_changed and r.log_end is not None:
            self.peer.persisted(r.log_end)
        send = self.network.send
        for to, msg in r.messages:
            send(to, msg)
        if r.commit:
            self._apply(r.commit)
        for ev in r.events:
            self._event(ev)

    def _replace_tree(self, tree: DataTree) -> None:
        """A snapshot from the leader replaced our state (the member is not serving: no connections)."""
        self.tree = tree
        self.preparer.tree = tree
        self.preparer.reset()
        if self.ensemble:
            tree.init_config(self.cfg.membership(), 0, self.clock.wall_ms())

    def _flush_log(self, force: bool = False) -> None:
        """Group commit: one write + fsync for everything appended while the previous fsync ran."""
        if not self._log_pending or (self._log_inflight and not force):
            return
        batch, self._log_pending = self._log_pending, []
        self.metrics.sync_processor_batch_size.observe(len(batch))
        self._log_inflight += 1
        gen, last = self._gen, batch[-1][0]
        self.store.append(batch, lambda exc: self._persisted(exc, gen, last))

    def _persisted(self, exc: BaseException | None, gen: int, zxid: int) -> None:
        self._log_inflight -= 1
        if exc is not None:
            # The log is the ground truth: if it cannot be written, acknowledging anything would lie.
            self.listener.fatal(f"cannot write the transaction log: {exc}")
            return
        self._flush_log()
        if gen == self._gen:
            self.peer.persisted(zxid)
            self._drain()

    def _apply(self, entries: list[tuple[int, bytes]]) -> None:
        tree = self.tree
        prepared = self._prepared
        committed = self.preparer.committed
        obs = self.observer
        if obs is not None:
            obs.committing(self, entries)
        if self.is_leader:
            self.metrics.commit_count.value += len(entries)
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
            t = hdr.type
            if t == Ops.closeSession or t == Ops.createSession:
                self._session_applied(hdr, txn)
            if obs is not None:
                obs.applied(self, zxid, payload, hdr, txn, res)
            if done is not None:
                done(context, hdr, res)
        self.store.applied(len(entries), tree)

    def _session_applied(self, hdr: TxnHeader, txn: AnyTxn) -> None:
        sid = hdr.clientId
        if hdr.type == Ops.createSession:
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
            if isinstance(ev, RoleChanged) and ev.role is not Role.LOOKING:
                self.role = ev.role
                self.leader_id = ev.leader
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

    def _activated(self, ev: Activated) -> None:
        self.role = ev.role
        self.leader_id = ev.leader
        self.serving = True
        self.elections += 1
        self.last_election_ms = self.clock.monotonic_ms() - self._looking_since
        if self.ensemble:
            self.metrics.election_time.observe(round(self.last_election_ms))
        log.info("event=serving role=%s leader=%d epoch=%d zxid=0x%x election_ms=%.0f", ev.role.name.lower(),
                 ev.leader, ev.epoch, ev.zxid, self.last_election_ms)
        if ev.role is Role.LEADING:
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

    def _stop_serving(self, reason: str) -> None:
        if self.serving:
            log.warning("event=stopped_serving reason=%s", reason)
            self._looking_since = self.clock.monotonic_ms()
            self.metrics.looking_count.value += 1
        self.serving = False
        self.role = Role.LOOKING
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
