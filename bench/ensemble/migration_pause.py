"""The write pause of a rolling migration: Apache ZooKeeper -> corral -> Apache, one member at a time.

    .venv/bin/python -m bench.ensemble.migration_pause [--rounds 1] [--observers 1] [--tick-time 500]

Runs the procedure of docs/migration.md as tests/ensemble/test_rolling_migration.py does (the same
`RollingMigration`, tests/ensemble/rolling.py): an Apache 3.8 ensemble of 3 voters (and `--observers`)
on 127.0.0.1, a kazoo client creating znodes one at a time with the full host list, and each member
swapped in turn (observers, followers, the leader last; SIGTERM, the other server started on the same
zoo.cfg and dataDir, `corral migrate check` until it passes). For every swap it prints the time from
the SIGTERM to a passing check and the longest gap between two acknowledged writes in that time (from
the last write acknowledged before the SIGTERM), then the figures per kind of swap. Needs the Debian
`zookeeper` package and Java. Not a test: nothing is asserted about the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from tests.ensemble.clients import Writer, close_kazoo, start_kazoo
from tests.ensemble.cluster import WAIT
from tests.ensemble.rolling import SESSION_TIMEOUT, RollingMigration, Swap
from tests.support.apache_ensemble import ApacheEnsemble
from tests.support.wait import wait_until

logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter during the swaps


def summary(name: str, swaps: list[Swap]) -> str:
    ms = [s.pause * 1000 for s in swaps]
    return (f"{name:<22} n={len(ms):<3} pause min {min(ms):5.0f} ms   median {statistics.median(ms):5.0f} ms   "
            f"max {max(ms):5.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="full migrations there and back")
    ap.add_argument("--observers", type=int, default=1)
    ap.add_argument("--tick-time", type=int, default=500, help="zoo.cfg tickTime in ms")
    ap.add_argument("--keep", action="store_true", help="keep the member directories")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="corral-migration-"))
    ens = ApacheEnsemble(base, size=3, observers=args.observers, tick_time=args.tick_time)
    writer: Writer | None = None
    try:
        ens.start()
        setup = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
        setup.ensure_path("/bench/w")
        close_kazoo(setup)
        writer = Writer(start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT), "/bench/w")
        writer.start()
        wait_until(lambda: writer.error or len(writer.acked) >= 200, WAIT, "the writer under way")
        roll = RollingMigration(ens, writer)
        roll.check()
        print(f"rolling migration: 3 voters + {args.observers} observer(s), tickTime={args.tick_time} ms, one kazoo "
              f"writer (one create at a time, session timeout {SESSION_TIMEOUT:g} s), dir {base}", flush=True)
        for _ in range(args.rounds):
            for _ in range(2):  # there, then back
                for sid in roll.order():
                    s = roll.swap(sid)
                    print(f"swap {len(roll.swaps):2}: member {s.sid} ({s.role:<8}) -> {s.to:<6}: {s.seconds:5.1f} s "
                          f"to a passing check, longest write pause {s.pause * 1000:6.0f} ms", flush=True)
        writer.stop()
        for role in ("observer", "follower", "leader"):
            for to in ("corral", "apache"):
                picked = [s for s in roll.swaps if s.role == role and s.to == to]
                if picked:
                    print(summary(f"{role} -> {to}", picked))
        print(f"{len(writer.acked)} acknowledged writes, {writer.retries} retried; load average {os.getloadavg()}")
        return 0
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        if writer is not None:
            close_kazoo(writer.client)
        ens.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
