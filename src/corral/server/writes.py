"""Decoding write requests into the records `Preparer.prepare` takes (multi included)."""

from __future__ import annotations

from ..protocol import (
    CheckVersionRequest,
    CreateMode,
    CreateRequest,
    CreateTTLRequest,
    DecodeError,
    DeleteContainerRequest,
    DeleteRequest,
    MultiHeader,
    OpCode,
    ReconfigRequest,
    Record,
    SetACLRequest,
    SetDataRequest,
)

_SIMPLE: dict[int, type[Record]] = {
    OpCode.create: CreateRequest,
    OpCode.create2: CreateRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.delete: DeleteRequest,
    OpCode.setData: SetDataRequest,
    OpCode.setACL: SetACLRequest,
    OpCode.reconfig: ReconfigRequest,
}


def decode_write(op: int, body: bytes) -> Record | list[tuple[int, Record]]:
    """The request record of write `op`; raises DecodeError (→ MarshallingError, as ZooKeeper)."""
    if op == OpCode.multi:
        return decode_multi(body)
    if op == OpCode.deleteContainer:
        dc = DeleteContainerRequest.from_bytes(body)
        return DeleteRequest((dc.path or b"").decode("utf-8", "replace"), -1)
    return _SIMPLE[op].from_bytes(body)


def decode_multi(body: bytes) -> list[tuple[int, Record]]:
    """MultiOperationRecord: (MultiHeader, op record)* up to a header with done=true.

    Like the Java server, a create sent as create2 (15) becomes create (1) inside a multi, and one
    whose flags say CONTAINER becomes createContainer (19); read ops may not be mixed in.
    """
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
