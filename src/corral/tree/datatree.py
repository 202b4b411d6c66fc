"""The in-memory znode tree: nodes, full Stat bookkeeping, ephemerals by session, watches.

`apply(header, txn)` is the only way committed state changes: deterministic, no clocks, no I/O;
`time` and `zxid` come in the TxnHeader, so every replica applying the same transactions ends with
the same tree. Watches fire while applying, so a watcher's notification is queued before any reply
that reveals the change.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from mypy_extensions import i32 as I32

from ..protocol import (
    STAT_STRUCT,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    Record,
    SetACLTxn,
    SetDataTxn,
    Stat,
    TxnHeader,
)
from ..protocol.codes import (
    ERR_NODEEXISTS,
    ERR_NONODE,
    ERR_OK,
    ERR_RUNTIMEINCONSISTENCY,
    EVENT_NODE_CHILDREN_CHANGED,
    EVENT_NODE_CREATED,
    EVENT_NODE_DATA_CHANGED,
    EVENT_NODE_DELETED,
    OP_CHECK,
    OP_CLOSE_SESSION,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_SESSION,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_ERROR,
    OP_MULTI,
    OP_RECONFIG,
    OP_SET_ACL,
    OP_SET_DATA,
)
from ..protocol.inline import i32_at, i64_at
from . import acl as aclmod
from .acl import AclList
from .watches import STANDARD, Watcher, WatchManager

if TYPE_CHECKING:
    from .digestlog import DigestLog

CONTAINER_OWNER: Final = -0x8000000000000000  # Long.MIN_VALUE: EphemeralType.CONTAINER
TTL_MASK: Final = -0x100000000000000  # 0xFF00000000000000 as a signed long
SPECIAL_PATHS: Final = frozenset({"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"})
QUOTA_ROOT: Final = "/zookeeper/quota"
CONFIG_NODE: Final = "/zookeeper/config"
LIMIT_NODE: Final = "zookeeper_limits"
STATS_NODE: Final = "zookeeper_stats"


def parse_stats(data: bytes | None) -> dict[str, int]:
    """StatsTrack's parser: `count=1,bytes=2` or with extra `;key=value` pairs."""
    out: dict[str, int] = {}
    text = (data or b"").decode("utf-8", "replace")
    for part in re.split(r"[,;]+", text):
        k, _, v = part.partition("=")
        v = v.rstrip("=")
        try:
            out[k.strip()] = int(v)
        except ValueError:
            continue
    return out


def format_stats(fields: dict[str, int]) -> bytes:
    """StatsTrack.toString: count and bytes first; other keys (hard limits) after an extra '='."""
    rest = sorted(k for k in fields if k not in ("count", "bytes"))
    text = f"count={fields.get('count', 0)},bytes={fields.get('bytes', 0)}"
    if rest:
        text += "=" + "".join(f";{k}={fields[k]}" for k in rest)
    return text.encode()


def i32(v: int) -> int:
    """Wrap like a Java int (cversion and versions overflow as in ZooKeeper)."""
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def is_ttl_owner(owner: int) -> bool:
    return owner < 0 and owner & TTL_MASK == TTL_MASK and owner != CONTAINER_OWNER


def is_ephemeral_owner(owner: int) -> bool:
    """A plain ephemeral's owner is its session id (any non-zero value but the container/TTL markers;
    server ids ≥ 128 make session ids negative, so the sign alone does not tell)."""
    return owner != 0 and owner != CONTAINER_OWNER and not is_ttl_owner(owner)


def client_owner(owner: int) -> int:
    """ephemeralOwner as clients see it: containers and TTL nodes report 0."""
    if owner == CONTAINER_OWNER or is_ttl_owner(owner):
        return 0
    return owner


#: Node's fields (compiled, Node has no `__slots__` attribute to list them).
NODE_FIELDS: Final = ("acl", "aversion", "ctime", "cversion", "czxid", "data", "ephemeral_owner", "kids", "mtime",
               "mzxid", "pzxid", "version")

_LEN: Final = struct.Struct(">i")
NO_CHILDREN: Final[frozenset[str]] = frozenset()
EMPTY_VECTOR: Final = b"\x00\x00\x00\x00"  # vector<ustring> with no names


_LENGTHS: Final = [_LEN.pack(n) for n in range(256)]


def encode_names(paths: Collection[str]) -> bytes:
    """vector<ustring> of the last components of `paths`, all children of one parent (so every path
    is that parent's prefix plus a name). The names are cut and encoded in three whole-string
    operations rather than one slice and one encode each: ZooKeeper names never hold NUL (PathUtils
    rejects it), so NUL can separate them; a tree loaded with one anyway takes the name-by-name way."""
    if not paths:
        return EMPTY_VECTOR
    first = next(iter(paths))
    k = first.rfind("/") + 1
    joined = "\0".join(paths)
    names: list[bytes]
    if joined.count("\0") != len(paths) - 1:
        names = [p[k:].encode("utf-8", "surrogatepass") for p in paths]
    else:
        names = joined.replace("\0" + first[:k], "\0")[k:].encode("utf-8", "surrogatepass").split(b"\0")
    pack = _LEN.pack
    lengths = _LENGTHS
    parts = [pack(len(names))]
    for b in names:
        n = len(b)
        parts.append(lengths[n] if n < 256 else pack(n))
        parts.append(b)
    return b"".join(parts)


