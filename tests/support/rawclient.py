"""A small synchronous ZooKeeper wire client for tests, independent of corral.

Why a separate client: kazoo (and every real client) hides the wire — ReplyHeader zxids, the exact error
code of a failed multi, whether a body follows an error, the order of notifications relative to replies,
whether the server closed the connection. The compatibility tests compare exactly those things between
Apache ZooKeeper and corral, so they need a client that shows them. It is written from the protocol
reference (jute encoding, framing, records; see /work/shared/reference/zookeeper-protocol-and-semantics.md
§1) with `struct` only and must never import corral: a shared codec would hide shared bugs.

It is the suite's one raw wire client: the compatibility scenarios, the hostile-input tests (bytes that no
real client would send: `frame`, `request_packet` and the `j*` encoders build them), the session tests
(`read_until_closed`, sessions that vanish without closeSession) and the ensemble tests all use it.

Everything is blocking with socket timeouts, so every wait is bounded.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------------------------------------
# Constants (org.apache.zookeeper.ZooDefs.OpCode, KeeperException.Code, Watcher.Event)


class Op(IntEnum):
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err(IntEnum):
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDACL = -114
    AUTHFAILED = -115
    NOWATCHER = -121
    RECONFIGDISABLED = -123


class EventType(IntEnum):
    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4


class CreateFlags(IntEnum):
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class Perm(IntEnum):
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

DEFAULT_MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default: largest frame the server accepts
ZERO_PASSWD = bytes(16)  # the password of "no session" (and of a refused ConnectResponse)


# ---------------------------------------------------------------------------------------------------------
# Records


class ACL(NamedTuple):
    perms: int
    scheme: str
    id: str


OPEN_ACL_UNSAFE = (ACL(Perm.ALL, "world", "anyone"),)
READ_ACL_UNSAFE = (ACL(Perm.READ, "world", "anyone"),)


class Stat(NamedTuple):
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


STAT_FMT = ">qqqqiiiqiiq"
STAT_SIZE = struct.calcsize(STAT_FMT)  # 68


class Unordered(tuple):
    """A list whose order the protocol does not define (children come from a HashSet): compare sorted."""

    __slots__ = ()


class ConnectResponse(NamedTuple):
    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None  # None: the server sent no readOnly byte
    length: int  # payload length of the frame (37 with readOnly, 36 without)


class Event(NamedTuple):
    """A notification (xid -1) and the zxid of its ReplyHeader."""

    type: int
    state: int
    path: str
    zxid: int


class MultiResult(NamedTuple):
    type: int  # header type: the op (1, 15, 2, 5, 13, 4, 8) or -1 for an error result
    err: int  # header err
    value: Any  # decoded result record (ErrorResponse's int for type -1)


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    op: int | None  # None: read without saying which request it answers (the body is left undecoded)
    body: bytes = b""
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.err == 0

    def unwrap(self) -> Any:
        """The decoded result, or ReplyError when the server answered with an error code."""
        if self.err:
            raise ReplyError(self.err)
        return self.value


class ReplyError(Exception):
    """A request answered with a non-zero error code (raised by `Reply.unwrap`)."""

    def __init__(self, code: int) -> None:
        try:
            name = Err(code).name
        except ValueError:
            name = "?"
        super().__init__(f"ZooKeeper error {code} ({name})")
        self.code = code


class SessionRefused(Exception):
    """The server answered a ConnectRequest with timeOut 0: the session is expired or unknown."""


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset)."""


class ProtocolError(Exception):
    """Bytes that do not decode as the record we expected."""


# ---------------------------------------------------------------------------------------------------------
# Jute encoding (§1.1): big-endian ints/longs, 1-byte booleans, length-prefixed buffers/strings/vectors,
# length -1 = null.


