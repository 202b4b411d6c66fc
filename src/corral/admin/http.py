"""ZooKeeper's AdminServer over HTTP (aiohttp, on the server's own event loop), and the small site
helper that Prometheus' `/metrics` listener shares.

Why on the server's loop: a command reads the live tree, sessions and connections; running it on the
loop that owns them needs no locks and sees one consistent moment (a thread would race the apply loop).
Commands are cheap reads, so they do not hold up clients for long.

HTTP behaviour follows Apache 3.9's JettyAdminServer: `GET <commandURL>` lists the commands as links,
`GET <commandURL>/<name>?key=value` answers the command's JSON with status 200 (an unknown command too,
with its `error`, and a POST of one); `snapshot` (GET) and `restore` (POST) are protected and answered
by `snapshots.py`; POST to any other command, and other methods, are 405. A request line or header over
8 KiB is 400 (aiohttp's limit; Jetty answers 414/431). If the port cannot be bound the server logs one
line and keeps serving clients, as ZooKeeper does.

`AdminServer.add_subapp(prefix, app)` mounts another aiohttp application (the web console) on the same
listener; it must be called before `start()`.
"""

from __future__ import annotations

import html
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from . import commands
from .snapshots import SnapshotCommands

if TYPE_CHECKING:
    from ..server.server import CorralServer

log = logging.getLogger("corral.admin")

MAX_LINE = 8190  # request line and each header, bytes (aiohttp's default, stated so tests can rely on it)
JSON = "application/json"


class Site:
    """One aiohttp application on one address: started and stopped with the server; a port that cannot
    be bound is one log line (`event=<what>_not_started`), never a failed server."""

    def __init__(self, what: str, app: web.Application, address: str, port: int) -> None:
        self.what = what
        self.app = app
        self.address = address
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> bool:
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                               max_line_size=MAX_LINE, max_field_size=MAX_LINE)
        await runner.setup()
        site = web.TCPSite(runner, self.address, self.port, reuse_address=True, backlog=128)
        try:
            await site.start()
        except OSError as e:
            log.error("event=%s_not_started address=%s port=%d reason=%s", self.what, self.address, self.port,
                      (e.strerror or str(e)).replace(" ", "_"))
            await runner.cleanup()
            return False
        self._runner = runner
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class AdminServer:
    """The AdminServer of one CorralServer: `<commandURL>` and `<commandURL>/<name>`."""

    def __init__(self, srv: CorralServer, address: str, port: int, command_url: str = "/commands") -> None:
        self.srv = srv
        self.command_url = command_url.rstrip("/") or ""
        self.app = web.Application(client_max_size=64 * 1024)
        base = self.command_url
        self.app.router.add_get(base or "/", self._links)
        if base:
            self.app.router.add_get(base + "/", self._links)
        self.app.router.add_get(base + "/{name:.+}", self._command)
        self.app.router.add_post(base + "/{name:.+}", self._post)
        self.site = Site("admin_server", self.app, address, port)
        self.snapshots = SnapshotCommands(srv)

    def add_subapp(self, prefix: str, app: web.Application) -> None:
        """Serve `app` under `prefix` (e.g. "/console/") on this listener; call before `start()`.

        A prefix equal to (or under) the command URL is refused: the commands keep their URLs."""
        prefix = "/" + prefix.strip("/")
        if prefix == "/" or (self.command_url and (prefix + "/").startswith(self.command_url + "/")):
            raise ValueError(f"cannot mount an application at {prefix!r}: it would hide the admin commands")
        target = prefix + "/"

        async def to_slash(request: web.Request) -> web.StreamResponse:
            # The mounted page's URLs are relative: "/console" must become "/console/". Registered
            # first: the sub-application's resource would otherwise answer the bare prefix with 404.
            raise web.HTTPFound(target)

        self.app.router.add_get(prefix, to_slash)
        self.app.add_subapp(prefix, app)

    async def start(self) -> bool:
        ok = await self.site.start()
        if ok:
            log.info("event=admin_server_started url=http://%s:%d%s", self.site.address, self.site.port,
                     self.command_url or "/")
        return ok

    async def stop(self) -> None:
        await self.site.stop()

    # ---- handlers --------------------------------------------------------------------------------

    async def _links(self, request: web.Request) -> web.Response:
        names = sorted(c.primary for c in commands.COMMANDS)
        body = "".join(f'<a href="{html.escape(self.command_url)}/{n}">{n}</a>\n<br/>\n' for n in names)
        return web.Response(text=body, content_type="text/html")

    async def _command(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        cmd = commands.BY_NAME.get(name)
        if cmd is not None and cmd.run is None:
            return await self.snapshots.handle(request, name)
        kwargs = {k: request.query.getone(k) for k in request.query}
        try:
            out = commands.run(self.srv, name, kwargs)
        except Exception as e:  # a monitoring command must never take the server down
            log.exception("event=admin_command_failed command=%s", name[:100])
            out = {"command": name, "error": f"command failed: {type(e).__name__}"}
            return web.Response(text=json.dumps(out, indent=2), content_type=JSON, status=500)
        log.debug("event=admin_command command=%s peer=%s error=%s", name[:100], request.remote,
                  out.get("error") is not None)
        return web.Response(text=json.dumps(out, indent=2), content_type=JSON)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        cmd = commands.BY_NAME.get(name)
        if cmd is None:  # as Apache 3.9's runPostCommand
            out = {"command": name, "error": f"Unknown command: {name}"}
            return web.Response(text=json.dumps(out, indent=2), content_type=JSON)
        if cmd.run is None:
            return await self.snapshots.handle(request, name)
        out = {"command": name, "error": f"{cmd.primary} is answered to GET"}
        return web.Response(text=json.dumps(out, indent=2), content_type=JSON, status=405,
                            headers={"Allow": "GET, HEAD"})
