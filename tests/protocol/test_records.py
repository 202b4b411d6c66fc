"""Jute records: every record round-trips and matches an independent encoder and ZooKeeper's bytes.

The byte vectors come from the protocol reference (§1.3-§1.6, §1.11): they are what real ZooKeeper
clients send and expect, so a codec that only agreed with itself could still be wrong on the wire.
"""

from __future__ import annotations

import struct
from typing import get_origin

import pytest
from hypothesis import HealthCheck, given, settings

import corral.protocol
from corral.protocol import records
from corral.protocol.jute import DecodeError, Record
from corral.protocol.records import (
    ACL,
    STAT_STRUCT,
    ConnectRequest,
    ConnectResponse,
    ErrorResponse,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    Id,
    MultiHeader,
    ReplyHeader,
    RequestHeader,
    Stat,
    WatcherEvent,
    decode_connect_request,
    encode_connect_response,
)

from ._jute_model import all_record_classes, any_record, encode_record, sample_records

ALL = all_record_classes()


def test_every_exported_record_is_enumerated():
    """The generic tests below walk Record's subclasses; make sure that walk sees every exported record."""
    exported = {getattr(records, n) for n in records.__all__}
    exported = {c for c in exported if isinstance(c, type) and issubclass(c, Record)}
    assert exported, "records.__all__ exports no records"
    assert exported <= set(ALL)
    # A sanity floor: zookeeper.jute has more than 60 records; losing most of them would be a regression.
    assert len(ALL) >= 60


def test_all_is_written_out_completely():
    """`__all__` is a literal list (type checkers read it); a record added without listing it fails here."""
    public = {c.__name__ for c in ALL if not c.__name__.startswith("_")}
    assert public <= set(records.__all__)
    assert set(records.__all__) <= set(corral.protocol.__all__)
    assert all(hasattr(corral.protocol, n) for n in corral.protocol.__all__)


def test_vector_fields_admit_null():
    """The codec decodes a null vector as None, so vectors are declared `list[X] | None`, never bare."""
    bare = [f"{c.__name__}.{name}" for c in ALL for name, tp in c.FIELDS if get_origin(tp) is list]
    assert not bare


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_round_trip_representative_values(cls):
    """None buffers/strings/vectors, empty and non-ASCII strings, int/long extremes all survive a round trip
    and encode exactly like a naive struct-based encoder (fields in declaration order, big-endian)."""
    for rec in sample_records(cls):
        data = rec.to_bytes()
        assert data == encode_record(rec)
        back, off = cls.deserialize(data, 0)
        assert off == len(data)
        assert back == rec
        # from_bytes allows trailing bytes, as ZooKeeper's readers do
        assert cls.from_bytes(data + b"\x00garbage") == rec
        # decoding at an offset (records nested in a bigger frame)
        back2, off2 = cls.deserialize(b"\xaa" * 5 + data, 5)
        assert back2 == rec and off2 == 5 + len(data)
        # memoryview input, as the connection layer passes slices of its buffer
        assert cls.deserialize(memoryview(data), 0) == (rec, len(data))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_record())
def test_round_trip_random_values(rec):
    """Hypothesis-built instances of every record: encode == naive encoder, decode(encode(r)) == r."""
    data = rec.to_bytes()
    assert data == encode_record(rec)
    assert type(rec).deserialize(data, 0) == (rec, len(data))


# ---- known byte vectors from the reference -------------------------------------------------------

def test_connect_request_45_bytes_reference_example():
    """§1.3: new-session request with a 30 s timeout is 45 bytes (C client HANDSHAKE_REQ_SIZE)."""
    req = ConnectRequest(0, 0, 30000, 0, b"\x00" * 16, False)
    data = req.to_bytes()
    expected = bytes.fromhex("00000000" "0000000000000000" "00007530" "0000000000000000" "00000010"
                             + "00" * 16 + "00")
    assert len(data) == 45
    assert data == expected
    framed = struct.pack(">i", len(data)) + data
    assert framed[:4].hex() == "0000002d"


