"""A minimal raw ZooKeeper session for the durability tests: connect, create, vanish.

Why not kazoo: a kazoo client always tries to close its session or reconnect. The recovery tests need
sessions that create ephemerals and then disappear *without* a closeSession, so that the server has to
expire them (a closeSession txn with the ephemerals to delete is then written by the server itself).
Written from the wire protocol with `struct` only, so it shares no code with corral.
"""

from __future__ import annotations

import socket
import struct

_OP_CREATE = 1
_OP_PING = 11
_PERM_ALL = 31


def _ustr(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buf(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


class WireError(Exception):
    """The server answered a request with a non-zero error code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ZooKeeper error {code}")
        self.code = code


class RawSession:
    """One TCP connection with one session; every call blocks with a socket timeout."""

    def __init__(self, host: str, port: int, timeout_ms: int, session_id: int = 0, passwd: bytes = bytes(16),
                 io_timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.xid = 0
        self.last_zxid = 0
        req = struct.pack(">iqiq", 0, 0, timeout_ms, session_id) + _buf(passwd) + b"\0"
        self._send(req)
        body = self._recv()
        _, self.timeout, self.session_id = struct.unpack_from(">iiq", body)
        (plen,) = struct.unpack_from(">i", body, 16)
        self.passwd = bytes(body[20:20 + plen])
        if self.session_id == 0 or self.timeout <= 0:
            self.sock.close()
            raise ConnectionRefusedError("session refused (expired or unknown)")

    def _send(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("server closed the connection")
            out += chunk
        return bytes(out)

    def _recv(self) -> bytes:
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def _call(self, op: int, body: bytes) -> tuple[int, bytes]:
        self.xid += 1
        xid = self.xid
        self._send(struct.pack(">ii", xid, op) + body)
        while True:
            reply = self._recv()
            rxid, zxid, err = struct.unpack_from(">iqi", reply)
            if rxid != xid:  # a watch notification (-1) or a ping reply (-2): not ours
                continue
            if zxid > 0:
                self.last_zxid = zxid
            return err, reply[16:]

    def create(self, path: str, data: bytes = b"", ephemeral: bool = True, sequential: bool = False) -> str:
        """Create a znode (world:anyone ALL) and return its actual path."""
        flags = (1 if ephemeral else 0) | (2 if sequential else 0)
        acl = struct.pack(">ii", 1, _PERM_ALL) + _ustr("world") + _ustr("anyone")
        body = _ustr(path) + _buf(data) + acl + struct.pack(">i", flags)
        err, rest = self._call(_OP_CREATE, body)
        if err:
            raise WireError(err)
        (n,) = struct.unpack_from(">i", rest)
        return rest[4:4 + n].decode()

    def ping(self) -> None:
        self._send(struct.pack(">ii", -2, _OP_PING))

    def vanish(self) -> None:
        """Drop the connection without closeSession: only expiry can end this session now."""
        try:
            self.sock.close()
        except OSError:
            pass
