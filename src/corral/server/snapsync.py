"""The database a leader sends after SNAP, between the core's snapshot bytes and the stream on the wire.

The core carries a snapshot as opaque bytes: on this server they are a whole snapshot file image
(`corral.persistence.snapshot.snapshot_bytes`, Apache's FileSnap format). On the wire Apache's leader
sends only the body (`ZKDatabase.serializeSnapshot`: sessions, the ACL cache, the nodes, "/"), then the
string "BenWasHere", with no length anywhere (`LearnerHandler.syncFollower`). `ApacheSnap` converts:
the file image's body goes out as it is; a received body is walked to its end
(`corral.peerwire.snapstream`), read (`read_body`) and written back as a file image stamped with the
SNAP's zxid, which is what the host installs. `BufferSnap` carries the core's bytes as one jute buffer
instead, for tests whose snapshots are not trees.
"""

from __future__ import annotations

import struct
from typing import Protocol

from ..peerwire import packets as P
from ..peerwire.snapstream import SnapStreamScanner
from ..persistence.snapshot import HEADER, SnapshotCorruptError, read_body, snapshot_bytes
from ..protocol.jute import write_buffer
from ..quorum.errors import PeerProtocolError

__all__ = ["ApacheSnap", "BufferSnap", "SnapCodec", "SnapReader"]

_SIGNATURE = struct.pack(">i", len(P.SNAP_SIGNATURE)) + P.SNAP_SIGNATURE.encode()


class SnapReader(Protocol):
    def read(self, buf: bytearray) -> tuple[bytes, int] | None:
        """With the bytes after the SNAP packet so far: (the core's snapshot bytes, where the stream
        ended) once complete, else None. `PeerProtocolError` for a stream no leader sends."""


class SnapCodec(Protocol):
    def stream(self, data: bytes) -> bytes:
        """The core's snapshot bytes as the bytes that follow the SNAP packet."""

    def reader(self, zxid: int) -> SnapReader:
        """A reader for the stream after a SNAP packet of `zxid`."""


class _ApacheReader:
    def __init__(self, zxid: int) -> None:
        self.zxid = zxid
        self.scanner = SnapStreamScanner(P.MAX_SNAPSHOT)

    def read(self, buf: bytearray) -> tuple[bytes, int] | None:
        end = self.scanner.scan(buf)
        if end is None:
            return None
        stop = P.read_snap_signature(buf, end)
        if stop is None:
            return None
        try:
            tree, _ = read_body(bytes(buf[:end]), 0, "<SNAP>")
        except SnapshotCorruptError as e:
            raise PeerProtocolError(f"SNAP database: {e}") from e
        tree.last_zxid = self.zxid
        return snapshot_bytes(tree), stop


class ApacheSnap:
    """Apache's SNAP stream (see the module docstring)."""

    def stream(self, data: bytes) -> bytes:
        if not data.startswith(HEADER):
            raise PeerProtocolError("the snapshot to send is not a snapshot file image")
        scanner = SnapStreamScanner(len(data))
        end = scanner.scan(memoryview(data)[len(HEADER):].tobytes())
        if end is None:
            raise PeerProtocolError("the snapshot to send ends inside its body")
        return data[len(HEADER):len(HEADER) + end] + _SIGNATURE

    def reader(self, zxid: int) -> SnapReader:
        return _ApacheReader(zxid)


class _BufferReader:
    def read(self, buf: bytearray) -> tuple[bytes, int] | None:
        if len(buf) < 4:
            return None
        (n,) = struct.unpack_from(">i", buf, 0)
        if n < 0 or n > P.MAX_SNAPSHOT:
            raise PeerProtocolError(f"SNAP body length {n}")
        if len(buf) < 4 + n:
            return None
        stop = P.read_snap_signature(buf, 4 + n)
        if stop is None:
            return None
        return bytes(buf[4:4 + n]), stop


class BufferSnap:
    """The core's snapshot bytes as one jute buffer, then the signature (tests with opaque snapshots)."""

    def stream(self, data: bytes) -> bytes:
        out = bytearray()
        write_buffer(out, data)
        return bytes(out) + _SIGNATURE

    def reader(self, zxid: int) -> SnapReader:
        return _BufferReader()
