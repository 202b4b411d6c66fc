"""Watch events side by side: which operations set which watch, which changes fire which event, one
event per connection, one-shot watches, ordering against replies, setWatches catch-up, session close.

"No event" is proven without sleeping: after the triggering write has been answered, the watcher makes
a round trip (RawClient.barrier); ZooKeeper delivers a notification before any later reply on the same
connection, so everything that was going to arrive has arrived.
"""

from __future__ import annotations

import pytest

from tests.support.rawclient import (
    EventType,
    Op,
    Unordered,
    create_body,
    op_create,
    op_delete,
    path_body,
    path_version_body,
    path_watch_body,
    set_data_body,
)

from .harness import Zxid
from .steps import closed_after, events_after_barrier, scenarios_of

pytestmark = pytest.mark.compat

EPH = 1


def scenario_exists_watch_then_create(ctx):
    """exists on a missing node sets a watch (NoNode reply) → NodeCreated; getData/getChildren on a
    missing node set none; the parent's child watch gets NodeChildrenChanged."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    g = ctx.raw("G")
    ctx.rec("W exists /n watch", w.exists("/n", watch=True))
    ctx.rec("G getData /n watch", g.get_data("/n", watch=True))
    ctx.rec("G getChildren /n watch", g.get_children("/n", watch=True))
    ctx.rec("G getChildren2 /n watch", g.get_children2("/n", watch=True))
    ctx.rec("G getChildren / watch", g.get_children("/", watch=True))
    ctx.rec("create /n", c.create("/n", b"x"))
    ctx.rec("W events", events_after_barrier(w))
    ctx.rec("G events", events_after_barrier(g))
    ctx.rec("setData /n", c.set_data("/n", b"y"))
    ctx.rec("W events after setData (one-shot)", events_after_barrier(w))
    ctx.rec("G events after setData", events_after_barrier(g))


def scenario_data_watch_fires(ctx):
    """getData and exists watches fire NodeDataChanged on setData, once per connection even with both
    registered; one-shot: a second setData fires nothing until re-registered; a failed setData fires
    nothing; getChildren watches ignore data changes."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /d", c.create("/d", b"0"))
    ctx.rec("W getData watch", w.get_data("/d", watch=True))
    ctx.rec("W exists watch", w.exists("/d", watch=True))
    ctx.rec("W getData watch twice", w.get_data("/d", watch=True))
    ctx.rec("W getChildren watch", w.get_children("/d", watch=True))
    ctx.rec("bad-version setData", c.set_data("/d", b"x", 9))
    ctx.rec("events after failed setData", events_after_barrier(w))
    ctx.rec("setData 1", c.set_data("/d", b"1"))
    ctx.rec("events after setData 1", events_after_barrier(w))
    ctx.rec("setData 2", c.set_data("/d", b"2"))
    ctx.rec("events after setData 2", events_after_barrier(w))
    ctx.rec("W re-register", w.get_data("/d", watch=True))
    ctx.rec("A own watch", c.exists("/d", watch=True))
    ctx.rec("setData 3", c.set_data("/d", b"3"))
    ctx.rec("events after setData 3", events_after_barrier(w))
    ctx.rec("A own events", events_after_barrier(c))
    ctx.rec("create child", c.create("/d/c"))
    ctx.rec("events after child create", events_after_barrier(w))


