"""`corral ensemble up N | status | start N | stop N | restart N | down`: a local ensemble on loopback
for development.

Each member gets its own directory (`<dir>/sN/` with zoo.cfg, data/myid and server.log). `state.json`
records the layout, every member's ports and the PID of the process this command last started for it:

* Ports are chosen once, by the first `up`, and kept: later `up`/`start`/`restart` reuse them, so
  connect strings, scripts and client configs stay valid across restarts. They are picked below the
  kernel's ephemeral range, where outgoing connections never take them. A recorded port held by
  another process is an error naming that port (the member is not started).
* Signals go only to processes this command started (the PID in state.json, checked against the
  process's command line so that a reused PID is never signalled): SIGTERM, then SIGKILL after
  `--timeout` seconds.
* A member counts as running when its recorded process is alive, or when its client port answers
  `conf` with this member's data directory — a member restarted by hand (`corral server sN/zoo.cfg`)
  is recognised as running; its PID comes from the pid file `corral server` writes into its dataDir.
  Such a member is left alone by `stop`, `restart` and `down`, which say so.
* `up --tls` (or `--tls-only`) makes a throwaway CA and certificates in `<dir>/pki` (corral.security.devpki)
  and gives every member TLS between members (sslQuorum) and for clients (secureClientPort, client
  certificates required as Apache's default ssl.clientAuth=need); `--tls` keeps the plaintext clientPort
  beside it, as Apache allows, `--tls-only` has none. The members of a TLS ensemble are probed with
  four-letter words over TLS on the secure port, with the developer's certificate, whichever it is.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypedDict

import click

from ..localports import pick_free_ports, port_free
from ..processes import alive, cmdline, read_pid_file
from ..security.devpki import DEV_CLIENT_DN, DevPki

STATE = "state.json"
SERVING = ("leader", "follower", "observer", "standalone", "read-only")


class Member(TypedDict):
    """One member as recorded in state.json."""

    id: int
    client_port: int  # 0: none (--tls-only)
    secure_client_port: int  # 0: none (no --tls)
    peer_port: int
    election_port: int
    observer: bool
    pid: int  # the process this command last started for the member (0: none)
    config: str
    log: str


class State(TypedDict):
    """state.json: the layout `up` was asked for and the members."""

    voters: int
    observers: int
    tick_time: int
    tls: str  # TLS_MODES: off, on (secureClientPort beside clientPort), only (no clientPort)
    pki: str  # the directory of the CA and certificates ("" without TLS)
    members: list[Member]


TLS_MODES = ("off", "on", "only")
X509_AUTH = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
NETTY = "org.apache.zookeeper.server.NettyServerCnxnFactory"


@dataclass
class View:
    """What `status` knows about one member right now."""

    member: Member
    role: str  # leader, follower, observer, standalone, not serving, starting or stopped
    pid: int | None  # the running process, when known
    ours: bool  # running as the process this command started
    zxid: str = ""
    foreign: bool = False  # the client port answers, but for another data directory

    @property
    def running(self) -> bool:
        return self.role != "stopped"

    @property
    def serving(self) -> bool:
        return self.role in SERVING


DIR_OPTION = click.option("--dir", "base", default="./ensemble", show_default=True,
                          type=click.Path(file_okay=False, path_type=Path), help="Where configs, data and state live.")
TIMEOUT_OPTION = click.option("--timeout", default=10.0, show_default=True,
                              help="Seconds to wait after SIGTERM before SIGKILL.")
WAIT_OPTION = click.option("--wait", default=30.0, show_default=True,
                           help="Seconds to wait for the member to serve.")
MEMBER_ARG = click.argument("member", type=int)


def _fail(message: str) -> NoReturn:
    click.echo(f"corral ensemble: {message}", err=True)
    sys.exit(1)


# ---- ports --------------------------------------------------------------------------------------


def _port_conflict(m: Member) -> str | None:
    """A one-line error naming the first of the member's ports another process holds, or None."""
    for what, port in (("client", m["client_port"]), ("secure client", m["secure_client_port"]),
                       ("quorum", m["peer_port"]), ("election", m["election_port"])):
        if port and not port_free(port):
            return (f"cannot start member {m['id']}: its {what} port 127.0.0.1:{port} is in use by another process "
                    f"(free it, or `corral ensemble down` and remove {STATE} to choose new ports)")
    return None


