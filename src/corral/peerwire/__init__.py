"""Apache ZooKeeper's peer wire protocol, as codecs only (no sockets, no clocks).

`election`: QuorumCnxManager's connection initiation message and frames on electionPort, and
FastLeaderElection notifications. `packets`: the QuorumPacket stream on peerPort and the payload of
each packet type used between a leader and its learners. `config_text`: the quorum configuration
text that notifications and NEWLEADER carry.

Kept apart from `corral.quorum` on purpose: the quorum core stays sans-I/O and format-free (its
messages are its internal events, and the simulation runs on them); the transport translates
between those events and these packets per connection. Every decoder here raises
`corral.quorum.PeerProtocolError` and nothing else, whatever the bytes.
"""

from __future__ import annotations

from .config_text import config_version
from .election import (
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    ElectionFrameReader,
    InitialMessage,
    InitialMessageReader,
    Notification,
    ServerState,
    encode_election_frame,
)
from .packets import PacketReader, TxnEntry, encode_packet, packet_name

__all__ = [
    "PROTOCOL_VERSION_V1",
    "PROTOCOL_VERSION_V2",
    "ElectionFrameReader",
    "InitialMessage",
    "InitialMessageReader",
    "Notification",
    "PacketReader",
    "ServerState",
    "TxnEntry",
    "config_version",
    "encode_election_frame",
    "encode_packet",
    "packet_name",
]
