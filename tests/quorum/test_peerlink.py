"""The per-connection Apache protocol ends (corral.server.peerlink): packets a real Apache leader sends
reach the core as the messages it expects, and hostile bytes on either end fail with PeerProtocolError
and nothing else. (The whole protocol through these ends: tests/quorum/test_peer_apache_wire.py.)"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.peerwire import Notification, encode_packet
from corral.peerwire import packets as P
from corral.quorum import PeerProtocolError
from corral.quorum import messages as m
from corral.server.peerlink import ElectionInbound, LeaderEnd, LearnerEnd

from ..peerwire.test_codec import CONFIG, CREATE_ENTRY

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INFO = m.LearnerInfo(session=7, seq=0, accepted_epoch=1, last_zxid=(1 << 32), observer=False)


def test_a_follower_synced_by_an_apache_leader() -> None:
    """The packet sequence the live Apache 3.8 leader sent (tests/peerwire/test_live_apache.py), to a follower."""
    end = LearnerEnd(INFO, 5)
    assert end.hello() == encode_packet(P.FOLLOWERINFO, 1 << 32, P.learner_info_data(5, 0))
    msgs, reply = end.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    assert msgs == [m.LeaderInfo(session=7, seq=0, epoch=1)] and reply == b""
    ack_epoch = end.to_wire(m.AckEpoch(session=7, seq=1, epoch=1, current_epoch=1, last_zxid=1 << 32,
                                       committed=1 << 32, marks=[], complete=True))
    assert ack_epoch.startswith(struct.pack(">iqi", P.ACKEPOCH, 1 << 32, 4 + 12 + 1) + struct.pack(">i", 1))
    stream = (encode_packet(P.DIFF, 1 << 32) + encode_packet(P.PROPOSAL, (1 << 32) + 2, CREATE_ENTRY)
              + encode_packet(P.NEWLEADER, 1 << 32, CONFIG) + encode_packet(P.UPTODATE, -1))
    msgs, reply = end.from_wire(stream)
    assert [type(x).__name__ for x in msgs] == ["Diff", "Proposal", "NewLeader", "UpToDate"]
    assert msgs[1].payload == CREATE_ENTRY[:-12]  # the digest is dropped, the txn kept byte for byte
    assert msgs[2] == m.NewLeader(session=7, seq=3, epoch=1, zxid=(1 << 32) + 2)
    assert reply == encode_packet(P.ACK, 1 << 32)  # the ACK of UPTODATE, as Apache learners send it
    # the core acks NEWLEADER once durable: Apache wants ACK(epoch << 32) first, then the txn
    assert end.to_wire(m.Ack(session=7, seq=2, zxid=(1 << 32) + 2)) == \
        encode_packet(P.ACK, 1 << 32) + encode_packet(P.ACK, (1 << 32) + 2)
    msgs, _ = end.from_wire(encode_packet(P.PING, (1 << 32) + 2))
    assert msgs == [m.Ping(session=7, seq=5, round=1)]
    assert end.to_wire(m.PingReply(session=7, seq=3, round=1, touches=[m.SessionTouch(9, 4000)])) == \
        encode_packet(P.PING, (1 << 32) + 2, struct.pack(">qi", 9, 4000))


def test_the_leader_end_expands_cumulative_commits_and_maps_the_newleader_ack() -> None:
    end = LeaderEnd(3, frozenset({1, 2, 3}), CONFIG)
    (info,) = end.from_wire(encode_packet(P.FOLLOWERINFO, 2 << 32, P.learner_info_data(2, 0)))
    assert info == m.LearnerInfo(session=3, seq=0, accepted_epoch=2, last_zxid=0, observer=False)
    end.to_wire(m.LeaderInfo(session=3, seq=0, epoch=3))
    (ack_epoch,) = end.from_wire(encode_packet(P.ACKEPOCH, (2 << 32) + 5, P.ack_epoch_data(2)))
    assert ack_epoch.marks == [(2 << 32) + 5] and not ack_epoch.complete  # an Apache learner's ACKEPOCH
    zs = [(2 << 32) + 6, (2 << 32) + 7]
    for z in zs:
        end.to_wire(m.Proposal(session=3, seq=1, zxid=z, payload=b"p"))
    end.to_wire(m.NewLeader(session=3, seq=3, epoch=3, zxid=zs[-1]))
    assert end.from_wire(encode_packet(P.ACK, zs[0])) == []  # before the NEWLEADER ack: covered by it
    assert end.from_wire(encode_packet(P.ACK, 3 << 32)) == [m.Ack(session=3, seq=2, zxid=zs[-1])]
    assert end.from_wire(encode_packet(P.ACK, zs[1])) == []
    # No COMMIT between NEWLEADER and UPTODATE (an Apache 3.8.0 learner fails on one, ZOOKEEPER-4394):
    # after UPTODATE, one COMMIT per synced proposal, in order.
    assert end.to_wire(m.Commit(session=3, seq=4, zxid=zs[0])) == b""
    assert end.to_wire(m.UpToDate(session=3, seq=5, zxid=zs[-1])) == (
        encode_packet(P.UPTODATE, zs[-1]) + encode_packet(P.COMMIT, zs[0]) + encode_packet(P.COMMIT, zs[1]))
    assert end.from_wire(encode_packet(P.ACK, 3 << 32)) == []  # the ACK of UPTODATE


@pytest.mark.parametrize("data", [
    encode_packet(P.ACK, 5),  # before FOLLOWERINFO
    encode_packet(P.FOLLOWERINFO, -1, P.learner_info_data(2, 0)),
    encode_packet(P.FOLLOWERINFO, 0, b"short"),
    encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(2, 0)) + encode_packet(P.ACKEPOCH, 5, b"\0\0\0\x01"),
    encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(2, 0)) + encode_packet(P.PROPOSAL, 5, b""),
])
def test_bad_learner_streams(data: bytes) -> None:
    with pytest.raises(PeerProtocolError):
        LeaderEnd(1, frozenset({1, 2, 3}), CONFIG).from_wire(data)


@FUZZ
@given(st.binary(max_size=300), st.binary(max_size=100))
def test_fuzz_both_ends(first: bytes, second: bytes) -> None:
    for data in (first, encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(2, 0)) + first):
        try:
            LeaderEnd(1, frozenset({1, 2, 3}), CONFIG).from_wire(data)
        except PeerProtocolError:
            pass
    learner = LearnerEnd(INFO, 5)
    for data in (first, encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()) + first, second):
        try:
            learner.from_wire(data)
        except PeerProtocolError:
            break
    try:
        ElectionInbound(1).vote(first)
    except PeerProtocolError:
        pass


def test_observer_votes_and_snap_body() -> None:
    minv = -(1 << 63)
    vote = ElectionInbound(4).vote(Notification(3, minv, minv, 2, minv).encode())
    assert (vote.leader, vote.zxid, vote.peer_epoch, vote.incarnation, vote.round) == (-1, 0, 0, 4, 1)
    leader = LeaderEnd(1, frozenset({1}), CONFIG)
    data = leader.to_wire(m.Snap(session=1, seq=0, zxid=9, data=b"tree")) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
    learner = LearnerEnd(INFO, 5)
    got = [x for i in range(len(data)) for x in learner.from_wire(data[i:i + 1])[0]]  # byte by byte
    assert got == [m.Snap(session=7, seq=0, zxid=9, data=b"tree"), m.NewLeader(session=7, seq=1, epoch=1, zxid=9)]


def test_no_ping_reaches_a_learner_before_its_sync_starts() -> None:
    """An Apache learner exits on a PING between ACKEPOCH and DIFF/TRUNC/SNAP (Learner.syncWithLeader)."""
    end = LeaderEnd(3, frozenset({1, 2, 3}), CONFIG)
    end.from_wire(encode_packet(P.FOLLOWERINFO, 1 << 32, P.learner_info_data(2, 0)))
    assert end.to_wire(m.LeaderInfo(session=3, seq=0, epoch=2)).startswith(struct.pack(">i", P.LEADERINFO))
    assert end.to_wire(m.Ping(session=3, seq=1, round=4)) == b""
    assert end.to_wire(m.Diff(session=3, seq=2, zxid=1 << 32)) == encode_packet(P.DIFF, 1 << 32)
    assert end.to_wire(m.Ping(session=3, seq=3, round=5)) == encode_packet(P.PING, 5)


def test_revalidate_is_answered_in_apaches_layout_and_garbage_is_refused() -> None:
    asked: list[tuple[int, int]] = []

    def revalidate(session: int, timeout: int) -> bool:
        asked.append((session, timeout))
        return session == 0x55

    end = LeaderEnd(3, frozenset({1, 2, 3}), CONFIG, revalidate=revalidate)
    end.from_wire(encode_packet(P.FOLLOWERINFO, 1 << 32, P.learner_info_data(2, 0)))
    for session, valid in ((0x55, b"\x01"), (0x66, b"\x00")):
        assert end.from_wire(encode_packet(P.REVALIDATE, -1, P.RevalidateAsk(session, 4000).encode())) == []
        assert end.take_reply() == encode_packet(P.REVALIDATE, -1, struct.pack(">q", session) + valid)
    assert asked == [(0x55, 4000), (0x66, 4000)]
    for data in (None, b"", b"\0" * 11, b"\0" * 13):
        with pytest.raises(PeerProtocolError):
            end.from_wire(encode_packet(P.REVALIDATE, -1, data))
    plain = LeaderEnd(4, frozenset({1, 2, 3}), CONFIG)  # no revalidate callback: not this protocol
    plain.from_wire(encode_packet(P.FOLLOWERINFO, 1 << 32, P.learner_info_data(2, 0)))
    with pytest.raises(PeerProtocolError):
        plain.from_wire(encode_packet(P.REVALIDATE, -1, P.RevalidateAsk(1, 1).encode()))
