"""Anything that reaches a member's electionPort or peerPort without speaking ZooKeeper's peer protocol is
disconnected and logged, and the ensemble keeps serving: random bytes, a wrong protocol version, bad
initial messages, malformed frames, notifications and packets, sent to every member on both ports."""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest

from corral.peerwire import PROTOCOL_VERSION_V1, InitialMessage, Notification
from corral.peerwire import packets as P
from corral.peerwire.election import MAX_FRAME
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT, Ensemble, Member

HANDSHAKE_WAIT = 12.0  # the members' handshake deadline is 5 s; the box is shared


def _random_junk(seed: int, n: int = 4096) -> bytes:
    """Random bytes whose first eight, read as a protocol version, are none (negative, not -65536/-65535)."""
    b = bytearray(random.Random(seed).randbytes(n))
    b[0] |= 0x80
    b[1] &= 0xFE
    return bytes(b)


def _initial(sid: int, version: int = PROTOCOL_VERSION_V1, address: bytes = b"127.0.0.1:1") -> bytes:
    return struct.pack(">qqi", version, sid, len(address)) + address


def _frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def _election_cases(member: Member, ens: Ensemble) -> dict[str, bytes]:
    higher = max(m.sid for m in ens.members) + 0  # a real member id (a higher one is kept by the receiver)
    hello = InitialMessage(higher, (("127.0.0.1", 1),)).encode() if higher != member.sid else None
    vote = Notification(0, member.sid, 0, 1, 0, config=b"version=0")
    cases = {
        "random bytes (seed 1)": _random_junk(1),
        "random bytes (seed 2)": _random_junk(2, 100),
        "HTTP request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff" * 8,
        "unknown protocol version": _initial(higher, version=-65534),
        # Apache's QuorumCnxManager takes any id and dials back to the address the message names (a
        # joining server: corral does the same, tests/ensemble/test_reconfig_membership.py); an unknown
        # id that names no address (the pre-3.5 form, just the id) cannot be dialled: corral closes it.
        "initial message from an unknown id naming no address": struct.pack(">q", 99),
        "initial message from a negative id": _initial(-5),
        "initial message from itself": _initial(member.sid),
        "address length zero": struct.pack(">qqi", PROTOCOL_VERSION_V1, higher, 0),
        "address length over the bound": struct.pack(">qqi", PROTOCOL_VERSION_V1, higher, 1 << 20),
        "address that is not host:port": _initial(higher, address=b"nonsense"),
        "two addresses in a version 1 message": _initial(higher, address=b"a:1|b:2"),
    }
    if hello is not None:
        cases |= {
            "empty frame": hello + _frame(b""),
            "frame over the size limit": hello + struct.pack(">i", MAX_FRAME + 1) + b"\0" * 64,
            "short notification": hello + _frame(b"\0" * 20),
            "unknown server state": hello + _frame(Notification(9, 1, 0, 1, 0).encode()),
            "config length past the frame": hello + _frame(vote.encode()[:-3] + b"zzz" + b"x"),
            "a notification whose config has no version": hello + _frame(
                Notification(0, member.sid, 0, 1, 0, config=b"server.1=127.0.0.1:1:2:participant").encode()),
            "a notification whose config version is not hex": hello + _frame(
                Notification(0, member.sid, 0, 1, 0, config=b"version=zz").encode()),
        }
    return cases


def _peer_cases(member: Member, ens: Ensemble) -> dict[str, bytes]:
    other = next(m.sid for m in ens.members if m is not member)
    return {
        "random bytes (seed 3)": _random_junk(3),
        "HTTP request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff" * 8,
        "unknown packet type": P.encode_packet(77, 0),
        "a PING before FOLLOWERINFO": P.encode_packet(P.PING, 0),
        "an ACKEPOCH before FOLLOWERINFO": P.encode_packet(P.ACKEPOCH, 0, P.ack_epoch_data(1)),
        "FOLLOWERINFO of 7 bytes": P.encode_packet(P.FOLLOWERINFO, 0, b"\0" * 7),
        "FOLLOWERINFO from an unknown id": P.encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(99, 0)),
        "FOLLOWERINFO from itself": P.encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(member.sid, 0)),
        "FOLLOWERINFO with a negative id": P.encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(-5, 0)),
        "FOLLOWERINFO with a negative epoch": P.encode_packet(P.FOLLOWERINFO, -1 << 32,
                                                              P.learner_info_data(other, 0)),
        "a data length over the bound": struct.pack(">iqi", P.FOLLOWERINFO, 0, 0x7FFFFFF0) + b"\0" * 64,
        "FOLLOWERINFO then garbage": P.encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(other, 0))
        + _random_junk(4),
    }


