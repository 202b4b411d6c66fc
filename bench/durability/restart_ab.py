"""Restart one crashed dataDir again and again with different builds of corral, alternated.

    .venv/bin/python -m bench.durability.restart_ab --src /tmp/old/src --src src [--znodes 1000000]
        [--rounds 3] [--datadir DIR]

`bench.durability.recovery` populates a fresh dataDir per run, so where the last snapshot fell (and how
many logged txns a restart commits again) differs from run to run and between builds. This benchmark
populates once — N znodes x 100 B with zkload (4 sessions), `kill -9` right after the last create, as the
recovery benchmark does — or takes `--datadir` (a stopped server's dataDir, e.g. kept from an earlier
run with `--keep`), then per round and per build: copies it afresh, starts `corral server` with that
build's sources first on PYTHONPATH (a source tree with its modules compiled in place runs compiled),
and measures from spawn to `imok` and to the last znode readable, with the process's peak RSS. Prints
one line per restart and the medians. Not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
from pathlib import Path

from bench.durability.common import Corral, free_port, last_populated, median, populate, scratch, status_kb

ROOT = "/recovery"


def crashed_datadir(work: Path, n: int) -> Path:
    """A dataDir of n znodes whose server was killed with `kill -9` right after the last create."""
    d = work / "populated"
    srv = Corral(free_port(), d, work / "populate.log").start()
    t = time.monotonic()
    pop = populate(srv, n, ROOT)
    srv.kill9()
    print(f"populated {n} znodes in {time.monotonic() - t:.0f} s ({pop.get('ops_s')}/s), killed", flush=True)
    return d / "data"


def restart(src: str, data: Path, work: Path, n: int) -> dict:
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(data, run / "data")
    os.sync()
    time.sleep(1.5)  # the copy's writeback out of the way
    srv = Corral(free_port(), run, work / "run.log")
    srv.cfg["admin.serverPort"] = str(free_port())
    os.environ["PYTHONPATH"] = src
    try:
        srv.spawn()
        imok = srv.wait_imok(120)
        ready = srv.wait_exists(last_populated(ROOT, n), 120)
        mem = status_kb(srv.pid) if srv.alive() else {}
    finally:
        srv.stop()
        os.environ.pop("PYTHONPATH", None)
    log = srv.log_text()
    rec = re.findall(r"event=recovered .*?replayed=(\d+) .*?seconds=([\d.]+)", log)
    build = re.findall(r"compiled_modules=(\S+)", log)
    return {"imok_ms": imok, "ready_ms": ready, "hwm_mb": mem.get("VmHWM", 0) / 1024,
            "rss_mb": mem.get("VmRSS", 0) / 1024, "replayed": rec[-1][0] if rec else "?",
            "recovery_s": rec[-1][1] if rec else "?", "compiled": build[-1] if build else "?"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", required=True, help="a source tree (repeat: one per build)")
    ap.add_argument("--znodes", type=int, default=1_000_000, help="znodes to populate (ignored with --datadir)")
    ap.add_argument("--rounds", type=int, default=3, help="restarts per build (1..10)")
    ap.add_argument("--datadir", type=Path, help="a crashed or stopped server's dataDir to restart")
    ap.add_argument("--keep", type=Path, help="copy the populated dataDir here for later --datadir runs")
    a = ap.parse_args()
    rounds = max(1, min(a.rounds, 10))
    n = max(1000, min(a.znodes, 2_000_000))
    srcs = [str(Path(s).resolve()) for s in a.src]
    work = scratch("corral-bench-restart-ab")
    try:
        data = a.datadir if a.datadir is not None else crashed_datadir(work, n)
        if a.keep is not None and a.datadir is None:
            shutil.copytree(data, a.keep, dirs_exist_ok=True)
        results: dict[str, list[dict]] = {s: [] for s in srcs}
        for r in range(rounds):
            for src in srcs:
                res = restart(src, data, work, n)
                results[src].append(res)
                print(f"round {r + 1} {src}: imok_ms={res['imok_ms'] and round(res['imok_ms'])} "
                      f"ready_ms={res['ready_ms'] and round(res['ready_ms'])} peak_rss={res['hwm_mb']:.0f} MB "
                      f"rss_ready={res['rss_mb']:.0f} MB recovery={res['recovery_s']} s "
                      f"replayed={res['replayed']} compiled={res['compiled']}", flush=True)
        print("\n| build | restarts | restart → imok ms | restart → last znode readable ms | peak RSS MB |")
        print("|---|---|---|---|---|")
        for src, rs in results.items():
            def col(key: str, rs: list[dict] = rs) -> str:
                xs = [x[key] for x in rs if x[key]]
                return f"{median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})" if xs else "—"
            print(f"| {src} | {len(rs)} | {col('imok_ms')} | {col('ready_ms')} | {col('hwm_mb')} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
