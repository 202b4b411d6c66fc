"""A tree's node records written out for a snapshot: the hot loop of snapshotting, compiled.

Why a module of its own: the snapshot child runs it once per znode, and interpreted it cost ~3.5 µs a
node — 2.9 s at 818k znodes. While the child runs, the log a restart after a crash must commit again
grows (a server killed mid-snapshot recovers from the previous one), so the writer's speed sets how much
a crash leaves to replay. Compiled (it is listed in `corral._compiled`) it takes ~1.3 µs a node.

Two things make it so besides compiling. The nodes are written in `DataTree.nodes` order when that order
has every parent first (`acl_keys` checks), not by a walk from "/" that looks each node up by its path:
at a million znodes each lookup is a cache miss. And the common leaf — a packed record (`pack_leaf` in
tree/datatree.py) whose stored owner and cversion read the same to a client and whose cversion is 0 —
holds the file's czxid..ephemeralOwner fields in the file's order, its data length in the file's form,
and its pzxid: its record is copied from those bytes around the ACL key. Every other entry goes through
`persisted`. Either way a record is byte for byte what struct packing of `persisted` gives.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Final

from ..protocol.inline import i32_at
from ..tree import acl as aclmod
from ..tree.acl import AclList
from ..tree.datatree import (
    AT_ACL,
    AT_CVERSION,
    AT_DATA_LEN,
    AT_FLAGS,
    AT_PZXID,
    LEAF_CVERSION,
    LEAF_HEAD_SIZE,
    LEAF_NULL,
    LEAF_OWNER,
    DataTree,
    Node,
    persisted,
)
from ..tree.digest import DIGEST_STAT

_I: Final = struct.Struct(">i")
_Q: Final = struct.Struct(">q")
_KEY_STAT: Final = struct.Struct(">qqqqqiiiqq")  # DataNode's `long acl` then StatPersisted
NULL_DATA: Final = b"\xff\xff\xff\xff"
CHUNK: Final = 1 << 20  # bytes handed to `emit` at a time
PROGRESS_EVERY: Final = 100000
_ODD: Final = LEAF_OWNER | LEAF_CVERSION


def acl_keys(tree: DataTree, open_acl: AclList, open_key: int) -> tuple[dict[AclList, int], bool]:
    """ZooKeeper's ACL cache numbering: `open_acl` is `open_key` outside the map, the other lists count up
    from 1 in the order the nodes first use them (the order `tree.nodes` iterates in). And whether that
    order has "/" first and every node after its parent, so that `write_nodes` may follow it.

    It nearly always does: a node is inserted after its parent (a create needs it) and a dict keeps a
    key's place when its value changes; only a delete removes a key. The exception is a replay over a
    fuzzy snapshot (Apache's), where a parent may be deleted and created again while a child the snapshot
    already held stays — the child then comes first."""
    keys: dict[AclList, int] = {open_acl: open_key}
    seen: set[int] = set()
    last = -1
    parents: set[str] = set()  # the Nodes met so far (only a Node has children)
    prefix = "/"  # the last checked parent's path + "/"
    ordered = True
    first = True
    for path, e in tree.nodes.items():
        if first:
            first = False
            ordered = path == "/"
        elif ordered and (not path.startswith(prefix) or path.find("/", len(prefix)) >= 0):
            i = path.rfind("/")
            pp = path[:i] if i > 0 else "/"
            ordered = pp in parents
            prefix = pp + "/" if i > 0 else "/"
        if isinstance(e, Node):
            parents.add(path)
            acl = e.acl
            if acl not in keys:
                keys[acl] = len(keys)
            continue
        i = i32_at(e, AT_ACL)
        if i == last or i in seen:
            continue
        seen.add(i)
        last = i
        acl = aclmod.acl_by_id(i)
        if acl not in keys:
            keys[acl] = len(keys)
    return keys, ordered


def write_nodes(tree: DataTree, keys: dict[AclList, int], excluded: str, emit: Callable[[bytes], object],
                progress: Callable[[int], None] | None, in_dict_order: bool) -> int:
    """Every node record, parents before children, handed to `emit` in chunks of about `CHUNK` bytes;
    returns the tree digest's sum (DigestCalculator: a CRC32 of path, data and stat per node outside
    `excluded`), not yet wrapped to a Java long.

    `in_dict_order` (when `acl_keys` found it parents-first): the order of `tree.nodes`, read straight
    through; otherwise a walk from "/" (pre-order, as ZooKeeper writes), which looks every node up by
    its path. A reader needs only parents before children (DataTree.deserialize finds each node's parent
    by path), and at a million znodes the lookups, each a cache miss in a table of that size, were about
    a third of the writing."""
    nodes = tree.nodes
    out = _Out(keys, excluded, emit, progress)
    if in_dict_order:
        for path, e in nodes.items():
            out.node(path, e)
        return out.finish()
    stack = ["/"]
    while stack:
        path = stack.pop()
        e = nodes[path]
        out.node(path, e)
        if isinstance(e, Node) and e.kids is not None:
            stack.extend(e.kids.paths)
    return out.finish()


class _Out:
    """The records and the digest as they are made: one node at a time, in the caller's order."""

    def __init__(self, keys: dict[AclList, int], excluded: str, emit: Callable[[bytes], object],
                 progress: Callable[[int], None] | None) -> None:
        self.keys = keys
        self.key_of_id: dict[int, bytes] = {}  # a leaf's ACL number -> the file's 8-byte ACL key
        for acl, key in keys.items():
            self.key_of_id[aclmod.acl_id(acl)] = _Q.pack(key)
        self.excluded = excluded
        self.emit = emit
        self.progress = progress
        self.parts: list[bytes] = []
        self.size = 0
        self.digest = 0
        self.count = 0
        self.last_id = -1
        self.last_key = b""

    def node(self, path: str, e: Node | bytes) -> None:
        pb = b"" if path == "/" else path.encode("utf-8", "surrogatepass")
        if isinstance(e, Node) or e[AT_FLAGS] & _ODD or i32_at(e, AT_CVERSION) != 0:
            d, acl, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner = persisted(e)
            rec = b"".join((_I.pack(len(pb)), pb, NULL_DATA if d is None else _I.pack(len(d)) + d,
                            _KEY_STAT.pack(self.keys[acl], czxid, mzxid, ctime, mtime, version, cversion, aversion,
                                           owner, pzxid)))
            dstat = DIGEST_STAT.pack(czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner)
        else:
            i = i32_at(e, AT_ACL)
            if i != self.last_id:
                self.last_key = self.key_of_id[i]
                self.last_id = i
            if e[AT_FLAGS] & LEAF_NULL:
                d = None
                dl = NULL_DATA
            else:
                d = e[LEAF_HEAD_SIZE:]
                dl = e[AT_DATA_LEN:AT_DATA_LEN + 4]
            head = e[:AT_DATA_LEN]  # czxid, mzxid, ctime, mtime, version, cversion (0), aversion, owner
            pz = e[AT_PZXID:AT_PZXID + 8]
            rec = b"".join((_I.pack(len(pb)), pb, dl, b"" if d is None else d, self.last_key, head, pz))
            dstat = b"".join((head[:16], pz, head[16:]))
        self.parts.append(rec)
        self.size += len(rec)
        # digest.digest_of's value, from the bytes this record was just made of (no second encoding of
        # the path or slice of the data); tests/durability/test_apache_format.py checks the sum
        # against digest.tree_digest
        if not path.startswith(self.excluded):
            c = zlib.crc32(pb)
            if d is not None:
                c = zlib.crc32(d, c)
            self.digest += zlib.crc32(dstat, c)
        self.count += 1
        if self.size >= CHUNK:
            self.emit(b"".join(self.parts))
            self.parts.clear()
            self.size = 0
        if self.progress is not None and self.count % PROGRESS_EVERY == 0:
            self.progress(self.count)

    def finish(self) -> int:
        if self.parts:
            self.emit(b"".join(self.parts))
            self.parts.clear()
        return self.digest
