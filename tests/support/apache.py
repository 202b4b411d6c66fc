"""Where the reference Apache ZooKeeper (Debian packages `zookeeper`, `zookeeper-bin`) and Java live, and
`require()`: what a test does when they are missing.

When the package is missing the tests that need it skip with how to install it; under CI (`CI=true`)
a missing reference fails instead, so CI can never go green without comparing. The server process itself
is run by `tests/support/server.py` (`ApacheZooKeeper`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
CLASSPATH_EXTRA = ["/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"]
# The jar's manifest names Jetty but not the servlet API Jetty needs; without it the AdminServer does not start.
ADMIN_CLASSPATH = ["/usr/share/java/servlet-api.jar"]
# Netty's codec and TLS handler: Debian's zookeeper.jar manifest names only part of Netty, and the
# Netty server connection factory (secureClientPort) needs these (the security tests).
CLASSPATH_EXTRA += [f"/usr/share/java/netty-{m}.jar" for m in ("codec", "handler", "buffer", "common", "transport",
                                                                "resolver")
                    if Path(f"/usr/share/java/netty-{m}.jar").exists()]
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
INSTALL_HINT = "install with: sudo apt-get install -y zookeeper zookeeper-bin (or run `make test-deps`)"


def _java() -> str | None:
    for cand in ("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", shutil.which("java")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def require(what: str, present: bool, hint: str = INSTALL_HINT) -> None:
    """Skip (or fail under CI) when a reference component is missing."""
    if present:
        return
    msg = f"{what} is not installed; {hint}"
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
