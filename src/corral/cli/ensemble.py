"""`corral ensemble up N | status | down`: a local ensemble on loopback for development.

Each member gets its own directory (`<dir>/sN/` with zoo.cfg, data/myid and server.log); `state.json`
records the members and their PIDs so `status` and `down` act only on processes `up` started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

import click

from ..processes import alive

STATE = "state.json"


class Member(TypedDict):
    """One member as recorded in state.json."""

    id: int
    client_port: int
    observer: bool
    pid: int
    config: str
    log: str

DIR_OPTION = click.option("--dir", "base", default="./ensemble", show_default=True,
                          type=click.Path(file_okay=False, path_type=Path))


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _four(port: int, cmd: str, timeout: float = 1.0) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(cmd.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def _mode(port: int) -> str:
    for line in _four(port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return "not serving"


@click.group("ensemble")
def ensemble_cmd() -> None:
    """Start, show and stop a local ensemble on 127.0.0.1 (development only)."""


@ensemble_cmd.command("up")
@click.argument("count", type=click.IntRange(1, 9))
@DIR_OPTION
@click.option("--observers", default=0, show_default=True, type=click.IntRange(0, 8), help="Members that only follow.")
@click.option("--tick-time", default=2000, show_default=True)
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for a leader.")
def up(count: int, base: Path, observers: int, tick_time: int, wait: float) -> None:
    """Write configs for COUNT members (+ observers) and start them."""
    base = base.resolve()
    if (base / STATE).exists() and any(alive(m["pid"]) for m in json.loads((base / STATE).read_text())["members"]):
        click.echo(f"an ensemble from {base} is still running: `corral ensemble down --dir {base}` first", err=True)
        sys.exit(1)
    total = count + observers
    ports = _free_ports(3 * total)
    planned: list[tuple[int, int]] = []  # (id, client port)
    lines = []
    for i in range(1, total + 1):
        client, peer, election = ports[3 * (i - 1):3 * i]
        role = ":observer" if i > count else ""
        lines.append(f"server.{i}=127.0.0.1:{peer}:{election}{role};127.0.0.1:{client}")
        planned.append((i, client))
    members: list[Member] = []
    for i, client in planned:
        d = base / f"s{i}"
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "data" / "myid").write_text(f"{i}\n")
        cfg = d / "zoo.cfg"
        cfg.write_text("\n".join([f"tickTime={tick_time}", "initLimit=10", "syncLimit=5", f"dataDir={d / 'data'}",
                                  f"clientPort={client}", "clientPortAddress=127.0.0.1",
                                  "4lw.commands.whitelist=*", *lines]) + "\n")
        with open(d / "server.log", "ab") as logf:
            proc = subprocess.Popen([sys.executable, "-m", "corral", "server", str(cfg)], stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        members.append(Member(id=i, client_port=client, observer=i > count, pid=proc.pid, config=str(cfg),
                              log=str(d / "server.log")))
    (base / STATE).write_text(json.dumps({"members": members}, indent=2))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if any(_mode(m["client_port"]) == "leader" for m in members):
            break
        time.sleep(0.2)
    _print_status(members)
    hosts = ",".join(f"127.0.0.1:{m['client_port']}" for m in members)
    click.echo(f"\nconnect with: corral shell -server {hosts}")


def _print_status(members: list[Member]) -> None:
    click.echo(f"{'id':>3} {'role':<12} {'client port':>11} {'pid':>8}  zxid")
    for m in members:
        zxid = ""
        for line in _four(m["client_port"], "srvr").splitlines():
            if line.startswith("Zxid: "):
                zxid = line[6:]
        state = _mode(m["client_port"]) if alive(m["pid"]) else "stopped"
        click.echo(f"{m['id']:>3} {state:<12} {m['client_port']:>11} {m['pid']:>8}  {zxid}")


def _load(base: Path) -> list[Member]:
    try:
        members: list[Member] = json.loads((base.resolve() / STATE).read_text())["members"]
        return members
    except FileNotFoundError:
        click.echo(f"no ensemble state in {base} (start one with `corral ensemble up 3`)", err=True)
        sys.exit(1)


@ensemble_cmd.command("status")
@DIR_OPTION
def status(base: Path) -> None:
    """Role, client port, PID and last zxid of every member."""
    _print_status(_load(base))


@ensemble_cmd.command("down")
@DIR_OPTION
def down(base: Path) -> None:
    """Stop the members `up` started (SIGTERM, then SIGKILL after 10 s). Data stays in --dir."""
    members = _load(base)
    for m in members:
        if alive(m["pid"]):
            os.kill(m["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    for m in members:
        while alive(m["pid"]) and time.monotonic() < deadline:
            try:
                if os.waitpid(m["pid"], os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if alive(m["pid"]):
            os.kill(m["pid"], signal.SIGKILL)
        click.echo(f"stopped member {m['id']} (pid {m['pid']})")
