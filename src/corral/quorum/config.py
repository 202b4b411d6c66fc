"""What a peer is built from: the ensemble's membership and limits, and what it recovered from disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["UNSAFE_KNOBS", "EnsembleConfig", "Recovered"]

#: Deliberately broken behaviours, only for proving that the simulation's checkers catch bugs:
#: ``commit_before_quorum``: the leader commits a proposal as soon as it is logged locally;
#: ``ack_before_persist``: followers ACK what they appended, before the host's fsync;
#: ``ignore_trunc``: learners keep the entries a TRUNC tells them to drop.
UNSAFE_KNOBS = frozenset({"commit_before_quorum", "ack_before_persist", "ignore_trunc"})


@dataclass(frozen=True)
class EnsembleConfig:
    """Membership and timing, in ticks (the host calls `Peer.tick()` once per zoo.cfg tickTime).

    `init_limit`/`sync_limit` mean what they mean in zoo.cfg: a leader has `init_limit` ticks to
    gather and sync a quorum, a learner has `init_limit` ticks to finish its sync; once
    broadcasting, a learner silent for `sync_limit` ticks is dropped and a leader that has not heard
    from a quorum within `sync_limit` ticks steps down.

    `log_window` is the number of committed entries kept in memory for DIFF (ZooKeeper's
    committedLog, 500 by default); a learner further behind gets a SNAP. `max_outstanding` bounds
    uncommitted proposals (ZooKeeper's globalOutstandingLimit), `max_pending_syncs` the SYNCs
    waiting, `max_touches` the session touches buffered between two pings.
    """

    voters: frozenset[int]
    observers: frozenset[int] = frozenset()
    init_limit: int = 10
    sync_limit: int = 5
    log_window: int = 500
    max_outstanding: int = 1000
    max_pending_syncs: int = 10000
    max_touches: int = 100000
    #: Ticks an election waits after its vote reached a quorum, for a better vote (finalizeWait).
    finalize_ticks: int = 1
    #: Back-off cap, in ticks, for re-sending election notifications (maxNotificationInterval).
    max_notify_ticks: int = 4
    #: Ticks between the leader's ping rounds (Apache's leader pings every tickTime/2); see `ping_interval`.
    ping_ticks: int = 1
    #: Test-only: names from `UNSAFE_KNOBS`. Never set this in a server.
    unsafe: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        voters, observers = frozenset(self.voters), frozenset(self.observers)
        object.__setattr__(self, "voters", voters)
        object.__setattr__(self, "observers", observers)
        object.__setattr__(self, "unsafe", frozenset(self.unsafe))
        if not voters:
            raise ValueError("an ensemble needs at least one voting member")
        if voters & observers:
            raise ValueError(f"servers {sorted(voters & observers)} are both voters and observers")
        if any(sid < 0 for sid in voters | observers):
            raise ValueError("server ids must be non-negative")
        if self.init_limit < 1 or self.sync_limit < 1 or self.ping_ticks < 1:
            raise ValueError("init_limit, sync_limit and ping_ticks must be at least one tick")
        if self.log_window < 1 or self.max_outstanding < 1:
            raise ValueError("log_window and max_outstanding must be positive")
        if not self.unsafe <= UNSAFE_KNOBS:
            raise ValueError(f"unknown unsafe knobs {sorted(self.unsafe - UNSAFE_KNOBS)}")

    @property
    def members(self) -> frozenset[int]:
        return self.voters | self.observers

    @property
    def lease_ticks(self) -> int:
        """How long a leader trusts a quorum's last sign of life, in ticks.

        A learner gives up on its leader `sync_limit` ticks after it last *received* something; the
        leader counts from when it *sent* what a quorum last echoed, and allows for one tick of
        rounding on each side, one tick of checking delay and 5 % of clock-rate difference, so it
        always stops leading (no commits, no sync answers, no session expiry) before a quorum can
        have left it and elected someone else. A process stopped and resumed (SIGSTOP, a long GC
        pause) sees the whole pause at its next tick, as the host derives ticks from a monotonic clock.
        """
        return max(1, self.sync_limit - 3 - self.sync_limit // 20)

    @property
    def ping_interval(self) -> int:
        """Ticks between ping rounds: `ping_ticks`, but at most a quarter of the lease, so that a quorum
        echoing every round keeps the leader's lease fresh with room to spare for a slow echo (a short
        syncLimit pings more often). Syncs do not wait for it: each batch starts its own round."""
        return max(1, min(self.ping_ticks, self.lease_ticks // 4))

    @property
    def quorum(self) -> int:
        """Votes needed for a majority of the voters (observers never count)."""
        return len(self.voters) // 2 + 1


@dataclass(frozen=True)
class Recovered:
    """What the host recovered from disk before building the peer.

    * `accepted_epoch`/`current_epoch`: ZooKeeper's two epoch files (0 on a fresh server).
    * `log_base`: the zxid the log continues from: the zxid of the snapshot the host loaded, or 0.
    * `log`: the (zxid, payload) entries after `log_base` in zxid order. It must contain every
      entry after `applied_zxid` (a new leader re-proposes those, so the core needs the payloads,
      not only the last zxid); older entries are optional and let the peer serve DIFFs.
    * `applied_zxid`: the host's state machine reflects every entry up to here (the snapshot plus
      the replayed part of the log). The host only ever replays what the core once told it was
      committed, so `applied_zxid` may lag but never leads the truth.

    Everything here must be durable: it is what the disk held after the restart.
    """

    accepted_epoch: int = 0
    current_epoch: int = 0
    log_base: int = 0
    log: Sequence[tuple[int, bytes]] = ()
    applied_zxid: int = 0

    @property
    def last_zxid(self) -> int:
        return self.log[-1][0] if self.log else self.log_base

    def check(self) -> None:
        """Reject a recovered state that cannot be right (the host would be corrupting history)."""
        if self.current_epoch > self.accepted_epoch:
            raise ValueError("currentEpoch is greater than acceptedEpoch")
        if self.current_epoch < 0 or self.log_base < 0:
            raise ValueError("negative epoch or zxid")
        prev = self.log_base
        for zxid, payload in self.log:
            if zxid <= prev:
                raise ValueError(f"log zxids not increasing after {prev:#x}")
            if not isinstance(payload, (bytes, bytearray)):  # a tuple: `bytes | bytearray` is built per call
                raise ValueError("log payloads must be bytes")
            prev = zxid
        if not self.log_base <= self.applied_zxid <= self.last_zxid:
            raise ValueError("applied_zxid must lie between log_base and the last logged zxid")
        if self.applied_zxid != self.log_base and all(z != self.applied_zxid for z, _ in self.log):
            raise ValueError("applied_zxid is not an entry of the log")
