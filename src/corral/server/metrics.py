"""The server's metrics under ZooKeeper's names (`ServerMetrics.java` and the gauges ZooKeeper registers),
kept in one place so that `mntr`, the AdminServer's `monitor` and Prometheus' `/metrics` report the
same numbers.

Why these shapes: ZooKeeper's metrics are counters, gauges and summaries (count, sum, min, max and, for
"advanced" ones, quantiles), some of them in sets labelled by `key`. Monitoring built for ZooKeeper
(its Grafana dashboards, mntr scrapers) reads them by name and type, so corral keeps the names and
types and feeds only the ones whose meaning it has; a metric corral cannot measure is absent rather
than a made-up zero (docs/operations.md lists them).

Recording must cost almost nothing on the write path: a counter is an int attribute, a summary keeps
running count/sum/min/max and a fixed ring of recent samples for its quantiles (no allocation per
observation once the ring is full).
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..protocol import EventType
from ..quorum import Role
from ..quorum.ready import Phase
from ..tree.datatree import LIMIT_NODE, QUOTA_ROOT, STATS_NODE, parse_stats
from .measures import Counter, CounterSet, Summary, SummarySet

if TYPE_CHECKING:
    from ..persistence import Recovered
    from ..tree import DataTree
    from .server import CorralServer

BASIC_QUANTILES = (0.5,)
ADVANCED_QUANTILES = (0.5, 0.9, 0.99)  # what Apache's Prometheus provider exports
MNTR_PERCENTILES = ((50, 0.5), (95, 0.95), (99, 0.99), (999, 0.999))  # Apache's DefaultMetricsProvider


class ServerMetrics:
    """The counters and summaries corral feeds, each under the ZooKeeper name it has the meaning of."""

    def __init__(self) -> None:
        # client connections (NIOServerCnxnFactory, ZooKeeperServer)
        self.connection_request_count = Counter("connection_request_count")
        self.connection_rejected = Counter("connection_rejected")
        self.sessionless_connections_expired = Counter("sessionless_connections_expired")
        self.bytes_received_count = Counter("bytes_received_count")
        self.stale_sessions_expired = Counter("stale_sessions_expired")
        self.unrecoverable_error_count = Counter("unrecoverable_error_count")
        # ServerStats fields (gauges in ZooKeeper: see gauges()), reset by srst
        self.auth_failed = Counter("auth_failed_count")
        self.fsync_threshold_exceed = Counter("fsync_threshold_exceed_count")
        # request latency (FinalRequestProcessor), ms
        self.readlatency = Summary("readlatency", advanced=True)
        self.updatelatency = Summary("updatelatency", advanced=True)
        # the write path: prepare, log (group commit), quorum
        self.prep_processor_request_queued = Counter("prep_processor_request_queued")
        self.sync_processor_request_queued = Counter("sync_processor_request_queued")
        self.sync_processor_batch_size = Summary("sync_processor_batch_size")  # the group commit's size
        self.fsynctime = Summary("fsynctime")  # ms per group write + fdatasync
        # corral's own: µs per fdatasync (ZooKeeper's fsynctime is whole ms, 0 on a fast disk; this is the
        # figure to set fsync.inlineMaxMicros by)
        self.fsync_time_us = Summary("corral_fsync_time_us", advanced=True)
        self.proposal_count = Counter("proposal_count")
        self.commit_count = Counter("commit_count")
        # the log writer's queue (SyncRequestProcessor), ms; corral's writer takes its whole queue as one
        # group, so the times are observed once per group, for the group's oldest entry
        self.sync_processor_queue_size = Summary("sync_processor_queue_size")
        self.sync_processor_queue_time = Summary("sync_processor_queue_time_ms", advanced=True)
        self.sync_processor_flush_time = Summary("sync_processor_queue_flush_time_ms", advanced=True)
        self.sync_processor_queue_and_flush_time = Summary("sync_processor_queue_and_flush_time_ms", advanced=True)
        # a txn's age (wall ms since the leader stamped its header) when ... it is applied here
        # (FinalRequestProcessor), its log write is acked (Ack/SendAckRequestProcessor), a quorum acked
        # it (leader), each voter's ack arrives (leader, by server id), a follower receives its PROPOSAL,
        # a learner commits it
        self.propagation_latency = Summary("propagation_latency", advanced=True)
        self.proposal_ack_creation_latency = Summary("proposal_ack_creation_latency", advanced=True)
        self.quorum_ack_latency = Summary("quorum_ack_latency", advanced=True)
        self.ack_latency = SummarySet("ack_latency", advanced=True)
        self.proposal_latency = Summary("proposal_latency", advanced=True)
        self.commit_propagation_latency = Summary("commit_propagation_latency", advanced=True)
        # what learners receive in broadcast (Follower/Observer.processPacket), and how leaders sync them
        self.learner_proposal_received_count = Counter("learner_proposal_received_count")
        self.learner_commit_received_count = Counter("learner_commit_received_count")
        self.diff_count = Counter("diff_count")  # a learner synced by DIFF or TRUNC (LearnerHandler)
        self.snap_count = Counter("snap_count")  # ... by SNAP
        # snapshots and startup
        self.snapshottime = Summary("snapshottime")  # ms from fork to the child's exit
        self.snapshot_fork_time = Summary("corral_snapshot_fork_time_ms")  # corral's own: the loop's pause
        # the AdminServer's `snapshot` command (3.9)
        self.snapshot_error_count = Counter("snapshot_error_count")
        self.snapshot_rate_limited_count = Counter("snapshot_rate_limited_count")
        # ... and its `restore` command (3.9): ms per restore, refused and failed ones
        self.restore_time = Summary("restore_time")
        self.restore_error_count = Counter("restore_error_count")
        self.restore_rate_limited_count = Counter("restore_rate_limited_count")
        # startup (FileTxnSnapLog.restore, ZKDatabase.loadDataBase): observed once, ms and txns
        self.dbinittime = Summary("dbinittime")
        self.startup_snap_load_time = Summary("startup_snap_load_time")
        self.startup_txns_load_time = Summary("startup_txns_load_time")
        self.startup_txns_loaded = Summary("startup_txns_loaded")
        # watchers found by each trigger that found any (WatchManager.triggerWatch), by event type
        self.node_created_watch_count = Summary("node_created_watch_count")
        self.node_deleted_watch_count = Summary("node_deleted_watch_count")
        self.node_changed_watch_count = Summary("node_changed_watch_count")
        self.node_children_watch_count = Summary("node_children_watch_count")
        self._fanout: dict[int, Summary] = {EventType.NodeCreated: self.node_created_watch_count,
                        EventType.NodeDeleted: self.node_deleted_watch_count,
                        EventType.NodeDataChanged: self.node_changed_watch_count,
                        EventType.NodeChildrenChanged: self.node_children_watch_count}
        # writes refused by a hard quota, by top-level namespace (ZooKeeperServer.checkQuota)
        self.quota_exceeded = CounterSet("quota_exceeded_error_per_namespace")
        # elections
        self.election_time = Summary("election_time")  # ms from LOOKING to serving
        self.looking_count = Counter("looking_count")
        # ms from LOOKING to broadcast (QuorumPeer.setZabState), on a leader also as leader_unavailable_time;
        # a follower's sync with its leader (Follower.followLeader)
        self.unavailable_time = Summary("unavailable_time")
        self.leader_unavailable_time = Summary("leader_unavailable_time")
        self.follower_sync_time = Summary("follower_sync_time")

    def counters(self) -> list[Counter]:
        return [v for v in vars(self).values()
                if isinstance(v, Counter) and v is not self.auth_failed and v is not self.fsync_threshold_exceed]

    def summaries(self) -> list[Summary]:
        return [v for v in vars(self).values() if isinstance(v, Summary)]

    def summary_sets(self) -> list[SummarySet]:
        return [v for v in vars(self).values() if isinstance(v, SummarySet)]

    def counter_sets(self) -> list[CounterSet]:
        return [v for v in vars(self).values() if isinstance(v, CounterSet)]

    def watch_fanout(self, event_type: int, watchers: int) -> None:
        """The tree's watch tables call this when a trigger finds watchers (WatchManager.set_fanout)."""
        s = self._fanout.get(event_type)
        if s is not None:
            s.observe(watchers)

    def quota_exceeded_in(self, namespace: str) -> None:
        self.quota_exceeded.inc(namespace)

    def startup(self, report: Recovered) -> None:
        """What recovery took, once at startup. The logged txns after the snapshot are read (and decoded)
        here; an ensemble member applies them when its quorum core commits them again."""
        self.dbinittime.observe(round(report.seconds * 1000))
        self.startup_snap_load_time.observe(round(report.snapshot_seconds * 1000))
        self.startup_txns_load_time.observe(round(report.log_seconds * 1000))
        self.startup_txns_loaded.observe(report.replayed)

    def reset_stats(self) -> None:
        """`srst`: what ZooKeeper's ServerStats.reset clears beside the packet and latency counts."""
        self.auth_failed.value = 0
        self.fsync_threshold_exceed.value = 0


