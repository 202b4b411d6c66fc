"""The one helper that runs a server process for a test: corral, or Apache ZooKeeper as the reference.

Why one: the same lifecycle — write a zoo.cfg, start, wait until it answers, stop (SIGTERM, then SIGKILL),
`kill -9`, pause/resume (SIGSTOP/SIGCONT), restart on the same dataDir, show the log when it fails — was
written four times with small differences (how long to wait, which signal, whether a crashed start shows
its log). One class keeps those decisions in one place, and one test body can run against either server
because both flavours have the same shape.

Only the process a `ServerProcess` started is ever signalled, always by its PID. Everything listens on
127.0.0.1. Layout of `data_dir` (a private temporary directory unless given, removed by `close()`):
`zoo.cfg` (Apache: `conf/zoo.cfg`), `data/` (the dataDir) and `server.log` (stdout+stderr, appended across
restarts, with a marker line per start).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from corral.testing import admin_listening, parse_srvr
from corral.testing.process import ManagedProcess

from .apache import ADMIN_CLASSPATH, CLASSPATH_EXTRA, ZK_JAR, _java, require_apache
from .net import four_letter, free_port

HOST = "127.0.0.1"
NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
KINDS = ("corral", "apache")


def kinds_under_test() -> tuple[str, ...]:
    """The server kinds the comparison tests run against: `CORRAL_IT_SERVERS` (comma-separated, e.g.
    `corral`) narrows the default of both; a name that is not a kind is a usage error, not a silent
    narrowing to nothing."""
    chosen = tuple(k.strip() for k in os.environ.get("CORRAL_IT_SERVERS", ",".join(KINDS)).split(",") if k.strip())
    if not chosen or set(chosen) - set(KINDS):
        raise ValueError(f"CORRAL_IT_SERVERS must name some of {KINDS}, got {chosen}")
    return chosen


class ServerProcess(ManagedProcess):
    """One server process on 127.0.0.1 with its own zoo.cfg and dataDir; subclasses say how to run it.

    `ready` is the readiness probe `start()` waits for: "ruok" (answers `imok` and `srvr` says it is
    serving) or "srvr" (for a server whose 4lw whitelist excludes ruok; `srvr` is always allowed).
    Signals, stop/kill/pause/resume and the wait for readiness are corral.testing's (`ManagedProcess`).
    """

    kind = "?"
    start_timeout = 30.0  # seconds a start may take before it counts as failed

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None, tick_time: int = 2000,
                 extra_cfg: Mapping[str, str] | None = None, *, ready: str = "ruok") -> None:
        if ready not in ("ruok", "srvr"):
            raise ValueError(f"ready must be 'ruok' or 'srvr', not {ready!r}")
        self.host = HOST
        self.port = port or free_port()
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix=f"{self.kind}-test-")
        self.data_dir = Path(data_dir or self._tmp.name)  # type: ignore[union-attr]
        self.tick_time = tick_time
        self.extra_cfg: dict[str, str] = dict(extra_cfg or {})
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    def __repr__(self) -> str:
        return f"<{self.kind} server {self.hosts} pid {self.pid}>"

    # ---- what tests read ----------------------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """`127.0.0.1:port`, for a connect string."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def cfg_path(self) -> Path:
        return self.data_dir / "zoo.cfg"

    def config(self) -> dict[str, str]:
        """The zoo.cfg keys: the defaults every test server shares, then `extra_cfg` (which wins)."""
        return {
            "tickTime": str(self.tick_time),
            "dataDir": str(self.data_dir / "data"),
            "clientPort": str(self.port),
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": "*",
            # Off unless a test asks for it (extra_cfg, e.g. with a free admin.serverPort): parallel test
            # servers would otherwise all want port 8080.
            "admin.enableServer": "false",
            **self.extra_cfg,
        }

    def config_lines(self) -> list[str]:
        """zoo.cfg as lines (a subclass adds what is not key=value, e.g. an ensemble's server.N lines)."""
        return [f"{k}={v}" for k, v in self.config().items()]

    def write_config(self) -> Path:
        self.cfg_path.parent.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text("".join(f"{line}\n" for line in self.config_lines()))
        return self.cfg_path

    def command(self) -> list[str]:
        """argv of the server (after `write_config()`)."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def four_letter(self, cmd: str, timeout: float = 5.0) -> str:
        return four_letter(self.host, self.port, cmd, timeout=timeout)

    # ---- probes (ensemble members of either kind) ---------------------------------------------------------

    def mode(self) -> str:
        """srvr's Mode (leader | follower | observer | standalone), or not serving | down."""
        if not self.alive:
            return "down"
        try:
            text = self.four_letter("srvr", timeout=2.0)
        except OSError:
            return "down"
        if NOT_SERVING in text or "Mode:" not in text:
            return "not serving"
        return parse_srvr(text).get("Mode", "?")

    def zxid(self) -> int:
        """Last applied zxid (srvr `Zxid:`); -1 when not serving."""
        v = parse_srvr(self.four_letter("srvr")).get("Zxid")
        return int(v, 16) if v else -1

    # ---- lifecycle ----------------------------------------------------------------------------------------

    def start(self, timeout: float | None = None, *, wait: bool = True) -> Self:
        """Start the process; with `wait`, block until it answers the readiness probe.

        A start that fails (the process exits, or no answer within `timeout`) stops the process and
        raises RuntimeError with the reason and the log tail."""
        # A second start would orphan the running server (`with CorralProcess() as s` already starts it).
        assert not self.alive, f"{self} is already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        argv = self.command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== test harness: starting {self.kind} on {self.hosts} at {time.time():.3f} ====\n"
                      .encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env(), start_new_session=True)
        self.paused = False
        if wait:
            self.wait_ready(self.start_timeout if timeout is None else timeout)
        return self

    def _answers(self) -> bool:
        if self.ready == "srvr":
            serving = "Mode:" in self.four_letter("srvr", timeout=1.0)
        else:
            serving = self.four_letter("ruok", timeout=1.0) == "imok" and \
                "not currently serving" not in self.four_letter("srvr", timeout=1.0)
        return serving and admin_listening(self.config())

    def restart(self, timeout: float | None = None, *, hard: bool = False, wait: bool = True) -> Self:
        """Stop (or, with `hard`, kill -9) and start again on the same dataDir and port."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout, wait=wait)

    def close(self) -> None:
        """Stop the process and remove the data directory if it was a private temporary one."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class CorralProcess(ServerProcess):
    """`python -m corral server zoo.cfg`."""

    kind = "corral"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "corral", "server", str(self.cfg_path)]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}


