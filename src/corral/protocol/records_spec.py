"""Every jute record of ZooKeeper 3.9's `zookeeper.jute`, in its field order: the declarations that
scripts/gen_records.py writes out as records_gen.py (the classes corral runs; `corral.protocol.records`
exports them). Not imported at run time.

Field names keep ZooKeeper's spelling (camelCase) so that a record can be read side by side with
the .jute file. A `vector<T>` is declared `list[T] | None` because the codec decodes a null vector
(length -1) as None. ConnectRequest/ConnectResponse carry the `readOnly` flag that 3.4+ clients
append; `decode_connect_request` (records.py) accepts clients that omit it.
"""

from __future__ import annotations

from .jute import Bool, Buffer, Int, Long, Record, UString, record

# ---- org.apache.zookeeper.data ---------------------------------------------------------------


@record
class Id(Record):
    scheme: UString
    id: UString


@record
class ACL(Record):
    perms: Int
    id: Id


@record
class Stat(Record):
    czxid: Long
    mzxid: Long
    ctime: Long
    mtime: Long
    version: Int
    cversion: Int
    aversion: Int
    ephemeralOwner: Long
    dataLength: Int
    numChildren: Int
    pzxid: Long


@record
class StatPersisted(Record):
    czxid: Long
    mzxid: Long
    ctime: Long
    mtime: Long
    version: Int
    cversion: Int
    aversion: Int
    ephemeralOwner: Long
    pzxid: Long


# ---- org.apache.zookeeper.proto --------------------------------------------------------------


@record
class ConnectRequest(Record):
    protocolVersion: Int
    lastZxidSeen: Long
    timeOut: Int
    sessionId: Long
    passwd: Buffer
    readOnly: Bool = False


@record
class ConnectResponse(Record):
    protocolVersion: Int
    timeOut: Int
    sessionId: Long
    passwd: Buffer
    readOnly: Bool = False


@record
class _ConnectRequestV0(Record):
    protocolVersion: Int
    lastZxidSeen: Long
    timeOut: Int
    sessionId: Long
    passwd: Buffer


@record
class SetWatches(Record):
    relativeZxid: Long
    dataWatches: list[UString] | None
    existWatches: list[UString] | None
    childWatches: list[UString] | None


@record
class SetWatches2(Record):
    relativeZxid: Long
    dataWatches: list[UString] | None
    existWatches: list[UString] | None
    childWatches: list[UString] | None
    persistentWatches: list[UString] | None
    persistentRecursiveWatches: list[UString] | None


@record
class RequestHeader(Record):
    xid: Int
    type: Int


@record
class MultiHeader(Record):
    type: Int
    done: Bool
    err: Int


@record
class AuthPacket(Record):
    type: Int
    scheme: UString
    auth: Buffer


@record
class ReplyHeader(Record):
    xid: Int
    zxid: Long
    err: Int


@record
class GetDataRequest(Record):
    path: UString
    watch: Bool


@record
class SetDataRequest(Record):
    path: UString
    data: Buffer
    version: Int


@record
class ReconfigRequest(Record):
    joiningServers: UString
    leavingServers: UString
    newMembers: UString
    curConfigId: Long


@record
class SetDataResponse(Record):
    stat: Stat


@record
class GetSASLRequest(Record):
    token: Buffer


@record
class SetSASLRequest(Record):
    token: Buffer


@record
class SetSASLResponse(Record):
    token: Buffer


