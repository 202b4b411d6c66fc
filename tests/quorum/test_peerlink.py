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
from corral.persistence import encode_txn_payload
from corral.persistence.snapshot import body_bytes, parse_snapshot, snapshot_bytes
from corral.protocol import OpCode, SetDataTxn, TxnHeader
from corral.quorum import PeerProtocolError
from corral.quorum import messages as m
from corral.server.host import reconfig_members
from corral.server.peerlink import ElectionInbound, LeaderEnd, LearnerEnd
from corral.server.snapsync import BufferSnap
from corral.tree import DataTree

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
    assert end.leader_config == CONFIG  # the leader's configuration, for the host to activate once serving
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


def test_the_leader_end_sends_the_configuration_its_host_gives_for_the_epoch() -> None:
    end = LeaderEnd(3, frozenset({1, 2, 3}), lambda epoch: b"version=%x" % (epoch << 32))
    end.from_wire(encode_packet(P.FOLLOWERINFO, 2 << 32, P.learner_info_data(2, 0)))
    end.to_wire(m.LeaderInfo(session=3, seq=0, epoch=3))
    end.from_wire(encode_packet(P.ACKEPOCH, 2 << 32, P.ack_epoch_data(2)))
    assert end.to_wire(m.NewLeader(session=3, seq=1, epoch=3, zxid=2 << 32)) == \
        encode_packet(P.NEWLEADER, 3 << 32, b"version=300000000")


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
    leader = LeaderEnd(1, frozenset({1}), CONFIG, snap=BufferSnap())
    data = leader.to_wire(m.Snap(session=1, seq=0, zxid=9, data=b"tree")) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
    learner = LearnerEnd(INFO, 5, snap=BufferSnap())
    got = [x for i in range(len(data)) for x in learner.from_wire(data[i:i + 1])[0]]  # byte by byte
    assert got == [m.Snap(session=7, seq=0, zxid=9, data=b"tree"), m.NewLeader(session=7, seq=1, epoch=1, zxid=9)]


def _tree() -> DataTree:
    t = DataTree()
    for z, (path, data, acl, owner) in enumerate([
            ("/a", b"x", ((31, "world", "anyone"),), 0), ("/a/null", None, ((31, "world", "anyone"),), 0),
            ("/a/acl", b"s", ((31, "digest", "u:abc="), (1, "world", "anyone")), 0),
            ("/a/eph", b"e", ((31, "world", "anyone"),), 0x1000000000001)], start=1):
        t.create_node(path, data, acl, owner, -1, z, 1000 + z)
    t.sessions = {0x1000000000001: 4000}
    t.last_zxid = 4
    return t


def test_a_snap_travels_as_apaches_database_stream() -> None:
    """LearnerHandler's layout after SNAP: the snapshot body without file header or seals, "BenWasHere"."""
    tree = _tree()
    image = snapshot_bytes(tree)
    leader = LeaderEnd(1, frozenset({1}), CONFIG)
    wire = leader.to_wire(m.Snap(session=1, seq=0, zxid=(1 << 32) + 4, data=image))
    assert wire == encode_packet(P.SNAP, (1 << 32) + 4) + body_bytes(tree) + struct.pack(">i", 10) + b"BenWasHere"
    learner = LearnerEnd(INFO, 5)
    data = wire + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
    got = [x for i in range(0, len(data), 7) for x in learner.from_wire(data[i:i + 7])[0]]
    assert [type(x).__name__ for x in got] == ["Snap", "NewLeader"]
    snap = parse_snapshot(got[0].data, None)  # a file image the host installs, at the SNAP's zxid
    assert snap.zxid == (1 << 32) + 4 and snap.tree.sessions == tree.sessions
    assert {p: (n.data, n.acl, n.ephemeral_owner, n.mzxid) for p, n in snap.tree.node_items()} == \
        {p: (n.data, n.acl, n.ephemeral_owner, n.mzxid) for p, n in tree.node_items()}


