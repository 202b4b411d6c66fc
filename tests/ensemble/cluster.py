"""A corral ensemble on loopback for tests: every member its own process, controlled by PID.

`Ensemble(base_dir, voters=3, observers=0, tick_time=300)` writes one directory per member
(`sN/zoo.cfg`, `sN/data/myid`, `sN/server.log`) with ZooKeeper's zoo.cfg syntax
(`server.N=127.0.0.1:peerPort:electionPort[:observer];127.0.0.1:clientPort`) and starts
`python -m corral server sN/zoo.cfg` for each. A member can be killed with SIGKILL, stopped, and
restarted on the same dataDir and ports. `relay=True` puts a `Relay` on every peer connection
(the higher id dials the lower one, so member `hi`'s zoo.cfg names member `lo` by the relay's port)
so a test can hold the traffic between two members, i.e. partition them, without root.

Every wait is bounded (`wait_until`); only processes started here are ever signalled, by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.support.net import four_letter

from .relay import Relay

HOST = "127.0.0.1"
WAIT = 60.0  # generous bound for any wait: other suites share this 2-core box
T = TypeVar("T")


def wait_until(pred: Callable[[], T], timeout: float = WAIT, what: str = "condition", interval: float = 0.05) -> T:
    """Poll `pred` until it returns something truthy (returned); TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a probe that failed this round (connection refused, ...)
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"{what}: not within {timeout:.0f}s{detail}")
        time.sleep(interval)


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all bound at once, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def parse_mntr(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("\t")
        if sep:
            out[k] = v
    return out


def parse_srvr(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            out[k] = v
    return out


NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


class Member:
    def __init__(self, ensemble: Ensemble, sid: int, client_port: int, peer_port: int, election_port: int,
                 observer: bool) -> None:
        self.ensemble = ensemble
        self.sid = sid
        self.client_port = client_port
        self.peer_port = peer_port
        self.election_port = election_port
        self.observer = observer
        self.dir = ensemble.base / f"s{sid}"
        self.data_dir = self.dir / "data"
        self.cfg_path = self.dir / "zoo.cfg"
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.extra_cfg: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<member {self.sid} port {self.client_port} pid {self.pid}>"

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- process control --------------------------------------------------------------------------

    def write_config(self) -> None:
        e = self.ensemble
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.sid}\n")
        cfg = {
            "tickTime": str(e.tick_time),
            "initLimit": str(e.init_limit),
            "syncLimit": str(e.sync_limit),
            "dataDir": str(self.data_dir),
            "clientPort": str(self.client_port),
            "clientPortAddress": HOST,
            "4lw.commands.whitelist": "*",
            **e.extra_cfg,
            **self.extra_cfg,
        }
        lines = [f"{k}={v}" for k, v in cfg.items()]
        for m in e.members:
            port = m.peer_port
            if m.sid < self.sid and (self.sid, m.sid) in e.relays:  # we dial m: through the relay
                port = e.relays[(self.sid, m.sid)].port
            role = ":observer" if m.observer else ""
            lines.append(f"server.{m.sid}={HOST}:{port}:{m.election_port}{role};{HOST}:{m.client_port}")
        self.cfg_path.write_text("\n".join(lines) + "\n")

    def start(self) -> Member:
        assert not self.alive, f"member {self.sid} is already running"
        self.write_config()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== test harness: starting member {self.sid} at {time.time():.3f} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "corral", "server", str(self.cfg_path)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        return self

    def kill(self) -> None:
        """kill -9 this member's process (only the PID we started)."""
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def restart(self) -> Member:
        self.kill()
        return self.start()

    # ---- probes -----------------------------------------------------------------------------------

    def four(self, cmd: str, timeout: float = 5.0) -> str:
        return four_letter(HOST, self.client_port, cmd, timeout=timeout)

    def mode(self) -> str:
        """leader | follower | observer | not serving | down."""
        if not self.alive:
            return "down"
        try:
            text = self.four("srvr", timeout=2.0)
        except OSError:
            return "down"
        if NOT_SERVING in text:
            return "not serving"
        return parse_srvr(text).get("Mode", "?")

    def srvr(self) -> dict[str, str]:
        return parse_srvr(self.four("srvr"))

    def mntr(self) -> dict[str, str]:
        return parse_mntr(self.four("mntr"))

    def zxid(self) -> int:
        """Last applied zxid (srvr `Zxid:`); -1 when not serving."""
        v = self.srvr().get("Zxid")
        return int(v, 16) if v else -1

    def serving(self) -> bool:
        return self.mode() in ("leader", "follower", "observer")

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


class Ensemble:
    def __init__(self, base: Path, voters: int = 3, observers: int = 0, tick_time: int = 300,
                 init_limit: int = 10, sync_limit: int = 5, extra_cfg: dict[str, str] | None = None,
                 relay: bool = False) -> None:
        self.base = Path(base)
        self.tick_time = tick_time
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra_cfg = dict(extra_cfg or {})
        total = voters + observers
        ports = free_ports(3 * total)
        self.members = [Member(self, i + 1, *ports[3 * i:3 * i + 3], observer=i >= voters) for i in range(total)]
        self.relays: dict[tuple[int, int], Relay] = {}
        if relay:
            for hi in self.members:
                for lo in self.members:
                    if lo.sid < hi.sid:
                        self.relays[(hi.sid, lo.sid)] = Relay(HOST, lo.peer_port)

    def __getitem__(self, sid: int) -> Member:
        return self.members[sid - 1]

    @property
    def hosts(self) -> str:
        """The full client host list (every member, observers included)."""
        return ",".join(m.hostport for m in self.members)

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
                    if needle in m.four("cons"):
                        return m
                except OSError:
                    pass
        return None

    def relay(self, a: int, b: int) -> Relay:
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
            if any(v not in ("leader", "follower", "observer") for v in modes.values()):
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
