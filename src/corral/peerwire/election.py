"""The electionPort side of Apache ZooKeeper's peer protocol: QuorumCnxManager's connection
initiation message, its length-prefixed frames, and FastLeaderElection's notifications.

Facts (Apache 3.8 `QuorumCnxManager`, `FastLeaderElection.buildMsg` and `Messenger.WorkerReceiver`):

* The member that dials sends, once, before any frame: ``long protocolVersion`` (-65536, or -65535
  when multiAddress is enabled; a non-negative first long is a pre-3.5 peer that sent only its sid),
  ``long sid``, ``int length`` (1..2048) and that many bytes of ``host:port`` (V2: ``|``-separated
  list). The accepting side answers nothing: the next bytes in either direction are frames.
* A frame is ``int length`` (1..512 KiB, `PACKETMAXSIZE`) and the body.
* A notification body is ``int state, long leader, long zxid, long electionEpoch, long peerEpoch,
  int version`` and, for version > 1, ``int configLength`` and the quorum configuration text
  (``server.N=...`` lines and ``version=<hex>``) that 3.5+ appends. 3.8 still reads the 28-byte
  (no peerEpoch) and 40-byte (peerEpoch, version ignored) forms of older releases.

Decoding is strict: anything a correct peer would not send raises `PeerProtocolError`, and nothing
else, so the transport's reaction to garbage is a single ``except`` that closes one connection.
Apache is laxer in two places, on purpose here: it ignores bytes after the config text, and it
silently drops a notification with an unknown state; both are errors for us.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..quorum.errors import PeerProtocolError

__all__ = [
    "CURRENT_NOTIFICATION_VERSION",
    "MAX_ADDRESS_BYTES",
    "MAX_FRAME",
    "PROTOCOL_VERSION_V1",
    "PROTOCOL_VERSION_V2",
    "ElectionFrameReader",
    "InitialMessage",
    "InitialMessageReader",
    "Notification",
    "ServerState",
    "encode_election_frame",
]

PROTOCOL_VERSION_V1 = -65536
PROTOCOL_VERSION_V2 = -65535
MAX_ADDRESS_BYTES = 2048  # QuorumCnxManager.maxBuffer
MAX_FRAME = 512 * 1024  # QuorumCnxManager.PACKETMAXSIZE
CURRENT_NOTIFICATION_VERSION = 2

_Q = struct.Struct(">q")
_QQI = struct.Struct(">qqi")
_I = struct.Struct(">i")
_NOTE28 = struct.Struct(">iqqq")
_NOTE40 = struct.Struct(">iqqqq")
_NOTE_V = struct.Struct(">iqqqqi")


class ServerState:
    """QuorumPeer.ServerState ordinals, as notifications carry them."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3
    NAMES = ("LOOKING", "FOLLOWING", "LEADING", "OBSERVING")


# ---- connection initiation -----------------------------------------------------------------------


