"""The AdminServer's commands: the JSON Apache ZooKeeper 3.8's `server/admin/Commands.java` answers.

Each command has a primary name and aliases (`/commands/srvr` is `server_stats`), and answers a dict that
always holds `command` (the primary name) and `error` (None, or what went wrong), as CommandResponse
does. Field names, nesting and types follow Apache's so that tools written for its AdminServer read
corral's; values come from corral's own state. Where a field names something corral does not have
(Java's TLS connection counters, the client-response buffer sizes) it is left out rather than
invented: docs/operations.md lists those differences.
"""

from __future__ import annotations

import logging
import platform
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..quorum.ready import Phase
from ..server import fourletter
from ..server.digests import digest_history
from ..server.metrics import mntr_values

if TYPE_CHECKING:
    from ..server.frontend import Link
    from ..server.server import CorralServer

log = logging.getLogger("corral.admin")

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
Response = dict[str, Any]
Run = Callable[["CorralServer", Mapping[str, str]], Response]


@dataclass(frozen=True)
class Command:
    names: tuple[str, ...]
    run: Run | None  # None: answered by the HTTP layer itself (snapshot, restore: admin/snapshots.py)
    server_required: bool = True  # answered only while serving (Apache: isServerRequired)
    methods: tuple[str, ...] = ("GET",)
    protected: bool = False  # Apache 3.9's AuthRequest(ALL, "/"): admin/auth.py

    @property
    def primary(self) -> str:
        return self.names[0]


class TraceMask:
    """ZooTrace's text trace level: corral keeps the value (get/set_trace_mask) but traces nothing by it."""

    value = 306


def _conn_info(srv: CorralServer, c: Link, brief: bool) -> dict[str, Any]:
    """ServerCnxn.getConnectionInfo."""
    n = c.conn
    reading = getattr(c.transport, "is_reading", lambda: True)()
    writing = bool(getattr(c.transport, "get_write_buffer_size", lambda: 0)())
    info: dict[str, Any] = {
        "remote_socket_address": f"{c.peer[0]}:{c.peer[1]}",
        "interest_ops": (1 if reading else 0) | (4 if writing else 0),  # NIO's OP_READ | OP_WRITE
        "outstanding_requests": n.pending,
        "packets_received": n.recved,
        "packets_sent": n.sent,
    }
    if not brief:
        now = time.monotonic()
        info.update({
            "session_id": c.session_id,
            "last_operation": c.last_op,
            "established": int(srv.wall_ms() - (now - c.established) * 1000) if c.established else 0,
            "session_timeout": c.session.timeout if c.session else 0,
            "last_cxid": c.last_cxid,
            "last_zxid": c.last_zxid,
            "last_response_time": int(c.last_resp * 1000) if c.last_resp else 0,
            "last_latency": c.last_lat,
            "min_latency": max(c.min_lat, 0),
            "avg_latency": c.total_lat // c.count_lat if c.count_lat else 0,
            "max_latency": c.max_lat,
        })
    return info


def _connections(srv: CorralServer, brief: bool) -> list[dict[str, Any]]:
    return [_conn_info(srv, c, brief) for c in list(srv.connections)]


