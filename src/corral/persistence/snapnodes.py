"""A snapshot's node records loaded straight into a `DataTree`: the hot loop of recovery, compiled.

Why a module of its own: it runs a million times for a million znodes, and compiled (it is listed in
`corral._compiled`) it costs about half of what the same loop costs as Python. The loop builds each znode
in its final form, with nothing in between: the path string decoded once becomes both the key of
`DataTree.nodes` and the entry in the parent's children; every node is first stored as a packed leaf
record (one `bytes`, see `pack_leaf` in tree/datatree.py), and the one that gets a child (the next
records are its descendants, in the file's pre-order) is turned into a Node then. Siblings come in a row,
so the parent found for one is reused for the next without slicing its path again.

`data` may be a memory map of the file: `release(count, offset)` is called every `RELEASE_EVERY` nodes,
so the caller can checksum the bytes before `offset` and drop them from memory (see snapshot.py).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable

from ..tree import acl as aclmod
from ..tree.acl import AclList
from ..tree.datatree import (
    LEAF_NULL,
    LIMIT_NODE,
    QUOTA_ROOT,
    DataTree,
    Node,
    as_node,
    is_ephemeral_owner,
    pack_leaf,
)

_I = struct.Struct(">i")
#: DataNode's `long acl` then StatPersisted: czxid, mzxid, ctime, mtime, version, cversion, aversion,
#: ephemeralOwner, pzxid.
KEY_STAT = struct.Struct(">qqqqqiiiqq")
RELEASE_EVERY = 16384
_COUNTS = struct.Struct(">ii")  # a packed leaf's dataLength and numChildren
_ACL_FLAGS = struct.Struct(">iB")  # a packed leaf's ACL number and flags


class NodeRecordError(Exception):
    """A node record that cannot be loaded; the snapshot reader names the file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


#: The ACL of a node whose ACL number the snapshot's ACL map lacks, until a logged txn sets it: no
#: permission for anyone (only a superuser), so a node is never left more open than it was.
UNRESOLVED_ACL: AclList = ((0, "world", "anyone"),)


def load_nodes(tree: DataTree, data: bytes | mmap.mmap, off: int, acls: dict[int, AclList],
               release: Callable[[int, int], None] | None = None, unresolved: list[str] | None = None) -> int:
    """The node records (pre-order, parents first) from `off` up to the "/" ending them; returns the
    offset after that marker. Raises NodeRecordError.

    A node may refer to an ACL number that is not in the map: Apache's snapshots are fuzzy, the ACL map
    is written before the nodes, and a node created (or given a new ACL) meanwhile has a number the map
    never saw. Apache loads such a node anyway (ReferenceCountedACLCache.addUsage ignores the number,
    ZOOKEEPER-3306) and the logged create or setACL after the snapshot's zxid sets its ACL again on replay.
    So does corral: the node gets `UNRESOLVED_ACL` until then, and its path goes to `unresolved` (the
    loader raises instead when no list is given)."""
    nodes = tree.nodes
    ephemerals = tree.ephemerals
    containers = tree.containers
    unpack_i = _I.unpack_from
    unpack_ks = KEY_STAT.unpack_from
    ks_size = KEY_STAT.size
    end = len(data)
    data_size = 0
    count = 0
    quota_paths: list[str] = []
    acl_ids: dict[int, int] = {key: aclmod.acl_id(acl) for key, acl in acls.items()}
    parent: Node | None = None
    prefix = "\0"  # the last parent's path + "/": no path starts with it until a parent is found
    p = ""
    try:
        while True:
            n: int = unpack_i(data, off)[0]
            off += 4
            if n < 0 or off + n > end:
                raise NodeRecordError(off - 4, "null path" if n < 0 else "cut short in the node records")
            p = data[off:off + n].decode("utf-8", "replace")
            off += n
            if p == "/":
                break
            n = unpack_i(data, off)[0]
            off += 4
            d: bytes | None = None
            if n >= 0:
                if off + n > end:
                    raise NodeRecordError(off - 4, "cut short in the node records")
                d = data[off:off + n]
                off += n
                data_size += n
            elif n != -1:
                raise NodeRecordError(off - 4, f"bad data length {n}")
            vals = unpack_ks(data, off)
            key: int = vals[0]
            acl_id = acl_ids.get(key, -1)
            if acl_id < 0:
                if unresolved is None:
                    raise NodeRecordError(off + ks_size, f"node {p!r} refers to ACL {key}, not in the ACL map")
                unresolved.append(p)
                acl_id = aclmod.acl_id(aclmod.intern(UNRESOLVED_ACL))
            cversion: int = vals[6]
            owner: int = vals[8]
            if owner == 0 and cversion == 0:
                # The common leaf: the file's czxid..owner fields are the record's bytes as they are (a
                # cversion and owner of 0 read the same to a client), so the record is copied from the
                # file around the dataLength/numChildren it lacks, not packed from ints again.
                rec = b"".join((data[off + 8:off + 60], _COUNTS.pack(0 if d is None else len(d), 0),
                                data[off + 60:off + 68], _ACL_FLAGS.pack(acl_id, LEAF_NULL if d is None else 0),
                                b"" if d is None else d))
                off += ks_size
            else:
                off += ks_size
                rec = pack_leaf(d, acl_id, vals[1], vals[2], vals[3], vals[4], vals[5], cversion, vals[7], owner,
                                vals[9])
            if p:
                if parent is None or not p.startswith(prefix) or p.find("/", len(prefix)) >= 0:
                    i = p.rfind("/")
                    if i < 0:
                        raise NodeRecordError(off, f"node path {p!r} does not start with /")
                    pp = p[:i] if i > 0 else "/"
                    pe = nodes.get(pp)
                    if pe is None:
                        raise NodeRecordError(off, f"node {p!r} comes before its parent")
                    if isinstance(pe, Node):
                        parent = pe
                    else:  # its first child: the leaf becomes a Node
                        parent = as_node(pe)
                        nodes[pp] = parent
                    prefix = p[:i + 1]
                nodes[p] = rec
                parent.add_child(p)
                data_size += len(p)
                if owner:
                    if is_ephemeral_owner(owner):
                        eph = ephemerals.get(owner)
                        if eph is None:
                            eph = ephemerals[owner] = set()
                        eph.add(p)
                    else:
                        containers.add(p)
                if p.startswith(QUOTA_ROOT):
                    quota_paths.append(p)
            else:
                nodes["/"] = rec
            count += 1
            if release is not None and count % RELEASE_EVERY == 0:
                release(count, off)
    except struct.error as e:
        raise NodeRecordError(off, f"unreadable node record after {p!r}: {e}")
    tree.data_size += data_size
    for p in quota_paths:
        if p.startswith(QUOTA_ROOT + "/") and p.endswith("/" + LIMIT_NODE):
            tree.quota_roots.add(p[len(QUOTA_ROOT):-len(LIMIT_NODE) - 1])
    return off
