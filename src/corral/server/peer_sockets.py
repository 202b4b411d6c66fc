"""How this member's peer connections are opened: plaintext, TLS (`sslQuorum`) or both on one port
(`portUnification`), on electionPort and peerPort alike, as Apache's QuorumCnxManager and Learner do.

* Dialling: TLS when sslQuorum, with our certificate (mutual TLS) and the peer's checked against its
  `server.N` address when `ssl.quorum.hostnameVerification` (the default).
* Accepting with TLS: the handshake is completed here before the connection reaches its protocol, so
  a peer that speaks plaintext to a TLS port, or presents a certificate our trust store does not
  accept, is refused and logged (`event=peer_refused`) without the peer code ever seeing it. As Apache
  (QuorumX509Util verifies client host names), an accepted member's certificate must also name the
  address it connects from, unless hostnameVerification is off.
* Port unification (Apache's UnifiedServerSocket): the first byte of an accepted connection decides;
  a TLS record starts with 0x16 (handshake), while Apache's plaintext peers start with a long
  protocol version (0xff..) on electionPort or a QuorumPacket type (0x00..) on peerPort.

Plain members keep asyncio's own listener: nothing here runs unless a quorum security key asks for it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TypeVar, cast

from ..security.quorum import QuorumSecurity
from ..security.tls import peer_address_matches

log = logging.getLogger("corral.peers")

HANDSHAKE_TIMEOUT = 5.0  # seconds to see a first byte and finish a TLS handshake (Apache's cnxTimeout)
TLS_RECORD_HANDSHAKE = 0x16
MAX_REMEMBERED = 1024  # refusal reasons kept per (port, peer) to log each once
MAX_PENDING = 64  # accepted connections still in their handshake; more wait in the kernel's backlog

P = TypeVar("P", bound=asyncio.BaseProtocol)


class Listener:
    """One listening port of ours; `close()` stops it and any handshake still under way."""

    def __init__(self, server: asyncio.AbstractServer | None, task: asyncio.Task[None] | None,
                 sock: socket.socket | None) -> None:
        self._server, self._task, self._sock = server, task, sock

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._sock is not None:
            self._sock.close()


class PeerSockets:
    def __init__(self, security: QuorumSecurity | None) -> None:
        self.security = security if security is not None and security.server_tls is not None else None
        self._refusals: dict[tuple[str, str], str] = {}  # (port, peer) -> last reason logged

    # ---- accepting --------------------------------------------------------------------------------

    async def listen(self, host: str, port: int, factory: Callable[[], asyncio.BaseProtocol], what: str
                     ) -> Listener:
        loop = asyncio.get_running_loop()
        if self.security is None:
            server = await loop.create_server(factory, host, port, reuse_address=True)
            return Listener(server, None, None)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=128)
        sock.setblocking(False)
        task = loop.create_task(self._accept_loop(sock, factory, what))
        mode = "tls+plaintext" if self.security.unified else "tls"
        log.info("event=peer_port_security port=%s mode=%s", what, mode)
        return Listener(None, task, sock)

    async def _accept_loop(self, sock: socket.socket, factory: Callable[[], asyncio.BaseProtocol], what: str
                           ) -> None:
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()
        try:
            for _ in itertools.count():  # until the listener is closed (this task cancelled)
                try:
                    conn, addr = await loop.sock_accept(sock)
                except OSError as e:  # out of file descriptors, a connection reset before accept, ...
                    log.warning("event=peer_accept_failed port=%s reason=%s", what, _reason(e))
                    await asyncio.sleep(0.1)
                    continue
                if len(pending) >= MAX_PENDING:
                    log.warning("event=peer_refused port=%s peer=%s reason=too_many_handshakes", what, addr[0])
                    conn.close()
                    continue
                task = loop.create_task(self._admit(conn, str(addr[0]), factory, what))
                pending.add(task)
                task.add_done_callback(pending.discard)
        finally:
            for task in list(pending):
                task.cancel()

    async def _admit(self, conn: socket.socket, peer: str, factory: Callable[[], asyncio.BaseProtocol],
                     what: str) -> None:
        assert self.security is not None and self.security.server_tls is not None
        loop = asyncio.get_running_loop()
        stage = "tls"
        try:
            if self.security.unified:
                stage = "first_byte"
                first = await asyncio.wait_for(_peek(conn), HANDSHAKE_TIMEOUT)
                if not first:
                    conn.close()
                    return
                stage = "tls" if first[0] == TLS_RECORD_HANDSHAKE else "plaintext"
            if stage == "plaintext":
                await loop.connect_accepted_socket(factory, conn)
                log.info("event=peer_accepted port=%s peer=%s tls=false", what, peer)
                return
            made: list[_Verified] = []

            def verified() -> _Verified:
                made.append(_Verified(factory(), self, what, peer))
                return made[0]
            # (uvloop returns its own SSL protocol here, not ours: ours is kept in `made`.)
            await loop.connect_accepted_socket(verified, conn, ssl=self.security.server_tls.listening,
                                               ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (OSError, TimeoutError, ssl.SSLError) as e:
            self.refused(what, peer, f"{stage}: {_reason(e)}")
            conn.close()
            return
        except BaseException:  # cancelled: the listener is closing
            conn.close()
            raise
        if made and not made[0].refusing:
            log.info("event=peer_accepted port=%s peer=%s tls=true", what, peer)

    def check_peer(self, transport: asyncio.BaseTransport, peer: str) -> str | None:
        """Why an accepted TLS peer is refused after its handshake, or None."""
        assert self.security is not None
        cert = transport.get_extra_info("peercert")
        if self.security.hostname_verification and cert and not peer_address_matches(cert, peer):
            return "tls: the certificate does not name the address it connects from"
        return None

    def refused(self, what: str, peer: str, reason: str) -> None:
        """One warning per peer and reason: a member retrying every 100 ms must not flood the log."""
        key = (what, peer)
        if self._refusals.get(key) != reason:
            if len(self._refusals) >= MAX_REMEMBERED:  # many addresses: a scan, not members; start over
                self._refusals.clear()
            self._refusals[key] = reason
            log.warning("event=peer_refused port=%s peer=%s reason=%s", what, peer, reason)

    # ---- dialling ---------------------------------------------------------------------------------

    async def dial(self, host: str, port: int, factory: Callable[[], P], what: str,
                   timeout: float) -> P:
        """The connected protocol; OSError or TimeoutError when the peer cannot be reached or refuses
        our TLS handshake (that is logged, once per reason)."""
        loop = asyncio.get_running_loop()
        sec = self.security
        if sec is None or not sec.dial_tls or sec.client_tls is None:
            _, proto = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
            return proto
        try:
            _, proto = await asyncio.wait_for(loop.create_connection(
                factory, host, port, ssl=sec.client_tls.current, server_hostname=host,
                ssl_handshake_timeout=timeout), timeout)
        except ssl.SSLError as e:
            self.refused(what, f"{host}:{port}", f"tls: {_reason(e)}")
            raise
        self._refusals.pop((what, f"{host}:{port}"), None)
        return proto


class _Verified(asyncio.Protocol):
    """Hands an accepted TLS connection to its protocol only once the peer's certificate names the
    address it connects from: checked in connection_made, before any byte of the peer is read."""

    def __init__(self, inner: asyncio.BaseProtocol, sockets: PeerSockets, what: str, peer: str) -> None:
        self.inner = cast(asyncio.Protocol, inner)
        self.sockets, self.what, self.peer = sockets, what, peer
        self.refusing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        reason = self.sockets.check_peer(transport, self.peer)
        if reason is not None:
            self.refusing = True
            self.sockets.refused(self.what, self.peer, reason)
            cast(asyncio.Transport, transport).abort()
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.refusing:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.refusing else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.refusing:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


async def _peek(conn: socket.socket) -> bytes:
    """The first byte of an accepted connection, left in the socket for whoever reads it next."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)
    loop.add_reader(fd, readable)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return conn.recv(1, socket.MSG_PEEK)


def _reason(e: BaseException) -> str:
    text = getattr(e, "reason", None) or str(e) or type(e).__name__
    return str(text).replace("\n", " ").replace(" ", "_")[:200]
