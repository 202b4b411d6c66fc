"""multi (14) and multiRead (22) side by side: result records, the all-or-nothing error pattern
(0 … code, -2 …), one zxid per multi, check ops, ops that see earlier ops, watches fired by a multi."""

from __future__ import annotations

import pytest

from tests.support.rawclient import (
    Err,
    Op,
    op_check,
    op_create,
    op_delete,
    op_get_children,
    op_get_data,
    op_set_data,
)

from .steps import attempt, closed_after, events_after_barrier, scenarios_of

pytestmark = pytest.mark.compat

SEQ = 2
EPH = 1


def scenario_multi_all_succeed(ctx):
    """Every write op kind in one multi: result types (create → 1, create2 → 15 with Stat, createContainer
    → 15, delete → 2, setData → 5 with Stat, check → 13), one shared zxid and mtime."""
    c = ctx.raw("A")
    ctx.rec("create /m", c.create("/m", b"0"))
    ctx.rec("multi", c.multi([
        op_create("/m/a", b"a"),
        op_create("/m/b", b"b", opcode=Op.CREATE2),
        op_create("/m/cont", b"", flags=4, opcode=Op.CREATE_CONTAINER),
        op_create("/m/e", b"", flags=EPH, opcode=Op.CREATE2),
        op_set_data("/m", b"1", 0),
        op_check("/m", 1),
        op_set_data("/m/a", b"aa", -1),
        op_delete("/m/b", 0),
        op_check("/m/a", 1),
    ]))
    ctx.rec("getChildren2 /m", c.get_children2("/m"))
    ctx.rec("getData /m/a", c.get_data("/m/a"))
    ctx.rec("exists /m/b", c.exists("/m/b"))


def scenario_multi_one_failure(ctx):
    """A failing op in the middle: earlier ops report 0, the failing one its code, later ones -2
    (RuntimeInconsistency); the header err; nothing is applied; the multi still consumes one zxid."""
    c = ctx.raw("A")
    ctx.rec("create /f", c.create("/f", b"0"))
    ops = [op_create("/f/a"), op_set_data("/f", b"1", -1), op_create("/f/a"),  # NodeExists inside
           op_delete("/f", -1), op_create("/f/z")]
    ctx.rec("multi NodeExists", c.multi(ops))
    ctx.rec("after NodeExists", c.get_children2("/f"))
    ctx.rec("multi first op fails", c.multi([op_delete("/missing"), op_create("/f/b")]))
    ctx.rec("multi last op fails", c.multi([op_create("/f/c"), op_set_data("/f", b"x", 42)]))
    ctx.rec("multi NotEmpty", c.multi([op_create("/f/d"), op_delete("/f")]))
    ctx.rec("multi NoNode parent", c.multi([op_create("/nope/x")]))
    ctx.rec("multi bad path", c.multi([op_create("/f/ok"), op_create("bad")]))
    ctx.rec("multi invalid ACL", c.multi([op_create("/f/acl", b"", [(31, "world", "nobody")])]))
    ctx.rec("multi ephemeral parent", c.multi([op_create("/f/e", b"", flags=EPH), op_create("/f/e/x")]))
    ctx.rec("multi special path delete", c.multi([op_delete("/zookeeper")]))
    ctx.rec("multi bad flags", c.multi([op_create("/f/flags", b"", flags=99)]))
    ctx.rec("after all failures", c.get_children2("/f"))
    ctx.rec("getData /f", c.get_data("/f"))


def scenario_multi_check(ctx):
    """check inside multi: right version, wrong version (BadVersion), missing node (NoNode), version -1,
    check alone, check after a setData in the same multi."""
    c = ctx.raw("A")
    ctx.rec("create /c", c.create("/c", b""))
    ctx.rec("set /c", c.set_data("/c", b"x"))
    ctx.rec("check right", c.multi([op_check("/c", 1)]))
    ctx.rec("check wrong", c.multi([op_check("/c", 0)]))
    ctx.rec("check any", c.multi([op_check("/c", -1)]))
    ctx.rec("check missing", c.multi([op_check("/missing", 0)]))
    ctx.rec("check bad path", c.multi([op_check("nope", 0)]))
    ctx.rec("check then create", c.multi([op_check("/c", 1), op_create("/c/k")]))
    ctx.rec("create then failing check", c.multi([op_create("/c/j"), op_check("/c", 7)]))
    ctx.rec("set then check new version", c.multi([op_set_data("/c", b"y", 1), op_check("/c", 2)]))
    ctx.rec("set then check old version", c.multi([op_set_data("/c", b"z", 2), op_check("/c", 2)]))
    ctx.rec("getChildren2 /c", c.get_children2("/c"))