def scenario_delete_fires(ctx):
    """delete: NodeDeleted to data/exists watchers and to child watchers of the node, NodeChildrenChanged
    to the parent's child watchers; a connection with both data and child watches on the deleted node
    gets a single NodeDeleted."""
    c = ctx.raw("A")
    data_w = ctx.raw("D")
    child_w = ctx.raw("C")
    both_w = ctx.raw("B")
    parent_w = ctx.raw("P")
    ctx.rec("create /p", c.create("/p"))
    ctx.rec("create /p/x", c.create("/p/x", b"x"))
    ctx.rec("D getData", data_w.get_data("/p/x", watch=True))
    ctx.rec("D exists", data_w.exists("/p/x", watch=True))
    ctx.rec("C getChildren", child_w.get_children("/p/x", watch=True))
    ctx.rec("B getData", both_w.get_data("/p/x", watch=True))
    ctx.rec("B getChildren2", both_w.get_children2("/p/x", watch=True))
    ctx.rec("B exists", both_w.exists("/p/x", watch=True))
    ctx.rec("P getChildren /p", parent_w.get_children("/p", watch=True))
    ctx.rec("P getData /p", parent_w.get_data("/p", watch=True))
    ctx.rec("delete /p/x", c.delete("/p/x"))
    for name, cl in (("D", data_w), ("C", child_w), ("B", both_w), ("P", parent_w)):
        ctx.rec(f"{name} events", events_after_barrier(cl))
    ctx.rec("P re-watch children", parent_w.get_children("/p", watch=True))
    ctx.rec("D exists /p/x again", data_w.exists("/p/x", watch=True))
    ctx.rec("create /p/x again", c.create("/p/x"))
    ctx.rec("P events after re-create", events_after_barrier(parent_w))
    ctx.rec("D events after re-create", events_after_barrier(data_w))
    ctx.rec("delete /p/x again", c.delete("/p/x"))
    ctx.rec("delete /p", c.delete("/p"))
    ctx.rec("P events after parent delete", events_after_barrier(parent_w))


def scenario_child_watch(ctx):
    """getChildren/getChildren2 watches: NodeChildrenChanged on child create and delete (not on a
    grandchild or a child's data), one event for several registrations, watch on / works."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /c", c.create("/c"))
    ctx.rec("create /c/a", c.create("/c/a"))
    ctx.rec("W getChildren", w.get_children("/c", watch=True))
    ctx.rec("W getChildren2", w.get_children2("/c", watch=True))
    ctx.rec("W getChildren /", w.get_children("/", watch=True))
    ctx.rec("setData child", c.set_data("/c/a", b"x"))
    ctx.rec("grandchild", c.create("/c/a/g"))
    ctx.rec("events after data and grandchild", events_after_barrier(w))
    ctx.rec("sequential child", c.create("/c/s-", b"", flags=2))
    ctx.rec("events after child create", events_after_barrier(w))
    ctx.rec("W getChildren2 again", w.get_children2("/c", watch=True))
    ctx.rec("delete grandchild", c.delete("/c/a/g"))
    ctx.rec("delete child", c.delete("/c/a"))
    ctx.rec("events after child delete", events_after_barrier(w))
    ctx.rec("create top-level", c.create("/top"))
    ctx.rec("events after top-level create", events_after_barrier(w))


def scenario_event_before_later_reply(ctx):
    """Ordering on one connection: the notification arrives before the reply of a later read that
    shows the new state, and a writer's own watch event precedes its write's reply."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /o", c.create("/o", b"0"))
    ctx.rec("W getData watch", w.get_data("/o", watch=True))
    ctx.rec("A getData watch", c.get_data("/o", watch=True))
    w.log.clear()
    c.log.clear()
    ctx.rec("A setData", c.set_data("/o", b"1"))
    ctx.rec("W getData after change", w.get_data("/o"))
    ctx.rec("W arrival order", list(w.log))
    ctx.rec("A arrival order", list(c.log))
    ctx.rec("W events", w.take_events())
    ctx.rec("A events", c.take_events())
    # pipelined: W sends exists(watch) and, without waiting, reads that follow A's delete
    ctx.rec("W exists watch", w.exists("/o", watch=True))
    w.log.clear()
    ctx.rec("A delete", c.delete("/o"))
    ctx.rec("W exists after delete", w.exists("/o"))
    ctx.rec("W arrival order after delete", list(w.log))
    ctx.rec("W events after delete", w.take_events())


