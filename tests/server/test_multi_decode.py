"""The fast multi decoder (`decode_multi`'s inline reads and ACL cache) against the generic jute decoder.

`decode_multi` reads creates, setData, delete and check inline and decodes each distinct ACL vector once;
anything unusual goes to the generic record decoder at the same offset. The oracle here is the decoder as
it was before, built from the generic records alone: on every body, well-formed or hostile (truncated at
every byte, bytes flipped, lengths out of range), both must give equal records or the same DecodeError.
"""

from __future__ import annotations

import random
import struct

import pytest

from corral.protocol import CreateMode, DecodeError, OpCode, Record, inline
from corral.protocol.records import (
    ACL,
    CheckVersionRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    Id,
    MultiHeader,
    SetDataRequest,
)
from corral.server import writes
from corral.server.writes import decode_multi

OPEN = [ACL(31, Id("world", "anyone"))]
DONE = MultiHeader(-1, True, -1).to_bytes()


def reference(body: bytes) -> list[tuple[int, Record]]:
    """The generic decoder: every sub-record through its jute `deserialize`."""
    ops: list[tuple[int, Record]] = []
    off = 0
    while True:
        mh, off = MultiHeader.deserialize(body, off)
        if mh.done:
            return ops
        t = mh.type
        rec: Record
        if t in (OpCode.create, OpCode.create2, OpCode.createContainer):
            rec, off = CreateRequest.deserialize(body, off)
            t = OpCode.createContainer if rec.flags == CreateMode.CONTAINER else OpCode.create
        elif t == OpCode.createTTL:
            rec, off = CreateTTLRequest.deserialize(body, off)
        elif t == OpCode.delete:
            rec, off = DeleteRequest.deserialize(body, off)
        elif t == OpCode.setData:
            rec, off = SetDataRequest.deserialize(body, off)
        elif t == OpCode.check:
            rec, off = CheckVersionRequest.deserialize(body, off)
        elif t in (OpCode.getData, OpCode.getChildren):
            raise DecodeError("Mixing different kind of ops")
        else:
            raise DecodeError(f"Invalid type of op {t}")
        ops.append((t, rec))


def outcome(decode, body: bytes) -> tuple[str, object]:
    try:
        return "ok", decode(body)
    except DecodeError as e:
        return "error", str(e)


def same(body: bytes) -> None:
    assert outcome(decode_multi, body) == outcome(reference, body), body


def multi(*ops: tuple[int, Record]) -> bytes:
    return b"".join(MultiHeader(t, False, -1).to_bytes() + r.to_bytes() for t, r in ops) + DONE


ACLS = [
    OPEN,
    [ACL(1, Id("world", "anyone"))],
    [ACL(31, Id("digest", "u:hash=")), ACL(1, Id("world", "anyone"))],
    [ACL(31, Id("auth", ""))],
    [ACL(31, Id("ip", "10.0.0.0/8"))],
    [ACL(31, Id("world", None))],  # a null id: the generic decoder's business
    [ACL(31, Id(None, "anyone"))],
    [],
    None,
    [ACL(i, Id("world", "anyone")) for i in range(70)],  # longer than the inline reader takes
]


def sub_ops(rng: random.Random, n: int) -> list[tuple[int, Record]]:
    paths = ["/a", "/a/b", "/\u00e9\u00e8", "", None, "/x" * 50, "/n\x00ul"]
    datas = [b"", b"v", None, bytes(range(256)), b"\xff" * 3]
    out: list[tuple[int, Record]] = []
    for _ in range(n):
        kind = rng.randrange(7)
        path = rng.choice(paths)
        if kind < 3:
            op = rng.choice([OpCode.create, OpCode.create2, OpCode.createContainer])
            flags = rng.choice([0, 1, 2, 3, 4, 7, -1])
            out.append((op, CreateRequest(path, rng.choice(datas), rng.choice(ACLS), flags)))
        elif kind == 3:
            out.append((OpCode.setData, SetDataRequest(path, rng.choice(datas), rng.choice([-1, 0, 5]))))
        elif kind == 4:
            out.append((OpCode.delete, DeleteRequest(path, rng.choice([-1, 2]))))
        elif kind == 5:
            out.append((OpCode.check, CheckVersionRequest(path, rng.choice([-1, 0, 9]))))
        else:
            out.append((OpCode.createTTL, CreateTTLRequest(path, b"", OPEN, 5, 1000)))
    return out


