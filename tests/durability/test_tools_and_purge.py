"""Operator tools and retention: `corral log|snapshot dump|verify`, `corral purge`, autopurge.

Why: the tools are what an operator trusts during an incident, so their exit codes and messages must be
exact (file and offset on corruption, never "OK" on a bad file). Retention deletes data, so the one
property that matters is checked directly: after a purge, *each* retained snapshot together with the
remaining logs still recovers the full tree — i.e. no log file that any retained snapshot needs is gone.
Autopurge's interval is in hours (as in ZooKeeper), so its purge logic is tested through `corral purge`,
`Storage.purge_now()` and `persistence.purge.plan`, and its scheduling by capturing the timer, not by waiting.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.persistence import read_snapshot, recover
from corral.persistence.files import LOG_PREFIX, SNAP_PREFIX, parse_snapshot_temp, snapshot_temp, zxid_of
from corral.persistence.purge import plan, remove_stale_temps
from corral.persistence.txnlog import decode_txn_payload, scan
from corral.server.config import ServerConfig, parse
from corral.server.storage import Storage
from corral.tree import DataTree
from corral.tree.digest import tree_digest
from tests.durability.support import (
    close_kazoo,
    copy_server_dir,
    corral_cli,
    diff,
    dump_kazoo,
    dump_tree,
    flip_byte,
    kazoo_client,
    logs_of,
    new_server,
    replay_logs,
    running,
    snaps_of,
    start,
    vdir,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A data dir with many snapshots and log files (snapCount=10), stopped cleanly. Yields (root, oracle
    dump = every log replayed from zxid 1)."""
    root = tmp_path_factory.mktemp("history")
    with running(root, snapCount="10") as srv:
        zk = kazoo_client(srv.hosts)
        zk.create("/h", b"history")
        zk.create("/h/eph", b"\x00\x01", ephemeral=True)
        # Snapshots run in the background and a new one waits for the previous child, so on a busy machine a
        # fixed number of writes may give fewer snapshots: write at least 90 times, then until there are 6.
        for i in range(3000):
            if i >= 90 and len(snaps_of(root)) >= 6:
                break
            if i % 10 == 0:
                t = zk.transaction()
                t.create(f"/h/m{i}", b"multi")
                t.set_data("/h", b"m%d" % i)
                t.commit()
            elif i % 7 == 0 and zk.exists(f"/h/n{i - 1}"):
                zk.delete(f"/h/n{i - 1}")
            elif i % 5 == 0:
                zk.set("/h", b"s%d" % i)
            else:
                zk.create(f"/h/n{i}", b"n%d" % i)
        close_kazoo(zk)
        srv.stop()
    assert len(snaps_of(root)) >= 6 and len(logs_of(root)) >= 6
    yield root, dump_tree(replay_logs(logs_of(root)))


# ---- corral log dump | verify ------------------------------------------------------------------


def test_log_dump_lists_every_transaction(history):
    """One line per record with its zxid and session, every op type readable, and the record count at the end."""
    root, _ = history
    for path in logs_of(root):
        records, _ = scan(path, True)
        r = corral_cli("log", "dump", path)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("ZooKeeper Transactional Log File") and str(path) in lines[0]
        assert lines[-1] == f"EOF reached after {len(records)} txns."
        body = lines[1:-1]
        assert len(body) == len(records)
        for line, rec in zip(body, records, strict=True):
            hdr, _ = decode_txn_payload(rec.payload)
            assert f" zxid 0x{hdr.zxid:x} " in line and f"session 0x{hdr.clientId:x}" in line
    text = corral_cli("log", "dump", *logs_of(root)).stdout
    for op in ("createSession", "create {path=/h/n1,", "multi", "delete {path=/h/n", "setData"):
        assert op in text, op
    assert "closeSession {paths2Delete=['/h/eph']}" in text


def test_log_verify_good_files(history):
    """Good files: exit 0 and one exact OK line per file (record count, first..last zxid)."""
    root, _ = history
    logs = logs_of(root)
    r = corral_cli("log", "verify", *logs)
    assert r.returncode == 0, r.stderr
    for path, line in zip(logs, r.stdout.splitlines(), strict=True):
        records, _ = scan(path, True)
        assert line == f"{path}: OK, {len(records)} records, zxid 0x{records[0].zxid:x}..0x{records[-1].zxid:x}"