def scenario_pipelined_requests(ctx):
    """Requests sent back to back without waiting are answered in order, with the xids the client
    chose (including repeated and large xids), and each read sees the writes sent before it."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("W exists watch", w.exists("/pipe", watch=True))
    sent = [
        (7, Op.CREATE, create_body("/pipe", b"a")),
        (7, Op.GET_DATA, path_watch_body("/pipe", False)),
        (1_000_000, Op.SET_DATA, set_data_body("/pipe", b"bb", 0)),
        (0, Op.GET_DATA, path_watch_body("/pipe", False)),
        (2_147_483_647, Op.DELETE, path_version_body("/pipe", 0)),
        (42, Op.EXISTS, path_watch_body("/pipe", False)),
        (43, Op.SYNC, path_body("/")),
    ]
    for xid, op, body in sent:
        c.send(op, body, xid=xid)
    for i, (xid, op, _) in enumerate(sent):
        ctx.rec(f"reply {i}", c.read_reply(xid, op))
    ctx.rec("W events", events_after_barrier(w))


def scenario_set_watches_catch_up(ctx):
    """setWatches (101) with a relativeZxid older than the changes: data watches fire NodeDataChanged
    (mzxid newer) or NodeDeleted (gone), exist watches fire NodeCreated (now present), child watches
    fire NodeChildrenChanged (pzxid newer) or NodeDeleted; unchanged ones are re-registered and fire
    on the next change."""
    c = ctx.raw("A")
    for p in ("/sw", "/sw/changed", "/sw/deleted", "/sw/same", "/sw/kids", "/sw/kids-gone", "/sw/quiet"):
        ctx.rec(f"create {p}", c.create(p, b"0"))
    base = c.exists("/sw")
    ctx.rec("base zxid", Zxid(base.zxid))
    ctx.rec("setData changed", c.set_data("/sw/changed", b"1"))
    ctx.rec("delete deleted", c.delete("/sw/deleted"))
    ctx.rec("create created", c.create("/sw/created"))
    ctx.rec("child of kids", c.create("/sw/kids/k"))
    ctx.rec("delete kids-gone", c.delete("/sw/kids-gone"))
    w = ctx.raw("W")
    reply = w.set_watches(base.zxid,
                          data=["/sw/changed", "/sw/deleted", "/sw/same", "/sw/never"],
                          exist=["/sw/created", "/sw/still-missing", "/sw/same"],
                          child=["/sw/kids", "/sw/kids-gone", "/sw/quiet"])
    ctx.rec("setWatches reply", reply)
    # DataTree.setWatches fires in list order, but the protocol promises no order among catch-up events
    ctx.rec("catch-up events", Unordered(events_after_barrier(w)))
    ctx.rec("setData same", c.set_data("/sw/same", b"1"))
    ctx.rec("create still-missing", c.create("/sw/still-missing"))
    ctx.rec("child of quiet", c.create("/sw/quiet/q"))
    ctx.rec("setData changed again", c.set_data("/sw/changed", b"2"))
    ctx.rec("events from re-registered watches", events_after_barrier(w))
    v = ctx.raw("V")
    ctx.rec("setWatches current zxid", v.set_watches(c.exists("/").zxid, data=["/sw/changed"],
                                                     exist=["/sw/nothing"], child=["/sw"]))
    ctx.rec("no catch-up when up to date", events_after_barrier(v))
    ctx.rec("delete changed", c.delete("/sw/changed"))
    ctx.rec("V events after delete", events_after_barrier(v))


def scenario_session_close_fires(ctx):
    """Closing a session deletes its ephemerals (one txn) and fires NodeDeleted / NodeChildrenChanged on
    other sessions; the closeSession reply is followed by the server closing the socket."""
    a = ctx.raw("A")
    b = ctx.raw("B")
    ctx.rec("A create /e", a.create("/e"))
    ctx.rec("A create /e/1", a.create("/e/1", b"", flags=EPH))
    ctx.rec("A create /e/2", a.create("/e/2", b"", flags=EPH))
    ctx.rec("A create /top-eph", a.create("/top-eph", b"", flags=EPH))
    ctx.rec("B exists /e/1", b.exists("/e/1", watch=True))
    ctx.rec("B getData /top-eph", b.get_data("/top-eph", watch=True))
    ctx.rec("B getChildren /e", b.get_children("/e", watch=True))
    ctx.rec("B getChildren /", b.get_children("/", watch=True))
    ctx.rec("A closeSession", a.close_session())
    ctx.rec("A connection after close", closed_after(a))
    # the closeSession txn deletes the session's ephemerals in hash-set order: compare as a multiset
    ctx.rec("B events", Unordered(events_after_barrier(b)))
    ctx.rec("B getChildren2 /e", b.get_children2("/e"))
    ctx.rec("B stat /", b.exists("/"))


def scenario_multiple_watchers_same_node(ctx):
    """Several connections watching one node each get exactly one event; a connection's watches vanish
    when it closes (its session lives on), so a new connection of the same session gets nothing."""
    c = ctx.raw("A")
    ctx.rec("create /m", c.create("/m"))
    watchers = [ctx.raw(f"W{i}") for i in range(3)]
    for i, w in enumerate(watchers):
        ctx.rec(f"W{i} getData", w.get_data("/m", watch=True))
        ctx.rec(f"W{i} exists", w.exists("/m", watch=True))
    gone = ctx.raw("G")
    ctx.rec("G getData", gone.get_data("/m", watch=True))
    sid, pw = gone.session_id, gone.passwd
    gone.close()
    again = ctx.unconnected()
    ctx.rec("G reconnect", again.connect(session_id=sid, passwd=pw))
    ctx.rec("setData /m", c.set_data("/m", b"x"))
    for i, w in enumerate(watchers):
        ctx.rec(f"W{i} events", events_after_barrier(w))
    ctx.rec("G events on new connection", events_after_barrier(again))


def scenario_check_and_remove_watches(ctx):
    """checkWatches (17) / removeWatches (18): NoWatcher when absent, by watcher type (children 1,
    data 2, any 3); a removed watch no longer fires."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /r", c.create("/r"))
    ctx.rec("check none", w.check_watches("/r", 3))
    ctx.rec("W getData", w.get_data("/r", watch=True))
    ctx.rec("W getChildren", w.get_children("/r", watch=True))
    ctx.rec("check data", w.check_watches("/r", 2))
    ctx.rec("check children", w.check_watches("/r", 1))
    ctx.rec("check any", w.check_watches("/r", 3))
    ctx.rec("check missing path", w.check_watches("/nope", 3))
    ctx.rec("remove data", w.remove_watches("/r", 2))
    ctx.rec("check data after remove", w.check_watches("/r", 2))
    ctx.rec("remove data again", w.remove_watches("/r", 2))
    ctx.rec("setData /r", c.set_data("/r", b"x"))
    ctx.rec("events after removed data watch", events_after_barrier(w))
    ctx.rec("create child", c.create("/r/c"))
    ctx.rec("events after child create", events_after_barrier(w))
    ctx.rec("W getChildren again", w.get_children("/r", watch=True))
    ctx.rec("W exists", w.exists("/r", watch=True))
    ctx.rec("remove any", w.remove_watches("/r", 3))
    ctx.rec("check any after remove", w.check_watches("/r", 3))
    ctx.rec("remove bad type", w.remove_watches("/r", 9))
    ctx.rec("delete child", c.delete("/r/c"))
    ctx.rec("events after remove any", events_after_barrier(w))


def scenario_multi_delete_events_single_txn(ctx):
    """A multi deleting a subtree: every watcher still gets one event per trigger."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /t", c.create("/t"))
    ctx.rec("create /t/a", c.create("/t/a"))
    ctx.rec("W getChildren /t", w.get_children("/t", watch=True))
    ctx.rec("W getData /t/a", w.get_data("/t/a", watch=True))
    ctx.rec("W exists /t/b", w.exists("/t/b", watch=True))
    ctx.rec("multi", c.multi([op_create("/t/b"), op_delete("/t/a"), op_delete("/t/b")]))
    ctx.rec("events", events_after_barrier(w))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_watches_match_apache(compat, scenario):
    obs = compat.check(scenario)
    if scenario is scenario_delete_fires:
        assert [e["event"] for e in obs["B events"]] == [EventType.NODE_DELETED]
        assert [e["event"] for e in obs["P events"]] == [EventType.NODE_CHILDREN_CHANGED]
    elif scenario is scenario_event_before_later_reply:
        assert obs["W arrival order"][0][0] == "event"
