"""A corral ensemble on loopback for tests: `Ensemble`, each `Member` its own process.

Why: code that uses ZooKeeper for leader election, locks or membership is only tested when the leader
dies, hangs or is cut off while the code runs. `Ensemble(3)` starts three members with ZooKeeper's
zoo.cfg (`server.N=127.0.0.1:peerPort:electionPort[:observer];127.0.0.1:clientPort`, `dataDir/myid`)
and lets a test `kill`, `pause`/`resume`, `partition`/`heal` and `restart` any member.

Partitions without root: members speak ZooKeeper's peer protocol on both ports of the `server.N`
lines (leader election on electionPort, the leader and its learners on peerPort). Each member's
zoo.cfg names every other member by the ports of proxies of this ensemble (a `PairLink` per pair of
members, one `LinkProxy` per direction and port), so cutting a member off means dropping its proxies.

Only processes started here are ever signalled, by PID; every wait is bounded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

from ._net import HOST, admin_listening, free_ports, log, parse_mntr, parse_srvr, wait_until
from .process import ServerProcess
from .proxy import PairLink

SERVING = ("leader", "follower", "observer")


class Member(ServerProcess):
    """One ensemble member: a `ServerProcess` whose zoo.cfg names every member and whose dataDir holds
    its `myid`. `sid` is its id, `observer` whether it votes."""

    def __init__(self, ensemble: Ensemble, sid: int, client_port: int, peer_port: int, election_port: int,
                 observer: bool) -> None:
        super().__init__(data_dir=ensemble.base / f"s{sid}", port=client_port, tick_time=ensemble.tick_time,
                         start_timeout=ensemble.timeout)
        self.ensemble = ensemble
        self.sid = sid
        self.peer_port = peer_port
        self.election_port = election_port
        self.observer = observer

    def __repr__(self) -> str:
        role = " observer" if self.observer else ""
        return f"<Member {self.sid}{role} {self.hosts} pid={self.pid}>"

    def config(self) -> dict[str, object]:
        """A test server's keys plus the ensemble's initLimit/syncLimit and its extra keys."""
        e = self.ensemble
        return {**super().config(), "initLimit": e.init_limit, "syncLimit": e.sync_limit, **e.extra_cfg,
                **self.extra_cfg}

    def config_text(self) -> str:
        """zoo.cfg with a `server.N` line per member: its own line with the ports it listens on, every
        other member's with the ports of this member's proxies to it."""
        lines = [super().config_text().rstrip("\n")]
        for m in self.ensemble.members:
            peer, election = m.peer_port, m.election_port
            if m is not self:  # we reach m through the pair's proxies
                peer, election = self.ensemble.link(self.sid, m.sid).ports(self.sid, m.sid)
            role = ":observer" if m.observer else ""
            lines.append(f"server.{m.sid}={HOST}:{peer}:{election}{role};{HOST}:{m.port}")
        return "\n".join(lines) + "\n"

    def _spawn(self) -> None:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data" / "myid").write_text(f"{self.sid}\n")
        super()._spawn()

    def start(self, *, wait: bool = False, timeout: float | None = None) -> Self:
        """Start the process; by default without waiting (a member alone has no quorum: the
        ensemble waits for all of them together)."""
        return super().start(wait=wait, timeout=timeout)

    def srvr(self) -> dict[str, str]:
        """`srvr` as a dict (`Mode`, `Zxid`, ...)."""
        return parse_srvr(self.four_letter("srvr"))

    def mntr(self) -> dict[str, str]:
        """`mntr` as a dict (`zk_server_state`, `zk_synced_followers`, ...)."""
        return parse_mntr(self.four_letter("mntr"))

    def mode(self) -> str:
        """leader, follower, observer, `not serving` (no quorum, or still syncing) or down."""
        return super().mode() if self.alive else "down"

    def serving(self) -> bool:
        """Whether it serves clients now (it is leader, follower or observer), and its AdminServer, if
        enabled, answers too (it starts just after the client port)."""
        return self.mode() in SERVING and admin_listening(self.config())


class Ensemble:
    """`voters` + `observers` corral members on 127.0.0.1, each a process with its own dataDir.

    Args:
        voters: voting members (3 tolerates one failure, 5 two).
        observers: non-voting members that serve clients and follow the leader.
        tick_time: tickTime in ms (default 200: elections and failure detection take a few hundred ms).
        init_limit, sync_limit: in ticks, as in zoo.cfg. A follower cut off from the leader gives up
            after syncLimit ticks.
        extra_cfg: more zoo.cfg keys for every member.
        base_dir: where the members' directories go (`sN/`); default a temporary directory removed
            by `close()`.
        timeout: bound in seconds of every wait (start, `leader()`, `wait_stable()`).

    A context manager (`with Ensemble(3) as ens:` starts it and waits until it is stable, then stops
    everything it started). Members are numbered from 1: `ens[1]`, `ens.members`, `ens.leader()`.
    """

    def __init__(self, voters: int = 3, observers: int = 0, *, tick_time: int = 200, init_limit: int = 10,
                 sync_limit: int = 5, extra_cfg: Mapping[str, object] | None = None,
                 base_dir: str | Path | None = None, timeout: float = 60.0) -> None:
        if voters < 1 or observers < 0:
            raise ValueError(f"need at least one voter and no negative observers, got {voters}/{observers}")
        self._tmp = base_dir is None
        self.base = Path(base_dir if base_dir is not None else tempfile.mkdtemp(prefix="corral-ensemble-"))
        self.tick_time = tick_time
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra_cfg: dict[str, object] = dict(extra_cfg or {})
        self.timeout = timeout
        total = voters + observers
        ports = free_ports(3 * total)
        self.members = [Member(self, i + 1, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], observer=i >= voters)
                        for i in range(total)]
        listening = {m.sid: (m.peer_port, m.election_port) for m in self.members}
        self._links: dict[tuple[int, int], PairLink] = {}
        for hi in self.members:
            for lo in self.members:
                if lo.sid < hi.sid:
                    self._links[(hi.sid, lo.sid)] = PairLink(hi.sid, lo.sid, listening)
        self._partitioned: set[int] = set()

    def __repr__(self) -> str:
        return f"<Ensemble {self.hosts} dir={self.base}>"

    def __getitem__(self, sid: int) -> Member:
        # Not members[sid - 1] unchecked: ens[0] would quietly be the last member.
        if not 1 <= sid <= len(self.members):
            raise KeyError(f"no member {sid}: members are 1..{len(self.members)}")
        return self.members[sid - 1]

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    # ---- addresses --------------------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """Every member's client address, comma-separated: the connect string for kazoo or corral's
        client, which then fail over between members by themselves."""
        return ",".join(m.hosts for m in self.members)

    def hosts_first(self, member: Member | int) -> str:
        """The full host list with `member` in front: with kazoo's `randomize_hosts=False` (or corral's
        `randomize_hosts=False`) the client connects to that member first, so a test knows which
        connection its fault breaks."""
        first = self._member(member)
        return ",".join(m.hosts for m in [first, *(m for m in self.members if m is not first)])

    @property
    def voters(self) -> list[Member]:
        """The voting members (participants)."""
        return [m for m in self.members if not m.observer]

    @property
    def observers(self) -> list[Member]:
        """The observers (they serve clients but do not vote)."""
        return [m for m in self.members if m.observer]

    def link(self, a: int, b: int) -> PairLink:
        """The proxies between members `a` and `b` (ids), for finer faults than `partition()`: cut one
        pair only with `ens.link(1, 2).drop()`."""
        return self._links[(max(a, b), min(a, b))]

    def _member(self, member: Member | int) -> Member:
        return self[member] if isinstance(member, int) else member

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every member and wait until the ensemble is stable (`wait_stable()`)."""
        try:
            for m in self.members:
                m.start()
            self.wait_stable(_all_running=True)
        except BaseException:
            self.close()
            raise
        log.info("event=ensemble_started members=%d hosts=%s", len(self.members), self.hosts)
        return self

    def close(self) -> None:
        """Kill every member this ensemble started (by PID), close the proxies, remove a temporary
        base directory. Idempotent."""
        errors: list[BaseException] = []
        for m in self.members:
            try:
                m.kill()
            except Exception as e:  # keep cleaning up the others
                errors.append(e)
        for link in self._links.values():
            link.close()
        if self._tmp:
            shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- faults -----------------------------------------------------------------------------------

    def kill(self, member: Member | int) -> Member:
        """SIGKILL a member (a crash). Returns it, for a later `restart(member)`."""
        m = self._member(member)
        m.kill()
        return m

    def stop(self, member: Member | int) -> Member:
        """Shut a member down cleanly (SIGTERM)."""
        m = self._member(member)
        m.stop()
        return m

    def pause(self, member: Member | int) -> Member:
        """SIGSTOP a member: it keeps its sockets but answers nothing (a long GC pause, a hung VM)."""
        m = self._member(member)
        m.pause()
        return m

    def resume(self, member: Member | int) -> Member:
        """SIGCONT a paused member."""
        m = self._member(member)
        m.resume()
        return m

    def restart(self, member: Member | int, *, wait: bool = True) -> Member:
        """Start a member again on its own data and ports (stopping it first if it runs); with `wait`,
        return once it serves again."""
        m = self._member(member)
        if m.alive:
            m.stop()
        m.start()
        if wait:
            def up() -> str | bool:
                if not m.alive:
                    return "exited"  # truthy: stop waiting at once
                return m.serving() and "serving"
            if wait_until(up, self.timeout, what=f"member {m.sid} serving after its restart") == "exited":
                raise RuntimeError(f"member {m.sid} exited after its restart; log:\n{m.log(6000)}")
        return m

    def partition(self, member: Member | int, *, reset: bool = False) -> Member:
        """Cut `member` off from every other member (its client port stays reachable).

        By default the links go silent (bytes are swallowed, as when packets are lost: both sides find
        out through their own timeouts); with `reset` the connections are reset and re-dials refused.
        A partitioned voter without a quorum stops serving its clients, as in ZooKeeper."""
        m = self._member(member)
        for other in self.members:
            if other is not m:
                link = self.link(m.sid, other.sid)
                link.reset() if reset else link.drop()
        self._partitioned.add(m.sid)
        log.info("event=partitioned member=%d reset=%s", m.sid, reset)
        return m

    def heal(self, member: Member | int | None = None) -> None:
        """Reconnect `member` (default: every partitioned member) with the others."""
        targets = [self._member(member)] if member is not None else [self[s] for s in sorted(self._partitioned)]
        for m in targets:
            for other in self.members:
                if other is not m and other.sid not in self._partitioned - {m.sid}:
                    self.link(m.sid, other.sid).heal()
            self._partitioned.discard(m.sid)
            log.info("event=healed member=%d", m.sid)

    # ---- observing --------------------------------------------------------------------------------

    def modes(self) -> dict[int, str]:
        """Each member's `srvr` mode by id: leader, follower, observer, not serving or down."""
        return {m.sid: m.mode() for m in self.members}

    def leader(self, timeout: float | None = None, *, other_than: Member | int | None = None) -> Member:
        """Wait until exactly one live member reports `Mode: leader` (via `srvr`) and return it.

        With `other_than` (after killing, pausing or partitioning the old leader), wait until that single
        leader is another member: right after a fault the old leader may still believe it leads."""
        avoid = None if other_than is None else self._member(other_than)

        def one() -> Member | None:
            leaders = [m for m in self.members if m.alive and not m.paused and m.mode() == "leader"]
            return leaders[0] if len(leaders) == 1 and leaders[0] is not avoid else None
        what = f"a single leader in {self}" + (f" other than member {avoid.sid}" if avoid else "")
        found = wait_until(one, self.timeout if timeout is None else timeout, what)
        assert found is not None  # wait_until returns only a truthy value
        return found

    def followers(self) -> list[Member]:
        """Members that report `Mode: follower` right now."""
        return [m for m in self.members if m.alive and m.mode() == "follower"]

    def wait_stable(self, timeout: float | None = None, *, _all_running: bool = False) -> Member:
        """Wait until every live, unpaused, unpartitioned member serves and the leader counts every such
        voter as synced; return the leader."""
        def live() -> list[Member]:
            return [m for m in self.members if m.alive and not m.paused and m.sid not in self._partitioned]

        def ok() -> Member | str | None:
            if _all_running:  # while starting, a member that exited (bad config, port taken) fails at once
                gone = [m.sid for m in self.members if not m.alive]
                if gone:
                    return f"members {gone} exited"
            ms = live()
            modes = {m.sid: m.mode() for m in ms}
            if any(v not in SERVING for v in modes.values()) or not all(admin_listening(m.config()) for m in ms):
                return None
            leaders = [m for m in ms if modes[m.sid] == "leader"]
            if len(leaders) != 1:
                return None
            lead = leaders[0]
            followers = sum(1 for m in ms if not m.observer and m is not lead)
            synced = int(lead.mntr().get("zk_synced_followers", "-1"))
            return lead if synced >= followers else None
        try:
            lead = wait_until(ok, self.timeout if timeout is None else timeout, "every live member serving and synced")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; modes={self.modes()}\n{self.logs()}") from None
        if isinstance(lead, str):
            raise RuntimeError(f"ensemble did not start: {lead}; modes={self.modes()}\n{self.logs()}")
        assert lead is not None
        return lead

    def logs(self, tail: int = 3000) -> str:
        """Every member's log tail, for a failure message."""
        return "\n".join(f"---- member {m.sid} (pid {m.pid}) ----\n{m.log(tail)}" for m in self.members)
