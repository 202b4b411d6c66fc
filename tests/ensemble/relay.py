"""A loopback TCP relay standing for the network path between two ensemble members.

`hold()` stops forwarding in both directions without closing anything: bytes wait (in the relay, then
in the kernel buffers), as on a network that stopped delivering. `release()` forwards everything held,
in order. New connections made while held are accepted and held too. Nothing is ever dropped, so the
members see a slow network, never a broken stream; a member that waits longer than syncLimit gives up
on its own, as it would on a real partition.
"""

from __future__ import annotations

import select
import socket
import threading


class Relay:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._spawn(self._accept_loop)

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name=f"relay-{self.port}")
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
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
            with self._lock:
                self._socks += [client, upstream]
                self.connections += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                r, _, _ = select.select([src], [], [], 0.1)
                if not r:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                while not self._flowing.wait(0.1):  # held: keep the chunk, read nothing more
                    if self._closed.is_set():
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):  # one side ended: end the pair, as a real connection would
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        try:
            self.listener.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(2)
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass
