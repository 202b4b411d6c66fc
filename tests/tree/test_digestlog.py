"""The digest log behind the AdminServer's `hash`: after every txn whose zxid is a multiple of 128 it holds
exactly the whole tree's digest (Apache's DigestCalculator, `tree_digest`), however the txns in between
changed the tree (creates, sets, deletes, ACLs, multis, sessions closing with ephemerals, failures)."""

from __future__ import annotations

import random

import pytest

from corral.protocol import OpCode
from corral.protocol.records import (
    ACL,
    CheckVersionRequest,
    CreateRequest,
    CreateSessionTxn,
    DeleteRequest,
    Id,
    SetACLRequest,
    SetDataRequest,
    TxnHeader,
)
from corral.tree import DataTree
from corral.tree.digest import DIGEST_VERSION, tree_digest
from corral.tree.digestlog import INTERVAL, LIMIT, DigestLog, at_recovery, attach
from corral.txn.prepare import Preparer

OPEN = [ACL(31, Id("world", "anyone"))]
EPHEMERAL = 1


def _drive(tree: DataTree, count: int, seed: int, record: list[tuple[TxnHeader, object]] | None = None
           ) -> dict[int, int]:
    """Random writes through the Preparer; returns the true tree digest at every 128-multiple zxid."""
    rng = random.Random(seed)
    prep = Preparer(tree)
    sessions = [0x100, 0x200, 0x300]
    truth: dict[int, int] = {}
    zxid = 0
    out = record if record is not None else []
    for s in sessions:
        zxid += 1
        out.append((TxnHeader(s, 0, zxid, 1000, OpCode.createSession), CreateSessionTxn(30000)))
        tree.apply(*out[-1])  # type: ignore[arg-type]
    paths = ["/a"]
    for i in range(count):
        zxid += 1
        sess = rng.choice(sessions)
        pick = rng.random()
        target = rng.choice(paths)
        req: object
        if pick < 0.35:
            op, req = OpCode.create, CreateRequest(f"{target}/c{i}", b"d" * rng.randrange(0, 40), OPEN,
                                                   EPHEMERAL if rng.random() < 0.2 else 0)
        elif pick < 0.55:
            op, req = OpCode.setData, SetDataRequest(target, bytes([i % 256]) * 5, -1)
        elif pick < 0.65:
            op, req = OpCode.delete, DeleteRequest(target, -1)
        elif pick < 0.72:
            op, req = OpCode.setACL, SetACLRequest(target, OPEN, -1)
        elif pick < 0.85:
            op, req = OpCode.multi, [(OpCode.create, CreateRequest(f"/m{i}", b"m", OPEN, 0)),
                                     (OpCode.setData, SetDataRequest(target, b"mm", -1)),
                                     (OpCode.check, CheckVersionRequest(target, 0 if rng.random() < 0.5 else -1))]
        elif pick < 0.9:
            op, req = OpCode.closeSession, None
        else:
            op, req = OpCode.create, CreateRequest(f"/top{i}", None, OPEN, 0)
        if op == OpCode.closeSession:
            sessions.remove(sess)
            new = 0x1000 + i
            sessions.append(new)
        hdr, txn = prep.prepare(zxid, sess, i, op, req, [], 2000 + i)  # type: ignore[arg-type]
        out.append((hdr, txn))
        tree.apply(hdr, txn)
        prep.committed(zxid)
        if zxid % INTERVAL == 0:
            truth[zxid] = tree_digest(tree)
        if op == OpCode.closeSession:
            zxid += 1
            out.append((TxnHeader(new, 0, zxid, 3000 + i, OpCode.createSession), CreateSessionTxn(30000)))
            tree.apply(*out[-1])  # type: ignore[arg-type]
            if zxid % INTERVAL == 0:
                truth[zxid] = tree_digest(tree)
        paths = sorted(p for p in tree.nodes if not p.startswith("/zookeeper")) or ["/a"]
    return truth


def test_every_logged_digest_is_the_whole_trees() -> None:
    tree = DataTree()
    log = attach(tree)
    truth = _drive(tree, 1500, seed=7)
    assert len(truth) >= 10
    assert dict(log.entries) == truth
    assert log.history()[0] == {"zxid": min(truth), "digest": truth[min(truth)], "digest_version": 2}


@pytest.mark.parametrize("known_limit", [0, 50, 100_000])
def test_digests_kept_across_checkpoints_stay_exact(known_limit: int) -> None:
    """A path changed again in a later interval reuses the digest its last checkpoint computed (or, past
    the limit, is digested afresh): either way every entry is the whole tree's digest."""
    tree = DataTree()
    log = DigestLog(tree_digest(tree), known_limit=known_limit)
    tree.digest_log = log
    truth = _drive(tree, 2000, seed=23)
    assert dict(log.entries) == truth
    assert len(log.known) <= max(known_limit, INTERVAL * 4)
    if known_limit == 100_000:
        assert len(log.known) > 2 * INTERVAL  # kept beyond one checkpoint's paths


