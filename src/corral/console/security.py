"""The console's web security: response headers on everything it serves, and the checks every
state-changing request passes (POST only, same origin, JSON body, the session's CSRF token).

Why each check:
* The CSRF token is random per browser session, kept server-side and compared in constant time; it is
  handed out only by a same-origin GET whose answer another site cannot read, so a forged request
  from another site cannot carry it.
* The session cookie is HttpOnly and SameSite=Strict, so other sites' requests do not carry it either.
* Origin (or, without it, Sec-Fetch-Site) must name this console: a second, independent barrier.
* Bodies must be `application/json`, which an HTML form cannot send without a CORS preflight.
* The Content-Security-Policy allows scripts and styles from the console itself only, so even a
  mistake that let a znode name reach the DOM as markup could not run code.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["COOKIE", "CSRF_HEADER", "Refused", "check_write_request", "json_body", "security_headers"]

COOKIE = "corral_console"
CSRF_HEADER = "X-CSRF-Token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Refused(Exception):
    """A request the console turns down; becomes a JSON error with `status`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except Refused as r:
        resp = web.json_response({"error": r.error, "message": r.message}, status=r.status)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        resp = web.json_response({"error": e.reason, "message": e.text or e.reason}, status=e.status)
    if not resp.prepared:
        for k, v in _HEADERS.items():
            resp.headers.setdefault(k, v)
        if "/api/" in request.path:
            resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        # Host only (not scheme): behind a TLS-terminating proxy the console itself sees http.
        return bool(parts.netloc) and parts.netloc.lower() == request.host.lower()
    site = request.headers.get("Sec-Fetch-Site")
    return site in (None, "same-origin", "none")


def check_write_request(request: web.Request, csrf: str | None) -> None:
    """Raise Refused unless this POST comes from the console's own page in this browser session."""
    if request.method != "POST":
        raise Refused(405, "MethodNotAllowed", "changes are POST requests only")
    if not _same_origin(request):
        raise Refused(403, "CrossOrigin", "request from another origin refused")
    token = request.headers.get(CSRF_HEADER, "")
    if csrf is None or not token or not hmac.compare_digest(token.encode(), csrf.encode()):
        raise Refused(403, "CSRF", "missing or wrong CSRF token (reload the page)")
    if request.content_type != "application/json":
        raise Refused(415, "UnsupportedMediaType", "the body must be application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Refused(400, "BadRequest", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "BadRequest", "the body must be a JSON object")
    return body
