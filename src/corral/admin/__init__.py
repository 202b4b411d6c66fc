"""Operations over HTTP: ZooKeeper's AdminServer (`http.py`, its commands in `commands.py`) and the
Prometheus `/metrics` endpoint (`prometheus.py`), both on the server's own event loop.

The two are imported on first use (module `__getattr__`): prometheus-client costs a server about 14 MB
of RSS, paid only where `metricsProvider` asks for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import AdminServer
    from .prometheus import MetricsServer

__all__ = ["AdminServer", "MetricsServer"]


def __getattr__(name: str) -> Any:
    if name == "AdminServer":
        from .http import AdminServer

        return AdminServer
    if name == "MetricsServer":
        from .prometheus import MetricsServer

        return MetricsServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
