"""Cost as the work grows, corral and Apache ZooKeeper 3.8 side by side, interleaved in one run.

    .venv/bin/python -m bench.scale                                   # defaults below, ~3-5 min
    .venv/bin/python -m bench.scale --repeat 1 --children 20000 --sessions 1000   # a quick look
    CORRAL_PURE=1 .venv/bin/python -m bench.scale --servers corral      # the pure-Python build alone
    git worktree add /tmp/old main && (cd /tmp/old && ../path/to/.venv/bin/python scripts/compile.py)
    .venv/bin/python -m bench.scale --before-src /tmp/old/src           # + that checkout, as `before`

Rows (every one measured on each server in turn, the order alternating between repeats):

* **multi create**: `--children` (100,000) children of one fresh node, created in multis of `--multi`
  ops (1000, and 100), `--window` multis outstanding at once. Wall time, the server's CPU time, and
  the log's group writes + fsyncs in that time (mntr's fsynctime, which both servers keep).
* **getChildren / getChildren2** of that node, one call at a time, `--calls` each: median and p99 of the
  round trip (the reply is read in full but not decoded into names: the client's Python decoding of
  100,000 strings would otherwise be most of what is timed, and it is the same for both servers).
* **big multi of setData**: one multi of `--multi` (1000) setData on existing children, one at a time.
* **open sessions**: `--sessions` (5000) sessions opened, `--open-window` handshakes in flight: rate.
* **get with N idle**: get latency from one more session before and while those sessions are open.
* **fan-out**: each of the `--sessions` sessions (one watch each: ZooKeeper keeps one watcher per
  session and path, so 5000 watchers need 5000 sessions) sets a data watch on /fan; one setData; the
  time until every session has received its NodeDataChanged, `--fanouts` times.
* **close sessions**: all of them closed (closeSession each, concurrently).

The driver is `corral.client` (asyncio, pipelined) on uvloop for both servers, so its own cost is the
same on both sides. Multis are encoded before the clock starts and their replies read but not decoded
(results are checked after: the children counted, the setData versions), and the driver's garbage
collector is kept out of timed sections: otherwise the figures were mostly the Python driver's.
The server's CPU time (utime+stime of the server process from /proc, all threads:
the JVM's GC and compiler threads count for Apache, the log thread for corral) is printed beside
every wall-clock figure because the client shares the machine's two cores. Both servers run with
fsync on (their default), fresh data directories, maxClientCnxns=0; Apache is the Debian package's
jars started the way the neutral kit starts it (`start_apache_zk.sh`: full JIT, 1 GB heap), and is
given one unmeasured warm-up pass of every row first (so is corral, for symmetry).

A benchmark, not a test: prints figures, asserts nothing beyond the replies being what was asked for.
Every wait is bounded; only the processes this script started are signalled, by their PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import corral
from corral import _compiled
from corral.client import OPEN_ACL_UNSAFE, Client
from corral.client.types import WatchedEvent
from corral.protocol import (
    CreateRequest,
    GetChildren2Request,
    GetChildrenRequest,
    MultiHeader,
    OpCode,
    Record,
    SetDataRequest,
    Stat,
)
from corral.testing import four_letter, free_port

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
KIT = Path(os.environ.get("ZKBENCH", "/tmp/zkbench"))
if not (KIT / "start_apache_zk.sh").exists():
    KIT = Path("/work/shared/zkbench")
Row = dict[str, Any]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- servers -------------------------------------------------------------------------------------------


class Server:
    """One server process in its own session group, signalled only by its PID."""

    kind = "?"

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / self.kind
        self.dir.mkdir(parents=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, timeout: float = 90.0) -> None:
        argv, env = self.command()
        with open(self.dir / "server.log", "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **env}, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; see {self.dir}/server.log")
            with contextlib.suppress(OSError):
                if four_letter(self.port, "ruok", timeout=1.0) == "imok" and \
                        "not currently serving" not in four_letter(self.port, "srvr", timeout=1.0):
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer within {timeout:g} s; see {self.dir}/server.log")

    def cpu(self) -> float:
        """Seconds of CPU the server process has used so far, all its threads (ns resolution from each
        thread's schedstat; /proc/PID/stat counts in 10 ms ticks, too coarse for one call)."""
        assert self.proc is not None
        total = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9

    def fsyncs(self) -> tuple[float, float]:
        """(count, total ms) of the log's group writes + fdatasyncs so far (mntr's fsynctime summary, which
        both servers keep under the same name)."""
        fields = dict(line.split("\t", 1) for line in four_letter(self.port, "mntr", timeout=5.0).splitlines()
                      if "\t" in line)
        return float(fields.get("zk_cnt_fsynctime", 0)), float(fields.get("zk_sum_fsynctime", 0))

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class Corral(Server):
    kind = "corral"
    cprofile: Path | None = None  # run the server under cProfile, its stats written here at exit
    src: Path | None = None  # run the corral package found here (another checkout's src/) instead

    def command(self) -> tuple[list[str], dict[str, str]]:
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(f"tickTime=2000\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
                       f"clientPortAddress={HOST}\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n"
                       "admin.enableServer=false\n")
        prof = ["-m", "cProfile", "-o", str(self.cprofile)] if self.cprofile else []
        env = {"PYTHONPATH": str(self.src)} if self.src else {}
        return [sys.executable, *prof, "-m", "corral", "server", str(cfg)], env


class Before(Corral):
    """corral from another checkout (`--before-src`), e.g. main before a change, measured in the same run."""

    kind = "before"



class Apache(Server):
    kind = "apache"

    def command(self) -> tuple[list[str], dict[str, str]]:
        script = KIT / "start_apache_zk.sh"
        if not script.exists() or not Path("/usr/share/java/zookeeper.jar").exists():
            raise RuntimeError("Apache ZooKeeper needs the Debian package and the kit's start_apache_zk.sh: "
                               "sudo apt-get install -y zookeeper (see bench/README.md)")
        return [str(script), str(self.port), str(self.dir / "data")], {"ZK_EXTRA_CFG": "maxClientCnxns=0"}


# ---- measuring -----------------------------------------------------------------------------------------


class Encoded:
    """A request body serialized once, before the clock starts: the driver then only copies bytes, so the
    timed figures are the server's and the wire's (the same bytes go to both servers)."""

    def __init__(self, ops: list[tuple[int, Record]]) -> None:
        out = bytearray()
        for op, rec in ops:
            MultiHeader(op, False, -1).serialize(out)
            rec.serialize(out)
        MultiHeader(-1, True, -1).serialize(out)
        self.data = bytes(out)

    def serialize(self, out: bytearray) -> None:
        out += self.data


async def stat_of(zk: Client, path: str) -> Stat:
    st = await zk.exists(path)
    if st is None:
        raise RuntimeError(f"{path} is missing")
    return st


async def multi(zk: Client, body: Encoded) -> None:
    """Send a pre-encoded multi; its reply is read in full but not decoded (results are checked after)."""
    await zk._call(OpCode.multi, body, None)


@dataclass
class Timed:
    wall: float = 0.0
    cpu: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def timed(srv: Server) -> Iterator[Timed]:
    """Wall and server CPU time of the block. The driver's own garbage collector is kept out of it (a
    collection first, none during): with thousands of clients in this process, a full pass of the
    driver's collector stalled it for up to a second, which timed the driver, not the server."""
    t = Timed()
    gc.collect()
    gc.disable()
    try:
        c0, w0 = srv.cpu(), time.perf_counter()
        yield t
        t.wall, t.cpu = time.perf_counter() - w0, srv.cpu() - c0
    finally:
        gc.enable()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def bounded(coro: Awaitable[Any], seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(coro, seconds)
    except TimeoutError:
        raise RuntimeError(f"{what} took more than {seconds:g} s") from None


async def windowed(n: int, window: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run make(0..n-1) with at most `window` in flight, results in order."""
    out: list[Any] = [None] * n
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            out[i] = await make(i)

    await asyncio.gather(*(worker() for _ in range(min(window, n))))
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.rows: list[Row] = []

    def record(self, srv: Server, row: str, rep: int, **values: Any) -> None:
        self.rows.append({"server": srv.kind, "row": row, "rep": rep, **values})
        shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        log(f"  {srv.kind:6s} {row:28s} {shown}")

    # -- rows on one session ----------------------------------------------------------------------------

    async def children_rows(self, srv: Server, rep: int, warm: bool) -> None:
        a = self.a
        n = a.children if not warm else min(a.children, 20000)
        async with Client(srv.hosts, timeout=30.0) as zk:
            for batch in a.multi:
                parent = f"/kids-{rep}-{batch}{'-warm' if warm else ''}"
                await zk.create(parent, b"")
                names = [names_of(i, n) for i in range(n)]
                acl = list(OPEN_ACL_UNSAFE)
                bodies = [Encoded([(OpCode.create, CreateRequest(f"{parent}/{name}", b"", acl, 0))
                                   for name in names[j:j + batch]]) for j in range(0, n, batch)]
                f0 = srv.fsyncs()
                with timed(srv) as t:
                    await bounded(windowed(len(bodies), a.window, lambda j, b=bodies: multi(zk, b[j])),
                                  600, "multi creates")
                count = (await stat_of(zk, parent)).numChildren
                if count != n:
                    raise RuntimeError(f"{srv.kind}: {parent} has {count} children after the multis, not {n}")
                f1 = srv.fsyncs()
                if not warm:
                    self.record(srv, f"create {n} in multis of {batch}", rep, wall_s=t.wall, srv_cpu_s=t.cpu,
                                ops_per_s=n / t.wall, fsyncs=int(f1[0] - f0[0]),
                                fsync_ms_avg=(f1[1] - f0[1]) / max(1.0, f1[0] - f0[0]))
            parent = f"/kids-{rep}-{a.multi[0]}{'-warm' if warm else ''}"
            count = len(await zk.get_children(parent))
            if count != n:
                raise RuntimeError(f"{srv.kind}: {parent} has {count} children, expected {n}")
            for op, req in (("getChildren", GetChildrenRequest(parent, False)),
                            ("getChildren2", GetChildren2Request(parent, False))):
                lat: list[float] = []
                with timed(srv) as t:
                    for _ in range(a.calls if not warm else 5):
                        t0 = time.perf_counter()
                        await bounded(zk._call(getattr(OpCode, op), req, None), 60, op)
                        lat.append(time.perf_counter() - t0)
                if not warm:
                    self.record(srv, f"{op} of {n}", rep, p50_ms=statistics.median(lat) * 1e3,
                                p99_ms=pct(lat, 0.99) * 1e3, srv_cpu_ms_per_call=t.cpu / len(lat) * 1e3)
            size = a.multi[0]
            lat = []
            rounds = a.big_multis if not warm else 3
            bodies = [Encoded([(OpCode.setData, SetDataRequest(f"{parent}/{names_of(i, n)}", b"v%d" % k, -1))
                               for i in range(size)]) for k in range(rounds)]
            before = (await stat_of(zk, f"{parent}/{names_of(size - 1, n)}")).version
            with timed(srv) as t:
                for body in bodies:
                    t0 = time.perf_counter()
                    await bounded(multi(zk, body), 60, "big multi")
                    lat.append(time.perf_counter() - t0)
            after = (await stat_of(zk, f"{parent}/{names_of(size - 1, n)}")).version
            if after != before + rounds:
                raise RuntimeError(f"{srv.kind}: setData multis moved the version {before} -> {after}, not +{rounds}")
            if not warm:
                self.record(srv, f"multi of {size} setData", rep, p50_ms=statistics.median(lat) * 1e3,
                            p99_ms=pct(lat, 0.99) * 1e3, srv_cpu_ms_per_multi=t.cpu / len(lat) * 1e3)

    # -- rows on many sessions --------------------------------------------------------------------------

    async def get_latency(self, zk: Client, n: int) -> tuple[float, float]:
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            await zk.get_data("/fan")
            lat.append(time.perf_counter() - t0)
        return statistics.median(lat) * 1e3, pct(lat, 0.99) * 1e3

    async def session_rows(self, srv: Server, rep: int, warm: bool) -> None:
        a = self.a
        n = a.sessions if not warm else min(a.sessions, 500)
        async with Client(srv.hosts, timeout=30.0) as probe:
            if await probe.exists("/fan") is None:
                await probe.create("/fan", b"0")
            base = await self.get_latency(probe, a.gets if not warm else 200)
            clients = [Client(srv.hosts, timeout=30.0, randomize_hosts=False) for _ in range(n)]
            try:
                with timed(srv) as t:
                    await bounded(windowed(n, a.open_window, lambda i: clients[i].start()), 300, "session opens")
                if not warm:
                    self.record(srv, f"open {n} sessions", rep, wall_s=t.wall, srv_cpu_s=t.cpu,
                                sessions_per_s=n / t.wall, rss_mb=srv.rss_mb())
                await asyncio.sleep(0.5)
                idle = await self.get_latency(probe, a.gets if not warm else 200)
                if not warm:
                    self.record(srv, f"get, {n} idle sessions", rep, p50_ms=idle[0], p99_ms=idle[1],
                                p50_ms_none_idle=base[0], p99_ms_none_idle=base[1])
                for f in range(a.fanouts if not warm else 1):
                    loop = asyncio.get_running_loop()
                    done: asyncio.Future[None] = loop.create_future()
                    got = [0]

                    def on_event(ev: WatchedEvent, done: asyncio.Future[None] = done, got: list[int] = got
                                 ) -> None:
                        got[0] += 1
                        if got[0] == n and not done.done():
                            done.set_result(None)

                    await bounded(windowed(n, 256, lambda i, cb=on_event: clients[i].get_data("/fan", cb)),
                                  120, "watch registration")
                    with timed(srv) as t:
                        await probe.set_data("/fan", b"%d" % f)
                        await bounded(done, 120, f"{n} watch events")
                    if not warm:
                        self.record(srv, f"fan-out to {n} watchers", rep, wall_ms=t.wall * 1e3,
                                    srv_cpu_ms=t.cpu * 1e3, events=got[0], round=f)
                with timed(srv) as t:
                    await bounded(windowed(n, a.open_window, lambda i: clients[i].close()), 300, "session closes")
                if not warm:
                    self.record(srv, f"close {n} sessions", rep, wall_s=t.wall, srv_cpu_s=t.cpu,
                                sessions_per_s=n / t.wall)
            finally:
                await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    async def run(self, servers: list[Server]) -> None:
        groups = [g for g in (self.children_rows, self.session_rows) if g.__name__.split("_")[0] in self.a.rows]
        log("warm-up pass (not recorded)")
        for srv in servers:
            for group in groups:
                await group(srv, 0, True)
        for rep in range(1, self.a.repeat + 1):
            order = servers if rep % 2 else servers[::-1]
            log(f"repeat {rep}/{self.a.repeat}: {', '.join(s.kind for s in order)}")
            for group in groups:
                for srv in order:
                    await group(srv, rep, False)


def names_of(i: int, n: int) -> str:
    return f"{i:05d}" if n <= 100000 else str(i)


KEYS = {"create": "wall_s", "getChildren": "p50_ms", "getChildren2": "p50_ms", "multi": "p50_ms",
        "open": "sessions_per_s", "get,": "p50_ms", "fan-out": "wall_ms", "close": "sessions_per_s"}
CPU_KEYS = ("srv_cpu_s", "srv_cpu_ms_per_call", "srv_cpu_ms_per_multi", "srv_cpu_ms")
NAMES = {"corral": "corral", "before": "corral before", "apache": "Apache"}


def summary(rows: list[Row]) -> str:
    """One markdown line per row: the median over repeats for each server, corral against Apache (and
    against `before` when measured), > 1 meaning corral is better whichever way the figure runs."""
    kinds = [k for k in ("corral", "before", "apache") if any(r["server"] == k for r in rows)]
    ratios = [(a, b) for a, b in (("corral", "apache"), ("before", "apache"), ("corral", "before"))
              if a in kinds and b in kinds]
    head = ["row", "figure", *(NAMES[k] for k in kinds), *(f"{NAMES[a]} / {NAMES[b]}" for a, b in ratios),
            *(f"server CPU {NAMES[k]}" for k in kinds)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys(r["row"] for r in rows):
        mine = [r for r in rows if r["row"] == name]
        key = KEYS[name.split()[0]]
        cpu_key = next((k for k in CPU_KEYS if k in mine[0]), None)
        vals = {k: statistics.median(r[key] for r in mine if r["server"] == k) for k in kinds}
        cells = [name, key + (" (p99)" if key == "p50_ms" else "")]
        for k in kinds:
            cell = f"{vals[k]:.4g}"
            if key == "p50_ms":
                cell += f" ({statistics.median(r['p99_ms'] for r in mine if r['server'] == k):.3g})"
            cells.append(cell)
        for a, b in ratios:
            hi = key.endswith("_per_s")
            cells.append(f"{(vals[a] / vals[b] if hi else vals[b] / vals[a]):.2f}" if vals[a] and vals[b] else "")
        for k in kinds:
            cells.append(f"{statistics.median(r[cpu_key] for r in mine if r['server'] == k):.3g} "
                         f"{cpu_key.split('_')[-1]}" if cpu_key else "")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="corral,apache")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--children", type=int, default=100000)
    ap.add_argument("--multi", default="1000,100", help="ops per multi for the create rows (the first also "
                                                         "sizes the setData multi)")
    ap.add_argument("--window", type=int, default=4, help="multis outstanding at once")
    ap.add_argument("--calls", type=int, default=30, help="getChildren calls per repeat")
    ap.add_argument("--big-multis", type=int, default=20, help="setData multis per repeat")
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--open-window", type=int, default=200, help="session handshakes in flight")
    ap.add_argument("--gets", type=int, default=2000, help="gets per latency sample")
    ap.add_argument("--fanouts", type=int, default=3, help="fan-outs per repeat")
    ap.add_argument("--rows", default="children,session", help="children (multis, getChildren, the setData "
                                                                  "multi) and/or session (opens, idle, fan-out)")
    ap.add_argument("--json", type=Path, help="write every row here as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data directories")
    ap.add_argument("--before-src", type=Path, help="also measure the corral package in this directory (another "
                                                     "checkout's src/, e.g. `git worktree add /tmp/old main`), "
                                                     "interleaved with the others as `before`")
    ap.add_argument("--corral-cprofile", type=Path, help="run corral under cProfile, stats to this file "
                                                         "(with CORRAL_PURE=1 the profile shows every function)")
    args = ap.parse_args()
    try:
        args.multi = [int(x) for x in args.multi.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--multi takes comma-separated op counts, e.g. 1000,100 (got {args.multi!r})")
    counts = {"--children": args.children, "--window": args.window, "--calls": args.calls,
              "--big-multis": args.big_multis, "--sessions": args.sessions, "--open-window": args.open_window,
              "--gets": args.gets, "--fanouts": args.fanouts, "--repeat": args.repeat}
    for flag, value in counts.items():
        if value < 1:
            ap.error(f"{flag} must be at least 1 (got {value})")
    if not args.multi or min(args.multi) < 1 or max(args.multi) > min(args.children, 20000):
        ap.error(f"--multi op counts must be between 1 and --children ({args.children}, at most 20000: the "
                 "warm-up pass creates that many)")
    if args.children > 100000:
        ap.error("--children above 100,000: the getChildren reply would exceed jute.maxbuffer (1 MB)")
    groups = {g for g in args.rows.split(",") if g}
    if not groups or not groups <= {"children", "session"}:
        ap.error("--rows takes children and/or session")
    kinds = [k for k in args.servers.split(",") if k]
    if any(k not in ("corral", "apache") for k in kinds) or not kinds:
        ap.error("--servers takes corral and/or apache")
    if args.before_src and not (args.before_src / "corral" / "__init__.py").exists():
        ap.error(f"--before-src {args.before_src} holds no corral package (give a checkout's src/)")
    Corral.cprofile = args.corral_cprofile.resolve() if args.corral_cprofile else None
    root = Path(tempfile.mkdtemp(prefix="corral-scale-"))
    servers: list[Server] = [Corral(root) if k == "corral" else Apache(root) for k in kinds]
    if args.before_src:
        Before.src = args.before_src.resolve()
        Before.cprofile = None
        servers.insert(1, Before(root))
    compiled = any(_compiled.extensions_of(m) for m in _compiled.COMPILED)
    build = corral.BUILD_NOTE or ("compiled (mypyc)" if compiled else "pure Python (no compiled build)")
    log(f"corral build (this checkout): {build}; data under {root}")
    bench = Bench(args)
    try:
        import uvloop
        for srv in servers:
            srv.start()
            log(f"{srv.kind} on {srv.hosts} pid {srv.proc.pid if srv.proc else '?'}")
        uvloop.run(bench.run(servers))
    finally:
        for srv in servers:
            srv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(summary(bench.rows))
    if args.json:
        args.json.write_text(json.dumps(bench.rows, indent=1))


if __name__ == "__main__":
    main()
