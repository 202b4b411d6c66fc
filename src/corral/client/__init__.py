"""corral's ZooKeeper client: asyncio `Client`, blocking `SyncClient`, typed errors, watches, multi.

Built on the project's own jute codec (`corral.protocol`); speaks ZooKeeper's client protocol to
corral and to Apache ZooKeeper alike. Quick start:

    from corral.client import Client, CreateMode, NoNodeError

    async with Client("127.0.0.1:2181/myapp", timeout=10) as zk:
        await zk.ensure_path("/workers")
        me = await zk.create("/workers/w-", b"", mode=CreateMode.EPHEMERAL_SEQUENTIAL)
        async for snap in zk.watch_children("/workers"):
            print("workers:", snap.children)

Public names:

* `Client`, `SyncClient` — the session handles; `SessionState` — what listeners receive.
* `Transaction` (from `Client.transaction()`), `DataWatch` / `ChildrenWatch` (from `watch_data` /
  `watch_children`) yielding `DataSnapshot` / `ChildrenSnapshot`; `WatchedEvent` for callbacks.
* `KeeperError` and one subclass per ZooKeeper error code (`NoNodeError`, `NodeExistsError`, ...),
  `error_for(code, path)`.
* Protocol values: `CreateMode`, `EventType`, `WatcherType`, `KeeperState`, `Perms`, records `Stat`, `ACL`, `Id`;
  ACL helpers `OPEN_ACL_UNSAFE`, `READ_ACL_UNSAFE`, `CREATOR_ALL_ACL`, `make_acl`, `digest_acl`, `digest_id`.
* `parse_connect_string` / `ConnectString` for tools that need the host list or chroot;
  `parse_membership` / `Membership` / `CONFIG_NODE` for the ensemble's dynamic configuration, and
  `HostProvider`, the server-list rotation and rebalancing rules behind `Client.update_server_list`.
* Security: `tls_context` (an `ssl.SSLContext` from CA / certificate / key files, for `tls=`),
  `SaslCredentials` and `sasl_from_jaas` (DIGEST-MD5, for `sasl=`), `TlsError`.
"""

from ..protocol import WatcherType
from .client import Client, StateListener
from .errors import (
    APIError,
    AuthFailedError,
    BadArgumentsError,
    BadVersionError,
    ClientClosedError,
    ConnectionLossError,
    DataInconsistencyError,
    EphemeralOnLocalSessionError,
    InvalidACLError,
    InvalidCallbackError,
    KeeperError,
    MarshallingError,
    NewConfigNoQuorumError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    NotReadOnlyError,
    NoWatcherError,
    OperationTimeoutError,
    QuotaExceededError,
    ReconfigDisabledError,
    ReconfigInProgressError,
    RequestTimeoutError,
    RolledBackError,
    RuntimeInconsistencyError,
    SessionClosedRequireSaslAuthError,
    SessionExpiredError,
    SessionMovedError,
    SystemZooKeeperError,
    ThrottledOpError,
    UnimplementedError,
    UnknownSessionError,
    error_for,
)
from .host_provider import HostProvider
from .hosts import ConnectString, parse_connect_string
from .iterators import ChildrenWatch, DataWatch
from .membership import CONFIG_NODE, Member, Membership, parse_membership
from .security import SaslCredentials, TlsError, sasl_from_jaas, tls_context
from .sync import SyncClient, SyncTransaction
from .transaction import Transaction, TransactionResult
from .types import (
    ACL,
    ANYONE_ID_UNSAFE,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    ChildrenSnapshot,
    CreateMode,
    DataSnapshot,
    EventType,
    Id,
    KeeperState,
    Perms,
    SessionState,
    Stat,
    WatchedEvent,
    digest_acl,
    digest_id,
    make_acl,
)
from .watches import Watcher

__all__ = [
    "ACL",
    "ANYONE_ID_UNSAFE",
    "AUTH_IDS",
    "CONFIG_NODE",
    "CREATOR_ALL_ACL",
    "OPEN_ACL_UNSAFE",
    "READ_ACL_UNSAFE",
    "APIError",
    "AuthFailedError",
    "BadArgumentsError",
    "BadVersionError",
    "ChildrenSnapshot",
    "ChildrenWatch",
    "Client",
    "ClientClosedError",
    "ConnectString",
    "ConnectionLossError",
    "CreateMode",
    "DataInconsistencyError",
    "DataSnapshot",
    "DataWatch",
    "EphemeralOnLocalSessionError",
    "EventType",
    "HostProvider",
    "Id",
    "InvalidACLError",
    "InvalidCallbackError",
    "KeeperError",
    "KeeperState",
    "MarshallingError",
    "Member",
    "Membership",
    "NewConfigNoQuorumError",
    "NoAuthError",
    "NoChildrenForEphemeralsError",
    "NoNodeError",
    "NoWatcherError",
    "NodeExistsError",
    "NotEmptyError",
    "NotReadOnlyError",
    "OperationTimeoutError",
    "Perms",
    "QuotaExceededError",
    "ReconfigDisabledError",
    "ReconfigInProgressError",
    "RequestTimeoutError",
    "RolledBackError",
    "RuntimeInconsistencyError",
    "SaslCredentials",
    "SessionClosedRequireSaslAuthError",
    "SessionExpiredError",
    "SessionMovedError",
    "SessionState",
    "Stat",
    "StateListener",
    "SyncClient",
    "SyncTransaction",
    "SystemZooKeeperError",
    "ThrottledOpError",
    "TlsError",
    "Transaction",
    "TransactionResult",
    "UnimplementedError",
    "UnknownSessionError",
    "WatchedEvent",
    "Watcher",
    "WatcherType",
    "digest_acl",
    "digest_id",
    "error_for",
    "make_acl",
    "parse_connect_string",
    "parse_membership",
    "sasl_from_jaas",
    "tls_context",
]
