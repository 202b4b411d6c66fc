"""corral's consensus core: ZooKeeper's ZAB (election, discovery, sync, broadcast), sans-I/O.

A `Peer` is one ensemble member's protocol state. It never touches a socket, a file or a clock:
the host feeds it time (`tick()`), peer messages (`receive()`), client work (`propose()`,
`forward()`, `sync()`, `touch()`) and disk progress (`persisted()`), and collects the effects
from `ready()`. The same object runs under the asyncio server and under the deterministic
simulator in tests/simulation, which is how it is verified.

Building a peer
---------------
``Peer(sid, EnsembleConfig(voters, observers, init_limit, sync_limit, log_window, ...),
Recovered(accepted_epoch, current_epoch, log_base, log, applied_zxid), snapshot_source,
incarnation)``

* `Recovered` is what the disk held at startup. The core needs the *entries* after
  `applied_zxid`, not only the last zxid: a new leader re-proposes them. Older entries are optional
  (they let this peer serve DIFFs; the rest of the window fills as it runs).
* `snapshot_source()` returns ``(zxid, bytes)``: the host's state at its last applied zxid. A
  leader calls it (inside `receive`/`persisted`) when a learner is too far behind for a DIFF.
* `incarnation`: any number that differs between two runs of the server (random 62 bits).

Driving it
----------
``tick()``                      once per tickTime; timeouts (initLimit, syncLimit) are in ticks.
``receive(from_id, message)``   a peer message (the transport translated it from Apache's packets).
``propose(payload) -> zxid``    leader in broadcast only, else `NotLeader`; `Overloaded` past
                                `max_outstanding` uncommitted proposals. ``next_zxid`` is the zxid
                                it will assign, for stamping the txn header before serialising.
``forward(payload)``            on any serving peer: the leader's host gets `RequestForwarded`
                                (origin id, payload) and calls `propose()` with the prepared txn;
                                `NoLeader` if not serving.
``sync(token)``                 barrier: `SyncDone(token, zxid)` once this peer has applied
                                everything committed before the leader saw the sync, and the
                                leader proved it still leads (a quorum answered a fresh ping
                                round). `SyncFailed(token)` if the peer loses its leader first.
``touch(session_id, timeout)``  client session activity on a learner; it reaches the leader with
                                the next ping reply as `SessionTouches(origin, pairs)`.
``persisted(zxid)``             the host's log is durable up to zxid. Followers ACK only then and
                                a leader counts its own ack only then.
``disconnected(peer_id, session)``  optional transport hint: a connection (of that learner
                                session) dropped.
``learner_session``             (leader id, session) of the learner session it runs, or None.
``ready() -> Ready``, ``advance()``  take the effects; handle them, then advance.

Handling a `Ready` (in this order)
----------------------------------
1. ``epochs``: write acceptedEpoch and currentEpoch durably (fsync) first: the messages in the
   same batch promise them.
2. ``truncate_to``: drop log entries after this zxid (never committed ones).
3. ``install_snapshot``: (zxid, bytes) replaces the state machine and the whole log.
4. ``append``: [(zxid, payload)] to write to the log. Start an fsync (group them as you like) and
   call ``persisted(ready.log_end)`` when it completes. Drop the report of an fsync that started
   before a later ``truncate_to``/``install_snapshot``: the next fsync covers it.
5. ``messages``: [(server id, message)] to send (in order per destination).
6. ``commit``: [(zxid, payload)] to apply to the state machine, in order.
7. ``events``: `RoleChanged`, `Activated` (serving: leaders may propose, learners may serve
   clients), `SteppedDown`, `RequestForwarded`, `SyncDone`/`SyncFailed`, `SessionTouches`,
   `Anomaly` (a peer broke the protocol; log it loudly).

Calls may be made between `ready()` and `advance()` and several calls may precede a `ready()`;
the core merges their effects into one valid batch (a truncation after appends of the same batch,
commits made moot by a snapshot, ...).

Messages
--------
`messages.py`: each message is a jute record with a strict body codec (``u16 version | u8 type |
fields``) that the simulation's network uses; `decode()` raises `PeerProtocolError` and nothing
else for any malformed input (unknown version or type, truncation, trailing bytes, out-of-range
fields). Real members carry them as Apache ZooKeeper's packets (`corral.server.peerlink`).
Types: Vote (election); LearnerInfo, LeaderInfo, AckEpoch (discovery); Diff, Trunc, Snap,
Proposal, NewLeader, UpToDate (sync); Proposal, Ack, Commit, Inform, Ping, PingReply, Request,
SyncRequest, SyncReply (broadcast); Reset. Learner-session messages carry a session id and a
per-direction sequence number, so the core is safe even over a transport that loses, duplicates
or reorders: duplicates are dropped, a gap breaks the session (the learner re-elects and resyncs,
as ZooKeeper does when its TCP connection drops).

How it maps to ZooKeeper
------------------------
* Election (FastLeaderElection): votes are ordered by (currentEpoch, last zxid, server id); a peer
  adopts better votes, decides when a quorum agrees and no better vote came within
  `finalize_ticks`; a peer joins an established leader when a quorum reports following it and it
  reports LEADING. Observers never vote or lead.
* Discovery: learners send acceptedEpoch; the leader proposes an epoch above every acceptedEpoch
  of a quorum; learners accept it (durably) and answer with (currentEpoch, last zxid); a leader
  less recent than a member of that quorum steps down. The leader writes currentEpoch only once
  its own log is durable.
* Sync: per learner, an empty DIFF, DIFF + entries, TRUNC + entries (the learner has entries the
  leader does not: never committed) or SNAP + entries (behind the `log_window`), then NEWLEADER.
  The TRUNC point is where the two logs really diverge, found from the learner's committed zxid
  and the last zxid of each epoch it holds beyond it (sent in ACKEPOCH);
  a follower writes currentEpoch and ACKs once that log is durable. When a quorum (leader
  included) acked NEWLEADER, everything synced is committed *in the new epoch* and UPTODATE goes
  out. Observers get committed entries only (as INFORMs).
* Broadcast: PROPOSAL in zxid order, pipelined; cumulative ACK after fsync; COMMIT when a quorum
  of voters acked in this epoch; INFORM to observers; PING every `ping_interval` ticks answered by PINGREPLY with
  session touches; a leader that has not heard from a quorum for syncLimit ticks steps down, a
  learner that has not heard from its leader for syncLimit ticks re-elects.

Differences from ZooKeeper, on purpose: SYNC waits for a quorum ping round (ZooKeeper can answer
a sync from a deposed leader); ACKs are cumulative; ACKEPOCH echoes its epoch and describes the
learner's log (ZooKeeper truncates to the largest leader zxid below the learner's last, which
leaves a hole when the logs diverged earlier, and falls back to SNAP across epochs); a leader that
meets a voter with a newer acceptedEpoch steps down and re-elects above it (ZooKeeper leaves that
voter out until the leader changes); observers follow whatever leader a quorum follows.

Not here (yet): dynamic reconfiguration, hierarchical quorums and weights, session revalidation
(REVALIDATE), observer masters, read-only mode, snapshot streaming in chunks (a SNAP is one
message), persisting the epoch floor.
"""

from .config import UNSAFE_KNOBS, EnsembleConfig, Recovered
from .errors import HostContractError, NoLeader, NotLeader, Overloaded, PeerProtocolError, QuorumError
from .messages import PROTOCOL_VERSION, Message, decode
from .peer import Peer, SnapshotSource
from .ready import (
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
from .zxid import format_zxid, make_zxid, zxid_counter, zxid_epoch

__all__ = [
    "PROTOCOL_VERSION",
    "UNSAFE_KNOBS",
    "Activated",
    "Anomaly",
    "EnsembleConfig",
    "Epochs",
    "Event",
    "HostContractError",
    "Message",
    "NoLeader",
    "NotLeader",
    "Overloaded",
    "Peer",
    "PeerProtocolError",
    "Phase",
    "QuorumError",
    "Ready",
    "Reconfigured",
    "Recovered",
    "RequestForwarded",
    "Role",
    "RoleChanged",
    "SessionTouches",
    "SnapshotSource",
    "SteppedDown",
    "SyncDone",
    "SyncFailed",
    "decode",
    "format_zxid",
    "make_zxid",
    "zxid_counter",
    "zxid_epoch",
]
