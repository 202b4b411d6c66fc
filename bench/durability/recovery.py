"""Crash-recovery time and peak memory: N znodes x 100 B, kill -9, restart on the same dataDir.

    .venv/bin/python -m bench.durability.recovery --znodes 1000000 [--repeat 1] [--servers corral,apache]

Per run: fresh dataDir, start (snapCount 100000, forceSync=yes), populate N znodes with zkload (4 sessions,
fan-out 1000), `kill -9` as soon as the last create is acknowledged, restart, and measure from the restart's
spawn: `imok_ms` (first `imok`), `ready_ms` (a new session sees the *last* created znode), the restarted
process's peak RSS (VmHWM, i.e. the high-water mark of recovery) and RSS once ready, and check that all N
znodes are back (getChildren over the tree). corral's own recovery line (snapshot used, txns replayed,
seconds) is printed too. Same method as /tmp/zkbench/startup_probe.py, plus VmHWM. Not a test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time

from bench.durability.common import (
    count_populated,
    free_port,
    last_populated,
    make,
    median,
    populate,
    scratch,
    status_kb,
    zkproto,
)

ROOT = "/recovery"


def one_run(kind: str, n: int, work, i: int) -> dict:
    d = work / f"{kind}-{n}-{i}"
    srv = make(kind, free_port(), d, work / f"{kind}-{n}-{i}.log").start()
    t = time.monotonic()
    pop = populate(srv, n, ROOT)
    pop_s = time.monotonic() - t
    rss_populated = status_kb(srv.pid).get("VmRSS")
    srv.kill9()  # right after the last create was acknowledged
    other, _ = zkproto.wait_quiet(None, 0.25, 60)
    mark = len(srv.log_text())
    srv.spawn()
    imok = srv.wait_imok()
    ready = srv.wait_exists(last_populated(ROOT, n))
    mem = status_kb(srv.pid)
    found = count_populated(srv.port, ROOT) if ready is not None else -1
    tail = srv.log_text()[mark:]
    srv.stop()
    res = {"kind": kind, "n": n, "imok_ms": imok, "ready_ms": ready, "hwm_mb": mem.get("VmHWM", 0) / 1024,
           "rss_ready_mb": mem.get("VmRSS", 0) / 1024, "rss_populated_mb": (rss_populated or 0) / 1024,
           "found": found, "populate_s": pop_s, "populate_rate": pop.get("ops_s"), "populate_rc": pop["rc"],
           "other_cpu_before": other}
    m = re.search(r"event=recovered snapshot=(\S+) log_files=(\d+) replayed=(\d+) .*seconds=([\d.]+)", tail)
    if m:
        res["corral_recovery"] = (f"snapshot={m.group(1).rsplit('/', 1)[-1]} replayed={m.group(3)} txns from "
                                  f"{m.group(2)} log file(s) in {m.group(4)} s")
    shutil.rmtree(d, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", default="100000,1000000", help="comma-separated sizes")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size and server (1..5)")
    ap.add_argument("--servers", default="corral")
    a = ap.parse_args()
    repeat = max(1, min(a.repeat, 5))
    sizes = [max(1000, min(int(x), 2_000_000)) for x in a.znodes.split(",")]
    work = scratch("corral-bench-recovery")
    results = []
    try:
        for n in sizes:
            for i in range(repeat):
                for kind in a.servers.split(","):
                    r = one_run(kind, n, work, i)
                    results.append(r)
                    print(f"{kind:6} n={n:>8} run {i + 1}: imok_ms={r['imok_ms'] and round(r['imok_ms'])} "
                          f"ready_ms={r['ready_ms'] and round(r['ready_ms'])} peak_rss(VmHWM)={r['hwm_mb']:.0f} MB "
                          f"rss_ready={r['rss_ready_mb']:.0f} MB rss_before_kill={r['rss_populated_mb']:.0f} MB "
                          f"found={r['found']}/{n} populate={r['populate_s']:.0f}s ({r['populate_rate']}/s) "
                          f"other_cpu={r['other_cpu_before']:.2f} {r.get('corral_recovery', '')}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| server | znodes | runs | restart → imok ms | restart → last znode readable ms | peak RSS (VmHWM) MB "
          "| RSS when ready MB | RSS before kill MB | all znodes back |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in a.servers.split(","):
        for n in sizes:
            rs = [r for r in results if r["kind"] == kind and r["n"] == n]
            ok = [r for r in rs if r["ready_ms"] is not None]

            def med(key: str, rs=ok) -> str:
                vals = [r[key] for r in rs if r[key] is not None]
                return f"{median(vals):,.0f}" + (f" ({min(vals):,.0f}-{max(vals):,.0f})" if len(vals) > 1 else "") \
                    if vals else "-"

            print(f"| {kind} | {n:,} | {len(rs)} | {med('imok_ms')} | {med('ready_ms')} | {med('hwm_mb')} | "
                  f"{med('rss_ready_mb')} | {med('rss_populated_mb')} | "
                  f"{sum(r['found'] == n for r in rs)}/{len(rs)} |")


if __name__ == "__main__":
    main()
