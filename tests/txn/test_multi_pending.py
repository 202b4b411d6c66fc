"""What makes big multis cheap, held to the same results: the pending parent record changed in place
within one transaction, the MultiTxn written straight into the log buffer, the ACL fix-up remembered
for the request list it was last given, the notification frame shared by every watcher of a change."""

from __future__ import annotations

import random

from corral.protocol import CreateMode, OpCode
from corral.protocol.records import (
    ACL,
    CheckVersionRequest,
    CheckVersionTxn,
    CreateContainerTxn,
    CreateRequest,
    CreateTxn,
    DeleteRequest,
    DeleteTxn,
    ErrorTxn,
    Id,
    MultiTxn,
    SetDataTxn,
    Txn,
)
from corral.server import replies
from corral.tree import acl as aclmod
from corral.tree.acl import authenticate, digest
from corral.tree.datatree import MultiOps
from corral.txn.codec import decode_txn, encode_txn

from .test_prepare import OPEN, Env, S


def creates(parent: str, names: list[str], flags: int = 0) -> list[tuple[int, CreateRequest]]:
    return [(OpCode.create, CreateRequest(f"{parent}/{n}", b"", OPEN, flags)) for n in names]


def test_one_pending_parent_record_per_multi_and_pipelined_requests_see_it():
    env = Env()
    env.create("/p")
    hdr, txn = env.prepare(OpCode.multi, creates("/p", [f"c{i}" for i in range(500)]))
    prep = env.prep
    parent = prep.by_path["/p"]
    assert (parent.child_count, parent.cversion) == (500, 500)  # stored cversion: child creates
    assert sum(1 for r in prep.outstanding if r.path == "/p") == 1
    assert len(prep.outstanding) == 501
    # a sequential create pipelined behind the multi is numbered after it
    h2, t2 = env.prepare(OpCode.create, CreateRequest("/p/s-", b"", OPEN, CreateMode.PERSISTENT_SEQUENTIAL))
    assert t2.path == "/p/s-0000000500" and t2.parentCVersion == 501
    env.commit(hdr, txn)
    env.commit(h2, t2)
    node = env.tree.get("/p")
    assert len(node.children) == 501 and node.cversion == 501
    assert not prep.outstanding and not prep.by_path


def test_failed_multi_restores_the_parent_record_an_earlier_request_left():
    env = Env()
    env.create("/p")
    h1, t1 = env.prepare(OpCode.create, CreateRequest("/p/first", b"", OPEN, 0))  # pending, not applied
    before = env.prep.by_path["/p"]
    hm, tm = env.prepare(OpCode.multi, [*creates("/p", ["a", "b", "c"]), (OpCode.delete, DeleteRequest("/nope", -1))])
    assert isinstance(tm, MultiOps) and tm.ops[-1][0] == OpCode.error
    restored = env.prep.by_path["/p"]
    assert restored is before and (restored.child_count, restored.cversion) == (1, 1)
    h3, t3 = env.prepare(OpCode.create, CreateRequest("/p/s-", b"", OPEN, CreateMode.PERSISTENT_SEQUENTIAL))
    assert t3.path == "/p/s-0000000001"
    for h, t in ((h1, t1), (hm, tm), (h3, t3)):
        env.commit(h, t)
    assert env.tree.get("/p").children == {"first", "s-0000000001"}


def test_multi_creating_then_deleting_under_one_parent_keeps_counts():
    env = Env()
    env.create("/p")
    ops = [*creates("/p", ["a", "b"]), (OpCode.delete, DeleteRequest("/p/a", -1)),
           (OpCode.check, CheckVersionRequest("/p/b", 0))]
    hdr, txn = env.prepare(OpCode.multi, ops)
    assert (env.prep.by_path["/p"].child_count, env.prep.by_path["/p"].cversion) == (1, 2)
    res = env.commit(hdr, txn)
    assert [r.err for r in res.multi] == [0, 0, 0, 0]
    assert env.tree.get("/p").children == {"b"}


