"""Apache ZooKeeper 3.8 and corral each recover the other's data directory, and corral's tools read
Apache's files.

Why: operators move between the two on the same dataDir (issue 9). The reference is what Apache served
just before it stopped: every znode, every Stat field, every ACL and ephemeral owner, read with kazoo,
must be what the other server serves after recovering the files. Both servers write several snapshots
and logs (snapCount=10), all node kinds, several distinct ACL lists, a session whose ephemerals outlive
the stop (they stay until that session expires) and one that closed (its ephemerals are gone).
Apache's snapshots are fuzzy and carry its tree digest: where one was recorded at the snapshot's own
zxid, corral's digest of the loaded tree must equal it (tree/digest.py is checked against Apache here).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
from pathlib import Path

import pytest
from kazoo.security import make_acl, make_digest_acl

from corral.persistence import recover
from corral.persistence.files import LOG_PREFIX, snapshot_zxid, zxid_of
from corral.persistence.snapshot import SnapshotCorruptError, load_snapshot
from corral.persistence.txnlog import decode_txn_payload, scan, txn_digest
from corral.tree import DataTree
from corral.tree.digest import tree_digest
from tests.durability.support import Dump, close_kazoo, corral_cli, diff, dump_kazoo, dump_tree, kazoo_client, vdir
from tests.support.rawclient import OPEN_ACL_UNSAFE, Op, RawClient, create_body, create_ttl_body
from tests.support.server import ApacheZooKeeper, CorralProcess, ServerProcess
from tests.support.wait import wait_until

AUTH = ("digest", "u:p")
LIVE_TIMEOUT_MS = 6000  # the session left open across the stop: its ephemerals outlive it this long
CFG = {"snapCount": "10", "extendedTypesEnabled": "true"}


class Apache(ApacheZooKeeper):
    """The reference server, with snapshot compression (a JVM property) when asked."""

    def __init__(self, *args: object, compression: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.compression = compression

    def command(self) -> list[str]:
        cmd = super().command()
        if not self.compression:
            return cmd
        i = cmd.index("-cp")
        cmd[i + 1] += ":/usr/share/java/snappy-java.jar"  # Debian's snappy-java, for "snappy"
        return [*cmd[:i], f"-Dzookeeper.snapshot.compression.method={self.compression}", *cmd[i:]]


def populate(srv: ServerProcess) -> RawClient:
    """Every node kind and several ACL lists, through enough txns for several snapshots and logs.

    Returns the raw connection of a session left open (never closed: its ephemerals must outlive the
    stop); the caller drops its socket."""
    zk = kazoo_client(srv.hosts, auth_data=[AUTH])
    try:
        secret = make_digest_acl("u", "p", all=True)
        zk.create("/app", b"root of the app")
        zk.create("/app/cfg", b"v0")
        for i in range(1, 6):
            zk.set("/app/cfg", f"v{i}".encode())
        zk.set_acls("/app/cfg", [make_acl("world", "anyone", all=True), make_acl("ip", "127.0.0.1", read=True)])
        for _ in range(3):
            zk.create("/app/seq-", b"s", sequence=True)
        zk.create("/app/gone", b"")
        zk.delete("/app/gone")
        zk.create("/secure", b"digest+world read", acl=[secret, make_acl("world", "anyone", read=True)])
        zk.create("/secure/only", b"digest only", acl=[secret])
        zk.create("/local", b"ip", acl=[make_acl("ip", "127.0.0.1", all=True)])
        zk.create("/ro", b"read only", acl=[make_acl("world", "anyone", read=True)])
        zk.create("/big", bytes(range(256)) * 200)
        tx = zk.transaction()
        tx.create("/app/multi", b"m")
        tx.set_data("/app/cfg", b"in a multi")
        tx.commit()
        for i in range(20):
            zk.create(f"/app/n{i:02}", str(i).encode() * i)
        closed = kazoo_client(srv.hosts)
        closed.create("/app/closed-eph", b"", ephemeral=True)
        close_kazoo(closed)  # closeSession: its ephemeral goes with it
    finally:
        close_kazoo(zk)
    raw = RawClient(srv.host, srv.port)
    raw.connect(timeout_ms=LIVE_TIMEOUT_MS)
    assert raw.create("/cont", b"c", flags=4, opcode=Op.CREATE_CONTAINER).err == 0
    assert raw.create("/cont/kid", b"k").err == 0  # a container with a child is never reaped
    assert raw.call(Op.CREATE_TTL, create_ttl_body("/ttl", b"t", OPEN_ACL_UNSAFE, 5, 3_600_000)).err == 0
    assert raw.call(Op.CREATE, create_body("/nulldata", None)).err == 0
    assert raw.create("/app/live-eph", b"e", flags=1).err == 0
    assert raw.create("/app/live-seq-", b"e", flags=3).err == 0
    return raw


def dump(srv: ServerProcess) -> Dump:
    zk = kazoo_client(srv.hosts, auth_data=[AUTH])
    try:
        return dump_kazoo(zk)
    finally:
        close_kazoo(zk)


def live_ephemerals(tree: Dump) -> set[str]:
    return {p for p, e in tree.items() if e.ephemeralOwner and "live-" in p}


def check_ephemerals_expire(srv: ServerProcess, paths: set[str]) -> None:
    """The live session's ephemerals are there until it expires, then gone (it never reconnects)."""
    zk = kazoo_client(srv.hosts)
    try:
        wait_until(lambda: not any(zk.exists(p) for p in paths), 60, what=f"{sorted(paths)} to expire")
    finally:
        close_kazoo(zk)


