"""A corral ensemble on loopback for tests: every member its own process, controlled by PID.

`Ensemble(base_dir, voters=3, observers=0, tick_time=300)` writes one directory per member
(`sN/zoo.cfg`, `sN/data/myid`, `sN/server.log`) with ZooKeeper's zoo.cfg syntax
(`server.N=127.0.0.1:peerPort:electionPort[:observer];127.0.0.1:clientPort`) and starts
`python -m corral server sN/zoo.cfg` for each. A `Member` is a `CorralProcess` (tests/support/server.py):
it can be killed with SIGKILL, stopped, paused and restarted on the same dataDir and ports.
`relay=True` puts `TcpProxy`s (tests/support/proxy.py) between every two members: members speak
ZooKeeper's peer protocol on both ports of the server lines, so each member's zoo.cfg names every other
member by the ports of its own proxies to that member's peerPort and electionPort. A `PairRelay` holds
the four proxies of a pair, so a test can hold the traffic between two members, i.e. partition them,
without root.

Every wait is bounded (`wait_until`); only processes started here are ever signalled, by PID.
"""

from __future__ import annotations

from pathlib import Path

from corral.testing import admin_listening, parse_mntr, parse_srvr
from tests.support.net import HOST, free_ports
from tests.support.proxy import TcpProxy
from tests.support.server import NOT_SERVING, CorralProcess
from tests.support.wait import wait_until

__all__ = ["NOT_SERVING", "WAIT", "Ensemble", "Member", "parse_mntr", "parse_srvr"]

WAIT = 60.0  # generous bound for any wait: other suites share this 2-core box


class PairRelay:
    """The four `TcpProxy`s between members `a` and `b`: each one's dial to the other's peerPort and
    electionPort. Every mode change applies to all four."""

    def __init__(self, a: Member, b: Member) -> None:
        self.proxies: dict[tuple[int, int, str], TcpProxy] = {}
        for frm, to in ((a, b), (b, a)):
            self.proxies[(frm.sid, to.sid, "peer")] = TcpProxy(to.peer_port, name=f"peer{frm.sid}->{to.sid}")
            self.proxies[(frm.sid, to.sid, "election")] = TcpProxy(to.election_port,
                                                                  name=f"election{frm.sid}->{to.sid}")

    def ports(self, frm: int, to: int) -> tuple[int, int]:
        """(peerPort, electionPort) by which member `frm` reaches member `to`."""
        return self.proxies[(frm, to, "peer")].port, self.proxies[(frm, to, "election")].port

    def hold(self, refuse_new: bool = False) -> None:
        for p in self.proxies.values():
            p.hold(refuse_new)

    def release(self) -> None:
        for p in self.proxies.values():
            p.release()

    def close(self) -> None:
        for p in self.proxies.values():
            p.close()


class Member(CorralProcess):
    """One ensemble member: a CorralProcess whose zoo.cfg also names every member (and whose dataDir holds
    its myid). `start()` does not wait for it to serve: a member alone has no quorum; the Ensemble waits."""

    def __init__(self, ensemble: Ensemble, sid: int, client_port: int, peer_port: int, election_port: int,
                 observer: bool) -> None:
        super().__init__(data_dir=ensemble.base / f"s{sid}", port=client_port, tick_time=ensemble.tick_time)
        self.ensemble = ensemble
        self.sid = sid
        self.client_port = client_port
        self.peer_port = peer_port
        self.election_port = election_port
        self.observer = observer
        # False: a restart keeps the zoo.cfg the server rewrote (a reconfig points it at a dynamic file)
        self.rewrite_config = True

    def __repr__(self) -> str:
        return f"<member {self.sid} port {self.client_port} pid {self.pid}>"

    @property
    def hostport(self) -> str:
        return self.hosts

    # ---- process control --------------------------------------------------------------------------

    def config(self) -> dict[str, str]:
        e = self.ensemble
        return {**super().config(), "initLimit": str(e.init_limit), "syncLimit": str(e.sync_limit),
                **e.extra_cfg, **self.extra_cfg}

    def server_lines(self) -> list[str]:
        """The membership as this member names it (through the relays, if any)."""
        e = self.ensemble
        lines = []
        for m in e.members:
            peer, election = m.peer_port, m.election_port
            pair = (max(self.sid, m.sid), min(self.sid, m.sid))
            if m is not self and pair in e.relays:  # we reach m through the pair's relays
                peer, election = e.relays[pair].ports(self.sid, m.sid)
            role = ":observer" if m.observer else ""
            lines.append(f"server.{m.sid}={HOST}:{peer}:{election}{role};{HOST}:{m.client_port}")
        return lines

    @property
    def dynamic_path(self) -> Path | None:
        """`zoo.cfg.dynamic.<version>` beside zoo.cfg when the ensemble uses dynamic config files."""
        version = self.ensemble.dynamic_version
        return None if version is None else self.cfg_path.with_name(f"zoo.cfg.dynamic.{version:x}")

    def config_lines(self) -> list[str]:
        if self.dynamic_path is not None:
            return [*super().config_lines(), f"dynamicConfigFile={self.dynamic_path}"]
        return [*super().config_lines(), *self.server_lines()]

    def write_config(self) -> Path:
        if not self.rewrite_config and self.cfg_path.exists():
            return self.cfg_path
        data = Path(self.config()["dataDir"])
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{self.sid}\n")
        if self.dynamic_path is not None:
            self.dynamic_path.parent.mkdir(parents=True, exist_ok=True)
            self.dynamic_path.write_text("".join(f"{line}\n" for line in self.server_lines()))
        return super().write_config()

    def start(self, timeout: float | None = None, *, wait: bool = False) -> Member:
        return super().start(timeout, wait=wait)

    # ---- probes -----------------------------------------------------------------------------------

    def srvr(self) -> dict[str, str]:
        return parse_srvr(self.four_letter("srvr"))

    def mntr(self) -> dict[str, str]:
        return parse_mntr(self.four_letter("mntr"))

    def serving(self) -> bool:
        """Leader, follower or observer, and its AdminServer (if enabled) answers: it starts just after
        the client port."""
        return self.mode() in ("leader", "follower", "observer") and admin_listening(self.config())

    def log(self, tail: int = 6000) -> str:
        return super().log(tail)


