"""The AdminServer's JSON in an ensemble, command by command, against a 3-member Apache ZooKeeper 3.8
ensemble after the same operations.

Both ensembles start fresh (epoch 1), get the same client traffic through one follower (a session, a node,
an ephemeral node, a data watch and an exists watch, then enough creates to pass zxid 0x...80, where the
tree digest is logged for `hash`), so zxids, roles and the tree agree. Members are paired by role
(leader, the follower with the client, the other follower); ports, server ids and session ids are
replaced by names for their role, and values that differ by nature (times, packet counts, directory
sizes and paths, the digests themselves, which cover ctime/mtime) are compared by shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from corral.persistence.snapshot import parse_snapshot
from tests.admin.support import command, request, shape
from tests.admin.test_admin_snapshot import _get
from tests.admin.test_admin_vs_apache import APACHE_39_METRICS, APACHE_TYPES, metric_of, scrape
from tests.ensemble.cluster import Ensemble
from tests.support.apache_ensemble import ApacheEnsemble
from tests.support.net import HOST, free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

CREATES = 130  # with the session and /a, /e: zxid counter 133, past the digest log's 128
LAST_ZXID = (1 << 32) + CREATES + 3
# Apache 3.8's monitor keys corral has, with the values both must agree on in this state.
SAME_MONITOR = ("server_state", "peer_state", "quorum_size", "learners", "synced_followers", "synced_observers",
                "synced_non_voting_followers", "znode_count", "ephemerals_count", "watch_count", "global_sessions",
                "local_sessions", "outstanding_requests")
APACHE_ONLY_LEADER_STATS = {"proposal_stats"}  # the leader's proposal sizes: docs/operations.md
APACHE_ONLY_SERVER_STATS = {"provider_null", "non_mtlsremote_conn_count", "non_mtlslocal_conn_count"}


class Side:
    """One ensemble as the test sees it: its members by role, their admin ports (and, for corral, their
    /metrics ports), the names to normalise."""

    def __init__(self, kind: str, ens: ApacheEnsemble | Ensemble, admin: dict[int, int],
                 metrics: dict[int, int]) -> None:
        self.kind = kind
        self.ens = ens
        self.admin = admin
        self.metrics = metrics
        self.roles: dict[str, Any] = {}
        self.names: dict[int, str] = {}  # port -> a name
        self.sids: dict[int, str] = {}  # server id -> its role
        self.session = 0

    def port(self, role: str) -> int:
        return self.admin[self.roles[role].sid]

    def get(self, role: str, name: str) -> dict[str, Any]:
        out = normalise(command(self.port(role), name), self)
        for key in ("myid", "leader_id", "server_id"):  # server ids in the fields that hold one
            if isinstance(out.get(key), int) and out[key] in self.sids:
                out[key] = self.sids[out[key]]
        return out


def normalise(value: Any, side: Side) -> Any:
    """Ports and server ids to role names (in numbers and inside "host:port" strings), the session id to
    "s1"."""
    if isinstance(value, dict):
        return {normalise_key(k, side): normalise(v, side) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, side) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if value == side.session:
            return "s1"
        return side.names.get(value, value)  # server ids are small ints: mapped by key (`normalise_key`)
    if isinstance(value, str):
        return re.sub(r":(\d+)\b", lambda m: ":" + side.names.get(int(m.group(1)), m.group(1)), value)
    return value


def normalise_key(key: str, side: Side) -> str:
    if key.isdigit() and int(key) == side.session:
        return "s1"
    if key.isdigit() and int(key) in side.sids:
        return side.sids[int(key)]
    return key


def start(kind: str, base: Path) -> Side:
    ens: ApacheEnsemble | Ensemble = ApacheEnsemble(base) if kind == "apache" else Ensemble(base, tick_time=500)
    admin, metrics = {}, {}
    for m in ens.members:
        admin[m.sid] = free_port()
        # every zxid's acks sampled in ack_latency (Apache's default: one in 1000)
        m.extra_cfg.update({"admin.enableServer": "true", "admin.serverAddress": HOST,
                            "admin.serverPort": str(admin[m.sid]), "leader.ackLoggingFrequency": "1"})
        if kind == "corral":
            metrics[m.sid] = free_port()
            m.extra_cfg.update({"prometheus.enable": "true", "metricsProvider.httpHost": HOST,
                                "metricsProvider.httpPort": str(metrics[m.sid])})
    ens.start()
    return Side(kind, ens, admin, metrics)


def name_roles(side: Side) -> None:
    modes = {m.sid: m.mode() for m in side.ens.members}
    leader = next(m for m in side.ens.members if modes[m.sid] == "leader")
    followers = sorted((m for m in side.ens.members if modes[m.sid] == "follower"), key=lambda m: m.sid)
    assert len(followers) == 2, modes
    side.roles = {"leader": leader, "f1": followers[0], "f2": followers[1]}
    side.sids = {m.sid: role for role, m in side.roles.items()}
    for role, m in side.roles.items():
        side.names.update({m.port: f"client@{role}", m.peer_port: f"peer@{role}",
                           m.election_port: f"election@{role}", side.admin[m.sid]: f"admin@{role}"})


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    out: dict[str, Side] = {}
    clients: list[KazooClient] = []
    try:
        for kind in ("apache", "corral"):
            side = out[kind] = start(kind, tmp_path_factory.mktemp(kind))
            wait_until(lambda s=side: sum(m.mode() == "leader" for m in s.ens.members) == 1, 60, "one leader")
            name_roles(side)
            for role in side.roles:
                assert command(side.port(role), "hash")["digests"] == []  # corral starts its digest log here
            zk = KazooClient(side.roles["f1"].hosts, timeout=10)
            zk.start(30)
            clients.append(zk)
            side.session = zk.client_id[0]
            zk.create("/a", b"x")
            zk.create("/e", b"y", ephemeral=True)
            zk.get("/a", watch=lambda e: None)
            zk.exists("/zz", watch=lambda e: None)
            for i in range(CREATES):
                zk.create(f"/n{i}", b"v")
            zk.sync("/")
            wait_until(lambda s=side: all(m.zxid() == LAST_ZXID for m in s.ens.members), 60,
                       f"every {kind} member to apply 0x{LAST_ZXID:x}")
        yield out
    finally:
        for zk in clients:
            zk.stop()
            zk.close()
        for side in out.values():
            side.ens.close()


ROLES = ("leader", "f1", "f2")


@pytest.mark.parametrize("name", ["leader", "zabstate", "voting_view", "observers", "is_read_only", "watch_summary",
                                  "watches", "watches_by_path", "initial_configuration", "ruok", "get_trace_mask"])
def test_same_answer(sides: dict[str, Side], name: str) -> None:
    for role in ROLES:
        assert sides["corral"].get(role, name) == sides["apache"].get(role, name), (role, name)


def test_configuration(sides: dict[str, Side]) -> None:
    for role in ROLES:
        mine, theirs = (sides[k].get(role, "configuration") for k in ("corral", "apache"))
        for kind, answer in (("corral", mine), ("apache", theirs)):
            assert answer.pop("data_dir").endswith(f"/s{sides[kind].roles[role].sid}/data/version-2")
            answer.pop("data_log_dir")
        assert mine == theirs, role


def test_dump(sides: dict[str, Side]) -> None:
    """Ephemerals on every member; session expiry on the leader only (its bucket times are its own clock,
    and Apache keeps emptied buckets)."""
    for role in ROLES:
        mine, theirs = (sides[k].get(role, "dump") for k in ("corral", "apache"))
        assert mine["session_id_to_ephemeral_paths"] == theirs["session_id_to_ephemeral_paths"] == {"s1": ["/e"]}
        tracked = [{s for ids in a["expiry_time_to_session_ids"].values() for s in ids} for a in (mine, theirs)]
        assert tracked[0] == tracked[1] == ({"s1"} if role == "leader" else set()), role


def test_hash(sides: dict[str, Side]) -> None:
    """The digest log holds the zxid 0x100000080 on every member of both; within an ensemble the digests
    agree (the same tree), between the two they differ by nature (ctime/mtime are in the digest)."""
    for kind in ("corral", "apache"):
        logs = [sides[kind].get(role, "hash")["digests"] for role in ROLES]
        assert logs[0] == logs[1] == logs[2], kind
        assert [(d["zxid"], d["digest_version"]) for d in logs[0]] == [((1 << 32) + 128, 2)], kind
        assert shape(logs[0]) == shape(sides["apache"].get("leader", "hash")["digests"])


def test_monitor(sides: dict[str, Side]) -> None:
    for role in ROLES:
        mine, theirs = (sides[k].get(role, "monitor") for k in ("corral", "apache"))
        own = {k for k in mine if "corral_" in k or metric_of(k) in APACHE_39_METRICS}
        assert set(mine) - own <= set(theirs), sorted(set(mine) - own - set(theirs))
        for key in SAME_MONITOR:
            assert (key in mine) == (key in theirs), (role, key)
            if key in mine:
                assert mine[key] == theirs[key], (role, key, mine[key], theirs[key])


@pytest.mark.parametrize("name", ["server_stats", "stats", "connections", "last_snapshot", "dirs"])
def test_same_shape(sides: dict[str, Side], name: str) -> None:
    for role in ROLES:
        mine, theirs = (sides[k].get(role, name) for k in ("corral", "apache"))
        if "server_stats" in theirs:
            for key in APACHE_ONLY_SERVER_STATS:
                theirs["server_stats"].pop(key)
            if role == "leader":
                for key in APACHE_ONLY_LEADER_STATS:
                    theirs.pop(key)
            assert mine["server_stats"]["server_state"] == theirs["server_stats"]["server_state"]
            assert mine["server_stats"]["last_processed_zxid"] == theirs["server_stats"]["last_processed_zxid"]
            assert mine["node_count"] == theirs["node_count"]
        assert shape(mine) == shape(theirs), (role, name)


def test_connections_name_the_same_session(sides: dict[str, Side]) -> None:
    for kind in ("corral", "apache"):
        conns = sides[kind].get("f1", "connections")["connections"]
        # last_operation is SYNC or PING, depending on when the client last pinged
        assert [(c["session_id"], c["last_zxid"]) for c in conns] == [("s1", LAST_ZXID)], kind
        assert sides[kind].get("leader", "connections")["connections"] == []


def test_corral_snapshot_on_a_follower(sides: dict[str, Side]) -> None:
    """Apache 3.9's `snapshot` (the reference 3.8 lacks it) on a corral follower: its own tree, at the zxid
    every member applied, with the digest its `hash` logged at 0x100000080 carried forward."""
    port = sides["corral"].port("f2")
    status, headers, body = _get(port, "/commands/snapshot", {"Authorization": "digest any:one"})
    assert status == 200 and int(headers["last_zxid"], 16) == LAST_ZXID
    snap = parse_snapshot(body, None)
    assert snap.zxid == LAST_ZXID and "/n129" in snap.tree.nodes and snap.digest is not None


# The quorum's metrics after the fixture's writes, by role: whether each has moved (count > 0), the same
# on both ensembles. ServerMetrics.java: a leader's quorum acks and its own log acks; a follower's
# PROPOSALs and COMMITs received, its acks and its sync; everyone's log queue and apply latency.
QUORUM_MOVED = {
    "leader": {"cnt_quorum_ack_latency": True, "cnt_proposal_ack_creation_latency": True,
               "cnt_proposal_latency": False, "cnt_commit_propagation_latency": False,
               "learner_proposal_received_count": False, "learner_commit_received_count": False,
               "cnt_leader_unavailable_time": True, "cnt_follower_sync_time": False},
    "follower": {"cnt_quorum_ack_latency": False, "cnt_proposal_ack_creation_latency": True,
                 "cnt_proposal_latency": True, "cnt_commit_propagation_latency": True,
                 "learner_proposal_received_count": True, "learner_commit_received_count": True,
                 "cnt_leader_unavailable_time": False, "cnt_follower_sync_time": True},
}
EVERYONE_MOVED = ("cnt_propagation_latency", "cnt_sync_processor_queue_size", "cnt_sync_processor_queue_time_ms",
                  "cnt_sync_processor_queue_flush_time_ms", "cnt_sync_processor_queue_and_flush_time_ms",
                  "cnt_unavailable_time")


def ack_latency_keys(monitor: dict[str, Any]) -> int:
    """How many voters the leader's ack_latency set has (`cnt_<server id>_ack_latency`)."""
    return sum(1 for k in monitor if re.fullmatch(r"cnt_\d+_ack_latency", k) and monitor[k] > 0)