def apache_writes(root: Path, *, hard: bool, compression: str = "") -> Dump:
    """Apache populates a dataDir under `root` and stops (kill -9 or SIGTERM); what it served before."""
    srv = Apache(data_dir=root, extra_cfg=CFG, compression=compression)
    srv.start()
    try:
        raw = populate(srv)
        expected = dump(srv)
        raw.close()  # no closeSession
        srv.kill() if hard else srv.stop()
    finally:
        srv.stop()
    return expected


@pytest.fixture(scope="module")
def apache_killed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dump]:
    """A dataDir Apache wrote and was killed -9 on, kept pristine (tests work on copies)."""
    root = tmp_path_factory.mktemp("apache-killed")
    return root, apache_writes(root, hard=True)


def copy_root(src: Path, dst: Path) -> Path:
    shutil.copytree(src / "data", dst / "data")
    return dst


def assert_same(expected: Dump, got: Dump) -> None:
    assert got == expected, "recovered tree differs from what the writer served:\n" + diff(expected, got)


def corral_recovers(root: Path, expected: Dump) -> None:
    srv = CorralProcess(data_dir=root, extra_cfg=CFG)
    srv.start()
    try:
        got = dump(srv)
        assert_same(expected, got)
        live = live_ephemerals(expected)
        assert len(live) == 2
        check_ephemerals_expire(srv, live)
    finally:
        srv.stop()


def test_corral_recovers_apache_killed(apache_killed, tmp_path):
    root, expected = apache_killed
    snaps = sorted(vdir(root).glob("snapshot.*"))
    logs = sorted(vdir(root).glob("log.*"))
    assert len(snaps) >= 3 and len(logs) >= 3, (snaps, logs)
    corral_recovers(copy_root(root, tmp_path), expected)


def test_corral_recovers_apache_clean_stop_gzip(tmp_path):
    """SIGTERM this time, and gzip-compressed snapshots (`snapshot.<zxid>.gz`)."""
    src = tmp_path / "apache"
    expected = apache_writes(src, hard=False, compression="gz")
    assert sorted(vdir(src).glob("snapshot.*.gz"))
    corral_recovers(src, expected)


def test_apache_recovers_corral(tmp_path):
    """corral writes (several snapshots and logs), stops; Apache on the same dataDir (its newest snapshot
    removed, so that Apache replays corral's logs over an older one) serves the same tree,
    finds no digest mismatch, and the snappy snapshot it writes at startup is one corral reads back with
    the same digest. corral's files are 0600 and the directories it made 0700."""
    srv = CorralProcess(data_dir=tmp_path, extra_cfg=CFG)
    srv.start()
    try:
        raw = populate(srv)
        expected = dump(srv)
        raw.close()
    finally:
        srv.stop()
    v = vdir(tmp_path)
    corral_snaps = sorted(v.glob("snapshot.*"))
    assert len(corral_snaps) >= 3 and len(list(v.glob("log.*"))) >= 3
    for d in (tmp_path / "data", v):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in v.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # Without the newest snapshot, Apache must replay corral's logs from an older one.
    newest = _newest_snapshot(tmp_path)
    newest.unlink()
    base = snapshot_zxid(_newest_snapshot(tmp_path).name) or 0
    assert any(r.zxid > base for p in v.glob("log.*") for r in scan(p, True)[0])
    apache = Apache(data_dir=tmp_path, extra_cfg=CFG, compression="snappy")
    apache.start()
    try:
        assert_same(expected, dump(apache))
        mntr = dict(line.split("\t", 1) for line in apache.four_letter("mntr").splitlines() if "\t" in line)
        assert mntr["zk_digest_mismatches_count"] == "0", apache.log()[-3000:]
    finally:
        apache.stop()
    (written,) = [p for p in v.glob("snapshot.*.snappy")]
    r = corral_cli("snapshot", "verify", written)
    assert r.returncode == 0 and r.stdout.strip().endswith("matches"), (r.stdout, r.stderr)


# ---- Apache's files, damaged, and corral's tools on them ------------------------------------------------


