"""`corral bench`: a load generator built on `corral.client`, for corral and Apache ZooKeeper alike.

    corral bench --server 127.0.0.1:2181 --op get --sessions 8 --depth 32 --duration 5

All sessions share one event loop (uvloop when available): each session keeps `--depth` requests
outstanding, so the numbers measure the server and the pipeline rather than Python thread switching.
Latency is taken per request with `time.perf_counter_ns` and kept in a log-bucketed histogram
(<0.1 % error, constant memory, so a 10-minute run costs no more than a 1-second one).

The run works in its own subtree `/corral-bench-<pid>` (data nodes `k/<i>`, and for `--op create`
one parent per session), which is deleted afterwards — also after Ctrl-C (a second Ctrl-C aborts the
cleanup). A progress line goes to stderr once a second; the result is one line on stdout:

    op=get sessions=8 depth=32 size=100 ops=123456 ops_s=24691 p50_us=... p99_us=... p999_us=... errors=0

Operations: `create` (new persistent nodes), `set`, `get`, `exists` (random keys out of `--keys`),
`children` (lists the parent of the `--keys` nodes), `mix:R:W` (R gets per W sets, interleaved).
Errors (any KeeperError, connection losses included) are counted, never retried.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported lazily at run time, to keep `corral --help` fast
    from ..client import Client

Request = Callable[[], Awaitable[object]]
"""Issues one request of the configured kind."""

MAX_DURATION = 600.0
_OPS = ("create", "set", "get", "exists", "children")


@dataclass
class Histogram:
    """Latencies in µs, bucketed to 10 significant bits (values < 1024 µs exact)."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0

    def record(self, ns: int) -> None:
        us = ns // 1000
        if us >= 1024:
            shift = us.bit_length() - 10
            us = (us >> shift) << shift
        c = self.counts
        c[us] = c.get(us, 0) + 1
        self.total += 1

    def merge(self, other: Histogram) -> None:
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.total += other.total

    def percentile(self, p: float) -> int:
        """The smallest recorded bucket at or above the p-th percentile (0 when empty)."""
        if not self.total:
            return 0
        rank = max(1, int(self.total * p / 100.0 + 0.999999))
        seen = 0
        for k in sorted(self.counts):
            seen += self.counts[k]
            if seen >= rank:
                return k
        return max(self.counts)

    def maximum(self) -> int:
        return max(self.counts) if self.counts else 0


def parse_op(op: str) -> tuple[str, int, int]:
    """'get' → ('get', 0, 0); 'mix:9:1' → ('mix', 9, 1). Raises click.BadParameter."""
    if op in _OPS:
        return op, 0, 0
    parts = op.split(":")
    if len(parts) == 3 and parts[0] == "mix":
        try:
            r, w = int(parts[1]), int(parts[2])
        except ValueError:
            r = w = -1
        if r >= 0 and w >= 0 and r + w > 0:
            return "mix", r, w
    raise click.BadParameter(f"{op!r}: expected one of {', '.join(_OPS)} or mix:READS:WRITES (e.g. mix:9:1)")