def _parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (NetUtils.formatInetAddr), as ConfigUtils.getHostAndPort reads it."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise PeerProtocolError(f"badly formed address {text!r}")
        host, port_text = text[1:end], text[end + 2:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as e:
            raise PeerProtocolError(f"badly formed address {text!r}") from e
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise PeerProtocolError(f"badly formed address {text!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise PeerProtocolError(f"bad port number in {text!r}")
    return host, int(port_text)


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class InitialMessage:
    """What a dialing member says first on an election connection.

    `addresses` is empty for a pre-3.5 peer (it sent only its sid, `protocol_version` is None).
    """

    sid: int
    addresses: tuple[tuple[str, int], ...]
    protocol_version: int | None = PROTOCOL_VERSION_V1

    def encode(self) -> bytes:
        if self.protocol_version is None:
            return _Q.pack(self.sid)
        if not self.addresses:
            raise ValueError("an initial message names at least one election address")
        text = "|".join(_format_address(h, p) for h, p in self.addresses).encode()
        if len(text) > MAX_ADDRESS_BYTES:
            raise ValueError("election addresses too long for the initial message")
        return _QQI.pack(self.protocol_version, self.sid, len(text)) + text


class InitialMessageReader:
    """Sans-I/O reader of the initial message: `feed()` until it returns the message.

    Bytes after the message are frames; `rest` holds them once the message is complete.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.rest = b""
        self.done = False

    def feed(self, data: bytes | bytearray | memoryview) -> InitialMessage | None:
        if self.done:
            raise RuntimeError("initial message already read")
        self._buf += data
        buf = self._buf
        if len(buf) < 8:
            return None
        (version,) = _Q.unpack_from(buf, 0)
        if version >= 0:  # a pre-3.5 peer: its sid and nothing else
            return self._finish(InitialMessage(version, (), None), 8)
        if version not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
            raise PeerProtocolError(f"unrecognized protocol version {version}")
        if len(buf) < _QQI.size:
            return None
        _, sid, n = _QQI.unpack_from(buf, 0)
        if not 0 < n <= MAX_ADDRESS_BYTES:
            raise PeerProtocolError(f"unreasonable address length {n}")
        if sid < 0:
            raise PeerProtocolError(f"negative server id {sid}")
        if len(buf) < _QQI.size + n:
            return None
        try:
            text = bytes(buf[_QQI.size:_QQI.size + n]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise PeerProtocolError("address is not UTF-8") from e
        parts = text.split("|")
        if version == PROTOCOL_VERSION_V1 and len(parts) != 1:
            raise PeerProtocolError("several addresses in a version 1 initial message")
        addresses = tuple(_parse_address(p) for p in parts)
        return self._finish(InitialMessage(sid, addresses, version), _QQI.size + n)

    def _finish(self, msg: InitialMessage, end: int) -> InitialMessage:
        self.rest = bytes(self._buf[end:])
        self._buf.clear()
        self.done = True
        return msg


# ---- frames ----------------------------------------------------------------------------------------


def encode_election_frame(body: bytes) -> bytes:
    if not 0 < len(body) <= MAX_FRAME:
        raise ValueError(f"election frame of {len(body)} bytes")
    return _I.pack(len(body)) + body


class ElectionFrameReader:
    """Sans-I/O reader of electionPort frames; a length outside 1..512 KiB is a `PeerProtocolError`."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        off = 0
        while len(buf) - off >= 4:
            (n,) = _I.unpack_from(buf, off)
            if not 0 < n <= MAX_FRAME:
                raise PeerProtocolError(f"election frame length {n} out of range")
            if len(buf) - off - 4 < n:
                break
            out.append(bytes(buf[off + 4:off + 4 + n]))
            off += 4 + n
        del buf[:off]
        return out


# ---- notifications ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """One FastLeaderElection notification: the sender's state and the vote it holds.

    `config` is the sender's quorum configuration text (version 2), None in older forms.
    """

    state: int
    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    version: int = CURRENT_NOTIFICATION_VERSION
    config: bytes | None = b""

    def encode(self) -> bytes:
        """The body as 3.5+ sends it (version 2 with the config text)."""
        cfg = self.config or b""
        return _NOTE_V.pack(self.state, self.leader, self.zxid, self.election_epoch, self.peer_epoch,
                            CURRENT_NOTIFICATION_VERSION) + _I.pack(len(cfg)) + cfg

    def frame(self) -> bytes:
        return encode_election_frame(self.encode())

    @classmethod
    def decode(cls, body: bytes | bytearray | memoryview) -> Notification:
        buf = bytes(body)
        n = len(buf)
        if n < _NOTE28.size:
            raise PeerProtocolError(f"short notification ({n} bytes)")
        if n == _NOTE28.size:  # before peerEpoch existed: derive it from the zxid
            state, leader, zxid, eepoch = _NOTE28.unpack(buf)
            note = cls(state, leader, zxid, eepoch, zxid >> 32, 0, None)
        elif n == 40:  # peerEpoch, and a version int that 3.8 does not read
            state, leader, zxid, eepoch, pepoch = _NOTE40.unpack_from(buf, 0)
            note = cls(state, leader, zxid, eepoch, pepoch, 0, None)
        elif n < _NOTE_V.size:
            raise PeerProtocolError(f"truncated notification ({n} bytes)")
        else:
            state, leader, zxid, eepoch, pepoch, version = _NOTE_V.unpack_from(buf, 0)
            config: bytes | None = None
            if version > 1:
                if n < _NOTE_V.size + 4:
                    raise PeerProtocolError("notification without its config length")
                (clen,) = _I.unpack_from(buf, _NOTE_V.size)
                if clen < 0 or _NOTE_V.size + 4 + clen != n:
                    raise PeerProtocolError(f"config length {clen} does not match a {n}-byte notification")
                config = buf[_NOTE_V.size + 4:]
            elif n != _NOTE_V.size:
                raise PeerProtocolError(f"{n - _NOTE_V.size} trailing bytes after a version {version} notification")
            if version < 0:
                raise PeerProtocolError(f"negative notification version {version}")
            note = cls(state, leader, zxid, eepoch, pepoch, version, config)
        if not 0 <= note.state <= 3:
            raise PeerProtocolError(f"unknown server state {note.state}")
        # No range checks on the vote itself: an observer votes Long.MIN_VALUE for leader, zxid and
        # peerEpoch (FastLeaderElection.getInitId and friends), and any long is a vote a peer may hold.
        return note

    @property
    def state_name(self) -> str:
        return ServerState.NAMES[self.state]
