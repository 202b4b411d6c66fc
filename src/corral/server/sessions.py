"""Session ids, passwords and the leader's bucketed expiry (ZooKeeper's SessionTrackerImpl).

Pure: the caller passes the time in. Which sessions exist is committed state (the tree's session
table, changed only by createSession/closeSession transactions); this module only mints ids and,
on the leader, decides when to *propose* an expiry. Expiry is bucketed by tickTime like ZooKeeper's
ExpiryQueue, so one check per tick expires whole buckets instead of one timer per session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .frontend import Link

_MASK48: Final = (1 << 48) - 1
_MASK64: Final = (1 << 64) - 1


def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


def java_random_bytes(seed: int, n: int) -> bytes:
    """`new java.util.Random(seed).nextBytes(byte[n])`: ZooKeeper derives session passwords this way,
    so a session can be revalidated by any server from its id alone."""
    s = (seed ^ 0x5DEECE66D) & _MASK48
    out = bytearray()
    while len(out) < n:
        s = (s * 0x5DEECE66D + 0xB) & _MASK48
        r = s >> 16
        if r >= 1 << 31:
            r -= 1 << 32
        for _ in range(min(4, n - len(out))):
            out.append(r & 0xFF)
            r >>= 8
    return bytes(out)


def session_password(session_id: int) -> bytes:
    """ZooKeeperServer.generatePasswd: Random(sessionId ^ superSecret).nextBytes(16)."""
    return java_random_bytes(_signed64(session_id ^ 0xB3415C00), 16)


def initial_session_id(now_ms: int, server_id: int) -> int:
    """SessionTrackerImpl.initializeNextSessionId: time in the middle bits, server id in the top byte."""
    nxt = ((now_ms << 24) & _MASK64) >> 8
    return _signed64(nxt | (server_id << 56))


class SessionIds:
    """Hands out session ids on one member (SessionTrackerImpl.initializeNextSessionId / nextSessionId).

    The member's id is in the top byte, so ids minted by different members never collide; `in_use`
    (the committed sessions, and the ones this member is creating) is skipped, as restored sessions
    may sit anywhere in the range.
    """

    def __init__(self, server_id: int, now_ms: int) -> None:
        self._next = initial_session_id(now_ms, server_id)

    def new_id(self, in_use: Callable[[int], bool]) -> int:
        sid = self._next
        while sid == 0 or in_use(sid):
            sid = _signed64(sid + 1)
        self._next = _signed64(sid + 1)
        return sid


class ExpiryTracker:
    """The leader's session expiry (ZooKeeper's SessionTrackerImpl with its ExpiryQueue).

    Only a leader has one, built afresh from the committed sessions each time it starts leading (every
    session then gets a full timeout), and it only *proposes* expiry: `expired()` hands out sessions
    whose bucket passed and forgets them, so a later touch cannot revive a session whose closeSession
    is in flight. Whether a session is alive is the committed state's answer, never this object's.
    Pure: the caller passes the time in (a monotonic clock, in ms).
    """

    def __init__(self, tick_ms: int) -> None:
        self.tick = tick_ms
        self.expire_at: dict[int, int] = {}
        self.timeouts: dict[int, int] = {}
        self.buckets: dict[int, set[int]] = {}
        self.next_expiry = 0

    def _round(self, t: int) -> int:
        return (t // self.tick + 1) * self.tick

    def track(self, sid: int, timeout: int, now_ms: int) -> None:
        """Start (or restart) tracking a session with a full timeout from now."""
        self.timeouts[sid] = timeout
        self._move(sid, self._round(now_ms + timeout))

    def touch(self, sid: int, now_ms: int, timeout: int = 0) -> bool:
        """Client activity: push the session's expiry out (by `timeout`, the one negotiated on the
        session's current connection, when given). False for a session not tracked (unknown, or
        already handed out by `expired()`)."""
        known = self.timeouts.get(sid)
        if known is None:
            return False
        if timeout > 0 and timeout != known:
            self.timeouts[sid] = timeout
        else:
            timeout = known
        self._move(sid, self._round(now_ms + timeout))
        return True

    def _move(self, sid: int, new: int) -> None:
        old = self.expire_at.get(sid)
        if old == new:
            return
        if old is not None:
            bucket = self.buckets.get(old)
            if bucket is not None:
                bucket.discard(sid)
                if not bucket:
                    del self.buckets[old]
        self.expire_at[sid] = new
        self.buckets.setdefault(new, set()).add(sid)
        if not self.next_expiry or new < self.next_expiry:
            self.next_expiry = new

    def expired(self, now_ms: int) -> list[int]:
        """Sessions whose bucket has passed, oldest first; they are no longer tracked."""
        if not self.buckets or now_ms < self.next_expiry:
            return []
        out: list[int] = []
        for t in sorted(b for b in self.buckets if b <= now_ms):
            for sid in sorted(self.buckets.pop(t)):
                del self.expire_at[sid]
                del self.timeouts[sid]
                out.append(sid)
        self.next_expiry = min(self.buckets) if self.buckets else 0
        return out

    def remove(self, sid: int) -> None:
        """The session's closeSession was applied."""
        self.timeouts.pop(sid, None)
        old = self.expire_at.pop(sid, None)
        if old is not None:
            bucket = self.buckets.get(old)
            if bucket is not None:
                bucket.discard(sid)
                if not bucket:
                    del self.buckets[old]

    def __contains__(self, sid: int) -> bool:
        return sid in self.timeouts

    def __len__(self) -> int:
        return len(self.timeouts)


class Session:
    """A session attached to one of this member's client connections (what `cons`/`dump` show)."""

    __slots__ = ("conn", "id", "passwd", "timeout")

    def __init__(self, sid: int, timeout: int, conn: Link | None = None) -> None:
        self.id = sid
        self.timeout = timeout
        self.passwd = session_password(sid)
        self.conn = conn
