"""Watch events respect READ permission, as ZooKeeper does since 3.8.4/3.9.2 (CVE-2024-23944).

A persistent recursive watch on a readable parent must not reveal the paths of descendants the
watcher may not read, and a one-shot watch set while a node was readable stops firing once its ACL
no longer lets the watcher read it. Apache ZooKeeper 3.8.0 (the reference package here) predates the
fix and delivers these events, so this runs against corral only; the difference is listed in
docs/architecture.md.
"""

from __future__ import annotations

import uuid

import pytest

from corral.client import OPEN_ACL_UNSAFE, BadArgumentsError, EventType, digest_acl
from tests.client.test_watches import Events, _events

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)

OWNER_ONLY = [digest_acl("owner", "pw")]


async def test_recursive_watch_does_not_reveal_unreadable_descendants(corral_server_module):
    base = f"/acl-{uuid.uuid4().hex[:8]}"
    async with corral_server_module.client() as watcher, corral_server_module.client() as owner:
        await owner.add_auth("digest", "owner:pw")
        await owner.create(base)
        ev = Events()
        await watcher.add_watch(base, ev, recursive=True)
        await owner.create(f"{base}/secret-user-alice", b"", OWNER_ONLY)
        await owner.set_data(f"{base}/secret-user-alice", b"x")
        await owner.delete(f"{base}/secret-user-alice")
        await owner.create(f"{base}/public", b"", OPEN_ACL_UNSAFE)
        assert await _events(ev, 1) == [(EventType.NodeCreated, f"{base}/public")]
        assert await ev.none_within(watcher, base)


async def test_one_shot_watch_stops_when_read_is_revoked(corral_server_module):
    base = f"/acl-{uuid.uuid4().hex[:8]}"
    async with corral_server_module.client() as watcher, corral_server_module.client() as owner:
        await owner.add_auth("digest", "owner:pw")
        await owner.create(base, b"v0")
        data, kids = Events(), Events()
        await watcher.get_data(base, watch=data)
        await watcher.get_children(base, watch=kids)
        await owner.set_acl(base, OWNER_ONLY)
        await owner.set_data(base, b"v1")  # the watcher may no longer read base: no event
        await owner.create(f"{base}/c")  # NodeChildrenChanged is checked against base's ACL too
        assert await data.none_within(owner, base) and kids.queue.empty()
        # The owner, who can read, still gets events on the same node.
        mine = Events()
        await owner.get_data(base, watch=mine)
        await owner.set_data(base, b"v2")
        assert await _events(mine, 1) == [(EventType.NodeDataChanged, base)]


async def test_new_watch_calls_refuse_bad_input(corral_server_module):
    """Hostile arguments to add_watch/remove_watches fail locally with a clear error and leave the
    session usable: relative or malformed paths, an unknown watcher type."""
    async with corral_server_module.client() as zk:
        for bad in ("relative", "/a/", "/a//b", "/a/./b", ""):
            with pytest.raises(BadArgumentsError):
                await zk.add_watch(bad, Events())
            with pytest.raises(BadArgumentsError):
                await zk.remove_watches(bad)
        with pytest.raises(ValueError):
            await zk.remove_watches("/", 9)
        with pytest.raises(BadArgumentsError):
            await zk.get_ephemerals("no-slash")
        with pytest.raises(BadArgumentsError):
            await zk.get_all_children_number("/trailing/")
        assert await zk.exists("/") is not None  # still connected and serving
