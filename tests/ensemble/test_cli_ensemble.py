"""`corral ensemble up N / status / start N / stop N / restart N / down` end to end, in a temporary --dir
with a small tickTime."""

from __future__ import annotations

import ast
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from corral.security.devpki import DEV_CLIENT_DN
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT
from .peer_dial import dial_plaintext_peer

pytestmark = pytest.mark.slow


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
        pid, port = (int(rest[-1]) if rest[-1].isdigit() else 0), int(rest[-2])  # "-": not running
        rows[sid] = (" ".join(rest[:-2]), port, pid, zxid)
    return rows


def _status(base: Path) -> tuple[int, dict[int, tuple[str, int, int, str]]]:
    """(exit status, rows) of `corral ensemble status`: 0 only when every member serves."""
    p = _cli("status", "--dir", str(base), check=False)
    return p.returncode, _status_rows(p.stdout)


def _kill_all(base: Path) -> None:
    """Cleanup: SIGKILL the members `up`/`start`/`restart` started (their PIDs are in state.json), nothing else."""
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
            rc, r = _status(base)
            return r if rc == 0 and sorted(v[0] for v in r.values()) == ["follower", "follower", "leader"] else None
        rows = wait_until(all_serving, WAIT, "status: a leader and two followers (exit status 0)")
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
        rows = wait_until(lambda: (r := _status(base)[1]) and len({v[3] for v in r.values()}) == 1 and r,
                          WAIT, "status shows one zxid everywhere")
        assert int(next(iter(rows.values()))[3], 16) > 0

        # `up` over a running ensemble of the same size starts nothing; of another size it is refused.
        again = _cli("up", "3", "--dir", str(base))
        assert "already running" in again.stderr
        assert [m["pid"] for m in json.loads((base / "state.json").read_text())["members"]] == [m["pid"] for m in state]
        other = _cli("up", "5", "--dir", str(base), check=False)
        assert other.returncode == 1 and "still running" in other.stderr

        # The leader dies: status shows it stopped, and another member leads.
        leader_id = _kill_leader(base, rows)

        down = _cli("down", "--dir", str(base)).stdout
        for m in state:
            line = f"member {m['id']} was not running" if m["id"] == leader_id else \
                f"stopped member {m['id']} (pid {m['pid']})"
            assert line in down, down
            assert not _alive(m["pid"])
        rc, rows = _status(base)
        assert rc == 1 and {r[0] for r in rows.values()} == {"stopped"}
    finally:
        _kill_all(base)


def _kill_leader(base: Path, rows: dict[int, tuple[str, int, int, str]]) -> int:
    """SIGKILL the leader in `status` rows and wait until status shows it stopped and another member leading
    (exit status 1: a member down, however well the others serve); the killed member's id."""
    leader_id = next(i for i, r in rows.items() if r[0] == "leader")
    os.kill(rows[leader_id][2], signal.SIGKILL)
    wait_until(lambda: not _alive(rows[leader_id][2]), WAIT, "killed leader gone")

    def new_leader() -> dict | None:
        rc, r = _status(base)
        return r if rc == 1 and r[leader_id][0] == "stopped" and \
            [v[0] for v in r.values()].count("leader") == 1 else None
    wait_until(new_leader, WAIT, "status: old leader stopped, a new leader, exit status 1")
    return leader_id


def test_up_with_an_observer(tmp_path):
    base = tmp_path / "ens"
    try:
        out = _cli("up", "3", "--observers", "1", "--dir", str(base), "--tick-time", "200").stdout
        rows = _status_rows(out)
        wait_until(lambda: (r := _status(base)) and r[0] == 0 and
                   sorted(v[0] for v in r[1].values()) == ["follower", "follower", "leader", "observer"],
                   WAIT, "three voters and an observer serving")
        assert rows[4][1] > 0
        assert ":observer;" in (base / "s4" / "zoo.cfg").read_text()
        _cli("down", "--dir", str(base))
    finally:
        _kill_all(base)


def test_status_without_an_ensemble(tmp_path):
    p = _cli("status", "--dir", str(tmp_path / "none"), check=False)
    assert p.returncode == 1 and "no ensemble state" in p.stderr


