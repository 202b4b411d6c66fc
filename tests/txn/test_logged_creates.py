"""Every create variant a client can send is logged as a record that reads back as what was applied.

Why: the transaction's header type (the opcode) selects the record class when the log is replayed,
so a record class that followed the flags instead (a plain `create` with CONTAINER flags written as a
CreateContainerTxn) made the log unreadable after a restart. ZooKeeper's rule: the record follows the
opcode, and a plain create with CONTAINER flags makes a persistent node. Each combination of opcode, flags and ttl,
alone and inside a multi (decoded as the server decodes it), is prepared, encoded,
decoded and applied, and must give the same tree as applying the prepared record directly.
"""

from __future__ import annotations

import itertools

import pytest

from corral.persistence.txnlog import decode_txn_payload, encode_txn_payload
from corral.protocol import CreateMode, OpCode
from corral.protocol.records import ACL, CreateRequest, CreateTTLRequest, Id
from corral.server.writes import decode_multi
from corral.tree.datatree import CONTAINER_OWNER, DataTree
from corral.txn.prepare import Preparer
from tests.durability.support import dump_tree
from tests.support.rawclient import multi_body, op_create

ACL_OPEN = [ACL(31, Id("world", "anyone"))]
SESSION = 0x1000000000001
OPS = [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL]
FLAGS = [int(m) for m in CreateMode]


def _request(op: int, path: str, flags: int, ttl: int):
    if op == OpCode.createTTL:
        return CreateTTLRequest(path, b"d", ACL_OPEN, flags, ttl)
    return CreateRequest(path, b"d", ACL_OPEN, flags)


def _replayed_equals_applied(op: int, req) -> tuple[DataTree, object]:
    live, replay = DataTree(), DataTree()
    for t in (live, replay):
        t.sessions[SESSION] = 30000
    prep = Preparer(live, extended_types=True)
    hdr, txn = prep.prepare(1, SESSION, 1, op, req, [], 1000)
    live.apply(hdr, txn)
    hdr2, txn2 = decode_txn_payload(encode_txn_payload(hdr, txn))
    replay.apply(hdr2, txn2)
    assert dump_tree(replay) == dump_tree(live)
    return live, txn


@pytest.mark.parametrize("op,flags,ttl", list(itertools.product(OPS, FLAGS, [-1, 5000])))
def test_every_create_reads_back_as_applied(op, flags, ttl):
    live, _ = _replayed_equals_applied(op, _request(op, "/n", flags, ttl))
    node = live.get("/n")
    if node is not None and op == OpCode.create and flags == CreateMode.CONTAINER:
        assert node.ephemeral_owner == 0, "a plain create with CONTAINER flags is persistent (ZooKeeper)"
    if node is not None and op == OpCode.createContainer:
        assert node.ephemeral_owner == CONTAINER_OWNER


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("op", [OpCode.create, OpCode.create2, OpCode.createContainer])
def test_every_create_in_a_multi_reads_back_as_applied(op, flags):
    ops = decode_multi(multi_body([op_create("/m", b"d", flags=flags, opcode=op)]))
    _replayed_equals_applied(OpCode.multi, ops)
