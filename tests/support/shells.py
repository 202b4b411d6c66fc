"""Drive the real ZooKeeper shells (C `cli_mt`, Java `zkCli.sh`) interactively, and normalise what they print.

Both shells read commands from stdin. A shell is kept running for a whole sequence of commands so that one
session sees its own watches fire; each command is written only after the previous one's output is complete,
and every wait is bounded. stdout and stderr are read through one pipe, so the transcript keeps the order in
which the shell wrote (cli_mt writes almost everything to stderr; zkCli writes e.g. `Created /a` to stderr and
the data to stdout).

Normalisation replaces only what legitimately differs between two correct servers: session ids, times and
zxid values. Zxids are relabelled `Z1`, `Z2`, ... in order of first appearance, so the transcript still says
which zxids are equal (czxid == mzxid after a create, czxid unchanged by a set); `relabel_zxids` also checks
that each newly seen zxid is larger than the ones before it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

STEP_TIMEOUT = 5.0  # one shell command against a local server answers in milliseconds
CONNECT_TIMEOUT = 10.0  # cli_mt start plus session establishment
START_TIMEOUT = 15.0  # a JVM start plus session establishment (about 0.5 s on a dev machine)
EXIT_TIMEOUT = 10.0


class ShellProcess:
    """A child process whose combined stdout+stderr is collected by a reader thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name=f"reader-{os.path.basename(argv[0])}",
                                        daemon=True)
        self._reader.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._buf += chunk
                self._cond.notify_all()

    # --- output -------------------------------------------------------------------------------------------
    def pos(self) -> int:
        with self._cond:
            return len(self._buf)

    def text(self, start: int = 0, end: int | None = None) -> str:
        with self._cond:
            return bytes(self._buf[start:end]).decode("utf-8", "replace")

    def wait_for(self, patterns: Iterable[str], start: int, timeout: float) -> tuple[bool, str]:
        """Wait until every regex in `patterns` matches the output written since byte `start`.

        Returns (all matched, output since start). Gives up at the timeout or when the shell's output ends.
        """
        regexes = [re.compile(p) for p in patterns]
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                seg = bytes(self._buf[start:]).decode("utf-8", "replace")
                if all(r.search(seg) for r in regexes):
                    return True, seg
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    return False, seg
                self._cond.wait(min(remaining, 0.5))

    # --- input / lifetime -----------------------------------------------------------------------------------
    def send(self, line: str) -> bool:
        """Write one line to the shell's stdin; False when the shell is gone."""
        try:
            self.proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int | None:
        """Exit code once the shell exits by itself within `timeout`, else None."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout)
        return rc

    def close(self) -> None:
        """Stop this shell and release its pipes.

        End of stdin asks it to exit; failing that, its own process group is killed: zkCli.sh is a bash
        script that runs java as a child, so killing only the bash process would leave the JVM behind.
        The group id is this child's pid, used only while the child is unreaped, so it cannot be reused.
        """
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(EXIT_TIMEOUT)
        self._reader.join(EXIT_TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------
# cli_mt (C client shell)
# ---------------------------------------------------------------------------------------------------------

MT_SESSION = r"Got a new session id: 0x[0-9a-f]+\n"
# The line a cli_mt command prints last (cli.c completions), by command.
MT_DONE = {
    "ls": r"rc = -?\d+\n(?:\t.*\n)*time = -?\d+ msec\n",
    "create": r"\]: rc = (?:0\n\tname = .*\n|-[1-9]\d*\n)",
    "get": r"Stat:\n(?:null\n|(?:.*\n)*?\tephemeralOwner = [0-9a-f]+\n)",
    "set": r"rc = -?\d+ Stat:\n(?:null\n|(?:.*\n)*?\tephemeralOwner = [0-9a-f]+\n)",
    "delete": r": rc = -?\d+\n",
}


class CliMt(ShellProcess):
    """`cli_mt -h host:port` driven one command at a time (TZ=UTC so its ctime_r dates are comparable)."""

    def __init__(self, path: str, hosts: str, extra_args: list[str] | None = None) -> None:
        env = dict(os.environ, TZ="UTC", LC_ALL="C")
        super().__init__([path, "-h", hosts, *(extra_args or [])], env=env)
        self.transcript: list[tuple[str, str]] = []  # (command, raw output) in order

    def wait_connected(self, timeout: float = CONNECT_TIMEOUT) -> tuple[bool, str]:
        ok, seg = self.wait_for([MT_SESSION], 0, timeout)
        self.transcript.append(("<connect>", seg))
        return ok, seg

    def run(self, cmd: str, expect_also: Iterable[str] = (),
            timeout: float = STEP_TIMEOUT) -> tuple[bool, str]:
        """Send `cmd`, wait for its completion line plus every regex in `expect_also` (e.g. watcher lines)."""
        start = self.pos()
        verb = cmd.split()[0]
        patterns = [MT_DONE[verb], *expect_also]
        if not self.send(cmd):
            ok, seg = False, ""
        else:
            ok, seg = self.wait_for(patterns, start, timeout)
        self.transcript.append((cmd, seg))
        return ok, seg

    def quit(self) -> tuple[int | None, str]:
        start = self.pos()
        self.send("quit")
        rc = self.wait_exit()
        seg = self.text(start)
        self.transcript.append(("quit", seg))
        return rc, seg


def run_cli_mt_batch(path: str, hosts: str, cmd: str,
                     timeout: float = CONNECT_TIMEOUT) -> tuple[int | None, str]:
    """`cli_mt -h hosts -c cmd`: one command in a fresh session; returns (exit code or None, output)."""
    with ShellProcess([path, "-h", hosts, "-c", cmd], env=dict(os.environ, TZ="UTC", LC_ALL="C")) as sh:
        sh.proc.stdin.close()  # type: ignore[union-attr]  # batch mode must not need stdin
        rc = sh.wait_exit(timeout)
        return rc, sh.text()


_MT_STAT = re.compile(
    r"\tctime = (?P<ctime>[^\n]*)\n\tczxid=(?P<czxid>[0-9a-f]+)\n"
    r"\tmtime=(?P<mtime>[^\n]*)\n\tmzxid=(?P<mzxid>[0-9a-f]+)\n"
    r"\tversion=(?P<version>[0-9a-f]+)\taversion=(?P<aversion>[0-9a-f]+)\n"
    r"\tephemeralOwner = (?P<ephemeralOwner>[0-9a-f]+)\n")


def parse_mt_stats(text: str) -> list[dict]:
    """Every cli.c dumpStat block in `text` (numbers are hex there), in order."""
    out = []
    for m in _MT_STAT.finditer(text):
        d = m.groupdict()
        out.append({"ctime": parse_c_time(d["ctime"]), "mtime": parse_c_time(d["mtime"]),
                    "czxid": int(d["czxid"], 16), "mzxid": int(d["mzxid"], 16),
                    "version": int(d["version"], 16), "aversion": int(d["aversion"], 16),
                    "ephemeralOwner": int(d["ephemeralOwner"], 16)})
    return out


def parse_c_time(s: str) -> datetime:
    """ctime_r(3) output under TZ=UTC, e.g. 'Thu Nov 26 12:12:05 2026'."""
    return datetime.strptime(s.strip(), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)


def _sort_ls_children(m: re.Match) -> str:
    return m.group(1) + "".join(sorted(m.group(2).splitlines(keepends=True))) + m.group(3)


def normalize_mt(text: str, zxids: ZxidLabels) -> str:
    """cli_mt output with session ids, durations, dates and zxid values replaced.

    `ls` children are sorted: getChildren order is unspecified in ZooKeeper (Apache returns hash order).
    """
    text = re.sub(r"session id: 0x[0-9a-f]+", "session id: 0x<session>", text)
    text = re.sub(r"time = -?\d+ msec", "time = <n> msec", text)
    text = re.sub(r"(: rc = -?\d+\n)((?:\t[^\n]*\n)*)(time = )", _sort_ls_children, text)

    def stat(m: re.Match) -> str:
        cz, mz = zxids.label(int(m["czxid"], 16)), zxids.label(int(m["mzxid"], 16))
        return (f"\tctime = <date>\n\tczxid={cz}\n\tmtime=<date>\n\tmzxid={mz}\n"
                f"\tversion={m['version']}\taversion={m['aversion']}\n"
                f"\tephemeralOwner = {m['ephemeralOwner']}\n")

    return _MT_STAT.sub(stat, text)


# ---------------------------------------------------------------------------------------------------------
# zkCli.sh (Java shell)
# ---------------------------------------------------------------------------------------------------------

ZK_SENTINEL = r"ZooKeeper CLI version: [^\n]*\n"
ZK_BANNER_END = r"JLine support is (?:disabled|enabled)\n"
ZK_PROMPT = re.compile(r"\[zk: [^\]\n]*\] ")
# JVM flags for the client: dates in UTC (so ctime/mtime parse), quick start, small heap.
ZK_JVMFLAGS = "-Duser.timezone=UTC -Duser.language=en -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m"


def zkcli_env() -> dict[str, str]:
    return dict(os.environ, CLIENT_JVMFLAGS=ZK_JVMFLAGS, LC_ALL="C")


# The Netty jars ClientCnxnSocketNetty (zkCli over TLS) needs beyond those Debian's zookeeper.jar manifest
# names (it lacks netty-codec, which SslHandler extends, and netty-resolver). zkCli.sh fixes its own -cp,
# so the whole class path goes in CLIENT_JVMFLAGS: the JVM takes the last -cp it is given.
_NETTY_CLIENT = ("codec", "resolver", "handler", "buffer", "common", "transport", "transport-native-unix-common")


def zkcli_secure_env(*, keystore: str | None = None, truststore: str | None = None, password: str = "",
                     jaas: str | None = None) -> dict[str, str]:
    """zkCli's environment for TLS (PKCS12 key and trust stores, zookeeper.client.secure with the Netty
    socket) and/or SASL (a JAAS file with a `Client` section), all as JVM flags in CLIENT_JVMFLAGS."""
    flags = [ZK_JVMFLAGS]
    if truststore is not None or keystore is not None:
        cp = ["/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar",
              *(f"/usr/share/java/netty-{m}.jar" for m in _NETTY_CLIENT)]
        flags += ["-cp", ":".join(cp), "-Dzookeeper.client.secure=true",
                  "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty"]
        if keystore is not None:
            flags += [f"-Dzookeeper.ssl.keyStore.location={keystore}", f"-Dzookeeper.ssl.keyStore.password={password}"]
        if truststore is not None:
            flags += [f"-Dzookeeper.ssl.trustStore.location={truststore}",
                      f"-Dzookeeper.ssl.trustStore.password={password}"]
    if jaas is not None:
        flags.append(f"-Djava.security.auth.login.config={jaas}")
    return dict(os.environ, CLIENT_JVMFLAGS=" ".join(flags), LC_ALL="C")


def strip_slf4j(text: str) -> str:
    """Drop the SLF4J 'no binding' notice the Debian classpath prints at JVM start (not server related)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("SLF4J: "))


