"""The one TCP proxy of the test suite: a loopback hop whose behaviour a test switches at run time.

Why a proxy at all: without root a test cannot partition a network, so it puts this hop where the
network would be — between a client and a server, or between two ensemble members (the one that dials
names the proxy's port) — and then decides what the "network" does:

=============  ==========================================================================================
`PASS`         forward both ways (the default)
`BLACKHOLE`    read and discard everything: the peers' sockets stay open, nothing is ever answered
`REFUSE`       nothing gets through: new connections are closed at once, open ones are reset
`HOLD`         stop reading: bytes wait (in the kernel buffers) until the mode changes, then flow in order
`DELAY`        forward every chunk `delay` seconds after it arrived, in order
=============  ==========================================================================================

`set_mode(mode, new=...)` sets the mode of the open connections and, separately if wanted, of the ones
accepted from then on (a `REFUSE` there closes them at once; otherwise each new connection is dialled
upstream at accept time and starts in that mode). `drop_connections()` resets the open ones.
Shortcuts: `black_hole()`, `refuse()`, `hold()`, `release()`, `delay(s)`, `pass_through()`.

Everything runs on plain threads (so async tests can use it too: it does not need their event loop),
every blocking call has a short timeout, and `close()` — called by every fixture and `with` block —
stops the listener, resets every connection and joins every thread.
"""

from __future__ import annotations

import collections
import enum
import select
import socket
import threading
import time

from corral.testing.proxy import close_socket, send_until

HOST = "127.0.0.1"
_TICK = 0.05  # longest a pump sleeps before it re-reads the mode: bounds how stale a mode switch can be
_CHUNK = 65536
_MAX_ROUNDS = 10**9  # every loop is bounded; at one tick per round this is years


class Mode(enum.Enum):
    PASS = "pass"
    BLACKHOLE = "blackhole"
    REFUSE = "refuse"
    HOLD = "hold"
    DELAY = "delay"


