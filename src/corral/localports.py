"""Free loopback ports for the members that `corral ensemble` and the test harnesses start.

Why below the ephemeral range: every outgoing connection (a peer dialling another member, a client, a
probe) takes a source port from `ip_local_port_range` at any moment. A port picked there and released
until its server binds it can be taken by such a connection in between, and the member then fails to
start with "address already in use" (seen in CI: a member's election port taken by another member's
connection to a third). Ports between 10000 and the start of that range are only ever taken by explicit
binds. Outside corral.testing so that the command line does not import the test plugin.
"""

from __future__ import annotations

import random
import socket
import threading
from collections import deque
from pathlib import Path

__all__ = ["pick_free_ports", "port_free"]

HOST = "127.0.0.1"
_LOWEST = 10000
_MAX_PROBES = 5000  # bounded: a busy machine still has thousands of free ports below the ephemeral range
# Not the `random` module's shared generator: anything in the process may reseed it, and two picks from
# the same state would hand two servers the same port.
_rng = random.SystemRandom()
# The ports handed out lately, never handed out again soon: two servers picked one after the other but
# started later (both still unbound at the second pick) must not get the same port.
_RECENT = 4096
_recent: deque[int] = deque(maxlen=_RECENT)
_recent_set: set[int] = set()
_lock = threading.Lock()


def port_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR, as servers bind: a closed
    connection lingering in TIME_WAIT does not count as taken)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def pick_free_ports(n: int, host: str = HOST) -> list[int]:
    """`n` distinct ports nothing listens on now, below the ephemeral range when it leaves room; the
    kernel's own picks otherwise. None of the last few thousand ports this process handed out is handed
    out again. Another process may still bind one before it is used."""
    with _lock:
        picked = _pick(n, host)
        for port in picked:
            if len(_recent) == _RECENT:
                _recent_set.discard(_recent[0])
            _recent.append(port)
            _recent_set.add(port)
    return picked


def _pick(n: int, host: str) -> list[int]:
    low = _ephemeral_low()
    picked: list[int] = []
    if low > _LOWEST + 1000:
        for _ in range(_MAX_PROBES):
            if len(picked) == n:
                return picked
            port = _rng.randrange(_LOWEST, low)
            if port not in _recent_set and port not in picked and port_free(port, host):
                picked.append(port)
    socks: list[socket.socket] = []  # fall back to ports the kernel hands out, all bound at once
    try:
        for _ in range(n + 64):  # bounded: the kernel never hands out a bound port twice
            if len(picked) >= n:
                break
            s = socket.socket()
            socks.append(s)
            s.bind((host, 0))
            port = int(s.getsockname()[1])
            if port not in picked:
                picked.append(port)
    finally:
        for s in socks:
            s.close()
    return picked[:n]
