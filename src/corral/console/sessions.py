"""Browser sessions and the ZooKeeper sessions behind them.

Every browser gets an opaque cookie naming a `BrowserSession`, which holds its CSRF token. An anonymous
browser reads through the console's one shared, unauthenticated ZooKeeper session (so it sees what
world-readable ACLs allow); a browser that logs in gets a ZooKeeper session of its own with the
credential added (`addauth`), so every read and write it makes is judged by the server's ACLs for
that identity. The credential lives only inside that client (which re-sends it after reconnects);
it is never stored here, shown, or logged.

Each ZooKeeper session keeps one persistent recursive watch on `/`; its events are what drive the
live tree, and they are filtered by the server's READ checks for that identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ..client import Client, EventType, SessionState, WatchedEvent
from ..client.errors import ConnectionLossError, KeeperError
from .auth import Login
from .config import ConsoleConfig
from .hub import EventHub

__all__ = ["BrowserSession", "SessionStore", "TooManyLogins", "ZkHandle"]

log = logging.getLogger("corral.console")
MAX_BROWSER_SESSIONS = 10_000
RETRY_AFTER = 2.0  # seconds a failed connection attempt is remembered
_NODE_EVENTS: dict[int, str] = {EventType.NodeCreated: "created", EventType.NodeDeleted: "deleted",
                                EventType.NodeDataChanged: "changed"}


def logval(value: object) -> str:
    """A value for a `key=value` log line: as is when that is unambiguous, else quoted (a user name with
    spaces, quotes or '=' cannot forge another field, and control characters are escaped)."""
    text = str(value)
    if text and all(c.isprintable() and c not in " \"'=" for c in text):
        return text
    return repr(text)


class TooManyLogins(Exception):
    """`max_logins` browser sessions are logged in already."""


class ZkHandle:
    """One ZooKeeper session of the console, started on first use and restarted after it expires,
    with a persistent recursive watch on `/` whose events go to `hub`."""

    def __init__(self, cfg: ConsoleConfig, login: Login | None) -> None:
        auth = [(login.scheme, login.credential)] if login else []
        self.client = Client(cfg.connect, timeout=cfg.session_timeout, auth=auth,
                             connect_wait=min(cfg.session_timeout, 10.0))
        self.hub = EventHub()
        self.display = login.display if login else None
        self._start_timeout = min(cfg.session_timeout, 10.0)
        self._failed_at = -RETRY_AFTER
        self._connect = cfg.connect
        self._lock = asyncio.Lock()
        self._session = 0
        self._was_connected = False
        self.client.add_listener(self._on_state)

    async def ready(self) -> Client:
        """The connected client; opens (or reopens, after expiry) the session and its watch."""
        async with self._lock:
            if self.client.state.is_terminal:
                # Requests queued behind a failed attempt fail at once instead of each waiting its own
                # start timeout while the server is unreachable.
                if time.monotonic() - self._failed_at < RETRY_AFTER:
                    raise ConnectionLossError(f"could not connect to {self._connect}; retrying shortly")
                try:
                    await self.client.start(timeout=self._start_timeout)
                except KeeperError:
                    self._failed_at = time.monotonic()
                    raise
            if self.client.session_id != self._session:
                await self.client.add_watch("/", self._on_event, recursive=True)
                if self._session:
                    self.hub.publish("resync", {"reason": "new ZooKeeper session"})
                self._session = self.client.session_id
                log.info("event=console_zk_session sid=0x%x user=%s", self._session,
                         logval(self.display or "anonymous"))
        return self.client

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()

    def _on_event(self, ev: WatchedEvent) -> None:
        kind = _NODE_EVENTS.get(int(ev.type))
        if kind is not None and ev.path is not None:
            self.hub.publish("node", {"type": kind, "path": ev.path})

    def _on_state(self, state: SessionState) -> None:
        self.hub.publish("zkstate", {"state": state.value})
        if state is SessionState.CONNECTED:
            if self._was_connected:
                # Events while disconnected are not replayed (ZooKeeper's rule): the page reloads.
                self.hub.publish("resync", {"reason": "reconnected"})
            self._was_connected = True


@dataclass(slots=True)
class BrowserSession:
    """One browser: its cookie value, CSRF token, and (when logged in) its own ZooKeeper session."""

    key: str
    csrf: str
    last_used: float
    zk: ZkHandle | None = None
    streams: int = 0
    created: float = field(default_factory=time.monotonic)

    @property
    def user(self) -> str | None:
        return self.zk.display if self.zk else None


class SessionStore:
    """All browser sessions of one console app, with idle expiry and a cap on logins."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.anon = ZkHandle(cfg, None)
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self._logins = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def logins(self) -> int:
        return self._logins

    def get(self, key: str | None) -> BrowserSession | None:
        """The session named by a cookie value, if it exists and has not idled out."""
        if not key or len(key) > 128:
            return None
        s = self._sessions.get(key)
        if s is None:
            return None
        now = time.monotonic()
        if s.streams == 0 and now - s.last_used > self.cfg.idle_timeout:
            return None  # swept (and its ZooKeeper session closed) by the next sweep
        s.last_used = now
        self._sessions.move_to_end(key)
        return s

    def new(self) -> BrowserSession:
        """A fresh anonymous session (oldest anonymous ones dropped past MAX_BROWSER_SESSIONS)."""
        if len(self._sessions) >= MAX_BROWSER_SESSIONS:
            for key, old in list(self._sessions.items()):
                if old.zk is None and old.streams == 0:
                    del self._sessions[key]
                    break
        s = BrowserSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.monotonic())
        self._sessions[s.key] = s
        return s

    def handles(self) -> list[ZkHandle]:
        """Every ZooKeeper session the console holds (the anonymous one first)."""
        return [self.anon, *(s.zk for s in self._sessions.values() if s.zk is not None)]

    def handle(self, s: BrowserSession | None) -> ZkHandle:
        return s.zk if s is not None and s.zk is not None else self.anon

    async def login(self, old: BrowserSession | None, login: Login) -> BrowserSession:
        """A new session (new cookie and CSRF token: no fixation) with its own authenticated ZooKeeper
        session; the old one is ended. Raises TooManyLogins, or the client's error if the ZooKeeper
        session cannot be opened or the credential is refused."""
        if self._logins >= self.cfg.max_logins:
            raise TooManyLogins()
        zk = ZkHandle(self.cfg, login)
        self._logins += 1
        try:
            client = await zk.ready()
            await client.who_am_i()  # after the auth packet: a refused credential fails here
        except BaseException:
            self._logins -= 1
            await zk.close()
            raise
        if old is not None:
            await self.end(old)
        s = self.new()
        s.zk = zk
        return s

    async def end(self, s: BrowserSession) -> None:
        """Forget a session and close its ZooKeeper session (logout, idle expiry)."""
        self._sessions.pop(s.key, None)
        if s.zk is not None:
            zk, s.zk = s.zk, None
            self._logins -= 1
            zk.hub.publish("resync", {"reason": "logged out"})
            await zk.close()

    async def sweep(self) -> None:
        now = time.monotonic()
        for s in list(self._sessions.values()):
            if s.streams == 0 and now - s.last_used > self.cfg.idle_timeout:
                if s.zk is not None:
                    log.info("event=console_logout reason=idle user=%s", logval(s.user))
                await self.end(s)

    async def close(self) -> None:
        for s in list(self._sessions.values()):
            await self.end(s)
        await self.anon.close()
