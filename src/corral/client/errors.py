"""Typed exceptions, one per ZooKeeper error code (`KeeperException.Code`).

Every error the client raises for a request is a `KeeperError` carrying the numeric `code` and the
(client-visible) `path`, so callers can either catch a specific class (`NoNodeError`) or switch on
`e.code`. Messages follow the Java client's format, `KeeperErrorCode = NoNode for /x`, so logs read
the same whichever client produced them.

Two errors exist only on the client side, as in ZooKeeper's clients:

* `ConnectionLossError` (-4): the connection dropped while the request was in flight (it may or may
  not have been applied), or no connection came up in time. The session may still be alive; retrying
  is the caller's decision.
* `ClientClosedError` (-116, the C client's ZCLOSING): the `Client` was closed by its owner.

`RolledBackError` (code 0) marks multi sub-operations that succeeded but were undone because another
sub-operation of the same transaction failed.
"""

from __future__ import annotations

from ..protocol import ERR_MESSAGES, Err

__all__ = [
    "APIError",
    "AuthFailedError",
    "BadArgumentsError",
    "BadVersionError",
    "ClientClosedError",
    "ConnectionLossError",
    "DataInconsistencyError",
    "EphemeralOnLocalSessionError",
    "InvalidACLError",
    "InvalidCallbackError",
    "KeeperError",
    "MarshallingError",
    "NewConfigNoQuorumError",
    "NoAuthError",
    "NoChildrenForEphemeralsError",
    "NoNodeError",
    "NoWatcherError",
    "NodeExistsError",
    "NotEmptyError",
    "NotReadOnlyError",
    "OperationTimeoutError",
    "QuotaExceededError",
    "ReconfigDisabledError",
    "ReconfigInProgressError",
    "RequestTimeoutError",
    "RolledBackError",
    "RuntimeInconsistencyError",
    "SessionClosedRequireSaslAuthError",
    "SessionExpiredError",
    "SessionMovedError",
    "SystemZooKeeperError",
    "ThrottledOpError",
    "UnimplementedError",
    "UnknownSessionError",
    "error_for",
]

CLIENT_CLOSING = -116
"""The C client's ZCLOSING: the handle is being or has been closed."""


class KeeperError(Exception):
    """Base of all ZooKeeper errors.

    Attributes:
        code: ZooKeeper's numeric error code (an `Err` member when known).
        path: the znode path the failed request named, as the caller wrote it (chroot stripped), or None.
    """

    code: int = Err.SYSTEMERROR

    def __init__(self, message: str | None = None, *, path: str | None = None, code: int | None = None) -> None:
        if code is not None:
            self.code = code
        self.path = path
        if message is None:
            try:
                text = ERR_MESSAGES[Err(self.code)]
            except ValueError:
                text = f"Unknown error {self.code}"
            message = f"KeeperErrorCode = {text}" + (f" for {path}" if path else "")
        super().__init__(message)


class RolledBackError(KeeperError):
    """A multi sub-operation that would have succeeded, undone because another one failed (ErrorResult 0)."""

    code = Err.OK

    def __init__(self, message: str | None = None, *, path: str | None = None, code: int | None = None) -> None:
        super().__init__(message or "KeeperErrorCode = RolledBack" + (f" for {path}" if path else ""), path=path,
                         code=code)


class SystemZooKeeperError(KeeperError):
    """SystemError (-1)."""

    code = Err.SYSTEMERROR


class RuntimeInconsistencyError(KeeperError):
    """RuntimeInconsistency (-2); in multi results: an op after the failing one, not attempted."""

    code = Err.RUNTIMEINCONSISTENCY


class DataInconsistencyError(KeeperError):
    """DataInconsistency (-3)."""

    code = Err.DATAINCONSISTENCY


class ConnectionLossError(KeeperError):
    """ConnectionLoss (-4): the connection dropped with the request in flight, or none came up in time."""

    code = Err.CONNECTIONLOSS


class MarshallingError(KeeperError):
    """MarshallingError (-5): the server could not decode the request."""

    code = Err.MARSHALLINGERROR


class UnimplementedError(KeeperError):
    """Unimplemented (-6): e.g. a TTL create on a server without extendedTypesEnabled."""

    code = Err.UNIMPLEMENTED


class OperationTimeoutError(KeeperError):
    """OperationTimeout (-7)."""

    code = Err.OPERATIONTIMEOUT


class BadArgumentsError(KeeperError, ValueError):
    """BadArguments (-8): invalid path, flags or TTL; also raised client-side before sending."""

    code = Err.BADARGUMENTS


class UnknownSessionError(KeeperError):
    """UnknownSession (-12)."""

    code = Err.UNKNOWNSESSION


