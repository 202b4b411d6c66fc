"""SASL DIGEST-MD5 (RFC 2831), server and client, as ZooKeeper uses it: authentication only (qop=auth).

Why written here: PyPI has no maintained DIGEST-MD5 *server* (pure-sasl and pysasl are client-side or
lack the mechanism). The server mirrors the Java SASL server ZooKeeper runs (`protocol` zookeeper,
server name and realm `zk-sasl-md5`, md5-sess, utf-8): two steps, a challenge for the first token
(empty; Java ignores a non-empty one), then the client's response is checked and answered with
`rspauth`, after which the exchange is complete. Every deviation (a second use of a directive, a
wrong nonce, nc or digest-uri, an unknown user, a response over Java's 4096 bytes) fails the exchange
with `SaslError`; nothing else is raised for any input.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable

REALM = "zk-sasl-md5"
SERVICE = "zookeeper"
DIGEST_URI = f"{SERVICE}/{REALM}"
MAX_RESPONSE = 4096  # Java's DigestMD5Server refuses longer responses
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class SaslError(Exception):
    """The exchange failed; the message says why (logged, never sent to the client)."""


def parse_directives(data: bytes) -> dict[str, str]:
    """`key=value` pairs separated by commas; values are tokens or quoted strings with `\\` escapes.
    Duplicate keys, empty keys and garbage are errors (RFC 2831 2.1: each directive at most once)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("not UTF-8") from None
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        m = _TOKEN.match(text, i)
        if m is None:
            raise SaslError(f"bad directive name at offset {i}")
        key = m.group().lower()
        i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise SaslError(f"directive {key} has no value")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise SaslError(f"unterminated quoted value of {key}")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                buf.append(c)
                i += 1
            value = "".join(buf)
        else:
            m = _TOKEN.match(text, i)
            if m is None:
                raise SaslError(f"bad value of {key}")
            value = m.group()
            i = m.end()
        if key in out:
            raise SaslError(f"directive {key} given twice")
        out[key] = value
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise SaslError(f"garbage after directive {key}")
    return out


def _text(s: str) -> bytes:
    """RFC 2831 with charset=utf-8: ISO 8859-1 when every character fits, UTF-8 otherwise."""
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def _hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def compute(user: str, realm: str, password: str, nonce: str, cnonce: str, nc: str, uri: str,
            authzid: str | None, qop: str = "auth") -> tuple[str, str]:
    """(response, rspauth) for these values (RFC 2831 2.1.2.1, md5-sess)."""
    a1 = _md5(_text(user) + b":" + _text(realm) + b":" + _text(password)) + f":{nonce}:{cnonce}".encode()
    if authzid:
        a1 += b":" + authzid.encode("utf-8")
    ha1 = _hex(a1)
    tail = f"{nonce}:{nc}:{cnonce}:{qop}:"
    response = _hex(f"{ha1}:{tail}{_hex(f'AUTHENTICATE:{uri}'.encode())}".encode())
    rspauth = _hex(f"{ha1}:{tail}{_hex(f':{uri}'.encode())}".encode())
    return response, rspauth


