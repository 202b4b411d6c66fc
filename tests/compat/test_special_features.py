"""Server-side features beyond plain znodes, side by side: quota bookkeeping under /zookeeper/quota and
TTL nodes (createTTL, opcode 21) once extended types are enabled."""

from __future__ import annotations

import pytest

from tests.support.rawclient import OPEN_ACL_UNSAFE, Op, create_ttl_body

pytestmark = pytest.mark.compat

MAX_TTL = 0xFF_FFFF_FFFF


def scenario_quota_stats(ctx):
    """Quota nodes are created by the client (as zkCli's setquota does); the server then keeps
    /zookeeper/quota/<path>/zookeeper_stats up to date (count of nodes incl. the root, bytes of data)
    on every create, setData and delete under <path>; soft limits only log."""
    c = ctx.raw("A")
    ctx.rec("create /q", c.create("/q", b"12345"))
    ctx.rec("create /q/a", c.create("/q/a", b"abc"))
    ctx.rec("create quota root", c.create("/zookeeper/quota/q"))
    ctx.rec("create limits", c.create("/zookeeper/quota/q/zookeeper_limits", b"count=3,bytes=10"))
    ctx.rec("create stats", c.create("/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0"))
    ctx.rec("stats after setup", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("create /q/b", c.create("/q/b", b"0123456789"))
    ctx.rec("create /q/b/c over soft count", c.create("/q/b/c", b""))
    ctx.rec("stats after creates", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("setData /q/a", c.set_data("/q/a", b"a"))
    ctx.rec("stats after setData", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("delete /q/b/c", c.delete("/q/b/c"))
    ctx.rec("stats after delete", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("limits unchanged", c.get_data("/zookeeper/quota/q/zookeeper_limits"))
    ctx.rec("outside quota", c.create("/other", b"zzzz"))
    ctx.rec("stats after outside create", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("quota subtree", c.get_all_children_number("/zookeeper/quota"))


def _ttl(c, path, flags, ttl, data=b""):
    return c.call(Op.CREATE_TTL, create_ttl_body(path, data, OPEN_ACL_UNSAFE, flags, ttl))


def scenario_ttl_nodes(ctx):
    """With extendedTypesEnabled=true: createTTL returns a Create2Response whose Stat shows
    ephemeralOwner 0; TTL bounds (0 < ttl <= 2^40-1) and modes (5, 6 only) give BadArguments; the
    sequential TTL mode numbers like any sequential create; TTL modes via plain create are refused."""
    c = ctx.raw("A")
    ctx.rec("ttl node", _ttl(c, "/t", 5, 1000, b"d"))
    ctx.rec("ttl sequential", _ttl(c, "/ts-", 6, 1000))
    ctx.rec("ttl max", _ttl(c, "/tmax", 5, MAX_TTL))
    ctx.rec("ttl too big", _ttl(c, "/tbig", 5, MAX_TTL + 1))
    ctx.rec("ttl zero", _ttl(c, "/t0", 5, 0))
    ctx.rec("ttl negative", _ttl(c, "/tneg", 5, -1))
    ctx.rec("ttl with persistent mode", _ttl(c, "/tp", 0, 1000))
    ctx.rec("ttl with ephemeral mode", _ttl(c, "/te", 1, 1000))
    ctx.rec("ttl with container mode", _ttl(c, "/tc", 4, 1000))
    ctx.rec("ttl exists", _ttl(c, "/t", 5, 1000))
    ctx.rec("TTL flag via create", c.create("/tf", flags=5))
    ctx.rec("TTL flag via create2", c.create2("/tf2", flags=6))
    ctx.rec("getData ttl node", c.get_data("/t"))
    ctx.rec("child of ttl node", c.create("/t/child"))
    ctx.rec("getChildren2 /", c.get_children2("/"))


def test_quota_stats_match_apache(compat):
    compat.check(scenario_quota_stats)


def test_ttl_nodes_match_apache(compat):
    # unknown zoo.cfg keys become system properties "zookeeper.<key>" in Apache
    obs = compat.check(scenario_ttl_nodes, extra_cfg={"extendedTypesEnabled": "true"})
    assert obs["ttl node"]["err"] == 0 and obs["ttl node"]["value"][1]["ephemeralOwner"] == 0
