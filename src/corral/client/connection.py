"""One TCP connection to one server: framing, handshake, pipelined requests, pings, notifications.

An asyncio Protocol rather than a stream task, for the same reason as the server's: `data_received`
splits every complete frame out of the buffer and handles it inline, and requests issued in one
event-loop turn leave in one `transport.write`. That keeps a deeply pipelined session (the load
generator runs dozens of requests per session) cheap on both sides.

Matching rules (ZooKeeper's `ClientCnxn.readResponse`):

* replies to ordinary requests (xid >= 0) and to SetWatches (xid -8) arrive in request order, so
  they are matched against the head of a FIFO; a mismatch is a protocol violation and drops the
  connection;
* xid -1 is a watch notification, xid -2 a ping reply, xid -4 an auth reply (auth is handled outside
  the server's pipeline, so its reply may overtake others: it has its own FIFO);
* `lastZxidSeen` is advanced only from ordinary replies with zxid > 0.

When the connection drops, every request still in flight fails with ConnectionLossError: it may or
may not have been applied, and only the caller can decide whether retrying is safe.

All encoding and decoding goes through `corral.protocol`'s jute records; this module only frames.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, overload

from ..protocol import (
    AuthPacket,
    ConnectRequest,
    ConnectResponse,
    DecodeError,
    Err,
    OpCode,
    ReadBuffer,
    ReplyHeader,
    RequestHeader,
    WatcherEvent,
    Xid,
)
from .errors import AuthFailedError, ConnectionLossError, KeeperError, MarshallingError, error_for

__all__ = ["Body", "Connection", "Decoder", "Hook", "SessionInfo"]

log = logging.getLogger("corral.client")

_LEN = struct.Struct(">i")
_pack_len_into = _LEN.pack_into
_unpack_len = _LEN.unpack_from
_REPLY_HEADER_SIZE = 16
_PING_FRAME = _LEN.pack(8) + RequestHeader(Xid.PING, OpCode.ping).to_bytes()

T = TypeVar("T")

Decoder = Callable[[ReadBuffer, int], tuple[T, int]]
"""Decodes a reply body of type T at an offset: a record class's `deserialize`, or the multi decoder."""
Hook = Callable[[int], None]
"""Runs with the reply's error code just before the caller is woken (registers watches in order)."""


class Body(Protocol):
    """A request body: any jute record, or the multi request that writes several."""

    def serialize(self, out: bytearray) -> None: ...


class SessionInfo:
    """State shared by all connections of one session: the zxid the client has seen."""

    __slots__ = ("last_zxid",)

    def __init__(self) -> None:
        self.last_zxid = 0


class _Pending:
    __slots__ = ("decode", "fut", "hook", "path", "xid")

    def __init__(self, xid: int, fut: asyncio.Future[Any], decode: Decoder[Any] | None, path: str | None,
                 hook: Hook | None) -> None:
        self.xid = xid
        self.fut = fut
        self.decode = decode
        self.path = path
        self.hook = hook


