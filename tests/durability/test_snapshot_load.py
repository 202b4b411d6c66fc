"""Loading a snapshot file through a memory map, dropping each stretch as it loads, and hostile node
records through the compiled loader.

Why: files of 1 MB and more are memory-mapped (smaller ones are read whole), so the checksum is then
computed in stretches while the nodes load; a damaged file must still fail with SnapshotCorruptError
naming an offset, exactly as the in-memory path does, and never crash or load a wrong tree.
"""

from __future__ import annotations

import random
import struct
import threading
import zlib

import pytest

from corral.persistence import snapshot as snapmod
from corral.persistence.snapnodes import UNRESOLVED_ACL, NodeRecordError, load_nodes
from corral.persistence.snapshot import (
    END_PATH,
    HEADER,
    SnapshotCorruptError,
    body_bytes,
    load_snapshot,
    parse_snapshot,
    read_body,
    write_snapshot,
)
from corral.protocol import ACL, CreateTxn, Errs, Id, OpCode, Perms, TxnHeader
from corral.tree import DataTree
from corral.tree.acl import OPEN_ACL_UNSAFE


def _big_tree(n: int = 9000) -> DataTree:
    t = DataTree()
    t.create_node("/d", b"", OPEN_ACL_UNSAFE, 0, -1, 1, 1000)
    for i in range(n):
        t.create_node(f"/d/n{i}", i.to_bytes(4, "big") * 30, OPEN_ACL_UNSAFE, 0, -1, 2 + i, 2000 + i)
    t.last_zxid = n + 1
    return t


def test_a_mapped_file_loads_the_same_tree_as_its_bytes(tmp_path):
    path = write_snapshot(_big_tree(), tmp_path)
    assert path.stat().st_size > 1 << 20  # mapped, not read whole
    seen: list[int] = []
    mapped = load_snapshot(path, progress=seen.append)
    whole = parse_snapshot(path.read_bytes(), mapped.zxid)
    assert mapped.digest == whole.digest and mapped.layout == whole.layout == "3.9"
    a, b = mapped.tree, whole.tree
    assert sorted(a.nodes) == sorted(b.nodes)
    assert all(a.get(p).pack_stat() == b.get(p).pack_stat() and a.get(p).data == b.get(p).data
               for p in b.nodes)
    assert a.data_size == b.data_size
    assert seen == [] or all(n % 100000 == 0 for n in seen)