def test_well_formed_multis_decode_as_the_generic_decoder():
    rng = random.Random(1414)
    for _ in range(300):
        same(multi(*sub_ops(rng, rng.randrange(1, 12))))


def test_every_truncation_and_byte_flip_fails_or_succeeds_alike():
    rng = random.Random(2414)
    body = multi(*sub_ops(rng, 8))
    for cut in range(len(body) + 1):
        same(body[:cut])
    for _ in range(2000):
        b = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        same(bytes(b))


@pytest.mark.parametrize("value", [-2, -1, 0, 1, 0x7FFFFFFF, -0x80000000, 64, 65, 1 << 20])
def test_hostile_lengths_in_every_length_field(value):
    """Each 4-byte length of a create (path, data, ACL count, scheme, id) replaced by `value`."""
    rec = CreateRequest("/a", b"dd", [ACL(31, Id("world", "anyone"))], 0)
    body = multi((OpCode.create, rec), (OpCode.setData, SetDataRequest("/a", b"x", -1)))
    start = 9  # after the first MultiHeader
    for rel in (0, 6, 12, 20, 29):  # path, data, ACL count, scheme length, id length
        b = bytearray(body)
        struct.pack_into(">i", b, start + rel, value)
        same(bytes(b))


def test_read_ops_and_unknown_types_are_refused_alike():
    for t in (OpCode.getData, OpCode.getChildren, 99, -7, OpCode.multi):
        body = MultiHeader(t, False, -1).to_bytes() + DeleteRequest("/a", -1).to_bytes() + DONE
        same(body)
    with pytest.raises(DecodeError, match="Mixing"):
        decode_multi(MultiHeader(OpCode.getData, False, -1).to_bytes() + DONE)


def test_acl_lists_are_shared_per_distinct_bytes_and_equal_to_fresh_ones():
    acl2 = [ACL(31, Id("digest", "u:x")), ACL(1, Id("world", "anyone"))]
    body = multi(*[(OpCode.create, CreateRequest(f"/c{i}", b"", OPEN if i % 2 else acl2, 0)) for i in range(6)])
    ops = decode_multi(body)
    odd = [rec.acl for i, (_, rec) in enumerate(ops) if i % 2]
    even = [rec.acl for i, (_, rec) in enumerate(ops) if not i % 2]
    assert all(a is odd[0] for a in odd) and all(a is even[0] for a in even)
    assert odd[0] == OPEN and even[0] == acl2
    assert ops == reference(body)


def test_acl_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(inline, "acl_cache", {})
    for i in range(inline.ACL_CACHE_MAX + 50):
        acl = [ACL(31, Id("digest", f"user{i}:x"))]
        ops = decode_multi(multi((OpCode.create, CreateRequest("/a", b"", acl, 0))))
        assert ops[0][1].acl == acl
    assert len(inline.acl_cache) <= inline.ACL_CACHE_MAX


# ---- single writes: decode_write reads create and setData inline too ------------------------------


def single_reference(op: int, body: bytes) -> Record:
    """The generic decoder of a lone create or setData request."""
    return (SetDataRequest if op == OpCode.setData else CreateRequest).from_bytes(body)


def same_single(op: int, body: bytes) -> None:
    assert outcome(lambda b: writes.decode_write(op, b), body) == outcome(lambda b: single_reference(op, b), body), \
        (op, body)


def test_single_creates_and_set_data_decode_as_the_generic_decoder():
    """Well-formed, truncated at every byte, with trailing bytes and with bytes flipped: equal records
    or the same DecodeError, for each opcode that takes the inline reader."""
    rng = random.Random(3414)
    for _ in range(200):
        (op, rec), = sub_ops(rng, 1)
        if op not in (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.setData):
            continue
        body = rec.to_bytes()
        same_single(op, body)
        same_single(op, body + b"trailing")
        for cut in range(0, len(body), 3):
            same_single(op, body[:cut])
        for _ in range(20):
            b = bytearray(body)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            same_single(op, bytes(b))


@pytest.mark.parametrize("value", [-2, -1, 0, 1, 0x7FFFFFFF, -0x80000000, 65, 1 << 20])
def test_single_create_hostile_lengths(value):
    body = CreateRequest("/a", b"dd", [ACL(31, Id("world", "anyone"))], 0).to_bytes()
    for rel in (0, 6, 12, 20, 29):  # path, data, ACL count, scheme length, id length
        b = bytearray(body)
        struct.pack_into(">i", b, rel, value)
        for op in (OpCode.create, OpCode.create2, OpCode.createContainer):
            same_single(op, bytes(b))
