"""A tiny ZooKeeper wire client for tests, written from the protocol description alone.

It deliberately does not import `corral.protocol`: the integration tests check corral's bytes with an
encoder that was written independently of the code under test (layouts from
/work/shared/reference/zookeeper-protocol-and-semantics.md §1.1-§1.5, §1.15).
Every read is bounded by a deadline, so a server that hangs makes a test fail, never hang.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

# OpCodes (Z/ZooDefs.java OpCode)
OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_CHECK = 13
OP_CLOSE_SESSION = -11

# Special xids
XID_NOTIFICATION = -1
XID_PING = -2

# Error codes (Z/KeeperException.java Code)
OK = 0
MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
BAD_ARGUMENTS = -8
NO_NODE = -101

EVENT_NODE_DELETED = 2

OPEN_ACL = [(31, "world", "anyone")]
ZERO_PASSWD = b"\x00" * 16
DEFAULT_MAXBUFFER = 0xFFFFF  # 1,048,575: jute.maxbuffer default


# --- jute primitives (big-endian) -------------------------------------------------------------------
def jint(v: int) -> bytes:
    return struct.pack(">i", v)


def jlong(v: int) -> bytes:
    return struct.pack(">q", v)


def jbool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def jbuffer(b: bytes | None) -> bytes:
    return jint(-1) if b is None else jint(len(b)) + b


def jstring(s: str | None) -> bytes:
    return jint(-1) if s is None else jbuffer(s.encode("utf-8"))


def frame(payload: bytes) -> bytes:
    """Length-prefix a packet (4-byte big-endian length + payload)."""
    return jint(len(payload)) + payload


# --- records ------------------------------------------------------------------------------------------
def connect_request(timeout_ms: int, session_id: int = 0, passwd: bytes = ZERO_PASSWD,
                    last_zxid: int = 0, read_only: bool = False) -> bytes:
    """ConnectRequest{int protocolVersion, long lastZxidSeen, int timeOut, long sessionId, buffer passwd,
    boolean readOnly}: 45 bytes for a 16-byte password."""
    return jint(0) + jlong(last_zxid) + jint(timeout_ms) + jlong(session_id) + jbuffer(passwd) + jbool(read_only)


def request(xid: int, op: int, body: bytes = b"") -> bytes:
    """RequestHeader{int xid, int type} + body."""
    return jint(xid) + jint(op) + body


def acl_vector(acls=OPEN_ACL) -> bytes:
    return jint(len(acls)) + b"".join(jint(perms) + jstring(scheme) + jstring(ident)
                                      for perms, scheme, ident in acls)


def create_body(path: str, data: bytes = b"", flags: int = 0, acls=OPEN_ACL) -> bytes:
    """CreateRequest{ustring path, buffer data, vector<ACL> acl, int flags}; flags 1 = ephemeral."""
    return jstring(path) + jbuffer(data) + acl_vector(acls) + jint(flags)


def path_watch_body(path: str, watch: bool = False) -> bytes:
    """ExistsRequest / GetDataRequest / GetChildrenRequest{ustring path, boolean watch}."""
    return jstring(path) + jbool(watch)


def set_data_body(path: str, data: bytes, version: int = -1) -> bytes:
    return jstring(path) + jbuffer(data) + jint(version)


@dataclass
class ConnectResponse:
    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None
    size: int  # payload size in bytes (37 with the readOnly flag)


def parse_connect_response(payload: bytes) -> ConnectResponse:
    """ConnectResponse{int protocolVersion, int timeOut, long sessionId, buffer passwd, boolean readOnly}."""
    proto, timeout, sid, plen = struct.unpack_from(">iiqi", payload, 0)
    assert 0 <= plen <= 64, f"unreasonable passwd length {plen} in ConnectResponse {payload.hex()}"
    passwd = payload[20:20 + plen]
    assert len(passwd) == plen, f"short ConnectResponse {payload.hex()}"
    rest = payload[20 + plen:]
    read_only = bool(rest[0]) if rest else None
    return ConnectResponse(proto, timeout, sid, passwd, read_only, len(payload))


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes


def parse_reply(payload: bytes) -> Reply:
    assert len(payload) >= 16, f"reply shorter than a ReplyHeader: {payload.hex()}"
    xid, zxid, err = struct.unpack_from(">iqi", payload, 0)
    return Reply(xid, zxid, err, payload[16:])


def parse_watcher_event(body: bytes) -> tuple[int, int, str]:
    """WatcherEvent{int type, int state, ustring path}."""
    etype, state, plen = struct.unpack_from(">iii", body, 0)
    return etype, state, body[12:12 + plen].decode()


def parse_stat(body: bytes, offset: int = 0) -> dict:
    names = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeralOwner",
             "dataLength", "numChildren", "pzxid")
    return dict(zip(names, struct.unpack_from(">qqqqiiiqiiq", body, offset), strict=True))


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset); `data` holds what arrived before."""

    def __init__(self, msg: str, data: bytes = b"") -> None:
        super().__init__(msg)
        self.data = data


