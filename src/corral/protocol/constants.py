"""ZooKeeper's numbers: opcodes, error codes, watch event types, states, create flags, permissions.

Values from `ZooDefs.OpCode`, `KeeperException.Code`, `Watcher.Event`, `CreateMode`, `ZooDefs.Perms`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class OpCode(IntEnum):
    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1


class Err(IntEnum):
    """KeeperException.Code."""

    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


ERR_MESSAGES = {
    Err.OK: "ok", Err.SYSTEMERROR: "SystemError", Err.RUNTIMEINCONSISTENCY: "RuntimeInconsistency",
    Err.DATAINCONSISTENCY: "DataInconsistency", Err.CONNECTIONLOSS: "ConnectionLoss",
    Err.MARSHALLINGERROR: "MarshallingError", Err.UNIMPLEMENTED: "Unimplemented",
    Err.OPERATIONTIMEOUT: "OperationTimeout", Err.BADARGUMENTS: "BadArguments",
    Err.UNKNOWNSESSION: "Unknown session", Err.NEWCONFIGNOQUORUM: "NewConfigNoQuorum",
    Err.RECONFIGINPROGRESS: "ReconfigInProgress", Err.APIERROR: "APIError", Err.NONODE: "NoNode",
    Err.NOAUTH: "NoAuth", Err.BADVERSION: "BadVersion", Err.NOCHILDRENFOREPHEMERALS: "NoChildrenForEphemerals",
    Err.NODEEXISTS: "NodeExists", Err.NOTEMPTY: "Directory not empty", Err.SESSIONEXPIRED: "Session expired",
    Err.INVALIDCALLBACK: "Invalid callback", Err.INVALIDACL: "InvalidACL", Err.AUTHFAILED: "AuthFailed",
    Err.SESSIONMOVED: "Session moved", Err.NOTREADONLY: "Not a read-only call",
    Err.EPHEMERALONLOCALSESSION: "Ephemeral node on local session", Err.NOWATCHER: "No such watcher",
    Err.REQUESTTIMEOUT: "Request timeout", Err.RECONFIGDISABLED: "Reconfig is disabled",
    Err.SESSIONCLOSEDREQUIRESASLAUTH: "Session closed because client failed to authenticate",
    Err.QUOTAEXCEEDED: "Quota has exceeded", Err.THROTTLEDOP: "Op throttled due to high load",
}


class EventType(IntEnum):
    None_ = -1
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(IntEnum):
    Unknown = -1
    Disconnected = 0
    NoSyncConnected = 1
    SyncConnected = 3
    AuthFailed = 4
    ConnectedReadOnly = 5
    SaslAuthenticated = 6
    Closed = 7
    Expired = -112


class WatcherType(IntEnum):
    Children = 1
    Data = 2
    Any = 3
    Persistent = 4
    PersistentRecursive = 5


class AddWatchMode(IntEnum):
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class CreateMode(IntEnum):
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6

    @property
    def ephemeral(self) -> bool:
        return self in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL)

    @property
    def sequential(self) -> bool:
        return self in (CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL,
                        CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)

    @property
    def container(self) -> bool:
        return self is CreateMode.CONTAINER

    @property
    def ttl(self) -> bool:
        return self in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)


class Perms(IntEnum):
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class Xid(IntEnum):
    """Special xids (`ClientCnxn`)."""

    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


PROTOCOL_VERSION = 0
DEFAULT_MAX_BUFFER = 0xFFFFF


# ---- the same members as plain class attributes, for per-request code --------------------------
# On Python 3.11 reading `OpCode.setData` costs ~75 ns: EnumType defines __getattr__, which puts
# every attribute lookup on the enum class through the slow slot hook (3.12 removed it). A plain
# class attribute costs ~20 ns, and the write path reads a dozen of these per request. The values
# are the enum members themselves, so nothing else changes.


class Ops:
    """`OpCode`'s members, fast to read (see above)."""

    notification: Final = OpCode.notification
    create: Final = OpCode.create
    delete: Final = OpCode.delete
    exists: Final = OpCode.exists
    getData: Final = OpCode.getData
    setData: Final = OpCode.setData
    getACL: Final = OpCode.getACL
    setACL: Final = OpCode.setACL
    getChildren: Final = OpCode.getChildren
    sync: Final = OpCode.sync
    ping: Final = OpCode.ping
    getChildren2: Final = OpCode.getChildren2
    check: Final = OpCode.check
    multi: Final = OpCode.multi
    create2: Final = OpCode.create2
    reconfig: Final = OpCode.reconfig
    checkWatches: Final = OpCode.checkWatches
    removeWatches: Final = OpCode.removeWatches
    createContainer: Final = OpCode.createContainer
    deleteContainer: Final = OpCode.deleteContainer
    createTTL: Final = OpCode.createTTL
    multiRead: Final = OpCode.multiRead
    auth: Final = OpCode.auth
    setWatches: Final = OpCode.setWatches
    sasl: Final = OpCode.sasl
    getEphemerals: Final = OpCode.getEphemerals
    getAllChildrenNumber: Final = OpCode.getAllChildrenNumber
    setWatches2: Final = OpCode.setWatches2
    addWatch: Final = OpCode.addWatch
    whoAmI: Final = OpCode.whoAmI
    createSession: Final = OpCode.createSession
    closeSession: Final = OpCode.closeSession
    error: Final = OpCode.error


