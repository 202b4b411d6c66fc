"""The shapes of ZooKeeper's metrics: counters, summaries and their keyed sets (see metrics.py).

A module of its own so that it can be compiled (corral._compiled): every write observes two summaries
(its latency, its commit's age) and every read one, from the compiled frontend and host, and a
summary's `observe` as interpreted Python was ~3 % of the server's main thread under zkbench's
set 8x32. Recording costs no allocation once a summary's ring is full.
"""

from __future__ import annotations

import math
from typing import Final

RING: Final = 1024  # recent observations a summary keeps for its quantiles


class Counter:
    __slots__ = ("name", "value")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    def inc(self, n: int = 1) -> None:
        self.value += n


class Summary:
    """ZooKeeper's Summary: count, sum, min, max; `advanced` ones also have percentiles."""

    __slots__ = ("_next", "_ring", "advanced", "count", "max", "min", "name", "total")

    def __init__(self, name: str, advanced: bool = False) -> None:
        self.name = name
        self.advanced = advanced
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._ring: list[float] = []
        self._next = 0

    def reset(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._ring = []
        self._next = 0

    def observe(self, v: float) -> None:
        self.count += 1
        self.total += v
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v
        ring = self._ring
        if len(ring) < RING:
            ring.append(v)
        else:
            ring[self._next] = v
            self._next = (self._next + 1) % RING

    def quantile(self, q: float) -> float:
        """Over the most recent RING observations (NaN with none, as Prometheus' summaries)."""
        if not self._ring:
            return math.nan
        data = sorted(self._ring)
        return data[min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))]

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else 0.0


class SummarySet:
    """A Summary per `key` (ZooKeeper's SummarySet, e.g. bytes read per top-level namespace)."""

    __slots__ = ("advanced", "by_key", "name")

    def __init__(self, name: str, advanced: bool = False) -> None:
        self.name = name
        self.advanced = advanced
        self.by_key: dict[str, Summary] = {}

    def of(self, key: str) -> Summary:
        s = self.by_key.get(key)
        if s is None:
            s = self.by_key[key] = Summary(self.name, self.advanced)
        return s

    def observe(self, key: str, v: float) -> None:
        self.of(key).observe(v)


class CounterSet:
    """A Counter per `key` (ZooKeeper's CounterSet, e.g. quota errors per top-level namespace)."""

    __slots__ = ("by_key", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_key: dict[str, int] = {}

    def inc(self, key: str, n: int = 1) -> None:
        self.by_key[key] = self.by_key.get(key, 0) + n
