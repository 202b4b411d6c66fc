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

from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApacheEnsemble, EnsembleProcess
from tests.support.wait import wait_until

from .clients import Writer, session_lost, start_kazoo
from .cluster import WAIT
from .rolling import PACE, SESSION_TIMEOUT, RollingMigration, assert_converged, kind, through_observer

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
