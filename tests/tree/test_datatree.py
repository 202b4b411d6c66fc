"""DataTree.apply: committed transactions change nodes, Stat fields and ephemerals exactly as ZooKeeper's
DataTree does (reference §1.16, §2.2, §2.6, §1.11), and fire watches by the rules of §2.5.

Transactions are built by hand here (TxnHeader + txn record), independent of the Preparer, so these
tests pin down the apply side on its own: whatever the Preparer computes, replaying a log through
apply() must rebuild the same tree.
"""

from __future__ import annotations

import pytest

from corral.protocol import EventType, OpCode, WatcherType
from corral.protocol.records import (
    ACL,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    Id,
    SetACLTxn,
    SetDataTxn,
    Stat,
    TxnHeader,
)
from corral.server.sessions import initial_session_id
from corral.tree import acl as aclmod
from corral.tree.datatree import CONTAINER_OWNER, DataTree, MultiOps
from corral.tree.watches import PERSISTENT, RECURSIVE, STANDARD

OPEN = [ACL(31, Id("world", "anyone"))]
READ_ONLY = [ACL(1, Id("world", "anyone"))]
SESSION = 0x10007AB7C550006


class FakeWatcher:
    """Records process() calls the way a connection would turn them into notifications."""

    def __init__(self, name: str = "w") -> None:
        self.name = name
        self.events: list[tuple[EventType, str, int]] = []

    def process(self, event_type: int, path: str, zxid: int, acl=None) -> None:
        self.events.append((EventType(event_type), path, zxid))

    def take(self) -> list[tuple[EventType, str, int]]:
        ev, self.events = self.events, []
        return ev

    def __repr__(self) -> str:
        return f"FakeWatcher({self.name})"


class Applier:
    """Hands out zxids and times like a leader would and applies txns to one tree."""

    def __init__(self, tree: DataTree | None = None) -> None:
        self.tree = tree or DataTree()
        self.zxid = self.tree.last_zxid

    def apply(self, type_: int, txn, session: int = SESSION, time: int | None = None):
        self.zxid += 1
        hdr = TxnHeader(session, 1, self.zxid, 1_000_000 + self.zxid if time is None else time, type_)
        return self.tree.apply(hdr, txn)

    def create(self, path: str, data: bytes | None = b"", ephemeral: bool = False, session: int = SESSION,
               acl=None, parent_cversion: int = -1, time: int | None = None):
        txn = CreateTxn(path, data, OPEN if acl is None else acl, ephemeral, parent_cversion)
        return self.apply(OpCode.create, txn, session, time)

    def delete(self, path: str):
        return self.apply(OpCode.delete, DeleteTxn(path))

    def set_data(self, path: str, data: bytes | None, version: int, time: int | None = None):
        return self.apply(OpCode.setData, SetDataTxn(path, data, version), time=time)

    def stat(self, path: str) -> Stat:
        node = self.tree.get(path)
        assert node is not None, path
        s = node.stat()
        assert node.pack_stat() == s.to_bytes()  # the fast path and the Stat object agree
        return s


@pytest.fixture
def t() -> Applier:
    return Applier()


# ---- fresh tree (§1.16) ----------------------------------------------------------------------

def test_fresh_tree_special_nodes():
    """A fresh tree matches a fresh ZooKeeper: node count 5 (root is also stored under ""), `/` shows
    cversion -1 with one child, `/zookeeper` cversion -2 (children linked without a create)."""
    tree = DataTree()
    assert tree.node_count() == 5
    assert set(tree.nodes) == {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}
    assert tree.last_zxid == 0
    assert tree.count_descendants("/") == 3  # getAllChildrenNumber / on a fresh server
    root = tree.get("/").stat()
    assert (root.cversion, root.numChildren) == (-1, 1)
    assert (root.czxid, root.mzxid, root.pzxid, root.ctime, root.mtime) == (0, 0, 0, 0, 0)
    assert (root.version, root.aversion, root.ephemeralOwner, root.dataLength) == (0, 0, 0, 0)
    zk = tree.get("/zookeeper").stat()
    assert (zk.cversion, zk.numChildren) == (-2, 2)
    quota = tree.get("/zookeeper/quota").stat()
    assert (quota.cversion, quota.numChildren) == (0, 0)
    assert tree.get("/zookeeper").children == {"quota", "config"}
    assert tree.get("/").children == {"zookeeper"}


