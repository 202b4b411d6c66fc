"""An Apache ZooKeeper 3.8 ensemble on loopback, for tests that speak the peer protocol to the real thing.

`ApacheEnsemble(base, size=3)` gives every member free client, peer and election ports, writes
`server.N=127.0.0.1:peer:election;127.0.0.1:client` lines and `dataDir/myid`, and starts one
`ApacheZooKeeper` process (tests/support/server.py) per member; `start()` returns once every member
serves and one of them leads. Only the processes started here are signalled, by PID (`close()`).

Options for the features that need them: `extra_cfg` adds zoo.cfg keys to every member (e.g.
`reconfigEnabled=true`), and `jvm_props` adds `-Dname=value` system properties to every member's JVM,
for what Apache 3.8 reads only that way (`readonlymode.enabled`, `zookeeper.skipACL`, ...).
`member_line(m)` is the `server.N=...` spec of a member, as a reconfig `-add` would name it.

`observers=N` adds N observers (`:observer` on their server lines, `peerType=observer` in their zoo.cfg).
`swap(sid)` is one step of a rolling migration: SIGTERM the member's process and start the other kind
of server on the same zoo.cfg and dataDir (corral as a `CorralOnApacheConfig`, then Apache again);
`members` always holds the process now running for each id. `corral={1, 2}` runs those members as
corral from the start, on the zoo.cfg Apache would run on (mixed ensembles); `settled()` is the leader
once every live member serves under it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Self

from .net import HOST, free_ports
from .server import ApacheZooKeeper, CorralProcess
from .wait import wait_until

__all__ = ["ApacheEnsemble", "ApacheMember", "ApachePeer", "CorralOnApacheConfig", "EnsembleProcess"]


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
                 election_port: int, observer: bool = False) -> None:
        super().__init__(data_dir=ensemble.base / f"s{sid}", port=client_port, tick_time=ensemble.tick_time,
                         extra_cfg=ensemble.extra_cfg)
        self.ensemble = ensemble
        self.sid = sid
        self.jvm_props = ensemble.jvm_props
        self.peer_port = peer_port
        self.election_port = election_port
        self.observer = observer

    def config(self) -> dict[str, str]:
        role = {"peerType": "observer"} if self.observer else {}
        return {**super().config(), "initLimit": "10", "syncLimit": "5", **role}

    def config_lines(self) -> list[str]:
        return [*super().config_lines(),
                *(f"server.{m.sid}={m.spec('observer' if m.observer else None)}" for m in self.ensemble.apache)]

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


class CorralOnApacheConfig(CorralProcess):
    """corral run as `corral server <the Apache member's conf/zoo.cfg>` on that member's dataDir, as an
    operator swaps a member in a rolling migration: the file Apache runs on, unchanged."""

    def __init__(self, member: ApacheMember) -> None:
        super().__init__(data_dir=member.data_dir, port=member.port, tick_time=member.tick_time)
        self.apache = member
        self.sid = member.sid
        self.observer = member.observer

    @property
    def cfg_path(self) -> Path:
        return self.apache.cfg_path

    def write_config(self) -> Path:
        return self.apache.write_config()  # the same bytes each time: the file Apache runs on


EnsembleProcess = ApacheMember | CorralOnApacheConfig


class ApacheEnsemble:
    def __init__(self, base: Path, size: int = 3, tick_time: int = 500, *, observers: int = 0,
                 corral: Collection[int] = (), extra_cfg: Mapping[str, str] | None = None,
                 jvm_props: Mapping[str, str] | None = None) -> None:
        """`corral`: ids of the members that run corral (on the same zoo.cfg) from the start."""
        self.base = Path(base)
        self.tick_time = tick_time
        self.extra_cfg = dict(extra_cfg or {})
        self.jvm_props = dict(jvm_props or {})
        total = size + observers
        ports = free_ports(3 * total)
        self.apache = [ApacheMember(self, i + 1, *ports[3 * i:3 * i + 3], observer=i >= size) for i in range(total)]
        self.members: list[EnsembleProcess] = [CorralOnApacheConfig(m) if m.sid in corral else m
                                               for m in self.apache]

    def swap(self, sid: int) -> EnsembleProcess:
        """SIGTERM member `sid` and start the other kind on its zoo.cfg and dataDir (not waiting for it)."""
        current = self.members[sid - 1]
        current.stop()
        nxt: EnsembleProcess = self.apache[sid - 1] if isinstance(current, CorralOnApacheConfig) \
            else CorralOnApacheConfig(self.apache[sid - 1])
        self.members[sid - 1] = nxt
        nxt.start(wait=False)
        return nxt

    def settled(self) -> EnsembleProcess | None:
        """The leader, once every live member serves and exactly one of them leads (else None)."""
        live = [m for m in self.members if m.alive]
        modes = [m.mode() for m in live]
        if modes.count("leader") != 1 or not all(x in ("leader", "follower", "observer") for x in modes):
            return None
        return live[modes.index("leader")]

    def start(self, timeout: float = 120.0) -> Self:
        try:
            for m in self.members:
                m.start(wait=False)
            wait_until(self.settled, timeout, f"the Apache ensemble in {self.base} to serve")
        except BaseException:
            self.close()
            raise
        return self

    def leader(self) -> EnsembleProcess:
        leaders = [m for m in self.members if m.mode() == "leader"]
        assert len(leaders) == 1, f"expected one leader, modes {[m.mode() for m in self.members]}"
        return leaders[0]

    def member_line(self, m: EnsembleProcess, role: str | None = None) -> str:
        """`server.N=...` for member `m` (optionally with a role), as reconfig's `-add` takes it."""
        return f"server.{m.sid}={self.apache[m.sid - 1].spec(role)}"

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
