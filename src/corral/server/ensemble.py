"""The host of `corral.quorum.Peer` inside a server: disk, sockets, the tree and the clients.

Writes from clients of any member travel as `ForwardedRequest`s to the leader (the leader forwards to
itself, so there is one path), where they are prepared against the leader's pending state and proposed;
every member applies committed transactions in zxid order and answers the requests that came from its
own clients. Sessions are transactions, so they exist ensemble-wide; the leader expires them, and the
other members pass client activity on through `Peer.touch`.

The core counts time in ticks; we tick it `TICKS_PER_TICKTIME` times per zoo.cfg tickTime so that an
election settles in a fraction of a tickTime (ZooKeeper's FastLeaderElection waits 200 ms, not ticks).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..persistence import decode_txn_payload, encode_txn_payload
from ..persistence.epochs import ACCEPTED, CURRENT, read_epoch, write_epoch
from ..persistence.files import version_dir
from ..persistence.snapshot import install_snapshot, snapshot_bytes
from ..persistence.txnlog import remove_all, truncate_after
from ..protocol import DecodeError, Id, OpCode, Record, TxnHeader
from ..protocol.jute import Buffer, Int, Long, record
from ..quorum import (
    Activated,
    Anomaly,
    EnsembleConfig,
    NoLeader,
    NotLeader,
    Overloaded,
    Peer,
    Recovered,
    RequestForwarded,
    Role,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
)
from ..tree import ApplyResult
from . import memory
from .peers import PeerTransport
from .writes import decode_write

if TYPE_CHECKING:
    from .server import CorralServer

log = logging.getLogger("corral.ensemble")

TICKS_PER_TICKTIME = 10
Waiter = Callable[[TxnHeader | None, ApplyResult | None], None]


@record
class ForwardedRequest(Record):
    """A client write on its way to the leader (ZooKeeper's QuorumPacket REQUEST payload)."""

    session: Long
    cxid: Int
    type: Int
    timeout: Int
    body: Buffer
    auth: list[Id]


class QuorumHost:
    def __init__(self, server: CorralServer, my_id: int, entries: list[tuple[int, bytes]]) -> None:
        self.server = server
        cfg = server.config
        self.my_id = my_id
        self.snap_dir = version_dir(cfg.data_dir)
        self.log_dir = version_dir(cfg.log_dir)
        voters = frozenset(s for s, spec in cfg.servers.items() if not spec.observer)
        observers = frozenset(s for s, spec in cfg.servers.items() if spec.observer)
        self.config = EnsembleConfig(voters=voters, observers=observers,
                                     init_limit=cfg.init_limit * TICKS_PER_TICKTIME,
                                     sync_limit=cfg.sync_limit * TICKS_PER_TICKTIME,
                                     max_outstanding=max(1, cfg.global_outstanding_limit),
                                     finalize_ticks=max(1, TICKS_PER_TICKTIME // 10),
                                     max_notify_ticks=2 * TICKS_PER_TICKTIME)
        tree = server.tree
        applied = tree.last_zxid
        rec = Recovered(accepted_epoch=read_epoch(self.snap_dir, ACCEPTED),
                        current_epoch=read_epoch(self.snap_dir, CURRENT),
                        log_base=applied, log=entries, applied_zxid=applied)
        self.peer = Peer(my_id, self.config, rec, self._snapshot_source, incarnation=random.getrandbits(62))
        self.transport = PeerTransport(my_id, cfg.servers, self._on_message, self._on_disconnect)
        self.role = Role.LOOKING
        self.serving = False
        self.leader_id: int | None = None
        self.waiters: dict[tuple[int, int], Waiter] = {}
        self.sync_waiters: dict[int, Callable[[bool], None]] = {}
        self._tokens = 0
        self._gen = 0  # bumped by truncations/snapshot installs: fsync reports from before are dropped
        self._log_pending: list[tuple[int, bytes]] = []  # appends waiting for the fsync in flight
        self._log_inflight = 0
        self._draining = False
        self._deferred: list[RequestForwarded] = []
        self._backlog: list[RequestForwarded] = []  # forwarded writes waiting for room under max_outstanding
        self._tick_handle: asyncio.TimerHandle | None = None
        self.elections = 0
        self.last_election_ms = 0.0
        self._looking_since = time.monotonic()

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.transport.start()
        loop = asyncio.get_running_loop()
        self._tick_handle = loop.call_later(self._tick_s(), self._tick)
        self._drain()

    def _tick_s(self) -> float:
        return self.server.config.tick_time / 1000 / TICKS_PER_TICKTIME

    def _tick(self) -> None:
        try:
            self.peer.tick()
            self._drain()
        except Exception:
            log.exception("event=quorum_tick_failed")
        finally:
            self._tick_handle = asyncio.get_running_loop().call_later(self._tick_s(), self._tick)

    async def stop(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        await self.transport.stop()

    @property
    def mode(self) -> str:
        if not self.serving:
            return "looking"
        return {Role.LEADING: "leader", Role.FOLLOWING: "follower", Role.OBSERVING: "observer"}.get(
            self.role, "looking")

    @property
    def is_leader(self) -> bool:
        return self.serving and self.role is Role.LEADING

    # ---- peer I/O ------------------------------------------------------------------------------

    def _on_message(self, frm: int, msg) -> None:
        self.peer.receive(frm, msg)
        self._drain()

    def _on_disconnect(self, sid: int) -> None:
        self.peer.disconnected(sid)
        self._drain()

    def _snapshot_source(self) -> tuple[int, bytes]:
        tree = self.server.tree
        return tree.last_zxid, snapshot_bytes(tree)

    # ---- the Ready loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while True:
                while self.peer.has_ready():
                    self._handle(self.peer.ready())
                    self.peer.advance()
                if self._backlog and self.peer.outstanding < self.config.max_outstanding:
                    self._deferred[:0], self._backlog = self._backlog, []  # oldest first
                if not self._deferred:
                    break
                todo, self._deferred = self._deferred, []
                for ev in todo:
                    self._prepare_and_propose(ev)
        finally:
            self._draining = False
        self.server.flush_dirty()

    def _handle(self, r) -> None:
        srv = self.server
        storage = srv.storage
        assert storage is not None
        if r.epochs is not None:
            write_epoch(self.snap_dir, ACCEPTED, r.epochs.accepted)
            write_epoch(self.snap_dir, CURRENT, r.epochs.current)
        log_changed = False
        if r.truncate_to is not None or r.install_snapshot is not None:
            self._flush_log(force=True)  # earlier appends reach the disk before the cut, in order
        if r.truncate_to is not None:
            self._gen += 1
            zxid = r.truncate_to
            storage.run_sync(self._disk_truncate, storage, zxid)
            log.info("event=log_truncated after=0x%x", zxid)
            log_changed = True
        if r.install_snapshot is not None:
            self._gen += 1
            zxid, data = r.install_snapshot
            storage.run_sync(self._disk_forget, storage)
            with memory.bulk_load():
                tree, path = install_snapshot(data, self.snap_dir)
            srv.replace_tree(tree)
            log.info("event=snapshot_installed zxid=0x%x file=%s znodes=%d", zxid, path, tree.node_count())
            log_changed = True
        if r.append:
            self._log_pending.extend(r.append)
            self._flush_log()
        elif log_changed and r.log_end is not None:
            self.peer.persisted(r.log_end)
        for to, msg in r.messages:
            self.transport.send(to, msg)
        if r.commit:
            self._apply(r.commit)
        for ev in r.events:
            self._event(ev)

    def _disk_truncate(self, storage, zxid: int) -> int:
        """On the log thread: close the open file (the next append starts a new one), then cut."""
        storage.writer.close()
        return truncate_after(self.log_dir, zxid)

    def _disk_forget(self, storage) -> None:
        storage.writer.close()
        remove_all(self.log_dir)

    def _flush_log(self, force: bool = False) -> None:
        """Group commit: one write + fsync for everything appended while the previous fsync ran."""
        if not self._log_pending or (self._log_inflight and not force):
            return
        batch, self._log_pending = self._log_pending, []
        self._log_inflight += 1
        gen, last = self._gen, batch[-1][0]
        storage = self.server.storage
        assert storage is not None
        fut = storage.append(batch)
        fut.add_done_callback(lambda f, g=gen, z=last: self._persisted(f, g, z))

    def _persisted(self, fut: asyncio.Future, gen: int, zxid: int) -> None:
        self._log_inflight -= 1
        self._flush_log()
        exc = fut.exception()
        if exc is not None:
            self.server.fatal(f"cannot write the transaction log: {exc}")
            return
        if gen != self._gen:
            return
        self.peer.persisted(zxid)
        self._drain()

    def _apply(self, entries: list[tuple[int, bytes]]) -> None:
        srv = self.server
        tree = srv.tree
        now = srv.now_ms()
        for zxid, payload in entries:
            try:
                hdr, txn = decode_txn_payload(payload)
            except DecodeError as e:  # a committed entry we cannot read: the replicas would diverge
                srv.fatal(f"undecodable committed transaction 0x{zxid:x}: {e}")
                return
            res = tree.apply(hdr, txn)
            srv.preparer.committed(zxid)
            if hdr.type == OpCode.createSession and srv.sessions.get(hdr.clientId) is None:
                srv.sessions.add(hdr.clientId, getattr(txn, "timeOut", 0), now)
            srv.after_apply(hdr, txn, res)
            waiter = self.waiters.pop((hdr.clientId, hdr.cxid), None)
            if waiter is not None:
                waiter(hdr, res)
        assert srv.storage is not None
        srv.storage.logged(len(entries), tree)

    def _event(self, ev) -> None:
        srv = self.server
        if isinstance(ev, RequestForwarded):
            self._deferred.append(ev)
        elif isinstance(ev, Activated):
            self.role = ev.role
            self.leader_id = ev.leader
            self.serving = True
            self.elections += 1
            self.last_election_ms = (time.monotonic() - self._looking_since) * 1000
            log.info("event=serving role=%s leader=%d epoch=%d zxid=0x%x election_ms=%.0f", ev.role.name.lower(),
                     ev.leader, ev.epoch, ev.zxid, self.last_election_ms)
            if ev.role is Role.LEADING:
                # The leader now owns session expiry: every known session gets a full timeout.
                now = srv.now_ms()
                for sid, timeout in srv.tree.sessions.items():
                    srv.sessions.add(sid, timeout, now)
                srv.preparer.reset()
        elif isinstance(ev, RoleChanged | SteppedDown):
            if isinstance(ev, RoleChanged) and ev.role is not Role.LOOKING:
                self.role = ev.role
                self.leader_id = ev.leader
                return
            reason = getattr(ev, "reason", "")
            if self.serving:
                log.warning("event=stopped_serving reason=%s", reason or type(ev).__name__)
            self.serving = False
            self.role = Role.LOOKING
            self._looking_since = time.monotonic()
            self._fail_all("lost the quorum")
        elif isinstance(ev, SyncDone):
            cb = self.sync_waiters.pop(ev.token, None)
            if cb is not None:
                cb(True)
        elif isinstance(ev, SyncFailed):
            cb = self.sync_waiters.pop(ev.token, None)
            if cb is not None:
                cb(False)
        elif isinstance(ev, SessionTouches):
            now = srv.now_ms()
            for sid, _timeout in ev.touches:
                srv.sessions.touch(sid, now)
        elif isinstance(ev, Anomaly):
            log.error("event=peer_anomaly peer=%d detail=%s", ev.peer, ev.description)

    def _fail_all(self, reason: str) -> None:
        """Like ZooKeeper: a member that stops serving closes its client connections; clients move on."""
        self.waiters.clear()
        self.sync_waiters.clear()
        self._backlog.clear()
        for c in list(self.server.connections):
            c.close(f"server stopped serving: {reason}")

    # ---- the leader's side of writes -----------------------------------------------------------

    def _prepare_and_propose(self, ev: RequestForwarded) -> None:
        srv = self.server
        if not self.is_leader:
            return
        if self._backlog or self.peer.outstanding >= self.config.max_outstanding:
            self._backlog.append(ev)  # proposed when commits make room, never dropped (ZooKeeper throttles)
            return
        try:
            req = ForwardedRequest.from_bytes(ev.payload)
        except DecodeError as e:
            log.error("event=bad_forwarded_request origin=%d reason=%s", ev.origin, e)
            return
        pre = srv.preparer
        pre.last_zxid = self.peer.next_zxid - 1  # prepare stamps the zxid propose() will assign
        wall = srv.wall_ms()
        auth = [(i.scheme or "", i.id or "") for i in req.auth or ()]
        if req.type == OpCode.createSession:
            srv.sessions.add(req.session, req.timeout, srv.now_ms())
            hdr, txn = pre.session_txn(req.session, OpCode.createSession, req.timeout, wall)
        elif req.type == OpCode.closeSession:
            srv.sessions.set_closing(req.session)
            hdr, txn = pre.session_txn(req.session, OpCode.closeSession, 0, wall)
            hdr.cxid = req.cxid
        else:
            try:
                rec = decode_write(req.type, req.body or b"")
            except DecodeError:
                from ..protocol import Err

                hdr, txn = pre.error_txn(req.session, req.cxid, Err.MARSHALLINGERROR, wall)
            else:
                hdr, txn = pre.prepare(req.session, req.cxid, req.type, rec, auth, wall)  # type: ignore[arg-type]
        try:
            zxid = self.peer.propose(encode_txn_payload(hdr, txn))
        except (NotLeader, Overloaded) as e:
            log.warning("event=proposal_refused reason=%s", e)
            pre.reset()
            return
        if zxid != hdr.zxid:
            srv.fatal(f"zxid mismatch between prepare (0x{hdr.zxid:x}) and the quorum core (0x{zxid:x})")

    def expire(self, session_id: int) -> None:
        """The leader's tracker expired a session: close it through the quorum."""
        self.forward(ForwardedRequest(session_id, 0, OpCode.closeSession, 0, b"", []), None)

    # ---- requests from this member's clients ---------------------------------------------------

    def forward(self, req: ForwardedRequest, waiter: Waiter | None) -> bool:
        if not self.serving:
            return False
        if waiter is not None:
            self.waiters[(req.session, req.cxid)] = waiter
        try:
            self.peer.forward(req.to_bytes())
        except (NoLeader, Overloaded) as e:
            self.waiters.pop((req.session, req.cxid), None)
            log.warning("event=forward_refused reason=%s", e)
            return False
        self._drain()
        return True

    def sync(self, done: Callable[[bool], None]) -> bool:
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
        self._drain()
        return True

    def touch(self, session_id: int, timeout: int) -> None:
        self.peer.touch(session_id, timeout)

    def metrics(self) -> list[tuple[str, object]]:
        p = self.peer
        rows: list[tuple[str, object]] = [("zk_peer_state", self.mode), ("zk_quorum_size", len(self.config.voters)),
                                          ("zk_pending_proposals", p.outstanding),
                                          ("zk_election_count", self.elections),
                                          ("zk_last_election_ms", round(self.last_election_ms))]
        if self.is_leader:
            leader = p._leader  # read-only view for monitoring
            handlers = getattr(leader, "handlers", {})
            rows.append(("zk_learners", len(handlers)))
            rows.append(("zk_synced_followers", sum(1 for s in handlers if s in self.config.voters)))
            rows.append(("zk_synced_observers", sum(1 for s in handlers if s in self.config.observers)))
        return rows