@pytest.mark.parametrize("text", ['{"members": [', '[1, 2]', '{"members": [{"id": "one"}]}', '{}', 'null',
                                  '{"members": [], "tls": "maybe"}'])
def test_a_damaged_state_file_is_one_line(tmp_path, text):
    base = tmp_path / "ens"
    base.mkdir()
    (base / "state.json").write_text(text)
    for args in (("status",), ("start", "1"), ("stop", "1"), ("restart", "1"), ("down",)):
        p = _cli(*args, "--dir", str(base), check=False)
        assert p.returncode == 1, (args, p)
        assert p.stderr.startswith("corral ensemble: cannot read ") and p.stderr.count("\n") == 1, (args, p.stderr)
        assert "Traceback" not in p.stderr


def test_an_unknown_member_is_named(tmp_path):
    base = tmp_path / "ens"
    base.mkdir()
    (base / "state.json").write_text('{"members": []}')
    for args in (("start", "9"), ("stop", "9"), ("restart", "9")):
        p = _cli(*args, "--dir", str(base), check=False)
        assert p.returncode == 1 and p.stderr.startswith("corral ensemble: no member 9 in "), (args, p.stderr)


def _members(base: Path) -> dict[int, dict]:
    return {m["id"]: m for m in json.loads((base / "state.json").read_text())["members"]}


def _ports(base: Path) -> dict[int, tuple[int, int, int]]:
    return {i: (m["client_port"], m["peer_port"], m["election_port"]) for i, m in _members(base).items()}


def _all_serving(base: Path) -> dict:
    return wait_until(lambda: (r := _status(base))[0] == 0 and r[1], WAIT, "status: every member serving")


def test_ports_stay_and_members_stop_start_restart_one_at_a_time(tmp_path):
    """Ports are chosen once and kept (state.json, zoo.cfg) across stop/start/restart and down/up; `stop 2`
    makes status exit 1 with member 2 stopped, `start 2` brings it back (status 0); `restart 3` serves again
    on the same port with the same data; `up` with one member down starts only that one; a recorded port
    held by a foreign process makes `up` fail with one line naming it."""
    base = tmp_path / "ens"
    try:
        _cli("up", "3", "--dir", str(base), "--tick-time", "200")
        _all_serving(base)
        ports = _ports(base)
        configs = {i: Path(m["config"]).read_text() for i, m in _members(base).items()}

        out = _cli("stop", "2", "--dir", str(base)).stdout
        pid2 = _members(base)[2]["pid"]
        assert f"stopped member 2 (pid {pid2})" in out and not _alive(pid2)
        rc, rows = _status(base)
        assert rc == 1 and rows[2][0] == "stopped" and rows[2][2] == 0, rows
        assert _cli("stop", "2", "--dir", str(base)).stdout.strip() == "member 2 is not running"

        out = _cli("start", "2", "--dir", str(base)).stdout
        new2 = _members(base)[2]["pid"]
        assert new2 != pid2 and _alive(new2) and f"started member 2 (pid {new2})" in out
        rows = _all_serving(base)
        assert rows[2][1] == ports[2][0] and rows[2][2] == new2

        hosts = ",".join(f"127.0.0.1:{p[0]}" for p in ports.values())
        client = start_kazoo(hosts)
        try:
            client.create("/kept", b"across restarts")
            client.sync("/")
        finally:
            close_kazoo(client)
        old3 = _members(base)[3]["pid"]
        out = _cli("restart", "3", "--dir", str(base)).stdout
        new3 = _members(base)[3]["pid"]
        assert f"stopped member 3 (pid {old3})" in out and f"started member 3 (pid {new3})" in out
        assert not _alive(old3) and _alive(new3)
        only3 = start_kazoo(f"127.0.0.1:{ports[3][0]}")
        try:
            only3.sync("/")
            assert only3.get("/kept")[0] == b"across restarts"
        finally:
            close_kazoo(only3)

        # `up` with member 1 down starts member 1 only.
        _cli("stop", "1", "--dir", str(base))
        before = _members(base)
        _cli("up", "3", "--dir", str(base))
        after = _members(base)
        assert after[1]["pid"] != before[1]["pid"] and _alive(after[1]["pid"])
        assert [after[i]["pid"] for i in (2, 3)] == [before[i]["pid"] for i in (2, 3)]
        _all_serving(base)

        _cli("down", "--dir", str(base))
        _cli("up", "3", "--dir", str(base))
        assert _ports(base) == ports
        assert {i: Path(m["config"]).read_text() for i, m in _members(base).items()} == configs
        _all_serving(base)
        _cli("down", "--dir", str(base))

        # A foreign process holds member 2's client port: nothing starts, and the error names the port.
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", ports[2][0]))
            squatter.listen()
            p = _cli("up", "3", "--dir", str(base), check=False)
            assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
            assert f"127.0.0.1:{ports[2][0]} is in use" in p.stderr and "member 2" in p.stderr
            assert all(not _alive(m["pid"]) for m in _members(base).values())
    finally:
        _kill_all(base)


