"""Peer message codec: round trips, strictness, and fuzzing (one error type, never a crash)."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.quorum import PROTOCOL_VERSION, PeerProtocolError, decode
from corral.quorum import messages as m

LONGS = st.integers(min_value=0, max_value=(1 << 63) - 1)
PAYLOADS = st.binary(max_size=64)


def strategy_for(cls: type[m.Message]) -> st.SearchStrategy[m.Message]:
    """Valid instances of a message class, from its jute field kinds and range rules."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, tp in cls.FIELDS:
        meta = getattr(tp, "__metadata__", (None,))[0]
        if meta == "long":
            fields[name] = LONGS
        elif meta == "int":
            fields[name] = st.integers(min_value=0, max_value=(1 << 31) - 1)
        elif meta == "boolean":
            fields[name] = st.booleans()
        elif meta == "buffer":
            fields[name] = PAYLOADS
        else:  # list[SessionTouch]
            fields[name] = st.lists(st.builds(m.SessionTouch, session_id=st.integers(-(1 << 63), (1 << 63) - 1),
                                              timeout=st.integers(-(1 << 31), (1 << 31) - 1)), max_size=4)
    if cls is m.Vote:
        fields["state"] = st.sampled_from([0, 1, 2, 3])
        fields["leader"] = st.integers(min_value=-1, max_value=(1 << 63) - 1)
    if cls is m.AckEpoch:
        return ack_epochs()
    return st.builds(cls, **fields)


@st.composite
def ack_epochs(draw: st.DrawFn) -> m.AckEpoch:
    committed = draw(st.integers(0, 1 << 40))
    marks = sorted(set(draw(st.lists(st.integers(committed + 1, 1 << 41), max_size=5))), reverse=True)
    return m.AckEpoch(session=draw(LONGS), seq=draw(LONGS), epoch=draw(LONGS),
                      current_epoch=draw(st.integers(-1, 1 << 31)), last_zxid=marks[0] if marks else committed,
                      committed=committed, marks=marks, complete=draw(st.booleans()))


ALL = sorted(m.MESSAGE_TYPES.values(), key=lambda c: c.TYPE)
ANY_MESSAGE = st.one_of(*(strategy_for(cls) for cls in ALL))


@given(ANY_MESSAGE)
def test_every_message_round_trips(msg: m.Message) -> None:
    body = msg.encode()
    assert body[:3] == struct.pack(">HB", PROTOCOL_VERSION, msg.TYPE)
    assert decode(body) == msg
    assert m.Message.decode(body) == msg


