"""One client TCP connection: framing, handshake, four-letter words, per-session FIFO.

An asyncio Protocol, not a stream task: `data_received` splits every complete frame out of the
buffer and handles it inline, appending replies to one output buffer that is written once per batch.
Ordering rule (ZooKeeper's): a session's replies leave in request order, and a read issued after a
write sees that write. Reads are answered at once unless a write of this connection is still in the
commit pipeline; then they wait in `deferred` behind it and run as soon as the write is applied.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

from ..protocol import (
    AuthPacket,
    DecodeError,
    Err,
    Id,
    OpCode,
    Perms,
    Record,
    SyncRequest,
    TxnHeader,
    Xid,
    decode_connect_request,
)
from ..tree import ApplyResult
from ..tree import acl as aclmod
from . import reads, replies
from .ensemble import ForwardedRequest
from .fourletter import FOUR_LETTER_WORDS
from .writes import decode_write

if TYPE_CHECKING:
    from .server import CorralServer
    from .sessions import Session

log = logging.getLogger("corral.cnxn")

_LEN = struct.Struct(">i")
_RH = struct.Struct(">ii")
_unpack_len = _LEN.unpack_from
_unpack_rh = _RH.unpack_from

HANDSHAKE, WAITING, CONNECTED, CLOSED = range(4)

WRITE_OPS = frozenset({OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
                       OpCode.setData, OpCode.setACL, OpCode.multi, OpCode.reconfig, OpCode.deleteContainer})
_WRITE_MARK = None  # placeholder in `deferred` for a write still in the pipeline

OP_NAMES = {
    OpCode.create: "CREA", OpCode.create2: "CREA", OpCode.createContainer: "CREA", OpCode.createTTL: "CREA",
    OpCode.delete: "DELE", OpCode.exists: "EXIS", OpCode.getData: "GETD", OpCode.setData: "SETD",
    OpCode.getACL: "GETA", OpCode.setACL: "SETA", OpCode.getChildren: "GETC", OpCode.getChildren2: "GETC",
    OpCode.sync: "SYNC", OpCode.ping: "PING", OpCode.multi: "MULT", OpCode.multiRead: "MLTR",
    OpCode.closeSession: "CLOS", OpCode.setWatches: "SETW", OpCode.setWatches2: "STW2", OpCode.auth: "AUTH",
    OpCode.getEphemerals: "GETE", OpCode.getAllChildrenNumber: "GETACN", OpCode.addWatch: "ADDW",
    OpCode.checkWatches: "CHKW", OpCode.removeWatches: "REMW", OpCode.whoAmI: "HOMI", OpCode.reconfig: "RCFG",
}


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: CorralServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.state = HANDSHAKE
        self.buf = bytearray()
        self.out = bytearray()
        self.deferred: deque = deque()
        self.session: Session | None = None
        self.session_id = 0
        self.auth: list[tuple[str, str]] = []
        self.peer = ("?", 0)
        self.with_readonly = True
        self.closing_requested = False
        self.paused = False
        self.created = time.monotonic()
        self.established = 0.0
        # `cons` statistics
        self.recved = 0
        self.sent = 0
        self.last_op = "NA"
        self.last_cxid = -1
        self.last_zxid = -1
        self.last_resp = 0.0
        self.last_lat = 0
        self.min_lat = -1
        self.max_lat = 0
        self.total_lat = 0
        self.count_lat = 0

    # ---- asyncio ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.peer = (peer[0], peer[1])
        self.auth = [("ip", self.peer[0])]
        srv = self.server
        limit = srv.config.max_client_cnxns
        if limit > 0 and srv.count_from(self.peer[0]) >= limit:
            log.warning("event=connection_refused peer=%s:%s reason=max_client_cnxns limit=%d", *self.peer, limit)
            self.state = CLOSED
            transport.abort()
            return
        srv.add_connection(self)

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        buf = self.buf
        buf += data
        if len(buf) > self.server.config.jute_max_buffer + 65536 and self.state == WAITING:
            self.close("too much data before the session was established")
            return
        self._process()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cleanup()

    def pause_writing(self) -> None:
        # The client does not read its replies: stop reading its requests until it catches up.
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.paused:
            self.paused = False
            self.transport.resume_reading()

    # ---- output -----------------------------------------------------------------------------

    def flush(self) -> None:
        if self.out and self.transport is not None and self.state != CLOSED:
            self.transport.write(self.out)
            self.out = bytearray()

    def send(self, data: bytes) -> None:
        self.out += data
        self.sent += 1
        self.server.stats.packets_sent += 1

    def process(self, event_type: int, path: str, zxid: int, acl: aclmod.AclList | None = None) -> None:
        """Watcher callback: queue a notification (flushed with the batch that fired it).

        Not if this connection may not READ the node (ZooKeeper 3.8.4/3.9.2: a watch, persistent or
        recursive ones above all, must not reveal the path of a node the watcher cannot read).
        """
        if self.state == CLOSED or (acl is not None and not self.can(acl, Perms.READ)):
            return
        self.out += replies.notification(event_type, path, zxid)
        self.sent += 1
        self.server.stats.packets_sent += 1
        self.server.mark_dirty(self)

    def close(self, reason: str | None = None, level: int = logging.INFO) -> None:
        """Send what is queued, then close. Logs one line when a reason is given."""
        if self.state == CLOSED:
            return
        if reason:
            log.log(level, "event=connection_closed peer=%s:%s session=0x%x reason=%s",
                    self.peer[0], self.peer[1], self.session_id & 0xFFFFFFFFFFFFFFFF, reason)
        self.flush()
        self.state = CLOSED
        if self.transport is not None:
            self.transport.close()
        self._cleanup()

    def _cleanup(self) -> None:
        self.state = CLOSED
        srv = self.server
        srv.remove_connection(self)
        srv.tree.watches.remove_watcher(self)
        if self.session is not None and self.session.conn is self:
            self.session.conn = None
        self.deferred.clear()

    # ---- input ------------------------------------------------------------------------------

    def _process(self) -> None:
        buf = self.buf
        off = 0
        n = len(buf)
        maxbuf = self.server.config.jute_max_buffer
        while n - off >= 4 and self.state in (HANDSHAKE, CONNECTED):
            if self.state == HANDSHAKE and off == 0 and bytes(buf[:4]) in FOUR_LETTER_WORDS:
                self.server.four_letter(self, bytes(buf[:4]).decode(), bytes(buf[4:]))
                return
            (length,) = _unpack_len(buf, off)
            if length < 0 or length > maxbuf:
                self.close(f"frame length {length} outside 0..jute.maxbuffer={maxbuf}", logging.WARNING)
                return
            end = off + 4 + length
            if end > n:
                break
            payload = bytes(buf[off + 4:end])
            off = end
            if self.state == HANDSHAKE:
                # The session may be established synchronously (a reconnect), and that resumes parsing
                # from the start of `buf`: drop the handshake bytes first and let that call take over.
                del buf[:end]
                self._handshake(payload)
                return
            self._request(payload)
        if off:
            del buf[:off]

    def _handshake(self, payload: bytes) -> None:
        try:
            req, has_ro = decode_connect_request(payload)
        except DecodeError as e:
            self.close(f"bad ConnectRequest: {e}", logging.WARNING)
            return
        self.with_readonly = has_ro
        self.state = WAITING  # requests wait in `buf` until the session is established
        self.server.connect(self, req)

    def established_session(self, session: Session, timeout: int) -> None:
        """The server accepted the handshake: answer it and serve whatever arrived meanwhile."""
        if self.state == CLOSED:
            return
        self.session = session
        self.session_id = session.id
        self.established = time.monotonic()
        self.state = CONNECTED
        resp = replies.connect_response(timeout, session.id, session.passwd, self.with_readonly)
        self.send(resp)
        if self.buf:
            self._process()
        self.server.mark_dirty(self)

    def refuse_session(self, reason: str) -> None:
        """Expired or unknown session, or wrong password: ZooKeeper answers timeOut=0 and closes."""
        self.send(replies.connect_response(0, 0, b"\0" * 16, self.with_readonly))
        self.close(reason)

    def _request(self, payload: bytes) -> None:
        srv = self.server
        srv.stats.packets_received += 1
        self.recved += 1
        if len(payload) < 8:
            self.close("request shorter than its header", logging.WARNING)
            return
        xid, op = _unpack_rh(payload, 0)
        body = payload[8:]
        session = self.session
        assert session is not None
        now = srv.now_ms()
        if not srv.sessions.touch(session.id, now) and op != OpCode.closeSession:
            # The session expired or is closing: ZooKeeper drops the connection.
            self.close("request on an expired session")
            return
        if srv.quorum is not None:
            srv.quorum.touch(session.id, session.timeout)
        self.last_op = OP_NAMES.get(op, "UNKN")
        self.last_cxid = xid
        if op in WRITE_OPS:
            self._write(xid, op, body, now)
        elif op in reads.HANDLERS or op == OpCode.ping:
            if self.deferred:
                self.deferred.append((xid, op, body, time.monotonic()))
            else:
                self._read(xid, op, body, time.monotonic())
        elif op == OpCode.sync:
            self._barrier(xid, op, body)
        elif op == OpCode.closeSession:
            srv.close_session(self, xid)
        elif op == OpCode.auth:
            if self.deferred:
                self.deferred.append((xid, op, body, time.monotonic()))
            else:
                self._read(xid, op, body, time.monotonic())
        else:
            # Unknown opcodes, a top-level `check`, sasl without SASL configured: Unimplemented, then close.
            code = Err.AUTHFAILED if op == OpCode.sasl else Err.UNIMPLEMENTED
            if self.deferred:
                self.deferred.append((xid, op, body, time.monotonic()))
            else:
                self._reject(xid, op, code)

    def _reject(self, xid: int, op: int, code: int) -> None:
        # ZooKeeper answers an invalid request with zxid -1 before closing.
        self.send(replies.error(xid, -1, code))
        self.close(f"unsupported opcode {op}", logging.WARNING)

    def _read(self, xid: int, op: int, body: bytes, t0: float) -> None:
        srv = self.server
        if op == OpCode.ping:
            self.send(replies.error(Xid.PING, srv.tree.last_zxid, 0))
            return
        if op == OpCode.auth:
            self._auth(xid, body)
            return
        handler = reads.HANDLERS.get(op)
        if handler is None:
            self._reject(xid, op, Err.AUTHFAILED if op == OpCode.sasl else Err.UNIMPLEMENTED)
            return
        try:
            reply = handler(self, xid, body)
        except DecodeError as e:
            log.info("event=bad_request peer=%s:%s session=0x%x op=%d reason=%s",
                     self.peer[0], self.peer[1], self.session_id & 0xFFFFFFFFFFFFFFFF, op, e)
            reply = replies.error(xid, srv.tree.last_zxid, Err.MARSHALLINGERROR)
        self.send(reply)
        self._latency(t0, srv.tree.last_zxid)

    def _auth(self, xid: int, body: bytes) -> None:
        """addauth: the reply carries the request's xid (clients use -4) and zxid 0, as in ZooKeeper."""
        srv = self.server
        try:
            pkt = AuthPacket.from_bytes(body)
        except DecodeError as e:
            self.close(f"undecodable auth packet: {e}", logging.WARNING)
            return
        try:
            ids = aclmod.authenticate(pkt.scheme, pkt.auth, srv.config.super_digest, self.peer[0])
        except aclmod.AuthFailedError as e:
            self.send(replies.error(xid, 0, Err.AUTHFAILED))
            self.close(f"authentication failed: {e}", logging.WARNING)
            return
        for i in ids:
            if i not in self.auth:
                self.auth.append(i)
        self.send(replies.error(xid, 0, 0))

    def can(self, acl: aclmod.AclList, perm: int) -> bool:
        return self.server.config.skip_acl or aclmod.check_acl(acl, perm, self.auth)

    def _write(self, xid: int, op: int, body: bytes, now: int) -> None:
        srv = self.server
        if srv.quorum is not None:
            t0 = time.monotonic()
            req = ForwardedRequest(self.session_id, xid, op, 0, body, [Id(s, i) for s, i in self.auth])
            self.deferred.append(_WRITE_MARK)
            if not srv.quorum.forward(req, lambda h, r: self._write_done(xid, op, h, r, t0)):
                self.close("no quorum to take the write")
            return
        wall = srv.wall_ms()
        try:
            req: Record | list = decode_write(op, body)
        except DecodeError as e:
            log.info("event=bad_request peer=%s:%s session=0x%x op=%d reason=%s",
                     self.peer[0], self.peer[1], self.session_id & 0xFFFFFFFFFFFFFFFF, op, e)
            hdr, txn = srv.preparer.error_txn(self.session_id, xid, Err.MARSHALLINGERROR, wall)
        else:
            hdr, txn = srv.preparer.prepare(self.session_id, xid, op, req, self.auth, wall)  # type: ignore[arg-type]
        self.deferred.append(_WRITE_MARK)
        t0 = time.monotonic()
        srv.pipeline.submit(hdr, txn, lambda h, r: self._write_done(xid, op, h, r, t0))

    def _barrier(self, xid: int, op: int, body: bytes) -> None:
        """sync: answered once everything submitted before it is applied."""
        try:
            path = SyncRequest.from_bytes(body).path
        except DecodeError:
            if self.deferred:
                self.deferred.append((xid, OpCode.sync, body, time.monotonic()))
            else:
                self.send(replies.error(xid, self.server.tree.last_zxid, Err.MARSHALLINGERROR))
            return
        self.deferred.append(_WRITE_MARK)
        t0 = time.monotonic()
        quorum = self.server.quorum
        if quorum is not None:
            def done(ok: bool) -> None:
                if ok:
                    self._sync_done(xid, path, t0)
                    self.server.flush_dirty()
                else:
                    self.close("sync failed: the server lost its leader")

            if not quorum.sync(done):
                self.close("no quorum to sync with")
            return
        self.server.pipeline.submit(None, None, lambda h, r: self._sync_done(xid, path, t0))

    def _sync_done(self, xid: int, path: str | None, t0: float) -> None:
        if self.state == CLOSED:
            return
        zxid = self.server.tree.last_zxid
        self.send(replies.frame(xid, zxid, 0, replies.buffer(None) if path is None else replies.ustring(path)))
        self._latency(t0, zxid)
        self._next_after_write()

    def _write_done(self, xid: int, op: int, hdr: TxnHeader | None, res: ApplyResult | None, t0: float) -> None:
        if self.state == CLOSED:
            return
        assert hdr is not None and res is not None
        zxid = hdr.zxid
        if res.err and (op != OpCode.multi or hdr.type == OpCode.error):
            self.send(replies.error(xid, zxid, res.err))
        else:
            self.send(replies.frame(xid, zxid, 0, replies.write_body(op, res, None)))
        self.last_zxid = zxid
        self._latency(t0, zxid)
        self._next_after_write()

    def _next_after_write(self) -> None:
        d = self.deferred
        if d and d[0] is _WRITE_MARK:
            d.popleft()
        while d and d[0] is not _WRITE_MARK and self.state == CONNECTED:
            xid, op, body, t0 = d.popleft()
            if op == OpCode.sync:  # only an undecodable sync is ever deferred
                self.send(replies.error(xid, self.server.tree.last_zxid, Err.MARSHALLINGERROR))
            elif op in reads.HANDLERS or op in (OpCode.ping, OpCode.auth):
                self._read(xid, op, body, t0)
            else:
                self._reject(xid, op, Err.AUTHFAILED if op == OpCode.sasl else Err.UNIMPLEMENTED)
        self.server.mark_dirty(self)

    def _latency(self, t0: float, zxid: int) -> None:
        now = time.monotonic()
        lat = int((now - t0) * 1000)
        self.last_resp = now
        self.last_lat = lat
        self.last_zxid = zxid
        if self.min_lat < 0 or lat < self.min_lat:
            self.min_lat = lat
        if lat > self.max_lat:
            self.max_lat = lat
        self.total_lat += lat
        self.count_lat += 1
        self.server.stats.latency(lat)

    def session_closed(self, xid: int, zxid: int) -> None:
        """closeSession applied: reply (in order) and close, as ZooKeeper does."""
        if self.state == CLOSED:
            return
        d = self.deferred
        if d and d[0] is _WRITE_MARK:
            d.popleft()
        self.send(replies.error(xid, zxid, 0))
        self.close()

    def queue_close_marker(self) -> None:
        self.deferred.append(_WRITE_MARK)

