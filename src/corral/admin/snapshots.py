"""Apache ZooKeeper 3.9's `snapshot` and `restore` admin commands, behind the authentication Apache
requires for them (`auth.py`) and its rate limits.

`snapshot` (GET, alias `snap`): takes a snapshot now and streams the file (`?streaming=false`: the JSON
answer only), with the headers `last_zxid: 0x<hex>` and `snapshot_size: <bytes>`. corral's snapshot is
written by a forked child as usual (the event loop never serialises the tree); the command waits for
it, so the file is exactly the tree at that zxid, in Apache's format.

`restore` (POST, alias `rest`): replaces the running server's tree with the snapshot in the request
body and answers `last_zxid`, the zxid the snapshot was taken at (Apache's answer). How the server
switches, durably and without going back in zxids, and why only a standalone server does it:
server/restore.py. Apache's answers: 503 when `admin.restore.enabled=false`, 429 when rate limited,
500 when the stream is not a valid snapshot (counted in `restore_error_count`); corral also answers
503 on an ensemble member. See docs/operations.md.

Rate limits, as Apache's (util/RateLimiter: one request per interval, counted from the last reset):
Apache's snapshot command reads `admin.rateLimiterIntervalInMS` (default 300000) as microseconds, so
snapshots are limited to one per 300 ms by default, and corral reads it the same way; its restore
command reads it as milliseconds (one restore per 5 minutes by default). A refused request is 429 and
counts in `snapshot_rate_limited_count` / `restore_rate_limited_count`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ..persistence.snapshot import SnapshotCorruptError, parse_snapshot
from ..server import memory
from ..server.restore import RestoreRefused, restore_tree
from . import auth
from .commands import BY_NAME, NOT_SERVING

if TYPE_CHECKING:
    from ..server.server import CorralServer

log = logging.getLogger("corral.admin")
JSON = "application/json"
BODY_IDLE_SECONDS = 60  # a restore upload that sends nothing for this long is abandoned


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
        # Apache's snapshot command builds its limiter with TimeUnit.MICROSECONDS, restore MILLISECONDS.
        self.snapshot_limiter = RateLimiter(1, srv.config.admin_rate_limit_interval / 1000)
        self.restore_limiter = RateLimiter(1, srv.config.admin_rate_limit_interval)
        self.restore_lock = asyncio.Lock()  # one restore at a time, even with no rate limit

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
        return await self._restore(request)

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

    async def _restore(self, request: web.Request) -> web.Response:
        """RestoreCommand.runPost's checks in its order, then the restore. The body is read in chunks
        (the admin app's 64 KiB request limit is for commands, not snapshots) and parsed as Apache's
        ZKDatabase.deserializeSnapshot reads it: header, tree, and every checksum must be right."""
        srv = self.srv
        m = srv.metrics
        if not srv.config.admin_restore_enabled:
            log.warning("event=admin_restore_refused reason=disabled")
            return _json("restore", 503)
        if srv.host.ensemble:
            log.warning("event=admin_restore_refused reason=ensemble detail=%s",
                        "a member cannot replace its tree alone; restore a standalone server")
            return _json("restore", 503)
        if not self.restore_limiter.allow():
            m.restore_rate_limited_count.value += 1
            log.warning("event=admin_restore_rate_limited peer=%s", request.remote)
            return _json("restore", 429)
        async with self.restore_lock:
            body = bytearray()
            try:
                while chunk := await asyncio.wait_for(request.content.read(1 << 20), BODY_IDLE_SECONDS):
                    body += chunk
            except (TimeoutError, ConnectionError) as e:  # a stalled or broken upload restores nothing
                return self._restore_failed(request, f"reading the snapshot: {type(e).__name__}")
            try:
                with memory.bulk_load():
                    snap = parse_snapshot(bytes(body), None, "<restore request>")
            except Exception as e:  # any failure to read the stream is a bad stream: Apache's 500
                return self._restore_failed(request, e if isinstance(e, SnapshotCorruptError) else
                                            f"{type(e).__name__}: {e}")
            del body
            try:
                zxid = await restore_tree(srv, snap.tree)
            except (RestoreRefused, OSError) as e:
                return self._restore_failed(request, e.reason if isinstance(e, RestoreRefused) else e)
        log.info("event=admin_restore snapshot_zxid=0x%x zxid=0x%x peer=%s", snap.zxid, zxid, request.remote)
        return _json("restore", 200, last_zxid=snap.zxid)

    def _restore_failed(self, request: web.Request, reason: object) -> web.Response:
        self.srv.metrics.restore_error_count.value += 1
        log.warning("event=admin_restore_failed peer=%s reason=%r", request.remote, str(reason)[:300])
        return _json("restore", 500)