@pytest.mark.parametrize("stream", [
    b"\xff\xff\xff\xff",  # a negative session count
    struct.pack(">i", 1 << 30),  # more sessions than any server holds
    struct.pack(">ii", 0, 0) + struct.pack(">i", 1 << 24) + b"/a",  # a path over the bound
    struct.pack(">ii", 0, 1) + struct.pack(">qi", 1, -1),  # an ACL list of negative length
    struct.pack(">ii", 0, 0) + struct.pack(">i", 1) + b"/" + struct.pack(">i", 3) + b"Ben",  # wrong signature
    struct.pack(">ii", 0, 0) + struct.pack(">i", 1) + b"/" + struct.pack(">i", 10) + b"BenWasHere",  # no root
])
def test_hostile_snap_streams_are_peer_protocol_errors(stream: bytes) -> None:
    learner = LearnerEnd(INFO, 5)
    with pytest.raises(PeerProtocolError):
        learner.from_wire(encode_packet(P.SNAP, 9) + stream)


@FUZZ
@given(st.binary(max_size=300))
def test_random_snap_streams_never_escape_as_anything_but_peer_protocol_error(junk: bytes) -> None:
    try:
        LearnerEnd(INFO, 5).from_wire(encode_packet(P.SNAP, 9) + junk)
    except PeerProtocolError:
        pass


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


def test_a_learner_revalidates_a_moved_session_as_apaches_learners_do() -> None:
    """Learner.validateSession's packet (zxid -1, long session, int timeout); its answers are consumed,
    and an answer nobody asked for is a protocol error. A corral leader end answers it."""
    learner = LearnerEnd(INFO, 5)
    ask = learner.revalidate(0x55, 4000)
    assert ask == encode_packet(P.REVALIDATE, -1, struct.pack(">qi", 0x55, 4000))
    leader = LeaderEnd(3, frozenset({1, 2, 3}), CONFIG, revalidate=lambda session, timeout: session == 0x55)
    leader.from_wire(encode_packet(P.FOLLOWERINFO, 1 << 32, P.learner_info_data(2, 0)))
    assert leader.from_wire(ask) == []
    answer = leader.take_reply()
    assert learner.from_wire(answer) == ([], b"")
    with pytest.raises(PeerProtocolError):
        learner.from_wire(answer)  # a second answer to one question


def test_commits_of_an_apache_sync_stream_reach_the_core_after_newleader() -> None:
    """Apache's leader syncs committed txns as PROPOSAL + COMMIT pairs before NEWLEADER (LearnerHandler);
    the core takes COMMITs only once its sync is complete."""
    end = LearnerEnd(INFO, 5)
    end.from_wire(encode_packet(P.LEADERINFO, 2 << 32, P.leader_info_data()))
    z = (1 << 32) + 2
    msgs, _ = end.from_wire(encode_packet(P.DIFF, z) + encode_packet(P.PROPOSAL, z, CREATE_ENTRY)
                            + encode_packet(P.COMMIT, z) + encode_packet(P.NEWLEADER, 2 << 32, CONFIG))
    assert [type(x).__name__ for x in msgs] == ["Diff", "Proposal", "NewLeader", "Commit"]
    assert msgs[3] == m.Commit(session=7, seq=4, zxid=z)


def _reconfig_payload(zxid: int, text: str) -> bytes:
    txn = SetDataTxn("/zookeeper/config", text.encode(), -1)
    return encode_txn_payload(TxnHeader(5, 1, zxid, 0, OpCode.reconfig), txn)


