"""The longest serving pause while a snapshot of a big tree is taken.

    .venv/bin/python -m bench.durability.snapshot_pause --znodes 1000000 [--snapshots 3] [--servers corral,apache]

Per server: populate N znodes x 100 B (snapCount 100000), restart with snapCount=200 and let the start-up
snapshot finish. Then one client issues back-to-back synchronous `exists` on a populated znode for the
whole run, recording every latency. After a quiet baseline, a burst of ~250 setData (kazoo, pipelined)
crosses the snapCount threshold and starts a snapshot of the whole tree; the probe keeps going until the
snapshot is written (corral: its forked child has exited; Apache: a fixed window, its snapshot is a
background thread), then the next burst. Reported: exists latency max / p99.9 / p99 in the baseline and
while a snapshot is in progress, the longest gap between two consecutive answers, and corral's own
`event=snapshot_started ... fork_ms=` and `snapshot_written ... seconds=` lines. Not a test.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import threading
import time
from pathlib import Path

from bench.durability.common import HOST, free_port, last_populated, make, populate, scratch, zkproto
from kazoo.client import KazooClient

ROOT = "/pause"
SNAP_COUNT = 200
APACHE_WINDOW = 20.0


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Probe(threading.Thread):
    """Back-to-back exists() on one session; each sample = (start, latency s, snapshot child present)."""

    def __init__(self, port: int, path: str, pid: int, kind: str, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.pid, self.kind, self.max_seconds = port, path, pid, kind, max_seconds
        self.samples: list[tuple[float, float, bool]] = []
        self.stop_event = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        s = zkproto.Session(HOST, self.port, timeout=120, session_timeout_ms=30000)
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                busy = self.kind == "corral" and bool(children(self.pid))
                t0 = time.monotonic()
                err = s.exists(self.path)
                t1 = time.monotonic()
                if err:
                    self.error = f"exists returned {err}"
                    return
                busy = busy or (self.kind == "corral" and bool(children(self.pid)))
                self.samples.append((t0, t1 - t0, busy))
        except Exception as e:  # report, do not hide
            self.error = repr(e)
        finally:
            s.close()


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def wait_no_child(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while children(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def one_server(kind: str, n: int, snapshots: int, baseline: float, work: Path) -> dict:
    d = work / kind
    srv = make(kind, free_port(), d, work / f"{kind}.log").start()
    pop = populate(srv, n, ROOT)
    print(f"{kind}: populated {n} znodes ({pop.get('ops_s')}/s, rc={pop['rc']})", flush=True)
    srv.stop()
    srv = make(kind, srv.port, d, work / f"{kind}.log", snap_count=SNAP_COUNT)
    mark = len(srv.log_text())
    srv.start()
    # Let the start-up snapshot (corral: replay then fork; Apache: after loading) finish before measuring.
    if kind == "corral":
        time.sleep(1.0)
        wait_no_child(srv.pid, 600)
    else:
        time.sleep(APACHE_WINDOW)
    zk = KazooClient(hosts=srv.hostport, timeout=30)
    zk.start(timeout=120)
    zk.ensure_path("/pause-trigger")
    probe = Probe(srv.port, last_populated(ROOT, n), srv.pid, kind, max_seconds=1800)
    probe.start()
    time.sleep(baseline)
    bursts = []
    for _ in range(snapshots):
        t0 = time.monotonic()
        for ar in [zk.set_async("/pause-trigger", b"x" * 100) for _ in range(SNAP_COUNT + 50)]:
            ar.get(timeout=120)
        if kind == "corral":
            deadline = time.monotonic() + 10
            while not children(srv.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            wait_no_child(srv.pid, 600)
            time.sleep(1.0)
        else:
            time.sleep(APACHE_WINDOW)
        bursts.append((t0, time.monotonic()))
    probe.stop_event.set()
    probe.join(60)
    zk.stop()
    zk.close()
    log = srv.log_text()[mark:]
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)
    samples = probe.samples
    base = [lat for t, lat, _ in samples if t < bursts[0][0]] if bursts else []
    if kind == "corral":
        during = [lat for _, lat, busy in samples if busy]
    else:
        during = [lat for t, lat, _ in samples if any(a <= t <= b for a, b in bursts)]
    gaps = [b[0] - (a[0] + a[1]) + b[1] for a, b in itertools.pairwise(samples)]
    res = {"kind": kind, "n": n, "samples": len(samples), "error": probe.error,
           "base_max_ms": max(base, default=float("nan")) * 1000, "base_p999_ms": pct(base, 0.999) * 1000,
           "base_p99_ms": pct(base, 0.99) * 1000, "base_n": len(base),
           "snap_max_ms": max(during, default=float("nan")) * 1000, "snap_p999_ms": pct(during, 0.999) * 1000,
           "snap_p99_ms": pct(during, 0.99) * 1000, "snap_n": len(during),
           "max_gap_ms": max(gaps, default=float("nan")) * 1000,
           "fork_ms": [float(x) for x in re.findall(r"event=snapshot_started .*fork_ms=([\d.]+)", log)],
           "written_s": [float(x) for x in re.findall(r"event=snapshot_written .*seconds=([\d.]+)", log)],
           "apache_snapshots": len(re.findall(r"Snapshotting: ", log))}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", type=int, default=1_000_000)
    ap.add_argument("--snapshots", type=int, default=3, help="snapshots to trigger (1..10)")
    ap.add_argument("--baseline", type=float, default=5.0, help="probe-only seconds before the first snapshot")
    ap.add_argument("--servers", default="corral")
    a = ap.parse_args()
    n = max(1000, min(a.znodes, 2_000_000))
    work = scratch("corral-bench-pause")
    rows = []
    try:
        for kind in a.servers.split(","):
            r = one_server(kind, n, max(1, min(a.snapshots, 10)), min(max(a.baseline, 1.0), 60.0), work)
            rows.append(r)
            print(r, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| server | znodes | exists samples (baseline / during snapshot) | baseline max / p99.9 / p99 ms "
          "| during snapshot max / p99.9 / p99 ms | longest gap between answers ms | fork_ms (each) "
          "| snapshot written in s (each) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['n']:,} | {r['base_n']} / {r['snap_n']} | {r['base_max_ms']:.1f} / "
              f"{r['base_p999_ms']:.2f} / {r['base_p99_ms']:.2f} | {r['snap_max_ms']:.1f} / {r['snap_p999_ms']:.2f} / "
              f"{r['snap_p99_ms']:.2f} | {r['max_gap_ms']:.1f} | {', '.join(f'{x:g}' for x in r['fork_ms']) or '-'} | "
              f"{', '.join(f'{x:g}' for x in r['written_s']) or '-'} |")


if __name__ == "__main__":
    main()
