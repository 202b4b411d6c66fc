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
from typing import Final

from ..protocol.inline import i32_at, i64_at
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

#: A node record's DataNode `long acl` then StatPersisted (czxid, mzxid, ctime, mtime, version, cversion,
#: aversion, ephemeralOwner, pzxid), after its path and data: its size, and where the two fields are that
#: tell a common leaf (both 0) from the rest.
# (Final: compiled, a constant is inlined; any other module-level name is a dict lookup at each use.)
STAT_END: Final = 68
AT_CVERSION_IN_FILE: Final = 44
AT_OWNER_IN_FILE: Final = 52
RELEASE_EVERY: Final = 16384
WINDOW: Final = 1 << 20  # bytes copied out of the file at a time
CACHE_LIMIT: Final = 4096  # distinct packed dataLengths / ACL numbers kept
_COUNTS: Final = struct.Struct(">ii")  # a packed leaf's dataLength and numChildren
_ACL_FLAGS: Final = struct.Struct(">iB")  # a packed leaf's ACL number and flags


class NodeRecordError(Exception):
    """A node record that cannot be loaded; the snapshot reader names the file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


#: The ACL of a node whose ACL number the snapshot's ACL map lacks, until a logged txn sets it: no
#: permission for anyone (only a superuser), so a node is never left more open than it was.
UNRESOLVED_ACL: Final[AclList] = ((0, "world", "anyone"),)


def load_nodes(tree: DataTree, data: bytes | mmap.mmap, off: int, acls: dict[int, AclList],
               release: Callable[[int, int], None] | None = None, unresolved: list[str] | None = None,
               window: int = WINDOW) -> int:
    """The node records (pre-order, parents first) from `off` up to the "/" ending them; returns the
    offset after that marker. Raises NodeRecordError.

    A node may refer to an ACL number that is not in the map: Apache's snapshots are fuzzy, the ACL map
    is written before the nodes, and a node created (or given a new ACL) meanwhile has a number the map
    never saw. Apache loads such a node anyway (ReferenceCountedACLCache.addUsage ignores the number,
    ZOOKEEPER-3306) and the logged create or setACL after the snapshot's zxid sets its ACL again on replay.
    So does corral: the node gets `UNRESOLVED_ACL` until then, and its path goes to `unresolved` (the
    loader raises instead when no list is given).

    The records are read from `bytes` windows of about `window` bytes copied out of `data` (a window
    starts at the record that did not fit in the last one): on `bytes` the compiled loop reads ints in
    place and slices directly, where a memory map costs a slice object, a tuple and an int object per
    field read, about a third of the load."""
    nodes = tree.nodes
    ephemerals = tree.ephemerals
    containers = tree.containers
    end = len(data)
    data_size = 0
    count = 0
    quota_paths: list[str] = []
    acl_ids: dict[int, int] = {key: aclmod.acl_id(acl) for key, acl in acls.items()}
    counts_cache: dict[int, bytes] = {}  # a leaf's packed (dataLength, numChildren 0) by dataLength
    acl_cache: dict[int, bytes] = {}  # a leaf's packed (ACL number, flags) by ACL number * 2 + null flag
    last_key = -2  # the last node's ACL key and number: most nodes of a tree share their parent's ACL
    last_acl_id = acl_ids.get(last_key, -1)  # (consistent from the start, whatever the map holds)
    last_dlen = -1  # and the last common leaf's data length, with its packed counts
    last_counts = b""
    quota_root = QUOTA_ROOT
    parent: Node | None = None
    prefix = "\0"  # the last parent's path + "/": no path starts with it until a parent is found
    p = ""
    window = max(window, 8)  # a window holds at least a path length and a data length
    base = off  # the file offset of buf[0]
    buf: bytes = data[base:base + window]
    size = len(buf)
    at = 0  # the record being read, in buf
    try:
        while True:
            # A window ends inside the record at `at`: the next one starts there (and holds all of it).
            if at + 8 > size:
                base += at
                at = 0
                buf = data[base:base + window]
                size = len(buf)
                if size < 4:
                    raise NodeRecordError(base, "cut short in the node records")
            n = i32_at(buf, at)
            if n < 0 or base + at + 4 + n > end:
                raise NodeRecordError(base + at, "null path" if n < 0 else "cut short in the node records")
            need = 4 + n + 4 + STAT_END
            if at + need > size:
                base += at
                at = 0
                buf = data[base:base + max(window, need)]
                size = len(buf)
            q = at + 4 + n  # after the path
            p = buf[at + 4:q].decode("utf-8", "replace")
            if p == "/":
                return _finish(tree, data_size, quota_paths, base + q)
            if q + 4 > size:
                raise NodeRecordError(base + q, "cut short in the node records")
            dn = i32_at(buf, q)
            q += 4
            d: bytes | None = None
            if dn >= 0:
                need = q + dn + STAT_END
                if need > size:
                    if base + need > end:
                        raise NodeRecordError(base + q - 4, "cut short in the node records")
                    base += at
                    q -= at
                    at = 0
                    buf = data[base:base + max(window, q + dn + STAT_END)]
                    size = len(buf)
                d = buf[q:q + dn]
                q += dn
                data_size += dn
            elif dn != -1:
                raise NodeRecordError(base + q - 4, f"bad data length {dn}")
            if q + STAT_END > size:
                raise NodeRecordError(base + q, f"unreadable node record after {p!r}: cut short")
            key = i64_at(buf, q)
            acl_id = last_acl_id if key == last_key else acl_ids.get(key, -1)
            last_key = key
            last_acl_id = acl_id
            if acl_id < 0:
                if unresolved is None:
                    raise NodeRecordError(base + q + STAT_END, f"node {p!r} refers to ACL {key}, not in the ACL map")
                unresolved.append(p)
                acl_id = aclmod.acl_id(aclmod.intern(UNRESOLVED_ACL))
            cversion = i32_at(buf, q + AT_CVERSION_IN_FILE)
            owner = i64_at(buf, q + AT_OWNER_IN_FILE)
            if owner == 0 and cversion == 0:
                # The common leaf: the file's czxid..owner fields are the record's bytes as they are (a
                # cversion and owner of 0 read the same to a client), so the record is copied from the file
                # around the dataLength/numChildren and ACL/flags it lacks (both packed once per value).
                dlen = 0 if d is None else dn
                if dlen == last_dlen:
                    counts = last_counts
                else:
                    got = counts_cache.get(dlen)
                    if got is None:
                        got = _COUNTS.pack(dlen, 0)
                        if len(counts_cache) < CACHE_LIMIT:
                            counts_cache[dlen] = got
                    counts = last_counts = got
                    last_dlen = dlen
                ak = acl_id * 2 + (1 if d is None else 0)
                aclf = acl_cache.get(ak)
                if aclf is None:
                    aclf = _ACL_FLAGS.pack(acl_id, LEAF_NULL if d is None else 0)
                    if len(acl_cache) < CACHE_LIMIT:
                        acl_cache[ak] = aclf
                rec = b"".join((buf[q + 8:q + 60], counts, buf[q + 60:q + 68], aclf, b"" if d is None else d))
            else:
                rec = pack_leaf(d, acl_id, i64_at(buf, q + 8), i64_at(buf, q + 16), i64_at(buf, q + 24),
                                i64_at(buf, q + 32), i32_at(buf, q + 40), cversion, i32_at(buf, q + 48), owner,
                                i64_at(buf, q + 60))
            at = q + STAT_END
            if p:
                if parent is None or not p.startswith(prefix) or p.find("/", len(prefix)) >= 0:
                    i = p.rfind("/")
                    if i < 0:
                        raise NodeRecordError(base + at, f"node path {p!r} does not start with /")
                    pp = p[:i] if i > 0 else "/"
                    pe = nodes.get(pp)
                    if pe is None:
                        raise NodeRecordError(base + at, f"node {p!r} comes before its parent")
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
                if p.startswith(quota_root):
                    quota_paths.append(p)
            else:
                nodes["/"] = rec
            count += 1
            if release is not None and count % RELEASE_EVERY == 0:
                release(count, base + at)

    except IndexError as e:  # a length the checks above missed: never a crash, the record is named
        raise NodeRecordError(base + at, f"unreadable node record after {p!r}: {e}")

def _finish(tree: DataTree, data_size: int, quota_paths: list[str], off: int) -> int:
    tree.data_size += data_size
    for p in quota_paths:
        if p.startswith(QUOTA_ROOT + "/") and p.endswith("/" + LIMIT_NODE):
            tree.quota_roots.add(p[len(QUOTA_ROOT):-len(LIMIT_NODE) - 1])
    return off
