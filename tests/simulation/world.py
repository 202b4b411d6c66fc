"""A deterministic simulated ensemble running the real server code on a fake network, disk and clock.

Each simulated server is corral's own `QuorumHost` (the quorum core, the one write path, sessions,
the group-committed log) and `Frontend` (sessions on connections, every request handler, the sans-I/O
connection), exactly as the asyncio server runs them; only the four things the host is given are
simulated:

* **clock**: per-server monotonic clocks with slightly different rates, driven by simulated time; a
  paused process (SIGSTOP) sees the whole pause at its next tick, as a real one does;
* **disk**: corral's real transaction log files, snapshots and epoch files in a temporary
  directory, with the page cache simulated: appended bytes are durable only once their simulated
  fsync completes, and a crash cuts each file at a random byte between what is durable and what was
  written (torn tails, lost unsynced writes); restarts run the real recovery on those files;
* **network**: peer messages are encoded, delayed, lost, duplicated, reordered and partitioned (the
  core's own protocol copes); client connections are byte streams (TCP: ordered, held across a
  partition, closed by either side) carrying ZooKeeper's wire protocol;
* **event loop**: `call_soon` runs after a random short delay when the host "is busy".

Clients speak the wire protocol: sessions with timeouts and pings, reconnects to other servers with
the same session, writes (setData of unique values), reads after sync, ephemeral nodes, silences long
enough to lose a session, and attempts to use a session after being told it expired.

Servers run with read-only mode on (`readonlymode.enabled`): a member cut off long enough turns
read-only and back; the clients never ask for read-only sessions, so it refuses them as a looking
member does, and the checks below hold unchanged.

Everything random comes from one `random.Random(seed)` and events are ordered by (time, sequence),
so a seed replays exactly. The `Oracle` checks, as things happen: every server applies a prefix of
one history; every committed transaction is durable on a quorum of voters; one leader per epoch
proposes and commits; no `Anomaly`; no transaction of a session commits after its closeSession; a
client told SESSIONEXPIRED only after that session's closeSession committed, and never succeeds with
it again; a session's ephemerals are gone from every server once its closeSession is applied there.
At the end: the client history is linearizable (writes and sync-then-read), every server serves
again, and every session without a live client has expired everywhere.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.persistence import decode_txn_payload, recover, write_snapshot
from corral.persistence.epochs import ACCEPTED, CURRENT, read_epoch, write_epoch
from corral.persistence.files import version_dir
from corral.persistence.snapshot import install_snapshot
from corral.persistence.txnlog import TxnLogWriter, remove_all, truncate_after
from corral.protocol import (
    ConnectRequest,
    ConnectResponse,
    CreateMode,
    CreateRequest,
    Err,
    GetDataRequest,
    GetDataResponse,
    Id,
    OpCode,
    ReconfigRequest,
    ReplyHeader,
    SetDataRequest,
    SyncRequest,
    TxnHeader,
)
from corral.protocol.records import ACL
from corral.quorum import Anomaly, Message, Recovered, Role, decode, format_zxid, zxid_epoch
from corral.quorum.messages import NewLeader, Vote
from corral.server.config import ServerConfig, ServerSpec
from corral.server.frontend import Frontend, Link
from corral.server.host import TICKS_PER_TICKTIME, HostObserver, QuorumHost
from corral.server.reconfig import parse_membership_text
from corral.tree import ApplyResult, DataTree
from corral.tree.acl import OPEN_ACL_UNSAFE
from corral.txn import AnyTxn

from .linearizability import Op, check_history

TICK_TIME = 100  # ms of simulated time per zoo.cfg tickTime; the core ticks every TICK_TIME / 10
TICK = TICK_TIME // TICKS_PER_TICKTIME  # simulated ms per core tick (the unit `ticks` counts in)
KEYS = ("/k0", "/k1", "/k2")
OPEN_ACL = [ACL(31, Id("world", "anyone"))]
WALL_BASE = 1_800_000_000_000
_FRAME = struct.Struct(">i")


class Violation(AssertionError):
    """An invariant broke; the message says which, at what time."""


class ServerCrashed(Exception):
    """Raised inside a server's code to crash it right there (e.g. in the middle of a Ready)."""


@dataclass
class Params:
    """Everything a seed decides about a run (printed with --verbose)."""

    voters: int
    observers: int
    log_window: int
    lat_max: int
    p_spike: float
    p_loss: float
    p_dup: float
    p_reorder: float
    fault_gap: int
    p_mid_ready_crash: float
    clients: int
    keys: int
    snap_every: int
    fsync_max: int
    busy: bool  # hosts' call_soon runs a little later, letting work pile up as in a busy loop
    rate_drift: float  # per-server clock rate within 1 +- this
    p_hint: float
    p_silence: float  # after an op, chance a client goes silent long enough to lose its session
    p_zombie: float  # chance a client told "expired" tries the dead session again
    session_timeouts: tuple[int, int]
    unsafe: frozenset[str] = frozenset()
    host_unsafe: frozenset[str] = frozenset()

    @classmethod
    def draw(cls, rng: random.Random, unsafe: frozenset[str] = frozenset(),
             host_unsafe: frozenset[str] = frozenset()) -> Params:
        low = rng.choice((200, 400, 600))
        return cls(
            voters=rng.choice((1, 3, 3, 5, 5)),
            observers=rng.choice((0, 0, 1, 2)),
            log_window=rng.choice((2, 4, 8, 32, 500)),
            lat_max=rng.choice((3, 6, 12)),
            p_spike=rng.choice((0.0, 0.01, 0.03)),
            p_loss=rng.choice((0.0, 0.002, 0.01, 0.03)),
            p_dup=rng.choice((0.0, 0.005, 0.02)),
            p_reorder=rng.choice((0.0, 0.003, 0.01)),
            fault_gap=rng.choice((80, 150, 300)),
            p_mid_ready_crash=rng.choice((0.0, 0.002, 0.01)),
            clients=rng.choice((2, 3, 4)),
            keys=rng.choice((1, 2, 3)),
            snap_every=rng.choice((0, 5, 25)),
            fsync_max=rng.choice((4, 8, 30)),
            busy=rng.random() < 0.5,
            rate_drift=rng.choice((0.0, 0.002, 0.01)),
            p_hint=rng.choice((0.0, 0.5)),
            p_silence=rng.choice((0.0, 0.02, 0.06)),
            p_zombie=rng.choice((0.3, 1.0)),
            session_timeouts=(low, low + rng.choice((200, 600))),
            unsafe=unsafe,
            host_unsafe=host_unsafe,
        )


# ---- disk ---------------------------------------------------------------------------------------


