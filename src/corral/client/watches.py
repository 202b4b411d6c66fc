"""Client-side watch registry: which local watchers to run for a notification, and what to re-register.

The server keeps one watch per (connection, path, table) and sends one notification per trigger, so
the client keeps the fan-out: many local watchers may wait on the same path. The tables and the
"materialize" rules are those of the Java client's `ZKWatchManager`:

* data watches (getData on an existing node, exists on an existing node) fire on NodeDataChanged,
  NodeCreated and NodeDeleted;
* exist watches (exists on a missing node) fire on NodeCreated (and, defensively, NodeDeleted/NodeDataChanged);
* child watches (getChildren on an existing node) fire on NodeChildrenChanged and NodeDeleted.

* persistent watches (addWatch PERSISTENT) fire on every event of their node and stay;
* persistent recursive watches (addWatch PERSISTENT_RECURSIVE) fire on NodeCreated, NodeDeleted and
  NodeDataChanged of their node and every descendant, and stay. The server may still send
  NodeChildrenChanged for a descendant that also has a standard child watch; that event is not
  given to recursive watchers (the Java client filters it the same way).

Standard watches are one-shot: a watcher is removed from every table it is taken from when it fires.
Paths are server paths (chroot included), because that is what SetWatches sends and notifications
carry. A watcher registered twice on one path runs once, as with Java's `Set<Watcher>`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..protocol import EventType
from .types import WatchedEvent

__all__ = ["WatchRegistry", "Watcher"]

Watcher = Callable[[WatchedEvent], object]
"""A watch callback: called with one `WatchedEvent`; may return an awaitable (run as a task)."""

DATA, EXIST, CHILD, PERSISTENT, RECURSIVE = "data", "exist", "child", "persistent", "recursive"

# removeWatches' WatcherType → the local tables it clears, as the Java client's ZKWatchManager.removeWatcher.
REMOVAL_TABLES: dict[int, tuple[str, ...]] = {
    1: (CHILD, PERSISTENT),                            # Children
    2: (DATA, EXIST, PERSISTENT, RECURSIVE),           # Data
    3: (DATA, EXIST, CHILD, PERSISTENT, RECURSIVE),    # Any (the order the Java client reports them)
    4: (PERSISTENT,),                                  # Persistent (3.9)
    5: (RECURSIVE,),                                   # PersistentRecursive (3.9)
}
# The event a removed watcher receives, by the table it was in.
REMOVAL_EVENT = {CHILD: EventType.ChildWatchRemoved, DATA: EventType.DataWatchRemoved,
                 EXIST: EventType.DataWatchRemoved, PERSISTENT: EventType.PersistentWatchRemoved,
                 RECURSIVE: EventType.PersistentWatchRemoved}


class WatchRegistry:
    """Five tables path → ordered set of watchers (a dict with None values keeps insertion order)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[Watcher, None]] = {}
        self.exist: dict[str, dict[Watcher, None]] = {}
        self.child: dict[str, dict[Watcher, None]] = {}
        self.persistent: dict[str, dict[Watcher, None]] = {}
        self.recursive: dict[str, dict[Watcher, None]] = {}
        self._tables = {DATA: self.data, EXIST: self.exist, CHILD: self.child, PERSISTENT: self.persistent,
                        RECURSIVE: self.recursive}

    def _table(self, kind: str) -> dict[str, dict[Watcher, None]]:
        return self._tables[kind]

    def add(self, kind: str, path: str, watcher: Watcher) -> None:
        """Register after the server confirmed the watch (the reply arrived), never before."""
        self._table(kind).setdefault(path, {})[watcher] = None

    def materialize(self, event_type: int, path: str) -> list[Watcher]:
        """Remove and return the watchers a node event triggers (each once, in registration order)."""
        out: dict[Watcher, None] = {}
        if event_type in (EventType.NodeDataChanged, EventType.NodeCreated):
            out.update(self.data.pop(path, {}))
            out.update(self.exist.pop(path, {}))
        elif event_type == EventType.NodeChildrenChanged:
            out.update(self.child.pop(path, {}))
        elif event_type == EventType.NodeDeleted:
            out.update(self.data.pop(path, {}))
            out.update(self.exist.pop(path, {}))
            out.update(self.child.pop(path, {}))
        else:
            return []
        out.update(self.persistent.get(path, {}))
        if event_type != EventType.NodeChildrenChanged and self.recursive:
            p = path
            while True:  # the node and each ancestor, up to the root
                out.update(self.recursive.get(p, {}))
                if p == "/":
                    break
                i = p.rfind("/")
                p = p[:i] if i > 0 else "/"
        return list(out)

    def remove_path(self, path: str, kinds: tuple[str, ...]) -> list[tuple[Watcher, str]]:
        """Remove every watcher of `path` in the given tables; returns (watcher, table) pairs."""
        out: list[tuple[Watcher, str]] = []
        for kind in kinds:
            out.extend((w, kind) for w in self._tables[kind].pop(path, {}))
        return out

    def remove(self, watcher: Watcher) -> None:
        """Forget a watcher everywhere (e.g. an async iterator that was closed). The server-side watch stays
        until it fires; its notification then simply finds no local watcher."""
        for table in self._tables.values():
            for path in [p for p, ws in table.items() if watcher in ws]:
                ws = table[path]
                del ws[watcher]
                if not ws:
                    del table[path]

    def drain(self) -> list[Watcher]:
        """Remove and return every watcher (session ended)."""
        out: dict[Watcher, None] = {}
        for table in self._tables.values():
            for ws in table.values():
                out.update(ws)
            table.clear()
        return list(out)

    def paths(self) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
        """(data, exist, child, persistent, recursive) paths to re-register after a reconnect."""
        return (list(self.data), list(self.exist), list(self.child), list(self.persistent),
                list(self.recursive))

    def __len__(self) -> int:
        return sum(len(ws) for t in self._tables.values() for ws in t.values())
