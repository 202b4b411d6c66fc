"""Every Basic API call, every create mode, ACLs, auth, chroot and multi — on corral and on Apache ZooKeeper.

Each test runs once per server kind (`server` fixture); a failure on `[apache]` means the client (or
the test) is wrong, a failure only on `[corral]` points at the server.
"""

from __future__ import annotations

import re

import pytest

from corral.client import (
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    AuthFailedError,
    BadArgumentsError,
    BadVersionError,
    Client,
    CreateMode,
    InvalidACLError,
    KeeperError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    Perms,
    RolledBackError,
    RuntimeInconsistencyError,
    SessionState,
    Stat,
    digest_acl,
    make_acl,
)

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)


def connect(server, chroot: str = "", **kw) -> Client:
    return Client(server.hosts + chroot, timeout=kw.pop("timeout", 10), **kw)


async def test_create_persistent_and_get(server, base):
    async with connect(server) as zk:
        assert await zk.create(base, b"root") == base
        path, stat = await zk.create(f"{base}/p", b"hello", include_stat=True)
        assert path == f"{base}/p"
        assert isinstance(stat, Stat) and stat.version == 0 and stat.dataLength == 5 and stat.ephemeralOwner == 0
        data, stat2 = await zk.get_data(path)
        assert data == b"hello" and stat2 == stat
        with pytest.raises(NodeExistsError) as ei:
            await zk.create(path)
        assert ei.value.path == path and ei.value.code == -110
        with pytest.raises(NoNodeError):
            await zk.create(f"{base}/missing/child")


async def test_create_ephemeral_goes_away_with_the_session(server, base):
    async with connect(server) as zk, connect(server) as other:
        await zk.create(base)
        eph = await zk.create(f"{base}/e", b"", mode=CreateMode.EPHEMERAL)
        stat = await other.exists(eph)
        assert stat is not None and stat.ephemeralOwner == zk.session_id
        with pytest.raises(NoChildrenForEphemeralsError):
            await zk.create(f"{eph}/child")
        await zk.close()
        assert await other.exists(eph) is None