def test_member_restarted_by_hand_shows_running(tmp_path):
    """A member restarted by hand (`corral server sN/zoo.cfg`) counts as running, with its pid (from the pid
    file in its dataDir); stop/restart/down leave that process alone and say so."""
    base = tmp_path / "ens"
    hand = None
    try:
        _cli("up", "3", "--dir", str(base), "--tick-time", "200")
        _cli("stop", "2", "--dir", str(base))
        cfg = _members(base)[2]["config"]
        with open(tmp_path / "hand.log", "ab") as log:
            hand = subprocess.Popen([sys.executable, "-m", "corral", "server", cfg], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        rows = wait_until(lambda: (r := _status(base))[0] == 0 and r[1][2][2] == hand.pid and r[1], WAIT,
                          "status: the member started by hand serving, with its pid")
        assert rows[2][0] in ("leader", "follower")
        assert (Path(cfg).parent / "data" / "corral_server.pid").read_text().strip() == str(hand.pid)
        p = _cli("stop", "2", "--dir", str(base), check=False)
        assert p.returncode == 1 and f"pid {hand.pid}" in p.stderr and "did not start" in p.stderr, p.stderr
        p = _cli("restart", "2", "--dir", str(base), check=False)
        assert p.returncode == 1 and "did not start" in p.stderr
        out = _cli("down", "--dir", str(base)).stdout
        assert f"left member 2 running (pid {hand.pid}" in out
        assert hand.poll() is None
    finally:
        if hand is not None:
            hand.kill()
            hand.wait(10)
        _kill_all(base)


def _printed_kazoo_args(out: str) -> dict[str, object]:
    """The keyword arguments of the `kazoo: KazooClient(...)` line `up --tls` prints."""
    line = next(x for x in out.splitlines() if x.strip().startswith("kazoo: KazooClient("))
    call = ast.parse(line.split("kazoo: ", 1)[1], mode="eval").body
    assert isinstance(call, ast.Call) and not call.args
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}


def _printed_shell(out: str) -> list[str]:
    """The `corral shell ... --tls-*` command line `up --tls` prints, as argv for this Python."""
    line = next(x for x in out.splitlines() if x.strip().startswith("corral shell") and "--tls-ca" in x)
    return [sys.executable, "-m", "corral", *shlex.split(line)[1:]]


def _check_modes(pki: Path) -> dict[str, bytes]:
    """The pki directory is 0700 and every file in it 0600; returns the files' contents."""
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    files = {p.name: p.read_bytes() for p in sorted(pki.iterdir())}
    assert {"ca.pem", "client.crt", "client.key", "client.pem"} <= set(files), files.keys()
    for name in files:
        assert stat.S_IMODE((pki / name).stat().st_mode) == 0o600, name
    return files


