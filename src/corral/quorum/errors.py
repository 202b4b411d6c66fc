"""The exceptions of the consensus core, one base class so a host can catch them all."""

from __future__ import annotations

__all__ = ["HostContractError", "NoLeader", "NotLeader", "Overloaded", "PeerProtocolError", "QuorumError"]


class QuorumError(Exception):
    """Base of every error the quorum package raises on purpose."""


class NotLeader(QuorumError):
    """`propose()` on a peer that is not an established leader (LEADING in the broadcast phase).

    The host answers its client as ZooKeeper does when it loses its leader: the request fails and
    the client retries elsewhere or after reconnecting.
    """


class NoLeader(QuorumError):
    """`forward()`/`sync()` while this peer is not connected to an established leader."""


class Overloaded(QuorumError):
    """A bounded queue is full (outstanding proposals, pending syncs); the host should push back."""


class PeerProtocolError(QuorumError):
    """Bytes from a peer that are not a valid message or packet of the peer protocol.

    The only exception the decoders raise (`decode()`, `corral.peerwire`, `corral.server.peerlink`):
    the transport closes that connection and keeps serving everyone else.
    """


class HostContractError(QuorumError):
    """The host broke the calling contract (e.g. a snapshot older than the in-memory log window).

    This is a programming error in the host, never caused by what remote peers send.
    """
