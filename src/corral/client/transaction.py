"""multi: several writes applied atomically (all or none), ZooKeeper's `Transaction` / `ZooKeeper.multi`.

Build with the chainable methods, then commit:

    txn = zk.transaction()
    txn.check("/lock", version=3).create("/jobs/j-", b"x", mode=CreateMode.PERSISTENT_SEQUENTIAL)
    txn.set_data("/state", b"busy")
    results = await txn.commit()

Result model (the same as kazoo's): `commit()` returns one entry per operation, in order.

* On success: create → the created path (str, chroot stripped), delete → True, set_data → the new
  Stat, check → True.
* On failure nothing was applied and **every** entry is a `KeeperError` instance: the failing op's
  own error (e.g. `NoNodeError`, `BadVersionError`), `RolledBackError` for ops before it that would
  have succeeded, and `RuntimeInconsistencyError` for ops after it, which were not attempted — that
  is exactly the ErrorResult pattern (0 / code / -2) the server sends.

`commit(raise_on_error=True)` raises the failing op's error instead, with the full list attached as
`exc.results`. Connection-level problems (ConnectionLossError, SessionExpiredError, ...) always raise.

Wire format (§1.11 of the protocol notes): `MultiHeader(op, false, -1)` + the op's request record per
operation, ended by `MultiHeader(-1, true, -1)`; the reply mirrors it with result records. Creates use
opcode create (1), createContainer (19) or createTTL (21) like the Java client's `Op.create`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

from ..protocol import (
    ACL,
    CheckVersionRequest,
    Create2Response,
    CreateMode,
    CreateResponse,
    DecodeError,
    DeleteRequest,
    ErrorResponse,
    MultiHeader,
    OpCode,
    ReadBuffer,
    Record,
    SetDataRequest,
    SetDataResponse,
    Stat,
)
from .errors import KeeperError, MarshallingError, RolledBackError, error_for

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Transaction", "TransactionResult"]

TransactionResult = str | bool | Stat | KeeperError
"""One entry of `Transaction.commit()`'s list."""

_END = MultiHeader(-1, True, -1)


@dataclass(slots=True)
class _Op:
    op: int
    record: Record
    path: str  # as the caller wrote it, for error messages


class _MultiRequest:
    """Serializes a MultiOperationRecord with the protocol's MultiHeader and request records."""

    __slots__ = ("ops",)

    def __init__(self, ops: Sequence[_Op]) -> None:
        self.ops = ops

    def serialize(self, out: bytearray) -> None:
        for o in self.ops:
            MultiHeader(o.op, False, -1).serialize(out)
            o.record.serialize(out)
        _END.serialize(out)


class _RolledBack(Enum):
    """The result of an op that would have succeeded but was undone (an ErrorResult with code 0)."""

    TOKEN = 0


_ROLLED_BACK = _RolledBack.TOKEN

MultiValue: TypeAlias = str | bool | Stat | _RolledBack | None
"""A decoded multi result: created path, True (delete/check), Stat (setData), rolled back, or None when
the entry is an ErrorResult with a non-zero code."""


def decode_multi_response(buf: ReadBuffer, off: int) -> tuple[list[tuple[int, MultiValue]], int]:
    """MultiResponse → [(err, value)]: err 0 with the op's result, or the ErrorResult's code (0 = rolled back)."""
    out: list[tuple[int, MultiValue]] = []
    for _ in range(1 << 20):  # bounded by the frame size anyway
        mh, off = MultiHeader.deserialize(buf, off)
        if mh.done:
            return out, off
        t = mh.type
        if t == -1:
            er, off = ErrorResponse.deserialize(buf, off)
            out.append((er.err if er.err else 0, None if er.err else _ROLLED_BACK))
        elif t == OpCode.create:
            cr, off = CreateResponse.deserialize(buf, off)
            out.append((0, _created(cr.path)))
        elif t in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
            c2, off = Create2Response.deserialize(buf, off)
            out.append((0, _created(c2.path)))
        elif t in (OpCode.delete, OpCode.check, OpCode.deleteContainer):
            out.append((0, True))
        elif t == OpCode.setData:
            sr, off = SetDataResponse.deserialize(buf, off)
            out.append((0, sr.stat))
        else:
            raise DecodeError(f"unexpected multi result type {t}")
    raise DecodeError("multi response without an end marker")


