"""The client side of a member: sessions on their connections, and every request's handler.

No sockets and no event loop: a connection is a `ServerConnection` (bytes in, events out) plus the
`Transport` it writes to, so the asyncio server and the seeded simulation run this same code.
Writes, session creation and session close go to the `QuorumHost` (the one write path) and are
answered when applied here; reads are answered from this member's tree in the connection's order.

Sessions follow the committed state: a reconnect is answered after a `sync` (ZooKeeper revalidates
it with the leader), accepted only for a session the committed session table holds, refused
("expired") only for one whose closeSession is applied, and held while the leader's closeSession for
it is in flight. A session's connection here is closed when its
closeSession is applied here, so nothing answers for a session once it is told it expired.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Final, Protocol

from ..protocol import (
    AuthPacket,
    CreateMode,
    DecodeError,
    GetSASLRequest,
    SyncRequest,
    TxnHeader,
)
from ..protocol.codes import (
    ERR_AUTHFAILED,
    ERR_EPHEMERALONLOCALSESSION,
    ERR_MARSHALLINGERROR,
    ERR_NOTREADONLY,
    ERR_SESSIONCLOSEDREQUIRESASLAUTH,
    ERR_UNIMPLEMENTED,
    OP_ADD_WATCH,
    OP_AUTH,
    OP_CHECK_WATCHES,
    OP_CLOSE_SESSION,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_SESSION,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_ERROR,
    OP_EXISTS,
    OP_GET_ACL,
    OP_GET_ALL_CHILDREN_NUMBER,
    OP_GET_CHILDREN,
    OP_GET_CHILDREN2,
    OP_GET_DATA,
    OP_GET_EPHEMERALS,
    OP_MULTI,
    OP_MULTI_READ,
    OP_PING,
    OP_RECONFIG,
    OP_REMOVE_WATCHES,
    OP_SASL,
    OP_SET_ACL,
    OP_SET_DATA,
    OP_SET_WATCHES,
    OP_SET_WATCHES2,
    OP_SYNC,
    OP_WHO_AM_I,
    XID_PING,
)
from ..security import audit as auditmod
from ..security.digest_md5 import DigestMd5Server, SaslError
from ..security.sasl_gssapi import GssapiServer
from ..security.setup import Security
from ..security.x509name import DerError, java_rfc2253
from ..tree import ApplyResult
from ..tree import acl as aclmod
from ..tree.datatree import CONFIG_NODE
from . import reads, replies, writes
from .config import ServerConfig
from .connection import (
    CLOSED,
    AsyncRequest,
    Closed,
    FourLetterWord,
    Handshake,
    Request,
    ServerConnection,
)
from .host import QuorumHost
from .metrics import ServerMetrics
from .sessions import Session, session_password

log = logging.getLogger("corral.cnxn")

OP_NAMES: Final[dict[int, str]] = {
    OP_CREATE: "CREA", OP_CREATE2: "CREA", OP_CREATE_CONTAINER: "CREA", OP_CREATE_TTL: "CREA",
    OP_DELETE: "DELE", OP_EXISTS: "EXIS", OP_GET_DATA: "GETD", OP_SET_DATA: "SETD",
    OP_GET_ACL: "GETA", OP_SET_ACL: "SETA", OP_GET_CHILDREN: "GETC", OP_GET_CHILDREN2: "GETC",
    OP_SYNC: "SYNC", OP_PING: "PING", OP_MULTI: "MULT", OP_MULTI_READ: "MLTR",
    OP_CLOSE_SESSION: "CLOS", OP_SET_WATCHES: "SETW", OP_SET_WATCHES2: "STW2", OP_AUTH: "AUTH",
    OP_GET_EPHEMERALS: "GETE", OP_GET_ALL_CHILDREN_NUMBER: "GETACN", OP_ADD_WATCH: "ADDW",
    OP_CHECK_WATCHES: "CHKW", OP_REMOVE_WATCHES: "REMW", OP_WHO_AM_I: "HOMI", OP_RECONFIG: "RCFG",
}
_MASK: Final = 0xFFFFFFFFFFFFFFFF
#: Requests the audit log records (AuditHelper: createTTL is not among them in ZooKeeper 3.8/3.9).
_AUDITED: Final = frozenset({OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER, OP_DELETE, OP_DELETE_CONTAINER,
                             OP_SET_DATA, OP_SET_ACL, OP_MULTI, OP_RECONFIG})
#: Seconds between two touches of a session by one connection: a burst of pipelined requests touches
#: once; expiry is bucketed by tickTime anyway.
TOUCH_EVERY: Final = 0.001


class Transport(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...

    def close(self) -> None:
        """Close after writing what was written."""


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
        # client response sizes (ServerStats.clientResponseStats, a BufferStats): -1 until the first
        self.resp_last = -1
        self.resp_min = -1
        self.resp_max = -1

    def responses(self, last: int, lo: int, hi: int) -> None:
        self.resp_last = last
        if self.resp_min < 0 or lo < self.resp_min:
            self.resp_min = lo
        if hi > self.resp_max:
            self.resp_max = hi

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


class Link:
    """One client connection as the frontend sees it: protocol state, transport, session, `cons` stats."""

    def __init__(self, conn: ServerConnection, transport: Transport, now: float) -> None:
        self.conn = conn
        self.transport = transport
        self.session: Session | None = None
        self.readonly_flag = True
        self.closing_requested = False
        self.created = now
        self.established = 0.0
        self.last_op = "NA"
        self.last_cxid = -1
        self.last_zxid = -1
        self.last_resp = 0.0
        self.last_lat = 0
        self.min_lat = -1
        self.max_lat = 0
        self.total_lat = 0
        self.count_lat = 0
        self.reported = 0  # replies counted in ServerStats.packets_sent so far
        self.touched = -1.0  # when this connection last touched its session
        self.secure = False  # came in on the TLS port
        self.tls_ids: list[aclmod.AuthId] = []  # from its verified client certificate (x509, super)
        self.sasl: DigestMd5Server | GssapiServer | None = None  # the SASL exchange in progress or done

    @property
    def peer(self) -> tuple[str, int]:
        return self.conn.peer

    @property
    def session_id(self) -> int:
        return self.conn.session_id

    @property
    def closed(self) -> bool:
        return self.conn.state == CLOSED


class Frontend:
    """See the module docstring. `clock()` gives monotonic seconds (latencies, `cons`, handshake timeouts)."""

    host: QuorumHost  # set right after the host is built (each needs the other)

    def __init__(self, config: ServerConfig, clock: Callable[[], float],
                 four_letter: Callable[[Link, str], str], on_fatal: Callable[[str], None]) -> None:
        self.config = config
        self.clock = clock
        self.four_letter = four_letter
        self.on_fatal = on_fatal
        # Insertion-ordered (dicts, not sets): iteration order must not depend on memory addresses,
        # so that a seeded simulation of this code replays exactly.
        self.links: dict[Link, None] = {}
        self.sessions: dict[int, Session] = {}  # sessions with a connection on this member
        self._by_conn: dict[ServerConnection, Link] = {}
        self._per_ip: Counter[str] = Counter()
        self._dirty: dict[Link, None] = {}
        self._awaiting_close: dict[int, list[tuple[Link, Handshake]]] = {}
        # (session, xid) of ephemeral creates from local sessions without upgrading: answered
        # EphemeralOnLocalSession, as Apache's member that holds the session answers them.
        self._ephemeral_on_local: set[tuple[int, int]] = set()
        self.stats = ServerStats()
        self.metrics = ServerMetrics()  # the server replaces it with the one it shares with host and storage
        self.security = Security()  # the server sets its own (corral.security.setup.build)
        self.audit: auditmod.AuditLog | None = None
        # An ensemble member's REVALIDATE to its leader (PeerTransport.revalidate_at_leader), if any.
        self.revalidate_at_leader: Callable[[int, int], None] | None = None

    # ---- connections ----------------------------------------------------------------------------

    def open(self, transport: Transport, peer: tuple[str, int], secure: bool = False,
             peer_cert: bytes | None = None) -> Link | None:
        """A new TCP connection; None (and the caller drops it) past maxClientCnxns for its address, or
        for a TLS client whose certificate cannot authenticate it. `peer_cert`: the verified client
        certificate (DER) of a TLS connection, if it sent one."""
        limit = self.config.max_client_cnxns
        if limit > 0 and self._per_ip.get(peer[0], 0) >= limit:
            log.warning("event=connection_refused peer=%s:%s reason=max_client_cnxns limit=%d", *peer, limit)
            self.metrics.connection_rejected.value += 1
            return None
        self.metrics.connection_request_count.value += 1
        log.debug("event=connection_opened peer=%s:%s", *peer)
        tls_ids: list[aclmod.AuthId] = []
        if peer_cert is not None:
            ids = self._x509_ids(peer, peer_cert)
            if ids is None:
                return None
            tls_ids = ids
        conn = ServerConnection(peer, self.config.jute_max_buffer, self.config.skip_acl, self._on_output)
        conn.auth.extend(tls_ids)
        link = Link(conn, transport, self.clock())
        link.secure = secure
        link.tls_ids = tls_ids
        self.links[link] = None
        self._by_conn[conn] = link
        self._per_ip[peer[0]] += 1
        return link

    def _x509_ids(self, peer: tuple[str, int], cert_der: bytes) -> list[aclmod.AuthId] | None:
        """NettyServerCnxnFactory.CertificateVerifier: a verified client certificate authenticates the
        connection in the x509 scheme (and as super for X509AuthenticationProvider.superUser); without
        the x509 provider registered, Apache closes such a connection, and so does corral (None)."""
        if "x509" not in self.security.schemes:
            log.warning("event=connection_refused peer=%s:%s reason=x509_provider_not_configured "
                        "hint=authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider", *peer)
            return None
        from cryptography import x509
        try:
            subject = x509.load_der_x509_certificate(cert_der).subject.public_bytes()
            dn = java_rfc2253(subject)
        except (ValueError, DerError) as e:
            log.warning("event=connection_refused peer=%s:%s reason=unreadable_client_certificate error=%s", *peer, e)
            return None
        ids: list[aclmod.AuthId] = [("x509", dn)]
        if self.security.x509_super is not None and dn == self.security.x509_super:
            ids.insert(0, ("super", dn))
        log.info("event=x509_authenticated peer=%s:%s id=%r super=%s", *peer, dn, len(ids) > 1)
        return ids

    def _on_output(self, conn: ServerConnection) -> None:
        link = self._by_conn.get(conn)
        if link is not None:
            self._dirty[link] = None

    def data_received(self, link: Link, data: bytes) -> None:
        conn = link.conn
        if conn.state == CLOSED:
            return
        self.metrics.bytes_received_count.value += len(data)
        conn.receive_data(data, self.clock())
        self._pump(link)
        self.host.flush()
        self._write(link)

    def connection_lost(self, link: Link) -> None:
        """The socket closed (or was closed): forget the connection."""
        link.conn.close()
        self._cleanup(link)

    def close(self, link: Link, reason: str | None = None, level: int = logging.INFO) -> None:
        """Send what is queued, then close. Logs one line when a reason is given."""
        if link.closed and link not in self.links:
            return
        if reason:
            log.log(level, "event=connection_closed peer=%s:%s session=0x%x reason=%s",
                    link.peer[0], link.peer[1], link.session_id & _MASK, reason)
        link.conn.close(reason)
        self._write(link)
        link.transport.close()
        self._cleanup(link)

    def _cleanup(self, link: Link) -> None:
        if link not in self.links:
            return
        del self.links[link]
        self._by_conn.pop(link.conn, None)
        ip = link.peer[0]
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]
        self._dirty.pop(link, None)
        self.host.tree.watches.remove_watcher(link.conn)
        session = link.session
        if session is not None and session.conn is link:
            session.conn = None

    def _write(self, link: Link) -> None:
        conn = link.conn
        data = conn.data_to_send()
        if data:
            stats = self.stats
            stats.packets_sent += conn.sent - link.reported
            link.reported = conn.sent
            if conn.out_max >= 0:
                stats.responses(conn.out_last, conn.out_min, conn.out_max)
                conn.out_min = conn.out_max = -1
            link.transport.write(data)

    def flush(self) -> None:
        """Write out everything queued (after a batch of commits)."""
        dirty = self._dirty
        if dirty:
            self._dirty = {}
            for link in dirty:
                self._write(link)

    def count_from(self, ip: str) -> int:
        return self._per_ip.get(ip, 0)

    def tick(self) -> None:
        """Close connections that never completed a handshake (sessionlessCnxnTimeout)."""
        limit = self.config.sessionless_cnxn_timeout / 1000
        now = self.clock()
        for link in [x for x in self.links if x.session is None and now - x.created > limit]:
            self.metrics.sessionless_connections_expired.value += 1
            self.close(link, f"no session established within {self.config.sessionless_cnxn_timeout} ms")

    # ---- HostListener ---------------------------------------------------------------------------

    def session_closed(self, session_id: int) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None and session.conn is not None:
            link = session.conn
            if not link.closing_requested:
                self.close(link, "session expired")
        for link, hs in self._awaiting_close.pop(session_id, ()):
            self._refuse(link, hs, f"session 0x{session_id & _MASK:x} expired")

    def stopped_serving(self, reason: str) -> None:
        """Like ZooKeeper: a member that stops serving closes its client connections; clients move on.
        Its local sessions are gone with it (the host dropped them)."""
        for link in list(self.links):
            self.close(link, f"server stopped serving: {reason}")
        self._awaiting_close.clear()
        self._ephemeral_on_local.clear()
        committed = self.host.tree.sessions
        for sid in [s for s in self.sessions if s not in committed]:
            del self.sessions[sid]

    def read_only_ended(self, reason: str) -> None:
        """ReadOnlyZooKeeperServer.shutdown: every connection closes, so read-only clients go and find a
        read-write member (their sessions were local to this one, and are gone)."""
        self.stopped_serving(f"leaving read-only mode: {reason}")

    def batch_done(self) -> None:
        self.flush()

    def fatal(self, reason: str) -> None:
        self.on_fatal(reason)

    # ---- events ---------------------------------------------------------------------------------

    def _pump(self, link: Link) -> None:
        conn = link.conn
        while True:
            ev = conn.next_event()
            if ev is None:
                return
            # exact types (the event classes are final): cheaper than isinstance, per request
            if type(ev) is Request:
                self._immediate(link, ev)
            elif type(ev) is AsyncRequest:
                self._async(link, ev)
            elif isinstance(ev, Handshake):
                self._connect(link, ev)
            elif isinstance(ev, FourLetterWord):
                self._four_letter(link, ev.command)
            elif isinstance(ev, Closed):
                self.close(link, ev.reason, logging.WARNING if ev.warning else logging.INFO)
                return

    def _four_letter(self, link: Link, cmd: str) -> None:
        try:
            text = self.four_letter(link, cmd)
        except Exception as e:  # a monitoring command must never take the server down
            log.exception("event=four_letter_failed cmd=%s", cmd)
            text = f"error: {e}\n"
        link.conn.send_text(text.encode())
        self.close(link)

    # ---- sessions -------------------------------------------------------------------------------

    def negotiate_timeout(self, requested: int) -> int:
        cfg = self.config
        return max(cfg.min_timeout, min(cfg.max_timeout, requested))

    def _connect(self, link: Link, hs: Handshake) -> None:
        """ZooKeeperServer.processConnectRequest."""
        host = self.host
        req = hs.request
        link.readonly_flag = hs.readonly_flag
        if not host.serving:
            if host.read_only:
                self._connect_read_only(link, hs)
            else:
                self.close(link, "not serving: the ensemble has no quorum or is electing a leader")
            return
        last = host.tree.last_zxid
        if req.lastZxidSeen > last:
            self.close(link, f"refusing session: client has seen zxid 0x{req.lastZxidSeen:x}, our last zxid is "
                             f"0x{last:x}; client must try another server")
            return
        timeout = self.negotiate_timeout(req.timeOut)
        if req.sessionId == 0 and host.local_sessions_enabled:
            self._new_local_session(link, timeout)
            return
        if req.sessionId == 0:
            sid = host.new_session_id()
            if not host.submit(sid, 0, OP_CREATE_SESSION, b"", [], self._created, (link, sid, timeout), timeout):
                host.forget_session_id(sid)
                self.close(link, "no quorum to create the session")
            return
        self._reconnect(link, hs, timeout)

    def _connect_read_only(self, link: Link, hs: Handshake) -> None:
        """ZooKeeperServer.processConnectRequest on Apache's ReadOnlyZooKeeperServer: only clients that
        can be read-only; new sessions are local to this member; a global session cannot resume here."""
        req = hs.request
        if not req.readOnly:
            self.close(link, "refusing session request for not-read-only client: this member is read-only")
            return
        last = self.host.tree.last_zxid
        if req.lastZxidSeen > last:
            self.close(link, f"refusing session: client has seen zxid 0x{req.lastZxidSeen:x}, our last zxid is "
                             f"0x{last:x}; client must try another server")
            return
        timeout = self.negotiate_timeout(req.timeOut)
        if req.sessionId == 0:
            self._new_local_session(link, timeout)
        elif not self.host.is_local_session(req.sessionId):
            self.close(link, f"refusing global session 0x{req.sessionId & _MASK:x} reconnection in read-only mode")
        else:
            self._resume_local(link, hs, timeout)

    def _new_local_session(self, link: Link, timeout: int) -> None:
        sid = self.host.new_local_session(timeout)
        self._attach(link, sid, timeout)
        log.info("event=session_created session=0x%x timeout=%d local=true read_only=%s peer=%s:%s", sid & _MASK,
                 timeout, self.host.read_only, *link.peer)

    def _resume_local(self, link: Link, hs: Handshake, timeout: int) -> None:
        """A local session reconnecting to its own member: nobody else knows it, so no revalidation."""
        sid = hs.request.sessionId
        if hs.request.passwd != session_password(sid):
            self._refuse(link, hs, f"wrong password for session 0x{sid & _MASK:x}")
            return
        self._attach(link, sid, timeout)
        log.info("event=session_reconnected session=0x%x timeout=%d local=true peer=%s:%s", sid & _MASK, timeout,
                 *link.peer)

    def _created(self, context: tuple[Link, int, int], hdr: TxnHeader, res: ApplyResult) -> None:
        link, sid, timeout = context
        if link.closed:
            return  # the client left: the session expires unless it reconnects in time
        self._attach(link, sid, timeout)
        log.info("event=session_created session=0x%x timeout=%d peer=%s:%s", sid & _MASK, timeout, *link.peer)

    def _attach(self, link: Link, sid: int, timeout: int) -> None:
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = Session(sid, timeout, link)
        old = session.conn
        if old is not None and old is not link and not old.closed:
            self.close(old, "client reconnected on another connection")
        session.timeout = timeout
        session.conn = link
        link.session = session
        link.established = self.clock()
        self.host.touch(sid, timeout)
        link.conn.established(sid, timeout, session.passwd, link.readonly_flag, self.host.read_only)
        self._pump(link)  # requests that arrived with the handshake
        self._dirty[link] = None

    def _reconnect(self, link: Link, hs: Handshake, timeout: int) -> None:
        """Like ZooKeeper's revalidation through the leader: the answer comes after a `sync`, so this
        member has applied every closeSession committed before the leader saw it (a lagging member must
        not accept a session it would otherwise still find in its stale tree, nor refuse one created on
        a member ahead of it), and a deposed leader cannot answer at all."""
        sid = hs.request.sessionId
        if self.host.is_local_session(sid):
            self._resume_local(link, hs, timeout)
            return
        if hs.request.passwd != session_password(sid):
            self._refuse(link, hs, f"wrong password for session 0x{sid & _MASK:x}")
            return

        def after_sync(ok: bool) -> None:
            if ok:
                self._revalidated(link, hs, timeout)
            else:
                self.close(link, "sync failed: the server lost its leader")
            self.flush()

        if self.revalidate_at_leader is not None and not self.host.is_leader:
            self.revalidate_at_leader(sid, timeout)  # goes out before the sync's request
        if not self.host.sync(after_sync):
            self.close(link, "no quorum to revalidate the session")

    def _revalidated(self, link: Link, hs: Handshake, timeout: int) -> None:
        if link.closed:
            return
        sid = hs.request.sessionId
        host = self.host
        if sid not in host.tree.sessions:
            self._refuse(link, hs, f"session 0x{sid & _MASK:x} expired or unknown")
            return
        if host.session_closing(sid):
            # The leader's closeSession is in flight: answer once it is applied, never before.
            self._awaiting_close.setdefault(sid, []).append((link, hs))
            return
        self._attach(link, sid, timeout)
        log.info("event=session_reconnected session=0x%x timeout=%d peer=%s:%s", sid & _MASK, timeout, *link.peer)

    def _refuse(self, link: Link, hs: Handshake, reason: str) -> None:
        if link.closed:
            return
        link.conn.refuse(hs.readonly_flag, reason)
        self.close(link, reason)

    # ---- requests -------------------------------------------------------------------------------

    def _async(self, link: Link, ev: AsyncRequest) -> None:
        session = link.session
        assert session is not None
        self.stats.packets_received += 1
        op = ev.op
        link.last_op = OP_NAMES.get(op, "UNKN")
        link.last_cxid = ev.xid
        if self.security.enforce and not self._authenticated(link):
            link.conn.finish(ev, replies.error(ev.xid, 0, ERR_SESSIONCLOSEDREQUIRESASLAUTH), close_after=True)
            self._refuse_unauthenticated(link, op)
            return
        host = self.host
        sid = session.id
        if ev.t0 - link.touched > TOUCH_EVERY:
            link.touched = ev.t0
            host.touch(sid, session.timeout)
        if sid in host.local_sessions and not self._local_async(link, ev):
            return
        if op == OP_SYNC:
            self._sync(link, ev)
        elif op == OP_CLOSE_SESSION:
            link.closing_requested = True
            log.info("event=session_closing session=0x%x reason=client_request", sid & _MASK)
            ev.context = link
            if not host.submit(sid, ev.xid, op, b"", [], self._closed, ev):
                self.close(link, "no quorum to close the session")
        else:
            ev.context = link
            if not host.submit(sid, ev.xid, op, ev.body, link.conn.auth, self._write_done, ev):
                self.close(link, "no quorum to take the write")

    def _local_async(self, link: Link, ev: AsyncRequest) -> bool:
        """A write, sync or close of a local session (QuorumZooKeeperServer.checkUpgradeSession and the
        read-only request filter): False when answered here, True to carry on down the write path."""
        host = self.host
        sid = link.session_id
        op = ev.op
        conn = link.conn
        if op == OP_CLOSE_SESSION:
            host.remove_local_session(sid)
            self.sessions.pop(sid, None)
            link.closing_requested = True
            log.info("event=session_closed session=0x%x local=true reason=client_request", sid & _MASK)
            conn.finish(ev, replies.error(ev.xid, host.tree.last_zxid, 0), close_after=True)
            self.close(link)
            return False
        if host.read_only:
            # ReadOnlyRequestProcessor: every write and sync answered NotReadOnly
            conn.finish(ev, replies.error(ev.xid, host.tree.last_zxid, ERR_NOTREADONLY))
            self._dirty[link] = None
            if conn.released:
                self._pump(link)
            return False
        if op in (OP_CREATE, OP_CREATE2, OP_MULTI) and _creates_ephemeral(op, ev.body):
            if not host.local_sessions_upgrading:
                if op != OP_MULTI:  # the leader refuses it; answered -120 (a multi: the leader's results)
                    self._ephemeral_on_local.add((sid, ev.xid))
            elif not host.upgrade_local_session(sid):
                self.close(link, "no quorum to upgrade the local session")
                return False
        return True

    def _write_done(self, ev: AsyncRequest, hdr: TxnHeader, res: ApplyResult) -> None:
        link: Link = ev.context  # type: ignore[assignment]  # set by _async
        conn = link.conn
        eol = bool(self._ephemeral_on_local) and self._ephemeral_on_local_answer(link.session_id, ev.xid)
        if conn.state == CLOSED:
            return
        zxid = hdr.zxid
        op = ev.op
        if self.audit is not None and op in _AUDITED:
            self._audit(link, ev, hdr, res)
        if res.err and (op != OP_MULTI or hdr.type == OP_ERROR):
            data = replies.error(ev.xid, zxid, ERR_EPHEMERALONLOCALSESSION if eol else res.err)
        elif op == OP_RECONFIG:  # GetDataResponse: the configuration now active, and the node's stat
            config = self.host.tree.data_of(CONFIG_NODE)
            data = replies.frame(ev.xid, zxid, 0, replies.buffer(config) + (res.stat or b""))
        else:
            data = replies.frame(ev.xid, zxid, 0, replies.write_body(op, res, None))
        conn.finish(ev, data)
        self._dirty[link] = None
        # _latency and ServerStats.latency, inlined: every write ends here
        now = self.clock()
        lat = int((now - ev.t0) * 1000)
        link.last_resp = now
        link.last_lat = lat
        link.last_zxid = zxid
        if lat < link.min_lat or link.min_lat < 0:
            link.min_lat = lat
        if lat > link.max_lat:
            link.max_lat = lat
        link.total_lat += lat
        link.count_lat += 1
        self.metrics.updatelatency.observe(lat)
        st = self.stats
        if lat < st.min_lat or st.min_lat < 0:
            st.min_lat = lat
        if lat > st.max_latency:
            st.max_latency = lat
        st.total_lat += lat
        st.count += 1
        if conn.released:
            self._pump(link)

    def _ephemeral_on_local_answer(self, sid: int, xid: int) -> bool:
        key = (sid, xid)
        if key in self._ephemeral_on_local:
            self._ephemeral_on_local.discard(key)
            return True
        return False

    def _closed(self, ev: AsyncRequest, hdr: TxnHeader, res: ApplyResult) -> None:
        """closeSession applied: reply (in order) and close, as ZooKeeper does."""
        link: Link = ev.context  # type: ignore[assignment]  # set by _async
        if link.closed:
            return
        link.conn.finish(ev, replies.error(ev.xid, hdr.zxid, res.err), close_after=True)
        self.close(link)

    def _sync(self, link: Link, ev: AsyncRequest) -> None:
        conn = link.conn
        try:
            path = SyncRequest.from_bytes(ev.body).path
        except DecodeError:
            conn.finish(ev, replies.error(ev.xid, self.host.tree.last_zxid, ERR_MARSHALLINGERROR))
            return

        def done(ok: bool) -> None:
            if not ok:
                self.close(link, "sync failed: the server lost its leader")
                return
            if conn.state == CLOSED:
                return
            zxid = self.host.tree.last_zxid
            conn.finish(ev, replies.frame(ev.xid, zxid, 0,
                                          replies.buffer(None) if path is None else replies.ustring(path)))
            self._dirty[link] = None
            self._latency(link, ev.t0, zxid)
            self._pump(link)

        if not self.host.sync(done):
            self.close(link, "no quorum to sync with")

    def _immediate(self, link: Link, ev: Request) -> None:
        session = link.session
        conn = link.conn
        assert session is not None
        self.stats.packets_received += 1
        op = ev.op
        xid = ev.xid
        link.last_op = OP_NAMES.get(op, "UNKN")
        link.last_cxid = xid
        host = self.host
        if ev.t0 - link.touched > TOUCH_EVERY:
            link.touched = ev.t0
            host.touch(session.id, session.timeout)
        tree = host.tree
        if op == OP_AUTH:
            self._auth(link, xid, ev.body)
            return
        if op == OP_SASL and self.security.sasl_enabled:
            self._sasl(link, xid, ev.body)
            return
        if self.security.enforce and not self._authenticated(link):
            conn.reply(replies.error(xid, 0, ERR_SESSIONCLOSEDREQUIRESASLAUTH))
            self._refuse_unauthenticated(link, op)
            return
        if op == OP_PING:
            conn.reply(replies.error(XID_PING, tree.last_zxid, 0))
            return
        handler = reads.HANDLERS.get(op)
        if handler is None:
            # Unknown opcodes, a top-level `check`, sasl without SASL configured: an error with zxid -1
            # (ZooKeeper's answer to an invalid request), then close.
            conn.reply(replies.error(xid, -1, ERR_AUTHFAILED if op == OP_SASL else ERR_UNIMPLEMENTED))
            self.close(link, f"unsupported opcode {op}", logging.WARNING)
            return
        try:
            reply = handler(tree, conn, xid, ev.body)
        except DecodeError as e:
            log.info("event=bad_request peer=%s:%s session=0x%x op=%d reason=%s",
                     link.peer[0], link.peer[1], session.id & _MASK, op, e)
            reply = replies.error(xid, tree.last_zxid, ERR_MARSHALLINGERROR)
        conn.reply(reply)
        lat = self._latency(link, ev.t0, tree.last_zxid)
        self.metrics.readlatency.observe(lat)

    def _auth(self, link: Link, xid: int, body: bytes) -> None:
        """addauth: the reply carries the request's xid (clients use -4) and zxid 0, as in ZooKeeper."""
        conn = link.conn
        try:
            pkt = AuthPacket.from_bytes(body)
        except DecodeError as e:
            self.close(link, f"undecodable auth packet: {e}", logging.WARNING)
            return
        try:
            ids = aclmod.authenticate(pkt.scheme, pkt.auth, self.config.super_digest, link.peer[0], link.tls_ids)
        except aclmod.AuthFailedError as e:
            self.metrics.auth_failed.value += 1
            conn.reply(replies.error(xid, 0, ERR_AUTHFAILED))
            self.close(link, f"authentication failed: {e}", logging.WARNING)
            return
        for i in ids:
            if i not in conn.auth:
                conn.auth.append(i)
        conn.reply(replies.error(xid, 0, 0))

    # ---- authentication ---------------------------------------------------------------------------

    def _authenticated(self, link: Link) -> bool:
        """AuthenticationHelper.isCnxnAuthenticated: an id in one of the enforced schemes."""
        enforce = self.security.enforce
        return any(scheme in enforce for scheme, _ in link.conn.auth)

    def _refuse_unauthenticated(self, link: Link, op: int) -> None:
        schemes = ",".join(sorted({s for s, _ in link.conn.auth}))
        self.close(link, f"request (op {op}) before authentication in {','.join(sorted(self.security.enforce))} "
                         f"(connection has: {schemes})", logging.WARNING)

    def _sasl(self, link: Link, xid: int, body: bytes) -> None:
        """ZooKeeperServer.processSasl with a DIGEST-MD5 or GSSAPI server: each token answered with the next one
        (zxid 0); on success the connection gains ("sasl", user) (and super for a zookeeper.superUser);
        a failure answers AuthFailed (SessionClosedRequireSaslAuth when SASL is enforced) and closes,
        unless allowSaslFailedClients keeps the connection."""
        conn = link.conn
        sec = self.security
        error: SaslError | None = None
        answer: bytes | None = b""
        try:
            token = GetSASLRequest.from_bytes(body).token or b""
        except DecodeError as e:
            token, error = b"", SaslError(f"undecodable SASL request: {e}")
        if error is None:
            if link.sasl is None:
                link.sasl = sec.sasl_server()
            try:
                answer = link.sasl.evaluate(token)
            except SaslError as e:
                error = e
        if error is not None:
            link.sasl = None
            log.warning("event=sasl_failed peer=%s:%s session=0x%x reason=%s", link.peer[0], link.peer[1],
                        link.session_id & _MASK, error)
            if sec.allow_sasl_failed and not sec.sasl_required:
                conn.reply(replies.frame(xid, 0, 0, replies.buffer(None)))
                return
            code = ERR_SESSIONCLOSEDREQUIRESASLAUTH if sec.sasl_required else ERR_AUTHFAILED
            conn.reply(replies.frame(xid, 0, code, replies.buffer(None)))
            self.close(link, "SASL authentication failed", logging.WARNING)
            return
        server = link.sasl
        assert server is not None
        if server.complete and server.user is not None and ("sasl", server.user) not in conn.auth:
            conn.auth.append(("sasl", server.user))
            if server.user in sec.sasl_supers:
                conn.auth.append(("super", ""))
            log.info("event=sasl_authenticated peer=%s:%s session=0x%x id=%s super=%s", link.peer[0], link.peer[1],
                     link.session_id & _MASK, server.user, server.user in sec.sasl_supers)
        conn.reply(replies.frame(xid, 0, 0, replies.buffer(answer)))

    # ---- audit ----------------------------------------------------------------------------------

    def _audit(self, link: Link, ev: AsyncRequest, hdr: TxnHeader, res: ApplyResult) -> None:
        """AuditHelper.addAuditLog for a write this member's client sent (Apache audits on the server
        holding the connection, after the transaction is applied)."""
        audit = self.audit
        assert audit is not None
        op = ev.op
        failed_txn = hdr.type == OP_ERROR
        try:
            req = writes.decode_write(op, ev.body) if op in _AUDITED else None
        except DecodeError:
            req = None
        who = auditmod.users(link.conn.auth)
        ip = link.peer[0]
        sid = link.session_id

        def line(operation: str, path: str | None, result: str, mode: str | None = None,
                 acl: str | None = None) -> None:
            audit.log(operation, result, session=sid, user=who, ip=ip, znode=path, znode_type=mode, acl=acl)

        result = "failure" if failed_txn or res.err else "success"
        path = getattr(req, "path", None) if failed_txn else res.path
        if op in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER):
            flags = getattr(req, "flags", None)
            line(auditmod.OP_CREATE, path, result, auditmod.CREATE_MODES.get(flags) if flags is not None else None)
        elif op in (OP_DELETE, OP_DELETE_CONTAINER):
            line(auditmod.OP_DELETE, getattr(req, "path", None) if failed_txn or res.path is None else res.path,
                 result)
        elif op == OP_SET_DATA:
            line(auditmod.OP_SETDATA, getattr(req, "path", None) if failed_txn or res.path is None else res.path,
                 result)
        elif op == OP_SET_ACL:
            acl = auditmod.acl_string(aclmod.from_records(getattr(req, "acl", None)))
            line(auditmod.OP_SETACL, getattr(req, "path", None) if failed_txn or res.path is None else res.path,
                 result, acl=acl)
        elif op == OP_RECONFIG:
            line(auditmod.OP_RECONFIG, None, result)
        elif op == OP_MULTI:
            if failed_txn:
                line(auditmod.OP_MULTI, None, "failure")
                return
            modes: dict[str, str] = {}
            if isinstance(req, list):
                for t, r in req:
                    if t in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER):
                        p, f = getattr(r, "path", None), getattr(r, "flags", None)
                        if p is not None and f is not None:
                            modes[p] = auditmod.CREATE_MODES.get(f, "")
            failed = False
            ops = req if isinstance(req, list) else []
            for i, sub in enumerate(res.multi):
                sub_path = sub.path if sub.path is not None else \
                    getattr(ops[i][1], "path", None) if i < len(ops) else None
                if sub.type in (OP_CREATE, OP_CREATE2, OP_CREATE_TTL, OP_CREATE_CONTAINER):
                    line(auditmod.OP_CREATE, sub_path, "success", modes.get(sub_path or ""))
                elif sub.type in (OP_DELETE, OP_DELETE_CONTAINER):
                    line(auditmod.OP_DELETE, sub_path, "success")
                elif sub.type == OP_SET_DATA:
                    line(auditmod.OP_SETDATA, sub_path, "success")
                elif sub.type == OP_ERROR:
                    failed = True
            if failed:
                line(auditmod.OP_MULTI, None, "failure")

    def _latency(self, link: Link, t0: float, zxid: int) -> int:
        now = self.clock()
        lat = int((now - t0) * 1000)
        link.last_resp = now
        link.last_lat = lat
        link.last_zxid = zxid
        if link.min_lat < 0 or lat < link.min_lat:
            link.min_lat = lat
        if lat > link.max_lat:
            link.max_lat = lat
        link.total_lat += lat
        link.count_lat += 1
        self.stats.latency(lat)
        return lat


_EPHEMERAL_FLAGS: Final = frozenset(int(m) for m in CreateMode if m.ephemeral)


def _creates_ephemeral(op: int, body: bytes) -> bool:
    """Whether a create/create2/multi would create an ephemeral node (the check Apache makes before
    upgrading a local session); an undecodable request is left to the leader to refuse."""
    try:
        req = writes.decode_write(op, body)
    except DecodeError:
        return False
    if isinstance(req, list):
        return any(t in (OP_CREATE, OP_CREATE2) and getattr(r, "flags", None) in _EPHEMERAL_FLAGS for t, r in req)
    return getattr(req, "flags", None) in _EPHEMERAL_FLAGS
