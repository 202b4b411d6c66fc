"""One server per data directory (persistence/lock.py).

Two servers on one dataDir would both recover the same files and both append to them, so writes one
acknowledged are gone after a restart. The second must refuse to start, naming the holder's pid, and
the first must keep serving with nothing lost; read-only tools still work on the live directory; the
lock dies with its process (kill -9 leaves nothing stale).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corral.persistence.lock import LOCK_NAME, DataDirError, DataDirLocked, lock_data_dirs
from tests.durability.support import START_TIMEOUT
from tests.support.server import CorralProcess

# ---- in-process: the lock itself -----------------------------------------------------------------------


def test_second_lock_on_the_same_dir_is_refused_with_the_holder_pid(tmp_path):
    first = lock_data_dirs(tmp_path / "d", tmp_path / "d")
    try:
        assert (tmp_path / "d" / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(DataDirLocked) as exc:
            lock_data_dirs(tmp_path / "d", tmp_path / "other")
        assert exc.value.holder == os.getpid()
        assert str(exc.value) == (f"dataDir={tmp_path / 'd'}: in use by another corral server "
                                  f"(pid {os.getpid()}, lock {tmp_path / 'd' / LOCK_NAME})")
        with pytest.raises(DataDirLocked) as exc:  # the same dataLogDir is refused too
            lock_data_dirs(tmp_path / "other", tmp_path / "d")
        assert exc.value.key == "dataLogDir"
    finally:
        first.release()
    lock_data_dirs(tmp_path / "d", tmp_path / "d").release()  # released: free again


def test_a_refused_lock_releases_what_it_took(tmp_path):
    held = lock_data_dirs(tmp_path / "logs", tmp_path / "logs")
    try:
        with pytest.raises(DataDirLocked):
            lock_data_dirs(tmp_path / "data", tmp_path / "logs")
        lock_data_dirs(tmp_path / "data", tmp_path / "data").release()  # dataDir was not left locked
    finally:
        held.release()


def test_data_log_dir_under_another_name_is_one_lock(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "d")
    lock_data_dirs(tmp_path / "d", tmp_path / "alias").release()


def test_directories_are_checked_before_anything_is_locked(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(DataDirError) as exc:
        lock_data_dirs(tmp_path / "d", tmp_path / "f")
    assert str(exc.value) == f"dataLogDir={tmp_path / 'f'}: not a directory"
    assert not (tmp_path / "d" / LOCK_NAME).exists()
    with pytest.raises(DataDirError) as exc:
        lock_data_dirs(tmp_path / "new", tmp_path / "new", autocreate=False)
    assert "does not exist" in str(exc.value)


# ---- real processes ------------------------------------------------------------------------------------


def _client(srv: CorralProcess):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start(timeout=60)
    return zk


@pytest.mark.slow
def test_second_server_on_the_same_data_dir_refuses_and_nothing_is_lost(tmp_path):
    first = CorralProcess(data_dir=tmp_path / "one").start(timeout=START_TIMEOUT)
    try:
        zk = _client(first)
        try:
            for i in range(20):
                zk.create(f"/n{i}", str(i).encode())
        finally:
            zk.stop()
            zk.close()
        data = first.data_dir / "data"
        for extra in ({"dataDir": str(data)}, {"dataDir": str(tmp_path / "two" / "d"), "dataLogDir": str(data)}):
            second = CorralProcess(data_dir=tmp_path / "two", extra_cfg=extra)
            second.start(wait=False)
            assert second.proc is not None
            assert second.proc.wait(60) == 2
            line = second.log().strip().splitlines()[-1]
            key = "dataLogDir" if "dataLogDir" in extra else "dataDir"
            assert line == (f"corral: data directory in use: {key}={data}: in use by another corral server "
                            f"(pid {first.pid}, lock {data / LOCK_NAME})")
            assert "Traceback" not in second.log()
        assert first.alive
        zk = _client(first)
        try:
            zk.create("/after", b"still serving")
        finally:
            zk.stop()
            zk.close()
        # read-only tools on the live directory do not need (or take) the lock
        logs = sorted((data / "version-2").glob("log.*"))
        dump = subprocess.run([sys.executable, "-m", "corral", "log", "dump", str(logs[0])], capture_output=True,
                              text=True, timeout=60)
        assert dump.returncode == 0 and "/n19" in dump.stdout, dump.stderr
        first.stop()
        first.start(timeout=START_TIMEOUT)
        zk = _client(first)
        try:
            assert [zk.get(f"/n{i}")[0] for i in range(20)] == [str(i).encode() for i in range(20)]
            assert zk.get("/after")[0] == b"still serving"
        finally:
            zk.stop()
            zk.close()
    finally:
        first.close()


@pytest.mark.slow
def test_lock_dies_with_the_process_and_survives_snapshots(tmp_path):
    """kill -9 leaves no stale lock; a forked snapshot child (snapCount=10) neither breaks nor keeps it."""
    srv = CorralProcess(data_dir=tmp_path / "s", extra_cfg={"snapCount": "10"}).start(timeout=START_TIMEOUT)
    try:
        zk = _client(srv)
        try:
            for i in range(40):
                zk.create(f"/s{i}")
        finally:
            zk.stop()
            zk.close()
        assert "event=snapshot_started" in srv.log()
        srv.kill()
        srv.start(timeout=START_TIMEOUT)
        zk = _client(srv)
        try:
            assert len([c for c in zk.get_children("/") if c.startswith("s")]) == 40
        finally:
            zk.stop()
            zk.close()
        assert Path(srv.data_dir / "data" / LOCK_NAME).read_text() == f"{srv.pid}\n"
    finally:
        srv.close()
