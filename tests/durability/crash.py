"""Crash test: concurrent writers, `kill -9` at a random moment, restart, verify every acknowledged write.

    python -m tests.durability.crash --cycles 50 --writers 4 --seed 1 [--snap-count 50] [--keep]

Why this shape: the durability promise is about *acknowledged* writes, so the test keeps a per-path
history of every write it issued, which ones were acknowledged (with the Stat the server returned) and
which were still in flight when the server died. After each restart the state of every path must be
the state after some write between the last acknowledged one and the last one issued (so acknowledged
writes survive, and whatever survives of the in-flight ones is a prefix, never half a write), with the
czxid/mzxid the acknowledgement reported. Atomic multis must survive whole or not at all; every
sequential znode that was acknowledged is still there, no sequence number is handed out twice across
restarts, nothing appears that no writer issued, and zxids after a restart are above every zxid
acknowledged before it.

Each cycle: start (or restart) the server on the same dataDir, verify, run W writer clients (raw kazoo,
async, a window of requests in flight each), `kill -9` after a seeded random delay, collect what was
acknowledged. A small `--snap-count` makes kills land during forked snapshots and log rolls.

Exit status 0 when every check passed, 1 otherwise (the data directory is kept for inspection).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, NoNodeError, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState

from tests.durability.support import close_kazoo, kazoo_client, srvr_zxid
from tests.support.server import CorralProcess

ROOT = "/crash"
SEQ_PARENT = ROOT + "/seq"
DRAIN_TIMEOUT = 30.0  # seconds to wait for answers still in flight after the kill
ABSENT = ("absent",)
# Errors after which a write's outcome is unknown. Any other error means the writer's model of its own
# paths is wrong, i.e. an earlier acknowledged write was not what the server applied: a failure.
LOST = (ConnectionLoss, ConnectionClosedError, SessionExpiredError)


class CheckFailed(AssertionError):
    """A durability check failed; the message says which path and what was expected."""


@dataclass
class Op:
    """One issued write. `state` is what its path holds right after it (ABSENT after a delete)."""

    kind: str  # create | set | delete | multi | seq
    path: str
    state: tuple  # ("exists", data, version) or ABSENT
    group: int = 0  # multi id: every Op of one multi shares it
    acked: bool = False
    zxid: int = 0  # czxid (create/seq) or mzxid (set/multi) from the acknowledgement
    created: str = ""  # the name the server gave a sequential create


@dataclass
class PathModel:
    """What one writer knows about one of its paths: the verified state at cycle start + this cycle's ops."""

    base: tuple = ABSENT
    base_czxid: int = 0
    base_mzxid: int = 0
    ops: list[Op] = field(default_factory=list)

    def planned(self) -> tuple:
        return self.ops[-1].state if self.ops else self.base


@dataclass
class Stats:
    cycles: int = 0
    acked: int = 0
    issued: int = 0
    in_flight_at_kill: int = 0
    survived_unacked: int = 0
    seq_acked: int = 0
    multis_acked: int = 0
    kills_during_snapshot: int = 0
    orphan_snapshot_children: int = 0
    torn_tails: int = 0
    snapshots: int = 0
    invalid_snapshots: int = 0  # skipped at a restart (recovery then used an older one)
    max_zxid: int = 0


