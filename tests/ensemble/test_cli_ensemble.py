"""`corral ensemble up N / status / down` end to end, in a temporary --dir with a small tickTime."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "corral", "ensemble", *args], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    if check:
        assert p.returncode == 0, f"corral ensemble {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive (its parent, `up`, has exited; init reaps it eventually)
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _status_rows(out: str) -> dict[int, tuple[str, int, int, str]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if not parts or not parts[0].isdigit():
            continue
        sid = int(parts[0])
        rest = parts[1:]
        zxid = rest[-1] if rest[-1].startswith("0x") else ""
        if zxid:
            rest = rest[:-1]
        pid, port = int(rest[-1]), int(rest[-2])
        rows[sid] = (" ".join(rest[:-2]), port, pid, zxid)
    return rows


def _kill_all(base: Path) -> None:
    """Cleanup: SIGKILL the members `up` started (their PIDs are in state.json), nothing else."""
    try:
        members = json.loads((base / "state.json").read_text())["members"]
    except (OSError, ValueError):
        return
    for m in members:
        if _alive(m["pid"]):
            try:
                os.kill(m["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_up_status_down(tmp_path):
    base = tmp_path / "ens"
    try:
        out = _cli("up", "3", "--dir", str(base), "--tick-time", "200").stdout
        rows = _status_rows(out)
        assert sorted(rows) == [1, 2, 3], out
        # `up` returns once a leader is elected; a member may still be joining it.
        assert [r[0] for r in rows.values()].count("leader") == 1, out
        assert "connect with: corral shell -server 127.0.0.1:" in out

        def all_serving() -> dict | None:
            r = _status_rows(_cli("status", "--dir", str(base)).stdout)
            return r if sorted(v[0] for v in r.values()) == ["follower", "follower", "leader"] else None
        rows = wait_until(all_serving, WAIT, "status: a leader and two followers")
        state = json.loads((base / "state.json").read_text())["members"]
        assert [m["pid"] for m in state] == [rows[i][2] for i in (1, 2, 3)]
        for m in state:
            assert _alive(m["pid"])
            cfg = Path(m["config"]).read_text()
            assert "tickTime=200" in cfg and cfg.count("server.") == 3
            assert (Path(m["config"]).parent / "data" / "myid").read_text().strip() == str(m["id"])

        hosts = ",".join(f"127.0.0.1:{m['client_port']}" for m in state)
        client = start_kazoo(hosts)
        try:
            client.create("/cli", b"hello")
            client.sync("/")
        finally:
            close_kazoo(client)
        rows = wait_until(lambda: (r := _status_rows(_cli("status", "--dir", str(base)).stdout))
                          and len({v[3] for v in r.values()}) == 1 and r, WAIT, "status shows one zxid everywhere")
        assert int(next(iter(rows.values()))[3], 16) > 0

        # `up` refuses to start a second ensemble over a running one.
        again = _cli("up", "3", "--dir", str(base), check=False)
        assert again.returncode == 1 and "still running" in again.stderr

        # The leader dies: status shows it stopped, and another member leads.
        leader_id = next(i for i, r in rows.items() if r[0] == "leader")
        os.kill(rows[leader_id][2], signal.SIGKILL)
        wait_until(lambda: not _alive(rows[leader_id][2]), WAIT, "killed leader gone")

        def new_leader() -> dict | None:
            r = _status_rows(_cli("status", "--dir", str(base)).stdout)
            return r if r[leader_id][0] == "stopped" and [v[0] for v in r.values()].count("leader") == 1 else None
        wait_until(new_leader, WAIT, "status: old leader stopped, a new leader")

        down = _cli("down", "--dir", str(base)).stdout
        for m in state:
            assert f"stopped member {m['id']} (pid {m['pid']})" in down
            assert not _alive(m["pid"])
        rows = _status_rows(_cli("status", "--dir", str(base)).stdout)
        assert {r[0] for r in rows.values()} == {"stopped"}
    finally:
        _kill_all(base)


def test_up_with_an_observer(tmp_path):
    base = tmp_path / "ens"
    try:
        out = _cli("up", "3", "--observers", "1", "--dir", str(base), "--tick-time", "200").stdout
        rows = _status_rows(out)
        wait_until(lambda: (r := _status_rows(_cli("status", "--dir", str(base)).stdout)) and
                   sorted(v[0] for v in r.values()) == ["follower", "follower", "leader", "observer"],
                   WAIT, "three voters and an observer serving")
        assert rows[4][1] > 0
        assert ":observer;" in (base / "s4" / "zoo.cfg").read_text()
        _cli("down", "--dir", str(base))
    finally:
        _kill_all(base)


def test_status_without_an_ensemble(tmp_path):
    p = _cli("status", "--dir", str(tmp_path / "none"), check=False)
    assert p.returncode == 1 and "no ensemble state" in p.stderr
