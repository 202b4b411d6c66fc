"""Hostile bytes: every decoder fails only with DecodeError, never reads past its input, never allocates
what a length field claims.

The connection layer turns DecodeError into MarshallingError (or a closed connection) and treats any
other exception as a server bug, so struct.error, IndexError, UnicodeDecodeError or MemoryError escaping
a decoder would take down a connection on input ZooKeeper handles gracefully.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.protocol import OpCode
from corral.protocol.jute import DecodeError, Record
from corral.protocol.records import (
    CheckVersionRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    MultiHeader,
    SetDataRequest,
)
from corral.server.connection import WRITE_OPS
from corral.server.writes import decode_multi, decode_write

from ._jute_model import all_record_classes, encode_prefix, fields, record_strategy, sample_records

ALL = all_record_classes()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_decode_error(cls: type[Record], data: bytes) -> tuple[Record, int] | None:
    """Decode; DecodeError → None. Any other exception propagates and fails the test."""
    try:
        rec, off = cls.deserialize(data, 0)
    except DecodeError:
        return None
    return rec, off


def _check_decoded(cls: type[Record], data: bytes) -> None:
    res = _decode_or_decode_error(cls, data)
    if res is None:
        return
    rec, off = res
    assert isinstance(rec, cls)
    assert 0 <= off <= len(data), f"{cls.__name__} returned offset {off} past {len(data)} input bytes"
    # whatever we accept must be re-encodable and stable (no out-of-range ints, no undecodable text)
    again = rec.to_bytes()
    assert cls.deserialize(again, 0) == (rec, len(again))


@FUZZ
@given(cls=st.sampled_from(ALL), data=st.binary(max_size=96))
def test_random_bytes_only_raise_decode_error(cls, data):
    """Random bytes into every record's deserialize: a record or DecodeError, nothing else."""
    _check_decoded(cls, data)


@st.composite
def mutated_encoding(draw):
    """A valid encoding of a random record with a few bytes overwritten, inserted or removed; far more
    likely than random bytes to get deep into a decoder (into vectors, nested records, strings)."""
    cls = draw(st.sampled_from(ALL))
    data = bytearray(draw(record_strategy(cls)).to_bytes())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["set", "insert", "delete", "length"]))
        pos = draw(st.integers(0, len(data)))
        if action == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and pos < len(data):
            del data[pos]
        elif action == "length":
            n = draw(st.sampled_from([-1, -2, 0x7FFFFFFF, -0x80000000, 1, 0xFFFF, 3]))
            data[pos:pos + 4] = struct.pack(">i", n)
    return cls, bytes(data)


@FUZZ
@given(mutated_encoding())
def test_mutated_encodings_only_raise_decode_error(case):
    cls, data = case
    _check_decoded(cls, data)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_truncation_raises_decode_error(cls):
    """Jute has no optional fields (readOnly is handled outside the codec): any strict prefix of a valid
    encoding must fail, at every length, instead of decoding to something shorter."""
    for rec in sample_records(cls, 4):
        data = rec.to_bytes()
        for n in range(len(data)):
            with pytest.raises(DecodeError):
                cls.deserialize(data[:n], 0)


@FUZZ
@given(st.data())
def test_random_truncation_raises_decode_error(data):
    rec = data.draw(st.sampled_from(ALL).flatmap(record_strategy))
    enc = rec.to_bytes()
    n = data.draw(st.integers(0, len(enc) - 1))
    with pytest.raises(DecodeError):
        type(rec).deserialize(enc[:n], 0)


VARIABLE_FIELDS = [(cls, i, name) for cls in ALL for i, (name, k, _) in enumerate(fields(cls))
                   if k in ("buffer", "ustring", "vector")]


@pytest.mark.parametrize("cls,index,name", VARIABLE_FIELDS,
                         ids=[f"{c.__name__}.{n}" for c, _, n in VARIABLE_FIELDS])
@pytest.mark.parametrize("declared", [0x7FFFFFFF, 0x100000, -2, -0x80000000])
def test_huge_or_negative_declared_length_fails_without_allocating(cls, index, name, declared):
    """A length field claiming 2 GiB (or a negative length other than -1) with a few bytes behind it is
    rejected before anything is allocated: peak allocation while decoding stays tiny."""
    rec = sample_records(cls, 1)[0]
    data = encode_prefix(rec, index) + struct.pack(">i", declared) + b"\x01\x02\x03\x04\x05\x06\x07\x08"
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            cls.deserialize(data, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"decoding {cls.__name__}.{name} allocated {peak} bytes"


# ---- write-request decoders ------------------------------------------------------------------

WRITE_OP_LIST = sorted(WRITE_OPS)


@FUZZ
@given(op=st.sampled_from(WRITE_OP_LIST), body=st.binary(max_size=96))
def test_decode_write_random_bytes_only_raise_decode_error(op, body):
    """Every opcode the connection routes to decode_write: random bodies give a record or DecodeError
    (→ MarshallingError), never KeyError/struct.error/IndexError."""
    try:
        res = decode_write(op, body)
    except DecodeError:
        return
    if op == OpCode.multi:
        assert isinstance(res, list)
        assert all(isinstance(r, Record) for _, r in res)
    else:
        assert isinstance(res, Record)


SUB_RECORDS = {
    OpCode.create: CreateRequest, OpCode.create2: CreateRequest, OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest, OpCode.delete: DeleteRequest, OpCode.setData: SetDataRequest,
    OpCode.check: CheckVersionRequest,
}


@st.composite
def multi_body(draw):
    """A MultiOperationRecord built from valid sub-requests (sometimes with a bad op type), then maybe
    truncated or corrupted, so the fuzzing reaches every branch of decode_multi."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 4))):
        t = draw(st.sampled_from([*SUB_RECORDS, OpCode.getData, OpCode.getChildren, OpCode.error, 99, 0]))
        out += MultiHeader(t, False, -1).to_bytes()
        cls = SUB_RECORDS.get(t, DeleteRequest)
        out += draw(record_strategy(cls)).to_bytes()
    if draw(st.booleans()):
        out += MultiHeader(-1, True, -1).to_bytes()
    cut = draw(st.sampled_from(["none", "truncate", "flip"]))
    if cut == "truncate" and out:
        out = out[:draw(st.integers(0, len(out) - 1))]
    elif cut == "flip" and out:
        pos = draw(st.integers(0, len(out) - 1))
        out[pos] ^= draw(st.integers(1, 255))
    return bytes(out)


@FUZZ
@given(multi_body())
def test_decode_multi_structured_fuzz_only_raises_decode_error(body):
    """Structured multis, valid or damaged: a list of write sub-requests or DecodeError, nothing else."""
    try:
        ops = decode_multi(body)
    except DecodeError:
        return
    allowed = {OpCode.create, OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.setData,
               OpCode.check}
    for op, rec in ops:
        assert op in allowed
        assert isinstance(rec, Record)


@FUZZ
@given(st.binary(max_size=128))
def test_decode_multi_random_bytes_only_raise_decode_error(body):
    try:
        ops = decode_multi(body)
    except DecodeError:
        return
    assert isinstance(ops, list)
