"""Helpers shared by the durability tests and the crash script.

The central tool is a *full dump* of a tree: every path with its data, ACL and complete Stat. It is
taken two independent ways — over the wire with kazoo from a running server, and from a `DataTree`
recovered offline — so "the same tree" can be checked across a kill, a restart, a truncation or a purge.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from corral.persistence.files import LOG_PREFIX, SNAP_PREFIX, data_extents, list_files
from corral.persistence.txnlog import decode_txn_payload, scan
from corral.tree import DataTree
from tests.support.server import CorralProcess

WAIT = 60.0  # generous bound for any wait: other test suites share this 2-core box
START_TIMEOUT = 120.0


class Entry(NamedTuple):
    """One znode as a client sees it: data, ACL and every Stat field."""

    data: bytes | None
    acl: tuple
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


Dump = dict[str, Entry]


def kazoo_client(hosts: str, timeout: float = 10.0, start_timeout: float = WAIT, **kw) -> KazooClient:
    """A started kazoo client that keeps retrying the connection (bounded by `start_timeout`)."""
    zk = KazooClient(hosts=hosts, timeout=timeout,
                     connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5), **kw)
    zk.start(timeout=start_timeout)
    return zk


def close_kazoo(zk: KazooClient) -> None:
    try:
        zk.stop()
    finally:
        zk.close()


def _join(parent: str, child: str) -> str:
    return ("" if parent == "/" else parent) + "/" + child


def dump_kazoo(zk: KazooClient, root: str = "/", with_acl: bool = True, batch: int = 2000) -> Dump:
    """Walk the whole tree with pipelined async reads (the tree must be quiescent)."""
    out: Dump = {}
    level = [root]
    while level:
        nxt: list[str] = []
        for i in range(0, len(level), batch):
            chunk = level[i:i + batch]
            pending = [(p, zk.get_async(p), zk.get_children_async(p), zk.get_acls_async(p) if with_acl else None)
                       for p in chunk]
            for p, g, c, a in pending:
                data, st = g.get(timeout=WAIT)
                kids = c.get(timeout=WAIT)
                acl = tuple((x.perms, x.id.scheme, x.id.id) for x in a.get(timeout=WAIT)[0]) if a is not None else ()
                out[p] = Entry(data, acl, st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion,
                               st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid)
                nxt.extend(_join(p, k) for k in kids)
        level = nxt
    return out


def dump_tree(tree: DataTree, with_acl: bool = True) -> Dump:
    """The same dump from an in-memory tree (Stat as a client would see it)."""
    out: Dump = {}
    for path, n in tree.node_items():
        st = n.stat()
        acl = tuple(tuple(a) for a in n.acl) if with_acl else ()
        out[path] = Entry(n.data, acl, st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion,
                          st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid)
    return out


def diff(expected: Dump, actual: Dump, limit: int = 8) -> str:
    """A readable summary of how two dumps differ ('' when equal)."""
    lines = []
    for p in sorted(expected.keys() - actual.keys())[:limit]:
        lines.append(f"missing {p}: {expected[p]}")
    for p in sorted(actual.keys() - expected.keys())[:limit]:
        lines.append(f"unexpected {p}: {actual[p]}")
    for p in sorted(expected.keys() & actual.keys()):
        if expected[p] != actual[p] and len(lines) < 3 * limit:
            fields = [f"{f}: {a!r} != {b!r}" for f, a, b in zip(Entry._fields, expected[p], actual[p], strict=True)
                      if a != b]
            lines.append(f"differs {p}: " + "; ".join(fields))
    return "\n".join(lines)


def vdir(server_root: Path) -> Path:
    """`<root>/data/version-2`: where CorralProcess(data_dir=root) keeps snapshots and logs."""
    return Path(server_root) / "data" / "version-2"


def logs_of(server_root: Path) -> list[Path]:
    return [p for _, p in list_files(vdir(server_root), LOG_PREFIX)]


def snaps_of(server_root: Path) -> list[Path]:
    return [p for _, p in list_files(vdir(server_root), SNAP_PREFIX)]


def replay_logs(paths: Iterable[Path]) -> DataTree:
    """Apply every record of these log files to a fresh tree, ignoring snapshots entirely.

    An oracle independent of snapshot loading: with every log since zxid 1 present, snapshot + log
    recovery must give exactly this tree."""
    tree = DataTree()
    for p in paths:
        records, torn = scan(p, last_file=True)
        assert torn is None, f"{p} has a torn tail at {torn}"
        for rec in records:
            hdr, txn = decode_txn_payload(rec.payload)
            tree.apply(hdr, txn)
    return tree


def copy_server_dir(src_root: Path, dst_root: Path) -> Path:
    """Copy `<src>/data` to `<dst>/data` (what a CorralProcess(data_dir=dst) restarts from)."""
    dst_root = Path(dst_root)
    if dst_root.exists():
        shutil.rmtree(dst_root)
    dst_root.mkdir(parents=True)
    shutil.copytree(Path(src_root) / "data", dst_root / "data", copy_function=copy_sparse)
    return dst_root


def copy_sparse(src: str | Path, dst: str | Path) -> None:
    """Copy a file keeping its holes: a log file is preallocated as a 64 MiB hole, and shutil writes
    every zero of it (tests that copy a data directory per damaged byte spent most of their time there)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        for start, stop in data_extents(fin.fileno(), size):
            fin.seek(start)
            fout.seek(start)
            fout.write(fin.read(stop - start))
        fout.truncate(size)
    shutil.copymode(src, dst)


def new_server(root: Path, tick_time: int = 2000, **cfg: str) -> CorralProcess:
    Path(root).mkdir(parents=True, exist_ok=True)
    return CorralProcess(data_dir=str(root), tick_time=tick_time, extra_cfg={k.replace("_", "."): str(v)
                                                                               for k, v in cfg.items()})


def start(proc: CorralProcess) -> CorralProcess:
    return proc.start(timeout=START_TIMEOUT)


@contextlib.contextmanager
def running(root: Path, tick_time: int = 2000, **cfg: str) -> Iterator[CorralProcess]:
    """A started server that is stopped however the block ends (stopping twice is harmless)."""
    proc = start(new_server(root, tick_time, **cfg))
    try:
        yield proc
    finally:
        proc.stop()


def run_until_exit(proc: CorralProcess, timeout: float = START_TIMEOUT) -> tuple[int, str]:
    """Run the server of `proc` in the foreground and expect it to exit by itself (a refused start).

    Returns (exit code, combined output). If it starts serving instead, it is stopped and the test fails."""
    cfg = proc.write_config()
    try:
        r = subprocess.run([sys.executable, "-m", "corral", "server", str(cfg)], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"server did not exit within {timeout}s (it should refuse to start): {e.stderr!r}")
    return r.returncode, r.stdout + r.stderr


def corral_cli(*args: object, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m corral ARGS` as an operator would run it."""
    return subprocess.run([sys.executable, "-m", "corral", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def srvr_zxid(proc: CorralProcess) -> int:
    """The server's last zxid as `srvr` reports it."""
    for line in proc.four_letter("srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise AssertionError("srvr did not report a Zxid")


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