class Children:
    """The children of a znode that has any: their full paths, and their names as a reply encodes them.

    Paths, not names: each is the very string keying `DataTree.nodes`, so a child costs one set slot
    and no string of its own (a name string of its own cost 64 bytes a znode). The encoded vector is
    what getChildren sends (ZooKeeper keeps its children set ready to serialise too): built on the
    first listing, dropped when a child comes or goes, so listing 100,000 children again is one copy.
    """

    __slots__ = ("encoded", "paths")

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.encoded: bytes | None = None


class Node:
    """One znode. `cversion` is ZooKeeper's stored count of child creates (see `stat()`).

    A leaf has no children container at all (`kids` is None): at a million znodes an empty set each
    was 216 bytes a znode, the largest single cost of the tree.
    """

    __slots__ = ("acl", "aversion", "ctime", "cversion", "czxid", "data", "ephemeral_owner", "kids", "mtime",
                 "mzxid", "pzxid", "version")

    # Defaults so that `Node.__new__(Node)` (the snapshot loader fills the slots itself) also works compiled,
    # where a native class's __new__ runs __init__.
    def __init__(self, data: bytes | None = None, acl: AclList = (), zxid: int = 0, time: int = 0,
                 owner: int = 0) -> None:
        self.data = data  # None when the client sent a null buffer: getData returns null, as in ZooKeeper
        self.acl = acl
        self.czxid = self.mzxid = self.pzxid = zxid
        self.ctime = self.mtime = time
        # Java ints, stored as 32-bit machine integers by the compiled build (the Node then takes 128
        # bytes instead of 144). Every value assigned is already in range (see `i32`): compiled, an int
        # out of range would raise OverflowError; pure, it would be kept unwrapped.
        self.version: I32 = 0
        self.cversion: I32 = 0
        self.aversion: I32 = 0
        self.ephemeral_owner = owner
        self.kids: Children | None = None

    # ---- children ----------------------------------------------------------------------------

    def num_children(self) -> int:
        kids = self.kids
        return 0 if kids is None else len(kids.paths)

    def child_paths(self) -> Collection[str]:
        """The children's full paths (read-only: change them through `add_child` / `remove_child`)."""
        kids = self.kids
        return NO_CHILDREN if kids is None else kids.paths

    @property
    def children(self) -> frozenset[str]:
        """The children's names (built on each call: for tests and tools, not for hot paths)."""
        return frozenset(p[p.rfind("/") + 1:] for p in self.child_paths())

    def has_child(self, path: str) -> bool:
        kids = self.kids
        return kids is not None and path in kids.paths

    def add_child(self, path: str) -> None:
        """`path` should be the string that keys the child in `DataTree.nodes` (shared, not copied)."""
        kids = self.kids
        if kids is None:
            kids = self.kids = Children()
        kids.paths.add(path)
        kids.encoded = None

    def remove_child(self, path: str) -> None:
        kids = self.kids
        if kids is None:
            return
        kids.paths.discard(path)
        if kids.paths:
            kids.encoded = None
        else:
            self.kids = None

    def children_vector(self) -> bytes:
        """The children's names as a reply's vector<ustring> (getChildren), cached until they change."""
        kids = self.kids
        if kids is None:
            return EMPTY_VECTOR
        encoded = kids.encoded
        if encoded is None:
            encoded = kids.encoded = encode_names(kids.paths)
        return encoded

    # ---- stat --------------------------------------------------------------------------------

    def stat(self) -> Stat:
        n = self.num_children()
        return Stat(self.czxid, self.mzxid, self.ctime, self.mtime, self.version, i32(self.cversion * 2 - n),
                    self.aversion, client_owner(self.ephemeral_owner), len(self.data or b""), n, self.pzxid)

    def pack_stat(self) -> bytes:
        """The 68-byte wire Stat, without building a Stat object (the read hot path)."""
        kids = self.kids
        n = 0 if kids is None else len(kids.paths)
        return STAT_STRUCT.pack(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                                i32(self.cversion * 2 - n), self.aversion, client_owner(self.ephemeral_owner),
                                len(self.data or b""), n, self.pzxid)


# ---- packed leaves ------------------------------------------------------------------------------
#
# A znode without children is kept in `DataTree.nodes` as one `bytes` record instead of a Node and a data
# `bytes` (at a million 100-byte znodes: 208 bytes allocated instead of 272, and one object for the
# snapshot loader to build instead of two). The record:
#
#   [0:68)   the wire Stat a reply sends (czxid, mzxid, ctime, mtime, version, cversion as the client
#            sees it = stored*2, aversion, ephemeralOwner as the client sees it, dataLength,
#            numChildren = 0, pzxid): getData/exists/getChildren2 slice it out as it is
#   [68:72)  the ACL list's number (acl.acl_id, as ZooKeeper's ReferenceCountedACLCache)
#   [72]     flags: LEAF_NULL the data is null; LEAF_OWNER the stored ephemeralOwner follows (a container
#            or TTL marker, which clients see as 0); LEAF_CVERSION the stored cversion follows (one that
#            2*cversion wraps: outside ±2^30)
#   [73:..)  the optional stored owner (8 bytes) and cversion (4 bytes), in that order, then the data
#
# Records are immutable: a change builds a new one (DataTree does every change). `as_node` turns a
# record into a Node: a copy, for reading (changing it changes nothing in the tree).

