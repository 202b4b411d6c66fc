"""`Peer`: one server's share of ZAB (election, discovery, sync, broadcast) as a sans-I/O object.

The host drives it with `tick()`, `receive()`, `propose()`, `forward()`, `sync()`, `touch()` and
`persisted()`, and after each call drains `ready()` (see `Ready` for the order) and calls
`advance()`. Nothing here reads a clock, sleeps, touches a socket or a file; every loop is bounded
by the size of the log window, the ensemble or a message.

Roles are objects: `_Leader` and `_Learner` hold everything that only makes sense while leading or
following, and are dropped on any role change, so no stale leader state survives an election.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .config import EnsembleConfig, Recovered
from .errors import HostContractError, NoLeader, NotLeader, Overloaded
from .log import MemLog
from .messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    Inform,
    LeaderInfo,
    LearnerInfo,
    Message,
    NewLeader,
    Ping,
    PingReply,
    Proposal,
    Request,
    Reset,
    SessionMessage,
    SessionTouch,
    Snap,
    SyncReply,
    SyncRequest,
    Trunc,
    UpToDate,
    Vote,
)
from .ready import (
    PHASE_BROADCAST,
    PHASE_DISCOVERY,
    PHASE_ELECTION,
    PHASE_SYNC,
    ROLE_FOLLOWING,
    ROLE_LEADING,
    ROLE_LOOKING,
    ROLE_OBSERVING,
    Activated,
    Anomaly,
    Epochs,
    Event,
    Phase,
    Ready,
    Reconfigured,
    RequestForwarded,
    Role,
    RoleChanged,
    SessionTouches,
    SteppedDown,
    SyncDone,
    SyncFailed,
)
from .zxid import MAX_COUNTER, MAX_EPOCH, format_zxid, make_zxid, zxid_epoch

__all__ = ["Peer", "ReconfigDecoder", "SnapshotSource"]

#: Returns (zxid, bytes): a snapshot of the host's state machine with every entry up to zxid
#: applied. Called by a leader that must SNAP a learner; zxid must be at least `Peer.log_base`.
SnapshotSource = Callable[[], tuple[int, bytes]]

#: The membership a logged payload installs, (voters, observers), or None when it is no reconfiguration.
#: A new leader asks it about the entries it will commit when it establishes (see `_Leader.pending_config`).
ReconfigDecoder = Callable[[bytes], tuple[frozenset[int], frozenset[int]] | None]

_TO_LEADER: Final = (LearnerInfo, AckEpoch, Ack, Request, SyncRequest, PingReply)
_TO_LEARNER: Final = (LeaderInfo, Diff, Trunc, Snap, Proposal, NewLeader, UpToDate, Commit, Inform, Ping, SyncReply,
                      Reset)
_INF: Final = 1 << 62
_MAX_MARKS: Final = 256
_SESSION_BITS: Final = 20
_SESSION_MASK: Final = (1 << _SESSION_BITS) - 1
_INCARNATION_MASK: Final = (1 << (63 - _SESSION_BITS)) - 1

# A vote as an ordered tuple: FastLeaderElection's totalOrderPredicate is tuple comparison.
VoteKey = tuple[int, int, int]  # (peer epoch, zxid, server id)


class Peer:
    """One ensemble member. See the package docstring for the contract with the host."""

    def __init__(
        self,
        sid: int,
        config: EnsembleConfig,
        recovered: Recovered,
        snapshot_source: SnapshotSource,
        incarnation: int = 0,
        reconfig_of: ReconfigDecoder | None = None,
    ) -> None:
        """`incarnation` must differ between two runs of the same server (a random 62-bit number is
        fine): it keeps a restarted learner's sessions and votes apart from its previous life's
        messages still in flight."""
        if sid not in config.members:
            raise ValueError(f"server {sid} is not in the ensemble")
        recovered.check()
        self.id = sid
        self.config = config
        self._voters = config.voters
        self._members = config.members
        self._q = config.quorum
        self.is_voter = sid in config.voters
        # The learner type (QuorumPeer.LearnerType): an observer only when the configuration lists us
        # as one; a member left out of it (removed, or joining) follows without a vote.
        self.is_observer = sid in config.observers
        self._snapshot_source = snapshot_source
        self._reconfig_of = reconfig_of
        self._incarnation = incarnation & ((1 << 62) - 1)
        self._unsafe = config.unsafe

        self._accepted_epoch = recovered.accepted_epoch
        self._current_epoch = recovered.current_epoch
        self.log = MemLog(recovered.log_base, recovered.log)
        self._committed = recovered.applied_zxid
        self._durable = self.log.last  # everything recovered was read back from disk
        self.log.trim(self._committed, config.log_window)

        self._now = 0
        self._out = Ready()
        self._log_changed = False
        self._host_end = self.log.last
        self._host_applied = self._committed
        self._in_flight = False
        self._touches: dict[int, int] = {}
        self._session_counter = 0
        # The highest acceptedEpoch a voter reported above our epoch: the next epoch we propose
        # goes above it, so that voter can join (see _Leader.on_learner_info).
        self._epoch_floor = 0

        self._role = ROLE_LOOKING
        self._phase = PHASE_ELECTION
        self._leader: _Leader | None = None
        self._learner: _Learner | None = None
        # election state (FastLeaderElection)
        self._clock = 0
        self._vote: VoteKey | None = None
        self._decided: VoteKey | None = None
        self._recv: dict[int, VoteKey] = {}
        self._outside: dict[int, tuple[int, int, VoteKey]] = {}
        self._decide_at: int | None = None
        self._notify_at = 0
        self._notify_gap = 1
        self._vote_round = 0
        self._seen: dict[int, tuple[int, int]] = {}
        self._answered: dict[int, int] = {}  # peer -> the tick we last answered its looking vote
        self._start_looking("startup")

    # ---- read-only state ------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def leader_id(self) -> int | None:
        """The leader this peer leads or follows (None while LOOKING)."""
        if self._leader is not None:
            return self.id
        if self._learner is not None:
            return self._learner.leader
        return None

    @property
    def epoch(self) -> int:
        """The epoch being established or served; the current epoch while LOOKING."""
        if self._leader is not None and self._leader.epoch is not None:
            return self._leader.epoch
        if self._learner is not None and self._learner.epoch is not None:
            return self._learner.epoch
        return self._current_epoch

    @property
    def serving(self) -> bool:
        """In the broadcast phase: a leader may propose, a learner may serve its clients."""
        return self._phase is PHASE_BROADCAST

    @property
    def accepted_epoch(self) -> int:
        return self._accepted_epoch

    @property
    def current_epoch(self) -> int:
        return self._current_epoch

    @property
    def last_zxid(self) -> int:
        return self.log.last

    @property
    def log_base(self) -> int:
        return self.log.base

    @property
    def committed_zxid(self) -> int:
        """Everything up to here is committed and handed to the host (in this or an earlier Ready)."""
        return self._committed

    @property
    def durable_zxid(self) -> int:
        """The log is durable up to here, as far as the host has told (-1 right after a SNAP)."""
        return self._durable

    @property
    def next_zxid(self) -> int:
        """The zxid the next `propose()` will assign (leader in broadcast only, else `NotLeader`).

        The host's request preparation stamps it into the txn header and the pending state
        (czxid, mzxid) before serialising the payload, as ZooKeeper's getNextZxid() does.
        """
        leader = self._leader
        if leader is None or self._phase is not PHASE_BROADCAST:
            raise NotLeader(f"server {self.id} is {self._role.name} in {self._phase.name}")
        epoch = leader.epoch
        assert epoch is not None
        z = self.log._z  # _Leader.next_zxid, inlined: asked on every write
        last = z[-1] if z else self.log.base
        return last + 1 if last >> 32 == epoch else make_zxid(epoch, 1)

    @property
    def outstanding(self) -> int:
        """Logged but not yet committed entries (the leader's proposals in flight)."""
        z = self.log._z
        last = z[-1] if z else self.log.base
        committed = self._committed
        if last >> 32 == committed >> 32:
            return last - committed  # zxids of one epoch are consecutive (asked on every write)
        return self.log.count_after(committed)

    @property
    def now(self) -> int:
        """Ticks since construction."""
        return self._now

    # ---- host API -------------------------------------------------------------------------------

    def tick(self, ticks: int = 1) -> None:
        """`ticks` ticks of time passed (normally one; more when the host's clock says the process
        was stopped or starved, so that timeouts see the real elapsed time at once)."""
        self._now += max(1, ticks)
        if self._role is ROLE_LOOKING:
            self._election_tick()
        elif self._leader is not None:
            self._leader.tick()
        elif self._learner is not None:
            self._learner.tick()
        self._flush()

    def receive(self, frm: int, msg: Message) -> None:
        """A message from server `frm` (already decoded; `decode()` rejects garbage)."""
        if frm == self.id or frm < 0:
            return  # anyone else may ask who leads or follow as a non-voting learner (Apache's rule)
        if isinstance(msg, Vote):
            self._on_vote(frm, msg)
        elif isinstance(msg, _TO_LEADER):
            if self._leader is not None:
                self._leader.receive(frm, msg)
            elif not (isinstance(msg, LearnerInfo) and self._role is ROLE_LOOKING
                      and self._vote is not None and self._vote[2] == self.id):
                # Not leading (and not about to): tell the learner at once so it re-elects.
                self._send(frm, Reset(session=msg.session, seq=0))
        elif isinstance(msg, _TO_LEARNER) and self._learner is not None:
            self._learner.receive(frm, msg)
        self._flush()

    def propose(self, payload: bytes) -> int:
        """Leader only: log `payload` under the next zxid and broadcast it; returns the zxid."""
        leader = self._leader
        if leader is None or self._phase is not PHASE_BROADCAST:
            raise NotLeader(f"server {self.id} is {self._role.name} in {self._phase.name}")
        zxid = leader.propose(payload if type(payload) is bytes else bytes(payload))
        if leader.unrounded:
            leader.flush()
        return zxid

    def propose_reconfig(self, payload: bytes, voters: frozenset[int], observers: frozenset[int]) -> int:
        """`propose()` a reconfiguration to `voters`/`observers` (leader in broadcast only).

        As ZooKeeper's Leader.propose with a reconfig request: from this proposal on, until it commits,
        every proposal needs the acks of a quorum of the current voters *and* of the new ones; when it
        commits the leader activates the new membership at once (who it counts acks from, who may
        follow or observe) and steps down if it is no longer a voter. One at a time: the host refuses
        a second one while this is uncommitted (ReconfigInProgress), the core raises `Overloaded`."""
        leader = self._leader
        if leader is None or self._phase is not PHASE_BROADCAST:
            raise NotLeader(f"server {self.id} is {self._role.name} in {self._phase.name}")
        if leader.pending_config is not None:
            raise Overloaded("a reconfiguration is already in progress")
        voters, observers = frozenset(voters), frozenset(observers)
        if not voters or voters & observers:
            raise HostContractError("a reconfiguration needs voters, none of them also an observer")
        zxid = leader.propose(payload)
        leader.pending_config = (zxid, voters, observers)
        return zxid

    def reconfigure(self, voters: frozenset[int], observers: frozenset[int]) -> None:
        """The host applied a committed reconfiguration: activate it (QuorumPeer.processReconfig).

        A leader that proposed it activated it at its commit already (nothing happens then). A learner
        whose own role changed, that left the ensemble, or whose leader is no longer a voter goes back
        to LOOKING and joins again in its new role, as Apache's learners leave on a "major change"."""
        voters, observers = frozenset(voters), frozenset(observers)
        if voters == self._voters and observers == self.config.observers:
            return
        self._activate(voters, observers, "committed reconfiguration")

    def forward(self, payload: bytes) -> None:
        """Send a write to the leader; the leader's host gets `RequestForwarded` (on the leader
        itself too, so the host has one path for all writes)."""
        if self._phase is not PHASE_BROADCAST:
            raise NoLeader(f"server {self.id} has no established leader")
        if self._leader is not None:
            self._event(RequestForwarded(self.id, bytes(payload)))
        else:
            assert self._learner is not None
            self._learner.forward(bytes(payload))
        self._flush()

    def sync(self, token: int) -> None:
        """Barrier: `SyncDone(token)` once this peer applied every write committed before the
        leader saw the sync (and the leader proved it still leads a quorum)."""
        if self._phase is not PHASE_BROADCAST:
            raise NoLeader(f"server {self.id} has no established leader")
        if self._leader is not None:
            self._leader.local_sync(token)
        else:
            assert self._learner is not None
            self._learner.sync(token)
        self._flush()

    def touch(self, session_id: int, timeout: int) -> None:
        """A client session on this server showed activity; it reaches the leader with the next
        ping reply. The leader's own host tracks its sessions itself, so this is a no-op there."""
        if self._leader is not None:
            return
        if session_id in self._touches or len(self._touches) < self.config.max_touches:
            self._touches[session_id] = timeout

    def persisted(self, zxid: int) -> None:
        """The host's log is durable up to `zxid` (see `Ready`); unknown zxids are ignored."""
        log = self.log
        last = log._z[-1] if log._z else log.base
        if zxid <= self._durable or zxid > last or (zxid != last and not log.contains(zxid)):
            return
        self._durable = zxid
        if self._leader is not None:
            self._leader.on_persisted()
        elif self._learner is not None:
            self._learner.on_persisted()
        self._flush()

    def disconnected(self, peer: int, session: int | None = None) -> None:
        """Optional transport hint: the connection to `peer` dropped (speeds up detection). A transport
        with one connection per learner session names it, so an old connection's end cannot break the
        newer session of the same peer."""
        learner = self._learner
        if learner is not None and learner.leader == peer and session in (None, learner.session):
            learner.lose("connection to the leader dropped")
        elif self._leader is not None and peer in self._leader.handlers:
            h = self._leader.handlers[peer]
            if session in (None, h.session):
                self._leader.drop(h, "connection dropped", anomaly=False)
        self._flush()

    @property
    def learner_session(self) -> tuple[int, int] | None:
        """(leader id, session id) of the learner session this peer runs, or None: a transport with one
        connection per session closes any other."""
        learner = self._learner
        return None if learner is None else (learner.leader, learner.session)

    def synced_followers(self) -> frozenset[int]:
        """Leader in broadcast only: itself and the voters synced with it (UPTODATE sent), the set
        ZooKeeper's Leader.isQuorumSynced counts before it accepts a reconfig; empty otherwise."""
        lead = self._leader
        if lead is None or self._phase is not PHASE_BROADCAST:
            return frozenset()
        synced = {sid for sid, h in lead.handlers.items() if h.uptodate and not h.observer}
        synced.add(self.id)
        return frozenset(synced)

    def has_ready(self) -> bool:
        return bool(self._out)

    def ready(self) -> Ready:
        """Take the pending batch; handle it in field order, then call `advance()`."""
        if self._in_flight:
            raise HostContractError("ready() called again before advance()")
        return self._take(self._out)

    def poll(self) -> Ready | None:
        """`ready()` if `has_ready()`, else None: the host's drain loop asks this after every batch."""
        out = self._out
        if not out:
            return None
        if self._in_flight:
            raise HostContractError("ready() called again before advance()")
        log = self.log  # _take, inlined
        last = log._z[-1] if log._z else log.base
        if self._log_changed:
            out.log_end = last
        self._out = Ready()
        self._log_changed = False
        self._host_end = last
        self._host_applied = self._committed
        self._in_flight = True
        return out

    def _take(self, out: Ready) -> Ready:
        log = self.log
        last = log._z[-1] if log._z else log.base  # MemLog.last, inlined: asked on every batch
        if self._log_changed:
            out.log_end = last
        self._out = Ready()
        self._log_changed = False
        self._host_end = last
        self._host_applied = self._committed
        self._in_flight = True
        return out

    def advance(self) -> None:
        """The host finished the last `ready()` batch (its commits are applied)."""
        if not self._in_flight:
            raise HostContractError("advance() without ready()")
        self._in_flight = False
        self.log.trim(self._host_applied, self.config.log_window)

    # ---- effects --------------------------------------------------------------------------------

    def _send(self, to: int, msg: Message) -> None:
        self._out.messages.append((to, msg))

    def _event(self, event: Event) -> None:
        self._out.events.append(event)

    def _anomaly(self, peer: int, description: str) -> None:
        self._event(Anomaly(peer, description))

    def _set_epochs(self, accepted: int | None = None, current: int | None = None) -> None:
        if accepted is not None:
            self._accepted_epoch = accepted
        if current is not None:
            self._current_epoch = current
        self._out.epochs = Epochs(self._accepted_epoch, self._current_epoch)

    def _append(self, zxid: int, payload: bytes) -> None:
        self.log.append(zxid, payload)
        self._out.append.append((zxid, payload))
        self._log_changed = True

    def _truncate(self, zxid: int) -> None:
        """Drop entries after zxid, merged into the pending batch so the host order stays valid."""
        assert zxid >= self._committed, "truncating committed entries"
        self.log.truncate(zxid)
        out = self._out
        out.append = [e for e in out.append if e[0] <= zxid]
        if out.install_snapshot is None and self._host_end > zxid:
            out.truncate_to = zxid if out.truncate_to is None else min(out.truncate_to, zxid)
        self._durable = min(self._durable, zxid)
        self._log_changed = True

    def _install(self, zxid: int, data: bytes) -> None:
        """Replace state and log by a snapshot (a learner more than a window behind)."""
        self.log.reset(zxid)
        out = self._out
        out.install_snapshot = (zxid, data)
        out.truncate_to = None
        out.append = []
        out.commit = [e for e in out.commit if e[0] > zxid]
        self._committed = zxid
        self._durable = -1  # nothing of the new log is known durable until the host says so
        self._log_changed = True

    def _commit_to(self, zxid: int) -> None:
        if zxid <= self._committed:
            return
        self._out.commit.extend(self.log.after(self._committed, zxid))
        self._committed = zxid

    def _take_touches(self) -> list[SessionTouch]:
        touches = [SessionTouch(session_id=s, timeout=t) for s, t in self._touches.items()]
        self._touches.clear()
        return touches

    def _new_session(self) -> int:
        """Session ids: incarnation bits above a counter, so a leader can tell a newer session of
        the same process from a delayed copy of an older one."""
        self._session_counter = (self._session_counter + 1) & _SESSION_MASK
        return (self._incarnation & _INCARNATION_MASK) << _SESSION_BITS | self._session_counter

    def _flush(self) -> None:
        if self._leader is not None:
            self._leader.flush()

    def _activate(self, voters: frozenset[int], observers: frozenset[int], reason: str) -> None:
        """Switch to a new membership (the voter set and the quorum size), then let the role react."""
        was_observer = self.is_observer
        self.config = dataclasses.replace(self.config, voters=voters, observers=observers)
        self._voters = self.config.voters
        self._members = self.config.members
        self._q = self.config.quorum
        self.is_voter = self.id in self._voters
        self.is_observer = self.id in self.config.observers
        self._recv = {s: v for s, v in self._recv.items() if s in self._voters}
        self._event(Reconfigured(self._voters, self.config.observers))
        if self._leader is not None:
            self._leader.cfg = self.config
            self._leader.reconfigured(reason)
        elif self._learner is not None:
            self._learner.cfg = self.config
            leader = self._learner.leader
            if was_observer != self.is_observer or leader not in self._voters:
                me = "a voter" if self.is_voter else "an observer" if self.is_observer else "a non-voting follower"
                self._start_looking(f"{reason}: this member is now {me}, leader {leader} "
                                    f"{'stays' if leader in self._voters else 'is no longer'} a voter")
        else:
            self._start_looking(f"{reason} while looking")

    # ---- roles ----------------------------------------------------------------------------------

    def _fail_syncs(self, reason: str) -> None:
        tokens: list[int] = []
        if self._leader is not None:
            tokens = [s.token for s in self._leader.syncs if s.origin is None]
        elif self._learner is not None:
            tokens = list(self._learner.syncs.values())
        for token in tokens:
            self._event(SyncFailed(token, reason))

    def _start_looking(self, reason: str) -> None:
        self._fail_syncs(reason)
        self._leader = None
        self._learner = None
        self._role = ROLE_LOOKING
        self._phase = PHASE_ELECTION
        self._clock += 1
        self._vote = self._own_vote() if self.is_voter else None
        self._recv = {}
        self._outside = {}
        self._decide_at = None
        self._notify_gap = 1
        self._notify_at = self._now + 1
        self._event(RoleChanged(ROLE_LOOKING, None, self._current_epoch, reason))
        self._broadcast_vote()
        if self.is_voter:
            self._check_election()  # an ensemble of one elects itself at once

    def _step_down(self, reason: str) -> None:
        leader = self._leader
        assert leader is not None
        self._event(SteppedDown(leader.epoch if leader.epoch is not None else self._current_epoch, reason))
        for h in leader.handlers.values():
            self._send(h.sid, Reset(session=h.session, seq=h.out_seq))
        self._start_looking(f"stepped down: {reason}")

    def _become_leader(self) -> None:
        self._role = ROLE_LEADING
        self._phase = PHASE_DISCOVERY
        self._learner = None
        self._leader = _Leader(self)
        self._event(RoleChanged(ROLE_LEADING, self.id, self._current_epoch, "elected"))
        self._leader.maybe_decide_epoch()

    def _become_learner(self, leader: int) -> None:
        self._role = ROLE_OBSERVING if self.is_observer else ROLE_FOLLOWING
        self._phase = PHASE_DISCOVERY
        self._leader = None
        self._event(RoleChanged(self._role, leader, self._current_epoch, "elected"))
        self._learner = _Learner(self, leader)

    # ---- election (FastLeaderElection) ----------------------------------------------------------

    def _own_vote(self) -> VoteKey:
        return (self._current_epoch, self.log.last, self.id)

    def _vote_msg(self) -> Vote:
        if self._role is ROLE_LOOKING:
            vote = self._vote or (self._current_epoch, self.log.last, -1)
        else:
            vote = self._decided or (self._current_epoch, self.log.last, self.leader_id or -1)
        self._vote_round += 1
        return Vote(state=int(self._role), leader=vote[2], zxid=vote[1], election_epoch=self._clock,
                    peer_epoch=vote[0], incarnation=self._incarnation, round=self._vote_round)

    def _broadcast_vote(self) -> None:
        msg = self._vote_msg()
        for sid in sorted(self._voters):
            if sid != self.id:
                self._send(sid, msg)

    def _on_vote(self, frm: int, n: Vote) -> None:
        seen = self._seen.get(frm)
        if seen is not None and seen[0] == n.incarnation and seen[1] >= n.round:
            return  # older than a notification we already have from that process
        self._seen[frm] = (n.incarnation, n.round)
        if frm not in self._voters or self._role is not ROLE_LOOKING:
            # An observer asking who leads, or a LOOKING peer while we are settled: tell it our vote. Once
            # per tick per peer: two looking peers whose configurations each leave the other out (a
            # reconfiguration half activated) would otherwise answer each other without end.
            if n.state == ROLE_LOOKING and self._answered.get(frm) != self._now:
                self._answered[frm] = self._now
                self._send(frm, self._vote_msg())
            return
        vote: VoteKey = (n.peer_epoch, n.zxid, n.leader)
        if n.state != ROLE_LOOKING:
            self._recv.pop(frm, None)
            self._outside[frm] = (n.leader, n.state, vote)
            self._check_outside()
            return
        self._outside.pop(frm, None)
        if not self.is_voter or n.leader not in self._voters:
            return  # observers only learn from settled peers; a vote for a non-voter is void
        assert self._vote is not None
        if n.election_epoch > self._clock:
            self._clock = n.election_epoch
            self._recv = {}
            self._vote = max(vote, self._own_vote())
            self._decide_at = None
            self._broadcast_vote()
        elif n.election_epoch < self._clock:
            self._send(frm, self._vote_msg())  # help it catch up with the current round
            return
        elif vote > self._vote:
            self._vote = vote
            self._decide_at = None
            self._broadcast_vote()
        self._recv[frm] = vote
        self._check_election()

    def _agreeing(self) -> int:
        return 1 + sum(1 for v in self._recv.values() if v == self._vote)

    def _check_election(self) -> None:
        agree = self._agreeing()
        if agree == len(self._voters):
            self._decide()
        elif agree >= self._q:
            if self._decide_at is None:
                self._decide_at = self._now + self.config.finalize_ticks
        else:
            self._decide_at = None

    def _check_outside(self) -> None:
        """Join an established leader: a quorum says it follows X in the same epoch and X says it leads
        (FastLeaderElection's out-of-election rule: settled votes are equal when leader and peerEpoch
        are, `Vote.equals`)."""
        support: dict[tuple[int, int], int] = {}
        for sid, (leader, _state, vote) in self._outside.items():
            if sid in self._voters:
                support[(leader, vote[0])] = support.get((leader, vote[0]), 0) + 1
        for (leader, epoch), count in sorted(support.items()):
            claim = self._outside.get(leader)
            if count >= self._q and leader != self.id and claim is not None and claim[1] == ROLE_LEADING \
                    and claim[2][0] == epoch:
                self._decided = claim[2]
                self._become_learner(leader)
                return

    def _settle_vote(self, epoch: int) -> None:
        """Established in `epoch`: report it as the vote's peer epoch from now on, as Apache members do
        after sync (`updateElectionVote`, ZOOKEEPER-1732), so that every settled member reports the
        same vote to a member that starts looking, and an Apache member counts ours."""
        if self._decided is not None:
            self._decided = (epoch, self._decided[1], self._decided[2])

    def _decide(self) -> None:
        assert self._vote is not None
        self._decided = self._vote
        self._decide_at = None
        if self._vote[2] == self.id:
            self._become_leader()
        else:
            self._become_learner(self._vote[2])

    def _election_tick(self) -> None:
        if self._decide_at is not None and self._now >= self._decide_at:
            if self._agreeing() >= self._q:
                self._decide()
                return
            self._decide_at = None
        if self._now >= self._notify_at:
            self._broadcast_vote()
            self._notify_gap = min(self._notify_gap * 2, self.config.max_notify_ticks)
            self._notify_at = self._now + self._notify_gap


# ---- leader -------------------------------------------------------------------------------------

# learner handler states, at the leader
H_NEW: Final = 0
H_EPOCH_SENT: Final = 1
H_EPOCH_ACKED: Final = 2
H_SYNCING: Final = 3
H_SYNCED: Final = 4


class _Handler:
    """The leader's view of one learner session (ZooKeeper's LearnerHandler, minus the thread)."""

    __slots__ = ("acked", "committed", "complete", "heard_round", "in_seq", "informed", "last_heard", "last_zxid",
                 "lease_from", "marks", "newleader", "newleader_sent", "observer", "out_seq", "session", "sid", "state",
                 "uptodate")

    def __init__(self, sid: int, session: int, observer: bool, last_zxid: int, now: int) -> None:
        self.sid = sid
        self.session = session
        self.observer = observer
        self.state = H_NEW
        self.out_seq = 0
        self.in_seq = 1  # LearnerInfo was seq 0
        self.last_zxid = last_zxid
        self.committed = 0
        self.marks: list[int] = []
        self.complete = False
        self.acked = -1
        self.newleader = -1
        self.informed = -1
        self.uptodate = False
        self.heard_round = 0
        self.last_heard = now
        # When the leader sent the newest message this learner has proved it received (a ping round
        # it echoed, or NEWLEADER): the learner cannot give up on the leader before that time plus
        # syncLimit, which is what the leader's lease counts from.
        self.lease_from = -_INF
        self.newleader_sent = now


@dataclass
class _PendingSync:
    origin: int | None  # None: this server's own client
    session: int
    token: int
    target: int
    round: int | None = None


class _Leader:
    """LEADING: discovery (new epoch), sync (NEWLEADER quorum), broadcast."""

    def __init__(self, peer: Peer) -> None:
        self.p = peer
        self.cfg = peer.config
        self.epoch: int | None = None
        self.start = peer._now
        self.handlers: dict[int, _Handler] = {}
        self.newest: dict[int, int] = {}  # newest learner session seen this term, per server
        self.connecting: dict[int, int] = {peer.id: peer._accepted_epoch}
        self.epoch_acks: set[int] = {peer.id}
        # Discovery refuses learners more recent than this (ZooKeeper's leaderStateSummary).
        self.summary = (peer._current_epoch, peer.log.last)
        self.newleader = -1
        self.round = 0
        self.round_sent: dict[int, int] = {0: peer._now}  # ping round -> tick it was sent
        self.last_tick_round = peer._now - self.cfg.ping_interval  # the first tick starts a round
        self.syncs: list[_PendingSync] = []
        self.unrounded = 0  # syncs waiting for a ping round to be started (by flush)
        # (zxid, voters, observers) of the reconfiguration proposed and not yet committed
        self.pending_config: tuple[int, frozenset[int], frozenset[int]] | None = None

    # -- plumbing

    def tx(self, h: _Handler, msg: SessionMessage) -> None:
        self.p._send(h.sid, msg)

    def seq(self, h: _Handler) -> int:
        h.out_seq += 1
        return h.out_seq - 1

    def drop(self, h: _Handler, reason: str, anomaly: bool = True) -> None:
        if self.handlers.get(h.sid) is h:
            del self.handlers[h.sid]
        self.syncs = [s for s in self.syncs if not (s.origin == h.sid and s.session == h.session)]
        self.p._send(h.sid, Reset(session=h.session, seq=h.out_seq))
        if anomaly:
            self.p._anomaly(h.sid, reason)

    # -- input

    def receive(self, frm: int, msg: Message) -> None:
        p = self.p
        if isinstance(msg, LearnerInfo):
            self.on_learner_info(frm, msg)
            return
        assert isinstance(msg, SessionMessage)
        h = self.handlers.get(frm)
        if h is None or h.session != msg.session:
            p._send(frm, Reset(session=msg.session, seq=0))
            return
        if msg.seq < h.in_seq:
            return  # duplicate
        if msg.seq > h.in_seq:
            self.drop(h, "gap in learner stream", anomaly=False)
            return
        h.in_seq += 1
        h.last_heard = p._now
        if isinstance(msg, AckEpoch):
            self.on_ack_epoch(h, msg)
        elif isinstance(msg, Ack):
            self.on_ack(h, msg)
        elif isinstance(msg, PingReply):
            if msg.round > h.heard_round:
                h.heard_round = msg.round
                h.lease_from = max(h.lease_from, self.round_sent.get(msg.round, -_INF))
                self.check_syncs()
            if msg.touches:
                p._event(SessionTouches(h.sid, tuple((t.session_id, t.timeout) for t in msg.touches)))
        elif isinstance(msg, Request):
            if p._phase is PHASE_BROADCAST and h.uptodate:
                p._event(RequestForwarded(h.sid, msg.payload or b""))
            else:
                self.drop(h, "REQUEST before UPTODATE")
        elif isinstance(msg, SyncRequest):
            if p._phase is PHASE_BROADCAST and h.uptodate:
                self.syncs.append(_PendingSync(h.sid, h.session, msg.token, p.log.last))
                self.unrounded += 1
            else:
                self.drop(h, "SYNC before UPTODATE")

    def on_learner_info(self, frm: int, m: LearnerInfo) -> None:
        p = self.p
        if frm in p._members and m.observer != (frm in p.config.observers):
            # Not an anomaly: a learner that has not activated the latest reconfiguration yet (it will
            # from the leader's NEWLEADER or a notification) joins in its old role; it tries again.
            # A server outside the configuration (joining, or removed) may follow or observe without a vote.
            p._send(frm, Reset(session=m.session, seq=0))
            return
        old = self.handlers.get(frm)
        if old is not None and old.session == m.session:
            old.last_heard = p._now
            return  # the learner re-sent its info; we already have it
        newest = self.newest.get(frm)
        if newest is not None and newest >> _SESSION_BITS == m.session >> _SESSION_BITS and m.session <= newest:
            # A session we already had in this term (dropped since) or an older one of the same
            # process. Never revive it: a second stream under the same (session, seq) space would
            # let the learner take its messages for the continuation of the first one.
            p._send(frm, Reset(session=m.session, seq=0))
            return
        self.newest[frm] = m.session
        if frm in p._voters and self.epoch is not None and m.accepted_epoch > self.epoch:
            # The voter promised a newer epoch (to a leader that never established), so ZAB forbids
            # it to join ours; ZooKeeper leaves it out until the leader changes. We step down and
            # re-elect above that epoch instead, so a restarted server always gets back in.
            p._epoch_floor = max(p._epoch_floor, m.accepted_epoch)
            p._step_down(f"learner {frm} accepted epoch {m.accepted_epoch}, newer than {self.epoch}")
            return
        h = _Handler(frm, m.session, m.observer, m.last_zxid, p._now)
        self.handlers[frm] = h
        if self.epoch is None:
            if frm in p._voters:
                self.connecting[frm] = m.accepted_epoch
                self.maybe_decide_epoch()
        else:
            self.send_leader_info(h)

    def send_leader_info(self, h: _Handler) -> None:
        assert self.epoch is not None
        self.tx(h, LeaderInfo(session=h.session, seq=self.seq(h), epoch=self.epoch))
        h.state = H_EPOCH_SENT

    def maybe_decide_epoch(self) -> None:
        """New epoch = max acceptedEpoch of a quorum + 1 (ZooKeeper's getEpochToPropose)."""
        p = self.p
        if self.epoch is not None or len(self.connecting) < p._q:
            return
        # ZooKeeper proposes max + 1; any larger epoch is as safe (it only has to exceed every
        # epoch a member of the quorum accepted) and the floor lets a lagging voter back in.
        epoch = max(max(self.connecting.values()), p._epoch_floor) + 1
        if epoch > MAX_EPOCH:
            p._step_down("epoch space exhausted")
            return
        self.epoch = epoch
        p._set_epochs(accepted=epoch)
        for h in self.handlers.values():
            if h.state == H_NEW:
                self.send_leader_info(h)
        self.maybe_finish_discovery()

    def on_ack_epoch(self, h: _Handler, m: AckEpoch) -> None:
        p = self.p
        if m.epoch != self.epoch:
            # An ACKEPOCH for another epoch: a stale copy from a session opened with an earlier term.
            self.drop(h, "ACKEPOCH for another epoch", anomaly=False)
            return
        if h.state != H_EPOCH_SENT:
            self.drop(h, "ACKEPOCH out of order")
            return
        h.last_zxid = m.last_zxid
        h.committed = m.committed
        assert m.marks is not None  # AckEpoch.validate refuses a null list when decoding
        h.marks = m.marks
        h.complete = m.complete
        h.state = H_EPOCH_ACKED
        if h.sid in p._voters and m.current_epoch != -1 and p._phase is PHASE_DISCOVERY:
            # The ACKEPOCH quorum intersects every quorum that committed something, so the leader
            # must be at least as recent as each of its members, or it could lose a committed
            # entry. Learners acking after the quorum need no check: what they have beyond our log
            # was never committed, and they get a TRUNC.
            if (m.current_epoch, m.last_zxid) > self.summary:
                p._step_down(f"learner {h.sid} is ahead ({m.current_epoch}, {format_zxid(m.last_zxid)})")
                return
            self.epoch_acks.add(h.sid)
        if p._phase is PHASE_DISCOVERY:
            self.maybe_finish_discovery()
        else:
            self.start_sync(h)

    def maybe_finish_discovery(self) -> None:
        """A quorum acked the epoch: once our own log is durable, become currentEpoch and sync.

        currentEpoch is what votes compare first, so it may only be written once the log it vouches
        for is durable; otherwise a crash could leave a high epoch over a log missing committed
        entries, and that server could win the next election.
        """
        p = self.p
        if p._phase is not PHASE_DISCOVERY or self.epoch is None or len(self.epoch_acks) < p._q:
            return
        if p._durable < p.log.last:
            return  # on_persisted() comes back here
        p._set_epochs(current=self.epoch)
        self.newleader = p.log.last
        self.find_pending_config()
        p._phase = PHASE_SYNC
        for h in self.handlers.values():
            if h.state == H_EPOCH_ACKED:
                self.start_sync(h)
        self.maybe_establish()

    def find_pending_config(self) -> None:
        """A reconfiguration in the part of our log a previous leader left uncommitted: establishing
        commits it, so NEWLEADER and every commit until it need a quorum of its voters too (Apache's
        leader adds its lastSeenQuorumVerifier to the NEWLEADER proposal)."""
        p = self.p
        decode = p._reconfig_of
        if decode is None:
            return
        for zxid, payload in p.log.iter_after(p._committed):
            found = decode(payload)
            if found is not None:
                self.pending_config = (zxid, found[0], found[1])

    def snapshot(self) -> tuple[int, bytes]:
        p = self.p
        zxid, data = p._snapshot_source()
        if not p.log.base <= zxid <= p._committed:
            raise HostContractError(
                f"snapshot at {format_zxid(zxid)} is outside [{format_zxid(p.log.base)}, "
                f"{format_zxid(p._committed)}] (log base, committed)")
        return zxid, bytes(data)

    def common_point(self, h: _Handler) -> int | None:
        """The last zxid our log and the learner's share, or None when we cannot tell (SNAP).

        An epoch's entries are proposed by one leader in one sequence, and every log holds a
        prefix of it; two logs holding the same zxid agree on everything before it. So the logs
        agree up to min(theirs, ours) in the newest epoch both hold entries of, and if they share
        no epoch after the learner's committed point, up to that point. Everything the learner
        has after it is absent from our log, hence never committed: TRUNC may drop it.
        (Truncating to the largest of *our* zxids below the learner's last, as ZooKeeper does,
        can leave a hole when the logs diverged earlier.)
        """
        log = self.p.log
        if log.contains(h.last_zxid):
            return h.last_zxid
        for mark in h.marks:
            epoch = zxid_epoch(mark)
            ours = log.last_in_epoch(epoch)
            if ours is None:
                base_epoch = zxid_epoch(log.base)
                if base_epoch > epoch:
                    return None  # our entries of that epoch, if any, are older than the window
                if base_epoch < epoch:
                    continue  # we have none of that epoch
                ours = log.base
            common = min(mark, ours)
            return common if common >= log.base else None
        if not h.complete or h.committed < log.base:
            return None
        if not log.contains(h.committed):
            self.p._anomaly(h.sid, f"committed {format_zxid(h.committed)} is not in the leader's log")
            return None
        return h.committed

    def start_sync(self, h: _Handler) -> None:
        """Bring one learner to our log: DIFF, TRUNC+DIFF or SNAP, then NEWLEADER (or UPTODATE)."""
        p = self.p
        log = p.log
        f = h.last_zxid
        # Observers only ever receive committed entries, followers the whole log.
        upto = max(p._committed, f) if h.observer else log.last
        common = self.common_point(h)
        if h.observer and common is not None and common > max(p._committed, h.committed):
            # A follower turned observer by a reconfiguration may hold proposals not committed yet; an
            # observer holds committed entries only (UPTODATE commits its whole log): cut them off.
            common = max(p._committed, h.committed)
        if common == f:
            start = f
            self.tx(h, Diff(session=h.session, seq=self.seq(h), zxid=upto))
        elif common is not None:
            start = common
            self.tx(h, Trunc(session=h.session, seq=self.seq(h), zxid=start))
        else:
            start, data = self.snapshot()
            self.tx(h, Snap(session=h.session, seq=self.seq(h), zxid=start, data=data))
        if h.observer:
            upto = max(start, p._committed)
            for z, payload in log.after(start, p._committed):
                self.tx(h, Inform(session=h.session, seq=self.seq(h), zxid=z, payload=payload))
            h.informed = upto
            h.state = H_SYNCED
            if p._phase is PHASE_BROADCAST:
                self.send_uptodate(h)
            return
        for z, payload in log.after(start):
            self.tx(h, Proposal(session=h.session, seq=self.seq(h), zxid=z, payload=payload))
        assert self.epoch is not None
        h.newleader = log.last
        h.newleader_sent = p._now
        self.tx(h, NewLeader(session=h.session, seq=self.seq(h), epoch=self.epoch, zxid=log.last))
        h.state = H_SYNCING

    def send_uptodate(self, h: _Handler) -> None:
        zxid = h.informed if h.observer else self.p._committed
        self.tx(h, UpToDate(session=h.session, seq=self.seq(h), zxid=zxid))
        h.uptodate = True

    def on_ack(self, h: _Handler, m: Ack) -> None:
        p = self.p
        if h.observer or m.zxid > p.log.last:
            self.drop(h, f"bad ACK {format_zxid(m.zxid)}")
            return
        if h.state == H_SYNCING:
            if m.zxid != h.newleader:
                self.drop(h, f"ACK {format_zxid(m.zxid)} is not NEWLEADER {format_zxid(h.newleader)}")
                return
            h.state = H_SYNCED
            h.acked = m.zxid
            h.lease_from = max(h.lease_from, h.newleader_sent)
            if p._phase is PHASE_SYNC:
                self.maybe_establish()
            elif p._phase is PHASE_BROADCAST:
                self.send_uptodate(h)
                self.advance_commit()
        elif h.state == H_SYNCED:
            if m.zxid > h.acked:
                h.acked = m.zxid
                self.advance_commit()
        else:
            self.drop(h, "ACK before NEWLEADER")

    def maybe_establish(self) -> None:
        """A quorum acked NEWLEADER: everything we synced them is committed in this epoch."""
        p = self.p
        if p._phase is not PHASE_SYNC:
            return
        synced = 1 + sum(1 for h in self.handlers.values() if h.state == H_SYNCED and h.sid in p._voters)
        if synced < p._q:
            return
        pending = self.pending_config
        if pending is not None:
            new_voters = pending[1]
            acked = (p.id in new_voters) + sum(1 for h in self.handlers.values()
                                               if h.state == H_SYNCED and not h.observer and h.sid in new_voters)
            if acked < len(new_voters) // 2 + 1:
                return
        p._phase = PHASE_BROADCAST
        assert self.epoch is not None
        p._settle_vote(self.epoch)
        self.advance_commit()
        assert p._committed >= self.newleader
        for h in self.handlers.values():
            if h.state == H_SYNCED and not h.uptodate:
                self.send_uptodate(h)
        assert self.epoch is not None
        p._event(Activated(ROLE_LEADING, p.id, self.epoch, p._committed))

    def advance_commit(self) -> None:
        """Commit what a quorum of voters (this leader included) has durably acked in this epoch."""
        p = self.p
        if p._phase is not PHASE_BROADCAST:
            return
        if p._q == 1:
            c = p._durable  # an ensemble of one (a standalone server): its own fsync is the quorum
        else:
            acks = [p._durable]
            acks += [h.acked for h in self.handlers.values() if h.state == H_SYNCED and h.sid in p._voters]
            if len(acks) < p._q:
                return
            acks.sort(reverse=True)
            c = acks[p._q - 1]
        pending = self.pending_config
        if pending is not None:
            c = self.joint_commit(c, pending)
        if "commit_before_quorum" in p._unsafe:
            c = p.log.last
        c = min(c, p.log.last)
        if c <= p._committed:
            return
        p._commit_to(c)
        for h in self.handlers.values():
            if h.observer:
                if h.state == H_SYNCED and h.informed < c:
                    for z, payload in p.log.after(h.informed, c):
                        self.tx(h, Inform(session=h.session, seq=self.seq(h), zxid=z, payload=payload))
                    h.informed = c
            elif h.state in (H_SYNCING, H_SYNCED):
                self.tx(h, Commit(session=h.session, seq=self.seq(h), zxid=c))
        self.check_syncs()
        if pending is not None and c >= pending[0]:
            self.pending_config = None
            p._activate(pending[1], pending[2], f"reconfiguration {format_zxid(pending[0])} committed")

    def joint_commit(self, c_old: int, pending: tuple[int, frozenset[int], frozenset[int]]) -> int:
        """Leader.tryToCommit with a reconfiguration outstanding: its proposal and every later one need
        a quorum of the new voters too (Proposal.hasAllQuorums), those before it the current quorum only."""
        r, voters, _ = pending
        if c_old < r:
            return c_old
        p = self.p
        acks = [p._durable] if p.id in voters else []
        acks += [h.acked for h in self.handlers.values()
                 if h.state == H_SYNCED and not h.observer and h.sid in voters]
        q = len(voters) // 2 + 1
        if len(acks) >= q:
            acks.sort(reverse=True)
            if acks[q - 1] >= r:
                return min(c_old, acks[q - 1])
        return p.log.before(r)

    def reconfigured(self, reason: str) -> None:
        """A new membership is active: learners whose role no longer matches it, or that left it, are
        dropped (they come back in their new role); a leader that is no longer a voter steps down."""
        p = self.p
        for h in list(self.handlers.values()):
            if h.sid in p._members and h.observer != (h.sid in p.config.observers):
                self.drop(h, f"{reason}: its role changed", anomaly=False)
        self.connecting = {s: e for s, e in self.connecting.items() if s == p.id or s in p._voters}
        self.epoch_acks = {s for s in self.epoch_acks if s == p.id or s in p._voters}
        if not p.is_voter:
            p._step_down(f"{reason}: this leader is no longer a voter")

    def on_persisted(self) -> None:
        self.maybe_finish_discovery()
        self.advance_commit()

    # -- broadcast

    def propose(self, payload: bytes) -> int:
        p = self.p
        epoch = self.epoch
        assert epoch is not None
        log = p.log
        z = log._z  # next_zxid and Peer.outstanding, inlined (every write passes here)
        last = z[-1] if z else log.base
        zxid = last + 1 if last >> 32 == epoch else make_zxid(epoch, 1)
        if zxid & 0xFFFFFFFF > MAX_COUNTER:
            p._step_down("zxid counter exhausted; a new epoch is needed")
            raise NotLeader("zxid counter exhausted")
        committed = p._committed
        outstanding = last - committed if last >> 32 == committed >> 32 else log.count_after(committed)
        if outstanding >= self.cfg.max_outstanding:
            raise Overloaded(f"{outstanding} proposals outstanding")
        z.append(zxid)  # Peer._append and MemLog.append, inlined (zxid > last by construction)
        log._p.append(payload)
        p._out.append.append((zxid, payload))
        p._log_changed = True
        if self.handlers:
            for h in self.handlers.values():
                if not h.observer and h.state in (H_SYNCING, H_SYNCED):
                    self.tx(h, Proposal(session=h.session, seq=self.seq(h), zxid=zxid, payload=payload))
        if "commit_before_quorum" in p._unsafe:
            self.advance_commit()
        return zxid

    def next_zxid(self) -> int:
        epoch = self.epoch
        assert epoch is not None
        log = self.p.log
        last = log._z[-1] if log._z else log.base  # MemLog.last, inlined: asked on every write
        return last + 1 if last >> 32 == epoch else make_zxid(epoch, 1)

    def local_sync(self, token: int) -> None:
        if len(self.syncs) >= self.cfg.max_pending_syncs:
            raise Overloaded("too many pending syncs")
        self.syncs.append(_PendingSync(None, 0, token, self.p.log.last))
        self.unrounded += 1

    def flush(self) -> None:
        """Start a ping round for syncs that arrived in this call (ReadIndex-style confirmation)."""
        if not self.unrounded:
            return  # the common case (every propose ends here): nothing to confirm
        self.unrounded = 0
        self.round += 1
        self.round_sent[self.round] = self.p._now
        for s in self.syncs:
            if s.round is None:
                s.round = self.round
        for h in self.handlers.values():
            if h.state == H_SYNCED and not h.observer:
                self.tx(h, Ping(session=h.session, seq=self.seq(h), round=self.round))
        self.check_syncs()

    def check_syncs(self) -> None:
        """Answer syncs whose target is committed and whose ping round a quorum has echoed: no
        other leader can have committed anything before that round, so the answer is not stale."""
        p = self.p
        if not self.syncs:
            return
        voters = p._voters
        rounds = [_INF] + [h.heard_round for h in self.handlers.values() if h.state == H_SYNCED and h.sid in voters]
        rounds.sort(reverse=True)
        confirmed = rounds[p._q - 1] if len(rounds) >= p._q else -1
        keep: list[_PendingSync] = []
        for s in self.syncs:
            if s.round is None or s.round > confirmed or s.target > p._committed:
                keep.append(s)
            elif s.origin is None:
                p._event(SyncDone(s.token, s.target))
            else:
                h = self.handlers.get(s.origin)
                if h is not None and h.session == s.session:
                    self.tx(h, SyncReply(session=h.session, seq=self.seq(h), token=s.token, zxid=s.target))
        self.syncs = keep

    def tick(self) -> None:
        p = self.p
        now = p._now
        if p._phase is not PHASE_BROADCAST:
            if now - self.start >= self.cfg.init_limit:
                p._step_down("no quorum synced within initLimit")
                return
        else:
            lease = self.cfg.lease_ticks
            alive = 1 + sum(1 for h in self.handlers.values()
                            if h.state == H_SYNCED and h.sid in p._voters and now - h.lease_from <= lease)
            if alive < p._q:
                p._step_down("lost contact with a quorum for syncLimit")
                return
        for h in list(self.handlers.values()):
            limit = self.cfg.sync_limit if h.state == H_SYNCED else self.cfg.init_limit
            if now - h.last_heard > limit:
                self.drop(h, "learner silent", anomaly=False)
        # A ping round every ping interval: its echo dates the lease (see _Handler.lease_from).
        if now - self.last_tick_round < self.cfg.ping_interval:
            return
        self.last_tick_round = now
        self.round += 1
        self.round_sent[self.round] = now
        horizon = now - 2 * max(self.cfg.sync_limit, self.cfg.init_limit)
        if len(self.round_sent) > 4 * max(self.cfg.sync_limit, self.cfg.init_limit):
            self.round_sent = {r: t for r, t in self.round_sent.items() if t >= horizon}
        for h in self.handlers.values():
            if h.state != H_NEW:
                self.tx(h, Ping(session=h.session, seq=self.seq(h), round=self.round))


# ---- learner (follower or observer) -------------------------------------------------------------

# learner stages
L_DISCOVERY: Final = 0
L_SYNC_WAIT: Final = 1
L_SYNCING: Final = 2
L_NEWLEADER: Final = 3
L_ACKED: Final = 4
L_ACTIVE: Final = 5


class _Learner:
    """FOLLOWING/OBSERVING: register with the leader, accept its epoch, sync, then follow."""

    def __init__(self, peer: Peer, leader: int) -> None:
        self.p = peer
        self.cfg = peer.config
        self.leader = leader
        self.observer = peer.is_observer
        self.session = peer._new_session()
        self.out_seq = 1
        self.in_seq = 0
        self.stage = L_DISCOVERY
        self.epoch: int | None = None
        self.newleader = -1
        self.last_acked = -1
        self.leader_commit = -1
        self.deadline = peer._now + self.cfg.init_limit
        self.last_heard = peer._now
        self.syncs: dict[int, int] = {}  # our sync id -> host token
        self.targets: dict[int, int] = {}  # our sync id -> zxid to apply first
        self.next_sync = 1
        self.send_info()

    def send_info(self) -> None:
        p = self.p
        p._send(self.leader, LearnerInfo(session=self.session, seq=0, accepted_epoch=p._accepted_epoch,
                                         last_zxid=p.log.last, observer=self.observer))

    def tx(self, msg: SessionMessage) -> None:
        self.p._send(self.leader, msg)

    def seq(self) -> int:
        self.out_seq += 1
        return self.out_seq - 1

    def lose(self, reason: str) -> None:
        self.p._start_looking(reason)

    def broken(self, description: str) -> None:
        """The leader sent something no correct leader sends: report it and re-elect."""
        self.p._anomaly(self.leader, description)
        self.p._start_looking(description)

    def receive(self, frm: int, msg: Message) -> None:
        p = self.p
        assert isinstance(msg, SessionMessage)
        if frm != self.leader or msg.session != self.session:
            return
        if isinstance(msg, Reset):
            self.lose("reset by the leader")
            return
        if msg.seq < self.in_seq:
            return  # duplicate
        if msg.seq > self.in_seq:
            self.lose("gap in the leader's stream")
            return
        self.in_seq += 1
        self.last_heard = p._now
        stage = self.stage
        if isinstance(msg, Ping):
            self.tx(PingReply(session=self.session, seq=self.seq(), round=msg.round, touches=p._take_touches()))
        elif isinstance(msg, LeaderInfo):
            if stage != L_DISCOVERY:
                self.broken("LEADERINFO out of order")
                return
            self.on_leader_info(msg)
        elif isinstance(msg, Diff | Trunc | Snap):
            if stage != L_SYNC_WAIT:
                self.broken(f"{type(msg).__name__} out of order")
                return
            self.on_sync_start(msg)
        elif isinstance(msg, Proposal):
            self.on_proposal(msg)
        elif isinstance(msg, Inform):
            self.on_inform(msg)
        elif isinstance(msg, NewLeader):
            if stage != L_SYNCING or self.observer or msg.epoch != self.epoch or msg.zxid != p.log.last:
                self.broken(f"unexpected NEWLEADER {msg.epoch}/{format_zxid(msg.zxid)}")
                return
            self.stage = L_NEWLEADER
            self.newleader = msg.zxid
            self.try_ack_newleader()
        elif isinstance(msg, UpToDate):
            if stage != (L_SYNCING if self.observer else L_ACKED) or msg.zxid > p.log.last:
                self.broken("UPTODATE out of order")
                return
            self.on_uptodate(msg)
        elif isinstance(msg, Commit):
            if self.observer or stage not in (L_NEWLEADER, L_ACKED, L_ACTIVE) or msg.zxid > p.log.last:
                self.broken(f"unexpected COMMIT {format_zxid(msg.zxid)}")
                return
            self.leader_commit = max(self.leader_commit, msg.zxid)
            if stage == L_ACTIVE:
                p._commit_to(self.leader_commit)
                self.check_syncs()
        elif isinstance(msg, SyncReply) and msg.token in self.syncs:
            self.targets[msg.token] = msg.zxid
            self.check_syncs()

    def on_leader_info(self, m: LeaderInfo) -> None:
        p = self.p
        if m.epoch > p._accepted_epoch:
            current = p._current_epoch
            p._set_epochs(accepted=m.epoch)
        elif m.epoch == p._accepted_epoch or self.observer:
            # Accepted before: ZAB lets us ack an epoch once, the leader will not count this one.
            # Observers never count at all, so they follow whatever leader a quorum follows.
            current = -1
        else:
            self.lose("leader epoch is older than our accepted epoch")
            return
        self.epoch = m.epoch
        marks, complete = p.log.epoch_marks(p._committed, _MAX_MARKS)
        self.tx(AckEpoch(session=self.session, seq=self.seq(), epoch=m.epoch, current_epoch=current,
                         last_zxid=p.log.last, committed=p._committed, marks=marks, complete=complete))
        self.stage = L_SYNC_WAIT

    def on_sync_start(self, m: Diff | Trunc | Snap) -> None:
        p = self.p
        if isinstance(m, Trunc):
            if m.zxid < p._committed:
                self.broken(f"TRUNC to {format_zxid(m.zxid)} below committed {format_zxid(p._committed)}")
                return
            if not p.log.contains(m.zxid):
                self.broken(f"TRUNC to {format_zxid(m.zxid)}, which is not in our log: it would leave a hole")
                return
            if "ignore_trunc" not in p._unsafe:
                p._truncate(m.zxid)
        elif isinstance(m, Snap):
            if m.zxid < p._committed:
                self.broken("SNAP older than what we applied")
                return
            p._install(m.zxid, m.data or b"")
        if self.observer and self.epoch is not None and self.epoch > p._current_epoch:
            # An observer acks no NEWLEADER, but its log is about to hold this epoch's zxids: Apache
            # (whose observers set currentEpoch at NEWLEADER) refuses a dataDir whose log is newer than
            # its currentEpoch, and the Ready writes epochs before the entries. Observers never vote, so
            # their currentEpoch decides nothing else.
            p._set_epochs(current=self.epoch)
        self.stage = L_SYNCING

    def on_proposal(self, m: Proposal) -> None:
        p = self.p
        stage = self.stage
        in_sync = stage == L_SYNCING
        in_broadcast = stage in (L_NEWLEADER, L_ACKED, L_ACTIVE) and zxid_epoch(m.zxid) == self.epoch
        if self.observer or not (in_sync or in_broadcast) or m.zxid <= p.log.last:
            self.broken(f"unexpected PROPOSAL {format_zxid(m.zxid)}")
            return
        p._append(m.zxid, m.payload or b"")
        if "ack_before_persist" in p._unsafe:
            self.send_ack(p.log.last)

    def on_inform(self, m: Inform) -> None:
        p = self.p
        if not self.observer or self.stage not in (L_SYNCING, L_ACTIVE) or m.zxid <= p.log.last:
            self.broken(f"unexpected INFORM {format_zxid(m.zxid)}")
            return
        p._append(m.zxid, m.payload or b"")
        self.leader_commit = m.zxid
        if self.stage == L_ACTIVE:
            p._commit_to(m.zxid)
            self.check_syncs()

    def try_ack_newleader(self) -> None:
        """Ack NEWLEADER once the synced log is durable; write currentEpoch first (see discovery)."""
        p = self.p
        if self.stage != L_NEWLEADER:
            return
        if p._durable < self.newleader and "ack_before_persist" not in p._unsafe:
            return
        assert self.epoch is not None
        p._set_epochs(current=self.epoch)
        self.stage = L_ACKED
        self.send_ack(self.newleader)

    def send_ack(self, zxid: int) -> None:
        if zxid > self.last_acked and self.stage in (L_ACKED, L_ACTIVE):
            self.tx(Ack(session=self.session, seq=self.seq(), zxid=zxid))
            self.last_acked = zxid

    def on_persisted(self) -> None:
        if self.observer:
            return
        self.try_ack_newleader()
        self.send_ack(self.p._durable)

    def on_uptodate(self, m: UpToDate) -> None:
        p = self.p
        self.stage = L_ACTIVE
        p._phase = PHASE_BROADCAST
        assert self.epoch is not None
        p._settle_vote(self.epoch)
        self.leader_commit = max(self.leader_commit, m.zxid)
        p._commit_to(self.leader_commit)
        p._event(Activated(p._role, self.leader, self.epoch, p._committed))
        if not self.observer:
            self.send_ack(p._durable)

    def check_syncs(self) -> None:
        p = self.p
        for sid, target in list(self.targets.items()):
            if target <= p._committed:
                del self.targets[sid]
                p._event(SyncDone(self.syncs.pop(sid), target))

    def forward(self, payload: bytes) -> None:
        self.tx(Request(session=self.session, seq=self.seq(), payload=payload))

    def sync(self, token: int) -> None:
        if len(self.syncs) >= self.cfg.max_pending_syncs:
            raise Overloaded("too many pending syncs")
        sid = self.next_sync
        self.next_sync += 1
        self.syncs[sid] = token
        self.tx(SyncRequest(session=self.session, seq=self.seq(), token=sid))

    def tick(self) -> None:
        p = self.p
        if self.stage != L_ACTIVE:
            if p._now >= self.deadline:
                self.lose("sync with the leader did not finish within initLimit")
                return
            if self.stage == L_DISCOVERY:
                self.send_info()  # same session, seq 0: the leader ignores copies
        elif p._now - self.last_heard > self.cfg.sync_limit:
            self.lose("leader silent for syncLimit")
