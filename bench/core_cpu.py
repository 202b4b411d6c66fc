"""CPU per write in the pure write core, in-process: prepare + log encoding + apply (no sockets, no disk).

    .venv/bin/python -m bench.core_cpu [--ops 50000] [--repeat 3]                 # the build in use
    .venv/bin/python -m bench.core_cpu --digest-log                               # while `hash` keeps its log
    CORRAL_PURE=1 .venv/bin/python -m bench.core_cpu                              # the pure-Python fallback

Prints the best of `--repeat` runs in process-CPU µs per op for creates and setData of 100-byte values
(Preparer.prepare, encode_txn_payload, DataTree.apply, Preparer.committed) and for decoding a logged
setData (what a follower or a recovery does per transaction), and which build ran (compiled modules
loaded / all). `--digest-log` measures with the digest log the AdminServer's `hash` attaches to the
tree while it is being asked for (corral.tree.digestlog). Process CPU time, not wall time: other load
on the machine moves it far less. Not a test.
"""

from __future__ import annotations

import argparse
import time

import corral
from corral import _compiled
from corral.persistence.txnlog import decode_txn_payload, encode_txn_payload
from corral.protocol.constants import OpCode
from corral.protocol.records import ACL, CreateRequest, Id, SetDataRequest
from corral.tree import DataTree
from corral.tree.digestlog import attach
from corral.txn.prepare import Preparer

SESSION = 0x100
OPEN = [ACL(31, Id("world", "anyone"))]


def one_run(n: int, digest_log: bool = False) -> tuple[float, float, float]:
    tree = DataTree()
    if digest_log:
        attach(tree)
    tree.sessions[SESSION] = 30000
    prep = Preparer(tree)
    zxid = 0
    value, value2 = b"x" * 100, b"y" * 100
    payload = b""
    t0 = time.process_time()
    for i in range(n):
        zxid += 1
        hdr, txn = prep.prepare(zxid, SESSION, i, OpCode.create, CreateRequest(f"/n{i}", value, OPEN, 0), [], 1000)
        encode_txn_payload(hdr, txn)
        tree.apply(hdr, txn)
        prep.committed(zxid)
    t1 = time.process_time()
    for i in range(n):
        zxid += 1
        hdr, txn = prep.prepare(zxid, SESSION, i, OpCode.setData, SetDataRequest(f"/n{i}", value2, -1), [], 1000)
        payload = encode_txn_payload(hdr, txn)
        tree.apply(hdr, txn)
        prep.committed(zxid)
    t2 = time.process_time()
    for _ in range(n):
        decode_txn_payload(payload)
    t3 = time.process_time()
    return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, (t3 - t2) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--digest-log", action="store_true", help="with the digest log of `hash` attached")
    args = ap.parse_args()
    runs = []
    for r in range(args.repeat):
        runs.append(one_run(args.ops, args.digest_log))
        print(f"run {r + 1}/{args.repeat}: create {runs[-1][0]:.2f} set {runs[-1][1]:.2f} decode {runs[-1][2]:.2f}",
              flush=True)
    best = [min(col) for col in zip(*runs, strict=True)]
    compiled = len(_compiled.loaded_compiled())
    build = "compiled" if compiled else corral.BUILD_NOTE or "pure Python (no compiled build)"
    build += " with the digest log" if args.digest_log else ""
    print(f"build={build} ops={args.ops} best of {args.repeat}: create {best[0]:.2f} us/op  "
          f"set {best[1]:.2f} us/op  decode-setData {best[2]:.2f} us/op")


if __name__ == "__main__":
    main()
