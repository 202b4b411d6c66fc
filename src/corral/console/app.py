"""`console_app(cfg)`: the web console as an aiohttp application, to mount into a server's HTTP
server (`parent.add_subapp("/console/", console_app(cfg))`) or to serve alone (`python -m corral.console`).

Every URL the page uses is relative, so the app works under any prefix. Reads go through the browser's
ZooKeeper session (the shared anonymous one until it logs in); writes need a logged-in session, the
console's `writes` setting, and pass `security.check_write_request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from ..client import Client
from ..client.errors import (
    AuthFailedError,
    BadArgumentsError,
    BadVersionError,
    ClientClosedError,
    ConnectionLossError,
    InvalidACLError,
    KeeperError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    QuotaExceededError,
    SessionExpiredError,
)
from ..probe import NotAllowed, ProbeError, parse_cons, parse_wchc, send_word
from .auth import SCHEMES, BadCredential
from .config import ConsoleConfig
from .ensemble import EnsembleMonitor
from .hub import QUEUE_SIZE, Event, put
from .nodes import ACL_CHOICES, MODES, BadInput, check_path, decode_data, error_json, read_children, read_node
from .security import COOKIE, Refused, check_write_request, json_body, security_headers
from .sessions import BrowserSession, SessionStore, TooManyLogins, ZkHandle, logval

__all__ = ["ConsoleState", "console_app"]

log = logging.getLogger("corral.console")
STATIC = Path(__file__).resolve().parent / "static"
MAX_STREAMS = 256
MAX_STREAMS_PER_SESSION = 8
KEEPALIVE = 15.0
_STATUS: list[tuple[type[KeeperError], int]] = [
    (NoNodeError, 404), (NoAuthError, 403), (NodeExistsError, 409), (BadVersionError, 409),
    (NotEmptyError, 409), (NoChildrenForEphemeralsError, 409), (QuotaExceededError, 409),
    (InvalidACLError, 400), (BadArgumentsError, 400), (AuthFailedError, 401),
    (ConnectionLossError, 503), (SessionExpiredError, 503), (ClientClosedError, 503), (OperationTimeoutError, 503),
]


class ConsoleState:
    """Everything one console app holds: config, browser sessions, the ensemble monitor, open streams."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.store = SessionStore(cfg)
        self.monitor = EnsembleMonitor(cfg)
        self.streams: set[asyncio.Queue[Event]] = set()
        self.closing = False


STATE = web.AppKey("corral_console", ConsoleState)


def _state(request: web.Request) -> ConsoleState:
    return request.app[STATE]


def _session(request: web.Request) -> BrowserSession | None:
    return _state(request).store.get(request.cookies.get(COOKIE))


def _prefix(request: web.Request, route: str) -> str:
    """The path the app is mounted under (cookie path), from a request to `route`."""
    path = request.path
    return path[: -len(route)] if path.endswith(route) else "/"


def _set_cookie(request: web.Request, resp: web.StreamResponse, s: BrowserSession, route: str) -> None:
    resp.set_cookie(COOKIE, s.key, path=_prefix(request, route), httponly=True, samesite="Strict",
                    secure=request.secure)


def _remote(request: web.Request) -> str:
    return request.remote or "-"


def keeper_refused(e: KeeperError) -> Refused:
    status = next((code for cls, code in _STATUS if isinstance(e, cls)), 502)
    body = error_json(e)
    return Refused(status, body["error"], body["message"])


async def _client(request: web.Request) -> tuple[BrowserSession | None, Client]:
    st = _state(request)
    s = _session(request)
    try:
        return s, await st.store.handle(s).ready()
    except KeeperError as e:
        raise Refused(503, "Unavailable", f"cannot reach ZooKeeper at {st.cfg.connect}: {e}") from None


def _query_path(request: web.Request) -> str:
    try:
        return check_path(request.query.get("path", "/"))
    except BadInput as e:
        raise Refused(400, "BadRequest", str(e)) from None


# ---- pages and session --------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def session_info(request: web.Request) -> web.StreamResponse:
    st = _state(request)
    s = _session(request) or st.store.new()
    body = {"csrf": s.csrf, "user": s.user, "writes": st.cfg.writes,
            "schemes": [SCHEMES[n].describe() for n in st.cfg.auth_schemes if n in SCHEMES],
            "acls": sorted(ACL_CHOICES), "modes": sorted(MODES)}
    resp = web.json_response(body)
    _set_cookie(request, resp, s, "api/session")
    return resp


