"""Server-side features beyond plain znodes, side by side: quota bookkeeping under /zookeeper/quota and
TTL nodes (createTTL, opcode 21) once extended types are enabled."""

from __future__ import annotations

import time

import pytest

from tests.support.rawclient import OPEN_ACL_UNSAFE, Op, create_ttl_body, op_create, op_set_data

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


def scenario_quota_enforced(ctx):
    """With enforceQuota=true (3.7+): a create or setData that would take the deepest quota root above
    it past a *hard* limit (countHardLimit, byteHardLimit) fails with QuotaExceeded (-125); soft limits
    still only log; shrinking is always allowed; a multi with an exceeding op is rolled back."""
    c = ctx.raw("A")
    ctx.rec("create /q", c.create("/q", b"12345"))
    ctx.rec("create /q/a", c.create("/q/a", b"abc"))
    ctx.rec("quota root", c.create("/zookeeper/quota/q"))
    ctx.rec("limits", c.create("/zookeeper/quota/q/zookeeper_limits",
                               b"count=-1,bytes=-1=;byteHardLimit=20;countHardLimit=4"))
    ctx.rec("stats", c.create("/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0"))
    ctx.rec("create /q/b within", c.create("/q/b", b"1234"))
    ctx.rec("create /q/c at the count limit", c.create("/q/c"))
    ctx.rec("create /q/d over the count limit", c.create("/q/d"))
    ctx.rec("create /q/b/deep over the count limit", c.create("/q/b/deep"))
    ctx.rec("setData within bytes", c.set_data("/q/a", b"x" * 10))
    ctx.rec("setData over bytes", c.set_data("/q/b", b"y" * 10))
    ctx.rec("setData shrinking", c.set_data("/q/b", b""))
    ctx.rec("delete /q/c", c.delete("/q/c"))
    ctx.rec("create /q/d after the delete", c.create("/q/d", b"12"))
    ctx.rec("multi over the limit", c.multi([op_set_data("/q/a", b""), op_create("/q/e")]))
    ctx.rec("/q/a unchanged by the multi", c.get_data("/q/a"))
    ctx.rec("stats now", c.get_data("/zookeeper/quota/q/zookeeper_stats"))
    ctx.rec("soft root", c.create("/s"))
    ctx.rec("soft quota", c.create("/zookeeper/quota/s"))
    ctx.rec("soft limits", c.create("/zookeeper/quota/s/zookeeper_limits", b"count=1,bytes=1"))
    ctx.rec("soft stats", c.create("/zookeeper/quota/s/zookeeper_stats", b"count=0,bytes=0"))
    ctx.rec("soft limits only log", c.create("/s/x", b"over"))
    ctx.rec("outside any quota", c.create("/free", b"z" * 100))


def scenario_container_flags_vs_opcode(ctx):
    """The opcode decides what a create makes, as in ZooKeeper's pRequest2TxnCreate: createContainer
    (19) makes a container whatever its flags; create (1) and create2 (15) with CONTAINER flags make a
    persistent node. Told apart by the reaper (checkIntervalMs=100): after their only child goes, the
    containers disappear and the persistent nodes stay. A multi's create with CONTAINER flags becomes
    createContainer (the Java server rebuilds multi ops from their flags)."""
    c = ctx.raw("A")
    made = {"/p1": c.create("/p1", flags=4), "/p15": c.create2("/p15", flags=4),
            "/c19": c.create("/c19", flags=0, opcode=Op.CREATE_CONTAINER),
            "/c19c": c.create("/c19c", flags=4, opcode=Op.CREATE_CONTAINER)}
    made["/m"] = c.multi([op_create("/m", flags=4)])
    for path, reply in made.items():
        ctx.rec(f"create {path}", reply)
        ctx.rec(f"child of {path}", c.create(f"{path}/kid"))
        ctx.rec(f"delete child of {path}", c.delete(f"{path}/kid"))
    deadline = time.monotonic() + 20  # bounded: both reapers run every 100 ms
    while time.monotonic() < deadline and any(c.exists(p).err == 0 for p in ("/c19", "/c19c", "/m")):
        time.sleep(0.05)
    for path in made:
        ctx.rec(f"exists {path} after reaping", c.exists(path).err)


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


def test_quota_enforced_match_apache(compat):
    obs = compat.check(scenario_quota_enforced, extra_cfg={"enforceQuota": "true"})
    assert obs["create /q/d over the count limit"]["err"] == -125
    assert obs["setData over bytes"]["err"] == -125


def test_container_flags_vs_opcode_match_apache(compat):
    obs = compat.check(scenario_container_flags_vs_opcode, extra_cfg={"znode.container.checkIntervalMs": "100"})
    assert obs["exists /p1 after reaping"] == 0 and obs["exists /c19 after reaping"] == -101


def test_ttl_nodes_match_apache(compat):
    # unknown zoo.cfg keys become system properties "zookeeper.<key>" in Apache
    obs = compat.check(scenario_ttl_nodes, extra_cfg={"extendedTypesEnabled": "true"})
    assert obs["ttl node"]["err"] == 0 and obs["ttl node"]["value"][1]["ephemeralOwner"] == 0
