"""TCP between ensemble members: length-prefixed `corral.quorum` messages, one connection per pair.

Rules (ZooKeeper's QuorumCnxManager in spirit): the member with the higher id dials the lower one, so
each pair has exactly one connection; the dialer's first frame is `Hello(server_id)` (the frame header
carries the protocol version); a dialer retries with capped exponential backoff. Queues are bounded:
a peer that does not drain its queue is disconnected (the quorum core resynchronises it on return),
and a peer that sends anything undecodable is disconnected and logged — never crashed on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from ..quorum import FrameReader, Message, PeerProtocolError, encode_frame
from ..quorum.messages import Hello
from .config import ServerSpec

log = logging.getLogger("corral.peers")

MAX_QUEUE_BYTES = 256 << 20
MAX_FRAME = 512 << 20  # a SNAP of a large tree travels as one frame
HANDSHAKE_BYTES = 4096  # what an accepted connection may send before its Hello is complete
HANDSHAKE_TIMEOUT = 5.0  # seconds for an accepted connection to say Hello (ZooKeeper's cnxTimeout)


class PeerLink(asyncio.Protocol):
    """One established (or accepting) connection; `sid` is known after the Hello."""

    def __init__(self, transport_mgr: PeerTransport, sid: int | None) -> None:
        self.mgr = transport_mgr
        self.sid = sid
        self.reader = FrameReader(MAX_FRAME)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._hello_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports (create_server/create_connection); uvloop's are not subclasses of
        # asyncio.Transport, so no isinstance can say so.
        self.transport = stream = cast(asyncio.Transport, transport)
        if self.sid is not None:  # we dialed: introduce ourselves
            stream.write(encode_frame(Hello(self.mgr.my_id)))
            self.mgr._attach(self)
        else:
            self._hello_timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._hello_overdue)

    def _hello_overdue(self) -> None:
        if self.sid is None:
            self.abort("no handshake in time")

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self.reader.feed(data)
        except PeerProtocolError as e:
            self.abort(f"undecodable frame: {e}")
            return
        if self.sid is None and not msgs and self.reader.buffered > HANDSHAKE_BYTES:
            self.abort("no handshake in the first bytes")
            return
        for msg in msgs:
            if self.closed:
                return
            if self.sid is None:
                # Only the higher id dials: a Hello naming a lower id (or ours) is never legitimate.
                if not isinstance(msg, Hello) or msg.server_id not in self.mgr.specs \
                        or msg.server_id <= self.mgr.my_id:
                    self.abort(f"bad handshake {type(msg).__name__}")
                    return
                self.sid = msg.server_id
                self.mgr._attach(self)
                continue
            self.mgr.on_message(self.sid, msg)

    def send(self, data: bytes) -> None:
        t = self.transport
        if t is None or self.closed:
            return
        if t.get_write_buffer_size() > MAX_QUEUE_BYTES:
            self.abort("send queue over its bound")
            return
        t.write(data)

    def abort(self, reason: str) -> None:
        if self.closed:
            return
        log.warning("event=peer_disconnected peer=%s reason=%s", self.sid, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self.closed = True
        self.mgr._detach(self)


class PeerTransport:
    def __init__(self, my_id: int, specs: dict[int, ServerSpec], on_message: Callable[[int, Message], None],
                 on_disconnect: Callable[[int], None]) -> None:
        self.my_id = my_id
        self.specs = specs
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.links: dict[int, PeerLink] = {}
        self._server: asyncio.AbstractServer | None = None
        self._dialers: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        me = self.specs[self.my_id]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: PeerLink(self, None), me.host, me.peer_port,
                                                reuse_address=True)
        for sid in self.specs:
            if sid < self.my_id:
                self._dialers.append(asyncio.create_task(self._dial_loop(sid)))
        log.info("event=peer_listening address=%s port=%d peers=%s", me.host, me.peer_port,
                 sorted(s for s in self.specs if s != self.my_id))

    async def _dial_loop(self, sid: int) -> None:
        spec = self.specs[sid]
        delay = 0.05
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if sid not in self.links:
                try:
                    await loop.create_connection(lambda: PeerLink(self, sid), spec.host, spec.peer_port)
                    delay = 0.05
                except OSError:
                    delay = min(delay * 2, 1.0)
            await asyncio.sleep(delay)

    def _attach(self, link: PeerLink) -> None:
        assert link.sid is not None
        old = self.links.get(link.sid)
        if old is not None and old is not link:
            old.abort("replaced by a newer connection")
        self.links[link.sid] = link
        log.info("event=peer_connected peer=%d", link.sid)

    def _detach(self, link: PeerLink) -> None:
        if link.sid is not None and self.links.get(link.sid) is link:
            del self.links[link.sid]
            if not self._stopping:
                self.on_disconnect(link.sid)

    def send(self, sid: int, msg: Message) -> None:
        link = self.links.get(sid)
        if link is not None:
            link.send(encode_frame(msg))

    async def stop(self) -> None:
        self._stopping = True
        for t in self._dialers:
            t.cancel()
        for link in list(self.links.values()):
            link.abort("shutting down")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