# ---- probing ------------------------------------------------------------------------------------


def _four(port: int, cmd: str, tls: ssl.SSLContext | None = None, timeout: float = 1.0) -> str:
    """The answer to a four-letter word, over TLS with `tls` (as Apache answers them on its secure port);
    "" when nothing answers."""
    chunks: list[bytes] = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls is not None else raw
            s.sendall(cmd.encode())
            while b := s.recv(65536):
                chunks.append(b)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        pass  # the server closed after its answer without a TLS close_notify: the answer is complete
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


def _ids(state: State) -> list[int]:
    return [m["id"] for m in state["members"]]


def _probe_port(m: Member) -> int:
    """Where `status` asks a member: its secure client port in a TLS ensemble, else its client port."""
    return m["secure_client_port"] or m["client_port"]


def _shown_port(m: Member) -> int:
    """The client port `status` shows: the plaintext one, or with --tls-only the secure one."""
    return m["client_port"] or m["secure_client_port"]


def _client_tls(state: State) -> ssl.SSLContext | None:
    """The developer's TLS client context for a TLS ensemble (its CA, its client certificate)."""
    pki = DevPki(Path(state["pki"]))
    if state["tls"] == "off" or pki.missing(_ids(state)):
        return None  # nothing answers the probes: members show as stopped, or starting when ours
    try:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    except (OSError, ssl.SSLError) as e:  # damaged files: say so, and let `down` still stop the members
        click.echo(f"corral ensemble: cannot use the certificates in {pki.directory} to ask the members: {e}",
                   err=True)
        return None
    return ctx


