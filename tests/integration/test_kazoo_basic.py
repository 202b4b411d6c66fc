"""kazoo, a real ZooKeeper client, over a real socket: the everyday API must behave as on ZooKeeper.

Each test runs against corral and against Apache ZooKeeper 3.8 (ids `[corral]` / `[apache]`), so every
expectation here is checked against the reference too. Waits for events are bounded queues; nothing
asserts on durations.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import re
import threading

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent
from kazoo.recipe.watchers import ChildrenWatch, DataWatch
from kazoo.security import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id

from tests.support.wait import wait_until

pytestmark = pytest.mark.timeout(60)

EVENT_WAIT = 10.0  # seconds: upper bound for any single notification to arrive


def next_item(q: queue.Queue, what: str):
    try:
        return q.get(timeout=EVENT_WAIT)
    except queue.Empty:
        raise AssertionError(f"no {what} within {EVENT_WAIT}s")


def drain_marker(zk, path: str) -> None:
    """Return only after every watch callback dispatched so far on `zk` has run.

    kazoo runs watch callbacks one at a time, in arrival order, on one thread; the server delivers a
    notification before any later reply on the same connection. So once the callback of a watch set
    *after* an earlier change has run, any event caused by that earlier change has been handled too.
    """
    fired = threading.Event()
    zk.get(path, watch=lambda _e: fired.set())
    zk.set(path, zk.get(path)[0])  # any change fires the marker watch
    assert fired.wait(EVENT_WAIT), "marker watch did not fire"


# --- CRUD ----------------------------------------------------------------------------------------------
def test_create_get_set_exists_delete(zk, base):
    """The basic CRUD round trip, with the Stat fields a client relies on after each step."""
    path = f"{base}/node"
    assert zk.create(path, b"v1") == path
    data, stat = zk.get(path)
    assert data == b"v1"
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert (stat.dataLength, stat.numChildren, stat.ephemeralOwner) == (2, 0, 0)
    assert stat.czxid == stat.mzxid == stat.pzxid > 0
    assert stat.ctime == stat.mtime > 0
    assert zk.exists(path) == stat

    stat2 = zk.set(path, b"value-two")
    assert stat2.version == 1
    assert stat2.mzxid > stat.mzxid
    assert stat2.czxid == stat.czxid
    assert stat2.dataLength == len(b"value-two")
    assert zk.get(path) == (b"value-two", stat2)
    assert zk.exists(path) == stat2

    zk.delete(path)
    assert zk.exists(path) is None
    with pytest.raises(NoNodeError):
        zk.get(path)


def test_create_with_stat_and_empty_and_large_data(zk, base):
    """create2 (include_data) returns the new node's Stat; empty and ~512 KiB values round-trip intact
    (the large one spans many TCP segments, so the server's framing must reassemble it)."""
    path, stat = zk.create(f"{base}/with-stat", b"abc", include_data=True)
    assert path == f"{base}/with-stat"
    assert stat.version == 0 and stat.dataLength == 3
    assert zk.exists(path) == stat

    zk.create(f"{base}/empty")
    assert zk.get(f"{base}/empty")[0] == b""

    big = os.urandom(512 * 1024)
    zk.create(f"{base}/big", big)
    data, stat = zk.get(f"{base}/big")
    assert data == big and stat.dataLength == len(big)


def test_get_children_with_and_without_stat(zk, base):
    """getChildren (op 8) and getChildren2 (op 12, include_data) list the same names; the parent's Stat
    tracks children: cversion counts creates and deletes, pzxid is the last child change's zxid."""
    parent = f"{base}/p"
    zk.create(parent)
    assert zk.get_children(parent) == []
    created = {}
    for name in ("a", "b", "c"):
        created[name] = zk.create(f"{parent}/{name}", include_data=True)[1]
    assert sorted(zk.get_children(parent)) == ["a", "b", "c"]

    children, stat = zk.get_children(parent, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert stat.numChildren == 3
    assert stat.cversion == 3
    assert stat.pzxid == created["c"].czxid
    assert stat.version == 0  # child changes do not touch the data version

    zk.delete(f"{parent}/b")
    children, stat2 = zk.get_children(parent, include_data=True)
    assert sorted(children) == ["a", "c"]
    assert stat2.numChildren == 2
    assert stat2.cversion == 4
    assert stat2.pzxid > stat.pzxid
    assert stat2.mzxid == stat.mzxid

    with pytest.raises(NoNodeError):
        zk.get_children(f"{base}/missing")


def test_ensure_path_makepath_and_recursive_delete(zk, base):
    """ensure_path/makepath create every missing ancestor (and are idempotent); delete(recursive=True)
    removes a whole subtree, which a plain delete refuses."""
    deep = f"{base}/a/b/c"
    assert zk.ensure_path(deep)
    for p in (f"{base}/a", f"{base}/a/b", deep):
        assert zk.exists(p) is not None, p
    assert zk.ensure_path(deep)  # already there: no error

    zk.create(f"{base}/x/y/z", b"leaf", makepath=True)
    assert zk.get(f"{base}/x/y/z")[0] == b"leaf"

    with pytest.raises(NotEmptyError):
        zk.delete(f"{base}/a")
    zk.delete(f"{base}/a", recursive=True)
    assert zk.exists(f"{base}/a") is None
    assert zk.exists(deep) is None
    assert sorted(zk.get_children(base)) == ["x"]


# --- ephemeral and sequential nodes ----------------------------------------------------------------------
def test_ephemeral_node_visible_to_others_and_gone_with_session(server, zk, base, kazoo_factory):
    """An ephemeral node belongs to its session: other clients see it (ephemeralOwner = the session id)
    while the session lives, and it is gone as soon as the owner closes its session."""
    owner = kazoo_factory(server)
    path = f"{base}/eph"
    owner.create(path, b"mine", ephemeral=True)
    stat = zk.exists(path)
    assert stat is not None
    assert stat.ephemeralOwner == owner.client_id[0] != 0
    assert zk.get(path)[0] == b"mine"
    assert zk.get_children(base) == ["eph"]

    owner.stop()
    assert zk.exists(path) is None
    assert zk.get_children(base) == []


def test_sequential_and_ephemeral_sequential_names(zk, base):
    """Sequential names are the given prefix plus a 10-digit, zero-padded, increasing counter taken from
    the parent; deleting a child never makes a number reusable; ephemeral-sequential nodes share it."""
    parent = f"{base}/q"
    zk.create(parent)
    names = [zk.create(f"{parent}/n-", sequence=True) for _ in range(3)]
    for name in names:
        assert re.fullmatch(re.escape(parent) + r"/n-\d{10}", name), name
    assert [int(n[-10:]) for n in names] == [0, 1, 2]

    zk.delete(names[-1])
    eph = zk.create(f"{parent}/n-", ephemeral=True, sequence=True)
    assert eph == f"{parent}/n-0000000003"
    assert zk.exists(eph).ephemeralOwner == zk.client_id[0]
    other = zk.create(f"{parent}/other-", b"x", sequence=True)
    assert other == f"{parent}/other-0000000004"

    # A sequential create may end in "/": the name is then the bare counter.
    zk.create(f"{base}/slash")
    assert zk.create(f"{base}/slash/", sequence=True) == f"{base}/slash/0000000000"


# --- watches ---------------------------------------------------------------------------------------------
def test_data_watch_recipe_sees_create_change_delete_in_order(server, zk, base, kazoo_factory):
    """DataWatch on a missing node: called with None, then once per change made by another client, in
    order, each with the matching event type."""
    writer = kazoo_factory(server)
    path = f"{base}/dw"
    seen: queue.Queue = queue.Queue()

    def on_change(data, stat, event):
        seen.put((data, stat.version if stat else None, event.type if event else None))

    DataWatch(zk, path, on_change)
    assert next_item(seen, "initial DataWatch call") == (None, None, None)
    writer.create(path, b"one")
    assert next_item(seen, "CREATED") == (b"one", 0, EventType.CREATED)
    writer.set(path, b"two")
    assert next_item(seen, "CHANGED") == (b"two", 1, EventType.CHANGED)
    writer.set(path, b"three")
    assert next_item(seen, "CHANGED") == (b"three", 2, EventType.CHANGED)
    writer.delete(path)
    assert next_item(seen, "DELETED") == (None, None, EventType.DELETED)


def test_children_watch_recipe_tracks_membership(server, zk, base, kazoo_factory):
    """ChildrenWatch gets the full child list initially and after each child create/delete."""
    writer = kazoo_factory(server)
    parent = f"{base}/cw"
    zk.create(parent)
    seen: queue.Queue = queue.Queue()
    ChildrenWatch(zk, parent, lambda children: seen.put(sorted(children)))
    assert next_item(seen, "initial ChildrenWatch call") == []
    writer.create(f"{parent}/a")
    assert next_item(seen, "child a") == ["a"]
    writer.create(f"{parent}/b", ephemeral=True)
    assert next_item(seen, "child b") == ["a", "b"]
    writer.delete(f"{parent}/a")
    assert next_item(seen, "delete a") == ["b"]
    writer.stop()  # b is ephemeral: the session close removes it and fires the watch
    assert next_item(seen, "ephemeral b gone") == []


def test_raw_watch_is_one_shot(server, zk, base, kazoo_factory):
    """A watch set by get(path, watch=fn) fires once, for the first change only, with the node's path."""
    writer = kazoo_factory(server)
    path = f"{base}/once"
    zk.create(path, b"0")
    calls: list[WatchedEvent] = []
    data, _ = zk.get(path, watch=calls.append)
    assert data == b"0"

    writer.set(path, b"1")
    writer.set(path, b"2")
    drain_marker(zk, path)
    assert calls == [WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, path)]


def test_raw_watch_event_types(server, zk, base, kazoo_factory):
    """exists() on a missing node watches for its creation; get_children() watches the child list;
    get() on a node reports its deletion."""
    writer = kazoo_factory(server)
    events: queue.Queue = queue.Queue()
    node = f"{base}/w"

    assert zk.exists(node, watch=events.put) is None
    writer.create(node)
    assert next_item(events, "CREATED") == WatchedEvent(EventType.CREATED, KeeperState.CONNECTED, node)

    assert zk.get_children(node, watch=events.put) == []
    writer.create(f"{node}/kid")
    assert next_item(events, "CHILD") == WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, node)

    zk.get(f"{node}/kid", watch=events.put)
    writer.delete(f"{node}/kid")
    assert next_item(events, "DELETED") == WatchedEvent(EventType.DELETED, KeeperState.CONNECTED,
                                                        f"{node}/kid")


