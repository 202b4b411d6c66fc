"""Watch tables with ZooKeeper's trigger rules (`WatchManager`, `WatcherMode`).

A watcher is any object with `process(event_type, path, zxid)`; the server's connection is one, the
simulator's fake client another. One table holds data watches, another child watches (the tree owns
both). Modes are bits so a connection can hold a one-shot and a persistent watch on the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from typing import TYPE_CHECKING, Final, Protocol

from ..protocol.codes import (
    WATCHER_CHILDREN,
    WATCHER_DATA,
    WATCHER_PERSISTENT,
    WATCHER_PERSISTENT_RECURSIVE,
)

if TYPE_CHECKING:
    from .acl import AclList

STANDARD: Final = 1
PERSISTENT: Final = 2
RECURSIVE: Final = 4

class Watcher(Protocol):
    def process(self, event_type: int, path: str, zxid: int, acl: AclList | None = None) -> None:
        """Deliver one event. `acl` is the changed node's ACL (for NodeChildrenChanged the parent's),
        None when there is none to check: the receiver must drop the event if its identities may
        not READ through it (ZooKeeper 3.8.4/3.9.2, CVE-2024-23944)."""
        ...

_NOBODY: Final[frozenset[Watcher]] = frozenset()  # what `trigger` returns when no watch matched


class WatchTable:
    """path → {watcher: mode bits}, plus the reverse index for dropping a closed connection."""

    __slots__ = ("by_path", "by_watcher", "fanout", "recursive")

    def __init__(self) -> None:
        self.by_path: dict[str, dict[Watcher, int]] = {}
        self.by_watcher: dict[Watcher, set[str]] = {}
        self.recursive = 0
        # Told (event type, watchers) when a trigger finds watchers: the node_*_watch_count metrics
        self.fanout: Callable[[int, int], None] | None = None

    def add(self, path: str, watcher: Watcher, mode: int = STANDARD) -> None:
        ws = self.by_path.get(path)
        if ws is None:
            ws = self.by_path[path] = {}
        old = ws.get(watcher, 0)
        if mode & RECURSIVE and not old & RECURSIVE:
            self.recursive += 1
        ws[watcher] = old | mode
        paths = self.by_watcher.get(watcher)
        if paths is None:
            paths = self.by_watcher[watcher] = set()
        paths.add(path)

    def _drop(self, path: str, watcher: Watcher) -> None:
        ws = self.by_path.get(path)
        if ws is not None:
            mode = ws.pop(watcher, 0)
            if mode & RECURSIVE:
                self.recursive -= 1
            if not ws:
                del self.by_path[path]
        paths = self.by_watcher.get(watcher)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self.by_watcher[watcher]

    def trigger(self, path: str, event_type: int, zxid: int, acl: AclList | None = None,
                suppress: Set[Watcher] | None = None) -> Set[Watcher]:
        """Fire `event_type` for `path`; one-shot watches are removed. Returns who was notified.

        Every create, delete and setData asks (twice for a create), and nearly always nobody watches:
        that answer is one dict miss, with no set built."""
        ws = self.by_path.get(path)
        if not ws and not self.recursive:
            return _NOBODY
        fired: set[Watcher] = set()
        if ws:
            for w, mode in list(ws.items()):
                if mode & (STANDARD | PERSISTENT | RECURSIVE):
                    fired.add(w)
                if mode & STANDARD:
                    rest = mode & ~STANDARD
                    if rest:
                        ws[w] = rest
                    else:
                        self._drop(path, w)
        if self.recursive:
            p = path
            while p != "/":
                i = p.rfind("/")
                p = p[:i] if i > 0 else "/"
                pws = self.by_path.get(p)
                if pws:
                    for w, mode in pws.items():
                        if mode & RECURSIVE:
                            fired.add(w)
        if fired and self.fanout is not None:
            self.fanout(event_type, len(fired))  # as ZooKeeper counts: suppressed watchers included
        if suppress:
            fired -= suppress
        for w in fired:
            w.process(event_type, path, zxid, acl)
        return fired

    def remove_watcher(self, watcher: Watcher) -> None:
        for path in list(self.by_watcher.get(watcher, ())):
            self._drop(path, watcher)

    def has(self, path: str, watcher: Watcher, mode_mask: int) -> bool:
        return bool(self.by_path.get(path, {}).get(watcher, 0) & mode_mask)

    def remove(self, path: str, watcher: Watcher, mode_mask: int) -> bool:
        ws = self.by_path.get(path)
        if not ws or not ws.get(watcher, 0) & mode_mask:
            return False
        rest = ws[watcher] & ~mode_mask
        if rest:
            if ws[watcher] & RECURSIVE and not rest & RECURSIVE:
                self.recursive -= 1
            ws[watcher] = rest
        else:
            self._drop(path, watcher)
        return True

    def count(self) -> int:
        return sum(len(ws) for ws in self.by_path.values())

    def paths_of(self, watcher: Watcher) -> Iterable[str]:
        return self.by_watcher.get(watcher, ())

class WatchManager:
    """The tree's two tables and the operations on both (add, remove, setWatches catch-up)."""

    def __init__(self) -> None:
        self.data = WatchTable()
        self.child = WatchTable()

    def remove_watcher(self, watcher: Watcher) -> None:
        self.data.remove_watcher(watcher)
        self.child.remove_watcher(watcher)

    def set_fanout(self, fanout: Callable[[int, int], None] | None) -> None:
        """Report how many watchers each trigger finds (both tables), or stop with None."""
        self.data.fanout = fanout
        self.child.fanout = fanout

    def add_persistent(self, path: str, watcher: Watcher, recursive: bool) -> None:
        if recursive:
            self.data.add(path, watcher, RECURSIVE)
        else:
            self.data.add(path, watcher, PERSISTENT)
            self.child.add(path, watcher, PERSISTENT)

    def _masks(self, wtype: int) -> list[tuple[WatchTable, int]]:
        # Data/Children/Any cover every mode in their table, as ZooKeeper's containsWatcher(path, w) does.
        if wtype == WATCHER_CHILDREN:
            return [(self.child, STANDARD | PERSISTENT)]
        if wtype == WATCHER_DATA:
            return [(self.data, STANDARD | PERSISTENT | RECURSIVE)]
        if wtype == WATCHER_PERSISTENT:
            return [(self.data, PERSISTENT), (self.child, PERSISTENT)]
        if wtype == WATCHER_PERSISTENT_RECURSIVE:
            return [(self.data, RECURSIVE)]
        return [(self.data, STANDARD | PERSISTENT | RECURSIVE), (self.child, STANDARD | PERSISTENT)]

    def contains(self, path: str, watcher: Watcher, wtype: int) -> bool:
        return any(t.has(path, watcher, m) for t, m in self._masks(wtype))

    def remove(self, path: str, watcher: Watcher, wtype: int) -> bool:
        removed = False
        for t, m in self._masks(wtype):
            removed = t.remove(path, watcher, m) or removed
        return removed

    def count(self) -> int:
        return self.data.count() + self.child.count()

