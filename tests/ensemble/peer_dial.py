"""Dialling a member's peer port the way a plaintext Apache peer would, to check a TLS port refuses it."""

from __future__ import annotations

import socket

from corral.peerwire import InitialMessage
from tests.support.net import HOST


def dial_plaintext_peer(port: int, sid: int) -> None:
    """Send QuorumCnxManager's plaintext initial message as member `sid` to a TLS peer port; the member must
    close the connection without answering (at most a TLS alert, record type 0x15)."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(InitialMessage(sid, ((HOST, 1),)).encode())
        s.settimeout(5)
        answer = b""
        for _ in range(10):  # until the member closes the connection
            chunk = s.recv(100)
            if not chunk:
                break
            answer += chunk
        else:
            raise AssertionError(f"a TLS peer port kept talking to a plaintext peer: {answer!r}")
        assert not answer or answer[0] == 0x15, f"a plaintext peer was answered on a TLS port: {answer!r}"
