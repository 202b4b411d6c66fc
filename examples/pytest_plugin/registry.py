"""A tiny service registry on ZooKeeper, the application under test in this example.

Each running instance of a service registers itself as an *ephemeral* znode
`/services/<service>/<instance>` holding its address; callers look the service up. When an
instance's process dies, its ZooKeeper session ends and its znode disappears, so lookups only
ever return live instances. Every call goes through kazoo's retry, so a brief loss of the
connection (the server it talks to crashed, the ensemble elects a new leader) is ridden out.
"""

from __future__ import annotations

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError


class ServiceRegistry:
    def __init__(self, zk: KazooClient, root: str = "/services") -> None:
        self.zk = zk
        self.root = root.rstrip("/")

    def register(self, service: str, instance: str, address: str) -> str:
        """Announce `instance` of `service` at `address` for as long as this client's session lives."""
        path = f"{self.root}/{service}/{instance}"

        def create() -> str:
            try:
                return self.zk.create(path, address.encode(), ephemeral=True, makepath=True)
            except NodeExistsError:  # a retried create that had already succeeded
                if self.zk.get(path)[1].ephemeralOwner != self.zk.client_id[0]:
                    raise
                return path

        return self.zk.retry(create)

    def unregister(self, service: str, instance: str) -> None:
        try:
            self.zk.retry(self.zk.delete, f"{self.root}/{service}/{instance}")
        except NoNodeError:
            pass

    def lookup(self, service: str) -> dict[str, str]:
        """The live instances of `service` and their addresses."""
        base = f"{self.root}/{service}"
        try:
            names = self.zk.retry(self.zk.get_children, base)
        except NoNodeError:
            return {}
        found = {}
        for name in names:
            try:
                found[name] = self.zk.retry(self.zk.get, f"{base}/{name}")[0].decode()
            except NoNodeError:  # gone between the listing and the read
                pass
        return found