def test_fresh_tree_acls():
    """`/`, `/zookeeper`, `/zookeeper/quota` are world:anyone:cdrwa; `/zookeeper/config` is
    world:anyone:r with aversion -1 (ZooKeeper sets it with setACL(..., -1))."""
    tree = DataTree()
    for p in ("/", "/zookeeper", "/zookeeper/quota"):
        assert tree.get(p).acl == ((31, "world", "anyone"),)
    cfg = tree.get("/zookeeper/config")
    assert cfg.acl == ((1, "world", "anyone"),)
    assert cfg.stat().aversion == -1
    assert cfg.data == b""


# ---- create / setData / delete / setACL stat bookkeeping (§2.6) ----------------------------------

def test_create_sets_stat_fields(t):
    """czxid = mzxid = pzxid = zxid, ctime = mtime = txn time, versions 0, dataLength from data."""
    res = t.create("/a", b"hello", time=1234)
    z = t.zxid
    assert res.err == 0 and res.path == "/a"
    s = Stat.from_bytes(res.stat)
    assert s == Stat(czxid=z, mzxid=z, ctime=1234, mtime=1234, version=0, cversion=0, aversion=0,
                     ephemeralOwner=0, dataLength=5, numChildren=0, pzxid=z)
    assert t.stat("/a") == s
    assert t.tree.get("/a").data == b"hello"
    assert t.tree.last_zxid == z
    assert t.tree.node_count() == 6


def test_create_updates_parent_cversion_and_pzxid_not_mzxid(t):
    """The parent's stored cversion counts creates (+1), its pzxid becomes the create's zxid; its
    mzxid/mtime/version do not change."""
    t.create("/p", b"", time=10)
    before = t.stat("/p")
    t.create("/p/c1", time=20)
    z1 = t.zxid
    after = t.stat("/p")
    assert after.cversion == 1 and after.numChildren == 1 and after.pzxid == z1
    assert (after.mzxid, after.mtime, after.version) == (before.mzxid, before.mtime, before.version)
    assert t.tree.get("/p").cversion == 1  # stored count of creates


def test_client_cversion_counts_creates_plus_deletes(t):
    """Stored cversion counts creates only; clients see 2*creates - numChildren = creates + deletes.
    A delete raises the parent's pzxid but not its stored cversion."""
    t.create("/p")
    t.create("/p/a")
    t.create("/p/b")
    assert t.stat("/p").cversion == 2
    t.delete("/p/a")
    zdel = t.zxid
    s = t.stat("/p")
    assert (s.cversion, s.numChildren, s.pzxid) == (3, 1, zdel)
    assert t.tree.get("/p").cversion == 2
    t.delete("/p/b")
    s = t.stat("/p")
    assert (s.cversion, s.numChildren) == (4, 0)


def test_root_cversion_after_create(t):
    """/ starts at cversion -1 (one child, no create); the first create makes it 0 (stored 1, 2 children)."""
    t.create("/a")
    s = t.stat("/")
    assert (s.cversion, s.numChildren, s.pzxid) == (0, 2, t.zxid)


def test_explicit_parent_cversion_from_txn(t):
    """CreateTxn.parentCVersion (computed by the preparer) is what the parent's stored cversion becomes;
    a replayed txn with an older value never moves it backwards (fuzzy-snapshot replay guard)."""
    t.create("/p")
    t.create("/p/x", parent_cversion=5)
    assert t.tree.get("/p").cversion == 5
    zx = t.zxid
    t.create("/p/y", parent_cversion=3)
    assert t.tree.get("/p").cversion == 5
    assert t.stat("/p").pzxid == zx  # pzxid only moves with a cversion increase on create


