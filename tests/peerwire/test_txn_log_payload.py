"""txn_log_payload (the learners' fast path for a PROPOSAL's/INFORM's txn) must agree with the generic
decoder byte for byte, and fail where it fails, on well-formed and damaged input alike."""

from __future__ import annotations

import random
import struct

import pytest

from corral.peerwire.packets import TxnEntry, txn_log_payload
from corral.protocol.constants import OpCode
from corral.protocol.jute import Record
from corral.protocol.records import (
    ACL,
    CreateContainerTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    Id,
    MultiTxn,
    SetDataTxn,
    Txn,
    TxnDigest,
    TxnHeader,
)
from corral.quorum.errors import PeerProtocolError


def enc(rec: Record) -> bytes:
    out = bytearray()
    rec.serialize(out)
    return bytes(out)


def header(t: int) -> bytes:
    return enc(TxnHeader(7, 3, (2 << 32) | 9, 1_700_000_000_000, t))


def outcome(data: bytes, fast: bool) -> tuple[str, bytes | None]:
    try:
        return "ok", (txn_log_payload(data) if fast else TxnEntry.decode(data).log_payload)
    except PeerProtocolError:
        return "error", None


def test_set_data_with_digest_drops_the_digest() -> None:
    body = header(OpCode.setData) + enc(SetDataTxn("/a", b"x" * 100, 4))
    assert txn_log_payload(body + enc(TxnDigest(2, 99))) == body
    assert txn_log_payload(body) == body


def test_delete_and_null_fields() -> None:
    body = header(OpCode.delete) + enc(DeleteTxn(None))
    assert txn_log_payload(body) == body
    body = header(OpCode.setData) + enc(SetDataTxn("/a", None, -1))
    assert txn_log_payload(body) == body


@pytest.mark.parametrize("tail", [b"\x00", b"\x00" * 11, b"\x00" * 13])
def test_trailing_bytes_other_than_a_digest_are_refused(tail: bytes) -> None:
    with pytest.raises(PeerProtocolError):
        txn_log_payload(header(OpCode.setData) + enc(SetDataTxn("/a", b"d", 1)) + tail)


def test_truncated_and_negative_lengths_are_refused() -> None:
    good = header(OpCode.setData) + enc(SetDataTxn("/a", b"data", 1))
    with pytest.raises(PeerProtocolError):
        txn_log_payload(good[:-1])
    with pytest.raises(PeerProtocolError):
        txn_log_payload(header(OpCode.delete) + struct.pack(">i", -2))


FAST = (OpCode.setData, OpCode.delete, OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
        OpCode.multi)


def _random_txn(rng: random.Random, t: int) -> bytes:
    path = rng.choice(["/a", "/bench/k1", "", "/\u00e9", None])
    data = rng.choice([b"", b"x" * 100, None])
    acl = rng.choice([[], None, [ACL(31, Id("world", "anyone"))],
                      [ACL(1, Id("digest", "u:h")), ACL(31, Id("ip", None)), ACL(0, Id(None, ""))]])
    if t == OpCode.setData:
        return enc(SetDataTxn(path, data, rng.randrange(-1, 9)))
    if t == OpCode.delete:
        return enc(DeleteTxn(path))
    if t in (OpCode.create, OpCode.create2):
        return enc(CreateTxn(path, data, acl, rng.random() < 0.5, rng.randrange(-1, 9)))
    if t == OpCode.createContainer:
        return enc(CreateContainerTxn(path, data, acl, rng.randrange(9)))
    if t == OpCode.createTTL:
        return enc(CreateTTLTxn(path, data, acl, rng.randrange(9), rng.randrange(2**40)))
    if t == OpCode.multi:
        txns = [Txn(int(rng.choice([OpCode.create, OpCode.setData, OpCode.error])), _random_txn(rng, OpCode.delete))
                for _ in range(rng.randrange(4))]
        return enc(MultiTxn(rng.choice([txns, None])))
    return b""


def test_agrees_with_the_generic_decoder_on_random_damage() -> None:
    rng = random.Random(14)
    fast_accepted = dict.fromkeys(FAST, 0)
    for _ in range(40_000):
        t = rng.choice([*FAST, OpCode.closeSession, OpCode.setACL])
        hdr = enc(TxnHeader(rng.randrange(-2**63, 2**63), rng.randrange(-2**31, 2**31),
                            rng.randrange(2**40), rng.randrange(2**41), int(t)))
        body = _random_txn(rng, t)
        data = bytearray(hdr + body + (enc(TxnDigest(2, rng.randrange(2**62))) if rng.random() < 0.5 else b""))
        r = rng.random()
        if r < 0.3:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif r < 0.45:
            data = data[:rng.randrange(len(data) + 1)]
        elif r < 0.55:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        expected = outcome(bytes(data), fast=False)
        assert outcome(bytes(data), fast=True) == expected, bytes(data).hex()
        if expected[0] == "ok" and len(data) >= 32:
            kind = struct.unpack_from(">i", data, 28)[0]
            if kind in fast_accepted:
                fast_accepted[kind] += 1
    # the fast path itself was exercised for every kind, not only the fallback
    assert min(fast_accepted.values()) > 1000, fast_accepted


@pytest.mark.parametrize("t", [OpCode.create, OpCode.createContainer, OpCode.createTTL, OpCode.multi])
def test_creates_and_multis_keep_their_bytes(t: int) -> None:
    rng = random.Random(t)
    for _ in range(200):
        body = header(t) + _random_txn(rng, t)
        assert txn_log_payload(body) == body == TxnEntry.decode(body).log_payload
        assert txn_log_payload(body + enc(TxnDigest(2, 7))) == body