def _field(text: str, prefix: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    return None


def _data_dir(m: Member) -> Path:
    return Path(m["config"]).parent / "data"


def _ours(m: Member) -> bool:
    """Whether the process this command started for `m` is still that process (alive, and its command line
    names the member's config: a PID reused by something else is never taken for the member)."""
    pid = m["pid"]
    if not alive(pid):
        return False
    args = cmdline(pid)
    return args is None or m["config"] in args


def _observe(m: Member, tls: ssl.SSLContext | None) -> View:
    """What `m` is doing now; `tls`: the ensemble's client context (`_client_tls`), None without TLS."""
    ours = _ours(m)
    conf = _four(_probe_port(m), "conf", tls)
    data = _field(conf, "dataDir=")
    mine = data is not None and Path(data) == (_data_dir(m).resolve() / "version-2")
    srvr = _four(_probe_port(m), "srvr", tls) if mine else ""
    zxid = _field(srvr, "Zxid: ") or ""
    if mine:
        role = _field(srvr, "Mode: ") or "not serving"
    elif ours:
        role = "starting"  # alive but not answering yet (or no longer)
    else:
        role = "stopped"
    pid: int | None = None
    if ours:
        pid = m["pid"]
    elif mine:
        pid = read_pid_file(_data_dir(m))
        args = cmdline(pid) if pid is not None and alive(pid) else None
        if args is None or not any("corral" in a for a in args):
            pid = None
    return View(m, role, pid, ours, zxid, foreign=bool(conf) and not mine)


def _print_status(views: list[View]) -> None:
    click.echo(f"{'id':>3} {'role':<12} {'client port':>11} {'pid':>8}  zxid")
    for v in views:
        pid = str(v.pid) if v.pid is not None else ("?" if v.running else "-")
        port = _shown_port(v.member)
        click.echo(f"{v.member['id']:>3} {v.role:<12} {port:>11} {pid:>8}  {v.zxid}")
    for v in views:
        if v.running and not v.ours:
            who = f"pid {v.pid}" if v.pid is not None else "an unknown pid"
            click.echo(f"member {v.member['id']} runs as {who}, started outside `corral ensemble` "
                       "(stop/restart/down leave it alone)")
        if v.foreign:
            click.echo(f"member {v.member['id']}: another server answers on its client port "
                       f"127.0.0.1:{_probe_port(v.member)}")
    serving = sum(v.serving for v in views)
    click.echo(f"serving: {serving} of {len(views)} members")  # not a row: rows alone start with a digit


# ---- state and processes -------------------------------------------------------------------------


def _state_path(base: Path) -> Path:
    return base.resolve() / STATE


def _ports_from_config(config: str, sid: int) -> tuple[int, int]:
    """(quorum port, election port) of member `sid` in its zoo.cfg (state files written before the ports
    were recorded)."""
    try:
        for line in Path(config).read_text().splitlines():
            if line.startswith(f"server.{sid}="):
                _, peer, election = line.split("=", 1)[1].split(";")[0].split(":")[:3]
                return int(peer), int(election)
    except (OSError, ValueError):
        pass
    return 0, 0


_MEMBER_FIELDS = {"id": int, "client_port": int, "observer": bool, "pid": int, "config": str, "log": str}


def _well_formed(raw: object) -> bool:
    """state.json is ours, but a hand edit or a truncated copy must give one clear line, not a traceback."""
    if not isinstance(raw, dict) or not isinstance(raw.get("members"), list):
        return False
    if raw.get("tls", "off") not in TLS_MODES or not isinstance(raw.get("pki", ""), str) or \
            (raw.get("tls", "off") != "off" and not raw.get("pki")):
        return False
    return all(isinstance(m, dict) and all(isinstance(m.get(k), t) for k, t in _MEMBER_FIELDS.items())
               for m in raw["members"])


def _read_state(base: Path) -> State | None:
    try:
        raw = json.loads(_state_path(base).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        _fail(f"cannot read {_state_path(base)}: {e}")
    if not _well_formed(raw):
        _fail(f"cannot read {_state_path(base)}: not an ensemble state file (expected {{\"members\": [...]}} "
              "as `corral ensemble up` writes it)")
    members: list[Member] = raw["members"]
    for m in members:
        if not isinstance(m.setdefault("secure_client_port", 0), int):
            _fail(f"cannot read {_state_path(base)}: member {m['id']}'s secure_client_port is not a number")
        if "peer_port" not in m or "election_port" not in m:
            m["peer_port"], m["election_port"] = _ports_from_config(m["config"], m["id"])
    tick = raw.get("tick_time")
    if tick is None:
        text = Path(members[0]["config"]).read_text() if members and Path(members[0]["config"]).exists() else ""
        tick = int(_field(text, "tickTime=") or 2000)
    observers = raw.get("observers", sum(m["observer"] for m in members))
    return State(voters=raw.get("voters", len(members) - observers), observers=observers, tick_time=tick,
                 tls=raw.get("tls", "off"), pki=raw.get("pki", ""), members=members)


def _load(base: Path) -> State:
    state = _read_state(base)
    if state is None:
        click.echo(f"no ensemble state in {base} (start one with `corral ensemble up 3`)", err=True)
        sys.exit(1)
    return state


def _save(base: Path, state: State) -> None:
    """Write state.json whole (a temp file renamed over it), so that a reader never sees half of it."""
    path = _state_path(base)
    tmp = path.with_name(f"{STATE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def _member(state: State, sid: int, base: Path) -> Member:
    for m in state["members"]:
        if m["id"] == sid:
            return m
    ids = ", ".join(str(m["id"]) for m in state["members"])
    _fail(f"no member {sid} in {base.resolve()} (members: {ids})")


def _tls_lines(state: State, m: Member) -> list[str]:
    """A TLS member's zoo.cfg lines, as Apache 3.8 reads them too: mutual TLS between members (sslQuorum),
    TLS for clients on secureClientPort with client certificates (ssl.clientAuth=need, Apache's default)
    authenticating in the x509 scheme, PEM stores (key and certificate in one file, no password)."""
    if state["tls"] == "off":
        return []
    pki = DevPki(Path(state["pki"]))
    stores = [f"keyStore.location={pki.member(m['id'])}", "keyStore.type=PEM",
              f"trustStore.location={pki.ca}", "trustStore.type=PEM"]
    # secureClientPortAddress: Apache 3.8 binds the secure port to every address without it (it does not
    # take clientPortAddress), and a development ensemble stays on loopback.
    return [f"secureClientPort={m['secure_client_port']}", "secureClientPortAddress=127.0.0.1",
            f"serverCnxnFactory={NETTY}",
            f"authProvider.x509={X509_AUTH}", "ssl.clientAuth=need", *(f"ssl.{s}" for s in stores),
            "sslQuorum=true", *(f"ssl.quorum.{s}" for s in stores)]


def _write_config(state: State, m: Member) -> None:
    d = Path(m["config"]).parent
    (d / "data").mkdir(parents=True, exist_ok=True)
    (d / "data" / "myid").write_text(f"{m['id']}\n")
    # A server line names the plaintext client port only (Apache's syntax has no place for the secure one).
    servers = [f"server.{o['id']}=127.0.0.1:{o['peer_port']}:{o['election_port']}"
               + (":observer" if o["observer"] else "")
               + (f";127.0.0.1:{o['client_port']}" if o["client_port"] else "") for o in state["members"]]
    client = [f"clientPort={m['client_port']}"] if m["client_port"] else []
    Path(m["config"]).write_text("\n".join([
        f"tickTime={state['tick_time']}", "initLimit=10", "syncLimit=5", f"dataDir={d / 'data'}",
        *client, "clientPortAddress=127.0.0.1", "4lw.commands.whitelist=*", *_tls_lines(state, m),
        # Members on one host would all want the AdminServer's port 8080: off, as in corral.testing.
        "admin.enableServer=false", *servers]) + "\n")


def _spawn(state: State, m: Member) -> None:
    _write_config(state, m)
    with open(m["log"], "ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "corral", "server", m["config"]], stdout=logf,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    m["pid"] = proc.pid


def _gone(pid: int) -> bool:
    """Whether `pid` has exited; reaps it when it is our own child (a member started by this invocation)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
    except ChildProcessError:
        pass
    return not alive(pid)


def _terminate(members: list[Member], timeout: float) -> None:
    """SIGTERM every member's process, wait up to `timeout` for all, then SIGKILL the ones still there."""
    for m in members:
        try:
            os.kill(m["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for m in members:
        while not _gone(m["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _gone(m["pid"]):
            try:
                os.kill(m["pid"], signal.SIGKILL)
            except ProcessLookupError:
                continue
            kill_deadline = time.monotonic() + 5  # SIGKILL cannot be ignored; bounded all the same
            while not _gone(m["pid"]) and time.monotonic() < kill_deadline:
                time.sleep(0.05)


def _log_tail(m: Member, lines: int = 5) -> str:
    try:
        return "\n".join(Path(m["log"]).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start_members(base: Path, state: State, members: list[Member]) -> None:
    """Start `members` (not running) on their recorded ports; refuses them all, naming the port, if any
    recorded port is taken."""
    conflicts = [c for m in members if (c := _port_conflict(m)) is not None]
    if conflicts:
        for c in conflicts[:-1]:
            click.echo(f"corral ensemble: {c}", err=True)
        _fail(conflicts[-1])
    _ensure_pki(state)
    for m in members:
        _spawn(state, m)
    _save(base, state)


def _ensure_pki(state: State, restarting: Member | None = None) -> None:
    """A TLS ensemble's certificates: made by the first `up`, and made anew (every member's, since the CA's
    key is not kept) only when some are missing and no member this command started is running (but the
    one `restarting`, which will use the new ones)."""
    if state["tls"] == "off":
        return
    pki = DevPki(Path(state["pki"]))
    missing = pki.missing(_ids(state))
    if not missing:
        return
    if any(_ours(o) for o in state["members"] if o is not restarting):
        _fail(f"{missing[0]} is missing and members are running with the certificates it belonged with: "
              "`corral ensemble down` first, then start again to make new ones for every member")
    if pki.directory.exists():  # not the first start
        click.echo(f"certificates missing in {pki.directory}: making a new CA and certificates for every member",
                   err=True)
    pki.create(_ids(state))


def _refuse_foreign(v: View, action: str) -> None:
    if v.running and not v.ours:
        who = f"pid {v.pid}" if v.pid is not None else "a process"
        kill = f" (e.g. kill {v.pid})" if v.pid is not None else ""
        _fail(f"member {v.member['id']} runs as {who}, which `corral ensemble` did not start: "
              f"not {action} it; stop it where it was started{kill}")


def _wait_serving(m: Member, tls: ssl.SSLContext | None, wait: float) -> View:
    """Wait up to `wait` seconds for the member to serve (or its process to die); its last View."""
    deadline = time.monotonic() + wait
    while True:
        v = _observe(m, tls)
        if v.serving or not v.running or time.monotonic() >= deadline:
            return v
        time.sleep(0.2)


# ---- commands -----------------------------------------------------------------------------------


@click.group("ensemble")
def ensemble_cmd() -> None:
    """Start, show and stop a local ensemble on 127.0.0.1 (development only).

    `up N` creates it (ports are chosen once and kept in --dir/state.json) or starts the members that
    are not running; `start`, `stop` and `restart` act on one member; `status` exits 1 unless every
    member serves; `down` stops them all. Only processes these commands started are ever signalled.
    """


@ensemble_cmd.command("up", short_help="Start the ensemble, or its members that are not running.")
@click.argument("count", type=click.IntRange(1, 9))
@DIR_OPTION
@click.option("--observers", default=0, show_default=True, type=click.IntRange(0, 8), help="Members that only follow.")
@click.option("--tick-time", type=click.IntRange(1), help="tickTime in ms [default: 2000, or as recorded].")
@click.option("--wait", default=30.0, show_default=True,
              help="Seconds to wait for a leader and for the members started to serve.")
@click.option("--tls", "tls_flag", is_flag=True,
              help="TLS between members and on a secureClientPort (beside clientPort), with a throwaway CA "
                   "in --dir/pki [default: as recorded].")
@click.option("--tls-only", is_flag=True, help="As --tls, without the plaintext clientPort.")
def up(count: int, base: Path, observers: int, tick_time: int | None, wait: float, tls_flag: bool,
       tls_only: bool) -> None:
    """Start COUNT members (+ observers): all of them the first time, else those not running.

    The first `up` in --dir writes each member's config with free ports and records them; later `up`s
    reuse them (a recorded port held by another process is an error naming it). A running member,
    including one restarted by hand, is left as it is.

    With --tls the first `up` also makes a CA, a certificate for every member and one for you
    (--dir/pki/client.*), and prints how to connect over TLS with the corral shell, kazoo and zkCli.
    """
    base = base.resolve()
    asked = "only" if tls_only else "on" if tls_flag else None
    state = _read_state(base)
    if state is None:
        state = _new_state(base, count, observers, tick_time or 2000, asked or "off")
    elif asked is not None and asked != state["tls"]:
        was = {"off": "without TLS", "on": "with --tls", "only": "with --tls-only"}[state["tls"]]
        _fail(f"{base} holds an ensemble made {was}; use another --dir for a different TLS setting")
    tls = _client_tls(state)
    views = [_observe(m, tls) for m in state["members"]]
    running = [v for v in views if v.running]
    if (state["voters"], state["observers"]) != (count, observers):
        have = f"{state['voters']} members" + (f" + {state['observers']} observers" if state["observers"] else "")
        again = f"corral ensemble up {state['voters']}" + (f" --observers {state['observers']}"
                                                           if state["observers"] else "")
        if running:
            _fail(f"an ensemble of {have} from {base} is still running: `corral ensemble down --dir {base}` first")
        _fail(f"{base} holds an ensemble of {have}: `{again} --dir {base}` starts it again; "
              "use another --dir for a different size")
    if tick_time is not None and tick_time != state["tick_time"]:
        if running:
            _fail(f"the ensemble in {base} runs with tickTime={state['tick_time']}: stop it "
                  f"(`corral ensemble down --dir {base}`) to change it")
        state["tick_time"] = tick_time
    missing = [v.member for v in views if not v.running]
    if not missing:
        click.echo(f"all {len(views)} members of the ensemble in {base} are already running", err=True)
    else:
        _start_members(base, state, missing)
        tls = _client_tls(state)  # the certificates may be new
        # Until there is a leader (a lone member: standalone) and every member just started serves (or has
        # died), bounded by --wait.
        started = {m["id"] for m in missing}
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            now = [_observe(m, tls) for m in state["members"]]
            if any(v.role in ("leader", "standalone") for v in now) and \
                    all(v.serving or not v.running for v in now if v.member["id"] in started):
                break
            time.sleep(0.2)
    _print_status([_observe(m, tls) for m in state["members"]])
    click.echo("")
    for line in _connect_hints(state):
        click.echo(line)


def _new_state(base: Path, count: int, observers: int, tick_time: int, tls: str) -> State:
    """The layout of a new ensemble: free ports for every member, its directories (and --dir/pki, 0700,
    for a TLS ensemble: made by the first start)."""
    total = count + observers
    per = 4 if tls == "on" else 3
    ports = iter(pick_free_ports(per * total))
    members = []
    for i in range(1, total + 1):
        client = next(ports) if tls != "only" else 0
        secure = next(ports) if tls != "off" else 0
        members.append(Member(id=i, client_port=client, secure_client_port=secure, peer_port=next(ports),
                              election_port=next(ports), observer=i > count, pid=0,
                              config=str(base / f"s{i}" / "zoo.cfg"), log=str(base / f"s{i}" / "server.log")))
    base.mkdir(parents=True, exist_ok=True)
    for m in members:
        Path(m["config"]).parent.mkdir(parents=True, exist_ok=True)
    return State(voters=count, observers=observers, tick_time=tick_time, tls=tls,
                 pki=str(base / "pki") if tls != "off" else "", members=members)


def _connect_hints(state: State) -> list[str]:
    """How to connect: the plaintext connect string, and for a TLS ensemble the corral shell's flags,
    kazoo's arguments and zkCli's JVM flags with the developer's certificate."""
    lines = []
    if state["tls"] != "only":
        hosts = ",".join(f"127.0.0.1:{m['client_port']}" for m in state["members"])
        lines.append(f"connect with: corral shell -server {hosts}")
    if state["tls"] == "off":
        return lines
    pki = DevPki(Path(state["pki"]))
    secure = ",".join(f"127.0.0.1:{m['secure_client_port']}" for m in state["members"])
    q = shlex.quote
    java = " ".join([
        "-Dzookeeper.client.secure=true", "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        f"-Dzookeeper.ssl.keyStore.location={pki.client_pem}", "-Dzookeeper.ssl.keyStore.type=PEM",
        f"-Dzookeeper.ssl.trustStore.location={pki.ca}", "-Dzookeeper.ssl.trustStore.type=PEM"])
    return [*lines,
            f"over TLS (secure client ports; your certificate is {pki.client_cert}, x509 id {DEV_CLIENT_DN}):",
            f"  corral shell -server {secure} --tls-ca {q(str(pki.ca))} --tls-cert {q(str(pki.client_cert))} "
            f"--tls-key {q(str(pki.client_key))}",
            f"  kazoo: KazooClient(hosts={secure!r}, use_ssl=True, ca={str(pki.ca)!r}, "
            f"certfile={str(pki.client_cert)!r}, keyfile={str(pki.client_key)!r})",
            f"  zkCli: CLIENT_JVMFLAGS={q(java)} zkCli.sh -server {secure}"]


@ensemble_cmd.command("status", short_help="Show every member; exit status 1 unless all serve.")
@DIR_OPTION
def status(base: Path) -> None:
    """Role, client port, PID and last zxid of every member.

    Exit status 0 when every member serves, 1 when any is stopped or not serving (or no ensemble is
    recorded in --dir). A member restarted by hand on its config is shown running.
    """
    state = _load(base)
    tls = _client_tls(state)
    views = [_observe(m, tls) for m in state["members"]]
    _print_status(views)
    sys.exit(0 if all(v.serving for v in views) else 1)


@ensemble_cmd.command("start", short_help="Start one member on its recorded ports and data.")
@MEMBER_ARG
@DIR_OPTION
@WAIT_OPTION
def start(member: int, base: Path, wait: float) -> None:
    """Start MEMBER (its id, as `status` lists it) on its recorded ports and data."""
    state = _load(base)
    m = _member(state, member, base)
    v = _observe(m, _client_tls(state))
    if v.running:
        click.echo(f"member {member} is already running" + (f" (pid {v.pid})" if v.pid is not None else ""))
        return
    _start_members(base, state, [m])
    _report_started(state, m, wait)


def _report_started(state: State, m: Member, wait: float) -> None:
    """Wait for the member just started to serve, and say how it went (exit 1 if its process died).

    Without a quorum of voters running it cannot serve, so there is nothing to wait for: `start 1; start 2`
    on a stopped ensemble must not sit out --wait at the first command."""
    voters = [o for o in state["members"] if not o["observer"]]
    tls = _client_tls(state)
    up = sum(1 for o in voters if o is m or _observe(o, tls).running)
    quorum = len(voters) // 2 + 1
    v = _wait_serving(m, tls, wait if up >= quorum else 1.0)
    if not v.running:
        tail = _log_tail(m)
        _fail(f"member {m['id']} (pid {m['pid']}) exited; the end of {m['log']}:\n{tail}")
    note = f" (waits for a quorum: {up} of {len(voters)} voters running)" if up < quorum and not v.serving else ""
    click.echo(f"started member {m['id']} (pid {m['pid']}): {v.role} on 127.0.0.1:{_shown_port(m)}{note}")


@ensemble_cmd.command("stop", short_help="Stop one member (one these commands started).")
@MEMBER_ARG
@DIR_OPTION
@TIMEOUT_OPTION
def stop(member: int, base: Path, timeout: float) -> None:
    """Stop MEMBER (SIGTERM, then SIGKILL after --timeout). Its data stays in --dir."""
    state = _load(base)
    m = _member(state, member, base)
    v = _observe(m, _client_tls(state))
    if not v.running:
        click.echo(f"member {member} is not running")
        return
    _refuse_foreign(v, "stopping")
    _terminate([m], timeout)
    click.echo(f"stopped member {member} (pid {m['pid']})")


@ensemble_cmd.command("restart", short_help="Restart one member on the same ports and data.")
@MEMBER_ARG
@DIR_OPTION
@TIMEOUT_OPTION
@WAIT_OPTION
def restart(member: int, base: Path, timeout: float, wait: float) -> None:
    """Stop MEMBER (if running) and start it again on the same ports and data."""
    state = _load(base)
    m = _member(state, member, base)
    v = _observe(m, _client_tls(state))
    _refuse_foreign(v, "restarting")
    _ensure_pki(state, m)  # before stopping it: missing certificates may forbid its start
    if v.running:
        _terminate([m], timeout)
        click.echo(f"stopped member {member} (pid {m['pid']})")
    deadline = time.monotonic() + 5  # the old process's sockets close with it; allow the kernel a moment
    while _port_conflict(m) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    _start_members(base, state, [m])
    _report_started(state, m, wait)


@ensemble_cmd.command("down", short_help="Stop every member these commands started.")
@DIR_OPTION
@TIMEOUT_OPTION
def down(base: Path, timeout: float) -> None:
    """Stop every member these commands started (SIGTERM, then SIGKILL after --timeout). Data, configs
    and ports stay in --dir for the next `up`."""
    state = _load(base)
    tls = _client_tls(state)
    views = [_observe(m, tls) for m in state["members"]]
    ours = [v.member for v in views if v.ours]
    _terminate(ours, timeout)
    for v in views:
        m = v.member
        if v.ours:
            click.echo(f"stopped member {m['id']} (pid {m['pid']})")
        elif v.running:
            who = f"pid {v.pid}" if v.pid is not None else "a process"
            click.echo(f"left member {m['id']} running ({who}, not started by `corral ensemble`)")
        else:
            click.echo(f"member {m['id']} was not running")
