"""Transaction records by type, and their bytes (as logged, replicated and nested in MultiTxn).

A multi is decoded all the way down (`MultiOps` with decoded sub-records), so the tree applies
records and never sees bytes; encoding packs the sub-records back into ZooKeeper's `MultiTxn`.
"""

from __future__ import annotations

import struct

from ..protocol import (
    ACL,
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


_I = struct.Struct(">i")
_TXN_HEAD = struct.Struct(">ii")  # a MultiTxn entry's type and the length of its data
_NO_HEAD = bytes(_TXN_HEAD.size)
_CREATE_TAIL = struct.Struct(">?i")  # CreateTxn: ephemeral, parentCVersion
_NULL = b"\xff\xff\xff\xff"
# The last ACL list written and its bytes: a multi's creates share one list (`acl.to_records`).
_last_acl: tuple[list[ACL] | None, bytes] = (None, b"")


def _acl_bytes(acl: list[ACL] | None) -> bytes:
    global _last_acl
    last = _last_acl
    if acl is last[0] and acl is not None:
        return last[1]
    out = bytearray()
    if acl is None:
        out += _NULL
    else:
        out += _I.pack(len(acl))
        for a in acl:
            a.serialize(out)
    data = bytes(out)
    _last_acl = (acl, data)
    return data


def _put_string(out: bytearray, s: str | None) -> None:
    if s is None:
        out += _NULL
    else:
        b = s.encode("utf-8", "surrogatepass")  # as jute's write_ustring
        out += _I.pack(len(b))
        out += b


def _put_buffer(out: bytearray, b: bytes | None) -> None:
    if b is None:
        out += _NULL
    else:
        out += _I.pack(len(b))
        out += b


def serialize_multi(out: bytearray, multi: MultiOps) -> None:
    """Append `multi` as ZooKeeper's MultiTxn (a vector of (type, buffer) Txn records), each
    sub-record serialized in place and its length filled in after: the same bytes as building a
    `Txn(t, r.to_bytes())` per op and encoding the MultiTxn, without a bytes object and a record per op.
    CreateTxn and SetDataTxn, the bulk of big multis, are written here field by field (their ACL list,
    shared by a multi's creates, encoded once), everything else by its record's own serializer."""
    ops = multi.ops
    out += _I.pack(len(ops))
    pack_into = _TXN_HEAD.pack_into
    for t, rec in ops:
        start = len(out)
        out += _NO_HEAD
        serialize_txn(out, rec)
        pack_into(out, start, t, len(out) - start - 8)


def serialize_txn(out: bytearray, rec: Record) -> None:
    """Append one txn record: CreateTxn and SetDataTxn (nearly every logged txn) field by field, with
    the ACL list's bytes reused while the same list comes again; the same bytes as `rec.serialize`."""
    cls = type(rec)
    if cls is CreateTxn:
        assert isinstance(rec, CreateTxn)
        _put_string(out, rec.path)
        _put_buffer(out, rec.data)
        out += _acl_bytes(rec.acl)
        out += _CREATE_TAIL.pack(rec.ephemeral, rec.parentCVersion)
    elif cls is SetDataTxn:
        assert isinstance(rec, SetDataTxn)
        _put_string(out, rec.path)
        _put_buffer(out, rec.data)
        out += _I.pack(rec.version)
    else:
        rec.serialize(out)


def encode_txn(txn: AnyTxn) -> bytes:
    if txn is None:
        return b""
    if isinstance(txn, MultiOps):
        out = bytearray()
        serialize_multi(out, txn)
        return bytes(out)
    return txn.to_bytes()
