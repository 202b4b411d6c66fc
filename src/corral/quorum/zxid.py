"""zxid arithmetic: `zxid = epoch << 32 | counter`.

The epoch grows with every established leader and the counter restarts at 0, so comparing two zxids
compares (epoch, counter). A new leader's NEWLEADER point is its last logged zxid; its first
proposal is `make_zxid(epoch, 1)`.
"""

from __future__ import annotations

__all__ = ["COUNTER_MASK", "MAX_COUNTER", "MAX_EPOCH", "format_zxid", "make_zxid", "zxid_counter", "zxid_epoch"]

COUNTER_MASK = 0xFFFFFFFF
#: A leader that would need counter 0xffffffff steps down instead (ZooKeeper does the same: the
#: counter must never wrap into the next epoch).
MAX_COUNTER = 0xFFFFFFFE
#: zxids travel as signed 64-bit longs, so the epoch must stay below 2**31.
MAX_EPOCH = 0x7FFFFFFF


def make_zxid(epoch: int, counter: int) -> int:
    """The zxid of the `counter`-th proposal of `epoch`."""
    return (epoch << 32) | (counter & COUNTER_MASK)


def zxid_epoch(zxid: int) -> int:
    """The epoch a zxid was proposed in."""
    return zxid >> 32


def zxid_counter(zxid: int) -> int:
    """The position of a zxid within its epoch."""
    return zxid & COUNTER_MASK


def format_zxid(zxid: int) -> str:
    """`0x<epoch>_<counter>` in hex, as ZooKeeper's logs print them, for messages and traces."""
    if zxid < 0:
        return str(zxid)
    return f"0x{zxid_epoch(zxid):x}_{zxid_counter(zxid):x}"
