"""Run a server in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from .. import FULL_VERSION
from .config import ServerConfig
from .server import CorralServer

log = logging.getLogger("corral.server")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


async def serve(config: ServerConfig) -> None:
    server = CorralServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("event=shutdown_requested")
    await server.stop()


def run(config: ServerConfig) -> None:
    log.info("event=starting version=%s config=%s", FULL_VERSION, config.source)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(config))
    else:
        log.info("event=event_loop impl=uvloop")
        uvloop.run(serve(config))
