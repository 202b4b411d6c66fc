"""A client write on its way to the leader: the host's record, and Apache's REQUEST layout of it.

The host forwards a `ForwardedRequest` through the core as an opaque payload (on the leader itself
the same object goes straight to `prepare`, never serialised). On the wire it travels as Apache
ZooKeeper's REQUEST packet (`Learner.request`): data = ``long sessionId, int cxid, int type`` then the
request body, the client's auth ids in the packet's authinfo. Apache has no timeout field: a
createSession's body *is* the session timeout (4 bytes, `ZooKeeperServer.createSession`), so the
translation moves it between the two places.
"""

from __future__ import annotations

import struct

from ..peerwire import packets as P
from ..protocol import DecodeError, Id, OpCode, QuorumPacket
from ..protocol.jute import Buffer, Int, Long, Record, record
from ..quorum.errors import PeerProtocolError

__all__ = ["ForwardedRequest", "decode_forwarded", "encode_forwarded", "request_from_wire", "request_to_wire"]

_TIMEOUT = struct.Struct(">i")


@record
class ForwardedRequest(Record):
    """A client write, createSession (`timeout`) or closeSession forwarded to the leader."""

    session: Long
    cxid: Int
    type: Int
    timeout: Int
    body: Buffer
    auth: list[Id] | None


_HEAD = struct.Struct(">qiiii")  # ForwardedRequest: session, cxid, type, timeout, body length
_I = struct.Struct(">i")
_PACKET_HEAD = struct.Struct(">iqi")  # QuorumPacket: type, zxid, data length
_QII = struct.Struct(">qii")  # REQUEST data: sessionId, cxid, type
_NULL = b"\xff\xff\xff\xff"

AuthIds = list[tuple[str, str]]


def encode_forwarded(session: int, cxid: int, op: int, timeout: int, body: bytes, auth: AuthIds) -> bytes:
    """`ForwardedRequest(...).to_bytes()` packed directly: a learner does this for every client write it
    forwards, and the generic record encoder cost more than the rest of the forwarding (same bytes:
    tests/server/test_forwarded.py)."""
    out = bytearray(_HEAD.pack(session, cxid, op, timeout, len(body)))
    out += body
    out += _I.pack(len(auth))
    for scheme, ident in auth:
        for s in (scheme, ident):
            b = s.encode("utf-8", "surrogatepass")
            out += _I.pack(len(b))
            out += b
    return bytes(out)


def _auth_strings(payload: bytes, off: int, errors: str) -> list[str] | None:
    """The scheme and id strings of the vector<Id> at `off`, decoded with `errors` ("replace", as the
    generic reader, or "strict"), when the vector fills the payload exactly with non-null strings (and,
    strict, they are valid UTF-8); None otherwise: the generic record path then reads, or refuses, it."""
    end = len(payload)
    if off + 4 > end:
        return None
    count = _I.unpack_from(payload, off)[0]
    p = off + 4
    if count < 0 or count > (end - p) // 8:
        return None
    strings: list[str] = []
    for _ in range(2 * count):
        if p + 4 > end:
            return None
        n = _I.unpack_from(payload, p)[0]
        p += 4
        if n < 0 or p + n > end:
            return None
        try:
            strings.append(payload[p:p + n].decode("utf-8", errors))
        except UnicodeDecodeError:
            return None
        p += n
    return strings if p == end else None


def decode_forwarded(payload: bytes) -> tuple[int, int, int, int, bytes, AuthIds]:
    """(session, cxid, type, timeout, body, auth ids) of a host's forwarded-request payload; raises
    DecodeError as `ForwardedRequest.from_bytes` does."""
    if len(payload) >= _HEAD.size:
        session, cxid, op, timeout, n = _HEAD.unpack_from(payload, 0)
        p = _HEAD.size + n
        strings = _auth_strings(payload, p, "replace") if n >= 0 else None
        if strings is not None:
            auth = list(zip(strings[::2], strings[1::2], strict=True))
            return session, cxid, op, timeout, payload[_HEAD.size:p], auth
    req = ForwardedRequest.from_bytes(payload)
    auth = [(i.scheme or "", i.id or "") for i in req.auth or ()]
    return req.session, req.cxid, req.type, req.timeout, req.body or b"", auth


def request_to_wire(payload: bytes) -> bytes:
    """The host's forwarded-request payload as Apache's REQUEST packet. The client's auth ids are the
    same jute vector<Id> in both layouts, so they are copied as bytes (a null vector when empty)."""
    if len(payload) >= _HEAD.size:
        session, cxid, op, timeout, n = _HEAD.unpack_from(payload, 0)
        p = _HEAD.size + n
        # Strict UTF-8: ids the generic path would decode with replacement characters (and so encode
        # differently) take that path.
        strings = _auth_strings(payload, p, "strict") if n >= 0 else None
        if strings is not None:
            if op == OpCode.createSession:
                data = _QII.pack(session, cxid, op) + _I.pack(timeout)
            else:
                data = _QII.pack(session, cxid, op) + payload[_HEAD.size:p]
            auth = payload[p:] if strings else _NULL
            return b"".join((_PACKET_HEAD.pack(P.REQUEST, -1, len(data)), data, auth))
    return _request_to_wire_generic(payload)


def _request_to_wire_generic(payload: bytes) -> bytes:
    try:
        req = ForwardedRequest.from_bytes(payload)
    except DecodeError as e:  # our own host wrote it: a bug, reported as the transport's one error
        raise PeerProtocolError(f"unreadable forwarded request: {e}") from e
    body = _TIMEOUT.pack(req.timeout) if req.type == OpCode.createSession else (req.body or b"")
    data = P.ForwardedRequest(req.session, req.cxid, req.type, body).encode()
    return P.encode_packet(P.REQUEST, -1, data, list(req.auth or []) or None)


def request_from_wire(pkt: QuorumPacket) -> bytes:
    """A learner's REQUEST packet as the host's forwarded-request payload."""
    fwd = P.ForwardedRequest.decode(pkt)
    timeout, body = 0, fwd.body
    if fwd.type == OpCode.createSession:
        if len(body) != _TIMEOUT.size:
            raise PeerProtocolError(f"createSession REQUEST body of {len(body)} bytes (its timeout is 4)")
        (timeout,) = _TIMEOUT.unpack(body)
        body = b""
    auth = [(i.scheme or "", i.id or "") for i in pkt.authinfo or ()]
    if all(i.scheme is not None and i.id is not None for i in pkt.authinfo or ()):
        return encode_forwarded(fwd.session_id, fwd.cxid, fwd.type, timeout, body, auth)
    return ForwardedRequest(fwd.session_id, fwd.cxid, fwd.type, timeout, body, list(pkt.authinfo or [])).to_bytes()
