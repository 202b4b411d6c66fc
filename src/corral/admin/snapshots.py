"""Apache ZooKeeper 3.9's `snapshot` and `restore` admin commands, behind the authentication Apache
requires for them (`auth.py`) and its rate limits.

`snapshot` (GET, alias `snap`): takes a snapshot now and streams the file (`?streaming=false`: the JSON
answer only), with the headers `last_zxid: 0x<hex>` and `snapshot_size: <bytes>`. corral's snapshot is
written by a forked child as usual (the event loop never serialises the tree); the command waits for
it, so the file is exactly the tree at that zxid, in Apache's format.

`restore` (POST, alias `rest`): Apache replaces the running server's in-memory database with the
snapshot in the request body and answers the restored `last_zxid`. corral answers it as Apache answers
a server that does not allow it (`admin.restore.enabled=false`): 503. See docs/operations.md.

Rate limit, as Apache's (util/RateLimiter: one request per interval, counted from the last reset):
Apache's snapshot command reads `admin.rateLimiterIntervalInMS` (default 300000) as microseconds, so
snapshots are limited to one per 300 ms by default, and corral reads it the same way. A refused request
is 429 and counts in `snapshot_rate_limited_count`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from . import auth
from .commands import BY_NAME, NOT_SERVING

if TYPE_CHECKING:
    from ..server.server import CorralServer

log = logging.getLogger("corral.admin")
JSON = "application/json"


class RateLimiter:
    """Apache's RateLimiter: `rate` requests per `interval_ms`, the window restarting at the first
    request after it ends."""

    def __init__(self, rate: int, interval_ms: float) -> None:
        self.rate = rate
        self.interval_ms = interval_ms
        self.last_reset = time.monotonic() * 1000
        self.remaining = rate

    def allow(self) -> bool:
        now = time.monotonic() * 1000
        if now > self.last_reset + self.interval_ms:
            self.remaining = self.rate
            self.last_reset = now
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return False


def _json(name: str, status: int, error: str | None = None, headers: dict[str, str] | None = None,
          **fields: object) -> web.Response:
    body = {"command": name, "error": error, **fields}
    return web.Response(text=json.dumps(body, indent=2), content_type=JSON, status=status, headers=headers)


def _bool_param(value: str | None, default: bool) -> bool:
    """Boolean.parseBoolean: "true" in any case is true, anything else false."""
    return default if value is None else value.lower() == "true"


class SnapshotCommands:
    """The two commands of one AdminServer, with their rate limiters."""

    def __init__(self, srv: CorralServer) -> None:
        self.srv = srv
        # Apache's snapshot command builds its limiter with TimeUnit.MICROSECONDS (restore: MILLISECONDS,
        # never reached in corral, see _restore).
        self.snapshot_limiter = RateLimiter(1, srv.config.admin_rate_limit_interval / 1000)

    async def handle(self, request: web.Request, name: str) -> web.StreamResponse:
        """`name` is snapshot/snap (GET) or restore/rest (POST): the checks Commands.runCommand makes,
        in its order, then the command."""
        cmd = BY_NAME[name]
        srv = self.srv
        if request.method not in cmd.methods:
            return _json(name, 405, f"{cmd.primary} is answered to {' and '.join(cmd.methods)}",
                         headers={"Allow": ", ".join(cmd.methods)})
        if not srv.serving:
            return _json(name, 200, NOT_SERVING)
        root = srv.tree.get("/")
        try:
            outcome = auth.check(request.headers.get("Authorization"), root.acl if root is not None else (),
                                 srv.security.schemes, request.remote or "", srv.config.super_digest,
                                 srv.config.skip_acl)
        except Exception:  # as Apache: any other failure of the check is a 500, never a way in
            log.exception("event=admin_auth_failed command=%s", cmd.primary)
            return _json(name, 500, "Error occurred during auth")
        if outcome.status != 200:
            log.warning("event=admin_auth_refused command=%s peer=%s status=%d", cmd.primary, request.remote,
                        outcome.status)
            return _json(name, outcome.status, outcome.error)
        if cmd.primary == "snapshot":
            return await self._snapshot(request)
        return self._restore()

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        srv = self.srv
        m = srv.metrics
        if not srv.config.admin_snapshot_enabled:
            return _json("snapshot", 503)
        if not self.snapshot_limiter.allow():
            m.snapshot_rate_limited_count.value += 1
            log.warning("event=admin_snapshot_rate_limited peer=%s", request.remote)
            return _json("snapshot", 429)
        streaming = _bool_param(request.query.get("streaming"), True)
        try:
            path = await srv.storage.snapshot_file(lambda: srv.tree)
            size = path.stat().st_size
        except OSError as e:
            m.snapshot_error_count.value += 1
            log.error("event=admin_snapshot_failed reason=%s", str(e).replace(" ", "_"))
            return _json("snapshot", 500)
        zxid = int(path.name.split(".", 1)[1], 16)
        headers = {"last_zxid": f"0x{zxid:x}", "snapshot_size": str(size)}
        log.info("event=admin_snapshot file=%s zxid=0x%x bytes=%d peer=%s streaming=%s", path, zxid, size,
                 request.remote, streaming)
        if size == 0:
            m.snapshot_error_count.value += 1
            return _json("snapshot", 500, headers=headers)
        if not streaming:
            return _json("snapshot", 200, headers=headers)
        return web.FileResponse(path, headers={**headers, "Content-Type": "application/octet-stream"})

    def _restore(self) -> web.Response:
        """503, Apache's answer when restore is disabled (its first check after authentication).

        corral cannot yet replace a running server's tree: that needs the write path (server/host.py)
        to hold new requests, drop its prepared state and rebuild session expiry around the new tree,
        and a snapshot at the current zxid so that a restart keeps the restored state (Apache keeps it
        in memory only). Until then every restore is refused, disabled or not, and the body is not read."""
        reason = "disabled" if not self.srv.config.admin_restore_enabled else "not_supported"
        log.warning("event=admin_restore_refused reason=%s", reason)
        return _json("restore", 503)