# ---- what the exposition formats read -----------------------------------------------------------


@dataclass
class Family:
    """One metric as both mntr and Prometheus show it: `kind` is gauge, counter, summary."""

    name: str
    kind: str
    value: float | int = 0  # gauge and counter
    summary: Summary | None = None
    labelled: dict[str, Summary] = field(default_factory=dict)  # a summary set
    keyed: dict[str, int] | None = None  # a gauge set or counter set: value by `key`


def _fds() -> tuple[int, int]:
    try:
        open_fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_fds = -1
    return open_fds, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# The gauge sets of ZooKeeperServer.registerMetrics (QuotaMetricsUtils): per top-level namespace.
QUOTA_GAUGE_SETS = ("quota_count_limit_per_namespace", "quota_bytes_limit_per_namespace",
                    "quota_count_usage_per_namespace", "quota_bytes_usage_per_namespace")


def quota_gauges(tree: DataTree) -> dict[str, dict[str, int]]:
    """QuotaMetricsUtils: every leaf under /zookeeper/quota named zookeeper_limits (the hard limit if
    set, else the soft one) or zookeeper_stats (the usage), summed by the top-level namespace of the
    path it is about. Read at scrape time: quotas are a handful of nodes."""
    out: dict[str, dict[str, int]] = {name: {} for name in QUOTA_GAUGE_SETS}
    stack = [QUOTA_ROOT]
    while stack:
        path = stack.pop()
        node = tree.get(path)  # a handful of quota nodes: a packed leaf's copy is fine
        if node is None:
            continue
        if node.num_children():
            stack.extend(node.child_paths())
            continue
        head, _, leaf = path.rpartition("/")
        parts = head[len(QUOTA_ROOT):].split("/")
        if leaf not in (LIMIT_NODE, STATS_NODE) or len(parts) < 2 or node.data is None:
            continue
        namespace = parts[1]
        fields = parse_stats(node.data)
        if leaf == LIMIT_NODE:
            pairs = (("quota_count_limit_per_namespace", "countHardLimit", "count"),
                     ("quota_bytes_limit_per_namespace", "byteHardLimit", "bytes"))
            for name, hard_key, soft_key in pairs:
                hard = fields.get(hard_key, -1)
                value = hard if hard > -1 else fields.get(soft_key, -1)
                out[name][namespace] = out[name].get(namespace, 0) + value
        else:
            for name, key in (("quota_count_usage_per_namespace", "count"),
                              ("quota_bytes_usage_per_namespace", "bytes")):
                out[name][namespace] = out[name].get(namespace, 0) + fields.get(key, 0)
    return out


