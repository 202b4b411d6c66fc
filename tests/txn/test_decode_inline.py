"""`decode_txn_payload` reads creates, setData, deletes and multis inline (txn/codec.py,
protocol/inline.py): a follower decodes every txn it commits and recovery every txn it replays. The
records and the errors must be exactly the generic jute decoder's, on well-formed, truncated, damaged
and hostile input alike, since a replica that decoded a txn differently would diverge."""

from __future__ import annotations

import random
import struct

import pytest

from corral.persistence.txnlog import decode_txn_payload
from corral.protocol import DecodeError, Record
from corral.protocol.constants import OpCode
from corral.protocol.records import (
    ACL,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    Id,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    Txn,
    TxnDigest,
    TxnHeader,
)
from corral.tree import MultiOps
from corral.txn.codec import TXN_RECORDS, decode_txn


def reference_txn(t: int, data: bytes):
    """The generic decoder: every record through its jute `from_bytes`, multis entry by entry."""
    cls = TXN_RECORDS.get(t)
    if cls is None:
        raise DecodeError(f"unknown txn type {t}")
    if t == OpCode.closeSession and not data:
        return None
    rec = cls.from_bytes(data)
    if t != OpCode.multi:
        return rec
    ops = []
    for e in rec.txns or ():
        if e.type == OpCode.multi or e.type not in TXN_RECORDS:
            raise DecodeError(f"invalid txn type {e.type} in a multi")
        sub = reference_txn(e.type, e.data or b"")
        if sub is None or isinstance(sub, MultiOps):
            raise DecodeError(f"invalid txn type {e.type} in a multi")
        ops.append((e.type, sub))
    return MultiOps(ops)


def reference(payload: bytes):
    hdr, off = TxnHeader.deserialize(payload, 0)
    return hdr, reference_txn(hdr.type, payload[off:])


def outcome(decode, payload: bytes) -> tuple[str, object]:
    try:
        return "ok", decode(payload)
    except DecodeError as e:
        return "error", str(e)


def same(payload: bytes) -> None:
    assert outcome(decode_txn_payload, payload) == outcome(reference, payload), payload


OPEN = [ACL(31, Id("world", "anyone"))]
ACLS = [OPEN, [], None, [ACL(31, Id("digest", "u:h=")), ACL(1, Id("world", "anyone"))],
        [ACL(31, Id("world", None))], [ACL(31, Id(None, "x"))], [ACL(i, Id("ip", "10.0.0.1")) for i in range(70)]]
PATHS = ["/a", "/a/b", "", None, "/\u00e9/\U0001f600", "/x" * 40]
DATAS = [b"", b"v" * 100, None, bytes(range(256))]


def simple_txn(rng: random.Random) -> tuple[int, Record | None]:
    path, data, acl = rng.choice(PATHS), rng.choice(DATAS), rng.choice(ACLS)
    kind = rng.randrange(12)
    if kind < 3:
        return rng.choice([OpCode.create, OpCode.create2]), CreateTxn(path, data, acl, rng.random() < 0.5,
                                                                      rng.choice([-1, 0, 7, 0x7FFFFFFF]))
    if kind == 3:
        return rng.choice([OpCode.setData, OpCode.reconfig]), SetDataTxn(path, data, rng.choice([-1, 0, 3]))
    if kind == 4:
        return rng.choice([OpCode.delete, OpCode.deleteContainer]), DeleteTxn(path)
    if kind == 5:
        return OpCode.createContainer, CreateContainerTxn(path, data, acl, 4)
    if kind == 6:
        return OpCode.createTTL, CreateTTLTxn(path, data, acl, 2, 1000)
    if kind == 7:
        return OpCode.setACL, SetACLTxn(path, acl, 1)
    if kind == 8:
        return OpCode.check, CheckVersionTxn(path, 2)
    if kind == 9:
        return OpCode.error, ErrorTxn(-101)
    if kind == 10:
        return OpCode.createSession, CreateSessionTxn(30000)
    return OpCode.closeSession, rng.choice([CloseSessionTxn(["/e1", "/e2"]), CloseSessionTxn(None), None])


