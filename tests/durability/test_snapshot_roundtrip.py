"""A snapshot read back gives the same tree, for every kind of node and every index the tree keeps.

Why: the loader fills Node's slots and the tree's indexes (ephemerals by owner, containers/TTL nodes,
quota roots, data size) inline for speed, so it is checked field by field against the tree that was
written, not only through the client-visible dump.
"""

from __future__ import annotations

from corral.persistence.snapshot import read_snapshot, write_snapshot
from corral.tree import DataTree, Node
from corral.tree.datatree import CONTAINER_OWNER, NODE_FIELDS, TTL_MASK

SESSION = 0x1000000000001
OTHER = -0x7F00000000000001  # a negative session id (server id ≥ 128)
TTL = TTL_MASK | 5000
ACL = ((31, "digest", "u:abc="), (1, "world", "anyone"))


def _tree() -> DataTree:
    t = DataTree()
    z = 1
    def mk(path: str, data: bytes | None = b"x", acl=((31, "world", "anyone"),), owner: int = 0) -> None:
        nonlocal z
        t.create_node(path, data, acl, owner, -1, z, 1000 + z)
        z += 1
    mk("/a")
    mk("/a/null", None)
    mk("/a/empty", b"")
    mk("/a/acl", b"secret", ACL)
    mk("/a/eph1", b"e", owner=SESSION)
    mk("/a/eph2", owner=SESSION)
    mk("/a/eph3", owner=OTHER)
    mk("/cont", owner=CONTAINER_OWNER)
    mk("/ttl", owner=TTL)
    mk("/q")
    mk("/q/child", bytes(300))
    mk("/zookeeper/quota/q")
    mk("/zookeeper/quota/q/zookeeper_limits", b"count=10,bytes=-1")
    mk("/zookeeper/quota/q/zookeeper_stats", b"count=2,bytes=301")
    mk("/ünïcode")
    t.set_data("/a", b"yy", -1, z, 5000)
    t.delete_node("/a/empty", z + 1)
    t.sessions = {SESSION: 4000, OTHER: 30000}
    t.last_zxid = z + 1
    return t


def test_node_fields_lists_every_slot():
    """NODE_FIELDS stands in for Node.__slots__, which only the pure-Python build has."""
    node = Node(b"d", (), 1, 2, 0)
    assert all(hasattr(node, f) for f in NODE_FIELDS)
    slots = getattr(Node, "__slots__", None)  # compiled: None, and the pure-Python run checks this
    assert slots is None or sorted(slots) == sorted(NODE_FIELDS)


def _slots(n: Node) -> dict:
    """Every field by value; the children container (an object of its own) by the paths it holds."""
    fields = {k: getattr(n, k) for k in NODE_FIELDS if k != "kids"}
    fields["child_paths"] = set(n.child_paths())
    return fields


def test_snapshot_round_trip_keeps_every_field_and_index(tmp_path):
    before = _tree()
    after = read_snapshot(write_snapshot(before, tmp_path))
    assert after.last_zxid == before.last_zxid
    assert after.sessions == before.sessions
    assert sorted(after.nodes) == sorted(before.nodes)
    for path in before.nodes:
        node = before.get(path)
        assert _slots(after.get(path)) == _slots(node), path
        assert after.get(path).pack_stat() == node.pack_stat(), path
    assert after.ephemerals == before.ephemerals == {SESSION: {"/a/eph1", "/a/eph2"}, OTHER: {"/a/eph3"}}
    assert after.containers == before.containers == {"/cont", "/ttl"}
    assert after.quota_roots == before.quota_roots == {"/q"}
    assert after.data_size == before.data_size
    assert after.get("/a/null").data is None and after.get("/a/acl").acl == ACL
    # ACL lists are interned: every node with the same list shares one tuple.
    assert after.get("/a").acl is after.get("/q").acl