def test_up_tls_ensemble_talks_tls_and_keeps_its_certificates(tmp_path):
    """`up 3 --tls`: members talk TLS to each other (sslQuorum, a plaintext peer refused), kazoo and the
    corral shell connect over TLS with the settings `up` prints (the shell sees the developer's x509 id);
    `status` probes over TLS; the leader killed -9, another leads and `start` brings it back; `start` and
    `restart` keep the certificates, whose files are 0600 in a 0700 directory; `down` stops every member."""
    base = tmp_path / "ens"
    try:
        out = _cli("up", "3", "--tls", "--dir", str(base), "--tick-time", "200").stdout
        pki = base / "pki"
        files = _check_modes(pki)
        assert {"s1.pem", "s2.pem", "s3.pem"} <= set(files)
        members = _members(base)
        for m in members.values():
            cfg = Path(m["config"]).read_text().splitlines()
            assert "sslQuorum=true" in cfg and f"secureClientPort={m['secure_client_port']}" in cfg
            assert "secureClientPortAddress=127.0.0.1" in cfg
            assert f"clientPort={m['client_port']}" in cfg  # --tls keeps the plaintext port
        wait_until(lambda: all("event=peer_port_security port=election mode=tls" in Path(m["log"]).read_text()
                               for m in members.values()), WAIT, "every member's election port on TLS")
        _all_serving(base)

        # A plaintext peer on a member's election port: refused, and logged by the member.
        dial_plaintext_peer(members[2]["election_port"], 1)
        wait_until(lambda: "event=peer_refused port=election" in Path(members[2]["log"]).read_text(), WAIT,
                   "the plaintext peer logged")

        kw = _printed_kazoo_args(out)
        assert kw["use_ssl"] is True and kw["hosts"] == ",".join(
            f"127.0.0.1:{m['secure_client_port']}" for m in members.values())
        client = start_kazoo(**kw)  # type: ignore[arg-type]
        try:
            client.create("/tls", b"over tls")
        finally:
            close_kazoo(client)
        shell = subprocess.run(_printed_shell(out), input="get /tls\nwhoami\n", capture_output=True, text=True,
                               timeout=60, stdin=None)
        assert "over tls" in shell.stdout and f"x509: {DEV_CLIENT_DN}" in shell.stdout, shell

        leader_id = _kill_leader(base, _all_serving(base))
        _cli("start", str(leader_id), "--dir", str(base))
        _all_serving(base)

        old = _members(base)[2]["pid"]  # as now: member 2 may have been the leader killed and started above
        out = _cli("restart", "2", "--dir", str(base)).stdout
        assert f"stopped member 2 (pid {old})" in out
        assert _check_modes(pki) == files
        rows = _all_serving(base)
        new = _members(base)[2]["pid"]
        assert rows[2][2] == new != old

        # A certificate gone while members run: a restart is refused before it stops the member.
        (pki / "s3.pem").unlink()
        p = _cli("restart", "2", "--dir", str(base), check=False)
        assert p.returncode == 1 and "s3.pem is missing" in p.stderr and _alive(new), p.stderr

        down = _cli("down", "--dir", str(base)).stdout
        assert down.count("stopped member") == 3, down
        assert all(not _alive(m["pid"]) for m in _members(base).values())
    finally:
        _kill_all(base)


def test_up_tls_only_has_no_plaintext_port(tmp_path):
    """`--tls-only`: no clientPort (status probes over TLS), the TLS setting is kept per --dir, and
    certificates removed while the member is stopped are made anew by the next `up`."""
    base = tmp_path / "ens"
    try:
        out = _cli("up", "1", "--tls-only", "--dir", str(base), "--tick-time", "200").stdout
        assert "connect with: corral shell" not in out and "--tls-ca" in out
        m = _members(base)[1]
        cfg = Path(m["config"]).read_text().splitlines()
        assert m["client_port"] == 0 and not any(x.startswith("clientPort=") for x in cfg), cfg
        rc, rows = _status(base)
        assert rc == 0 and rows[1][1] == m["secure_client_port"], rows
        again = _cli("up", "1", "--tls", "--dir", str(base), check=False)
        assert again.returncode == 1 and "made with --tls-only" in again.stderr
        _cli("down", "--dir", str(base))

        (base / "pki" / "client.key").unlink()
        out = _cli("up", "1", "--dir", str(base))
        assert "making a new CA" in out.stderr
        _check_modes(base / "pki")
        assert _status(base)[0] == 0
        _cli("down", "--dir", str(base))
    finally:
        _kill_all(base)
