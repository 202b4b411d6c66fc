"""Four-letter words sent to a member's client port from the event loop, and their outputs parsed.

The web console's ensemble, sessions and watches views and `corral migrate check` use the words every
ZooKeeper server answers on its client port (`srvr`, `mntr`, `cons`, `wchc`, `hash`), so they work
against members they are not part of, and against Apache ZooKeeper. Outside corral.console so that the
command line does not import the console's web application to send one word. `srvr` is always allowed;
the others only when the member's `4lw.commands.whitelist` names them, and a refused word is reported as
such, not as a failure.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

__all__ = ["NotAllowed", "ProbeError", "parse_cons", "parse_mntr", "parse_srvr", "parse_wchc", "send_word"]

MAX_ANSWER = 8 * 1024 * 1024  # a wchc of a busy server is large, but never this large
_NOT_ALLOWED = "is not executed because it is not in the whitelist"


class ProbeError(Exception):
    """The member did not answer (down, refused, too slow, or answered garbage)."""


class NotAllowed(ProbeError):
    """The member answered that this word is not in its `4lw.commands.whitelist`."""


async def send_word(host: str, port: int, word: str, timeout: float) -> str:
    """Send `word` and return the whole answer (the server closes the connection after it)."""
    if len(word) != 4 or not word.isalpha():
        raise ValueError(f"not a four-letter word: {word!r}")

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(word.encode())
            await writer.drain()
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_ANSWER:
                try:
                    chunk = await reader.read(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > MAX_ANSWER:
                raise ProbeError(f"{word} answer larger than {MAX_ANSWER} bytes")
            return b"".join(chunks)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    try:
        raw = await asyncio.wait_for(exchange(), timeout)
    except TimeoutError:
        raise ProbeError(f"no answer to {word} within {timeout:g} s") from None
    except OSError as e:
        raise ProbeError(e.strerror or type(e).__name__) from None
    text = raw.decode("utf-8", errors="replace")
    if _NOT_ALLOWED in text:
        raise NotAllowed(f"{word} is not in the member's 4lw.commands.whitelist")
    return text


def _fields(text: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found:
            out[key.strip()] = value.strip()
    return out


def parse_srvr(text: str) -> dict[str, str]:
    """`srvr`'s `Name: value` lines (`Mode`, `Zxid`, `Latency min/avg/max`, `Outstanding`, ...)."""
    return _fields(text, ": ")


def parse_mntr(text: str) -> dict[str, str]:
    """`mntr`'s tab-separated `zk_name value` lines."""
    return _fields(text, "\t")


_CONS_LINE = re.compile(r"^\s*/(?P<addr>.+?)\[(?P<active>\d)\]\((?P<fields>[^)]*)\)\s*$")


def parse_cons(text: str) -> list[dict[str, str]]:
    """`cons`: one dict per connection with `addr` and the `key=value` fields (`sid`, `lop`, `est`, ...)."""
    rows: list[dict[str, str]] = []
    for line in text.splitlines():
        m = _CONS_LINE.match(line)
        if m is None:
            continue
        row = {"addr": m["addr"], "active": m["active"]}
        for part in m["fields"].split(","):
            key, eq, value = part.partition("=")
            if eq:
                row[key.strip()] = value.strip()
        rows.append(row)
    return rows


def parse_wchc(text: str) -> dict[str, list[str]]:
    """`wchc`: session id (hex, as printed) → the paths it watches."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("0x"):
            current = out.setdefault(line.strip(), [])
        elif current is not None and line[:1].isspace():
            current.append(line.strip())
    return out


@dataclass(frozen=True, slots=True)
class Zxid:
    """A zxid split into epoch and counter, so lag is only computed within one epoch."""

    value: int

    @property
    def epoch(self) -> int:
        return self.value >> 32

    @property
    def counter(self) -> int:
        return self.value & 0xFFFFFFFF

    @classmethod
    def parse(cls, text: str | None) -> Zxid | None:
        if not text:
            return None
        try:
            return cls(int(text, 16) if text.lower().startswith("0x") else int(text))
        except ValueError:
            return None
