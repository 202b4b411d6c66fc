"""Bytes per znode of the in-memory tree, and what loading its snapshot costs, in-process.

    .venv/bin/python -m bench.tree_memory [--znodes 1000000] [--fanout 1000] [--size 100]
    CORRAL_PURE=1 .venv/bin/python -m bench.tree_memory            # the pure-Python fallback

Builds the tree `bench.durability.recovery` populates (`/recovery/p<i/fanout>/n<i%fanout>`, `--size`-byte
values, distinct zxids and times) through `DataTree.create_entry` (`create_node` before packed leaves),
writes its snapshot, then, in a fresh child process, loads that snapshot the way recovery does
(`load_snapshot` inside `memory.bulk_load`).
Prints: tracemalloc bytes per znode of the built tree, split by what holds them (sizes as allocated:
CPython rounds small objects up to 16 bytes), process RSS per znode, and for the load its time, RSS after
it and peak RSS (the high-water mark, file bytes included). Not a test; figures depend on the build in use
(printed).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import corral
from corral import _compiled
from corral.persistence.snapshot import load_snapshot, write_snapshot
from corral.server import memory
from corral.tree import DataTree
from corral.tree import acl as aclmod


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hwm_kb() -> int:
    """VmHWM: the peak of this address space (ru_maxrss would carry the parent's over exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def build(n: int, fanout: int, size: int) -> DataTree:
    tree = DataTree()
    filler = b"v" * size
    acl = aclmod.OPEN_ACL_UNSAFE
    zxid = 0x100000000
    time0 = 1_760_000_000_000
    zxid += 1
    create = getattr(tree, "create_entry", tree.create_node)  # create_node returns a Node copy of a packed leaf
    create("/recovery", b"", acl, 0, -1, zxid, time0)
    for i in range(n):
        if i % fanout == 0:
            zxid += 1
            create(f"/recovery/p{i // fanout}", b"", acl, 0, -1, zxid, time0 + zxid)
        zxid += 1
        value = (i.to_bytes(8, "big") + filler)[:size]  # a bytes object of its own, as a client's
        create(f"/recovery/p{i // fanout}/n{i % fanout}", value, acl, 0, -1, zxid, time0 + zxid)
    tree.last_zxid = zxid
    return tree


def rounded(size: int) -> int:
    """What pymalloc hands out for a small object (16-byte classes up to 512 bytes)."""
    return (size + 15) // 16 * 16 if size <= 512 else size


def breakdown(tree: DataTree) -> dict[str, float]:
    """Bytes per znode by holder, from sys.getsizeof over every object the tree owns (shared ACLs and
    small cached ints excluded; an int is counted once per distinct object)."""
    n = len(tree.nodes)
    out: Counter[str] = Counter()
    seen: set[int] = set()
    out["nodes dict (path -> Node or record)"] = sys.getsizeof(tree.nodes)
    for path, node in tree.nodes.items():
        out["path strings (dict keys)"] += rounded(sys.getsizeof(path))
        if isinstance(node, bytes):  # a packed leaf: Stat, ACL number, flags and data in one object
            out["packed leaf records"] += rounded(sys.getsizeof(node))
            continue
        out["Node objects"] += rounded(sys.getsizeof(node))
        if node.data is not None:
            out["data bytes"] += rounded(sys.getsizeof(node.data))
        kids = getattr(node, "kids", None)
        if kids is not None:  # a Children object (its `paths` set holds the dict's own key strings)
            out["children containers"] += rounded(sys.getsizeof(kids)) + sys.getsizeof(kids.paths)
        old = getattr(node, "__dict__", None) is None and type(getattr(type(node), "children", None)) is not property
        if old and isinstance(node.children, set):  # before: a set of names per node, leaves included
            out["children containers"] += sys.getsizeof(node.children)
            for name in node.children:
                if id(name) not in seen:
                    seen.add(id(name))
                    out["child name strings"] += rounded(sys.getsizeof(name))
        for field in ("czxid", "mzxid", "pzxid", "ctime", "mtime", "ephemeral_owner"):
            v = getattr(node, field, None)
            # Compiled, a native class keeps ints unboxed: each getattr boxes a new one, held by nobody.
            boxed = v is getattr(node, field, None)
            if isinstance(v, int) and boxed and not -5 <= v <= 256 and id(v) not in seen:
                seen.add(id(v))
                out["Stat ints (boxed)"] += rounded(sys.getsizeof(v))
        stat = getattr(node, "stat_bytes", None)
        if isinstance(stat, bytes):
            out["packed Stat bytes"] += rounded(sys.getsizeof(stat))
    return {k: v / n for k, v in out.items()}


def measure_build(n: int, fanout: int, size: int) -> dict[str, object]:
    """RSS of the tree built untraced; tracemalloc's count on a separate build of up to 200k znodes
    (tracing a million allocations costs more memory than the tree)."""
    m = min(n, 200_000)
    tracemalloc.start()
    small = build(m, fanout, size)
    traced = tracemalloc.get_traced_memory()[0] / len(small.nodes)
    tracemalloc.stop()
    del small
    gc.collect()
    r0 = rss_kb()
    t0 = time.perf_counter()
    with memory.bulk_load():
        tree = build(n, fanout, size)
    secs = time.perf_counter() - t0
    r1 = rss_kb()
    return {"tree": tree, "build_s": secs, "traced_per_znode": traced,
            "rss_per_znode": (r1 - r0) * 1024 / len(tree.nodes), "breakdown": breakdown(tree)}


def load_child(path: str) -> None:
    """In a fresh process: load the snapshot as recovery does; print figures as JSON."""
    base = rss_kb()
    t0 = time.perf_counter()
    with memory.bulk_load():
        snap = load_snapshot(Path(path))
    secs = time.perf_counter() - t0
    print(json.dumps({"load_s": secs, "rss_base_mb": base / 1024, "rss_after_mb": rss_kb() / 1024,
                      "hwm_mb": hwm_kb() / 1024, "nodes": len(snap.tree.nodes)}))


def build_name() -> str:
    compiled = _compiled.loaded_compiled()
    return f"compiled ({len(compiled)}/{len(_compiled.COMPILED)} modules)" if compiled else "pure Python"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--znodes", type=int, default=1_000_000)
    ap.add_argument("--fanout", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--load-child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.load_child:
        load_child(a.load_child)
        return
    n = max(1000, min(a.znodes, 5_000_000))
    res = measure_build(n, max(1, a.fanout), max(0, a.size))
    tree = res.pop("tree")
    assert isinstance(tree, DataTree)
    print(f"corral {corral.__version__}, {build_name()}, {len(tree.nodes):,} znodes of {a.size} B")
    print(f"built in {res['build_s']:.2f} s: tracemalloc {res['traced_per_znode']:.0f} B/znode, "
          f"RSS {res['rss_per_znode']:.0f} B/znode")
    bd = res["breakdown"]
    assert isinstance(bd, dict)
    print("| held by | B/znode |\n|---|---|")
    for k, v in sorted(bd.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.0f} |")
    print(f"| total (sys.getsizeof, rounded) | {sum(bd.values()):.0f} |")
    with tempfile.TemporaryDirectory(prefix="corral-tree-memory-") as d:
        t0 = time.perf_counter()
        snap = write_snapshot(tree, Path(d))
        wrote = time.perf_counter() - t0
        size = snap.stat().st_size
        del tree
        gc.collect()
        out = subprocess.run([sys.executable, "-m", "bench.tree_memory", "--load-child", str(snap)],
                             capture_output=True, text=True, env={**os.environ}, check=True)
        load = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"snapshot: {size / 1e6:.0f} MB written in {wrote:.2f} s; loaded in a fresh process in "
          f"{load['load_s']:.2f} s: RSS {load['rss_base_mb']:.0f} MB before, {load['rss_after_mb']:.0f} MB after, "
          f"peak {load['hwm_mb']:.0f} MB ({(load['rss_after_mb'] - load['rss_base_mb']) * 1048576 / n:.0f} B/znode "
          f"after, {(load['hwm_mb'] - load['rss_base_mb']) * 1048576 / n:.0f} B/znode at the peak)")


if __name__ == "__main__":
    main()
