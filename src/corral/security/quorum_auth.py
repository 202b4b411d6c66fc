"""Quorum SASL: DIGEST-MD5 between members, as Apache ZooKeeper's SaslQuorumAuthServer/Learner run it.

Where it happens (Apache 3.8): on an electionPort connection right after the dialer's initial message
(QuorumCnxManager.startConnection / handleConnection), and on a peerPort connection before the
learner's first QuorumPacket (Learner.connectToLeader / LearnerHandler's constructor). Both directions
are bare jute `QuorumAuthPacket` records (`long magic, int status, buffer token`, no length prefix):

* the learner (the side that dialled) sends IN_PROGRESS with DIGEST-MD5's empty first token; the server
  answers IN_PROGRESS with its challenge; the learner sends its response; the server answers SUCCESS
  with `rspauth` (checked by the learner) or ERROR with an empty token;
* a learner with `quorum.auth.learnerRequireSasl=false` sends nothing; the server peeks the first long
  and lets a connection that does not start with the magic number through unless
  `quorum.auth.serverRequireSasl=true` (Apache's rolling enablement of quorum SASL);
* the server name is `zk-quorum-sasl-md5` and the protocol `zookeeper-quorum` (the digest-uri), users
  come from the JAAS `QuorumServer` section (`user_NAME="password"`), the learner's own name and
  password from `QuorumLearner` (`username`, `password`).

Both sides are sans-I/O: `feed(bytes)` returns what to send; `done`, `failure` and `rest` (bytes after
the exchange, for the next layer) say where it stands. A failure is never raised: the caller writes
what `feed` returned (ERROR packet included), logs `failure` and closes when authentication is required.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.records import QuorumAuthPacket
from .digest_md5 import MAX_RESPONSE, DigestMd5Client, DigestMd5Server, SaslError

#: Java's `-0xa0dbcafecafe1234L`: the hex literal is already a negative long, so the negation is positive.
MAGIC = 0x5F2435013501EDCC
IN_PROGRESS, SUCCESS, ERROR = 0, 1, -1
REALM = "zk-quorum-sasl-md5"  # QuorumAuth.QUORUM_SERVER_SASL_DIGEST
SERVICE = "zookeeper-quorum"  # QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME
MAX_TOKEN = 2 * MAX_RESPONSE  # DIGEST-MD5 tokens are a few hundred bytes; anything larger is not a peer
MAX_ROUNDS = 5  # SaslQuorumAuthServer.MAX_RETRIES
_HEAD = struct.Struct(">qii")  # magic, status, token length


def packet(status: int, token: bytes) -> bytes:
    return QuorumAuthPacket(MAGIC, status, token).to_bytes()


class _Packets:
    """Reads QuorumAuthPackets off a stream; a wrong magic, status or length is a failure."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def next(self) -> tuple[int, bytes] | None:
        if len(self.buf) < _HEAD.size:
            return None
        magic, status, n = _HEAD.unpack_from(self.buf, 0)
        if magic != MAGIC:
            raise SaslError(f"not a quorum authentication packet (magic 0x{magic & (2**64 - 1):x})")
        if status not in (IN_PROGRESS, SUCCESS, ERROR):
            raise SaslError(f"unknown authentication status {status}")
        if not -1 <= n <= MAX_TOKEN:
            raise SaslError(f"authentication token of {n} bytes (at most {MAX_TOKEN})")
        end = _HEAD.size + max(n, 0)
        if len(self.buf) < end:
            return None
        token = bytes(self.buf[_HEAD.size:end])
        del self.buf[:end]
        return status, token


@dataclass
class QuorumSaslConfig:
    """One member's quorum SASL settings, the JAAS sections already read."""

    learner_required: bool
    server_required: bool
    users: dict[str, str]  # QuorumServer: who may join us
    login: tuple[str, str]  # QuorumLearner: who we are

    def server(self) -> SaslQuorumServer:
        return SaslQuorumServer(self.users.get, self.server_required)

    def learner(self) -> SaslQuorumLearner | None:
        """None: learnerRequireSasl is false, so we do not authenticate (and send nothing)."""
        return SaslQuorumLearner(*self.login) if self.learner_required else None


