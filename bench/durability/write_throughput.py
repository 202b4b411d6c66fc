"""Write throughput with forceSync=yes and forceSync=no: corral beside Apache ZooKeeper, interleaved.

    .venv/bin/python -m bench.durability.write_throughput [--duration 10] [--repeat 1]
                     [--servers corral,apache] [--ops set,create] [--configs 1x1,8x32]

For each forceSync value a fresh corral and a fresh Apache ZooKeeper run side by side; every
(op, sessions x depth) is measured on one server and then the other (order alternating per repeat), with
/tmp/zkbench/zkload_st (closed loop, 100-byte data, 2 s warm-up). Prints a Markdown table: median over the
repeats of ops/s, p50/p99 latency, and server CPU per op (the figure least disturbed by other load on a
shared box). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import time

from bench.durability.common import HOST, free_port, make, median, scratch, zkload, zkproto


def run(args) -> list[dict]:
    work = scratch("corral-bench-writes")
    rows = []
    try:
        for fs in args.force_sync:
            servers = [make(kind, free_port(), work / f"{kind}-fs{fs}", work / f"{kind}-fs{fs}.log",
                            force_sync=(fs == "yes")).start() for kind in args.servers]
            try:
                for srv in servers:  # discarded warm-up (JIT, allocator) as run_all.sh does
                    zkload("-s", srv.hostport, "-o", "mix:50:50", "-c", "8", "-p", "32", "-d", str(args.warmup_run),
                           "-w", "0")
                for rep in range(args.repeat):
                    for op in args.ops:
                        for conf in args.configs:
                            s, d = conf.split("x")
                            order = servers if rep % 2 == 0 else servers[::-1]
                            for srv in order:
                                other, _ = zkproto.wait_quiet(srv.pid, 0.25, 30)
                                kv = zkload("-s", srv.hostport, "-o", op, "-c", s, "-p", d, "-b", "100",
                                            "-d", str(args.duration), "-w", "2", "--pid", str(srv.pid))
                                kv.update(server=srv.kind, forceSync=fs, op=op, conf=conf, rep=str(rep),
                                          other_before=f"{other:.2f}")
                                rows.append(kv)
                                print(f"forceSync={fs} {srv.kind:6} {op:6} {conf:5} rep {rep + 1}: "
                                      f"ops_s={kv.get('ops_s')} p50={kv.get('p50_us')} p99={kv.get('p99_us')} "
                                      f"errors={kv.get('errors')} srv_cpu={kv.get('srv_cpu')} "
                                      f"other_cpu={kv.get('other_cpu')} rc={kv['rc']}", flush=True)
            finally:
                for srv in servers:
                    fsyncs = zkproto.mntr(HOST, srv.port).get("zk_fsync_count") if srv.kind == "corral" else None
                    if fsyncs:
                        print(f"  corral forceSync={fs}: zk_fsync_count={fsyncs}", flush=True)
                    srv.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def table(rows: list[dict], servers: list[str]) -> str:
    def cell(kind: str, fs: str, op: str, conf: str) -> tuple[str, float]:
        rs = [r for r in rows if (r["server"], r["forceSync"], r["op"], r["conf"]) == (kind, fs, op, conf)
              and r["rc"] == "0" and r.get("errors") == "0"]
        if not rs:
            return "failed", 0.0
        ops = median([float(r["ops_s"]) for r in rs])
        p50 = median([float(r["p50_us"]) for r in rs])
        p99 = median([float(r["p99_us"]) for r in rs])
        cpu = median([float(r["srv_cpu"]) * 1e6 / float(r["ops_s"]) for r in rs if float(r["ops_s"]) > 0])
        return f"{ops:,.0f} | {p50:,.0f} | {p99:,.0f} | {cpu:,.0f}", ops

    head = "| forceSync | op | sessions x depth | " + " | ".join(
        f"{k} ops/s | {k} p50 µs | {k} p99 µs | {k} CPU µs/op" for k in servers)
    if len(servers) == 2:
        head += f" | {servers[0]}/{servers[1]} ops |"
    else:
        head += " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    keys = sorted({(r["forceSync"], r["op"], r["conf"]) for r in rows}, key=lambda k: (k[0] == "no", k[1], k[2]))
    for fs, op, conf in keys:
        cells = [cell(k, fs, op, conf) for k in servers]
        line = f"| {fs} | {op} | {conf} | " + " | ".join(c[0] for c in cells)
        if len(cells) == 2:
            line += f" | {cells[0][1] / cells[1][1]:.2f} |" if cells[1][1] else " | - |"
        else:
            line += " |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="measured seconds per run (1..60)")
    ap.add_argument("--repeat", type=int, default=1, help="repeats (1..5)")
    ap.add_argument("--servers", default="corral,apache")
    ap.add_argument("--ops", default="set,create")
    ap.add_argument("--configs", default="1x1,8x32")
    ap.add_argument("--force-sync", default="yes,no")
    ap.add_argument("--warmup-run", type=int, default=5, help="discarded 8x32 mix run per server, seconds")
    ap.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    a = ap.parse_args()
    a.duration = max(1, min(a.duration, 60))
    a.warmup_run = max(1, min(a.warmup_run, 30))
    a.repeat = max(1, min(a.repeat, 5))
    a.servers, a.ops = a.servers.split(","), a.ops.split(",")
    a.configs, a.force_sync = a.configs.split(","), a.force_sync.split(",")
    t0 = time.monotonic()
    rows = run(a)
    print(f"\n{len(rows)} runs in {time.monotonic() - t0:.0f}s (zkload_st, 100 B data, {a.duration} s measured, "
          f"2 s warm-up, median of {a.repeat})\n")
    print(table(rows, a.servers))


if __name__ == "__main__":
    main()
