"""Torn tails, corrupt records and corrupt snapshots: recover exactly what was complete, or refuse loudly.

Why: a crash can leave the last log record half written; those bytes were never acknowledged (a reply
follows the fsync), so recovery must cut them off and come back at the last complete record. Damage
anywhere else cannot be explained by a crash, so the server must refuse to start and say which file and
offset — silently skipping it would drop acknowledged writes. Truncation is checked at *every* byte
offset inside the last records, each on a fresh copy of a data directory written by a real server, and
the recovered tree is compared (full dump: data, ACL, every Stat field) with an oracle that replays the
complete records only.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from corral.persistence import RecoveryError, recover
from corral.persistence.files import LOG_PREFIX, zxid_of
from corral.persistence.txnlog import (
    HEADER,
    LogCorruptError,
    TxnLogWriter,
    decode_txn_payload,
    encode_txn_payload,
    scan,
)
from corral.protocol import ACL, CreateTxn, Id, OpCode, SetDataTxn, TxnHeader
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
    run_until_exit,
    running,
    snaps_of,
    start,
    vdir,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
LAST_RECORDS = 3  # truncate at every byte offset inside this many last records


def _write_workload(zk, n: int, seed: int) -> None:
    """A mix of record shapes (creates with 0..300-byte data, sets, deletes, a multi, an ephemeral)."""
    rng = random.Random(seed)
    zk.ensure_path("/t")
    for i in range(n):
        zk.create(f"/t/n{i}", bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 17, 100, 300)))))
        if i % 4 == 3:
            zk.set(f"/t/n{i - 1}", b"set-%d" % i)
        if i % 9 == 8:
            zk.delete(f"/t/n{i - 3}")


def _finish(zk) -> None:
    """The last records of the file: an ephemeral create, a multi, a 200-byte set (then closeSession)."""
    zk.create("/t/eph", b"e", ephemeral=True)
    t = zk.transaction()
    t.create("/t/m1", b"m")
    t.set_data("/t/n0", b"multi")
    t.delete("/t/n1")
    assert all(not isinstance(r, Exception) for r in t.commit())
    zk.set("/t/n2", bytes(200))


@pytest.fixture(scope="module")
def single_log(tmp_path_factory):
    """A data dir with one log file (no snapshot) written by a real server, stopped cleanly.

    Yields (root, kazoo dump taken before the stop)."""
    root = tmp_path_factory.mktemp("single")
    with running(root) as srv:
        zk = kazoo_client(srv.hosts, timeout=30.0)
        _write_workload(zk, 40, seed=1)
        _finish(zk)
        dump = dump_kazoo(zk)  # the tree before the last record (reads write nothing)
        close_kazoo(zk)  # its closeSession is the very last record (it deletes /t/eph)
        srv.stop()
    # A fresh standalone server is an ensemble of one that elected itself in epoch 1: its first zxid is 1.1.
    assert logs_of(root) == [vdir(root) / "log.100000001"] and not snaps_of(root)
    yield root, dump


@pytest.fixture(scope="module")
def rolled_logs(tmp_path_factory):
    """Several snapshots and log files (snapCount=20), the newest snapshot older than the last records."""
    root = tmp_path_factory.mktemp("rolled")
    with running(root, snapCount="20") as srv:
        zk = kazoo_client(srv.hosts, timeout=30.0)
        _write_workload(zk, 60, seed=2)
        # Stop when no snapshot is in progress and the last file — started by the newest snapshot's log roll,
        # so it holds exactly the txns since that snapshot — has 4..9 records: the closeSession then makes at
        # most 10, below the smallest snapshot threshold (snapCount/2 + 1 = 11), so no snapshot can cover the
        # records that the tests truncate. Bounded; on a busy machine snapshots lag, so allow many writes.
        def settled() -> bool:
            snaps, logs = snaps_of(root), logs_of(root)
            if len(snaps) < 3 or list(vdir(root).glob("snapshot.*.tmp")) or _children(srv.proc.pid):
                return False
            records = scan(logs[-1], True)[0]
            return LAST_RECORDS + 1 <= len(records) <= 9 and \
                zxid_of(snaps[-1].name, "snapshot.") < records[0].zxid

        for i in range(2000):
            zk.set("/t/n10", b"tail-%d" % i)
            if settled():
                break
        close_kazoo(zk)
        srv.stop()
    records = scan(logs_of(root)[-1], True)[0]
    assert len(snaps_of(root)) >= 3 and len(logs_of(root)) >= 3
    assert zxid_of(snaps_of(root)[-1].name, "snapshot.") < records[-LAST_RECORDS].zxid
    yield root


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _complete_records(root: Path) -> tuple[Path, list]:
    last = logs_of(root)[-1]
    records, torn = scan(last, last_file=True)
    assert torn is None
    return last, records


def _expected_dumps(root: Path, records: list) -> dict[int, dict]:
    """Oracle: the tree after all earlier files plus the first k records of the last file, for the k that
    truncation inside the last LAST_RECORDS records can leave."""
    logs = logs_of(root)
    out = {}
    for k in range(max(0, len(records) - LAST_RECORDS), len(records) + 1):
        tree = replay_logs(logs[:-1])
        for rec in records[:k]:
            tree.apply(*decode_txn_payload(rec.payload))
        out[k] = dump_tree(tree)
    return out


def _truncate_and_recover(src: Path, work: Path, offset: int, caplog) -> tuple:
    """Recover a copy of `src` whose last log file is cut at `offset`. recover() only ever changes that one
    file, so an existing copy is reused and just that file is rewritten (keeps thousands of runs cheap)."""
    last_src = logs_of(src)[-1]
    if not (work / "data").exists():
        copy_server_dir(src, work)
    last = vdir(work) / last_src.name
    last.write_bytes(last_src.read_bytes()[:offset])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="corral.recovery"):
        rec = recover(work / "data", work / "data")
    return rec, last, [r.getMessage() for r in caplog.records]


def _check_all_offsets(src: Path, work: Path, caplog) -> int:
    _, records = _complete_records(src)
    expected = _expected_dumps(src, records)
    first = records[-LAST_RECORDS].offset
    ends = {r.end: i + 1 for i, r in enumerate(records)}
    checked = 0
    for offset in range(first, records[-1].end):
        rec, path, messages = _truncate_and_recover(src, work, offset, caplog)
        k = sum(1 for r in records if r.end <= offset)
        got = dump_tree(rec.tree)
        assert got == expected[k], f"truncated at {offset}: recovered tree is not the tree after record {k}:\n" \
                                   + diff(expected[k], got)
        assert rec.tree.last_zxid == records[k - 1].zxid
        if offset in ends:  # a clean end: nothing to cut
            assert rec.truncated is None
            assert path.stat().st_size == offset
        else:
            boundary = records[k - 1].end
            assert rec.truncated == (path, boundary), (offset, rec.truncated)
            assert path.stat().st_size == boundary, f"file not cut back to the last complete record ({offset})"
            assert f"event=txnlog_torn_tail file={path} offset={boundary} action=truncated" in messages
            left, torn = scan(path, last_file=True)
            assert torn is None and len(left) == k
        checked += 1
    return checked


def test_truncation_at_every_offset_of_the_last_records(single_log, tmp_path, caplog):
    """Every byte offset inside the last 3 records (multi, set, closeSession) recovers to the last complete
    record, cuts the file there and logs it; the full-file oracle equals what the server showed."""
    root, dump_before_stop = single_log
    _, records = _complete_records(root)
    assert [decode_txn_payload(r.payload)[0].type for r in records[-3:]] == \
        [OpCode.multi, OpCode.setData, OpCode.closeSession]
    oracle = _expected_dumps(root, records)[len(records) - 1]
    assert oracle == dump_before_stop, "the oracle disagrees with the server:\n" + diff(dump_before_stop, oracle)
    checked = _check_all_offsets(root, tmp_path / "work", caplog)
    assert checked == records[-1].end - records[-LAST_RECORDS].offset


def test_truncation_with_snapshots_and_rolled_logs(rolled_logs, tmp_path, caplog):
    """The same with snapshots present: recovery = newest snapshot + logs, cut at the last complete record."""
    checked = _check_all_offsets(rolled_logs, tmp_path / "work", caplog)
    assert checked > 0


@pytest.mark.parametrize("offset", [0, 1, len(HEADER) - 1, len(HEADER)])
def test_torn_header_of_a_new_log_file(rolled_logs, tmp_path, caplog, offset):
    """A crash right after a log roll can leave the new file with a partial header (or none): it holds no
    acknowledged write, so recovery drops it and ends at the previous file."""
    expected = dump_tree(replay_logs(logs_of(rolled_logs)[:-1]))
    rec, path, messages = _truncate_and_recover(rolled_logs, tmp_path / "work", offset, caplog)
    assert dump_tree(rec.tree) == expected
    if offset < len(HEADER):
        assert not path.exists()
        assert f"event=txnlog_torn_tail file={path} offset=0 action=removed_empty_file" in messages
    else:
        assert path.stat().st_size == len(HEADER) and rec.truncated is None


def test_real_server_restarts_at_the_last_complete_record(single_log, tmp_path):
    """A real `corral server` on truncated copies: serves exactly the tree after the last complete record,
    and its log says where it cut the file."""
    root, _ = single_log
    last, records = _complete_records(root)
    expected = _expected_dumps(root, records)
    for i, r in enumerate(records[-LAST_RECORDS:]):
        offset = r.offset + 1 + (r.end - r.offset) // 2
        k = len(records) - LAST_RECORDS + i
        work = copy_server_dir(root, tmp_path / f"srv{i}")
        os.truncate(vdir(work) / last.name, offset)
        srv = start(new_server(work))
        try:
            zk = kazoo_client(srv.hosts, timeout=30.0)
            got = dump_kazoo(zk)
            close_kazoo(zk)
        finally:
            srv.stop()
        assert got == expected[k], diff(expected[k], got)
        assert f"event=txnlog_torn_tail file={vdir(work) / last.name} offset={r.offset} action=truncated" in srv.log()


def _flip_targets(records: list, index: int) -> list[int]:
    """Every byte of the record except the checksum's upper 4 bytes: the Adler32 is stored as a long whose
    high half is always 0 and the reader masks it off, so a flip there damages no data (see the report)."""
    r = records[index]
    return [off for off in range(r.offset, r.end) if not r.offset <= off < r.offset + 4]


def test_flipped_byte_in_an_earlier_record_refuses_recovery(single_log, tmp_path):
    """Every byte of a record that is followed by valid records (checksum, length, payload, end marker):
    recovery raises, naming the file and that record's offset — never a silent skip or truncation."""
    root, _ = single_log
    last, records = _complete_records(root)
    for index in (len(records) // 2, -2):
        for off in _flip_targets(records, index):
            work = copy_server_dir(root, tmp_path / "work")
            path = vdir(work) / last.name
            flip_byte(path, off)
            with pytest.raises(RecoveryError) as ei:
                recover(work / "data", work / "data")
            msg = str(ei.value)
            assert str(path) in msg and f"offset {records[index].offset}" in msg, (off, msg)
            assert path.stat().st_size == last.stat().st_size, "a refused recovery must not cut the file"


def test_flipped_byte_in_the_last_record_is_a_torn_tail(single_log, tmp_path, caplog):
    """Damage inside the *last* record looks exactly like a torn write (nothing valid follows it), so it is
    treated as one — as ZooKeeper does — but never silently: it is cut and logged with file and offset."""
    root, _ = single_log
    _, records = _complete_records(root)
    expected = _expected_dumps(root, records)[len(records) - 1]
    work = copy_server_dir(root, tmp_path / "work")
    path = logs_of(work)[-1]
    flip_byte(path, records[-1].offset + 13)
    with caplog.at_level(logging.INFO, logger="corral.recovery"):
        rec = recover(work / "data", work / "data")
    assert dump_tree(rec.tree) == expected
    assert rec.truncated == (path, records[-1].offset)
    assert f"event=txnlog_torn_tail file={path} offset={records[-1].offset} action=truncated" in caplog.messages


def test_server_and_log_verify_refuse_a_corrupt_record(single_log, tmp_path):
    """The operator's view of the same damage: the server exits non-zero with file and offset, and
    `corral log verify` exits 1 with file and offset."""
    root, _ = single_log
    last, records = _complete_records(root)
    victim = records[len(records) // 3]
    work = copy_server_dir(root, tmp_path / "work")
    path = vdir(work) / last.name
    flip_byte(path, victim.offset + 20)
    code, out = run_until_exit(new_server(work))
    assert code != 0
    assert str(path) in out and f"offset {victim.offset}" in out, out[-2000:]
    assert "cannot recover" in out
    r = corral_cli("log", "verify", path)
    assert r.returncode == 1
    assert str(path) in r.stderr and f"offset {victim.offset}" in r.stderr, r.stderr


def test_corrupt_log_that_is_not_the_last_one(rolled_logs, tmp_path):
    """A damaged last record in a log file that is *not* the last one is not a torn tail (a later file was
    written after it): refuse with file and offset. The newest snapshot is removed so that the file is needed."""
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    snaps = snaps_of(work)
    snaps[-1].unlink()
    logs = logs_of(work)
    needed_from = zxid_of(snaps[-2].name, "snapshot.")
    victim_file = next(p for p in logs if zxid_of(p.name, LOG_PREFIX) > needed_from and p != logs[-1])
    records, _ = scan(victim_file, last_file=False)
    flip_byte(victim_file, records[-1].offset + 14)
    with pytest.raises(RecoveryError) as ei:
        recover(work / "data", work / "data")
    assert str(victim_file) in str(ei.value) and f"offset {records[-1].offset}" in str(ei.value)


def test_missing_log_file_in_the_middle_refuses(rolled_logs, tmp_path):
    """If a log file that recovery needs is gone (a wrong purge, an operator's rm), the zxid sequence has a
    gap: refuse, naming the file and offset where the sequence jumps, instead of skipping txns."""
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    snaps = snaps_of(work)
    snaps[-1].unlink()
    base = zxid_of(snaps[-2].name, "snapshot.")
    logs = logs_of(work)
    gone = next(p for p in logs if zxid_of(p.name, LOG_PREFIX) == base + 1)
    after = logs[logs.index(gone) + 1]
    gone.unlink()
    with pytest.raises(RecoveryError) as ei:
        recover(work / "data", work / "data")
    msg = str(ei.value)
    assert str(after) in msg and "gap" in msg and f"offset {len(HEADER)}" in msg, msg


def test_corrupt_log_header_refuses(rolled_logs, tmp_path):
    """A bad magic number cannot come from a crash: refuse, naming file and offset 0."""
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    last = logs_of(work)[-1]
    flip_byte(last, 1)
    with pytest.raises(RecoveryError) as ei:
        recover(work / "data", work / "data")
    assert str(last) in str(ei.value) and "offset 0" in str(ei.value)


def _full_dump(root: Path) -> dict:
    return dump_tree(replay_logs(logs_of(root)))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_newest_snapshot_falls_back_to_an_older_one(rolled_logs, tmp_path, caplog, damage):
    """A newest snapshot that fails its checksum (or is cut short) is skipped, logged, and recovery uses the
    previous snapshot plus the logs after it: the same tree."""
    expected = _full_dump(rolled_logs)
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    snaps = snaps_of(work)
    newest = snaps[-1]
    if damage == "flip":
        flip_byte(newest, newest.stat().st_size // 2)
    else:
        os.truncate(newest, newest.stat().st_size // 2)
    with caplog.at_level(logging.INFO, logger="corral.recovery"):
        rec = recover(work / "data", work / "data")
    assert rec.snapshot == snaps[-2]
    assert dump_tree(rec.tree) == expected
    assert any("event=snapshot_invalid" in m and str(newest) in m for m in caplog.messages)


def test_real_server_recovers_from_older_snapshot(rolled_logs, tmp_path):
    """The same through a real server start: the clients see the full tree, the log names the bad file."""
    expected = _full_dump(rolled_logs)
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    newest = snaps_of(work)[-1]
    flip_byte(newest, 40)
    srv = start(new_server(work))
    try:
        zk = kazoo_client(srv.hosts, timeout=30.0)
        got = dump_kazoo(zk)
        close_kazoo(zk)
    finally:
        srv.stop()
    assert got == expected, diff(expected, got)
    assert "event=snapshot_invalid" in srv.log() and str(newest) in srv.log()


def test_all_snapshots_corrupt_refuses_to_start(rolled_logs, tmp_path):
    """With every snapshot damaged there is no safe base: the server refuses with every file and offset."""
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    snaps = snaps_of(work)
    for s in snaps:
        flip_byte(s, s.stat().st_size - 20)
    with pytest.raises(RecoveryError) as ei:
        recover(work / "data", work / "data")
    for s in snaps:
        assert str(s) in str(ei.value)
    assert "checksum mismatch" in str(ei.value)
    code, out = run_until_exit(new_server(work))
    assert code != 0
    assert "no valid snapshot" in out and all(str(s) in out for s in snaps), out[-2000:]
    assert "offset" in out


def test_leftover_snapshot_temp_file_is_ignored(rolled_logs, tmp_path):
    """A kill during a snapshot leaves `snapshot.<zxid>.tmp`: recovery must not read it."""
    expected = _full_dump(rolled_logs)
    work = copy_server_dir(rolled_logs, tmp_path / "work")
    (vdir(work) / "snapshot.fffff.tmp").write_bytes(b"half a snapshot")
    rec = recover(work / "data", work / "data")
    assert dump_tree(rec.tree) == expected
    assert rec.snapshot is not None and not rec.snapshot.name.endswith(".tmp")


def test_writer_level_truncation_at_every_offset(tmp_path):
    """Directly through TxnLogWriter (no server): records of 0..99 bytes in two groups, truncated at every
    offset of the whole file — recovery always yields exactly the records that are complete."""
    rng = random.Random(5)
    acl = [ACL(31, Id("world", "anyone"))]
    sizes = [0, 1, 64, 13, 99, 0, 40]
    batch, zxid = [], 0
    for i, n in enumerate(sizes):
        zxid += 1
        batch.append((zxid, encode_txn_payload(TxnHeader(7, i, zxid, 1000 + i, OpCode.create),
                                               CreateTxn(f"/n{i}", rng.randbytes(n), acl, False, -1))))
    zxid += 1
    batch.append((zxid, encode_txn_payload(TxnHeader(7, 99, zxid, 2000, OpCode.setData),
                                           SetDataTxn("/n0", b"changed", 1))))
    src = tmp_path / "src" / "data"
    w = TxnLogWriter(src / "version-2")
    w.append(batch[:4])
    w.append(batch[4:])
    w.close()
    path = src / "version-2" / "log.1"
    records, _ = scan(path, True)
    assert len(records) == len(batch)
    padded = path.read_bytes()
    # Preallocated as ZooKeeper's FilePadding does: the records, then zeros to a multiple of preAllocSize.
    assert len(padded) == 64 << 20 and not padded[records[-1].end:].strip(b"\0")
    whole = padded[:records[-1].end]
    work = tmp_path / "work" / "data"
    (work / "version-2").mkdir(parents=True)
    for offset in range(len(whole) + 1):
        (work / "version-2" / "log.1").write_bytes(whole[:offset])
        rec = recover(work, work)
        k = sum(1 for r in records if r.end <= offset)
        created = {p for p in rec.tree.nodes if p.startswith("/n")}
        assert created == {f"/n{i}" for i in range(min(k, len(sizes)))}, offset
        assert rec.tree.last_zxid == (records[k - 1].zxid if k else 0)
        if k:
            assert rec.tree.get("/n0").data == (b"changed" if k == len(batch) else b"")
        left = work / "version-2" / "log.1"
        if offset < len(HEADER):
            assert not left.exists()
        else:
            assert left.stat().st_size == (records[k - 1].end if k else len(HEADER))


def test_torn_tail_of_a_record_whose_data_looks_like_a_record(tmp_path):
    """Znode data is client-chosen bytes. If it embeds a framed record (checksum, length, payload, 'B') with a
    higher zxid and the crash tears the record *after* that embedded copy, the tail is still just a torn
    write: recovery must cut it, not refuse to start."""
    from corral.persistence.txnlog import frame_record

    acl = [ACL(31, Id("world", "anyone"))]
    fake = frame_record(encode_txn_payload(TxnHeader(7, 9, 99, 1000, OpCode.setData), SetDataTxn("/a", b"evil", 5)))
    batch = [(1, encode_txn_payload(TxnHeader(7, 1, 1, 1000, OpCode.create), CreateTxn("/a", b"x", acl, False, -1))),
             (2, encode_txn_payload(TxnHeader(7, 2, 2, 1000, OpCode.setData),
                                    SetDataTxn("/a", b"pad" + fake + b"tail", 1)))]
    w = TxnLogWriter(tmp_path / "data" / "version-2")
    w.append(batch)
    w.close()
    path = tmp_path / "data" / "version-2" / "log.1"
    records, _ = scan(path, True)
    os.truncate(path, records[-1].end - 7)  # torn inside "tail", after the complete embedded copy
    rec = recover(tmp_path / "data", tmp_path / "data")
    assert rec.truncated == (path, records[-1].offset)
    assert rec.tree.get("/a").data == b"x"


def test_txns_logged_again_by_a_resynced_apache_follower_are_recovered_once(tmp_path):
    """An Apache 3.8 follower whose sync failed after it began logging (its Follower's "pif is null"
    NullPointerException) syncs again in the same epoch and logs the same proposals again, in the same
    file; Apache replays such a file. corral skips the repeats, and still refuses a repeated zxid whose
    content differs."""
    acl = [ACL(31, Id("world", "anyone"))]

    def txn(zxid: int, data: bytes) -> tuple[int, bytes]:
        return zxid, encode_txn_payload(TxnHeader(7, zxid, zxid, 1000, OpCode.setData), SetDataTxn("/a", data, zxid))

    create = (1, encode_txn_payload(TxnHeader(7, 0, 1, 1000, OpCode.create), CreateTxn("/a", b"", acl, False, -1)))
    log_dir = tmp_path / "data" / "version-2"
    w = TxnLogWriter(log_dir)
    w.append([create, txn(2, b"two"), txn(3, b"three")])
    w.append([create, txn(2, b"two"), txn(3, b"three"), txn(4, b"four")])  # the second sync, same file
    w.close()
    records, torn = scan(log_dir / "log.1", True)
    assert [r.zxid for r in records] == [1, 2, 3, 4] and torn is None
    rec = recover(tmp_path / "data", tmp_path / "data")
    assert rec.tree.get("/a").data == b"four"

    other = tmp_path / "other" / "version-2"
    w = TxnLogWriter(other)
    w.append([create, txn(2, b"two")])
    w.append([txn(2, b"not two")])
    w.close()
    with pytest.raises(LogCorruptError, match="zxid 0x2 does not increase"):
        scan(other / "log.1", True)


def test_a_checksummed_record_too_short_for_a_txn_header_is_named(tmp_path: Path) -> None:
    """The scan reads each record's zxid in place from its header: a valid record (checksum, end marker)
    whose payload cannot hold a TxnHeader is damage named by file and offset, never an IndexError."""
    acl = [ACL(31, Id("world", "anyone"))]
    log_dir = tmp_path / "version-2"
    w = TxnLogWriter(log_dir)
    w.append([(1, encode_txn_payload(TxnHeader(7, 0, 1, 1000, OpCode.create), CreateTxn("/a", b"", acl, False, -1))),
              (2, b"\0" * 19)])  # 19 bytes: the zxid itself would be cut
    w.close()
    whole = (log_dir / "log.1").read_bytes()
    second = whole.index(b"\0" * 19) - 12  # the record's checksum and length come first
    for last_file in (True, False):
        with pytest.raises(LogCorruptError, match=f"offset {second}: unreadable txn header"):
            scan(log_dir / "log.1", last_file)
