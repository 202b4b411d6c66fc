"""`ZkShell`: the commands of ZooKeeper's Java shell (zkCli.sh 3.8) over corral's client.

Why a faithful copy rather than a nicer shell: people paste zkCli commands from runbooks and scripts
parse zkCli's output, so every command, option, message, stream (stdout vs stderr) and exit code is
the one zkCli 3.8 has (checked against the real zkCli in tests/shell). The dispatch follows
`ZooKeeperMain.processZKCmd`: `quit`, `redo`, `history`, `printwatches` and `connect` are handled
first, then every command needs a live session ("Not connected" otherwise — zkCli prints it even
after `history`), then the `CliCommand`s run.

Deliberate differences, each because zkCli's behaviour there is a bug:

* a line of blanks is ignored (zkCli re-runs the previous command);
* `-v`/`redo` values that are not numbers give an error message (zkCli dies with a Java stack trace);
* `help` prints the command list on stdout with exit status 0 (zkCli 3.8 treats it as unknown);
* `reconfig -file` reports a hierarchical (group/weight) membership file as unsupported, where zkCli
  would send it;
* `addWatch bad` (a relative path) is a path error, where zkCli 3.8 dies with an uncaught exception.

And two because they are Java's, not the shell's: option errors read `Unrecognized option: -x` without
the `org.apache.commons.cli.UnrecognizedOptionException: ` prefix (likewise for the other commons-cli
errors), and there is no `JLine support is enabled/disabled` banner (see shell.py). A command issued
while no server answers fails with ConnectionLoss as soon as every server has refused once, as zkCli's
does, rather than after the session timeout.

Watch events print as zkCli prints them (`WATCHER::` then `WatchedEvent state:... type:... path:...`);
every watch uses one watcher, so an event for a path prints once, as with zkCli's default watcher.
Output is written and flushed line by line under a lock, because events arrive on the client's
thread while the main thread prints command output.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

from .. import FULL_VERSION
from ..client import (
    CONFIG_NODE,
    OPEN_ACL_UNSAFE,
    AuthFailedError,
    Client,
    CreateMode,
    EventType,
    KeeperError,
    KeeperState,
    NodeExistsError,
    NoNodeError,
    SaslCredentials,
    SessionState,
    Stat,
    SyncClient,
    WatchedEvent,
    Watcher,
    parse_membership,
)
from ..protocol import Err, WatcherType
from ..tree.datatree import LIMIT_NODE, QUOTA_ROOT, STATS_NODE, format_stats, parse_stats
from .shell_format import (
    CliError,
    OptionSpec,
    ParsedArgs,
    acl_line,
    error_text,
    keeper_message,
    options_help,
    parse_acl,
    parse_options,
    split_command,
    stat_lines,
    validate_path,
)
from .shell_reconfig import RECONFIG_USAGE, parse_reconfig

__all__ = ["COMMANDS", "ZkShell"]

T = TypeVar("T")

# Command → option string, as `zkCli help` lists them (plus corral's `help`).
COMMANDS: dict[str, str] = {
    "addWatch": "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is "
                "PERSISTENT_RECURSIVE",
    "addauth": "scheme auth",
    "close": "",
    "config": "[-c] [-w] [-s]",
    "connect": "host:port",
    "create": "[-s] [-e] [-c] [-t ttl] path [data] [acl]",
    "delete": "[-v version] path",
    "delquota": "[-n|-b|-N|-B] path",
    "deleteall": "path [-b batch size]",
    "get": "[-s] [-w] path",
    "getAcl": "[-s] path",
    "getAllChildrenNumber": "path",
    "getEphemerals": "path",
    "help": "",
    "history": "",
    "listquota": "path",
    "ls": "[-s] [-w] [-R] path",
    "printwatches": "on|off",
    "quit": "",
    "reconfig": RECONFIG_USAGE,
    "redo": "cmdno",
    "removewatches": "path [-c|-d|-a] [-l]",
    "set": "[-s] [-v version] path data",
    "setAcl": "[-s] [-v version] [-R] path acl",
    "setquota": "-n|-b|-N|-B val path",
    "stat": "[-w] path",
    "sync": "path",
    "version": "",
    "whoami": "",
}

_LS_OPTS = [OptionSpec("?", False, "help"), OptionSpec("s", False, "stat"), OptionSpec("w", False, "watch"),
            OptionSpec("R", False, "recurse")]
_GET_OPTS = [OptionSpec("s", False, "stats"), OptionSpec("w", False, "watch")]
_SET_OPTS = [OptionSpec("s", False, "stats"), OptionSpec("v", True, "version")]
_STAT_OPTS = [OptionSpec("w", False, "watch")]
_CREATE_OPTS = [OptionSpec("e", False, "ephemeral"), OptionSpec("s", False, "sequential"),
                OptionSpec("c", False, "container"), OptionSpec("t", True, "ttl")]
_DELETE_OPTS = [OptionSpec("v", True, "version")]
_DELETEALL_OPTS = [OptionSpec("b", True, "batch size")]
_GETACL_OPTS = [OptionSpec("s", False, "stats")]
_SETACL_OPTS = [OptionSpec("s", False, "stats"), OptionSpec("v", True, "version"),
                OptionSpec("R", False, "recursive")]
_ADDWATCH_OPTS = [OptionSpec("m", True, "")]
_REMOVEWATCHES_OPTS = [OptionSpec("c", False, "child watcher type"), OptionSpec("d", False, "data watcher type"),
                       OptionSpec("p", False, "persistent watcher type"),
                       OptionSpec("r", False, "persistent recursive watcher type"),
                       OptionSpec("a", False, "any watcher type"),
                       OptionSpec("l", False, "remove locally when there is no server connection")]
_QUOTA_LETTERS = (("n", "num soft quota"), ("b", "bytes soft quota"), ("N", "num hard quota"),
                  ("B", "bytes hard quota"))
_SETQUOTA_OPTS = [OptionSpec(k, True, d) for k, d in _QUOTA_LETTERS]
_DELQUOTA_OPTS = [OptionSpec(k, False, d) for k, d in _QUOTA_LETTERS]
# StatsTrack keys of each quota option (soft count/bytes, hard count/bytes).
_QUOTA_KEYS = {"n": "count", "b": "bytes", "N": "countHardLimit", "B": "byteHardLimit"}
_CONFIG_OPTS = [OptionSpec("c", False, "client connection string"), OptionSpec("w", False, "watch"),
                OptionSpec("s", False, "stats")]
_NO_OPTS: list[OptionSpec] = []

_MAX_TTL = 0xFF_FFFF_FFFF
_INT = re.compile(r"^[+-]?\d+$")
_FOREVER = 10 * 365 * 86400.0  # a shell keeps trying to reach its server until it is told otherwise
_DELETEALL_BATCH = 1000

# zkCli shows ZooKeeper.States names in its prompt.
_PROMPT_STATE = {
    SessionState.CONNECTING: "CONNECTING",
    SessionState.CONNECTED: "CONNECTED",
    SessionState.CONNECTED_READ_ONLY: "CONNECTEDREADONLY",
    SessionState.DISCONNECTED: "CONNECTING",
    SessionState.EXPIRED: "CLOSED",
    SessionState.AUTH_FAILED: "AUTH_FAILED",
    SessionState.CLOSED: "CLOSED",
}


class _Quit(Exception):
    """`quit`: leave with the exit status of the command before it (zkCli's behaviour)."""


def _java_int(text: str | None, what: str, bits: int = 32) -> int:
    """Integer.parseInt / Long.parseLong; an error message instead of zkCli's uncaught exception."""
    kind = "an int" if bits == 32 else "a long"
    if text is None or not _INT.match(text) or not -(1 << (bits - 1)) <= int(text) < (1 << (bits - 1)):
        raise CliError(f"{what} argument must be {kind} value")
    return int(text)


def _java_decode(text: str) -> int:
    """Integer.decode: decimal, 0x/0X/# hex, leading-0 octal, optional sign."""
    m = re.match(r"^([+-]?)(0[xX]|#|0(?=\d))?([0-9a-fA-F]+)$", text)
    if not m:
        raise CliError("Command index out of range")
    base = {"0x": 16, "0X": 16, "#": 16, "0": 8}.get(m.group(2) or "", 10)
    try:
        v = int(m.group(3), base)
    except ValueError:
        raise CliError("Command index out of range")
    return -v if m.group(1) == "-" else v


def _client_config(text: str) -> str:
    """ConfigUtils.getClientConfigStr: `<version> <host:clientPort>,...` from the dynamic config text."""
    try:
        return parse_membership(text).client_config_string()
    except ValueError:
        return " "  # zkCli skips what it cannot parse; nothing parsable leaves the empty version and list


def event_text(event: WatchedEvent) -> str:
    """Java's WatchedEvent.toString(): `WatchedEvent state:SyncConnected type:NodeCreated path:/x`."""
    return str(event)


class ZkShell:
    """One shell: a session, zkCli's command history and counters, and its output streams.

    Args:
        host: connect string (`host:port[,host:port...][/chroot]`).
        timeout_ms: requested session timeout; also how long a command waits for a connection.
        wait_for_connection: zkCli's `-waitforconnection`: a failed (re)connect is an error.
        read_only: zkCli's `-r`: the session may be held by a read-only server (canBeReadOnly).
        stdout / stderr: called for the stream at each write, so that prompt-toolkit's
            `patch_stdout` (which swaps sys.stdout) is honoured.
    """

    def __init__(self, host: str, timeout_ms: int = 30000, *, wait_for_connection: bool = False,
                 read_only: bool = False, stdout: Callable[[], TextIO] = lambda: sys.stdout,
                 stderr: Callable[[], TextIO] = lambda: sys.stderr,
                 tls: ssl.SSLContext | None = None, sasl: SaslCredentials | None = None) -> None:
        self.host = host
        self.tls = tls
        self.sasl = sasl
        self.timeout_ms = timeout_ms
        self.wait_for_connection = wait_for_connection
        self.read_only = read_only
        self.history: dict[int, str] = {}
        self.command_count = 0
        self.print_watches = True
        self.exit_code = 0
        self.quit_requested = False
        self._stdout = stdout
        self._stderr = stderr
        self._lock = threading.RLock()
        self._zk: SyncClient | None = None
        self._ever_connected = False
        self._announce_close = True
        self._dispatch: dict[str, Callable[[list[str]], None]] = {
            "addWatch": self._add_watch, "addauth": self._addauth, "config": self._config,
            "removewatches": self._remove_watches,
            "close": self._close, "create": self._create, "delete": self._delete,
            "deleteall": self._deleteall, "delquota": self._delquota, "listquota": self._listquota,
            "setquota": self._setquota, "get": self._get, "getAcl": self._get_acl,
            "getAllChildrenNumber": self._get_all_children_number, "getEphemerals": self._get_ephemerals,
            "ls": self._ls, "reconfig": self._reconfig,
            "set": self._set, "setAcl": self._set_acl, "stat": self._stat, "sync": self._sync,
            "version": self._version, "whoami": self._whoami,
        }

    # ---- output -------------------------------------------------------------------------------

    def out(self, text: str) -> None:
        with self._lock:
            s = self._stdout()
            s.write(text)
            s.flush()

    def err(self, text: str) -> None:
        with self._lock:
            self._stdout().flush()
            s = self._stderr()
            s.write(text)
            s.flush()

    def _print_message(self, msg: str) -> None:
        # ZooKeeperMain.printMessage: println("\n" + msg)
        self.out(f"\n{msg}\n")

    def usage(self, stream: Callable[[str], None] | None = None) -> None:
        write = stream or self.err
        lines = ["ZooKeeper -server host:port -client-configuration properties-file cmd args"]
        lines += [f"\t{cmd} {COMMANDS[cmd]}" for cmd in sorted(COMMANDS)]
        write("\n".join(lines) + "\n")

    # ---- session ------------------------------------------------------------------------------

    @property
    def client(self) -> SyncClient | None:
        return self._zk

    @property
    def alive(self) -> bool:
        """zkCli's `zk.getState().isAlive()`: connected or still trying (not closed, expired or auth-failed)."""
        return self._zk is not None and not self._zk.state.is_terminal

    @property
    def state_name(self) -> str:
        return "CLOSED" if self._zk is None else _PROMPT_STATE[self._zk.state]

    def prompt(self) -> str:
        return f"[zk: {self.host}({self.state_name}) {self.command_count}] "

    def _on_state(self, state: SessionState) -> None:
        if state.is_connected:
            self._ever_connected = True
        elif state is SessionState.CONNECTING:
            return
        elif state in (SessionState.CLOSED, SessionState.DISCONNECTED) and not self._ever_connected:
            return  # never connected: zkCli has nothing to report either
        if state is SessionState.CLOSED and not self._announce_close:
            return
        if self.print_watches:
            ev = WatchedEvent(EventType.None_, state.keeper_state, None)
            self._print_message("WATCHER::")
            self._print_message(event_text(ev))
            if state is SessionState.CONNECTED and self.sasl is not None:
                # The client authenticates before it reports CONNECTED; zkCli's watcher gets
                # SaslAuthenticated right after SyncConnected, on every (re)connection.
                self._print_message("WATCHER::")
                self._print_message(event_text(WatchedEvent(EventType.None_, KeeperState.SaslAuthenticated, None)))

    def _on_watch(self, event: WatchedEvent) -> None:
        if event.type == EventType.None_:
            return  # the end of the session: reported once by _on_state
        if self.print_watches:
            self._print_message("WATCHER::")
            self._print_message(event_text(event))

    def connect(self, host: str, wait: float | None = None) -> bool:
        """Start a new session to `host` (closing a live one first, as zkCli does).

        The client keeps trying the servers in the background; this waits up to `wait` seconds for
        the session and returns whether it is connected. Unless `-waitforconnection` was given (which
        asks for the whole wait, as zkCli's does), the wait ends as soon as every server has refused
        once, and so does a command's wait for a connection: like zkCli, a dead address is reported
        as ConnectionLoss at once instead of after the session timeout.
        """
        if self._zk is not None:
            self.close_session(announce=self.alive)
        self.host = host
        self._ever_connected = False
        self._announce_close = True
        try:
            zk = SyncClient(host, timeout=self.timeout_ms / 1000, fail_fast=True, tls=self.tls, sasl=self.sasl,
                            can_be_read_only=self.read_only)
        except KeeperError as e:
            raise CliError(str(e))
        zk.add_listener(self._on_state)
        self._zk = zk
        # Begin connecting in the background and return once the client says CONNECTING, so that a
        # command issued right away waits for the session instead of finding the client closed.
        asyncio.run_coroutine_threadsafe(_begin(zk.client), zk.loop).result()
        if wait:
            try:
                zk.wait_connected(wait, fail_fast=not self.wait_for_connection)
            except KeeperError:
                pass
        return zk.connected

    def close_session(self, announce: bool = True) -> None:
        """Close the session (ephemeral nodes go at once); `announce` prints zkCli's Closed event."""
        zk = self._zk
        if zk is None:
            return
        self._announce_close = announce
        try:
            zk.close()
        except (KeeperError, RuntimeError):
            pass

    def _await(self, aw: Awaitable[T]) -> T:
        assert self._zk is not None
        fut = asyncio.run_coroutine_threadsafe(_as_coro(aw), self._zk.loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    def _call(self, aw: Awaitable[T], path: str | None) -> T:
        """Run one client call; a ZooKeeper error becomes zkCli's message for it."""
        try:
            return self._await(aw)
        except KeeperError as e:
            raise CliError(error_text(e.code, e.path if e.path is not None else path))

    @property
    def _client(self) -> Client:
        assert self._zk is not None
        return self._zk.client

    # ---- the read-eval loop -------------------------------------------------------------------

    def execute_line(self, line: str) -> None:
        """ZooKeeperMain.executeLine: remember the line, run it, count it."""
        words = split_command(line)
        if not words:
            return
        self.history[self.command_count] = line
        self.process_cmd(words)
        self.command_count += 1

    def process_cmd(self, words: list[str]) -> None:
        """Run one command; its status becomes the shell's exit status (zkCli's processCmd)."""
        try:
            self._process(words)
            self.exit_code = 0
        except _Quit:
            self.quit_requested = True
        except CliError as e:
            self.exit_code = e.exit_code
            self.err(f"{e}\n")

    def _process(self, words: list[str]) -> None:
        cmd = words[0]
        if cmd not in COMMANDS:
            self.usage()
            raise CliError(f"Command not found: Command not found {cmd}", 127)
        if cmd == "help":
            self.usage(self.out)
            return
        if cmd == "quit":
            self.close_session(announce=True)
            raise _Quit()
        if cmd == "redo" and len(words) >= 2:
            i = _java_decode(words[1])
            if self.command_count <= i or i < 0:
                raise CliError("Command index out of range")
            line = self.history.get(i, "")
            redo_words = split_command(line)
            if not redo_words or redo_words[0] == "redo":
                raise CliError("No redoing redos")
            self.history[self.command_count] = line
            self.process_cmd(redo_words)
        elif cmd == "history":
            for i in range(self.command_count - 10, self.command_count + 1):
                if i >= 0:
                    self.out(f"{i} - {self.history.get(i, 'null')}\n")
        elif cmd == "printwatches":
            if len(words) == 1:
                self.out(f"printwatches is {'on' if self.print_watches else 'off'}\n")
            else:
                self.print_watches = words[1] == "on"
        elif cmd == "connect":
            host = words[1] if len(words) >= 2 else self.host
            wait = self.timeout_ms / 1000
            if not self.connect(host, wait) and self.wait_for_connection:
                self.close_session(announce=False)
                raise CliError(f"Unable to connect to {host}: {keeper_message(Err.CONNECTIONLOSS, None)}")

        # Everything below needs a session (zkCli checks this even after the local commands above).
        if not self.alive:
            self.out("Not connected\n")
            return
        handler = self._dispatch.get(cmd)
        if handler is not None:
            handler(words)

    def usage_error(self, cmd: str) -> CliError:
        return CliError(f"{cmd} {COMMANDS[cmd]}")

    def _compat_watch(self, words: list[str], parsed: ParsedArgs, specs: list[OptionSpec], cmd: str,
                      usage: str) -> ParsedArgs:
        """`get path watch` (3.4 syntax): zkCli rewrites the third word into `-w` and warns."""
        if len(parsed.args) <= 2:
            return parsed
        words = list(words)
        words[2] = "-w"
        self.err(f"'{cmd} path [watch]' has been deprecated. Please use '{usage}' instead.\n")
        return parse_options(words, specs)

    # ---- commands -----------------------------------------------------------------------------

    def _ls(self, words: list[str]) -> None:
        p = parse_options(words, _LS_OPTS)
        if p.has("?"):
            self.out(options_help("ls [options] path", _LS_OPTS))
        p = self._compat_watch(words, p, _LS_OPTS, "ls", "ls [-w] path")
        if len(p.args) < 2:
            raise self.usage_error("ls")
        path = p.args[1]
        watch = self._on_watch if p.has("w") else None
        validate_path(path)
        if p.has("R"):
            self._call(self._client.get_data(path, watch, keep_null=True), path)
            self.out(f"{path}\n")
            self._visit(path, watch, lambda child: self.out(f"{child}\n"))
            return
        if p.has("s"):
            children, stat = self._call(self._client.get_children(path, watch, include_stat=True), path)
        else:
            children, stat = self._call(self._client.get_children(path, watch), path), None
        self.out("[" + ", ".join(sorted(children)) + "]\n")
        if stat is not None:
            self.out(stat_lines(stat))

    def _visit(self, path: str, watch: Watcher | None, cb: Callable[[str], None]) -> None:
        """ZKUtil.visitSubTreeDFS below `path`: each node's children (sorted) first, then each subtree.

        Depth-first with an explicit stack (bounded by the tree's size); a node that vanishes while
        being visited is skipped, as ZooKeeper does.
        """
        stack = [path]
        while stack:
            node = stack.pop()
            try:
                children = sorted(self._await(self._client.get_children(node, watch)))
            except KeeperError as e:
                if e.code == Err.NONODE:
                    continue
                raise CliError(error_text(e.code, e.path if e.path is not None else node))
            paths = [(node if node == "/" else node + "/") + c for c in children]
            for child in paths:
                cb(child)
            stack.extend(reversed(paths))

    def _add_watch(self, words: list[str]) -> None:
        """AddWatchCommand: a persistent (recursive by default) watch printing through the shell's watcher."""
        p = parse_options(words, _ADDWATCH_OPTS)
        if len(p.args) != 2:
            raise self.usage_error("addWatch")
        recursive = True
        if p.has("m"):
            mode = (p.value("m") or "").upper()
            if mode not in ("PERSISTENT", "PERSISTENT_RECURSIVE"):
                raise self.usage_error("addWatch")
            recursive = mode == "PERSISTENT_RECURSIVE"
        path = p.args[1]
        validate_path(path)
        self._call(self._client.add_watch(path, self._on_watch, recursive), path)

    def _remove_watches(self, words: list[str]) -> None:
        """RemoveWatchesCommand: removeAllWatches of one type (-c/-d/-p/-r/-a, default any), `-l` locally."""
        p = parse_options(words, _REMOVEWATCHES_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("removewatches")
        wtype = WatcherType.Any
        for flag, t in (("c", WatcherType.Children), ("d", WatcherType.Data), ("p", WatcherType.Persistent),
                        ("r", WatcherType.PersistentRecursive)):
            if p.has(flag):
                wtype = t
                break
        path = p.args[1]
        validate_path(path)
        self._call(self._client.remove_watches(path, wtype, local=p.has("l")), path)

    def _config(self, words: list[str]) -> None:
        """GetConfigCommand: the data of /zookeeper/config (the ensemble's dynamic configuration)."""
        p = parse_options(words, _CONFIG_OPTS)
        watch = self._on_watch if p.has("w") else None
        data, stat = self._call(self._client.get_config(watch), CONFIG_NODE)
        text = data.decode("utf-8", "replace")
        self.out((_client_config(text) if p.has("c") else text) + "\n")
        if p.has("s"):
            self.out(stat_lines(stat))

    def _reconfig(self, words: list[str]) -> None:
        """ReconfigCommand: change the membership; prints the committed configuration (and `-s` its Stat)."""
        args = parse_reconfig(words, f"reconfig {COMMANDS['reconfig']}")
        # ZooKeeperAdmin.reconfigure raises its errors with the path "" (so zkCli prints e.g.
        # "version No is not valid : " with nothing after it).
        data, stat = self._call(self._client.reconfig(args.joining, args.leaving, args.members, args.version), "")
        self.out("Committed new configuration:\n" + data.decode("utf-8", "replace") + "\n")
        if args.stats:
            self.out(stat_lines(stat))

    # ---- quotas (SetQuotaCommand, ListQuotaCommand, DelQuotaCommand of zkCli 3.7+) ------------------

    def _quota_group(self, p: ParsedArgs, specs: list[OptionSpec], required: bool) -> str | None:
        """commons-cli's OptionGroup: at most one of -n -b -N -B (and, for setquota, exactly one)."""
        given = [k for k in p.options if k in _QUOTA_KEYS]
        if len(given) > 1:
            raise CliError(f"The option '{given[1]}' was specified but an option from this group has already been "
                           f"selected: '{given[0]}'")
        if required and not given:
            group = ", ".join(f"-{o.name} {o.description}" for o in specs)
            raise CliError(f"Missing required option: [{group}]")
        return given[0] if given else None

    def _setquota(self, words: list[str]) -> None:
        p = parse_options(words, _SETQUOTA_OPTS)
        flag = self._quota_group(p, _SETQUOTA_OPTS, required=True)
        if len(p.args) < 2:
            raise self.usage_error("setquota")
        path = p.args[1]
        if path.startswith(QUOTA_ROOT):
            self.err(f"cannot set a quota under the path: {QUOTA_ROOT}\n")
            return
        assert flag is not None
        try:
            value = _java_int(p.value(flag), "-" + flag, bits=32 if flag in "nN" else 64)
        except CliError:
            self.err("NumberFormatException happens when parsing the option value\n")
            return
        if flag in "nN" and value <= 0:
            self.err("the num quota must be greater than zero\n")
            return
        if flag in "bB" and value < 0:
            self.err("the bytes quota must be greater than or equal to zero\n")
            return
        validate_path(path)
        if self._call(self._client.exists(path), path) is None:
            raise CliError(f"{path} does not exist.")
        self._check_no_nested_quota(path)
        # The quota directory /zookeeper/quota<path>, one level at a time, then its two nodes.
        qpath = QUOTA_ROOT
        for part in path.split("/")[1:]:
            qpath += "/" + part
            if self._call(self._client.exists(qpath), qpath) is None:
                try:
                    self._await(self._client.create(qpath, None))
                except NodeExistsError:
                    pass
        limit_path, stat_path = f"{qpath}/{LIMIT_NODE}", f"{qpath}/{STATS_NODE}"
        if self._call(self._client.exists(limit_path), limit_path) is None:
            limits = {"count": -1, "bytes": -1, "countHardLimit": -1, "byteHardLimit": -1}
            limits[_QUOTA_KEYS[flag]] = value
            self._call(self._client.create(limit_path, format_stats(limits)), limit_path)
            self._call(self._client.create(stat_path, format_stats({"count": 0, "bytes": 0})), stat_path)
            # the server filled the new stats node with the subtree's usage: warn against that
            usage = parse_stats(self._call(self._client.get_data(stat_path), stat_path)[0])
            self._warn_below_usage(limits, usage)
            return
        limits = parse_stats(self._call(self._client.get_data(limit_path), limit_path)[0])
        limits[_QUOTA_KEYS[flag]] = value
        usage = parse_stats(self._call(self._client.get_data(stat_path), stat_path)[0])
        self._warn_below_usage(limits, usage)
        self._call(self._client.set_data(limit_path, format_stats(limits)), limit_path)

    def _warn_below_usage(self, limits: dict[str, int], usage: dict[str, int]) -> None:
        def below(soft: str, hard: str, used: str) -> bool:
            return any(-1 < limits.get(k, -1) < usage.get(used, 0) for k in (soft, hard))

        if below("count", "countHardLimit", "count"):
            self.out(f"[Warning]: the count quota you create is less than the existing count:{usage.get('count', 0)}\n")
        if below("bytes", "byteHardLimit", "bytes"):
            self.out(f"[Warning]: the bytes quota you create is less than the existing bytes:{usage.get('bytes', 0)}\n")

    def _check_no_nested_quota(self, path: str) -> None:
        """Only one quota per root-to-leaf path: none below `path`, none above it."""
        own = QUOTA_ROOT + path
        stack = [own]
        while stack:  # the quota directories below this path's own (bounded by the quota subtree)
            node = stack.pop()
            try:
                children = self._await(self._client.get_children(node))
            except NoNodeError:
                continue
            if node != own and LIMIT_NODE in children:
                raise CliError(f"{path} has a child {node[len(QUOTA_ROOT):]} which has a quota")
            stack.extend(node + "/" + c for c in children if c not in (LIMIT_NODE, STATS_NODE))
        parts = path.split("/")
        qpath = QUOTA_ROOT
        for part in parts[1:-1]:
            qpath += "/" + part
            try:
                children = self._await(self._client.get_children(qpath))
            except NoNodeError:
                return
            if not children:
                return
            if LIMIT_NODE in children:
                raise CliError(f"{path} has a parent {qpath[len(QUOTA_ROOT):]} which has a quota")

    def _listquota(self, words: list[str]) -> None:
        p = parse_options(words, _NO_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("listquota")
        path = p.args[1]
        validate_path(path)
        limit_path = f"{QUOTA_ROOT}{path}/{LIMIT_NODE}"
        self.out(f"absolute path is {limit_path}\n")
        try:
            limits = self._await(self._client.get_data(limit_path))[0]
            usage = self._await(self._client.get_data(f"{QUOTA_ROOT}{path}/{STATS_NODE}"))[0]
        except NoNodeError:
            self.err(f"quota for {path} does not exist.\n")
            return
        self.out(f"Output quota for {path} {format_stats(parse_stats(limits)).decode()}\n")
        self.out(f"Output stat for {path} {format_stats(parse_stats(usage)).decode()}\n")

    def _delquota(self, words: list[str]) -> None:
        p = parse_options(words, _DELQUOTA_OPTS)
        flag = self._quota_group(p, _DELQUOTA_OPTS, required=False)
        if len(p.args) < 2:
            raise self.usage_error("delquota")
        path = p.args[1]
        validate_path(path)
        qdir = QUOTA_ROOT + path
        limit_path = f"{qdir}/{LIMIT_NODE}"
        if self._call(self._client.exists(limit_path), limit_path) is None:
            self.out(f"Quota does not exist for {path}\n")
            return
        limits = parse_stats(self._call(self._client.get_data(limit_path), limit_path)[0])
        if flag is None:
            for child in self._call(self._client.get_children(qdir), qdir):
                self._call(self._client.delete(f"{qdir}/{child}"), qdir)
            node = qdir  # trimProcQuotas: remove quota directories left empty, upwards
            while node != QUOTA_ROOT and not self._call(self._client.get_children(node), node):
                self._call(self._client.delete(node), node)
                node = node[:node.rfind("/")]
        else:
            limits[_QUOTA_KEYS[flag]] = -1
            self._call(self._client.set_data(limit_path, format_stats(limits)), limit_path)

    def _get(self, words: list[str]) -> None:
        p = parse_options(words, _GET_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("get")
        p = self._compat_watch(words, p, _GET_OPTS, "get", "get [-s] [-w] path")
        path = p.args[1]
        validate_path(path)
        watch = self._on_watch if p.has("w") else None
        data, stat = self._call(self._client.get_data(path, watch, keep_null=True), path)
        self.out(("null" if data is None else data.decode("utf-8", "replace")) + "\n")
        if p.has("s"):
            self.out(stat_lines(stat))

    def _set(self, words: list[str]) -> None:
        p = parse_options(words, _SET_OPTS)
        if len(p.args) < 3:
            raise self.usage_error("set")
        path, data = p.args[1], p.args[2].encode()
        version = _java_int(p.value("v"), "-v") if p.has("v") else -1
        validate_path(path)
        stat = self._call(self._client.set_data(path, data, version), path)
        if p.has("s"):
            self.out(stat_lines(stat))

    def _stat(self, words: list[str]) -> None:
        p = parse_options(words, _STAT_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("stat")
        p = self._compat_watch(words, p, _STAT_OPTS, "stat", "stat [-w] path")
        path = p.args[1]
        validate_path(path)
        stat: Stat | None = self._call(self._client.exists(path, self._on_watch if p.has("w") else None), path)
        if stat is None:
            raise CliError(error_text(Err.NONODE, path))
        self.out(stat_lines(stat))

    def _create(self, words: list[str]) -> None:
        p = parse_options(words, _CREATE_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("create")
        has_e, has_s, has_c, has_t = p.has("e"), p.has("s"), p.has("c"), p.has("t")
        if has_c and (has_e or has_s):
            raise CliError("-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.")
        ttl = _java_int(p.value("t"), "-t", bits=64) if has_t else 0
        if has_t and has_e:
            raise CliError("TTLs cannot be used with Ephemeral znodes")
        if has_t and has_c:
            raise CliError("TTLs cannot be used with Container znodes")
        if has_e and has_s:
            mode = CreateMode.EPHEMERAL_SEQUENTIAL
        elif has_e:
            mode = CreateMode.EPHEMERAL
        elif has_s:
            mode = CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL if has_t else CreateMode.PERSISTENT_SEQUENTIAL
        elif has_c:
            mode = CreateMode.CONTAINER
        else:
            mode = CreateMode.PERSISTENT_WITH_TTL if has_t else CreateMode.PERSISTENT
        if has_t and not 0 < ttl <= _MAX_TTL:
            raise CliError(f"ttl must be positive and cannot be larger than: {_MAX_TTL}")
        path = p.args[1]
        data = p.args[2].encode() if len(p.args) > 2 else None  # no data argument: null data, as zkCli
        acl = parse_acl(p.args[3], lambda m: self.err(m + "\n")) if len(p.args) > 3 else OPEN_ACL_UNSAFE
        validate_path(path, mode in (CreateMode.EPHEMERAL_SEQUENTIAL, CreateMode.PERSISTENT_SEQUENTIAL,
                                     CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL))
        if not acl:  # the Java client refuses an empty ACL before sending (InvalidACLException, no path)
            self.err(keeper_message(Err.INVALIDACL, None) + "\n")
            raise CliError(error_text(Err.INVALIDACL, None))
        try:
            created = self._await(self._client.create(path, data, acl, mode, ttl=ttl if has_t else None))
        except KeeperError as e:
            epath = e.path if e.path is not None else path
            if e.code == Err.INVALIDACL:
                self.err(keeper_message(e.code, epath) + "\n")
            elif e.code == Err.EPHEMERALONLOCALSESSION:
                self.err("Unable to create ephemeral node on a local session\n")
            raise CliError(error_text(e.code, epath))
        self.err(f"Created {created}\n")

    def _delete(self, words: list[str]) -> None:
        p = parse_options(words, _DELETE_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("delete")
        if len(p.args) > 2:  # zkCli 3.8 warns and then ignores the version given this way
            self.err("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.\n")
        path = p.args[1]
        version = _java_int(p.value("v"), "-v") if p.has("v") else -1
        validate_path(path)
        self._call(self._client.delete(path, version), path)

    def _deleteall(self, words: list[str]) -> None:
        p = parse_options(words, _DELETEALL_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("deleteall")
        batch = _java_int(p.value("b"), "-b") if p.has("b") else _DELETEALL_BATCH
        path = p.args[1]
        validate_path(path)
        # ZKUtil.deleteRecursive: list the subtree breadth-first, delete it deepest-first in multi batches.
        nodes = [path]
        i = 0
        while i < len(nodes):  # grows only by the subtree's nodes
            node = nodes[i]
            i += 1
            children = self._call(self._client.get_children(node), node)
            nodes.extend((node if node == "/" else node + "/") + c for c in children)
        nodes.reverse()
        size = batch if batch > 0 else len(nodes)
        ok = True
        for start in range(0, len(nodes), size):
            txn = self._client.transaction()
            for node in nodes[start:start + size]:
                txn.delete(node)
            try:
                results = self._await(txn.commit())
            except KeeperError:
                ok = False
                break
            if any(isinstance(r, KeeperError) for r in results):
                ok = False
                break
        if not ok:
            self.out("Failed to delete some node(s) in the subtree!\n")

    def _sync(self, words: list[str]) -> None:
        p = parse_options(words, _NO_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("sync")
        path = p.args[1]
        validate_path(path)
        try:
            self._await(self._client.sync(path))
        except KeeperError as e:
            self.out(f"Sync has failed. rc={e.code}\n")
            return
        self.out("Sync is OK\n")

    def _get_acl(self, words: list[str]) -> None:
        p = parse_options(words, _GETACL_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("getAcl")
        path = p.args[1]
        validate_path(path)
        acls, stat = self._call(self._client.get_acl(path), path)
        for a in acls:
            self.out(acl_line(a) + "\n")
        if p.has("s"):
            self.out(stat_lines(stat))

    def _set_acl(self, words: list[str]) -> None:
        p = parse_options(words, _SETACL_OPTS)
        if len(p.args) < 3:
            raise self.usage_error("setAcl")
        path = p.args[1]
        acl = parse_acl(p.args[2], lambda m: self.err(m + "\n"))
        version = _java_int(p.value("v"), "-v") if p.has("v") else -1
        validate_path(path)
        if not acl:
            raise CliError(error_text(Err.INVALIDACL, None))
        if p.has("R"):
            def apply(node: str) -> None:
                try:
                    self._await(self._client.set_acl(node, acl, version))
                except KeeperError as e:
                    self.out(keeper_message(e.code, node))  # zkCli uses print, not println, here

            self._call(self._client.get_data(path, keep_null=True), path)
            apply(path)
            self._visit(path, None, apply)
            return
        stat = self._call(self._client.set_acl(path, acl, version), path)
        if p.has("s"):
            self.out(stat_lines(stat))

    def _addauth(self, words: list[str]) -> None:
        p = parse_options(words, _NO_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("addauth")
        cred = p.args[2].encode() if len(p.args) >= 3 else b""
        try:
            self._await(self._client.add_auth(p.args[1], cred))
        except AuthFailedError:
            pass  # like zkCli: the AuthFailed event says it
        except KeeperError as e:
            raise CliError(error_text(e.code, None))

    def _close(self, words: list[str]) -> None:
        self.close_session(announce=True)

    def _get_ephemerals(self, words: list[str]) -> None:
        p = parse_options(words, _NO_OPTS)
        prefix = p.args[1] if len(p.args) >= 2 else "/"
        validate_path(prefix)
        paths = self._call(self._client.get_ephemerals(prefix), prefix)
        self.out("[" + ", ".join(paths) + "]\n")

    def _get_all_children_number(self, words: list[str]) -> None:
        p = parse_options(words, _NO_OPTS)
        if len(p.args) < 2:
            raise self.usage_error("getAllChildrenNumber")
        path = p.args[1]
        validate_path(path)
        self.out(f"{self._call(self._client.get_all_children_number(path), path)}\n")

    def _whoami(self, words: list[str]) -> None:
        ids = self._call(self._client.who_am_i(), None)
        self.out("Auth scheme: User\n")
        for scheme, user in ids:
            self.out(f"{scheme}: {user}\n")

    def _version(self, words: list[str]) -> None:
        if len(parse_options(words, _NO_OPTS).args) > 1:
            raise self.usage_error("version")
        self.out(f"ZooKeeper CLI version: {FULL_VERSION}\n")

    # ---- completion ---------------------------------------------------------------------------

    def children_for_completion(self, path: str, timeout: float = 2.0) -> list[str]:
        """Children of `path` for tab completion ([] when not connected or on any error, within `timeout`)."""
        zk = self._zk
        if zk is None or not zk.connected:
            return []
        fut = asyncio.run_coroutine_threadsafe(zk.client.get_children(path), zk.loop)
        try:
            return sorted(fut.result(timeout))
        except Exception:
            fut.cancel()
            return []


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


async def _begin(client: Client) -> None:
    """Start `client` in a background task (it keeps retrying the servers until closed) and return once
    it has left the CLOSED state; the task's failure (the shell closing it) shows as state changes."""
    task = asyncio.ensure_future(client.start(timeout=_FOREVER))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    await asyncio.sleep(0)