def test_a_reconfig_commits_as_commitandactivate_and_informs_as_informandactivate() -> None:
    """Leader.commitAndActivate / informAndActivate: the designated leader (this one while it stays a
    voter, else a new voter) as a long; a learner passes them on as the COMMIT and INFORM they stand for."""
    z = (3 << 32) + 1
    stays = _reconfig_payload(z, "server.1=h:1:2:participant;h:3\nserver.3=h:4:5:participant;h:6\nversion=300000001")
    leaves = _reconfig_payload(z, "server.1=h:1:2:participant;h:3\nserver.2=h:4:5:participant;h:6\nversion=300000001")
    for payload, designated in ((stays, 3), (leaves, 1)):
        end = LeaderEnd(3, frozenset({1, 2, 3}), CONFIG, my_id=3, reconfig_of=reconfig_members)
        end.from_wire(encode_packet(P.FOLLOWERINFO, 2 << 32, P.learner_info_data(2, 0)))
        end.to_wire(m.Proposal(session=3, seq=1, zxid=z, payload=payload))
        end.to_wire(m.Proposal(session=3, seq=2, zxid=z + 1, payload=b"p"))
        assert end.to_wire(m.Commit(session=3, seq=3, zxid=z + 1)) == (
            encode_packet(P.COMMITANDACTIVATE, z, struct.pack(">q", designated)) + encode_packet(P.COMMIT, z + 1))
        obs = LeaderEnd(4, frozenset({1, 2, 3}), CONFIG, my_id=3, reconfig_of=reconfig_members)
        obs.from_wire(encode_packet(P.OBSERVERINFO, 2 << 32, P.learner_info_data(4, 0)))
        assert obs.to_wire(m.Inform(session=4, seq=1, zxid=z, payload=payload)) == \
            encode_packet(P.INFORMANDACTIVATE, z, struct.pack(">q", designated) + payload)
    follower = LearnerEnd(INFO, 5, payload_of=bytes)
    follower.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    follower.from_wire(encode_packet(P.DIFF, 1 << 32) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
                       + encode_packet(P.UPTODATE, -1) + encode_packet(P.PROPOSAL, z, stays))
    msgs, _ = follower.from_wire(encode_packet(P.COMMITANDACTIVATE, z, struct.pack(">q", 3)))
    assert msgs == [m.Commit(session=7, seq=5, zxid=z)]
    with pytest.raises(PeerProtocolError):
        follower.from_wire(encode_packet(P.COMMITANDACTIVATE, z, b"short"))
    observer = LearnerEnd(m.LearnerInfo(session=8, seq=0, accepted_epoch=1, last_zxid=1 << 32, observer=True), 4,
                          payload_of=bytes)
    observer.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    observer.from_wire(encode_packet(P.DIFF, 1 << 32) + encode_packet(P.UPTODATE, -1))
    msgs, _ = observer.from_wire(encode_packet(P.INFORMANDACTIVATE, z, struct.pack(">q", 3) + stays))
    assert msgs == [m.Inform(session=8, seq=3, zxid=z, payload=stays)]


def test_an_apache_leaders_diff_commits_what_the_learner_had_logged() -> None:
    """A member restarted (or swapped in) on an idle ensemble: its log already holds everything and the
    Apache leader sends an empty DIFF at its last zxid, no COMMIT, and UPTODATE with zxid -1. The DIFF's
    zxid is committed on the leader (LearnerHandler.syncFollower), so UPTODATE commits the learner's log
    up to it; otherwise it would serve an older tree than it logged until the next write."""
    last = (1 << 32) + 0x12F
    info = m.LearnerInfo(session=7, seq=0, accepted_epoch=1, last_zxid=last, observer=False)
    end = LearnerEnd(info, 5)
    end.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    end.to_wire(m.AckEpoch(session=7, seq=1, epoch=1, current_epoch=1, last_zxid=last, committed=(1 << 32) + 0xBF,
                           marks=[], complete=True))
    msgs, _ = end.from_wire(encode_packet(P.DIFF, last) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
                            + encode_packet(P.UPTODATE, -1))
    assert msgs[-1] == m.UpToDate(session=7, seq=3, zxid=last)
    # A DIFF past our log end (the leader sends the rest as PROPOSAL + COMMIT) certifies only our log.
    end = LearnerEnd(info, 5)
    end.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    end.to_wire(m.AckEpoch(session=7, seq=1, epoch=1, current_epoch=1, last_zxid=last, committed=0,
                           marks=[], complete=True))
    msgs, _ = end.from_wire(encode_packet(P.DIFF, last + 5) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
                            + encode_packet(P.UPTODATE, -1))
    assert msgs[-1].zxid == last
    # TRUNC: the log is cut to the leader's committed zxid, which is then committed.
    end = LearnerEnd(info, 5)
    end.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    msgs, _ = end.from_wire(encode_packet(P.TRUNC, last - 7) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
                            + encode_packet(P.UPTODATE, -1))
    assert msgs[-1].zxid == last - 7
    # A corral leader's UPTODATE names its committed zxid, which is taken as it is.
    end = LearnerEnd(info, 5)
    end.from_wire(encode_packet(P.LEADERINFO, 1 << 32, P.leader_info_data()))
    msgs, _ = end.from_wire(encode_packet(P.DIFF, last) + encode_packet(P.NEWLEADER, 1 << 32, CONFIG)
                            + encode_packet(P.UPTODATE, last - 1))
    assert msgs[-1].zxid == last - 1