class Writer(threading.Thread):
    """One client session issuing a seeded random mix of creates, sets, deletes, multis and sequential
    creates on its own paths, keeping up to `window` requests in flight (pipelined, in session order)."""

    def __init__(self, idx: int, zk, rng: random.Random, paths: dict[str, PathModel], cycle: int, window: int,
                 stop: threading.Event, multi_ids: collections.abc.Iterator[int]) -> None:
        super().__init__(name=f"crash-writer-{idx}", daemon=True)
        self.idx, self.zk, self.rng, self.paths, self.cycle = idx, zk, rng, paths, cycle
        self.window, self.stop_event, self.multi_ids = window, stop, multi_ids
        self.seq_ops: list[Op] = []
        self.issued = 0
        self.error: BaseException | None = None
        self.counter = 0

    def _data(self) -> bytes:
        self.counter += 1
        return f"w{self.idx}c{self.cycle}n{self.counter}:".encode() + bytes(self.rng.randrange(0, 40))

    def _issue(self) -> tuple[list[Op], object]:
        rng, zk = self.rng, self.zk
        r = rng.random()
        if r < 0.12:
            data = self._data()
            op = Op("seq", SEQ_PARENT + f"/w{self.idx}-", ("exists", data, 0))
            self.seq_ops.append(op)
            return [op], zk.create_async(op.path, data, sequence=True, include_data=True)
        keys = list(self.paths)
        if r < 0.22:
            existing = [k for k in keys if self.paths[k].planned() != ABSENT]
            if len(existing) >= 2:
                a, b = rng.sample(existing, 2)
                gid = next(self.multi_ids)
                t = zk.transaction()
                ops = []
                for p in (a, b):
                    data = self._data()
                    version = self.paths[p].planned()[2] + 1
                    op = Op("multi", p, ("exists", data, version), group=gid)
                    t.set_data(p, data, version=version - 1)
                    ops.append(op)
                for op in ops:
                    self.paths[op.path].ops.append(op)
                return ops, t.commit_async()
        p = rng.choice(keys)
        model = self.paths[p]
        cur = model.planned()
        if cur == ABSENT:
            data = self._data()
            op = Op("create", p, ("exists", data, 0))
            model.ops.append(op)
            return [op], zk.create_async(p, data, include_data=True)
        if rng.random() < 0.12:
            op = Op("delete", p, ABSENT)
            model.ops.append(op)
            return [op], zk.delete_async(p, version=cur[2])
        data = self._data()
        op = Op("set", p, ("exists", data, cur[2] + 1))
        model.ops.append(op)
        return [op], zk.set_async(p, data, version=cur[2])

    @staticmethod
    def _record(ops: list[Op], result: object) -> None:
        if ops[0].kind == "multi":
            assert isinstance(result, list), result
            bad = [r for r in result if isinstance(r, BaseException)]
            if bad:
                raise CheckFailed(f"multi on {[o.path for o in ops]} failed: {bad} (the model expected success)")
            for op, st in zip(ops, result, strict=True):
                op.acked, op.zxid = True, st.mzxid
                if st.version != op.state[2]:
                    raise CheckFailed(f"{op.path}: multi acknowledged version {st.version}, expected {op.state[2]}")
            return
        op = ops[0]
        op.acked = True
        if op.kind in ("create", "seq"):
            created, st = result  # type: ignore[misc]
            op.zxid, op.created = st.czxid, created
        elif op.kind == "set":
            op.zxid = result.mzxid  # type: ignore[attr-defined]
            if result.version != op.state[2]:  # type: ignore[attr-defined]
                raise CheckFailed(f"{op.path}: set acknowledged version {result.version}, expected {op.state[2]}")

    def run(self) -> None:
        inflight: collections.deque = collections.deque()
        try:
            while not self.stop_event.is_set():
                item = self._issue()
                inflight.append(item)
                self.issued += len(item[0])
                while len(inflight) >= self.window and not self.stop_event.is_set():
                    ops, ar = inflight[0]
                    try:
                        res = ar.get(timeout=0.2)
                    except KazooTimeoutError:
                        continue
                    inflight.popleft()
                    self._record(ops, res)
        except LOST:
            pass  # the connection died (with the server): everything still in flight is "unknown"
        except BaseException as e:  # a CheckFailed or a bug: reported by the main thread
            self.error = e
            return
        # Answers the server sent before it died are acknowledgements too. kazoo processes every reply
        # buffered in the socket before it notices the EOF, so once it has left CONNECTED, every answer
        # there will ever be has arrived. Requests still queued unsent would wait for a reconnect:
        # stopping the client fails them, which makes every outcome final.
        self.stop_event.wait(600)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.zk.state == KazooState.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.01)
        close_kazoo(self.zk)
        while inflight:
            ops, ar = inflight.popleft()
            try:
                self._record(ops, ar.get(timeout=10))
            except (*LOST, KazooTimeoutError):
                pass
            except BaseException as e:
                self.error = e
                return


