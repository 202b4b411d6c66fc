"""Request-level protocol edges side by side: unknown and invalid opcodes (Unimplemented then close),
top-level check, malformed request bodies, whoAmI, setWatches2/addWatch, client-sent internal opcodes."""

from __future__ import annotations

import struct

import pytest

from tests.support.rawclient import (
    Err,
    Op,
    Writer,
    create_body,
    path_body,
    path_type_body,
    path_version_body,
    path_watch_body,
)

from .steps import (
    CLOSED,
    attempt,
    events_after_barrier,
    label_err,
    request_outcome,
    scenarios_of,
    unordered,
)

pytestmark = pytest.mark.compat


def _one_shot(ctx, name: str, op: int, body: bytes) -> None:
    """Send one request on a fresh session; record the reply (or its absence) and the connection state."""
    c = ctx.raw(name)
    reply, state = request_outcome(c, op, body)
    ctx.rec(f"{name}: reply", reply)
    ctx.rec(f"{name}: connection", state)


def scenario_unimplemented_opcodes(ctx):
    """Opcodes a client may not send: unknown ones (999, 50, -100) and notification (0) are answered
    with Unimplemented (-6) and the connection is closed; createTTL while TTLs are disabled gets -6 but
    the connection stays."""
    cases = [
        ("unknown 999", 999, b""),
        ("unknown 50 with body", 50, path_body("/")),
        ("unknown -100", -100, b""),
        ("notification opcode", Op.NOTIFICATION, b""),
        ("createTTL disabled", Op.CREATE_TTL,
         Writer().raw(create_body("/ttl", b"", flags=5)).long(1000).bytes()),
    ]
    for name, op, body in cases:
        _one_shot(ctx, name, op, body)
    probe = ctx.raw("probe")
    ctx.rec("tree unchanged", probe.get_children2("/"))


def scenario_top_level_check(ctx):
    """check (13) outside a multi. The protocol reference (§1.5, from 3.9's Request.isValid) says
    Unimplemented + close; Apache 3.8.0, our reference server, instead runs it through the write
    pipeline: a failing check gets its error (BadVersion, NoNode, BadArguments) and the connection stays,
    a passing check consumes a zxid and is never answered. The comparison shows which one corral does."""
    cases = [
        ("check / any version", path_version_body("/", -1)),
        ("check / right version", path_version_body("/", 0)),
        ("check / wrong version", path_version_body("/", 5)),
        ("check missing node", path_version_body("/missing", 0)),
        ("check invalid path", path_version_body("bad", 0)),
    ]
    why = "top-level check: Unimplemented and close (3.9 Request.isValid); 3.8.0 may never answer it"
    for name, body in cases:
        c = ctx.raw(name)
        reply, state = request_outcome(c, Op.CHECK, body)
        ctx.rec_deviation(f"{name}: outcome", (reply, state), why=why,
                          apache=lambda o: o[1] == "still open",
                          corral=lambda o: getattr(o[0], "err", None) == -6 and o[1] == CLOSED)
    probe = ctx.raw("probe")
    ctx.rec_deviation("zxid after checks", probe.exists("/"), why=why, apache=lambda r: r.err == 0,
                      corral=lambda r: r.err == 0)


def scenario_malformed_bodies(ctx):
    """Request bodies that do not decode: truncated records, a negative string length, a huge vector
    count, trailing garbage after a valid record (ignored?)."""
    cases = [
        ("getData without watch byte", Op.GET_DATA, path_body("/")),
        ("exists empty body", Op.EXISTS, b""),
        ("create truncated", Op.CREATE, create_body("/t", b"data")[:-6]),
        ("setData negative data length", Op.SET_DATA, path_body("/") + struct.pack(">ii", -5, -1)),
        ("getChildren path length huge", Op.GET_CHILDREN, struct.pack(">i", 0x7FFFFFF0) + b"/x\x00"),
        ("create ACL count huge", Op.CREATE, Writer().ustring("/h").buffer(b"").int(0x7FFFFFF0).bytes()),
        ("getData trailing garbage", Op.GET_DATA, path_watch_body("/", False) + b"garbage"),
        ("create invalid utf-8 path", Op.CREATE, Writer().buffer(b"/\xff\xfe").buffer(b"").acls(
            [(31, "world", "anyone")]).int(0).bytes()),
    ]
    for name, op, body in cases:
        _one_shot(ctx, name, op, body)
    probe = ctx.raw("probe")
    ctx.rec("tree after malformed", probe.get_children2("/"))


def scenario_who_am_i_and_add_watch(ctx):
    """whoAmI (107) lists the connection's auth ids (ip and digest); addWatch (106) answers a 4-byte
    ErrorResponse and installs persistent (0) / persistent-recursive (1) watches that survive firing;
    setWatches2 (105) with empty lists."""
    c = ctx.raw("A")
    w = ctx.raw("W")
    ctx.rec("whoAmI", unordered(c.call(Op.WHO_AM_I)))
    ctx.rec("addauth", c.add_auth("digest", b"me:pw"))
    ctx.rec("whoAmI after addauth", unordered(c.call(Op.WHO_AM_I)))  # a set of ids
    ctx.rec("create /pw", c.create("/pw"))
    ctx.rec("addWatch persistent", w.call(Op.ADD_WATCH, path_type_body("/pw", 0)))
    ctx.rec("addWatch recursive", w.call(Op.ADD_WATCH, path_type_body("/rw", 1)))
    ctx.rec("addWatch bad mode", attempt(w.call, Op.ADD_WATCH, path_type_body("/x", 7)))
    if w.closed:
        w = ctx.raw("W2")
    ctx.rec("setData /pw", c.set_data("/pw", b"1"))
    ctx.rec("setData /pw again", c.set_data("/pw", b"2"))
    ctx.rec("child of /pw", c.create("/pw/c"))
    ctx.rec("grandchild of /pw", c.create("/pw/c/g"))
    ctx.rec("events persistent", events_after_barrier(w))
    ctx.rec("create /rw", c.create("/rw"))
    ctx.rec("create /rw/a", c.create("/rw/a"))
    ctx.rec("create /rw/a/b", c.create("/rw/a/b"))
    ctx.rec("setData /rw/a/b", c.set_data("/rw/a/b", b"x"))
    ctx.rec("delete /rw/a/b", c.delete("/rw/a/b"))
    ctx.rec("events recursive", events_after_barrier(w))
    ctx.rec("checkWatches persistent as data", w.check_watches("/pw", 2))
    ctx.rec("removeWatches any on /pw", w.remove_watches("/pw", 3))
    ctx.rec("setData /pw after remove", c.set_data("/pw", b"3"))
    ctx.rec("events after remove", events_after_barrier(w))
    body = Writer().long(0).strings([]).strings([]).strings([]).strings([]).strings([]).bytes()
    ctx.rec("setWatches2 empty", w.call(Op.SET_WATCHES2, body, xid=-8))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_requests_match_apache(compat, scenario):
    obs = compat.check(scenario)
    if scenario is scenario_unimplemented_opcodes:
        assert label_err(obs, "unknown 999: reply") == Err.UNIMPLEMENTED == -6
        assert obs["unknown 999: connection"] == CLOSED
