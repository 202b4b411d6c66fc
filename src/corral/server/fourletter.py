"""Four-letter words on the client port, in ZooKeeper's output formats (`server/command/*.java`).

Monitoring tools parse these (zkServer.sh status reads `Mode:` from srvr; exporters read `mntr`,
`zookeeper.version=` from envi), so field names and line shapes follow ZooKeeper exactly; the version
reports the ZooKeeper release whose protocol corral speaks, then corral's own.
"""

from __future__ import annotations

import getpass
import os
import platform
import resource
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import FULL_VERSION
from .digests import digest_history
from .metrics import mntr_text, mntr_values

if TYPE_CHECKING:
    from .frontend import Link
    from .server import CorralServer

FOUR_LETTER_WORDS = frozenset(w.encode() for w in (
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst", "srvr",
    "stat", "stmk", "wchc", "wchp", "wchs"))

_BUILT = datetime.fromtimestamp(Path(__file__).stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


def full_version() -> str:
    return f"{FULL_VERSION}, built on {_BUILT}"


def _java_double(v: float) -> str:
    """Java's Double.toString for the common cases (`0.0`, `1.5`)."""
    return repr(float(v))


def _hex(v: int) -> str:
    return "0x%x" % (v & 0xFFFFFFFFFFFFFFFF)


def _java_date(ms: int) -> str:
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms / 1000))


def dir_size(p: Path) -> int:
    total = 0
    try:
        for f in p.rglob("*"):
            if f.is_file():
                total += f.stat().st_size
    except OSError:
        pass
    return total


def _conn_brief(c: Link) -> str:
    n = c.conn
    return f" /{c.peer[0]}:{c.peer[1]}[{1 if c.session_id else 0}](queued={n.pending},recved={n.recved},sent={n.sent})"


def _conn_full(c: Link, srv: CorralServer) -> str:
    if not c.session_id:
        return _conn_brief(c)
    avg = c.total_lat // c.count_lat if c.count_lat else 0
    est = int(srv.wall_ms() - (time.monotonic() - c.established) * 1000)
    lresp = int(srv.wall_ms() - (time.monotonic() - c.last_resp) * 1000) if c.last_resp else 0
    timeout = c.session.timeout if c.session else 0
    n = c.conn
    return (f" /{c.peer[0]}:{c.peer[1]}[1](queued={n.pending},recved={n.recved},sent={n.sent},"
            f"sid={_hex(c.session_id)},"
            f"lop={c.last_op},est={est},to={timeout},lcxid={_hex(c.last_cxid)},lzxid={_hex(c.last_zxid)},"
            f"lresp={lresp},llat={c.last_lat},minlat={max(c.min_lat, 0)},avglat={avg},maxlat={c.max_lat})")


def _server_summary(srv: CorralServer) -> list[str]:
    st = srv.stats
    return [
        f"Latency min/avg/max: {st.min_latency()}/{_java_double(st.avg_latency())}/{st.max_latency}",
        f"Received: {st.packets_received}",
        f"Sent: {st.packets_sent}",
        f"Connections: {len(srv.connections)}",
        f"Outstanding: {srv.outstanding}",
        f"Zxid: {_hex(srv.tree.last_zxid)}",
        f"Mode: {srv.mode}",
        f"Node count: {srv.tree.node_count()}",
    ]


def srvr(srv: CorralServer, conn: Link) -> str:
    return "\n".join([f"Zookeeper version: {full_version()}", *_server_summary(srv)]) + "\n"


def stat(srv: CorralServer, conn: Link) -> str:
    lines = [f"Zookeeper version: {full_version()}", "Clients:"]
    lines += [_conn_brief(c) for c in srv.connections]
    lines.append("")
    lines += _server_summary(srv)
    return "\n".join(lines) + "\n"


def cons(srv: CorralServer, conn: Link) -> str:
    return "\n".join(_conn_full(c, srv) for c in srv.connections) + "\n\n"


def conf(srv: CorralServer, conn: Link) -> str:
    cfg = srv.config
    data = cfg.data_dir.resolve() / "version-2"
    logd = cfg.log_dir.resolve() / "version-2"
    lines = [
        f"clientPort={cfg.client_port}",
        "secureClientPort=-1",
        f"dataDir={data}",
        f"dataDirSize={dir_size(data)}",
        f"dataLogDir={logd}",
        f"dataLogSize={dir_size(logd)}",
        f"tickTime={cfg.tick_time}",
        f"maxClientCnxns={cfg.max_client_cnxns}",
        f"minSessionTimeout={cfg.min_timeout}",
        f"maxSessionTimeout={cfg.max_timeout}",
        "clientPortListenBacklog=-1",
        f"serverId={srv.server_id if srv.mode != 'standalone' else 0}",
    ]
    # corral's addition, first so that Apache's blocks below keep their layout (the membership last): where
    # each setting not left at its default came from (a zoo.cfg line, or a -D flag in SERVER_JVMFLAGS /
    # JVMFLAGS). Lines without "=", so parsers of Apache's key=value lines skip them.
    origins = [(k, o) for k, o in sorted(cfg.origins.items()) if o != "default"]
    if origins:
        lines[:0] = ["settingOrigins:", *(f" {key} from {origin.replace('=', ':')}" for key, origin in origins)]
    me = cfg.servers.get(srv.server_id)
    if srv.mode != "standalone" and me is not None:
        # QuorumZooKeeperServer.dumpConf: the quorum fields, then the membership as QuorumMaj.toString.
        lines += [f"initLimit={cfg.init_limit}", f"syncLimit={cfg.sync_limit}", "electionAlg=3",
                  f"electionPort={me.election_port}", f"quorumPort={me.peer_port}",
                  f"peerType={1 if me.observer else 0}", "membership: "]
        lines += cfg.membership().split("\n")
    return "\n".join(lines) + "\n"