def test_damage_in_a_mapped_file_is_found(tmp_path):
    path = write_snapshot(_big_tree(), tmp_path)
    good = path.read_bytes()
    rng = random.Random(14)
    for at in (len(HEADER) + 5, len(good) // 3, len(good) // 2 + 7, len(good) - 40):
        bad = bytearray(good)
        bad[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(bad))
        with pytest.raises(SnapshotCorruptError):
            load_snapshot(path)
    path.write_bytes(good[:len(good) * 2 // 3])  # cut short
    with pytest.raises(SnapshotCorruptError):
        load_snapshot(path)


def _record(path: bytes, data_len: int = 0, acl_key: int = -1, stat: bytes | None = None) -> bytes:
    stat = struct.pack(">qqqqiiiqq", 1, 1, 1, 1, 0, 0, 0, 0, 1) if stat is None else stat
    return struct.pack(">i", len(path)) + path + struct.pack(">i", data_len) + b"d" * max(data_len, 0) \
        + struct.pack(">q", acl_key) + stat


def _body(*records: bytes) -> bytes:
    """No sessions, no ACLs, the root and /zookeeper, then `records` and the "/" end marker."""
    return struct.pack(">ii", 0, 0) + _record(b"") + _record(b"/zookeeper") + b"".join(records) + END_PATH


@pytest.mark.parametrize("records, reason", [
    ((struct.pack(">i", -1),), "null path"),
    ((_record(b"/x", data_len=-7),), "bad data length"),
    ((_record(b"/x/y"),), "before its parent"),
    ((_record(b"nope"),), "does not start with /"),
    ((struct.pack(">i", 500) + b"/x",), "cut short"),
    ((_record(b"/x", data_len=3)[:-20],), "unreadable node record|cut short"),
    ((_record(b"/x") + struct.pack(">i", 90) + b"/x/",), "cut short"),
])
def test_hostile_node_records_are_named(records, reason):
    with pytest.raises(SnapshotCorruptError, match=reason):
        read_body(_body(*records)[:-len(END_PATH)] if reason.startswith("cut") else _body(*records))


def _varied_records(rng: random.Random, n: int) -> list[bytes]:
    """Children of /a and /a/b with data from none (null) to a few KB, ephemeral and container owners and
    child versions: the common-leaf records and the others."""
    out = [_record(b"/a", stat=struct.pack(">qqqqiiiqq", 1, 1, 1, 1, 0, 6, 0, 0, 1)),
           _record(b"/a/b", stat=struct.pack(">qqqqiiiqq", 2, 2, 2, 2, 0, 4, 0, 0, 2))]
    for i in range(n):
        parent = b"/a/b" if i % 3 else b"/a"
        size = rng.choice([-1, 0, 1, 7, 100, 999, 4000])
        owner = rng.choice([0, 0, 0, 0x1234, -(1 << 63)])  # none, a session, a container
        stat = struct.pack(">qqqqiiiqq", 10 + i, 11 + i, 12 + i, 13 + i, i % 5, rng.choice([0, 0, 2]), i % 3,
                           owner, 14 + i)
        out.append(_record(parent + b"/n%d" % i, data_len=size, stat=stat))
    return out


def test_records_split_across_any_window_load_as_from_one(tmp_path):
    """The loader copies the file out in windows; a record cut by a window's end is read from the next.
    Every window size, down to a few bytes, gives the same tree as one window holding everything."""
    rng = random.Random(1407)
    data = _body(*_varied_records(rng, 300))
    whole = DataTree(system_nodes=False)
    end = load_nodes(whole, data, 8, {-1: OPEN_ACL_UNSAFE}, window=len(data))
    assert end == len(data) and len(whole.nodes) == 304
    for window in (1, 5, 8, 13, 77, 100, 1000, 4096, 65536):
        t = DataTree(system_nodes=False)
        assert load_nodes(t, data, 8, {-1: OPEN_ACL_UNSAFE}, window=window) == end
        assert list(t.nodes) == list(whole.nodes)
        assert all(t.get(p).pack_stat() == whole.get(p).pack_stat() and t.get(p).data == whole.get(p).data
                   and t.acl_of(p) == whole.acl_of(p) and t.get(p).children == whole.get(p).children
                   for p in whole.nodes), window
        assert t.ephemerals == whole.ephemerals and t.containers == whole.containers
        assert t.data_size == whole.data_size
    cuts = sorted(rng.sample(range(9, len(data) - len(END_PATH)), 60))
    for cut in cuts:  # cut anywhere: a named error at any window, never an IndexError or a partial success
        for window in (7, 1 << 20):
            with pytest.raises(NodeRecordError):
                load_nodes(DataTree(system_nodes=False), data[:cut], 8, {-1: OPEN_ACL_UNSAFE}, window=window)


def test_a_node_whose_acl_number_the_map_lacks_is_locked_until_a_replayed_txn_sets_it(caplog):
    """Apache's fuzzy snapshots: the ACL map is written before the nodes, so a node created meanwhile can
    refer to a number the map lacks. It loads (as Apache loads it, ZOOKEEPER-3306) with no permission for
    anyone, is logged, and the logged create after the snapshot's zxid gives it its ACL on replay."""
    with caplog.at_level("WARNING", logger="corral.snapshot"):
        tree, _ = read_body(_body(_record(b"/zookeeper/quota"), _record(b"/x", acl_key=5), _record(b"/y")))
    assert tree.acl_of("/x") == UNRESOLVED_ACL and tree.acl_of("/y") == OPEN_ACL_UNSAFE
    assert any("event=snapshot_acl_unresolved" in m and "first=/x" in m for m in caplog.messages)
    acl = [ACL(Perms.READ, Id("ip", "127.0.0.1"))]
    r = tree.apply(TxnHeader(1, 1, 7, 0, OpCode.create), CreateTxn("/x", b"", acl, False, -1))
    assert r.err == Errs.NODEEXISTS and tree.acl_of("/x") == ((int(Perms.READ), "ip", "127.0.0.1"),)
    with pytest.raises(NodeRecordError, match="ACL 5, not in the ACL map"):  # without a list to report to
        load_nodes(DataTree(), _body(_record(b"/x", acl_key=5)), 8, {-1: OPEN_ACL_UNSAFE})


def test_random_node_records_never_crash():
    rng = random.Random(1414)
    base = _body(_record(b"/x", 3), _record(b"/x/y", 1))
    for _ in range(400):
        bad = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            bad[rng.randrange(8, len(bad))] = rng.randrange(256)
        try:
            tree, _ = read_body(bytes(bad))
        except SnapshotCorruptError:
            continue
        assert "/" in tree.nodes  # whatever loaded is a tree


def test_small_files_are_read_whole_and_the_threshold_is_the_chunk(tmp_path):
    t = DataTree()
    path = write_snapshot(t, tmp_path)
    assert path.stat().st_size < snapmod._CHUNK
    assert sorted(load_snapshot(path).tree.nodes) == sorted(t.nodes)
    data = HEADER + body_bytes(t)
    data += struct.pack(">q", zlib.adler32(data)) + END_PATH
    assert sorted(parse_snapshot(data, 0).tree.nodes) == sorted(t.nodes)


def test_acl_numbers_of_any_value_resolve_from_the_first_node_on():
    """The loader remembers the last node's ACL number; a map key equal to its starting value (-2), on
    the very first record (the root), must resolve like any other, and a missing one still be reported."""
    acl = ((1, "ip", "127.0.0.1"),)
    body = struct.pack(">ii", 0, 0) + _record(b"", acl_key=-2) + _record(b"/zookeeper") + \
        _record(b"/x", acl_key=-2) + END_PATH
    tree = DataTree(system_nodes=False)
    load_nodes(tree, body, 8, {-1: OPEN_ACL_UNSAFE, -2: acl})
    assert tree.acl_of("/") == acl and tree.acl_of("/x") == acl and tree.acl_of("/zookeeper") == OPEN_ACL_UNSAFE
    with pytest.raises(NodeRecordError, match="ACL -2, not in the ACL map"):
        load_nodes(DataTree(system_nodes=False), body, 8, {-1: OPEN_ACL_UNSAFE})


@pytest.mark.parametrize("mapped", [True, False])
def test_the_checksum_worker_finds_damage_on_either_side_of_its_chunk_marks(tmp_path, monkeypatch, mapped):
    """The file's Adler32 is computed on a worker thread in steps (snapshot._AdlerAhead), paced by the
    loader over a mapped file; a seal is checked from the last step's mark before it. A flipped bit
    anywhere, and at the bytes next to a mark, is found; the worker is gone once the load returns or
    fails (a mapped file could not close else). Steps of 1 MiB here, so a 3 MB file has several."""
    monkeypatch.setattr(snapmod._AdlerAhead, "STEP", snapmod._CHUNK)
    path = write_snapshot(_big_tree(24000), tmp_path)
    good = path.read_bytes()
    assert len(good) > 3 * snapmod._CHUNK
    load = load_snapshot if mapped else (lambda p: parse_snapshot(p.read_bytes(), None))
    assert sorted(load(path).tree.nodes) == sorted(_big_tree(24000).nodes)
    chunk = snapmod._CHUNK
    for at in (len(HEADER) + 5, chunk - 1, chunk, 2 * chunk + 1, len(good) - 40, len(good) - snapmod.SEAL_SIZE - 1):
        bad = bytearray(good)
        bad[at] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(SnapshotCorruptError):
            load(path)
        assert not [t for t in threading.enumerate() if t.name == "snapshot-adler32"]
    path.write_bytes(good)
    assert load(path).digest is not None
    assert not [t for t in threading.enumerate() if t.name == "snapshot-adler32"]