def gauges(srv: CorralServer) -> list[tuple[str, float | int]]:
    """The gauges ZooKeeperServer.registerMetrics (and, on a leader, LeaderZooKeeperServer) registers,
    where corral has their meaning."""
    st = srv.stats
    tree = srv.tree
    open_fds, max_fds = _fds()
    rows: list[tuple[str, float | int]] = [
        ("avg_latency", round(st.avg_latency(), 4)),
        ("max_latency", st.max_latency),
        ("min_latency", st.min_latency()),
        ("packets_received", st.packets_received),
        ("packets_sent", st.packets_sent),
        ("num_alive_connections", len(srv.connections)),
        ("outstanding_requests", srv.outstanding),
        ("uptime", int((time.monotonic() - srv.started_mono) * 1000)),
        ("znode_count", tree.node_count()),
        ("watch_count", tree.watches.count()),
        ("ephemerals_count", tree.ephemeral_count()),
        ("approximate_data_size", tree.data_size),
        ("global_sessions", len(tree.sessions)),
        ("local_sessions", len(srv.host.local_sessions)),
        ("open_file_descriptor_count", open_fds),
        ("max_file_descriptor_count", max_fds),
        ("last_client_response_size", st.resp_last),
        ("max_client_response_size", st.resp_max),
        ("min_client_response_size", st.resp_min),
        ("auth_failed_count", srv.metrics.auth_failed.value),
    ]
    host = srv.host
    if host.ensemble:
        rows.append(("quorum_size", len(host.config.voters)))
        if host.is_leader:
            lead = host.peer._leader  # read-only view for monitoring
            handlers = lead.handlers if lead is not None else {}
            rows += [("learners", len(handlers)),
                     ("synced_followers", sum(1 for s in handlers if s in host.config.voters)),
                     # followers outside the voting view (Leader.getNonVotingFollowers)
                     ("synced_non_voting_followers", sum(1 for s in handlers if s not in host.config.members)),
                     ("synced_observers", sum(1 for s in handlers if s in host.config.observers))]
    return rows


