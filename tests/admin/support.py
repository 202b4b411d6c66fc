"""HTTP helpers for the AdminServer tests: servers with their AdminServer (and /metrics) on free ports,
GET/other methods with the standard library, and the normalisation of values that differ by nature."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.support.net import HOST, free_port
from tests.support.server import ServerProcess, make_server


def admin_server(kind: str, prometheus: bool = False) -> tuple[ServerProcess, int, int | None]:
    """A started server of `kind` with its AdminServer on a free port (and, for corral, /metrics)."""
    admin = free_port()
    cfg = {"admin.enableServer": "true", "admin.serverAddress": HOST, "admin.serverPort": str(admin)}
    metrics = None
    if prometheus:
        metrics = free_port()
        cfg.update({"prometheus.enable": "true", "metricsProvider.httpHost": HOST,
                    "metricsProvider.httpPort": str(metrics)})
    return make_server(kind, extra_cfg=cfg), admin, metrics


def request(port: int, method: str, path: str, timeout: float = 10.0,
            headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of one HTTP request to 127.0.0.1:port (with `body`, if given)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def command(port: int, name: str) -> dict[str, Any]:
    status, ctype, body = request(port, "GET", f"/commands/{name}")
    assert status == 200, (name, status, body)
    assert ctype.startswith("application/json"), (name, ctype)
    out = json.loads(body)
    assert isinstance(out, dict)
    return out


def shape(value: Any) -> Any:
    """The structure of a JSON value with the values themselves left out: dicts keep their keys
    (maps keyed by session id, path or time collapse to one representative entry), lists their element
    shape, scalars their JSON type (ints and floats are both "number": Jackson writes 0.0 for an average
    that Python may write as 0)."""
    if isinstance(value, dict):
        if value and all(k.lstrip("-").isdigit() or k.startswith("/") for k in value):
            # The first entry whose shape says something: Apache's expiry buckets may be momentarily
            # empty (ExpiryQueue drops an emptied bucket only when its time comes).
            shapes = [shape(v) for v in value.values()]
            return {"<key>": next((s for s in shapes if s != []), shapes[0])}
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def session_ids(value: Any, ids: dict[int, str]) -> Any:
    """Session ids (as numbers and as map keys) replaced by their order of appearance."""
    if isinstance(value, dict):
        return {str(session_ids(int(k), ids)) if k.isdigit() and int(k) in ids else k: session_ids(v, ids)
                for k, v in value.items()}
    if isinstance(value, list):
        return [session_ids(v, ids) for v in value]
    if isinstance(value, int) and value in ids:
        return ids[value]
    return value