def test_set_data_stat(t):
    """setData: version from the txn, mzxid = zxid, mtime = txn time; czxid, ctime, pzxid unchanged."""
    t.create("/a", b"x", time=100)
    zc = t.zxid
    res = t.set_data("/a", b"longer data", 1, time=200)
    zs = t.zxid
    s = Stat.from_bytes(res.stat)
    assert (s.czxid, s.mzxid, s.pzxid) == (zc, zs, zc)
    assert (s.ctime, s.mtime, s.version, s.dataLength) == (100, 200, 1, 11)
    assert t.stat("/a") == s


def test_set_data_null_and_empty(t):
    """Null data is kept as null (getData returns null) and counts as length 0."""
    t.create("/a", None)
    assert t.tree.get("/a").data is None
    assert t.stat("/a").dataLength == 0
    t.set_data("/a", b"", 1)
    assert t.tree.get("/a").data == b""
    t.set_data("/a", None, 2)
    assert t.tree.get("/a").data is None and t.stat("/a").version == 2


def test_set_acl_changes_only_acl_and_aversion(t):
    """setACL: aversion from the txn and the new ACL; no mzxid/mtime/version change (§2.2)."""
    t.create("/a", b"d")
    before = t.stat("/a")
    res = t.apply(OpCode.setACL, SetACLTxn("/a", READ_ONLY, 1))
    s = Stat.from_bytes(res.stat)
    assert s.aversion == 1
    assert (s.mzxid, s.mtime, s.version, s.czxid, s.pzxid) == (
        before.mzxid, before.mtime, before.version, before.czxid, before.pzxid)
    assert t.tree.get("/a").acl == ((1, "world", "anyone"),)


def test_acls_are_interned(t):
    """Identical ACL lists are shared between nodes (memory: most trees use one or two ACLs)."""
    t.create("/a", acl=[ACL(5, Id("digest", "u:h"))])
    t.create("/b", acl=[ACL(5, Id("digest", "u:h"))])
    assert t.tree.get("/a").acl is t.tree.get("/b").acl


def test_delete_removes_node_and_updates_counts(t):
    t.create("/a", b"12345")
    size = t.tree.data_size
    t.delete("/a")
    assert t.tree.get("/a") is None
    assert "a" not in t.tree.get("/").children
    assert t.tree.node_count() == 5
    assert t.tree.data_size == size - len("/a") - 5


def test_error_txn_changes_nothing_but_last_zxid(t):
    """A failed write is logged as an ErrorTxn: it consumes its zxid and changes nothing else."""
    t.create("/a")
    snapshot = {p: n.stat() for p, n in t.tree.node_items()}
    res = t.apply(OpCode.error, ErrorTxn(-101))
    assert res.err == -101
    assert t.tree.last_zxid == t.zxid
    assert {p: n.stat() for p, n in t.tree.node_items()} == snapshot


# ---- ephemerals, containers, TTL, sessions ---------------------------------------------------

def test_ephemeral_owner_and_session_index(t):
    t.create("/e1", ephemeral=True)
    t.create("/e2", ephemeral=True)
    t.create("/other", ephemeral=True, session=SESSION + 1)
    t.create("/p")
    assert t.stat("/e1").ephemeralOwner == SESSION
    assert t.stat("/p").ephemeralOwner == 0
    assert t.tree.ephemerals == {SESSION: {"/e1", "/e2"}, SESSION + 1: {"/other"}}
    assert t.tree.ephemeral_count() == 3
    t.delete("/e1")
    assert t.tree.ephemerals[SESSION] == {"/e2"}
    t.delete("/e2")
    assert SESSION not in t.tree.ephemerals


def test_create_and_close_session(t):
    """createSession records the timeout; closeSession deletes the listed ephemerals and forgets the
    session, leaving other sessions' ephemerals alone."""
    t.apply(OpCode.createSession, CreateSessionTxn(30000))
    assert t.tree.sessions[SESSION] == 30000
    t.create("/e1", ephemeral=True)
    t.create("/e2", ephemeral=True)
    t.create("/keep", ephemeral=True, session=SESSION + 1)
    t.apply(OpCode.closeSession, CloseSessionTxn(["/e1", "/e2"]))
    zclose = t.zxid
    assert t.tree.get("/e1") is None and t.tree.get("/e2") is None
    assert t.tree.get("/keep") is not None
    assert SESSION not in t.tree.ephemerals and SESSION not in t.tree.sessions
    assert t.stat("/").pzxid == zclose