# --- transactions (multi) -----------------------------------------------------------------------------------
def test_transaction_commit(zk, base):
    """A successful multi applies every op, in order, at one zxid; later ops see earlier ones."""
    a, b = f"{base}/a", f"{base}/b"
    t = zk.transaction()
    t.create(a, b"x")
    t.create(b)
    t.set_data(a, b"y")
    t.check(a, 1)  # sees the set_data above
    t.delete(b)
    results = t.commit()
    assert len(results) == 5
    assert results[0] == a and results[1] == b
    assert results[2].version == 1
    assert results[3] is True and results[4] is True

    data, stat = zk.get(a)
    assert data == b"y" and stat.version == 1
    assert stat.czxid == stat.mzxid  # created and changed by the same multi: one zxid
    assert zk.exists(b) is None


def test_failing_transaction_applies_nothing_and_reports_each_op(zk, base):
    """All or nothing: a failing op rolls back the whole multi. Ops before it report RolledBackError,
    the failing op its real error, ops after it RuntimeInconsistency."""
    existing = f"{base}/existing"
    zk.create(existing, b"keep")
    t = zk.transaction()
    t.create(f"{base}/new1")
    t.set_data(existing, b"changed")
    t.create(existing)  # NodeExists
    t.create(f"{base}/new2")
    t.delete(existing)
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, NodeExistsError,
                                          RuntimeInconsistency, RuntimeInconsistency]
    assert zk.exists(f"{base}/new1") is None
    assert zk.exists(f"{base}/new2") is None
    data, stat = zk.get(existing)
    assert data == b"keep" and stat.version == 0


