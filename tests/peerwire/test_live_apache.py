"""corral.peerwire against a live Apache ZooKeeper 3.8 ensemble of three (the Debian package).

A test process plays an extra server (sid 100, in nobody's zoo.cfg) on both ports:

* electionPort: it sends QuorumCnxManager's initial message and a LOOKING notification; Apache
  answers a non-voter at once with its current vote, which must name the elected leader and
  carry the ensemble's config text.
* the leader's peerPort: it registers as an observer (OBSERVERINFO), gets LEADERINFO, acks the
  epoch with the leader's last zxid (so the leader sends an empty DIFF), acks NEWLEADER, gets
  UPTODATE, then sees a kazoo write arrive as INFORM (decoded as a TxnEntry) and answers PINGs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from corral.peerwire import (
    ElectionFrameReader,
    InitialMessage,
    Notification,
    PacketReader,
    ServerState,
    TxnEntry,
    config_version,
    encode_packet,
)
from corral.peerwire import packets as P
from corral.protocol import CreateTxn, OpCode, QuorumPacket
from tests.support.apache_ensemble import ApacheEnsemble
from tests.support.net import HOST

pytestmark = pytest.mark.slow

EXTRA_SID = 100
STEP = 20.0  # seconds any one exchange may take on a loaded machine


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheEnsemble]:
    with ApacheEnsemble(Path(tmp_path_factory.mktemp("apache-ensemble"))) as ens:
        yield ens


class Learner:
    """Our end of a learner connection: packets in order, PINGs answered while waiting."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = PacketReader()
        self.pending: list[QuorumPacket] = []

    def send(self, ptype: int, zxid: int, data: bytes | None = None) -> None:
        self.sock.sendall(encode_packet(ptype, zxid, data))

    def next(self, want: int, deadline: float) -> QuorumPacket:
        for _ in range(10_000):
            while self.pending:
                pkt = self.pending.pop(0)
                if pkt.type == want:
                    return pkt
                if pkt.type != P.PING:
                    raise AssertionError(f"expected {P.packet_name(want)}, got {P.packet_name(pkt.type)}")
                self.send(P.PING, pkt.zxid, P.encode_ping_touches([]))
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, f"the leader closed the connection while we waited for {P.packet_name(want)}"
            self.pending += self.reader.feed(data)
        raise AssertionError(f"no {P.packet_name(want)}")


def test_election_notifications(ensemble: ApacheEnsemble) -> None:
    leader = ensemble.leader()
    member = next(m for m in ensemble.members if m is not leader)
    with socket.create_connection((HOST, member.election_port), timeout=STEP) as s:
        s.sendall(InitialMessage(EXTRA_SID, ((HOST, 1),)).encode())
        s.sendall(Notification(ServerState.LOOKING, EXTRA_SID, 0, 1, 0, config=b"").frame())
        reader = ElectionFrameReader()
        notes: list[Notification] = []
        for _ in range(100):
            data = s.recv(65536)
            assert data, "the member closed the election connection"
            notes += [Notification.decode(body) for body in reader.feed(data)]
            if notes:
                break
    note = notes[0]
    assert note.state == ServerState.FOLLOWING and note.leader == leader.sid
    assert note.version == 2 and note.config is not None and config_version(note.config) == 0
    for m in ensemble.members:
        assert f"server.{m.sid}={HOST}:{m.peer_port}:{m.election_port}:participant".encode() in note.config
    assert note.peer_epoch == leader.zxid() >> 32 >= 1


def test_observer_registers_and_follows_writes(ensemble: ApacheEnsemble) -> None:
    leader = ensemble.leader()
    last = leader.zxid()
    deadline = time.monotonic() + STEP
    with socket.create_connection((HOST, leader.peer_port), timeout=STEP) as s:
        learner = Learner(s)
        learner.send(P.OBSERVERINFO, 0, P.learner_info_data(EXTRA_SID, 0))
        info = learner.next(P.LEADERINFO, deadline)
        assert P.decode_leader_info(info) == P.PROTOCOL_VERSION
        epoch = info.zxid >> 32
        assert epoch == last >> 32

        learner.send(P.ACKEPOCH, last, P.ack_epoch_data(epoch))
        diff = learner.next(P.DIFF, deadline)
        assert diff.zxid == last  # nothing to send: our log is the leader's
        newleader = learner.next(P.NEWLEADER, deadline)
        assert newleader.zxid == epoch << 32 and newleader.data is not None
        assert config_version(newleader.data) == 0
        learner.send(P.ACK, newleader.zxid)
        learner.next(P.UPTODATE, deadline)
        learner.send(P.ACK, epoch << 32)

        client = KazooClient(hosts=leader.hosts, timeout=10)
        client.start(timeout=STEP)
        try:
            client.create("/peerwire", b"seen by an observer")
        finally:
            client.stop()
            client.close()
        deadline = time.monotonic() + STEP
        creates = []
        for _ in range(20):  # createSession, then the create
            inform = learner.next(P.INFORM, deadline)
            assert inform.data is not None
            entry = TxnEntry.decode(inform.data)
            assert entry.header.zxid == inform.zxid > last
            assert entry.digest is not None  # 3.8 sends the tree digest
            if entry.header.type == OpCode.create:
                creates.append(CreateTxn.from_bytes(entry.txn))
                break
        assert [(c.path, c.data) for c in creates] == [("/peerwire", b"seen by an observer")]
