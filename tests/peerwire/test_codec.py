"""Apache's peer wire codec (corral.peerwire): the bytes Apache 3.8 sends decode to what it meant,
what we encode is what Apache reads, and hostile bytes fail with PeerProtocolError and nothing else.

The byte strings under "captured" were recorded from a live Apache 3.8.0 ensemble (the same exchange
tests/peerwire/test_live_apache.py runs): they are inputs, the expected fields follow from Apache's
source (FastLeaderElection.buildMsg, LearnerHandler, Leader.inform).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.peerwire import (
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    ElectionFrameReader,
    InitialMessage,
    InitialMessageReader,
    Notification,
    PacketReader,
    ServerState,
    TxnEntry,
    config_version,
    encode_packet,
)
from corral.peerwire import packets as P
from corral.protocol import CreateTxn, Id, OpCode, QuorumPacket, TxnDigest, TxnHeader
from corral.quorum import PeerProtocolError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = st.integers(-(1 << 63), (1 << 63) - 1)
INT = st.integers(-(1 << 31), (1 << 31) - 1)

# ---- captured from Apache 3.8.0 ----------------------------------------------------------------------

CONFIG = (b"server.1=127.0.0.1:57133:53863:participant;127.0.0.1:38657\n"
          b"server.2=127.0.0.1:51329:38229:participant;127.0.0.1:46229\n"
          b"server.3=127.0.0.1:54443:57745:participant;127.0.0.1:37523\nversion=0")
# INFORM data of `create /h5 hello` (open ACL, persistent), with the 3.6+ digest.
CREATE_ENTRY = bytes.fromhex(
    "030004036c140000" "00000001" "0000000100000002" "000001a249819f6d" "00000001"  # TxnHeader: client, cxid,
    # zxid, time, type; CreateTxn: path, data, one ACL (perms, scheme, id), ephemeral, parentCVersion
    "000000032f6835" "0000000568656c6c6f" "00000001" "0000001f" "00000005776f726c64" "00000006616e796f6e65"
    "00" "00000001"
    "00000002" "000000014c4d751b")  # TxnDigest: version, treeDigest
# INFORM data of a closeSession (3.6+ body: an empty vector of paths), with the digest.
CLOSE_ENTRY = bytes.fromhex(
    "030004036c140000" "00000002" "0000000100000003" "000001a249819f83" "fffffff5"  # TxnHeader
    "00000000"  # CloseSessionTxn: no ephemerals to delete
    "00000002" "000000014c4d751b")


def test_notification_as_apache_sends_it() -> None:
    body = struct.pack(">iqqqqii", 1, 3, 0, 1, 1, 2, len(CONFIG)) + CONFIG
    n = Notification.decode(body)
    assert (n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.version) == (1, 3, 0, 1, 1, 2)
    assert n.state_name == "FOLLOWING" and n.config == CONFIG
    assert config_version(CONFIG) == 0
    assert n.encode() == body  # we send exactly what 3.5+ sends


def test_older_notification_forms_that_38_reads() -> None:
    old28 = Notification.decode(struct.pack(">iqqq", 0, 2, (5 << 32) | 7, 9))
    assert (old28.peer_epoch, old28.version, old28.config) == (5, 0, None)
    old40 = Notification.decode(struct.pack(">iqqqqi", 0, 2, 7, 9, 4, 1))  # buildMsg's 40-byte form
    assert (old40.peer_epoch, old40.version, old40.config) == (4, 0, None)
    # an observer's initial vote is Long.MIN_VALUE everywhere: a vote, not garbage
    minv = -(1 << 63)
    obs = Notification.decode(Notification(ServerState.OBSERVING, minv, minv, 0, minv).encode())
    assert obs.leader == obs.zxid == obs.peer_epoch == minv


@pytest.mark.parametrize("body, why", [
    (b"\0" * 27, "short"),
    (b"\0" * 36, "truncated"),
    (struct.pack(">iqqqqi", 7, 1, 1, 1, 1, 2) + b"\0\0\0\0", "state"),
    (struct.pack(">iqqqqi", 0, 1, 1, 1, 1, 2) + b"\0\0", "config length"),
    (struct.pack(">iqqqqii", 0, 1, 1, 1, 1, 2, 100) + b"x", "does not match"),
    (struct.pack(">iqqqqii", 0, 1, 1, 1, 1, 2, -1), "does not match"),
    (struct.pack(">iqqqqi", 0, 1, 1, 1, 1, 1) + b"\0\0\0\0\0", "trailing"),
])
def test_bad_notifications(body: bytes, why: str) -> None:
    with pytest.raises(PeerProtocolError, match=why):
        Notification.decode(body)


def test_initial_message_both_versions_and_pre35() -> None:
    msg = InitialMessage(7, (("127.0.0.1", 3888),))
    data = msg.encode()
    assert data == struct.pack(">qqi", PROTOCOL_VERSION_V1, 7, 14) + b"127.0.0.1:3888"
    r = InitialMessageReader()
    assert r.feed(data[:5]) is None and r.feed(data[5:20]) is None  # byte-wise arrival
    assert r.feed(data[20:] + b"\0\0\0\x05hello") == msg and r.rest == b"\0\0\0\x05hello"
    v2 = InitialMessage(8, (("10.0.0.1", 1), ("::1", 2)), PROTOCOL_VERSION_V2)
    assert InitialMessageReader().feed(v2.encode()) == v2
    assert b"[::1]:2" in v2.encode()
    pre = InitialMessageReader().feed(struct.pack(">q", 5))
    assert pre == InitialMessage(5, (), None)


@pytest.mark.parametrize("data, why", [
    (struct.pack(">q", -3), "protocol version"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 0), "address length"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 4096), "address length"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, -4, 3) + b"a:1", "negative"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 4) + b"host", "badly formed"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 6) + b"h:port", "port"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 7) + b"h:99999", "port"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 7) + b"a:1|b:2", "several"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 4) + b"\xff:12", "UTF-8"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V2, 1, 8) + b"[zz]:123", "badly formed"),
])
def test_bad_initial_messages(data: bytes, why: str) -> None:
    with pytest.raises(PeerProtocolError, match=why):
        InitialMessageReader().feed(data)


def test_election_frames() -> None:
    r = ElectionFrameReader()
    frames = Notification(0, 1, 2, 3, 4).frame() * 2
    assert r.feed(frames[:10]) == [] and len(r.feed(frames[10:])) == 2
    for bad in (struct.pack(">i", 0), struct.pack(">i", -1), struct.pack(">i", 512 * 1024 + 1)):
        with pytest.raises(PeerProtocolError):
            ElectionFrameReader().feed(bad)


# ---- peerPort --------------------------------------------------------------------------------------


def test_learner_handshake_packets() -> None:
    info_pkt = QuorumPacket(P.OBSERVERINFO, 1 << 32, P.learner_info_data(100, 0), None)
    raw = info_pkt.to_bytes()
    # int type, long zxid, buffer (20-byte LearnerInfo), null vector
    assert raw == struct.pack(">iqi", 16, 1 << 32, 20) + struct.pack(">qiq", 100, 0x10000, 0) + b"\xff\xff\xff\xff"
    (back,) = PacketReader().feed(raw)
    li = P.decode_learner_info(back)
    assert (li.serverid, li.protocolVersion, li.configVersion) == (100, 0x10000, 0)
    assert P.decode_learner_info(QuorumPacket(11, 0, struct.pack(">q", 4), None)).serverid == 4
    leaderinfo = QuorumPacket(P.LEADERINFO, 2 << 32, P.leader_info_data(), None)
    assert P.decode_leader_info(leaderinfo) == 0x10000
    assert P.decode_ack_epoch(QuorumPacket(P.ACKEPOCH, 5, P.ack_epoch_data(-1), None)) == -1
    with pytest.raises(PeerProtocolError, match="epoch start"):
        P.decode_leader_info(QuorumPacket(P.LEADERINFO, (2 << 32) + 1, P.leader_info_data(), None))
    for bad in (None, b"", b"\0" * 9, b"\0" * 21):
        with pytest.raises(PeerProtocolError):
            P.decode_learner_info(QuorumPacket(11, 0, bad, None))


def test_txn_entries_from_apache() -> None:
    create = TxnEntry.decode(CREATE_ENTRY)
    assert create.header.type == OpCode.create and create.header.zxid == (1 << 32) + 2
    rec = CreateTxn.from_bytes(create.txn)
    assert (rec.path, rec.data, rec.ephemeral) == ("/h5", b"hello", False)
    assert create.digest == TxnDigest(2, 5575111963)
    assert create.encode() == CREATE_ENTRY
    assert create.log_payload == CREATE_ENTRY[:-12]
    assert TxnEntry.decode(create.log_payload).digest is None  # a peer with digests disabled
    close = TxnEntry.decode(CLOSE_ENTRY)
    assert close.header.type == OpCode.closeSession and close.txn == b"\0\0\0\0" and close.digest is not None
    hdr = TxnHeader(1, 2, 3, 4, OpCode.closeSession).to_bytes()
    assert TxnEntry.decode(hdr).txn == b""  # pre-3.6 closeSession: no body
    for bad in (CREATE_ENTRY[:-1], CREATE_ENTRY + b"\0", TxnHeader(1, 2, 3, 4, 99).to_bytes(), b"\0" * 5):
        with pytest.raises(PeerProtocolError):
            TxnEntry.decode(bad)
    pkt = QuorumPacket(P.INFORMANDACTIVATE, 3, struct.pack(">q", 2) + CREATE_ENTRY, None)
    assert P.decode_inform_and_activate(pkt) == (2, create)


def test_learner_payloads() -> None:
    touches = [(0x300040364c140000, 10000), (5, 4000)]
    ping = QuorumPacket(P.PING, 9, P.encode_ping_touches(touches), None)
    assert P.decode_ping_touches(ping) == touches
    assert P.decode_ping_touches(QuorumPacket(P.PING, 9, None, None)) == []
    ask = P.RevalidateAsk(77, 30000)
    assert P.RevalidateAsk.decode(QuorumPacket(P.REVALIDATE, -1, ask.encode(), None)) == ask
    ans = P.RevalidateAnswer(77, True)
    assert ans.encode() == struct.pack(">q", 77) + b"\x01"
    assert P.RevalidateAnswer.decode(QuorumPacket(P.REVALIDATE, -1, ans.encode(), None)) == ans
    req = P.ForwardedRequest(77, 3, OpCode.sync, b"\0\0\0\x01/")
    assert P.ForwardedRequest.decode(QuorumPacket(P.REQUEST, -1, req.encode(), [Id("digest", "u:x")])) == req
    assert P.decode_designated_leader(QuorumPacket(P.COMMITANDACTIVATE, 1, struct.pack(">q", 3), None)) == 3
    for pkt in (QuorumPacket(P.PING, 0, b"\0" * 11, None), QuorumPacket(P.REVALIDATE, 0, b"\0" * 8 + b"\x02", None),
                QuorumPacket(P.REQUEST, 0, b"\0" * 15, None), QuorumPacket(P.COMMITANDACTIVATE, 0, b"", None)):
        with pytest.raises(PeerProtocolError):
            {P.PING: P.decode_ping_touches, P.REVALIDATE: P.RevalidateAnswer.decode,
             P.REQUEST: P.ForwardedRequest.decode, P.COMMITANDACTIVATE: P.decode_designated_leader}[pkt.type](pkt)


def test_packet_stream_and_snap_pause() -> None:
    stream = (encode_packet(P.PROPOSAL, 5, CREATE_ENTRY, None)
              + encode_packet(P.REQUEST, -1, b"x" * 16, [Id("ip", "127.0.0.1"), Id("digest", None)])
              + encode_packet(P.SNAP, 9) + b"<snapshot bytes>" + encode_packet(P.UPTODATE, -1))
    r = PacketReader()
    got = [p for i in range(0, len(stream), 7) for p in r.feed(stream[i:i + 7])]  # arbitrary splits
    assert [p.type for p in got] == [P.PROPOSAL, P.REQUEST, P.SNAP]
    assert got[1].authinfo == [Id("ip", "127.0.0.1"), Id("digest", None)]
    rest = r.take_rest()
    assert rest.startswith(b"<snapshot bytes>")
    tail = rest[len(b"<snapshot bytes>"):]
    assert [p.type for p in r.resume(tail)] == [P.UPTODATE]
    sig = struct.pack(">i", 10) + b"BenWasHere"
    assert P.read_snap_signature(sig[:6]) is None and P.read_snap_signature(sig) == 14
    with pytest.raises(PeerProtocolError):
        P.read_snap_signature(struct.pack(">i", 10) + b"BenWasGone")


@pytest.mark.parametrize("data, why", [
    (struct.pack(">iq", 99, 0), "unknown quorum packet type"),
    (struct.pack(">iqi", 1, 0, -2), "data length"),
    (struct.pack(">iqi", 1, 0, 1 << 30), "data length"),  # refused before any of it arrives
    (struct.pack(">iqii", 1, 0, -1, 1 << 20), "auth ids"),
    (struct.pack(">iqiii", 1, 0, -1, 1, -5), "auth string length"),
])
def test_bad_packet_streams(data: bytes, why: str) -> None:
    with pytest.raises(PeerProtocolError, match=why):
        PacketReader().feed(data)


# ---- hostile bytes: one error type, never another exception ----------------------------------------


def _only_protocol_errors(fn, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(data)
    except PeerProtocolError:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_election_side(data: bytes) -> None:
    _only_protocol_errors(Notification.decode, data)
    _only_protocol_errors(InitialMessageReader().feed, data)
    _only_protocol_errors(ElectionFrameReader().feed, data)
    _only_protocol_errors(config_version, data)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(sorted(P.PACKET_NAMES)), LONG)
def test_fuzz_peer_side(data: bytes, ptype: int, zxid: int) -> None:
    _only_protocol_errors(PacketReader().feed, data)
    _only_protocol_errors(PacketReader().feed, struct.pack(">iq", ptype, zxid) + data)
    _only_protocol_errors(TxnEntry.decode, data)
    pkt = QuorumPacket(ptype, zxid, data, None)
    for fn in (P.decode_learner_info, P.decode_leader_info, P.decode_ack_epoch, P.decode_designated_leader,
               P.decode_inform_and_activate, P.decode_ping_touches, P.RevalidateAsk.decode,
               P.RevalidateAnswer.decode, P.ForwardedRequest.decode):
        _only_protocol_errors(fn, pkt)  # type: ignore[arg-type]


@FUZZ
@given(st.builds(Notification, st.sampled_from([0, 1, 2, 3]), LONG, LONG, LONG, LONG, st.just(2),
                 st.binary(max_size=50)))
def test_notification_round_trip(n: Notification) -> None:
    assert Notification.decode(n.encode()) == n


@FUZZ
@given(INT, LONG, st.none() | st.binary(max_size=40),
       st.none() | st.lists(st.builds(Id, st.text(max_size=5), st.text(max_size=5)), max_size=3))
def test_packet_round_trip(ptype: int, zxid: int, data: bytes | None, auth: list[Id] | None) -> None:
    ptype = sorted(P.PACKET_NAMES)[ptype % len(P.PACKET_NAMES)]
    raw = encode_packet(ptype, zxid, data, auth)
    assert PacketReader().feed(raw) == [QuorumPacket(ptype, zxid, data, auth)]


@FUZZ
@given(st.lists(st.tuples(INT, LONG, st.none() | st.binary(max_size=40),
                          st.none() | st.lists(st.builds(Id, st.text(max_size=5), st.text(max_size=5)), max_size=2)),
                min_size=1, max_size=8),
       st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_a_stream_in_any_chunks_reads_as_packet_by_packet(packets: list, cuts: list[int]) -> None:
    """The reader's fast path (no authinfo) and its checked path agree, wherever the stream is cut."""
    names = sorted(P.PACKET_NAMES)
    want = [QuorumPacket(names[t % len(names)], z, d, a) for t, z, d, a in packets]
    want = want[:next((i + 1 for i, p in enumerate(want) if p.type == P.SNAP), len(want))]  # SNAP pauses
    raw = b"".join(p.to_bytes() for p in want)
    r, got, at = PacketReader(), [], 0
    for size in cuts * (len(raw) // max(sum(cuts), 1) + 1):
        got += r.feed(raw[at:at + size])
        at += size
        if at >= len(raw):
            break
    got += r.feed(raw[at:])
    assert got == want


def test_auth_ids_decode_as_the_generic_record_and_are_shared() -> None:
    """The reader's authinfo fast path (decoded Ids cached by their bytes): the same Ids as the record
    decoder, invalid UTF-8 included; a null string or too many ids take the checked path."""
    weird = b"\x00\x00\x00\x03\xff\xfeA"  # invalid UTF-8: replacement characters, as read_ustring gives
    auth = struct.pack(">i", 2) + struct.pack(">i", 2) + b"ip" + struct.pack(">i", 9) + b"127.0.0.1" + \
        struct.pack(">i", 6) + b"digest" + weird
    one = struct.pack(">iqi", P.REQUEST, -1, 3) + b"abc" + auth
    many = encode_packet(P.REQUEST, -1, b"x", [Id("ip", str(i)) for i in range(20)])
    nulls = encode_packet(P.REQUEST, -1, b"x", [Id("digest", None)])
    for raw in (one, many, nulls):
        assert PacketReader().feed(raw) == [QuorumPacket.deserialize(raw, 0)[0]]
    first, second = PacketReader().feed(one + one)
    assert first.authinfo is second.authinfo


@FUZZ
@given(st.none() | st.binary(max_size=24))
def test_request_type_reads_and_refuses_as_the_decoder(data: bytes | None) -> None:
    pkt = QuorumPacket(P.REQUEST, -1, data, None)
    try:
        want: object = P.ForwardedRequest.decode(pkt).type
    except PeerProtocolError:
        want = PeerProtocolError
    try:
        got: object = P.request_type(pkt)
    except PeerProtocolError:
        got = PeerProtocolError
    assert got == want


@given(ptype=st.integers(-2**31, 2**31 - 1), zxid=st.integers(-2**63, 2**63 - 1),
       data=st.one_of(st.none(), st.binary(max_size=64)),
       authinfo=st.one_of(st.none(), st.lists(st.builds(Id, st.text(max_size=5), st.text(max_size=5)), max_size=3)))
def test_encode_packet_is_the_records_encoding(ptype: int, zxid: int, data: bytes | None,
                                               authinfo: list[Id] | None) -> None:
    """The direct packing (packets without authinfo) writes what the jute record writes."""
    assert P.encode_packet(ptype, zxid, data, authinfo) == QuorumPacket(ptype, zxid, data, authinfo).to_bytes()
    pkts = P.PacketReader().feed(P.encode_packet(P.COMMIT, 5) + P.encode_packet(P.PROPOSAL, 6, b"txn"))
    assert [(p.type, p.zxid, p.data, p.authinfo) for p in pkts] == [(P.COMMIT, 5, None, None),
                                                                     (P.PROPOSAL, 6, b"txn", None)]
