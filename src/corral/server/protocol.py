"""The asyncio side of a client connection: a thin adapter that shuttles bytes.

All protocol state lives in `connection.ServerConnection` and all request handling in
`frontend.Frontend`; this class only moves bytes between the socket and them, and applies
back-pressure (a client that does not read its replies stops being read).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .frontend import Frontend, Link


class ClientProtocol(asyncio.Protocol):
    def __init__(self, frontend: Frontend, secure: bool = False) -> None:
        self.frontend = frontend
        self.secure = secure
        self.transport: asyncio.Transport | None = None
        self.link: Link | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # create_server makes stream transports; uvloop's are not subclasses of asyncio.Transport, so no
        # isinstance can say so.
        self.transport = stream = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("?", 0)
        cert: bytes | None = None
        if self.secure:
            # The TLS handshake is complete here: a certificate OpenSSL handed over is a verified one.
            sslobj = transport.get_extra_info("ssl_object")
            cert = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        self.link = self.frontend.open(self, (str(peer[0]), int(peer[1])), self.secure, cert)
        if self.link is None:
            stream.abort()

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.frontend.data_received(self.link, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.frontend.connection_lost(self.link)

    def pause_writing(self) -> None:
        # The client does not read its replies: stop reading its requests until it catches up.
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.paused:
            self.paused = False
            self.transport.resume_reading()

    # ---- frontend.Transport --------------------------------------------------------------------

    def write(self, data: bytes | bytearray) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
