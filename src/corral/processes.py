"""Whether a process is still running, for files and commands that record a pid."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int | None) -> bool:
    """Whether process `pid` is running. A zombie (exited, not yet reaped by its parent) is not."""
    if pid is None or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: ask the kernel directly
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str] | None:
    """The arguments process `pid` was started with, or None when they cannot be read (no procfs, gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


# `corral server` records its pid here, inside its dataDir (as zkServer.sh writes zookeeper_server.pid
# there), so that tools can name the process serving a data directory even when they did not start it.
PID_FILE = "corral_server.pid"


def write_pid_file(data_dir: Path) -> Path | None:
    """Write this process's pid to `data_dir/PID_FILE`; None (nothing written) when the directory does not
    exist yet or cannot be written: the pid file is informational and must never stop a server."""
    path = data_dir / PID_FILE
    if not data_dir.is_dir():
        return None
    try:
        tmp = path.with_name(f"{PID_FILE}.{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(path)
    except OSError:
        return None
    return path


def remove_pid_file(path: Path | None) -> None:
    """Remove a pid file written by `write_pid_file`, only if it still names this process (another server
    started on the same dataDir since then owns it now)."""
    if path is None or read_pid_file(path.parent) != os.getpid():
        return
    try:
        path.unlink()
    except OSError:
        pass


def read_pid_file(data_dir: Path) -> int | None:
    """The pid recorded in `data_dir/PID_FILE`, or None (no file, unreadable, not a number)."""
    try:
        return int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
