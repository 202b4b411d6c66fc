"""A deterministic simulated ensemble: the real `corral.quorum.Peer`s on a fake network and disks.

Everything random comes from one `random.Random(seed)`, events are ordered by (time, sequence
number), so a seed replays exactly. The world is harsh on purpose:

* network: latency with spikes, loss, duplication, reordering (a message ignoring the per-link
  FIFO order), one- and two-way partitions that come and go; every message is encoded to bytes
  and decoded again (the codec is on the path), and a message in flight to a server that
  restarted is delivered to the new process;
* disks: appends, truncations, snapshot installs and commit marks are buffered until an fsync;
  a crash keeps a random prefix of the buffered writes (a torn group commit); epoch files are
  written synchronously, as the `Ready` contract asks; some crashes happen in the middle of
  handling a `Ready` (after the log writes, before the messages go out);
* servers crash and restart from what their disk durably holds; hosts take local snapshots and
  compact their logs, so restarts also go through snapshots;
* clients write unique values through random servers (the leader proposes, others forward) and
  read after `sync` on random servers.

The `Oracle` checks, after every event: all applied sequences are prefixes of one history,
applied zxids increase, every committed entry is durable on a quorum of voters, at most one
leader proposes and commits per epoch, no write is applied twice, no `Anomaly` was reported.
At the end the client history is checked for linearizability and, after a quiet period with all
faults healed, that the ensemble serves writes and synced reads on every server again.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.quorum import (
    Anomaly,
    EnsembleConfig,
    Message,
    NoLeader,
    NotLeader,
    Overloaded,
    Peer,
    Recovered,
    RequestForwarded,
    Role,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
    decode,
    format_zxid,
    zxid_epoch,
)
from corral.quorum.ready import Activated, Ready

from .linearizability import Op, check_history

TICK = 10  # simulated time units per tick


class Violation(AssertionError):
    """An invariant broke; the message says which, at what time."""


@dataclass
class Params:
    """Everything a seed decides about a run (printed with --verbose)."""

    voters: int
    observers: int
    log_window: int
    lat_min: int
    lat_max: int
    p_spike: float
    p_loss: float
    p_dup: float
    p_reorder: float
    fault_gap: int  # mean time between fault events
    p_mid_ready_crash: float
    clients: int
    keys: int
    local_snap_every: int
    op_timeout: int
    fsync_max: int  # slowest fsync, in time units (a tick is 10)
    batching: bool  # hosts let calls pile up before draining ready(), like a busy event loop
    tick_drift: int  # each server's tick period is TICK +- up to this
    p_hint: float  # chance the transport reports a cut link through Peer.disconnected()
    init_limit: int = 10
    sync_limit: int = 5
    unsafe: frozenset[str] = frozenset()

    @classmethod
    def draw(cls, rng: random.Random, unsafe: frozenset[str] = frozenset()) -> Params:
        return cls(
            voters=rng.choice((3, 3, 5, 5, 5)),
            observers=rng.choice((0, 0, 1, 2)),
            log_window=rng.choice((2, 4, 8, 32, 500)),
            lat_min=1,
            lat_max=rng.choice((3, 6, 12)),
            p_spike=rng.choice((0.0, 0.01, 0.03)),
            p_loss=rng.choice((0.0, 0.002, 0.01, 0.03)),
            p_dup=rng.choice((0.0, 0.005, 0.02)),
            p_reorder=rng.choice((0.0, 0.003, 0.01)),
            fault_gap=rng.choice((80, 150, 300)),
            p_mid_ready_crash=rng.choice((0.0, 0.001, 0.004)),
            clients=rng.choice((2, 3, 4)),
            keys=rng.choice((1, 2, 3)),
            local_snap_every=rng.choice((0, 5, 25)),
            op_timeout=rng.choice((150, 300)),
            fsync_max=rng.choice((4, 8, 30)),
            batching=rng.random() < 0.5,
            tick_drift=rng.choice((0, 1, 3)),
            p_hint=rng.choice((0.0, 0.5)),
            unsafe=unsafe,
        )


# ---- state machine ------------------------------------------------------------------------------


class StateMachine:
    """The opaque state machine: a dict of registers, payload `client.op:key=value`.

    It also keeps the whole applied history, so the oracle can compare what each server applied,
    including through snapshots (which carry the history too).
    """

    def __init__(self, zxid: int = 0, kv: dict[str, str] | None = None, hist: list[tuple[int, str]] | None = None):
        self.zxid = zxid
        self.kv: dict[str, str] = dict(kv or {})
        self.hist: list[tuple[int, str]] = list(hist or [])

    def apply(self, zxid: int, payload: bytes) -> str:
        text = payload.decode()
        key, _, value = text.partition(":")[2].partition("=")
        self.kv[key] = value
        self.zxid = zxid
        self.hist.append((zxid, text))
        return text

    def encode(self) -> bytes:
        return json.dumps({"zxid": self.zxid, "kv": self.kv, "hist": self.hist}).encode()

    @classmethod
    def decode(cls, data: bytes) -> StateMachine:
        d = json.loads(data)
        return cls(d["zxid"], d["kv"], [(z, p) for z, p in d["hist"]])


# ---- disk ---------------------------------------------------------------------------------------


class Disk:
    """Durable state plus buffered (not yet fsynced) writes, applied in order."""

    def __init__(self) -> None:
        self.accepted = 0
        self.current = 0
        self.snap: tuple[int, bytes] = (0, StateMachine().encode())
        self.log: list[tuple[int, bytes]] = []
        self.mark = 0
        self.pending: list[tuple[Any, ...]] = []
        self.version = 0
        self._index: dict[int, bytes] | None = None

    def _apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        self._index = None
        self.version += 1
        if kind == "append":
            if self.log and op[1] <= self.log[-1][0]:
                raise Violation(f"disk append {format_zxid(op[1])} after {format_zxid(self.log[-1][0])}")
            self.log.append((op[1], op[2]))
        elif kind == "trunc":
            self.log = [e for e in self.log if e[0] <= op[1]]
        elif kind == "install":
            self.snap = (op[1], op[2])
            self.log = []
            self.mark = op[1]
        elif kind == "mark":
            self.mark = op[1]
        elif kind == "snap_local":
            self.snap = (op[1], op[2])
            self.log = [e for e in self.log if e[0] > op[1]]

    def sync(self, n: int) -> list[str]:
        """fsync: the first n buffered writes become durable; returns their kinds."""
        done, self.pending = self.pending[:n], self.pending[n:]
        for op in done:
            self._apply(op)
        return [op[0] for op in done]

    def crash(self, rng: random.Random) -> None:
        """Power loss: a random prefix of the buffered writes made it to the platter."""
        keep = rng.randint(0, len(self.pending))
        self.sync(keep)
        self.pending = []

    def holds(self, zxid: int, payload: bytes) -> bool:
        if zxid <= self.snap[0]:
            return True
        if self._index is None:
            self._index = dict(self.log)
        return self._index.get(zxid) == payload

    def recover(self) -> tuple[Recovered, StateMachine]:
        """What a restarting server reads back: snapshot, log after it, replay up to the mark."""
        snap_zxid, data = self.snap
        sm = StateMachine.decode(data)
        log = [e for e in self.log if e[0] > snap_zxid]
        applied = snap_zxid
        for z, p in log:
            if z > self.mark:
                break
            sm.apply(z, p)
            applied = z
        rec = Recovered(accepted_epoch=self.accepted, current_epoch=self.current, log_base=snap_zxid,
                        log=log, applied_zxid=applied)
        return rec, sm


# ---- clients ------------------------------------------------------------------------------------


@dataclass
class ClientOp:
    client: int
    kind: str
    key: str
    value: str | None
    call: int
    server: int
    ret: int | None = None
    done: bool = False
    failed: bool = False  # definitely had no effect (refused before anything was sent)
    timed_out: bool = False


@dataclass
class Client:
    cid: int
    n: int = 0
    op: ClientOp | None = None
    history: list[ClientOp] = field(default_factory=list)


# ---- the oracle ---------------------------------------------------------------------------------


class Oracle:
    """Global knowledge no server has, used only to check invariants."""

    def __init__(self, world: World, strict: bool = True, durability: bool = True) -> None:
        self.world = world
        self.strict = strict
        self.durability = durability
        self.suppressed = 0
        self.history: list[tuple[int, str]] = []  # the one committed sequence
        self.payloads: set[str] = set()
        self.epoch_committer: dict[int, tuple[int, int]] = {}
        self.epoch_proposer: dict[int, tuple[int, int]] = {}

    def fail(self, what: str) -> None:
        if not self.strict:
            self.suppressed += 1  # checker self-test mode: only the client history is judged
            return
        raise Violation(f"t={self.world.now}: {what}")

    def check_prefix(self, pid: int, hist: list[tuple[int, str]], start: int = 0) -> None:
        """`hist` must agree with the global history; extends it when it is longer."""
        h = self.history
        for i in range(start, len(hist)):
            if i < len(h):
                if h[i] != hist[i]:
                    self.fail(f"server {pid} applied {format_zxid(hist[i][0])} {hist[i][1]!r} at position {i}, "
                              f"where another applied {format_zxid(h[i][0])} {h[i][1]!r}")
            else:
                entry = hist[i]
                if entry[1] in self.payloads:
                    self.fail(f"write {entry[1]!r} committed twice")
                self.payloads.add(entry[1])
                h.append(entry)
                self.check_durable(i)

    def check_durable(self, i: int) -> None:
        """Committed entry i is durable on a quorum of voters (else a crash could lose it)."""
        w = self.world
        if not self.durability:
            return
        zxid, text = self.history[i]
        payload = text.encode()
        holders = sum(1 for pid in w.voters if w.disks[pid].holds(zxid, payload))
        if holders < w.quorum:
            self.fail(f"committed {format_zxid(zxid)} {text!r} is durable on only {holders} voters")

    def check_all_durable(self) -> None:
        for i in range(len(self.history)):
            self.check_durable(i)

    def on_leader_commit(self, pid: int, incarnation: int, epoch: int) -> None:
        who = (pid, incarnation)
        first = self.epoch_committer.setdefault(epoch, who)
        if first != who:
            self.fail(f"two leaders committed in epoch {epoch}: {first} and {who}")

    def on_propose(self, pid: int, incarnation: int, zxid: int) -> None:
        epoch = zxid_epoch(zxid)
        who = (pid, incarnation)
        first = self.epoch_proposer.setdefault(epoch, who)
        if first != who:
            self.fail(f"two leaders proposed in epoch {epoch}: {first} and {who}")


# ---- a server -----------------------------------------------------------------------------------


class Host:
    """What corral's server does around a Peer, reduced to the simulation's needs."""

    def __init__(self, world: World, pid: int, incarnation: int) -> None:
        self.world = world
        self.pid = pid
        self.incarnation = incarnation
        self.disk = world.disks[pid]
        rec, self.sm = self.disk.recover()
        world.oracle.check_prefix(pid, self.sm.hist)
        self.peer = Peer(pid, world.config, rec, self.snapshot, incarnation)
        self.alive = True
        self.pending_writes: dict[str, ClientOp] = {}
        self.pending_reads: dict[int, ClientOp] = {}
        self.fsync_busy = False
        self.want_persist: int | None = None
        self.generation = 0
        self.applied_since_snap = 0
        self.drain_scheduled = False
        self.tick_period = TICK + world.rng.randint(-world.params.tick_drift, world.params.tick_drift)

    def snapshot(self) -> tuple[int, bytes]:
        return self.sm.zxid, self.sm.encode()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call into the peer, then drain its Ready batches (the host loop); a batching host lets
        a few calls accumulate first, as an event loop busy with other connections would."""
        result = fn(*args)
        w = self.world
        if w.params.batching and not w.quiet:
            if not self.drain_scheduled:
                self.drain_scheduled = True
                w.at(w.now + w.rng.randint(0, 3), self.scheduled_drain, self.incarnation)
        else:
            self.process()
        return result

    def scheduled_drain(self, incarnation: int) -> None:
        if incarnation == self.incarnation:
            self.drain_scheduled = False
            self.process()

    def process(self) -> None:
        for _ in range(1000):
            if not self.alive or not self.peer.has_ready():
                return
            ready = self.peer.ready()
            self.handle(ready)
            if self.alive:
                self.peer.advance()
        raise Violation("peer kept producing Ready batches")

    def handle(self, r: Ready) -> None:
        w = self.world
        disk = self.disk
        if r.epochs is not None:
            disk.accepted, disk.current = r.epochs.accepted, r.epochs.current
        if r.truncate_to is not None:
            disk.pending.append(("trunc", r.truncate_to))
            self.generation += 1
        if r.install_snapshot is not None:
            zxid, data = r.install_snapshot
            sm = StateMachine.decode(data)
            if sm.zxid != zxid or sm.hist[: len(self.sm.hist)] != self.sm.hist:
                w.oracle.fail(f"server {self.pid} installed a snapshot that does not extend what it applied")
            w.oracle.check_prefix(self.pid, sm.hist, len(self.sm.hist))
            self.sm = sm
            disk.pending.append(("install", zxid, data))
            self.generation += 1
        for zxid, payload in r.append:
            disk.pending.append(("append", zxid, payload))
        if r.log_end is not None:
            self.want_persist = r.log_end
            self.schedule_fsync()
        if not w.quiet and w.params.p_mid_ready_crash and w.rng.random() < w.params.p_mid_ready_crash:
            w.trace(f"server {self.pid} crashes in the middle of a Ready")
            w.crash(self)
            return
        for to, msg in r.messages:
            w.send(self.pid, to, msg)
        if r.commit and self.peer.role is Role.LEADING:
            w.oracle.on_leader_commit(self.pid, self.incarnation, self.peer.epoch)
        for zxid, payload in r.commit:
            self.apply(zxid, payload)
        for event in r.events:
            self.on_event(event)

    def apply(self, zxid: int, payload: bytes) -> None:
        w = self.world
        start = len(self.sm.hist)
        if zxid <= self.sm.zxid:
            w.oracle.fail(f"server {self.pid} applied {format_zxid(zxid)} after {format_zxid(self.sm.zxid)}")
        text = self.sm.apply(zxid, payload)
        if w.verbose > 1:
            w.trace(f"server {self.pid} applies {format_zxid(zxid)} {text}")
        w.oracle.check_prefix(self.pid, self.sm.hist, start)
        self.disk.pending.append(("mark", zxid))
        op = self.pending_writes.pop(text, None)
        if op is not None:
            w.complete(op)
        every = w.params.local_snap_every
        if every:
            self.applied_since_snap += 1
            if self.applied_since_snap >= every:
                self.applied_since_snap = 0
                self.disk.pending.append(("snap_local", self.sm.zxid, self.sm.encode()))

    def on_event(self, e: Any) -> None:
        w = self.world
        if isinstance(e, RequestForwarded):
            try:
                zxid = self.peer.propose(e.payload)
            except (NotLeader, Overloaded):
                return
            w.oracle.on_propose(self.pid, self.incarnation, zxid)
            # propose() queued a Ready; the surrounding process() loop drains it.
        elif isinstance(e, SyncDone):
            op = self.pending_reads.pop(e.token, None)
            if op is not None:
                op.value = self.sm.kv.get(op.key)
                w.complete(op)
        elif isinstance(e, SyncFailed):
            op = self.pending_reads.pop(e.token, None)
            if op is not None:
                w.abandon(op, failed=True)
        elif isinstance(e, Anomaly):
            w.oracle.fail(f"server {self.pid} saw an anomaly from {e.peer}: {e.description}")
        elif isinstance(e, RoleChanged | Activated | SteppedDown):
            w.trace(f"server {self.pid}: {e}")
        elif isinstance(e, SessionTouches):
            w.touches += len(e.touches)

    def schedule_fsync(self) -> None:
        if self.fsync_busy or self.want_persist is None:
            return
        self.fsync_busy = True
        w = self.world
        w.at(w.now + w.rng.randint(0, 4), self.fsync_start, self.incarnation)

    def fsync_start(self, incarnation: int) -> None:
        if not self.alive or incarnation != self.incarnation:
            return
        w = self.world
        count, target, gen = len(self.disk.pending), self.want_persist, self.generation
        self.want_persist = None
        w.at(w.now + w.rng.randint(1, w.params.fsync_max), self.fsync_done, incarnation, count, target, gen)

    def fsync_done(self, incarnation: int, count: int, target: int, gen: int) -> None:
        if not self.alive or incarnation != self.incarnation:
            return
        kinds = self.disk.sync(count)
        if "trunc" in kinds or "install" in kinds:
            self.world.oracle.check_all_durable()
        self.fsync_busy = False
        if gen == self.generation:
            self.call(self.peer.persisted, target)
        # else: a truncation or snapshot was written after this fsync began, so its report would
        # be stale (the Ready contract); that batch set want_persist, the next fsync reports it.
        if self.alive:
            self.schedule_fsync()


