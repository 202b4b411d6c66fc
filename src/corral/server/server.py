"""The standalone server: one event loop owning the tree, the sessions and the commit pipeline.

Wiring only: request semantics live in `corral.txn` (prepare) and `corral.tree` (apply, reads),
sessions in `sessions.py`, the client socket protocol in `connection.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from ..persistence import Recovered, recover
from ..persistence.purge import remove_stale_temps
from ..protocol import CloseSessionTxn, ConnectRequest, DeleteContainerRequest, DeleteRequest, OpCode, Record, TxnHeader
from ..tree import ApplyResult, DataTree
from ..tree.datatree import CONTAINER_OWNER
from ..txn import Preparer
from . import fourletter, memory
from .config import ConfigError, ServerConfig
from .connection import CLOSED, ClientConnection
from .ensemble import ForwardedRequest, QuorumHost
from .pipeline import CommitPipeline
from .sessions import SessionTracker
from .storage import Storage


def read_myid(config: ServerConfig) -> int:
    """dataDir/myid names this member of the ensemble, as in ZooKeeper."""
    path = config.data_dir / "myid"
    try:
        sid = int(path.read_text().strip())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: an ensemble member needs its id in dataDir/myid ({e})")
    if sid not in config.servers:
        raise ConfigError(f"{path}: id {sid} has no server.{sid} line")
    return sid

log = logging.getLogger("corral.server")


class ServerStats:
    """Counters behind srvr/stat/mntr (ZooKeeper's ServerStats)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.packets_received = 0
        self.packets_sent = 0
        self.min_lat = -1
        self.max_latency = 0
        self.total_lat = 0
        self.count = 0

    def latency(self, ms: int) -> None:
        if self.min_lat < 0 or ms < self.min_lat:
            self.min_lat = ms
        if ms > self.max_latency:
            self.max_latency = ms
        self.total_lat += ms
        self.count += 1

    def min_latency(self) -> int:
        return max(self.min_lat, 0)

    def avg_latency(self) -> float:
        return self.total_lat / self.count if self.count else 0.0


class CorralServer:
    def __init__(self, config: ServerConfig, server_id: int = 1, persist: bool = True) -> None:
        """`persist=False` runs purely in memory (unit tests); a real server always logs."""
        self.config = config
        self.server_id = server_id
        self.storage: Storage | None = None
        self.recovered: Recovered | None = None
        self.quorum: QuorumHost | None = None
        ensemble = len(config.servers) > 1
        if ensemble:
            server_id = self.server_id = read_myid(config)
        if persist:
            remove_stale_temps(config.data_dir)
            with memory.bulk_load():
                self.recovered = recover(config.data_dir, config.log_dir, replay=not ensemble)
            self.tree = self.recovered.tree
            self.storage = Storage(config)
        else:
            self.tree = DataTree()
        self.sessions = SessionTracker(config.tick_time, server_id, int(time.time() * 1000))
        now = self.now_ms()
        for sid, timeout in self.tree.sessions.items():
            # Restored sessions get a full timeout from now to reconnect, as in ZooKeeper.
            self.sessions.add(sid, timeout, now)
        self.preparer = Preparer(self.tree, self.sessions.valid, config.extended_types, config.enforce_quota)
        self.pipeline = CommitPipeline(self, self.storage)
        if ensemble:
            assert self.recovered is not None, "an ensemble member always persists"
            self.tree.init_config(config.membership(), 0, self.wall_ms())
            self.quorum = QuorumHost(self, server_id, self.recovered.entries)
        self.exit_code = 0
        self._stop_event: asyncio.Event | None = None
        self.connections: set[ClientConnection] = set()
        self._per_ip: Counter[str] = Counter()
        self._dirty: set[ClientConnection] = set()
        self.stats = ServerStats()
        self.started_mono = time.monotonic()
        self._listener: asyncio.AbstractServer | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._reaper_handle: asyncio.TimerHandle | None = None

    @property
    def mode(self) -> str:
        return "standalone" if self.quorum is None else self.quorum.mode

    @property
    def serving(self) -> bool:
        return self.quorum is None or self.quorum.serving

    def replace_tree(self, tree: DataTree) -> None:
        """A snapshot from the leader replaced our state (its watches belong to closed connections)."""
        self.tree = tree
        self.preparer.tree = tree
        self.preparer.reset()
        if self.quorum is not None:
            tree.init_config(self.config.membership(), 0, self.wall_ms())
        # The snapshot carries the ensemble's sessions: track exactly those, so that clients of live
        # sessions can reconnect here (ZooKeeper's learners load them from the snapshot too).
        now = self.now_ms()
        for sid in [s for s in self.sessions.sessions if s not in tree.sessions]:
            self.sessions.remove(sid)
        for sid, timeout in tree.sessions.items():
            self.sessions.add(sid, timeout, now)

    # ---- clocks -------------------------------------------------------------------------------

    @staticmethod
    def now_ms() -> int:
        """Monotonic milliseconds: session expiry must not jump with the wall clock."""
        return int(time.monotonic() * 1000)

    @staticmethod
    def wall_ms() -> int:
        """Wall-clock milliseconds for txn times (ctime/mtime), as ZooKeeper's leader stamps them."""
        return int(time.time() * 1000)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: ClientConnection(self), cfg.client_port_address, cfg.client_port,
            reuse_address=True, backlog=1024)
        self._tick_handle = loop.call_later(cfg.tick_time / 1000, self._tick)
        self._stop_event = asyncio.Event()
        if self.quorum is not None:
            await self.quorum.start()
        self._reaper_handle = loop.call_later(cfg.container_check_interval / 1000, self._reap_containers)
        if self.storage is not None:
            self.storage.start_autopurge()
            if self.recovered is not None and self.recovered.replayed:
                # Like ZooKeeper, start from a fresh snapshot so the next recovery replays little.
                self.storage.take_snapshot(self.tree)
        log.info("event=serving address=%s port=%d mode=%s tickTime=%d minSessionTimeout=%d "
                 "maxSessionTimeout=%d maxClientCnxns=%d jute.maxbuffer=%d", cfg.client_port_address,
                 cfg.client_port, self.mode, cfg.tick_time, cfg.min_timeout, cfg.max_timeout,
                 cfg.max_client_cnxns, cfg.jute_max_buffer)

    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self._reaper_handle is not None:
            self._reaper_handle.cancel()
        if self._listener is not None:
            self._listener.close()
        for c in list(self.connections):
            c.close()
        if self._listener is not None:
            await self._listener.wait_closed()
        if self.quorum is not None:
            await self.quorum.stop()
        if self.storage is not None:
            while self.pipeline.writing:
                await asyncio.sleep(0.01)
            self.storage.close()
        log.info("event=stopped sessions=%d znodes=%d zxid=0x%x", len(self.sessions), self.tree.node_count(),
                 self.tree.last_zxid)

    # ---- connections --------------------------------------------------------------------------

    def add_connection(self, conn: ClientConnection) -> None:
        self.connections.add(conn)
        self._per_ip[conn.peer[0]] += 1

    def remove_connection(self, conn: ClientConnection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self._per_ip[conn.peer[0]] -= 1
            if self._per_ip[conn.peer[0]] <= 0:
                del self._per_ip[conn.peer[0]]
        self._dirty.discard(conn)

    def count_from(self, ip: str) -> int:
        return self._per_ip.get(ip, 0)

    def mark_dirty(self, conn: ClientConnection) -> None:
        self._dirty.add(conn)

    def flush_dirty(self) -> None:
        dirty = self._dirty
        if dirty:
            self._dirty = set()
            for c in dirty:
                c.flush()

    def four_letter(self, conn: ClientConnection, cmd: str, rest: bytes) -> None:
        if not self.config.four_letter_allowed(cmd):
            text = f"{cmd} is not executed because it is not in the whitelist.\n"
        elif not self.serving and cmd not in ("ruok", "isro", "conf", "envi", "dirs", "gtmk", "stmk"):
            text = "This ZooKeeper instance is not currently serving requests\n"
        else:
            try:
                text = fourletter.COMMANDS[cmd](self, conn)
            except Exception as e:  # a monitoring command must never take the server down
                log.exception("event=four_letter_failed cmd=%s", cmd)
                text = f"error: {e}\n"
        conn.out += text.encode()
        conn.close()

    # ---- sessions -----------------------------------------------------------------------------

    def negotiate_timeout(self, requested: int) -> int:
        cfg = self.config
        return max(cfg.min_timeout, min(cfg.max_timeout, requested))

    def connect(self, conn: ClientConnection, req: ConnectRequest) -> None:
        """ZooKeeperServer.processConnectRequest."""
        tree = self.tree
        if not self.serving:
            conn.close("not serving: the ensemble has no quorum or is electing a leader")
            return
        if req.lastZxidSeen > tree.last_zxid:
            conn.close(f"refusing session: client has seen zxid 0x{req.lastZxidSeen:x}, our last zxid is "
                       f"0x{tree.last_zxid:x}; client must try another server")
            return
        timeout = self.negotiate_timeout(req.timeOut)
        now = self.now_ms()
        if req.sessionId == 0:
            sid = self.sessions.new_id()
            session = self.sessions.add(sid, timeout, now)
            session.conn = conn
            log.info("event=session_created session=0x%x timeout=%d peer=%s:%s",
                     sid & 0xFFFFFFFFFFFFFFFF, timeout, *conn.peer)
            if self.quorum is not None:
                req_fwd = ForwardedRequest(sid, 0, OpCode.createSession, timeout, b"", [])
                if not self.quorum.forward(req_fwd, lambda h, r: conn.established_session(session, timeout)):
                    self.sessions.remove(sid)
                    conn.close("no quorum to create the session")
                return
            hdr, txn = self.preparer.session_txn(sid, OpCode.createSession, timeout, self.wall_ms())
            self.pipeline.submit(hdr, txn, lambda h, r: conn.established_session(session, timeout))
            return
        session = self.sessions.get(req.sessionId)
        if session is None or session.closing:
            conn.refuse_session(f"session 0x{req.sessionId & 0xFFFFFFFFFFFFFFFF:x} expired or unknown")
            return
        if req.passwd != session.passwd:
            conn.refuse_session(f"wrong password for session 0x{req.sessionId & 0xFFFFFFFFFFFFFFFF:x}")
            return
        old = session.conn
        if old is not None and old is not conn and old.state != CLOSED:
            old.close("client reconnected on another connection")
        session.timeout = timeout
        session.conn = conn
        self.sessions.touch(session.id, now)
        log.info("event=session_reconnected session=0x%x timeout=%d peer=%s:%s",
                 session.id & 0xFFFFFFFFFFFFFFFF, timeout, *conn.peer)
        conn.established_session(session, timeout)

    def close_session(self, conn: ClientConnection, xid: int) -> None:
        session = conn.session
        assert session is not None
        self.sessions.set_closing(session.id)
        conn.queue_close_marker()
        conn.closing_requested = True
        log.info("event=session_closing session=0x%x reason=client_request", session.id & 0xFFFFFFFFFFFFFFFF)
        if self.quorum is not None:
            req = ForwardedRequest(session.id, xid, OpCode.closeSession, 0, b"", [])
            if not self.quorum.forward(req, lambda h, r: conn.session_closed(xid, h.zxid if h else 0)):
                conn.close("no quorum to close the session")
            return
        hdr, txn = self.preparer.session_txn(session.id, OpCode.closeSession, 0, self.wall_ms())
        self.pipeline.submit(hdr, txn, lambda h, r: conn.session_closed(xid, h.zxid if h else 0))

    def _expire(self) -> None:
        if self.quorum is not None and not self.quorum.is_leader:
            return  # only the leader expires sessions; the others pass activity on
        for session in self.sessions.expired(self.now_ms()):
            log.info("event=session_expired session=0x%x timeout=%d", session.id & 0xFFFFFFFFFFFFFFFF,
                     session.timeout)
            if self.quorum is not None:
                self.quorum.expire(session.id)
                continue
            hdr, txn = self.preparer.session_txn(session.id, OpCode.closeSession, 0, self.wall_ms())
            conn = session.conn
            self.pipeline.submit(hdr, txn, lambda h, r, c=conn: c is not None and c.close("session expired"))

    def after_apply(self, hdr: TxnHeader, txn: Record | None, res: ApplyResult) -> None:
        if hdr.type == OpCode.closeSession:
            s = self.sessions.get(hdr.clientId)
            conn = s.conn if s is not None else None
            self.sessions.remove(hdr.clientId)
            if self.quorum is not None and conn is not None and not conn.closing_requested:
                conn.close("session expired")
            if isinstance(txn, CloseSessionTxn) and txn.paths2Delete:
                log.info("event=ephemerals_deleted session=0x%x count=%d", hdr.clientId & 0xFFFFFFFFFFFFFFFF,
                         len(txn.paths2Delete))

    def _tick(self) -> None:
        cfg = self.config
        try:
            self._expire()
            limit = cfg.sessionless_cnxn_timeout / 1000
            now = time.monotonic()
            for c in list(self.connections):
                if c.session is None and c.state != CLOSED and now - c.created > limit:
                    c.close(f"no session established within {cfg.sessionless_cnxn_timeout} ms")
        except Exception:
            log.exception("event=tick_failed")
        finally:
            self._tick_handle = asyncio.get_running_loop().call_later(cfg.tick_time / 1000, self._tick)

    def _reap_containers(self) -> None:
        """ZooKeeper's ContainerManager: delete empty containers that once had children, and TTL
        nodes whose TTL has passed since their last change, through the normal write path."""
        cfg = self.config
        try:
            if self.quorum is not None and not self.quorum.is_leader:
                return  # in an ensemble only the leader reaps, through the quorum (ZooKeeper's ContainerManager)
            budget = max(1, cfg.container_max_per_minute * cfg.container_check_interval // 60000)
            now = self.wall_ms()
            doomed = []
            for path in list(self.tree.containers):
                node = self.tree.nodes.get(path)
                if node is None or node.children:
                    continue
                owner = node.ephemeral_owner
                if owner == CONTAINER_OWNER:
                    due = node.cversion > 0 or (
                        cfg.container_max_never_used > 0 and now - node.mtime > cfg.container_max_never_used)
                else:
                    due = now - node.mtime > (owner & 0xFFFFFFFFFF)
                if due:
                    doomed.append(path)
                    if len(doomed) >= budget:
                        break
            for path in doomed:
                if self.quorum is not None:
                    body = DeleteContainerRequest(path.encode()).to_bytes()
                    self.quorum.forward(ForwardedRequest(0, 0, OpCode.deleteContainer, 0, body, []), None)
                    continue
                hdr, txn = self.preparer.prepare(0, 0, OpCode.deleteContainer, DeleteRequest(path, -1), [], now)
                self.pipeline.submit(hdr, txn, lambda h, r, p=path: log.info(
                    "event=container_deleted path=%s err=%d", p, r.err if r else 0))
        except Exception:
            log.exception("event=container_reaper_failed")
        finally:
            self._reaper_handle = asyncio.get_running_loop().call_later(cfg.container_check_interval / 1000,
                                                                       self._reap_containers)

    def extra_metrics(self) -> list[tuple[str, object]]:
        rows = self.storage.metrics() if self.storage is not None else []
        if self.quorum is not None:
            rows += self.quorum.metrics()
        return rows

    def fatal(self, reason: str) -> None:
        """Stop serving at once: used when durability cannot be guaranteed any more."""
        log.critical("event=fatal reason=%s", reason)
        self.exit_code = 1
        for c in list(self.connections):
            c.close()
        if self._stop_event is not None:
            self._stop_event.set()

    async def wait_stopped(self) -> None:
        assert self._stop_event is not None
        await self._stop_event.wait()

    def request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
