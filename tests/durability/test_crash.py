"""The crash test in `make test`: short runs of `tests/durability/crash.py` (the long run is by hand:
`python -m tests.durability.crash --cycles 50 --writers 4 --seed S [--snap-count 50]`).

Why two variants: with the default snapCount the kills land in plain group commits; with snapCount=50 a
forked snapshot and a log roll are in progress at almost every kill. The seed is random per run (set
CORRAL_CRASH_SEED to replay one) and is part of any failure message.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.durability import crash
from tests.durability.support import WAIT, close_kazoo, dump_kazoo, kazoo_client, new_server, start, vdir
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
CYCLES = 5


@pytest.mark.parametrize("snap_count", [100000, 50], ids=["group-commit", "snapCount=50"])
def test_kill9_keeps_every_acknowledged_write(snap_count, tmp_path):
    """5 kill -9 cycles with 4 pipelined writers; any lost, altered or half-applied acknowledged write fails."""
    seed = int(os.environ.get("CORRAL_CRASH_SEED", random.randrange(1 << 31)))
    try:
        stats = crash.run(CYCLES, 4, seed, snap_count, workdir=str(tmp_path / "crash"), min_delay=0.3,
                          max_delay=1.2, log=lambda m: None)
    except crash.CheckFailed as e:
        pytest.fail(f"seed={seed} snapCount={snap_count}: {e}")
    assert stats.cycles == CYCLES
    # The run must have exercised what it claims: acknowledged writes of every kind were verified.
    assert stats.acked > 0 and stats.seq_acked > 0 and stats.multis_acked > 0, stats
    if snap_count == 50:
        assert stats.snapshots > 0, stats


def _catch_snapshot_child(srv, zk, deadline: float) -> int | None:
    """Write until the server's snapshot child is in the middle of writing `snapshot.<zxid>.tmp`, then
    freeze it with SIGSTOP (bounded). Freezing only once the temp file exists means the child is past its
    start-up (where it sheds what it inherited) and is really "still writing"."""
    n = 0
    tag = os.urandom(4).hex()
    snap_dir = vdir(srv.data_dir)
    while time.monotonic() < deadline:
        for ar in [zk.create_async(f"/bulk/{tag}-{n + i}", bytes(100)) for i in range(200)]:
            ar.get(timeout=WAIT)
        n += 200
        t_end = time.monotonic() + 0.2
        while time.monotonic() < t_end:
            kids = crash._children_pids(srv.proc.pid)
            if kids and list(snap_dir.glob("snapshot.*.tmp")):
                child = kids[0]
                try:
                    os.kill(child, signal.SIGSTOP)
                except ProcessLookupError:
                    continue
                time.sleep(0.05)
                try:
                    state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue  # it finished and was reaped in between: try the next snapshot
                if state == "T" and list(snap_dir.glob("snapshot.*.tmp")):
                    return child
                try:
                    os.kill(child, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            time.sleep(0.0005)
    return None


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (or is a zombie awaiting its new parent's reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_restart_after_kill9_while_a_snapshot_child_is_still_writing(tmp_path):
    """kill -9 "at any moment" includes while the forked snapshot child is still writing (a big tree, a slow
    disk). The child is frozen with SIGSTOP to make that moment last; the restart must still come up and
    serve the same tree — the child must not hold the server's port or connections."""
    srv = start(new_server(tmp_path / "srv", snapCount="400"))
    zk = None
    child = None
    try:
        zk = kazoo_client(srv.hosts)
        zk.create("/bulk")
        child = _catch_snapshot_child(srv, zk, time.monotonic() + WAIT)
        assert child is not None, "could not catch a snapshot child"
        before = dump_kazoo(zk)
        close_kazoo(zk)
        temps = list(vdir(srv.data_dir).glob("snapshot.*.tmp"))
        srv.kill()
        # The child dies with the server (PR_SET_PDEATHSIG), even frozen: SIGKILL ends a stopped process.
        wait_until(lambda: _gone(child), 10, what=f"snapshot child {child} to die with the killed server",
                   interval=0.02)
        srv.start(timeout=60)  # fails to bind if the frozen child still holds the listening socket
        zk = kazoo_client(srv.hosts)
        assert dump_kazoo(zk) == before
        # Its half-written temp file was removed at startup (its writer is dead).
        assert temps and not any(t.exists() for t in temps), temps
    finally:
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if zk is not None:
            close_kazoo(zk)
        srv.stop()