class Connection(asyncio.Protocol):
    """A single connection; the owning `Client` creates one per (re)connect attempt.

    Args:
        info: the session's shared `SessionInfo` (lastZxidSeen is updated in place).
        on_event: called inline with every WatcherEvent the server pushes.
        max_buffer: replies longer than this drop the connection (ZooKeeper's jute.maxbuffer check).
    """

    def __init__(self, info: SessionInfo, on_event: Callable[[WatcherEvent], None],
                 max_buffer: int = 0xFFFFF + 1024 * 1024) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.info = info
        self.on_event = on_event
        self.max_buffer = max_buffer
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        self.buf = bytearray()
        self.out = bytearray()
        self.flush_scheduled = False
        self.pending: deque[_Pending] = deque()
        self.auth_pending: deque[asyncio.Future[None]] = deque()
        self.handshake: asyncio.Future[ConnectResponse] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_reason: str | None = None
        self.established = False
        self.read_only = False  # the server said readOnly in its ConnectResponse
        self.xid = 0
        now = time.monotonic()
        self.last_recv = now
        self.last_send = now

    # ---- asyncio ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection always gets a Transport; asyncio's signature only promises the base class.
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.close_reason or (f"connection lost: {exc}" if exc else "server closed the connection")
        self.close_reason = reason
        self.transport = None
        self._fail_all(lambda p: ConnectionLossError(f"KeeperErrorCode = ConnectionLoss for {p} ({reason})"
                                                     if p else f"KeeperErrorCode = ConnectionLoss ({reason})",
                                                     path=p))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_recv = time.monotonic()
        buf = self.buf
        buf += data
        off = 0
        n = len(buf)
        try:
            while n - off >= 4:
                (length,) = _unpack_len(buf, off)
                if length < 0 or length > self.max_buffer:
                    self.abort(f"reply length {length} out of range")
                    return
                end = off + 4 + length
                if end > n:
                    break
                frame = bytes(buf[off + 4:end])
                off = end
                if self.established:
                    self._reply(frame)
                else:
                    self._handshake_reply(frame)
                if self.transport is None:
                    return
        finally:
            if off:
                del buf[:off]

    # ---- output -------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None:
            data, self.out = self.out, bytearray()
            self.transport.write(data)
            self.last_send = time.monotonic()

    def send_connect(self, req: ConnectRequest) -> None:
        """The handshake: ConnectRequest without a RequestHeader (written at once)."""
        out = bytearray(b"\0\0\0\0")
        req.serialize(out)
        _pack_len_into(out, 0, len(out) - 4)
        self.out += out
        self._flush()

    def next_xid(self) -> int:
        # Java starts at 1 and wraps from Integer.MAX_VALUE back to 1; negative xids are reserved.
        x = self.xid + 1
        if x > 0x7FFFFFFF:
            x = 1
        self.xid = x
        return x

    def _frame(self, xid: int, op: int, body: Body | None) -> None:
        out = self.out
        start = len(out)
        out += b"\0\0\0\0"
        RequestHeader(xid, op).serialize(out)
        if body is not None:
            body.serialize(out)
        _pack_len_into(out, start, len(out) - start - 4)
        self._schedule_flush()

    @overload
    def submit(self, op: int, body: Body | None, decode: Decoder[T], path: str | None = None,
               hook: Hook | None = None, xid: int | None = None) -> asyncio.Future[T]: ...

    @overload
    def submit(self, op: int, body: Body | None, decode: None, path: str | None = None,
               hook: Hook | None = None, xid: int | None = None) -> asyncio.Future[None]: ...

    def submit(self, op: int, body: Body | None, decode: Decoder[T] | None, path: str | None = None,
               hook: Hook | None = None, xid: int | None = None) -> asyncio.Future[Any]:
        """Queue one request; the returned future gets the decoded reply body (None without a decoder)
        or the KeeperError for the reply's error code."""
        fut: asyncio.Future[Any] = self.loop.create_future()
        if self.transport is None:
            fut.set_exception(ConnectionLossError(path=path))
            return fut
        if xid is None:
            xid = self.next_xid()
        self._frame(xid, op, body)
        self.pending.append(_Pending(xid, fut, decode, path, hook))
        return fut

    def submit_auth(self, body: AuthPacket) -> asyncio.Future[None]:
        """An AuthPacket (xid -4); its future gets None, or AuthFailedError."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if self.transport is None:
            fut.set_exception(ConnectionLossError())
            return fut
        self._frame(Xid.AUTH, OpCode.auth, body)
        self.auth_pending.append(fut)
        return fut

    def ping(self) -> None:
        """A ping (xid -2): keeps the session alive and proves the server still answers."""
        if self.transport is not None:
            self.out += _PING_FRAME
            self._flush()

    # ---- input --------------------------------------------------------------------------------

    def _handshake_reply(self, frame: bytes) -> None:
        try:
            resp = ConnectResponse.from_bytes(frame)
        except DecodeError as e:
            if len(frame) == _REPLY_HEADER_SIZE:
                # An error reply in place of the handshake: e.g. a read-only ZooKeeper 3.8 without
                # localSessionsEnabled refuses to create a session with NotReadOnly this way.
                hdr = ReplyHeader.deserialize(frame, 0)[0]
                if hdr.err:
                    self.abort(f"server refused the session: {error_for(hdr.err)}")
                    return
            self.abort(f"bad ConnectResponse: {e}")
            return
        self.established = True
        if not self.handshake.done():
            self.handshake.set_result(resp)

    def _reply(self, frame: bytes) -> None:
        if len(frame) < _REPLY_HEADER_SIZE:
            self.abort("reply shorter than its header")
            return
        hdr, off = ReplyHeader.deserialize(frame, 0)
        xid = hdr.xid
        if xid < 0:
            if xid == Xid.NOTIFICATION:
                try:
                    ev = WatcherEvent.deserialize(frame, off)[0]
                except DecodeError as e:
                    self.abort(f"bad notification: {e}")
                    return
                self.on_event(ev)
                return
            if xid == Xid.PING:
                return
            if xid == Xid.AUTH:
                if self.auth_pending:
                    auth_fut = self.auth_pending.popleft()
                    if not auth_fut.done():
                        if hdr.err:
                            auth_fut.set_exception(
                                AuthFailedError() if hdr.err == Err.AUTHFAILED else error_for(hdr.err))
                        else:
                            auth_fut.set_result(None)
                return
        if hdr.zxid > 0:
            self.info.last_zxid = hdr.zxid
        if not self.pending:
            self.abort(f"reply xid {xid} with nothing outstanding")
            return
        p = self.pending[0]
        if p.xid != xid:
            self.abort(f"xid out of order: expected {p.xid}, got {xid}")
            return
        self.pending.popleft()
        err = hdr.err
        value: object = None
        exc: KeeperError | None = None
        if err:
            exc = error_for(err, p.path)
        elif p.decode is not None:
            try:
                value = p.decode(frame, off)[0]
            except DecodeError as e:
                exc = MarshallingError(f"bad reply to xid {xid}: {e}", path=p.path)
                err = Err.MARSHALLINGERROR
        if p.hook is not None:
            try:
                p.hook(err)
            except Exception:  # a bug in a hook must not take the connection down
                log.exception("reply hook failed")
        fut = p.fut
        if not fut.done():
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

    # ---- closing ------------------------------------------------------------------------------

    def _fail_all(self, make_exc: Callable[[str | None], BaseException]) -> None:
        pending, self.pending = self.pending, deque()
        for p in pending:
            if not p.fut.done():
                p.fut.set_exception(make_exc(p.path))
        auth, self.auth_pending = self.auth_pending, deque()
        for fut in auth:
            if not fut.done():
                fut.set_exception(make_exc(None))
        if not self.handshake.done():
            self.handshake.set_exception(make_exc(None))
            self.handshake.exception()  # retrieved: a failed handshake may have no awaiter any more

    def fail_pending(self, exc_type: Callable[..., KeeperError]) -> None:
        """Fail everything in flight with `exc_type(path=...)` (used when the session ends)."""
        self._fail_all(lambda p: exc_type(path=p))

    def abort(self, reason: str) -> None:
        """Drop the connection now (protocol error, read timeout, client closing)."""
        if self.close_reason is None:
            self.close_reason = reason
        transport, self.transport = self.transport, None
        if transport is not None:
            log.debug("dropping connection to %s: %s", self.peer, reason)
            transport.abort()

    def close(self) -> None:
        """Flush what is queued, then close (after closeSession)."""
        transport, self.transport = self.transport, None
        if transport is not None:
            if self.out:
                transport.write(self.out)
                self.out = bytearray()
            transport.close()

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.closed.done()

    @property
    def outstanding(self) -> int:
        return len(self.pending)
