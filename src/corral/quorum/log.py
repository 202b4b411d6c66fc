"""The peer's in-memory view of its log: a window of recent entries after a base zxid.

The host owns the files; the core keeps what it needs to re-propose (everything not yet applied)
and to serve DIFFs (up to `log_window` committed entries, like ZooKeeper's committedLog). Anything
older than the window is sent as a SNAP.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

__all__ = ["MemLog"]


class MemLog:
    """Entries with strictly increasing zxids after `base` (the zxid of what precedes them)."""

    __slots__ = ("_p", "_z", "base")

    def __init__(self, base: int = 0, entries: Iterable[tuple[int, bytes]] = ()) -> None:
        self.base = base
        self._z: list[int] = []
        self._p: list[bytes] = []
        zs = self._z
        ps = self._p
        last = base
        for z, p in entries:  # a restart's whole recovered log: append's checks, inline
            if z <= last:
                raise ValueError(f"zxid {z:#x} does not follow {last:#x}")
            zs.append(z)
            ps.append(p)
            last = z

    def __len__(self) -> int:
        return len(self._z)

    @property
    def last(self) -> int:
        """The last logged zxid (the base if the window is empty)."""
        return self._z[-1] if self._z else self.base

    def contains(self, zxid: int) -> bool:
        """Whether `zxid` is the base or an entry: a log holding it then agrees with ours up to it."""
        if zxid == self.base:
            return True
        i = bisect_left(self._z, zxid)
        return i < len(self._z) and self._z[i] == zxid

    def before(self, zxid: int) -> int:
        """The last zxid logged before `zxid` (the base if none is)."""
        i = bisect_left(self._z, zxid)
        return self._z[i - 1] if i else self.base

    def count_after(self, zxid: int) -> int:
        """How many entries have a zxid greater than `zxid`."""
        return len(self._z) - bisect_right(self._z, zxid)

    def last_in_epoch(self, epoch: int) -> int | None:
        """Our last zxid of `epoch` within the window (None if the window holds none)."""
        i = bisect_left(self._z, (epoch + 1) << 32)
        if i and self._z[i - 1] >> 32 == epoch:
            return self._z[i - 1]
        return None

    def epoch_marks(self, after: int, limit: int) -> tuple[list[int], bool]:
        """The last zxid of each epoch among entries after `after`, newest first, at most
        `limit` of them; the flag says whether the list is complete."""
        marks: list[int] = []
        i = len(self._z)
        stop = bisect_right(self._z, after)
        while i > stop:
            z = self._z[i - 1]
            if len(marks) == limit:
                return marks, False
            marks.append(z)
            i = bisect_left(self._z, (z >> 32) << 32, stop, i)  # first entry of z's epoch
        return marks, True

    def payload(self, zxid: int) -> bytes:
        i = bisect_left(self._z, zxid)
        if i == len(self._z) or self._z[i] != zxid:
            raise KeyError(zxid)
        return self._p[i]

    def after(self, zxid: int, upto: int | None = None) -> list[tuple[int, bytes]]:
        """Entries with `zxid < z <= upto` (`zxid` must not be older than the base)."""
        assert zxid >= self.base, "asked for entries older than the window"
        z = self._z
        i = bisect_right(z, zxid)
        j = len(z) if upto is None or (z and upto >= z[-1]) else bisect_right(z, upto)
        if j - i == 1:  # the usual commit: one entry (the two lists always have equal lengths)
            return [(z[i], self._p[i])]
        return list(zip(z[i:j], self._p[i:j], strict=True))

    def iter_after(self, zxid: int) -> Iterator[tuple[int, bytes]]:
        """The entries with `z > zxid`, one at a time (`after` builds them all as a list first: at a
        restart's scan of the whole recovered log, hundreds of thousands of tuples at once)."""
        assert zxid >= self.base, "asked for entries older than the window"
        z = self._z
        p = self._p
        for i in range(bisect_right(z, zxid), len(z)):
            yield z[i], p[i]

    def append(self, zxid: int, payload: bytes) -> None:
        if zxid <= self.last:
            raise ValueError(f"zxid {zxid:#x} does not follow {self.last:#x}")
        self._z.append(zxid)
        self._p.append(payload)

    def truncate(self, zxid: int) -> None:
        """Drop every entry after `zxid` (which must not be older than the base)."""
        assert zxid >= self.base
        i = bisect_right(self._z, zxid)
        del self._z[i:]
        del self._p[i:]

    def reset(self, base: int) -> None:
        """Forget everything: the log now continues from a snapshot at `base`."""
        self.base = base
        self._z.clear()
        self._p.clear()

    def trim(self, applied: int, window: int) -> None:
        """Forget applied entries beyond the newest `window` of them (amortised: in chunks)."""
        chunk = min(64, max(1, window // 2))
        if len(self._z) - window < chunk:
            return  # not a chunk to forget yet (the usual case after each batch)
        excess = bisect_right(self._z, applied) - window
        if excess >= chunk:
            self.base = self._z[excess - 1]
            del self._z[:excess]
            del self._p[:excess]
