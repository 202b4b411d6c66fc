"""Watches as async iterators: `Client.watch_data(path)` and `Client.watch_children(path)`.

ZooKeeper watches are one-shot: after an event the client must read again *and* set a new watch in
the same request, or it can miss a change. These iterators do exactly that, so a consumer just
writes:

    async for snap in zk.watch_data("/config"):
        apply(snap.data)

Each step yields a snapshot read *after* the event that woke it, so the consumer always ends up with
the newest state (changes in quick succession may be coalesced into one snapshot; none is lost). A
missing node is followed with an exists-watch until it is created. A snapshot identical to the
previous one (e.g. after a reconnect's SetWatches or a data watch on a child-watched node) is not
yielded again.

Lifecycle: connection losses are ridden out (the watch is re-registered by the client's SetWatches,
and a failed re-read is retried after the reconnect); closing the client ends the iteration;
session expiry or auth failure raises SessionExpiredError/AuthFailedError from `__anext__`.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import TYPE_CHECKING, Generic, NoReturn, TypeVar

from ..protocol import EventType, KeeperState
from .errors import AuthFailedError, ClientClosedError, ConnectionLossError, NoNodeError, SessionExpiredError
from .types import ChildrenSnapshot, DataSnapshot, WatchedEvent

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ChildrenWatch", "DataWatch"]

S = TypeVar("S", DataSnapshot, ChildrenSnapshot)

_MAX_RETRIES = 50  # re-reads after connection losses before giving up with ConnectionLossError
_MAX_RACES = 20  # get → NoNode → exists → present → get ... loops (node flapping) before yielding what we saw


class _Close(Enum):
    """Queued by `aclose` to end the iteration; also the initial "nothing yielded yet" key."""

    TOKEN = 0


_CLOSE = _Close.TOKEN


class _SnapshotWatch(Generic[S]):
    """Shared machinery: a queue fed by the watch callback, re-read + re-arm on every event."""

    def __init__(self, client: Client, path: str) -> None:
        self._client = client
        self._path = path
        self._events: asyncio.Queue[WatchedEvent | _Close] = asyncio.Queue()
        self._started = False
        self._closed = False
        self._last_key: object = _CLOSE

    @property
    def path(self) -> str:
        return self._path

    def _on_event(self, event: WatchedEvent) -> None:
        self._events.put_nowait(event)

    def __aiter__(self) -> _SnapshotWatch[S]:
        return self

    async def __aenter__(self) -> _SnapshotWatch[S]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: forget the local watcher and end the iteration (a server-side watch just fires into nothing)."""
        if not self._closed:
            self._closed = True
            self._client._watches.remove(self._on_event)
            self._events.put_nowait(_CLOSE)

    async def __anext__(self) -> S:
        while not self._closed:  # one pass per event; waits in between, never spins
            if not self._started:
                self._started = True
                snap = await self._read_retrying(None)
            else:
                item = await self._events.get()
                while not self._events.empty() and not self._is_terminal(item):  # coalesce a burst
                    item = self._events.get_nowait()
                if item is _CLOSE:
                    break
                if self._is_terminal(item):
                    await self.aclose()
                    self._raise_terminal(item)
                snap = await self._read_retrying(item)
            key = self._key(snap)
            if key != self._last_key:
                self._last_key = key
                return snap
        raise StopAsyncIteration

    @staticmethod
    def _is_terminal(item: WatchedEvent | _Close) -> bool:
        return item is _CLOSE or (isinstance(item, WatchedEvent) and item.type == EventType.None_)

    def _raise_terminal(self, event: WatchedEvent) -> NoReturn:
        if event.state == KeeperState.Expired:
            raise SessionExpiredError(path=self._path)
        if event.state == KeeperState.AuthFailed:
            raise AuthFailedError(path=self._path)
        raise StopAsyncIteration

    async def _read_retrying(self, event: WatchedEvent | None) -> S:
        for _ in range(_MAX_RETRIES):
            try:
                return await self._read(event)
            except ConnectionLossError:
                await self._client.wait_connected()
            except ClientClosedError:
                await self.aclose()
                raise StopAsyncIteration
            except (SessionExpiredError, AuthFailedError):
                await self.aclose()
                raise
        raise ConnectionLossError(f"could not re-arm the watch on {self._path} after {_MAX_RETRIES} tries",
                                  path=self._path)

    async def _read(self, event: WatchedEvent | None) -> S:  # pragma: no cover - abstract
        raise NotImplementedError

    def _key(self, snap: S) -> object:  # pragma: no cover - abstract
        raise NotImplementedError


class DataWatch(_SnapshotWatch[DataSnapshot]):
    """Async iterator of `DataSnapshot` for one node (see `Client.watch_data`)."""

    async def _read(self, event: WatchedEvent | None) -> DataSnapshot:
        zk, path, cb = self._client, self._path, self._on_event
        stat = None
        for _ in range(_MAX_RACES):
            try:
                data, st = await zk.get_data(path, watch=cb)
                return DataSnapshot(data, st, event)
            except NoNodeError:
                stat = await zk.exists(path, watch=cb)
                if stat is None:
                    return DataSnapshot(None, None, event)
        return DataSnapshot(None, stat, event)

    def _key(self, snap: DataSnapshot) -> object:
        st = snap.stat
        return None if st is None else (st.czxid, st.mzxid, st.version)


class ChildrenWatch(_SnapshotWatch[ChildrenSnapshot]):
    """Async iterator of `ChildrenSnapshot` for one node (see `Client.watch_children`)."""

    async def _read(self, event: WatchedEvent | None) -> ChildrenSnapshot:
        zk, path, cb = self._client, self._path, self._on_event
        stat = None
        for _ in range(_MAX_RACES):
            try:
                children, st = await zk.get_children(path, watch=cb, include_stat=True)
                return ChildrenSnapshot(sorted(children), st, event)
            except NoNodeError:
                stat = await zk.exists(path, watch=cb)
                if stat is None:
                    return ChildrenSnapshot(None, None, event)
        return ChildrenSnapshot(None, stat, event)

    def _key(self, snap: ChildrenSnapshot) -> object:
        st = snap.stat
        return None if st is None else (st.czxid, st.pzxid, st.cversion, tuple(snap.children or ()))