def test_close_session_without_path_list_uses_ephemerals(t):
    """Pre-3.6 logs have an empty closeSession body (decoded as None): the session's ephemerals go."""
    t.create("/e1", ephemeral=True)
    t.create("/e2", ephemeral=True)
    t.apply(OpCode.closeSession, None)
    assert t.tree.get("/e1") is None and t.tree.get("/e2") is None
    assert t.tree.ephemeral_count() == 0


def test_a_replacing_tree_adopts_the_servers_hooks(t):
    """A SNAP from the leader (or a restore) replaces the tree: the audit log's ephemeral hook and the
    watch fan-out metric move to the new tree, or its closeSessions and triggers go unreported."""
    deleted: list[tuple[int, str, bool]] = []
    fanouts: list[tuple[int, int]] = []
    t.tree.on_ephemeral_deleted = lambda sid, path, ok: deleted.append((sid, path, ok))
    t.tree.watches.set_fanout(lambda ev, n: fanouts.append((ev, n)))
    fresh = Applier()
    fresh.tree.adopt_hooks(t.tree)
    fresh.create("/e", ephemeral=True)
    fresh.tree.watches.data.add("/e", FakeWatcher())
    fresh.apply(OpCode.closeSession, CloseSessionTxn(["/e"]))
    assert deleted == [(SESSION, "/e", True)]
    assert fanouts == [(EventType.NodeDeleted, 1)]


def test_close_session_tolerates_already_deleted_paths(t):
    t.create("/e1", ephemeral=True)
    res = t.apply(OpCode.closeSession, CloseSessionTxn(["/e1", "/gone"]))
    assert res.err == 0
    assert t.tree.get("/e1") is None


def test_container_and_ttl_owner_hidden_from_clients(t):
    """Containers store Long.MIN_VALUE, TTL nodes 0xFF.. | ttl; both report ephemeralOwner 0 and are
    not session ephemerals."""
    t.apply(OpCode.createContainer, CreateContainerTxn("/c", b"", OPEN, -1))
    t.apply(OpCode.createTTL, CreateTTLTxn("/t", b"", OPEN, -1, 5000))
    assert t.tree.get("/c").ephemeral_owner == CONTAINER_OWNER
    assert t.tree.get("/t").ephemeral_owner & 0xFFFFFFFFFF == 5000
    assert t.stat("/c").ephemeralOwner == 0
    assert t.stat("/t").ephemeralOwner == 0
    assert t.tree.ephemeral_count() == 0


def test_ephemeral_of_session_with_top_bit_set(t):
    """Session ids from server ids >= 128 are negative longs (`serverId << 56`), and ZooKeeper treats any
    owner other than 0 / Long.MIN_VALUE as a NORMAL ephemeral (EphemeralType.get): such a session's
    ephemerals must be indexed and deleted on closeSession (regression: corral once checked owner > 0)."""
    sid = initial_session_id(1_700_000_000_000, 200)
    assert sid < 0 and (sid >> 56) & 0xFF == 200
    t.create("/e", ephemeral=True, session=sid)
    assert t.stat("/e").ephemeralOwner == sid
    assert t.tree.ephemerals.get(sid) == {"/e"}
    t.apply(OpCode.closeSession, None, session=sid)
    assert t.tree.get("/e") is None


# ---- multi (§1.11) ---------------------------------------------------------------------------

def _txn(type_: int, rec) -> tuple[int, object]:
    return (type_, rec)


