"""Apache ZooKeeper's on-disk formats without a server: snapshot layouts 3.5-3.9, compression, the tree
digest, corral's older layout, hostile bytes, replay over a fuzzy snapshot, padded logs, file modes.

Why fast tests besides tests/apache_datadir: every variant and every damaged byte is cheap to check
in-process, and `data/apache-3.8.0/` holds files Apache ZooKeeper 3.8.0 wrote (its snapshot after a
restart, so its digest is recorded at its own zxid; the log with its 64 MiB of zero padding cut off,
and a TxnDigest after every txn): real bytes, not ones corral made up. The container is created as
real clients do it (createContainer with CONTAINER flags): with flags 0, Apache 3.8's
PrepRequestProcessor predicts a persistent node's digest and logs a digest its own tree does not have.
"""

from __future__ import annotations

import gzip
import os
import random
import stat
import struct
import zlib
from pathlib import Path

import cramjam
import pytest

from corral.persistence import recover
from corral.persistence.epochs import CURRENT, write_epoch
from corral.persistence.files import data_extents, make_private_dir, snapshot_zxid, sort_by_zxid
from corral.persistence.snapnodes import UNRESOLVED_ACL
from corral.persistence.snapshot import (
    END_PATH,
    HEADER,
    SNAPPY_MAGIC,
    SnapshotCorruptError,
    body_bytes,
    install_snapshot,
    load_snapshot,
    parse_snapshot,
    read_body,
    snapshot_bytes,
    write_snapshot,
)
from corral.persistence.txnlog import (
    LogCorruptError,
    TxnLogWriter,
    decode_txn_payload,
    encode_txn_payload,
    frame_record,
    scan,
    txn_digest,
)
from corral.protocol import ACL, CloseSessionTxn, CreateTxn, DeleteTxn, Errs, Id, OpCode, TxnDigest, TxnHeader
from corral.tree import DataTree
from corral.tree.datatree import CONTAINER_OWNER, TTL_MASK
from corral.tree.digest import node_digest, to_long, tree_digest
from tests.durability.support import dump_tree

APACHE = Path(__file__).parent / "data" / "apache-3.8.0"
OPEN = [ACL(31, Id("world", "anyone"))]


def _tree() -> DataTree:
    t = DataTree()
    z = 0

    def mk(path: str, data: bytes | None = b"x", acl=((31, "world", "anyone"),), owner: int = 0) -> None:
        nonlocal z
        z += 1
        t.create_node(path, data, acl, owner, -1, z, 1000 + z)
    mk("/a")
    mk("/a/null", None)
    mk("/a/acl", b"secret", ((31, "digest", "u:abc="), (1, "world", "anyone")))
    mk("/a/eph", b"e", owner=0x1000000000001)
    mk("/cont", owner=CONTAINER_OWNER)
    mk("/ttl", owner=TTL_MASK | 5000)
    mk("/zookeeper/quota/a")
    mk("/ü")
    t.sessions = {0x1000000000001: 4000}
    t.last_zxid = z
    return t


# ---- Apache's own files ---------------------------------------------------------------------------------


def test_apache_snapshot_loads_with_its_digest():
    path = next(APACHE.glob("snapshot.*"))
    snap = load_snapshot(path)
    assert (snap.layout, snap.compression, snap.zxid) == ("3.6", "", snapshot_zxid(path.name))
    assert snap.digest is not None and snap.digest.zxid == snap.zxid
    assert tree_digest(snap.tree) == snap.digest.digest  # Apache's DigestCalculator, computed by corral
    t = snap.tree
    assert t.get("/cont").ephemeral_owner == CONTAINER_OWNER and "/cont" in t.containers
    assert t.get("/ttl").ephemeral_owner & TTL_MASK == TTL_MASK and "/ttl" in t.containers
    assert {p for ps in t.ephemerals.values() for p in ps} == {"/eph"}
    assert t.get("/acl").acl[0][1] == "digest" and t.get("/a/b").acl == ((31, "ip", "127.0.0.1"),)
    assert t.get("/zookeeper/config").acl == ((1, "world", "anyone"),)


