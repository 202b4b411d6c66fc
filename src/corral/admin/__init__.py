"""Operations over HTTP: ZooKeeper's AdminServer (`http.py`, its commands in `commands.py`) and the
Prometheus `/metrics` endpoint (`prometheus.py`), both on the server's own event loop."""

from .http import AdminServer
from .prometheus import MetricsServer

__all__ = ["AdminServer", "MetricsServer"]
