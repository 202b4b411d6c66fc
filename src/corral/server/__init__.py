"""The asyncio server: client connections, sessions, the request pipeline, four-letter words."""

from .config import ServerConfig, load, parse
from .server import CorralServer

__all__ = ["CorralServer", "ServerConfig", "load", "parse"]