class Errs:
    """`Err`'s members, fast to read (see above)."""

    OK: Final = Err.OK
    SYSTEMERROR: Final = Err.SYSTEMERROR
    RUNTIMEINCONSISTENCY: Final = Err.RUNTIMEINCONSISTENCY
    DATAINCONSISTENCY: Final = Err.DATAINCONSISTENCY
    CONNECTIONLOSS: Final = Err.CONNECTIONLOSS
    MARSHALLINGERROR: Final = Err.MARSHALLINGERROR
    UNIMPLEMENTED: Final = Err.UNIMPLEMENTED
    OPERATIONTIMEOUT: Final = Err.OPERATIONTIMEOUT
    BADARGUMENTS: Final = Err.BADARGUMENTS
    UNKNOWNSESSION: Final = Err.UNKNOWNSESSION
    NEWCONFIGNOQUORUM: Final = Err.NEWCONFIGNOQUORUM
    RECONFIGINPROGRESS: Final = Err.RECONFIGINPROGRESS
    APIERROR: Final = Err.APIERROR
    NONODE: Final = Err.NONODE
    NOAUTH: Final = Err.NOAUTH
    BADVERSION: Final = Err.BADVERSION
    NOCHILDRENFOREPHEMERALS: Final = Err.NOCHILDRENFOREPHEMERALS
    NODEEXISTS: Final = Err.NODEEXISTS
    NOTEMPTY: Final = Err.NOTEMPTY
    SESSIONEXPIRED: Final = Err.SESSIONEXPIRED
    INVALIDCALLBACK: Final = Err.INVALIDCALLBACK
    INVALIDACL: Final = Err.INVALIDACL
    AUTHFAILED: Final = Err.AUTHFAILED
    SESSIONMOVED: Final = Err.SESSIONMOVED
    NOTREADONLY: Final = Err.NOTREADONLY
    EPHEMERALONLOCALSESSION: Final = Err.EPHEMERALONLOCALSESSION
    NOWATCHER: Final = Err.NOWATCHER
    REQUESTTIMEOUT: Final = Err.REQUESTTIMEOUT
    RECONFIGDISABLED: Final = Err.RECONFIGDISABLED
    SESSIONCLOSEDREQUIRESASLAUTH: Final = Err.SESSIONCLOSEDREQUIRESASLAUTH
    QUOTAEXCEEDED: Final = Err.QUOTAEXCEEDED
    THROTTLEDOP: Final = Err.THROTTLEDOP


class PermBits:
    """`Perms`' members, fast to read (see above)."""

    READ: Final = Perms.READ
    WRITE: Final = Perms.WRITE
    CREATE: Final = Perms.CREATE
    DELETE: Final = Perms.DELETE
    ADMIN: Final = Perms.ADMIN
    ALL: Final = Perms.ALL