def test_apache_log_replays_onto_an_empty_tree_to_the_snapshot(tmp_path):
    """Apache's log (with its zero padding put back) replayed from nothing gives the snapshot's tree."""
    v = tmp_path / "version-2"
    v.mkdir()
    for src in APACHE.glob("log.*"):
        (v / src.name).write_bytes(src.read_bytes() + bytes(1 << 16))
    rec = recover(tmp_path, tmp_path)
    snap = load_snapshot(next(APACHE.glob("snapshot.*")))
    assert rec.truncated is None and rec.tree.last_zxid == snap.zxid
    assert dump_tree(rec.tree) == dump_tree(snap.tree)
    assert rec.tree.sessions == snap.tree.sessions


def test_tree_digest_after_every_apache_txn_is_the_one_apache_logged():
    """Apache logs its tree digest after each txn (TxnDigest): replaying its log, corral's tree has the
    same digest after every one, so `apply` keeps every digested field (stored cversion, pzxid, owner
    markers of containers and TTL nodes) exactly as Apache's DataTree."""
    tree = DataTree()
    (log,) = APACHE.glob("log.*")
    records, _ = scan(log, last_file=True)
    assert len(records) > 10
    for rec in records:
        tree.apply(*decode_txn_payload(rec.payload))
        logged = txn_digest(rec.payload)
        assert logged is not None and logged.version == 2
        assert tree_digest(tree) == logged.treeDigest, f"zxid 0x{rec.zxid:x}"


# ---- corral's snapshots in every layout -----------------------------------------------------------------


def _seals(data: bytes) -> list[int]:
    """Offsets just after each seal of a snapshot corral wrote (tree, digest, lastZxid)."""
    out, off = [], 0
    while True:
        i = data.find(END_PATH, off)
        if i < 0:
            return out
        if i >= 8 and struct.unpack_from(">q", data, i - 8)[0] == zlib.adler32(data[:i - 8]):
            out.append(i + len(END_PATH))
        off = i + 1


def test_corral_writes_the_39_layout_and_reads_older_ones():
    t = _tree()
    data = snapshot_bytes(t)
    assert data.startswith(HEADER) and data[16:20] == struct.pack(">i", 1)  # then the session count
    seals = _seals(data)
    assert len(seals) == 3 and seals[-1] == len(data)
    full = parse_snapshot(data, None)
    assert (full.layout, full.zxid, full.last_processed_zxid) == ("3.9", t.last_zxid, t.last_zxid)
    assert full.digest is not None and full.digest.digest == tree_digest(t) and full.digest.zxid == t.last_zxid
    assert parse_snapshot(data[:seals[1]], 7).layout == "3.6"
    old = parse_snapshot(data[:seals[0]], 7)
    assert (old.layout, old.digest, old.zxid) == ("3.5", None, 7)
    for s in (full, old):
        assert dump_tree(s.tree) == dump_tree(t) and s.tree.sessions == t.sessions


def test_unknown_sealed_sections_are_skipped_damaged_ones_are_not():
    data = snapshot_bytes(_tree())
    extra = data + b"future!!"
    extra += struct.pack(">q", zlib.adler32(extra)) + END_PATH
    assert parse_snapshot(extra, None).extra_bytes == 8 + 8 + len(END_PATH)
    bad = bytearray(extra)
    bad[len(data) + 2] ^= 1
    with pytest.raises(SnapshotCorruptError, match="checksum mismatch"):
        parse_snapshot(bytes(bad), None)


def test_open_acl_is_key_minus_one_outside_the_map():
    """ZooKeeper's ReferenceCountedACLCache: OPEN_ACL_UNSAFE is -1 and not in the map; others from 1."""
    t = DataTree()
    body = body_bytes(t)
    # no sessions, one ACL list (READ_ACL_UNSAFE of /zookeeper/config) with key 1
    assert body[:20] == struct.pack(">iiqi", 0, 1, 1, 1)
    assert struct.pack(">q", -1) in body