LEAF_HEAD: Final = struct.Struct(">qqqqiiiqiiqiB")
# Where LEAF_HEAD's fields start, for readers that take a few fields in place (protocol.inline's i32_at /
# i64_at) instead of unpacking all thirteen
AT_CZXID: Final = 0
AT_CTIME: Final = 16
AT_VERSION: Final = 32
AT_CVERSION: Final = 36  # as clients see it: stored * 2
AT_AVERSION: Final = 40
AT_OWNER: Final = 44  # as clients see it
AT_DATA_LEN: Final = 52  # dataLength: also a snapshot record's length prefix of the data, as it is
AT_PZXID: Final = 60
AT_ACL: Final = 68
AT_FLAGS: Final = 72
LEAF_HEAD_SIZE: Final = 73
STAT_SIZE: Final = 68
LEAF_NULL: Final = 1
LEAF_OWNER: Final = 2
LEAF_CVERSION: Final = 4
_Q8: Final = struct.Struct(">q")


def pack_leaf(data: bytes | None, acl_id: int, czxid: int, mzxid: int, ctime: int, mtime: int, version: int,
              cversion: int, aversion: int, owner: int, pzxid: int) -> bytes:
    """The record of a leaf with these StatPersisted fields (`owner` and `cversion` as stored)."""
    flags = 0
    n = 0
    if data is None:
        flags = LEAF_NULL
    else:
        n = len(data)
    cowner = client_owner(owner)
    ccv = i32(cversion * 2)
    extra = b""
    if cowner != owner:
        flags |= LEAF_OWNER
        extra = _Q8.pack(owner)
    if ccv >> 1 != cversion:
        flags |= LEAF_CVERSION
        extra += _LEN.pack(cversion)
    head = LEAF_HEAD.pack(czxid, mzxid, ctime, mtime, version, ccv, aversion, cowner, n, 0, pzxid, acl_id, flags)
    if extra:
        head += extra
    if n:
        assert data is not None
        return head + data
    return head


def _data_offset(flags: int) -> int:
    off = LEAF_HEAD_SIZE
    if flags & LEAF_OWNER:
        off += 8
    if flags & LEAF_CVERSION:
        off += 4
    return off


def leaf_data(rec: bytes) -> bytes | None:
    flags = rec[72]
    if flags & LEAF_NULL:
        return None
    return rec[_data_offset(flags):]


def leaf_data_len(rec: bytes) -> int:
    return len(rec) - _data_offset(rec[72])


def leaf_acl(rec: bytes) -> AclList:
    return aclmod.acl_by_id(i32_at(rec, AT_ACL))


def leaf_owner(rec: bytes) -> int:
    """The stored ephemeralOwner (containers and TTL nodes keep their markers)."""
    return i64_at(rec, LEAF_HEAD_SIZE if rec[AT_FLAGS] & LEAF_OWNER else AT_OWNER)


def as_node(rec: bytes) -> Node:
    """A Node holding a record's fields: a copy (changing it does not change the tree)."""
    czxid, mzxid, ctime, mtime, version, ccv, aversion, owner, _, _, pzxid, acl_id, flags = LEAF_HEAD.unpack_from(rec)
    off = LEAF_HEAD_SIZE
    if flags & LEAF_OWNER:
        owner = _Q8.unpack_from(rec, off)[0]
        off += 8
    cversion = ccv >> 1
    if flags & LEAF_CVERSION:
        cversion = _LEN.unpack_from(rec, off)[0]
        off += 4
    node = Node(None if flags & LEAF_NULL else rec[off:], aclmod.acl_by_id(acl_id), czxid, ctime, owner)
    node.mzxid = mzxid
    node.mtime = mtime
    node.pzxid = pzxid
    node.version = version
    node.cversion = cversion
    node.aversion = aversion
    return node


def persisted(e: Node | bytes) -> tuple[bytes | None, AclList, int, int, int, int, int, int, int, int, int]:
    """An entry's (data, acl, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner) as
    ZooKeeper persists them (stored cversion and owner): what snapshots and digests are made of."""
    if isinstance(e, Node):
        return (e.data, e.acl, e.czxid, e.mzxid, e.pzxid, e.ctime, e.mtime, e.version, e.cversion, e.aversion,
                e.ephemeral_owner)
    czxid, mzxid, ctime, mtime, version, ccv, aversion, owner, _, _, pzxid, acl_id, flags = LEAF_HEAD.unpack_from(e)
    cversion = ccv >> 1
    off = LEAF_HEAD_SIZE
    if flags & LEAF_OWNER:
        owner = _Q8.unpack_from(e, off)[0]
        off += 8
    if flags & LEAF_CVERSION:
        cversion = _LEN.unpack_from(e, off)[0]
        off += 4
    return (None if flags & LEAF_NULL else e[off:], aclmod.acl_by_id(acl_id), czxid, mzxid, pzxid, ctime, mtime,
            version, cversion, aversion, owner)


def pack_node(node: Node) -> bytes:
    """The record of a Node without children."""
    assert node.kids is None
    return pack_leaf(node.data, aclmod.acl_id(node.acl), node.czxid, node.mzxid, node.ctime, node.mtime,
                     node.version, node.cversion, node.aversion, node.ephemeral_owner, node.pzxid)


