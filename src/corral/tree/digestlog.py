"""The history of tree digests the AdminServer's `hash` command answers (Apache's DataTree.digestLog).

Apache keeps its tree digest up to date on every change and, after each transaction whose zxid is a
multiple of 128 (DIGEST_LOG_INTERVAL), appends (zxid, digest version, digest) to a list of at most 1024
entries (DIGEST_LOG_LIMIT). Operators compare those lists between members to find where replicas
diverged, so the digest at each such zxid must be exactly Apache's (`digest.py`).

Why corral keeps it only on demand: a node digest is a CRC32 over the path, the data and the stat,
about a microsecond in Python, as much as a fifth of a write's whole CPU (`bench.core_cpu`). Nobody
reads the history but `hash`, so the AdminServer attaches the log to the tree at the first `hash`
(one digest of the whole tree, then) and detaches it when `hash` has not been asked for a while.

It is also attached at start-up (`at_recovery`), so that a server just started on an idle ensemble
has the entries its log replay passes through, as Apache's replay gives it: `corral migrate check`
compares them right after a member is swapped in. Digesting a whole tree at start-up would cost
seconds at a million znodes, so the starting digest is the one the snapshot carries (Apache's 3.6+
ZxidDigest, which corral writes too): the digest of the tree after txn Z. A corral snapshot is exact
at Z; an Apache one is fuzzy (taken while txns were applied) and exact only once the replay has
applied Z, so until then the log waits (`start_after`), as Apache's DataTree does until it reaches
`digestFromLoadedSnapshot`. Without a usable digest only a small tree is digested whole.

While attached it does the least that gives the digests at the 128-multiples: on the first change of
a path within an interval it remembers that path's digest before the change (0 for a path that did
not exist; free when the path was digested at an earlier checkpoint and is still in `known`), and at
the checkpoint it digests the changed paths once each, however often they changed in between. A path
changed by many transactions of one interval (a parent receiving children, a hot node) costs one
digest per interval, not one per change; a working set of up to KNOWN_LIMIT paths changed again and
again (setData over the same keys) costs one digest per change, not two. Pure: the tree calls
`before`/`after` around each txn; no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from ..protocol import (
    CloseSessionTxn,
    CreateContainerTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    Ops,
    SetACLTxn,
    SetDataTxn,
)
from .digest import DIGEST_VERSION, EXCLUDED_PREFIX, digest_of, to_long, tree_digest

if TYPE_CHECKING:
    from .datatree import DataTree

INTERVAL: Final = 128  # DataTree.DIGEST_LOG_INTERVAL: zxids that are multiples of it are logged
LIMIT: Final = 1024  # DataTree.DIGEST_LOG_LIMIT: entries kept
_CREATES: Final = frozenset({Ops.create, Ops.create2, Ops.createContainer, Ops.createTTL})
_DELETES: Final = frozenset({Ops.delete, Ops.deleteContainer})
_SET_DATA: Final = int(Ops.setData)
_SET_ACL: Final = int(Ops.setACL)
_CLOSE_SESSION: Final = int(Ops.closeSession)
_MULTI: Final = int(Ops.multi)
_PATH_ONLY: Final = (SetDataTxn, SetACLTxn)
_WITH_PARENT: Final = (CreateTxn, CreateContainerTxn, CreateTTLTxn, DeleteTxn)


def _parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


KNOWN_LIMIT: Final = 65_536  # digests kept from earlier checkpoints (~7 MB at most); beyond it, the last one's only
SMALL_TREE: Final = 50_000  # without a usable snapshot digest, trees up to this size are digested whole (~0.1 s)


class DigestLog:
    """Attached to a DataTree (`tree.digest_log`), which calls `before` and `after` around each txn."""

    def __init__(self, digest: int, start_after: int = 0, known_limit: int = KNOWN_LIMIT) -> None:
        """`digest`: the tree's digest now, or (`start_after` > 0) after the txn `start_after`, which the
        tree has yet to apply: until then the hooks do nothing (the tree is a fuzzy snapshot's)."""
        self.start_after = start_after
        self.digest = digest  # the tree digest at the last checkpoint (or when the log was attached)
        self.old: dict[str, int] = {}  # path -> its digest before its first change since the last checkpoint
        # path -> its digest now, for paths digested at a checkpoint and not changed since (every change
        # goes through `before`, which moves the path into `old` first, so an entry here is never stale)
        self.known: dict[str, int] = {}
        self.known_limit = known_limit
        self.entries: deque[tuple[int, int]] = deque(maxlen=LIMIT)  # (zxid, digest)
        self.last_read = 0.0  # the AdminServer's clock reading at the last `hash` (it drops an idle log)

    def history(self) -> list[dict[str, int]]:
        """The entries as Apache's `hash` command writes its ZxidDigest objects (Jackson, snake_case
        names), oldest first."""
        return [{"zxid": z, "digest": d, "digest_version": DIGEST_VERSION} for z, d in self.entries]

    # ---- the two hooks -----------------------------------------------------------------------------

    def before(self, tree: DataTree, type_: int, txn: object, session: int) -> None:
        """Remember the digests of the paths the txn is about to change (first change in the interval)."""
        if self.start_after:
            return
        if type_ in (_SET_DATA, _SET_ACL):
            if isinstance(txn, _PATH_ONLY):
                path = txn.path
                if path is not None and path not in self.old:
                    self._touch(tree, path)
        elif type_ in _CREATES or type_ in _DELETES:
            if isinstance(txn, _WITH_PARENT):
                path = txn.path
                if path is not None:
                    self._touch(tree, path)
                    self._touch(tree, _parent(path))
        elif type_ == _CLOSE_SESSION:
            paths: list[str] = []
            if isinstance(txn, CloseSessionTxn) and txn.paths2Delete is not None:
                paths.extend(p for p in txn.paths2Delete if p is not None)
            paths.extend(tree.ephemerals.get(session, ()))
            for p in paths:
                self._touch(tree, p)
                self._touch(tree, _parent(p))
        elif type_ == _MULTI:
            ops: list[tuple[int, object]] = getattr(txn, "ops", [])
            for sub_type, sub in ops:
                self.before(tree, sub_type, sub, session)

    def after(self, tree: DataTree, zxid: int) -> None:
        """After the txn `zxid`: at a multiple of 128, digest the changed paths and log the tree digest."""
        if self.start_after:
            if zxid < self.start_after:
                return
            if zxid > self.start_after:  # the digest's txn was never applied here: its value tells nothing
                tree.digest_log = None
                return
            self.start_after = 0  # the tree is exact at the digest's zxid now: `digest` is its digest
        if zxid % INTERVAL != 0:
            return
        nodes = tree.nodes
        total = self.digest
        now: dict[str, int] = {}
        for path, before in self.old.items():
            node = nodes.get(path)
            d = digest_of(path, node) if node is not None else 0
            now[path] = d
            total += d - before
        self.digest = to_long(total)
        self.entries.append((zxid, self.digest))
        if len(self.known) + len(now) > self.known_limit:
            self.known = now
        else:
            self.known.update(now)
        self.old = {}

    def _touch(self, tree: DataTree, path: str) -> None:
        if path in self.old or path.startswith(EXCLUDED_PREFIX):
            return
        d = self.known.get(path)
        if d is None:
            node = tree.nodes.get(path)
            d = digest_of(path, node) if node is not None else 0
        self.old[path] = d


def attach(tree: DataTree) -> DigestLog:
    """Give `tree` a digest log, starting from the whole tree's digest now (between two txns)."""
    log = DigestLog(tree_digest(tree))
    tree.digest_log = log
    return log


def at_recovery(tree: DataTree, digest_zxid: int, version: int, digest: int,
                small: int = SMALL_TREE) -> DigestLog | None:
    """At start-up, a log for `tree` just loaded from a snapshot (`tree.last_zxid`: its zxid) that
    carries the digest `digest` after txn `digest_zxid` (0: none; Apache writes zxid 0 before its first
    txn and after a SNAP from its leader), attached; or None when the starting digest would cost a
    digest of a large tree (the first `hash` attaches one then). Cheap but for small trees."""
    if digest_zxid > 0 and version == DIGEST_VERSION and digest_zxid >= tree.last_zxid:
        # Equal: the snapshot is exact (corral's, or Apache's taken with no txn in flight).
        log = DigestLog(digest, start_after=digest_zxid if digest_zxid > tree.last_zxid else 0)
    elif len(tree.nodes) <= small:
        # No digest, or one Apache would not compare either (older than the snapshot: a new leader's,
        # whose zxid names no txn): digest the tree, as Apache computes it while loading.
        log = DigestLog(tree_digest(tree))
    else:
        return None
    tree.digest_log = log
    return log
