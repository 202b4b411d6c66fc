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

__all__ = ["ForwardedRequest", "request_from_wire", "request_to_wire"]

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


def request_to_wire(payload: bytes) -> bytes:
    """The host's forwarded-request payload as Apache's REQUEST packet."""
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
    return ForwardedRequest(fwd.session_id, fwd.cxid, fwd.type, timeout, body, list(pkt.authinfo or [])).to_bytes()