def test_multi_success_shares_zxid_and_shows_per_op_stats(t):
    """Every sub-op gets the multi's zxid and time; each result's Stat is the node right after that op
    (the create's Stat shows version 0 even though a later op in the same multi bumps it)."""
    multi = MultiOps([
        _txn(OpCode.create, CreateTxn("/m", b"a", OPEN, False, -1)),
        _txn(OpCode.setData, SetDataTxn("/m", b"bb", 1)),
        _txn(OpCode.create, CreateTxn("/m/c", b"", OPEN, False, -1)),
        _txn(OpCode.check, CheckVersionTxn("/m", 2)),
    ])
    res = t.apply(OpCode.multi, multi, time=777)
    z = t.zxid
    assert res.err == 0
    assert [r.type for r in res.multi] == [OpCode.create, OpCode.setData, OpCode.create, OpCode.check]
    assert [r.err for r in res.multi] == [0, 0, 0, 0]
    created = Stat.from_bytes(res.multi[0].stat)
    updated = Stat.from_bytes(res.multi[1].stat)
    assert (created.version, created.dataLength, created.czxid, created.ctime) == (0, 1, z, 777)
    assert (updated.version, updated.dataLength, updated.mzxid, updated.mtime) == (1, 2, z, 777)
    assert res.multi[2].path == "/m/c"
    assert t.stat("/m").pzxid == z


def test_failed_multi_results_and_no_changes(t):
    """A multi whose third op failed: results are [0, 0, code, -2, -2], all ErrorResults, and the tree is
    exactly as before (the ops before the failure are not applied)."""
    t.create("/exists")
    before = {p: (n.stat(), n.data) for p, n in t.tree.node_items()}
    w = FakeWatcher()
    t.tree.watches.child.add("/", w)
    t.tree.watches.data.add("/new", w)
    multi = MultiOps([
        _txn(OpCode.create, CreateTxn("/new", b"", OPEN, False, -1)),
        _txn(OpCode.setData, SetDataTxn("/exists", b"x", 1)),
        _txn(OpCode.error, ErrorTxn(-110)),
        _txn(OpCode.error, ErrorTxn(-2)),
        _txn(OpCode.error, ErrorTxn(-2)),
    ])
    res = t.apply(OpCode.multi, multi)
    assert [r.err for r in res.multi] == [0, 0, -110, -2, -2]
    assert all(r.type == OpCode.error for r in res.multi)
    assert res.err == -110
    assert {p: (n.stat(), n.data) for p, n in t.tree.node_items()} == before
    assert w.events == []
    assert t.tree.last_zxid == t.zxid


# ---- watches (§2.5) --------------------------------------------------------------------------

def test_data_watch_fires_once_on_set_data(t):
    """getData(watch) → data table: one NodeDataChanged carrying the txn zxid, then the watch is gone."""
    t.create("/a")
    w = FakeWatcher()
    t.tree.watches.data.add("/a", w)
    t.set_data("/a", b"1", 1)
    assert w.take() == [(EventType.NodeDataChanged, "/a", t.zxid)]
    t.set_data("/a", b"2", 2)
    assert w.take() == []
    assert t.tree.watches.count() == 0


def test_exists_watch_on_missing_node_fires_node_created(t):
    w = FakeWatcher()
    t.tree.watches.data.add("/later", w)
    t.create("/later")
    assert w.take() == [(EventType.NodeCreated, "/later", t.zxid)]
    t.set_data("/later", b"x", 1)
    assert w.take() == []


def test_child_watch_fires_on_child_create_and_delete_only(t):
    t.create("/p")
    w = FakeWatcher()
    t.tree.watches.child.add("/p", w)
    t.set_data("/p", b"x", 1)  # data change of the node itself: not a child event
    assert w.take() == []
    t.create("/p/c")
    assert w.take() == [(EventType.NodeChildrenChanged, "/p", t.zxid)]
    t.delete("/p/c")
    assert w.take() == []  # one-shot
    t.tree.watches.child.add("/p", w)
    t.create("/p/c2")
    t.tree.watches.child.add("/p", w)
    t.delete("/p/c2")
    assert w.take() == [(EventType.NodeChildrenChanged, "/p", t.zxid - 1),
                        (EventType.NodeChildrenChanged, "/p", t.zxid)]


