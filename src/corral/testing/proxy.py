"""Loopback TCP hops between ensemble members, so a test can cut a link without root.

Why: partitioning a real network needs iptables and root. Instead every member reaches every other one
through proxies: members speak ZooKeeper's peer protocol on two ports (the electionPort connection may
be dialled by either side, a learner dials its leader's peerPort), so each ordered pair of members has
a `LinkProxy` per port and each member's zoo.cfg names the others by the ports of its own proxies. A
`PairLink` holds the four proxies between two members, so the "network" between them is those four, and
a test decides what they do:

* `PASS`: forward both ways (the default).
* `DROP`: a partition as TCP sees it when packets are lost: open connections stay up but every byte is
  swallowed, and new connections are accepted and swallowed too. The members notice only by their own
  timeouts (syncLimit), as in a real partition.
* `RESET`: open connections are reset and new ones closed at once (a host that answers with RST).

`heal()` resets the connections that lived through a `DROP` (their byte streams lost data in the middle,
which a real TCP connection never does) and forwards again, so members re-dial cleanly.

Plain threads, so it does not depend on anybody's event loop; every blocking call has a short timeout,
and `close()` stops the listener, resets every connection and joins every thread.
"""

from __future__ import annotations

import enum
import select
import socket
import struct
import threading
from collections.abc import Callable

from ._net import HOST, log

_TICK = 0.05  # longest a pump waits before it re-reads the mode
_CHUNK = 65536
_MAX_ROUNDS = 10**10  # every loop is bounded; at one tick per round this is decades


class LinkMode(enum.Enum):
    """What a `LinkProxy` does with the bytes and connections it sees."""

    PASS = "pass"
    DROP = "drop"
    RESET = "reset"