# ---- the world ----------------------------------------------------------------------------------


class World:
    def __init__(self, seed: int, ticks: int = 300, unsafe: frozenset[str] = frozenset(),
                 verbose: int = 0, check_durability: bool = True, oracle: bool = True) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.params = Params.draw(self.rng, unsafe)
        p = self.params
        self.verbose = verbose
        self.check_durability = check_durability
        self.fault_end = ticks * TICK
        self.voters = list(range(1, p.voters + 1))
        self.observers = list(range(p.voters + 1, p.voters + p.observers + 1))
        self.servers = self.voters + self.observers
        self.quorum = p.voters // 2 + 1
        self.config = EnsembleConfig(voters=frozenset(self.voters), observers=frozenset(self.observers),
                                     init_limit=p.init_limit, sync_limit=p.sync_limit, log_window=p.log_window,
                                     unsafe=p.unsafe)
        self.now = 0
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.oracle = Oracle(self, strict=oracle, durability=check_durability)
        self.disks = {pid: Disk() for pid in self.servers}
        self.hosts: dict[int, Host] = {}
        self.blocked: set[tuple[int, int]] = set()
        self.partitions: list[tuple[int, set[tuple[int, int]]]] = []
        self.link_clock: dict[tuple[int, int], int] = {}
        self.clients = [Client(cid) for cid in range(p.clients)]
        self.tokens = 0
        self.touches = 0
        self.stats = {"messages": 0, "dropped": 0, "crashes": 0, "partitions": 0, "events": 0}
        self.quiet = False
        self.coverage: dict[str, int] = {}

    # -- scheduling

    def at(self, time: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time, self._seq, fn, args))

    def trace(self, text: str) -> None:
        if self.verbose:
            print(f"{self.now:6d} {text}")

    # -- network

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
        delay = rng.randint(p.lat_min, p.lat_max)
        if not self.quiet and rng.random() < p.p_spike:
            delay += rng.randint(10, 60)
        when = self.now + delay
        link = (frm, to)
        if not self.quiet and rng.random() < p.p_reorder:
            when = self.now + rng.randint(0, p.lat_max)  # jumps the queue of this link
        else:
            when = max(when, self.link_clock.get(link, 0))
            self.link_clock[link] = when
        self.at(when, self.deliver, frm, to, data)
        if not self.quiet and rng.random() < p.p_dup:
            self.at(when + rng.randint(0, 20), self.deliver, frm, to, data)

    def deliver(self, frm: int, to: int, data: bytes) -> None:
        host = self.hosts.get(to)
        if host is None or not host.alive or (frm, to) in self.blocked:
            self.stats["dropped"] += 1
            return
        msg = decode(data)
        if self.verbose > 1:
            self.trace(f"{frm} -> {to}: {msg}")
        host.call(host.peer.receive, frm, msg)

    # -- servers

    def start(self, pid: int) -> None:
        inc = self.rng.getrandbits(60)
        self.trace(f"server {pid} starts (incarnation {inc:x})")
        host = self.hosts[pid] = Host(self, pid, inc)
        host.process()
        self.at(self.now + self.rng.randint(1, TICK), self.tick, pid, inc)

    def tick(self, pid: int, inc: int) -> None:
        host = self.hosts.get(pid)
        if host is None or not host.alive or host.incarnation != inc:
            return
        host.call(host.peer.tick)
        self.at(self.now + host.tick_period, self.tick, pid, inc)

    def crash(self, host: Host) -> None:
        pid = host.pid
        if not host.alive:
            return
        host.alive = False
        self.stats["crashes"] += 1
        self.trace(f"server {pid} crashes")
        host.disk.crash(self.rng)
        for op in list(host.pending_writes.values()) + list(host.pending_reads.values()):
            self.abandon(op)
        host.pending_writes.clear()
        host.pending_reads.clear()

    def alive(self) -> list[int]:
        return [pid for pid in self.servers if self.hosts[pid].alive]

    # -- faults

    def fault(self) -> None:
        if self.now >= self.fault_end:
            return
        rng = self.rng
        roll = rng.random()
        down = [pid for pid in self.servers if not self.hosts[pid].alive]
        if roll < 0.08:
            # Power loss in a rack: a quorum (often with the leader) dies at once.
            alive = self.alive()
            victims = rng.sample(alive, min(len(alive), rng.randint(self.quorum, len(self.servers))))
            self.trace(f"power loss on {sorted(victims)}")
            for victim in victims:
                self.crash(self.hosts[victim])
                self.at(self.now + rng.randint(2 * TICK, 30 * TICK), self.restart, victim)
        elif roll < 0.35:
            alive = self.alive()
            leaders = [pid for pid in alive if self.hosts[pid].peer.role is Role.LEADING]
            target = rng.choice(leaders) if leaders and rng.random() < 0.5 else rng.choice(alive) if alive else None
            if target is not None:
                self.crash(self.hosts[target])
                self.at(self.now + rng.randint(2 * TICK, 40 * TICK), self.restart, target)
        elif roll < 0.45 and down:
            self.restart(rng.choice(down))
        else:
            self.partition()
        self.at(self.now + rng.randint(1, 2 * self.params.fault_gap), self.fault)

    def restart(self, pid: int) -> None:
        if not self.hosts[pid].alive:
            self.start(pid)

    def partition(self) -> None:
        rng = self.rng
        servers = self.servers
        kind = rng.random()
        cut: set[tuple[int, int]] = set()
        if kind < 0.4:
            side = set(rng.sample(servers, rng.randint(1, len(servers) - 1)))
            cut = {(a, b) for a in servers for b in servers if (a in side) != (b in side)}
            what = f"split {sorted(side)} | {sorted(set(servers) - side)}"
        elif kind < 0.7:
            lone = rng.choice(servers)
            cut = {(a, b) for a in servers for b in servers if a != b and lone in (a, b)}
            what = f"isolate {lone}"
        else:
            a, b = rng.sample(servers, 2)
            cut = {(a, b)}
            what = f"drop {a}->{b}"
        self.stats["partitions"] += 1
        pid = len(self.partitions)
        self.partitions.append((pid, cut))
        self.blocked |= cut
        self.trace(f"partition #{pid}: {what}")
        if rng.random() < self.params.p_hint:
            for a, b in sorted(cut):  # the transport notices the dead connection
                host = self.hosts[a]
                if host.alive:
                    host.call(host.peer.disconnected, b)
        self.at(self.now + rng.randint(5 * TICK, 60 * TICK), self.heal, pid)

    def heal(self, pid: int | None) -> None:
        self.partitions = [(i, c) for i, c in self.partitions if pid is not None and i != pid]
        self.blocked = set().union(*(c for _, c in self.partitions)) if self.partitions else set()
        self.trace(f"heal #{pid}" if pid is not None else "heal all")

    # -- clients

    def client_step(self, cid: int) -> None:
        client = self.clients[cid]
        if client.op is not None or self.quiet:
            return
        rng = self.rng
        key = f"k{rng.randrange(self.params.keys)}"
        pid = rng.choice(self.servers)
        host = self.hosts[pid]
        client.n += 1
        if rng.random() < 0.55:
            value = f"v{cid}.{client.n}"
            op = ClientOp(cid, "w", key, value, self.now, pid)
        else:
            op = ClientOp(cid, "r", key, None, self.now, pid)
        client.op = op
        client.history.append(op)
        self.issue(op, host)
        if not op.done:
            self.at(self.now + self.params.op_timeout, self.timeout, op)

    def issue(self, op: ClientOp, host: Host) -> None:
        if not host.alive:
            self.abandon(op, failed=True)
            return
        peer = host.peer
        if op.kind == "w":
            payload = f"{op.client}.{self.clients[op.client].n}:{op.key}={op.value}"
            host.pending_writes[payload] = op
            try:
                if peer.role is Role.LEADING:
                    zxid = host.call(peer.propose, payload.encode())
                    self.oracle.on_propose(host.pid, host.incarnation, zxid)
                else:
                    host.call(peer.forward, payload.encode())
                    host.call(peer.touch, op.client + 1, 3000)
            except (NotLeader, NoLeader, Overloaded):
                host.pending_writes.pop(payload, None)
                self.abandon(op, failed=True)
        else:
            self.tokens += 1
            host.pending_reads[self.tokens] = op
            try:
                host.call(peer.sync, self.tokens)
            except (NoLeader, Overloaded):
                host.pending_reads.pop(self.tokens, None)
                self.abandon(op, failed=True)

    def complete(self, op: ClientOp) -> None:
        if op.done:
            return
        op.done = True
        op.ret = self.now
        self.finish(op)

    def abandon(self, op: ClientOp, failed: bool = False) -> None:
        """The client gives up: a refused op had no effect; otherwise its outcome is unknown."""
        if op.done:
            return
        op.done = True
        op.failed = failed
        op.timed_out = not failed
        self.finish(op)

    def timeout(self, op: ClientOp) -> None:
        if not op.done:
            host = self.hosts[op.server]
            for wkey in [k for k, v in host.pending_writes.items() if v is op]:
                del host.pending_writes[wkey]
            for rkey in [k for k, v in host.pending_reads.items() if v is op]:
                del host.pending_reads[rkey]
            self.abandon(op)

    def finish(self, op: ClientOp) -> None:
        client = self.clients[op.client]
        if client.op is op:
            client.op = None
            if not self.quiet:
                self.at(self.now + self.rng.randint(0, 15), self.client_step, op.client)

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
        p = self.params
        self.trace(f"seed {self.seed}: {p}")
        for pid in self.servers:
            self.start(pid)
        for client in self.clients:
            self.at(self.rng.randint(0, 5 * TICK), self.client_step, client.cid)
        self.at(self.rng.randint(p.fault_gap // 2, p.fault_gap), self.fault)
        self.run_until(self.fault_end)
        # Quiet period: heal everything, restart everyone, let clients finish, then probe.
        self.quiet = True
        self.heal(None)
        for pid in self.servers:
            if not self.hosts[pid].alive:
                self.start(pid)
        settle = self.fault_end + max(p.op_timeout, 3 * p.init_limit * TICK) + 10 * TICK
        self.run_until(settle)
        self.oracle.check_all_durable()
        result = check_history(self.client_history())
        if not result.ok:
            raise Violation(f"history not linearizable on key {result.key}: {result.explanation}")
        self.liveness(settle)
        acked = sum(1 for c in self.clients for o in c.history
                    if o.kind == "w" and o.ret is not None and not o.timed_out)
        reads = sum(1 for c in self.clients for o in c.history if o.kind == "r" and o.ret is not None)
        return {"seed": self.seed, "committed": len(self.oracle.history), "acked_writes": acked,
                "synced_reads": reads, "lin_states": result.states, **self.stats}

    def liveness(self, start: int) -> None:
        """Once healed, a write through every server commits and a synced read everywhere sees it."""
        deadline = start + 6 * self.params.init_limit * TICK
        for pid in self.servers:
            op = ClientOp(-1, "w", "probe", f"p{pid}", self.now, pid)
            while True:
                host = self.hosts[pid]
                if host.peer.serving:
                    payload = f"-1.{pid}:probe=p{pid}"
                    host.pending_writes[payload] = op
                    if host.peer.role is Role.LEADING:
                        zxid = host.call(host.peer.propose, payload.encode())
                        self.oracle.on_propose(pid, host.incarnation, zxid)
                    else:
                        host.call(host.peer.forward, payload.encode())
                    break
                if self.now >= deadline:
                    raise Violation(f"liveness: server {pid} not serving {deadline - start} units after healing "
                                    f"({host.peer.role.name}/{host.peer.phase.name})")
                self.run_until(self.now + TICK)
            while not op.done and self.now < deadline:
                self.run_until(self.now + TICK)
            if not op.done:
                raise Violation(f"liveness: probe write through server {pid} not acknowledged")
        for pid in self.servers:
            host = self.hosts[pid]
            self.tokens += 1
            op = ClientOp(-1, "r", "probe", None, self.now, pid)
            host.pending_reads[self.tokens] = op
            try:
                host.call(host.peer.sync, self.tokens)
            except NoLeader as exc:
                raise Violation(f"liveness: server {pid} lost its leader in the quiet period") from exc
            while not op.done and self.now < deadline:
                self.run_until(self.now + TICK)
            if op.ret is None or op.value != f"p{self.servers[-1]}":
                raise Violation(f"liveness: synced read on server {pid} returned {op.value!r}")


def run_seed(seed: int, ticks: int = 300, unsafe: frozenset[str] = frozenset(), verbose: int = 0,
             check_durability: bool = True, oracle: bool = True) -> dict[str, Any]:
    return World(seed, ticks=ticks, unsafe=unsafe, verbose=verbose, check_durability=check_durability,
                 oracle=oracle).run()
