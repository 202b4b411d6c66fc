"""Loopback helpers: free ports and four-letter words (127.0.0.1 only)."""

from __future__ import annotations

import socket

from corral.testing import free_port, free_ports

HOST = "127.0.0.1"
__all__ = ["HOST", "four_letter", "free_port", "free_ports"]


def four_letter(host: str, port: int, cmd: str, timeout: float = 5.0) -> str:
    """Send a four-letter word and return everything the server writes before closing."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        for _ in range(1 << 20):  # bounded: a 4lw answer is far smaller than 64 GiB
            try:
                b = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")