def payload(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        subs = [simple_txn(rng) for _ in range(rng.randrange(0, 6))]
        if rng.random() < 0.1:
            subs.append((OpCode.multi, MultiTxn([])))
        t, body = OpCode.multi, MultiTxn([Txn(st, r.to_bytes() if r is not None else rng.choice([b"", None]))
                                          for st, r in subs]).to_bytes()
    else:
        t, rec = simple_txn(rng)
        body = rec.to_bytes() if rec is not None else b""
    hdr = TxnHeader(rng.getrandbits(63), rng.randrange(-5, 1 << 20), 0x200000000 + rng.randrange(1 << 20),
                    1_700_000_000_000, t)
    digest = TxnDigest(2, rng.getrandbits(63)).to_bytes() if rng.random() < 0.3 else b""
    return hdr.to_bytes() + body + digest


def test_well_formed_txns_decode_as_the_generic_decoder():
    """Well-formed jute, including what a multi may not hold (a nested multi, an empty closeSession):
    both decoders refuse those alike; nearly all the rest decode, to equal records."""
    rng = random.Random(2614)
    decoded = 0
    for _ in range(3000):
        p = payload(rng)
        same(p)
        decoded += outcome(decode_txn_payload, p)[0] == "ok"
    assert decoded > 2500


def test_every_truncation_and_byte_flip_fails_or_succeeds_alike():
    rng = random.Random(2615)
    for _ in range(40):
        p = payload(rng)
        for cut in range(len(p) + 1):
            same(p[:cut])
        for _ in range(200):
            b = bytearray(p)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            same(bytes(b))


@pytest.mark.parametrize("value", [-2, -1, 0, 1, 3, 64, 65, 0x7FFFFFFF, -0x80000000])
def test_hostile_lengths_in_every_length_field(value):
    """Each 4-byte length of a create, and a multi's count and entry lengths, replaced by `value`."""
    hdr = TxnHeader(1, 2, 3, 4, OpCode.create).to_bytes()
    create = CreateTxn("/a", b"dd", OPEN, False, 1).to_bytes()
    for rel in (0, 6, 12, 20, 29):  # path, data, ACL count, scheme length, id length
        b = bytearray(hdr + create)
        struct.pack_into(">i", b, len(hdr) + rel, value)
        same(bytes(b))
    mhdr = TxnHeader(1, 2, 3, 4, OpCode.multi).to_bytes()
    body = MultiTxn([Txn(OpCode.create, create), Txn(OpCode.delete, DeleteTxn("/a").to_bytes())]).to_bytes()
    for rel in (0, 8, 8 + len(create) + 8):  # the count, the first entry's length, the second's
        b = bytearray(mhdr + body)
        struct.pack_into(">i", b, len(mhdr) + rel, value)
        same(bytes(b))


def test_unknown_types_and_garbage_are_refused_alike():
    rng = random.Random(2616)
    for t in (0, 99, -1, -11, OpCode.getData):
        same(TxnHeader(1, 2, 3, 4, t).to_bytes() + b"\x00\x00\x00\x01/")
    for _ in range(2000):
        same(rng.randbytes(rng.randrange(0, 80)))


def test_decode_txn_is_the_same_reader():
    """decode_txn (a multi's entries, the peer codec) takes the same inline path as a logged payload."""
    rec = CreateTxn("/n", b"x", OPEN, True, 3)
    assert decode_txn(OpCode.create, rec.to_bytes()) == rec
    assert decode_txn(OpCode.closeSession, b"") is None
    ops = decode_txn(OpCode.multi, MultiTxn([Txn(OpCode.create, rec.to_bytes())]).to_bytes())
    assert ops == MultiOps([(OpCode.create, rec)])


def test_decoded_acl_lists_are_shared_and_equal_to_fresh_ones():
    """Creates with the same ACL bytes share one list (inline.acl_cache); it equals a fresh decode."""
    a = decode_txn(OpCode.create, CreateTxn("/a", b"", OPEN, False, 0).to_bytes())
    b = decode_txn(OpCode.create, CreateTxn("/b", b"", list(OPEN), False, 0).to_bytes())
    assert a.acl is b.acl and a.acl == OPEN