def test_failing_check_in_transaction(zk, base):
    """A version check that fails reports BadVersionError and blocks the ops after it."""
    node = f"{base}/n"
    zk.create(node)
    t = zk.transaction()
    t.check(node, 7)
    t.create(f"{base}/after")
    results = t.commit()
    assert [type(r) for r in results] == [BadVersionError, RuntimeInconsistency]
    assert zk.exists(f"{base}/after") is None


# --- versions and errors ----------------------------------------------------------------------------------
def test_version_checks(zk, base):
    """set/delete/set_acls with a stale expected version fail with BadVersionError and change nothing;
    -1 matches any version."""
    node = f"{base}/v"
    zk.create(node, b"0")
    with pytest.raises(BadVersionError):
        zk.set(node, b"x", version=3)
    assert zk.set(node, b"1", version=0).version == 1
    assert zk.set(node, b"2", version=-1).version == 2
    with pytest.raises(BadVersionError):
        zk.delete(node, version=1)
    with pytest.raises(BadVersionError):
        zk.set_acls(node, OPEN_ACL_UNSAFE, version=5)
    assert zk.set_acls(node, OPEN_ACL_UNSAFE, version=0).aversion == 1
    assert zk.get(node) == (b"2", zk.exists(node))
    zk.delete(node, version=2)
    assert zk.exists(node) is None


