"""Loopback helpers shared by the testing classes: free ports, four-letter words, bounded waits.

Why private copies (and not `tests/support`): `corral.testing` ships in the wheel, and `tests/` does
not, so the plugin must stand on its own. Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..localports import pick_free_ports

HOST = "127.0.0.1"
T = TypeVar("T")
log = logging.getLogger("corral.testing")

_MAX_POLLS = 1_000_000  # a zero interval still cannot spin forever


class WaitTimeout(AssertionError, TimeoutError):
    """A bounded wait that ran out of time.

    Both an AssertionError (pytest reports it as a failed expectation) and a TimeoutError (what a caller
    that retries catches)."""


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports on 127.0.0.1 that nothing listens on right now, below the kernel's
    ephemeral range (see corral.localports: a port there can be taken by any outgoing connection before
    its server binds it). Another process may still take one: the server classes retry a start whose
    port was taken."""
    return pick_free_ports(n, HOST)


def free_port() -> int:
    """One free TCP port on 127.0.0.1 (see `free_ports`)."""
    return free_ports(1)[0]


def four_letter(port: int, cmd: str, timeout: float = 5.0, host: str = HOST) -> str:
    """Send a four-letter word (`ruok`, `srvr`, `mntr`, ...) and return the whole answer.

    Raises OSError when nothing listens or the server does not answer within `timeout` seconds."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        for _ in range(1 << 16):  # bounded: an answer is far smaller than 4 GiB
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def admin_listening(config: Mapping[str, object], timeout: float = 1.0) -> bool:
    """Whether the AdminServer a zoo.cfg enables (`admin.enableServer=true`) accepts connections; true
    when it is off. corral starts it just after the client port (as Apache's QuorumPeer does), so a
    readiness probe that only asks the client port can see the server before its AdminServer."""
    if str(config.get("admin.enableServer", "true")).lower() != "true":
        return True
    address = str(config.get("admin.serverAddress") or "0.0.0.0")
    host = HOST if address in ("0.0.0.0", "::", "") else address
    try:
        with socket.create_connection((host, int(str(config.get("admin.serverPort", 8080)))), timeout=timeout):
            return True
    except OSError:
        return False


def _fields(text: str, sep: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, found, v = line.partition(sep)
        if found:
            out[k] = v
    return out


def parse_srvr(text: str) -> dict[str, str]:
    """`srvr`/`stat` output as a dict (`Mode`, `Zxid`, ...)."""
    return _fields(text, ": ")


def parse_mntr(text: str) -> dict[str, str]:
    """`mntr` output (tab-separated) as a dict."""
    return _fields(text, "\t")


def wait_until(predicate: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    An exception from the predicate counts as "not yet" (a probe of a server that is still starting gets
    ECONNREFUSED) and is kept for the message. After `timeout` seconds raises WaitTimeout naming `what`,
    the last value and the last error, so a failed wait explains itself in a CI log."""
    deadline = time.monotonic() + timeout
    last_value: object = None
    last_exc: Exception | None = None
    for _ in range(_MAX_POLLS):
        try:
            value = predicate()
        except Exception as e:
            last_exc = e
        else:
            if value:
                return value
            last_value = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f"; last value {last_value!r:.300}"
    if last_exc is not None:
        detail += f"; last error {last_exc!r}"
    raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}") from last_exc
