"""decode_write / decode_multi: write request bodies → the records Preparer.prepare takes (§1.5, §1.11).

Multi sub-op typing follows ZooKeeper's MultiOperationRecord: create2 inside a multi is a create, a create
with CONTAINER flags is a createContainer, read ops cannot be mixed in, unknown op types are refused.
"""

from __future__ import annotations

import pytest

from corral.protocol import CreateMode, DecodeError, OpCode
from corral.protocol.records import (
    ACL,
    CheckVersionRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteContainerRequest,
    DeleteRequest,
    GetDataRequest,
    Id,
    MultiHeader,
    ReconfigRequest,
    SetACLRequest,
    SetDataRequest,
)
from corral.server.connection import WRITE_OPS
from corral.server.writes import decode_multi, decode_write

OPEN = [ACL(31, Id("world", "anyone"))]
DONE = MultiHeader(-1, True, -1).to_bytes()


def _multi(*ops) -> bytes:
    return b"".join(MultiHeader(t, False, -1).to_bytes() + r.to_bytes() for t, r in ops) + DONE


def test_decode_write_simple_ops():
    cases = [
        (OpCode.create, CreateRequest("/a", b"d", OPEN, 0)),
        (OpCode.create2, CreateRequest("/a", b"d", OPEN, 1)),
        (OpCode.createContainer, CreateRequest("/c", b"", OPEN, 4)),
        (OpCode.createTTL, CreateTTLRequest("/t", b"", OPEN, 5, 1000)),
        (OpCode.delete, DeleteRequest("/a", 3)),
        (OpCode.setData, SetDataRequest("/a", None, -1)),
        (OpCode.setACL, SetACLRequest("/a", OPEN, 0)),
        (OpCode.reconfig, ReconfigRequest(None, "3", None, -1)),
    ]
    for op, rec in cases:
        assert decode_write(op, rec.to_bytes()) == rec


def test_every_routed_write_op_is_decodable():
    """The connection routes WRITE_OPS to decode_write; each must have a decoder (no KeyError)."""
    for op in WRITE_OPS:
        with pytest.raises(DecodeError):
            decode_write(op, b"")


def test_delete_container_is_a_bare_utf8_buffer():
    """deleteContainer (20) carries just `buffer path`; it becomes an unconditional delete."""
    body = DeleteContainerRequest("/c/\u00e9".encode()).to_bytes()
    assert decode_write(OpCode.deleteContainer, body) == DeleteRequest("/c/\u00e9", -1)
    assert decode_write(OpCode.deleteContainer, b"\xff\xff\xff\xff") == DeleteRequest("", -1)


def test_multi_round_trip_and_sub_op_types():
    body = _multi(
        (OpCode.create, CreateRequest("/a", b"", OPEN, 0)),
        (OpCode.create2, CreateRequest("/b", b"", OPEN, 0)),
        (OpCode.create, CreateRequest("/c", b"", OPEN, CreateMode.CONTAINER)),
        (OpCode.createContainer, CreateRequest("/d", b"", OPEN, 0)),
        (OpCode.createTTL, CreateTTLRequest("/t", b"", OPEN, 5, 10)),
        (OpCode.delete, DeleteRequest("/a", -1)),
        (OpCode.setData, SetDataRequest("/b", b"x", 2)),
        (OpCode.check, CheckVersionRequest("/b", 3)),
    )
    ops = decode_write(OpCode.multi, body)
    assert [op for op, _ in ops] == [OpCode.create, OpCode.create, OpCode.createContainer, OpCode.create,
                                     OpCode.createTTL, OpCode.delete, OpCode.setData, OpCode.check]
    assert ops[1][1] == CreateRequest("/b", b"", OPEN, 0)
    assert ops[7][1] == CheckVersionRequest("/b", 3)


def test_empty_multi():
    assert decode_multi(DONE) == []


def test_multi_trailing_bytes_after_done_are_ignored():
    assert decode_multi(DONE + b"junk") == []


@pytest.mark.parametrize("op", [OpCode.getData, OpCode.getChildren])
def test_multi_mixing_read_ops_is_refused(op):
    body = _multi((OpCode.create, CreateRequest("/a", b"", OPEN, 0)), (op, GetDataRequest("/a", False)))
    with pytest.raises(DecodeError, match="Mixing"):
        decode_multi(body)


@pytest.mark.parametrize("op", [OpCode.error, OpCode.deleteContainer, OpCode.setACL, 0, 99])
def test_multi_unknown_op_type_is_refused(op):
    with pytest.raises(DecodeError):
        decode_multi(_multi((op, DeleteRequest("/a", -1))))


def test_multi_without_done_header_is_truncated():
    body = _multi((OpCode.delete, DeleteRequest("/a", -1)))[:-len(DONE)]
    with pytest.raises(DecodeError):
        decode_multi(body)
