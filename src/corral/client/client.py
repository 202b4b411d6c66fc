"""`Client`: an asyncio ZooKeeper client with one session over a list of servers.

Typical use:

    async with Client("127.0.0.1:2181,127.0.0.1:2182/app", timeout=10) as zk:
        await zk.create("/jobs", b"", make_parents=True)
        path = await zk.create("/jobs/job-", b"payload", mode=CreateMode.PERSISTENT_SEQUENTIAL)
        data, stat = await zk.get_data(path, watch=lambda ev: print(ev))
        async for snap in zk.watch_children("/jobs"):
            print(snap.children)

Session and connection rules follow ZooKeeper's Java client (`ClientCnxn`), so a corral server and an
Apache ZooKeeper ensemble see the same client behaviour:

* The host list is shuffled once (unless `randomize_hosts=False`) and tried round-robin; after a
  connection drops, the client moves on to the next server and resumes the same session
  (session id + password + lastZxidSeen), then re-sends its `add_auth` credentials and re-registers
  its watches with SetWatches before any queued request.
* Timeouts derive from the session timeout the server negotiated: read timeout = 2/3 of it (no
  byte from the server for that long → the connection is considered dead), a ping when nothing was
  sent for half the read timeout, and a connect timeout of timeout / number of hosts per attempt.
* A session is reported EXPIRED when a server says so on reconnect, or — as Curator does, because
  a server must have expired it by then — when the client has been unable to reconnect for a whole
  negotiated timeout. Every later call then raises SessionExpiredError; `start()` opens a new session.
* Requests in flight when a connection drops fail with ConnectionLossError (the caller may retry).
  Requests issued while disconnected wait for the reconnect, at most `connect_wait` seconds — or,
  with `fail_fast=True`, only until every server has been tried once and refused (the Java client
  fails queued requests on a failed connection attempt; interactive tools such as `corral shell`
  want that, so that a dead address is reported at once rather than after the session timeout).
* The server list can change while the session lives (`update_server_list`, or `follow_config=True`
  to track `/zookeeper/config`); the client then moves to another server only as often as Java's
  StaticHostProvider would, so that load spreads evenly over a grown or shrunk ensemble.
* With `can_be_read_only=True` a server that lost its quorum may hold the session read-only
  (CONNECTED_READ_ONLY); the client keeps probing for a read-write server and moves there. A session
  that has only ever been on read-only servers is replaced by a new one when it gets there (it was
  local to the read-only server), as in the Java client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, TypeVar, overload

from ..protocol import (
    ACL,
    DEFAULT_MAX_BUFFER,
    PROTOCOL_VERSION,
    AddWatchMode,
    AddWatchRequest,
    AuthPacket,
    ConnectRequest,
    Create2Response,
    CreateMode,
    CreateRequest,
    CreateResponse,
    CreateTTLRequest,
    DecodeError,
    DeleteRequest,
    Err,
    ErrorResponse,
    EventType,
    ExistsRequest,
    ExistsResponse,
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
    GetSASLRequest,
    InvalidPath,
    KeeperState,
    OpCode,
    ReconfigRequest,
    RemoveWatchesRequest,
    SetACLRequest,
    SetACLResponse,
    SetDataRequest,
    SetDataResponse,
    SetSASLResponse,
    SetWatches,
    SetWatches2,
    Stat,
    SyncRequest,
    SyncResponse,
    WatcherEvent,
    WatcherType,
    WhoAmIResponse,
    Xid,
    parent_of,
    validate_path,
)
from .connection import Body, Connection, Decoder, Hook, SessionInfo
from .errors import (
    AuthFailedError,
    BadArgumentsError,
    ClientClosedError,
    ConnectionLossError,
    KeeperError,
    MarshallingError,
    NodeExistsError,
    NoNodeError,
    SessionClosedRequireSaslAuthError,
    SessionExpiredError,
)
from .host_provider import Address, HostProvider
from .hosts import ConnectString, parse_connect_string
from .membership import CONFIG_NODE, parse_membership
from .rw_search import MAX_INTERVAL, MIN_INTERVAL, is_read_write
from .security import MAX_SASL_ROUNDS, SaslCredentials, SaslError
from .transaction import Transaction
from .types import OPEN_ACL_UNSAFE, SessionState, WatchedEvent
from .watches import (
    CHILD,
    DATA,
    EXIST,
    PERSISTENT,
    RECURSIVE,
    REMOVAL_EVENT,
    REMOVAL_TABLES,
    Watcher,
    WatchRegistry,
)

if TYPE_CHECKING:
    from .iterators import ChildrenWatch, DataWatch

__all__ = ["Client", "StateListener"]

log = logging.getLogger("corral.client")

T = TypeVar("T")

StateListener = Callable[[SessionState], object]
"""Called on the event loop with the new SessionState at every change; may return an awaitable."""

_MAX_TTL = 0xFF_FFFF_FFFF
_SET_WATCHES_MAX_BYTES = 128 * 1024  # Java's SET_WATCHES_MAX_LENGTH: batch re-registration packets
_MIN_ATTEMPT_TIMEOUT = 0.05
_MAX_BACKOFF = 1.0


def _check_data(data: bytes | bytearray | memoryview | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"znode data must be bytes, not {type(data).__name__}")


def _check_acl(acl: Sequence[ACL] | None) -> list[ACL]:
    if acl is None:
        return OPEN_ACL_UNSAFE
    acl = list(acl)
    for a in acl:
        if not isinstance(a, ACL):
            raise TypeError(f"ACL entries must be corral.client.ACL, not {type(a).__name__}")
    return acl


def _reply_path(path: str | None, asked: str) -> str:
    """A path the server must send back (the created node): jute can encode a null string, but a
    reply carrying one is malformed, so it fails the call like any undecodable reply."""
    if path is None:
        raise MarshallingError("reply carries a null path", path=asked)
    return path


def _no_nulls(values: list[str | None]) -> TypeGuard[list[str]]:
    return None not in values


def _reply_names(values: list[str | None] | None, asked: str) -> list[str]:
    """A string vector of a reply (children, ephemerals): a null vector reads as empty, as before; a
    null element is a malformed reply (MarshallingError) rather than a None among the names."""
    if values is None:
        return []
    if not _no_nulls(values):
        raise MarshallingError("reply carries a null name", path=asked)
    return values


def create_opcode(mode: CreateMode, ttl: int | None, include_stat: bool, path: str) -> int:
    """Pick the create opcode the Java client would send, validating mode and TTL client-side
    (`EphemeralType.validateTTL`), so a bad combination fails before it reaches a server."""
    if mode.ttl:
        if ttl is None or not 0 < ttl <= _MAX_TTL:
            raise BadArgumentsError(f"TTL mode {mode.name} needs 0 < ttl <= {_MAX_TTL} ms, got {ttl}", path=path)
        return OpCode.createTTL
    if ttl is not None:
        raise BadArgumentsError(f"ttl given for non-TTL mode {mode.name}", path=path)
    if mode.container:
        return OpCode.createContainer
    return OpCode.create2 if include_stat else OpCode.create


def create_request(op: int, server_path: str, data: bytes | None, acl: list[ACL], mode: CreateMode,
                   ttl: int | None) -> CreateRequest | CreateTTLRequest:
    if op == OpCode.createTTL:
        return CreateTTLRequest(server_path, data, acl, int(mode), int(ttl or 0))
    return CreateRequest(server_path, data, acl, int(mode))


class _SaslRejected(Exception):
    """The SASL exchange failed for a reason another server would not change (wrong credentials)."""


class Client:
    """An asyncio ZooKeeper client holding one session (see the module docstring for the rules).

    Args:
        hosts: connect string, `"host:port[,host:port...][/chroot]"`.
        timeout: requested session timeout in seconds; the server clamps it to its
            [minSessionTimeout, maxSessionTimeout] (by default 2..20 tickTimes).
        randomize_hosts: shuffle the host list once, as ZooKeeper clients do, so that many clients
            with the same list spread over the servers. Tests pass False for a fixed order.
        auth: `(scheme, credential)` pairs sent with `add_auth` right after the session is established.
        connect_wait: how long a call made while disconnected waits for the reconnect before it fails
            with ConnectionLossError (default: the requested session timeout).
        max_buffer: largest reply accepted (default jute.maxbuffer + 1 MiB slack, like the Java client).
        fail_fast: a call (or `wait_connected`) made while disconnected fails with ConnectionLossError
            as soon as every server has been tried once without success, instead of waiting up to
            `connect_wait`. The client keeps reconnecting in the background either way, and
            `start()` is not affected (it waits for its own timeout).
        can_be_read_only: accept a server that lost its quorum and serves reads only (ZooKeeper's
            canBeReadOnly): the state is then CONNECTED_READ_ONLY, writes fail with NotReadOnlyError,
            and the client probes the other servers in the background and moves to the first
            read-write one it finds (see `rw_search.py` for the timing).
        follow_config: keep the server list in step with the ensemble's membership: read
            `/zookeeper/config` after connecting, watch it, and apply every change with
            `update_server_list` (which may move this client to another server to balance the load).
        tls: an `ssl.SSLContext` for TLS connections (the servers' secureClientPort); build one with
            `corral.client.tls_context(ca=..., cert=..., key=...)`. A client certificate
            authenticates the session in the `x509` scheme. The server name checked is the host of
            the connect string (when the context checks host names).
        sasl: `SaslCredentials(user, password)` (DIGEST-MD5), or `sasl_from_jaas(path)`: the SASL
            exchange runs on every connection right after the handshake, before any other request
            (see `corral.client.security`). Rejected credentials end the session AUTH_FAILED.

    The client binds to the event loop that runs `start()`; use it from that loop only (see
    `SyncClient` for threads and scripts).
    """

    def __init__(self, hosts: str, *, timeout: float = 10.0, randomize_hosts: bool = True,
                 auth: Iterable[tuple[str, str | bytes]] = (), connect_wait: float | None = None,
                 max_buffer: int = DEFAULT_MAX_BUFFER + 1024 * 1024, fail_fast: bool = False,
                 can_be_read_only: bool = False, follow_config: bool = False,
                 tls: ssl.SSLContext | None = None, sasl: SaslCredentials | None = None) -> None:
        if timeout <= 0:
            raise BadArgumentsError(f"session timeout must be positive, got {timeout}")
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise TypeError(f"tls must be an ssl.SSLContext (see corral.client.tls_context), not {type(tls).__name__}")
        if sasl is not None and not isinstance(sasl, SaslCredentials):
            raise TypeError(f"sasl must be SaslCredentials, not {type(sasl).__name__}")
        self._tls = tls
        self._sasl = sasl
        self.sasl_user: str | None = None
        """The SASL identity the current connection authenticated as (None without SASL)."""
        self._cs: ConnectString = parse_connect_string(hosts)
        self._provider = HostProvider(self._cs.hosts, shuffle=randomize_hosts)
        self._can_be_read_only = can_be_read_only
        # Java's seenRwServerBefore: a session that only ever lived on read-only servers is local to
        # one of them, so the client asks for a new session (id 0) when it reaches another server.
        self._seen_rw = False
        self._rw_interval = MIN_INTERVAL
        self._rw_found: Address | None = None
        self._follow_config = follow_config
        self._config_armed = False
        self._config_version: str | None = None
        self._requested_ms = int(timeout * 1000)
        self._connect_wait = timeout if connect_wait is None else connect_wait
        self._max_buffer = max_buffer
        self._initial_auth = [(s, c.encode() if isinstance(c, str) else bytes(c)) for s, c in auth]
        self._auth: list[tuple[str, bytes | None]] = []
        self._info = SessionInfo()
        self._session_id = 0
        self._passwd = b"\0" * 16
        self._negotiated_ms = 0
        self._state = SessionState.CLOSED
        self._terminal: KeeperError | None = ClientClosedError("client not started")
        self._conn: Connection | None = None
        self._connected_to: tuple[str, int] | None = None
        self._conn_waiters: list[asyncio.Future[Connection]] = []
        self._fail_fast = fail_fast
        # Failed connection attempts so far, and the fail-fast waiters with the count at which each
        # gives up (its count at registration + the number of hosts: each server tried once).
        self._failed_attempts = 0
        self._fast_waiters: dict[asyncio.Future[Connection], int] = {}
        self._disconnected_at: float | None = None
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches = WatchRegistry()
        self._listeners: list[StateListener] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        # Test hook: when True the heartbeat neither pings nor enforces the read timeout, so the
        # server sees a silent client and expires the session (tests of expiry use it).
        self._heartbeat_frozen = False
        self._closing = False

    # ---- properties ---------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current SessionState."""
        return self._state

    @property
    def connected(self) -> bool:
        """True while a server holds the session over a live connection (read-only servers included)."""
        return self._state.is_connected

    @property
    def read_only(self) -> bool:
        """True while connected to a read-only server (state CONNECTED_READ_ONLY)."""
        return self._state is SessionState.CONNECTED_READ_ONLY

    @property
    def session_id(self) -> int:
        """The session id (0 before the first connection)."""
        return self._session_id

    @property
    def session_password(self) -> bytes:
        """The session password the server issued (16 bytes)."""
        return self._passwd

    @property
    def negotiated_timeout(self) -> float:
        """The session timeout the server granted, in seconds (0 before the first connection)."""
        return self._negotiated_ms / 1000

    @property
    def read_timeout(self) -> float:
        """No byte from the server for this long (2/3 of the negotiated timeout) → the connection is dead."""
        return (self._negotiated_ms or self._requested_ms) * 2 / 3000

    @property
    def connect_timeout(self) -> float:
        """Time allowed for one connection attempt: session timeout / number of hosts (ZooKeeper's rule),
        and never more than the read timeout. This client declares a session expired once no server was
        reached for the session timeout, so with one host ZooKeeper's rule let a single attempt that the
        server accepts but never answers use up the whole session (seen: a handshake sent to Apache 3.8
        in its start-up window, under load, got no reply); a server silent for the read timeout is dead
        whether the handshake is done or not, and the rest of the session timeout is left for a retry."""
        ms = self._negotiated_ms or self._requested_ms
        return max(min(ms / 1000 / len(self._provider), ms * 2 / 3000), _MIN_ATTEMPT_TIMEOUT)

    @property
    def last_zxid(self) -> int:
        """The newest zxid seen in a reply (sent as lastZxidSeen on reconnect)."""
        return self._info.last_zxid

    @property
    def chroot(self) -> str:
        """The chroot of the connect string ("" when none)."""
        return self._cs.chroot

    @property
    def hosts(self) -> tuple[tuple[str, int], ...]:
        """The servers, in the (possibly shuffled) order they are tried (changed by `update_server_list`)."""
        return self._provider.servers

    @property
    def connected_to(self) -> tuple[str, int] | None:
        """(host, port) of the server of the current connection, or None."""
        return self._connected_to if self._state.is_connected else None

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> None:
        """Connect and establish a session; returns once CONNECTED.

        `timeout` (default: the requested session timeout) bounds the wait; when it passes, the
        client is closed and ConnectionLossError is raised. On a client whose session ended (EXPIRED,
        AUTH_FAILED, CLOSED) this starts a brand-new session: watches of the old one are gone, the
        state listeners stay.
        """
        if self._state in (SessionState.CONNECTING, SessionState.DISCONNECTED, SessionState.CONNECTED,
                           SessionState.CONNECTED_READ_ONLY):
            await self._wait_connection(timeout if timeout is not None else self._connect_wait)
            return
        if self._runner is not None and not self._runner.done():
            await asyncio.gather(self._runner, return_exceptions=True)
        self._loop = asyncio.get_running_loop()
        self._session_id = 0
        self._passwd = b"\0" * 16
        self._negotiated_ms = 0
        self._info.last_zxid = 0  # a new session promises nothing relative to an old one
        self._auth = list(self._initial_auth)
        self._disconnected_at = None
        self._terminal = None
        self._closing = False
        self._seen_rw = False
        self._rw_found = None
        self._config_armed = False
        self._config_version = None
        self._set_state(SessionState.CONNECTING)
        self._runner = self._loop.create_task(self._run(), name=f"corral-client-{id(self):x}")
        wait = self._requested_ms / 1000 if timeout is None else timeout
        try:
            await self._wait_connection(wait)
        except ConnectionLossError:
            await self._end(SessionState.CLOSED, ClientClosedError("client closed: could not connect"))
            raise ConnectionLossError(f"could not connect to any of {self._hosts_text()} within {wait:g} s")
        except asyncio.CancelledError:
            # Nobody waits for this session any more: stop the connection loop instead of leaking it.
            await self._end(SessionState.CLOSED, ClientClosedError("client closed: start() was cancelled"))
            raise

    async def close(self) -> None:
        """Close the session (ephemeral nodes go away at once) and the connection; idempotent.

        If no server is reachable the session is simply abandoned and expires on the servers.
        """
        conn = self._conn
        if self._state.is_connected and conn is not None and conn.is_open:
            # The server closes the socket right after its reply: that is not a DISCONNECTED blip.
            self._closing = True
            fut = conn.submit(OpCode.closeSession, None, None)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.read_timeout)
            except (TimeoutError, KeeperError, OSError):
                pass
            finally:
                if not fut.done():
                    fut.cancel()
        if not self._state.is_terminal:
            await self._end(SessionState.CLOSED, ClientClosedError())
        elif self._runner is not None and not self._runner.done():
            await asyncio.gather(self._runner, return_exceptions=True)

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_listener(self, listener: StateListener) -> None:
        """Call `listener(state)` on every SessionState change (on the event loop, in order)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def wait_connected(self, timeout: float | None = None, *, fail_fast: bool | None = None) -> None:
        """Wait until CONNECTED (raises ConnectionLossError after `timeout`, or the session's terminal error).

        `fail_fast` (default: the client's setting) gives up as soon as every server has refused once.
        """
        await self._wait_connection(self._connect_wait if timeout is None else timeout,
                                    self._fail_fast if fail_fast is None else fail_fast)

    # ---- the Basic API ------------------------------------------------------------------------

    @overload
    async def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
                     mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: Literal[False] = ...,
                     make_parents: bool = ...) -> str: ...

    @overload
    async def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
                     mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: Literal[True],
                     make_parents: bool = ...) -> tuple[str, Stat]: ...

    @overload
    async def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
                     mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: bool,
                     make_parents: bool = ...) -> str | tuple[str, Stat]: ...

    async def create(self, path: str, data: bytes | None = b"", acl: Sequence[ACL] | None = None,
                     mode: CreateMode | int = CreateMode.PERSISTENT, *, ttl: int | None = None,
                     include_stat: bool = False, make_parents: bool = False) -> str | tuple[str, Stat]:
        """Create a znode and return its actual path (with the sequence suffix for sequential modes).

        Args:
            path: the node; for sequential modes it may end in "/" (the suffix is the whole name).
            data: the node's data (bytes), or None for ZooKeeper's null data (reads back as b"",
                or as None with `get_data(..., keep_null=True)`).
            acl: the node's ACL (default OPEN_ACL_UNSAFE).
            mode: any CreateMode — persistent, ephemeral, (ephemeral) sequential, container,
                persistent (sequential) with TTL.
            ttl: milliseconds, required for (and only for) the TTL modes; the server must run with
                extendedTypesEnabled, otherwise UnimplementedError.
            include_stat: also return the new node's Stat (sends create2; container/TTL creates
                always get one from the server).
            make_parents: create missing ancestors as persistent nodes with the same ACL first.

        Raises NodeExistsError, NoNodeError (parent missing), NoChildrenForEphemeralsError,
        NoAuthError, InvalidACLError, BadArgumentsError, UnimplementedError, ...
        """
        mode = CreateMode(mode)
        spath = self._server_path(path, sequential=mode.sequential)
        op = create_opcode(mode, ttl, include_stat, path)
        acl_l = _check_acl(acl)
        req = create_request(op, spath, _check_data(data), acl_l, mode, ttl)
        decode: Decoder[CreateResponse | Create2Response] = (
            CreateResponse.deserialize if op == OpCode.create else Create2Response.deserialize)
        try:
            resp = await self._call(op, req, decode, path)
        except NoNodeError:
            if not make_parents or parent_of(path) == "/":
                raise
            await self.ensure_path(parent_of(path), acl_l)
            resp = await self._call(op, req, decode, path)
        created = self._cs.to_client(_reply_path(resp.path, path))
        if include_stat:
            assert isinstance(resp, Create2Response)  # include_stat always sends create2 (create_opcode)
            return created, resp.stat
        return created

    async def ensure_path(self, path: str, acl: Sequence[ACL] | None = None) -> None:
        """Create `path` and any missing ancestors as persistent nodes; existing ones are left alone."""
        self._server_path(path)
        acl_l = _check_acl(acl)
        parts = [p for p in path.split("/") if p]
        prefix = ""
        for part in parts:  # bounded by the path's depth
            prefix += "/" + part
            if await self.exists(prefix) is not None:
                continue
            try:
                await self.create(prefix, b"", acl_l)
            except NodeExistsError:
                pass

    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        """Delete a znode if its data version matches (`-1` = any).

        With `recursive=True`, delete the whole subtree first (children deleted concurrently; nodes
        that vanish meanwhile are ignored; `version` applies to `path` itself). Raises NoNodeError,
        BadVersionError, NotEmptyError, NoAuthError, BadArgumentsError (e.g. for "/zookeeper").
        """
        spath = self._server_path(path)
        if recursive:
            await self._delete_children(path)
        await self._call(OpCode.delete, DeleteRequest(spath, version), None, path)

    async def _delete_children(self, path: str, batch: int = 256) -> None:
        try:
            children = await self.get_children(path)
        except NoNodeError:
            return
        base = path.rstrip("/")
        sem = asyncio.Semaphore(batch)

        async def one(child: str) -> None:
            cpath = f"{base}/{child}"
            async with sem:
                await self._delete_children(cpath, batch)
                try:
                    await self._call(OpCode.delete, DeleteRequest(self._cs.to_server(cpath), -1), None, cpath)
                except NoNodeError:
                    pass

        await asyncio.gather(*(one(c) for c in children))

    async def exists(self, path: str, watch: Watcher | None = None) -> Stat | None:
        """The node's Stat, or None if it does not exist.

        With `watch`, the callback fires once on the node's next NodeCreated, NodeDataChanged or
        NodeDeleted — also when the node does not exist yet (ZooKeeper registers that watch too).
        """
        spath = self._server_path(path)
        hook = self._watch_hook(spath, watch, exists=True) if watch is not None else None
        try:
            resp = await self._call(OpCode.exists, ExistsRequest(spath, watch is not None),
                                    ExistsResponse.deserialize, path, hook)
        except NoNodeError:
            return None
        return resp.stat

    @overload
    async def get_data(self, path: str, watch: Watcher | None = ..., *,
                       keep_null: Literal[False] = ...) -> tuple[bytes, Stat]: ...

    @overload
    async def get_data(self, path: str, watch: Watcher | None = ..., *,
                       keep_null: Literal[True]) -> tuple[bytes | None, Stat]: ...

    @overload
    async def get_data(self, path: str, watch: Watcher | None = ..., *,
                       keep_null: bool) -> tuple[bytes | None, Stat]: ...

    async def get_data(self, path: str, watch: Watcher | None = None, *,
                       keep_null: bool = False) -> tuple[bytes | None, Stat]:
        """The node's data and Stat.

        A node created with null data (`create(path, None)`) reads as b"" unless `keep_null`, which
        returns None for it, as zkCli distinguishes `null` from an empty value. With `watch`, the
        callback fires once on NodeDataChanged or NodeDeleted. Raises NoNodeError (no watch is left
        then; use `exists` to wait for a creation), NoAuthError.
        """
        spath = self._server_path(path)
        hook = self._watch_hook(spath, watch, kind=DATA) if watch is not None else None
        resp = await self._call(OpCode.getData, GetDataRequest(spath, watch is not None),
                                GetDataResponse.deserialize, path, hook)
        if keep_null:
            return resp.data, resp.stat
        return resp.data or b"", resp.stat

    async def set_data(self, path: str, data: bytes, version: int = -1) -> Stat:
        """Replace the node's data if its version matches (`-1` = any); returns the new Stat.

        Raises NoNodeError, BadVersionError, NoAuthError.
        """
        spath = self._server_path(path)
        resp = await self._call(OpCode.setData, SetDataRequest(spath, _check_data(data), version),
                                SetDataResponse.deserialize, path)
        return resp.stat

    @overload
    async def get_children(self, path: str, watch: Watcher | None = ...,
                           include_stat: Literal[False] = ...) -> list[str]: ...

    @overload
    async def get_children(self, path: str, watch: Watcher | None = ..., *,
                           include_stat: Literal[True]) -> tuple[list[str], Stat]: ...

    @overload
    async def get_children(self, path: str, watch: Watcher | None = ...,
                           include_stat: bool = ...) -> list[str] | tuple[list[str], Stat]: ...

    async def get_children(self, path: str, watch: Watcher | None = None,
                           include_stat: bool = False) -> list[str] | tuple[list[str], Stat]:
        """The names of the node's children (in the server's order, which is unspecified).

        With `include_stat` (getChildren2) also the node's Stat. With `watch`, the callback fires
        once on NodeChildrenChanged or NodeDeleted. Raises NoNodeError, NoAuthError.
        """
        spath = self._server_path(path)
        hook = self._watch_hook(spath, watch, kind=CHILD) if watch is not None else None
        if include_stat:
            r2 = await self._call(OpCode.getChildren2, GetChildren2Request(spath, watch is not None),
                                  GetChildren2Response.deserialize, path, hook)
            return _reply_names(r2.children, path), r2.stat
        r1 = await self._call(OpCode.getChildren, GetChildrenRequest(spath, watch is not None),
                              GetChildrenResponse.deserialize, path, hook)
        return _reply_names(r1.children, path)

    async def sync(self, path: str = "/") -> str:
        """Wait until the connected server has applied every write committed before this call.

        Reads are served by the connected server and may lag the leader; a read issued after `sync`
        on the same session sees everything committed before the sync. Returns the path.
        """
        spath = self._server_path(path)
        resp = await self._call(OpCode.sync, SyncRequest(spath), SyncResponse.deserialize, path)
        return self._cs.to_client(resp.path) if resp.path else path

    async def get_acl(self, path: str) -> tuple[list[ACL], Stat]:
        """The node's ACL and Stat (needs READ or ADMIN; without ADMIN digest ids are masked)."""
        spath = self._server_path(path)
        resp = await self._call(OpCode.getACL, GetACLRequest(spath), GetACLResponse.deserialize, path)
        return list(resp.acl or []), resp.stat

    async def set_acl(self, path: str, acl: Sequence[ACL], version: int = -1) -> Stat:
        """Replace the node's ACL if its ACL version (aversion) matches (`-1` = any); returns the new Stat.

        Needs ADMIN. Raises NoNodeError, BadVersionError, InvalidACLError, NoAuthError.
        """
        spath = self._server_path(path)
        resp = await self._call(OpCode.setACL, SetACLRequest(spath, _check_acl(acl), version),
                                SetACLResponse.deserialize, path)
        return resp.stat

    async def add_auth(self, scheme: str, credential: str | bytes | None) -> None:
        """Add credentials to the session, e.g. `add_auth("digest", "user:password")`.

        They are remembered and re-sent after every reconnect. A rejected credential (unknown scheme)
        makes the server close the connection: the session turns AUTH_FAILED and this raises
        AuthFailedError.
        """
        cred = credential.encode() if isinstance(credential, str) else \
            None if credential is None else bytes(credential)
        conn = await self._connection()
        fut = conn.submit_auth(AuthPacket(0, scheme, cred))
        self._auth.append((scheme, cred))
        try:
            await fut
        except AuthFailedError:
            await self._end(SessionState.AUTH_FAILED, AuthFailedError())
            raise
        except ConnectionLossError:
            # The credential is re-sent with the next connection anyway; report the loss like any call.
            raise

    async def add_watch(self, path: str, watcher: Watcher, recursive: bool = False) -> None:
        """A persistent watch (addWatch, 3.6+): `watcher` runs on every event of `path` and stays.

        Plain: NodeCreated, NodeDeleted, NodeDataChanged and NodeChildrenChanged of the node. With
        `recursive`: NodeCreated, NodeDeleted and NodeDataChanged of the node and of every node below
        it (the event's path says which), never NodeChildrenChanged. The node need not exist. It is
        re-registered after reconnects (SetWatches2; no catch-up events for what changed meanwhile,
        as in ZooKeeper) and ends with `remove_watches` or the session.
        """
        spath = self._server_path(path)
        mode = AddWatchMode.PERSISTENT_RECURSIVE if recursive else AddWatchMode.PERSISTENT
        await self._call(OpCode.addWatch, AddWatchRequest(spath, mode), ErrorResponse.deserialize, path,
                         self._watch_hook(spath, watcher, kind=RECURSIVE if recursive else PERSISTENT))

    async def remove_watches(self, path: str, watcher_type: WatcherType | int = WatcherType.Any, *,
                             local: bool = False) -> None:
        """Remove every watch of this session on `path` of one type (removeAllWatches).

        `watcher_type`: Children (child and persistent watches), Data (data, exists, persistent and
        recursive), Any, or — servers 3.9+ only — Persistent / PersistentRecursive. The server drops
        its watches first (NoWatcherError if it had none of that type); with `local`, only this
        client's watchers go and the server is not asked (its watches then fire into nothing). Each
        removed watcher receives one last event: ChildWatchRemoved, DataWatchRemoved or
        PersistentWatchRemoved, as the Java client delivers them.
        """
        wt = WatcherType(watcher_type)
        spath = self._server_path(path)
        if not local:
            await self._call(OpCode.removeWatches, RemoveWatchesRequest(spath, wt), None, path)
        for watcher, table in self._watches.remove_path(spath, REMOVAL_TABLES[wt]):
            event = WatchedEvent(REMOVAL_EVENT[table], KeeperState.SyncConnected, self._cs.to_client(spath))
            self._run_callback(watcher, event)

    async def get_ephemerals(self, prefix: str = "/") -> list[str]:
        """Paths of this session's ephemeral nodes whose path starts with `prefix` (getEphemerals, 3.6+).

        Paths are relative to the chroot, in the server's order (unspecified: sort if it matters).
        """
        spath = self._server_path(prefix)
        resp = await self._call(OpCode.getEphemerals, GetEphemeralsRequest(spath),
                                GetEphemeralsResponse.deserialize, prefix)
        cs = self._cs
        return [cs.to_client(p) for p in _reply_names(resp.ephemerals, prefix)]

    async def get_all_children_number(self, path: str) -> int:
        """How many nodes are below `path`, at any depth, the node itself not counted (3.6+)."""
        spath = self._server_path(path)
        resp = await self._call(OpCode.getAllChildrenNumber, GetAllChildrenNumberRequest(spath),
                                GetAllChildrenNumberResponse.deserialize, path)
        return int(resp.totalNumber)

    async def who_am_i(self) -> list[tuple[str, str]]:
        """The (scheme, user) identities the server holds for this session, e.g. ("ip", "127.0.0.1") and
        one per successful `add_auth` (whoAmI, 3.7+)."""
        resp = await self._call(OpCode.whoAmI, None, WhoAmIResponse.deserialize, None)
        return [(ci.authScheme or "", ci.user or "") for ci in (resp.clientInfo or [])]

    def transaction(self) -> Transaction:
        """A multi-operation builder: add create/delete/set_data/check ops, then `await txn.commit()`."""
        return Transaction(self)

    def watch_data(self, path: str) -> DataWatch:
        """An async iterator of `DataSnapshot`s of `path`: the current value first, then one per change.

        It re-arms the watch after every event and follows the node through deletion and
        re-creation (data/stat None while absent). It ends when the client is closed, and raises
        SessionExpiredError/AuthFailedError if the session ends otherwise. Use `async with` or
        `aclose()` to stop early.
        """
        from .iterators import DataWatch

        self._server_path(path)
        return DataWatch(self, path)

    def watch_children(self, path: str) -> ChildrenWatch:
        """An async iterator of `ChildrenSnapshot`s of `path` (sorted names): current list first, then one
        per change; same lifecycle rules as `watch_data` (children None while the node is absent)."""
        from .iterators import ChildrenWatch

        self._server_path(path)
        return ChildrenWatch(self, path)

    # ---- plumbing for transaction.py / iterators.py -------------------------------------------

    def _server_path(self, path: str, sequential: bool = False) -> str:
        """Validate a client path (as ZooKeeper's clients do before sending) and apply the chroot."""
        if not isinstance(path, str):
            raise TypeError(f"path must be str, not {type(path).__name__}")
        try:
            validate_path(path, sequential)
        except InvalidPath as e:
            raise BadArgumentsError(f"invalid path {path!r}: {e}", path=path)
        return self._cs.to_server(path)

    def _watch_hook(self, spath: str, watcher: Watcher, kind: str = DATA, exists: bool = False) -> Hook:
        """Register the watcher when (and only if) the reply confirms the server set the watch.

        Runs inline while the reply is parsed, before any later notification, so no event can slip
        between the server setting the watch and the client knowing about it.
        """
        watches = self._watches

        def hook(err: int) -> None:
            if err == 0:
                watches.add(kind, spath, watcher)
            elif exists and err == Err.NONODE:
                watches.add(EXIST, spath, watcher)

        return hook

    @overload
    async def _call(self, op: int, body: Body | None, decode: Decoder[T], path: str | None = None,
                    hook: Hook | None = None) -> T: ...

    @overload
    async def _call(self, op: int, body: Body | None, decode: None, path: str | None = None,
                    hook: Hook | None = None) -> None: ...

    async def _call(self, op: int, body: Body | None, decode: Decoder[T] | None, path: str | None = None,
                    hook: Hook | None = None) -> T | None:
        """Send one request on the current connection (waiting for one if needed) and await its reply."""
        conn = self._conn
        if conn is None or not self._state.is_connected or not conn.is_open:
            conn = await self._connection()
        return await conn.submit(op, body, decode, path, hook)

    async def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and self._state.is_connected and conn.is_open:
            return conn
        return await self._wait_connection(self._connect_wait, self._fail_fast)

    async def _wait_connection(self, timeout: float, fail_fast: bool = False) -> Connection:
        if self._state.is_terminal:
            assert self._terminal is not None
            raise self._terminal_error()
        conn = self._conn
        if self._state.is_connected and conn is not None and conn.is_open:
            return conn
        assert self._loop is not None
        fut: asyncio.Future[Connection] = self._loop.create_future()
        self._conn_waiters.append(fut)
        if fail_fast:
            self._fast_waiters[fut] = self._failed_attempts + len(self._provider)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ConnectionLossError(f"KeeperErrorCode = ConnectionLoss (not connected within {timeout:g} s)")
        finally:
            self._fast_waiters.pop(fut, None)
            if fut in self._conn_waiters:
                self._conn_waiters.remove(fut)

    def _attempt_failed(self, host: str, port: int, error: BaseException) -> None:
        """Count a failed connection attempt; fail the fail-fast waiters that have now seen every server
        refuse once (the Java client fails its queued requests the same way)."""
        self._failed_attempts += 1
        for fut, due in list(self._fast_waiters.items()):
            if due <= self._failed_attempts and not fut.done():
                fut.set_exception(ConnectionLossError(
                    f"KeeperErrorCode = ConnectionLoss (could not connect to {self._hosts_text()}; "
                    f"last: {host}:{port}: {error!r})"))

    def _terminal_error(self) -> KeeperError:
        t = self._terminal or ClientClosedError()
        return type(t)(str(t)) if type(t) is not KeeperError else KeeperError(str(t), code=t.code)

    # ---- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, serve until the connection drops, reconnect to the next server; until terminal."""
        failures = 0
        while not self._state.is_terminal:
            if self._session_expired_locally():
                await self._end(SessionState.EXPIRED, SessionExpiredError(
                    f"KeeperErrorCode = Session expired (no server reachable for the session timeout "
                    f"{self._negotiated_ms} ms)"))
                return
            n = len(self._provider)
            if self._rw_found is not None:  # the read-write server the background search found
                (host, port), self._rw_found = self._rw_found, None
            else:
                host, port = self._provider.next()
            try:
                conn = await self._connect_one(host, port)
            except asyncio.CancelledError:
                raise
            except _SaslRejected as e:
                log.warning("SASL authentication with %s:%d failed: %s", host, port, e)
                await self._end(SessionState.AUTH_FAILED, AuthFailedError(f"KeeperErrorCode = AuthFailed ({e})"))
                return
            except (TimeoutError, OSError, KeeperError, DecodeError) as e:
                failures += 1
                log.debug("connect to %s:%d failed: %r", host, port, e)
                self._attempt_failed(host, port, e)
                if failures % n == 0:  # a whole round failed: back off (jittered, capped) before the next
                    delay = min(_MAX_BACKOFF, 0.02 * 2 ** min(failures // n, 6)) * (0.5 + random.random() / 2)
                    await asyncio.sleep(delay)
                continue
            if conn is None:
                await self._end(SessionState.EXPIRED, SessionExpiredError(
                    f"KeeperErrorCode = Session expired (server {host}:{port} refused session "
                    f"0x{self._session_id & 0xFFFFFFFFFFFFFFFF:x})"))
                return
            failures = 0
            self._provider.on_connected()
            self._on_connected(conn, host, port)
            await self._heartbeat(conn)
            if self._state.is_terminal or self._closing:
                return
            self._on_disconnected(conn)

    def _session_expired_locally(self) -> bool:
        if not self._session_id or self._disconnected_at is None or not self._negotiated_ms:
            return False
        return time.monotonic() - self._disconnected_at >= self._negotiated_ms / 1000

    async def _connect_one(self, host: str, port: int) -> Connection | None:
        """One attempt: TCP connect + handshake within connect_timeout. None = the session is expired."""
        assert self._loop is not None
        budget = self.connect_timeout
        deadline = time.monotonic() + budget
        if self._disconnected_at is not None and self._negotiated_ms:
            # Never wait past the moment the session must be considered expired.
            deadline = min(deadline, self._disconnected_at + self._negotiated_ms / 1000)
        info = self._info

        def factory() -> Connection:
            return Connection(info, self._on_notification, self._max_buffer)

        tls_kw: dict[str, Any] = {}
        if self._tls is not None:
            tls_kw = {"ssl": self._tls, "server_hostname": host if self._tls.check_hostname else "",
                      "ssl_handshake_timeout": max(deadline - time.monotonic(), 0.001)}
        _, conn = await asyncio.wait_for(self._loop.create_connection(factory, host, port, **tls_kw),
                                         max(deadline - time.monotonic(), 0.001))
        # A session that never reached a read-write server is local to the read-only one: ask for a
        # new session instead (Java's seenRwServerBefore rule).
        session_id = self._session_id if self._seen_rw else 0
        try:
            conn.send_connect(ConnectRequest(PROTOCOL_VERSION, info.last_zxid, self._requested_ms,
                                             session_id, self._passwd, self._can_be_read_only))
            resp = await asyncio.wait_for(asyncio.shield(conn.handshake), max(deadline - time.monotonic(), 0.001))
        except BaseException:
            conn.abort("handshake failed")
            raise
        if resp.timeOut <= 0:
            conn.abort("session expired")
            return None
        if session_id and resp.sessionId != session_id:
            conn.abort("server answered with another session")
            raise ConnectionLossError(f"server {host}:{port} answered with session 0x{resp.sessionId:x}")
        if resp.readOnly and not self._can_be_read_only:
            # A server in read-only mode closes such a session at once; do not report it as usable.
            conn.abort("read-only server, and can_be_read_only is off")
            raise ConnectionLossError(f"server {host}:{port} is read-only")
        if self._session_id and resp.sessionId != self._session_id:
            log.info("event=session_replaced old=0x%x new=0x%x server=%s:%d reason=read_only_session",
                     self._session_id & 0xFFFFFFFFFFFFFFFF, resp.sessionId & 0xFFFFFFFFFFFFFFFF, host, port)
        self._seen_rw = self._seen_rw or not resp.readOnly
        conn.read_only = bool(resp.readOnly)
        self._session_id = resp.sessionId
        self._passwd = bytes(resp.passwd or b"")
        self._negotiated_ms = resp.timeOut
        if self._sasl is not None:
            try:
                await asyncio.wait_for(self._authenticate(conn, self._sasl),
                                       max(deadline - time.monotonic(), self.read_timeout))
            except BaseException:
                conn.abort("SASL authentication did not finish")
                raise
        return conn

    async def _authenticate(self, conn: Connection, creds: SaslCredentials) -> None:
        """ZooKeeperSaslClient's exchange: tokens back and forth until the mechanism is complete.
        A server's AuthFailed or a token the mechanism rejects is `_SaslRejected`; a connection lost
        midway is ConnectionLossError (the next server is tried, as after any failed connection)."""
        mech = creds.mechanism_client()
        self.sasl_user = None
        try:
            token = mech.evaluate(b"")
            for _ in range(MAX_SASL_ROUNDS):
                resp = await conn.submit(OpCode.sasl, GetSASLRequest(token), SetSASLResponse.deserialize)
                token = mech.evaluate(resp.token or b"")
                if mech.complete:
                    self.sasl_user = creds.username
                    return
        except (AuthFailedError, SessionClosedRequireSaslAuthError) as e:
            raise _SaslRejected(f"the server rejected the credentials of {creds.username!r}: {e}") from None
        except SaslError as e:
            raise _SaslRejected(f"{creds.mechanism}: {e}") from None
        raise _SaslRejected(f"{creds.mechanism} exchange not complete after {MAX_SASL_ROUNDS} rounds")

    def _on_connected(self, conn: Connection, host: str, port: int) -> None:
        """Prime the new connection (auth, SetWatches) before releasing queued callers, as Java does."""
        self._conn = conn
        self._connected_to = (host, port)
        self._disconnected_at = None
        for scheme, cred in self._auth:
            fut = conn.submit_auth(AuthPacket(0, scheme, cred))
            fut.add_done_callback(self._auth_resent)
        self._send_set_watches(conn)
        log.info("connected to %s:%d session=0x%x timeout=%dms%s", host, port,
                 self._session_id & 0xFFFFFFFFFFFFFFFF, self._negotiated_ms, " read-only" if conn.read_only else "")
        self._set_state(SessionState.CONNECTED_READ_ONLY if conn.read_only else SessionState.CONNECTED)
        waiters, self._conn_waiters = self._conn_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(conn)
        if conn.read_only:
            self._spawn(self._seek_rw_server(conn))
        if self._follow_config and not self._config_armed:
            self._spawn(self._read_config())

    def _auth_resent(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if isinstance(exc, AuthFailedError) and not self._state.is_terminal:
            self._spawn(self._end(SessionState.AUTH_FAILED, AuthFailedError()))

    def _send_set_watches(self, conn: Connection) -> None:
        """Re-register every watch (batched like Java's 128 KiB SetWatches packets).

        The server fires at once whatever changed since lastZxidSeen, so no event is lost across the
        reconnect.
        """
        tables: tuple[list[str], ...] = self._watches.paths()
        if not any(tables):
            return
        # SetWatches2 (3.6+) only when persistent watches exist, as the Java client: older servers
        # know only SetWatches.
        persistent = bool(tables[3] or tables[4])
        if not persistent:
            tables = tables[:3]
        rel = self._info.last_zxid

        def send(batch: tuple[list[str | None], ...]) -> None:
            if persistent:
                conn.submit(OpCode.setWatches2, SetWatches2(rel, *batch), None, xid=Xid.SET_WATCHES)
            else:
                conn.submit(OpCode.setWatches, SetWatches(rel, *batch), None, xid=Xid.SET_WATCHES)

        batch: tuple[list[str | None], ...] = tuple([] for _ in tables)
        size = 0
        for i, paths in enumerate(tables):
            for p in paths:
                batch[i].append(p)
                size += len(p.encode()) + 4
                if size >= _SET_WATCHES_MAX_BYTES:
                    send(batch)
                    batch, size = tuple([] for _ in tables), 0
        if size:
            send(batch)

    # ---- read-only mode: finding a read-write server ------------------------------------------

    async def _seek_rw_server(self, conn: Connection) -> None:
        """While `conn` is a read-only connection, probe the servers (Java's pingRwServer timing) and
        drop it as soon as one answers `rw`; the connection loop then goes there first."""
        while not conn.closed.done():  # ends with the connection; each round waits at least 100 ms
            await asyncio.wait((conn.closed,), timeout=self._rw_interval)
            if conn.closed.done() or self._state is not SessionState.CONNECTED_READ_ONLY:
                return
            self._rw_interval = min(2 * self._rw_interval, MAX_INTERVAL)
            host, port = self._provider.next()
            log.debug("event=rw_probe server=%s:%d next_in=%.1fs", host, port, self._rw_interval)
            if await is_read_write(host, port, tls=self._tls) and not conn.closed.done():
                self._rw_interval = MIN_INTERVAL
                self._rw_found = (host, port)
                log.info("event=rw_server_found server=%s:%d session=0x%x", host, port,
                         self._session_id & 0xFFFFFFFFFFFFFFFF)
                conn.abort(f"read-write server found at {host}:{port}")
                return

    # ---- following the membership -------------------------------------------------------------

    def update_server_list(self, hosts: str | Sequence[tuple[str, int]]) -> bool:
        """Replace the server list, as ZooKeeper's `updateServerList` does; returns whether this client moves.

        `hosts` is a connect string without chroot (`"h1:2181,h2:2181"`, or one with the client's own
        chroot) or a sequence of (host, port). To spread the load evenly, the client may drop its
        connection and reconnect to another server (requests in flight then fail with
        ConnectionLossError, as after any connection loss; the session and its watches stay): for
        sure when its server left the list, with probability `1 - old/new` when the list grew,
        never when its server is still listed and the list did not grow (`host_provider.py`).
        """
        if isinstance(hosts, str):
            cs = parse_connect_string(hosts)
            if cs.chroot and cs.chroot != self._cs.chroot:
                raise BadArgumentsError(f"update_server_list cannot change the chroot ({cs.chroot!r})")
            new = list(cs.hosts)
        else:
            new = []
            for item in hosts:
                if (not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str)
                        or not item[0] or not isinstance(item[1], int) or isinstance(item[1], bool)
                        or not 0 < item[1] < 65536):
                    raise BadArgumentsError(f"a server must be (host, port), got {item!r}")
                new.append((item[0], item[1]))
            if not new:
                raise BadArgumentsError("a server list may not be empty")
        conn = self._conn
        live = conn is not None and conn.is_open and self._state.is_connected
        current = self._connected_to if live else None
        peer_ip = conn.peer[0] if live and conn is not None and conn.peer else None
        move = self._provider.update_server_list(new, current, peer_ip)
        log.info("event=server_list_updated servers=%s move=%s", ",".join(f"{h}:{p}" for h, p in self.hosts), move)
        if move and live and conn is not None:
            conn.abort("moving to another server after a server list update")
        return move

    async def get_config(self, watch: Watcher | None = None) -> tuple[bytes, Stat]:
        """The ensemble's dynamic configuration, the data of `/zookeeper/config` (ZooKeeper's getConfig).

        Always that node, whatever the chroot. With `watch`, the callback fires once when the
        membership changes (NodeDataChanged).
        """
        hook = self._watch_hook(CONFIG_NODE, watch, kind=DATA) if watch is not None else None
        resp = await self._call(OpCode.getData, GetDataRequest(CONFIG_NODE, watch is not None),
                                GetDataResponse.deserialize, CONFIG_NODE, hook)
        return resp.data or b"", resp.stat

    async def reconfig(self, joining: str | Sequence[str] | None = None, leaving: str | Sequence[str] | None = None,
                       new_members: str | Sequence[str] | None = None, from_config: int = -1) -> tuple[bytes, Stat]:
        """Change the ensemble's membership (ZooKeeperAdmin.reconfigure); returns the new configuration.

        Incremental: `joining` server specs (`"server.4=host:peer:election[:role];[clientAddr:]port"`)
        and/or `leaving` server ids. Bulk: `new_members`, the whole new membership (not combinable
        with the incremental arguments). Each is a comma-separated string or a sequence of items.
        `from_config` (-1: any) is the configuration version the change applies to: another version
        is BadVersionError. The server must allow reconfig (ReconfigDisabledError) and the session
        needs permission on /zookeeper/config (NoAuthError); NewConfigNoQuorumError when the new
        members are not connected, ReconfigInProgressError while another change runs, and
        BadArgumentsError for a specification the server cannot parse.
        """
        def joined(value: str | Sequence[str] | None, what: str) -> str | None:
            if value is None:
                return None
            if isinstance(value, str):
                return value
            items = list(value)
            for v in items:
                if not isinstance(v, str):
                    raise TypeError(f"{what} items must be str, not {type(v).__name__}")
            return ",".join(items)

        join_s, leave_s, members_s = joined(joining, "joining"), joined(leaving, "leaving"), \
            joined(new_members, "new_members")
        if members_s is not None and (join_s is not None or leave_s is not None):
            raise BadArgumentsError("new_members cannot be combined with joining/leaving "
                                    "(bulk and incremental reconfig are exclusive)")
        if members_s is None and join_s is None and leave_s is None:
            raise BadArgumentsError("reconfig needs joining, leaving or new_members")
        if isinstance(from_config, bool) or not isinstance(from_config, int) \
                or not -(1 << 63) <= from_config < (1 << 63):
            raise BadArgumentsError(f"from_config must be a 64-bit int, got {from_config!r}")
        resp = await self._call(OpCode.reconfig, ReconfigRequest(join_s, leave_s, members_s, from_config),
                                GetDataResponse.deserialize, None)
        return resp.data or b"", resp.stat

    async def _read_config(self) -> None:
        """Read /zookeeper/config with a watch and apply its membership (follow_config)."""
        if self._config_armed or self._state.is_terminal:
            return
        self._config_armed = True
        try:
            data, _ = await self.get_config(self._config_changed)
        except KeeperError as e:
            self._config_armed = False  # read again after the next connect
            log.warning("event=config_read_failed error=%s", e)
            return
        self._apply_config(data)

    def _config_changed(self, event: WatchedEvent) -> None:
        self._config_armed = False
        if event.type == EventType.None_ or self._state.is_terminal:
            return
        self._spawn(self._read_config())

    def _apply_config(self, data: bytes) -> None:
        try:
            membership = parse_membership(data)
        except ValueError as e:
            log.warning("event=config_unparsable error=%s", e)
            return
        hosts = membership.client_hosts()
        if not hosts:
            log.info("event=config_without_client_addresses version=%s", membership.version)
            return
        if membership.version == self._config_version:
            return
        self._config_version = membership.version
        if {(h.lower(), p) for h, p in hosts} == {(h.lower(), p) for h, p in self.hosts}:
            return
        self.update_server_list(hosts)

    def _on_disconnected(self, conn: Connection) -> None:
        if self._conn is conn:
            self._conn = None
        log.info("disconnected from %s:%d session=0x%x: %s", *(self._connected_to or ("?", 0)),
                 self._session_id & 0xFFFFFFFFFFFFFFFF, conn.close_reason)
        self._disconnected_at = time.monotonic()
        self._set_state(SessionState.DISCONNECTED)

    async def _heartbeat(self, conn: Connection) -> None:
        """Ping when idle and drop the connection when the server is silent for the read timeout."""
        while not conn.closed.done():
            rt = self.read_timeout
            ping_every = min(rt / 2, 10.0)  # Java also pings at least every 10 s
            now = time.monotonic()
            if self._heartbeat_frozen:
                wait = ping_every
            else:
                idle_recv = now - conn.last_recv
                if idle_recv >= rt:
                    conn.abort(f"no reply from the server for {idle_recv * 1000:.0f} ms (read timeout)")
                    break
                idle_send = now - conn.last_send
                if idle_send >= ping_every:
                    conn.ping()
                    idle_send = 0.0
                wait = min(rt - idle_recv, ping_every - idle_send)
            await asyncio.wait((conn.closed,), timeout=max(wait, 0.005))
        if not conn.closed.done():
            await asyncio.wait((conn.closed,), timeout=1.0)

    # ---- events -------------------------------------------------------------------------------

    def _on_notification(self, ev: WatcherEvent) -> None:
        spath = ev.path or ""
        watchers = self._watches.materialize(ev.type, spath)
        if not watchers:
            return
        try:
            etype: EventType | int = EventType(ev.type)
        except ValueError:
            etype = ev.type
        try:
            kstate: KeeperState | int = KeeperState(ev.state)
        except ValueError:
            kstate = ev.state
        event = WatchedEvent(etype, kstate, self._cs.to_client(spath))
        for w in watchers:
            self._run_callback(w, event)

    def _run_callback(self, fn: Callable[[T], object], arg: T) -> None:
        try:
            res = fn(arg)
        except Exception:
            log.exception("watch/listener callback %r failed", fn)
            return
        if inspect.isawaitable(res):
            self._spawn(res)

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback task failed", exc_info=task.exception())

    def _set_state(self, state: SessionState) -> None:
        if state is self._state:
            return
        self._state = state
        for fn in list(self._listeners):
            self._run_callback(fn, state)

    async def _end(self, state: SessionState, exc: KeeperError) -> None:
        """Make the session terminal: fail everything, tell every watcher and listener, stop the loop."""
        if self._state.is_terminal:
            return
        self._terminal = exc
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.fail_pending(type(exc))
            conn.abort(state.value.lower())
        waiters, self._conn_waiters = self._conn_waiters, []
        for w in waiters:
            if not w.done():
                w.set_exception(self._terminal_error())
        kstate = state.keeper_state
        final = WatchedEvent(EventType.None_, kstate, None)
        for watcher in self._watches.drain():
            self._run_callback(watcher, final)
        if state is SessionState.EXPIRED:
            log.warning("session 0x%x expired", self._session_id & 0xFFFFFFFFFFFFFFFF)
        self._set_state(state)
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task() and not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    def _hosts_text(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self._provider.servers)

    def __repr__(self) -> str:
        return (f"<Client {self._hosts_text()}{self._cs.chroot} state={self._state.value} "
                f"session=0x{self._session_id & 0xFFFFFFFFFFFFFFFF:x}>")