class DigestMd5Server:
    """One exchange. `lookup(user)` gives the user's password or None. After `complete`, `user` is
    the authenticated name (ZooKeeper's authorization id: the authentication id, whatever authzid
    the client asked for)."""

    def __init__(self, lookup: Callable[[str], str | None], nonce: str | None = None, *, realm: str = REALM,
                 service: str = SERVICE) -> None:
        """`realm` and `service` name the server as Java's does: zk-sasl-md5 and zookeeper for clients,
        zk-quorum-sasl-md5 and zookeeper-quorum between members (QuorumAuth)."""
        self.lookup = lookup
        self.realm = realm
        self.digest_uri = f"{service}/{realm}"
        self.nonce = nonce or base64.b64encode(os.urandom(30)).decode()
        self.step = 0
        self.complete = False
        self.user: str | None = None
        self.authzid: str | None = None  # what the client asked to act as, if it said

    def evaluate(self, token: bytes) -> bytes:
        """The answer to the client's token; SaslError when the exchange fails."""
        self.step += 1
        if self.step == 1:
            # Java 17's server ignores an initial response (it sends its challenge all the same), and its
            # challenge names no qop: RFC 2831 reads that as "auth".
            if len(token) > MAX_RESPONSE:
                raise SaslError(f"response of {len(token)} bytes exceeds {MAX_RESPONSE}")
            return f'realm="{self.realm}",nonce="{self.nonce}",charset=utf-8,algorithm=md5-sess'.encode()
        if self.step == 2:
            return self._check(token)
        raise SaslError("DIGEST-MD5 exchange already finished")

    def _check(self, token: bytes) -> bytes:
        if len(token) > MAX_RESPONSE:
            raise SaslError(f"response of {len(token)} bytes exceeds {MAX_RESPONSE}")
        d = parse_directives(token)
        for key in ("username", "nonce", "cnonce", "nc", "response", "digest-uri"):
            if key not in d:
                raise SaslError(f"missing directive {key}")
        if d.get("charset", "utf-8").lower() != "utf-8":
            raise SaslError("charset must be utf-8")
        if d.get("qop", "auth") != "auth":
            raise SaslError(f"unsupported qop {d['qop']!r} (auth only)")
        if d["nonce"] != self.nonce:
            raise SaslError("nonce mismatch")
        if d["nc"] != "00000001":
            raise SaslError(f"unexpected nonce count {d['nc']}")
        if d["digest-uri"].lower() != self.digest_uri:
            raise SaslError(f"mismatched digest-uri {d['digest-uri']!r} (expected {self.digest_uri})")
        realm = d.get("realm", "")
        if realm and realm != self.realm:
            raise SaslError(f"unknown realm {realm!r}")
        if not re.fullmatch(r"[0-9a-fA-F]{32}", d["response"]):
            raise SaslError("malformed response value")
        user = d["username"]
        password = self.lookup(user)
        if password is None:
            raise SaslError(f"unknown user {user!r}")
        expected, rspauth = compute(user, realm, password, self.nonce, d["cnonce"], d["nc"], d["digest-uri"],
                                    d.get("authzid"))
        if not hmac.compare_digest(expected, d["response"].lower()):
            raise SaslError(f"wrong password for user {user!r}")
        self.user = user
        self.authzid = d.get("authzid")
        self.complete = True
        return f"rspauth={rspauth}".encode()


class DigestMd5Client:
    """The client side, for corral's own client: `evaluate(b"")` starts, then each server token."""

    def __init__(self, user: str, password: str, authzid: str | None = None, *, realm: str = REALM,
                 service: str = SERVICE) -> None:
        self.user, self.password, self.authzid = user, password, authzid
        self.digest_uri = f"{service}/{realm}"
        self.step = 0
        self.complete = False
        self._rspauth = ""

    def evaluate(self, challenge: bytes) -> bytes:
        self.step += 1
        if self.step == 1:
            return b""
        if self.step == 2:
            d = parse_directives(challenge)
            if "nonce" not in d:
                raise SaslError("server challenge without a nonce")
            if "auth" not in d.get("qop", "auth").split(","):
                raise SaslError("server does not offer qop=auth")
            realm = d.get("realm", "")
            cnonce = base64.b64encode(os.urandom(24)).decode()
            response, self._rspauth = compute(self.user, realm, self.password, d["nonce"], cnonce, "00000001",
                                              self.digest_uri, self.authzid)

            def q(s: str) -> str:
                return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts = [f"charset=utf-8,username={q(self.user)},realm={q(realm)},nonce={q(d['nonce'])},nc=00000001",
                     f"cnonce={q(cnonce)},digest-uri={q(self.digest_uri)},maxbuf=65536,response={response},qop=auth"]
            if self.authzid:
                parts.append(f"authzid={q(self.authzid)}")
            return ",".join(parts).encode()
        if self.step == 3:
            d = parse_directives(challenge)
            if not hmac.compare_digest(d.get("rspauth", ""), self._rspauth):
                raise SaslError("the server's rspauth does not match: it does not know the password")
            self.complete = True
            return b""
        raise SaslError("DIGEST-MD5 exchange already finished")
