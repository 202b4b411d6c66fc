"""Run a server in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from .. import FULL_VERSION
from ..persistence.lock import DataDirLock, lock_data_dirs
from ..processes import remove_pid_file, write_pid_file
from ..security import audit as audit_ops
from ..security.audit import AuditLog
from . import memory
from .config import ServerConfig
from .logs import setup_logging

__all__ = ["run", "serve", "setup_logging"]
from .server import CorralServer

log = logging.getLogger("corral.server")


def audit_start_failure(config: ServerConfig) -> None:
    """ZKAuditProvider.addServerStartFailureAuditLog: a server that was asked to audit and could not
    start (data directory, recovery, a port in use) says so in the audit log, as Apache's does. Best
    effort: the audit log may live in the very directory that failed."""
    if not config.audit_enable:
        return
    try:
        audit = AuditLog((config.log_dir_audit or config.data_dir) / config.audit_file)
    except OSError as e:
        log.warning("event=audit_unavailable reason=%s", e)
        return
    audit.server_event(audit_ops.OP_START, "failure")
    audit.close()


async def serve(config: ServerConfig, dir_lock: DataDirLock | None = None) -> int:
    try:
        server = CorralServer(config, dir_lock)
    except Exception:
        audit_start_failure(config)
        raise
    try:
        await server.start()
    except Exception:
        if server.audit is not None:
            server.audit.server_event(audit_ops.OP_START, "failure")
        raise
    memory.serving()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop)
    await server.wait_stopped()
    log.info("event=shutdown_requested")
    await server.stop()
    return server.exit_code


def run(config: ServerConfig) -> int:
    """Serve until told to stop. The data directories are checked and locked first, before anything is
    logged, so that a bad or busy dataDir is the one line the CLI prints (DataDirError)."""
    try:
        dir_lock = lock_data_dirs(config.data_dir, config.log_dir, config.data_dir_autocreate)
    except Exception:
        audit_start_failure(config)
        raise
    # dataDir/corral_server.pid names this process (as zkServer.sh's zookeeper_server.pid), so that
    # `corral ensemble status` can show the pid of a member restarted by hand. Written only once the lock
    # is ours: a second server refused on the same dataDir must not overwrite it. Removed on a clean exit.
    pid_file = write_pid_file(config.data_dir)
    log.info("event=starting version=%s config=%s dataDir=%s dataLogDir=%s", FULL_VERSION, config.source,
             config.data_dir, config.log_dir)
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            return asyncio.run(serve(config, dir_lock))
        log.info("event=event_loop impl=uvloop")
        return uvloop.run(serve(config, dir_lock))
    finally:
        remove_pid_file(pid_file)