class ZkCli(ShellProcess):
    """`zkCli.sh -server host:port -waitforconnection`, fed one command at a time through stdin.

    Without JLine (the Debian classpath has none) zkCli prints no prompt, so after each command the driver
    sends `version`, a local command whose line `ZooKeeper CLI version: ...` marks the end of the output
    of the command before it (commands run synchronously, one line at a time).
    """

    def __init__(self, path: str, hosts: str, *, argv: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        """`argv`/`env` replace zkCli's command line (another shell driven the same way)."""
        super().__init__(argv or [path, "-server", hosts, "-waitforconnection"], env=env or zkcli_env())
        self.banner_end = ZK_BANNER_END  # the last line of the start-up banner (another shell may end differently)
        self.transcript: list[tuple[str, str]] = []
        # Byte offset just past the last marker consumed. Segments are contiguous from here, because
        # zkCli's event thread may print a watch event after the marker line of the command that fired
        # it: the event then belongs to the next segment rather than falling between two.
        self._mark = 0

    def _until(self, pattern: str, timeout: float, include: bool = False) -> tuple[bool, str]:
        """Output from the mark up to the first `pattern` (included or not); the mark moves past the match."""
        start = self._mark
        ok, seg = self.wait_for([pattern], start, timeout)
        if ok:
            m = re.search(pattern, seg)
            assert m is not None
            self._mark = start + len(seg[: m.end()].encode("utf-8"))
            seg = seg[: m.end() if include else m.start()]
        return ok, seg

    def wait_ready(self, timeout: float = START_TIMEOUT) -> tuple[bool, str]:
        ok, seg = self._until(self.banner_end, timeout, include=True)
        seg = strip_slf4j(seg)
        self.transcript.append(("<connect>", seg))
        return ok, seg

    def run(self, cmd: str, timeout: float = STEP_TIMEOUT) -> tuple[bool, str]:
        if not (self.send(cmd) and self.send("version")):
            ok, seg = False, self.text(self._mark)
        else:
            ok, seg = self._until(ZK_SENTINEL, timeout)
        seg = ZK_PROMPT.sub("", strip_slf4j(seg))
        self.transcript.append((cmd, seg))
        return ok, seg

    def quit(self) -> tuple[int | None, str]:
        self.send("quit")
        rc = self.wait_exit()
        seg = ZK_PROMPT.sub("", strip_slf4j(self.text(self._mark)))
        self.transcript.append(("quit", seg))
        return rc, seg


def run_zkcli_once(path: str, hosts: str, *args: str,
                   timeout: float = START_TIMEOUT) -> tuple[int | None, str]:
    """`zkCli.sh -server hosts cmd args` (one command, one JVM); returns (exit code or None, output)."""
    with ShellProcess([path, "-server", hosts, *args], env=zkcli_env()) as sh:
        sh.proc.stdin.close()  # type: ignore[union-attr]
        rc = sh.wait_exit(timeout)
        return rc, strip_slf4j(sh.text())


_JAVA_STAT_KEYS = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
                   "ephemeralOwner", "dataLength", "numChildren"]
