"""The console of a running server, from that server's zoo.cfg: the one function a host needs.

The console's own sessions go to the server's client address (a wildcard listen address becomes
loopback), and the ensemble view probes every `server.N` member's client address. A `server.N` line
without `;clientPort` says nothing about that member's client port, so the member is assumed to use
the same `clientPort` as this server on its own host (the usual layout: every member on 2181).
"""

from __future__ import annotations

from typing import Any

from ..server.config import WILDCARDS, ServerConfig
from .config import ConsoleConfig, MemberAddress

__all__ = ["console_config"]


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reachable(host: str | None, fallback: str) -> str:
    if not host or host in WILDCARDS:
        return fallback
    return host


def console_config(server: ServerConfig, **overrides: Any) -> ConsoleConfig:
    """A ConsoleConfig for the server configured by `server`; `overrides` set any other field
    (`writes=False`, `idle_timeout=...`)."""
    loopback = "::1" if server.client_port_address == "::" else "127.0.0.1"
    own = _reachable(server.client_port_address, loopback)
    members: list[MemberAddress] = []
    for sid, spec in sorted(server.servers.items()):
        if sid == server.my_id:
            members.append(MemberAddress(sid, own, server.client_port))
        else:
            port = spec.client_port if spec.client_port is not None else server.client_port
            members.append(MemberAddress(sid, _reachable(spec.client_addr, spec.host), port))
    if not members:
        members.append(MemberAddress(0, own, server.client_port))  # standalone: ZooKeeper's server id 0
    return ConsoleConfig(connect=_addr(own, server.client_port), members=tuple(members), **overrides)
