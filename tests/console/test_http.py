"""The console's HTTP API against a real corral server: the security rules of every write (CSRF token,
origin, JSON only, POST only, logged in, read-only consoles), ACLs decided by the server, hostile input
refused with a clear JSON error, and no secret in any answer or log line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from corral.console.security import CSP
from tests.console.conftest import ConsoleProcess

pytestmark = pytest.mark.slow

SECRET = "s3cret-Pa55"


class Browser:
    """A cookie-keeping HTTP client that behaves like the console's page (token header, Origin)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.origin = base.rstrip("/")
        self.csrf = ""

    async def session(self) -> dict[str, Any]:
        async with self.http.get(self.base + "api/session") as r:
            body: dict[str, Any] = await r.json()
        self.csrf = body["csrf"]
        return body

    async def get(self, route: str, **params: str) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.base + route, params=params) as r:
            return r.status, await r.json()

    async def post(self, route: str, body: object, *, token: str | None = None, origin: str | None = "same",
                   content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type}
        if token is None:
            token = self.csrf
        if token:
            headers["X-CSRF-Token"] = token
        if origin == "same":
            headers["Origin"] = self.origin
        elif origin is not None:
            headers["Origin"] = origin
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        async with self.http.post(self.base + route, data=data, headers=headers) as r:
            return r.status, await r.json()

    async def login(self, user: str, password: str) -> dict[str, Any]:
        status, body = await self.post("api/login", {"scheme": "digest", "user": user, "password": password})
        assert status == 200, body
        self.csrf = body["csrf"]
        return body


