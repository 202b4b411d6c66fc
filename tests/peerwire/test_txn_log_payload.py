"""txn_log_payload (the learners' fast path for a PROPOSAL's/INFORM's txn) must agree with the generic
decoder byte for byte, and fail where it fails, on well-formed and damaged input alike."""

from __future__ import annotations

import random
import struct

import pytest

from corral.peerwire.packets import TxnEntry, txn_log_payload
from corral.protocol.constants import OpCode
from corral.protocol.jute import Record
from corral.protocol.records import CreateTxn, DeleteTxn, SetDataTxn, TxnDigest, TxnHeader
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


def test_agrees_with_the_generic_decoder_on_random_damage() -> None:
    rng = random.Random(14)
    fast_accepted = 0
    for _ in range(20_000):
        t = rng.choice([OpCode.setData, OpCode.delete, OpCode.create, OpCode.closeSession])
        hdr = enc(TxnHeader(rng.randrange(-2**63, 2**63), rng.randrange(-2**31, 2**31),
                            rng.randrange(2**40), rng.randrange(2**41), int(t)))
        path = rng.choice(["/a", "/bench/k1", "", "/\u00e9", None])
        if t == OpCode.setData:
            body = enc(SetDataTxn(path, rng.choice([b"", b"x" * 100, None]), rng.randrange(-1, 9)))
        elif t == OpCode.delete:
            body = enc(DeleteTxn(path))
        elif t == OpCode.create:
            body = enc(CreateTxn(path or "/x", b"d", [], False, 3))
        else:
            body = b""
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
        fast_accepted += expected[0] == "ok" and bytes(data[28:32]) in (b"\0\0\0\5", b"\0\0\0\2")
    assert fast_accepted > 1000  # the fast path itself was exercised, not only the fallback