@pytest.mark.parametrize("tool", ["verify", "dump"])
def test_log_tools_on_a_corrupt_record(history, tmp_path, tool):
    """A damaged record followed by valid ones: exit 1, file and offset of the record on stderr."""
    root, _ = history
    src = logs_of(root)[1]
    path = tmp_path / src.name
    shutil.copy(src, path)
    records, _ = scan(path, True)
    victim = records[len(records) // 2]
    flip_byte(path, victim.offset + 15)
    r = corral_cli("log", tool, path)
    assert r.returncode == 1
    assert f"{path}: corrupt transaction log at offset {victim.offset}: record fails its checksum" in r.stderr
    assert "OK" not in r.stdout


@pytest.mark.parametrize("tool", ["verify", "dump"])
def test_log_tools_on_a_torn_tail(history, tmp_path, tool):
    """An incomplete last record: exit 1 naming its offset; dump still prints the complete records."""
    root, _ = history
    src = logs_of(root)[-1]
    path = tmp_path / src.name
    shutil.copy(src, path)
    records, _ = scan(path, True)
    os.truncate(path, records[-1].end - 3)
    r = corral_cli("log", tool, path)
    assert r.returncode == 1
    assert f"{path}" in r.stderr and f"offset {records[-1].offset}" in r.stderr
    if tool == "dump":
        assert f"EOF reached after {len(records) - 1} txns." in r.stdout
    else:
        assert f"{len(records) - 1} valid records, then an incomplete record at offset {records[-1].offset}" \
            in r.stderr


def test_log_verify_checks_every_file_and_knows_which_is_last(history, tmp_path):
    """Over a directory of logs: a torn end in an older file is corruption (only the newest may be torn),
    the files after a bad one are still checked, and files out of zxid order are reported."""
    root, _ = history
    logs = logs_of(root)
    assert len(logs) >= 3
    d = tmp_path / "version-2"
    d.mkdir()
    for src in logs:
        shutil.copy(src, d / src.name)
    copies = [d / src.name for src in logs]
    records, _ = scan(copies[1], False)
    os.truncate(copies[1], records[-1].end - 3)
    r = corral_cli("log", "verify", *copies)
    assert r.returncode == 1
    assert (f"{copies[1]}: corrupt transaction log at offset {records[-1].offset}: "
            "damaged record in a log file that is not the last one") in r.stderr
    ok = [line.split(":")[0] for line in r.stdout.splitlines()]
    assert ok == [str(p) for i, p in enumerate(copies) if i != 1]
    # The newest file torn the same way is a torn tail, not corruption.
    last, _ = scan(copies[-1], True)
    os.truncate(copies[-1], last[-1].end - 3)
    r = corral_cli("log", "verify", copies[-1])
    assert r.returncode == 1 and f"then an incomplete record at offset {last[-1].offset}" in r.stderr
    # Given out of order (as a shell glob sorts `log.a` before `log.9`), the files are taken by zxid.
    r = corral_cli("log", "verify", copies[2], copies[0])
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == [str(copies[0]), str(copies[2])]
    # A file whose name's zxid lies about its contents: its records do not follow the previous file's.
    liar = tmp_path / f"log.{zxid_of(copies[2].name, LOG_PREFIX) + 1:x}"
    shutil.copy(copies[0], liar)
    r = corral_cli("log", "verify", liar, copies[2])
    assert r.returncode == 1 and f"{liar}: first zxid" in r.stderr and f"at the end of {copies[2]}" in r.stderr


def test_log_tools_on_a_checksummed_but_undecodable_record(tmp_path):
    """A record whose checksum holds but whose transaction does not match its header's type (what a
    prepare bug once wrote) is reported with its offset by both tools, never as a traceback."""
    from corral.persistence.txnlog import TxnLogWriter, encode_txn_payload
    from corral.protocol import ACL, CreateContainerTxn, CreateTxn, Id, OpCode, TxnHeader

    acl = [ACL(31, Id("world", "anyone"))]
    good = encode_txn_payload(TxnHeader(1, 1, 1, 0, OpCode.create), CreateTxn("/a", b"", acl, False, 1))
    bad = encode_txn_payload(TxnHeader(1, 2, 2, 0, OpCode.create), CreateContainerTxn("/b", b"", acl, 2))
    w = TxnLogWriter(tmp_path)
    w.append([(1, good), (2, bad)])
    w.close()
    (path,) = tmp_path.glob("log.*")
    records, _ = scan(path, True)
    for tool in ("verify", "dump"):
        r = corral_cli("log", tool, path)
        assert r.returncode == 1, (tool, r.stdout, r.stderr)
        assert f"{path}: undecodable transaction at offset {records[1].offset}" in r.stderr, (tool, r.stderr)
        assert "Traceback" not in r.stderr


def test_log_tools_on_bad_header_and_missing_file(history, tmp_path):
    """A bad magic is corruption at offset 0 (exit 1); a missing file is a usage error (exit 2)."""
    root, _ = history
    path = tmp_path / "log.1"
    shutil.copy(logs_of(root)[0], path)
    flip_byte(path, 0)
    r = corral_cli("log", "verify", path)
    assert r.returncode == 1 and f"{path}: corrupt transaction log at offset 0: bad magic" in r.stderr
    r = corral_cli("log", "verify", tmp_path / "log.nope")
    assert r.returncode == 2 and "does not exist" in r.stderr


# ---- corral snapshot dump | verify -------------------------------------------------------------


def _tree_at(root: Path, zxid: int) -> DataTree:
    """Oracle for a snapshot: every logged txn up to `zxid`, replayed from an empty tree."""
    tree = DataTree()
    for path in logs_of(root):
        for rec in scan(path, True)[0]:
            if rec.zxid <= zxid:
                tree.apply(*decode_txn_payload(rec.payload))
    return tree


def test_snapshots_hold_exactly_the_logged_state(history):
    """Each snapshot (an image taken by a forked child) equals the logs replayed up to its zxid."""
    root, _ = history
    for snap in snaps_of(root):
        tree = read_snapshot(snap)
        assert tree.last_zxid == zxid_of(snap.name, SNAP_PREFIX)
        expected = _tree_at(root, tree.last_zxid)
        assert dump_tree(tree) == dump_tree(expected), diff(dump_tree(expected), dump_tree(tree))
        assert tree.sessions == expected.sessions


def test_snapshot_dump_and_verify(history):
    """verify prints an exact OK line; dump shows every znode with the Stat fields and data of the snapshot."""
    root, _ = history
    snap = snaps_of(root)[-1]
    tree = read_snapshot(snap)
    r = corral_cli("snapshot", "verify", snap)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{snap}: OK, zxid 0x{tree.last_zxid:x}, {tree.node_count()} znodes, " \
                               f"{len(tree.sessions)} sessions, digest {tree_digest(tree)} matches"
    r = corral_cli("snapshot", "dump", "-d", snap)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"ZNode Details (count={tree.node_count()}), snapshot valid at zxid 0x{tree.last_zxid:x}:")
    for path, node in tree.node_items():
        block = re.search(rf"^{re.escape(path)}\n((?:  .*\n)+)", out, re.M)
        assert block, path
        fields = dict(re.match(r"\s+(\w+) =\s?(.*)$", line).groups() for line in block.group(1).splitlines())
        st = node.stat()
        assert fields["cZxid"] == f"0x{st.czxid:x}" and fields["mZxid"] == f"0x{st.mzxid:x}"
        assert fields["pZxid"] == f"0x{st.pzxid:x}" and fields["dataVersion"] == str(st.version)
        assert fields["cversion"] == str(st.cversion) and fields["dataLength"] == str(st.dataLength)
        assert fields["data"] == base64.b64encode(node.data or b"").decode()
    assert f"Session Details (sid, timeout, ephemeralCount): {len(tree.sessions)}" in out


