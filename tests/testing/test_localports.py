"""Ports the harnesses pick stay out of the kernel's ephemeral range, where any outgoing connection
could take them between the pick and the server's bind (a member failed to start that way in CI)."""

from __future__ import annotations

import socket
from pathlib import Path

from corral.localports import pick_free_ports, port_free
from corral.testing import free_port, free_ports


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_picked_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()
    ports = [*free_ports(30), free_port()]
    assert len(set(ports[:30])) == 30
    for port in ports:
        assert port_free(port)
        if low > 11000:  # room below the range (Linux's default starts at 32768): the picks are there
            assert 10000 <= port < low


def test_a_port_a_server_listens_on_is_not_free() -> None:
    port = pick_free_ports(1)[0]
    assert port_free(port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_free(port)


def test_picks_one_after_another_never_repeat_even_when_the_global_random_is_reseeded() -> None:
    """Two servers picked in turn and started later must not share a port, whatever happens to the
    `random` module's state (a side-by-side compat test once ran both of its scenarios against one
    server, as two servers sharing a port would)."""
    import random

    seen = []
    for _ in range(300):
        random.seed(1234)
        seen.append(free_port())
    assert len(set(seen)) == len(seen)
