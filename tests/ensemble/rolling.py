"""A rolling migration between Apache ZooKeeper and corral, step by step, as docs/migration.md describes it:
shared by the test (tests/ensemble/test_rolling_migration.py) and the pause benchmark
(bench/ensemble/migration_pause.py), so that the figures in bench/README.md come from the procedure the
test checks.

`RollingMigration(ens, writer)` runs on an `ApacheEnsemble` (tests/support/apache_ensemble.py) under the
load of a `Writer` (clients.py). `swap(sid)` SIGTERMs one member, starts the other kind of server on the
same zoo.cfg and dataDir, waits for it to serve and then for `corral migrate check` (the real command, in
a subprocess) to pass on every member; it records the swap with its write pause: the longest gap
between two acknowledged writes from just before the SIGTERM until the check passed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from kazoo.client import KazooClient

from tests.support.apache_ensemble import ApacheEnsemble, CorralOnApacheConfig, EnsembleProcess
from tests.support.wait import wait_until

from .clients import Writer, close_kazoo, start_kazoo, tree_of
from .cluster import WAIT

SERVING = ("leader", "follower", "observer")
SESSION_TIMEOUT = 10.0  # tickTime 500: the most a session may ask for (20 ticks)
# The writer's pause after each acknowledged write: at most ~100 writes/s, so that the members' trees
# stay small enough to compare and the servers leave CPU to each other; the measured pauses are longer.
PACE = 0.01


def migrate_check(members: list[EnsembleProcess], wait: float = WAIT) -> subprocess.CompletedProcess[str]:
    """`corral migrate check` on the members' client ports, as an operator runs it."""
    argv = [sys.executable, "-m", "corral", "migrate", "check", "--wait", str(wait),
            *(m.hosts for m in members)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=wait + 60)


def through_observer(observer: EnsembleProcess, other: EnsembleProcess, tag: str, kazoo_clients: list) -> None:
    """Writes and reads through an observer (its writes are forwarded to the leader) seen on another member."""
    on_obs = start_kazoo(observer.hosts, timeout=SESSION_TIMEOUT, randomize_hosts=False)
    kazoo_clients.append(on_obs)
    path = on_obs.create(f"/observer-{tag}-", tag.encode(), sequence=True)
    on_obs.set(path, b"changed")
    assert on_obs.get(path)[0] == b"changed"
    eph = on_obs.create(f"/observer-eph-{tag}", b"", ephemeral=True)
    on_other = start_kazoo(other.hosts, timeout=SESSION_TIMEOUT, randomize_hosts=False)
    kazoo_clients.append(on_other)
    on_other.sync("/")
    assert on_other.get(path)[0] == b"changed"
    assert on_other.exists(eph).ephemeralOwner == on_obs.client_id[0]
    on_other.set(path, b"from-" + tag.encode())
    on_obs.sync("/")
    assert on_obs.get(path)[0] == b"from-" + tag.encode(), "the observer did not see a later write"
    close_kazoo(on_obs)
    close_kazoo(on_other)


def assert_converged(members: list[EnsembleProcess], acked: set[str], eph: str, owner: int,
                     kazoo_clients: list[KazooClient]) -> None:
    """Every member holds every acknowledged write and the ephemeral `eph` of session `owner`, and all
    members' trees are identical."""
    trees = []
    for m in members:
        view = start_kazoo(m.hosts, timeout=SESSION_TIMEOUT, randomize_hosts=False)
        kazoo_clients.append(view)
        view.sync("/")
        tree = tree_of(view)
        missing = acked - set(tree)
        assert not missing, f"member {m.sid} lacks {len(missing)} acknowledged writes: {sorted(missing)[:5]}"
        assert eph in tree and tree[eph][1][6] == owner, f"member {m.sid}: the ephemeral or its owner is gone"
        trees.append(tree)
        close_kazoo(view)
    assert all(t == trees[0] for t in trees[1:]), "the members' trees differ"


def kind(m: EnsembleProcess) -> str:
    return "corral" if isinstance(m, CorralOnApacheConfig) else "apache"


def longest_gap(acks: list[float], start: float, end: float) -> float:
    """The longest time without an acknowledged write in [start, end], measured from the last ack before
    `start` (acks: monotonic times, sorted)."""
    before = [t for t in acks if t < start]
    points = ([before[-1]] if before else [start]) + [t for t in acks if start <= t <= end]
    if points[-1] < end:
        points.append(end)
    return max((b - a for a, b in pairwise(points)), default=0.0)


@dataclass
class Swap:
    sid: int
    role: str  # the member's mode before the swap
    to: str  # the kind of server started
    seconds: float  # SIGTERM -> the check passed
    pause: float  # the longest gap between acknowledged writes in that time
    check: str  # the check's output


class RollingMigration:
    def __init__(self, ens: ApacheEnsemble, writer: Writer) -> None:
        self.ens = ens
        self.writer = writer
        self.swaps: list[Swap] = []

    def check(self) -> str:
        """`corral migrate check` on every member must pass; returns its output."""
        res = migrate_check(self.ens.members)
        assert self.writer.error is None, f"the writer failed: {self.writer.error!r}"
        assert res.returncode == 0, (f"migrate check failed (exit {res.returncode}):\n{res.stdout}{res.stderr}\n"
                                     f"{self.ens.logs()}")
        return res.stdout

    def order(self) -> list[int]:
        """The swap order of the procedure: observers, then followers, then the leader."""
        rank = {"observer": 0, "follower": 1, "leader": 2}
        modes = {m.sid: m.mode() for m in self.ens.members}
        assert all(v in rank for v in modes.values()), f"not every member serves: {modes}"
        return sorted(modes, key=lambda sid: (rank[modes[sid]], sid))

    def swap(self, sid: int, while_down: Callable[[], None] | None = None) -> Swap:
        """One step: the member `sid` becomes the other kind; `while_down` runs between stop and start."""
        ens = self.ens
        old = ens.members[sid - 1]
        role = old.mode()
        t0 = time.monotonic()
        if while_down is None:
            new = ens.swap(sid)
        else:
            old.stop()
            while_down()
            new = ens.swap(sid)  # stop() of a stopped process is a no-op
        wait_until(lambda: new.mode() in SERVING, WAIT, f"member {sid} serving as {kind(new)}")
        out = self.check()
        t1 = time.monotonic()
        acks = sorted(at for _, _, at in list(self.writer.acked))
        swap = Swap(sid, role, kind(new), t1 - t0, longest_gap(acks, t0, t1), out)
        self.swaps.append(swap)
        return swap

    def report(self) -> str:
        return "\n".join(f"swap {i + 1}: member {s.sid} ({s.role}) -> {s.to}: {s.seconds:5.1f} s to a passing "
                         f"check, longest write pause {s.pause * 1000:6.0f} ms"
                         for i, s in enumerate(self.swaps))
