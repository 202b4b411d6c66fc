"""A standalone corral server in its own process, for tests: `ServerProcess`.

Why a process (and not the in-process server) by default: a test of a user's code should see the server
as production does — a separate program that can crash (`kill()`, SIGKILL), hang (`pause()`, SIGSTOP),
restart on the same data, and whose event loop never competes with the test's own.

Only the process an object started is ever signalled, always by its PID. Everything listens on
127.0.0.1. Layout of `data_dir` (a private temporary directory unless given, removed by `close()`):
`zoo.cfg`, `data/` (the dataDir, with `version-2/` logs and snapshots) and `server.log` (the server's
output, appended across restarts with one marker line per start).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

from ._net import HOST, WaitTimeout, admin_listening, four_letter, free_port, log, parse_srvr, wait_until

if TYPE_CHECKING:
    from ..client import Client, SyncClient

NOT_SERVING = "not currently serving"
_PORT_RETRIES = 3  # a port picked free may be taken by another process before the server binds it


class ServerHandle:
    """What every testing server has, however it runs: its address, its data and clients for it."""

    host = HOST
    port: int
    data_dir: Path

    @property
    def hosts(self) -> str:
        """`"127.0.0.1:PORT"`: the connect string for kazoo, Curator or `corral.client`."""
        return f"{self.host}:{self.port}"

    def client(self, chroot: str = "", **kwargs: object) -> Client:
        """A new, unstarted `corral.client.Client` for this server: `async with srv.client() as zk:`.

        `chroot` (e.g. `"/app"`) is appended to the connect string; `kwargs` go to `Client`
        (default session timeout 10 s)."""
        from ..client import Client

        kwargs.setdefault("timeout", 10.0)
        return Client(self.hosts + chroot, **kwargs)  # type: ignore[arg-type]

    def sync_client(self, chroot: str = "", **kwargs: object) -> SyncClient:
        """A new, unstarted blocking `corral.client.SyncClient`: `with srv.sync_client() as zk:`."""
        from ..client import SyncClient

        kwargs.setdefault("timeout", 10.0)
        return SyncClient(self.hosts + chroot, **kwargs)

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        """`with` starts the server and stops it (and removes its private data) at the end; a start that
        fails cleans up too."""
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def four_letter(self, cmd: str, timeout: float = 5.0) -> str:
        """The answer to a four-letter word (`ruok`, `srvr`, `mntr`, `cons`, ...); OSError if it is down."""
        return four_letter(self.port, cmd, timeout=timeout)

    def mode(self) -> str:
        """`standalone`, `leader`, `follower` or `observer`; `not serving` or `down` otherwise."""
        try:
            text = self.four_letter("srvr", timeout=2.0)
        except OSError:
            return "down"
        if NOT_SERVING in text:
            return "not serving"
        return parse_srvr(text).get("Mode", "?")


def zoo_cfg(values: Mapping[str, object], extra_lines: Sequence[str] = ()) -> str:
    """zoo.cfg text from key/value pairs (in order) and extra lines (e.g. `server.N=...`)."""
    return "".join(f"{k}={v}\n" for k, v in values.items()) + "".join(f"{line}\n" for line in extra_lines)


class ManagedProcess:
    """A server process a test owns. Signals go only to the PID this object started; a stop escalates
    from SIGTERM to SIGKILL, so a wedged server cannot hang a test run; `wait_ready` gives up as soon as
    the process exits instead of waiting out its timeout. Subclasses say how to start it and what
    "ready" means (`_answers`)."""

    kind = "corral"
    stop_timeout = 15.0  # seconds between SIGTERM and SIGKILL
    proc: subprocess.Popen[bytes] | None = None
    paused = False

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """PID of the running (or last) server process; None before the first start."""
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process is running (a paused one is)."""
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 20000) -> str:
        """The last `tail` characters of the server's output (what a failed test shows)."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def _answers(self) -> bool:
        """The readiness probe `wait_ready` polls."""
        raise NotImplementedError

    def wait_ready(self, timeout: float) -> None:
        """Block until `_answers()`; RuntimeError with the log if the process exits or `timeout` passes."""
        proc = self.proc
        if proc is None:
            raise RuntimeError("start() first")

        def probe() -> str | bool:
            if proc.poll() is not None:
                return "exited"  # truthy: ends the wait at once
            return self._answers() and "ready"

        try:
            outcome = wait_until(probe, timeout, what=f"{self} to answer")
        except WaitTimeout as e:
            reason = str(e)
        else:
            if outcome == "ready":
                return
            reason = f"exited with code {proc.returncode}"
        self.stop()
        raise RuntimeError(f"{self.kind} did not start: {reason}; log {self.log_path}:\n{self.log(6000)}")

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)  # only the PID this object started

    def stop(self, timeout: float | None = None) -> None:
        """Clean shutdown: SIGTERM (resuming a paused server), SIGKILL after `timeout` s. Idempotent."""
        if not self.alive:
            return
        assert self.proc is not None
        self._signal(signal.SIGTERM)
        if self.paused:  # a stopped process acts on SIGTERM only once continued
            self.resume()
        try:
            self.proc.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        log.info("event=server_stopped kind=%s pid=%d code=%s", self.kind, self.proc.pid, self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown (idempotent). The data survives for a restart."""
        if not self.alive:
            return
        assert self.proc is not None
        self._signal(signal.SIGKILL)
        self.proc.wait(30)
        self.paused = False
        log.info("event=server_killed kind=%s pid=%d", self.kind, self.proc.pid)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing (a hung server, a long GC pause)."""
        if self.alive:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        if self.alive:
            self._signal(signal.SIGCONT)
        self.paused = False


class ServerProcess(ServerHandle, ManagedProcess):
    """A corral server process (`python -m corral server zoo.cfg`) on 127.0.0.1 with a private dataDir.

    Args:
        data_dir: where zoo.cfg, the dataDir and server.log go; default a temporary directory that
            `close()` removes.
        port: client port; default a free one (re-picked if another process takes it first).
        tick_time: ZooKeeper's tickTime in ms. Session timeouts are clamped to 2..20 ticks, so a small
            tick gives fast session expiry in tests.
        extra_cfg: more zoo.cfg keys (`{"extendedTypesEnabled": "true"}`); they win over the defaults.
        python: the interpreter that runs the server (default: this one, which has corral installed).
        start_timeout: seconds `start()` waits for the server to answer before it fails.

    Use as a context manager (`with ServerProcess() as srv:` starts and closes it), or call `start()`
    and `close()`. Only the PID this object started is ever signalled.
    """

    kind = "corral"

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None, tick_time: int = 2000,
                 extra_cfg: Mapping[str, object] | None = None, *, python: str | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 15.0) -> None:
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix="corral-testing-")
        self.data_dir = Path(data_dir if data_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.tick_time = tick_time
        self.extra_cfg: dict[str, object] = dict(extra_cfg or {})
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hosts} pid={self.pid} dir={self.data_dir}>"

    # ---- what tests read --------------------------------------------------------------------------

    @property
    def cfg_path(self) -> Path:
        """`data_dir/zoo.cfg`, rewritten at each start."""
        return self.data_dir / "zoo.cfg"

    @property
    def log_path(self) -> Path:
        """`data_dir/server.log`: the server's stdout and stderr, kept across restarts."""
        return self.data_dir / "server.log"

    def config(self) -> dict[str, object]:
        """The zoo.cfg keys: defaults for a private test server, then `extra_cfg` (which wins)."""
        return {
            "tickTime": self.tick_time,
            "dataDir": self.data_dir / "data",
            "clientPort": self.port,
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": "*",
            # Off unless asked for (extra_cfg): parallel test servers would all want port 8080.
            "admin.enableServer": "false",
            **self.extra_cfg,
        }

    def config_text(self) -> str:
        """The zoo.cfg written before each start (a subclass adds lines, e.g. an ensemble's server.N)."""
        return zoo_cfg(self.config())

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float | None = None) -> Self:
        """Start the server; with `wait` block until it answers `ruok` and serves.

        A start that fails (the process exits, or no answer within `timeout`) stops the process and
        raises RuntimeError carrying the log tail. A server on an automatically chosen port that lost
        its port to another process is started again on a new one."""
        if self.alive:
            raise RuntimeError(f"{self} is already running")
        for attempt in range(_PORT_RETRIES):
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(self.start_timeout if timeout is None else timeout)
                return self
            except RuntimeError as e:
                if self._fixed_port or "already in use" not in str(e).lower() or attempt == _PORT_RETRIES - 1:
                    raise
                log.info("event=port_taken port=%d retry=%d", self.port, attempt + 1)
                self.port = free_port()
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        self.cfg_path.write_text(self.config_text())
        with open(self.log_path, "ab") as out:
            out.write(f"\n==== corral.testing: starting on {self.hosts} at {time.time():.3f} ====\n".encode())
            out.flush()
            self.proc = subprocess.Popen([self.python, "-m", "corral", "server", str(self.cfg_path)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        self.paused = False
        log.info("event=server_started pid=%d port=%d dir=%s", self.proc.pid, self.port, self.data_dir)

    def _answers(self) -> bool:
        return self.ready() and admin_listening(self.config())

    def ready(self) -> bool:
        """Whether the server answers `ruok` and says it serves."""
        return self.four_letter("ruok", timeout=1.0) == "imok" and \
            NOT_SERVING not in self.four_letter("srvr", timeout=1.0)

    def restart(self, *, hard: bool = False, wait: bool = True, timeout: float | None = None) -> Self:
        """Stop (or with `hard`, SIGKILL) and start again on the same dataDir and port: the data survives."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(wait=wait, timeout=timeout)

    def close(self) -> None:
        """Stop the server and remove the data directory if it is a private temporary one."""
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

