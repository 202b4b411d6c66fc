#!/usr/bin/env python3
"""End-to-end demo: network-function managers coordinating through a corral server.

One command (`python examples/nfv_managers/run_demo.py`) does everything, on 127.0.0.1 only:

1. starts `corral server` on a free port with a temporary data directory (tickTime 200 ms, so a
   4 s session timeout is allowed);
2. starts N manager processes (manager.py), each with an id, a MAC address and the services it runs;
3. prints what the coordination service holds: the registry (`/managers/<id>` → MAC), the service
   map (`/services/<service>/<manager>`), the elected leader and the leader's placement decision;
4. kills the leader with SIGKILL (no goodbye: only its session timeout can reveal the death), then
   waits for the next manager in line to take over and publish a new placement, and prints how long
   that took next to the session timeout;
5. stops every process it started (by pid) and removes the temporary directory.

Every wait is bounded; the exit status is 0 only when the takeover happened and the final state is
consistent (dead leader gone from the registry and the service map, placement by the new leader).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "src"))  # run from a checkout without installing

from corral.client import KeeperError, NoNodeError, SyncClient  # noqa: E402

SERVICES = ["firewall", "nat", "dpi"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check: Callable[[], Any], timeout: float, poll: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (KeeperError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="nfv-demo-"))
        self.port = free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None
        self.managers: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
                        PYTHONUNBUFFERED="1")

    # ---- processes ------------------------------------------------------------------------------

    def start_server(self) -> None:
        tick = self.args.tick_ms
        timeout_ms = int(self.args.session_timeout * 1000)
        cfg = self.tmp / "zoo.cfg"
        cfg.write_text(f"tickTime={tick}\ndataDir={self.tmp / 'data'}\nclientPort={self.port}\n"
                       f"clientPortAddress=127.0.0.1\nmaxSessionTimeout={max(20 * tick, timeout_ms)}\n"
                       "4lw.commands.whitelist=ruok,srvr\nadmin.enableServer=false\n")
        with open(self.tmp / "server.log", "wb") as log:
            self.server = subprocess.Popen([sys.executable, "-m", "corral", "server", str(cfg)], stdout=log,
                                           stderr=subprocess.STDOUT, env=self.env)
        wait_until("the corral server", lambda: self.server.poll() is None and ruok(self.port), 30)
        print(f"corral server on {self.hosts} (tickTime {tick} ms, data in {self.tmp / 'data'})")

    def start_manager(self, i: int) -> None:
        mid = f"m{i}"
        mac = f"02:00:00:00:00:{i:02x}"
        # each manager runs two of the three services, so with 3+ managers every service runs on two machines
        services = ",".join(SERVICES[(i - 1 + k) % len(SERVICES)] for k in range(2))
        with open(self.tmp / f"{mid}.log", "wb") as out:
            self.managers[mid] = subprocess.Popen(
                [sys.executable, str(HERE / "manager.py"), "--hosts", self.hosts, "--id", mid, "--mac", mac,
                 "--services", services, "--session-timeout", str(self.args.session_timeout),
                 "--run-for", str(self.args.run_for)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env)
        print(f"started manager {mid} (pid {self.managers[mid].pid}, MAC {mac}, services {services})")

    def stop_all(self) -> None:
        for proc in self.managers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.managers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)

    # ---- what the coordination service holds ----------------------------------------------------

    @staticmethod
    def registry(zk: SyncClient) -> dict[str, str]:
        out = {}
        for m in sorted(zk.get_children("/managers")):
            try:
                out[m] = zk.get_data(f"/managers/{m}")[0].decode()
            except NoNodeError:
                pass
        return out

    @staticmethod
    def service_map(zk: SyncClient) -> dict[str, list[str]]:
        return {svc: sorted(zk.get_children(f"/services/{svc}")) for svc in sorted(zk.get_children("/services"))}

    @staticmethod
    def leader(zk: SyncClient) -> str | None:
        children = sorted(zk.get_children("/election"))
        for c in children:
            try:
                return zk.get_data(f"/election/{c}")[0].decode()
            except NoNodeError:
                continue
        return None

    @staticmethod
    def decision(zk: SyncClient) -> dict:
        data, stat = zk.get_data("/placement/decision")
        d = json.loads(data or b"{}")
        d["_version"] = stat.version
        return d

    def show(self, zk: SyncClient, title: str) -> None:
        print(f"\n== {title}")
        print("registry (/managers/<id> -> MAC):")
        for m, mac in self.registry(zk).items():
            print(f"  /managers/{m} -> {mac}")
        print("service map (/services/<service>/<manager>):")
        for svc, ms in self.service_map(zk).items():
            print(f"  /services/{svc}: {', '.join(ms) if ms else '(none)'}")
        d = self.decision(zk)
        print(f"leader: {self.leader(zk)}")
        print(f"placement (/placement/decision v{d['_version']}, written by {d.get('leader')}): "
              + ", ".join(f"{s} -> {m}" for s, m in sorted(d.get("primary", {}).items()))
              + (f"; unplaced: {', '.join(d['unplaced'])}" if d.get("unplaced") else ""))

    # ---- the scenario ---------------------------------------------------------------------------

    def run(self) -> int:
        n = self.args.managers
        timeout = self.args.session_timeout
        self.start_server()
        for i in range(1, n + 1):
            self.start_manager(i)
        with SyncClient(self.hosts, timeout=10) as zk:
            def settled() -> bool:
                # Every manager registered with all its services, and the leader's decision made from
                # that complete picture (a manager registers itself first, then its services).
                reg, smap, d = self.registry(zk), self.service_map(zk), self.decision(zk)
                offered = {svc for svc, ms in smap.items() if ms}
                entries = sum(len(ms) for ms in smap.values())
                return (len(reg) == n and entries == 2 * n and d.get("leader") == self.leader(zk)
                        and len(d.get("managers", {})) == n and set(d.get("primary", {})) == offered
                        and not d.get("unplaced"))

            wait_until("all managers registered and a placement by the leader", settled, 30)
            self.show(zk, f"{n} managers up")
            old = self.leader(zk)
            if old is None:
                raise TimeoutError("no leader although the placement was written")
            before = self.decision(zk)["_version"]

            print(f"\n== killing leader {old} (pid {self.managers[old].pid}) with SIGKILL")
            self.managers[old].kill()
            self.managers[old].wait(10)
            t0 = time.monotonic()

            def taken_over() -> str | None:
                new = self.leader(zk)
                d = self.decision(zk)
                if new and new != old and d.get("leader") == new and d["_version"] > before \
                        and old not in d.get("managers", {}):
                    return new
                return None

            # The server notices the death only when the leader's session expires (the session timeout,
            # plus up to a tick of its expiry clock); the bound leaves room for a slow machine.
            new = wait_until("a new leader", taken_over, 3 * timeout + 10)
            took = time.monotonic() - t0
            print(f"new leader {new} elected and placement republished {took:.1f} s after the kill "
                  f"(session timeout {timeout:g} s: the dead leader's session had to expire first)")
            self.show(zk, "after the takeover")
            reg, smap = self.registry(zk), self.service_map(zk)
            ok = old not in reg and all(old not in ms for ms in smap.values()) and len(reg) == n - 1
            print(f"\nold leader {old} gone from registry and service map: {ok}")
        if self.args.show_logs:
            for mid in sorted(self.managers):
                print(f"\n== {mid}.log")
                print((self.tmp / f"{mid}.log").read_text().rstrip())
        return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description="NF managers coordinating through corral: election, registry, failover.")
    ap.add_argument("--managers", type=int, default=3, help="number of manager processes (default 3)")
    ap.add_argument("--session-timeout", type=float, default=4.0, help="seconds (default 4)")
    ap.add_argument("--tick-ms", type=int, default=200, help="server tickTime (default 200)")
    ap.add_argument("--run-for", type=float, default=300.0, help="managers stop by themselves after this long")
    ap.add_argument("--show-logs", action="store_true", help="print each manager's log at the end")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = ap.parse_args()
    if args.managers < 2:
        ap.error("--managers must be at least 2 (one to kill, one to take over)")
    demo = Demo(args)
    try:
        return demo.run()
    except TimeoutError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        for name in ["server", *sorted(demo.managers)]:
            path = demo.tmp / f"{name}.log"
            if path.exists():
                print(f"--- {path.name} (tail)\n{path.read_text()[-3000:]}", file=sys.stderr)
        return 1
    finally:
        demo.stop_all()
        if args.keep:
            print(f"kept {demo.tmp}")
        else:
            shutil.rmtree(demo.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
