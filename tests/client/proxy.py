"""A tiny TCP proxy on 127.0.0.1 living in the test's own event loop.

Standalone servers cannot share sessions, so to see the client fail over *with the same session* the
tests put two proxies in front of one server and list both in the connect string: stopping the proxy
the client uses looks to the client exactly like its server going away, while the session lives on
in the real server. `freeze()` keeps the sockets open but stops forwarding — a silent server — which
exercises the client's read timeout.
"""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.frozen = False
        self.accepted = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Client connections currently open through this proxy."""
        return len(self._writers) // 2

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.frozen:
            writer.close()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        t1 = asyncio.create_task(self._pipe(reader, up_writer))
        t2 = asyncio.create_task(self._pipe(up_reader, writer))
        self._tasks |= {t1, t2}
        await asyncio.gather(t1, t2, return_exceptions=True)
        self._tasks -= {t1, t2}
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # ends at EOF or when the proxy is stopped
                data = await reader.read(65536)
                if not data:
                    break
                if self.frozen:
                    continue  # black hole: the peer hears nothing
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    def freeze(self) -> None:
        """Stop forwarding in both directions but keep every socket open."""
        self.frozen = True

    async def stop(self) -> None:
        """Refuse new connections and reset the open ones (the 'server' is gone)."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
