"""Znode operations side by side: create modes, sequence numbers, versions, reads, errors, special nodes.

Each scenario is replayed on a fresh Apache ZooKeeper and a fresh corral; the raw wire client shows the
ReplyHeader zxid and error of every reply and the full Stat, so "same reply" means byte-level agreement
after the normalisation described in harness.py.
"""

from __future__ import annotations

import pytest

from tests.support.rawclient import (
    READ_ACL_UNSAFE,
    CreateFlags,
    Err,
    Op,
    create_ttl_body,
)

from .steps import attempt, label_err, scenarios_of

pytestmark = pytest.mark.compat

F = CreateFlags


def scenario_create_modes(ctx):
    """Every create mode, via create (1), create2 (15) and createContainer (19): the returned path, the
    Stat (ephemeralOwner = the session for ephemerals, 0 for containers) and null vs empty data."""
    c = ctx.raw("A")
    ctx.rec("create persistent", c.create("/p", b"data"))
    ctx.rec("create ephemeral", c.create("/e", b"", flags=F.EPHEMERAL))
    ctx.rec("create persistent sequential", c.create("/s-", b"x", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("create ephemeral sequential", c.create("/es-", b"x", flags=F.EPHEMERAL_SEQUENTIAL))
    ctx.rec("create2 persistent", c.create2("/p2", b"abc"))
    ctx.rec("create2 ephemeral", c.create2("/e2", b"abc", flags=F.EPHEMERAL))
    ctx.rec("create2 persistent sequential", c.create2("/s2-", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("create2 ephemeral sequential", c.create2("/es2-", None, flags=F.EPHEMERAL_SEQUENTIAL))
    ctx.rec("createContainer", c.create("/cont", b"c", flags=F.CONTAINER, opcode=Op.CREATE_CONTAINER))
    ctx.rec("create null data", c.create("/null", None))
    ctx.rec("create empty data", c.create("/empty", b""))
    for path in ("/p", "/e", "/s-0000000002", "/es-0000000003", "/p2", "/e2", "/cont", "/null", "/empty"):
        ctx.rec(f"getData {path}", c.get_data(path))
    ctx.rec("getChildren2 /", c.get_children2("/"))


def scenario_create_flag_errors(ctx):
    """Create flags outside the plain modes: unknown flags, TTL modes on create/create2, container flag on
    plain create, and createTTL (21) while extended types are disabled (the default)."""
    c = ctx.raw("A")
    for flags in (7, 99, -1):
        ctx.rec(f"create flags {flags}", c.create(f"/bad{flags & 0xff}", flags=flags))
    ctx.rec("create flags TTL", c.create("/ttl", flags=F.PERSISTENT_WITH_TTL))
    ctx.rec("create2 flags TTL seq", c.create2("/ttls", flags=F.PERSISTENT_SEQUENTIAL_WITH_TTL))
    ctx.rec("create flag CONTAINER via op 1", c.create("/c1", flags=F.CONTAINER))
    ctx.rec("createContainer with flags 0", c.create("/c2", flags=F.PERSISTENT, opcode=Op.CREATE_CONTAINER))
    ctx.rec("createTTL disabled", c.call(Op.CREATE_TTL, create_ttl_body("/t", b"", [(31, "world", "anyone")],
                                                                         F.PERSISTENT_WITH_TTL, 1000)))
    ctx.rec("getChildren /", c.get_children("/"))


def scenario_sequential_numbering(ctx):
    """Sequence suffixes come from the parent's count of child creates: deletes never free a number,
    plain creates use one up, a path ending in '/' is fine for sequential creates only, and a
    sequential name that collides with an existing node gives NodeExists."""
    c = ctx.raw("A")
    ctx.rec("create /q", c.create("/q"))
    for i in range(3):
        ctx.rec(f"seq {i}", c.create("/q/n-", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("delete n-1", c.delete("/q/n-0000000001"))
    ctx.rec("delete n-2", c.delete("/q/n-0000000002"))
    ctx.rec("seq after deletes", c.create("/q/n-", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("plain child", c.create("/q/plain"))
    ctx.rec("seq after plain", c.create("/q/n-", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("seq trailing slash", c.create("/q/", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("ephemeral seq trailing slash", c.create2("/q/", b"", flags=F.EPHEMERAL_SEQUENTIAL))
    ctx.rec("plain trailing slash", c.create("/q/"))
    ctx.rec("precreate collision", c.create("/q/x0000000009"))
    ctx.rec("seq collides", c.create("/q/x", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("seq after collision", c.create("/q/x", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("seq under missing parent", c.create("/nope/n-", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("seq at root", c.create("/", b"", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("getChildren2 /q", c.get_children2("/q"))


def scenario_delete(ctx):
    """delete: any version (-1), the right version, a wrong version (BadVersion), a node with children
    (NotEmpty), a missing node or parent (NoNode), and the undeletable special nodes (BadArguments)."""
    c = ctx.raw("A")
    ctx.rec("create /d", c.create("/d", b"1"))
    ctx.rec("create /d/c", c.create("/d/c"))
    ctx.rec("delete non-empty", c.delete("/d"))
    ctx.rec("delete wrong version", c.delete("/d/c", 5))
    ctx.rec("delete right version", c.delete("/d/c", 0))
    ctx.rec("delete again", c.delete("/d/c"))
    ctx.rec("delete missing parent", c.delete("/nope/x"))
    ctx.rec("setData /d", c.set_data("/d", b"2"))
    ctx.rec("setData /d again", c.set_data("/d", b"3"))
    ctx.rec("delete stale version", c.delete("/d", 1))
    ctx.rec("delete version -2", c.delete("/d", -2))
    ctx.rec("delete current version", c.delete("/d", 2))
    ctx.rec("create /v", c.create("/v"))
    ctx.rec("delete any version", c.delete("/v", -1))
    for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        ctx.rec(f"delete {path}", c.delete(path))
        ctx.rec(f"delete {path} version 0", c.delete(path, 0))
    ctx.rec("exists /d", c.exists("/d"))
    ctx.rec("getChildren /", c.get_children("/"))


def scenario_set_data(ctx):
    """setData: version checks, Stat evolution (version, mzxid, mtime, dataLength, czxid unchanged),
    null data, setData on / and on the read-only /zookeeper/config."""
    c = ctx.raw("A")
    ctx.rec("create", c.create2("/n", b"one"))
    ctx.rec("set any version", c.set_data("/n", b"two", -1))
    ctx.rec("set right version", c.set_data("/n", b"three!", 1))
    ctx.rec("set wrong version", c.set_data("/n", b"x", 1))
    ctx.rec("set future version", c.set_data("/n", b"x", 7))
    ctx.rec("get after bad versions", c.get_data("/n"))
    ctx.rec("set null data", c.set_data("/n", None, 2))
    ctx.rec("get null data", c.get_data("/n"))
    ctx.rec("set empty data", c.set_data("/n", b""))
    ctx.rec("set missing", c.set_data("/missing", b"x"))
    ctx.rec("set missing with version", c.set_data("/missing", b"x", 3))
    ctx.rec("set /", c.set_data("/", b"root"))
    ctx.rec("get /", c.get_data("/"))
    ctx.rec("set /zookeeper/config", c.set_data("/zookeeper/config", b"x"))
    ctx.rec("set /zookeeper", c.set_data("/zookeeper", b"zk"))
    ctx.rec("get /zookeeper", c.get_data("/zookeeper"))


def scenario_reads(ctx):
    """exists/getData/getChildren/getChildren2 on present, missing and leaf nodes: NoNode carries no
    body, leaves have empty child lists, the ReplyHeader zxid is the last processed zxid."""
    c = ctx.raw("A")
    ctx.rec("create /r", c.create("/r", b"payload"))
    for name in ("a", "b", "c"):
        ctx.rec(f"create /r/{name}", c.create(f"/r/{name}", name.encode()))
    for path in ("/r", "/r/a", "/missing", "/r/missing"):
        ctx.rec(f"exists {path}", c.exists(path))
        ctx.rec(f"getData {path}", c.get_data(path))
        ctx.rec(f"getChildren {path}", c.get_children(path))
        ctx.rec(f"getChildren2 {path}", c.get_children2(path))
    ctx.rec("exists with watch on present", c.exists("/r/b", watch=True))
    ctx.rec("getData with watch", c.get_data("/r/b", watch=True))


def scenario_node_exists_and_ephemeral_parent(ctx):
    """NodeExists (-110) for every create flavour, NoChildrenForEphemerals (-108) under an ephemeral,
    NoNode (-101) for a missing parent, and which check wins when several apply."""
    c = ctx.raw("A")
    ctx.rec("create /x", c.create("/x"))
    ctx.rec("create /x again", c.create("/x"))
    ctx.rec("create2 /x again", c.create2("/x", flags=F.EPHEMERAL))
    ctx.rec("createContainer /x again", c.create("/x", flags=F.CONTAINER, opcode=Op.CREATE_CONTAINER))
    ctx.rec("create / ", c.create("/"))
    ctx.rec("create /zookeeper", c.create("/zookeeper"))
    ctx.rec("create ephemeral /eph", c.create("/eph", flags=F.EPHEMERAL))
    ctx.rec("child of ephemeral", c.create("/eph/child"))
    ctx.rec("ephemeral child of ephemeral", c.create("/eph/child", flags=F.EPHEMERAL))
    ctx.rec("seq child of ephemeral", c.create("/eph/s-", flags=F.PERSISTENT_SEQUENTIAL))
    ctx.rec("create2 child of ephemeral", c.create2("/eph/c2"))
    ctx.rec("create /eph again", c.create("/eph"))
    ctx.rec("missing parent", c.create("/nope/child"))
    ctx.rec("missing grandparent", c.create("/nope/deeper/child"))
    ctx.rec("stat /eph", c.exists("/eph"))


INVALID_PATHS = ["", "a", "a/b", "/a/", "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/a/./b", "/a/../b",
                 "/a\x00b", "/a\x01", "/a\x1f", "/a\x7f", "/a\u0085", "/a\u009f", "/a\ue000", "/a\ufff0",
                 "/a\uffff", " /a"]
VALID_ODD_PATHS = ["/.a", "/a.", "/...", "/a b", "/\u00e9t\u00e9", "/a\u00a0"]


def scenario_invalid_paths(ctx):
    """Path validation (PathUtils.validatePath): writes answer BadArguments, reads answer NoNode (or
    BadArguments for exists with NUL); odd-but-valid names are accepted and round-trip."""
    c = ctx.raw("A")
    ctx.rec("create /a", c.create("/a"))
    for p in INVALID_PATHS:
        ctx.rec(f"create {p!r}", attempt(c.create, p))
        ctx.rec(f"create seq {p!r}", attempt(c.create, p, b"", flags=F.PERSISTENT_SEQUENTIAL))
        ctx.rec(f"create2 {p!r}", attempt(c.create2, p))
        ctx.rec(f"delete {p!r}", attempt(c.delete, p))
        ctx.rec(f"setData {p!r}", attempt(c.set_data, p, b"x"))
        ctx.rec(f"setACL {p!r}", attempt(c.set_acl, p, READ_ACL_UNSAFE))
        ctx.rec(f"exists {p!r}", attempt(c.exists, p))
        ctx.rec(f"getData {p!r}", attempt(c.get_data, p))
        ctx.rec(f"getChildren {p!r}", attempt(c.get_children, p))
        ctx.rec(f"getChildren2 {p!r}", attempt(c.get_children2, p))
        ctx.rec(f"getACL {p!r}", attempt(c.get_acl, p))
        if c.closed:
            c = ctx.raw()
    for p in VALID_ODD_PATHS:
        ctx.rec(f"create {p!r}", c.create(p, p.encode()))
        ctx.rec(f"getData {p!r}", c.get_data(p))
    ctx.rec("getChildren /", c.get_children("/"))


def scenario_special_nodes_fresh(ctx):
    """The tree of a fresh server: /, /zookeeper, /zookeeper/quota, /zookeeper/config (zero zxids and
    times, cversion -1 on /, -2 on /zookeeper, /zookeeper/config's read-only ACL with aversion -1)."""
    c = ctx.raw("A")
    for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        ctx.rec(f"exists {path}", c.exists(path))
        ctx.rec(f"getData {path}", c.get_data(path))
        ctx.rec(f"getChildren2 {path}", c.get_children2(path))
        ctx.rec(f"getACL {path}", c.get_acl(path))
        ctx.rec(f"getAllChildrenNumber {path}", c.get_all_children_number(path))
    ctx.rec("create /zookeeper/quota/x", c.create("/zookeeper/quota/x"))
    ctx.rec("create /zookeeper/config/x", c.create("/zookeeper/config/x"))
    ctx.rec("create /zookeeper/x", c.create("/zookeeper/x"))
    ctx.rec("getChildren2 /zookeeper after", c.get_children2("/zookeeper"))
    ctx.rec("getChildren2 / after", c.get_children2("/"))


def scenario_cversion_pzxid(ctx):
    """cversion counts child creates plus deletes, pzxid follows the last child change, the parent's
    mzxid/version stay put, and a re-created child gets fresh zxids."""
    c = ctx.raw("A")
    ctx.rec("create /p", c.create2("/p"))
    ctx.rec("create /p/a", c.create2("/p/a"))
    ctx.rec("stat after a", c.exists("/p"))
    ctx.rec("create /p/b", c.create2("/p/b"))
    ctx.rec("stat after b", c.exists("/p"))
    ctx.rec("delete /p/a", c.delete("/p/a"))
    ctx.rec("stat after delete a", c.exists("/p"))
    ctx.rec("setData /p/b", c.set_data("/p/b", b"x"))
    ctx.rec("stat after child setData", c.exists("/p"))
    ctx.rec("create /p/a again", c.create2("/p/a"))
    ctx.rec("stat after recreate", c.exists("/p"))
    ctx.rec("delete /p/a again", c.delete("/p/a"))
    ctx.rec("delete /p/b", c.delete("/p/b"))
    ctx.rec("stat empty", c.get_children2("/p"))
    ctx.rec("failed create under /p", c.create("/p/b/c"))
    ctx.rec("failed delete under /p", c.delete("/p/zz"))
    ctx.rec("stat after failures", c.exists("/p"))
    ctx.rec("stat /", c.exists("/"))


def scenario_large_data_and_frames(ctx):
    """jute.maxbuffer: a frame of exactly 0xfffff bytes is accepted and its data round-trips; one byte
    more makes the server close the connection (and nothing is applied)."""
    c = ctx.raw("A")
    ctx.rec("create /big", c.create("/big"))
    header_and_path = 8 + 4 + len("/big") + 4 + 4  # RequestHeader, path, data length, version
    fits = 0xFFFFF - header_and_path
    ctx.rec("setData fits", c.set_data("/big", b"\xab" * fits))
    ctx.rec("getData big", c.get_data("/big"))
    ctx.rec("create2 1000000 bytes", c.create2("/big2", b"z" * 1_000_000))
    ctx.rec("setData one byte too many", attempt(c.set_data, "/big", b"\xcd" * (fits + 1)))
    d = ctx.raw("B")
    ctx.rec("stat after oversize", d.exists("/big"))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_nodes_match_apache(compat, scenario):
    obs = compat.check(scenario)
    # documentation of well-known codes (the comparison with Apache is what really judges)
    if scenario is scenario_delete:
        assert label_err(obs, "delete wrong version") == Err.BADVERSION == -103
        assert label_err(obs, "delete non-empty") == Err.NOTEMPTY == -111
        assert label_err(obs, "delete again") == Err.NONODE == -101
        assert label_err(obs, "delete /zookeeper") == Err.BADARGUMENTS == -8
    elif scenario is scenario_node_exists_and_ephemeral_parent:
        assert label_err(obs, "create /x again") == Err.NODEEXISTS == -110
        assert label_err(obs, "child of ephemeral") == Err.NOCHILDRENFOREPHEMERALS == -108
    elif scenario is scenario_special_nodes_fresh:
        assert obs["exists /"]["value"]["cversion"] == -1
        assert obs["getACL /zookeeper/config"]["value"][1]["aversion"] == -1
