"""Session bookkeeping: ids, passwords, negotiated timeouts and bucketed expiry (SessionTrackerImpl).

Pure: the caller passes the time in. Expiry is bucketed by tickTime like ZooKeeper's ExpiryQueue, so
one timer per tick expires whole buckets instead of one timer per session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MASK48 = (1 << 48) - 1
_MASK64 = (1 << 64) - 1


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


@dataclass(eq=False)
class Session:
    id: int
    timeout: int
    passwd: bytes
    expire_at: int = 0
    closing: bool = False
    conn: Any = None  # the connection that owns the session now, if any
    touched: int = 0
    meta: dict = field(default_factory=dict)


class SessionTracker:
    def __init__(self, tick_ms: int, server_id: int = 1, now_ms: int = 0) -> None:
        self.tick = tick_ms
        self.sessions: dict[int, Session] = {}
        self.buckets: dict[int, set[int]] = {}
        self._next_id = initial_session_id(now_ms, server_id)

    def _round(self, t: int) -> int:
        return (t // self.tick + 1) * self.tick

    def new_id(self) -> int:
        sid = self._next_id
        while sid in self.sessions or sid == 0:
            sid = _signed64(sid + 1)
        self._next_id = _signed64(sid + 1)
        return sid

    def add(self, sid: int, timeout: int, now_ms: int) -> Session:
        """Track a session (new, or restored from the log/snapshot after a restart)."""
        s = self.sessions.get(sid)
        if s is None:
            s = self.sessions[sid] = Session(sid, timeout, session_password(sid))
        s.timeout = timeout
        self.touch(sid, now_ms)
        return s

    def get(self, sid: int) -> Session | None:
        return self.sessions.get(sid)

    def valid(self, sid: int) -> bool:
        s = self.sessions.get(sid)
        return s is not None and not s.closing

    def touch(self, sid: int, now_ms: int) -> bool:
        s = self.sessions.get(sid)
        if s is None or s.closing:
            return False
        s.touched = now_ms
        new = self._round(now_ms + s.timeout)
        if new != s.expire_at:
            old = self.buckets.get(s.expire_at)
            if old is not None:
                old.discard(sid)
                if not old:
                    del self.buckets[s.expire_at]
            s.expire_at = new
            self.buckets.setdefault(new, set()).add(sid)
        return True

    def expired(self, now_ms: int) -> list[Session]:
        """Sessions whose bucket has passed; they are marked closing (their closeSession is the caller's)."""
        out: list[Session] = []
        for t in sorted(b for b in self.buckets if b <= now_ms):
            for sid in sorted(self.buckets.pop(t)):
                s = self.sessions.get(sid)
                if s is not None and not s.closing:
                    s.closing = True
                    out.append(s)
        return out

    def set_closing(self, sid: int) -> None:
        s = self.sessions.get(sid)
        if s is not None:
            s.closing = True

    def remove(self, sid: int) -> None:
        s = self.sessions.pop(sid, None)
        if s is not None:
            b = self.buckets.get(s.expire_at)
            if b is not None:
                b.discard(sid)
                if not b:
                    del self.buckets[s.expire_at]

    def __len__(self) -> int:
        return len(self.sessions)
