"""One client connection as a sans-I/O state machine (like h11): bytes in, events and bytes out.

`ServerConnection` knows ZooKeeper's framing, the connection states (handshake → waiting for the
session → connected → closed), four-letter words, and the per-session order rule: a session's replies
leave in request order, and a read issued after a write runs after that write is applied. It never
touches a socket, a clock or the tree: the asyncio adapter (`protocol.py`) feeds it bytes and writes
what `data_to_send()` returns; the request handlers (`frontend.py`) take its events and answer.

Ordering: writes, `sync` and `closeSession` complete later (`AsyncRequest`s, answered by `finish`);
every other request is answered at once (`reply`). A request of the second kind that
arrives while slots are open is held and handed out (by `next_event`) only once every slot before it
is filled, so it runs after those writes are applied; replies of slots filled out of order wait for
the earlier ones. Writes are never held: they are pipelined (prepared in arrival order, applied in
zxid order).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Final

from ..protocol import ConnectRequest, DecodeError, decode_connect_request
from ..protocol.codes import (
    OP_CLOSE_SESSION,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_MULTI,
    OP_RECONFIG,
    OP_SET_ACL,
    OP_SET_DATA,
    OP_SYNC,
    PERM_READ,
)
from ..tree import acl as aclmod
from . import replies
from .fourletter import FOUR_LETTER_WORDS

_LEN: Final = struct.Struct(">i")
_RH: Final = struct.Struct(">ii")
_unpack_len: Final = _LEN.unpack_from
_unpack_rh: Final = _RH.unpack_from

HANDSHAKE: Final = 0
WAITING: Final = 1
CONNECTED: Final = 2
CLOSED: Final = 3

WRITE_OPS: Final = frozenset({OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL, OP_DELETE,
                       OP_SET_DATA, OP_SET_ACL, OP_MULTI, OP_RECONFIG, OP_DELETE_CONTAINER})
#: Requests that complete later, in a slot: writes, sync, closeSession.
ASYNC_OPS: Final = WRITE_OPS | {OP_SYNC, OP_CLOSE_SESSION}
#: Bytes a client may send after its ConnectRequest before the session is established.
WAITING_SLACK: Final = 65536


# ---- events -------------------------------------------------------------------------------------


# Plain slotted classes, not dataclasses: two of them are built per request on the hot path.


class Handshake:
    """The ConnectRequest; `readonly_flag`: whether the client sent the readOnly byte (answer in kind)."""

    __slots__ = ("readonly_flag", "request")

    def __init__(self, request: ConnectRequest, readonly_flag: bool) -> None:
        self.request = request
        self.readonly_flag = readonly_flag


class FourLetterWord:
    __slots__ = ("command",)

    def __init__(self, command: str) -> None:
        self.command = command


class Request:
    """A request to answer now, with `ServerConnection.reply`. `t0` is the time passed to
    `receive_data` with the bytes that carried it (for latency statistics)."""

    __slots__ = ("body", "op", "t0", "xid")

    def __init__(self, xid: int, op: int, body: bytes, t0: float) -> None:
        self.xid = xid
        self.op = op
        self.body = body
        self.t0 = t0


class AsyncRequest:
    """A write, sync or closeSession: answer with `ServerConnection.finish(request, ...)` when done.
    It is its own place in the reply order (`reply` stays None until then); `context` is the
    handler's (the frontend keeps the connection there)."""

    __slots__ = ("body", "close_after", "context", "op", "reply", "t0", "xid")

    def __init__(self, xid: int, op: int, body: bytes, t0: float) -> None:
        self.xid = xid
        self.op = op
        self.body = body
        self.t0 = t0
        self.reply: bytes | None = None
        self.close_after = False
        self.context: object = None


class Closed:
    """The connection must close (bad input); `warning`: log it as a warning."""

    __slots__ = ("reason", "warning")

    def __init__(self, reason: str, warning: bool = True) -> None:
        self.reason = reason
        self.warning = warning


Event = Handshake | FourLetterWord | Request | AsyncRequest | Closed