def test_close_session_with_many_ephemerals_under_one_parent():
    env = Env()
    env.create("/e")
    for i in range(20):
        env.create(f"/e/n{i}", flags=CreateMode.EPHEMERAL)
    hdr, txn = env.session_txn(S, OpCode.closeSession)
    assert sum(1 for r in env.prep.outstanding if r.path == "/e") == 1
    assert env.prep.by_path["/e"].child_count == 0
    env.commit(hdr, txn)
    assert env.tree.get("/e").children == set()


def test_multi_txn_bytes_are_zookeepers():
    """serialize_multi writes what MultiTxn([Txn(type, record bytes)]) encodes, and reads back the same."""
    rng = random.Random(7)
    two = [ACL(31, Id("digest", "u:h")), ACL(1, Id("world", "anyone"))]
    recs = [(OpCode.create, CreateTxn("/a", b"d", OPEN, False, 3)),
            (OpCode.create, CreateTxn("/b", None, OPEN, True, 4)),
            (OpCode.create, CreateTxn("/\u00e9/\U0001f600", b"", two, False, -5)),
            (OpCode.create, CreateTxn("/c", b"", [ACL(31, Id("digest", "u:h")), ACL(1, Id("world", "anyone"))],
                                      True, 0x7FFFFFFF)),
            (OpCode.create, CreateTxn("/n", b"", None, False, 1)),
            (OpCode.createContainer, CreateContainerTxn("/k", b"", OPEN, 2)),
            (OpCode.setData, SetDataTxn("/a", None, -1)),
            (OpCode.setData, SetDataTxn("/a", b"x" * 300, 2)),
            (OpCode.delete, DeleteTxn("/a")),
            (OpCode.check, CheckVersionTxn("/b", 1)),
            (OpCode.error, ErrorTxn(-101))]
    for n in (0, 1, 5, 50):
        ops = [rng.choice(recs) for _ in range(n)]
        multi = MultiOps(list(ops))
        old = MultiTxn([Txn(t, r.to_bytes()) for t, r in ops]).to_bytes()
        assert encode_txn(multi) == old
        assert decode_txn(OpCode.multi, old) == multi


def test_fixup_acl_remembers_only_auth_independent_lists():
    a1, a2 = authenticate("digest", b"u1:p"), authenticate("digest", b"u2:p")
    by_auth = [ACL(31, Id("auth", ""))]
    assert aclmod.fixup_acl(by_auth, a1) == ((31, "digest", digest("u1:p")),)
    assert aclmod.fixup_acl(by_auth, a2) == ((31, "digest", digest("u2:p")),)  # same list, other identity
    world = [ACL(31, Id("world", "anyone"))]
    assert aclmod.fixup_acl(world, []) is aclmod.fixup_acl(world, a1) == aclmod.OPEN_ACL_UNSAFE
    assert aclmod.fixup_acl(by_auth, a1) == ((31, "digest", digest("u1:p")),)
    ip = [ACL(31, Id("ip", "10.0.0.1"))]
    assert aclmod.fixup_acl(ip, []) == ((31, "ip", "10.0.0.1"),)
    schemes = aclmod.Providers.schemes
    try:
        aclmod.configure(frozenset({"digest"}))  # ip no longer a scheme: the remembered answer must go
        try:
            aclmod.fixup_acl(ip, [])
            raise AssertionError("ip accepted after its provider was removed")
        except aclmod.InvalidACLError:
            pass
    finally:
        aclmod.configure(schemes)


def test_notification_frame_is_shared_and_exact():
    a = replies.notification(3, "/fan", 7)
    assert replies.notification(3, "/fan", 7) is a
    assert replies.notification(3, "/fan", 8) != a
    assert replies.notification(2, "/fan", 7) != a
    assert replies.notification(3, "/fa\u00f1", 7) != a
    b = replies.notification(3, "/fan", 7)
    assert b == a and len(b) == 4 + 28 - 4 + 4 + 4  # length prefix + header (xid, zxid, err, type, state) + path