def envi(srv: CorralServer, conn: Link | None) -> str:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    lines = [
        "Environment:",
        f"zookeeper.version={full_version()}",
        f"host.name={socket.gethostname()}",
        f"python.version={platform.python_version()}",
        f"python.implementation={platform.python_implementation()}",
        f"python.executable={sys.executable}",
        f"os.name={platform.system()}",
        f"os.arch={platform.machine()}",
        f"os.version={platform.release()}",
        f"user.name={_user()}",
        f"user.home={Path.home()}",
        f"user.dir={os.getcwd()}",
        f"os.memory.maxrss={ru.ru_maxrss // 1024}MB",
    ]
    return "\n".join(lines) + "\n"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "?"


def mntr(srv: CorralServer, conn: Link | None) -> str:
    """Apache's metrics (server/metrics.py), then corral's own lines (`zk_last_processed_zxid`, the
    log, snapshots and elections as corral counts them)."""
    rows = mntr_values(srv)
    apache = {f"zk_{k}" for k, _ in rows}  # zk_peer_state: Apache's form, not the host's own line
    extra = [("zk_last_processed_zxid", srv.tree.last_zxid), *srv.extra_metrics()]
    return mntr_text(rows) + "".join(f"{k}\t{v}\n" for k, v in extra if k not in apache)


def wchs(srv: CorralServer, conn: Link) -> str:
    t = srv.tree.watches.data
    return f"{len(t.by_watcher)} connections watching {len(t.by_path)} paths\nTotal watches:{t.count()}\n"


def wchc(srv: CorralServer, conn: Link) -> str:
    out = []
    for w, paths in srv.tree.watches.data.by_watcher.items():
        out.append(_hex(getattr(w, "session_id", 0)))
        out += [f"\t{p}" for p in sorted(paths)]
    return "\n".join(out) + "\n"


def wchp(srv: CorralServer, conn: Link) -> str:
    out = []
    for path, ws in srv.tree.watches.data.by_path.items():
        out.append(path)
        out += [f"\t{_hex(getattr(w, 'session_id', 0))}" for w in ws]
    return "\n".join(out) + "\n"


def dump(srv: CorralServer, conn: Link) -> str:
    expiry = srv.host.expiry  # only the leader tracks expiry
    buckets = expiry.buckets if expiry is not None else {}
    lines = ["SessionTracker dump:", f"Session Sets ({len(buckets)})/({len(srv.tree.sessions)}):"]
    mono_to_wall = srv.wall_ms() - srv.now_ms()
    for t in sorted(buckets):
        ids = buckets[t]
        lines.append(f"{len(ids)} expire at {_java_date(int(t + mono_to_wall))}:")
        lines += [f"\t{_hex(s)}" for s in sorted(ids)]
    eph = srv.tree.ephemerals
    lines.append("ephemeral nodes dump:")
    lines.append(f"Sessions with Ephemerals ({len(eph)}):")
    for sid in sorted(eph):
        lines.append(f"{_hex(sid)}:")
        lines += [f"\t{p}" for p in sorted(eph[sid])]
    lines.append("Connections dump:")
    lines.append(f"Connections Sets (1)/({len(srv.connections)})")
    return "\n".join(lines) + "\n"


def dirs(srv: CorralServer, conn: Link) -> str:
    cfg = srv.config
    return (f"datadir_size: {dir_size(cfg.data_dir.resolve() / 'version-2')}\n"
            f"logdir_size: {dir_size(cfg.log_dir.resolve() / 'version-2')}\n")


def srst(srv: CorralServer, conn: Link | None) -> str:
    srv.stats.reset()
    srv.metrics.reset_stats()
    return "Server stats reset.\n"


def hash_word(srv: CorralServer, conn: Link | None) -> str:
    """Apache's DigestCommand: `<zxid in hex>: <digest>` per digest-log entry, oldest first (the log is
    kept on demand, server/digests.py: the first `hash` starts it and answers nothing)."""
    return "".join(f"{z:x}: {d}\n" for z, d in digest_history(srv.tree).entries)


def crst(srv: CorralServer, conn: Link | None) -> str:
    for c in srv.connections:
        c.conn.recved = c.conn.sent = c.reported = c.count_lat = c.total_lat = c.max_lat = 0
        c.min_lat = -1
    return "Connection stats reset.\n"


def isro(srv: CorralServer, conn: Link | None) -> str:
    """IsroCommand: `ro` on a read-only member, `null` while not serving at all."""
    if srv.host.read_only:
        return "ro"
    return "rw" if srv.serving else "null"


COMMANDS: dict[str, Callable[[CorralServer, Link], str]] = {
    "ruok": lambda s, c: "imok",
    "isro": isro,
    "gtmk": lambda s, c: "306\n",
    "stmk": lambda s, c: "306\n",
    "hash": hash_word,
    "srvr": srvr,
    "stat": stat,
    "cons": cons,
    "conf": conf,
    "envi": envi,
    "mntr": mntr,
    "wchs": wchs,
    "wchc": wchc,
    "wchp": wchp,
    "dump": dump,
    "dirs": dirs,
    "srst": srst,
    "crst": crst,
}
