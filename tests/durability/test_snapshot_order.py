"""The snapshot writer's two orders: the tree's own (dict) order when it has parents first, a walk from "/"
otherwise — both give files that load into the same tree with the same digest.

Why: `persistence/snapemit.py` writes nodes in `DataTree.nodes` order to skip a lookup per node, which is
only correct while every node comes after its parent there. A parent deleted and created again under a
child that stayed (a replay over a fuzzy snapshot) breaks that; the writer must notice and walk instead,
or the file would be unloadable (the loader, like ZooKeeper's, needs each node's parent before it).
"""

from __future__ import annotations

from corral.persistence import snapemit
from corral.persistence.snapshot import OPEN_ACL_KEY, body_bytes, load_snapshot, serialize, write_snapshot
from corral.protocol.inline import i32_at
from corral.tree import DataTree
from corral.tree.acl import OPEN_ACL_UNSAFE
from corral.tree.datatree import AT_CVERSION, AT_FLAGS, CONTAINER_OWNER, LEAF_OWNER, persisted

from .test_snapshot_roundtrip import _tree

ACL = ((31, "digest", "u:abc="), (1, "world", "anyone"))


def _digest(tree: DataTree) -> int:
    return serialize(tree, _Null())


class _Null:
    def write(self, b: bytes) -> int:
        return len(b)


def _same_tree(a: DataTree, b: DataTree) -> None:
    assert set(a.nodes) == set(b.nodes)
    for path, e in a.nodes.items():
        assert persisted(e) == persisted(b.nodes[path]), path
        assert set(a.get(path).child_paths()) == set(b.get(path).child_paths()), path
    assert a.sessions == b.sessions and a.last_zxid == b.last_zxid
    assert a.ephemerals == b.ephemerals and a.containers == b.containers and a.data_size == b.data_size


def _big_tree() -> DataTree:
    """Leaves of every packed kind (null data, odd owners and cversions, several ACLs) under a few parents."""
    t = DataTree()
    z = 1
    for p in range(4):
        t.create_node(f"/p{p}", b"parent", ACL if p % 2 else OPEN_ACL_UNSAFE, 0, -1, z, 1000 + z)
        z += 1
        for c in range(50):
            owner = (0x100 + c) if c % 7 == 0 else CONTAINER_OWNER if c % 11 == 0 else 0
            data = None if c % 5 == 0 else bytes([c]) * c
            t.create_node(f"/p{p}/c{c}", data, ACL if c % 3 == 0 else OPEN_ACL_UNSAFE, owner, -1, z, 1000 + z)
            z += 1
        t.set_data(f"/p{p}/c1", b"changed", -1, z, 9000)
        z += 1
    t.create_node("/p3/c4/x", b"", OPEN_ACL_UNSAFE, 0, -1, z, 9001)
    t.delete_node("/p3/c4/x", z + 1)  # /p3/c4 is a leaf again, with a cversion of 1: written field by field
    t.last_zxid = z + 1
    leaves = [e for e in t.nodes.values() if isinstance(e, bytes)]
    assert any(e[AT_FLAGS] & LEAF_OWNER for e in leaves) and any(i32_at(e, AT_CVERSION) for e in leaves)
    return t


def test_a_tree_built_by_creates_is_written_in_its_own_order(tmp_path):
    for tree in (_tree(), _big_tree()):
        assert snapemit.acl_keys(tree, OPEN_ACL_UNSAFE, OPEN_ACL_KEY)[1]
        # The file lists the nodes exactly as the dict does ("/" is the empty path in the file).
        back = load_snapshot(write_snapshot(tree, tmp_path)).tree
        assert [p for p in back.nodes] == [p for p in tree.nodes if p in back.nodes]
        _same_tree(tree, back)


def test_both_orders_give_the_same_tree_and_digest():
    tree = _big_tree()
    keys, _ = snapemit.acl_keys(tree, OPEN_ACL_UNSAFE, OPEN_ACL_KEY)
    outs = []
    for in_dict_order in (True, False):
        parts: list[bytes] = []
        digest = snapemit.write_nodes(tree, keys, "/zookeeper/", parts.append, None, in_dict_order)
        outs.append((digest, b"".join(parts)))
    (d1, b1), (d2, b2) = outs
    assert d1 == d2
    assert sorted(b1) == sorted(b2) and len(b1) == len(b2)  # the same records, in another order


def test_a_parent_after_its_child_in_the_dict_is_walked_instead(tmp_path):
    tree = _big_tree()
    before = body_bytes(tree)
    e = tree.nodes.pop("/p1")  # as a parent deleted and created again while its child stayed
    tree.nodes["/p1"] = e
    _, ordered = snapemit.acl_keys(tree, OPEN_ACL_UNSAFE, OPEN_ACL_KEY)
    assert not ordered
    back = load_snapshot(write_snapshot(tree, tmp_path)).tree
    _same_tree(tree, back)
    assert len(body_bytes(tree)) == len(before)


def test_root_not_first_is_walked_instead(tmp_path):
    tree = _big_tree()
    root = tree.nodes.pop("/")
    tree.nodes["/"] = root
    _, ordered = snapemit.acl_keys(tree, OPEN_ACL_UNSAFE, OPEN_ACL_KEY)
    assert not ordered
    _same_tree(tree, load_snapshot(write_snapshot(tree, tmp_path)).tree)


def test_digest_is_the_same_whatever_the_order():
    tree = _big_tree()
    d1 = _digest(tree)
    e = tree.nodes.pop("/p2")
    tree.nodes["/p2"] = e
    assert _digest(tree) == d1


def test_the_path_table_keeps_hashes_in_its_entries():
    """`path_table` relies on CPython keeping a dict's hashes once a non-str key was in it: 24-byte entries
    against 16 for a str-only dict. If a Python release changed that, loads get slower (not wrong): this
    says so."""
    import sys

    from corral.tree.datatree import path_table

    plain: dict[str, bytes] = {}
    table = path_table()
    for i in range(1000):
        plain[f"/n{i}"] = table[f"/n{i}"] = b""
    assert list(table) == list(plain)
    assert sys.getsizeof(table) > sys.getsizeof(plain) * 5 // 4, (sys.getsizeof(table), sys.getsizeof(plain))
