"""getChildren of one node with many children, served repeatedly and right after each change.

    ZKBENCH=/tmp/corral-zkbench .venv/bin/python -m bench.children_listing [--children 100000] [--calls 30]
        [--servers corral,apache]

Per server (fresh, standalone, forceSync=yes): creates `--children` children of /big in multis of 1000
(kazoo), then times `--calls` getChildren of /big in a row ("repeated": corral answers from its cached
vector) and `--calls` rounds of create-one-child + getChildren ("after a change": the listing a child
watcher does after each event, so the cache is rebuilt every time). Reports per getChildren: wall ms
(raw requests, the reply read whole but not decoded) and the server's CPU ms (/proc utime+stime over the
calls). Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import struct
import time

from bench.durability.common import HOST, free_port, make, median, scratch, zkproto
from kazoo.client import KazooClient

OP_CREATE, OP_GETCHILDREN = 1, 8


class Raw:
    """One session on the kit's raw client; replies read whole, not decoded."""

    def __init__(self, port: int) -> None:
        self.s = zkproto.Session(HOST, port, timeout=60)

    def call(self, op: int, body: bytes) -> tuple[int, int]:
        err, reply = self.s._call(op, body)
        return err, len(reply)

    def get_children(self, path: str) -> int:
        err, size = self.call(OP_GETCHILDREN, zkproto._ustring(path) + b"\0")
        assert err == 0, err
        return size

    def create(self, path: str) -> None:
        acl = struct.pack(">i", 1) + struct.pack(">i", 31) + zkproto._ustring("world") + zkproto._ustring("anyone")
        err, _ = self.call(OP_CREATE, zkproto._ustring(path) + struct.pack(">i", 1) + b"x" + acl
                           + struct.pack(">i", 0))
        assert err == 0, err

    def close(self) -> None:
        self.s.close()


def populate(port: int, n: int) -> float:
    zk = KazooClient(hosts=f"{HOST}:{port}", timeout=30)
    zk.start(timeout=60)
    t = time.monotonic()
    try:
        zk.create("/big", b"")
        for start in range(0, n, 1000):
            tx = zk.transaction()
            for i in range(start, min(n, start + 1000)):
                tx.create(f"/big/child-{i:07d}", b"v")
            assert all(r == f"/big/child-{i:07d}" for i, r in zip(range(start, n), tx.commit(), strict=False))
    finally:
        zk.stop()
        zk.close()
    return time.monotonic() - t


def measure(kind: str, n: int, calls: int, work) -> dict[str, float]:
    srv = make(kind, free_port(), work / kind, work / f"{kind}.log").start()
    try:
        pop_s = populate(srv.port, n)
        raw = Raw(srv.port)
        try:
            size = raw.get_children("/big")  # warm (corral: builds the cached vector)
            out: dict[str, float] = {"populate_s": pop_s, "reply_bytes": size}
            walls = []
            cpu0 = zkproto.proc_cpu_s(srv.pid)
            for _ in range(calls):
                t = time.perf_counter()
                raw.get_children("/big")
                walls.append((time.perf_counter() - t) * 1000)
            out["repeated_cpu_ms"] = (zkproto.proc_cpu_s(srv.pid) - cpu0) * 1000 / calls
            out["repeated_ms"] = median(walls)
            walls = []
            cpu0 = zkproto.proc_cpu_s(srv.pid)
            for i in range(calls):
                raw.create(f"/big/extra-{i}")
                t = time.perf_counter()
                raw.get_children("/big")
                walls.append((time.perf_counter() - t) * 1000)
            out["changed_cpu_ms"] = (zkproto.proc_cpu_s(srv.pid) - cpu0) * 1000 / calls  # create included
            out["changed_ms"] = median(walls)
            return out
        finally:
            raw.close()
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--children", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--servers", default="corral")
    a = ap.parse_args()
    n = max(1, min(a.children, 1_000_000))
    calls = max(1, min(a.calls, 1000))
    work = scratch("corral-bench-children")
    socket.setdefaulttimeout(60)
    try:
        print("| server | children | getChildren repeated: ms (server CPU ms) | after a change: ms "
              "(server CPU ms, create included) | reply bytes | populate s |\n|---|---|---|---|---|---|")
        for kind in a.servers.split(","):
            r = measure(kind, n, calls, work)
            print(f"| {kind} | {n:,} | {r['repeated_ms']:.2f} ({r['repeated_cpu_ms']:.2f}) | {r['changed_ms']:.2f} "
                  f"({r['changed_cpu_ms']:.2f}) | {r['reply_bytes']:,.0f} | {r['populate_s']:.1f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
