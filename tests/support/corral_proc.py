"""A corral server in its own process, started by the test that needs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .net import four_letter, free_port, wait_for_ruok


class CorralProcess:
    """Runs `python -m corral server zoo.cfg` on 127.0.0.1 with a private dataDir.

    The same shape as the Apache ZooKeeper helper (`tests/support/apache.py`) so that one test body can
    run against either server.
    """

    kind = "corral"

    def __init__(self, data_dir: str | None = None, port: int | None = None, tick_time: int = 2000,
                 extra_cfg: dict[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="corral-test-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.tick_time = tick_time
        self.extra_cfg = dict(extra_cfg or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def write_config(self) -> Path:
        cfg = {
            "tickTime": str(self.tick_time),
            "dataDir": str(self.data_dir / "data"),
            "clientPort": str(self.port),
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": "*",
        }
        cfg.update(self.extra_cfg)
        path = self.data_dir / "zoo.cfg"
        path.write_text("".join(f"{k}={v}\n" for k, v in cfg.items()))
        return path

    def start(self, timeout: float = 30.0) -> CorralProcess:
        # A second start would orphan the running server (`with CorralProcess() as s` already starts it).
        assert self.proc is None or self.proc.poll() is not None, "this server is already running"
        cfg = self.write_config()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "corral", "server", str(cfg)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_ruok(self.host, self.port, timeout=timeout, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"corral did not start; log:\n{self.log()}")
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def four_letter(self, cmd: str) -> str:
        return four_letter(self.host, self.port, cmd)

    def kill(self) -> None:
        """kill -9: no clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> CorralProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
