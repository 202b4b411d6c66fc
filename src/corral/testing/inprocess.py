"""A corral server inside the test process: `InProcessServer` and `serve_in_process()`.

Why: starting a Python process costs ~0.3 to 1 s; a server on an event loop of the test process starts in
milliseconds, and its state (`srv.server`, a `corral.server.server.CorralServer`) can be inspected
directly. What it cannot do is crash or hang separately from the test: `kill()` and `pause()` exist only
on `ServerProcess`.

Two ways to run it:

* on the caller's running loop: `async with serve_in_process() as srv:` (any asyncio test runner,
  pytest-asyncio, anyio, `asyncio.run` in a script). The server's timers and sockets live on that loop,
  so the test must keep awaiting: a blocking call in the test stalls the server too, and that includes
  this object's own blocking probes (`four_letter()`, `mode()`); look at `srv.server` instead.
* on a private loop in a background thread: `with InProcessServer() as srv:` — for synchronous tests and
  blocking clients (kazoo, `SyncClient`), no async test runner needed.

Notes: recovery moves the objects that exist at that moment to the garbage collector's permanent
generation (`gc.freeze`, see `corral.server.memory`); harmless in a test process. Snapshots fork the
process; the defaults here (snapCount 100000) make that rare in a test.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

from ._net import free_port, log
from .process import ServerHandle, zoo_cfg

_PORT_RETRIES = 3


class InProcessServer(ServerHandle):
    """A standalone corral on an event loop of this process, listening on 127.0.0.1.

    Args:
        data_dir: the server's files (`zoo.cfg` is not needed; `data/` holds logs and snapshots);
            default a temporary directory removed when the server is closed.
        port: client port; default a free one.
        tick_time: tickTime in ms.
        extra_cfg: more zoo.cfg keys.

    `with InProcessServer() as srv` runs it on a background thread; `async with InProcessServer() as srv`
    (or `serve_in_process()`) on the running loop. `stop()`/`start()`/`restart()` and their async twins
    `astop()`/`astart()`/`arestart()` keep the data directory.
    """

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None, tick_time: int = 2000,
                 extra_cfg: Mapping[str, object] | None = None) -> None:
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix="corral-inproc-")
        self.data_dir = Path(data_dir if data_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.tick_time = tick_time
        self.extra_cfg: dict[str, object] = dict(extra_cfg or {})
        self.server: Any = None  # corral.server.server.CorralServer while running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._owns_loop = False

    def __repr__(self) -> str:
        return f"<InProcessServer {self.hosts} dir={self.data_dir}>"

    @property
    def running(self) -> bool:
        """Whether it serves (between a start and a stop)."""
        return self.server is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the server runs on (None when stopped)."""
        return self._loop

    def config_text(self) -> str:
        """The zoo.cfg the server is started with (parsed, never written)."""
        return zoo_cfg({
            "tickTime": self.tick_time,
            "dataDir": self.data_dir / "data",
            "clientPort": self.port,
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": "*",
            # Off unless asked for (extra_cfg): parallel test servers would all want port 8080.
            "admin.enableServer": "false",
            **self.extra_cfg,
        })

    # ---- on the caller's loop ---------------------------------------------------------------------

    async def astart(self) -> Self:
        """Start serving on the running event loop (recovering whatever `data_dir` holds)."""
        from ..server.config import parse
        from ..server.server import CorralServer

        if self.server is not None:
            raise RuntimeError(f"{self} is already running")
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_RETRIES):
            cfg = parse(self.config_text(), source=f"<corral.testing {self.data_dir}>")
            server = CorralServer(cfg)  # recovers data_dir (small in a test) on this loop's thread
            try:
                await server.start()
            except OSError as e:
                await server.stop()
                if self._fixed_port or attempt == _PORT_RETRIES - 1:
                    raise
                log.info("event=port_taken port=%d retry=%d error=%r", self.port, attempt + 1, str(e))
                self.port = free_port()
                continue
            self.server = server
            self._loop = asyncio.get_running_loop()
            log.info("event=inprocess_started port=%d dir=%s", self.port, self.data_dir)
            return self
        raise AssertionError("unreachable")

    async def astop(self) -> None:
        """Stop serving (clients are disconnected; the data stays). Idempotent."""
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
            log.info("event=inprocess_stopped port=%d", self.port)
        if not self._owns_loop:
            self._loop = None

    async def arestart(self) -> Self:
        """Stop and start again on the same data and port (sessions survive, as after a restart)."""
        await self.astop()
        return await self.astart()

    async def __aenter__(self) -> Self:
        try:
            return await self.astart()
        except BaseException:
            self._cleanup()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.astop()
        finally:
            self._cleanup()

    # ---- on a background thread -------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Self:
        """Start on a private event loop in a daemon thread (for synchronous tests)."""
        if self._loop is None:
            loop = _new_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="corral-inprocess", daemon=True)
            self._thread.start()
            self._loop, self._owns_loop = loop, True
        elif not self._owns_loop:
            raise RuntimeError("this server runs on the caller's loop: use astart()/astop()")
        self._call(self.astart(), timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving; the background loop stays for `start()`/`restart()` until `close()`."""
        if self._owns_loop and self._loop is not None:
            self._call(self.astop(), timeout)

    def restart(self, timeout: float = 30.0) -> Self:
        """Stop and start again on the same data and port."""
        self.stop(timeout)
        return self.start(timeout)

    def close(self) -> None:
        """Stop, end the background thread and remove a temporary data directory (idempotent)."""
        try:
            self.stop()
        finally:
            loop, thread = self._loop, self._thread
            if self._owns_loop and loop is not None and thread is not None:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(10)
                if not thread.is_alive():
                    loop.close()
                self._loop, self._thread, self._owns_loop = None, None, False
            self._cleanup()

    def kill(self) -> None:
        """Not possible in-process: raises NotImplementedError (use `ServerProcess` for crashes)."""
        raise NotImplementedError("an in-process server cannot be killed on its own: use ServerProcess "
                                  "(the corral_server fixture) for crashes")

    def pause(self) -> None:
        """Not possible in-process: raises NotImplementedError (use `ServerProcess` for hangs)."""
        raise NotImplementedError("an in-process server cannot be paused on its own: use ServerProcess "
                                  "(the corral_server fixture) for hangs")

    resume = pause

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def _cleanup(self) -> None:
        if self.server is None and self._tmp is not None:
            self._tmp.cleanup()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (as `corral server` runs), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@asynccontextmanager
async def serve_in_process(data_dir: str | Path | None = None, port: int | None = None, tick_time: int = 2000,
                           extra_cfg: Mapping[str, object] | None = None) -> AsyncIterator[InProcessServer]:
    """Run a standalone corral on the running event loop for the duration of the block.

    ```python
    async with serve_in_process() as srv:
        async with srv.client() as zk:
            await zk.create("/x", b"1")
    ```
    """
    async with InProcessServer(data_dir, port, tick_time, extra_cfg) as srv:
        yield srv
