"""Where a big multi's time goes, in-process: one multi of `--ops` setData (on that many of `--leaves`
leaves under one parent) through each stage of the write path, ms per multi.

    .venv/bin/python -m bench.multi_cpu [--multis 200] [--ops 1000] [--leaves 100000]
    CORRAL_PURE=1 .venv/bin/python -m bench.multi_cpu                 # the pure-Python fallback

Stages: request decode (`server.writes.decode_write`), prepare (`Preparer.prepare`), log encoding
(`encode_txn_payload`), apply (`DataTree.apply` + `Preparer.committed`), reply (`replies.write_body`
framed, and the multi's records freed). The collector runs with the thresholds the server serves with
(`server.memory.SERVING_THRESHOLDS`), the tree frozen after it is built, as the server freezes it.
No sockets, no disk: `bench.scale`'s "multi of 1000 setData" row is the end-to-end figure. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import time

from corral import _compiled
from corral.persistence.txnlog import encode_txn_payload
from corral.protocol.constants import OpCode
from corral.protocol.records import ACL, CreateRequest, Id, MultiHeader, SetDataRequest
from corral.server import replies
from corral.server.memory import SERVING_THRESHOLDS
from corral.server.writes import decode_write
from corral.tree import DataTree
from corral.txn.prepare import Preparer

SESSION = 0x100
OPEN = [ACL(31, Id("world", "anyone"))]
STAGES = ("decode", "prepare", "encode", "apply", "reply")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--multis", type=int, default=200)
    ap.add_argument("--ops", type=int, default=1000, help="setData per multi")
    ap.add_argument("--leaves", type=int, default=100000)
    a = ap.parse_args()
    tree = DataTree()
    tree.sessions[SESSION] = 30000
    prep = Preparer(tree)
    zxid = 0
    for path in ["/p"] + [f"/p/n{i:07d}" for i in range(a.leaves)]:
        zxid += 1
        hdr, txn = prep.prepare(zxid, SESSION, 0, OpCode.create, CreateRequest(path, b"", OPEN, 0), [], 1000)
        tree.apply(hdr, txn)
        prep.committed(zxid)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    bodies = []
    for k in range(a.multis):
        out = bytearray()
        for i in range(a.ops):
            MultiHeader(OpCode.setData, False, -1).serialize(out)
            SetDataRequest(f"/p/n{i:07d}", b"v%d" % k, -1).serialize(out)
        MultiHeader(-1, True, -1).serialize(out)
        bodies.append(bytes(out))
    spent = [0.0] * len(STAGES)
    for body in bodies:
        zxid += 1
        t0 = time.perf_counter()
        rec = decode_write(OpCode.multi, body)
        t1 = time.perf_counter()
        hdr, txn = prep.prepare(zxid, SESSION, 1, OpCode.multi, rec, [], 1000)
        t2 = time.perf_counter()
        encode_txn_payload(hdr, txn)
        t3 = time.perf_counter()
        res = tree.apply(hdr, txn)
        prep.committed(zxid)
        t4 = time.perf_counter()
        replies.frame(1, zxid, 0, replies.write_body(OpCode.multi, res, None))
        del rec, txn, res
        t5 = time.perf_counter()
        for i, (start, end) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
            spent[i] += end - start
    mods = _compiled.loaded_compiled()
    print(f"build: {'compiled' if mods else 'pure'} ({len(mods)}/{len(_compiled.COMPILED)} modules compiled); "
          f"a multi of {a.ops} setData, ms per multi over {a.multis}:")
    print("  " + "  ".join(f"{n}={t / a.multis * 1e3:.3f}" for n, t in zip(STAGES, spent, strict=True))
          + f"  total={sum(spent) / a.multis * 1e3:.3f}")


if __name__ == "__main__":
    main()
