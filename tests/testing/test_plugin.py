"""corral.testing: the pytest plugin's fixtures and the classes behind them, used as a user would.

Why: the plugin is how a developer tests their own code against corral, so each promise of
docs/testing.md is checked here — a server per test that keeps its data across restart and kill -9,
pause/resume, the in-process server (sync and on the caller's loop), custom configuration, failure logs
in the report, and nothing left running afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from corral.client import SyncClient
from corral.testing import Ensemble, InProcessServer, ServerProcess, serve_in_process, wait_until
from corral.testing.process import NOT_SERVING


def kazoo(hosts: str, timeout: float = 10.0) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=timeout)
    zk.start(timeout=15)
    return zk


def stop_kazoo(zk: KazooClient) -> None:
    zk.stop()
    zk.close()


def test_corral_server_is_a_fresh_server_with_its_own_data(corral_server: ServerProcess) -> None:
    assert corral_server.hosts == f"127.0.0.1:{corral_server.port}"
    assert corral_server.four_letter("ruok") == "imok"
    assert corral_server.mode() == "standalone"
    assert (corral_server.data_dir / "data").is_dir()
    zk = kazoo(corral_server.hosts)
    try:
        assert zk.get_children("/") == ["zookeeper"]  # nothing from another test
        zk.create("/kept", b"1")
    finally:
        stop_kazoo(zk)


def test_data_survives_restart_and_kill(corral_server: ServerProcess) -> None:
    with corral_server.sync_client() as zk:
        zk.create("/a", b"before")
    pid = corral_server.pid
    corral_server.restart()
    assert corral_server.pid != pid
    corral_server.kill()
    assert not corral_server.alive
    corral_server.restart()  # from a crashed process: starts again on the same data and port
    with corral_server.sync_client() as zk:
        assert zk.get_data("/a")[0] == b"before"


def test_pause_and_resume(corral_server: ServerProcess) -> None:
    corral_server.pause()
    with pytest.raises(OSError):
        corral_server.four_letter("ruok", timeout=0.5)
    corral_server.resume()
    assert wait_until(lambda: corral_server.four_letter("ruok", timeout=1) == "imok", 10, "ruok after SIGCONT")


def test_server_process_without_pytest_removes_its_directory() -> None:
    with ServerProcess(tick_time=200) as srv:
        base, pid = srv.data_dir, srv.pid
        assert "tickTime=200" in srv.four_letter("conf")
    assert not srv.alive and pid is not None
    assert not base.exists()


def test_factory_applies_configuration(corral_server_factory) -> None:
    srv = corral_server_factory(tick_time=300, extra_cfg={"maxSessionTimeout": "5000"})
    conf = srv.four_letter("conf")
    assert "tickTime=300" in conf and "maxSessionTimeout=5000" in conf


def test_in_process_server_on_a_background_loop(corral_in_process: InProcessServer) -> None:
    assert corral_in_process.mode() == "standalone"
    with SyncClient(corral_in_process.hosts, timeout=10) as zk:
        zk.create("/inproc", b"x")
    assert corral_in_process.server.tree.nodes.get("/inproc") is not None  # the live server, in reach
    corral_in_process.restart()
    zk2 = kazoo(corral_in_process.hosts)
    try:
        assert zk2.get("/inproc")[0] == b"x"
    finally:
        stop_kazoo(zk2)


def test_serve_in_process_on_the_callers_loop(tmp_path: Path) -> None:
    """No async plugin needed: the user's own loop (here asyncio.run) runs server and client."""
    async def main() -> bytes:
        async with serve_in_process(data_dir=tmp_path) as srv, srv.client() as zk:
            await zk.create("/own-loop", b"yes")
            data, _ = await zk.get_data("/own-loop")
            return data
    assert asyncio.run(main()) == b"yes"
    assert (tmp_path / "data" / "version-2").is_dir()  # a given data_dir is kept