class NewConfigNoQuorumError(KeeperError):
    """NewConfigNoQuorum (-13)."""

    code = Err.NEWCONFIGNOQUORUM


class ReconfigInProgressError(KeeperError):
    """ReconfigInProgress (-14)."""

    code = Err.RECONFIGINPROGRESS


class APIError(KeeperError):
    """APIError (-100)."""

    code = Err.APIERROR


class NoNodeError(KeeperError):
    """NoNode (-101): the node (or, for create, its parent) does not exist."""

    code = Err.NONODE


class NoAuthError(KeeperError):
    """NoAuth (-102): the node's ACL does not grant the permission the operation needs."""

    code = Err.NOAUTH


class BadVersionError(KeeperError):
    """BadVersion (-103): the expected version did not match."""

    code = Err.BADVERSION


class NoChildrenForEphemeralsError(KeeperError):
    """NoChildrenForEphemerals (-108): ephemeral nodes cannot have children."""

    code = Err.NOCHILDRENFOREPHEMERALS


class NodeExistsError(KeeperError):
    """NodeExists (-110)."""

    code = Err.NODEEXISTS


class NotEmptyError(KeeperError):
    """NotEmpty (-111): the node still has children."""

    code = Err.NOTEMPTY


class SessionExpiredError(KeeperError):
    """SessionExpired (-112): the session is gone; the Client can only be restarted with a new session."""

    code = Err.SESSIONEXPIRED


class InvalidCallbackError(KeeperError):
    """InvalidCallback (-113)."""

    code = Err.INVALIDCALLBACK


class InvalidACLError(KeeperError):
    """InvalidACL (-114): empty ACL list, bad id, or `auth` scheme without credentials."""

    code = Err.INVALIDACL


class AuthFailedError(KeeperError):
    """AuthFailed (-115): add_auth was rejected; the server closes the connection and the session is unusable."""

    code = Err.AUTHFAILED


class ClientClosedError(KeeperError):
    """The Client was closed by its owner (the C client's ZCLOSING, -116)."""

    code = CLIENT_CLOSING

    def __init__(self, message: str | None = None, *, path: str | None = None, code: int | None = None) -> None:
        super().__init__(message or "client is closed" + (f" ({path})" if path else ""), path=path, code=code)


class SessionMovedError(KeeperError):
    """SessionMoved (-118)."""

    code = Err.SESSIONMOVED


class NotReadOnlyError(KeeperError):
    """NotReadOnly (-119): a write sent to a read-only server."""

    code = Err.NOTREADONLY


class EphemeralOnLocalSessionError(KeeperError):
    """EphemeralOnLocalSession (-120)."""

    code = Err.EPHEMERALONLOCALSESSION


class NoWatcherError(KeeperError):
    """NoWatcher (-121)."""

    code = Err.NOWATCHER


class RequestTimeoutError(KeeperError):
    """RequestTimeout (-122)."""

    code = Err.REQUESTTIMEOUT


class ReconfigDisabledError(KeeperError):
    """ReconfigDisabled (-123)."""

    code = Err.RECONFIGDISABLED


class SessionClosedRequireSaslAuthError(KeeperError):
    """SessionClosedRequireSaslAuth (-124)."""

    code = Err.SESSIONCLOSEDREQUIRESASLAUTH


class QuotaExceededError(KeeperError):
    """QuotaExceeded (-125)."""

    code = Err.QUOTAEXCEEDED


class ThrottledOpError(KeeperError):
    """ThrottledOp (-127): the server shed load; retry later."""

    code = Err.THROTTLEDOP


_BY_CODE: dict[int, type[KeeperError]] = {
    int(cls.code): cls
    for cls in (
        RolledBackError, SystemZooKeeperError, RuntimeInconsistencyError, DataInconsistencyError,
        ConnectionLossError, MarshallingError, UnimplementedError, OperationTimeoutError, BadArgumentsError,
        UnknownSessionError, NewConfigNoQuorumError, ReconfigInProgressError, APIError, NoNodeError,
        NoAuthError, BadVersionError, NoChildrenForEphemeralsError, NodeExistsError, NotEmptyError,
        SessionExpiredError, InvalidCallbackError, InvalidACLError, AuthFailedError, ClientClosedError,
        SessionMovedError, NotReadOnlyError, EphemeralOnLocalSessionError, NoWatcherError, RequestTimeoutError,
        ReconfigDisabledError, SessionClosedRequireSaslAuthError, QuotaExceededError, ThrottledOpError,
    )
}


def error_for(code: int, path: str | None = None) -> KeeperError:
    """The exception for a ZooKeeper error code; unknown codes give a plain `KeeperError` with that code."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return KeeperError(path=path, code=code)
    return cls(path=path)