class ApacheZooKeeper(ServerProcess):
    """Apache ZooKeeper's QuorumPeerMain from the Debian package, standalone.

    corral reads a few limits from zoo.cfg that Apache 3.8 only takes as JVM system properties; those keys
    of `extra_cfg` become `-D` flags instead of zoo.cfg lines (`JVM_ONLY`), and the container reaper's
    `znode.container.*` keys are passed both ways (zoo.cfg would give them a "zookeeper." prefix)."""

    kind = "apache"
    start_timeout = 60.0
    JVM_ONLY = {
        "jute.maxbuffer": "jute.maxbuffer",
        "sessionlessCnxnTimeout": "zookeeper.nio.sessionlessCnxnTimeout",
    }

    @property
    def cfg_path(self) -> Path:
        return self.data_dir / "conf" / "zoo.cfg"

    def config(self) -> dict[str, str]:
        cfg = super().config()
        return {k: v for k, v in cfg.items() if k not in self.JVM_ONLY}

    #: JVM flags for tests: a small heap and the quick JIT start Apache in a second or two. Benchmarks
    #: set `jvm_flags` to what a production JVM runs with (full JIT, default collector, 1 GB heap).
    jvm_flags: tuple[str, ...] = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")

    @property
    def admin_enabled(self) -> bool:
        return self.config().get("admin.enableServer") == "true"

    def start(self, timeout: float | None = None, *, wait: bool = True) -> Self:
        require_apache()  # skips (or fails under CI) when the reference is not installed
        return super().start(timeout, wait=wait)

    def command(self) -> list[str]:
        conf = self.cfg_path.parent
        (conf / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, CONSOLE\n"
            "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n\n")
        cp = ":".join([str(conf), str(ZK_JAR), *CLASSPATH_EXTRA, *(ADMIN_CLASSPATH if self.admin_enabled else [])])
        props = [f"-D{self.JVM_ONLY[k]}={v}" for k, v in self.extra_cfg.items() if k in self.JVM_ONLY]
        props += [f"-D{k}={v}" for k, v in self.extra_cfg.items() if k.startswith("znode.container.")]
        return [_java(), *self.jvm_flags, "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{conf}/log4j.properties", *props,
                f"-Dzookeeper.admin.enableServer={str(self.admin_enabled).lower()}", "-cp", cp,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.cfg_path)]


def make_server(kind: str, *, start: bool = True, **kwargs) -> ServerProcess:
    """A server of `kind` ("corral" or "apache"), started unless `start=False`; the caller closes it.

    A start that fails still removes the private data directory."""
    cls: type[ServerProcess]
    if kind == "corral":
        cls = CorralProcess
    elif kind == "apache":
        cls = ApacheZooKeeper
    else:
        raise ValueError(f"unknown server kind {kind!r}; expected one of {KINDS}")
    srv = cls(**kwargs)
    if start:
        try:
            srv.start()
        except BaseException:
            srv.close()
            raise
    return srv