class Writer:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def int(self, v: int) -> Writer:
        self._parts.append(struct.pack(">i", v))
        return self

    def long(self, v: int) -> Writer:
        self._parts.append(struct.pack(">q", v))
        return self

    def bool(self, v: bool) -> Writer:
        self._parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, v: bytes | None) -> Writer:
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self._parts.append(bytes(v))
        return self

    def ustring(self, v: str | None) -> Writer:
        return self.buffer(None if v is None else v.encode("utf-8"))

    def strings(self, vs) -> Writer:
        if vs is None:
            return self.int(-1)
        vs = list(vs)
        self.int(len(vs))
        for s in vs:
            self.ustring(s)
        return self

    def acls(self, acls) -> Writer:
        if acls is None:
            return self.int(-1)
        acls = list(acls)
        self.int(len(acls))
        for a in acls:
            self.int(a[0]).ustring(a[1]).ustring(a[2])
        return self

    def raw(self, b: bytes) -> Writer:
        self._parts.append(bytes(b))
        return self

    def bytes(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def long(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def bool(self) -> bool:
        b = self._take(1)[0]
        if b not in (0, 1):
            raise ProtocolError(f"boolean byte {b}")
        return bool(b)

    def buffer(self) -> bytes | None:
        n = self.int()
        if n == -1:
            return None
        return self._take(n)

    def ustring(self) -> str | None:
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self) -> list[str] | None:
        n = self.int()
        if n == -1:
            return None
        if n < 0 or n > len(self.data):
            raise ProtocolError(f"vector length {n}")
        return [self.ustring() for _ in range(n)]

    def acls(self) -> list[ACL] | None:
        n = self.int()
        if n == -1:
            return None
        if n < 0 or n > len(self.data):
            raise ProtocolError(f"vector length {n}")
        return [ACL(self.int(), self.ustring(), self.ustring()) for _ in range(n)]

    def stat(self) -> Stat:
        return Stat(*struct.unpack(STAT_FMT, self._take(STAT_SIZE)))

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def jint(v: int) -> bytes:
    return struct.pack(">i", v)


def jlong(v: int) -> bytes:
    return struct.pack(">q", v)


def jbool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def jbuffer(b: bytes | None) -> bytes:
    return Writer().buffer(b).bytes()


def jstring(s: str | None) -> bytes:
    return Writer().ustring(s).bytes()


# ---------------------------------------------------------------------------------------------------------
# Packets (§1.2): a frame is a 4-byte big-endian length and the payload; a request payload is
# RequestHeader(xid, type) + body; a reply payload is ReplyHeader(xid, zxid, err) + body.


def frame(payload: bytes) -> bytes:
    """Length-prefix a packet."""
    return jint(len(payload)) + payload


def request_packet(xid: int, op: int, body: bytes = b"") -> bytes:
    """RequestHeader{int xid, int type} + body (unframed)."""
    return struct.pack(">ii", xid, int(op)) + body


def parse_reply(payload: bytes) -> Reply:
    """ReplyHeader + raw body of a reply payload (the body is not decoded: `op` is None)."""
    if len(payload) < 16:
        raise ProtocolError(f"reply of {len(payload)} bytes is shorter than a ReplyHeader: {payload.hex()}")
    xid, zxid, err = struct.unpack(">iqi", payload[:16])
    return Reply(xid, zxid, err, None, payload[16:])


# ---------------------------------------------------------------------------------------------------------
# Request bodies (§1.5)


def connect_request(timeout_ms: int = 30000, session_id: int = 0, passwd: bytes = bytes(16),
                    last_zxid: int = 0, read_only: bool | None = False, protocol_version: int = 0) -> bytes:
    """ConnectRequest; read_only=None omits the trailing byte like a pre-3.4 client."""
    w = Writer().int(protocol_version).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
    if read_only is not None:
        w.bool(read_only)
    return w.bytes()


def create_body(path: str, data: bytes | None = b"", acl=OPEN_ACL_UNSAFE, flags: int = 0) -> bytes:
    return Writer().ustring(path).buffer(data).acls(acl).int(flags).bytes()


def create_ttl_body(path: str, data: bytes | None, acl, flags: int, ttl: int) -> bytes:
    return Writer().ustring(path).buffer(data).acls(acl).int(flags).long(ttl).bytes()


def path_version_body(path: str, version: int) -> bytes:
    """DeleteRequest and CheckVersionRequest."""
    return Writer().ustring(path).int(version).bytes()


def path_watch_body(path: str, watch: bool = False) -> bytes:
    """ExistsRequest, GetDataRequest, GetChildrenRequest, GetChildren2Request."""
    return Writer().ustring(path).bool(watch).bytes()


def path_body(path: str | None) -> bytes:
    """GetACLRequest, SyncRequest, GetEphemeralsRequest, GetAllChildrenNumberRequest."""
    return Writer().ustring(path).bytes()


def set_data_body(path: str, data: bytes | None, version: int = -1) -> bytes:
    return Writer().ustring(path).buffer(data).int(version).bytes()


def set_acl_body(path: str, acl, version: int = -1) -> bytes:
    return Writer().ustring(path).acls(acl).int(version).bytes()


def set_watches_body(relative_zxid: int, data=(), exist=(), child=()) -> bytes:
    return Writer().long(relative_zxid).strings(data).strings(exist).strings(child).bytes()


def path_type_body(path: str, watcher_type: int) -> bytes:
    """CheckWatchesRequest / RemoveWatchesRequest / AddWatchRequest (mode)."""
    return Writer().ustring(path).int(watcher_type).bytes()


def auth_body(scheme: str, auth: bytes, auth_type: int = 0) -> bytes:
    return Writer().int(auth_type).ustring(scheme).buffer(auth).bytes()


# multi ops: (opcode, body bytes); build with the helpers below
def op_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, opcode=Op.CREATE):
    return (int(opcode), create_body(path, data, acl, flags))