def entry_node(e: Node | bytes) -> Node:
    """The Node of an entry: itself, or a copy built from a record (read it, do not change it)."""
    if isinstance(e, Node):
        return e
    return as_node(e)


def entry_acl(e: Node | bytes) -> AclList:
    if isinstance(e, Node):
        return e.acl
    return leaf_acl(e)


def entry_stat(e: Node | bytes) -> bytes:
    """The 68-byte wire Stat."""
    if isinstance(e, Node):
        return e.pack_stat()
    return e[:STAT_SIZE]


def entry_data(e: Node | bytes) -> bytes | None:
    if isinstance(e, Node):
        return e.data
    return leaf_data(e)


def entry_data_len(e: Node | bytes) -> int:
    if isinstance(e, Node):
        d = e.data
        return 0 if d is None else len(d)
    return leaf_data_len(e)


def entry_owner(e: Node | bytes) -> int:
    if isinstance(e, Node):
        return e.ephemeral_owner
    return leaf_owner(e)


def entry_child_paths(e: Node | bytes) -> Collection[str]:
    if isinstance(e, Node):
        return e.child_paths()
    return NO_CHILDREN


def entry_has_children(e: Node | bytes) -> bool:
    return isinstance(e, Node) and e.kids is not None


def entry_children_vector(e: Node | bytes) -> bytes:
    if isinstance(e, Node):
        return e.children_vector()
    return EMPTY_VECTOR


@dataclass(slots=True)
class MultiOps:
    """The transaction of a multi with its sub-transactions decoded: what `apply` takes.

    On the wire and in the log a multi is a `MultiTxn` of (type, bytes) pairs; the txn codec turns it
    into this, so the tree only ever applies decoded records (the leader never encodes and decodes
    its own multis in between).
    """

    ops: list[tuple[int, Record]]


class ApplyResult:
    """What applying one txn produced, for the reply: error, created path, the node's wire Stat as it
    was right after this txn (a later op in the same multi or batch must not show through), sub-results
    (a multi's, in order; empty otherwise).

    A plain class, not a dataclass: compiled, a dataclass keeps the `__init__` that `dataclasses`
    generates at import, an interpreted function (~150 ns a call), and every applied txn and every
    sub-op of a multi makes one of these."""

    __slots__ = ("err", "multi", "path", "stat", "type")

    def __init__(self, type: int, err: int = 0, path: str | None = None, stat: bytes | None = None,
                 multi: Sequence[ApplyResult] = ()) -> None:
        self.type = type
        self.err = err
        self.path = path
        self.stat = stat
        self.multi = multi

    def __repr__(self) -> str:
        return f"ApplyResult(type={self.type}, err={self.err}, path={self.path!r}, stat={self.stat!r}, " \
               f"multi={self.multi!r})"


# The transaction types `_apply` dispatches on, as plain ints and sets of ints: compiled, these are C
# statics, where each `Ops.x` is a module-dict and a class-attribute lookup (about ten of those per
# applied op, a multi's sub-ops included).
_CREATE_TYPES: Final = frozenset({OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL})
_DELETE_TYPES: Final = frozenset({OP_DELETE, OP_DELETE_CONTAINER})
_SET_DATA_TYPES: Final = frozenset({OP_SET_DATA, OP_RECONFIG})


def path_table() -> dict[str, Node | bytes]:
    """An empty dict for `DataTree.nodes` that keeps each key's hash in its entries.

    Why: CPython (3.11) gives a dict whose keys have all been `str` a compact table without the hashes,
    so inserting a key whose slot is taken reads the other key's string object for its hash: at a million
    znodes that is a cache miss, often two, per insert. Once any other key has been in a dict, its table
    keeps the hashes for good (through resizes). Loading a 1M-znode snapshot took 0.15 s (13 %) less
    this way (bench/README.md), for 8 bytes more a znode (24-byte entries instead of 16). Lookups of
    existing paths cost the same. Only speed depends on it: the dict behaves the same either way."""
    table: dict[object, Node | bytes] = {0: b""}
    del table[0]
    return table  # type: ignore[return-value]


