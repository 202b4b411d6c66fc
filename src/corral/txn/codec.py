"""Transaction records by type, and their bytes (as logged, replicated and nested in MultiTxn).

A multi is decoded all the way down (`MultiOps` with decoded sub-records), so the tree applies
records and never sees bytes; encoding packs the sub-records back into ZooKeeper's `MultiTxn`.
"""

from __future__ import annotations

import struct
from typing import Final

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
    Record,
    SetACLTxn,
    SetDataTxn,
)
from ..protocol.codes import (
    OP_CHECK,
    OP_CLOSE_SESSION,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_SESSION,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_ERROR,
    OP_MULTI,
    OP_RECONFIG,
    OP_SET_ACL,
    OP_SET_DATA,
)
from ..protocol.inline import acl_at, i32_at, path_data_at, string_at
from ..tree import MultiOps

TXN_RECORDS: Final[dict[int, type[Record]]] = {
    OP_CREATE: CreateTxn,
    OP_CREATE2: CreateTxn,
    OP_CREATE_CONTAINER: CreateContainerTxn,
    OP_CREATE_TTL: CreateTTLTxn,
    OP_DELETE: DeleteTxn,
    OP_DELETE_CONTAINER: DeleteTxn,
    OP_SET_DATA: SetDataTxn,
    OP_RECONFIG: SetDataTxn,  # ZooKeeper logs a reconfig as the setData of /zookeeper/config
    OP_SET_ACL: SetACLTxn,
    OP_CHECK: CheckVersionTxn,
    OP_CREATE_SESSION: CreateSessionTxn,
    OP_CLOSE_SESSION: CloseSessionTxn,
    OP_ERROR: ErrorTxn,
    OP_MULTI: MultiTxn,
}

AnyTxn = Record | MultiOps | None


def decode_txn(type_: int, data: bytes) -> AnyTxn:
    """The txn of `type_`; an empty closeSession body (pre-3.6 format) decodes to None, a multi to
    `MultiOps` with every sub-transaction decoded."""
    return decode_txn_at(type_, data, 0)


def decode_txn_at(type_: int, buf: bytes, off: int) -> AnyTxn:
    """`decode_txn` of the txn record at `buf[off:]` (trailing bytes allowed, as ZooKeeper's readers
    allow them: a logged txn may be followed by its TxnDigest).

    Creates, setData and deletes, nearly every txn a follower commits or recovery replays, are read
    inline (protocol/inline.py: ~1 µs against ~5 µs through the generic decoder), and a multi's entries
    are decoded where they lie; anything the inline readers do not take goes to the generic decoder, so
    the records and the errors are the generic ones (tests/txn/test_decode_inline.py)."""
    end = len(buf)
    rec = _simple_txn_at(type_, buf, off, end)
    if rec is not None:
        return rec
    if type_ == OP_MULTI:
        ops = _multi_at(buf, off, end)
        if ops is not None:
            return ops
    return _generic_txn(type_, bytes(buf[off:]) if off else buf)


def _generic_txn(type_: int, data: bytes) -> AnyTxn:
    cls = TXN_RECORDS.get(type_)
    if cls is None:
        raise DecodeError(f"unknown txn type {type_}")
    if type_ == OP_CLOSE_SESSION and not data:
        return None
    rec = cls.from_bytes(data)
    if type_ != OP_MULTI:
        return rec
    assert isinstance(rec, MultiTxn)
    ops: list[tuple[int, Record]] = []
    for t in rec.txns or ():
        data = t.data or b""
        ops.append((t.type, _sub_txn(t.type, data, 0, len(data))))
    return MultiOps(ops)


def _sub_txn(t: int, buf: bytes, off: int, end: int) -> Record:
    """One entry of a MultiTxn, the record of type `t` in `buf[off:end]`."""
    if t == OP_MULTI or t not in TXN_RECORDS:
        raise DecodeError(f"invalid txn type {t} in a multi")
    sub = _simple_txn_at(t, buf, off, end)
    if sub is not None:
        return sub
    got = _generic_txn(t, bytes(buf[off:end]))
    if got is None or isinstance(got, MultiOps):
        raise DecodeError(f"invalid txn type {t} in a multi")
    return got


def _simple_txn_at(t: int, buf: bytes, off: int, end: int) -> Record | None:
    """CreateTxn, SetDataTxn or DeleteTxn read inline, or None (not one of them, or not for the inline
    reader: the caller decodes it generically)."""
    if t in (OP_CREATE, OP_CREATE2):
        path, data, p = path_data_at(buf, off, end)
        if path is None:
            return None
        acl, p = acl_at(buf, p, end)
        if acl is None or p + 5 > end:
            return None
        return CreateTxn(path, data, acl, buf[p] != 0, i32_at(buf, p + 1))
    if t == OP_SET_DATA:
        path, data, p = path_data_at(buf, off, end)
        if path is None or p + 4 > end:
            return None
        return SetDataTxn(path, data, i32_at(buf, p))
    if t in (OP_DELETE, OP_DELETE_CONTAINER):
        path, p = string_at(buf, off, end)
        return None if path is None else DeleteTxn(path)
    return None


def _multi_at(buf: bytes, off: int, end: int) -> MultiOps | None:
    """A MultiTxn's entries decoded in place, or None when its vector is not well formed (a null or
    overlong count, an entry that does not fit): the generic decoder then reports it. The entries are
    checked first, so a damaged vector gets the generic error, not one from an earlier entry's body."""
    if off + 4 > end:
        return None
    count = i32_at(buf, off)
    if count < 0 or count > end - off - 4:
        return None
    p = off + 4
    spans: list[tuple[int, int, int]] = []
    for _ in range(count):
        if p + 8 > end:
            return None
        t = i32_at(buf, p)
        n = i32_at(buf, p + 4)
        p += 8
        if n < 0 or p + n > end:
            return None
        spans.append((t, p, p + n))
        p += n
    return MultiOps([(t, _sub_txn(t, buf, a, b)) for t, a, b in spans])


_I: Final = struct.Struct(">i")
_TXN_HEAD: Final = struct.Struct(">ii")  # a MultiTxn entry's type and the length of its data
_NO_HEAD: Final = bytes(_TXN_HEAD.size)
_CREATE_TAIL: Final = struct.Struct(">?i")  # CreateTxn: ephemeral, parentCVersion
_NULL: Final = b"\xff\xff\xff\xff"
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
