"""The digest log behind the AdminServer's `hash`: after every txn whose zxid is a multiple of 128 it holds
exactly the whole tree's digest (Apache's DigestCalculator, `tree_digest`), however the txns in between
changed the tree (creates, sets, deletes, ACLs, multis, sessions closing with ephemerals, failures)."""

from __future__ import annotations

import random

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
from corral.tree.digest import tree_digest
from corral.tree.digestlog import INTERVAL, LIMIT, DigestLog, attach
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
