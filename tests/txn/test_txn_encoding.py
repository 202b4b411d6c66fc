"""`encode_txn_payload` packs the TxnHeader and writes CreateTxn/SetDataTxn field by field (the write
path's log encoding); the bytes must be exactly the jute records' own, which ZooKeeper reads."""

from __future__ import annotations

import itertools
import struct

import pytest

from corral.persistence.txnlog import decode_txn_payload, encode_txn_payload
from corral.protocol.constants import OpCode
from corral.protocol.records import (
    ACL,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    Id,
    SetDataTxn,
    TxnHeader,
)

OPEN = [ACL(31, Id("world", "anyone"))]
PATHS = ["/a", "", None, "/\u00e9/\U0001f600", "/lone\udc80surrogate"]
DATAS = [b"", b"v" * 100, None]
HEADERS = [TxnHeader(0x1000000000001, 7, 0x100000002, 1_700_000_000_000, OpCode.setData),
           TxnHeader(-1, -1, -1, -1, OpCode.create), TxnHeader(0, 0, 0, 0, OpCode.error)]


def jute(hdr: TxnHeader, txn) -> bytes:
    return hdr.to_bytes() + (txn.to_bytes() if txn is not None else b"")


@pytest.mark.parametrize("hdr", HEADERS)
def test_set_data_and_create_bytes_are_the_records_own(hdr):
    txns = [SetDataTxn(p, d, v) for p, d, v in itertools.product(PATHS, DATAS, [-1, 0, 0x7FFFFFFF])]
    txns += [CreateTxn(p, d, acl, eph, cv) for p, d, acl, eph, cv in
             itertools.product(PATHS, DATAS, [OPEN, [], None, OPEN * 3], [True, False], [-1, 0, 5])]
    txns += [DeleteTxn("/gone"), ErrorTxn(-101), None]
    for txn in txns:
        assert encode_txn_payload(hdr, txn) == jute(hdr, txn), txn


def test_logged_set_data_reads_back():
    hdr, txn = HEADERS[0], SetDataTxn("/a", b"v" * 100, 3)
    assert decode_txn_payload(encode_txn_payload(hdr, txn)) == (hdr, txn)


def test_the_same_acl_list_again_and_an_equal_new_one_give_the_same_bytes():
    hdr = HEADERS[0]
    acl2 = [ACL(1, Id("digest", "u:h="))]
    for acl in (OPEN, OPEN, acl2, list(OPEN), acl2):
        txn = CreateTxn("/n", b"d", acl, False, 1)
        assert encode_txn_payload(hdr, txn) == jute(hdr, txn)


def test_out_of_range_header_fields_are_refused_not_truncated():
    with pytest.raises(struct.error):
        encode_txn_payload(TxnHeader(1 << 63, 0, 0, 0, 5), SetDataTxn("/a", b"", 0))
