"""Every jute record of ZooKeeper 3.9's `zookeeper.jute`, and the few codec helpers around them.

The records are declared in records_spec.py (field names in ZooKeeper's spelling, in wire order) and
written out by scripts/gen_records.py as records_gen.py, plain classes that the compiled build turns
into native ones; this module is where the rest of corral imports them from. ConnectRequest and
ConnectResponse carry the `readOnly` flag that 3.4+ clients append; `decode_connect_request` accepts
clients that omit it.
"""

from __future__ import annotations

import struct

from .jute import DecodeError, ReadBuffer
from .records_gen import (
    ACL,
    AddWatchRequest,
    AuthPacket,
    CheckVersionRequest,
    CheckVersionTxn,
    CheckWatchesRequest,
    ClientInfo,
    CloseSessionTxn,
    ConnectRequest,
    ConnectResponse,
    Create2Response,
    CreateContainerTxn,
    CreateRequest,
    CreateResponse,
    CreateSessionTxn,
    CreateTTLRequest,
    CreateTTLTxn,
    CreateTxn,
    CreateTxnV0,
    DeleteContainerRequest,
    DeleteRequest,
    DeleteTxn,
    ErrorResponse,
    ErrorTxn,
    ExistsRequest,
    ExistsResponse,
    FileHeader,
    GetACLRequest,
    GetACLResponse,
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    GetChildren2Request,
    GetChildren2Response,
    GetChildrenRequest,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    GetMaxChildrenRequest,
    GetMaxChildrenResponse,
    GetSASLRequest,
    GetStatPersistedRequest,
    GetStatPersistedResponse,
    Id,
    LearnerInfo,
    MultiHeader,
    MultiTxn,
    QuorumAuthPacket,
    QuorumPacket,
    ReconfigRequest,
    RemoveWatchesRequest,
    ReplyHeader,
    RequestHeader,
    SetACLRequest,
    SetACLResponse,
    SetACLTxn,
    SetDataRequest,
    SetDataResponse,
    SetDataTxn,
    SetMaxChildrenRequest,
    SetMaxChildrenTxn,
    SetSASLRequest,
    SetSASLResponse,
    SetWatches,
    SetWatches2,
    Stat,
    StatPersisted,
    SyncRequest,
    SyncResponse,
    Txn,
    TxnDigest,
    TxnHeader,
    WatcherEvent,
    WhoAmIResponse,
    _ConnectRequestV0,
)


def decode_connect_request(buf: ReadBuffer) -> tuple[ConnectRequest, bool]:
    """Decode a ConnectRequest; returns (request, client_sent_readOnly).

    Pre-3.4 clients stop after `passwd`; ZooKeeper then omits readOnly from its response too.
    """
    v0, off = _ConnectRequestV0.deserialize(buf, 0)
    has_ro = off < len(buf)
    ro = bool(buf[off]) if has_ro else False
    return ConnectRequest(v0.protocolVersion, v0.lastZxidSeen, v0.timeOut, v0.sessionId, v0.passwd, ro), has_ro


def encode_connect_response(resp: ConnectResponse, with_readonly: bool) -> bytes:
    out = bytearray()
    resp.serialize(out)
    return bytes(out if with_readonly else out[:-1])


STAT_STRUCT = struct.Struct(">qqqqiiiqiiq")
"""Stat's wire layout, for code that packs a Stat straight from a znode without a Stat object."""

__all__ = [
    "ACL",
    "STAT_STRUCT",
    "AddWatchRequest",
    "AuthPacket",
    "CheckVersionRequest",
    "CheckVersionTxn",
    "CheckWatchesRequest",
    "ClientInfo",
    "CloseSessionTxn",
    "ConnectRequest",
    "ConnectResponse",
    "Create2Response",
    "CreateContainerTxn",
    "CreateRequest",
    "CreateResponse",
    "CreateSessionTxn",
    "CreateTTLRequest",
    "CreateTTLTxn",
    "CreateTxn",
    "CreateTxnV0",
    "DecodeError",
    "DeleteContainerRequest",
    "DeleteRequest",
    "DeleteTxn",
    "ErrorResponse",
    "ErrorTxn",
    "ExistsRequest",
    "ExistsResponse",
    "FileHeader",
    "GetACLRequest",
    "GetACLResponse",
    "GetAllChildrenNumberRequest",
    "GetAllChildrenNumberResponse",
    "GetChildren2Request",
    "GetChildren2Response",
    "GetChildrenRequest",
    "GetChildrenResponse",
    "GetDataRequest",
    "GetDataResponse",
    "GetEphemeralsRequest",
    "GetEphemeralsResponse",
    "GetMaxChildrenRequest",
    "GetMaxChildrenResponse",
    "GetSASLRequest",
    "GetStatPersistedRequest",
    "GetStatPersistedResponse",
    "Id",
    "LearnerInfo",
    "MultiHeader",
    "MultiTxn",
    "QuorumAuthPacket",
    "QuorumPacket",
    "ReconfigRequest",
    "RemoveWatchesRequest",
    "ReplyHeader",
    "RequestHeader",
    "SetACLRequest",
    "SetACLResponse",
    "SetACLTxn",
    "SetDataRequest",
    "SetDataResponse",
    "SetDataTxn",
    "SetMaxChildrenRequest",
    "SetMaxChildrenTxn",
    "SetSASLRequest",
    "SetSASLResponse",
    "SetWatches",
    "SetWatches2",
    "Stat",
    "StatPersisted",
    "SyncRequest",
    "SyncResponse",
    "Txn",
    "TxnDigest",
    "TxnHeader",
    "WatcherEvent",
    "WhoAmIResponse",
    "decode_connect_request",
    "encode_connect_response",
]
