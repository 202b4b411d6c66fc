"""Apache ZooKeeper's tree digest (DigestCalculator + NodeHashMapImpl + AdHash, digest version 2).

Why this exact function: ZooKeeper 3.6+ writes the digest into every snapshot (ZxidDigest) and every
proposal (TxnDigest), and compares it after loading and after each replayed transaction. A corral
snapshot that Apache loads, and a corral member of a mixed ensemble, must produce the same number or
Apache reports a digest mismatch; `corral migrate check` compares it across members.

The digest of a node is CRC32 over (path as UTF-8, data if not null, then 60 bytes: czxid, mzxid,
pzxid, ctime, mtime as longs, version, cversion, aversion as ints, ephemeralOwner as a long), with the
*stored* cversion (the count of child creates, StatPersisted's, not the client's Stat value) and the
stored ephemeralOwner (containers and TTL nodes keep their markers). The root is digested under the
path "" (ZooKeeper maps "/" to ""). Nodes whose path starts with "/zookeeper/" count 0 (ZooKeeper left
the locally-updated quota nodes out); "/zookeeper" itself counts. The tree digest is the sum of the
node digests as a Java long (64-bit wrap-around), so it can be kept up to date by adding and subtracting.

Pure functions of their arguments: no tree state, no I/O.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from ..protocol.inline import i32_at
from .datatree import AT_CVERSION, AT_FLAGS, LEAF_CVERSION, LEAF_HEAD_SIZE, LEAF_NULL, LEAF_OWNER, Node, persisted

if TYPE_CHECKING:
    from .datatree import DataTree

DIGEST_VERSION: Final = 2
EXCLUDED_PREFIX: Final = "/zookeeper/"
DIGEST_STAT: Final = struct.Struct(">qqqqqiiiq")  # the stat fields DigestCalculator adds after path and data
_MASK: Final = (1 << 64) - 1
_UNUSUAL: Final = LEAF_OWNER | LEAF_CVERSION


def to_long(value: int) -> int:
    """`value` wrapped to a signed 64-bit Java long."""
    value &= _MASK
    return value - (1 << 64) if value >> 63 else value


def node_digest(path: str, data: bytes | None, czxid: int, mzxid: int, pzxid: int, ctime: int, mtime: int,
                version: int, cversion: int, aversion: int, ephemeral_owner: int) -> int:
    """DigestCalculator.calculateDigest: a non-negative 32-bit value (0 for paths under /zookeeper/)."""
    if path.startswith(EXCLUDED_PREFIX):
        return 0
    crc = zlib.crc32(b"" if path == "/" else path.encode("utf-8", "surrogatepass"))
    if data is not None:
        crc = zlib.crc32(data, crc)
    return zlib.crc32(DIGEST_STAT.pack(czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
                                       ephemeral_owner), crc)


def digest_of(path: str, node: Node | bytes) -> int:
    """The digest of one of corral's nodes, a Node or a packed leaf record (StatPersisted's fields).

    A usual leaf (stored owner and cversion as clients see them) is read straight from its record: no
    ACL lookup and no tuple of every field, as `persisted` builds (the digest log runs this once per
    write while it is kept)."""
    if isinstance(node, bytes):
        flags = node[AT_FLAGS]
        if not flags & _UNUSUAL:
            if path.startswith(EXCLUDED_PREFIX):
                return 0
            # The digest's 60 bytes are the record's own fields in another order (czxid mzxid | pzxid |
            # ctime mtime version | cversion, stored = the client's / 2 | aversion owner): one CRC over
            # the path, the data and those slices, nothing unpacked and packed again.
            cversion = i32_at(node, AT_CVERSION) >> 1
            return zlib.crc32(b"".join((
                b"" if path == "/" else path.encode("utf-8", "surrogatepass"),
                b"" if flags & LEAF_NULL else node[LEAF_HEAD_SIZE:],
                node[0:16], node[60:68], node[16:36], cversion.to_bytes(4, "big", signed=True), node[40:52])))
    d, _, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner = persisted(node)
    return node_digest(path, d, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner)


def sum_digests(digests: Iterable[int]) -> int:
    """AdHash: the node digests added as Java longs."""
    return to_long(sum(digests))


def tree_digest(tree: DataTree) -> int:
    """NodeHashMapImpl.getDigest of the whole tree: what ZooKeeper compares with a snapshot's ZxidDigest."""
    return sum_digests(digest_of(path, node) for path, node in tree.nodes.items())