def _children_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class CrashTest:
    def __init__(self, cycles: int, writers: int, seed: int, snap_count: int, window: int = 16,
                 keys: int = 24, min_delay: float = 0.1, max_delay: float = 1.5, workdir: str | None = None,
                 log=print) -> None:
        self.cycles, self.writers, self.seed, self.window, self.keys = cycles, writers, seed, window, keys
        self.min_delay, self.max_delay = min_delay, max_delay
        self.snapshot_kills = snap_count <= 1000
        self.rng = random.Random(seed)
        self.log = log
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="corral-crash-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server = CorralProcess(data_dir=str(self.dir), tick_time=500,
                                    extra_cfg={"snapCount": str(snap_count)})
        # writer index → path → model; every path lives under /crash/w<i>/ and only writer i touches it.
        self.models: list[dict[str, PathModel]] = [
            {f"{ROOT}/w{i}/k{k}": PathModel() for k in range(keys)} for i in range(writers)]
        self.seq_acked: dict[str, bytes] = {}  # path → data of every acknowledged sequential create
        self.seq_suffixes: dict[int, str] = {}  # suffix → path, across all cycles
        self.seq_unacked: dict[bytes, str] = {}  # data → prefix of sequential creates with no answer
        self.max_acked_zxid = 0
        self.stats = Stats()
        self.multi_ids = iter(range(1, 1 << 62))

    # ---- verification -------------------------------------------------------------------------

    def _read_all(self, zk) -> dict[str, tuple]:
        paths = [p for m in self.models for p in m]
        results = {p: zk.get_async(p) for p in paths}
        out = {}
        for p, ar in results.items():
            try:
                data, st = ar.get(timeout=60)
                out[p] = (("exists", data, st.version), st.czxid, st.mzxid)
            except NoNodeError:
                out[p] = (ABSENT, 0, 0)
        return out

    def verify(self, zk, server_zxid: int) -> None:
        """Every check of the module docstring, against the freshly restarted server."""
        if server_zxid < self.max_acked_zxid:
            raise CheckFailed(f"server zxid 0x{server_zxid:x} is below the acknowledged 0x{self.max_acked_zxid:x}")
        observed = self._read_all(zk)
        above = [p for p, (_, czxid, mzxid) in observed.items() if max(czxid, mzxid) > server_zxid]
        if above:
            raise CheckFailed(f"{above[0]}: zxid {observed[above[0]][1:]} above the server's 0x{server_zxid:x}")
        durable_groups: dict[int, set[bool]] = collections.defaultdict(set)
        for models in self.models:
            for p, m in models.items():
                state, czxid, mzxid = observed[p]
                self._check_path(p, m, state, czxid, mzxid, durable_groups)
                m.base, m.base_czxid, m.base_mzxid, m.ops = state, czxid, mzxid, []
        torn = [g for g, v in durable_groups.items() if len(v) > 1]
        if torn:
            raise CheckFailed(f"multi(s) {torn[:5]} applied to only some of their paths")
        reads = {p: zk.get_async(p) for p in self.seq_acked}
        for p, ar in reads.items():
            try:
                got, _ = ar.get(timeout=60)
            except NoNodeError:
                raise CheckFailed(f"acknowledged sequential create {p} is lost")
            if got != self.seq_acked[p]:
                raise CheckFailed(f"sequential {p}: data {got[:30]!r} != acknowledged {self.seq_acked[p][:30]!r}")
        # Nothing may exist that no writer issued.
        for name in zk.get_children(SEQ_PARENT):
            p = f"{SEQ_PARENT}/{name}"
            if p in self.seq_acked:
                continue
            data, _ = zk.get(p)
            prefix = self.seq_unacked.pop(data, None)
            if prefix is None or not p.startswith(prefix):
                raise CheckFailed(f"unexplained sequential znode {p} (data {data[:30]!r})")
            self._add_seq(p, data)
            self.stats.survived_unacked += 1
        self.seq_unacked.clear()
        for i, models in enumerate(self.models):
            for name in zk.get_children(f"{ROOT}/w{i}"):
                if f"{ROOT}/w{i}/{name}" not in models:
                    raise CheckFailed(f"unexplained znode {ROOT}/w{i}/{name}")

    def _check_path(self, p: str, m: PathModel, state: tuple, czxid: int, mzxid: int,
                    durable_groups: dict[int, set[bool]]) -> None:
        states = [m.base] + [op.state for op in m.ops]
        last_acked = max((i + 1 for i, op in enumerate(m.ops) if op.acked), default=0)
        matches = [j for j in range(last_acked, len(states)) if states[j] == state]
        if not matches:
            acked = m.ops[last_acked - 1] if last_acked else None
            raise CheckFailed(
                f"{p}: after restart {state[:1] + tuple(x[:30] if isinstance(x, bytes) else x for x in state[1:])} "
                f"is not the state after the last acknowledged write ({acked}) or any later one issued")
        j = matches[0]
        if len(matches) == 1 and j > 0:
            op = m.ops[j - 1]
            if op.acked and op.kind != "delete":
                want_mzxid = op.zxid
                if mzxid != want_mzxid:
                    raise CheckFailed(f"{p}: mzxid 0x{mzxid:x} != acknowledged 0x{want_mzxid:x}")
                if op.kind == "create" and czxid != op.zxid:
                    raise CheckFailed(f"{p}: czxid 0x{czxid:x} != acknowledged 0x{op.zxid:x}")
            elif not op.acked and op.kind != "delete":
                self.stats.survived_unacked += 1
                floor = max((o.zxid for o in m.ops[:j - 1] if o.acked), default=0)
                if mzxid <= floor:
                    raise CheckFailed(f"{p}: mzxid 0x{mzxid:x} of a later write is not above 0x{floor:x}")
        elif j == 0 and state != ABSENT and (czxid, mzxid) != (m.base_czxid, m.base_mzxid):
            raise CheckFailed(f"{p}: unchanged data but zxids changed: {(czxid, mzxid)} vs "
                              f"{(m.base_czxid, m.base_mzxid)}")
        for i, op in enumerate(m.ops, 1):
            if op.group:
                if all(x >= i for x in matches):
                    durable_groups[op.group].add(True)
                elif all(x < i for x in matches):
                    durable_groups[op.group].add(False)

    def _add_seq(self, path: str, data: bytes) -> None:
        suffix = int(path[-10:])
        if suffix in self.seq_suffixes and self.seq_suffixes[suffix] != path:
            raise CheckFailed(f"sequence number {suffix} reused: {self.seq_suffixes[suffix]} and {path}")
        self.seq_suffixes[suffix] = path
        self.seq_acked[path] = data

    # ---- one cycle ----------------------------------------------------------------------------

    def _run_writers(self, cycle: int) -> None:
        clients = [kazoo_client(self.server.hosts, timeout=10.0) for _ in range(self.writers)]
        stop = threading.Event()
        writers = [Writer(i, zk, random.Random(f"{self.seed}/{cycle}/{i}"), self.models[i], cycle, self.window,
                          stop, self.multi_ids) for i, zk in enumerate(clients)]
        max_before = max(self.seq_suffixes, default=-1)
        zxid_before = self.max_acked_zxid
        for w in writers:
            w.start()
        time.sleep(self.rng.uniform(self.min_delay, self.max_delay))
        pid = self.server.proc.pid
        if self.snapshot_kills and self.rng.random() < 0.5:
            # Aim at a snapshot: kill as soon as the server has forked its snapshot child (bounded wait).
            deadline = time.monotonic() + 3.0
            while not _children_pids(pid) and time.monotonic() < deadline:
                time.sleep(0.001)
        children = _children_pids(pid)
        self.server.kill()
        stop.set()
        if children:
            self.stats.kills_during_snapshot += 1
        for w in writers:
            w.join(DRAIN_TIMEOUT + 60)
            if w.is_alive():
                raise CheckFailed(f"{w.name} did not finish after the kill")
        # A snapshot child may outlive the killed server and still be writing its temp file while the
        # restart runs; that is part of "restart at once", so it is only counted, not waited for.
        self.stats.orphan_snapshot_children += sum(1 for c in children if _alive(c))
        for w in writers:
            if w.error is not None:
                raise w.error
            self.stats.issued += w.issued
            for op in w.seq_ops:
                if op.acked:
                    if int(op.created[-10:]) <= max_before:
                        raise CheckFailed(f"sequential {op.created} after a restart is not above the "
                                          f"highest one acknowledged before it ({max_before})")
                    self._add_seq(op.created, op.state[1])
                    self.stats.seq_acked += 1
                else:
                    self.seq_unacked[op.state[1]] = op.path
        acked_zxids = []
        for models in self.models:
            for m in models.values():
                for op in m.ops:
                    if op.acked:
                        self.stats.acked += 1
                        self.stats.multis_acked += op.group != 0
                        if op.kind != "delete":  # kazoo's delete reply carries no Stat
                            acked_zxids.append(op.zxid)
                    else:
                        self.stats.in_flight_at_kill += 1
        seq_zxids = [op.zxid for w in writers for op in w.seq_ops if op.acked]
        self.stats.acked += len(seq_zxids)
        acked_zxids += seq_zxids
        if acked_zxids and min(acked_zxids) <= zxid_before:
            raise CheckFailed(f"a write acknowledged after the restart has zxid 0x{min(acked_zxids):x}, not above "
                              f"0x{zxid_before:x} acknowledged before it")
        self.max_acked_zxid = max([self.max_acked_zxid, *acked_zxids])

    def run(self) -> Stats:
        t0 = time.monotonic()
        self.server.start(timeout=120)
        zk = kazoo_client(self.server.hosts)
        for i in range(self.writers):
            zk.ensure_path(f"{ROOT}/w{i}")
        zk.ensure_path(SEQ_PARENT)
        close_kazoo(zk)
        for cycle in range(self.cycles):
            t1 = time.monotonic()
            self._run_writers(cycle)
            t2 = time.monotonic()
            self.server.start(timeout=120)
            zk = kazoo_client(self.server.hosts)
            try:
                self.verify(zk, srvr_zxid(self.server))
            finally:
                close_kazoo(zk)
            self.stats.cycles += 1
            self.log(f"cycle {cycle + 1}/{self.cycles}: ok — acked so far {self.stats.acked}, in flight at kills "
                     f"{self.stats.in_flight_at_kill}, sequential {len(self.seq_acked)}, "
                     f"zxid 0x{self.max_acked_zxid:x}, kills in a snapshot {self.stats.kills_during_snapshot}; "
                     f"write+kill {t2 - t1:.1f}s, restart+verify {time.monotonic() - t2:.1f}s, "
                     f"total {time.monotonic() - t0:.0f}s")
        # Judge the log of the kill/restart cycles; the final clean stop is not part of the crash scenario
        # (a clean stop during a snapshot can log a harmless waiter-thread traceback, see the report).
        text = (self.dir / "server.log").read_text(errors="replace")
        self.server.stop()
        self.stats.torn_tails = text.count("event=txnlog_torn_tail")
        self.stats.snapshots = text.count("event=snapshot_started")
        self.stats.invalid_snapshots = text.count("event=snapshot_invalid")
        self.stats.max_zxid = self.max_acked_zxid
        if "Traceback" in text:
            i = text.index("Traceback")
            raise CheckFailed("the server log contains a traceback:\n" + text[max(0, i - 300):i + 1500])
        return self.stats

    def cleanup(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(cycles: int, writers: int, seed: int, snap_count: int, keep: bool = False, **kw) -> Stats:
    """Run the crash test; raises CheckFailed (data dir kept) if any acknowledged write went wrong."""
    t = CrashTest(cycles, writers, seed, snap_count, **kw)
    try:
        stats = t.run()
    except BaseException:
        t.server.kill()
        t.log(f"FAILED; data directory kept at {t.dir}")
        raise
    if keep:
        t.log(f"data directory kept at {t.dir}")
    else:
        t.cleanup()
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=50, help="kill/restart cycles (1..1000)")
    ap.add_argument("--writers", type=int, default=4, help="concurrent writer sessions (1..32)")
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    ap.add_argument("--snap-count", type=int, default=100000, help="snapCount (small: kills land in snapshots)")
    ap.add_argument("--window", type=int, default=16, help="requests in flight per writer")
    ap.add_argument("--max-delay", type=float, default=1.5, help="longest run before the kill, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args(argv)
    cycles = max(1, min(a.cycles, 1000))
    writers = max(1, min(a.writers, 32))
    print(f"crash test: cycles={cycles} writers={writers} seed={a.seed} snapCount={a.snap_count} "
          f"window={a.window}", flush=True)
    t0 = time.monotonic()
    try:
        s = run(cycles, writers, a.seed, a.snap_count, keep=a.keep, window=a.window,
                max_delay=min(a.max_delay, 30.0), log=lambda m: print(m, flush=True))
    except CheckFailed as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    print(f"PASSED in {time.monotonic() - t0:.0f}s: {s.cycles} kill -9 cycles, {s.acked} acknowledged writes "
          f"verified ({s.seq_acked} sequential, {s.multis_acked} multi parts), {s.in_flight_at_kill} in flight at "
          f"kills ({s.survived_unacked} of those seen durable), {s.kills_during_snapshot} kills during a "
          f"snapshot, {s.orphan_snapshot_children} snapshot children outliving the kill, {s.torn_tails} torn "
          f"tails truncated, {s.snapshots} snapshots ({s.invalid_snapshots} found invalid at a restart), "
          f"last zxid 0x{s.max_zxid:x}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