def _disconnected(sock: socket.socket, timeout: float) -> bool:
    """True once the member closed the connection (EOF or reset) within `timeout`; False if still open."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def _send(port: int, payload: bytes, timeout: float = HANDSHAKE_WAIT) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            return True
        return _disconnected(s, timeout)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    ens = Ensemble(tmp_path_factory.mktemp("garbage"), voters=3)
    try:
        ens.start()
        yield ens
    finally:
        ens.close()


def _commits_and_serves(ens: Ensemble) -> None:
    assert all(m.alive for m in ens.members), {m.sid: m.proc.returncode for m in ens.members if m.proc}
    ens.wait_stable()
    client = start_kazoo(ens.hosts)
    try:
        client.ensure_path("/garbage")
        z = client.create("/garbage/n", b"x", sequence=True)
        assert client.exists(z) is not None
    finally:
        close_kazoo(client)
    ens.wait_converged()


def _no_tracebacks(ens: Ensemble) -> None:
    for m in ens.members:
        text = m.log(400000)
        assert "Traceback" not in text, f"member {m.sid} logged a traceback:\n{text[-4000:]}"


def test_garbage_and_bad_handshakes_are_disconnected_on_both_ports(ensemble):
    ens = ensemble
    _commits_and_serves(ens)
    kept_open = []
    for m in ens.members:
        for port, cases in ((m.election_port, _election_cases(m, ens)), (m.peer_port, _peer_cases(m, ens))):
            for name, payload in cases.items():
                if not _send(port, payload):
                    kept_open.append(f"member {m.sid} port {port}: {name}")
    assert not kept_open, f"connections not closed within {HANDSHAKE_WAIT} s: {kept_open}"
    _no_tracebacks(ens)
    for m in ens.members:
        text = m.log(400000)
        assert "event=peer_disconnected port=election" in text
        assert "event=peer_disconnected port=peer" in text
        assert "unrecognized protocol version" in text
    _commits_and_serves(ens)


@pytest.mark.parametrize("which", ["election", "peer"])
def test_a_silent_connection_is_closed_at_the_handshake_deadline(ensemble, which):
    """A connection that never completes its handshake (part of one, then nothing) does not stay open."""
    m = ensemble.members[0]
    port, partial = (m.election_port, struct.pack(">q", PROTOCOL_VERSION_V1)) if which == "election" \
        else (m.peer_port, struct.pack(">iq", P.FOLLOWERINFO, 0))
    assert _send(port, partial), f"a half-finished {which} handshake stayed open for {HANDSHAKE_WAIT} s"


def test_an_impostor_on_the_election_port_is_closed_and_the_member_dialled_back(ensemble):
    """QuorumCnxManager's rule: a connection dialled by a lower id is closed and answered by dialling
    that id back, so claiming a lower member's id cannot take its place."""
    ens = ensemble
    leader = ens.wait_stable()
    lower = [m for m in ens.members if m.sid < leader.sid]
    target, claimed = (leader, lower[0]) if lower else (ens.members[-1], leader)
    with socket.create_connection(("127.0.0.1", target.election_port), timeout=5) as s:
        s.sendall(_initial(claimed.sid))
        assert _disconnected(s, HANDSHAKE_WAIT), "a connection claiming a lower id stayed open"
    _commits_and_serves(ens)
    _no_tracebacks(ens)


def test_an_impostor_learner_on_the_peer_port_does_not_keep_a_follower_out(ensemble):
    """A FOLLOWERINFO naming a real follower replaces its session at the leader (Apache has no quorum
    authentication without SASL either); the follower reconnects, and the impostor is disconnected."""
    ens = ensemble
    leader = ens.wait_stable()
    follower = next(m for m in ens.members if m is not leader)
    with socket.create_connection(("127.0.0.1", leader.peer_port), timeout=5) as s:
        s.sendall(P.encode_packet(P.FOLLOWERINFO, 0, P.learner_info_data(follower.sid, 0)))
        assert _disconnected(s, WAIT), "the impostor stayed connected"
    wait_until(lambda: follower.mode() == "follower", WAIT, "the follower back")
    _commits_and_serves(ens)
    _no_tracebacks(ens)