def op_delete(path, version=-1):
    return (int(Op.DELETE), path_version_body(path, version))


def op_set_data(path, data, version=-1):
    return (int(Op.SET_DATA), set_data_body(path, data, version))


def op_check(path, version):
    return (int(Op.CHECK), path_version_body(path, version))


def op_get_data(path):
    return (int(Op.GET_DATA), path_watch_body(path, False))


def op_get_children(path):
    return (int(Op.GET_CHILDREN), path_watch_body(path, False))


def multi_body(ops) -> bytes:
    """MultiOperationRecord: MultiHeader(type, done=false, err=-1) + record per op, then (-1, true, -1)."""
    w = Writer()
    for opcode, body in ops:
        w.int(opcode).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# ---------------------------------------------------------------------------------------------------------
# Response decoding


def _decode_multi(r: Reader) -> list[MultiResult]:
    results = []
    for _ in range(100000):
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            return results
        if typ == Op.CREATE:
            value = r.ustring()
        elif typ in (Op.CREATE2, Op.CREATE_CONTAINER, Op.CREATE_TTL):
            value = (r.ustring(), r.stat())
        elif typ in (Op.DELETE, Op.CHECK, Op.DELETE_CONTAINER):
            value = None
        elif typ == Op.SET_DATA:
            value = r.stat()
        elif typ == Op.GET_DATA:
            value = (r.buffer(), r.stat())
        elif typ == Op.GET_CHILDREN:
            value = Unordered(r.strings() or ())
        elif typ == Op.ERROR:
            value = r.int()
        else:
            raise ProtocolError(f"unknown multi result type {typ}")
        results.append(MultiResult(typ, err, value))
    raise ProtocolError("multi response without a done header")


def decode_body(op: int, body: bytes) -> Any:
    """Decode the response record of `op`; raises ProtocolError on short or trailing bytes."""
    r = Reader(body)
    if op == Op.CREATE:
        v: Any = r.ustring()
    elif op in (Op.CREATE2, Op.CREATE_CONTAINER, Op.CREATE_TTL):
        v = (r.ustring(), r.stat())
    elif op in (Op.EXISTS, Op.SET_DATA, Op.SET_ACL):
        v = r.stat()
    elif op in (Op.GET_DATA, Op.RECONFIG):
        v = (r.buffer(), r.stat())
    elif op == Op.GET_ACL:
        v = (r.acls(), r.stat())
    elif op == Op.GET_CHILDREN:
        v = Unordered(r.strings() or ())
    elif op == Op.GET_CHILDREN2:
        v = (Unordered(r.strings() or ()), r.stat())
    elif op == Op.SYNC:
        v = r.ustring()
    elif op in (Op.MULTI, Op.MULTI_READ):
        v = _decode_multi(r)
    elif op == Op.GET_EPHEMERALS:
        v = Unordered(r.strings() or ())
    elif op in (Op.GET_ALL_CHILDREN_NUMBER, Op.ADD_WATCH):
        v = r.int()
    elif op == Op.WHO_AM_I:
        n = r.int()
        v = [(r.ustring(), r.ustring()) for _ in range(max(n, 0))]
    else:  # no response record defined: delete, ping, setWatches, auth, closeSession, check/removeWatches
        v = None
    if r.remaining:
        raise ProtocolError(f"{r.remaining} trailing bytes after the op {op} response")
    return v


