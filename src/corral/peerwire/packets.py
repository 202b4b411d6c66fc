"""The peerPort side of Apache ZooKeeper's peer protocol: QuorumPacket stream and learner payloads.

Facts (Apache 3.8 `Leader`, `LearnerHandler`, `Learner`, `Follower`, `Observer`, `zookeeper.jute`):

* The learner dials the leader's peerPort; both directions are a bare sequence of jute
  ``QuorumPacket {int type; long zxid; buffer data; vector<Id> authinfo}`` records, with no length
  prefix (``BinaryOutputArchive.writeRecord``). A buffer or string longer than jute.maxbuffer plus
  its extra size (2 x 0xfffff by default) is refused by the reader.
* The one exception is SNAP: right after the SNAP packet the leader writes the serialized database
  (sessions, then the DataTree) and the string ``"BenWasHere"``, then packets resume. `PacketReader`
  stops after a SNAP so the caller can hand the stream to a snapshot reader.
* Payloads, by packet type (``data``; ``zxid`` as noted):

  ========================= ===================================================================
  FOLLOWERINFO/OBSERVERINFO zxid = acceptedEpoch << 32; LearnerInfo {long sid, int protocolVersion
                            (0x10000), long configVersion} (3.8 also reads the 8- and 12-byte forms)
  LEADERINFO                zxid = newEpoch << 32; int protocolVersion (0x10000)
  ACKEPOCH                  zxid = learner's last logged zxid; int currentEpoch (-1: already accepted)
  DIFF / TRUNC / SNAP       zxid only (SNAP: then the snapshot stream, see above)
  NEWLEADER                 zxid = newEpoch << 32; the quorum config text (3.5+), null before
  UPTODATE                  zxid -1, no data
  PROPOSAL / INFORM         the txn entry: TxnHeader, txn record, TxnDigest (3.6+, when enabled)
  INFORMANDACTIVATE         long suggested leader id, then the txn entry
  COMMIT                    zxid only; COMMITANDACTIVATE: long designated leader id
  ACK                       zxid only
  PING                      leader: zxid = last proposed, no data; learner: the reply echoes zxid and
                            authinfo, data = (long sessionId, int timeout)* of touched sessions
  REVALIDATE                learner: zxid -1, long sessionId, int timeout; leader: same packet with
                            long sessionId, boolean valid
  REQUEST                   zxid -1; long sessionId, int cxid, int type, the request body; authinfo =
                            the client's auth ids. A client sync travels as a REQUEST of type sync.
  SYNC                      leader to learner: zxid 0, no data (answers a forwarded sync)
  ========================= ===================================================================

Every decoder here raises `PeerProtocolError` and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..protocol import DecodeError, Id, LearnerInfo, OpCode, QuorumPacket, Record, TxnDigest, TxnHeader
from ..protocol.jute import read_ustring
from ..quorum.errors import PeerProtocolError
from ..txn.codec import TXN_RECORDS

__all__ = [
    "ACK",
    "ACKEPOCH",
    "COMMIT",
    "COMMITANDACTIVATE",
    "DIFF",
    "FOLLOWERINFO",
    "INFORM",
    "INFORMANDACTIVATE",
    "LEADERINFO",
    "NEWLEADER",
    "OBSERVERINFO",
    "PACKET_NAMES",
    "PING",
    "PROPOSAL",
    "PROTOCOL_VERSION",
    "REQUEST",
    "REVALIDATE",
    "SNAP",
    "SNAP_SIGNATURE",
    "SYNC",
    "TRUNC",
    "UPTODATE",
    "ForwardedRequest",
    "PacketReader",
    "RevalidateAnswer",
    "RevalidateAsk",
    "TxnEntry",
    "ack_epoch_data",
    "decode_ack_epoch",
    "decode_designated_leader",
    "decode_inform_and_activate",
    "decode_leader_info",
    "decode_learner_info",
    "decode_ping_touches",
    "encode_packet",
    "encode_ping_touches",
    "leader_info_data",
    "learner_info_data",
    "packet_name",
    "read_snap_signature",
    "txn_log_payload",
]

REQUEST, PROPOSAL, ACK, COMMIT, PING, REVALIDATE, SYNC, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
COMMITANDACTIVATE, NEWLEADER, FOLLOWERINFO, UPTODATE, DIFF, TRUNC, SNAP = 9, 10, 11, 12, 13, 14, 15
OBSERVERINFO, LEADERINFO, ACKEPOCH, INFORMANDACTIVATE = 16, 17, 18, 19

PACKET_NAMES = {
    REQUEST: "REQUEST", PROPOSAL: "PROPOSAL", ACK: "ACK", COMMIT: "COMMIT", PING: "PING",
    REVALIDATE: "REVALIDATE", SYNC: "SYNC", INFORM: "INFORM", COMMITANDACTIVATE: "COMMITANDACTIVATE",
    NEWLEADER: "NEWLEADER", FOLLOWERINFO: "FOLLOWERINFO", UPTODATE: "UPTODATE", DIFF: "DIFF",
    TRUNC: "TRUNC", SNAP: "SNAP", OBSERVERINFO: "OBSERVERINFO", LEADERINFO: "LEADERINFO",
    ACKEPOCH: "ACKEPOCH", INFORMANDACTIVATE: "INFORMANDACTIVATE",
}

#: ZAB 1.0, what 3.4+ learners and leaders put in LearnerInfo and LEADERINFO.
PROTOCOL_VERSION = 0x10000
#: jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize, Apache's defaults.
MAX_BUFFER = 0xFFFFF * 2
#: Ids in one packet's authinfo: a client has a handful; the bound keeps a hostile count cheap.
MAX_AUTH_IDS = 1024
SNAP_SIGNATURE = "BenWasHere"
#: The largest snapshot body accepted on a learner connection (a SNAP of a large tree is one buffer).
MAX_SNAPSHOT = 512 << 20

_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_QI = struct.Struct(">qi")
_QII = struct.Struct(">qii")
_QB = struct.Struct(">q?")
_HEAD = struct.Struct(">iq")
_HEAD_LEN = struct.Struct(">iqi")  # type, zxid and the data's length


def packet_name(ptype: int) -> str:
    return PACKET_NAMES.get(ptype, f"type {ptype}")


_PACKET_HEAD = struct.Struct(">iqi")  # type, zxid, the data's length
_NULL = b"\xff\xff\xff\xff"  # a null buffer or vector


def encode_packet(ptype: int, zxid: int, data: bytes | None = None, authinfo: list[Id] | None = None) -> bytes:
    """QuorumPacket(ptype, zxid, data, authinfo).to_bytes(); without authinfo (every packet but a
    forwarded REQUEST's) packed directly: a leader encodes a PROPOSAL and a COMMIT per txn and learner."""
    if authinfo is None:
        if data is None:
            return _PACKET_HEAD.pack(ptype, zxid, -1) + _NULL
        return b"".join((_PACKET_HEAD.pack(ptype, zxid, len(data)), data, _NULL))
    return QuorumPacket(ptype, zxid, data, authinfo).to_bytes()


# ---- the stream ------------------------------------------------------------------------------------


class PacketReader:
    """Sans-I/O reader of a QuorumPacket stream: `feed(bytes)` returns the complete packets.

    Lengths are checked before anything is buffered for them (a buffer or string longer than
    `max_buffer`, a negative length other than null, an authinfo count over `MAX_AUTH_IDS`, an
    unknown packet type), so garbage fails at once instead of waiting for gigabytes. After a SNAP
    packet the reader stops: `take_rest()` hands the unread bytes to the snapshot reader, and
    `resume(rest)` continues with whatever the snapshot reader left over.
    """

    def __init__(self, max_buffer: int = MAX_BUFFER) -> None:
        self.max_buffer = max_buffer
        self._buf = bytearray()
        self.paused = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[QuorumPacket]:
        self._buf += data
        out: list[QuorumPacket] = []
        buf = self._buf
        n = len(buf)
        off = 0
        names = PACKET_NAMES
        while not self.paused:
            # The common packet (a known type, a sane data length, no authinfo) is cut out here at once:
            # a learner reads two per write (PROPOSAL, COMMIT) and the generic record decoder was ~15 %
            # of its loop. Anything else takes the checked path below, with its errors.
            if n >= off + 16:
                ptype, zxid, dlen = _HEAD_LEN.unpack_from(buf, off)
                dend = off + 16 + (dlen if dlen > 0 else 0)
                if ptype in names and -1 <= dlen <= self.max_buffer and n >= dend + 4:
                    count = _I.unpack_from(buf, dend)[0]
                    if count == -1 or count == 0:
                        pkt = QuorumPacket(ptype, zxid, bytes(buf[off + 16:dend]) if dlen >= 0 else None,
                                           None if count == -1 else [])
                        off = dend + 4
                        out.append(pkt)
                        if ptype == SNAP:
                            self.paused = True
                        continue
                    if 0 < count <= _AUTH_FAST_MAX:
                        # A REQUEST forwarded for a client with auth ids (every client has its ip id): the
                        # ids, the same few byte strings again and again, decoded once (`_auth_ids`).
                        aend = self._auth_end(buf, dend + 4, count)
                        if aend > 0:
                            pkt = QuorumPacket(ptype, zxid, bytes(buf[off + 16:dend]) if dlen >= 0 else None,
                                               _auth_ids(bytes(buf[dend:aend])))
                            off = aend
                            out.append(pkt)
                            if ptype == SNAP:
                                self.paused = True
                            continue
            end = self._packet_end(buf, off)
            if end is None:
                break
            try:
                pkt, stop = QuorumPacket.deserialize(buf, off)
            except DecodeError as e:  # pragma: no cover - _packet_end checked every length
                raise PeerProtocolError(f"malformed packet: {e}") from e
            assert stop == end
            off = end
            out.append(pkt)
            if pkt.type == SNAP:
                self.paused = True
        del buf[:off]
        return out

    def _auth_end(self, buf: bytearray, off: int, count: int) -> int:
        """The end of `count` Ids at `off` when every string is non-null, within `max_buffer` and
        complete in `buf`; -1 otherwise (the checked path then decides)."""
        n = len(buf)
        for _ in range(2 * count):
            if off + 4 > n:
                return -1
            k = _I.unpack_from(buf, off)[0]
            if k < 0 or k > self.max_buffer:
                return -1
            off += 4 + k
        return off if off <= n else -1

    def _len(self, buf: bytearray, off: int, what: str) -> int | None:
        if len(buf) < off + 4:
            return None
        n: int = _I.unpack_from(buf, off)[0]
        if n < -1 or n > self.max_buffer:
            raise PeerProtocolError(f"unreasonable {what} length {n}")
        return n

    def _packet_end(self, buf: bytearray, off: int) -> int | None:
        """Where the packet starting at `off` ends, None while incomplete."""
        if len(buf) < off + _HEAD.size:
            return None
        (ptype,) = _I.unpack_from(buf, off)
        if ptype not in PACKET_NAMES:
            raise PeerProtocolError(f"unknown quorum packet type {ptype}")
        off += _HEAD.size
        n = self._len(buf, off, "data")
        if n is None:
            return None
        off += 4 + max(n, 0)
        count = self._len(buf, off, "authinfo")
        if count is None:
            return None
        if count > MAX_AUTH_IDS:
            raise PeerProtocolError(f"{count} auth ids in one packet")
        off += 4
        for _ in range(max(count, 0) * 2):  # scheme and id of each Id
            n = self._len(buf, off, "auth string")
            if n is None:
                return None
            off += 4 + max(n, 0)
        return off if len(buf) >= off else None

    def take_rest(self) -> bytes:
        """The bytes after the SNAP packet (the start of the snapshot stream)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def resume(self, rest: bytes = b"") -> list[QuorumPacket]:
        """Continue after the snapshot stream, with the bytes the snapshot reader did not consume."""
        self.paused = False
        return self.feed(rest)


_AUTH_FAST_MAX = 16  # more auth ids than this in one packet take the checked path
_AUTH_CACHE_MAX = 256
# An authinfo vector's bytes -> its Ids, shared by every packet that carried those bytes (packets are
# read, never changed). Bounded: past the limit, misses decode anew.
_auth_cache: dict[bytes, list[Id]] = {}


def _auth_ids(raw: bytes) -> list[Id]:
    """The Ids of a checked, non-null authinfo vector (count, then scheme and id strings)."""
    ids = _auth_cache.get(raw)
    if ids is None:
        count = _I.unpack_from(raw, 0)[0]
        ids = []
        off = 4
        for _ in range(count):
            scheme, off = read_ustring(raw, off)
            ident, off = read_ustring(raw, off)
            ids.append(Id(scheme, ident))
        if len(_auth_cache) < _AUTH_CACHE_MAX:
            _auth_cache[raw] = ids
    return ids


def read_snap_signature(buf: bytes | bytearray | memoryview, off: int = 0) -> int | None:
    """Check the ``"BenWasHere"`` string that ends a SNAP stream at `off`: its end, or None if more
    bytes are needed."""
    if len(buf) < off + 4:
        return None
    (n,) = _I.unpack_from(buf, off)
    if n != len(SNAP_SIGNATURE):
        raise PeerProtocolError("snapshot stream does not end with its signature")
    if len(buf) < off + 4 + n:
        return None
    s, end = read_ustring(buf, off)
    if s != SNAP_SIGNATURE:
        raise PeerProtocolError(f"snapshot stream signature is {s!r}")
    return end


# ---- payloads --------------------------------------------------------------------------------------


def _data(pkt: QuorumPacket, what: str) -> bytes:
    if pkt.data is None:
        raise PeerProtocolError(f"{what} without data")
    return pkt.data


def learner_info_data(sid: int, config_version: int) -> bytes:
    return LearnerInfo(sid, PROTOCOL_VERSION, config_version).to_bytes()


def decode_learner_info(pkt: QuorumPacket) -> LearnerInfo:
    """FOLLOWERINFO/OBSERVERINFO data; the 8-byte (sid) and 12-byte (sid, version) forms of older
    learners get configVersion -1 (and protocol version 0 for the 8-byte form)."""
    data = _data(pkt, "learner info")
    if len(data) == 8:
        return LearnerInfo(_Q.unpack(data)[0], 0, -1)
    if len(data) == 12:
        sid, version = _QI.unpack(data)
        return LearnerInfo(sid, version, -1)
    if len(data) != 20:
        raise PeerProtocolError(f"learner info of {len(data)} bytes")
    info = LearnerInfo.from_bytes(data)
    if info.serverid < 0:
        raise PeerProtocolError(f"learner info with server id {info.serverid}")
    return info


def _int_payload(pkt: QuorumPacket, what: str) -> int:
    data = _data(pkt, what)
    if len(data) != 4:
        raise PeerProtocolError(f"{what} data of {len(data)} bytes")
    return int(_I.unpack(data)[0])


def leader_info_data() -> bytes:
    return _I.pack(PROTOCOL_VERSION)


def decode_leader_info(pkt: QuorumPacket) -> int:
    """LEADERINFO: the leader's protocol version (its new epoch is ``pkt.zxid >> 32``)."""
    version = _int_payload(pkt, "LEADERINFO")
    if pkt.zxid < 0 or pkt.zxid & 0xFFFFFFFF:
        raise PeerProtocolError(f"LEADERINFO zxid 0x{pkt.zxid:x} is not an epoch start")
    return version


def ack_epoch_data(current_epoch: int) -> bytes:
    return _I.pack(current_epoch)


def decode_ack_epoch(pkt: QuorumPacket) -> int:
    """ACKEPOCH: the learner's current epoch, -1 if it had already accepted the proposed one."""
    epoch = _int_payload(pkt, "ACKEPOCH")
    if epoch < -1:
        raise PeerProtocolError(f"ACKEPOCH epoch {epoch}")
    return epoch


def decode_designated_leader(pkt: QuorumPacket) -> int:
    """COMMITANDACTIVATE: the leader id of the activated configuration."""
    data = _data(pkt, "COMMITANDACTIVATE")
    if len(data) != 8:
        raise PeerProtocolError(f"COMMITANDACTIVATE data of {len(data)} bytes")
    return int(_Q.unpack(data)[0])


@dataclass(frozen=True, slots=True)
class TxnEntry:
    """A PROPOSAL's (or INFORM's) data: the transaction as logged, plus the 3.6+ tree digest.

    `txn` is the txn record's bytes exactly as sent (an empty closeSession body is the pre-3.6
    form), so the header plus `txn` is the payload corral logs.
    """

    header: TxnHeader
    txn: bytes
    digest: TxnDigest | None = None

    def encode(self) -> bytes:
        out = bytearray()
        self.header.serialize(out)
        out += self.txn
        if self.digest is not None:
            self.digest.serialize(out)
        return bytes(out)

    @property
    def log_payload(self) -> bytes:
        """TxnHeader + txn, the way corral's log and quorum core carry a transaction."""
        out = bytearray()
        self.header.serialize(out)
        out += self.txn
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> TxnEntry:
        buf = bytes(data)
        try:
            hdr, off = TxnHeader.deserialize(buf, 0)
            rec_cls: type[Record] | None = TXN_RECORDS.get(hdr.type)
            if rec_cls is None:
                raise PeerProtocolError(f"unknown txn type {hdr.type}")
            try:
                _, end = rec_cls.deserialize(buf, off)
            except DecodeError:
                # A closeSession without its body (before 3.6), as SerializeUtils.deserializeTxn
                # reads it: the body is tried first, then only a digest may follow the header.
                if hdr.type != OpCode.closeSession:
                    raise
                end = off
            rest = len(buf) - end
            if rest == 0:
                digest = None
            elif rest == 12:
                digest, _ = TxnDigest.deserialize(buf, end)
            else:
                raise PeerProtocolError(f"{rest} bytes after the txn (a digest is 12)")
        except DecodeError as e:
            raise PeerProtocolError(f"malformed txn: {e}") from e
        return cls(hdr, buf[off:end], digest)


_TXN_HEADER_SIZE = 32  # TxnHeader: clientId long, cxid int, zxid long, time long, type int (at 28)
_LEN = struct.Struct(">i")
_SET_DATA, _DELETE, _MULTI = 5, 2, 14  # OpCode.setData, OpCode.delete, OpCode.multi
# The creates' txns: path, data, ACL vector, then this many fixed bytes (CreateTxn: ephemeral boolean +
# parentCVersion int; CreateContainerTxn: parentCVersion; CreateTTLTxn: parentCVersion + ttl long).
_CREATE_TAILS = {1: 5, 15: 5, 19: 4, 21: 12}  # OpCode.create, create2, createContainer, createTTL


def _skip_bytes(buf: bytes, off: int) -> int:
    """The end of a jute ustring/buffer at `off`, or -1 where the generic decoder must judge."""
    if off + 4 > len(buf):
        return -1
    n = int(_LEN.unpack_from(buf, off)[0])
    off += 4
    if n == -1:
        return off
    if n < 0 or off + n > len(buf):
        return -1
    return off + n


def _skip_vector(buf: bytes, off: int) -> tuple[int, int]:
    """(count, offset after the count) of a jute vector at `off` (count -1: null), with
    `read_vector_len`'s rule; (0, -1) where the generic decoder must judge."""
    if off + 4 > len(buf):
        return 0, -1
    n = int(_LEN.unpack_from(buf, off)[0])
    if n < -1 or n > len(buf) - off:
        return 0, -1
    return n, off + 4


def _skip_create(buf: bytes, fixed: int) -> int:
    """The end of a create's txn (path, data, ACLs, `fixed` bytes) after the header, or -1."""
    off = _skip_bytes(buf, _TXN_HEADER_SIZE)
    if off >= 0:
        off = _skip_bytes(buf, off)
    if off < 0:
        return -1
    count, off = _skip_vector(buf, off)
    for _ in range(count):  # ACL: perms int, then the Id's scheme and id ustrings
        if off < 0 or off + 4 > len(buf):
            return -1
        off = _skip_bytes(buf, off + 4)
        if off >= 0:
            off = _skip_bytes(buf, off)
    if off < 0 or off + fixed > len(buf):
        return -1
    return off + fixed


def _skip_multi(buf: bytes) -> int:
    """The end of a MultiTxn (a vector of Txn: type int, data buffer) after the header, or -1."""
    count, off = _skip_vector(buf, _TXN_HEADER_SIZE)
    for _ in range(count):
        if off < 0 or off + 4 > len(buf):
            return -1
        off = _skip_bytes(buf, off + 4)
    return off


def txn_log_payload(data: bytes | bytearray | memoryview) -> bytes:
    """`TxnEntry.decode(data).log_payload`, without building records for the common txns.

    Every learner runs this once per PROPOSAL/INFORM; the generic decoder builds a TxnHeader and the
    whole txn record (then re-encodes the header) only to find where the txn ends. For setData, delete,
    the creates and multi the extent follows from the length fields alone, with the jute reader's rules
    (a ustring decodes with replacement characters, so no content can fail it; a multi's txns are
    opaque buffers to that decoder too); the header is 32 fixed bytes
    that re-encode to themselves, so header + txn is the received bytes up to that end. Anything
    else, or anything the scan cannot vouch for, goes through `TxnEntry.decode`, its checks and errors.
    """
    buf = bytes(data)
    n = len(buf)
    if n >= _TXN_HEADER_SIZE:
        t = int(_LEN.unpack_from(buf, 28)[0])
        end = -1
        if t == _SET_DATA:
            end = _skip_bytes(buf, _TXN_HEADER_SIZE)
            if end >= 0:
                end = _skip_bytes(buf, end)
            if end >= 0:
                end = end + 4 if end + 4 <= n else -1
        elif t == _DELETE:
            end = _skip_bytes(buf, _TXN_HEADER_SIZE)
        elif t in _CREATE_TAILS:
            end = _skip_create(buf, _CREATE_TAILS[t])
        elif t == _MULTI:
            end = _skip_multi(buf)
        if end >= 0 and (n == end or n == end + 12):  # nothing after the txn, or a 12-byte digest
            return buf[:end]
    return TxnEntry.decode(buf).log_payload


def decode_inform_and_activate(pkt: QuorumPacket) -> tuple[int, TxnEntry]:
    data = _data(pkt, "INFORMANDACTIVATE")
    if len(data) < 8:
        raise PeerProtocolError("INFORMANDACTIVATE without its leader id")
    return int(_Q.unpack_from(data, 0)[0]), TxnEntry.decode(data[8:])


def encode_ping_touches(touches: list[tuple[int, int]]) -> bytes:
    return b"".join(_QI.pack(s, t) for s, t in touches)


def decode_ping_touches(pkt: QuorumPacket) -> list[tuple[int, int]]:
    """A learner's PING reply: (sessionId, timeout) pairs; no data is an empty table."""
    data = pkt.data or b""
    if len(data) % _QI.size:
        raise PeerProtocolError(f"ping touch table of {len(data)} bytes")
    return [(int(s), int(t)) for s, t in _QI.iter_unpack(data)]


@dataclass(frozen=True, slots=True)
class RevalidateAsk:
    """REVALIDATE from a learner: may this client session (re)connect here?"""

    session_id: int
    timeout: int

    def encode(self) -> bytes:
        return _QI.pack(self.session_id, self.timeout)

    @classmethod
    def decode(cls, pkt: QuorumPacket) -> RevalidateAsk:
        data = _data(pkt, "REVALIDATE")
        if len(data) != _QI.size:
            raise PeerProtocolError(f"REVALIDATE request of {len(data)} bytes")
        s, t = _QI.unpack(data)
        return cls(int(s), int(t))


@dataclass(frozen=True, slots=True)
class RevalidateAnswer:
    """The leader's REVALIDATE answer (DataOutputStream.writeBoolean: one byte, 0 or 1)."""

    session_id: int
    valid: bool

    def encode(self) -> bytes:
        return _QB.pack(self.session_id, self.valid)

    @classmethod
    def decode(cls, pkt: QuorumPacket) -> RevalidateAnswer:
        data = _data(pkt, "REVALIDATE")
        if len(data) != _QB.size or data[8] > 1:
            raise PeerProtocolError("malformed REVALIDATE answer")
        s, v = _QB.unpack(data)
        return cls(int(s), bool(v))


def request_type(pkt: QuorumPacket) -> int:
    """A REQUEST's opcode, checked as `ForwardedRequest.decode` checks the packet (the leader asks it of
    every forwarded write, to tell a sync)."""
    data = _data(pkt, "REQUEST")
    if len(data) < _QII.size:
        raise PeerProtocolError(f"REQUEST of {len(data)} bytes")
    return int(_I.unpack_from(data, 12)[0])


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    """REQUEST: a client request a learner hands to the leader (its body stays opaque here)."""

    session_id: int
    cxid: int
    type: int
    body: bytes

    def encode(self) -> bytes:
        return _QII.pack(self.session_id, self.cxid, self.type) + self.body

    @classmethod
    def decode(cls, pkt: QuorumPacket) -> ForwardedRequest:
        data = _data(pkt, "REQUEST")
        if len(data) < _QII.size:
            raise PeerProtocolError(f"REQUEST of {len(data)} bytes")
        s, c, t = _QII.unpack_from(data, 0)
        return cls(int(s), int(c), int(t), data[_QII.size:])
