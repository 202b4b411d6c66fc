"""Transaction records by type, and their bytes (as logged, replicated and nested in MultiTxn).

A multi is decoded all the way down (`MultiOps` with decoded sub-records), so the tree applies
records and never sees bytes; encoding packs the sub-records back into ZooKeeper's `MultiTxn`.
"""

from __future__ import annotations

from ..protocol import (
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTTLTxn,
    CreateTxn,
    DecodeError,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    OpCode,
    Record,
    SetACLTxn,
    SetDataTxn,
    Txn,
)
from ..tree import MultiOps

TXN_RECORDS: dict[int, type[Record]] = {
    OpCode.create: CreateTxn,
    OpCode.create2: CreateTxn,
    OpCode.createContainer: CreateContainerTxn,
    OpCode.createTTL: CreateTTLTxn,
    OpCode.delete: DeleteTxn,
    OpCode.deleteContainer: DeleteTxn,
    OpCode.setData: SetDataTxn,
    OpCode.reconfig: SetDataTxn,  # ZooKeeper logs a reconfig as the setData of /zookeeper/config
    OpCode.setACL: SetACLTxn,
    OpCode.check: CheckVersionTxn,
    OpCode.createSession: CreateSessionTxn,
    OpCode.closeSession: CloseSessionTxn,
    OpCode.error: ErrorTxn,
    OpCode.multi: MultiTxn,
}

AnyTxn = Record | MultiOps | None


def decode_txn(type_: int, data: bytes) -> AnyTxn:
    """The txn of `type_`; an empty closeSession body (pre-3.6 format) decodes to None, a multi to
    `MultiOps` with every sub-transaction decoded."""
    cls = TXN_RECORDS.get(type_)
    if cls is None:
        raise DecodeError(f"unknown txn type {type_}")
    if type_ == OpCode.closeSession and not data:
        return None
    rec = cls.from_bytes(data)
    if type_ != OpCode.multi:
        return rec
    assert isinstance(rec, MultiTxn)
    ops: list[tuple[int, Record]] = []
    for t in rec.txns or ():
        if t.type == OpCode.multi or t.type not in TXN_RECORDS:
            raise DecodeError(f"invalid txn type {t.type} in a multi")
        sub = decode_txn(t.type, t.data or b"")
        if sub is None or isinstance(sub, MultiOps):
            raise DecodeError(f"invalid txn type {t.type} in a multi")
        ops.append((t.type, sub))
    return MultiOps(ops)


def encode_txn(txn: AnyTxn) -> bytes:
    if txn is None:
        return b""
    if isinstance(txn, MultiOps):
        return MultiTxn([Txn(t, r.to_bytes()) for t, r in txn.ops]).to_bytes()
    return txn.to_bytes()
