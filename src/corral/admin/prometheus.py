"""`/metrics` in Prometheus' text format, as Apache ZooKeeper's PrometheusMetricsProvider serves it.

Why the ZooKeeper families are written here rather than through prometheus_client's metric classes:
Apache's provider uses the Java simpleclient 0.9, which exposes a counter named `packets_received` as
exactly that, while prometheus_client renames every counter to `<name>_total` (and adds `_created`
series). ZooKeeper's Grafana dashboards query the Apache names, so corral writes those families in
simpleclient 0.9's shape: gauges and counters as one sample, summaries as `{quantile=...}` samples plus
`_count` and `_sum` (quantile 0.5 for basic summaries, 0.5/0.9/0.99 for advanced ones; NaN before the
first observation), summary sets with a `key` label. prometheus_client still supplies the process
metrics (`process_*`, as Apache's JVM exporter has them), the platform info and number formatting.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString as _go_float

from ..server.measures import Summary
from ..server.metrics import ADVANCED_QUANTILES, BASIC_QUANTILES, families
from .http import Site

if TYPE_CHECKING:
    from ..server.server import CorralServer

log = logging.getLogger("corral.admin")


def floatToGoString(v: float) -> str:
    return str(_go_float(v))  # type: ignore[no-untyped-call]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(10), "").replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in labels.items())
    return "{" + inner + "}"


def _summary_lines(name: str, s: Summary, labels: dict[str, str]) -> list[str]:
    out = []
    for q in ADVANCED_QUANTILES if s.advanced else BASIC_QUANTILES:
        out.append(f"{name}{_labels({**labels, 'quantile': floatToGoString(q)})} {floatToGoString(s.quantile(q))}")
    out.append(f"{name}_count{_labels(labels)} {floatToGoString(s.count)}")
    out.append(f"{name}_sum{_labels(labels)} {floatToGoString(s.total)}")
    return out


def zookeeper_text(srv: CorralServer) -> str:
    """The ZooKeeper families, in the order mntr shows them."""
    lines: list[str] = []
    for f in families(srv):
        lines.append(f"# HELP {f.name} {f.name}")
        lines.append(f"# TYPE {f.name} {f.kind}")
        if f.keyed is not None:
            lines += [f"{f.name}{_labels({'key': k})} {floatToGoString(v)}" for k, v in f.keyed.items()]
        elif f.kind != "summary":
            lines.append(f"{f.name} {floatToGoString(f.value)}")
        elif f.summary is not None:
            lines += _summary_lines(f.name, f.summary, {})
        else:
            for key, s in f.labelled.items():
                lines += _summary_lines(f.name, s, {"key": key})
    return "\n".join(lines) + "\n"


class MetricsServer:
    """`GET /metrics` on metricsProvider.httpHost:httpPort (Apache's defaults: 0.0.0.0:7000)."""

    def __init__(self, srv: CorralServer, address: str, port: int) -> None:
        self.srv = srv
        self.process = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.process)
        PlatformCollector(registry=self.process)
        app = web.Application(client_max_size=16 * 1024)
        app.router.add_get("/metrics", self._metrics)
        self.site = Site("metrics_server", app, address, port)

    def text(self) -> str:
        return zookeeper_text(self.srv) + generate_latest(self.process).decode()

    async def start(self) -> bool:
        ok = await self.site.start()
        if ok:
            log.info("event=metrics_server_started url=http://%s:%d/metrics", self.site.address, self.site.port)
        return ok

    async def stop(self) -> None:
        await self.site.stop()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.text().encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
