"""A real client library side by side: kazoo's API (the calls applications make) must give the same
results, exceptions, Stats and watch callbacks on corral as on Apache ZooKeeper. Exceptions are recorded
by class name (kazoo maps error codes to classes), Stats go through the same normalisation as raw ones.

Watch callbacks run on kazoo's event thread, so they are collected in a queue and waited for with a
bounded timeout; the scenario waits only for events Apache is known to deliver (it is the reference
run that decides how many to expect, the compared run must then deliver the same)."""

from __future__ import annotations

import queue

import pytest

from tests.support.rawclient import Stat

from .steps import scenarios_of

pytestmark = pytest.mark.compat


def _stat(zs) -> Stat:
    return Stat(zs.czxid, zs.mzxid, zs.ctime, zs.mtime, zs.version, zs.cversion, zs.aversion,
                zs.ephemeralOwner, zs.dataLength, zs.numChildren, zs.pzxid)


def _try(fn, *args, **kwargs):
    """The call's result with Stats converted, or the kazoo exception's class name."""
    try:
        return _plain(fn(*args, **kwargs))
    except Exception as e:
        return {"exception": type(e).__name__}


def _plain(v):
    if type(v).__name__ == "ZnodeStat":
        return _stat(v)
    if isinstance(v, tuple | list):
        return type(v)(_plain(x) for x in v) if isinstance(v, list) else tuple(_plain(x) for x in v)
    if type(v).__name__ == "ACL":
        return (v.perms, v.id.scheme, v.id.id)
    return v


def _events(q: queue.Queue, n: int) -> list:
    out = []
    for _ in range(n):
        try:
            out.append(q.get(timeout=5))
        except queue.Empty:
            break
    return out


def scenario_kazoo_api(ctx):
    """CRUD, sequence and ephemeral nodes, versions and kazoo's exception classes, transactions,
    ACLs with digest auth, one-shot watches delivered as WatchedEvents."""
    kz = ctx.kazoo("K")
    other = ctx.kazoo("O")
    ctx.rec("ensure_path", _try(kz.ensure_path, "/app/config"))
    ctx.rec("create", _try(kz.create, "/app/config/a", b"1"))
    ctx.rec("create exists", _try(kz.create, "/app/config/a", b"1"))
    ctx.rec("create makepath", _try(kz.create, "/app/deep/er/node", b"d", makepath=True))
    ctx.rec("create no parent", _try(kz.create, "/nope/x"))
    ctx.rec("create seq", _try(kz.create, "/app/q/item-", b"", sequence=True, makepath=True))
    ctx.rec("create seq 2", _try(kz.create, "/app/q/item-", b"", sequence=True))
    ctx.rec("create ephemeral seq", _try(kz.create, "/app/q/e-", b"", ephemeral=True, sequence=True))
    ctx.rec("child of ephemeral", _try(kz.create, "/app/q/e-0000000002/x"))
    ctx.rec("create include_data", _try(kz.create, "/app/s", b"s", include_data=True))
    ctx.rec("get", _try(kz.get, "/app/config/a"))
    ctx.rec("get missing", _try(kz.get, "/app/none"))
    ctx.rec("set", _try(kz.set, "/app/config/a", b"2", version=0))
    ctx.rec("set bad version", _try(kz.set, "/app/config/a", b"3", version=0))
    ctx.rec("exists", _try(kz.exists, "/app/config/a"))
    ctx.rec("exists missing", _try(kz.exists, "/app/none"))
    ctx.rec("get_children", sorted(kz.get_children("/app")))
    children, stat = kz.get_children("/app/q", include_data=True)
    ctx.rec("get_children include_data", (sorted(children), _stat(stat)))
    ctx.rec("delete not empty", _try(kz.delete, "/app/config"))
    ctx.rec("delete bad version", _try(kz.delete, "/app/config/a", version=7))
    ctx.rec("delete recursive", _try(kz.delete, "/app/deep", recursive=True))
    ctx.rec("delete /zookeeper", _try(kz.delete, "/zookeeper"))
    ctx.rec("invalid path", _try(kz.create, "/app/bad\x01"))

    t = kz.transaction()
    t.check("/app/config/a", 1)
    t.create("/app/t1", b"x")
    t.set_data("/app/t1", b"y")
    t.delete("/app/s")
    ctx.rec("transaction ok", [_plain(r) if not isinstance(r, Exception) else type(r).__name__
                               for r in t.commit()])
    t = kz.transaction()
    t.create("/app/t2")
    t.check("/app/config/a", 99)
    t.create("/app/t3")
    ctx.rec("transaction failing", [type(r).__name__ if isinstance(r, Exception) else _plain(r)
                                    for r in t.commit()])
    ctx.rec("t2 not created", _try(kz.exists, "/app/t2"))

    from kazoo.security import make_digest_acl

    ctx.rec("add_auth", _try(kz.add_auth, "digest", "alice:secret"))
    acl = make_digest_acl("alice", "secret", all=True)
    ctx.rec("create with digest acl", _try(kz.create, "/app/private", b"p", acl=[acl]))
    ctx.rec("get_acls", _try(kz.get_acls, "/app/private"))
    ctx.rec("other get private", _try(other.get, "/app/private"))
    ctx.rec("other set_acls", _try(other.set_acls, "/app/private", [acl]))
    ctx.rec("set_acls bad version", _try(kz.set_acls, "/app/private", [acl], version=5))

    events: queue.Queue = queue.Queue()
    ctx.rec("other get watch", _try(other.get, "/app/config/a", watch=events.put))
    ctx.rec("other get_children watch", sorted(other.get_children("/app/q", watch=events.put)))
    ctx.rec("other exists watch", _try(other.exists, "/app/new", watch=events.put))
    ctx.rec("set triggers", _try(kz.set, "/app/config/a", b"3"))
    ctx.rec("create triggers", _try(kz.create, "/app/new"))
    ctx.rec("child delete triggers", _try(kz.delete, "/app/q/item-0000000000"))
    got = _events(events, 3)
    ctx.rec("watch events", sorted((e.type, e.state, e.path) for e in got))
    ctx.rec("final tree", sorted(kz.get_children("/app")))


@pytest.mark.parametrize("scenario", scenarios_of(globals()))
def test_kazoo_matches_apache(compat, scenario):
    obs = compat.check(scenario)
    assert obs["create exists"] == {"exception": "NodeExistsError"}
    assert len(obs["watch events"]) == 3
