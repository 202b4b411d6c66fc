"""A znode's children as the tree keeps them: no container for a leaf, the children's own path strings
(shared with the node map, not copied), and the getChildren vector cached until a child comes or goes.

Why: these are what make a million-znode tree fit in about half the memory it took, and the cache is
what a getChildren of a large directory returns: a stale vector would be a wrong answer.
"""

from __future__ import annotations

import struct

from corral.persistence.snapshot import read_snapshot, write_snapshot
from corral.tree import DataTree
from corral.tree.acl import OPEN_ACL_UNSAFE
from corral.tree.datatree import Node, encode_names, pack_node


def _names(vector: bytes) -> list[str]:
    (n,) = struct.unpack_from(">i", vector, 0)
    off, out = 4, []
    for _ in range(n):
        (k,) = struct.unpack_from(">i", vector, off)
        out.append(vector[off + 4:off + 4 + k].decode("utf-8", "surrogatepass"))
        off += 4 + k
    assert off == len(vector)
    return out


def _create(t: DataTree, path: str, zxid: int) -> None:
    t.create_node(path, b"v", OPEN_ACL_UNSAFE, 0, -1, zxid, 1000 + zxid)


def test_a_leaf_has_no_container_and_the_last_child_removed_frees_it():
    t = DataTree()
    _create(t, "/p", 1)
    assert isinstance(t.nodes["/p"], bytes)  # a leaf is one packed record
    p = t.get("/p")
    assert p.kids is None and p.num_children() == 0 and p.children == frozenset()
    assert _names(p.children_vector()) == []
    _create(t, "/p/a", 2)
    p = t.nodes["/p"]  # its first child made it a Node
    assert isinstance(p, Node) and p.kids is not None and p.num_children() == 1 and t.get("/p/a").kids is None
    assert isinstance(t.nodes["/p/a"], bytes)
    t.delete_node("/p/a", 3)
    assert isinstance(t.nodes["/p"], bytes)  # its last child gone, it is packed again
    p = t.get("/p")
    assert p.kids is None and p.num_children() == 0
    assert p.stat().numChildren == 0 and p.stat().cversion == 2  # one create and one delete, as ZooKeeper counts


def test_children_are_the_node_maps_own_path_strings():
    t = DataTree()
    _create(t, "/p", 1)
    for i in range(5):
        _create(t, f"/p/c{i}", 2 + i)
    keys = {id(k) for k in t.nodes}
    assert all(id(c) in keys for c in t.get("/p").child_paths())
    assert t.get("/p").children == {f"c{i}" for i in range(5)}


def test_children_vector_is_cached_and_follows_every_change():
    t = DataTree()
    _create(t, "/p", 1)
    names = {f"n{i}" for i in range(50)} | {"ünï", "x" * 200}
    z = 2
    for name in sorted(names):
        _create(t, "/p/" + name, z)
        z += 1
    p = t.get("/p")
    first = p.children_vector()
    assert sorted(_names(first)) == sorted(names) and p.children_vector() is first  # cached: the same bytes
    _create(t, "/p/new", z)
    assert sorted(_names(p.children_vector())) == sorted(names | {"new"})
    t.delete_node("/p/n7", z + 1)
    assert sorted(_names(p.children_vector())) == sorted(names - {"n7"} | {"new"})
    assert p.stat().numChildren == len(names)
    assert struct.unpack(">qqqqiiiqiiq", p.pack_stat())[9] == len(names)
    # a replayed create of a node that exists (fuzzy snapshot overlap) changes nothing, cache included
    before = p.children_vector()
    _create(t, "/p/new", z + 2)
    assert p.children_vector() is before


def test_root_children_and_system_nodes():
    t = DataTree()
    assert t.get("/").children == {"zookeeper"}
    assert _names(t.get("/zookeeper").children_vector()) in (["quota", "config"], ["config", "quota"])
    _create(t, "/a", 1)
    assert sorted(_names(t.get("/").children_vector())) == ["a", "zookeeper"]
    assert t.count_descendants("/") == 4


def test_a_loaded_tree_has_the_same_compact_form(tmp_path):
    t = DataTree()
    _create(t, "/p", 1)
    for i in range(20):
        _create(t, f"/p/c{i}", 2 + i)
    _create(t, "/p/c3/deep", 30)
    loaded = read_snapshot(write_snapshot(t, tmp_path))
    keys = {id(k) for k in loaded.nodes}
    for path, e in loaded.nodes.items():
        node = loaded.get(path)
        assert isinstance(e, bytes) == (node.kids is None), path  # leaves packed, parents Nodes
        assert (node.kids is None) == (t.get(path).num_children() == 0), path
        assert all(id(c) in keys for c in node.child_paths()), path
        assert sorted(_names(node.children_vector())) == sorted(t.get(path).children), path
    # equal stat fields of a node never changed share one int object (the pure build keeps ints as objects)
    leaf = loaded.get("/p/c5")
    assert leaf.czxid == leaf.mzxid == leaf.pzxid and leaf.ctime == leaf.mtime


def test_encoding_names_with_any_characters():
    """Names come whole, whatever they hold: long (a length over 255), non-ASCII, a lone surrogate
    (Java strings may hold one), and NUL, which no client can create but a damaged file might carry."""
    for parent in ("/", "/p", "/ü/v"):
        prefix = parent.rstrip("/") + "/"
        names = ["a", "x" * 300, "ünï", "\ud800", "n\0ul", "\0", "tail\0"]
        for subset in (names, names[:4], names[4:5], ["only"]):
            paths = [prefix + n for n in subset]
            assert _names(encode_names(paths)) == subset
    assert encode_names([]) == b"\x00\x00\x00\x00"


def test_cversion_at_the_java_int_limit(tmp_path):
    """The version fields are Java ints (32-bit machine integers in the compiled build): a create under a
    parent whose cversion is at the limit wraps as ZooKeeper's `cversion + 1` does, so the parent's
    cversion stays (the wrapped value is not greater), and the tree still serialises."""
    t = DataTree()
    _create(t, "/p", 1)
    p = t.get("/p")
    p.cversion = 2**31 - 1
    t.nodes["/p"] = pack_node(p)  # a leaf record whose cversion 2*cversion wraps: stored in the record
    assert t.get("/p").cversion == 2**31 - 1 and t.stat_of("/p") == p.pack_stat()
    _create(t, "/p/c", 2)
    p = t.nodes["/p"]
    assert isinstance(p, Node) and p.cversion == 2**31 - 1 and p.num_children() == 1
    assert p.stat().cversion == -3  # 2 * (2^31 - 1) - 1, as a Java int
    loaded = read_snapshot(write_snapshot(t, tmp_path))
    assert loaded.get("/p").cversion == 2**31 - 1 and loaded.get("/p").pack_stat() == p.pack_stat()