def decode_connect_response(payload: bytes) -> ConnectResponse:
    r = Reader(payload)
    pv, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
    ro = r.bool() if r.remaining else None
    if r.remaining:
        raise ProtocolError(f"{r.remaining} trailing bytes after ConnectResponse")
    return ConnectResponse(pv, to, sid, pw or b"", ro, len(payload))


# ---------------------------------------------------------------------------------------------------------
# The client


@dataclass
class RawClient:
    """One TCP connection speaking the ZooKeeper client protocol, synchronously.

    `call()` sends a request and reads until the reply with the same xid; notifications (xid -1) that
    arrive meanwhile go to `events`; every packet received is also appended to `log` in arrival order so a
    test can check the order of notifications relative to replies.
    """

    host: str
    port: int
    io_timeout: float = 5.0
    sock: socket.socket | None = None
    next_xid: int = 1
    session_id: int = 0
    passwd: bytes = bytes(16)
    connect_response: ConnectResponse | None = None
    events: list[Event] = field(default_factory=list)
    log: list[tuple] = field(default_factory=list)
    closed: bool = False
    last_zxid: int = 0  # highest ReplyHeader zxid of a reply (not a notification) seen on this connection
    _buf: bytearray = field(default_factory=bytearray)

    # -- connection ---------------------------------------------------------------------------------------

    def open(self) -> RawClient:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = False
        self._buf.clear()
        return self

    def connect(self, timeout_ms: int = 30000, session_id: int = 0, passwd: bytes = bytes(16),
                last_zxid: int = 0, read_only: bool | None = False) -> ConnectResponse:
        """Open a socket, send a ConnectRequest, read the ConnectResponse (raises ConnectionClosed)."""
        if self.sock is None or self.closed:
            self.open()
        self.send_frame(connect_request(timeout_ms, session_id, passwd, last_zxid, read_only))
        resp = decode_connect_response(self.read_frame())
        self.connect_response = resp
        if resp.session_id:
            self.session_id, self.passwd = resp.session_id, resp.passwd
        return resp

    def connect_session(self, timeout_ms: int = 30000, session_id: int = 0, passwd: bytes = bytes(16),
                        last_zxid: int = 0) -> ConnectResponse:
        """connect(), and SessionRefused (socket closed) when the server refuses: timeOut 0, no session."""
        resp = self.connect(timeout_ms, session_id, passwd, last_zxid)
        if resp.session_id == 0 or resp.timeout <= 0:
            self.close()
            raise SessionRefused(f"session 0x{session_id:x} refused by {self.host}:{self.port}: {resp}")
        return resp

    @property
    def session(self) -> ConnectResponse | None:
        """The ConnectResponse of the session this connection established, None if none was granted."""
        r = self.connect_response
        return r if r is not None and r.timeout > 0 else None

    def close(self) -> None:
        """Close the socket without closeSession (the session lives on until it expires)."""
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
                self.closed = True

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- framing ------------------------------------------------------------------------------------------

    def send_frame(self, payload: bytes) -> None:
        self.send_bytes(struct.pack(">i", len(payload)) + payload)

    def send_bytes(self, data: bytes) -> None:
        if self.sock is None or self.closed:
            raise ConnectionClosed("not connected")
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise ConnectionClosed(str(e))

    def _fill(self, n: int, deadline: float) -> None:
        while len(self._buf) < n:
            if self.sock is None or self.closed:
                raise ConnectionClosed("not connected")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no data from {self.host}:{self.port} within {self.io_timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                raise TimeoutError(f"no data from {self.host}:{self.port} within {self.io_timeout}s")
            except (ConnectionResetError, ConnectionAbortedError) as e:
                self.closed = True
                raise ConnectionClosed(str(e))
            if not chunk:
                self.closed = True
                raise ConnectionClosed("EOF")
            self._buf += chunk

    def read_frame(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (n,) = struct.unpack(">i", self._buf[:4])
        if n < 0 or n > 64 << 20:
            raise ProtocolError(f"frame length {n}")
        self._fill(4 + n, deadline)
        payload = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        return payload

    def read_packet(self, timeout: float | None = None) -> tuple[int, int, int, bytes]:
        """(xid, zxid, err, body) of the next server packet; notifications are returned like replies."""
        payload = self.read_frame(timeout)
        if len(payload) < 16:
            raise ProtocolError(f"packet of {len(payload)} bytes is shorter than a ReplyHeader")
        xid, zxid, err = struct.unpack(">iqi", payload[:16])
        return xid, zxid, err, payload[16:]

    # -- requests -----------------------------------------------------------------------------------------

    def send(self, op: int, body: bytes = b"", xid: int | None = None) -> int:
        """Send RequestHeader(xid, op) + body without waiting; returns the xid."""
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        self.send_frame(struct.pack(">ii", xid, int(op)) + body)
        return xid

    def _notification(self, zxid: int, err: int, body: bytes) -> Event:
        r = Reader(body)
        ev = Event(r.int(), r.int(), r.ustring(), zxid)
        if r.remaining or err:
            raise ProtocolError(f"notification with err {err} and {r.remaining} trailing bytes")
        self.events.append(ev)
        self.log.append(("event", ev.type, ev.path))
        return ev

    def read_reply(self, xid: int | None = None, op: int | None = None, timeout: float | None = None) -> Reply:
        """Read packets until the reply to `xid` (None: the next reply, whatever its xid); notifications
        on the way are queued in `events`; a reply with another xid raises ProtocolError. The body is
        decoded as the response of `op` (None: left undecoded)."""
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        for _ in range(100000):
            pxid, zxid, err, body = self.read_packet(max(0.0, deadline - time.monotonic()))
            if pxid == XID_NOTIFICATION:
                self._notification(zxid, err, body)
                continue
            self.log.append(("reply", pxid, err))
            if xid is not None and pxid != xid:
                raise ProtocolError(f"reply xid {pxid} while waiting for xid {xid} (replies out of order)")
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            reply = Reply(pxid, zxid, err, None if op is None else int(op), body)
            if err == 0 and op is not None:
                try:
                    reply.value = decode_body(op, body)
                except (ProtocolError, UnicodeDecodeError, struct.error) as e:
                    reply.value = ("UNDECODABLE", str(e), body.hex())
            return reply
        raise ProtocolError("too many packets")

    def call(self, op: int, body: bytes = b"", xid: int | None = None) -> Reply:
        return self.read_reply(self.send(op, body, xid), op)

    # high-level operations
    def create(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, opcode=Op.CREATE) -> Reply:
        return self.call(opcode, create_body(path, data, acl, flags))

    def create2(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0) -> Reply:
        return self.call(Op.CREATE2, create_body(path, data, acl, flags))

    def delete(self, path, version=-1) -> Reply:
        return self.call(Op.DELETE, path_version_body(path, version))

    def exists(self, path, watch=False) -> Reply:
        return self.call(Op.EXISTS, path_watch_body(path, watch))

    def get_data(self, path, watch=False) -> Reply:
        return self.call(Op.GET_DATA, path_watch_body(path, watch))

    def set_data(self, path, data, version=-1) -> Reply:
        return self.call(Op.SET_DATA, set_data_body(path, data, version))

    def get_children(self, path, watch=False) -> Reply:
        return self.call(Op.GET_CHILDREN, path_watch_body(path, watch))

    def get_children2(self, path, watch=False) -> Reply:
        return self.call(Op.GET_CHILDREN2, path_watch_body(path, watch))

    def get_acl(self, path) -> Reply:
        return self.call(Op.GET_ACL, path_body(path))

    def set_acl(self, path, acl, version=-1) -> Reply:
        return self.call(Op.SET_ACL, set_acl_body(path, acl, version))

    def sync(self, path) -> Reply:
        return self.call(Op.SYNC, path_body(path))

    def multi(self, ops) -> Reply:
        return self.call(Op.MULTI, multi_body(ops))

    def multi_read(self, ops) -> Reply:
        return self.call(Op.MULTI_READ, multi_body(ops))

    def get_ephemerals(self, prefix) -> Reply:
        return self.call(Op.GET_EPHEMERALS, path_body(prefix))

    def get_all_children_number(self, path) -> Reply:
        return self.call(Op.GET_ALL_CHILDREN_NUMBER, path_body(path))

    def set_watches(self, relative_zxid, data=(), exist=(), child=()) -> Reply:
        return self.call(Op.SET_WATCHES, set_watches_body(relative_zxid, data, exist, child),
                         xid=XID_SET_WATCHES)

    def check_watches(self, path, watcher_type) -> Reply:
        return self.call(Op.CHECK_WATCHES, path_type_body(path, watcher_type))

    def remove_watches(self, path, watcher_type) -> Reply:
        return self.call(Op.REMOVE_WATCHES, path_type_body(path, watcher_type))

    def add_auth(self, scheme: str, auth: bytes) -> Reply:
        return self.call(Op.AUTH, auth_body(scheme, auth), xid=XID_AUTH)

    def ping(self) -> Reply:
        return self.call(Op.PING, b"", xid=XID_PING)

    def close_session(self) -> Reply:
        return self.call(Op.CLOSE_SESSION)

    # -- notifications and connection state ---------------------------------------------------------------

    def barrier(self) -> None:
        """A round trip through the server's request pipeline (exists "/").

        ZooKeeper queues a watch notification to its connection while applying the txn, before any later
        reply on that connection (§2.4), so once this reply is here every notification caused by writes
        that completed before the call has arrived too: no sleeping needed to prove an event did NOT fire.
        """
        reply = self.exists("/")
        if reply.err:
            raise ProtocolError(f"barrier exists('/') failed with {reply.err}")
        self.log.pop()  # the barrier's own reply is not part of what a test observes

    def wait_events(self, n: int, timeout: float = 5.0) -> list[Event]:
        """Read until at least n notifications are queued or `timeout` passes; returns the queue."""
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                xid, zxid, err, body = self.read_packet(left)
            except TimeoutError:
                break
            if xid != XID_NOTIFICATION:
                self.log.append(("unexpected-reply", xid, err))
                continue
            self._notification(zxid, err, body)
        return self.events

    def take_events(self) -> list[Event]:
        evs, self.events = self.events, []
        return evs

    def wait_closed(self, timeout: float = 3.0) -> bool:
        """True when the server closes the connection within `timeout` (packets meanwhile go to `log`)."""
        if self.closed:
            return True
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                xid, zxid, err, body = self.read_packet(left)
            except ConnectionClosed:
                return True
            except TimeoutError:
                return False
            if xid == XID_NOTIFICATION:
                self._notification(zxid, err, body)
            else:
                self.log.append(("unexpected-reply", xid, err))
        return False

    def read_until_closed(self, timeout: float = 10.0) -> bytes:
        """Every byte the server sends (unparsed) until it closes the connection; TimeoutError if it stays
        open. For "the server closes without a reply": assert the result is b"".

        Reads the socket even after a failed send marked the client closed: a reset while sending says
        nothing about what the server wrote before closing."""
        if self.sock is None:
            raise ConnectionClosed("not connected")
        data = bytearray(self._buf)
        self._buf.clear()
        deadline = time.monotonic() + timeout
        for _ in range(10**7):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                return bytes(data)
            data += chunk
        self._buf[:0] = data  # still open: keep what arrived for the next read
        raise TimeoutError(f"{self.host}:{self.port} kept the connection open for {timeout}s ({len(data)} bytes)")

    def is_closed_within(self, timeout: float) -> bool:
        """True if the server closes the connection within `timeout` s (bytes sent meanwhile are dropped)."""
        try:
            self.read_until_closed(timeout)
        except TimeoutError:
            return False
        return True
