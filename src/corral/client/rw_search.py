"""Looking for a read-write server while connected to a read-only one.

A server that lost its quorum may serve reads to clients that asked for it (`can_be_read_only`). Such a
client must not stay there once the quorum is back, so it asks the servers of its list, one at a
time, whether they are read-write — with the `isro` four-letter word (answer `rw` or `ro`), which
ZooKeeper servers always allow whatever their 4lw whitelist says. Timing follows Java's
`ClientCnxn.pingRwServer`: the first probe 100 ms after connecting, the interval doubling after every
probe up to 60 s, and back to 100 ms once a read-write server has been found; a probe gives up after
one second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

__all__ = ["MAX_INTERVAL", "MIN_INTERVAL", "PROBE_TIMEOUT", "is_read_write"]

MIN_INTERVAL = 0.1  # Java's minPingRwTimeout, 100 ms
MAX_INTERVAL = 60.0  # Java's maxPingRwTimeout, 60000 ms
PROBE_TIMEOUT = 1.0  # Java's socket read timeout for the probe


async def _ask(host: str, port: int, tls: ssl.SSLContext | None) -> bytes:
    if tls is None:
        reader, writer = await asyncio.open_connection(host, port)
    else:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls,
                                                       server_hostname=host if tls.check_hostname else "")
    try:
        writer.write(b"isro")
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        return await reader.read(64)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def is_read_write(host: str, port: int, timeout: float = PROBE_TIMEOUT,
                        tls: ssl.SSLContext | None = None) -> bool:
    """True only when the server answers `isro` with `rw` within `timeout`; any failure is False.

    With `tls` the probe goes over TLS, as the client's own connections do (Java's probe is always
    plain, which fails against a TLS-only client port).
    """
    try:
        answer = await asyncio.wait_for(_ask(host, port, tls), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    return answer.split(b"\n", 1)[0].strip() == b"rw"
