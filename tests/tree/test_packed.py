"""Packed leaves: a znode without children is one `bytes` record in `DataTree.nodes` (issue 14).

Why these tests: the record replaces the Node of every leaf, so each reader (replies' Stat, digests,
snapshots, the preparer's checks) must see exactly the fields a Node would give, for every value a field
can hold (containers' and TTL nodes' owner markers, cversions that 2*cversion wraps, null and empty data),
and the tree must move between the two forms as children come and go without losing a field.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.persistence.snapshot import read_snapshot, write_snapshot
from corral.protocol import OpCode
from corral.protocol.records import ACL, CreateTxn, DeleteTxn, Id, SetACLTxn, SetDataTxn, TxnHeader
from corral.tree import acl as aclmod
from corral.tree.acl import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from corral.tree.datatree import (
    CONTAINER_OWNER,
    LEAF_HEAD_SIZE,
    TTL_MASK,
    DataTree,
    Node,
    as_node,
    entry_stat,
    pack_leaf,
    pack_node,
    persisted,
)
from corral.tree.digest import digest_of, tree_digest

LONG = st.integers(-(2**63), 2**63 - 1)
INT = st.integers(-(2**31), 2**31 - 1)
OWNER = st.one_of(st.just(0), st.just(CONTAINER_OWNER), st.integers(0, 2**40 - 1).map(lambda t: TTL_MASK | t),
                  LONG)
DATA = st.one_of(st.none(), st.binary(max_size=300))
ACLS = st.sampled_from([OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, ((31, "digest", "u:h"), (1, "world", "anyone"))])


def _node(data, acl, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid) -> Node:
    n = Node(data, aclmod.intern(acl), czxid, ctime, owner)
    n.mzxid, n.mtime, n.pzxid = mzxid, mtime, pzxid
    n.version, n.cversion, n.aversion = version, cversion, aversion
    return n


@settings(max_examples=300, deadline=None)
@given(DATA, ACLS, LONG, LONG, LONG, LONG, INT, INT, INT, OWNER, LONG)
def test_a_record_holds_every_field_and_its_stat_is_the_nodes(data, acl, czxid, mzxid, ctime, mtime, version,
                                                              cversion, aversion, owner, pzxid):
    node = _node(data, acl, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid)
    rec = pack_node(node)
    assert rec == pack_leaf(data, aclmod.acl_id(acl), czxid, mzxid, ctime, mtime, version, cversion, aversion,
                            owner, pzxid)
    back = as_node(rec)
    assert persisted(rec) == persisted(node) == persisted(back)
    assert back.kids is None and back.acl is node.acl
    assert entry_stat(rec) == node.pack_stat()  # the reply's Stat is a slice of the record
    assert digest_of("/x", rec) == digest_of("/x", node)
    assert pack_node(back) == rec


def test_a_plain_leaf_costs_73_bytes_of_header():
    rec = pack_leaf(b"x" * 100, aclmod.acl_id(OPEN_ACL_UNSAFE), 5, 5, 7, 7, 0, 0, 0, 0, 5)
    assert len(rec) == LEAF_HEAD_SIZE + 100 and rec.endswith(b"x" * 100)
    # a container's marker and a wrapping cversion are stored after the header, the data after them
    rec = pack_leaf(b"d", 0, 1, 1, 1, 1, 0, 2**30, 0, CONTAINER_OWNER, 1)
    assert len(rec) == LEAF_HEAD_SIZE + 8 + 4 + 1 and persisted(rec)[0] == b"d"
    assert struct.unpack_from(">q", rec, 44)[0] == 0  # clients see a container's owner as 0


class _Tree:
    def __init__(self) -> None:
        self.tree = DataTree()
        self.zxid = 0

    def apply(self, type_: int, txn) -> int:
        self.zxid += 1
        return self.tree.apply(TxnHeader(0x1234, 1, self.zxid, 1000 + self.zxid, type_), txn).err


OPEN = [ACL(31, Id("world", "anyone"))]


def test_leaf_to_node_to_leaf_keeps_every_field():
    t = _Tree()
    t.apply(OpCode.create, CreateTxn("/p", b"v", OPEN, False, -1))
    t.apply(OpCode.setData, SetDataTxn("/p", b"vv", 1))
    t.apply(OpCode.setACL, SetACLTxn("/p", [ACL(1, Id("world", "anyone"))], 1))
    before = t.tree.get("/p")
    assert isinstance(t.tree.nodes["/p"], bytes)
    t.apply(OpCode.create, CreateTxn("/p/c", None, OPEN, False, -1))
    assert isinstance(t.tree.nodes["/p"], Node) and isinstance(t.tree.nodes["/p/c"], bytes)
    t.apply(OpCode.delete, DeleteTxn("/p/c"))
    assert isinstance(t.tree.nodes["/p"], bytes)  # packed again
    n = t.tree.get("/p")
    assert (n.data, n.acl, n.version, n.aversion, n.czxid, n.mzxid) == \
        (before.data, before.acl, before.version, before.aversion, before.czxid, before.mzxid)
    assert (n.cversion, n.pzxid) == (1, 5) and n.stat().cversion == 2
    assert t.tree.data_of("/p") == b"vv" and t.tree.acl_of("/p") == ((1, "world", "anyone"),)


def test_set_data_on_a_container_leaf_keeps_its_marker():
    t = DataTree()
    t.create_entry("/c", b"", OPEN_ACL_UNSAFE, CONTAINER_OWNER, -1, 1, 10)
    t.set_data("/c", b"new", 1, 2, 20)
    n = t.get("/c")
    assert n.ephemeral_owner == CONTAINER_OWNER and n.data == b"new" and n.mzxid == 2 and n.czxid == 1
    assert n.stat().ephemeralOwner == 0 and "/c" in t.containers


PATHS = st.sampled_from(["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/deep"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["create", "eph", "set", "acl", "delete"]), PATHS, DATA), max_size=40))
def test_any_sequence_keeps_the_forms_and_a_snapshot_round_trip(tmp_path_factory, ops):
    """Leaves are records and parents Nodes (system nodes aside) after any sequence of changes; every
    Stat, digest and the snapshot round trip agree with the Node reading of each entry."""
    t = _Tree()
    for op, path, data in ops:
        exists = path in t.tree.nodes
        parent = path.rpartition("/")[0] or "/"
        if op in ("create", "eph") and not exists and parent in t.tree.nodes:
            t.apply(OpCode.create, CreateTxn(path, data, OPEN, op == "eph", -1))
        elif op == "set" and exists:
            t.apply(OpCode.setData, SetDataTxn(path, data, t.tree.get(path).version + 1))
        elif op == "acl" and exists:
            t.apply(OpCode.setACL, SetACLTxn(path, [ACL(1, Id("world", "anyone"))], 1))
        elif op == "delete" and exists and not t.tree.get(path).kids:
            t.apply(OpCode.delete, DeleteTxn(path))
    tree = t.tree
    parents = {p.rpartition("/")[0] or "/" for p in tree.nodes if p != "/"}
    for path, e in tree.nodes.items():
        if isinstance(e, bytes):
            assert path not in parents, path
        else:
            assert path in parents or path.startswith("/zookeeper") or path == "/", path
        n = tree.get(path)
        assert entry_stat(e) == n.pack_stat() and tree.stat_of(path) == n.pack_stat()
        assert digest_of(path, e) == digest_of(path, n)
    assert set(tree.ephemerals.get(0x1234, ())) == {p for p, n in tree.node_items() if n.ephemeral_owner == 0x1234}
    loaded = read_snapshot(write_snapshot(tree, tmp_path_factory.mktemp("snap")))
    assert {p: tree.stat_of(p) for p in tree.nodes} == {p: loaded.stat_of(p) for p in loaded.nodes}
    assert {p: tree.data_of(p) for p in tree.nodes} == {p: loaded.data_of(p) for p in loaded.nodes}
    assert tree_digest(loaded) == tree_digest(tree) and loaded.data_size == tree.data_size