@record
class CreateRequest(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    flags: Int


@record
class CreateTTLRequest(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    flags: Int
    ttl: Long


@record
class DeleteRequest(Record):
    path: UString
    version: Int


@record
class GetChildrenRequest(Record):
    path: UString
    watch: Bool


@record
class GetAllChildrenNumberRequest(Record):
    path: UString


@record
class GetStatPersistedRequest(Record):
    path: UString


@record
class GetChildren2Request(Record):
    path: UString
    watch: Bool


@record
class CheckVersionRequest(Record):
    path: UString
    version: Int


@record
class GetMaxChildrenRequest(Record):
    path: UString


@record
class GetMaxChildrenResponse(Record):
    max: Int


@record
class SetMaxChildrenRequest(Record):
    path: UString
    max: Int


@record
class SyncRequest(Record):
    path: UString


@record
class SyncResponse(Record):
    path: UString


@record
class GetACLRequest(Record):
    path: UString


@record
class SetACLRequest(Record):
    path: UString
    acl: list[ACL] | None
    version: Int


@record
class SetACLResponse(Record):
    stat: Stat


@record
class AddWatchRequest(Record):
    path: UString
    mode: Int


@record
class WatcherEvent(Record):
    type: Int
    state: Int
    path: UString


@record
class ErrorResponse(Record):
    err: Int


@record
class CreateResponse(Record):
    path: UString


@record
class Create2Response(Record):
    path: UString
    stat: Stat


@record
class ExistsRequest(Record):
    path: UString
    watch: Bool


@record
class ExistsResponse(Record):
    stat: Stat


@record
class GetDataResponse(Record):
    data: Buffer
    stat: Stat


@record
class GetChildrenResponse(Record):
    children: list[UString] | None


@record
class GetAllChildrenNumberResponse(Record):
    totalNumber: Int


@record
class GetStatPersistedResponse(Record):
    statPersisted: StatPersisted


@record
class GetChildren2Response(Record):
    children: list[UString] | None
    stat: Stat


@record
class GetACLResponse(Record):
    acl: list[ACL] | None
    stat: Stat


@record
class CheckWatchesRequest(Record):
    path: UString
    type: Int


@record
class RemoveWatchesRequest(Record):
    path: UString
    type: Int


@record
class GetEphemeralsRequest(Record):
    prefixPath: UString


@record
class GetEphemeralsResponse(Record):
    ephemerals: list[UString] | None


@record
class ClientInfo(Record):
    authScheme: UString
    user: UString


@record
class WhoAmIResponse(Record):
    clientInfo: list[ClientInfo] | None


@record
class DeleteContainerRequest(Record):
    """Not a .jute record: ZooKeeper hand-codes it as a single buffer holding the UTF-8 path."""

    path: Buffer


# ---- org.apache.zookeeper.server.quorum / persistence ----------------------------------------


@record
class LearnerInfo(Record):
    serverid: Long
    protocolVersion: Int
    configVersion: Long


@record
class QuorumPacket(Record):
    type: Int
    zxid: Long
    data: Buffer
    authinfo: list[Id] | None


@record
class QuorumAuthPacket(Record):
    magic: Long
    status: Int
    token: Buffer


@record
class FileHeader(Record):
    magic: Int
    version: Int
    dbid: Long


# ---- org.apache.zookeeper.txn ----------------------------------------------------------------


@record
class TxnDigest(Record):
    version: Int
    treeDigest: Long


@record
class TxnHeader(Record):
    clientId: Long
    cxid: Int
    zxid: Long
    time: Long
    type: Int


@record
class CreateTxnV0(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    ephemeral: Bool


@record
class CreateTxn(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    ephemeral: Bool
    parentCVersion: Int


@record
class CreateTTLTxn(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    parentCVersion: Int
    ttl: Long


@record
class CreateContainerTxn(Record):
    path: UString
    data: Buffer
    acl: list[ACL] | None
    parentCVersion: Int


@record
class DeleteTxn(Record):
    path: UString


@record
class SetDataTxn(Record):
    path: UString
    data: Buffer
    version: Int


@record
class CheckVersionTxn(Record):
    path: UString
    version: Int


@record
class SetACLTxn(Record):
    path: UString
    acl: list[ACL] | None
    version: Int


@record
class SetMaxChildrenTxn(Record):
    path: UString
    max: Int


@record
class CreateSessionTxn(Record):
    timeOut: Int


@record
class CloseSessionTxn(Record):
    paths2Delete: list[UString] | None


@record
class ErrorTxn(Record):
    err: Int


@record
class Txn(Record):
    type: Int
    data: Buffer


@record
class MultiTxn(Record):
    txns: list[Txn] | None