def _server_stats(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    st = srv.stats
    cfg = srv.config
    stats = {
        "packets_sent": st.packets_sent,
        "packets_received": st.packets_received,
        "fsync_threshold_exceed_count": srv.metrics.fsync_threshold_exceed.value,
        "uptime": int((time.monotonic() - srv.started_mono) * 1000),
        "data_dir_size": fourletter.dir_size(cfg.data_dir.resolve() / "version-2"),
        "log_dir_size": fourletter.dir_size(cfg.log_dir.resolve() / "version-2"),
        "server_state": srv.mode,
        "last_processed_zxid": srv.tree.last_zxid,
        "outstanding_requests": srv.outstanding,
        "avg_latency": round(st.avg_latency(), 4),
        "max_latency": st.max_latency,
        "min_latency": st.min_latency(),
        "num_alive_client_connections": len(srv.connections),
        "auth_failed_count": srv.metrics.auth_failed.value,
        "client_response_stats": _buffer_stats(st.resp_last, st.resp_min, st.resp_max),
    }
    return {"version": fourletter.full_version(), "read_only": False, "server_stats": stats,
            "client_response": _buffer_stats(st.resp_last, st.resp_min, st.resp_max),
            "node_count": srv.tree.node_count()}


def _buffer_stats(last: int, lo: int, hi: int) -> dict[str, int]:
    """Apache's BufferStats (client response sizes in bytes, -1 before the first)."""
    return {"last_buffer_size": last, "min_buffer_size": lo, "max_buffer_size": hi}


def _stats(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return {**_server_stats(srv, kw), "connections": _connections(srv, True), "secure_connections": []}


def _conf(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    cfg = srv.config
    return {
        "client_port": cfg.client_port,
        "data_dir": str(cfg.data_dir.resolve() / "version-2"),
        "data_log_dir": str(cfg.log_dir.resolve() / "version-2"),
        "tick_time": cfg.tick_time,
        "max_client_cnxns": cfg.max_client_cnxns,
        "min_session_timeout": cfg.min_timeout,
        "max_session_timeout": cfg.max_timeout,
        "server_id": srv.server_id if srv.config.is_ensemble else 0,
        "client_port_listen_backlog": -1,
    }


def _crst(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    fourletter.crst(srv, None)
    return {}


def _srst(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    fourletter.srst(srv, None)
    return {}


def _dirs(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    cfg = srv.config
    return {"datadir_size": fourletter.dir_size(cfg.data_dir.resolve() / "version-2"),
            "logdir_size": fourletter.dir_size(cfg.log_dir.resolve() / "version-2")}


def _dump(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    expiry = srv.host.expiry  # only the leader (or a standalone server) tracks expiry
    buckets = expiry.buckets if expiry is not None else {}
    eph = srv.tree.ephemerals
    return {"expiry_time_to_session_ids": {str(int(t)): sorted(ids) for t, ids in sorted(buckets.items())},
            "session_id_to_ephemeral_paths": {str(sid): sorted(paths) for sid, paths in sorted(eph.items())}}


def _env(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    out: Response = {}
    for line in fourletter.envi(srv, None).splitlines()[1:]:
        key, _, value = line.partition("=")
        out[key] = value
    out["host.name"] = socket.gethostname()
    out["python.version"] = platform.python_version()
    return out


def _hash(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    """Apache's DataTree.digestLog: the tree digest after each zxid that is a multiple of 128, oldest first
    (kept on demand: server/digests.py)."""
    return {"digests": digest_history(srv.tree).history()}


def _gtmk(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return {"tracemask": TraceMask.value}


def _stmk(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    raw = kw.get("traceMask")
    if raw is None:
        return {"error": "setTraceMask requires long traceMask argument"}
    try:
        mask = int(raw.strip(), 10) if raw.strip().lstrip("+-").isdigit() else None
    except ValueError:
        mask = None
    if mask is None or not -2**63 <= mask < 2**63:
        return {"error": f"setTraceMask requires long traceMask argument, got {raw}"}
    TraceMask.value = mask
    return {"tracemask": mask}


def _icfg(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    """The zoo.cfg text of a standalone server; null for an ensemble member (Apache keeps the text only
    in ZooKeeperServerMain, which a quorum peer does not run)."""
    return {"initial_configuration": None if srv.config.is_ensemble else srv.config.initial_text}


def _isro(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return {"read_only": srv.host.read_only}


def _lsnp(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    """The newest snapshot on disk (written by this server, or the one it recovered from)."""
    best: tuple[int, Path] | None = None
    try:
        for p in (srv.config.data_dir / "version-2").glob("snapshot.*"):
            suffix = p.name[len("snapshot."):]
            try:
                z = int(suffix, 16)
            except ValueError:
                continue  # a temp file being written
            if best is None or z > best[0]:
                best = (z, p)
        ts = int(best[1].stat().st_mtime) if best is not None else -1
    except OSError:
        best, ts = None, -1
    return {"zxid": f"{best[0]:x}" if best is not None else "ffffffffffffffff", "timestamp": ts}


def _leader(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    if not srv.config.is_ensemble:
        return {"error": "server is not initialized"}
    lid = srv.host.leader_id
    spec = srv.config.servers.get(lid) if lid is not None else None
    return {"is_leader": srv.host.is_leader, "leader_id": lid if lid is not None else -1,
            "leader_ip": spec.host if spec is not None else ""}


def _mntr(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return dict(mntr_values(srv))


def _orst(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return {}  # corral keeps no per-observer connection statistics: nothing to reset


def _observers(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    host = srv.host
    if host.is_leader:
        lead = host.peer._leader  # read-only view for monitoring
        synced = [sid for sid in (lead.handlers if lead is not None else {}) if sid in host.config.observers]
        return {"synced_observers": len(synced), "observers": [{"sid": sid} for sid in synced]}
    return {"synced_observers": 0, "observers": []}


def _ruok(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    return {}


def _address(host: str, port: int | None) -> str:
    return "" if port is None else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


def _multiple_addresses(host: str, port: int | None) -> dict[str, Any]:
    """A quorum or election address as Apache's `zabstate` writes it: QuorumPeer returns a
    MultipleAddresses there, which Jackson serialises property by property (its getters)."""
    addr = _address(host, port)
    wildcard = _address("::" if ":" in host else "0.0.0.0", port)
    return {"empty": False, "all_addresses": [addr], "all_reachable_addresses": [addr], "one": addr,
            "reachable_address": addr, "wildcard_addresses": [wildcard], "all_ports": [port],
            "all_host_strings": [host], "all_reachable_addresses_or_all": [addr], "reachable_or_one": addr}


def _voting_view(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    if not srv.config.is_ensemble:
        return {"current_config": {}}
    view = {}
    for sid, s in sorted(srv.config.servers.items()):
        if s.observer:
            continue  # QuorumPeer.getVotingView: voters only
        view[str(sid)] = {"server_addresses": [_address(s.host, s.peer_port)],
                          "election_addresses": [_address(s.host, s.election_port)],
                          "client_address": _address(s.client_addr or "0.0.0.0", s.client_port),
                          "learner_type": "participant"}
    return {"current_config": view}


def _watches(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    t = srv.tree.watches.data
    return {"session_id_to_watched_paths": {str(getattr(w, "session_id", 0)): sorted(paths)
                                            for w, paths in t.by_watcher.items()}}


def _watches_by_path(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    t = srv.tree.watches.data
    return {"path_to_session_ids": {path: [getattr(w, "session_id", 0) for w in ws] for path, ws in t.by_path.items()}}


def _watch_summary(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    t = srv.tree.watches.data
    return {"num_connections": len(t.by_watcher), "num_paths": len(t.by_path), "num_total_watches": t.count()}


_ZAB = {Phase.ELECTION: "election", Phase.DISCOVERY: "discovery", Phase.SYNC: "synchronization",
        Phase.BROADCAST: "broadcast"}


def _zabstate(srv: CorralServer, kw: Mapping[str, str]) -> Response:
    cfg = srv.config
    if not cfg.is_ensemble:
        return {"voting": False, "zabstate": ""}
    me = cfg.servers[srv.server_id]
    zxid = srv.tree.last_zxid
    return {"myid": srv.server_id, "is_leader": srv.host.is_leader,
            "quorum_address": _multiple_addresses(me.host, me.peer_port),
            "election_address": _multiple_addresses(me.host, me.election_port),
            "client_address": _address(cfg.client_port_address, cfg.client_port),
            "voting": not me.observer, "last_zxid": f"0x{zxid:x}", "zab_epoch": zxid >> 32,
            "zab_counter": zxid & 0xFFFFFFFF, "zabstate": _ZAB.get(srv.host.peer.phase, "")}


COMMANDS: tuple[Command, ...] = (
    Command(("connection_stat_reset", "crst"), _crst),
    Command(("configuration", "conf", "config"), _conf),
    Command(("connections", "cons"), lambda s, kw: {"connections": _connections(s, False), "secure_connections": []}),
    Command(("hash",), _hash),
    Command(("restore", "rest"), None, methods=("POST",), protected=True),
    Command(("snapshot", "snap"), None, protected=True),
    Command(("dirs",), _dirs),
    Command(("dump",), _dump),
    Command(("environment", "env", "envi"), _env, server_required=False),
    Command(("get_trace_mask", "gtmk"), _gtmk, server_required=False),
    Command(("initial_configuration", "icfg"), _icfg),
    Command(("is_read_only", "isro"), _isro),
    Command(("last_snapshot", "lsnp"), _lsnp),
    Command(("leader", "lead"), _leader),
    Command(("monitor", "mntr"), _mntr, server_required=False),
    Command(("observer_connection_stat_reset", "orst"), _orst),
    Command(("ruok",), _ruok),
    Command(("set_trace_mask", "stmk"), _stmk, server_required=False),
    Command(("server_stats", "srvr"), _server_stats),
    Command(("stats", "stat"), _stats),
    Command(("stat_reset", "srst"), _srst),
    Command(("observers", "obsr"), _observers),
    Command(("voting_view",), _voting_view),
    Command(("watches", "wchc"), _watches),
    Command(("watches_by_path", "wchp"), _watches_by_path),
    Command(("watch_summary", "wchs"), _watch_summary),
    Command(("zabstate",), _zabstate, server_required=False),
)

BY_NAME: dict[str, Command] = {name: c for c in COMMANDS for name in c.names}


def run(srv: CorralServer, name: str, kwargs: Mapping[str, str]) -> Response:
    """Commands.runCommand: unknown names and commands needing a serving server answer an `error`."""
    cmd = BY_NAME.get(name)
    if cmd is None:
        return {"command": name, "error": f"Unknown command: {name}"}
    if cmd.server_required and not srv.serving and not srv.host.read_only:
        return {"command": name, "error": NOT_SERVING}
    if cmd.run is None:
        raise ValueError(f"{name} is answered by the AdminServer's HTTP layer")
    out = {"command": cmd.primary, "error": None}
    out.update(cmd.run(srv, kwargs))
    return out
