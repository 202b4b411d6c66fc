"""Failover time of a 3-member corral ensemble: leader killed with SIGKILL -> first acknowledged write.

    .venv/bin/python -m bench.ensemble.failover [--kills 10] [--tick-time 2000] [--clients 3] [--members 3]

Members are separate processes on 127.0.0.1 (real fsync), started by this script and signalled only by
their PIDs (the harness of tests/ensemble/cluster.py). `--clients` kazoo clients, each with the full
host list and a fast bounded reconnect policy, each start on a different member and keep one
`set` in flight at a time. For every kill:

* `first`: kill -> the first acknowledged write issued after the kill (any client);
* `all`: kill -> every client has had such a write acknowledged (the slowest client's failover);
* `election`: the new leader's own `zk_last_election_ms` (from looking to serving).

The killed member is restarted and the ensemble left to settle (every member serving, the leader with all
followers synced) before the next kill. Prints one line per kill and min/median/max. Not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, OperationTimeoutError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.ensemble.cluster import WAIT, Ensemble
from tests.support.wait import wait_until

logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter during the kills
RETRY = {"max_tries": -1, "delay": 0.02, "backoff": 1.5, "max_delay": 0.25}


class SetLoop(threading.Thread):
    """One `set` at a time on `path`; records (sent, acked) of every acknowledged one."""

    def __init__(self, client: KazooClient, path: str) -> None:
        super().__init__(daemon=True)
        self.client, self.path = client, path
        self.acks: list[tuple[float, float]] = []
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                sent = time.monotonic()
                try:
                    self.client.set_async(self.path, b"x" * 100).get(timeout=30)
                except (ConnectionLoss, OperationTimeoutError, KazooTimeoutError):
                    time.sleep(0.005)
                    continue
                self.acks.append((sent, time.monotonic()))
        except BaseException as e:
            self.error = e

    def first_after(self, t: float) -> float | None:
        for sent, acked in self.acks:
            if sent > t:
                return acked
        return None


def summary(name: str, xs: list[float]) -> str:
    return (f"{name:<9} min {min(xs) * 1000:7.0f} ms   median {statistics.median(xs) * 1000:7.0f} ms   "
            f"max {max(xs) * 1000:7.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--tick-time", type=int, default=2000, help="zoo.cfg tickTime in ms (ZooKeeper's default)")
    ap.add_argument("--session-timeout", type=float, default=None, help="kazoo session timeout, s (default "
                    "10 tickTimes)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds of writing between settling and a kill")
    ap.add_argument("--keep", action="store_true", help="keep the member directories")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="corral-failover-"))
    ens = Ensemble(base, voters=args.members, tick_time=args.tick_time)
    clients: list[KazooClient] = []
    loops: list[SetLoop] = []
    firsts, alls, elections = [], [], []
    try:
        ens.start()
        timeout = args.session_timeout or 10 * args.tick_time / 1000
        for i in range(args.clients):
            first = ens.members[i % len(ens.members)]
            c = KazooClient(hosts=ens.hosts_first(first), randomize_hosts=False, timeout=timeout,
                            connection_retry=KazooRetry(**RETRY))
            c.start(timeout=WAIT)
            clients.append(c)
            c.ensure_path(f"/failover/c{i}")
            loops.append(SetLoop(c, f"/failover/c{i}"))
        for lp in loops:
            lp.start()
        print(f"corral failover: {args.members} members, tickTime={args.tick_time} ms, {args.clients} kazoo "
              f"clients (session timeout {timeout:.1f} s), {args.kills} leader kills, dir {base}", flush=True)
        for k in range(args.kills):
            ens.wait_stable()
            time.sleep(args.settle)
            for lp in loops:
                if lp.error:
                    raise RuntimeError(f"writer failed: {lp.error!r}")
            leader = ens.leader()
            killed = time.monotonic()
            leader.kill()
            wait_until(lambda t=killed: all(lp.first_after(t) for lp in loops), WAIT,
                       "every client wrote after the kill")
            acks = [lp.first_after(killed) - killed for lp in loops]
            new = ens.leader()
            election = int(new.mntr().get("zk_last_election_ms", "-1"))
            firsts.append(min(acks))
            alls.append(max(acks))
            elections.append(election / 1000)
            print(f"kill {k + 1:2}: leader {leader.sid} (pid {leader.pid}) -> leader {new.sid}: first write "
                  f"{min(acks) * 1000:6.0f} ms, all clients {max(acks) * 1000:6.0f} ms, election "
                  f"{election} ms", flush=True)
            leader.start()
        for lp in loops:
            lp.stopped.set()
        for lp in loops:
            lp.join(WAIT)
        print(summary("first", firsts))
        print(summary("all", alls))
        print(summary("election", elections))
        print(f"load average during the run: {os.getloadavg()}")
        return 0
    finally:
        for lp in loops:
            lp.stopped.set()
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        ens.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