def _created(path: str | None) -> str:
    # jute can encode a null string, but a create result without its path is a malformed reply.
    if path is None:
        raise DecodeError("multi create result with a null path")
    return path


class Transaction:
    """A multi-operation under construction; see the module docstring for the result model.

    Paths are validated (and TTL/mode combinations checked) as operations are added, so a bad
    operation raises BadArgumentsError immediately, not at commit.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._ops: list[_Op] = []
        self._committed = False

    def __len__(self) -> int:
        return len(self._ops)

    def create(self, path: str, data: bytes = b"", acl: Sequence[ACL] | None = None,
               mode: CreateMode | int = CreateMode.PERSISTENT, *, ttl: int | None = None) -> Transaction:
        """Add a create (any CreateMode; `ttl` in ms for the TTL modes). Result: the created path."""
        from .client import _check_acl, _check_data, create_opcode, create_request

        mode = CreateMode(mode)
        spath = self._client._server_path(path, sequential=mode.sequential)
        op = create_opcode(mode, ttl, False, path)
        rec = create_request(op, spath, _check_data(data), _check_acl(acl), mode, ttl)
        self._ops.append(_Op(op, rec, path))
        return self

    def delete(self, path: str, version: int = -1) -> Transaction:
        """Add a delete (`version` -1 = any). Result: True."""
        self._ops.append(_Op(OpCode.delete, DeleteRequest(self._client._server_path(path), version), path))
        return self

    def set_data(self, path: str, data: bytes, version: int = -1) -> Transaction:
        """Add a setData (`version` -1 = any). Result: the new Stat."""
        from .client import _check_data

        rec = SetDataRequest(self._client._server_path(path), _check_data(data), version)
        self._ops.append(_Op(OpCode.setData, rec, path))
        return self

    def check(self, path: str, version: int) -> Transaction:
        """Add a version check: the transaction fails with BadVersionError unless the node's data version
        is `version` (NoNodeError if it is missing). Result: True."""
        self._ops.append(_Op(OpCode.check, CheckVersionRequest(self._client._server_path(path), version), path))
        return self

    async def commit(self, *, raise_on_error: bool = False) -> list[TransactionResult]:
        """Send the transaction; returns one result per operation (see the module docstring).

        A transaction can be committed once (a second commit raises RuntimeError).
        """
        if self._committed:
            raise RuntimeError("transaction already committed")
        self._committed = True
        client = self._client
        raw = await client._call(OpCode.multi, _MultiRequest(self._ops), decode_multi_response)
        if len(raw) != len(self._ops):
            raise MarshallingError(f"multi of {len(self._ops)} ops answered with {len(raw)} results")
        results: list[TransactionResult] = []
        failure: KeeperError | None = None
        for o, (err, value) in zip(self._ops, raw, strict=True):
            if value is _ROLLED_BACK:
                results.append(RolledBackError(path=o.path))
            elif err:
                exc = error_for(err, o.path)
                results.append(exc)
                if failure is None and err != -2:
                    failure = exc
            elif isinstance(value, str):
                results.append(client._cs.to_client(value))
            else:
                assert value is not None  # err 0 always comes with a value (decode_multi_response)
                results.append(value)
        if raise_on_error and (failure is not None or any(isinstance(r, KeeperError) for r in results)):
            exc = failure or next(r for r in results if isinstance(r, KeeperError))
            # `results` exists only on the error a failed commit raises, so KeeperError does not declare it.
            exc.results = results  # type: ignore[attr-defined]
            raise exc
        return results