def test_create_fires_created_on_path_and_children_changed_on_parent(t):
    t.create("/p")
    data_w, child_w = FakeWatcher("data"), FakeWatcher("child")
    t.tree.watches.data.add("/p/c", data_w)
    t.tree.watches.child.add("/p", child_w)
    t.create("/p/c")
    assert data_w.events == [(EventType.NodeCreated, "/p/c", t.zxid)]
    assert child_w.events == [(EventType.NodeChildrenChanged, "/p", t.zxid)]


def test_delete_fires_node_deleted_once_per_watcher(t):
    """A watcher with both a data and a child watch on the deleted node gets one NodeDeleted; a second
    watcher with only a child watch gets its own; the parent's child watchers get NodeChildrenChanged."""
    t.create("/p")
    t.create("/p/a")
    both, child_only, parent_w = FakeWatcher("both"), FakeWatcher("child"), FakeWatcher("parent")
    t.tree.watches.data.add("/p/a", both)
    t.tree.watches.child.add("/p/a", both)
    t.tree.watches.child.add("/p/a", child_only)
    t.tree.watches.child.add("/p", parent_w)
    t.delete("/p/a")
    z = t.zxid
    assert both.events == [(EventType.NodeDeleted, "/p/a", z)]
    assert child_only.events == [(EventType.NodeDeleted, "/p/a", z)]
    assert parent_w.events == [(EventType.NodeChildrenChanged, "/p", z)]
    assert t.tree.watches.count() == 0


def test_set_acl_and_error_txns_fire_nothing(t):
    t.create("/a")
    w = FakeWatcher()
    t.tree.watches.data.add("/a", w)
    t.tree.watches.child.add("/a", w)
    t.tree.watches.child.add("/", w)
    t.apply(OpCode.setACL, SetACLTxn("/a", READ_ONLY, 1))
    t.apply(OpCode.error, ErrorTxn(-103))
    assert w.events == []
    assert t.tree.watches.count() == 3


def test_each_watcher_notified_once_per_trigger(t):
    t.create("/a")
    ws = [FakeWatcher(str(i)) for i in range(3)]
    for w in ws:
        t.tree.watches.data.add("/a", w)
        t.tree.watches.data.add("/a", w)  # registering twice is still one watch
    t.set_data("/a", b"x", 1)
    for w in ws:
        assert w.events == [(EventType.NodeDataChanged, "/a", t.zxid)]


def test_persistent_watch_survives_and_sees_data_and_children(t):
    """addWatch PERSISTENT: data + child tables, not removed when fired, not recursive."""
    t.create("/p")
    w = FakeWatcher()
    t.tree.watches.add_persistent("/p", w, recursive=False)
    t.set_data("/p", b"1", 1)
    t.set_data("/p", b"2", 2)
    t.create("/p/c")
    t.create("/p/c/g")  # grandchild: not this watch's business
    t.set_data("/p/c", b"x", 1)
    t.delete("/p/c/g")
    t.delete("/p/c")
    ev = [(e, p) for e, p, _ in w.take()]
    assert ev == [(EventType.NodeDataChanged, "/p"), (EventType.NodeDataChanged, "/p"),
                  (EventType.NodeChildrenChanged, "/p"), (EventType.NodeChildrenChanged, "/p")]
    assert t.tree.watches.contains("/p", w, WatcherType.Persistent)
    t.delete("/p")
    assert [(e, p) for e, p, _ in w.take()] == [(EventType.NodeDeleted, "/p")]


def test_persistent_and_standard_on_same_path_fire_once(t):
    """A one-shot and a persistent watch of one connection on one path: one event; then the one-shot is
    gone and the persistent one stays."""
    t.create("/a")
    w = FakeWatcher()
    t.tree.watches.data.add("/a", w, STANDARD)
    t.tree.watches.add_persistent("/a", w, recursive=False)
    t.set_data("/a", b"1", 1)
    assert len(w.take()) == 1
    assert not t.tree.watches.data.has("/a", w, STANDARD)
    assert t.tree.watches.data.has("/a", w, PERSISTENT)
    t.set_data("/a", b"2", 2)
    assert len(w.take()) == 1