class SaslQuorumServer:
    """The accepting side of one connection."""

    def __init__(self, lookup: Callable[[str], str | None], required: bool) -> None:
        self.required = required
        self.sasl = DigestMd5Server(lookup, realm=REALM, service=SERVICE)
        self.packets = _Packets()
        self.peeked = False
        self.done = False
        self.failure: str | None = None
        self.rest = b""
        self.rounds = 0

    @property
    def user(self) -> str | None:
        return self.sasl.user if self.failure is None and self.done else None

    def feed(self, data: bytes) -> bytes:
        if self.done:
            raise RuntimeError("quorum authentication already finished")
        self.packets.buf += data
        if not self.peeked:
            if len(self.packets.buf) < 8:
                return b""
            self.peeked = True
            (magic,) = struct.unpack_from(">q", self.packets.buf, 0)
            if magic != MAGIC:  # QuorumAuth.nextPacketIsAuth
                if self.required:
                    return self._fail("the learner did not authenticate and authentication is required", b"")
                self._finish()
                return b""
        out = bytearray()
        try:
            while not self.done:
                got = self.packets.next()
                if got is None:
                    break
                status, token = got
                if status != IN_PROGRESS:
                    raise SaslError(f"the learner sent status {status}")
                self.rounds += 1
                if self.rounds > MAX_ROUNDS:
                    raise SaslError(f"more than {MAX_ROUNDS} rounds")
                answer = self.sasl.evaluate(token)
                if not self.sasl.complete:
                    out += packet(IN_PROGRESS, answer)
                    continue
                authzid = self.sasl.authzid
                if authzid and authzid != self.sasl.user:  # SaslQuorumServerCallbackHandler's AuthorizeCallback
                    raise SaslError(f"user {self.sasl.user!r} may not act as {authzid!r}")
                out += packet(SUCCESS, answer)
                self._finish()
        except SaslError as e:
            return self._fail(str(e), bytes(out) + packet(ERROR, b""))
        return bytes(out)

    def eof(self) -> bool:
        """The learner closed mid-exchange: True when the connection counts as let through (Apache
        lets a learner through whose stream ends before the magic when SASL is not required)."""
        return not self.required and self.failure is None

    def _fail(self, reason: str, out: bytes) -> bytes:
        self.failure = reason
        self._finish()
        return out

    def _finish(self) -> None:
        self.done = True
        self.rest = bytes(self.packets.buf)
        self.packets.buf.clear()


class SaslQuorumLearner:
    """The dialling side of one connection: `start()` is its first packet."""

    def __init__(self, user: str, password: str) -> None:
        self.sasl = DigestMd5Client(user, password, realm=REALM, service=SERVICE)
        self.packets = _Packets()
        self.done = False
        self.failure: str | None = None
        self.rest = b""
        self.rounds = 0

    def start(self) -> bytes:
        return packet(IN_PROGRESS, self.sasl.evaluate(b""))  # DIGEST-MD5 has no initial response: empty

    def feed(self, data: bytes) -> bytes:
        if self.done:
            raise RuntimeError("quorum authentication already finished")
        self.packets.buf += data
        out = bytearray()
        try:
            while not self.done:
                got = self.packets.next()
                if got is None:
                    break
                status, token = got
                self.rounds += 1
                if self.rounds > MAX_ROUNDS:
                    raise SaslError(f"more than {MAX_ROUNDS} rounds")
                if status == ERROR:
                    raise SaslError("the server refused our credentials (status ERROR)")
                answer = self.sasl.evaluate(token)
                if status == IN_PROGRESS:
                    out += packet(IN_PROGRESS, answer)
                    continue
                if not self.sasl.complete:  # SUCCESS before the exchange could complete
                    raise SaslError("the server said SUCCESS before the exchange was complete")
                self._finish(None)
        except SaslError as e:
            self._finish(str(e))
        return bytes(out)

    def _finish(self, failure: str | None) -> None:
        self.failure = failure
        self.done = True
        self.rest = bytes(self.packets.buf)
        self.packets.buf.clear()
