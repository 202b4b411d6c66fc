"""Decoding write requests into the records `Preparer.prepare` takes (multi included).

A multi of a thousand creates is a thousand CreateRequests, each with an ACL list that is nearly always
the same bytes; the generic jute decoder builds every ACL and Id record and walks every string through
a helper call (about 6 µs per create). `decode_multi` reads the common sub-requests inline instead and
decodes each distinct ACL vector once (protocol/inline.py): the records it returns are equal to the generic
decoder's, and anything unusual (a null string, a truncated or oversized field) goes to the generic
decoder at the same offset, so malformed input gets exactly the same DecodeError as before.
"""

from __future__ import annotations

from typing import Final

from ..protocol import (
    CheckVersionRequest,
    CreateMode,
    CreateRequest,
    CreateTTLRequest,
    DecodeError,
    DeleteContainerRequest,
    DeleteRequest,
    MultiHeader,
    ReconfigRequest,
    Record,
    SetACLRequest,
    SetDataRequest,
)
from ..protocol.codes import (
    OP_CHECK,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_GET_CHILDREN,
    OP_GET_DATA,
    OP_MULTI,
    OP_RECONFIG,
    OP_SET_ACL,
    OP_SET_DATA,
)
from ..protocol.inline import acl_at, i32_at, path_data_at, string_at

_SIMPLE: Final[dict[int, type[Record]]] = {
    OP_CREATE: CreateRequest,
    OP_CREATE2: CreateRequest,
    OP_CREATE_CONTAINER: CreateRequest,
    OP_CREATE_TTL: CreateTTLRequest,
    OP_DELETE: DeleteRequest,
    OP_SET_DATA: SetDataRequest,
    OP_SET_ACL: SetACLRequest,
    OP_RECONFIG: ReconfigRequest,
}


def decode_write(op: int, body: bytes) -> Record | list[tuple[int, Record]]:
    """The request record of write `op`; raises DecodeError (→ MarshallingError, as ZooKeeper).

    setData and the creates, nearly every write, are read inline (`_set_data_at`, `_create_at`: a
    third of the generic decoder's cost, per request); anything they do not take (a null path, a
    truncated field, a long ACL) goes to the generic decoder, so errors are the same."""
    if op == OP_SET_DATA:
        sd = _set_data_at(body, 0, len(body))[0]
        return sd if sd is not None else SetDataRequest.from_bytes(body)
    if op in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER):
        cr = _create_at(body, 0, len(body))[0]
        return cr if cr is not None else CreateRequest.from_bytes(body)
    if op == OP_MULTI:
        return decode_multi(body)
    if op == OP_DELETE_CONTAINER:
        dc = DeleteContainerRequest.from_bytes(body)
        return DeleteRequest((dc.path or b"").decode("utf-8", "replace"), -1)
    return _SIMPLE[op].from_bytes(body)


_CONTAINER_FLAGS: Final = int(CreateMode.CONTAINER)


def _create_at(body: bytes, off: int, end: int) -> tuple[CreateRequest | None, int]:
    path, data, p = path_data_at(body, off, end)
    if path is None:
        return None, -1
    acl, p = acl_at(body, p, end)
    if acl is None or p + 4 > end:
        return None, -1
    return CreateRequest(path, data, acl, i32_at(body, p)), p + 4


def _set_data_at(body: bytes, off: int, end: int) -> tuple[SetDataRequest | None, int]:
    path, data, p = path_data_at(body, off, end)
    if path is None or p + 4 > end:
        return None, -1
    return SetDataRequest(path, data, i32_at(body, p)), p + 4


def _path_version_at(body: bytes, off: int, end: int) -> tuple[str | None, int, int]:
    """DeleteRequest / CheckVersionRequest: (path, version, end) or (None, 0, -1)."""
    path, p = string_at(body, off, end)
    if path is None or p + 4 > end:
        return None, 0, -1
    return path, i32_at(body, p), p + 4


def decode_multi(body: bytes) -> list[tuple[int, Record]]:
    """MultiOperationRecord: (MultiHeader, op record)* up to a header with done=true.

    Like the Java server, a create sent as create2 (15) becomes create (1) inside a multi, and one
    whose flags say CONTAINER becomes createContainer (19); read ops may not be mixed in.
    """
    ops: list[tuple[int, Record]] = []
    off = 0
    end = len(body)
    while True:
        if off + 9 <= end:
            t = i32_at(body, off)
            done = body[off + 4] != 0
            off += 9
        else:
            mh, off = MultiHeader.deserialize(body, off)  # raises the generic decoder's error
            t, done = mh.type, mh.done
        if done:
            return ops
        rec: Record
        if t in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER):
            cr, p = _create_at(body, off, end)
            if cr is None:
                cr, p = CreateRequest.deserialize(body, off)
            rec, off = cr, p
            t = OP_CREATE_CONTAINER if cr.flags == _CONTAINER_FLAGS else OP_CREATE
        elif t == OP_SET_DATA:
            sd, p = _set_data_at(body, off, end)
            if sd is None:
                sd, p = SetDataRequest.deserialize(body, off)
            rec, off = sd, p
        elif t in (OP_DELETE, OP_CHECK):
            path, version, p = _path_version_at(body, off, end)
            if path is not None:
                rec = DeleteRequest(path, version) if t == OP_DELETE else CheckVersionRequest(path, version)
                off = p
            elif t == OP_DELETE:
                rec, off = DeleteRequest.deserialize(body, off)
            else:
                rec, off = CheckVersionRequest.deserialize(body, off)
        elif t == OP_CREATE_TTL:
            rec, off = CreateTTLRequest.deserialize(body, off)
        elif t in (OP_GET_DATA, OP_GET_CHILDREN):
            raise DecodeError("Mixing different kind of ops")
        else:
            raise DecodeError(f"Invalid type of op {t}")
        ops.append((t, rec))