_JAVA_STAT = re.compile("".join(rf"{k} = (?P<{k}>[^\n]*)\n" for k in _JAVA_STAT_KEYS))


def parse_java_stats(text: str) -> list[dict]:
    """Every StatPrinter block in `text`, with zxids/owner as ints and dates as datetimes."""
    out = []
    for m in _JAVA_STAT.finditer(text):
        d: dict = dict(m.groupdict())
        for k in ("cZxid", "mZxid", "pZxid", "ephemeralOwner"):
            d[k] = int(d[k], 16)
        for k in ("cversion", "dataVersion", "aclVersion", "dataLength", "numChildren"):
            d[k] = int(d[k])
        for k in ("ctime", "mtime"):
            d[k] = datetime.strptime(d[k], "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=UTC)
        out.append(d)
    return out


def normalize_java(text: str, zxids: ZxidLabels) -> str:
    """zkCli output with zxid values relabelled and Date.toString() dates replaced."""
    text = re.sub(r"(?m)^(ctime|mtime) = .*$", r"\1 = <date>", text)
    return re.sub(r"(?m)^(cZxid|mZxid|pZxid) = (0x[0-9a-f]+)$",
                  lambda m: f"{m[1]} = {zxids.label(int(m[2], 16))}", text)


# ---------------------------------------------------------------------------------------------------------
# shared
# ---------------------------------------------------------------------------------------------------------

class ZxidLabels:
    """Maps zxid values to Z1, Z2, ... by first appearance; records whether new zxids kept increasing."""

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}
        self.order: list[int] = []

    def label(self, zxid: int) -> str:
        if zxid not in self.labels:
            self.order.append(zxid)
            self.labels[zxid] = f"Z{len(self.order)}"
        return self.labels[zxid]

    def increasing(self) -> bool:
        pairs = zip(self.order, self.order[1:], strict=False)
        return all(a < b for a, b in pairs) and all(z > 0 for z in self.order)


def render(transcript: list[tuple[str, str]], normalize=None) -> str:
    """A transcript as text: `> command` lines, each followed by its (optionally normalised) output."""
    parts = []
    for cmd, seg in transcript:
        parts.append(f"> {cmd}\n")
        parts.append(normalize(seg) if normalize else seg)
    return "".join(parts)


def assert_wall_clock(ts: datetime, not_before: datetime, what: str) -> None:
    """A znode time must be the server's wall clock in ms since the epoch, i.e. 'about now' on this host.

    The window is generous (10 minutes) on purpose: this catches seconds-vs-milliseconds or zero times,
    it does not measure latency.
    """
    now = datetime.now(UTC)
    slack = 600
    assert not_before.timestamp() - slack <= ts.timestamp() <= now.timestamp() + slack, \
        f"{what} = {ts.isoformat()} is not the wall-clock time (test started {not_before.isoformat()})"
