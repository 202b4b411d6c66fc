"""`corral config check FILE`: the server's own configuration checks, without starting a server.

It loads FILE exactly as `corral server FILE` does (with the -D flags of SERVER_JVMFLAGS/JVMFLAGS, and
an ensemble member's myid), so a file that passes here fails later only for what needs a running
process (a port already taken, a dataDir locked by a live server). Errors are the server's one line and
exit code 2; success prints one summary line (and, with --explain, every effective setting and where it
came from: FILE:LINE, $SERVER_JVMFLAGS/$JVMFLAGS, or default).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import fail


def _dir_problem(key: str, path: Path) -> str | None:
    """What can be told about a data directory without creating or locking it."""
    if path.exists() and not path.is_dir():
        return f"{key}={path}: not a directory"
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        return f"{key}={path}: not writable"
    return None


@click.group("config")
def config_cmd() -> None:
    """Check zoo.cfg files."""


@config_cmd.command("check")
@click.argument("file")
@click.option("--explain", is_flag=True, help="Also print every effective setting and where it came from.")
def check(file: str, explain: bool) -> None:
    """Validate FILE (zoo.cfg syntax) as `corral server FILE` would, without starting a server."""
    from ..server.config import ConfigError, load
    from ..server.config import explain as explain_lines
    from ..server.main import setup_logging

    setup_logging("WARNING")
    try:
        cfg = load(file)
    except ConfigError as e:
        fail("bad configuration", e)
    for key, path in (("dataDir", cfg.data_dir), ("dataLogDir", cfg.log_dir)):
        problem = _dir_problem(key, path)
        if problem:
            fail("bad data directory", problem)
    voters = sum(1 for s in cfg.servers.values() if not s.observer)
    if cfg.is_ensemble:
        role = "observer" if cfg.servers[cfg.my_id or 0].observer else "participant"
        mode = (f"ensemble member {cfg.my_id} ({role}) of {voters} voters and "
                f"{len(cfg.servers) - voters} observers")
    else:
        mode = "standalone"
    click.echo(f"{file}: OK: {mode}, clients on {cfg.client_port_address}:{cfg.client_port}, "
               f"dataDir={cfg.data_dir}, dataLogDir={cfg.log_dir}")
    if explain:
        for line in explain_lines(cfg):
            click.echo(line)
    sys.exit(0)
