"""A loopback TCP proxy that can freeze: it simulates a client whose traffic stops without a FIN.

While frozen, open connections forward nothing in either direction (the server sees a silent but open
socket, like a hung or partitioned client) and new connections are refused by closing them at once.
`thaw()` closes the connections that were frozen (their state is stale) and forwards again.
"""

from __future__ import annotations

import select
import socket
import threading


class FreezableProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.host, self.port = self.listener.getsockname()[:2]
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._frozen.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            doomed = threading.Event()
            with self._lock:
                self._pairs.append((client, upstream, doomed))
            self._spawn(self._pump, client, upstream, doomed)

    def _pump(self, a: socket.socket, b: socket.socket, doomed: threading.Event) -> None:
        try:
            while not self._closed.is_set():
                if doomed.is_set():
                    if self._frozen.is_set():
                        self._closed.wait(0.02)  # hold the sockets open, forward nothing
                        continue
                    return  # thawed: drop the stale connection
                readable, _, _ = select.select([a, b], [], [], 0.05)
                if doomed.is_set():
                    continue
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def freeze(self) -> None:
        with self._lock:
            self._frozen.set()
            for _, _, doomed in self._pairs:
                doomed.set()

    def thaw(self) -> None:
        with self._lock:
            self._pairs = [p for p in self._pairs if not p[2].is_set()]
            self._frozen.clear()

    def close(self) -> None:
        self._closed.set()
        self._frozen.clear()
        try:
            self.listener.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(2)
