"""A forwarded client request between the host's record and Apache's REQUEST packet, both ways."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.peerwire import PacketReader
from corral.peerwire import packets as P
from corral.protocol import Id, OpCode, QuorumPacket
from corral.quorum import PeerProtocolError
from corral.quorum.messages import LearnerInfo, Request
from corral.server.forwarded import ForwardedRequest, request_from_wire, request_to_wire
from corral.server.peerlink import LeaderEnd, LearnerEnd


def _packet(data: bytes) -> QuorumPacket:
    (pkt,) = PacketReader().feed(data)
    return pkt


def test_a_write_travels_in_apaches_layout_with_its_auth_ids() -> None:
    req = ForwardedRequest(0x1234, 7, OpCode.setData, 0, b"body", [Id("digest", "u:x"), Id("ip", "1.2.3.4")])
    pkt = _packet(request_to_wire(req.to_bytes()))
    assert pkt.type == P.REQUEST and pkt.zxid == -1
    assert pkt.data == struct.pack(">qii", 0x1234, 7, OpCode.setData) + b"body"  # Learner.request's layout
    assert pkt.authinfo == [Id("digest", "u:x"), Id("ip", "1.2.3.4")]
    assert ForwardedRequest.from_bytes(request_from_wire(pkt)) == req


def test_a_create_session_carries_its_timeout_as_the_body() -> None:
    req = ForwardedRequest(0x55, 0, OpCode.createSession, 30000, b"", [])
    pkt = _packet(request_to_wire(req.to_bytes()))
    assert pkt.data == struct.pack(">qiii", 0x55, 0, OpCode.createSession, 30000)
    assert pkt.authinfo is None
    assert ForwardedRequest.from_bytes(request_from_wire(pkt)) == req


@given(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(-(1 << 31), (1 << 31) - 1),
       st.sampled_from([OpCode.create, OpCode.delete, OpCode.setData, OpCode.multi, OpCode.closeSession,
                        OpCode.createSession]),
       st.integers(0, (1 << 31) - 1), st.binary(max_size=64))
def test_any_request_round_trips(session: int, cxid: int, op: int, timeout: int, body: bytes) -> None:
    if op == OpCode.createSession:
        body = b""
    else:
        timeout = 0
    req = ForwardedRequest(session, cxid, op, timeout, body, [])
    assert ForwardedRequest.from_bytes(request_from_wire(_packet(request_to_wire(req.to_bytes())))) == req


@pytest.mark.parametrize("data", [
    None,
    b"",
    b"\0" * 15,
    struct.pack(">qii", 1, 0, OpCode.createSession),  # no timeout
    struct.pack(">qii", 1, 0, OpCode.createSession) + b"\0\0\0\0\0",  # more than one
])
def test_hostile_requests_are_peer_protocol_errors(data: bytes | None) -> None:
    with pytest.raises(PeerProtocolError):
        request_from_wire(QuorumPacket(P.REQUEST, -1, data, None))


def test_an_unreadable_host_payload_is_a_peer_protocol_error() -> None:
    with pytest.raises(PeerProtocolError):
        request_to_wire(b"\x01\x02")


def test_the_translators_carry_a_request_from_learner_core_to_leader_core() -> None:
    info = LearnerInfo(session=1 << 20 | 1, seq=0, accepted_epoch=1, last_zxid=0, observer=False)
    learner = LearnerEnd(info, 2)
    leader = LeaderEnd(1, frozenset({1, 2, 3}), b"version=0")
    assert [type(m).__name__ for m in leader.from_wire(learner.hello())] == ["LearnerInfo"]
    payload = ForwardedRequest(9, 3, OpCode.create, 0, b"c", [Id("world", "anyone")]).to_bytes()
    (msg,) = leader.from_wire(learner.to_wire(Request(session=info.session, seq=1, payload=payload)))
    assert isinstance(msg, Request) and msg.payload == payload and msg.session == 1
