"""corral's AdminServer alone: hostile HTTP, a busy admin port, the web console's mount, and JSON logs
(an ensemble's commands are compared with an Apache ensemble's in test_admin_ensemble_vs_apache.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin.support import admin_server, command, request
from tests.support.net import HOST, free_port
from tests.support.server import ServerProcess, make_server
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corral() -> Iterator[tuple[ServerProcess, int]]:
    srv, port, _ = admin_server("corral")
    try:
        yield srv, port
    finally:
        srv.close()


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 404),
    ("GET", "/nope", 404),
    ("GET", "/commands/" + "x" * 9000, 400),  # request line over 8 KiB
    ("GET", "/commands/ruok?" + "a=b&" * 3000, 400),
    ("PUT", "/commands/ruok", 405),
    ("DELETE", "/commands/ruok", 405),
    ("PATCH", "/commands", 405),
    ("TRACE", "/commands/ruok", 405),
    ("POST", "/commands/ruok", 405),
    ("BREW", "/commands/ruok", 400),  # not an HTTP method at all
])
def test_hostile_requests_get_an_http_error(corral: tuple[ServerProcess, int], method: str, path: str,
                                            status: int) -> None:
    srv, port = corral
    got, _, _ = request(port, method, path)
    assert got == status
    assert command(port, "ruok")["error"] is None
    assert srv.four_letter("ruok") == "imok"


@pytest.mark.parametrize("name", ["nosuch", "..%2F..%2Fetc%2Fpasswd", "a/b/c", "%00%ff", "ruok%20", "<script>"])
def test_unknown_commands_answer_an_error(corral: tuple[ServerProcess, int], name: str) -> None:
    status, ctype, body = request(corral[1], "GET", f"/commands/{name}")
    assert status == 200 and ctype.startswith("application/json")
    out = json.loads(body)
    assert out["error"].startswith("Unknown command: ")


def test_garbage_bytes_then_still_serving(corral: tuple[ServerProcess, int]) -> None:
    srv, port = corral
    assert srv.alive
    for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET /commands/ruok HTTP/9.9\r\n\r\n", b"\r\n" * 50):
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                s.recv(4096)
            except (TimeoutError, ConnectionResetError):
                pass
    assert command(port, "ruok")["error"] is None
    assert command(port, "stat_reset")["error"] is None
    bad = command(port, "set_trace_mask?traceMask=" + "9" * 40)
    assert bad["error"].startswith("setTraceMask requires long traceMask argument")


def test_busy_admin_port_is_one_line_and_clients_are_served(tmp_path: Path) -> None:
    """As ZooKeeper: the AdminServer not starting does not stop the server. Logs in JSON here."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        busy = holder.getsockname()[1]
        port = free_port()
        cfg = tmp_path / "zoo.cfg"
        cfg.write_text(f"dataDir={tmp_path / 'data'}\nclientPort={port}\nclientPortAddress={HOST}\n"
                       f"admin.serverAddress={HOST}\nadmin.serverPort={busy}\n4lw.commands.whitelist=*\n")
        log = tmp_path / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "corral", "server", "--log-format", "json", str(cfg)],
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            from tests.support.net import four_letter

            def ok() -> bool:
                # the AdminServer starts just after the client port (as in Apache's QuorumPeer.start)
                try:
                    return four_letter(HOST, port, "ruok", timeout=1) == "imok" and \
                        "admin_server_not_started" in log.read_text(errors="replace")
                except OSError:
                    return False
            wait_until(ok, 30, "corral to serve with its admin port taken")
        finally:
            proc.terminate()
            proc.wait(15)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    failed = [e for e in lines if e.get("event") == "admin_server_not_started"]
    assert len(failed) == 1 and failed[0]["port"] == str(busy) and failed[0]["level"] == "ERROR"
    assert any(e.get("event") == "serving" for e in lines)
    assert all({"ts", "level", "logger"} <= set(e) for e in lines)


def test_bad_log_format_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "corral", "server", "--log-format", "xml"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "xml" in r.stderr


def test_web_console_is_mounted_at_console(corral: tuple[ServerProcess, int]) -> None:
    """The console (corral.console) is served by the AdminServer at /console/, reading this server's tree."""
    _, port = corral
    status, _, _ = request(port, "GET", "/console")
    assert status == 302  # http.client does not follow: the bare prefix redirects to /console/
    status, ctype, body = request(port, "GET", "/console/")
    assert status == 200 and ctype.startswith("text/html") and "<html" in body
    status, ctype, body = request(port, "GET", "/console/api/node?path=/zookeeper")
    assert status == 200, body
    assert json.loads(body)["path"] == "/zookeeper"


def test_web_console_can_be_left_out() -> None:
    admin = free_port()
    srv = make_server("corral", extra_cfg={"admin.enableServer": "true", "admin.serverAddress": HOST,
                                           "admin.serverPort": str(admin), "admin.console.enable": "false"})
    try:
        assert request(admin, "GET", "/commands/ruok")[0] == 200
        assert request(admin, "GET", "/console/")[0] == 404
    finally:
        srv.close()
