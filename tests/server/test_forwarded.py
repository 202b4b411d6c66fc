"""A forwarded client request between the host's record and Apache's REQUEST packet, both ways."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.peerwire import PacketReader
from corral.peerwire import packets as P
from corral.protocol import DecodeError, Id, OpCode, QuorumPacket
from corral.quorum import PeerProtocolError
from corral.quorum.messages import LearnerInfo, Request
from corral.server.forwarded import (
    ForwardedRequest,
    _request_to_wire_generic,
    decode_forwarded,
    encode_forwarded,
    request_from_wire,
    request_to_wire,
)
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


# ---- the packed paths give the generic record's bytes and values ---------------------------------

IDS = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=3)


@given(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(-(1 << 31), (1 << 31) - 1),
       st.integers(-(1 << 31), (1 << 31) - 1), st.integers(-(1 << 31), (1 << 31) - 1), st.binary(max_size=64), IDS)
def test_packed_encoding_and_decoding_are_the_records(session, cxid, op, timeout, body, auth) -> None:
    rec = ForwardedRequest(session, cxid, op, timeout, body, [Id(s, i) for s, i in auth])
    payload = encode_forwarded(session, cxid, op, timeout, body, auth)
    assert payload == rec.to_bytes()
    expect = (session, cxid, op, timeout, body, [(s.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                                                   i.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
                                                  for s, i in auth])
    assert decode_forwarded(payload) == expect
    assert request_to_wire(payload) == _request_to_wire_generic(payload)


def _outcome(fn, payload: bytes):
    try:
        return "ok", fn(payload)
    except (DecodeError, PeerProtocolError) as e:
        return "error", type(e).__name__


def _generic_decode(payload: bytes):
    req = ForwardedRequest.from_bytes(payload)
    return (req.session, req.cxid, req.type, req.timeout, req.body or b"",
            [(i.scheme or "", i.id or "") for i in req.auth or ()])


def test_damaged_payloads_decode_or_fail_as_the_generic_record() -> None:
    import random
    rng = random.Random(614)
    payload = encode_forwarded(1, 2, OpCode.setData, 0, b"body", [("digest", "u:x"), ("ip", "10.0.0.1")])
    cases = [payload[:cut] for cut in range(len(payload) + 1)]
    for _ in range(3000):
        b = bytearray(payload)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    cases.append(ForwardedRequest(1, 2, 5, 0, None, None).to_bytes())  # null body and ids: generic path
    for c in cases:
        assert _outcome(decode_forwarded, c) == _outcome(_generic_decode, c), c
        assert _outcome(request_to_wire, c) == _outcome(_request_to_wire_generic, c), c