async def test_create_sequential_modes(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        a = await zk.create(f"{base}/s-", mode=CreateMode.PERSISTENT_SEQUENTIAL)
        b = await zk.create(f"{base}/s-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)
        c = await zk.create(f"{base}/", mode=CreateMode.PERSISTENT_SEQUENTIAL)  # name is the bare suffix
        assert re.fullmatch(rf"{base}/s-\d{{10}}", a) and re.fullmatch(rf"{base}/s-\d{{10}}", b)
        assert re.fullmatch(rf"{base}/\d{{10}}", c)
        assert int(a[-10:]) < int(b[-10:]) < int(c[-10:])
        stat = await zk.exists(b)
        assert stat is not None and stat.ephemeralOwner == zk.session_id


async def test_create_container(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        path, stat = await zk.create(f"{base}/box", b"c", mode=CreateMode.CONTAINER, include_stat=True)
        assert path == f"{base}/box" and stat.ephemeralOwner == 0  # container marker is not shown
        assert await zk.create(f"{base}/box2", mode=CreateMode.CONTAINER) == f"{base}/box2"
        await zk.create(f"{path}/child")
        assert await zk.get_children(path) == ["child"]


async def test_create_ttl_modes(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        path, stat = await zk.create(f"{base}/ttl", b"t", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=60_000,
                                     include_stat=True)
        assert path == f"{base}/ttl" and stat.ephemeralOwner == 0
        seq = await zk.create(f"{base}/ttl-", mode=CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=60_000)
        assert re.fullmatch(rf"{base}/ttl-\d{{10}}", seq)
        assert (await zk.get_data(path))[0] == b"t"


async def test_delete_with_versions(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        await zk.create(f"{base}/d", b"x")
        await zk.create(f"{base}/d/c")
        with pytest.raises(NotEmptyError):
            await zk.delete(f"{base}/d")
        await zk.delete(f"{base}/d/c")
        with pytest.raises(BadVersionError):
            await zk.delete(f"{base}/d", version=5)
        await zk.delete(f"{base}/d", version=0)
        with pytest.raises(NoNodeError):
            await zk.delete(f"{base}/d")
        with pytest.raises(BadArgumentsError):
            await zk.delete("/zookeeper")  # special path: refused by the server


async def test_delete_recursive_and_make_parents(server, base):
    async with connect(server) as zk:
        leaf = await zk.create(f"{base}/a/b/c", b"leaf", make_parents=True)
        assert leaf == f"{base}/a/b/c"
        for i in range(20):
            await zk.create(f"{base}/a/n{i}")
        await zk.ensure_path(f"{base}/a/b/c/d")  # existing prefixes are fine
        await zk.delete(base, recursive=True)
        assert await zk.exists(base) is None


async def test_exists(server, base):
    async with connect(server) as zk:
        assert await zk.exists(base) is None
        await zk.create(base, b"12345")
        stat = await zk.exists(base)
        assert stat is not None and stat.dataLength == 5 and stat.numChildren == 0
        root = await zk.exists("/")
        assert root is not None and root.numChildren >= 1


async def test_get_and_set_data(server, base):
    async with connect(server) as zk:
        await zk.create(base, b"v0")
        stat = await zk.set_data(base, b"v1")
        assert stat.version == 1 and stat.dataLength == 2
        stat = await zk.set_data(base, b"v2", version=1)
        assert stat.version == 2
        with pytest.raises(BadVersionError):
            await zk.set_data(base, b"v3", version=1)
        data, stat = await zk.get_data(base)
        assert data == b"v2" and stat.version == 2 and stat.mzxid > stat.czxid
        big = bytes(range(256)) * 1000
        await zk.set_data(base, big)
        assert (await zk.get_data(base))[0] == big
        await zk.set_data(base, b"")
        assert (await zk.get_data(base))[0] == b""
        with pytest.raises(NoNodeError):
            await zk.set_data(f"{base}/nope", b"")
        with pytest.raises(NoNodeError):
            await zk.get_data(f"{base}/nope")


async def test_null_data_and_keep_null(server, base):
    """ZooKeeper stores null and empty data differently (zkCli prints `null` for the first): create(None)
    sends a null buffer; get_data folds it to b"" unless keep_null, which tells the two apart."""
    async with connect(server) as zk:
        await zk.create(base)
        await zk.create(f"{base}/null", None)
        await zk.create(f"{base}/empty", b"")
        assert await zk.get_data(f"{base}/null") == (b"", (await zk.exists(f"{base}/null")))
        null, st = await zk.get_data(f"{base}/null", keep_null=True)
        empty, _ = await zk.get_data(f"{base}/empty", keep_null=True)
        assert null is None and st.dataLength == 0
        assert empty == b""


async def test_get_ephemerals_all_children_number_and_who_am_i(server, base):
    """The 3.6+/3.7+ calls: this session's ephemerals by prefix (chroot-relative), the descendant count,
    and the identities the server holds for the session (ip, then each add_auth)."""
    async with connect(server) as root:
        await root.create(base)
        async with connect(server, chroot=base) as zk, connect(server) as other:
            await zk.create("/a")
            await zk.create("/a/e1", mode=CreateMode.EPHEMERAL)
            await zk.create("/a/b")
            await zk.create("/a/b/e2", mode=CreateMode.EPHEMERAL)
            await zk.create("/x-e3", mode=CreateMode.EPHEMERAL)
            await other.create(f"{base}/theirs", mode=CreateMode.EPHEMERAL)
            assert sorted(await zk.get_ephemerals()) == ["/a/b/e2", "/a/e1", "/x-e3"]
            assert sorted(await zk.get_ephemerals("/a")) == ["/a/b/e2", "/a/e1"]
            assert await zk.get_ephemerals("/nothing") == []
            assert await zk.get_all_children_number("/a") == 3
            assert await zk.get_all_children_number("/") == 6  # and the other session's node
            with pytest.raises(NoNodeError):
                await zk.get_all_children_number("/nope")
            assert await zk.who_am_i() == [("ip", "127.0.0.1")]
            await zk.add_auth("digest", "alice:secret")
            assert sorted(await zk.who_am_i()) == [("digest", "alice"), ("ip", "127.0.0.1")]


async def test_get_children_with_and_without_stat(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        assert await zk.get_children(base) == []
        for name in ("x", "y", "z"):
            await zk.create(f"{base}/{name}")
        assert sorted(await zk.get_children(base)) == ["x", "y", "z"]
        children, stat = await zk.get_children(base, include_stat=True)
        assert sorted(children) == ["x", "y", "z"] and stat.numChildren == 3 and stat.cversion == 3
        with pytest.raises(NoNodeError):
            await zk.get_children(f"{base}/nope")


async def test_sync(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        assert await zk.sync(base) == base
        assert await zk.sync() == "/"


async def test_acl_get_set_and_digest_auth(server, base):
    async with connect(server) as zk, connect(server) as stranger:
        await zk.create(base)
        acl, stat = await zk.get_acl(base)
        assert acl == OPEN_ACL_UNSAFE and stat.aversion == 0
        await zk.add_auth("digest", "alice:secret")
        owner_acl = [digest_acl("alice", "secret"), *READ_ACL_UNSAFE]
        stat = await zk.set_acl(base, owner_acl, version=0)
        assert stat.aversion == 1
        with pytest.raises(BadVersionError):
            await zk.set_acl(base, owner_acl, version=0)
        acl, _ = await zk.get_acl(base)
        assert sorted((a.perms, a.id.scheme) for a in acl) == [(Perms.READ, "world"), (Perms.ALL, "digest")]
        # World may read but not write; alice may write.
        assert (await stranger.get_data(base))[0] == b""
        with pytest.raises(NoAuthError):
            await stranger.set_data(base, b"x")
        with pytest.raises(NoAuthError):
            await stranger.create(f"{base}/c")
        await zk.set_data(base, b"alice was here")
        await stranger.add_auth("digest", "alice:secret")
        await stranger.set_data(base, b"now me too")
        with pytest.raises(InvalidACLError):
            await zk.set_acl(base, [])
        # CREATOR_ALL-style ACL through the `auth` scheme.
        await zk.create(f"{base}/mine", acl=[make_acl("auth", "", Perms.ALL)])
        acl, _ = await zk.get_acl(f"{base}/mine")
        assert [(a.id.scheme, a.id.id.split(":")[0]) for a in acl] == [("digest", "alice")]


async def test_add_auth_with_unknown_scheme_fails_the_session(server):
    async with connect(server) as zk:
        states: list[SessionState] = []
        zk.add_listener(states.append)
        with pytest.raises(AuthFailedError):
            await zk.add_auth("nosuchscheme", "x")
        assert zk.state is SessionState.AUTH_FAILED and states[-1] is SessionState.AUTH_FAILED
        with pytest.raises(AuthFailedError):
            await zk.exists("/")


async def test_chroot(server, base):
    async with connect(server) as root:
        await root.create(base)
        async with connect(server, chroot=base) as zk:
            assert zk.chroot == base
            assert await zk.create("/a", b"1") == "/a"
            assert await zk.create("/s-", mode=CreateMode.PERSISTENT_SEQUENTIAL) == "/s-0000000001"
            assert (await root.get_data(f"{base}/a"))[0] == b"1"
            assert sorted(await zk.get_children("/")) == ["a", "s-0000000001"]
            assert await zk.sync("/a") == "/a"
            results = await zk.transaction().create("/b").create("/q-", mode=CreateMode.PERSISTENT_SEQUENTIAL).commit()
            assert results == ["/b", "/q-0000000003"]
            await zk.delete("/a")
            assert await root.exists(f"{base}/a") is None


async def test_multi_success(server, base):
    async with connect(server) as zk:
        await zk.create(base)
        await zk.create(f"{base}/gone", b"")
        txn = zk.transaction()
        txn.create(f"{base}/n", b"x").set_data(f"{base}/n", b"y").check(f"{base}/n", 1)
        txn.create(f"{base}/q-", mode=CreateMode.PERSISTENT_SEQUENTIAL)
        txn.create(f"{base}/q-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)
        txn.create(f"{base}/box", mode=CreateMode.CONTAINER)
        txn.create(f"{base}/t", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=9000)
        txn.delete(f"{base}/gone")
        assert len(txn) == 8
        results = await txn.commit()
        assert results[0] == f"{base}/n"
        assert isinstance(results[1], Stat) and results[1].version == 1
        assert results[2] is True
        # Consecutive sequence numbers under one parent (ops see earlier ops' effects).
        assert int(results[4][-10:]) == int(results[3][-10:]) + 1
        assert results[5:] == [f"{base}/box", f"{base}/t", True]
        assert (await zk.get_data(f"{base}/n"))[0] == b"y"
        assert await zk.exists(f"{base}/gone") is None
        with pytest.raises(RuntimeError):
            await txn.commit()
        assert await zk.transaction().commit() == []  # an empty multi is valid


async def test_multi_failure_is_all_or_nothing(server, base):
    async with connect(server) as zk:
        await zk.create(base, b"v")
        txn = zk.transaction().create(f"{base}/a").set_data(base, b"w", version=7).create(f"{base}/b")
        results = await txn.commit()
        assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistencyError]
        assert results[1].path == base
        assert await zk.exists(f"{base}/a") is None
        assert (await zk.get_data(base))[0] == b"v"
        with pytest.raises(NoNodeError) as ei:
            await zk.transaction().check(base, 0).delete(f"{base}/nope").commit(raise_on_error=True)
        assert [type(r) for r in ei.value.results] == [RolledBackError, NoNodeError]
        results = await zk.transaction().check(base, 3).commit()
        assert isinstance(results[0], BadVersionError) and isinstance(results[0], KeeperError)


async def test_many_pipelined_requests(server, base):
    """Hundreds of requests in flight on one connection come back matched to their callers."""
    import asyncio

    async with connect(server) as zk:
        await zk.create(base)
        paths = await asyncio.gather(*(zk.create(f"{base}/n{i}", str(i).encode()) for i in range(300)))
        assert paths == [f"{base}/n{i}" for i in range(300)]
        datas = await asyncio.gather(*(zk.get_data(f"{base}/n{i}") for i in range(300)))
        assert [d for d, _ in datas] == [str(i).encode() for i in range(300)]
        assert len(await zk.get_children(base)) == 300


async def test_ttl_without_extended_types_is_unimplemented(server_kind):
    """A TTL create on a default server: UnimplementedError (-6) from both servers."""
    from corral.client import UnimplementedError
    from tests.support.server import make_server

    srv = make_server(server_kind, start=False)
    srv.start()
    try:
        async with Client(srv.hosts, timeout=10) as zk:
            with pytest.raises(UnimplementedError):
                await zk.create("/ttl", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=1000)
    finally:
        srv.close()