class _Link:
    """One proxied connection: the accepted socket, the upstream socket and their current mode."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket, mode: Mode,
                 delay: float) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.mode = mode
        self.delay = delay
        self.done = threading.Event()  # set when the link is over (EOF, error, drop, proxy closed)
        self._pumps_left = 2
        self._lock = threading.Lock()

    def pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Move bytes src -> dst according to the mode, until EOF, an error or the end of the link."""
        pending: collections.deque[tuple[float, bytes]] = collections.deque()  # (when to send, bytes)
        eof = False
        try:
            for _ in range(_MAX_ROUNDS):
                if self.done.is_set():
                    return
                mode, now = self.mode, time.monotonic()
                if mode is Mode.REFUSE:
                    self.reset()
                    return
                if mode is not Mode.HOLD:
                    while pending and pending[0][0] <= now:
                        send_until(dst, pending.popleft()[1], self.done)
                if eof:
                    if not pending:
                        return
                    time.sleep(min(_TICK, max(0.0, pending[0][0] - now)))
                    continue
                if mode is Mode.HOLD:
                    self.done.wait(_TICK)  # read nothing: the sender's bytes wait in the kernel
                    continue
                wait = _TICK if not pending else min(_TICK, max(0.0, pending[0][0] - now))
                readable, _, _ = select.select([src], [], [], wait)
                if not readable or self.done.is_set():
                    continue
                data = src.recv(_CHUNK)
                if not data:
                    eof = True
                    continue
                mode = self.mode  # it may have changed while we waited
                if mode is Mode.BLACKHOLE:
                    continue
                pending.append((time.monotonic() + (self.delay if mode is Mode.DELAY else 0.0), data))
        except (OSError, ValueError):  # reset, or the socket was closed under us (ValueError: fd -1)
            pass
        finally:
            self._pump_ended()

    def _pump_ended(self) -> None:
        """The first pump to end ends the pair, as a real connection would; the last one closes it."""
        with self._lock:
            self._pumps_left -= 1
            last = self._pumps_left == 0
        if not self.done.is_set():
            for s in (self.client, self.upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if last:
            self.done.set()
            for s in (self.client, self.upstream):
                close_socket(s, reset=False)
            self.proxy._forget(self)

    def reset(self) -> None:
        """Abort both sockets (RST): for the peers the connection is gone at once."""
        if self.done.is_set():
            return
        self.done.set()
        for s in (self.client, self.upstream):
            close_socket(s, reset=True)


class TcpProxy:
    """A TCP proxy from 127.0.0.1:`port` (picked free) to `upstream_host:upstream_port`, started at once."""

    def __init__(self, upstream_port: int, upstream_host: str = HOST, *, name: str = "") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.name = name or f"proxy->{upstream_port}"
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(_TICK * 2)
        self.host: str = HOST
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0  # connections accepted and dialled upstream, ever
        self._mode = Mode.PASS
        self._new_mode = Mode.PASS
        self._delay = 0.0
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        with self._lock:
            self._spawn_locked(self._accept_loop)

    def __repr__(self) -> str:
        return f"<TcpProxy {self.name} :{self.port} mode={self._mode.value} new={self._new_mode.value}>"

    # ---- what tests read ----------------------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """`127.0.0.1:port`, for a connect string."""
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> Mode:
        """The mode of the open connections."""
        return self._mode

    @property
    def connections(self) -> int:
        """Connections open through the proxy right now."""
        with self._lock:
            return sum(1 for link in self._links if not link.done.is_set())

    # ---- switching ----------------------------------------------------------------------------------------

    def set_mode(self, mode: Mode, *, new: Mode | None = None, delay: float | None = None) -> None:
        """Switch the open connections to `mode` and the ones accepted from now on to `new` (default: `mode`).

        `delay` (seconds) is the added latency of `DELAY`, required the first time DELAY is used."""
        if delay is not None:
            if delay < 0:
                raise ValueError(f"delay must be >= 0, got {delay}")
            self._delay = delay
        if Mode.DELAY in (mode, new) and delay is None and self._delay == 0.0:
            raise ValueError("Mode.DELAY needs delay=<seconds>")
        with self._lock:
            self._mode = mode
            self._new_mode = mode if new is None else new
            for link in self._links:
                link.delay = self._delay
                link.mode = mode

    def pass_through(self) -> None:
        """Forward everything again (bytes held by HOLD flow on, in order)."""
        self.set_mode(Mode.PASS)

    def black_hole(self, refuse_new: bool = False) -> None:
        """Swallow everything both ways; new connections are swallowed too, or closed with `refuse_new`."""
        self.set_mode(Mode.BLACKHOLE, new=Mode.REFUSE if refuse_new else None)

    def refuse(self) -> None:
        """Reset the open connections and close new ones at once (the listener itself stays up)."""
        self.set_mode(Mode.REFUSE)

    def hold(self, refuse_new: bool = False) -> None:
        """Stop forwarding without closing anything; new connections are held too, or closed with `refuse_new`."""
        self.set_mode(Mode.HOLD, new=Mode.REFUSE if refuse_new else None)

    def release(self) -> None:
        """End a HOLD: everything held is forwarded, in order."""
        self.set_mode(Mode.PASS)

    def delay(self, seconds: float) -> None:
        """Add `seconds` of latency to every chunk, both ways, on open and new connections."""
        self.set_mode(Mode.DELAY, delay=seconds)

    def drop_connections(self) -> int:
        """Reset every open connection (the mode stays); returns how many there were."""
        with self._lock:
            links = [link for link in self._links if not link.done.is_set()]
        for link in links:
            link.reset()
        return len(links)

    # ---- lifetime -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening, reset every connection and join every thread (idempotent)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            links = list(self._links)
        close_socket(self._listener, reset=False)
        for link in links:
            link.reset()
        with self._lock:
            threads = list(self._threads)
        for t in threads:  # the accept thread adds no link once closed, so this list is complete
            t.join(5)
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"{self}: threads still running after close: {alive}")

    async def aclose(self) -> None:
        """`close()` for async tests, off the event loop (it joins threads)."""
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------------------------------

    def _spawn_locked(self, target, *args) -> None:
        """Start a thread and list it for `close()` to join (the caller holds `_lock`)."""
        t = threading.Thread(target=target, args=args, daemon=True, name=f"{self.name}-{self.accepted}")
        self._threads = [x for x in self._threads if x.is_alive()]
        self._threads.append(t)
        t.start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept_loop(self) -> None:
        for _ in range(_MAX_ROUNDS):
            if self._closed.is_set():
                return
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed
                return
            with self._lock:
                mode, delay = self._new_mode, self._delay
            if mode is Mode.REFUSE or self._closed.is_set():
                close_socket(client, reset=False)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                close_socket(client, reset=False)
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, upstream, mode, delay)
            with self._lock:
                if self._closed.is_set():  # close() has taken its list of links: this one must not start
                    link.reset()
                    return
                self._links.add(link)
                self.accepted += 1
                self._spawn_locked(link.pump, client, upstream)
                self._spawn_locked(link.pump, upstream, client)
