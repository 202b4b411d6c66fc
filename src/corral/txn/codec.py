"""Transaction records by type, and their bytes (as logged, replicated and nested in MultiTxn)."""

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
)

TXN_RECORDS: dict[int, type[Record]] = {
    OpCode.create: CreateTxn,
    OpCode.create2: CreateTxn,
    OpCode.createContainer: CreateContainerTxn,
    OpCode.createTTL: CreateTTLTxn,
    OpCode.delete: DeleteTxn,
    OpCode.deleteContainer: DeleteTxn,
    OpCode.setData: SetDataTxn,
    OpCode.setACL: SetACLTxn,
    OpCode.check: CheckVersionTxn,
    OpCode.createSession: CreateSessionTxn,
    OpCode.closeSession: CloseSessionTxn,
    OpCode.error: ErrorTxn,
    OpCode.multi: MultiTxn,
}


def decode_txn(type_: int, data: bytes) -> Record | None:
    """The txn record of `type_`; an empty closeSession body (pre-3.6 format) decodes to None."""
    cls = TXN_RECORDS.get(type_)
    if cls is None:
        raise DecodeError(f"unknown txn type {type_}")
    if type_ == OpCode.closeSession and not data:
        return None
    return cls.from_bytes(data)


def encode_txn(txn: Record | None) -> bytes:
    return b"" if txn is None else txn.to_bytes()