def test_get_data_request_reference_example():
    """§1.5: getData("/a", watch=true) with xid 1 is `0000000f 00000001 00000004 00000002 2f61 01`."""
    body = RequestHeader(1, 4).to_bytes() + GetDataRequest("/a", True).to_bytes()
    framed = struct.pack(">i", len(body)) + body
    assert framed == bytes.fromhex("0000000f 00000001 00000004 00000002 2f61 01")
    hdr, off = RequestHeader.deserialize(body, 0)
    req, end = GetDataRequest.deserialize(body, off)
    assert (hdr.xid, hdr.type, req.path, req.watch, end) == (1, 4, "/a", True, 15)


def test_fixed_sizes_of_headers_and_stat():
    """Stat is 68 bytes, ConnectResponse 37, ReplyHeader 16, RequestHeader 8, MultiHeader 9 (§1.4, §1.6)."""
    stat = Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    assert len(stat.to_bytes()) == 68
    assert STAT_STRUCT.size == 68
    assert STAT_STRUCT.pack(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) == stat.to_bytes()
    assert len(ConnectResponse(0, 30000, 0x10007AB7C550006, b"\x01" * 16, False).to_bytes()) == 37
    assert len(ReplyHeader(1, 2, 0).to_bytes()) == 16
    assert len(RequestHeader(1, 2).to_bytes()) == 8
    assert len(MultiHeader(1, False, -1).to_bytes()) == 9


def test_stat_field_order():
    """Stat's field order is czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner,
    dataLength, numChildren, pzxid (pzxid last, after the two ints)."""
    stat = Stat(czxid=0x11, mzxid=0x22, ctime=0x33, mtime=0x44, version=5, cversion=-1, aversion=7,
                ephemeralOwner=0x10007AB7C550006, dataLength=9, numChildren=1, pzxid=0x55)
    assert stat.to_bytes() == (
        struct.pack(">qqqq", 0x11, 0x22, 0x33, 0x44) + struct.pack(">iii", 5, -1, 7)
        + struct.pack(">q", 0x10007AB7C550006) + struct.pack(">ii", 9, 1) + struct.pack(">q", 0x55))


def test_multi_done_header_and_error_response_bytes():
    """§1.11: a multi ends with MultiHeader(-1, true, -1); ErrorResponse is a bare int; addWatch answers 0."""
    assert MultiHeader(-1, True, -1).to_bytes() == bytes.fromhex("ffffffff 01 ffffffff")
    assert ErrorResponse(0).to_bytes() == b"\x00\x00\x00\x00"
    assert ErrorResponse(-101).to_bytes() == struct.pack(">i", -101)


def test_null_and_empty_are_distinct_on_the_wire():
    """A null buffer/string/vector is length -1; an empty one is length 0 (ZooKeeper keeps the difference:
    getData of a node created with null data returns null)."""
    assert GetDataResponse(None, Stat(*[0] * 11)).to_bytes()[:4] == b"\xff\xff\xff\xff"
    assert GetDataResponse(b"", Stat(*[0] * 11)).to_bytes()[:4] == b"\x00\x00\x00\x00"
    assert GetChildrenResponse(None).to_bytes() == b"\xff\xff\xff\xff"
    assert GetChildrenResponse([]).to_bytes() == b"\x00\x00\x00\x00"
    assert GetDataRequest(None, False).to_bytes() == b"\xff\xff\xff\xff\x00"
    assert GetDataRequest("", False).to_bytes() == b"\x00\x00\x00\x00\x00"
    assert GetDataResponse.from_bytes(GetDataResponse(None, Stat(*[0] * 11)).to_bytes()).data is None
    assert GetChildrenResponse.from_bytes(b"\xff\xff\xff\xff").children is None


def test_ustring_is_utf8_with_byte_length():
    """ustring lengths count UTF-8 bytes, not characters."""
    data = WatcherEvent(3, 3, "/caf\u00e9").to_bytes()
    assert data == struct.pack(">ii", 3, 3) + struct.pack(">i", 6) + b"/caf\xc3\xa9"