def scenario_multi_sequential_and_dependencies(ctx):
    """Ops in a multi see earlier ops: two sequential creates get consecutive suffixes; create then
    delete; delete then re-create; create parent then child; setData twice with versions."""
    c = ctx.raw("A")
    ctx.rec("create /s", c.create("/s"))
    ctx.rec("two sequential creates", c.multi([op_create("/s/n-", b"", flags=SEQ),
                                               op_create("/s/n-", b"", flags=SEQ, opcode=Op.CREATE2)]))
    ctx.rec("parent then child", c.multi([op_create("/s/p"), op_create("/s/p/c"),
                                          op_create("/s/p/c/", b"", flags=SEQ)]))
    ctx.rec("create then delete", c.multi([op_create("/s/tmp"), op_delete("/s/tmp", 0)]))
    ctx.rec("delete then recreate", c.multi([op_delete("/s/p/c/0000000000"), op_delete("/s/p/c"),
                                             op_create("/s/p/c", b"again")]))
    ctx.rec("versions chain", c.multi([op_set_data("/s", b"1", 0), op_set_data("/s", b"2", 1),
                                       op_delete("/s/tmp2", -1)]))
    ctx.rec("versions chain ok", c.multi([op_set_data("/s", b"1", 0), op_set_data("/s", b"2", 1)]))
    ctx.rec("sequential after multi", c.create("/s/n-", b"", flags=SEQ))
    ctx.rec("getChildren2 /s", c.get_children2("/s"))
    ctx.rec("getChildren2 /s/p", c.get_children2("/s/p"))


def scenario_multi_empty_and_malformed(ctx):
    """An empty multi; a multi mixing read and write ops; a read op in a write multi; multiRead with
    present and missing nodes (independent results, no rollback)."""
    c = ctx.raw("A")
    ctx.rec("create /r", c.create("/r", b"data"))
    ctx.rec("create /r/x", c.create("/r/x"))
    ctx.rec("empty multi", c.multi([]))
    ctx.rec("empty multiRead", c.multi_read([]))
    ctx.rec("multiRead", c.multi_read([op_get_data("/r"), op_get_children("/r"), op_get_data("/missing"),
                                       op_get_children("/missing"), op_get_data("/r/x")]))
    ctx.rec("multi with only getData", attempt(c.multi, [op_get_data("/r")]))
    ctx.rec("closed after read-only multi", closed_after(c))
    if c.closed:
        c = ctx.raw()
    ctx.rec("multi mixing read and write", attempt(c.multi, [op_create("/r/y"), op_get_data("/r")]))
    ctx.rec("closed after mixed multi", closed_after(c))
    if c.closed:
        c = ctx.raw()
    ctx.rec("multiRead with a write op", attempt(c.multi_read, [op_get_data("/r"), op_create("/r/z")]))
    ctx.rec("closed after multiRead with write", closed_after(c))
    if c.closed:
        c = ctx.raw()
    ctx.rec("getChildren /r", c.get_children("/r"))


def scenario_multi_watches(ctx):
    """Watches fired by a successful multi (one per connection and trigger, in op order) and none
    by a failed one."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("create /w", c.create("/w", b""))
    ctx.rec("create /w/old", c.create("/w/old", b""))
    ctx.rec("W exists /w/new", w.exists("/w/new", watch=True))
    ctx.rec("W getData /w", w.get_data("/w", watch=True))
    ctx.rec("W getChildren /w", w.get_children("/w", watch=True))
    ctx.rec("W getData /w/old", w.get_data("/w/old", watch=True))
    ctx.rec("failed multi", c.multi([op_create("/w/new"), op_set_data("/w", b"x"), op_delete("/w/old", 5)]))
    ctx.rec("events after failed multi", events_after_barrier(w))
    ctx.rec("multi", c.multi([op_create("/w/new"), op_set_data("/w", b"x"), op_delete("/w/old")]))
    ctx.rec("events after multi", events_after_barrier(w))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_multi_matches_apache(compat, scenario):
    obs = compat.check(scenario)
    if scenario is scenario_multi_one_failure:
        results = obs["multi NodeExists"]["value"]
        assert [r[2] for r in results] == [0, 0, Err.NODEEXISTS, Err.RUNTIMEINCONSISTENCY,
                                           Err.RUNTIMEINCONSISTENCY]
        assert all(r[0] == Op.ERROR for r in results)
