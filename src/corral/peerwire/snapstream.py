"""Where the database stream of a SNAP ends, found while its bytes arrive.

After a SNAP packet Apache's leader writes the database as `ZKDatabase.serializeSnapshot` does
(sessions: `int n`, then `long id, int timeout` each; the ACL cache: `int n`, then `long key`,
`int count` and count x `int perms, ustring scheme, ustring id`; the nodes: `ustring path`, `buffer
data`, `long acl` and the 60-byte StatPersisted, until the path "/"), then the string "BenWasHere".
Nothing in it says its length, so a reader must walk it to find its end; this walks only the lengths,
item by item, resuming where the previous bytes stopped, and leaves the decoding to the snapshot
reader (`corral.persistence.snapshot.read_body`). Counts and lengths are bounded, so garbage fails at
once with `PeerProtocolError` instead of waiting for gigabytes.
"""

from __future__ import annotations

import struct

from ..quorum.errors import PeerProtocolError

__all__ = ["SnapStreamScanner"]

_I = struct.Struct(">i")
_NODE_TAIL = 8 + 60  # long acl key, StatPersisted
_MAX_COUNT = 1 << 28  # sessions or ACL lists: more than any real server holds, far less than 2^31
_MAX_STRING = 0xFFFFF * 2 + 1024  # a path, scheme, id or node data (jute.maxbuffer and its extra)

_SESSIONS, _SESSION_ITEMS, _ACLS, _ACL_ITEMS, _NODES, _DONE = range(6)


class SnapStreamScanner:
    """`scan(buf)` with the stream's bytes so far (always from its first byte) returns the offset just
    after the closing "/" once it has arrived, else None; `limit` bounds the whole stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.off = 0
        self.stage = _SESSIONS
        self.left = 0

    def _int(self, buf: bytes | bytearray, off: int, what: str, low: int, high: int) -> int | None:
        if len(buf) < off + 4:
            return None
        (n,) = _I.unpack_from(buf, off)
        if not low <= n <= high:
            raise PeerProtocolError(f"snapshot stream: unreasonable {what} {n} at offset {off}")
        return int(n)

    def _string_end(self, buf: bytes | bytearray, off: int, what: str, nullable: bool = False) -> int | None:
        n = self._int(buf, off, f"{what} length", -1 if nullable else 0, _MAX_STRING)
        if n is None:
            return None
        end = off + 4 + max(n, 0)
        return end if len(buf) >= end else None

    def _acl_end(self, buf: bytes | bytearray, off: int) -> int | None:
        count = self._int(buf, off + 8, "ACL length", 0, _MAX_COUNT) if len(buf) >= off + 12 else None
        if count is None:
            return None
        pos: int | None = off + 12
        for _ in range(count):
            assert pos is not None
            if len(buf) < pos + 4:
                return None
            pos = self._string_end(buf, pos + 4, "ACL scheme")
            if pos is None:
                return None
            pos = self._string_end(buf, pos, "ACL id")
            if pos is None:
                return None
        return pos

    def scan(self, buf: bytes | bytearray) -> int | None:
        if len(buf) > self.limit and self.stage != _DONE:
            raise PeerProtocolError(f"snapshot stream longer than {self.limit} bytes")
        for _ in range(len(buf) + 4):  # bounded: every pass consumes bytes or returns
            if self.stage == _DONE:
                return self.off
            if self.stage in (_SESSIONS, _ACLS):
                n = self._int(buf, self.off, "count", 0, _MAX_COUNT)
                if n is None:
                    return None
                self.off += 4
                self.left = n
                self.stage += 1
            elif self.stage == _SESSION_ITEMS:
                if self.left == 0:
                    self.stage = _ACLS
                    continue
                take = min(self.left, (len(buf) - self.off) // 12)
                if take == 0:
                    return None
                self.off += 12 * take
                self.left -= take
            elif self.stage == _ACL_ITEMS:
                if self.left == 0:
                    self.stage = _NODES
                    continue
                end = self._acl_end(buf, self.off)
                if end is None:
                    return None
                self.off = end
                self.left -= 1
            else:  # _NODES
                path_end = self._string_end(buf, self.off, "path")
                if path_end is None:
                    return None
                if buf[self.off + 4:path_end] == b"/":
                    self.off = path_end
                    self.stage = _DONE
                    continue
                data_end = self._string_end(buf, path_end, "node data", nullable=True)
                if data_end is None or len(buf) < data_end + _NODE_TAIL:
                    return None
                self.off = data_end + _NODE_TAIL
        return None