class Ensemble:
    def __init__(self, base: Path, voters: int = 3, observers: int = 0, tick_time: int = 300,
                 init_limit: int = 10, sync_limit: int = 5, extra_cfg: dict[str, str] | None = None,
                 relay: bool = False, dynamic_version: int | None = None) -> None:
        """`dynamic_version`: put the server lines in `zoo.cfg.dynamic.<version>` (dynamicConfigFile)."""
        self.base = Path(base)
        self.dynamic_version = dynamic_version
        self.tick_time = tick_time
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra_cfg = dict(extra_cfg or {})
        total = voters + observers
        ports = free_ports(3 * total)
        self.members = [Member(self, i + 1, *ports[3 * i:3 * i + 3], observer=i >= voters) for i in range(total)]
        self.relays: dict[tuple[int, int], PairRelay] = {}
        if relay:
            for hi in self.members:
                for lo in self.members:
                    if lo.sid < hi.sid:
                        self.relays[(hi.sid, lo.sid)] = PairRelay(hi, lo)

    def __getitem__(self, sid: int) -> Member:
        return self.members[sid - 1]

    @property
    def hosts(self) -> str:
        """The full client host list (every member, observers included)."""
        return ",".join(m.hostport for m in self.members)

    def member_line(self, m: Member, role: str | None = None) -> str:
        """`server.N=...` for member `m` (optionally with a role), as reconfig's `-add` takes it (the
        shape of ApacheEnsemble.member_line, so the reconfig client tests run on either kind)."""
        return f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port}{':' + role if role else ''};{HOST}:{m.port}"

    @property
    def voters(self) -> list[Member]:
        return [m for m in self.members if not m.observer]

    def hosts_first(self, first: Member) -> str:
        """The full host list with `first` in front (for a client started with randomize_hosts=False)."""
        return ",".join(m.hostport for m in [first, *(m for m in self.members if m is not first)])

    def serving_session(self, session_id: int) -> Member | None:
        """The live member whose `cons` lists a connection of this session."""
        needle = f"sid=0x{session_id & 0xFFFFFFFFFFFFFFFF:x},"
        for m in self.members:
            if m.alive:
                try:
                    if needle in m.four_letter("cons"):
                        return m
                except OSError:
                    pass
        return None

    def relay(self, a: int, b: int) -> PairRelay:
        """The proxies between members a and b (hold() them to partition the two)."""
        return self.relays[(max(a, b), min(a, b))]

    def start(self, timeout: float = WAIT) -> Ensemble:
        for m in self.members:
            m.start()
        self.wait_stable(timeout)
        return self

    def modes(self) -> dict[int, str]:
        return {m.sid: m.mode() for m in self.members}

    def leader(self, timeout: float = WAIT) -> Member:
        """Wait for exactly one live member to report Mode: leader and return it."""
        def one() -> Member | None:
            leaders = [m for m in self.members if m.alive and m.mode() == "leader"]
            return leaders[0] if len(leaders) == 1 else None
        return wait_until(one, timeout, f"a single leader among {self.base}")

    def wait_stable(self, timeout: float = WAIT, members: list[Member] | None = None) -> Member:
        """Every live member (or `members`) serves and the leader counts all live voters as synced."""
        ms = members or [m for m in self.members if m.alive]

        def ok() -> Member | None:
            modes = {m.sid: m.mode() for m in ms}
            if any(v not in ("leader", "follower", "observer") for v in modes.values()) or \
                    not all(admin_listening(m.config()) for m in ms):
                return None
            leaders = [m for m in ms if modes[m.sid] == "leader"]
            if len(leaders) != 1:
                return None
            lead = leaders[0]
            live_followers = sum(1 for m in self.members if m.alive and not m.observer and m is not lead)
            synced = int(lead.mntr().get("zk_synced_followers", "-1"))
            return lead if synced >= live_followers else None
        try:
            return wait_until(ok, timeout, "ensemble serving with every live member synced")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; modes={self.modes()}\n{self.logs()}") from None

    def wait_converged(self, timeout: float = WAIT, members: list[Member] | None = None) -> int:
        """Every live member (or `members`) serves and reports the same last zxid; returns it."""
        ms = members or [m for m in self.members if m.alive]

        def same() -> int | None:
            if not all(m.serving() for m in ms):
                return None
            zs = {m.zxid() for m in ms}
            return zs.pop() if len(zs) == 1 else None
        return wait_until(same, timeout, "members converged on one zxid")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"---- member {m.sid} (pid {m.pid}) ----\n{m.log(tail)}" for m in self.members)

    def close(self) -> None:
        errors = []
        for m in self.members:
            try:
                m.kill()
            except Exception as e:  # keep cleaning up the others
                errors.append(e)
        for r in self.relays.values():
            r.close()
        if errors:
            raise errors[0]