def test_quorum_metrics_move_where_apaches_do(sides: dict[str, Side]) -> None:
    for role in ROLES:
        expected = QUORUM_MOVED["leader" if role == "leader" else "follower"]
        for kind in ("corral", "apache"):
            monitor = command(sides[kind].port(role), "monitor")
            moved = {key: monitor[key] > 0 for key in expected}
            assert moved == expected, (kind, role, monitor)
            assert all(monitor[key] > 0 for key in EVERYONE_MOVED), (kind, role)
            if role == "leader":  # the voters' acks that came before their txn committed: a quorum's at least
                assert 2 <= ack_latency_keys(monitor) <= 3, (kind, monitor)
                assert monitor["diff_count"] + monitor["snap_count"] >= 2, kind  # both followers synced
            else:
                assert monitor["learner_proposal_received_count"] >= CREATES, (kind, role)
                assert monitor["cnt_commit_propagation_latency"] >= CREATES, (kind, role)


def test_quorum_metrics_in_prometheus(sides: dict[str, Side]) -> None:
    """The leader's /metrics: Apache's types, the ack_latency set labelled by server id, quantiles."""
    side = sides["corral"]
    fams = scrape(side.metrics[side.roles["leader"].sid])
    for name in ("quorum_ack_latency", "proposal_ack_creation_latency", "ack_latency", "leader_unavailable_time",
                 "sync_processor_queue_and_flush_time_ms", "learner_commit_received_count", "diff_count"):
        assert fams[name].type == APACHE_TYPES[name], name
    keys = {s.labels["key"] for s in fams["ack_latency"].samples if s.name == "ack_latency_count"}
    assert len(keys) >= 2 and keys <= {str(m.sid) for m in side.ens.members}, keys
    assert any(s.labels.get("quantile") == "0.99" and s.value >= 0 for s in fams["quorum_ack_latency"].samples)


def test_restore_is_refused_on_an_ensemble_member(sides: dict[str, Side]) -> None:
    """Apache restores a member alone (its tree then differs from the others' under the same zxids);
    corral refuses (docs/operations.md) and the member keeps its tree."""
    side = sides["corral"]
    port = side.port("f2")
    _, _, body = _get(port, "/commands/snapshot", {"Authorization": "digest any:one"})
    status, _, answer = request(port, "POST", "/commands/restore", headers={"Authorization": "digest any:one"},
                                body=body)
    assert status == 503 and answer.startswith("{") and '"error": null' in answer
    assert side.roles["f2"].zxid() == LAST_ZXID
