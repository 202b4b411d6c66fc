"""A snapshot's node records loaded straight into a `DataTree`: the hot loop of recovery, compiled.

Why a module of its own: it runs a million times for a million znodes, and compiled (it is listed in
`corral._compiled`) it costs about half of what the same loop costs as Python. The loop builds each Node
in its final form, with nothing in between: the path string decoded once becomes both the key of
`DataTree.nodes` and the entry in the parent's children; a leaf gets no children container; the Stat's
equal fields share one int object (in the pure build a large int is an object of 32 bytes: a node that
was never changed has czxid = mzxid = pzxid and ctime = mtime). Siblings come in a row in the file's
pre-order, so the parent found for one is reused for the next without slicing its path again.

`data` may be a memory map of the file: `release(count, offset)` is called every `RELEASE_EVERY` nodes,
so the caller can checksum the bytes before `offset` and drop them from memory (see snapshot.py).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable

from ..tree.acl import AclList
from ..tree.datatree import LIMIT_NODE, QUOTA_ROOT, DataTree, Node, is_ephemeral_owner

_I = struct.Struct(">i")
#: DataNode's `long acl` then StatPersisted: czxid, mzxid, ctime, mtime, version, cversion, aversion,
#: ephemeralOwner, pzxid.
KEY_STAT = struct.Struct(">qqqqqiiiqq")
RELEASE_EVERY = 16384


class NodeRecordError(Exception):
    """A node record that cannot be loaded; the snapshot reader names the file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def load_nodes(tree: DataTree, data: bytes | mmap.mmap, off: int, acls: dict[int, AclList],
               release: Callable[[int, int], None] | None = None) -> int:
    """The node records (pre-order, parents first) from `off` up to the "/" ending them; returns the
    offset after that marker. Raises NodeRecordError."""
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
            key, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid = unpack_ks(data, off)
            off += ks_size
            acl = acls.get(key)
            if acl is None:
                raise NodeRecordError(off, f"node {p!r} refers to ACL {key}, not in the ACL map")
            node = Node(d, acl, czxid, ctime, owner)
            if mzxid != czxid:
                node.mzxid = mzxid
            if pzxid != czxid:
                node.pzxid = pzxid
            if mtime != ctime:
                node.mtime = mtime
            if version:
                node.version = version
            if cversion:
                node.cversion = cversion
            if aversion:
                node.aversion = aversion
            if p:
                if parent is None or not p.startswith(prefix) or p.find("/", len(prefix)) >= 0:
                    i = p.rfind("/")
                    if i < 0:
                        raise NodeRecordError(off, f"node path {p!r} does not start with /")
                    parent = nodes.get(p[:i] if i > 0 else "/")
                    if parent is None:
                        raise NodeRecordError(off, f"node {p!r} comes before its parent")
                    prefix = p[:i + 1]
                nodes[p] = node
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
                nodes["/"] = node
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
