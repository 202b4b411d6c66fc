"""A 3-member corral ensemble against a 3-member Apache ZooKeeper 3.8 ensemble, side by side, with the
neutral C load generator (`/tmp/zkbench/zkload_st`, /work/shared/zkbench/README.md):

    .venv/bin/python -m bench.ensemble.vs_apache [--duration 5] [--warmup 1] [--repeat 2]
        [--configs 1x1,8x32] [--ops create,set,get] [--targets leader,follower] [--tick-time 2000]

Both ensembles run at once on loopback, each member its own process with real fsync (forceSync=yes), on the
zoo.cfg files Apache runs on (`tests/support/apache_ensemble.py`: the corral members are started as
`corral server <that zoo.cfg>`). Apache's JVMs run as the kit's `start_apache_zk.sh` runs them (full JIT,
the default collector, `-Xmx1g`), not with the quick-start flags of the tests. For every (op, sessions x
depth, target member) the two kinds are measured in turn, `--repeat` times, the order alternating, and the
median run is reported.

Columns: ops/s and p99 from zkload_st; "target CPU µs/op" is the target member's CPU (zkload's `--pid`,
measured over the window) per op; "ensemble CPU µs/op" is the CPU of all three members (from /proc, over
the whole zkload run: warm-up and the 1000-key setup included, so it runs a little high at 1x1) per op.
Not a test: nothing is asserted. Stops only the processes it started.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.apache_ensemble import ApacheEnsemble, EnsembleProcess
from tests.support.wait import wait_until

ZKLOAD = os.environ.get("ZKLOAD", "/tmp/zkbench/zkload_st")
#: What the kit's start_apache_zk.sh runs Apache with (the tests' flags trade speed for a quick start).
BENCH_JVM = ("-Xmx1g",)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all threads (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def zkload(member: EnsembleProcess, op: str, sessions: str, depth: str, args: argparse.Namespace,
           pids: list[int]) -> dict[str, str]:
    cmd = [ZKLOAD, "-s", member.hosts, "-o", op, "-c", sessions, "-p", depth, "-b", "100",
           "-d", str(args.duration), "-w", str(args.warmup), "--pid", str(member.pid)]
    before = sum(cpu_seconds(p) for p in pids)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 300)
    spent = sum(cpu_seconds(p) for p in pids) - before
    lines = [ln for ln in r.stdout.splitlines() if "ops_s=" in ln]
    kv = dict(re.findall(r"(\w+)=(\S+)", lines[-1])) if lines else {}
    kv["rc"] = str(r.returncode)
    if r.returncode or not lines:
        kv["stderr"] = r.stderr.strip()[-300:]
    ops_s = float(kv.get("ops_s", 0) or 0)
    if ops_s > 0:
        kv["target_us"] = f"{float(kv.get('srv_cpu', 0)) / ops_s * 1e6:.1f}"
        kv["ensemble_us"] = f"{spent / (ops_s * (args.duration + args.warmup)) * 1e6:.1f}"
    return kv


def pick(ens: ApacheEnsemble, target: str) -> EnsembleProcess:
    leader = wait_until(ens.settled, 120, "the ensemble serving")
    if target == "leader":
        return leader
    return next(m for m in ens.members if m is not leader and m.mode() == "follower")


def median(runs: list[dict[str, str]], key: str) -> float | None:
    """The median of one figure over the repeats that produced it (a failed run has none)."""
    values = [float(r[key]) for r in runs if r.get(key) not in (None, "", "-") and float(r.get("ops_s", 0) or 0) > 0]
    return statistics.median(values) if values else None


def cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--configs", default="1x1,8x32", help="sessions x depth, comma-separated")
    ap.add_argument("--ops", default="create,set,get")
    ap.add_argument("--targets", default="leader,follower", help="which member zkload_st talks to")
    ap.add_argument("--tick-time", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    args = ap.parse_args()
    if not os.access(ZKLOAD, os.X_OK):
        sys.exit(f"{ZKLOAD} missing: build the kit (cp -r /work/shared/zkbench /tmp/zkbench && "
                 "cd /tmp/zkbench && ./build.sh; it needs libzookeeper-mt-dev) or set ZKLOAD")

    base = Path(tempfile.mkdtemp(prefix="corral-vs-apache-"))
    kinds = {"apache": ApacheEnsemble(base / "apache", size=3, tick_time=args.tick_time),
             "corral": ApacheEnsemble(base / "corral", size=3, tick_time=args.tick_time, corral={1, 2, 3})}
    for m in kinds["apache"].apache + kinds["corral"].apache:
        m.jvm_flags = BENCH_JVM
    results: dict[tuple[str, str, str, str], list[dict[str, str]]] = {}
    try:
        for ens in kinds.values():
            ens.start()
        print(f"both ensembles serving; load average {os.getloadavg()}", flush=True)
        order = list(kinds)
        for conf in args.configs.split(","):
            s, d = conf.split("x")
            for op in args.ops.split(","):
                for target in args.targets.split(","):
                    for rep in range(args.repeat):
                        for kind in (order if rep % 2 == 0 else order[::-1]):
                            ens = kinds[kind]
                            member = pick(ens, target)
                            pids = [m.pid for m in ens.members if m.pid is not None]
                            time.sleep(0.5)
                            kv = zkload(member, op, s, d, args, pids)
                            results.setdefault((op, conf, target, kind), []).append(kv)
                            print(f"{kind:6} {target:8} {op:10} {conf:5} #{rep + 1} ops_s={kv.get('ops_s')} "
                                  f"p99={kv.get('p99_us')} errors={kv.get('errors')} "
                                  f"target_us={kv.get('target_us')} ensemble_us={kv.get('ensemble_us')} "
                                  f"other_cpu={kv.get('other_cpu', '-')} rc={kv['rc']} {kv.get('stderr', '')}",
                                  flush=True)
        print(f"\nload average at the end: {os.getloadavg()}\n")
        print("| op | sessions x depth | member | ops/s Apache | ops/s corral | corral/Apache | p99 µs Apache | "
              "p99 µs corral | target CPU µs/op Apache | corral | ensemble CPU µs/op Apache | corral |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for conf in args.configs.split(","):
            for op in args.ops.split(","):
                for target in args.targets.split(","):
                    a, c = results[(op, conf, target, "apache")], results[(op, conf, target, "corral")]
                    ra, rc = median(a, "ops_s"), median(c, "ops_s")
                    ratio = f"{rc / ra:.2f}" if ra and rc else "-"
                    print(f"| {op} | {conf} | {target} | {cell(ra)} | {cell(rc)} | {ratio} | "
                          + " | ".join(cell(median(x, k)) for k in ("p99_us", "target_us", "ensemble_us")
                                       for x in (a, c)) + " |")
        return 0
    finally:
        for ens in kinds.values():
            ens.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