def test_acl_world_anyone_bytes():
    """ACL{int perms, Id{ustring scheme, ustring id}}: OPEN_ACL_UNSAFE as ZooKeeper encodes it."""
    data = ACL(31, Id("world", "anyone")).to_bytes()
    assert data == bytes.fromhex("0000001f") + b"\x00\x00\x00\x05world" + b"\x00\x00\x00\x06anyone"


def test_invalid_utf8_decodes_with_replacement_not_error():
    """Java decodes bad UTF-8 with U+FFFD; path validation then rejects it (BadArguments, not a dropped
    connection). The codec must do the same rather than raise."""
    rec = GetDataRequest.from_bytes(struct.pack(">i", 3) + b"/\xff\xfe" + b"\x01")
    assert rec.path is not None and rec.path.startswith("/") and "\ufffd" in rec.path
    assert rec.watch is True


def test_negative_lengths_other_than_minus_one_are_rejected():
    """Lengths < -1 are 'Unreasonable length' in BinaryInputArchive."""
    with pytest.raises(DecodeError):
        GetDataRequest.from_bytes(struct.pack(">i", -2) + b"\x00")
    with pytest.raises(DecodeError):
        GetChildrenResponse.from_bytes(struct.pack(">i", -5))


# ---- ConnectRequest / ConnectResponse optional readOnly ------------------------------------------

def test_decode_connect_request_with_readonly_byte():
    """3.4+ clients append readOnly; decode reports that it was present so the response carries it too."""
    req = ConnectRequest(0, 0x1234, 30000, 0x10007AB7C550006, bytes(range(16)), True)
    decoded, has_ro = decode_connect_request(req.to_bytes())
    assert has_ro is True
    assert decoded == req
    decoded0, has_ro0 = decode_connect_request(ConnectRequest(0, 0, 5000, 0, b"\x00" * 16, False).to_bytes())
    assert has_ro0 is True and decoded0.readOnly is False


def test_decode_connect_request_without_readonly_byte():
    """Pre-3.4 clients stop after passwd (44 bytes); that is still a valid request, readOnly=false."""
    full = ConnectRequest(0, 7, 30000, 0, b"\x00" * 16, False).to_bytes()
    decoded, has_ro = decode_connect_request(full[:-1])
    assert has_ro is False
    assert decoded == ConnectRequest(0, 7, 30000, 0, b"\x00" * 16, False)
    assert len(full[:-1]) == 44


def test_decode_connect_request_accepts_memoryview_and_rejects_truncation():
    """The handshake is decoded straight from the connection buffer; anything shorter than 44 bytes fails."""
    full = ConnectRequest(0, 0, 30000, 0, b"\x00" * 16, True).to_bytes()
    assert decode_connect_request(memoryview(full)) == (ConnectRequest(0, 0, 30000, 0, b"\x00" * 16, True), True)
    for n in range(44):
        with pytest.raises(DecodeError):
            decode_connect_request(full[:n])


def test_encode_connect_response_with_and_without_readonly():
    """The response carries readOnly only if the request did: 37 bytes, or 36 for old clients."""
    resp = ConnectResponse(0, 30000, 0x10007AB7C550006, bytes(range(16)), False)
    with_ro = encode_connect_response(resp, with_readonly=True)
    without = encode_connect_response(resp, with_readonly=False)
    assert with_ro == resp.to_bytes()
    assert len(with_ro) == 37
    assert without == with_ro[:-1]
    assert len(without) == 36
    ro = encode_connect_response(ConnectResponse(0, 30000, 1, b"\x00" * 16, True), with_readonly=True)
    assert ro[-1:] == b"\x01"


def test_expired_session_connect_response_bytes():
    """§1.15: an expired session is answered with timeOut 0, sessionId 0, 16 zero bytes of password."""
    data = encode_connect_response(ConnectResponse(0, 0, 0, b"\x00" * 16, False), with_readonly=True)
    assert data == bytes(4 + 4 + 8) + struct.pack(">i", 16) + bytes(16) + b"\x00"