class SimStore:
    """`LogStore` on corral's real log and snapshot files, with a simulated page cache.

    Appends are written at once (the real `TxnLogWriter`, without fsync) and become durable when
    their simulated fsync completes, in order. Truncations, snapshot installs, local snapshots and
    epoch files are durable when the call returns, as the real storage makes them. `crash()` cuts
    every log file at a random byte between its durable length and its written length.
    """

    def __init__(self, world: World, server: SimServer, root: Path) -> None:
        self.world = world
        self.server = server
        self.root = root
        self.dir = version_dir(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.writer: TxnLogWriter | None = None
        self.durable_len: dict[Path, int] = {}
        self.durable: dict[int, bytes] = {}  # zxid -> payload of log records known durable
        self.durable_snap = 0
        self.unsynced: list[tuple[int, Path, int, list[tuple[int, bytes]]]] = []  # (seq, file, end, batch)
        self.appends = 0
        self.fsync_clock = 0
        self.since_snap = 0

    def open(self) -> None:
        """A new process: a fresh writer (the next append starts a new file, as after a restart)."""
        self.writer = TxnLogWriter(self.dir, force_sync=False)

    def holds(self, zxid: int, payload: bytes) -> bool:
        return zxid <= self.durable_snap or self.durable.get(zxid) == payload

    def _maybe_crash(self) -> None:
        w = self.world
        if not w.quiet and w.params.p_mid_ready_crash and w.rng.random() < w.params.p_mid_ready_crash:
            w.trace(f"server {self.server.pid} crashes in the middle of a Ready")
            raise ServerCrashed()

    # -- LogStore

    def write_epochs(self, accepted: int, current: int) -> None:
        write_epoch(self.dir, ACCEPTED, accepted)
        write_epoch(self.dir, CURRENT, current)

    def append(self, batch: list[tuple[int, bytes]], done: Callable[[BaseException | None], None]) -> None:
        writer = self.writer
        assert writer is not None
        before = writer.path
        writer.append(batch)
        if before is not None and writer.path != before:
            self._durable_file(before)  # closing a rolled file fsyncs it (the real writer does)
        assert writer.path is not None
        self.appends += 1
        self.unsynced.append((self.appends, writer.path, writer.size, batch))
        w = self.world
        self.fsync_clock = max(self.fsync_clock, w.now) + w.rng.randint(1, w.params.fsync_max)
        self.server.at(self.fsync_clock, self._fsynced, self.appends, done)
        self._maybe_crash()

    def _durable_file(self, path: Path) -> None:
        if path.exists():
            self.durable_len[path] = path.stat().st_size
        keep = []
        for entry in self.unsynced:
            if entry[1] == path:
                self.durable.update(entry[3])
            else:
                keep.append(entry)
        self.unsynced = keep

    def _fsynced(self, seq: int, done: Callable[[BaseException | None], None]) -> None:
        """The fsync of append `seq` completed: it and every earlier append are durable."""
        for _seq, path, end, batch in [e for e in self.unsynced if e[0] <= seq]:
            if path.exists():
                self.durable_len[path] = max(self.durable_len.get(path, 0), min(end, path.stat().st_size))
            self.durable.update(batch)
        self.unsynced = [e for e in self.unsynced if e[0] > seq]
        done(None)

    def truncate_after(self, zxid: int) -> None:
        assert self.writer is not None
        self.writer.close()
        sizes = {p: p.stat().st_size for p in self.dir.glob("log.*")}
        truncate_after(self.dir, zxid)
        for path, size in sizes.items():
            if not path.exists():
                self.durable_len.pop(path, None)
            elif path.stat().st_size != size:  # cut and fsynced by truncate_tail
                self.durable_len[path] = path.stat().st_size
                for _seq, p, _end, batch in self.unsynced:
                    if p == path:
                        self.durable.update(e for e in batch if e[0] <= zxid)
        self.unsynced = [(q, p, e, [x for x in b if x[0] <= zxid]) for q, p, e, b in self.unsynced if p.exists()]
        self.durable = {z: p for z, p in self.durable.items() if z <= zxid}
        self._maybe_crash()

    def install_snapshot(self, data: bytes) -> DataTree:
        assert self.writer is not None
        self.writer.close()
        remove_all(self.dir)
        self.durable_len.clear()
        self.durable.clear()
        self.unsynced.clear()
        tree, _path = install_snapshot(data, self.dir)
        self.durable_snap = tree.last_zxid
        self.world.oracle.installed(self.server, tree.last_zxid)
        return tree

    def applied(self, count: int, tree: DataTree) -> None:
        every = self.world.params.snap_every
        if not every:
            return
        self.since_snap += count
        if self.since_snap >= every:
            self.snapshot_now(tree)

    def snapshot_now(self, tree: DataTree) -> None:
        self.since_snap = 0
        assert self.writer is not None
        self.writer.roll()
        write_snapshot(tree, self.dir)
        self.durable_snap = max(self.durable_snap, tree.last_zxid)

    # -- the process dies

    def crash(self, rng: random.Random) -> None:
        """Power loss: each log file keeps its durable bytes and a random part of what was written."""
        if self.writer is not None and self.writer.fd is not None:
            os.close(self.writer.fd)
            self.writer.fd = None
        for path in sorted(self.dir.glob("log.*")):
            size = path.stat().st_size
            durable = self.durable_len.get(path, 0)
            if size > durable:
                keep = rng.randint(durable, size)
                with open(path, "r+b") as f:
                    f.truncate(keep)
        # what survived by luck is not "known durable"; only the durable index counts
        self.unsynced.clear()
        self.durable_len = {p: p.stat().st_size for p in self.dir.glob("log.*")}

    def recover(self) -> tuple[DataTree, Recovered]:
        """What a restarting server reads back: the real recovery (torn tails included)."""
        report = recover(self.root, self.root, replay=False)
        tree = report.tree
        self.durable = {}
        for z, p in report.entries:
            self.durable[z] = p
        self.durable_snap = tree.last_zxid
        state = Recovered(accepted_epoch=read_epoch(self.dir, ACCEPTED), current_epoch=read_epoch(self.dir, CURRENT),
                          log_base=tree.last_zxid, log=report.entries, applied_zxid=tree.last_zxid)
        return tree, state


# ---- clock, loop, network for one server --------------------------------------------------------


class SimClock:
    def __init__(self, world: World, rate: float, offset: float) -> None:
        self.world = world
        self.rate = rate
        self.offset = offset

    def monotonic_ms(self) -> float:
        return self.offset + self.world.now * self.rate

    def wall_ms(self) -> int:
        return WALL_BASE + self.world.now

    def seconds(self) -> float:
        return self.monotonic_ms() / 1000


class SimScheduler:
    def __init__(self, server: SimServer) -> None:
        self.server = server

    def call_soon(self, fn: Callable[[], None]) -> None:
        w = self.server.world
        delay = w.rng.randint(0, 3) if w.params.busy and not w.quiet else 0
        self.server.at(w.now + delay, fn)


class SimPeers:
    def __init__(self, server: SimServer) -> None:
        self.server = server

    def send(self, to: int, msg: Message) -> None:
        self.server.world.send(self.server.pid, to, msg)


class Observer(HostObserver):
    def __init__(self, world: World, server: SimServer) -> None:
        self.world = world
        self.server = server

    def proposed(self, host: QuorumHost, zxid: int) -> None:
        self.world.oracle.on_propose(self.server, zxid)

    def committing(self, host: QuorumHost, entries: list[tuple[int, bytes]]) -> None:
        if host.peer.role is Role.LEADING:
            self.world.oracle.on_leader_commit(self.server, host.peer.epoch)

    def applied(self, host: QuorumHost, zxid: int, payload: bytes, hdr: TxnHeader, txn: AnyTxn,
                res: ApplyResult) -> None:
        self.world.oracle.on_apply(self.server, zxid, payload, hdr)

    def anomaly(self, host: QuorumHost, ev: Anomaly) -> None:
        self.world.oracle.fail(f"server {self.server.pid} saw an anomaly from {ev.peer}: {ev.description}")


# ---- a server process ----------------------------------------------------------------------------


class SimServer:
    """One member: its disk outlives its processes; each start builds a new host and frontend."""

    def __init__(self, world: World, pid: int, root: Path, config: ServerConfig) -> None:
        self.world = world
        self.pid = pid
        self.config = config
        self.store = SimStore(world, self, root)
        rng = world.rng
        drift = world.params.rate_drift
        self.clock = SimClock(world, 1 + rng.uniform(-drift, drift), rng.uniform(0, 1e6))
        self.alive = False
        self.paused = False
        self.incarnation = 0
        self.held: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self.host: QuorumHost | None = None
        self.frontend: Frontend | None = None
        self.pos = 0  # how many entries of the global history this process has applied

    # -- lifecycle

    def start(self) -> None:
        w = self.world
        self.incarnation = w.rng.getrandbits(60)
        self.alive = True
        self.paused = False
        self.held = []
        w.trace(f"server {self.pid} starts (incarnation {self.incarnation:x})")
        tree, state = self.store.recover()
        self.store.open()
        w.oracle.restarted(self, tree.last_zxid)
        frontend = Frontend(self.config, self.clock.seconds, lambda link, cmd: "", self._fatal)
        host = QuorumHost(self.pid, self.config, tree, state, self.store, SimPeers(self), self.clock,
                          SimScheduler(self), frontend, self.incarnation, Observer(w, self),
                          core_overrides={"log_window": w.params.log_window, "unsafe": w.params.unsafe},
                          unsafe=w.params.host_unsafe)
        frontend.host = host
        self.host, self.frontend = host, frontend
        self.run(host.start)
        self.at(w.now + w.rng.randint(1, TICK), self._tick)
        self.at(w.now + w.rng.randint(1, TICK_TIME), self._frontend_tick)

    def _fatal(self, reason: str) -> None:
        raise Violation(f"t={self.world.now}: server {self.pid} stopped: {reason}")

    def crash(self) -> None:
        if not self.alive:
            return
        w = self.world
        self.alive = False
        self.paused = False
        self.held = []
        w.stats["crashes"] += 1
        w.trace(f"server {self.pid} crashes")
        self.store.crash(w.rng)
        self.host = None
        self.frontend = None
        for wire in list(w.wires):
            if wire.server is self:
                wire.server_gone()

    def pause(self, duration: int) -> None:
        if not self.alive or self.paused:
            return
        self.paused = True
        self.world.stats["pauses"] += 1
        self.world.trace(f"server {self.pid} paused for {duration}")
        self.world.at(self.world.now + duration, self.resume, self.incarnation)

    def resume(self, incarnation: int) -> None:
        if not self.alive or incarnation != self.incarnation or not self.paused:
            return
        self.world.trace(f"server {self.pid} resumes")
        self.paused = False
        held, self.held = self.held, []
        for fn, args in held:
            if not self.alive or self.paused:
                if self.alive:
                    self.held.append((fn, args))
                continue
            self.run(fn, *args)

    # -- running code of this process

    def at(self, time: int, fn: Callable[..., None], *args: Any) -> None:
        """Schedule `fn` in this process (dropped if it dies first, held while it is paused)."""
        self.world.at(time, self._event, self.incarnation, fn, args)

    def _event(self, incarnation: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        if not self.alive or incarnation != self.incarnation:
            return
        if self.paused:
            self.held.append((fn, args))
            return
        self.run(fn, *args)

    def run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except ServerCrashed:
            self.crash()
            self.world.at(self.world.now + self.world.rng.randint(2 * TICK, 30 * TICK), self.world.restart, self.pid)

    def _tick(self) -> None:
        assert self.host is not None
        self.host.tick()
        self.at(self.world.now + TICK, self._tick)

    def _frontend_tick(self) -> None:
        assert self.frontend is not None
        self.frontend.tick()
        self.at(self.world.now + TICK_TIME, self._frontend_tick)


# ---- client connections ---------------------------------------------------------------------------


class Wire:
    """One TCP connection between a client and a server process: ordered bytes each way, held (not
    lost) while the path is cut, gone when either end closes or the server process dies."""

    def __init__(self, world: World, client: SimClient, server: SimServer) -> None:
        self.world = world
        self.client = client
        self.server = server
        self.incarnation = server.incarnation
        self.link: Link | None = None
        self.open = True
        self.server_closed = False
        self.clock = {"up": 0, "down": 0}
        self.held: dict[str, list[tuple[str, bytes]]] = {"up": [], "down": []}
        world.wires[self] = None
        world.stats["connections"] += 1
        self._carry("up", "open", b"")

    def cut(self) -> bool:
        return (self.client.node, self.server.pid) in self.world.blocked

    def _carry(self, direction: str, kind: str, data: bytes) -> None:
        if not self.open and kind != "close":
            return
        if self.cut():
            self.held[direction].append((kind, data))
            return
        w = self.world
        when = max(w.now + w.rng.randint(1, w.params.lat_max), self.clock[direction])
        self.clock[direction] = when
        if direction == "up":
            self.server.at(when, self._at_server, kind, data)
        else:
            w.at(when, self._at_client, kind, data)

    def heal(self) -> None:
        if self.cut():
            return
        for direction in ("up", "down"):
            held, self.held[direction] = self.held[direction], []
            for kind, data in held:
                self._carry(direction, kind, data)

    # server side (runs inside the server process)

    def _at_server(self, kind: str, data: bytes) -> None:
        frontend = self.server.frontend
        if frontend is None or self.server.incarnation != self.incarnation:
            return
        if kind == "open":
            if not self.open:
                return
            self.link = frontend.open(self, (self.client.node, 0))
            if self.link is None:
                self.close()
        elif self.link is not None:
            if kind == "data":
                frontend.data_received(self.link, data)
            else:
                frontend.connection_lost(self.link)

    def write(self, data: bytes | bytearray) -> None:  # frontend.Transport
        if not self.server_closed:
            self._carry("down", "data", bytes(data))

    def close(self) -> None:  # frontend.Transport: the server closes
        if not self.server_closed:
            self.server_closed = True
            self._carry("down", "close", b"")

    def server_gone(self) -> None:
        """The server process died: the client sees a reset soon."""
        if self.open:
            self.world.at(self.world.now + self.world.rng.randint(1, self.world.params.lat_max), self._at_client,
                          "close", b"")

    # client side

    def send(self, data: bytes) -> None:
        self._carry("up", "data", data)

    def client_close(self) -> None:
        if self.open:
            self._carry("up", "close", b"")
            self.open = False
            self.world.wires.pop(self, None)

    def _at_client(self, kind: str, data: bytes) -> None:
        if not self.open:
            return
        if kind == "close":
            self.open = False
            self.world.wires.pop(self, None)
            self.client.on_closed(self)
        else:
            self.client.on_bytes(self, data)


# ---- clients ------------------------------------------------------------------------------------


@dataclass
class ClientOp:
    client: int
    kind: str  # "w" write, "r" read after sync, "e" ephemeral create
    key: str
    value: str | None
    call: int
    session: int
    ret: int | None = None
    done: bool = False
    failed: bool = False  # definitely had no effect
    timed_out: bool = False


@dataclass
class SimClient:
    """A ZooKeeper client on the wire protocol (what kazoo does, reduced to what the checks need)."""

    world: World
    cid: int
    timeout: int
    node: str = ""
    wire: Wire | None = None
    connected: bool = False
    sid: int = 0
    passwd: bytes = b"\0" * 16
    asked_sid: int = 0
    buf: bytearray = field(default_factory=bytearray)
    xid: int = 0
    pending: dict[int, tuple[str, ClientOp | None]] = field(default_factory=dict)
    op: ClientOp | None = None
    n: int = 0
    last_zxid: int = 0
    last_send: int = 0
    last_recv: int = 0
    silent_until: int = 0
    history: list[ClientOp] = field(default_factory=list)
    ephemerals: dict[int, list[str]] = field(default_factory=dict)
    zombie: tuple[int, bytes] | None = None
    zombie_attempt: bool = False
    probe: bool = False
    probe_target: Any = None
    admin: bool = False  # issues reconfigs (a participant becomes an observer or back) instead of ops

    def __post_init__(self) -> None:
        self.node = f"c{self.cid}"

    # -- connection

    def connect(self) -> None:
        w = self.world
        if self.wire is not None or w.stopped:
            return
        server = w.servers[w.rng.choice(w.server_ids)] if not self.probe else self.probe_target
        if self.zombie is not None and not self.probe:
            sid, passwd = self.zombie
            self.zombie = None
            self._open(server, sid, passwd, zombie=True)
            return
        self._open(server, self.sid, self.passwd)

    def _open(self, server: SimServer, sid: int, passwd: bytes, zombie: bool = False) -> None:
        w = self.world
        if not server.alive:
            w.at(w.now + w.rng.randint(5, 30), self.connect)
            return
        self.wire = Wire(w, self, server)
        self.buf = bytearray()
        self.connected = False
        self.asked_sid = sid
        self.zombie_attempt = zombie
        req = ConnectRequest(0, self.last_zxid if not zombie else 0, self.timeout, sid, passwd, False)
        self._send(req.to_bytes())
        self.last_recv = w.now

    def _send(self, payload: bytes) -> None:
        assert self.wire is not None
        self.wire.send(_FRAME.pack(len(payload)) + payload)
        self.last_send = self.world.now

    def drop(self, why: str) -> None:
        """Give up on the connection (read timeout): whatever is in flight has an unknown outcome."""
        if self.wire is not None:
            self.world.trace(f"client {self.cid} drops its connection: {why}")
            self.wire.client_close()
        self._lost()

    def on_closed(self, wire: Wire) -> None:
        if wire is self.wire:
            self._lost()

    def _lost(self) -> None:
        self.wire = None
        self.connected = False
        for _xid, (_kind, op) in list(self.pending.items()):
            if op is not None:
                self.world.abandon(op)
        self.pending.clear()
        if self.op is not None and self.op.done:
            self.op = None
        w = self.world
        w.at(w.now + w.rng.randint(1, 20), self.connect)

    def on_bytes(self, wire: Wire, data: bytes) -> None:
        if wire is not self.wire:
            return
        self.buf += data
        self.last_recv = self.world.now
        while len(self.buf) >= 4:
            (n,) = _FRAME.unpack_from(self.buf)
            if len(self.buf) < 4 + n:
                return
            frame = bytes(self.buf[4:4 + n])
            del self.buf[:4 + n]
            if not self.connected:
                self._on_connect(ConnectResponse.from_bytes(frame))
            else:
                self._on_reply(frame)
            if wire is not self.wire:
                return

    def _on_connect(self, resp: ConnectResponse) -> None:
        w = self.world
        asked = self.asked_sid
        if resp.timeOut <= 0:
            if asked:
                w.told_expired(self, asked, "reconnect refused" if not self.zombie_attempt else "zombie refused")
            if not self.zombie_attempt and asked == self.sid:
                self.sid, self.passwd = 0, b"\0" * 16
            if self.wire is not None:
                self.wire.client_close()
            self._lost()
            return
        if asked and asked in w.expired_at:
            w.oracle.fail(f"client {self.cid}: session 0x{asked & 0xFFFFFFFFFFFFFFFF:x} was told it expired at "
                          f"t={w.expired_at[asked]} and was accepted again")
        if self.zombie_attempt:
            if self.wire is not None:
                self.wire.client_close()
            self._lost()
            return
        self.connected = True
        self.sid, self.passwd = resp.sessionId, resp.passwd or b""
        w.sessions_seen.add(self.sid)
        self.step()

    def _on_reply(self, frame: bytes) -> None:
        w = self.world
        hdr, off = ReplyHeader.deserialize(frame, 0)
        if hdr.zxid > 0:
            self.last_zxid = max(self.last_zxid, hdr.zxid)
        if hdr.xid in (-1, -2):  # a notification, a ping reply
            return
        entry = self.pending.pop(hdr.xid, None)
        if entry is None:
            return
        kind, op = entry
        if kind == "cfg":
            w.trace(f"admin client: reconfig answered {hdr.err}")
            key = "reconfigs_done" if hdr.err == 0 else f"reconfigs_err{hdr.err}"
            w.stats[key] = w.stats.get(key, 0) + 1
            w.at(w.now + w.rc_rng.randint(20, 200), self.step)
        if hdr.err == Err.SESSIONEXPIRED:
            w.told_expired(self, self.sid, f"{kind} answered SESSIONEXPIRED")
            if op is not None:
                w.fail_op(op)
            self.sid, self.passwd = 0, b"\0" * 16
            self.drop("session expired")
            return
        if hdr.err == 0 and self.sid in w.expired_at:
            w.oracle.fail(f"client {self.cid}: a {kind} of session 0x{self.sid & 0xFFFFFFFFFFFFFFFF:x} succeeded "
                          f"after it was told the session expired (t={w.expired_at[self.sid]})")
        if op is None:
            return
        if kind == "sync":
            if hdr.err:
                self.pending.pop(hdr.xid + 1, None)
                w.fail_op(op)
            return
        if hdr.err:
            w.fail_op(op)
        elif kind == "get":
            data = GetDataResponse.deserialize(frame, off)[0].data
            op.value = data.decode() if data else None
            w.complete(op)
        elif kind == "eph":
            self.ephemerals.setdefault(op.session, []).append(op.key)
            w.complete(op)
        else:
            w.complete(op)
        self.step()

    # -- operations

    def _request(self, op_code: int, body: bytes, kind: str, op: ClientOp | None) -> int:
        self.xid += 1
        self.pending[self.xid] = (kind, op)
        self._send(struct.pack(">ii", self.xid, op_code) + body)
        return self.xid

    def step(self) -> None:
        """Start the next operation when idle."""
        w = self.world
        if not self.connected or self.op is not None or w.now < self.silent_until or self.probe:
            return
        if w.quiet and not w.clients_active:
            return
        if self.admin:
            self._reconfig()
            return
        rng = w.rng
        self.n += 1
        roll = rng.random()
        key = KEYS[rng.randrange(w.params.keys)]
        if roll < 0.5:
            op = ClientOp(self.cid, "w", key, f"v{self.cid}.{self.n}", w.now, self.sid)
            self._request(OpCode.setData, SetDataRequest(key, op.value.encode(), -1).to_bytes(), "set", op)
        elif roll < 0.85:
            op = ClientOp(self.cid, "r", key, None, w.now, self.sid)
            self._request(OpCode.sync, SyncRequest(key).to_bytes(), "sync", op)
            self._request(OpCode.getData, GetDataRequest(key, False).to_bytes(), "get", op)
        else:
            path = f"/e/c{self.cid}-{self.n}"
            op = ClientOp(self.cid, "e", path, None, w.now, self.sid)
            self._request(OpCode.create, CreateRequest(path, b"", OPEN_ACL, CreateMode.EPHEMERAL).to_bytes(),
                          "eph", op)
        self.op = op
        self.history.append(op)

    def _reconfig(self) -> None:
        """Turn a random member into an observer (while three voters would remain) or back into a
        participant; the answer (done, NewConfigNoQuorum, ReconfigInProgress, ...) only schedules the next."""
        w = self.world
        if w.quiet or any(kind == "cfg" for kind, _ in self.pending.values()):
            return
        hosts = [s.host for s in w.servers.values() if s.alive and s.host is not None]
        view = next((h for h in hosts if h.is_leader), hosts[0] if hosts else None)
        if view is None:
            w.at(w.now + w.rc_rng.randint(50, 150), self.step)
            return
        membership = view.reconfig.membership
        rng = w.rc_rng
        pid = rng.choice(w.server_ids)
        voter = pid in membership.voters
        if voter and len(membership.voters) <= 2:
            pid = rng.choice(sorted(membership.observers)) if membership.observers else pid
            voter = pid in membership.voters
        role = "observer" if voter else "participant"
        if voter and len(membership.voters) <= 2:
            w.at(w.now + rng.randint(50, 150), self.step)
            return
        joining = f"server.{pid}=127.0.0.1:{20000 + pid}:{30000 + pid}:{role};127.0.0.1:{40000 + pid}"
        w.trace(f"admin client asks: {joining}")
        w.stats["reconfigs_asked"] = w.stats.get("reconfigs_asked", 0) + 1
        self._request(OpCode.reconfig, ReconfigRequest(joining, None, None, -1).to_bytes(), "cfg", None)

    def finished(self, op: ClientOp) -> None:
        if self.op is op:
            self.op = None
        w = self.world
        if not w.quiet and w.params.p_silence and w.rng.random() < w.params.p_silence:
            # Stop talking (no pings either) for longer than the session timeout: the session must expire.
            self.silent_until = w.now + int(self.timeout * w.rng.uniform(1.6, 3.0))
            w.trace(f"client {self.cid} goes silent until {self.silent_until}")
            w.at(self.silent_until + 1, self.tick_now)
            return
        w.at(w.now + w.rng.randint(0, 15), self.step)

    def tick_now(self) -> None:
        self.step()

    def tick(self) -> None:
        """Pings and the read timeout, as ZooKeeper clients do (ping after timeout/3 of quiet, give up on
        a connection silent for 2/3 of the timeout)."""
        w = self.world
        if not w.stopped:
            w.at(w.now + max(10, self.timeout // 10), self.tick)
        if self.wire is None:
            return
        if w.now - self.last_recv > self.timeout * 2 // 3 and (self.connected or w.now - self.last_send > 50):
            self.drop("no reply within 2/3 of the session timeout")
            return
        if self.connected and w.now >= self.silent_until and w.now - self.last_send > self.timeout // 3:
            self._send(struct.pack(">ii", -2, OpCode.ping))


# ---- the oracle ---------------------------------------------------------------------------------


class Oracle:
    """Global knowledge no server has, used only to check invariants."""

    def __init__(self, world: World, strict: bool = True, durability: bool = True) -> None:
        self.world = world
        self.strict = strict
        self.durability = durability
        self.suppressed = 0
        self.history: list[tuple[int, bytes]] = []  # the one committed sequence
        self.index: dict[int, int] = {0: -1}
        self.closed: dict[int, int] = {}  # session -> position of its closeSession in the history
        self.created: set[int] = set()
        self.epoch_committer: dict[int, tuple[int, int]] = {}
        # The voters of the configuration committed last (reconfigs in the history change them)
        self.voters: frozenset[int] = frozenset(world.voters)
        self.epoch_proposer: dict[int, tuple[int, int]] = {}

    def fail(self, what: str) -> None:
        if not self.strict:
            self.suppressed += 1  # checker self-test mode: only the client history is judged
            return
        raise Violation(f"t={self.world.now}: {what}")

    def restarted(self, server: SimServer, zxid: int) -> None:
        if zxid not in self.index:
            self.fail(f"server {server.pid} recovered a snapshot at {format_zxid(zxid)}, never committed")
            return
        server.pos = self.index[zxid] + 1

    def installed(self, server: SimServer, zxid: int) -> None:
        if zxid not in self.index:
            self.fail(f"server {server.pid} installed a snapshot at {format_zxid(zxid)}, never committed")
            return
        if self.index[zxid] + 1 < server.pos:
            self.fail(f"server {server.pid} installed a snapshot older than what it applied")
        server.pos = self.index[zxid] + 1

    def on_apply(self, server: SimServer, zxid: int, payload: bytes, hdr: TxnHeader) -> None:
        h = self.history
        i = server.pos
        if i < len(h):
            if h[i] != (zxid, payload):
                self.fail(f"server {server.pid} applied {format_zxid(zxid)} at position {i}, where another "
                          f"applied {format_zxid(h[i][0])}{' (other content)' if h[i][0] == zxid else ''}")
        else:
            h.append((zxid, payload))
            self.index[zxid] = i
            self._new_entry(i, hdr)
        server.pos = i + 1
        if hdr.type == OpCode.closeSession:
            host = server.host
            assert host is not None
            if hdr.clientId in host.tree.ephemerals or hdr.clientId in host.tree.sessions:
                self.fail(f"server {server.pid} applied the close of 0x{hdr.clientId & 0xFFFFFFFFFFFFFFFF:x} "
                          f"and still has its session or ephemerals")

    def _new_entry(self, i: int, hdr: TxnHeader) -> None:
        zxid = self.history[i][0]
        sid = hdr.clientId
        t = hdr.type
        if sid:
            if t == OpCode.createSession:
                if sid in self.created:
                    self.fail(f"session 0x{sid & 0xFFFFFFFFFFFFFFFF:x} created twice")
                self.created.add(sid)
            elif sid in self.closed and t not in (OpCode.error, OpCode.closeSession):
                self.fail(f"{OpCode(t).name} {format_zxid(zxid)} of session 0x{sid & 0xFFFFFFFFFFFFFFFF:x} "
                          f"committed after its closeSession")
            elif t == OpCode.closeSession:
                if sid in self.closed:
                    self.fail(f"session 0x{sid & 0xFFFFFFFFFFFFFFFF:x} closed twice")
                self.closed[sid] = i
        self.check_durable(i, self.voters)
        if t == OpCode.reconfig:
            # Committed by a quorum of the old voters and of the new ones; those count from now on.
            _, txn = decode_txn_payload(self.history[i][1])
            text = txn.data.decode()  # type: ignore[union-attr]
            self.voters = parse_membership_text(text, int(text.rsplit("version=", 1)[1], 16)).voters
            self.check_durable(i, self.voters)
            self.world.trace(f"reconfig {format_zxid(zxid)} committed: voters {sorted(self.voters)}")

    def check_durable(self, i: int, voters: frozenset[int]) -> None:
        """Committed entry i is durable on a quorum of `voters` (else a crash could lose it)."""
        w = self.world
        if not self.durability:
            return
        zxid, payload = self.history[i]
        holders = sum(1 for pid in voters if w.servers[pid].store.holds(zxid, payload))
        if holders < len(voters) // 2 + 1:
            self.fail(f"committed {format_zxid(zxid)} is durable on only {holders} of the voters {sorted(voters)}")

    def on_leader_commit(self, server: SimServer, epoch: int) -> None:
        who = (server.pid, server.incarnation)
        first = self.epoch_committer.setdefault(epoch, who)
        if first != who:
            self.fail(f"two leaders committed in epoch {epoch}: {first} and {who}")

    def on_propose(self, server: SimServer, zxid: int) -> None:
        epoch = zxid_epoch(zxid)
        who = (server.pid, server.incarnation)
        first = self.epoch_proposer.setdefault(epoch, who)
        if first != who:
            self.fail(f"two leaders proposed in epoch {epoch}: {first} and {who}")


# ---- the world ----------------------------------------------------------------------------------


class World:
    def __init__(self, seed: int, ticks: int = 300, unsafe: frozenset[str] = frozenset(),
                 host_unsafe: frozenset[str] = frozenset(), verbose: int = 0, check_durability: bool = True,
                 oracle: bool = True, root: Path | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.params = Params.draw(self.rng, unsafe, host_unsafe)
        p = self.params
        self.verbose = verbose
        self.fault_end = ticks * TICK
        self.voters = list(range(1, p.voters + 1))
        self.observers = list(range(p.voters + 1, p.voters + p.observers + 1)) if p.voters > 1 else []
        self.server_ids = self.voters + self.observers
        self.quorum = p.voters // 2 + 1
        # Reconfigs are drawn from a generator of their own, so seeds without them replay as before.
        self.rc_rng = random.Random(seed * 1000003 + 11)
        self.reconfigs = p.voters >= 3 and self.rc_rng.random() < 0.5
        self.now = 0
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.oracle = Oracle(self, strict=oracle, durability=check_durability)
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix=f"corral-sim-{seed}-", dir=_tmp_base())) if root is None else root
        specs = {pid: ServerSpec(pid, "127.0.0.1", 20000 + pid, 30000 + pid, observer=pid in self.observers)
                 for pid in self.server_ids}
        self.servers: dict[int, SimServer] = {}
        for pid in self.server_ids:
            # read-only mode on: members cut off turn read-only and back under every fault (the simulated
            # clients never ask for read-only sessions, so they are refused there as by a looking member)
            cfg = ServerConfig(tick_time=TICK_TIME, data_dir=self.root / f"s{pid}", init_limit=2, sync_limit=1,
                               servers=dict(specs) if len(specs) > 1 else {}, read_only_enabled=True,
                               reconfig_enabled=self.reconfigs, skip_acl=self.reconfigs)
            self.servers[pid] = SimServer(self, pid, self.root / f"s{pid}", cfg)
            _seed_data_dir(self.servers[pid].store)
        self.wires: dict[Wire, None] = {}  # ordered: iteration must not depend on memory addresses
        self.blocked: set[tuple[Any, Any]] = set()
        self.partitions: list[tuple[int, set[tuple[Any, Any]]]] = []
        self.link_clock: dict[tuple[int, int], int] = {}
        lo, hi = p.session_timeouts
        self.clients = [SimClient(self, cid, self.rng.randint(lo, hi)) for cid in range(p.clients)]
        if self.reconfigs:
            self.clients.append(SimClient(self, p.clients, self.rc_rng.randint(lo, hi), admin=True))
        self.expired_at: dict[int, int] = {}
        self.sessions_seen: set[int] = set()
        self.stats = {"messages": 0, "dropped": 0, "crashes": 0, "pauses": 0, "partitions": 0, "events": 0,
                      "connections": 0, "expired_told": 0}
        self.quiet = False
        self.clients_active = True
        self.stopped = False
        self.coverage: dict[str, int] = {}

    # -- scheduling

    def at(self, time: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time, self._seq, fn, args))

    def trace(self, text: str) -> None:
        if self.verbose:
            print(f"{self.now:6d} {text}")

    # -- peer network

    def send(self, frm: int, to: int, msg: Message) -> None:
        p = self.params
        rng = self.rng
        data = msg.encode()
        self.stats["messages"] += 1
        name = type(msg).__name__
        self.coverage[name] = self.coverage.get(name, 0) + 1
        if (frm, to) in self.blocked or (not self.quiet and rng.random() < p.p_loss):
            self.stats["dropped"] += 1
            return
        delay = rng.randint(1, p.lat_max)
        if not self.quiet and rng.random() < p.p_spike:
            delay += rng.randint(10, 60)
        when = self.now + delay
        link = (frm, to)
        if not self.quiet and rng.random() < p.p_reorder:
            when = self.now + rng.randint(0, p.lat_max)  # jumps the queue of this link
        else:
            when = max(when, self.link_clock.get(link, 0))
            self.link_clock[link] = when
        config = self._config_text(frm, msg) if self.reconfigs else None
        self.at(when, self.deliver, frm, to, data, config)
        if not self.quiet and rng.random() < p.p_dup:
            self.at(when + rng.randint(0, 20), self.deliver, frm, to, data, config)

    def _config_text(self, frm: int, msg: Message) -> bytes | None:
        """What Apache's protocol carries besides the core's message: a notification the sender's
        configuration, NEWLEADER the one the leader sends (QuorumHost.newleader_config)."""
        host = self.servers[frm].host
        if host is None:
            return None
        if isinstance(msg, Vote):
            return host.reconfig.membership.text().encode()
        if isinstance(msg, NewLeader):
            return host.newleader_config(msg.epoch).text().encode()
        return None

    def deliver(self, frm: int, to: int, data: bytes, config: bytes | None = None) -> None:
        server = self.servers.get(to)
        if server is None or not server.alive or (frm, to) in self.blocked:
            self.stats["dropped"] += 1
            return
        msg = decode(data)
        if self.verbose > 1:
            self.trace(f"{frm} -> {to}: {msg}")
        server.at(self.now, self._receive, server, frm, msg, config)

    @staticmethod
    def _receive(server: SimServer, frm: int, msg: Message, config: bytes | None = None) -> None:
        assert server.host is not None
        if config is not None:  # what the transport does with the configuration a packet carries
            if isinstance(msg, Vote):
                server.host.adopt_config(frm, config)
            elif isinstance(msg, NewLeader):
                server.host.leader_config = config
        server.host.on_message(frm, msg)

    # -- servers

    def restart(self, pid: int) -> None:
        server = self.servers[pid]
        if not server.alive:
            server.start()

    def alive(self) -> list[int]:
        return [pid for pid in self.server_ids if self.servers[pid].alive]

    def leaders(self) -> list[int]:
        return [pid for pid in self.alive() if self.servers[pid].host and self.servers[pid].host.is_leader]

    # -- faults

    def fault(self) -> None:
        if self.now >= self.fault_end:
            return
        rng = self.rng
        roll = rng.random()
        down = [pid for pid in self.server_ids if not self.servers[pid].alive]
        alive = self.alive()
        if roll < 0.07 and alive:
            # Power loss in a rack: a quorum (often with the leader) dies at once.
            victims = rng.sample(alive, min(len(alive), rng.randint(self.quorum, len(self.server_ids))))
            self.trace(f"power loss on {sorted(victims)}")
            for victim in victims:
                self.servers[victim].crash()
                self.at(self.now + rng.randint(2 * TICK, 30 * TICK), self.restart, victim)
        elif roll < 0.27 and alive:
            leaders = self.leaders()
            target = rng.choice(leaders) if leaders and rng.random() < 0.5 else rng.choice(alive)
            self.servers[target].crash()
            self.at(self.now + rng.randint(2 * TICK, 40 * TICK), self.restart, target)
        elif roll < 0.45 and alive:
            # SIGSTOP / SIGCONT, like a long GC pause: often the leader, often past session timeouts.
            leaders = self.leaders()
            target = rng.choice(leaders) if leaders and rng.random() < 0.6 else rng.choice(alive)
            _lo, hi = self.params.session_timeouts
            self.servers[target].pause(rng.randint(3 * TICK, int(hi * 2.5)))
        elif roll < 0.53 and down:
            self.restart(rng.choice(down))
        else:
            self.partition()
        self.at(self.now + rng.randint(1, 2 * self.params.fault_gap), self.fault)

    def partition(self) -> None:
        rng = self.rng
        servers = self.server_ids
        clients = [c.node for c in self.clients]
        kind = rng.random()
        cut: set[tuple[Any, Any]] = set()
        if kind < 0.3 and len(servers) > 1:
            side = set(rng.sample(servers, rng.randint(1, len(servers) - 1)))
            cut = {(a, b) for a in servers for b in servers if (a in side) != (b in side)}
            # clients fall on one side or the other
            for c in clients:
                if rng.random() < 0.5:
                    cut |= {(c, s) for s in servers if s in side}
                else:
                    cut |= {(c, s) for s in servers if s not in side}
            what = f"split {sorted(side)} | {sorted(set(servers) - side)}"
        elif kind < 0.55:
            lone = rng.choice(servers)
            cut = {(a, b) for a in servers for b in servers if a != b and lone in (a, b)}
            cut |= {(c, lone) for c in clients}
            what = f"isolate {lone}"
        elif kind < 0.75:
            c = rng.choice(clients)
            cut = {(c, s) for s in servers}
            what = f"isolate client {c}"
        elif len(servers) > 1:
            a, b = rng.sample(servers, 2)
            cut = {(a, b)}
            what = f"drop {a}->{b}"
        else:
            return
        self.stats["partitions"] += 1
        pid = len(self.partitions)
        self.partitions.append((pid, cut))
        self.blocked |= cut
        self.trace(f"partition #{pid}: {what}")
        if rng.random() < self.params.p_hint:
            for a, b in sorted((x for x in cut if isinstance(x[0], int)), key=str):
                server = self.servers[a]
                if server.alive and server.host is not None:
                    server.run(server.host.on_disconnect, b)
        self.at(self.now + rng.randint(5 * TICK, 60 * TICK), self.heal, pid)

    def heal(self, pid: int | None) -> None:
        self.partitions = [(i, c) for i, c in self.partitions if pid is not None and i != pid]
        self.blocked = set().union(*(c for _, c in self.partitions)) if self.partitions else set()
        self.trace(f"heal #{pid}" if pid is not None else "heal all")
        for wire in list(self.wires):
            wire.heal()

    # -- client bookkeeping

    def told_expired(self, client: SimClient, sid: int, how: str) -> None:
        """A client learned that its session expired: that must be a committed fact by now."""
        self.stats["expired_told"] += 1
        self.trace(f"client {client.cid}: session 0x{sid & 0xFFFFFFFFFFFFFFFF:x} expired ({how})")
        if sid not in self.oracle.closed and sid in self.sessions_seen:
            self.oracle.fail(f"client {client.cid} was told session 0x{sid & 0xFFFFFFFFFFFFFFFF:x} expired ({how}), "
                             f"but no closeSession of it is committed")
        self.expired_at.setdefault(sid, self.now)
        if not self.quiet and self.rng.random() < self.params.p_zombie and client.zombie is None:
            client.zombie = (sid, _passwd_of(sid))

    def complete(self, op: ClientOp) -> None:
        if op.done:
            return
        op.done = True
        op.ret = self.now
        self.clients[op.client].finished(op) if op.client >= 0 else None

    def fail_op(self, op: ClientOp) -> None:
        """The request was answered with an error: it had no effect."""
        if op.done:
            return
        op.done = True
        op.failed = True
        if op.client >= 0:
            self.clients[op.client].finished(op)

    def abandon(self, op: ClientOp) -> None:
        """The connection was lost with `op` in flight: its outcome is unknown."""
        if op.done:
            return
        op.done = True
        op.timed_out = True
        if op.client >= 0:
            client = self.clients[op.client]
            if client.op is op:
                client.op = None

    def client_history(self) -> list[Op]:
        ops: list[Op] = []
        for client in self.clients:
            for c in client.history:
                if c.kind == "w" and not c.failed:
                    ops.append(Op(c.client, "w", c.key, c.value, c.call, c.ret if not c.timed_out else None))
                elif c.kind == "r" and c.ret is not None and not c.timed_out and not c.failed:
                    ops.append(Op(c.client, "r", c.key, c.value, c.call, c.ret))
        return ops

    # -- running

    def run_until(self, end: int) -> None:
        while self._queue and self._queue[0][0] <= end:
            time, _, fn, args = heapq.heappop(self._queue)
            self.now = time
            fn(*args)
            self.stats["events"] += 1
        self.now = end

    def run(self) -> dict[str, Any]:
        """The whole scenario; raises `Violation` on the first broken invariant."""
        quiet_logs = self.verbose < 3
        if quiet_logs:  # the servers' own log lines cost time and say nothing the trace does not
            previous = logging.root.manager.disable
            logging.disable(logging.CRITICAL)
        try:
            return self._run()
        finally:
            self.close()
            if quiet_logs:
                logging.disable(previous)

    def close(self) -> None:
        self.stopped = True
        for server in self.servers.values():
            store = server.store
            if store.writer is not None and store.writer.fd is not None:
                os.close(store.writer.fd)
                store.writer.fd = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self) -> dict[str, Any]:
        p = self.params
        self.trace(f"seed {self.seed}: {p}")
        for pid in self.server_ids:
            self.servers[pid].start()
        for client in self.clients:
            self.at(self.rng.randint(0, 5 * TICK), client.connect)
            self.at(self.rng.randint(0, 5 * TICK), client.tick)
        self.at(self.rng.randint(p.fault_gap // 2, p.fault_gap), self.fault)
        self.run_until(self.fault_end)
        # Quiet period: heal everything, restart everyone, let clients finish, then check.
        self.quiet = True
        self.heal(None)
        for pid in self.server_ids:
            server = self.servers[pid]
            if not server.alive:
                server.start()
            elif server.paused:
                server.resume(server.incarnation)
        for client in self.clients:
            client.silent_until = 0
            client.zombie = None
        _lo, hi = p.session_timeouts
        settle = self.fault_end + hi + 60 * TICK
        self.run_until(settle)
        self.clients_active = False  # no new operations: what is in flight finishes
        self.run_until(settle + hi)
        result = check_history(self.client_history())
        if not result.ok:
            raise Violation(f"history not linearizable on key {result.key}: {result.explanation}")
        self.liveness(self.now)
        self.check_sessions_settled()
        acked = sum(1 for c in self.clients for o in c.history
                    if o.kind == "w" and o.ret is not None and not o.timed_out and not o.failed)
        reads = sum(1 for c in self.clients for o in c.history if o.kind == "r" and o.ret is not None)
        return {"seed": self.seed, "committed": len(self.oracle.history), "acked_writes": acked,
                "synced_reads": reads, "lin_states": result.states, **self.stats}

    def liveness(self, start: int) -> None:
        """Once healed, a write through every server commits and a synced read everywhere sees it."""
        deadline = start + 8 * 2 * TICKS_PER_TICKTIME * TICK + self.params.session_timeouts[1]
        probes = []
        for pid in self.server_ids:
            probe = SimClient(self, -1 - pid, self.params.session_timeouts[1])
            probe.probe = True
            probe.probe_target = self.servers[pid]
            probes.append(probe)
            probe.connect()
            self.at(self.now + 10, probe.tick)
        for probe in probes:
            while not probe.connected and self.now < deadline:
                self.run_until(self.now + TICK)
            if not probe.connected:
                raise Violation(f"liveness: no session on server {probe.probe_target.pid} "
                                f"{self.now - start} units after healing")
        for probe in probes:
            op = ClientOp(probe.cid, "w", "/k0", f"p{probe.probe_target.pid}", self.now, probe.sid)
            probe._request(OpCode.setData, SetDataRequest("/k0", op.value.encode(), -1).to_bytes(), "set", op)
            while not op.done and self.now < deadline:
                self.run_until(self.now + TICK)
            if op.ret is None or op.failed:
                raise Violation(f"liveness: probe write through server {probe.probe_target.pid} not acknowledged")
        last = f"p{probes[-1].probe_target.pid}"
        for probe in probes:
            op = ClientOp(probe.cid, "r", "/k0", None, self.now, probe.sid)
            probe._request(OpCode.sync, SyncRequest("/k0").to_bytes(), "sync", op)
            probe._request(OpCode.getData, GetDataRequest("/k0", False).to_bytes(), "get", op)
            while not op.done and self.now < deadline:
                self.run_until(self.now + TICK)
            if op.ret is None or op.value != last:
                raise Violation(f"liveness: synced read on server {probe.probe_target.pid} returned {op.value!r}")
        self.probes = probes

    def check_sessions_settled(self) -> None:
        """After the quiet period every session without a live client has expired, on every server, with
        its ephemerals; and every remaining ephemeral belongs to a live session."""
        live = {c.sid for c in self.clients + self.probes if c.sid}
        for pid in self.server_ids:
            host = self.servers[pid].host
            assert host is not None
            tree = host.tree
            stale = set(tree.sessions) - live
            if stale:
                raise Violation(f"server {pid}: sessions {sorted(hex(s & 0xFFFFFFFFFFFFFFFF) for s in stale)} "
                                f"have no client and never expired")
            for sid in tree.ephemerals:
                if sid not in tree.sessions:
                    raise Violation(f"server {pid}: ephemerals of 0x{sid & 0xFFFFFFFFFFFFFFFF:x}, which has no session")
            for sid in self.oracle.closed:
                if sid in tree.ephemerals:
                    raise Violation(f"server {pid}: ephemerals of closed session 0x{sid & 0xFFFFFFFFFFFFFFFF:x}")


def _passwd_of(sid: int) -> bytes:
    from corral.server.sessions import session_password
    return session_password(sid)


def _tmp_base() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _seed_data_dir(store: SimStore) -> None:
    """Every member starts from the same snapshot at zxid 0 holding the keys (a restored backup)."""
    tree = DataTree()
    for key in ("/e", *KEYS):
        tree.create_node(key, b"", OPEN_ACL_UNSAFE, 0, 0, 0, 0)
    write_snapshot(tree, store.dir)


def run_seed(seed: int, ticks: int = 300, unsafe: frozenset[str] = frozenset(),
             host_unsafe: frozenset[str] = frozenset(), verbose: int = 0, check_durability: bool = True,
             oracle: bool = True) -> dict[str, Any]:
    return World(seed, ticks=ticks, unsafe=unsafe, host_unsafe=host_unsafe, verbose=verbose,
                 check_durability=check_durability, oracle=oracle).run()


__all__ = ["Params", "Violation", "World", "run_seed"]
