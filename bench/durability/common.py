"""Shared pieces of the durability benchmarks: start/stop corral or Apache ZooKeeper, run zkload, probe.

Every server is started by the benchmark itself on 127.0.0.1, in its own session, and is signalled only
by the PID it was given. Every wait is bounded. The load generator and the wire probes come from the
neutral kit in /tmp/zkbench (see /work/shared/zkbench/README.md), so both servers are measured the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ZKBENCH = Path(os.environ.get("ZKBENCH", "/tmp/zkbench"))
HOST = "127.0.0.1"
sys.path.insert(0, str(ZKBENCH))
try:
    import zkproto  # the kit's raw-protocol helper: 4lw, exists/getChildren sessions, /proc readers
except ImportError:  # pragma: no cover
    sys.exit(f"cannot import zkproto from {ZKBENCH}: copy and build the kit first (see its README)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize of a process, kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "VmSize"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


class Server:
    """A server process in the foreground of its own session; `pid` is the server itself."""

    kind = "?"

    def __init__(self, port: int, datadir: Path, log: Path) -> None:
        self.port, self.datadir, self.log_path = port, Path(datadir), Path(log)
        self.proc: subprocess.Popen | None = None
        self.t0 = 0.0

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def spawn(self) -> Server:
        cmd, env = self.command()
        with open(self.log_path, "ab") as log:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **env}, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, pred, timeout: float, interval: float = 0.005) -> float | None:
        """ms since spawn when pred() first holds; None on timeout or if the server died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return (time.monotonic() - self.t0) * 1000
            if not self.alive():
                return None
            time.sleep(interval)
        return None

    def wait_imok(self, timeout: float = 600) -> float | None:
        return self.wait(lambda: zkproto.four_letter(HOST, self.port, "ruok", 0.5) == "imok", timeout)

    def wait_exists(self, path: str, timeout: float = 600) -> float | None:
        return self.wait(lambda: zkproto.try_exists(HOST, self.port, path, 1.0), timeout)

    def start(self, timeout: float = 600) -> Server:
        self.spawn()
        if self.wait_exists("/", timeout) is None:
            self.stop()
            raise RuntimeError(f"{self.kind} did not start; see {self.log_path}")
        return self

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(30)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Corral(Server):
    kind = "corral"

    def __init__(self, port: int, datadir: Path, log: Path, force_sync: bool = True, snap_count: int = 100000,
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(port, datadir, log)
        self.cfg = {"tickTime": "2000", "dataDir": str(self.datadir / "data"), "clientPort": str(port),
                    "clientPortAddress": HOST, "4lw.commands.whitelist": "*",
                    "forceSync": "yes" if force_sync else "no", "snapCount": str(snap_count), **(extra or {})}

    def command(self) -> tuple[list[str], dict[str, str]]:
        self.datadir.mkdir(parents=True, exist_ok=True)
        cfg = self.datadir / "zoo.cfg"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in self.cfg.items()))
        # As installed: Python caches the compiled bytecode of corral's modules (a shell or CI runner that
        # sets PYTHONDONTWRITEBYTECODE would have every start compile them again, ~0.1 s of a restart).
        return [str(REPO / ".venv" / "bin" / "python"), "-m", "corral", "server", str(cfg)], \
            {"PYTHONDONTWRITEBYTECODE": ""}


class Apache(Server):
    kind = "apache"

    def __init__(self, port: int, datadir: Path, log: Path, force_sync: bool = True, snap_count: int = 100000,
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(port, datadir, log)
        self.env = {"ZK_FORCESYNC": "yes" if force_sync else "no",
                    "ZK_EXTRA_CFG": "\\n".join(f"{k}={v}" for k, v in {"snapCount": str(snap_count),
                                                                        **(extra or {})}.items())}

    def command(self) -> tuple[list[str], dict[str, str]]:
        self.datadir.mkdir(parents=True, exist_ok=True)
        return [str(ZKBENCH / "start_apache_zk.sh"), str(self.port), str(self.datadir)], self.env


def make(kind: str, port: int, datadir: Path, log: Path, **kw) -> Server:
    return {"corral": Corral, "apache": Apache}[kind](port, datadir, log, **kw)


def zkload(*args: str, timeout: float = 900) -> dict[str, str]:
    """Run zkload_st and parse its key=value line (plus `rc`)."""
    exe = os.environ.get("ZKLOAD", str(ZKBENCH / "zkload_st"))
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    kv["rc"] = str(r.returncode)
    if r.returncode != 0:
        kv["stderr"] = r.stderr.strip()[-300:]
    return kv


def populate(srv: Server, n: int, root: str, size: int = 100) -> dict[str, str]:
    """Bulk-create n znodes of `size` bytes under root/p<i/1000>/n<i%1000> (zkload's layout), kept."""
    return zkload("-s", srv.hostport, "-o", "populate", "-n", str(n), "-b", str(size), "-c", "4", "--keep",
                  "-r", root, "--bulk-timeout", "1200", timeout=1500)


def last_populated(root: str, n: int) -> str:
    return f"{root}/p{(n - 1) // 1000}/n{(n - 1) % 1000}"


def count_populated(port: int, root: str) -> int:
    s = zkproto.Session(HOST, port, timeout=60)
    try:
        err, parents = s.get_children(root)
        if err:
            return -1
        total = 0
        for p in parents:
            err, kids = s.get_children(f"{root}/{p}")
            total += 0 if err else len(kids)
        return total
    finally:
        s.close()


def scratch(prefix: str) -> Path:
    base = Path(os.environ.get("BENCH_TMP", "/tmp"))
    d = base / f"{prefix}-{os.getpid()}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