def test_attached_midway_the_log_starts_there() -> None:
    """Attached after some txns (at the first `hash`): the entries from then on are the tree's digests."""
    ref = DataTree()
    txns: list[tuple[TxnHeader, object]] = []
    truth = _drive(ref, 900, seed=11, record=txns)
    tree = DataTree()
    log = None
    for hdr, txn in txns:
        if hdr.zxid == 301:
            log = attach(tree)
        tree.apply(hdr, txn)  # type: ignore[arg-type]
    assert log is not None
    assert dict(log.entries) == {z: d for z, d in truth.items() if z > 300}
    tree.digest_log = None  # detached: applying goes on without it
    _drive(tree, 10, seed=1)


def test_the_log_keeps_the_last_1024() -> None:
    log = DigestLog(0)
    tree = DataTree()
    for i in range(1, LIMIT + 10):
        log.after(tree, i * INTERVAL)
    assert len(log.entries) == LIMIT and log.entries[0][0] == 10 * INTERVAL


def _replica(txns: list[tuple[TxnHeader, object]], upto: int) -> DataTree:
    """A tree that applied the txns up to zxid `upto` (a snapshot's tree at that zxid)."""
    tree = DataTree()
    for hdr, txn in txns:
        if hdr.zxid <= upto:
            tree.apply(hdr, txn)  # type: ignore[arg-type]
    return tree


def _replay_after(tree: DataTree, txns: list[tuple[TxnHeader, object]]) -> None:
    for hdr, txn in txns:
        if hdr.zxid > tree.last_zxid:
            tree.apply(hdr, txn)  # type: ignore[arg-type]


def test_at_recovery_from_an_exact_snapshot_digest_logs_the_replay() -> None:
    """A snapshot exact at its zxid (corral's) with its digest: the log starts at once, costing no digest of
    the tree, and the replay's 128-multiples are the whole tree's digests (what Apache's replay logs)."""
    txns: list[tuple[TxnHeader, object]] = []
    truth = _drive(DataTree(), 900, seed=5, record=txns)
    tree = _replica(txns, 300)
    log = at_recovery(tree, 300, DIGEST_VERSION, tree_digest(tree), small=0)
    assert log is not None and tree.digest_log is log and log.start_after == 0
    _replay_after(tree, txns)
    assert dict(log.entries) == {z: d for z, d in truth.items() if z > 300}
    assert len(log.entries) >= 4


def test_at_recovery_from_a_fuzzy_snapshot_waits_for_the_digests_zxid() -> None:
    """Apache's snapshots carry the digest after the last txn applied when the file was finished, past
    the zxid in its name: the log starts once the replay has applied that txn, as Apache's does."""
    txns: list[tuple[TxnHeader, object]] = []
    truth = _drive(DataTree(), 900, seed=6, record=txns)
    tree = _replica(txns, 300)
    at_z = tree_digest(_replica(txns, 390))
    log = at_recovery(tree, 390, DIGEST_VERSION, at_z, small=0)
    assert log is not None and log.start_after == 390
    _replay_after(tree, txns)
    assert log.start_after == 0 and tree.digest_log is log
    assert dict(log.entries) == {z: d for z, d in truth.items() if z > 390}


def test_at_recovery_detaches_when_the_digests_txn_never_comes() -> None:
    """A digest after a zxid the replay skips tells nothing about the tree: no log (the first `hash`
    attaches one, digesting the tree)."""
    txns: list[tuple[TxnHeader, object]] = []
    _drive(DataTree(), 400, seed=8, record=txns)
    tree = _replica(txns, 300)
    log = at_recovery(tree, 350, DIGEST_VERSION, 12345, small=0)
    assert log is not None
    _replay_after(tree, [(TxnHeader(h.clientId, h.cxid, h.zxid + 1000, h.time, h.type), t)
                         for h, t in txns if h.zxid > 300][:5])
    assert tree.digest_log is None


def test_at_recovery_without_a_usable_digest_digests_only_a_small_tree() -> None:
    txns: list[tuple[TxnHeader, object]] = []
    truth = _drive(DataTree(), 700, seed=9, record=txns)
    for digest_zxid, version in ((0, 0), (100, DIGEST_VERSION), (400, DIGEST_VERSION - 1)):
        # none (Apache's empty one), older than the snapshot (a new leader's), another digest version
        tree = _replica(txns, 200)
        assert at_recovery(tree, digest_zxid, version, 777, small=len(tree.nodes) - 1) is None
        assert tree.digest_log is None
        log = at_recovery(tree, digest_zxid, version, 777, small=len(tree.nodes))
        assert log is not None and log.digest == tree_digest(tree) and log.start_after == 0
        _replay_after(tree, txns)
        assert dict(log.entries) == {z: d for z, d in truth.items() if z > 200}
    fresh = DataTree()  # no snapshot at all: the four system nodes
    log = at_recovery(fresh, 0, 0, 0)
    assert log is not None and log.digest == tree_digest(fresh)