def test_body_stream_round_trip_as_a_snap_sync_sends_it():
    t = _tree()
    stream = body_bytes(t) + struct.pack(">i", 10) + b"BenWasHere"
    tree, off = read_body(stream)
    assert stream[off:] == struct.pack(">i", 10) + b"BenWasHere"
    assert dump_tree(tree) == dump_tree(t) and tree.sessions == t.sessions


def test_legacy_corral_layout_still_loads():
    t = _tree()
    body = HEADER + struct.pack(">q", t.last_zxid) + body_bytes(t)
    legacy = body + struct.pack(">q", zlib.adler32(body)) + END_PATH
    snap = parse_snapshot(legacy, None)
    assert (snap.layout, snap.zxid) == ("corral-legacy", t.last_zxid)
    assert dump_tree(snap.tree) == dump_tree(t)


def _snappy_java(data: bytes, cut: int) -> bytes:
    """snappy-java's stream (what ZooKeeper writes): header, then length-prefixed raw blocks; a second
    concatenated stream repeats the header."""
    out = b""
    for part in (data[:cut], data[cut:]):
        block = bytes(cramjam.snappy.compress_raw(part))
        out += SNAPPY_MAGIC + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    return out


@pytest.mark.parametrize("kind", ["gzip", "snappy"])
def test_compressed_snapshots(tmp_path, kind):
    t = _tree()
    data = snapshot_bytes(t)
    packed = gzip.compress(data) if kind == "gzip" else _snappy_java(data, len(data) // 3)
    path = tmp_path / f"snapshot.{t.last_zxid:x}.{'gz' if kind == 'gzip' else 'snappy'}"
    path.write_bytes(packed)
    snap = load_snapshot(path)
    assert snap.compression == kind and snap.zxid == t.last_zxid
    assert dump_tree(snap.tree) == dump_tree(t)


# ---- hostile bytes --------------------------------------------------------------------------------------


def test_every_truncation_and_flip_is_a_clear_error():
    """Cut at every offset, flip bytes all over, garbage with each magic: SnapshotCorruptError, never
    another exception (a traceback in `corral snapshot verify`, a crash in recovery)."""
    data = snapshot_bytes(_tree())
    seals = _seals(data)
    for cut in range(len(data)):
        if cut in seals:  # cut right after a seal: a complete snapshot of an older layout
            assert parse_snapshot(data[:cut], 1).tree.nodes
            continue
        with pytest.raises(SnapshotCorruptError):
            parse_snapshot(data[:cut], 1)
    rng = random.Random(4)
    for _ in range(300):
        bad = bytearray(data)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        with pytest.raises(SnapshotCorruptError):
            parse_snapshot(bytes(bad), 1)
    for prefix in (b"", HEADER, b"\x1f\x8b", SNAPPY_MAGIC, SNAPPY_MAGIC + bytes(8) + b"\x7f\xff\xff\xff"):
        for n in (0, 1, 17, 300):
            with pytest.raises(SnapshotCorruptError):
                parse_snapshot(prefix + rng.randbytes(n), 1)
    body = body_bytes(_tree())
    for cut in range(len(body) - 1):  # the SNAP stream cut short, as a dropped connection leaves it
        with pytest.raises(SnapshotCorruptError):
            read_body(body[:cut])
    for n in (0, 3, 40, 500):
        with pytest.raises(SnapshotCorruptError):
            read_body(rng.randbytes(n))


def test_a_node_before_its_parent_or_with_an_unknown_acl_is_named():
    t = DataTree()
    body = bytearray(body_bytes(t))
    i = body.index(b"/zookeeper/quota")
    body[i:i + 16] = b"/zookeeper/qu/ta"  # a node whose parent never appears
    data = HEADER + bytes(body)
    data += struct.pack(">q", zlib.adler32(data)) + END_PATH
    with pytest.raises(SnapshotCorruptError, match="before its parent"):
        parse_snapshot(data, 1)
    body = bytearray(body_bytes(t))
    j = body.index(struct.pack(">q", 1), 16)  # /zookeeper/config's ACL key, in its node record
    body[j:j + 8] = struct.pack(">q", 99)
    data = HEADER + bytes(body)
    data += struct.pack(">q", zlib.adler32(data)) + END_PATH
    # A number the ACL map lacks is a fuzzy snapshot's, not damage: loaded locked (snapnodes.UNRESOLVED_ACL).
    assert parse_snapshot(data, 1).tree.acl_of("/zookeeper/config") == UNRESOLVED_ACL


# ---- the digest -----------------------------------------------------------------------------------------


def test_node_digest_rules():
    args = (1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert node_digest("/", b"d", *args) == node_digest("", b"d", *args)  # "/" is digested as ""
    assert node_digest("/zookeeper/quota", b"d", *args) == 0  # under /zookeeper/: left out
    assert node_digest("/zookeeper", b"d", *args) != 0  # /zookeeper itself counts
    assert node_digest("/a", None, *args) == node_digest("/a", b"", *args)  # null data adds nothing
    assert node_digest("/a", b"d", *args) == zlib.crc32(
        struct.pack(">qqqqqiiiq", 1, 2, 3, 4, 5, 6, 7, 8, 9), zlib.crc32(b"d", zlib.crc32(b"/a")))
    assert to_long(1 << 63) == -(1 << 63) and to_long((1 << 64) + 5) == 5


# ---- replay over a fuzzy snapshot, as ZooKeeper's DataTree ----------------------------------------------


def _hdr(zxid: int, type_: int, session: int = 5) -> TxnHeader:
    return TxnHeader(session, 1, zxid, 1000, type_)


def test_create_of_an_existing_node_on_replay():
    """createNode gives the existing node the txn's ACL; a plain create (not create2) also moves the
    parent's cversion and pzxid forward."""
    t = DataTree()
    t.apply(_hdr(1, OpCode.create), CreateTxn("/p", b"", OPEN, False, -1))
    t.apply(_hdr(2, OpCode.create), CreateTxn("/p/c", b"", OPEN, False, -1))
    acl = [ACL(1, Id("world", "anyone"))]
    r = t.apply(_hdr(3, OpCode.create2), CreateTxn("/p/c", b"", acl, False, 5))
    assert r.err == Errs.NODEEXISTS and t.get("/p/c").acl == ((1, "world", "anyone"),)
    assert (t.get("/p").cversion, t.get("/p").pzxid) == (1, 2)
    r = t.apply(_hdr(4, OpCode.create), CreateTxn("/p/c", b"", OPEN, False, 5))
    assert r.err == Errs.NODEEXISTS and (t.get("/p").cversion, t.get("/p").pzxid) == (5, 4)


def test_delete_of_a_missing_node_still_moves_the_parent_pzxid():
    t = DataTree()
    t.apply(_hdr(1, OpCode.create), CreateTxn("/p", b"", OPEN, False, -1))
    assert t.apply(_hdr(7, OpCode.delete), DeleteTxn("/p/gone")).err == Errs.NONODE
    assert t.get("/p").pzxid == 7
    t.apply(_hdr(9, OpCode.closeSession), CloseSessionTxn(["/p/also-gone"]))
    assert t.get("/p").pzxid == 9


# ---- logs, names, modes ---------------------------------------------------------------------------------


def _log(path: Path, zxids: range, pad: int, torn: bool) -> None:
    w = TxnLogWriter(path.parent, force_sync=False)
    w.append([(z, encode_txn_payload(_hdr(z, OpCode.create), CreateTxn(f"/n{z}", b"", OPEN, False, -1)))
              for z in zxids])
    w.close()
    assert w.path is not None
    os.truncate(w.path, w.size)  # the writer's own preallocation off: the padding (or none) is the test's
    w.path.rename(path)
    with open(path, "ab") as f:
        if torn:
            f.write(struct.pack(">qi", 123, 50) + b"partial")
        f.write(bytes(pad))


def test_a_torn_record_in_an_older_padded_log_is_skipped_as_zookeeper_does(tmp_path):
    _log(tmp_path / "log.1", range(1, 4), pad=1 << 16, torn=True)
    recs, torn = scan(tmp_path / "log.1", last_file=False)
    assert [r.zxid for r in recs] == [1, 2, 3] and torn is not None
    _log(tmp_path / "log.9", range(9, 12), pad=0, torn=True)  # no padding: not ZooKeeper's crash pattern
    with pytest.raises(LogCorruptError, match="not the last one"):
        scan(tmp_path / "log.9", last_file=False)


def test_damage_before_megabytes_of_zeros_and_intact_records_is_found_quickly(tmp_path):
    """A damaged record, then a run of zeros (a preallocated region never written), then intact records up
    to the end: mid-log damage, named at its offset. The search for intact records skips the zero run
    whole (a byte at a time it took seconds per MiB), and still finds a record whose checksum starts
    with zero bytes right where the run ends."""
    _log(tmp_path / "log.1", range(1, 4), pad=0, torn=True)
    damaged_at = (tmp_path / "log.1").stat().st_size - len(struct.pack(">qi", 123, 50) + b"partial")
    tail = b"".join(frame_record(encode_txn_payload(_hdr(z, OpCode.create), CreateTxn(f"/m{z}", b"", OPEN, False, -1)))
                    for z in range(5, 8))
    with open(tmp_path / "log.1", "ab") as f:
        f.write(bytes(8 << 20) + tail)
    with pytest.raises(LogCorruptError, match="fails its checksum") as ei:
        scan(tmp_path / "log.1", last_file=True)
    assert ei.value.offset == damaged_at


def test_a_logged_txn_with_zookeepers_digest_decodes():
    payload = encode_txn_payload(_hdr(3, OpCode.create), CreateTxn("/x", b"d", OPEN, False, 1))
    hdr, txn = decode_txn_payload(payload + TxnDigest(2, 12345).to_bytes())
    assert hdr.zxid == 3 and isinstance(txn, CreateTxn) and txn.path == "/x"


def test_names_and_order():
    assert [snapshot_zxid(n) for n in ("snapshot.1a", "snapshot.1a.gz", "snapshot.1a.snappy")] == [26, 26, 26]
    for bad in ("snapshot.1a.tmp", "snapshot.0x1a", "snapshot.1_a", "snapshot.", "snapshot.1a.7.tmp", "log.1"):
        assert snapshot_zxid(bad) is None, bad
    names = ["log.a", "log.100000001", "log.9", "log.fffffffff"]
    assert [p.name for p in sort_by_zxid([Path(n) for n in names])] == \
        ["log.9", "log.a", "log.100000001", "log.fffffffff"]


def test_files_0600_and_directories_0700(tmp_path):
    old = os.umask(0o022)
    try:
        d = tmp_path / "new" / "data" / "version-2"
        make_private_dir(d)
        for p in (tmp_path / "new", tmp_path / "new" / "data", d):
            assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
        made = [write_snapshot(_tree(), d), install_snapshot(snapshot_bytes(DataTree()), d)[1]]
        w = TxnLogWriter(d, force_sync=False)
        w.append([(1, encode_txn_payload(_hdr(1, OpCode.create), CreateTxn("/n", b"", OPEN, False, -1)))])
        w.close()
        write_epoch(d, CURRENT, 3)
        made += [w.path, d / CURRENT]
        for p in made:
            assert p is not None and stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert (d / CURRENT).read_text() == "3"  # as ZooKeeper writes it: no newline
    finally:
        os.umask(old)


def test_data_extents_cover_what_was_written_and_skip_the_preallocated_hole(tmp_path):
    path = tmp_path / "log.1"
    with open(path, "wb") as f:
        f.write(b"x" * 10000)
        f.truncate(64 << 20)  # as the writer preallocates: a hole, no data written
    with open(path, "rb") as f:
        extents = list(data_extents(f.fileno(), 64 << 20))
    assert extents and extents[0][0] == 0 and 10000 <= extents[-1][1] < 64 << 20
    assert list(data_extents(0, 0)) == []  # an empty file has none (no call reaches the fd)
