"""The server process: the asyncio wiring around the host and the frontend.

Everything with a meaning lives elsewhere: the write path, sessions and the quorum core's Ready loop
in `host.py`, request handling in `frontend.py`, the connection protocol in `connection.py`. This
module owns the event loop's resources: listening sockets, the peer transport (or none, for a
standalone server: an ensemble of one voter), the disk (`Storage`), timers, four-letter words.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import BUILD_NOTE, _compiled
from ..persistence.lock import DataDirLock, lock_data_dirs
from ..protocol import DeleteContainerRequest, OpCode, TxnHeader
from ..quorum import Message
from ..security import audit as audit_ops
from ..security import setup as security_setup
from ..security.audit import AuditLog
from ..security.quorum import build_quorum_security
from ..tree import ApplyResult, DataTree
from ..tree import acl as aclmod
from ..tree.datatree import CONTAINER_OWNER
from . import digests, dynamic_file, fourletter, memory
from .config import ServerConfig, resolve_member
from .frontend import Frontend, Link, ServerStats
from .host import TICKS_PER_TICKTIME, QuorumHost
from .metrics import ServerMetrics
from .peers import PeerTransport
from .protocol import ClientProtocol
from .reconfig import Membership
from .storage import Storage, recover_member

if TYPE_CHECKING:
    from ..admin import AdminServer, MetricsServer

log = logging.getLogger("corral.server")


def _reaped(path: str, hdr: TxnHeader, res: ApplyResult) -> None:
    log.info("event=container_deleted path=%s err=%d", path, res.err)


class SystemClock:
    """The host's clock in a real process: monotonic for ticks and expiry, wall time for stamps."""

    @staticmethod
    def monotonic_ms() -> float:
        return time.monotonic() * 1000

    @staticmethod
    def wall_ms() -> int:
        return int(time.time() * 1000)


class LoopScheduler:
    """The host's `call_soon`: the running loop's own, bound once (made inside the loop, as the server
    is). Not a method that looks the loop up per call: that cost a Python frame and, on Python 3.11, a
    getpid() system call (asyncio.get_running_loop) per scheduled drain."""

    def __init__(self) -> None:
        self.call_soon: Callable[[Callable[[], None]], object] = asyncio.get_running_loop().call_soon


class NoPeers:
    """The peer network of a standalone server: an ensemble of one has nobody to talk to."""

    def send(self, to: int, msg: Message) -> None:
        pass