_PEER_STATE = {Role.LEADING: "leading", Role.FOLLOWING: "following", Role.OBSERVING: "observing"}
_ZAB_STATE = {Phase.DISCOVERY: "discovery", Phase.SYNC: "synchronization", Phase.BROADCAST: "broadcast"}


def peer_state(srv: CorralServer) -> str:
    """QuorumPeer.getDetailedPeerState: `looking`, or the role and the ZAB phase (`following - broadcast`).
    Apache appends the sync mode (diff/snap/trunc) while synchronising; corral's core does not expose it."""
    host = srv.host
    phase = host.peer.phase
    if phase not in _ZAB_STATE or host.role not in _PEER_STATE:
        return "looking"
    return f"{_PEER_STATE[host.role]} - {_ZAB_STATE[phase]}"


def families(srv: CorralServer) -> Iterator[Family]:
    m = srv.metrics
    for name, value in gauges(srv):
        yield Family(name, "gauge", value)
    for name, keyed in quota_gauges(srv.tree).items():
        yield Family(name, "gauge", keyed=keyed)
    for c in m.counters():
        yield Family(c.name, "counter", c.value)
    for cs in m.counter_sets():
        yield Family(cs.name, "counter", keyed=dict(cs.by_key))
    for s in m.summaries():
        yield Family(s.name, "summary", summary=s)
    for ss in m.summary_sets():
        yield Family(ss.name, "summary", labelled=dict(ss.by_key))


Value = float | int | str


def _num(v: float | int) -> str:
    """Numbers as ZooKeeper's mntr prints them: longs as integers, doubles with a decimal point."""
    if isinstance(v, float):
        return repr(round(v, 4))
    return str(v)


def mntr_values(srv: CorralServer) -> list[tuple[str, Value]]:
    """Every metric as Apache's DefaultMetricsProvider dumps it into `mntr` and the AdminServer's
    `monitor` (there without the `zk_` prefix): version and state first, then the gauges, then a
    summary as avg_/min_/max_/cnt_/sum_ (plus p50_/p95_/p99_/p999_ when advanced), a summary set the
    same per key (`avg_<key>_<name>`)."""
    from . import fourletter

    rows: list[tuple[str, Value]] = [("version", fourletter.full_version()), ("server_state", srv.mode)]
    if srv.host.ensemble:
        rows.append(("peer_state", peer_state(srv)))  # a string: mntr and monitor only, not Prometheus

    def summary(prefix: str, s: Summary) -> None:
        rows.append((f"avg_{prefix}", round(s.avg, 4)))
        rows.append((f"min_{prefix}", round(s.min) if s.count else 0))
        rows.append((f"max_{prefix}", round(s.max) if s.count else 0))
        rows.append((f"cnt_{prefix}", s.count))
        rows.append((f"sum_{prefix}", round(s.total)))
        if s.advanced:
            for p, q in MNTR_PERCENTILES:
                v = s.quantile(q)
                rows.append((f"p{p}_{prefix}", 0 if math.isnan(v) else round(v)))

    for f in families(srv):
        if f.keyed is not None:  # DefaultMetricsProvider: `<key>_<name>`
            rows.extend((f"{key}_{f.name}", v) for key, v in f.keyed.items())
        elif f.kind != "summary":
            rows.append((f.name, f.value))
        elif f.summary is not None:
            summary(f.name, f.summary)
        else:
            for key, s in f.labelled.items():
                summary(f"{key}_{f.name}", s)
    return rows


def mntr_text(rows: list[tuple[str, Value]]) -> str:
    return "".join(f"zk_{k}\t{v if isinstance(v, str) else _num(v)}\n" for k, v in rows)