def test_persistent_recursive_watch(t):
    """PERSISTENT_RECURSIVE: NodeCreated/NodeDataChanged/NodeDeleted for the node and every descendant
    (event path = the changed node), never NodeChildrenChanged, never for nodes outside the subtree."""
    t.create("/r")
    w = FakeWatcher()
    t.tree.watches.add_persistent("/r", w, recursive=True)
    t.create("/r/a")
    t.create("/r/a/b")
    t.set_data("/r/a/b", b"x", 1)
    t.set_data("/r", b"y", 1)
    t.create("/rr")          # shares a string prefix, not a path prefix
    t.create("/other")
    t.delete("/r/a/b")
    ev = [(e, p) for e, p, _ in w.take()]
    assert ev == [(EventType.NodeCreated, "/r/a"), (EventType.NodeCreated, "/r/a/b"),
                  (EventType.NodeDataChanged, "/r/a/b"), (EventType.NodeDataChanged, "/r"),
                  (EventType.NodeDeleted, "/r/a/b")]
    assert t.tree.watches.contains("/r", w, WatcherType.PersistentRecursive)
    assert not t.tree.watches.child.has("/r", w, PERSISTENT | RECURSIVE | STANDARD)


def test_recursive_watch_on_root_sees_everything(t):
    w = FakeWatcher()
    t.tree.watches.add_persistent("/", w, recursive=True)
    t.create("/a")
    t.create("/a/b")
    assert [(e, p) for e, p, _ in w.take()] == [(EventType.NodeCreated, "/a"), (EventType.NodeCreated, "/a/b")]


def test_recursive_and_standard_watcher_on_descendant_fire_once(t):
    """A recursive watch on an ancestor and a one-shot data watch on the node, same connection: one event."""
    t.create("/r")
    t.create("/r/a")
    w = FakeWatcher()
    t.tree.watches.add_persistent("/r", w, recursive=True)
    t.tree.watches.data.add("/r/a", w)
    t.set_data("/r/a", b"x", 1)
    assert len(w.take()) == 1


def test_removing_recursive_watch_stops_descendant_events(t):
    """Dropping the last recursive watch must also reset the table's recursive counter, otherwise every
    trigger keeps walking ancestors (and a stale counter would hide bugs in remove)."""
    t.create("/r")
    w = FakeWatcher()
    t.tree.watches.add_persistent("/r", w, recursive=True)
    assert t.tree.watches.data.recursive == 1
    assert t.tree.watches.remove("/r", w, WatcherType.PersistentRecursive)
    assert t.tree.watches.data.recursive == 0
    t.create("/r/a")
    assert w.events == []
    assert not t.tree.watches.remove("/r", w, WatcherType.PersistentRecursive)


def test_remove_watcher_drops_everything_of_that_connection(t):
    t.create("/a")
    w, other = FakeWatcher("w"), FakeWatcher("other")
    t.tree.watches.data.add("/a", w)
    t.tree.watches.child.add("/a", w)
    t.tree.watches.add_persistent("/", w, recursive=True)
    t.tree.watches.data.add("/a", other)
    t.tree.watches.remove_watcher(w)
    assert t.tree.watches.data.recursive == 0
    t.set_data("/a", b"x", 1)
    t.create("/a/b")
    assert w.events == []
    assert other.events == [(EventType.NodeDataChanged, "/a", t.zxid - 1)]


@pytest.mark.parametrize("wtype,data_left,child_left", [
    (WatcherType.Data, False, True),
    (WatcherType.Children, True, False),
    (WatcherType.Any, False, False),
])
def test_remove_standard_watches_by_type(t, wtype, data_left, child_left):
    """removeWatches: Children → child table, Data → data table, Any → both (§2.5)."""
    t.create("/a")
    w = FakeWatcher()
    t.tree.watches.data.add("/a", w)
    t.tree.watches.child.add("/a", w)
    assert t.tree.watches.remove("/a", w, wtype)
    assert t.tree.watches.data.has("/a", w, STANDARD) == data_left
    assert t.tree.watches.child.has("/a", w, STANDARD) == child_left


