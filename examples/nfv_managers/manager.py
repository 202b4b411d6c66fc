#!/usr/bin/env python3
"""One network-function manager of the Distributed OpenNetVM workload, coordinating through corral.

What it does with the coordination service (znode layout of ../../../shared/reference/opennetvm-coordination.md):

* membership: an ephemeral `/managers/<id>` holding its MAC address, so peers can reach it and its
  entry vanishes when the manager dies;
* service map: an ephemeral `/services/<service>/<id>` per service it runs, holding the instance
  count, so anyone can find which machines run a service;
* leader election (the ZooKeeper recipe): an ephemeral-sequential `/election/n_NNNNNNNNNN`; the lowest
  number leads, every other manager watches only its predecessor, so a death wakes one manager, not
  all of them (no herd effect);
* global placement: only the leader writes `/placement/decision` (which manager is primary for each
  service). It writes with a multi that also checks its own election node, so a manager whose
  session has expired — and which may still believe it leads — can never overwrite the decision.

Run it by hand: `python manager.py --hosts 127.0.0.1:2181 --id m1 --mac 02:00:00:00:00:01
--services firewall,nat`. It runs until SIGTERM/SIGINT, `--run-for` seconds, or until its session
expires (exit status 2). run_demo.py starts several of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from corral.client import (
    Client,
    CreateMode,
    KeeperError,
    NodeExistsError,
    NoNodeError,
    SessionState,
)

ROOTS = ("/managers", "/services", "/election", "/placement")
DECISION = "/placement/decision"


def log(mid: str, msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [{mid}] {msg}", flush=True)


def compute_placement(managers: dict[str, str], services: dict[str, list[str]]) -> dict[str, str]:
    """Primary manager per service: among the live managers running it, the least loaded so far
    (ties by id), so primaries spread over the machines."""
    load: dict[str, int] = dict.fromkeys(managers, 0)
    primary = {}
    for svc in sorted(services):
        candidates = sorted(m for m in services[svc] if m in managers)
        if not candidates:
            continue
        pick = min(candidates, key=lambda m: (load[m], m))
        primary[svc] = pick
        load[pick] += 1
    return primary


class Manager:
    def __init__(self, args: argparse.Namespace) -> None:
        self.id = args.id
        self.mac = args.mac
        self.services = [s for s in args.services.split(",") if s]
        self.zk = Client(args.hosts, timeout=args.session_timeout)
        self.refresh = args.refresh
        self.stop = asyncio.Event()
        self.expired = False
        self.me = ""  # our election node

    def on_state(self, state: SessionState) -> None:
        log(self.id, f"session {state.value}")
        if state in (SessionState.EXPIRED, SessionState.AUTH_FAILED):
            self.expired = True
            self.stop.set()

    async def register(self) -> None:
        for root in ROOTS:
            await self.zk.ensure_path(root)
        try:
            await self.zk.create(DECISION, b"{}")
        except NodeExistsError:
            pass
        await self.zk.create(f"/managers/{self.id}", self.mac.encode(), mode=CreateMode.EPHEMERAL)
        log(self.id, f"registered /managers/{self.id} = {self.mac}")
        for svc in self.services:
            await self.zk.ensure_path(f"/services/{svc}")
            await self.zk.create(f"/services/{svc}/{self.id}", b"1", mode=CreateMode.EPHEMERAL)
        log(self.id, f"runs services {', '.join(self.services)}")
        self.me = await self.zk.create("/election/n_", self.id.encode(), mode=CreateMode.EPHEMERAL_SEQUENTIAL)
        log(self.id, f"election node {self.me}")

    async def wait_for_leadership(self) -> bool:
        """The election recipe: lead when our node is the lowest; otherwise wait for the predecessor."""
        mine = self.me.rsplit("/", 1)[1]
        while not self.stop.is_set():  # each round ends with a changed predecessor or stop
            children = sorted(await self.zk.get_children("/election"))
            if mine not in children:
                raise NoNodeError(path=self.me)  # our session lost its node: cannot take part
            idx = children.index(mine)
            if idx == 0:
                return True
            pred = children[idx - 1]
            gone = asyncio.Event()
            if await self.zk.exists(f"/election/{pred}", watch=lambda ev, g=gone: g.set()) is None:
                continue  # it vanished between the two reads
            log(self.id, f"follower; watching predecessor {pred}")
            await self._wait_any(gone)
        return False

    async def lead(self) -> None:
        log(self.id, "elected LEADER: now the only manager that changes /placement")
        while not self.stop.is_set():  # one round per membership change (or refresh period)
            changed = asyncio.Event()
            on_change = lambda ev, c=changed: c.set()  # noqa: E731 - one watcher for all of this round's reads
            names = await self.zk.get_children("/managers", watch=on_change)
            managers = {}
            for m in names:
                try:
                    data, _ = await self.zk.get_data(f"/managers/{m}")
                    managers[m] = data.decode()
                except NoNodeError:
                    pass
            services = {}
            for svc in await self.zk.get_children("/services", watch=on_change):
                try:
                    services[svc] = sorted(await self.zk.get_children(f"/services/{svc}", watch=on_change))
                except NoNodeError:
                    pass
            primary = compute_placement(managers, services)
            decision = {"leader": self.id, "managers": managers, "services": services, "primary": primary,
                        "unplaced": sorted(set(services) - set(primary))}
            txn = self.zk.transaction()
            txn.check(self.me, 0)  # still our election node: we are still the leader
            txn.set_data(DECISION, json.dumps(decision, sort_keys=True).encode())
            results = await txn.commit(raise_on_error=True)
            log(self.id, f"placement version {results[1].version}: primary {decision['primary']}")
            await self._wait_any(changed, timeout=self.refresh)

    async def _wait_any(self, ev: asyncio.Event, timeout: float | None = None) -> None:
        waiters = [asyncio.ensure_future(ev.wait()), asyncio.ensure_future(self.stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def run(self, run_for: float) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        self.zk.add_listener(self.on_state)
        await self.zk.start()
        loop.call_later(run_for, self.stop.set)
        try:
            await self.register()
            if await self.wait_for_leadership():
                await self.lead()
        except KeeperError as e:
            if not self.stop.is_set():
                log(self.id, f"coordination error: {e}")
                return 1
        finally:
            await self.zk.close()
        if self.expired:
            log(self.id, "session expired: stopping (a supervisor would restart this manager)")
            return 2
        log(self.id, "stopped")
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", required=True, help="corral/ZooKeeper connect string")
    ap.add_argument("--id", required=True, help="manager id, e.g. m1")
    ap.add_argument("--mac", required=True, help="this machine's MAC address")
    ap.add_argument("--services", default="", help="comma-separated services this manager runs")
    ap.add_argument("--session-timeout", type=float, default=4.0, help="seconds (default 4)")
    ap.add_argument("--refresh", type=float, default=30.0, help="leader re-publishes placement this often")
    ap.add_argument("--run-for", type=float, default=600.0, help="stop after this many seconds (default 600)")
    args = ap.parse_args(argv)
    return asyncio.run(Manager(args).run(args.run_for))


if __name__ == "__main__":
    sys.exit(main())