@pytest.mark.parametrize("damage,message", [("flip", "checksum mismatch"),
                                            ("truncate", "missing checksum trailer (incomplete file)")])
def test_snapshot_tools_on_a_corrupt_file(history, tmp_path, damage, message):
    """A flipped byte or a cut-short file: both tools exit 1 naming the file and offset, and print no tree."""
    root, _ = history
    path = tmp_path / snaps_of(root)[-1].name
    shutil.copy(snaps_of(root)[-1], path)
    size = path.stat().st_size
    if damage == "flip":
        flip_byte(path, size // 2)
    else:
        os.truncate(path, size - 7)
    for tool in ("verify", "dump"):
        r = corral_cli("snapshot", tool, path)
        assert r.returncode == 1, (tool, r.stdout[-500:])
        assert f"{path}: invalid snapshot at offset" in r.stderr and message in r.stderr, r.stderr
        assert "OK" not in r.stdout and "ZNode Details" not in r.stdout


# ---- corral purge --------------------------------------------------------------------------------


def _recovers_from_each_snapshot(root: Path, expected: dict, tmp: Path) -> None:
    """For every snapshot left, recover from it alone (newer ones removed) plus the remaining logs."""
    for i, snap in enumerate(snaps_of(root)):
        work = copy_server_dir(root, tmp / f"only{i}")
        for other in snaps_of(work):
            if other.name != snap.name:
                other.unlink()
        rec = recover(work / "data", work / "data")
        assert rec.snapshot is not None and rec.snapshot.name == snap.name
        got = dump_tree(rec.tree)
        assert got == expected, f"recovery from {snap.name} after purge differs:\n" + diff(expected, got)


def test_purge_dry_run_deletes_nothing(history, tmp_path):
    """--dry-run lists existing files it would remove and removes none."""
    root, _ = history
    work = copy_server_dir(root, tmp_path / "work")
    before = sorted(os.listdir(vdir(work)))
    r = corral_cli("purge", work / "data", "-n", "3", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(vdir(work))) == before
    would = [line.removeprefix("would remove ") for line in r.stdout.splitlines() if line.startswith("would remove")]
    assert would and all(Path(p).exists() for p in would)
    assert r.stdout.splitlines()[-1] == f"{len(would)} files to remove; kept the newest 3 snapshots"


@pytest.mark.parametrize("count", [3, 4])
def test_purge_keeps_newest_snapshots_and_every_needed_log(history, tmp_path, count):
    """Keeps exactly the newest N snapshots, deletes only logs wholly inside the oldest kept one, and each kept
    snapshot plus the remaining logs (and a restarted server) still gives the full tree."""
    root, expected = history
    work = copy_server_dir(root, tmp_path / "work")
    snaps_before, logs_before = snaps_of(work), logs_of(work)
    r = corral_cli("purge", work / "data", "-n", count)
    assert r.returncode == 0, r.stderr
    kept = snaps_of(work)
    assert [p.name for p in kept] == [p.name for p in snaps_before[-count:]]
    oldest = zxid_of(kept[0].name, SNAP_PREFIX)
    removed_logs = [p for p in logs_before if not p.exists()]
    assert removed_logs, "with more snapshots than retained, some old log should go"
    for p in removed_logs:  # only logs whose every txn is already inside the oldest retained snapshot
        assert all(rec.zxid <= oldest for rec in scan(vdir(root) / p.name, True)[0]), p
    removed = {line.removeprefix("removed ") for line in r.stdout.splitlines() if line.startswith("removed ")}
    assert removed == {str(p) for p in [*snaps_before[:-count], *removed_logs]}
    _recovers_from_each_snapshot(work, expected, tmp_path)
    srv = start(new_server(work))
    try:
        zk = kazoo_client(srv.hosts)
        got = dump_kazoo(zk)
        close_kazoo(zk)
    finally:
        srv.stop()
    assert got == expected, diff(expected, got)


@pytest.mark.parametrize("count", ["1", "2", "0", "-1"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_purge_refuses_a_count_below_three(history, tmp_path, count, dry_run):
    """As zkCleanup.sh (PurgeTxnLog: "count should be greater than or equal to 3"): `-n 1` is an error with a
    non-zero exit and nothing is deleted — never a silent change to the number asked for."""
    root, _ = history
    work = copy_server_dir(root, tmp_path / "work")
    before = sorted(os.listdir(vdir(work)))
    r = corral_cli("purge", work / "data", "-n", count, *(["--dry-run"] if dry_run else []))
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert r.stderr == f"corral purge: count should be greater than or equal to 3, got {count}; nothing deleted\n"
    assert sorted(os.listdir(vdir(work))) == before


def test_purge_with_a_separate_log_dir(tmp_path):
    """dataLogDir apart from dataDir: purge takes snapshots from one and logs from the other."""
    root = tmp_path / "srv"
    logdir = tmp_path / "txnlogs"
    with running(root, snapCount="10", dataLogDir=str(logdir)) as srv:
        zk = kazoo_client(srv.hosts)
        # Snapshots are taken in the background and a new one waits for the previous child, so on a busy
        # machine 80 writes may yield fewer than 4: keep writing (bounded) until there are enough.
        for i in range(2000):
            zk.create(f"/n{i}", b"%d" % i)
            if i >= 80 and i % 20 == 0 and len(snaps_of(root)) > 4:
                break
        close_kazoo(zk)
        srv.stop()
    logs = sorted(logdir.glob("version-2/log.*"), key=lambda p: zxid_of(p.name, LOG_PREFIX))
    assert logs and not list(vdir(root).glob("log.*")) and len(snaps_of(root)) > 3
    expected = dump_tree(replay_logs(logs))
    r = corral_cli("purge", root / "data", "--log-dir", logdir, "-n", "3")
    assert r.returncode == 0, r.stderr
    assert len(snaps_of(root)) == 3
    remaining = [p for p in logs if p.exists()]
    assert len(remaining) < len(logs)
    rec = recover(root / "data", logdir)
    assert dump_tree(rec.tree) == expected


# ---- plan(), Storage.purge_now(), autopurge ---------------------------------------------------------


def _files(d: Path, snaps: list[int], logs: list[int], extra: tuple[str, ...] = ()) -> Path:
    v = d / "version-2"
    v.mkdir(parents=True)
    for z in snaps:
        (v / f"{SNAP_PREFIX}{z:x}").write_bytes(b"")
    for z in logs:
        (v / f"{LOG_PREFIX}{z:x}").write_bytes(b"")
    for name in extra:
        (v / name).write_bytes(b"")
    return d


@pytest.mark.parametrize("snaps,logs,retain,doomed", [
    # oldest kept snapshot 0x20: log.11 holds 0x20 (needed); only log.1 goes
    ([0x10, 0x20, 0x30, 0x40], [0x1, 0x11, 0x21, 0x31, 0x41], 3, ["snapshot.10", "log.1"]),
    # a log starting exactly at the oldest kept snapshot's zxid is the one that holds it
    ([0x10, 0x20, 0x30, 0x40], [0x1, 0x11, 0x20, 0x31], 3, ["snapshot.10", "log.1", "log.11"]),
    # one long log spanning every snapshot is always needed
    ([0x10, 0x20, 0x30, 0x40, 0x50], [0x1], 3, ["snapshot.10", "snapshot.20"]),
    # no log starts after the oldest kept snapshot (no write since): the last one before it stays
    ([0x10, 0x20, 0x30, 0x40], [0x1, 0x5], 3, ["snapshot.10", "log.1"]),
    # not more snapshots than retained: nothing at all is deleted
    ([0x10, 0x20, 0x30], [0x1, 0x11, 0x21], 3, []),
    ([0x10, 0x20, 0x30, 0x40, 0x50], [0x1, 0x11, 0x21, 0x31, 0x41, 0x51], 4,
     ["snapshot.10", "log.1"]),
])
def test_plan_edge_cases(tmp_path, snaps, logs, retain, doomed):
    """Which files plan() deletes, by name only (ZooKeeper's PurgeTxnLog rules)."""
    d = _files(tmp_path / "d", snaps, logs)
    assert sorted(p.name for p in plan(d, d, retain)) == sorted(doomed)


@pytest.mark.parametrize("retain", [2, 1, 0])
def test_plan_refuses_fewer_than_three(tmp_path, retain):
    """PurgeTxnLog.purge throws for num < 3; plan() raises rather than keeping another number."""
    d = _files(tmp_path / "d", [0x10, 0x20, 0x30, 0x40], [0x1])
    with pytest.raises(ValueError, match="count should be greater than or equal to 3"):
        plan(d, d, retain)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_temps_removed_at_startup_only_when_their_writer_is_gone(tmp_path):
    """A kill during a snapshot (or during a SNAP download) leaves a temp file; the next start removes it,
    but never one a live writer (a server's snapshot child still finishing) is writing."""
    data = tmp_path / "d"
    live = f"snapshot.60.{os.getpid()}.tmp"
    stale = ["snapshot.15.tmp", f"snapshot.70.{_dead_pid()}.tmp", "snapshot.incoming.tmp"]
    _files(data, [0x10], [0x1], extra=(live, *stale))
    removed = remove_stale_temps(data)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(os.listdir(data / "version-2")) == sorted(["snapshot.10", "log.1", live])


def test_snapshot_temp_names_carry_the_writer():
    """Two writers of one zxid (an orphaned child and a restarted server) never share a temp file."""
    final = Path("/x/snapshot.1a")
    tmp = snapshot_temp(final)
    assert tmp.name == f"snapshot.1a.{os.getpid()}.tmp"
    assert parse_snapshot_temp(tmp.name) == (0x1A, os.getpid())
    assert parse_snapshot_temp("snapshot.1a.tmp") == (0x1A, None)
    for name in ("snapshot.1a", "snapshot.zz.tmp", "snapshot.1a.x.tmp", "log.1.tmp", "snapshot.1.2.3.tmp"):
        assert parse_snapshot_temp(name) is None, name


def test_storage_purge_now_matches_plan(tmp_path):
    """`Storage.purge_now()` — what autopurge runs — deletes exactly what `plan` lists, in both dirs."""
    data, logs = tmp_path / "data", tmp_path / "logs"
    # snapshot.15.tmp is a leftover of an interrupted snapshot (old name, no writer); snapshot.70.<dead>.tmp
    # one whose writer died; snapshot.60.<pid>.tmp is newer than every complete snapshot and its writer
    # (this process) alive, i.e. being written right now, and must survive a purge.
    live, dead = f"snapshot.60.{os.getpid()}.tmp", f"snapshot.70.{_dead_pid()}.tmp"
    _files(data, [0x10, 0x20, 0x30, 0x40, 0x50], [], extra=("snapshot.15.tmp", live, dead))
    _files(logs, [], [0x1, 0x11, 0x21, 0x31, 0x41, 0x51])
    cfg = ServerConfig(data_dir=data, data_log_dir=logs, snap_retain_count=3)
    expected = {str(p) for p in plan(data, logs, 3)}
    assert {Path(p).name for p in expected} == {"snapshot.10", "snapshot.20", "log.1", "log.11",
                                                "snapshot.15.tmp", dead}
    assert (data / "version-2" / live).exists()
    storage = Storage(cfg)
    try:
        deleted = {str(p) for p in storage.purge_now()}
    finally:
        storage.close()
    assert deleted == expected and not any(Path(p).exists() for p in deleted)
    assert sorted(os.listdir(data / "version-2")) == ["snapshot.30", "snapshot.40", "snapshot.50", live]
    assert sorted(os.listdir(logs / "version-2")) == ["log.21", "log.31", "log.41", "log.51"]


def test_autopurge_config_as_in_zookeeper():
    """snapRetainCount has a minimum of 3; purgeInterval defaults to 0 (off), in hours."""
    cfg = parse("dataDir=/x\nclientPort=2181\nautopurge.snapRetainCount=1\nautopurge.purgeInterval=6\n")
    assert (cfg.snap_retain_count, cfg.purge_interval) == (3, 6)
    cfg = parse("dataDir=/x\nclientPort=2181\n")
    assert (cfg.snap_retain_count, cfg.purge_interval) == (3, 0)  # ZooKeeper default: autopurge off


def test_autopurge_timer_runs_purge_every_interval_hours(tmp_path, monkeypatch):
    """The autopurge timer fires after purgeInterval *hours*, purges, and re-arms for the same interval.
    The timer is captured instead of waited for."""
    d = _files(tmp_path / "d", [0x10, 0x20, 0x30, 0x40], [0x1, 0x11, 0x21, 0x31])
    storage = Storage(ServerConfig(data_dir=d, purge_interval=2, snap_retain_count=3))
    disabled = Storage(ServerConfig(data_dir=tmp_path / "off", purge_interval=0))

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        timers: list[tuple[float, object]] = []
        real = loop.call_later

        def call_later(delay, cb, *args):  # capture the hour-long timers, keep the short ones real
            if delay < 60:
                return real(delay, cb, *args)
            timers.append((delay, cb))
            return real(3600 * 24, lambda: None)

        monkeypatch.setattr(loop, "call_later", call_later)
        disabled.start_autopurge()
        assert timers == []
        storage.start_autopurge()
        assert len(timers) == 1 and (d / "version-2" / "snapshot.10").exists()  # nothing before the timer
        timers[0][1]()  # the interval elapsed
        for _ in range(500):
            if not (d / "version-2" / "snapshot.10").exists():
                break
            await asyncio.sleep(0.01)
        return [delay for delay, _ in timers]

    try:
        delays = asyncio.run(scenario())
    finally:
        storage.close()
        disabled.close()
    assert delays == [2 * 3600, 2 * 3600]
    assert sorted(os.listdir(d / "version-2")) == ["log.11", "log.21", "log.31", "snapshot.20", "snapshot.30",
                                                   "snapshot.40"]


def test_server_logs_autopurge_enabled(tmp_path):
    """A real server reads both autopurge keys and says so at start."""
    srv = start(new_server(tmp_path / "srv", autopurge_snapRetainCount="5", autopurge_purgeInterval="1"))
    srv.stop()
    assert "event=autopurge_enabled interval_hours=1 retain=5" in srv.log()
