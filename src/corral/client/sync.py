"""`SyncClient`: the asyncio `Client` behind blocking calls, for scripts, shells and threads.

The client runs on a private event loop in a daemon thread; each method submits the coroutine to
that loop and blocks for its result, so the session keeps pinging and reconnecting while the
caller's thread does something else. Errors are the same typed `KeeperError`s.

Watch callbacks and state listeners run on the client's thread: keep them short, and do not call
blocking `SyncClient` methods from inside them (that would wait on the very thread that must serve
the call — it raises RuntimeError instead of deadlocking). Schedule work elsewhere, or use the
blocking iterators `watch_data` / `watch_children`.

    with SyncClient("127.0.0.1:2181") as zk:
        zk.create("/app", b"v1")
        data, stat = zk.get_data("/app")
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal, TypeVar, overload

from ..protocol import ACL, CreateMode, Stat
from .client import Client, StateListener
from .errors import ConnectionLossError
from .iterators import _SnapshotWatch
from .transaction import Transaction, TransactionResult
from .types import ChildrenSnapshot, DataSnapshot, SessionState
from .watches import Watcher

__all__ = ["SyncClient", "SyncTransaction"]

T = TypeVar("T")
S = TypeVar("S", DataSnapshot, ChildrenSnapshot)


class SyncClient:
    """Blocking facade over `Client`; takes the same arguments (see `Client`).

    `start()` is called by `with SyncClient(...)`, otherwise call it yourself. `close()` ends the
    session and stops the background thread; the object cannot be used afterwards.
    """

    def __init__(self, hosts: str, **kwargs: Any) -> None:
        self._client = Client(hosts, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="corral-client", daemon=True)
        self._thread.start()
        self._stopped = False

    @property
    def client(self) -> Client:
        """The underlying asyncio Client (use it only from its own loop)."""
        return self._client

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the client runs on."""
        return self._loop

    def _run(self, aw: Awaitable[T], timeout: float | None = None) -> T:
        problem = None
        if self._stopped:
            problem = "SyncClient is closed"
        elif threading.current_thread() is self._thread:
            problem = "blocking SyncClient call from a watch/listener callback would deadlock"
        if problem is not None:
            if inspect.iscoroutine(aw):
                aw.close()  # never awaited: close it instead of leaking a warning
            raise RuntimeError(problem)

        async def call() -> T:
            return await aw

        fut = asyncio.run_coroutine_threadsafe(call(), self._loop)
        try:
            return fut.result(timeout)
        except FutureTimeout:
            fut.cancel()
            raise ConnectionLossError(f"no answer within {timeout:g} s")

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> None:
        """Connect (see `Client.start`)."""
        self._run(self._client.start(timeout))

    def close(self) -> None:
        """Close the session and stop the client's thread; idempotent."""
        if self._stopped:
            return
        try:
            self._run(self._client.close())
        finally:
            self._stopped = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_listener(self, listener: StateListener) -> None:
        """Call `listener(state)` on every SessionState change (on the client's thread)."""
        self._loop.call_soon_threadsafe(self._client.add_listener, listener)

    def remove_listener(self, listener: StateListener) -> None:
        self._loop.call_soon_threadsafe(self._client.remove_listener, listener)

    def wait_connected(self, timeout: float | None = None, *, fail_fast: bool | None = None) -> None:
        self._run(self._client.wait_connected(timeout, fail_fast=fail_fast))

    @property
    def state(self) -> SessionState:
        return self._client.state

    @property
    def connected(self) -> bool:
        return self._client.connected

    @property
    def session_id(self) -> int:
        return self._client.session_id

    @property
    def negotiated_timeout(self) -> float:
        return self._client.negotiated_timeout

    @property
    def chroot(self) -> str:
        return self._client.chroot

    @property
    def read_only(self) -> bool:
        return self._client.read_only

    @property
    def hosts(self) -> tuple[tuple[str, int], ...]:
        return self._client.hosts

    @property
    def connected_to(self) -> tuple[str, int] | None:
        return self._client.connected_to

    def update_server_list(self, hosts: str | Sequence[tuple[str, int]]) -> bool:
        """See `Client.update_server_list`."""

        async def call() -> bool:
            return self._client.update_server_list(hosts)

        return self._run(call())

    def get_config(self, watch: Watcher | None = None) -> tuple[bytes, Stat]:
        return self._run(self._client.get_config(watch))

    def reconfig(self, joining: str | Sequence[str] | None = None, leaving: str | Sequence[str] | None = None,
                 new_members: str | Sequence[str] | None = None, from_config: int = -1) -> tuple[bytes, Stat]:
        """See `Client.reconfig`."""
        return self._run(self._client.reconfig(joining, leaving, new_members, from_config))

    # ---- the Basic API ------------------------------------------------------------------------

    @overload
    def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
               mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: Literal[False] = ...,
               make_parents: bool = ...) -> str: ...

    @overload
    def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
               mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: Literal[True],
               make_parents: bool = ...) -> tuple[str, Stat]: ...

    @overload
    def create(self, path: str, data: bytes | None = ..., acl: Sequence[ACL] | None = ...,
               mode: CreateMode | int = ..., *, ttl: int | None = ..., include_stat: bool,
               make_parents: bool = ...) -> str | tuple[str, Stat]: ...

    def create(self, path: str, data: bytes | None = b"", acl: Sequence[ACL] | None = None,
               mode: CreateMode | int = CreateMode.PERSISTENT, *, ttl: int | None = None,
               include_stat: bool = False, make_parents: bool = False) -> str | tuple[str, Stat]:
        """See `Client.create` (returns the path, or (path, Stat) with include_stat)."""
        return self._run(self._client.create(path, data, acl, mode, ttl=ttl, include_stat=include_stat,
                                             make_parents=make_parents))

    def ensure_path(self, path: str, acl: Sequence[ACL] | None = None) -> None:
        self._run(self._client.ensure_path(path, acl))

    def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        self._run(self._client.delete(path, version, recursive=recursive))

    def exists(self, path: str, watch: Watcher | None = None) -> Stat | None:
        return self._run(self._client.exists(path, watch))

    @overload
    def get_data(self, path: str, watch: Watcher | None = ..., *,
                 keep_null: Literal[False] = ...) -> tuple[bytes, Stat]: ...

    @overload
    def get_data(self, path: str, watch: Watcher | None = ..., *, keep_null: bool) -> tuple[bytes | None, Stat]: ...

    def get_data(self, path: str, watch: Watcher | None = None, *,
                 keep_null: bool = False) -> tuple[bytes | None, Stat]:
        """See `Client.get_data` (with keep_null, null data reads as None)."""
        return self._run(self._client.get_data(path, watch, keep_null=keep_null))

    def set_data(self, path: str, data: bytes, version: int = -1) -> Stat:
        return self._run(self._client.set_data(path, data, version))

    @overload
    def get_children(self, path: str, watch: Watcher | None = ...,
                     include_stat: Literal[False] = ...) -> list[str]: ...

    @overload
    def get_children(self, path: str, watch: Watcher | None = ..., *,
                     include_stat: Literal[True]) -> tuple[list[str], Stat]: ...

    @overload
    def get_children(self, path: str, watch: Watcher | None = ...,
                     include_stat: bool = ...) -> list[str] | tuple[list[str], Stat]: ...

    def get_children(self, path: str, watch: Watcher | None = None,
                     include_stat: bool = False) -> list[str] | tuple[list[str], Stat]:
        """See `Client.get_children` (a list, or (list, Stat) with include_stat)."""
        return self._run(self._client.get_children(path, watch, include_stat))

    def sync(self, path: str = "/") -> str:
        return self._run(self._client.sync(path))

    def get_acl(self, path: str) -> tuple[list[ACL], Stat]:
        return self._run(self._client.get_acl(path))

    def set_acl(self, path: str, acl: Sequence[ACL], version: int = -1) -> Stat:
        return self._run(self._client.set_acl(path, acl, version))

    def add_auth(self, scheme: str, credential: str | bytes | None) -> None:
        self._run(self._client.add_auth(scheme, credential))

    def add_watch(self, path: str, watcher: Watcher, recursive: bool = False) -> None:
        """See `Client.add_watch` (the watcher runs on the client's thread)."""
        self._run(self._client.add_watch(path, watcher, recursive))

    def remove_watches(self, path: str, watcher_type: int = 3, *, local: bool = False) -> None:
        """See `Client.remove_watches` (watcher_type: a `WatcherType`, default Any)."""
        self._run(self._client.remove_watches(path, watcher_type, local=local))

    def get_ephemerals(self, prefix: str = "/") -> list[str]:
        return self._run(self._client.get_ephemerals(prefix))

    def get_all_children_number(self, path: str) -> int:
        return self._run(self._client.get_all_children_number(path))

    def who_am_i(self) -> list[tuple[str, str]]:
        return self._run(self._client.who_am_i())

    def transaction(self) -> SyncTransaction:
        """A multi builder whose `commit()` blocks (see `Transaction`)."""
        return SyncTransaction(self, self._client)

    def watch_data(self, path: str) -> Iterator[DataSnapshot]:
        """Blocking iterator of DataSnapshots (see `Client.watch_data`); close the generator to stop."""
        return self._iterate(lambda: self._client.watch_data(path))

    def watch_children(self, path: str) -> Iterator[ChildrenSnapshot]:
        """Blocking iterator of ChildrenSnapshots (see `Client.watch_children`); close the generator to stop."""
        return self._iterate(lambda: self._client.watch_children(path))

    def _iterate(self, make: Callable[[], _SnapshotWatch[S]]) -> Iterator[S]:
        async def build() -> _SnapshotWatch[S]:
            return make()

        watch = self._run(build())
        try:
            while True:  # ends with the async iterator (client closed) or when the caller closes us
                try:
                    yield self._run(watch.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if not self._stopped:
                self._run(watch.aclose())


class SyncTransaction(Transaction):
    """A `Transaction` whose `commit` blocks; built by `SyncClient.transaction()`."""

    def __init__(self, owner: SyncClient, client: Client) -> None:
        super().__init__(client)
        self._owner = owner

    # Blocking on purpose: the one intended difference from the async base (not substitutable, hence the ignore).
    def commit(self, *, raise_on_error: bool = False) -> list[TransactionResult]:  # type: ignore[override]
        return self._owner._run(Transaction.commit(self, raise_on_error=raise_on_error))