class DataTree:
    def __init__(self, system_nodes: bool = True) -> None:
        """A fresh tree has `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`; a tree being
        loaded from a snapshot starts empty (`system_nodes=False`) and gets them from the file."""
        # Path → Node (a znode with children, or a system node) or packed leaf record (see `pack_leaf`).
        # Read it through `node`, `entry`, `stat_of`, `data_of`, `acl_of` and the `entry_*` functions.
        self.nodes: dict[str, Node | bytes] = path_table()
        self.ephemerals: dict[int, set[str]] = {}
        self.sessions: dict[int, int] = {}  # session id → timeout (ms), as the log and snapshots hold them
        self.last_zxid = 0
        self.watches = WatchManager()
        self.data_size = 0  # approximate_data_size: path lengths + data lengths
        self.containers: set[str] = set()  # container and TTL nodes: what the reaper looks at
        self.quota_roots: set[str] = set()  # paths with /zookeeper/quota<path>/zookeeper_limits
        # (session, path, deleted) for each ephemeral a closeSession removes: the audit log's session events
        self.on_ephemeral_deleted: Callable[[int, str, bool], None] | None = None
        # The tree digests of the AdminServer's `hash` (digestlog.attach); None: not kept
        self.digest_log: DigestLog | None = None
        if not system_nodes:
            return
        root = self._new(b"", aclmod.OPEN_ACL_UNSAFE, 0, 0, 0)
        self.nodes["/"] = root
        self._add_system("/zookeeper", aclmod.OPEN_ACL_UNSAFE)
        self._add_system("/zookeeper/quota", aclmod.OPEN_ACL_UNSAFE)
        cfg = self._add_system("/zookeeper/config", aclmod.READ_ACL_UNSAFE)
        cfg.aversion = -1

    @staticmethod
    def _new(data: bytes | None, acl: AclList, zxid: int, time: int, owner: int) -> Node:
        return Node(data, aclmod.intern(acl), zxid, time, owner)

    def _add_system(self, path: str, acl: AclList) -> Node:
        """System nodes are linked in without a create, so their parents' cversion stays 0 (→ -1, -2).
        They stay Nodes (a Node may have no children; only leaves made by create/load/delete are packed)."""
        node = self._new(b"", acl, 0, 0, 0)
        self.nodes[path] = node
        parent = path.rpartition("/")[0]
        self._parent_node(parent or "/").add_child(path)
        self.data_size += len(path)
        return node

    # ---- reads ----------------------------------------------------------------------------

    def adopt_hooks(self, old: DataTree) -> None:
        """Take over what the server hooked onto the tree it replaces (a SNAP from the leader, a restore):
        the audit log's ephemeral deletions and the watch fan-out metric."""
        self.on_ephemeral_deleted = old.on_ephemeral_deleted
        self.watches.set_fanout(old.watches.data.fanout)

    def init_config(self, text: str, version: int, time: int) -> None:
        """Put an ensemble's membership into /zookeeper/config, as ZooKeeper's initConfigInZKDatabase:
        not a transaction, done by every member on its own tree; dataVersion -1, mzxid = the config's
        version (DataTree.setData with version -1)."""
        node = self._mutable(CONFIG_NODE)
        data = text.encode()
        self.data_size += len(data) - len(node.data or b"")
        node.data, node.version, node.mzxid, node.mtime = data, -1, version, time
        self._store(CONFIG_NODE, node)

    def get(self, path: str) -> Node | None:
        """The znode at `path` as a Node, for tools and tests: a packed leaf is returned as a copy
        (changing it changes nothing); hot paths use `entry` and the `entry_*` functions instead."""
        e = self.nodes.get(path)
        if e is None:
            return None
        if isinstance(e, Node):
            return e
        return as_node(e)

    def node(self, path: str) -> Node | None:
        """Same as `get`: a Node or, for a packed leaf, a read-only copy."""
        return self.get(path)

    def node_items(self) -> Iterator[tuple[str, Node]]:
        """Every (path, Node), packed leaves as copies: for tools and tests (a copy a znode)."""
        for path, e in self.nodes.items():
            yield path, e if isinstance(e, Node) else as_node(e)

    def entry(self, path: str) -> Node | bytes | None:
        """The stored value: a Node or a packed leaf record."""
        return self.nodes.get(path)

    def stat_of(self, path: str) -> bytes | None:
        """The 68-byte wire Stat of `path`, None if there is no such node."""
        e = self.nodes.get(path)
        return None if e is None else entry_stat(e)

    def data_of(self, path: str) -> bytes | None:
        """The data of `path` (None for a null buffer); KeyError if there is no such node."""
        return entry_data(self.nodes[path])

    def acl_of(self, path: str) -> AclList:
        """The ACL list of `path`; KeyError if there is no such node."""
        return entry_acl(self.nodes[path])

    def _mutable(self, path: str) -> Node:
        """The Node at `path` to change, unpacked if it is a record: call `_store` after changing it."""
        e = self.nodes[path]
        if isinstance(e, Node):
            return e
        return as_node(e)

    def _store(self, path: str, node: Node) -> None:
        """Put a changed node back: packed again if it was a packed leaf and still is a leaf."""
        if node.kids is None and isinstance(self.nodes.get(path), bytes):
            self.nodes[path] = pack_node(node)
        else:
            self.nodes[path] = node

    def _parent_node(self, path: str) -> Node:
        """The Node at `path`, made a Node in the tree if it was a packed leaf (it is getting a child)."""
        e = self.nodes[path]
        if isinstance(e, Node):
            return e
        node = as_node(e)
        self.nodes[path] = node
        return node

    def node_count(self) -> int:
        """As ZooKeeper counts: its map also holds the root under "" (a fresh tree reports 5)."""
        return len(self.nodes) + 1

    def ephemeral_count(self) -> int:
        return sum(len(s) for s in self.ephemerals.values())

    def count_descendants(self, path: str) -> int:
        node = self.nodes.get(path)
        if node is None:
            return 0
        total = 0
        stack: list[tuple[str, Node | bytes]] = [(path, node)]
        while stack:
            _, n = stack.pop()
            for cp in entry_child_paths(n):
                total += 1
                cn = self.nodes[cp]
                if entry_has_children(cn):
                    stack.append((cp, cn))
        return total

    # ---- apply ----------------------------------------------------------------------------

    def apply(self, hdr: TxnHeader, txn: Record | MultiOps | None) -> ApplyResult:
        """Apply one committed transaction. Failed writes arrive as ErrorTxn and change nothing."""
        if hdr.zxid > self.last_zxid:
            self.last_zxid = hdr.zxid
        dlog = self.digest_log
        if dlog is None:
            return self._apply(hdr.type, txn, hdr.clientId, hdr.zxid, hdr.time)
        dlog.before(self, hdr.type, txn, hdr.clientId)
        r = self._apply(hdr.type, txn, hdr.clientId, hdr.zxid, hdr.time)
        dlog.after(self, hdr.zxid)
        return r

    def _apply(self, type_: int, txn: Record | MultiOps | None, session: int, zxid: int, time: int) -> ApplyResult:
        r = ApplyResult(type_)
        # The asserts state what the header type implies: the record's class, and a path that is never
        # null (`Preparer` writes only validated paths; the log and the leader carry what it wrote).
        try:
            if type_ in _CREATE_TYPES:
                # a tuple, not `A | B`: compiled, the union is built on every call (~60 ns)
                assert isinstance(txn, (CreateTxn, CreateContainerTxn, CreateTTLTxn)) and txn.path is not None
                if isinstance(txn, CreateTxn):
                    owner = session if txn.ephemeral else 0
                elif isinstance(txn, CreateContainerTxn):
                    owner = CONTAINER_OWNER
                else:
                    owner = TTL_MASK | (txn.ttl & 0xFFFFFFFFFF)
                r.path = txn.path
                existing = self.nodes.get(txn.path)
                if existing is not None:
                    self._replay_existing(type_, txn, zxid)
                    r.err = ERR_NODEEXISTS
                    return r
                r.stat = entry_stat(self.create_entry(txn.path, txn.data, aclmod.from_txn_records(txn.acl),
                                                      owner, txn.parentCVersion, zxid, time))
            elif type_ in _DELETE_TYPES:
                assert isinstance(txn, DeleteTxn) and txn.path is not None
                if txn.path not in self.nodes:
                    self._replay_missing_delete(txn.path, zxid)
                    r.err = ERR_NONODE
                    return r
                self.delete_node(txn.path, zxid)
            elif type_ in _SET_DATA_TYPES:
                assert isinstance(txn, SetDataTxn) and txn.path is not None
                r.stat = entry_stat(self.set_data_entry(txn.path, txn.data, txn.version, zxid, time))
            elif type_ == OP_SET_ACL:
                assert isinstance(txn, SetACLTxn) and txn.path is not None
                node = self._mutable(txn.path)
                node.acl = aclmod.intern(aclmod.from_txn_records(txn.acl))
                node.aversion = txn.version
                self._store(txn.path, node)
                r.stat = node.pack_stat()
            elif type_ == OP_CREATE_SESSION:
                assert isinstance(txn, CreateSessionTxn)
                self.sessions[session] = txn.timeOut
            elif type_ == OP_CLOSE_SESSION:
                paths = txn.paths2Delete if isinstance(txn, CloseSessionTxn) and txn.paths2Delete is not None \
                    else sorted(self.ephemerals.get(session, ()))
                hook = self.on_ephemeral_deleted
                for p in paths:
                    if p in self.nodes:
                        self.delete_node(p, zxid)
                        if hook is not None:
                            hook(session, p, True)
                    elif p is not None:  # ZooKeeper's killSession: deleteNode still moves the parent's pzxid
                        self._replay_missing_delete(p, zxid)
                        if hook is not None:
                            hook(session, p, False)
                for p in sorted(self.ephemerals.pop(session, ())):  # any the txn did not list (as killSession)
                    if p in self.nodes:
                        self.delete_node(p, zxid)
                        if hook is not None:
                            hook(session, p, True)
                self.sessions.pop(session, None)
            elif type_ == OP_ERROR:
                assert isinstance(txn, ErrorTxn)
                r.err = txn.err
            elif type_ == OP_CHECK:
                assert isinstance(txn, CheckVersionTxn)
            elif type_ == OP_MULTI:
                assert isinstance(txn, MultiOps)
                self._apply_multi(txn, r, session, zxid, time)
        except KeyError:
            # Replaying a fuzzy snapshot's overlap can meet changes already applied; live state never does.
            r.err = ERR_NONODE
        return r

    def _replay_existing(self, type_: int, txn: CreateTxn | CreateContainerTxn | CreateTTLTxn, zxid: int) -> None:
        """A create of a node that exists, as ZooKeeper's DataTree handles it. Live, prepare never lets
        one through; on replay over a fuzzy snapshot (ZooKeeper's are taken while txns apply) the node
        may already be there. createNode gives the node the txn's ACL before failing, and processTxn
        then moves the parent's cversion/pzxid forward for a plain `create` (not create2/container/TTL):
        the node may have been deleted and created again by another session inside the fuzzy range."""
        assert txn.path is not None
        node = self._mutable(txn.path)
        node.acl = aclmod.intern(aclmod.from_txn_records(txn.acl))
        self._store(txn.path, node)
        if type_ != OP_CREATE:
            return
        assert isinstance(txn, CreateTxn)
        i = txn.path.rfind("/")
        parent_path = txn.path[:i] if i > 0 else "/"
        if parent_path not in self.nodes:
            return
        parent = self._mutable(parent_path)
        cversion = i32(parent.cversion + 1) if txn.parentCVersion == -1 else txn.parentCVersion
        if cversion > parent.cversion:
            parent.cversion = cversion
            parent.pzxid = zxid
            self._store(parent_path, parent)

    def _replay_missing_delete(self, path: str, zxid: int) -> None:
        """A delete of a node that is not there: ZooKeeper's deleteNode still raises the parent's pzxid
        to the txn's zxid before it finds the node missing (replay over a fuzzy snapshot, or a session's
        ephemeral deleted by an earlier txn of the same pipeline)."""
        i = path.rfind("/")
        parent_path = path[:i] if i > 0 else "/"
        if parent_path not in self.nodes:
            return
        parent = self._mutable(parent_path)
        if zxid > parent.pzxid:
            parent.pzxid = zxid
            self._store(parent_path, parent)

    def _apply_multi(self, txn: MultiOps, r: ApplyResult, session: int, zxid: int, time: int) -> None:
        subs = txn.ops
        failed = any(t == OP_ERROR for t, _ in subs)
        post_failed = False
        rec: Record | None
        results: list[ApplyResult] = []
        r.multi = results
        for ttype, rec in subs:
            if ttype == OP_ERROR:
                post_failed = True
            elif failed:
                rec = ErrorTxn(ERR_RUNTIMEINCONSISTENCY if post_failed else ERR_OK)
                ttype = OP_ERROR
            sub = self._apply(ttype, rec, session, zxid, time)
            results.append(sub)
            if sub.err and not r.err:
                r.err = sub.err

    def create_node(self, path: str, data: bytes | None, acl: AclList, owner: int, parent_cversion: int,
                    zxid: int, time: int) -> Node:
        """`create_entry`, the node returned as a Node (a copy when packed: for tools and tests)."""
        return entry_node(self.create_entry(path, data, acl, owner, parent_cversion, zxid, time))

    def create_entry(self, path: str, data: bytes | None, acl: AclList, owner: int, parent_cversion: int,
                     zxid: int, time: int) -> Node | bytes:
        """Create `path` as a packed leaf (its parent becomes a Node if it was one); returns the entry."""
        i = path.rfind("/")
        parent_path = path[:i] if i > 0 else "/"
        existing = self.nodes.get(path)
        if existing is not None:
            # Idempotent replay (fuzzy snapshot): the node is already there.
            if parent_path not in self.nodes:
                raise KeyError(parent_path)  # as for a new node: the parent must exist
            return existing
        parent = self._parent_node(parent_path)
        if parent_cversion == -1:
            parent_cversion = i32(parent.cversion + 1)
        if parent_cversion > parent.cversion:
            parent.cversion = parent_cversion
            parent.pzxid = zxid
        acl_id = aclmod.acl_id(acl)
        acl = aclmod.acl_by_id(acl_id)  # the interned list
        rec = pack_leaf(data, acl_id, zxid, zxid, time, time, 0, 0, 0, owner, zxid)
        self.nodes[path] = rec
        parent.add_child(path)
        self.data_size += len(path) + len(data or b"")
        if is_ephemeral_owner(owner):
            eph = self.ephemerals.get(owner)
            if eph is None:
                eph = self.ephemerals[owner] = set()
            eph.add(path)
        elif owner:
            self.containers.add(path)
        if parent_path.startswith(QUOTA_ROOT):
            self._quota_node_created(parent_path, path[i + 1:])
        if self.quota_roots:
            self._quota_update(path, 1, len(data or b""))
        self.watches.data.trigger(path, EVENT_NODE_CREATED, zxid, acl)
        self.watches.child.trigger(parent_path, EVENT_NODE_CHILDREN_CHANGED, zxid, parent.acl)
        return rec

    def delete_node(self, path: str, zxid: int) -> None:
        """Delete `path`; a parent left without children is packed again (a tree after deletes costs
        what the same tree loaded from a snapshot costs)."""
        i = path.rfind("/")
        parent_path = path[:i] if i > 0 else "/"
        e = self.nodes.pop(path)
        parent = self._parent_node(parent_path)
        parent.remove_child(path)
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        if parent.kids is None and parent_path not in SPECIAL_PATHS:
            self.nodes[parent_path] = pack_node(parent)
        acl = entry_acl(e)
        dlen = entry_data_len(e)
        self.data_size -= len(path) + dlen
        owner = entry_owner(e)
        if is_ephemeral_owner(owner):
            eph = self.ephemerals.get(owner)
            if eph is not None:
                eph.discard(path)
                if not eph:
                    del self.ephemerals[owner]
        elif owner:
            self.containers.discard(path)
        if self.quota_roots:
            if parent_path.startswith(QUOTA_ROOT) and path.endswith("/" + LIMIT_NODE):
                self.quota_roots.discard(parent_path[len(QUOTA_ROOT):])
            self._quota_update(path, -1, -dlen)
        fired = self.watches.data.trigger(path, EVENT_NODE_DELETED, zxid, acl)
        self.watches.child.trigger(path, EVENT_NODE_DELETED, zxid, acl, suppress=fired)
        self.watches.child.trigger(parent_path, EVENT_NODE_CHILDREN_CHANGED, zxid, parent.acl)

    def set_data(self, path: str, data: bytes | None, version: int, zxid: int, time: int) -> Node:
        """`set_data_entry`, the node returned as a Node (a copy when packed: for tools and tests)."""
        return entry_node(self.set_data_entry(path, data, version, zxid, time))

    def set_data_entry(self, path: str, data: bytes | None, version: int, zxid: int, time: int) -> Node | bytes:
        """Set the data of `path`: a packed leaf gets a new record, a Node is changed in place."""
        e = self.nodes[path]
        diff = len(data or b"") - entry_data_len(e)
        self.data_size += diff
        if self.quota_roots and diff:
            self._quota_update(path, 0, diff)
        if isinstance(e, Node):
            e.data = data
            e.version = version
            e.mzxid = zxid
            e.mtime = time
            acl = e.acl
            out: Node | bytes = e
        else:
            acl_id = i32_at(e, AT_ACL)
            if e[AT_FLAGS] & (LEAF_OWNER | LEAF_CVERSION):  # the rare records with stored fields of their own
                node = as_node(e)
                node.data, node.version, node.mzxid, node.mtime = data, version, zxid, time
                out = pack_node(node)
            else:  # LEAF_HEAD's fields read in place: czxid, ctime, cversion * 2, aversion, owner, pzxid
                out = pack_leaf(data, acl_id, i64_at(e, AT_CZXID), zxid, i64_at(e, AT_CTIME), time, version,
                                i32_at(e, AT_CVERSION) >> 1, i32_at(e, AT_AVERSION), i64_at(e, AT_OWNER),
                                i64_at(e, AT_PZXID))
            self.nodes[path] = out
            acl = aclmod.acl_by_id(acl_id)
        self.watches.data.trigger(path, EVENT_NODE_DATA_CHANGED, zxid, acl)
        return out

    # ---- quotas (ZooKeeper keeps usage in /zookeeper/quota<path>/zookeeper_stats) -------------

    def _quota_node_created(self, parent_path: str, name: str) -> None:
        target = parent_path[len(QUOTA_ROOT):]
        if not target:
            return
        if name == LIMIT_NODE:
            self.quota_roots.add(target)
        elif name == STATS_NODE:
            # A new stats node gets the subtree's current usage (DataTree.updateQuotaForPath).
            node = self.nodes.get(target)
            count = bytes_ = 0
            if node is not None:
                stack = [target]
                while stack:
                    p = stack.pop()
                    n = self.nodes[p]
                    count += 1
                    bytes_ += entry_data_len(n)
                    stack.extend(entry_child_paths(n))
            self._write_stats(parent_path + "/" + STATS_NODE, count, bytes_, absolute=True)

    def quota_root_of(self, path: str) -> str | None:
        """The deepest quota root at or above `path` (getMaxPrefixWithQuota); never "/" or /zookeeper."""
        if not self.quota_roots or path == "/zookeeper" or path.startswith("/zookeeper/"):
            return None
        p = path
        while p and p != "/":
            if p in self.quota_roots:
                return p
            i = p.rfind("/")
            p = p[:i] if i > 0 else "/"
        return None

    def _quota_update(self, path: str, dcount: int, dbytes: int) -> None:
        """Add to the usage of the deepest quota root above `path`."""
        root = self.quota_root_of(path)
        if root is not None:
            self._write_stats(QUOTA_ROOT + root + "/" + STATS_NODE, dcount, dbytes, absolute=False)

    def _write_stats(self, stats_path: str, count: int, bytes_: int, absolute: bool) -> None:
        """Rewrite the stats node's data in place: usage is not a client write (no version/mzxid change)."""
        if stats_path not in self.nodes:
            return
        node = self._mutable(stats_path)
        fields = parse_stats(node.data)
        if absolute:
            fields["count"], fields["bytes"] = count, bytes_
        else:
            fields["count"] = fields.get("count", 0) + count
            fields["bytes"] = fields.get("bytes", 0) + bytes_
        old = len(node.data or b"")
        node.data = format_stats(fields)
        self.data_size += len(node.data) - old
        self._store(stats_path, node)

    # ---- watches --------------------------------------------------------------------------

    def set_watches(self, relative_zxid: int, data: list[str], exist: list[str], child: list[str],
                    persistent: list[str], recursive: list[str], watcher: Watcher) -> None:
        """Re-register a reconnecting client's watches, firing what it missed (DataTree.setWatches)."""
        for p in data:
            node = self.get(p)
            if node is None:
                watcher.process(EVENT_NODE_DELETED, p, -1)
            elif node.mzxid > relative_zxid:
                watcher.process(EVENT_NODE_DATA_CHANGED, p, -1, node.acl)
            else:
                self.watches.data.add(p, watcher, STANDARD)
        for p in exist:
            e = self.nodes.get(p)
            if e is not None:
                watcher.process(EVENT_NODE_CREATED, p, -1, entry_acl(e))
            else:
                self.watches.data.add(p, watcher, STANDARD)
        for p in child:
            node = self.get(p)
            if node is None:
                watcher.process(EVENT_NODE_DELETED, p, -1)
            elif node.pzxid > relative_zxid:
                watcher.process(EVENT_NODE_CHILDREN_CHANGED, p, -1, node.acl)
            else:
                self.watches.child.add(p, watcher, STANDARD)
        for p in persistent:
            self.watches.add_persistent(p, watcher, recursive=False)
        for p in recursive:
            self.watches.add_persistent(p, watcher, recursive=True)
