"""The quorum configuration text of notifications (version 2) and NEWLEADER packets.

Apache writes `QuorumVerifier.toString()`: ``server.N=host:peerPort:electionPort:role;client``
lines, then ``version=<hex>`` (the zxid of the reconfig that made it, 0 for a static zoo.cfg). A
receiver compares that version with its own to notice a newer configuration; corral has no
dynamic reconfiguration, so it only needs the version (and a clear error for text that is not one).
"""

from __future__ import annotations

from ..quorum.errors import PeerProtocolError

__all__ = ["config_version"]


def config_version(text: bytes) -> int:
    """The ``version=`` of a configuration text; `PeerProtocolError` if there is none or it is not hex."""
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise PeerProtocolError("configuration text is not UTF-8") from e
    versions = [line[len("version="):] for line in lines if line.startswith("version=")]
    if len(versions) != 1:
        raise PeerProtocolError(f"configuration text has {len(versions)} version lines")
    try:
        version = int(versions[0], 16)
    except ValueError as e:
        raise PeerProtocolError(f"configuration version {versions[0]!r} is not hex") from e
    if version < 0:
        raise PeerProtocolError("negative configuration version")
    return version