async def login(request: web.Request) -> web.StreamResponse:
    st = _state(request)
    old = _session(request)
    check_write_request(request, old.csrf if old else None)
    form = await json_body(request)
    scheme = form.get("scheme")
    if not isinstance(scheme, str) or scheme not in st.cfg.auth_schemes or scheme not in SCHEMES:
        raise Refused(400, "BadRequest", f"scheme must be one of {', '.join(st.cfg.auth_schemes)}")
    try:
        creds = SCHEMES[scheme].build(form)
    except BadCredential as e:
        raise Refused(400, "BadRequest", str(e)) from None
    try:
        s = await st.store.login(old, creds)
    except TooManyLogins:
        raise Refused(503, "TooManyLogins", f"{st.cfg.max_logins} users are logged in already") from None
    except KeeperError as e:
        log.info("event=console_login_failed scheme=%s remote=%s error=%s", scheme, logval(_remote(request)),
                 type(e).__name__)
        raise keeper_refused(e) from None
    log.info("event=console_login user=%s remote=%s", logval(s.user), logval(_remote(request)))
    resp = web.json_response({"csrf": s.csrf, "user": s.user})
    _set_cookie(request, resp, s, "api/login")
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    st = _state(request)
    s = _session(request)
    check_write_request(request, s.csrf if s else None)
    assert s is not None
    if s.zk is not None:
        log.info("event=console_logout reason=user user=%s remote=%s", logval(s.user), logval(_remote(request)))
    await st.store.end(s)
    fresh = st.store.new()
    resp = web.json_response({"csrf": fresh.csrf, "user": None})
    _set_cookie(request, resp, fresh, "api/logout")
    return resp


# ---- the tree -----------------------------------------------------------------------------------


async def children(request: web.Request) -> web.StreamResponse:
    path = _query_path(request)
    _, zk = await _client(request)
    try:
        return web.json_response(await read_children(zk, path, _state(request).cfg.max_children))
    except KeeperError as e:
        raise keeper_refused(e) from None


async def node(request: web.Request) -> web.StreamResponse:
    path = _query_path(request)
    _, zk = await _client(request)
    try:
        return web.json_response(await read_node(zk, path))
    except KeeperError as e:
        raise keeper_refused(e) from None


async def _writer(request: web.Request) -> tuple[BrowserSession, Client, dict[str, Any]]:
    """The checks before any write, in order: CSRF/origin, logged in, writes enabled, body."""
    st = _state(request)
    s = _session(request)
    check_write_request(request, s.csrf if s else None)
    assert s is not None
    if s.zk is None:
        raise Refused(401, "NotLoggedIn", "log in to make changes")
    if not st.cfg.writes:
        raise Refused(403, "ReadOnly", "this console is read-only")
    body = await json_body(request)
    try:
        zk = await s.zk.ready()
    except KeeperError as e:
        raise Refused(503, "Unavailable", f"cannot reach ZooKeeper: {e}") from None
    return s, zk, body


def _version(body: dict[str, Any]) -> int:
    v = body.get("version", -1)
    if isinstance(v, bool) or not isinstance(v, int) or not -1 <= v <= 0x7FFFFFFF:
        raise BadInput("version must be an integer from -1 to 2147483647")
    return v


async def create(request: web.Request) -> web.StreamResponse:
    s, zk, body = await _writer(request)
    try:
        mode = MODES.get(str(body.get("mode", "persistent")))
        if mode is None:
            raise BadInput(f"mode must be one of {', '.join(sorted(MODES))}")
        acl = ACL_CHOICES.get(str(body.get("acl", "open")))
        if acl is None:
            raise BadInput(f"acl must be one of {', '.join(sorted(ACL_CHOICES))}")
        path = check_path(body.get("path"), sequential=mode.sequential)
        data = decode_data(body.get("data", ""), body.get("encoding"))
    except BadInput as e:
        raise Refused(400, "BadRequest", str(e)) from None
    try:
        created = await zk.create(path, data, acl=acl, mode=mode)
    except KeeperError as e:
        raise keeper_refused(e) from None
    log.info("event=console_write op=create path=%s user=%s", logval(created), logval(s.user))
    return web.json_response({"path": created})


async def set_data(request: web.Request) -> web.StreamResponse:
    s, zk, body = await _writer(request)
    try:
        path = check_path(body.get("path"))
        data = decode_data(body.get("data", ""), body.get("encoding"))
        version = _version(body)
    except BadInput as e:
        raise Refused(400, "BadRequest", str(e)) from None
    try:
        await zk.set_data(path, data, version)
    except KeeperError as e:
        raise keeper_refused(e) from None
    log.info("event=console_write op=set path=%s version=%d user=%s", logval(path), version, logval(s.user))
    return web.json_response(await _reread(zk, path))


async def _reread(zk: Client, path: str) -> dict[str, Any]:
    try:
        return await read_node(zk, path)
    except KeeperError as e:  # written but no longer readable (or gone): the write still succeeded
        return {"path": path, **error_json(e)}


async def delete(request: web.Request) -> web.StreamResponse:
    s, zk, body = await _writer(request)
    try:
        path = check_path(body.get("path"))
        version = _version(body)
        if path == "/":
            raise BadInput("the root cannot be deleted")
    except BadInput as e:
        raise Refused(400, "BadRequest", str(e)) from None
    try:
        await zk.delete(path, version)
    except KeeperError as e:
        raise keeper_refused(e) from None
    log.info("event=console_write op=delete path=%s version=%d user=%s", logval(path), version, logval(s.user))
    return web.json_response({"path": path, "deleted": True})


# ---- live events --------------------------------------------------------------------------------