def test_failed_test_shows_the_server_log(tmp_path: Path) -> None:
    """Run pytest on a failing test in a fresh directory: the plugin comes from the entry point and the
    report carries the server's log."""
    (tmp_path / "test_fails.py").write_text(textwrap.dedent("""
        def test_boom(corral_server):
            assert corral_server.four_letter("ruok") == "imok"
            assert False, "deliberate"
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_fails.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Captured corral log 127.0.0.1:" in p.stdout, p.stdout
    assert "event=serving" in p.stdout, p.stdout


# ---- ensembles -------------------------------------------------------------------------------------


def test_ensemble_fails_over_when_the_leader_is_killed(corral_ensemble) -> None:
    ens = corral_ensemble(3)
    assert len(ens.hosts.split(",")) == 3
    old = ens.leader()
    zk = kazoo(ens.hosts)
    try:
        zk.create("/before", b"1")
        ens.kill(old)
        new = ens.leader(other_than=old)
        assert not old.alive
        zk.retry(zk.create, "/after", b"2")
        assert zk.retry(zk.get, "/before")[0] == b"1"
        ens.restart(old)
        assert ens.wait_stable() is new and old.mode() == "follower"
    finally:
        stop_kazoo(zk)


def test_docs_lock_example_survives_a_leader_crash(corral_ensemble) -> None:
    """The ensemble example of docs/testing.md, as written there."""
    ens = corral_ensemble(3)
    zk = KazooClient(hosts=ens.hosts)
    zk.start()
    try:
        lock = zk.Lock("/locks/job")
        assert lock.acquire(timeout=5)
        leader = ens.leader()
        ens.kill(leader)
        ens.leader(other_than=leader)
        assert lock.is_acquired and zk.retry(zk.get_children, "/locks/job")
    finally:
        stop_kazoo(zk)


def test_ensemble_partition_and_heal(corral_ensemble) -> None:
    ens = corral_ensemble(3, observers=1)
    assert [m.observer for m in ens.members] == [False, False, False, True]
    old = ens.leader()
    ens.partition(old)
    new = ens.leader(timeout=30, other_than=old)  # the others elect a new leader; the cut-off one steps down
    wait_until(lambda: not old.serving(), 30, "the partitioned leader to stop serving")
    assert NOT_SERVING in old.four_letter("srvr")
    ens.heal(old)
    assert ens.wait_stable() is new
    assert old.mode() == "follower"


def test_ensemble_pause_and_resume_a_follower(corral_ensemble) -> None:
    ens = corral_ensemble(3, tick_time=100)
    lead = ens.leader()
    follower = next(m for m in ens.members if m is not lead)
    ens.pause(follower)
    zk = kazoo(",".join(m.hosts for m in ens.members if m is not follower))
    try:
        zk.retry(zk.create, "/while-paused", b"")  # a quorum is still there
    finally:
        stop_kazoo(zk)
    ens.resume(follower)
    ens.wait_stable()
    assert follower.serving()
    with SyncClient(follower.hosts, timeout=10) as c:
        c.sync("/")
        assert c.exists("/while-paused") is not None


def test_an_ensemble_that_cannot_start_fails_fast_with_its_logs() -> None:
    ens = Ensemble(3, extra_cfg={"tickTime": "not-a-number"}, timeout=30)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="exited") as info:
        ens.start()
    assert time.monotonic() - t0 < 15
    assert "tickTime" in str(info.value)  # the members' logs say why
    assert not any(m.alive for m in ens.members) and not ens.base.exists()


def test_a_port_taken_before_the_start_is_replaced() -> None:
    """free_port() cannot reserve a port: another process may bind it first, and the start moves on."""
    srv = ServerProcess()
    taken = srv.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen(1)
        try:
            srv.start()
            assert srv.port != taken and srv.four_letter("ruok") == "imok"
        finally:
            srv.close()


@pytest.mark.parametrize("voters,observers", [(0, 0), (-1, 1), (3, -1)])
def test_an_impossible_ensemble_is_refused(voters, observers):
    with pytest.raises(ValueError, match="at least one voter"):
        Ensemble(voters, observers)


def test_members_are_numbered_from_one():
    ens = Ensemble(3)  # not started: nothing runs until start()
    try:
        assert [m.sid for m in ens] == [1, 2, 3] and ens[3] is ens.members[2]
        for bad in (0, 4, -1):
            with pytest.raises(KeyError, match=f"no member {bad}: members are 1..3"):
                ens[bad]
            with pytest.raises(KeyError):
                ens.kill(bad)
    finally:
        ens.close()
