"""A rolling migration under load: an Apache ZooKeeper 3.8 ensemble (3 voters and an observer) becomes all
corral one member at a time, on the same zoo.cfg and dataDir, then all Apache again (docs/migration.md).

Order each way: the observer, the followers, the leader last; `corral migrate check` must pass before the
first swap and after each one. Meanwhile a kazoo writer keeps creating znodes (recording every
acknowledged one) and another session holds an ephemeral. On the way, every arrangement the procedure
passes through is used: a corral observer of Apache voters and an Apache observer of corral voters
(reads and writes through the observer), Apache followers of a corral leader and the reverse; and on
the way back one Apache member restarts more than the corral leader's DIFF window (500 txns) behind, so
the corral leader sends it a SNAP. At the end: no acknowledged write lost, the ephemeral and its session
kept, every member's tree identical. The write pause per swap is printed (bench/ensemble/migration_pause.py
prints the same figures; nothing here asserts a timing).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from corral.persistence.files import SNAP_PREFIX, list_files, version_dir
from corral.persistence.snapshot import SnapshotCorruptError, load_snapshot
from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApacheEnsemble, ApacheMember, EnsembleProcess
from tests.support.wait import wait_until

from .clients import Writer, close_kazoo, session_lost, start_kazoo
from .cluster import WAIT
from .rolling import (
    PACE,
    SERVING,
    SESSION_TIMEOUT,
    RollingMigration,
    assert_converged,
    kind,
    migrate_check,
    through_observer,
)

pytestmark = pytest.mark.slow

BEHIND = 600  # writes while a member is down: more than the corral leader's DIFF window (500)


def _snap_seen(m: EnsembleProcess) -> bool:
    """Whether the Apache member's latest start synced with a SNAP (Learner.syncWithLeader's log line)."""
    text = m.log(2_000_000)
    return "Getting a snapshot from leader" in text[text.rfind("==== test harness: starting"):]


def test_rolling_migration_apache_to_corral_and_back(tmp_path: Path, kazoo_clients: list[KazooClient]) -> None:
    require_apache()
    ens = ApacheEnsemble(tmp_path / "rolling", size=3, observers=1)
    writer: Writer | None = None
    try:
        ens.start()
        hosts = ens.hosts
        holder = start_kazoo(hosts, timeout=SESSION_TIMEOUT)
        kazoo_clients.append(holder)
        holder.ensure_path("/rolling/w")
        eph = holder.create("/rolling/held", b"ephemeral", ephemeral=True)
        session = holder.client_id
        writer = Writer(start_kazoo(hosts, timeout=SESSION_TIMEOUT), "/rolling/w", pace=PACE)
        kazoo_clients.append(writer.client)
        burst = start_kazoo(hosts, timeout=SESSION_TIMEOUT)
        kazoo_clients.append(burst)
        writer.start()
        wait_until(lambda: writer.error or len(writer.acked) >= 200, WAIT, "the writer under way")  # type: ignore[union-attr]
        assert writer.error is None, f"the writer failed: {writer.error!r}"
        roll = RollingMigration(ens, writer)
        roll.check()

        observer = ens.members[3].sid
        for sid in roll.order():  # Apache -> corral
            roll.swap(sid)
            if sid == observer:
                through_observer(ens.members[sid - 1], ens.members[0], "corral", kazoo_clients)
        assert {kind(m) for m in ens.members} == {"corral"}

        burst_acked: list[str] = []

        def fall_behind() -> None:
            pending = [burst.create_async("/rolling/behind-", b"b", sequence=True) for _ in range(BEHIND)]
            burst_acked.extend(p.get(timeout=WAIT) for p in pending)

        order = roll.order()  # corral -> Apache
        followers = [sid for sid in order if ens.members[sid - 1].mode() == "follower"]
        for sid in order:
            down = fall_behind if sid == followers[-1] else None
            roll.swap(sid, while_down=down)
            if sid == observer:
                through_observer(ens.members[sid - 1], ens.members[0], "apache", kazoo_clients)
            if down is not None:
                assert _snap_seen(ens.members[sid - 1]), "the Apache member was not synced with a SNAP"
        assert {kind(m) for m in ens.members} == {"apache"}
        assert len(burst_acked) == BEHIND

        writer.stop()
        assert writer.error is None, f"the writer failed: {writer.error!r}"
        acked = writer.paths() | set(burst_acked)
        print(f"\n{len(writer.acked)} acknowledged writes by the writer ({writer.retries} retries)\n{roll.report()}")

        assert holder.client_id == session and not session_lost(holder), "the ephemeral's session was lost"
        assert_converged(ens.members, acked, eph, session[0], kazoo_clients)
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        ens.close()


def _newest_snapshot_digest_zxid(m: ApacheMember) -> int:
    """The zxid of the tree digest in the member's newest snapshot (0: none yet, or an empty one; a file
    Apache is still writing counts as none)."""
    snaps = list_files(version_dir(Path(m.config()["dataDir"])), SNAP_PREFIX)
    if not snaps:
        return 0
    try:
        snap = load_snapshot(snaps[-1][1])
    except (SnapshotCorruptError, OSError):
        return 0
    return snap.digest.zxid if snap.digest is not None else 0


def _swap_and_check(ens: ApacheEnsemble, sid: int) -> str:
    """Swap member `sid` to the other kind and run `corral migrate check` once it serves: it must pass."""
    new = ens.swap(sid)
    wait_until(lambda: new.mode() in SERVING, WAIT, f"member {sid} serving as {kind(new)}")
    res = migrate_check(ens.members)
    assert res.returncode == 0, f"migrate check failed (exit {res.returncode}):\n{res.stdout}{res.stderr}\n{ens.logs()}"
    return res.stdout


def test_migrate_check_passes_on_an_idle_ensemble_right_after_a_swap(tmp_path: Path,
                                                                       kazoo_clients: list[KazooClient]) -> None:
    """No write after a swap: the corral member's digest history comes from its start-up (its log replay,
    from the digest its newest Apache snapshot carries), so `corral migrate check` can compare a zxid
    that every member logged at once, without waiting for 128 more writes (docs/migration.md).

    Apache snapshots every 100-200 txns here (zookeeper.snapCount=200), so that the follower swapped
    first starts from a fuzzy-capable snapshot's digest, not from an empty one. Then the Apache leader
    (whose newest snapshot is the one it took when it began to lead) is swapped too: an election, and
    again no write."""
    require_apache()
    ens = ApacheEnsemble(tmp_path / "idle", size=3, jvm_props={"zookeeper.snapCount": "200"})
    try:
        ens.start()
        leader = ens.leader()
        follower = next(m for m in ens.members if m is not leader)
        assert isinstance(leader, ApacheMember) and isinstance(follower, ApacheMember)
        writer = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
        kazoo_clients.append(writer)
        writer.ensure_path("/idle")

        # Write until the follower's newest snapshot carries a digest Z and the ensemble has passed the
        # next 128-multiple after the newest snapshot digest of both members to swap: only then does
        # each one's replay reach a zxid the Apache members logged (Apache's own replay from such a
        # snapshot gives no earlier entry either).
        def ready() -> bool:
            z = _newest_snapshot_digest_zxid(follower)
            newest = max(z, _newest_snapshot_digest_zxid(leader))
            return z > 0 and leader.zxid() >= (newest // 128 + 1) * 128

        # The writer's closeSession, the last txn, may itself roll Apache's log and take a snapshot (the
        # roll point is random between snapCount/2 and snapCount): a member swapped then starts after the
        # last common 128-multiple, as an Apache member restarted then would (seen in CI). So the premise
        # is checked again once the ensemble is idle, and the writing goes on until it holds.
        n = 0
        for _attempt in range(5):
            for _ in range(2000):
                writer.create(f"/idle/n{n:05d}", b"x" * 20)
                n += 1
                if n % 50 == 0 and ready():
                    break
            assert ready(), f"no snapshot with a digest on member {follower.sid} after {n} writes"
            close_kazoo(writer)  # its closeSession is the last txn; no client is left to write
            last = leader.zxid()
            wait_until(lambda last=last: all(m.zxid() == last for m in ens.members), WAIT, "every member idle")
            time.sleep(1.0)  # a snapshot Apache began at the roll is written by then (it takes milliseconds)
            if ready():
                break
            writer = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
            kazoo_clients.append(writer)
        assert ready(), "every writer's closeSession rolled a snapshot past the last common 128-multiple"
        digest_zxid = _newest_snapshot_digest_zxid(follower)
        assert migrate_check(ens.members).returncode == 0
        before = {m.sid: m.zxid() for m in ens.members}

        out = _swap_and_check(ens, follower.sid)
        print(f"\nmember {follower.sid} (snapshot digest at 0x{digest_zxid:x}) -> corral:\n{out}")
        assert {m.sid: m.zxid() for m in ens.members} == before, "a write happened: the ensemble was not idle"
        corral = ens.members[follower.sid - 1]
        started = [ln for ln in corral.log(2_000_000).splitlines() if "event=digest_log_started at=recovery" in ln]
        assert started and f"from_zxid=0x{digest_zxid:x}" in started[-1], started

        out = _swap_and_check(ens, leader.sid)  # the leader: an election, no write
        print(f"member {leader.sid} (leader) -> corral:\n{out}")
        assert [kind(m) for m in ens.members].count("corral") == 2
        for m in ens.members:
            if kind(m) == "corral":
                text = m.log(2_000_000)
                assert "Traceback" not in text and "peer_anomaly" not in text, f"member {m.sid}:\n{text[-4000:]}"
    finally:
        ens.close()