class Bench:
    """One run: connect, set up the subtree, drive the load, report, clean up."""

    def __init__(self, server: str, op: str, sessions: int, depth: int, size: int, duration: float,
                 warmup: float, keys: int, timeout: float, progress: bool) -> None:
        self.server = server
        self.op_text = op
        self.op, self.reads, self.writes = parse_op(op)
        self.sessions = sessions
        self.depth = depth
        self.size = size
        self.duration = duration
        self.warmup = warmup
        self.keys = keys
        self.timeout = timeout
        self.progress = progress
        self.root = f"/corral-bench-{os.getpid()}"
        self.data = os.urandom(size)
        self.clients: list[Client] = []
        self.stop = asyncio.Event()
        self.interrupted = False
        self.measuring = False
        self.hist = Histogram()
        self.interval = Histogram()
        self.ops = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.created = [0] * sessions
        self.t_start = 0.0
        self.t_end = 0.0

    # ---- signals -------------------------------------------------------------------------------

    def _on_sigint(self) -> None:
        """First Ctrl-C: stop and clean up. Second: the default handler (KeyboardInterrupt) aborts."""
        self.interrupted = True
        self.stop.set()
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGINT)
        click.echo("\ncorral bench: interrupted, cleaning up (Ctrl-C again to abort)", err=True)

    # ---- phases --------------------------------------------------------------------------------

    async def run(self) -> int:
        from ..client import Client, KeeperError

        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread / Windows
            pass
        click.echo(f"corral bench: server={self.server} op={self.op_text} sessions={self.sessions} "
                   f"depth={self.depth} size={self.size} keys={self.keys} duration={self.duration:g}s "
                   f"warmup={self.warmup:g}s root={self.root}", err=True)
        self.clients = [Client(self.server, timeout=self.timeout) for _ in range(self.sessions)]
        try:
            await asyncio.gather(*(c.start() for c in self.clients))
        except KeeperError as e:
            hint = (" (servers accept at most maxClientCnxns connections per client IP, 60 by default)"
                    if self.sessions > 60 else "")
            click.echo(f"corral bench: cannot connect to {self.server}: {e}{hint}", err=True)
            await self._close()
            return 1
        try:
            try:
                await self._setup()
            except KeeperError as e:
                click.echo(f"corral bench: setup failed: {e}", err=True)
                return 1
            if not self.stop.is_set():
                await self._drive()
                self._report()
        finally:
            await self._cleanup()
            await self._close()
        return 130 if self.interrupted else 0

    async def _setup(self) -> None:
        from ..client import NodeExistsError

        admin = self.clients[0]
        if await admin.exists(self.root) is not None:  # left over by an earlier run with our pid
            await admin.delete(self.root, recursive=True)
        try:
            await admin.create(self.root)
        except NodeExistsError:
            pass
        await admin.create(f"{self.root}/k")
        if self.op == "create":
            await asyncio.gather(*(admin.create(f"{self.root}/c{i}") for i in range(self.sessions)))
            return
        chunk = 1000
        for start in range(0, self.keys, chunk):  # pipelined, spread over all sessions
            if self.stop.is_set():
                return
            await asyncio.gather(*(self.clients[i % self.sessions].create(f"{self.root}/k/{i}", self.data)
                                   for i in range(start, min(start + chunk, self.keys))))

    def _operation(self, zk: Client, session: int, worker: int) -> Request:
        """A zero-argument coroutine factory for one request of the configured kind."""
        keys = self.keys
        paths = [f"{self.root}/k/{i}" for i in range(keys)]
        data = self.data
        rand = random.Random(session * 100003 + worker).randrange
        op = self.op
        if op == "get":
            return lambda: zk.get_data(paths[rand(keys)])
        if op == "exists":
            return lambda: zk.exists(paths[rand(keys)])
        if op == "set":
            return lambda: zk.set_data(paths[rand(keys)], data)
        if op == "children":
            parent = f"{self.root}/k"
            return lambda: zk.get_children(parent)
        if op == "create":
            parent = f"{self.root}/c{session}/n"
            created = self.created

            def create() -> Awaitable[object]:
                n = created[session]
                created[session] = n + 1
                return zk.create(f"{parent}{n}", data)

            return create
        period = self.reads + self.writes
        reads = self.reads
        counter = [worker]

        def mixed() -> Awaitable[object]:
            i = counter[0]
            counter[0] = i + 1
            if i % period < reads:
                return zk.get_data(paths[rand(keys)])
            return zk.set_data(paths[rand(keys)], data)

        return mixed

    async def _worker(self, zk: Client, session: int, worker: int) -> None:
        from ..client import ClientClosedError, KeeperError, SessionExpiredError

        request = self._operation(zk, session, worker)
        clock = time.perf_counter_ns
        stop = self.stop
        while not stop.is_set():  # one request at a time per worker; `depth` workers per session
            t0 = clock()
            try:
                await request()
                failed = None
            except (SessionExpiredError, ClientClosedError) as e:
                if self.measuring:
                    self._error(e)
                return  # this session is over; its workers stop instead of spinning
            except KeeperError as e:
                failed = e
            if self.measuring and not stop.is_set():
                if failed is None:
                    ns = clock() - t0
                    self.hist.record(ns)
                    self.interval.record(ns)
                    self.ops += 1
                else:
                    self._error(failed)

    def _error(self, e: Exception) -> None:
        self.errors += 1
        name = type(e).__name__
        self.error_kinds[name] = self.error_kinds.get(name, 0) + 1

    async def _drive(self) -> None:
        workers = [asyncio.ensure_future(self._worker(zk, s, w))
                   for s, zk in enumerate(self.clients) for w in range(self.depth)]
        tty = sys.stderr.isatty()
        try:
            begin = time.monotonic()
            if self.warmup > 0:
                await self._sleep(self.warmup)
                if self.progress:
                    self._progress_line(time.monotonic() - begin, 0, tty, warmup=True)
            self.interval = Histogram()
            self.measuring = True
            self.t_start = time.monotonic()
            deadline = self.t_start + self.duration
            last_t, last_ops = self.t_start, 0
            while not self.stop.is_set():  # one progress line per second until the deadline
                now = time.monotonic()
                if now >= deadline:
                    break
                await self._sleep(min(1.0, deadline - now))
                now = time.monotonic()
                if self.progress and not self.stop.is_set():
                    rate = (self.ops - last_ops) / max(now - last_t, 1e-9)
                    self._progress_line(now - self.t_start, rate, tty)
                    self.interval = Histogram()
                last_t, last_ops = now, self.ops
            self.t_end = time.monotonic()
            self.measuring = False
        finally:
            self.stop.set()
            if self.progress and tty:
                click.echo("", err=True)
            # Every worker finishes its outstanding request (bounded by the client's timeouts).
            await asyncio.gather(*workers, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            pass

    def _progress_line(self, elapsed: float, rate: float, tty: bool, warmup: bool = False) -> None:
        if warmup:
            text = f"[warmup {elapsed:5.1f}s] done"
        else:
            h = self.interval
            text = (f"[{elapsed:6.1f}s] ops={self.ops} ops_s={rate:.0f} p50_us={h.percentile(50)} "
                    f"p99_us={h.percentile(99)} errors={self.errors}")
        if tty:
            click.echo(f"\r{text:<100}", err=True, nl=False)
        else:
            click.echo(text, err=True)

    def _report(self) -> None:
        elapsed = max((self.t_end or time.monotonic()) - self.t_start, 1e-9) if self.t_start else 0.0
        h = self.hist
        rate = self.ops / elapsed if elapsed else 0.0
        click.echo(f"op={self.op_text} sessions={self.sessions} depth={self.depth} size={self.size} "
                   f"ops={self.ops} ops_s={rate:.0f} p50_us={h.percentile(50)} p99_us={h.percentile(99)} "
                   f"p999_us={h.percentile(99.9)} max_us={h.maximum()} errors={self.errors} "
                   f"duration_s={elapsed:.2f}")
        if self.error_kinds:
            kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.error_kinds.items()))
            click.echo(f"corral bench: errors by kind: {kinds}", err=True)

    async def _cleanup(self) -> None:
        """Delete the subtree; nodes made by `--op create` are deleted by name (no huge child lists)."""
        from ..client import KeeperError, NoNodeError

        live = [c for c in self.clients if c.connected]
        if not live:
            click.echo(f"corral bench: no live session left; {self.root} was not deleted", err=True)
            return

        async def delete_created(session: int) -> None:
            zk = live[session % len(live)]
            sem = asyncio.Semaphore(max(self.depth, 64))

            async def one(path: str) -> None:
                async with sem:
                    try:
                        await zk.delete(path)
                    except NoNodeError:
                        pass

            base = f"{self.root}/c{session}/n"
            count = self.created[session]
            for start in range(0, count, 10000):  # bounded batches of tasks
                await asyncio.gather(*(one(f"{base}{n}") for n in range(start, min(start + 10000, count))))

        try:
            if any(self.created):
                await asyncio.gather(*(delete_created(s) for s in range(self.sessions)))
            await live[0].delete(self.root, recursive=True)
        except NoNodeError:
            pass
        except KeeperError as e:
            click.echo(f"corral bench: cleanup of {self.root} failed: {e}", err=True)

    async def _close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


