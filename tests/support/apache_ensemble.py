"""An Apache ZooKeeper 3.8 ensemble on loopback, for tests that speak the peer protocol to the real thing.

`ApacheEnsemble(base, size=3)` gives every member free client, peer and election ports, writes
`server.N=127.0.0.1:peer:election;127.0.0.1:client` lines and `dataDir/myid`, and starts one
`ApacheZooKeeper` process (tests/support/server.py) per member; `start()` returns once every member
serves and one of them leads. Only the processes started here are signalled, by PID (`close()`).

Options for the features that need them: `extra_cfg` adds zoo.cfg keys to every member (e.g.
`reconfigEnabled=true`), and `jvm_props` adds `-Dname=value` system properties to every member's JVM,
for what Apache 3.8 reads only that way (`readonlymode.enabled`, `zookeeper.skipACL`, ...).
`member_line(m)` is the `server.N=...` spec of a member, as a reconfig `-add` would name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Self

from .net import HOST, free_ports
from .server import ApacheZooKeeper
from .wait import wait_until

__all__ = ["ApacheEnsemble", "ApacheMember", "ApachePeer"]


class _ApacheQuorumMember(ApacheZooKeeper):
    """What both kinds of Apache member share: `dataDir/myid` and `-D` system properties."""

    sid: int
    jvm_props: Mapping[str, str]

    def command(self) -> list[str]:
        argv = super().command()
        return [argv[0], *(f"-D{k}={v}" for k, v in self.jvm_props.items()), *argv[1:]]

    def write_config(self) -> Path:
        data = Path(self.config()["dataDir"])
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{self.sid}\n")
        return super().write_config()


class ApacheMember(_ApacheQuorumMember):
    """One member: an ApacheZooKeeper whose zoo.cfg names the whole ensemble."""

    def __init__(self, ensemble: ApacheEnsemble, sid: int, client_port: int, peer_port: int,
                 election_port: int) -> None:
        super().__init__(data_dir=ensemble.base / f"s{sid}", port=client_port, tick_time=ensemble.tick_time,
                         extra_cfg=ensemble.extra_cfg)
        self.ensemble = ensemble
        self.sid = sid
        self.jvm_props = ensemble.jvm_props
        self.peer_port = peer_port
        self.election_port = election_port

    def config(self) -> dict[str, str]:
        return {**super().config(), "initLimit": "10", "syncLimit": "5"}

    def config_lines(self) -> list[str]:
        return [*super().config_lines(),
                *(f"server.{m.sid}={m.spec()}" for m in self.ensemble.members)]

    def spec(self, role: str | None = None) -> str:
        """`host:peer:election[:role];host:client`, the value of this member's server.N line."""
        return f"{HOST}:{self.peer_port}:{self.election_port}{':' + role if role else ''};{HOST}:{self.port}"


class ApachePeer(_ApacheQuorumMember):
    """One Apache member of an ensemble described by `servers` (its `server.N=...` lines, which may name
    corral members): for mixed ensembles. Its own line must name `port` as its client port."""

    def __init__(self, data_dir: Path, sid: int, port: int, servers: list[str], tick_time: int = 500,
                 init_limit: int = 10, sync_limit: int = 5, jvm_props: dict[str, str] | None = None,
                 extra_cfg: Mapping[str, str] | None = None) -> None:
        """`jvm_props`: system properties (`-Dk=v`), e.g. zookeeper.commitLogCount to make a leader SNAP;
        `extra_cfg`: more zoo.cfg keys (reconfigEnabled, ...)."""
        super().__init__(data_dir=data_dir, port=port, tick_time=tick_time, extra_cfg=extra_cfg)
        self.sid = sid
        self.servers = list(servers)
        self.limits = {"initLimit": str(init_limit), "syncLimit": str(sync_limit)}
        self.jvm_props = dict(jvm_props or {})

    def config(self) -> dict[str, str]:
        return {**super().config(), **self.limits}

    def config_lines(self) -> list[str]:
        return [*super().config_lines(), *self.servers]


class ApacheEnsemble:
    def __init__(self, base: Path, size: int = 3, tick_time: int = 500, *,
                 extra_cfg: Mapping[str, str] | None = None, jvm_props: Mapping[str, str] | None = None) -> None:
        self.base = Path(base)
        self.tick_time = tick_time
        self.extra_cfg = dict(extra_cfg or {})
        self.jvm_props = dict(jvm_props or {})
        ports = free_ports(3 * size)
        self.members = [ApacheMember(self, i + 1, *ports[3 * i:3 * i + 3]) for i in range(size)]

    def start(self, timeout: float = 120.0) -> Self:
        try:
            for m in self.members:
                m.start(wait=False)
            wait_until(lambda: all(m.mode() in ("leader", "follower") for m in self.members), timeout,
                       f"the Apache ensemble in {self.base} to serve")
        except BaseException:
            self.close()
            raise
        return self

    def leader(self) -> ApacheMember:
        leaders = [m for m in self.members if m.mode() == "leader"]
        assert len(leaders) == 1, f"expected one leader, modes {[m.mode() for m in self.members]}"
        return leaders[0]

    def member_line(self, m: ApacheMember, role: str | None = None) -> str:
        """`server.N=...` for member `m` (optionally with a role), as reconfig's `-add` takes it."""
        return f"server.{m.sid}={m.spec(role)}"

    @property
    def hosts(self) -> str:
        return ",".join(m.hosts for m in self.members)

    def logs(self) -> str:
        return "\n".join(f"---- member {m.sid}\n{m.log(4000)}" for m in self.members)

    def close(self) -> None:
        for m in self.members:
            m.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