def close_socket(sock: socket.socket, reset: bool) -> None:
    """Close `sock`; with `reset`, abortively (RST, like a host that vanished) instead of with a FIN."""
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def send_until(dst: socket.socket, data: bytes, done: threading.Event) -> None:
    """sendall that gives up (OSError) once `done` is set: a blocking sendall to a peer that stopped
    reading, e.g. a SIGSTOPped server, would keep a pump thread alive past the proxy's close."""
    view = memoryview(data)
    for _ in range(_MAX_ROUNDS):
        if not view:
            return
        if done.is_set():
            raise OSError("link closed")
        _, writable, _ = select.select([], [dst], [], _TICK)
        if writable:
            try:
                view = view[dst.send(view, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                pass


class _Link:
    """One proxied connection: the accepted socket and the one dialled upstream."""

    def __init__(self, proxy: LinkProxy, down: socket.socket, up: socket.socket) -> None:
        self.proxy = proxy
        self.down = down
        self.up = up
        self.done = threading.Event()
        self.tainted = False  # bytes were swallowed: the stream is no longer whole
        self._closed = False
        self._lock = threading.Lock()

    def pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Move bytes src -> dst while the mode is PASS (swallow them otherwise) until either end closes."""
        try:
            for _ in range(_MAX_ROUNDS):
                if self.done.is_set():
                    return
                mode = self.proxy.mode
                if mode is LinkMode.RESET:
                    return
                readable, _, _ = select.select([src], [], [], _TICK)
                if not readable:
                    continue
                data = src.recv(_CHUNK)
                if not data:
                    return
                if self.proxy.mode is not LinkMode.PASS:
                    self.tainted = True
                    continue
                send_until(dst, data, self.done)
        except (OSError, ValueError):  # reset, or closed under us
            pass
        finally:
            self.reset()


    def reset(self) -> None:
        """End the link with an RST both ways (idempotent)."""
        self.done.set()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        close_socket(self.down, reset=True)
        close_socket(self.up, reset=True)
        self.proxy._forget(self)


class LinkProxy:
    """Listens on a free loopback port and forwards each connection to `upstream_port`.

    Usable on its own (for a client↔server link too): point a client at `port`, then `drop()`,
    `reset()`, `heal()`. A context manager; `close()` is idempotent.
    """

    def __init__(self, upstream_port: int, name: str = "link") -> None:
        self.upstream_port = upstream_port
        self.name = name
        self.mode = LinkMode.PASS
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(_TICK)
        self.port: int = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def __repr__(self) -> str:
        return f"<LinkProxy {self.name} :{self.port}->:{self.upstream_port} {self.mode.value}>"

    # ---- what tests call ------------------------------------------------------------------------

    def drop(self) -> None:
        """Swallow every byte, both ways, on open and new connections (a silent partition)."""
        self._set(LinkMode.DROP)

    def reset(self) -> None:
        """Reset open connections and close new ones at once (a partition that answers with RST)."""
        self._set(LinkMode.RESET)
        for link in self._snapshot():
            link.reset()

    def heal(self) -> None:
        """Forward again. Connections that lost bytes while dropped are reset first, so the two ends
        re-dial instead of reading a stream with a hole in it."""
        with self._lock:
            self.mode = LinkMode.PASS
            tainted = [link for link in self._links if link.tainted]
        for link in tainted:
            link.reset()
        log.info("event=link_mode name=%s mode=pass reset=%d", self.name, len(tainted))

    def close(self) -> None:
        """Stop listening, reset every connection, join every thread (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        close_socket(self._listener, reset=False)
        for link in self._snapshot():
            link.reset()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(5)

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ------------------------------------------------------------------------------

    def _set(self, mode: LinkMode) -> None:
        with self._lock:
            self.mode = mode
        log.info("event=link_mode name=%s mode=%s", self.name, mode.value)

    def _snapshot(self) -> list[_Link]:
        with self._lock:
            return list(self._links)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name=f"corral-proxy-{self.name}")
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        for _ in range(_MAX_ROUNDS):
            if self._closed.is_set():
                return
            try:
                down, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed
                return
            if self.mode is LinkMode.RESET or self._closed.is_set():
                close_socket(down, reset=True)
                continue
            try:
                up = socket.create_connection((HOST, self.upstream_port), timeout=2)
            except OSError:  # the member behind us is down: so is the link
                close_socket(down, reset=True)
                continue
            for s in (down, up):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, down, up)
            with self._lock:
                if self._closed.is_set():
                    link.done.set()
                    close_socket(down, reset=True)
                    close_socket(up, reset=True)
                    return
                self._links.add(link)
            self._spawn(link.pump, down, up)
            self._spawn(link.pump, up, down)


class PairLink:
    """The network between members `a` and `b`: one `LinkProxy` for each member's dial to each of the
    other's two ports (peer and election). `drop()`, `reset()`, `heal()` act on all four."""

    def __init__(self, a: int, b: int, ports: dict[int, tuple[int, int]]) -> None:
        """`ports`: member id -> (peerPort, electionPort) it listens on."""
        self.a, self.b = a, b
        self.proxies: dict[tuple[int, int, str], LinkProxy] = {}
        for frm, to in ((a, b), (b, a)):
            peer, election = ports[to]
            self.proxies[(frm, to, "peer")] = LinkProxy(peer, name=f"peer{frm}->{to}")
            self.proxies[(frm, to, "election")] = LinkProxy(election, name=f"election{frm}->{to}")

    def __repr__(self) -> str:
        return f"<PairLink {self.a}<->{self.b} {self.mode.value}>"

    @property
    def mode(self) -> LinkMode:
        return next(iter(self.proxies.values())).mode

    def ports(self, frm: int, to: int) -> tuple[int, int]:
        """(peerPort, electionPort) by which member `frm` reaches member `to`."""
        return self.proxies[(frm, to, "peer")].port, self.proxies[(frm, to, "election")].port

    def drop(self) -> None:
        """Swallow every byte between the two members, both ways (a silent partition)."""
        for p in self.proxies.values():
            p.drop()

    def reset(self) -> None:
        """Reset the two members' connections and refuse new ones."""
        for p in self.proxies.values():
            p.reset()

    def heal(self) -> None:
        """Forward again (connections that lost bytes are reset first)."""
        for p in self.proxies.values():
            p.heal()

    def close(self) -> None:
        for p in self.proxies.values():
            p.close()

    def __enter__(self) -> PairLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
