"""Which server to try next, and how a new server list moves clients between servers.

The rules are those of ZooKeeper's Java client (`StaticHostProvider`, ZOOKEEPER-1355), so that a
fleet of corral clients spreads over a changed ensemble the way a fleet of Java clients does:

* The list is shuffled once and tried round-robin.
* `update_server_list(new, current)` decides whether this client should move. If its server is still
  in the new list, it stays when the ensemble did not grow, and when it grew it moves with
  probability `1 - old_size / new_size` (so that, in expectation, every server ends up with the same
  share of clients). If its server is gone, it moves for sure: when the ensemble grew, to one of the
  new servers; otherwise to a new server with probability `pNew = 1 - pOld`, where
  `pOld = numOld * (oldSize - newSize) / (newSize * (oldSize - numOld))` and numOld counts the
  servers of the new list that were already in the old one.
* While moving ("reconfig mode") `next()` picks a not yet tried server of the new ones with
  probability pNew, else one of the old ones (falling back to the other group when one is
  exhausted); once every server was tried, or `on_connected()` is called, it is plain round-robin
  again.

The probabilities matter only in aggregate; a single client just sees "move" or "stay".
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from .errors import BadArgumentsError

__all__ = ["Address", "HostProvider"]

Address = tuple[str, int]


def _key(addr: Address) -> Address:
    # Host names are case-insensitive; an address is compared as Java's InetSocketAddress.equals does
    # for unresolved names (host string + port).
    return addr[0].lower(), addr[1]


class HostProvider:
    """The client's server list with Java's round-robin and rebalancing rules (see the module docstring).

    Args:
        hosts: the servers, at least one.
        rng: the source of randomness (tests pass a seeded `random.Random`).
        shuffle: shuffle the list (initially and on every update), as ZooKeeper's clients do.
    """

    def __init__(self, hosts: Sequence[Address], *, rng: random.Random | None = None, shuffle: bool = True) -> None:
        if not hosts:
            raise BadArgumentsError("a server list may not be empty")
        self._rng = rng or random.Random()
        self._shuffle = shuffle
        self._servers: list[Address] = self._shuffled(hosts)
        self._current = -1
        self._last = -1
        self._reconfig_mode = False
        self._old: list[Address] = []
        self._new: list[Address] = []
        self._old_idx = -1
        self._new_idx = -1
        self._p_new = 0.0
        self._p_old = 0.0

    def _shuffled(self, hosts: Iterable[Address]) -> list[Address]:
        out: list[Address] = []
        seen: set[Address] = set()
        for h in hosts:  # a server named twice is one server (the Java client would try it twice)
            if _key(h) not in seen:
                seen.add(_key(h))
                out.append(h)
        if self._shuffle:
            self._rng.shuffle(out)
        return out

    @property
    def servers(self) -> tuple[Address, ...]:
        """The servers in the order they are tried."""
        return tuple(self._servers)

    @property
    def reconfig_mode(self) -> bool:
        """True while the client is moving to a server chosen by the last `update_server_list`."""
        return self._reconfig_mode

    @property
    def probabilities(self) -> tuple[float, float]:
        """(pOld, pNew) of the last update that put the provider in reconfig mode."""
        return self._p_old, self._p_new

    def __len__(self) -> int:
        return len(self._servers)

    def __contains__(self, addr: object) -> bool:
        return isinstance(addr, tuple) and len(addr) == 2 and \
            any(_key(s) == _key(addr) for s in self._servers)

    def next(self) -> Address:
        """The server to try next."""
        if self._reconfig_mode:
            addr = self._next_reconfig()
            if addr is not None:
                self._current = self._index(addr)
                return addr
            self._reconfig_mode = False  # every server of the new list was tried: plain round-robin
        self._current = (self._current + 1) % len(self._servers)
        if self._last == -1:
            self._last = 0
        return self._servers[self._current]

    def on_connected(self) -> None:
        """A connection to the last server returned by `next()` succeeded."""
        self._last = self._current
        self._reconfig_mode = False

    def _index(self, addr: Address) -> int:
        for i, s in enumerate(self._servers):
            if _key(s) == _key(addr):
                return i
        return -1

    def _next_reconfig(self) -> Address | None:
        take_new = self._rng.random() <= self._p_new
        if self._new_idx + 1 < len(self._new) and (take_new or self._old_idx + 1 >= len(self._old)):
            self._new_idx += 1
            return self._new[self._new_idx]
        if self._old_idx + 1 < len(self._old):
            self._old_idx += 1
            return self._old[self._old_idx]
        return None

    def update_server_list(self, hosts: Sequence[Address], current: Address | None,
                           current_ip: str | None = None) -> bool:
        """Replace the list; True when the client should drop its connection and move (see the module).

        `current` is the server of the live connection (None when disconnected: then the server of
        the last successful connection, or the first of the list, stands in for it); `current_ip`
        is that connection's peer IP, so that a server written as a name in one list and as an IP
        in the other is still recognised.
        """
        new_list = self._shuffled(hosts)
        if not new_list:
            raise BadArgumentsError("a server list may not be empty")
        old_size = len(self._servers)
        mine = current
        if self._reconfig_mode:
            mine = self.next()  # the server the pending move would have chosen
        if mine is None:
            mine = self._servers[self._last] if self._last >= 0 else self._servers[0]
        mine_keys = {_key(mine)}
        if current_ip is not None and mine == current:
            mine_keys.add((current_ip.lower(), mine[1]))
        mine_in_new = any(_key(a) in mine_keys for a in new_list)

        old_keys = {_key(s) for s in self._servers}
        self._old = [a for a in new_list if _key(a) in old_keys]
        self._new = [a for a in new_list if _key(a) not in old_keys]
        num_old, num_new = len(self._old), len(self._new)
        total = num_old + num_new
        self._reconfig_mode = True
        if total > old_size:  # the ensemble grew: this server's share shrinks
            if mine_in_new:
                if self._rng.random() <= 1 - old_size / total:
                    self._p_new, self._p_old = 1.0, 0.0
                else:
                    self._reconfig_mode = False
            else:
                self._p_new, self._p_old = 1.0, 0.0
        elif mine_in_new:  # same size or smaller, and this server stays: its share grows, stay
            self._reconfig_mode = False
        else:
            denominator = total * (old_size - num_old)
            # old_size == num_old means every old server is still listed, so this client's server
            # must be one that was never in the list (a connect-string alias): move anywhere.
            self._p_old = num_old * (old_size - total) / denominator if denominator else 0.0
            self._p_new = 1.0 - self._p_old
        if self._reconfig_mode:
            self._current = -1
        else:
            cur = self._servers[self._current] if 0 <= self._current < old_size else None
            self._current = -1 if cur is None else next(
                (i for i, a in enumerate(new_list) if _key(a) == _key(cur)), -1)
        self._servers = new_list
        self._old_idx = -1
        self._new_idx = -1
        self._last = self._current
        return self._reconfig_mode
