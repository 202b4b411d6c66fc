"""Opcodes, error codes, permission bits, event and watch types, states and special xids as plain int
constants, for the compiled modules.

Why: compiled with mypyc, a module-level `Final` with a literal value is inlined where it is used, while
`Ops.create` (constants.py) is a module dictionary lookup and a class attribute lookup on every use; the
write path tests a dozen of them per request. The enums in constants.py stay the names everything else
uses; tests/protocol/test_codes.py checks that every value here is its enum member's value.
"""

from __future__ import annotations

from typing import Final

# OpCode
OP_NOTIFICATION: Final = 0
OP_CREATE: Final = 1
OP_DELETE: Final = 2
OP_EXISTS: Final = 3
OP_GET_DATA: Final = 4
OP_SET_DATA: Final = 5
OP_GET_ACL: Final = 6
OP_SET_ACL: Final = 7
OP_GET_CHILDREN: Final = 8
OP_SYNC: Final = 9
OP_PING: Final = 11
OP_GET_CHILDREN2: Final = 12
OP_CHECK: Final = 13
OP_MULTI: Final = 14
OP_CREATE2: Final = 15
OP_RECONFIG: Final = 16
OP_CHECK_WATCHES: Final = 17
OP_REMOVE_WATCHES: Final = 18
OP_CREATE_CONTAINER: Final = 19
OP_DELETE_CONTAINER: Final = 20
OP_CREATE_TTL: Final = 21
OP_MULTI_READ: Final = 22
OP_AUTH: Final = 100
OP_SET_WATCHES: Final = 101
OP_SASL: Final = 102
OP_GET_EPHEMERALS: Final = 103
OP_GET_ALL_CHILDREN_NUMBER: Final = 104
OP_SET_WATCHES2: Final = 105
OP_ADD_WATCH: Final = 106
OP_WHO_AM_I: Final = 107
OP_CREATE_SESSION: Final = -10
OP_CLOSE_SESSION: Final = -11
OP_ERROR: Final = -1

# Err
ERR_OK: Final = 0
ERR_SYSTEMERROR: Final = -1
ERR_RUNTIMEINCONSISTENCY: Final = -2
ERR_DATAINCONSISTENCY: Final = -3
ERR_CONNECTIONLOSS: Final = -4
ERR_MARSHALLINGERROR: Final = -5
ERR_UNIMPLEMENTED: Final = -6
ERR_OPERATIONTIMEOUT: Final = -7
ERR_BADARGUMENTS: Final = -8
ERR_UNKNOWNSESSION: Final = -12
ERR_NEWCONFIGNOQUORUM: Final = -13
ERR_RECONFIGINPROGRESS: Final = -14
ERR_APIERROR: Final = -100
ERR_NONODE: Final = -101
ERR_NOAUTH: Final = -102
ERR_BADVERSION: Final = -103
ERR_NOCHILDRENFOREPHEMERALS: Final = -108
ERR_NODEEXISTS: Final = -110
ERR_NOTEMPTY: Final = -111
ERR_SESSIONEXPIRED: Final = -112
ERR_INVALIDCALLBACK: Final = -113
ERR_INVALIDACL: Final = -114
ERR_AUTHFAILED: Final = -115
ERR_SESSIONMOVED: Final = -118
ERR_NOTREADONLY: Final = -119
ERR_EPHEMERALONLOCALSESSION: Final = -120
ERR_NOWATCHER: Final = -121
ERR_REQUESTTIMEOUT: Final = -122
ERR_RECONFIGDISABLED: Final = -123
ERR_SESSIONCLOSEDREQUIRESASLAUTH: Final = -124
ERR_QUOTAEXCEEDED: Final = -125
ERR_THROTTLEDOP: Final = -127

# Perms
PERM_READ: Final = 1
PERM_WRITE: Final = 2
PERM_CREATE: Final = 4
PERM_DELETE: Final = 8
PERM_ADMIN: Final = 16
PERM_ALL: Final = 31

# EventType
EVENT_NONE_: Final = -1
EVENT_NODE_CREATED: Final = 1
EVENT_NODE_DELETED: Final = 2
EVENT_NODE_DATA_CHANGED: Final = 3
EVENT_NODE_CHILDREN_CHANGED: Final = 4
EVENT_DATA_WATCH_REMOVED: Final = 5
EVENT_CHILD_WATCH_REMOVED: Final = 6
EVENT_PERSISTENT_WATCH_REMOVED: Final = 7

# KeeperState
STATE_UNKNOWN: Final = -1
STATE_DISCONNECTED: Final = 0
STATE_NO_SYNC_CONNECTED: Final = 1
STATE_SYNC_CONNECTED: Final = 3
STATE_AUTH_FAILED: Final = 4
STATE_CONNECTED_READ_ONLY: Final = 5
STATE_SASL_AUTHENTICATED: Final = 6
STATE_CLOSED: Final = 7
STATE_EXPIRED: Final = -112

# WatcherType
WATCHER_CHILDREN: Final = 1
WATCHER_DATA: Final = 2
WATCHER_ANY: Final = 3
WATCHER_PERSISTENT: Final = 4
WATCHER_PERSISTENT_RECURSIVE: Final = 5

# Xid
XID_NOTIFICATION: Final = -1
XID_PING: Final = -2
XID_AUTH: Final = -4
XID_SET_WATCHES: Final = -8