def run(console: ConsoleProcess, test: Callable[[Browser], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            b = Browser(http, console.url)
            await b.session()
            await test(b)

    asyncio.run(main())


@pytest.fixture(scope="module")
def kz(console_server):
    k = KazooClient(hosts=console_server.hosts)
    k.start(timeout=15)
    k.ensure_path("/http")
    yield k
    k.stop()
    k.close()


def test_writes_need_the_sessions_csrf_token_and_same_origin(console, kz) -> None:
    async def t(b: Browser) -> None:
        await b.login("alice", SECRET)
        create = {"path": "/http/csrf", "data": "x"}
        assert (await b.post("api/create", create, token=""))[0] == 403  # no token
        status, body = await b.post("api/create", create, token="forged-token")
        assert (status, body["error"]) == (403, "CSRF")
        status, body = await b.post("api/create", create, origin="http://evil.example")
        assert (status, body["error"]) == (403, "CrossOrigin")
        assert (await b.post("api/create", create, origin="null"))[0] == 403
        status, body = await b.post("api/create", "path=/http/csrf", content_type="application/x-www-form-urlencoded")
        assert status == 415, body
        async with b.http.get(b.base + "api/create", params={"path": "/http/csrf"}) as r:
            assert r.status == 405
        assert kz.exists("/http/csrf") is None  # nothing above reached ZooKeeper
        status, body = await b.post("api/create", create)
        assert (status, body["path"]) == (200, "/http/csrf")
        assert kz.get("/http/csrf")[0] == b"x"

    run(console, t)


def test_anonymous_reads_world_readable_only_and_cannot_write(console, console_server, kz) -> None:
    kz.create("/http/private", b"hidden", acl=[make_digest_acl("bob", SECRET, all=True)])
    kz.create("/http/public", b"seen")

    async def t(b: Browser) -> None:
        assert (await b.get("api/node", path="/http/public"))[1]["data"] == "c2Vlbg=="
        status, body = await b.get("api/node", path="/http/private")
        assert (status, body["error"]) == (403, "NoAuth")
        status, body = await b.post("api/set", {"path": "/http/public", "data": "changed"})
        assert (status, body["error"]) == (401, "NotLoggedIn")
        # Logged in as someone the ACL does not name: the server refuses, the console says so.
        await b.login("mallory", "guess")
        status, body = await b.post("api/set", {"path": "/http/private", "data": "pwned"})
        assert (status, body["error"]) == (403, "NoAuth")
        # The right identity: the server's ACL lets it through.
        await b.login("bob", SECRET)
        status, body = await b.get("api/node", path="/http/private")
        assert status == 200 and body["acl"][0] == {"scheme": "digest", "id": "bob:(hash hidden)", "perms": "cdrwa"}
        status, body = await b.post("api/set", {"path": "/http/private", "data": "by bob", "version": 0})
        assert status == 200 and body["stat"]["version"] == 1
        status, body = await b.post("api/set", {"path": "/http/private", "data": "stale", "version": 0})
        assert (status, body["error"]) == (409, "BadVersion")
        status, body = await b.post("api/logout", {})
        assert status == 200 and body["user"] is None
        b.csrf = body["csrf"]
        assert (await b.get("api/node", path="/http/private"))[0] == 403

    run(console, t)
    bob = KazooClient(hosts=console_server.hosts, auth_data=[("digest", f"bob:{SECRET}")])
    bob.start(timeout=15)
    try:
        assert bob.get("/http/private")[0] == b"by bob"
    finally:
        bob.stop()
        bob.close()


def test_login_rotates_the_session_and_never_echoes_the_password(console, console_server, kz) -> None:
    async def t(b: Browser) -> None:
        before = b.csrf
        cookie_before = {c.key: c.value for c in b.http.cookie_jar}
        body = await b.login("carol", SECRET)
        assert body["user"] == "digest:carol" and body["csrf"] != before
        assert {c.key: c.value for c in b.http.cookie_jar} != cookie_before
        s = await b.session()
        assert SECRET not in json.dumps(s) and s["user"] == "digest:carol"
        async with b.http.get(b.base + "api/sessions") as r:
            assert SECRET not in await r.text()

    run(console, t)
    assert SECRET not in console.log()
    assert SECRET not in console_server.log()
    assert "event=console_login user=digest:carol" in console.log()


def test_security_headers_on_pages_and_api(console) -> None:
    async def t(b: Browser) -> None:
        for route in ("", "static/console.js", "api/session"):
            async with b.http.get(b.base + route) as r:
                assert r.status == 200
                assert r.headers["Content-Security-Policy"] == CSP
                assert r.headers["X-Frame-Options"] == "DENY"
                assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with b.http.get(b.base + "api/session") as r:
            cookie = r.headers.get("Set-Cookie", "")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert r.headers["Cache-Control"] == "no-store"

    run(console, t)


@pytest.mark.parametrize(("route", "body", "error"), [
    ("api/create", {"path": "no-slash"}, "BadRequest"),
    ("api/create", {"path": "/http/a\u0000b"}, "BadRequest"),
    ("api/create", {"path": "/http/x/"}, "BadRequest"),
    ("api/create", {"path": 42}, "BadRequest"),
    ("api/create", {"path": "/http/m", "mode": "ephemeral_forever"}, "BadRequest"),
    ("api/create", {"path": "/http/m", "acl": "everyone-admin"}, "BadRequest"),
    ("api/create", {"path": "/http/m", "data": "!!", "encoding": "base64"}, "BadRequest"),
    ("api/create", {"path": "/http/m", "data": "x", "encoding": "rot13"}, "BadRequest"),
    ("api/create", {"path": "/http/m", "data": "x" * (1024 * 1024)}, "BadRequest"),
    ("api/create", {"path": "/nonexistent/child"}, "NoNode"),
    ("api/set", {"path": "/http", "data": "x", "version": "1"}, "BadRequest"),
    ("api/set", {"path": "/http", "data": "x", "version": True}, "BadRequest"),
    ("api/set", {"path": "/http", "data": "x", "version": 2**40}, "BadRequest"),
    ("api/set", {"path": "/http", "data": ["not", "text"]}, "BadRequest"),
    ("api/delete", {"path": "/"}, "BadRequest"),
    ("api/delete", {"path": "/http"}, "NotEmpty"),
    ("api/login", {"scheme": "kerberos", "user": "x"}, "BadRequest"),
    ("api/login", {"scheme": "digest", "user": ""}, "BadRequest"),
    ("api/login", {"scheme": "digest", "user": "a:b", "password": "c"}, "BadRequest"),
    ("api/login", {"scheme": "digest", "user": "u" * 5000, "password": "c"}, "BadRequest"),
    ("api/create", [1, 2, 3], "BadRequest"),
    ("api/create", "{not json", "BadRequest"),
])
def test_hostile_input_gets_a_clear_error(console, kz, route: str, body: object, error: str) -> None:
    async def t(b: Browser) -> None:
        await b.login("dave", SECRET)
        status, answer = await b.post(route, body)
        assert 400 <= status < 500 and answer["error"] == error, answer
        assert answer["message"]

    run(console, t)


def test_hostile_query_and_body_size(console) -> None:
    async def t(b: Browser) -> None:
        for path in ("", "relative", "/a//b", "/a/./b", "/" + "x" * 5000, "/a\u0001b"):
            status, body = await b.get("api/node", path=path)
            assert status == 400 and body["error"] == "BadRequest", (path, body)
        status, body = await b.get("api/children", path="/does/not/exist")
        assert (status, body["error"]) == (404, "NoNode")
        await b.login("frank", SECRET)
        async with b.http.post(b.base + "api/create", data=b"x" * (3 * 1024 * 1024),
                               headers={"X-CSRF-Token": b.csrf, "Content-Type": "application/json",
                                        "Origin": b.origin}) as r:
            assert r.status == 413
        async with b.http.get(b.base + "static/../app.py") as r:
            assert r.status in (403, 404)

    run(console, t)


def test_read_only_console_refuses_writes(console_server, tmp_path, kz) -> None:
    ro = ConsoleProcess(tmp_path, console_server.hosts, ["--read-only"]).start()
    try:
        async def t(b: Browser) -> None:
            assert (await b.session())["writes"] is False
            await b.login("erin", SECRET)
            status, body = await b.post("api/create", {"path": "/http/ro"})
            assert (status, body["error"]) == (403, "ReadOnly")

        run(ro, t)
    finally:
        ro.stop()
    assert kz.exists("/http/ro") is None


def test_sessions_and_watches_views(console, kz) -> None:
    async def t(b: Browser) -> None:
        kz.get("/http", watch=lambda ev: None)
        status, body = await b.get("api/sessions")
        assert status == 200
        conns = body["members"][0]["connections"]
        assert f"0x{kz.client_id[0]:x}" in {c.get("sid") for c in conns}
        assert any(c["console"] == "yes" for c in conns)
        status, body = await b.get("api/watches")
        sessions = {s["sid"]: s["paths"] for s in body["members"][0]["sessions"]}
        assert "/http" in sessions[f"0x{kz.client_id[0]:x}"]
        status, body = await b.get("api/ensemble")
        m = body["members"][0]
        assert m["up"] and m["mode"] == "standalone" and m["lag"] == 0

    run(console, t)


def test_unreachable_server_is_a_clear_503_and_a_down_member(tmp_path) -> None:
    from corral.testing import free_port

    port = free_port()  # nothing listens here
    c = ConsoleProcess(tmp_path, f"127.0.0.1:{port}", ["--session-timeout", "2"]).start()
    try:
        async def t(b: Browser) -> None:
            for _ in range(3):  # the later ones fail fast, they do not queue behind the first
                status, body = await b.get("api/children", path="/")
                assert (status, body["error"]) == (503, "Unavailable") and f"127.0.0.1:{port}" in body["message"]
            status, body = await b.get("api/ensemble")
            assert status == 200 and body["members"][0]["up"] is False and body["leader"] is None

        run(c, t)
    finally:
        c.stop()


def test_console_on_apache_zookeeper(apache_server, tmp_path) -> None:
    """The reference server: the console's reads, watch-driven events, login and the 4lw views work
    against Apache ZooKeeper as against corral."""
    c = ConsoleProcess(tmp_path, apache_server.hosts).start()
    k = KazooClient(hosts=apache_server.hosts)
    k.start(timeout=15)
    try:
        k.ensure_path("/ref/node")
        k.set("/ref/node", b'{"x": 1}')

        async def t(b: Browser) -> None:
            status, body = await b.get("api/children", path="/ref")
            assert status == 200 and [ch["name"] for ch in body["children"]] == ["node"]
            status, body = await b.get("api/node", path="/ref/node")
            assert status == 200 and body["stat"]["version"] == 1
            async with b.http.get(b.base + "api/events") as r:
                await r.content.readuntil(b"event: ensemble")
                k.set("/ref/node", b"changed")
                for _ in range(50):  # bounded: a few events at most come first
                    line = await asyncio.wait_for(r.content.readline(), 15)
                    if line.startswith(b"data:") and b'"/ref/node"' in line:
                        assert json.loads(line[5:]) == {"type": "changed", "path": "/ref/node"}
                        break
                else:
                    pytest.fail("no node event for /ref/node")
            await b.login("alice", SECRET)
            status, body = await b.post("api/create", {"path": "/ref/by-console", "data": "hi"})
            assert status == 200
            status, body = await b.get("api/ensemble")
            m = body["members"][0]
            assert m["up"] and m["mode"] == "standalone" and m["zxid"].startswith("0x") and m["latency"]
            assert m["version"].startswith("3.") and "corral" not in m["version"]
            status, body = await b.get("api/sessions")
            assert f"0x{k.client_id[0]:x}" in {conn.get("sid") for conn in body["members"][0]["connections"]}

        run(c, t)
        assert k.get("/ref/by-console")[0] == b"hi"
    finally:
        k.stop()
        k.close()
        c.stop()


def test_mounted_under_a_prefix_in_another_aiohttp_app(console_server) -> None:
    """How a host server mounts it: parent.add_subapp('/console/', console_app(cfg)). The page, its
    static files and API answer under the prefix, the cookie is scoped to it, and the console's
    startup and cleanup run with the parent's."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from corral.console import ConsoleConfig, console_app

    async def other(request: web.Request) -> web.Response:
        return web.Response(text="host's own route")

    async def main() -> None:
        parent = web.Application()
        parent.router.add_get("/other", other)
        parent.add_subapp("/console/", console_app(ConsoleConfig(connect=console_server.hosts)))
        async with TestClient(TestServer(parent), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            r = await client.get("/console/")
            assert r.status == 200 and 'src="static/console.js"' in await r.text()
            assert (await client.get("/console/static/console.css")).status == 200
            r = await client.get("/console/api/session")
            assert "Path=/console/" in r.headers["Set-Cookie"]
            csrf = (await r.json())["csrf"]
            r = await client.get("/console/api/children", params={"path": "/"})
            assert r.status == 200 and "zookeeper" in [c["name"] for c in (await r.json())["children"]]
            r = await client.post("/console/api/login", json={"scheme": "digest", "user": "u", "password": "p"},
                                  headers={"X-CSRF-Token": csrf})
            assert r.status == 200 and (await r.json())["user"] == "digest:u"
            r = await client.get("/console/api/ensemble")
            assert (await r.json())["members"][0]["up"] is True
            assert "Content-Security-Policy" not in (await client.get("/other")).headers  # only its own routes

    asyncio.run(main())