def test_type_numbers_are_unique_and_zookeeper_ones_are_kept() -> None:
    assert len(m.MESSAGE_TYPES) == len({c.TYPE for c in m.MESSAGE_TYPES.values()})
    zk = {"Request": 1, "Proposal": 2, "Ack": 3, "Commit": 4, "Ping": 5, "SyncRequest": 7, "Inform": 8,
          "NewLeader": 10, "LearnerInfo": 11, "UpToDate": 12, "Diff": 13, "Trunc": 14, "Snap": 15,
          "LeaderInfo": 17, "AckEpoch": 18}
    assert {c.__name__: c.TYPE for c in m.MESSAGE_TYPES.values() if c.__name__ in zk} == zk


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "truncated header"),
        (b"\x00", "truncated header"),
        (struct.pack(">HB", PROTOCOL_VERSION + 1, 2), "unsupported peer protocol version"),
        (struct.pack(">HB", PROTOCOL_VERSION, 99), "unknown message type"),
        (m.Ack(session=1, seq=2, zxid=3).encode()[:-1], "malformed"),
        (m.Ack(session=1, seq=2, zxid=3).encode() + b"\x00", "trailing bytes"),
        (m.Ack(session=1, seq=2, zxid=-3).encode(), "negative"),
        (m.Proposal(session=1, seq=2, zxid=3, payload=None).encode(), "null"),
        (m.Vote(state=7, leader=1, zxid=0, election_epoch=0, peer_epoch=0, incarnation=0, round=0).encode(),
         "bad vote state"),
        (m.AckEpoch(session=1, seq=1, epoch=1, current_epoch=-2, last_zxid=0, committed=0, marks=[],
                    complete=True).encode(), "bad current epoch"),
        (m.AckEpoch(session=1, seq=1, epoch=1, current_epoch=0, last_zxid=9, committed=0, marks=[5, 9],
                    complete=True).encode(), "marks do not end the log"),
        (m.AckEpoch(session=1, seq=1, epoch=1, current_epoch=0, last_zxid=9, committed=0, marks=[9, 9],
                    complete=True).encode(), "not decreasing"),
        (m.AckEpoch(session=1, seq=1, epoch=1, current_epoch=0, last_zxid=9, committed=5, marks=[9, 5],
                    complete=True).encode(), "not after committed"),
        (m.PingReply(session=1, seq=1, round=0, touches=None).encode(), "null touch list"),  # type: ignore[arg-type]
        (struct.pack(">HB", PROTOCOL_VERSION, 2) + struct.pack(">qqqi", 1, 1, 1, 0x7FFFFFFF), "malformed"),
    ],
)
def test_malformed_bodies_raise_peer_protocol_error(body: bytes, why: str) -> None:
    with pytest.raises(PeerProtocolError, match=why):
        decode(body)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_anything_but_peer_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except PeerProtocolError:
        pass


@settings(max_examples=1000)
@given(ANY_MESSAGE, st.data())
def test_mutated_messages_decode_or_raise_peer_protocol_error(msg: m.Message, data: st.DataObject) -> None:
    body = bytearray(msg.encode())
    op = data.draw(st.sampled_from(["flip", "cut", "extend", "splice"]))
    if op == "flip":
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] ^= data.draw(st.integers(1, 255))
    elif op == "cut":
        del body[data.draw(st.integers(0, len(body) - 1)):]
    elif op == "extend":
        body += data.draw(st.binary(min_size=1, max_size=16))
    else:
        i = data.draw(st.integers(3, max(3, len(body))))
        body[i:i + 4] = data.draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"]))
    try:
        out = decode(bytes(body))
    except PeerProtocolError:
        return
    out.validate()  # whatever decoded is a valid message
    assert decode(out.encode()) == out


def test_a_body_of_another_version_is_refused() -> None:
    vote = m.Vote(state=0, leader=1, zxid=0, election_epoch=1, peer_epoch=0, incarnation=1, round=1)
    assert decode(vote.encode()) == vote
    future = struct.pack(">HB", PROTOCOL_VERSION + 1, m.Vote.TYPE) + vote.encode()[3:]
    with pytest.raises(PeerProtocolError, match="version"):
        decode(future)


@pytest.mark.parametrize("msg", [
    m.Proposal(session=1, seq=2, zxid=3, payload=b"p"), m.Ack(session=1, seq=2, zxid=3),
    m.Commit(session=1, seq=2, zxid=3), m.Inform(session=1, seq=2, zxid=3, payload=b"p"),
    m.Request(session=1, seq=2, payload=b"p"),
])
def test_the_per_write_messages_validate_as_the_generic_rules(msg: m.Message) -> None:
    """Proposal, Ack, Commit, Inform and Request check their fields directly (one per write and learner);
    every bad value is still refused, with the generic rule's message."""
    msg.validate()
    for name in (*msg.NON_NEGATIVE, *msg.REQUIRED_BYTES):
        bad = dataclasses.replace(msg, **{name: None if name in msg.REQUIRED_BYTES else -1})
        with pytest.raises(PeerProtocolError) as fast:
            bad.validate()
        with pytest.raises(PeerProtocolError) as generic:
            m.Message.validate(bad)
        assert str(fast.value) == str(generic.value)