@click.command("bench")
@click.option("--server", "-s", default="127.0.0.1:2181", show_default=True,
              help="Connect string: host:port[,host:port...][/chroot].")
@click.option("--op", "op", default="get", show_default=True,
              help="create, set, get, exists, children, or mix:R:W (R gets per W sets).")
@click.option("--sessions", type=click.IntRange(1, 1000), default=4, show_default=True, help="Client sessions.")
@click.option("--depth", type=click.IntRange(1, 10000), default=16, show_default=True,
              help="Outstanding requests per session.")
@click.option("--size", type=click.IntRange(0, 1_000_000), default=100, show_default=True,
              help="Bytes of data per node written (create, set, the --keys nodes).")
@click.option("--duration", type=click.FloatRange(0.1, MAX_DURATION), default=10.0, show_default=True,
              help=f"Measured seconds (at most {MAX_DURATION:g}).")
@click.option("--warmup", type=click.FloatRange(0, 60), default=1.0, show_default=True,
              help="Seconds of load before measuring.")
@click.option("--keys", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Nodes read/written at random by get/set/exists/mix; children lists their parent.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="Requested session timeout in seconds.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Live progress line on stderr.")
def bench(server: str, op: str, sessions: int, depth: int, size: int, duration: float, warmup: float, keys: int,
          timeout: float, progress: bool) -> None:
    """Load generator: throughput and latency percentiles of one operation against a server."""
    parse_op(op)
    b = Bench(server, op, sessions, depth, size, duration, warmup, keys, timeout, progress)
    code = _run(b.run())
    sys.exit(code)
