"""Loopback helpers: free ports and four-letter words (127.0.0.1 only)."""

from __future__ import annotations

from corral.testing import free_port, free_ports
from corral.testing._net import four_letter as testing_four_letter

HOST = "127.0.0.1"
__all__ = ["HOST", "four_letter", "free_port", "free_ports"]


def four_letter(host: str, port: int, cmd: str, timeout: float = 5.0) -> str:
    """Send a four-letter word and return everything the server writes before closing; OSError (a
    TimeoutError for a paused server) when it does not answer in time, never a silent empty answer."""
    return testing_four_letter(port, cmd, timeout=timeout, host=host)
