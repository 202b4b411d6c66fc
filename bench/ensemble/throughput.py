"""Write and read throughput: a 3-member corral ensemble versus a standalone corral, on this machine.

    .venv/bin/python -m bench.ensemble.throughput [--duration 10] [--warmup 2] [--configs 1x1,8x32]
                     [--ops set,create,get] [--tools corral,zkload] [--tick-time 2000] [--members 3]

Both run at once (real fsync, 127.0.0.1, each member its own process, started here and signalled only by
PID); every (op, sessions x depth) is measured on the standalone server and then on the ensemble, with:

* `corral bench` (src/corral/cli/bench.py): standalone = its one address; ensemble = the full host list,
  so the sessions spread over the members (reads are served locally, writes forwarded to the leader);
* `/tmp/zkbench/zkload_st` (the neutral C load generator, /work/shared/zkbench/README.md) against one
  member: the leader, and a follower (`--pid` gives that member's CPU only).

Prints one line per run and a Markdown table (ops/s, p50/p99 µs, errors, and for zkload the server CPU
of the target member and the CPU of everything else, in cores). It also prints each member's fsync
count, which shows whether writes were group-committed. Not a test: nothing is asserted. Two cores run
the load generator, one or three servers and whatever else the machine does: read the `other` column.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.ensemble.cluster import Ensemble, parse_mntr
from tests.support.net import four_letter
from tests.support.server import CorralProcess

ZKLOAD = os.environ.get("ZKLOAD", "/tmp/zkbench/zkload_st")


def kv_line(text: str) -> dict[str, str]:
    lines = [ln for ln in text.strip().splitlines() if "ops_s=" in ln]
    return dict(re.findall(r"(\w+)=(\S+)", lines[-1])) if lines else {}


def corral_bench(hosts: str, op: str, sessions: str, depth: str, args) -> dict[str, str]:
    cmd = [sys.executable, "-m", "corral", "bench", "--server", hosts, "--op", op, "--sessions", sessions,
           "--depth", depth, "--duration", str(args.duration), "--warmup", str(args.warmup), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 300)
    kv = kv_line(r.stdout)
    kv["rc"] = str(r.returncode)
    if r.returncode:
        kv["stderr"] = r.stderr.strip()[-300:]
    return kv


def zkload(hostport: str, pid: int, op: str, sessions: str, depth: str, args) -> dict[str, str]:
    cmd = [ZKLOAD, "-s", hostport, "-o", op, "-c", sessions, "-p", depth, "-b", "100",
           "-d", str(args.duration), "-w", str(args.warmup), "--pid", str(pid)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 300)
    kv = kv_line(r.stdout)
    kv["rc"] = str(r.returncode)
    if r.returncode:
        kv["stderr"] = r.stderr.strip()[-300:]
    return kv


def fmt(v: str | None) -> str:
    if v is None:
        return "-"
    try:
        f = float(v)
    except ValueError:
        return v
    return f"{f:.0f}" if f >= 100 else f"{f:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--configs", default="1x1,8x32", help="sessions x depth, comma-separated")
    ap.add_argument("--ops", default="set,create,get")
    ap.add_argument("--tools", default="corral,zkload")
    ap.add_argument("--tick-time", type=int, default=2000)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tools = args.tools.split(",")
    if "zkload" in tools and not os.access(ZKLOAD, os.X_OK):
        sys.exit(f"{ZKLOAD} missing: build the kit (see /work/shared/zkbench/README.md) or pass --tools corral")

    base = Path(tempfile.mkdtemp(prefix="corral-ens-throughput-"))
    standalone = CorralProcess(data_dir=str(base / "standalone"), tick_time=args.tick_time)
    (base / "standalone").mkdir()
    ens = Ensemble(base / "ensemble", voters=args.members, tick_time=args.tick_time)
    rows: list[tuple[str, str, str, str, dict[str, str]]] = []
    try:
        standalone.start(timeout=60)
        leader = ens.start().wait_stable()
        follower = next(m for m in ens.members if m is not leader)
        print(f"standalone pid {standalone.proc.pid} on {standalone.hosts}; ensemble of {args.members} "
              f"(tickTime {args.tick_time}): leader {leader.sid} pid {leader.pid}, follower {follower.sid} pid "
              f"{follower.pid}; load average {os.getloadavg()}", flush=True)
        for conf in args.configs.split(","):
            s, d = conf.split("x")
            for op in args.ops.split(","):
                runs: list[tuple[str, str, str, int]] = []  # (tool, target, hosts, pid)
                if "corral" in tools:
                    runs += [("corral bench", "standalone", standalone.hosts, standalone.proc.pid),
                             ("corral bench", f"ensemble ({args.members} hosts)", ens.hosts, 0)]
                if "zkload" in tools:
                    runs += [("zkload_st", "standalone", standalone.hosts, standalone.proc.pid),
                             ("zkload_st", "ensemble leader", leader.hostport, leader.pid),
                             ("zkload_st", "ensemble follower", follower.hostport, follower.pid)]
                for tool, target, hosts, pid in runs:
                    time.sleep(0.5)
                    if tool == "zkload_st":
                        kv = zkload(hosts, pid, op, s, d, args)
                    else:
                        kv = corral_bench(hosts, op, s, d, args)
                    rows.append((tool, target, op, conf, kv))
                    print(f"{tool:12} {target:22} {op:6} {conf:5} ops_s={kv.get('ops_s')} p50={kv.get('p50_us')} "
                          f"p99={kv.get('p99_us')} errors={kv.get('errors')} srv_cpu={kv.get('srv_cpu', '-')} "
                          f"other_cpu={kv.get('other_cpu', '-')} rc={kv['rc']} {kv.get('stderr', '')}", flush=True)
        fs = {"standalone": parse_mntr(four_letter("127.0.0.1", standalone.port, "mntr"))}
        for m in ens.members:
            fs[f"member {m.sid} ({m.mode()})"] = m.mntr()
        print("\nfsyncs: " + ", ".join(f"{k}: {v.get('zk_fsync_count')} fsyncs / {v.get('zk_txnlog_appended')} txns"
                                       for k, v in fs.items()))
        print(f"load average at the end: {os.getloadavg()}\n")
        print("| tool | server | op | conf | ops/s | p50 µs | p99 µs | errors | server cores | other cores |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for tool, target, op, conf, kv in rows:
            print(f"| {tool} | {target} | {op} | {conf} | {fmt(kv.get('ops_s'))} | {fmt(kv.get('p50_us'))} | "
                  f"{fmt(kv.get('p99_us'))} | {kv.get('errors', 'rc=' + kv['rc'])} | {fmt(kv.get('srv_cpu'))} | "
                  f"{fmt(kv.get('other_cpu'))} |")
        return 0
    finally:
        ens.close()
        standalone.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