class CorralServer:
    def __init__(self, config: ServerConfig, dir_lock: DataDirLock | None = None) -> None:
        self.config = config
        ensemble = config.is_ensemble
        self.server_id = (config.my_id if config.my_id is not None else resolve_member(config)) if ensemble else 1
        # Before recovery: a second server on these files would recover them too, then fight over them.
        self.dir_lock = dir_lock or lock_data_dirs(config.data_dir, config.log_dir, config.data_dir_autocreate)
        # Neither `report` nor `state` is kept: their lists of the logged txns after the snapshot (tens of
        # MB at a million znodes) are the quorum core's to hold, and it forgets them once applied.
        tree, state, report = recover_member(config)
        self.storage = Storage(config)
        self.metrics = ServerMetrics()  # one set, fed by the frontend, the host and the storage
        self.metrics.startup(report)
        self.storage.metrics = self.metrics
        tree.watches.set_fanout(self.metrics.watch_fanout)  # and Storage, on a tree from the leader
        self.frontend = Frontend(config, time.monotonic, self._four_letter, self.fatal)
        self.frontend.metrics = self.metrics
        self.security = security_setup.build(config)
        self.frontend.security = self.security
        aclmod.configure(self.security.schemes, self.security.x509_super)
        self.audit: AuditLog | None = None
        if config.audit_enable:
            self.audit = AuditLog((config.log_dir_audit or config.data_dir) / config.audit_file)
            self.frontend.audit = self.audit
            tree.on_ephemeral_deleted = self._audit_ephemeral
        self.peers: PeerTransport | None = None
        if ensemble:
            self.peers = PeerTransport(self.server_id, config.servers, config.membership().encode(),
                                       self._on_peer_message, self._on_peer_lost, self._learner_session,
                                       dial_window=config.init_limit * config.tick_time / 1000,
                                       revalidate=self._revalidate,
                                       newleader_config=lambda epoch: self.host.newleader_config(epoch).text().encode(),
                                       on_leader_config=self._leader_config,
                                       security=build_quorum_security(config))
            if config.reconfig_enabled and config.dynamic_config_file is None and config.path is not None:
                dynamic_file.backup_static(config.path)  # QuorumPeerConfig.backupOldConfig
            self.peers.election.on_newer_config = self._newer_config
        if self.peers is not None:
            self.frontend.revalidate_at_leader = self.peers.revalidate_at_leader
        self.host = QuorumHost(self.server_id, config, tree, state, self.storage, self.peers or NoPeers(),
                               SystemClock(), LoopScheduler(), self.frontend, incarnation=random.getrandbits(62))
        self.frontend.host = self.host
        self.host.config_activated = self._config_activated
        self.host.metrics = self.metrics
        if self.peers is not None:
            self.peers.metrics = self.metrics
        self.host.preparer.on_quota_exceeded = self.metrics.quota_exceeded_in
        self.admin: AdminServer | None = None  # built by start(), once the logged txns are committed again
        self.metrics_server: MetricsServer | None = None
        if config.prometheus_enabled:
            from ..admin.prometheus import MetricsServer

            self.metrics_server = MetricsServer(self, config.prometheus_host, config.prometheus_port)
        self.exit_code = 0
        self._stop_event: asyncio.Event | None = None
        self.started_mono = time.monotonic()
        self._listener: asyncio.Server | None = None
        # This member's client address as its server line gives it (what a reconfig may change)
        me = Membership.of_config(config).servers.get(self.server_id)
        self._client_spec = None if me is None else me.client
        self._secure_listener: asyncio.Server | None = None
        self._handles: list[asyncio.TimerHandle] = []

    # ---- views (four-letter words, tests) ------------------------------------------------------

    @property
    def tree(self) -> DataTree:
        return self.host.tree

    @property
    def mode(self) -> str:
        return self.host.mode

    @property
    def serving(self) -> bool:
        return self.host.serving

    @property
    def stats(self) -> ServerStats:
        return self.frontend.stats

    @property
    def connections(self) -> dict[Link, None]:
        return self.frontend.links

    @property
    def outstanding(self) -> int:
        return self.host.peer.outstanding

    @staticmethod
    def now_ms() -> int:
        return int(time.monotonic() * 1000)

    @staticmethod
    def wall_ms() -> int:
        return int(time.time() * 1000)

    async def _start_admin(self) -> None:
        """The AdminServer after the client port, in the order of Apache's QuorumPeer.start (a failure
        to bind it is logged and the server goes on serving, as there). Built only now: aiohttp and the
        web console (~11 MB) are not resident while a restart commits its logged txns again, the peak of
        its memory. aiohttp's import (~140 ms, most of it loading CA certificates for its client's TLS
        contexts) runs on a worker thread, so the event loop serves the clients that reconnect after a
        restart meanwhile; aiohttp imports no corral module, so the two threads never wait on each
        other's import locks. corral.admin is imported here, not at module level: it reads this
        package's modules (a cycle)."""
        await asyncio.to_thread(importlib.import_module, "aiohttp.web")
        from ..admin.http import AdminServer

        cfg = self.config
        self.admin = AdminServer(self, cfg.admin_address, cfg.admin_port, cfg.admin_command_url)
        if cfg.console_enable:
            self._mount_console()  # before start(): mounted as a subapp (admin.add_subapp)
        await self.admin.start()

    def _mount_console(self) -> None:
        """The web console at /console/ of the admin server: a ZooKeeper client of this server's plain
        client port (docs/operations.md, "Web console")."""
        assert self.admin is not None
        if not self.config.plain_client_port:
            log.warning("event=console_not_mounted reason=%r", "no plain clientPort for the console to connect to")
            return
        from ..console import console_app, console_config

        self.admin.add_subapp("/console/", console_app(console_config(self.config)))

    def extra_metrics(self) -> list[tuple[str, object]]:
        return self.storage.corral_metrics() + self.host.corral_metrics()

    @property
    def port(self) -> int:
        listener = self._listener or self._secure_listener
        assert listener is not None
        return int(listener.sockets[0].getsockname()[1])

    @property
    def secure_port(self) -> int | None:
        if self._secure_listener is None:
            return None
        return int(self._secure_listener.sockets[0].getsockname()[1])

    def _audit_ephemeral(self, session: int, path: str, deleted: bool) -> None:
        """DataTree.killSession's audit line: the server's user, no ip."""
        assert self.audit is not None
        self.audit.log(audit_ops.OP_EPHEMERAL_DELETED, "success" if deleted else "failure", session=session,
                       user=self.audit.server_user, znode=path)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self.peers is not None:
            await self.peers.start()
        if (self.security.tls is not None and cfg.secure_client_port is not None) or (
                self.peers is not None and self.peers.security is not None and self.peers.security.reload):
            self._every(1.0, self._check_tls_files)
        with memory.paused():  # a restart commits its logged txns again here
            self.host.start()
        if cfg.plain_client_port:
            self._listener = await loop.create_server(
                lambda: ClientProtocol(self.frontend), cfg.client_port_address, cfg.client_port,
                reuse_address=True, backlog=1024)
        tls = self.security.tls
        if tls is not None and cfg.secure_client_port is not None:
            self._secure_listener = await loop.create_server(
                lambda: ClientProtocol(self.frontend, secure=True),
                cfg.secure_client_port_address or cfg.client_port_address, cfg.secure_client_port,
                reuse_address=True, backlog=1024, ssl=tls.listening,
                ssl_handshake_timeout=cfg.sessionless_cnxn_timeout / 1000)
            log.info("event=serving_tls address=%s port=%d clientAuth=%s", cfg.secure_client_port_address or
                     cfg.client_port_address, cfg.secure_client_port, cfg.ssl_client_auth)
        if self.audit is not None:
            self.audit.server_event(audit_ops.OP_START, "success")
        self._every(cfg.tick_time / 1000 / TICKS_PER_TICKTIME, self.host.tick)
        if self.peers is not None:
            self._every(cfg.tick_time / 1000 / TICKS_PER_TICKTIME, self.peers.tick)
        self._every(cfg.tick_time / 1000, self.frontend.tick)
        self._every(cfg.container_check_interval / 1000, self._reap_containers)
        self._every(digests.IDLE_CHECK_SECONDS, lambda: digests.drop_if_idle(self.tree))
        self.storage.start_autopurge()
        if cfg.admin_enabled:
            await self._start_admin()
        if self.metrics_server is not None:
            await self.metrics_server.start()
        log.info("event=serving address=%s port=%d mode=%s tickTime=%d minSessionTimeout=%d "
                 "maxSessionTimeout=%d maxClientCnxns=%d jute.maxbuffer=%d", cfg.client_port_address,
                 cfg.client_port, self.mode, cfg.tick_time, cfg.min_timeout, cfg.max_timeout,
                 cfg.max_client_cnxns, cfg.jute_max_buffer)
        compiled = _compiled.loaded_compiled()
        log.info("event=build compiled_modules=%d/%d%s", len(compiled), len(_compiled.COMPILED),
                 f" note={BUILD_NOTE!r}" if BUILD_NOTE else "")

    def _every(self, seconds: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        slot = len(self._handles)

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("event=timer_failed fn=%s", getattr(fn, "__qualname__", fn))
            finally:
                self._handles[slot] = loop.call_later(seconds, run)

        self._handles.append(loop.call_later(seconds, run))

    async def stop(self) -> None:
        for h in self._handles:
            h.cancel()
        if self.admin is not None:
            await self.admin.stop()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        listeners = [x for x in (self._listener, self._secure_listener) if x is not None]
        for listener in listeners:
            listener.close()
        for link in list(self.frontend.links):
            self.frontend.close(link)
        for listener in listeners:
            await listener.wait_closed()
        if self.peers is not None:
            await self.peers.stop()
        for _ in range(1000):  # let the fsync in flight finish (bounded: 10 s)
            if not self.host.log_busy:
                break
            await asyncio.sleep(0.01)
        self.storage.close()
        self.dir_lock.release()
        if self.audit is not None:
            self.audit.server_event(audit_ops.OP_STOP, "invoked")
            self.audit.close()
        log.info("event=stopped sessions=%d znodes=%d zxid=0x%x", len(self.tree.sessions), self.tree.node_count(),
                 self.tree.last_zxid)

    def _check_tls_files(self) -> None:
        """X509Util's file watcher: new handshakes use changed key and trust stores (polled each second);
        between members only with sslQuorumReloadCertFiles, as in ZooKeeper."""
        if self.security.tls is not None:
            self.security.tls.check()
        if self.peers is not None and self.peers.security is not None:
            self.peers.security.check_files()

    def _on_peer_message(self, frm: int, msg: Message) -> None:
        self.host.on_message(frm, msg)

    def _on_peer_lost(self, sid: int, session: int) -> None:
        self.host.on_disconnect(sid, session)

    def _learner_session(self) -> tuple[int, int] | None:
        return self.host.peer.learner_session

    def _newer_config(self, peer: int, text: bytes) -> None:
        self.host.adopt_config(peer, text)

    def _leader_config(self, leader: int, text: bytes) -> None:
        self.host.leader_config = text

    def _config_activated(self, membership: Membership) -> None:
        """A new version of the configuration is active: notifications carry it, and (when the server
        was started from a zoo.cfg) it is written to `zoo.cfg.dynamic.<version>` and zoo.cfg points
        there, as QuorumPeer.setQuorumVerifier(writeToDisk) does; a restart reads it back."""
        cfg = self.config
        assert self.peers is not None
        self.peers.set_config_text(membership.text().encode())
        self.peers.add_members(cfg.servers)
        mine = membership.servers.get(self.server_id)
        if mine is not None and mine.client is not None and mine.client != self._client_spec:
            self._client_spec = mine.client
            if self._listener is not None:
                asyncio.get_running_loop().create_task(self._rebind_clients(*mine.client))
        if cfg.path is None:
            return
        me = cfg.servers.get(self.server_id)
        try:
            path = dynamic_file.write_dynamic(cfg.path, membership)
            dynamic_file.edit_static(cfg.path, path, erase_client=me is not None and me.client_port is not None)
        except OSError as e:
            log.error("event=config_write_failed file=%s reason=%s", cfg.path, e)
            return
        cfg.dynamic_config_file = path
        cfg.origins["dynamicConfigFile"] = f"{cfg.path} (rewritten at version {membership.version:x})"
        cfg.servers_source = str(path)
        log.info("event=config_written file=%s dynamic=%s version=%x", cfg.path, path, membership.version)

    async def _rebind_clients(self, address: str, port: int) -> None:
        """A reconfig changed this member's client address: listen there instead, as Apache's
        ServerCnxnFactory.reconfigure does (connections already open stay)."""
        cfg = self.config
        old = self._listener
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: ClientProtocol(self.frontend), address, port, reuse_address=True, backlog=1024)
        except OSError as e:
            log.error("event=client_rebind_failed address=%s port=%d reason=%s", address, port, e)
            return
        if old is not None:
            old.close()
        log.info("event=client_address_changed address=%s port=%d previous=%s:%d", address, port,
                 cfg.client_port_address, cfg.client_port)
        cfg.client_port_address, cfg.client_port = address, port

    def _revalidate(self, session_id: int, timeout: int) -> bool:
        return self.host.revalidate(session_id, timeout)

    def _four_letter(self, link: Link, cmd: str) -> str:
        if not self.config.four_letter_allowed(cmd):
            return f"{cmd} is not executed because it is not in the whitelist.\n"
        if not self.serving and not self.host.read_only and cmd not in ("ruok", "isro", "conf", "envi", "dirs",
                                                                         "gtmk", "stmk"):
            return "This ZooKeeper instance is not currently serving requests\n"
        return fourletter.COMMANDS[cmd](self, link)

    def _reap_containers(self) -> None:
        """ZooKeeper's ContainerManager: the leader deletes empty containers that once had children,
        and TTL nodes whose TTL has passed since their last change, through the write path."""
        cfg = self.config
        if not self.host.is_leader:
            return
        budget = max(1, cfg.container_max_per_minute * cfg.container_check_interval // 60000)
        now = self.wall_ms()
        tree = self.tree
        doomed: list[str] = []
        for path in list(tree.containers):
            node = tree.get(path)  # a packed leaf's copy: read only
            if node is None or node.kids is not None:
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
            body = DeleteContainerRequest(path.encode()).to_bytes()

            self.host.submit(0, 0, OpCode.deleteContainer, body, [], _reaped, path)

    def fatal(self, reason: str) -> None:
        """Stop serving at once: used when durability cannot be guaranteed any more."""
        log.critical("event=fatal reason=%s", reason)
        self.metrics.unrecoverable_error_count.value += 1
        self.exit_code = 1
        for link in list(self.frontend.links):
            self.frontend.close(link)
        if self._stop_event is not None:
            self._stop_event.set()

    async def wait_stopped(self) -> None:
        assert self._stop_event is not None
        await self._stop_event.wait()

    def request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
