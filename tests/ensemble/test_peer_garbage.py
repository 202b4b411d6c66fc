"""Anything that reaches a member's peer port without speaking the peer protocol is disconnected, and the
ensemble keeps serving: random bytes, malformed frames and bad handshakes, sent to every member."""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest

from corral.quorum import PROTOCOL_VERSION, encode_frame
from corral.quorum.messages import Hello, Vote
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT, Ensemble, Member

MAX_FRAME = 512 << 20  # corral.server.peers.MAX_FRAME


def _random_junk(seed: int, n: int = 4096) -> bytes:
    """Random bytes whose first four (read as a frame length) exceed any frame a peer may send."""
    b = bytearray(random.Random(seed).randbytes(n))
    b[0] |= 0x80
    return bytes(b)


def _body(version: int, msg_type: int, fields: bytes) -> bytes:
    return struct.pack(">HB", version, msg_type) + fields


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _cases(member: Member, ens: Ensemble) -> dict[str, bytes]:
    hello_fields = struct.pack(">q", ens.members[-1].sid)
    vote = Vote(state=0, leader=member.sid, zxid=0, election_epoch=1, peer_epoch=0, incarnation=1, round=1)
    return {
        "random bytes (seed 1)": _random_junk(1),
        "random bytes (seed 2)": _random_junk(2, 100),
        "HTTP request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff" * 8,
        "empty frame": _frame(b""),
        "frame of random bytes": _frame(random.Random(3).randbytes(40)),
        "unknown protocol version": _frame(_body(PROTOCOL_VERSION + 7, Hello.TYPE, hello_fields)),
        "unknown message type": _frame(_body(PROTOCOL_VERSION, 250, hello_fields)),
        "truncated hello": _frame(_body(PROTOCOL_VERSION, Hello.TYPE, b"\0\0\0")),
        "hello with trailing bytes": _frame(_body(PROTOCOL_VERSION, Hello.TYPE, hello_fields + b"zz")),
        "hello from an unknown id": encode_frame(Hello(99)),
        "hello from a negative id": _frame(_body(PROTOCOL_VERSION, Hello.TYPE, struct.pack(">q", -5))),
        "hello from itself": encode_frame(Hello(member.sid)),
        "a vote before any hello": encode_frame(vote),
        "frame over the size limit": struct.pack(">I", MAX_FRAME + 1) + b"\0" * 64,
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


def _send(member: Member, payload: bytes, timeout: float = 10.0) -> bool:
    with socket.create_connection(("127.0.0.1", member.peer_port), timeout=5) as s:
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


def test_garbage_and_bad_handshakes_are_disconnected(ensemble):
    ens = ensemble
    _commits_and_serves(ens)
    kept_open = []
    for m in ens.members:
        for name, payload in _cases(m, ens).items():
            if not _send(m, payload):
                kept_open.append(f"member {m.sid}: {name}")
    assert not kept_open, f"connections not closed within 10 s: {kept_open}"
    for m in ens.members:
        text = m.log(200000)
        assert "Traceback" not in text, f"member {m.sid} logged a traceback:\n{text[-4000:]}"
        assert "event=peer_disconnected" in text
    _commits_and_serves(ens)


def test_a_known_id_then_garbage_is_disconnected_and_the_ensemble_recovers(ensemble):
    """A hello naming a real higher member replaces its link (as a reconnect would); the garbage that
    follows gets the impostor disconnected, and the real member's link comes back."""
    ens = ensemble
    for m in ens.members[:-1]:
        higher = ens.members[-1].sid
        assert _send(m, encode_frame(Hello(higher)) + _random_junk(4))
    _commits_and_serves(ens)


def test_random_bytes_that_look_like_a_frame_length_are_disconnected(ensemble):
    ens = ensemble
    m = ens.members[0]
    junk = bytearray(random.Random(5).randbytes(4096))
    junk[0] = 0x01  # declares a ~16 MiB frame: under the limit, so the reader waits for the rest
    try:
        closed = _send(m, bytes(junk), timeout=8.0)
        assert closed, "a peer connection without a handshake stayed open for 8 s"
    finally:
        _commits_and_serves(ens)


def test_a_silent_impostor_cannot_cut_a_member_off(ensemble):
    """Only the higher id dials: a connection *to* the leader claiming a lower id is never legitimate."""
    ens = ensemble
    leader = ens.wait_stable()
    lower_ids = [m for m in ens.members if m.sid < leader.sid]
    if not lower_ids:
        pytest.skip("member 1 leads: no lower id to impersonate")
    lower = lower_ids[0]
    with socket.create_connection(("127.0.0.1", leader.peer_port), timeout=5) as s:
        s.sendall(encode_frame(Hello(lower.sid)))
        try:
            closed = _disconnected(s, 2.0)
            modes = []
            for _ in range(10):
                modes.append(lower.mode())
                time.sleep(0.2)
            assert closed or all(x == "follower" for x in modes), \
                f"member {lower.sid} was cut off while the impostor stayed connected: {modes}"
        finally:
            s.close()
    wait_until(lambda: lower.mode() == "follower", WAIT, "member back once the impostor left")
    _commits_and_serves(ens)