# --- a raw connection ------------------------------------------------------------------------------------
class RawConnection:
    """One TCP connection speaking the ZooKeeper framing by hand."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._buf = b""
        self.events: list[tuple[int, int, str]] = []
        self.session: ConnectResponse | None = None
        self.last_zxid = 0
        self._xid = 0

    # -- bytes
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def _fill(self, n: int, deadline: float) -> None:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waited for {n} bytes, have {len(self._buf)}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ConnectionClosed(f"connection reset ({e})", self._buf)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionClosed("EOF", self._buf)
            self._buf += chunk

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        self._fill(n, time.monotonic() + (timeout if timeout is not None else self.timeout))
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_frame(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        self._fill(4, deadline)
        (n,) = struct.unpack(">i", self._buf[:4])
        assert 0 <= n <= 16 * 1024 * 1024, f"server sent an unreasonable frame length {n}"
        self._fill(4 + n, deadline)
        out, self._buf = self._buf[4:4 + n], self._buf[4 + n:]
        return out

    def read_until_closed(self, timeout: float = 10.0) -> bytes:
        """Everything the server sends until it closes the connection; TimeoutError if it stays open."""
        deadline = time.monotonic() + timeout
        try:
            self._fill(len(self._buf) + (1 << 30), deadline)  # never satisfied: returns only by closing
        except ConnectionClosed as e:
            data, self._buf = e.data, b""
            return data
        raise AssertionError("unreachable")

    def is_closed_within(self, timeout: float) -> bool:
        """True if the server closes the connection within `timeout` s (bytes sent meanwhile are dropped)."""
        try:
            self.read_until_closed(timeout)
            return True
        except TimeoutError:
            return False

    # -- protocol
    def handshake(self, timeout_ms: int = 4000, session_id: int = 0, passwd: bytes = ZERO_PASSWD,
                  last_zxid: int = 0) -> ConnectResponse:
        self.send_frame(connect_request(timeout_ms, session_id, passwd, last_zxid))
        resp = parse_connect_response(self.recv_frame())
        if resp.timeout > 0:
            self.session = resp
        return resp

    def next_xid(self) -> int:
        self._xid += 1
        return self._xid

    def read_reply(self, timeout: float | None = None) -> Reply:
        """Next non-notification reply; notifications are collected in `self.events`."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            reply = parse_reply(self.recv_frame(max(0.0, deadline - time.monotonic())))
            if reply.xid == XID_NOTIFICATION:
                self.events.append(parse_watcher_event(reply.body))
                continue
            if reply.zxid > 0:
                self.last_zxid = max(self.last_zxid, reply.zxid)
            return reply

    def call(self, op: int, body: bytes = b"", timeout: float | None = None) -> Reply:
        xid = self.next_xid()
        self.send_frame(request(xid, op, body))
        reply = self.read_reply(timeout)
        assert reply.xid == xid, f"reply xid {reply.xid} for request xid {xid} (op {op})"
        return reply

    def ping(self, timeout: float | None = None) -> Reply:
        self.send_frame(request(XID_PING, OP_PING))
        reply = self.read_reply(timeout)
        assert reply.xid == XID_PING, f"expected the ping reply, got xid {reply.xid}"
        return reply

    def create(self, path: str, data: bytes = b"", flags: int = 0) -> Reply:
        return self.call(OP_CREATE, create_body(path, data, flags))

    def exists(self, path: str, watch: bool = False) -> Reply:
        return self.call(OP_EXISTS, path_watch_body(path, watch))

    def close_session(self) -> Reply:
        return self.call(OP_CLOSE_SESSION)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

