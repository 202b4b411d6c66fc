"""Apache ZooKeeper (Debian package `zookeeper`) as a reference server, started by the test itself.

When the package is missing the tests that need it skip with how to install it; under CI (`CI=true`)
a missing reference fails instead, so CI can never go green without comparing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from .net import four_letter, free_port, wait_for_ruok

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
CLASSPATH_EXTRA = ["/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"]
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
INSTALL_HINT = "install with: sudo apt-get install -y zookeeper zookeeper-bin (or run `make test-deps`)"


def _java() -> str | None:
    for cand in ("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", shutil.which("java")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def require(what: str, present: bool) -> None:
    """Skip (or fail under CI) when a reference component is missing."""
    if present:
        return
    msg = f"{what} is not installed; {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def require_apache() -> None:
    require("Apache ZooKeeper (Debian package zookeeper) with Java", ZK_JAR.exists() and _java() is not None)


def require_cli_mt() -> str:
    path = CLI_MT if os.access(CLI_MT, os.X_OK) else shutil.which("cli_mt")
    require("the C client shell cli_mt (Debian package zookeeper-bin)", bool(path))
    return path  # type: ignore[return-value]


def require_zkcli() -> str:
    require("the Java shell zkCli.sh (Debian package zookeeper)", os.access(ZKCLI, os.X_OK) and _java() is not None)
    return ZKCLI


class ApacheZooKeeper:
    """A standalone Apache ZooKeeper on 127.0.0.1 with a private dataDir; same shape as CorralProcess."""

    kind = "apache"

    def __init__(self, data_dir: str | None = None, port: int | None = None, tick_time: int = 2000,
                 extra_cfg: dict[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="apache-zk-test-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.tick_time = tick_time
        self.extra_cfg = dict(extra_cfg or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ApacheZooKeeper:
        require_apache()
        assert self.proc is None or self.proc.poll() is not None, "this server is already running"
        conf = self.data_dir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        cfg = {
            "tickTime": str(self.tick_time),
            "dataDir": str(self.data_dir / "data"),
            "clientPort": str(self.port),
            "clientPortAddress": self.host,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "*",
        }
        cfg.update(self.extra_cfg)
        (conf / "zoo.cfg").write_text("".join(f"{k}={v}\n" for k, v in cfg.items()))
        (conf / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, CONSOLE\n"
            "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n\n")
        cp = ":".join([str(conf), str(ZK_JAR), *CLASSPATH_EXTRA])
        # Settings Apache reads only as JVM system properties without the "zookeeper." prefix that zoo.cfg
        # keys get (the container reaper's); corral reads the same keys from zoo.cfg.
        props = [f"-D{k}={v}" for k, v in self.extra_cfg.items() if k.startswith("znode.container.")]
        cmd = [_java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
               f"-Dlog4j.configuration=file:{conf}/log4j.properties", *props,
               "-Dzookeeper.admin.enableServer=false", "-cp", cp,
               "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(conf / "zoo.cfg")]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_ruok(self.host, self.port, timeout=timeout, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"Apache ZooKeeper did not start; log:\n{self.log()}")
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def four_letter(self, cmd: str) -> str:
        return four_letter(self.host, self.port, cmd)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ApacheZooKeeper:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