def _sse(name: str, payload: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `node` (created/changed/deleted, from the session's recursive watch),
    `ensemble` (each probe round), `zkstate` and `resync` (reload: something was missed)."""
    st = _state(request)
    if st.closing:
        raise Refused(503, "Unavailable", "shutting down")
    if len(st.streams) >= MAX_STREAMS:
        raise Refused(503, "TooManyStreams", "too many open event streams")
    s = _session(request)
    if s is not None and s.streams >= MAX_STREAMS_PER_SESSION:
        raise Refused(429, "TooManyStreams", "too many open event streams for this browser session")
    handle: ZkHandle = st.store.handle(s)
    q: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    st.streams.add(q)
    handle.hub.subscribe(q)
    st.monitor.hub.subscribe(q)
    st.monitor.wake()
    if s is not None:
        s.streams += 1
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 2000\n\n")
        try:
            await handle.ready()
            await resp.write(_sse("zkstate", {"state": "CONNECTED"}))
        except KeeperError as e:
            await resp.write(_sse("zkstate", {"state": "UNAVAILABLE", "message": str(e)}))
        await resp.write(_sse("ensemble", st.monitor.snapshot))
        while not st.closing:
            try:
                name, payload = await asyncio.wait_for(q.get(), KEEPALIVE)
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
                if handle.client.state.is_terminal:  # expired or never connected: try again
                    with contextlib.suppress(KeeperError):
                        await handle.ready()
                continue
            if name == "close":
                break
            await resp.write(_sse(name, payload))
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        st.streams.discard(q)
        handle.hub.unsubscribe(q)
        st.monitor.hub.unsubscribe(q)
        if s is not None:
            s.streams -= 1
    return resp


# ---- ensemble, sessions, watches ----------------------------------------------------------------


async def ensemble(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _state(request).monitor.read())


async def _per_member(request: web.Request, word: str) -> list[dict[str, Any]]:
    st = _state(request)

    async def one(host: str, port: int) -> tuple[str | None, str | None]:
        try:
            return await send_word(host, port, word, st.cfg.probe_timeout), None
        except NotAllowed as e:
            return None, f"not allowed: {e}"
        except ProbeError as e:
            return None, f"no answer: {e}"

    members = st.cfg.probe_members
    answers = await asyncio.gather(*(one(m.host, m.port) for m in members))
    return [{"id": m.sid, "host": m.host, "port": m.port, "text": text, "error": err}
            for m, (text, err) in zip(members, answers, strict=True)]


def _console_sessions(st: ConsoleState) -> set[str]:
    """The console's own ZooKeeper sessions, so the sessions view can mark them."""
    return {f"0x{h.client.session_id:x}" for h in st.store.handles() if h.client.session_id}


async def sessions(request: web.Request) -> web.StreamResponse:
    st = _state(request)
    rows = await _per_member(request, "cons")
    own = _console_sessions(st)
    out = []
    for r in rows:
        conns = parse_cons(r.pop("text")) if r["text"] is not None else []
        for c in conns:
            c["console"] = "yes" if c.get("sid") in own else ""
        out.append({**r, "connections": conns})
    return web.json_response({"members": out})


async def watches(request: web.Request) -> web.StreamResponse:
    rows = await _per_member(request, "wchc")
    out = []
    for r in rows:
        by_session = parse_wchc(r.pop("text")) if r["text"] is not None else {}
        out.append({**r, "sessions": [{"sid": sid, "paths": paths} for sid, paths in sorted(by_session.items())]})
    return web.json_response({"members": out})


# ---- lifecycle ----------------------------------------------------------------------------------


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    st = app[STATE]
    st.monitor.start()

    async def sweeper() -> None:
        while True:
            await asyncio.sleep(min(30.0, st.cfg.idle_timeout))
            await st.store.sweep()

    task = asyncio.get_running_loop().create_task(sweeper(), name="corral-console-sweeper")
    log.info("event=console_started connect=%s members=%d writes=%s", st.cfg.connect,
             len(st.cfg.probe_members), st.cfg.writes)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await st.monitor.stop()
    await st.store.close()


async def _on_shutdown(app: web.Application) -> None:
    st = app[STATE]
    st.closing = True
    for q in list(st.streams):
        put(q, ("close", None))


def console_app(cfg: ConsoleConfig) -> web.Application:
    """The console as an aiohttp application (mount it under a prefix ending in '/')."""
    app = web.Application(middlewares=[security_headers], client_max_size=2 * 1024 * 1024)
    app[STATE] = ConsoleState(cfg)
    r = app.router
    r.add_get("/", index)
    r.add_get("/api/session", session_info)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_get("/api/children", children)
    r.add_get("/api/node", node)
    r.add_post("/api/create", create)
    r.add_post("/api/set", set_data)
    r.add_post("/api/delete", delete)
    r.add_get("/api/events", events)
    r.add_get("/api/ensemble", ensemble)
    r.add_get("/api/sessions", sessions)
    r.add_get("/api/watches", watches)
    r.add_static("/static/", STATIC, follow_symlinks=False)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_on_shutdown)
    return app
