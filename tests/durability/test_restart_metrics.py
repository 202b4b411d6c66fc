"""A restart's replay of its own log feeds the startup metrics, not the write-latency ones.

Why: a standalone server (and a new leader) commits the txns logged after its snapshot again through
the quorum core at start-up. They were written hours or days ago and reached no client now; counting
their age as `propagation_latency` made a restarted server report a p50 of hours and one sample per
replayed txn (Apache loads them without FinalRequestProcessor: its count stays 0 after a restart)."""

from __future__ import annotations

import time

import pytest

from tests.durability.support import close_kazoo, kazoo_client, new_server, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _mntr(proc) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in proc.four_letter("mntr").splitlines() if "\t" in line)


def test_replayed_txns_count_in_startup_metrics_only(tmp_path):
    proc = start(new_server(tmp_path / "srv"))
    try:
        zk = kazoo_client(proc.hosts)
        for i in range(40):
            zk.create(f"/n{i}", b"x")
        close_kazoo(zk)
        before = _mntr(proc)
        assert int(before["zk_cnt_propagation_latency"]) >= 40  # live writes are counted
        time.sleep(1.1)  # the logged txns are now more than a second old
        proc.restart(hard=True)
        after = _mntr(proc)
        assert int(after["zk_max_startup_txns_loaded"]) >= 40  # the restart replayed them from the log
        assert int(after["zk_cnt_propagation_latency"]) == 0, after["zk_max_propagation_latency"]
        zk = kazoo_client(proc.hosts)
        zk.create("/after", b"y")
        close_kazoo(zk)
        now = _mntr(proc)
        assert int(now["zk_cnt_propagation_latency"]) >= 1 and int(now["zk_max_propagation_latency"]) < 1000
    finally:
        proc.stop()