def test_error_codes(zk, base):
    """Each failure maps to its own ZooKeeper error code (and so to kazoo's exception class)."""
    missing = f"{base}/missing"
    with pytest.raises(NoNodeError):
        zk.get(missing)
    with pytest.raises(NoNodeError):
        zk.set(missing, b"x")
    with pytest.raises(NoNodeError):
        zk.delete(missing)
    with pytest.raises(NoNodeError):
        zk.create(f"{missing}/child")

    zk.create(f"{base}/dup")
    with pytest.raises(NodeExistsError):
        zk.create(f"{base}/dup")

    zk.create(f"{base}/full/kid", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(f"{base}/full")

    zk.create(f"{base}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{base}/eph/kid")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{base}/eph/seq-", sequence=True)

    assert sorted(zk.get_children(base)) == ["dup", "eph", "full"]


@pytest.mark.parametrize("bad", ["nul\x00byte", "ctl\x01", "ctl\x1f", "del\x7f", "c1\u0085",
                                 "private\ue000", "special\ufff0"],
                         ids=["nul", "x01", "x1f", "x7f", "u0085", "ue000", "ufff0"])
def test_bad_path_is_bad_arguments(zk, base, bad):
    """Paths with characters ZooKeeper forbids (PathUtils.validatePath) are refused with BadArguments,
    for creates and for sequential creates alike. (kazoo normalises `//`, `.`, `..` itself; those
    malformed paths are checked on the wire in test_bad_input.py.)"""
    with pytest.raises(BadArgumentsError):
        zk.create(f"{base}/{bad}")
    with pytest.raises(BadArgumentsError):
        zk.create(f"{base}/{bad}", sequence=True)
    assert zk.get_children(base) == []


def test_system_nodes_cannot_be_deleted(zk):
    """/zookeeper and its fixed children are part of every tree and refuse deletion (BadArguments)."""
    for path in ("/zookeeper/quota", "/zookeeper/config", "/zookeeper"):
        with pytest.raises(BadArgumentsError):
            zk.delete(path)
        assert zk.exists(path) is not None


# --- ACLs ---------------------------------------------------------------------------------------------------
def test_world_anyone_read_only_acl(zk, base):
    """world:anyone with READ only: anyone can read, nobody can write, create children or change the
    ACL; deleting is governed by the parent's ACL, which is open."""
    node = f"{base}/ro"
    zk.create(node, b"public", acl=READ_ACL_UNSAFE)
    acls, stat = zk.get_acls(node)
    assert acls == [ACL(1, Id("world", "anyone"))]
    assert stat.aversion == 0
    assert zk.get(node)[0] == b"public"
    with pytest.raises(NoAuthError):
        zk.set(node, b"nope")
    with pytest.raises(NoAuthError):
        zk.create(f"{node}/kid")
    with pytest.raises(NoAuthError):
        zk.set_acls(node, OPEN_ACL_UNSAFE)
    assert zk.get(node)[0] == b"public"
    zk.delete(node)
    assert zk.exists(node) is None


def _digest_id(user: str, password: str) -> str:
    """user:base64(sha1("user:password")), computed here rather than with kazoo's helper."""
    digest = base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
    return f"{user}:{digest}"


def test_digest_acl_requires_add_auth(server, base, kazoo_factory):
    """A digest ACL admits only connections that sent the matching `addauth digest user:password`;
    others, including one with the wrong password, get NoAuth. The `auth` pseudo-scheme
    (CREATOR_ALL_ACL) becomes the creator's digest id, and is refused without any credentials."""
    owner = kazoo_factory(server)
    owner.add_auth("digest", "alice:secret")
    ident = _digest_id("alice", "secret")
    assert ident == "alice:" + base64.b64encode(hashlib.sha1(b"alice:secret").digest()).decode()
    node = f"{base}/private"
    owner.create(node, b"secret data", acl=[ACL(31, Id("digest", ident))])
    assert owner.get(node)[0] == b"secret data"
    assert owner.get_acls(node)[0] == [ACL(31, Id("digest", ident))]

    stranger = kazoo_factory(server)
    with pytest.raises(NoAuthError):
        stranger.get(node)
    with pytest.raises(NoAuthError):
        stranger.set(node, b"x")
    stranger.add_auth("digest", "alice:wrong")
    with pytest.raises(NoAuthError):
        stranger.get(node)

    friend = kazoo_factory(server, auth_data=[("digest", "alice:secret")])
    assert friend.get(node)[0] == b"secret data"
    friend.set(node, b"updated")
    assert owner.get(node)[0] == b"updated"

    owner.create(f"{base}/mine", acl=CREATOR_ALL_ACL)
    assert owner.get_acls(f"{base}/mine")[0] == [ACL(31, Id("digest", ident))]
    with pytest.raises(NoAuthError):
        stranger.get(f"{base}/mine")
    with pytest.raises(InvalidACLError):
        kazoo_factory(server).create(f"{base}/nobody", acl=CREATOR_ALL_ACL)
    assert sorted(owner.get_children(base)) == ["mine", "private"]
    # Deleting is governed by the parent's (open) ACL; the owner cleans up so `base` can go.
    stranger.delete(node)
    owner.delete(f"{base}/mine")


# --- recipes ------------------------------------------------------------------------------------------------
def test_lock_recipe_two_clients(server, base, kazoo_factory):
    """kazoo's Lock (ephemeral-sequential children + watch on the predecessor) gives mutual exclusion:
    the second client cannot take a held lock and gets it once the holder releases."""
    c1, c2 = kazoo_factory(server), kazoo_factory(server)
    lock_path = f"{base}/lock"
    lock1, lock2 = c1.Lock(lock_path, "one"), c2.Lock(lock_path, "two")
    assert lock1.acquire(timeout=EVENT_WAIT)
    assert lock2.acquire(blocking=False) is False

    got: queue.Queue = queue.Queue()
    waiter = threading.Thread(target=lambda: got.put(lock2.acquire(timeout=30)), daemon=True)
    waiter.start()
    wait_until(lambda: lock1.contenders() == ["one", "two"], EVENT_WAIT, what="both contenders queued")
    assert got.empty()  # still held by one
    lock1.release()
    assert next_item(got, "lock handed to the second client") is True
    waiter.join(EVENT_WAIT)
    assert lock2.is_acquired
    assert lock2.contenders() == ["two"]
    lock2.release()
    assert c1.get_children(lock_path) == []


def test_election_recipe_two_clients(server, base, kazoo_factory):
    """kazoo's Election: exactly one leader at a time; the second contender leads only after the
    first one's leadership function returns."""
    c1, c2 = kazoo_factory(server), kazoo_factory(server)
    path = f"{base}/election"
    order: queue.Queue = queue.Queue()
    release_first = threading.Event()

    def lead(name: str, hold: threading.Event | None) -> None:
        order.put(name)
        if hold is not None:
            assert hold.wait(30)

    e1, e2 = c1.Election(path, "first"), c2.Election(path, "second")
    t1 = threading.Thread(target=e1.run, args=(lead, "first", release_first), daemon=True)
    t1.start()
    assert next_item(order, "first leader") == "first"
    t2 = threading.Thread(target=e2.run, args=(lead, "second", None), daemon=True)
    t2.start()
    wait_until(lambda: e1.contenders() == ["first", "second"], EVENT_WAIT, what="second contender queued")
    assert order.empty()  # second is waiting, not leading
    release_first.set()
    assert next_item(order, "second leader") == "second"
    t1.join(EVENT_WAIT)
    t2.join(EVENT_WAIT)
    assert not t1.is_alive() and not t2.is_alive()
    assert c1.get_children(path) == []


def test_sync(server, zk, base, kazoo_factory):
    """sync answers with the path it was given, and a read after it sees other clients' writes."""
    writer = kazoo_factory(server)
    node = f"{base}/s"
    writer.create(node, b"v1")
    assert zk.sync(node) == node
    assert zk.get(node)[0] == b"v1"
    writer.set(node, b"v2")
    assert zk.sync(node) == node
    assert zk.get(node)[0] == b"v2"
