"""The server: the one write path (host), client connections and sessions (frontend), four-letter words."""

from .config import ServerConfig, load, parse
from .server import CorralServer

__all__ = ["CorralServer", "ServerConfig", "load", "parse"]
