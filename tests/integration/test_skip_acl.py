"""`skipACL=yes` (Apache: the `zookeeper.skipACL` system property, which zoo.cfg sets too): no permission
check at all, for writes as for reads (ZooKeeperServer.checkACL returns at once). corral checked only
reads; the same operations run on both kinds, with skipACL on and off, and must answer alike."""

from __future__ import annotations

import pytest
from kazoo.exceptions import KazooException
from kazoo.security import make_digest_acl

from tests.integration.conftest import start_kazoo, stop_kazoo
from tests.support.server import make_server

LOCKED = [make_digest_acl("owner", "secret", all=True)]  # nobody else may do anything


def _outcome(call) -> str:
    try:
        call()
    except KazooException as e:
        return type(e).__name__
    return "ok"


def _multi(zk) -> str:
    t = zk.transaction()
    t.check("/locked", -1)
    t.set_data("/locked", b"m")
    return ",".join(type(r).__name__ for r in t.commit())


def _run(kind: str, skip: str) -> list[tuple[str, str]]:
    """Anonymous operations on a node only its digest owner may touch."""
    srv = make_server(kind, extra_cfg={"skipACL": skip})
    try:
        owner = start_kazoo(srv.hosts, auth_data=[("digest", "owner:secret")])
        anon = start_kazoo(srv.hosts)
        try:
            owner.create("/locked", b"v0", acl=LOCKED)
            owner.create("/locked/child", b"", acl=LOCKED)
            return [
                ("getData", _outcome(lambda: anon.get("/locked"))),
                ("getChildren", _outcome(lambda: anon.get_children("/locked"))),
                ("setData", _outcome(lambda: anon.set("/locked", b"v1"))),
                ("create", _outcome(lambda: anon.create("/locked/new", b""))),
                ("delete", _outcome(lambda: anon.delete("/locked/child"))),
                ("setACL", _outcome(lambda: anon.set_acls("/locked", LOCKED))),
                ("multi", _multi(anon)),
            ]
        finally:
            stop_kazoo(anon)
            stop_kazoo(owner)
    finally:
        srv.close()


@pytest.mark.parametrize("skip", ["yes", "no"])
def test_skip_acl_covers_writes_as_apache(server_kind: str, skip: str) -> None:
    got = _run(server_kind, skip)
    ops = [op for op, _ in got]
    if skip == "yes":
        assert got == [(op, "ok") for op in ops[:6]] + [("multi", "bool,ZnodeStat")], got
    else:
        assert got == [(op, "NoAuthError") for op in ops[:6]] + [("multi", "NoAuthError,RuntimeInconsistency")], got