def test_remove_persistent_leaves_standard(t):
    t.create("/a")
    w = FakeWatcher()
    t.tree.watches.data.add("/a", w)
    t.tree.watches.add_persistent("/a", w, recursive=False)
    assert t.tree.watches.remove("/a", w, WatcherType.Persistent)
    assert t.tree.watches.contains("/a", w, WatcherType.Data)
    assert not t.tree.watches.contains("/a", w, WatcherType.Persistent)
    assert not t.tree.watches.remove("/a", w, WatcherType.Persistent)


# ---- setWatches catch-up (§2.5 table) ----------------------------------------------------------

@pytest.fixture
def reconnect_tree(t):
    """/old unchanged since zxid `rel`; /changed setData after `rel`; /kids got a child after `rel`."""
    t.create("/old")
    t.create("/changed")
    t.create("/kids")
    rel = t.zxid
    t.set_data("/changed", b"x", 1)
    t.create("/kids/c")
    return t, rel


def test_set_watches_data_list(reconnect_tree):
    t, rel = reconnect_tree
    w = FakeWatcher()
    t.tree.set_watches(rel, ["/missing", "/changed", "/old"], [], [], [], [], w)
    assert w.take() == [(EventType.NodeDeleted, "/missing", -1), (EventType.NodeDataChanged, "/changed", -1)]
    assert t.tree.watches.data.has("/old", w, STANDARD)
    assert not t.tree.watches.data.has("/changed", w, STANDARD | PERSISTENT)
    t.set_data("/old", b"1", 1)
    assert w.take() == [(EventType.NodeDataChanged, "/old", t.zxid)]


def test_set_watches_exist_list(reconnect_tree):
    t, rel = reconnect_tree
    w = FakeWatcher()
    t.tree.set_watches(rel, [], ["/old", "/notyet"], [], [], [], w)
    assert w.take() == [(EventType.NodeCreated, "/old", -1)]
    assert t.tree.watches.data.has("/notyet", w, STANDARD)
    t.create("/notyet")
    assert w.take() == [(EventType.NodeCreated, "/notyet", t.zxid)]


def test_set_watches_child_list(reconnect_tree):
    t, rel = reconnect_tree
    w = FakeWatcher()
    t.tree.set_watches(rel, [], [], ["/missing", "/kids", "/old", "/changed"], [], [], w)
    # /changed had only a data change: pzxid untouched, so its child watch is simply re-registered
    assert w.take() == [(EventType.NodeDeleted, "/missing", -1), (EventType.NodeChildrenChanged, "/kids", -1)]
    assert t.tree.watches.child.has("/old", w, STANDARD)
    assert t.tree.watches.child.has("/changed", w, STANDARD)
    assert not t.tree.watches.child.has("/kids", w, STANDARD)


def test_set_watches_persistent_lists_never_catch_up(reconnect_tree):
    """setWatches2 persistent / persistentRecursive: re-registered only, even for changed or missing nodes."""
    t, rel = reconnect_tree
    w = FakeWatcher()
    t.tree.set_watches(rel, [], [], [], ["/changed", "/missing"], ["/kids"], w)
    assert w.events == []
    assert t.tree.watches.contains("/changed", w, WatcherType.Persistent)
    assert t.tree.watches.contains("/missing", w, WatcherType.Persistent)
    assert t.tree.watches.contains("/kids", w, WatcherType.PersistentRecursive)
    t.create("/kids/d")
    assert [(e, p) for e, p, _ in w.take()] == [(EventType.NodeCreated, "/kids/d")]


def test_set_watches_with_current_zxid_just_registers(reconnect_tree):
    """A client that has seen everything gets no catch-up events."""
    t, _ = reconnect_tree
    w = FakeWatcher()
    t.tree.set_watches(t.zxid, ["/changed"], [], ["/kids"], [], [], w)
    assert w.events == []
    assert t.tree.watches.count() == 2


def test_interned_acl_round_trip_through_records():
    """to_records/from_records are inverse, so ACLs survive the txn round trip the log will do."""
    acl = ((31, "world", "anyone"), (1, "digest", "u:h"), (3, "ip", "10.0.0.0/8"))
    assert tuple(aclmod.from_records(aclmod.to_records(acl))) == acl