def test_apache_digests_match_corrals(apache_killed):
    """Every Apache snapshot loads, with its digest section. Apache logs its tree digest after every txn
    (TxnDigest): replaying all its logs from an empty tree, corral's tree digest after each txn is the
    one Apache logged. (Comparing with a snapshot's own digest is not deterministic: Apache's snapshots
    are fuzzy, and even one whose digest zxid is its own may hold half of a txn being applied.)"""
    root, _ = apache_killed
    for path in _loadable_snapshots(root):
        snap = load_snapshot(path)
        assert snap.layout == "3.6" and snap.zxid == snapshot_zxid(path.name) and snap.digest is not None
    tree = DataTree()
    compared = 0
    for path in sorted(vdir(root).glob("log.*"), key=lambda p: zxid_of(p.name, LOG_PREFIX) or 0):
        for rec in scan(path, True)[0]:
            tree.apply(*decode_txn_payload(rec.payload))
            logged = txn_digest(rec.payload)
            assert logged is not None, f"zxid 0x{rec.zxid:x}"
            assert tree_digest(tree) == logged.treeDigest, f"zxid 0x{rec.zxid:x} in {path}"
            compared += 1
    assert compared > 50


def _loadable_snapshots(root: Path) -> list[Path]:
    """The snapshots in zxid order, every one of which must load, except that the newest may be torn:
    kill -9 can land while Apache's snapshot thread writes it (snapCount=10 snapshots often), and
    recovery skips such a file, Apache's (SnapStream.isValidSnapshot) as corral's."""
    snaps = sorted(vdir(root).glob("snapshot.*"), key=lambda p: snapshot_zxid(p.name) or 0)
    try:
        load_snapshot(snaps[-1])
    except SnapshotCorruptError:
        snaps.pop()
    assert len(snaps) >= 2, snaps
    return snaps


def _newest_snapshot(root: Path) -> Path:
    return _loadable_snapshots(root)[-1]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_newest_snapshot_falls_back(apache_killed, tmp_path, caplog, damage):
    """As Apache's FileSnap: an invalid newest snapshot is skipped (and logged with why) for the one
    before it, and the logs bring the tree to the same state."""
    root, _ = apache_killed
    reference = dump_tree(recover(root / "data", root / "data").tree)
    work = copy_root(root, tmp_path)
    newest = _newest_snapshot(work)
    size = newest.stat().st_size
    if damage == "truncate":
        os.truncate(newest, size // 2)
    else:
        with open(newest, "r+b") as f:
            f.seek(size // 2)
            f.write(random.Random(9).randbytes(64))
    caplog.set_level("INFO", logger="corral.recovery")
    rec = recover(work / "data", work / "data")
    assert rec.snapshot is not None and rec.snapshot != newest
    assert f"event=snapshot_invalid file={newest}" in caplog.text
    assert_same(reference, dump_tree(rec.tree))
    r = corral_cli("snapshot", "verify", newest)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"corral: {newest}: invalid snapshot at offset")


def test_garbage_log_tail_is_truncated(apache_killed, tmp_path):
    """Garbage written into the zero padding after the last record of Apache's newest log is a torn tail:
    cut off, and the tree is the same."""
    root, _ = apache_killed
    reference = dump_tree(recover(root / "data", root / "data").tree)
    work = copy_root(root, tmp_path)
    last = max(vdir(work).glob("log.*"), key=lambda p: zxid_of(p.name, LOG_PREFIX) or 0)
    data = last.read_bytes()
    end = len(data.rstrip(b"\0"))
    assert len(data) - end > 1 << 20  # Apache preallocated it
    with open(last, "r+b") as f:
        f.seek(end)
        f.write(b"\x00\x00\x00\x00\x12\x34\x56\x78\x00\x00\x01\x00garbage")
    rec = recover(work / "data", work / "data")
    assert rec.truncated == (last, end)
    assert last.stat().st_size == end
    assert_same(reference, dump_tree(rec.tree))


def test_log_and_snapshot_tools_read_apache_files(apache_killed):
    """`corral log verify` takes Apache's logs in zxid order whatever order they are given in; `snapshot
    verify` and `dump` read every Apache snapshot."""
    root, _ = apache_killed
    logs = sorted(vdir(root).glob("log.*"), key=lambda p: zxid_of(p.name, LOG_PREFIX) or 0)
    r = corral_cli("log", "verify", *reversed(logs))
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == [str(p) for p in logs]
    r = corral_cli("log", "dump", *logs)
    assert r.returncode == 0 and "createContainer" in r.stdout and "createTTL" in r.stdout, r.stderr
    newest = _newest_snapshot(root)
    r = corral_cli("snapshot", "verify", newest)
    assert r.returncode == 0 and r.stdout.startswith(f"{newest}: OK"), r.stderr
    r = corral_cli("snapshot", "dump", newest)
    assert r.returncode == 0 and "Format: ZooKeeper 3.6-3.8 layout" in r.stdout and "/secure/only" in r.stdout


def test_kazoo_sees_nothing_odd(apache_killed):
    """Sanity of the reference dump itself: the node kinds the tests rely on are in it."""
    _, expected = apache_killed
    assert {"/cont", "/ttl", "/nulldata", "/secure/only", "/app/multi"} <= expected.keys()
    assert "/app/closed-eph" not in expected and len(live_ephemerals(expected)) == 2
    assert len({e.acl for e in expected.values()}) >= 5