class ServerConnection:
    """See the module docstring. Also a watcher (`process`): notifications go out at once."""

    def __init__(self, peer: tuple[str, int] = ("?", 0), max_buffer: int = 0xFFFFF, skip_acl: bool = False,
                 on_output: Callable[[ServerConnection], None] | None = None) -> None:
        """`on_output` is called when a notification is queued (outside any exchange with this
        connection's own requests), so the owner knows to flush this connection."""
        self.peer = peer
        self.max_buffer = max_buffer
        self.skip_acl = skip_acl
        self.on_output = on_output
        self.state = HANDSHAKE
        self.close_reason: str | None = None
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._order: deque[AsyncRequest | Request] = deque()  # open slots and requests held behind them
        # Held requests whose turn came: `next_event` hands them out first (a handler that finished a
        # request checks this to run them at once, before anything else changes the tree).
        self.released: deque[Request] = deque()
        self._now = 0.0
        # The session (set by the handlers) and its identities.
        self.session_id = 0
        self.auth: list[tuple[str, str]] = [("ip", peer[0])]
        self.sent = 0
        self.recved = 0
        # Sizes of the replies and notifications queued since the frontend last took them (ZooKeeper's
        # client response BufferStats: the packet without its 4-byte length; -1 when none).
        self.out_last = -1
        self.out_min = -1
        self.out_max = -1

    # ---- input ----------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Feed bytes from the socket; parsed events come out of `next_event`."""
        if self.state == CLOSED:
            return
        self._now = now
        self._buf += data
        if self.state == WAITING:
            if len(self._buf) > self.max_buffer + WAITING_SLACK:
                self._fail("too much data before the session was established")
            return
        self._parse()

    def _parse(self) -> None:
        if self.state == HANDSHAKE:
            self._parse_handshake()
            return
        if self.state != CONNECTED:
            return
        # The request loop, per frame: nothing but the frame's checks (the state only changes by _fail).
        buf = self._buf
        off = 0
        n = len(buf)
        maxbuf = self.max_buffer
        events = self._events
        now = self._now
        count = 0
        while n - off >= 4:
            (length,) = _unpack_len(buf, off)
            if length < 0 or length > maxbuf:
                self._fail(f"frame length {length} outside 0..jute.maxbuffer={maxbuf}")
                break
            end = off + 4 + length
            if end > n:
                break
            if length < 8:
                self._fail("request shorter than its header")
                off = end
                break
            start = off + 4
            off = end
            count += 1
            xid, op = _unpack_rh(buf, start)
            if op in ASYNC_OPS:
                events.append(AsyncRequest(xid, op, bytes(buf[start + 8:end]), now))
            else:
                events.append(Request(xid, op, bytes(buf[start + 8:end]), now))
        self.recved += count
        if off:
            del buf[:off]

    def _parse_handshake(self) -> None:
        """A four-letter word or the ConnectRequest; what follows waits in the buffer (WAITING)."""
        buf = self._buf
        if len(buf) < 4:
            return
        if bytes(buf[:4]) in FOUR_LETTER_WORDS:
            self._events.append(FourLetterWord(bytes(buf[:4]).decode()))
            self.state = WAITING  # nothing more is read; the handler answers and closes
            del buf[:]
            return
        (length,) = _unpack_len(buf, 0)
        if length < 0 or length > self.max_buffer:
            self._fail(f"frame length {length} outside 0..jute.maxbuffer={self.max_buffer}")
            return
        end = 4 + length
        if end > len(buf):
            return
        payload = bytes(buf[4:end])
        del buf[:end]
        try:
            req, has_ro = decode_connect_request(payload)
        except DecodeError as e:
            self._fail(f"bad ConnectRequest: {e}")
            return
        self.state = WAITING  # requests wait in the buffer until the session is established
        self._events.append(Handshake(req, has_ro))

    def _fail(self, reason: str) -> None:
        self._events.append(Closed(reason))
        self.state = WAITING  # stop parsing; the handler closes

    def next_event(self) -> Event | None:
        """The next event to handle, or None. A `Request` that must wait behind open slots is kept
        back and comes out here once they are filled; an `AsyncRequest`'s slot is opened here."""
        if self.released:
            return self.released.popleft()
        events = self._events
        while events:
            ev = events.popleft()
            # exact types (the event classes are final): cheaper than isinstance, per request
            if type(ev) is AsyncRequest:
                if self.state != CLOSED:
                    self._order.append(ev)
                return ev
            if type(ev) is Request and self._order:
                self._order.append(ev)
                continue
            return ev
        return None

    # ---- session --------------------------------------------------------------------------------

    def established(self, session_id: int, timeout: int, passwd: bytes, readonly_flag: bool,
                    read_only: bool = False) -> None:
        """Answer the handshake and start serving the requests that arrived meanwhile (`read_only`: on a
        read-only member)."""
        if self.state == CLOSED:
            return
        self.session_id = session_id
        self.state = CONNECTED
        self._send(replies.connect_response(timeout, session_id, passwd, readonly_flag, read_only))
        if self._buf:
            self._parse()

    def refuse(self, readonly_flag: bool, reason: str) -> None:
        """Expired or unknown session, or wrong password: ZooKeeper answers timeOut=0 and closes."""
        self._send(replies.connect_response(0, 0, b"\0" * 16, readonly_flag))
        self.close(reason)

    # ---- output ---------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        self._out += data
        self.sent += 1

    def _sized(self, data: bytes) -> None:
        n = len(data) - 4
        self.out_last = n
        if self.out_min < 0 or n < self.out_min:
            self.out_min = n
        if n > self.out_max:
            self.out_max = n

    def reply(self, data: bytes) -> None:
        """The answer to the `Request` just handed out."""
        if self.state == CLOSED:
            return
        self._send(data)
        self._sized(data)
        if self._order and not self.released:
            self._release()

    def finish(self, request: AsyncRequest, data: bytes, close_after: bool = False) -> None:
        """Answer an `AsyncRequest`; replies leave as soon as every one before it is answered."""
        if self.state == CLOSED:
            return
        request.reply = data
        request.close_after = close_after
        order = self._order
        if order and order[0] is request and not close_after:
            # The usual case: the oldest open request; what follows (if anything) is released next.
            order.popleft()
            self._out += data
            self.sent += 1
            self._sized(data)
            if order:
                self._release()
        else:
            self._release()

    def _release(self) -> None:
        order = self._order
        while order and self.state != CLOSED:
            head = order[0]
            if isinstance(head, AsyncRequest):
                if head.reply is None:
                    return
                order.popleft()
                self._send(head.reply)
                self._sized(head.reply)
                if head.close_after:
                    self.close()
                    return
            else:
                order.popleft()
                self.released.append(head)
                return  # its handler replies next; `reply` continues from there

    def send_text(self, text: bytes) -> None:
        """A four-letter word's answer (raw text, no frame)."""
        self._send(text)

    def process(self, event_type: int, path: str, zxid: int, acl: aclmod.AclList | None = None) -> None:
        """Watcher: queue a notification, unless this connection may not READ the node (ZooKeeper
        3.8.4/3.9.2: a watch must not reveal the path of a node the watcher cannot read)."""
        if self.state == CLOSED or (acl is not None and not self.can(acl, PERM_READ)):
            return
        data = replies.notification(event_type, path, zxid)
        self._send(data)
        self._sized(data)
        if self.on_output is not None:
            self.on_output(self)

    def data_to_send(self) -> bytes | bytearray:
        """Everything queued (the buffer itself, handed over: no copy; the connection starts a new one)."""
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    @property
    def pending(self) -> int:
        """Requests waiting: open slots and the reads held behind them (`cons` shows it as queued)."""
        return len(self._order) + len(self.released)

    def close(self, reason: str | None = None) -> None:
        """Nothing more is read or answered; what is queued in `data_to_send` still goes out."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.close_reason = reason
        self._order.clear()
        self.released.clear()
        self._events.clear()
        self._buf.clear()

    # ---- identity -------------------------------------------------------------------------------

    def can(self, acl: aclmod.AclList, perm: int) -> bool:
        return self.skip_acl or aclmod.check_acl(acl, perm, self.auth)

