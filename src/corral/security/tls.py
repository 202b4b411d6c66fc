"""TLS contexts built the way ZooKeeper's X509Util builds them, from Java-style key and trust stores.

Why a module of its own: the client port uses it now and the peer transport (`sslQuorum`) is meant to
reuse it, so it takes a `TlsSettings` (paths, passwords, store types, protocols, cipher suites, client
authentication) and knows nothing about zoo.cfg or sockets.

Stores: PEM (ZooKeeper's `PEM` type: the private key and its certificate chain in one file; a trust
store is a file of CA certificates) and PKCS12, both read with `cryptography`. JKS has no maintained
Python reader, so a JKS store is refused with the keytool line that converts it. Python's `ssl` loads a
certificate chain only from a file, so a PKCS12 key store is re-encoded into a private temporary file
(mode 0600, removed at once).

Reloading: `ReloadingContext` keeps the current server context and swaps a fresh one in when a store
file changes (as X509Util's file watcher does). The listening socket keeps one context whose SNI
callback moves every new connection onto the current one, so new handshakes use the new certificate
and trust store while established connections keep theirs.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.serialization.pkcs12 import PKCS12PrivateKeyTypes

# `cryptography` is imported by the store readers, not here: it costs a process about 19 MB of RSS,
# and a server without TLS settings (and every client) imports this module without reading a store.

log = logging.getLogger("corral.tls")

_JKS_HINT = ("JKS stores cannot be read here (no maintained Python library reads them); convert it: "
             "keytool -importkeystore -srckeystore {p} -destkeystore {stem}.p12 -deststoretype PKCS12, "
             "then set the store type to PKCS12")

# Java's (IANA) cipher suite names and OpenSSL's for the TLS 1.2 suites OpenSSL 3 offers.
IANA_TO_OPENSSL = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "DHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": "DHE-RSA-AES128-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": "DHE-RSA-AES256-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256": "AES256-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}
#: TLS 1.3 suites: Python's ssl cannot choose among them, so a list must name all of them or none.
TLS13_SUITES = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TlsError(ValueError):
    """A store or setting that cannot be used; the message names the file or key and what to do."""


@dataclass(frozen=True)
class TlsSettings:
    """One side's TLS configuration, in ZooKeeper's terms (`ssl.*` or `ssl.quorum.*`)."""

    keystore: Path | None = None
    keystore_password: str = ""
    keystore_type: str = ""  # "", PEM, PKCS12, JKS, BCFKS ("": from the file name)
    truststore: Path | None = None
    truststore_password: str = ""
    truststore_type: str = ""
    client_auth: str = "need"  # need, want, none (server side)
    protocol: str = "TLSv1.3"
    enabled_protocols: tuple[str, ...] | None = None
    ciphersuites: tuple[str, ...] | None = None
    hostname_verification: bool = True  # client side: check the server's name
    prefix: str = "ssl."  # the keys' prefix in errors: ssl. (clients) or ssl.quorum. (between members)

    def watched_files(self) -> list[Path]:
        return [p for p in (self.keystore, self.truststore) if p is not None]


def store_type(path: Path, declared: str) -> str:
    """The store's type, declared or from the file name (KeyStoreFileType.fromFilename)."""
    if declared:
        return declared
    suffix = path.suffix.lower()
    found = {".pem": "PEM", ".crt": "PEM", ".p12": "PKCS12", ".pfx": "PKCS12", ".jks": "JKS",
             ".bcfks": "BCFKS"}.get(suffix)
    if found is None:
        raise TlsError(f"{path}: cannot tell the store type from the file name; set the type (PEM or PKCS12)")
    return found


def _check_type(path: Path, kind: str) -> None:
    if kind == "JKS":
        raise TlsError(f"{path}: " + _JKS_HINT.format(p=path, stem=path.with_suffix("")))
    if kind == "BCFKS":
        raise TlsError(f"{path}: BCFKS (Bouncy Castle FIPS) stores are not supported; convert it to PKCS12")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise TlsError(f"{path}: cannot read: {e.strerror}") from None


def _password(pw: str) -> bytes | None:
    return pw.encode() if pw else None


def load_key_store(path: Path, password: str, declared: str = "") -> tuple[bytes, bytes]:
    """(private key as unencrypted PKCS8 PEM, certificate chain as PEM, leaf first)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    kind = store_type(path, declared)
    _check_type(path, kind)
    data = _read(path)
    try:
        if kind == "PKCS12":
            key, cert, extra = pkcs12.load_key_and_certificates(data, _password(password))
            if key is None or cert is None:
                raise TlsError(f"{path}: the PKCS12 key store has no private key with a certificate")
            chain = [cert, *extra]
        else:
            chain = x509.load_pem_x509_certificates(data)
            key = _pem_key(data, password, path)
    except TlsError:
        raise
    except ValueError as e:
        raise TlsError(f"{path}: not a readable {kind} key store (wrong password or damaged file): {e}") from None
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def _pem_key(data: bytes, password: str, path: Path) -> PKCS12PrivateKeyTypes:
    from cryptography.hazmat.primitives import serialization

    begin = data.find(b"-----BEGIN ")
    while begin >= 0:
        end_label = data.find(b"-----", begin + 11)
        label = data[begin + 11:end_label]
        if label.endswith(b"PRIVATE KEY"):
            stop = data.find(b"-----END " + label + b"-----", end_label)
            if stop < 0:
                break
            block = data[begin:stop + len(label) + 14]
            pw = _password(password) if b"ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in block else None
            key = serialization.load_pem_private_key(block, pw)
            return key  # type: ignore[return-value]
        begin = data.find(b"-----BEGIN ", begin + 11)
    raise TlsError(f"{path}: the PEM key store has no private key (ZooKeeper's PEM type: key and certificate "
                   "in one file)")


def load_trust_store(path: Path, password: str, declared: str = "") -> str:
    """The trusted certificates as PEM text (for `SSLContext.load_verify_locations(cadata=...)`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    kind = store_type(path, declared)
    _check_type(path, kind)
    data = _read(path)
    try:
        if kind == "PKCS12":
            p12 = pkcs12.load_pkcs12(data, _password(password))
            certs = [c.certificate for c in p12.additional_certs]
            if p12.cert is not None:
                certs.insert(0, p12.cert.certificate)
        else:
            certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise TlsError(f"{path}: not a readable {kind} trust store (wrong password or damaged file): {e}") from None
    if not certs:
        raise TlsError(f"{path}: the trust store holds no certificate")
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _load_chain(ctx: ssl.SSLContext, key_pem: bytes, chain_pem: bytes) -> None:
    fd, name = tempfile.mkstemp(prefix="corral-tls-", suffix=".pem")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem + chain_pem)
        ctx.load_cert_chain(name)
    finally:
        os.unlink(name)


def _protocols(settings: TlsSettings) -> list[str]:
    if settings.enabled_protocols:
        return list(settings.enabled_protocols)
    # X509Util (3.9): the protocol's JDK defaults: TLSv1.3 (or TLS) enables TLSv1.3 and TLSv1.2.
    return ["TLSv1.2"] if settings.protocol == "TLSv1.2" else ["TLSv1.3", "TLSv1.2"]


def _apply_versions_and_ciphers(ctx: ssl.SSLContext, settings: TlsSettings) -> None:
    versions = sorted({_VERSIONS[p] for p in _protocols(settings) if p in _VERSIONS})
    if not versions:
        raise TlsError(f"{settings.prefix}enabledProtocols: no usable protocol (TLSv1.2, TLSv1.3)")
    lo, hi = versions[0], versions[-1]
    if settings.ciphersuites is not None:
        unknown = [c for c in settings.ciphersuites if c not in IANA_TO_OPENSSL and c not in TLS13_SUITES]
        if unknown:
            raise TlsError(f"{settings.prefix}ciphersuites: unknown cipher suite {unknown[0]} (write Java's "
                           "names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)")
        tls13 = {c for c in settings.ciphersuites if c in TLS13_SUITES}
        if tls13 and tls13 != TLS13_SUITES:
            raise TlsError(f"{settings.prefix}ciphersuites: TLS 1.3 suites can only be enabled all together "
                           f"({', '.join(sorted(TLS13_SUITES))}) or not at all")
        if not tls13:
            if lo == ssl.TLSVersion.TLSv1_3:
                raise TlsError(f"{settings.prefix}ciphersuites names no TLS 1.3 suite but only TLSv1.3 is enabled")
            hi = ssl.TLSVersion.TLSv1_2
        tls12 = [IANA_TO_OPENSSL[c] for c in settings.ciphersuites if c in IANA_TO_OPENSSL]
        if tls12:
            try:
                ctx.set_ciphers(":".join(tls12))
            except ssl.SSLError:
                raise TlsError(f"{settings.prefix}ciphersuites: none of the TLS 1.2 suites is available here") from None
        elif lo == ssl.TLSVersion.TLSv1_2:
            lo = ssl.TLSVersion.TLSv1_3
            if hi < lo:
                raise TlsError(f"{settings.prefix}ciphersuites names no TLS 1.2 suite but only TLSv1.2 is enabled")
    ctx.minimum_version, ctx.maximum_version = lo, hi


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """A server context: our key and chain, the trust store (or the system's CAs, as Java falls back to
    its own) for client certificates, `client_auth` as CERT_REQUIRED / CERT_OPTIONAL / CERT_NONE."""
    if settings.keystore is None:
        raise TlsError(f"{settings.prefix}keyStore.location is required for a TLS server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_versions_and_ciphers(ctx, settings)
    key_pem, chain_pem = load_key_store(settings.keystore, settings.keystore_password, settings.keystore_type)
    try:
        _load_chain(ctx, key_pem, chain_pem)
    except ssl.SSLError as e:
        raise TlsError(f"{settings.keystore}: the key does not go with the certificate: {e}") from None
    ctx.verify_mode = {"need": ssl.CERT_REQUIRED, "want": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}[
        settings.client_auth]
    if settings.truststore is not None:
        ctx.load_verify_locations(cadata=load_trust_store(settings.truststore, settings.truststore_password,
                                                          settings.truststore_type))
    elif ctx.verify_mode != ssl.CERT_NONE:
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return ctx


def client_context(settings: TlsSettings) -> ssl.SSLContext:
    """A client context: the trust store (or the system's CAs), our key store if any, and the server's
    name checked when `hostname_verification` (ZooKeeper's ssl.hostnameVerification, default true)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _apply_versions_and_ciphers(ctx, settings)
    if settings.truststore is not None:
        ctx.load_verify_locations(cadata=load_trust_store(settings.truststore, settings.truststore_password,
                                                          settings.truststore_type))
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = settings.hostname_verification
    if settings.keystore is not None:
        key_pem, chain_pem = load_key_store(settings.keystore, settings.keystore_password, settings.keystore_type)
        _load_chain(ctx, key_pem, chain_pem)
    return ctx


def _stamp(paths: list[Path]) -> tuple[tuple[int, int, int] | None, ...]:
    out: list[tuple[int, int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class ReloadingContext:
    """The listening context plus the current one; `check()` (called every second) rebuilds the current
    context when a store file changed. A store that cannot be read (half written, wrong password) keeps
    the previous context and is logged; the next change is tried again."""

    def __init__(self, settings: TlsSettings, build: Callable[[TlsSettings], ssl.SSLContext] = server_context
                 ) -> None:
        self.settings = settings
        self._build = build
        self._stamp = _stamp(settings.watched_files())
        self.current = build(settings)
        if build is client_context:  # a dialling side takes `current` at each dial: nothing to switch
            self.listening = self.current
        else:
            self.listening = build(settings)
            self.listening.sni_callback = self._pick
        self.reloads = 0

    def _pick(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
              ctx: ssl.SSLContext) -> None:
        if self.current is not self.listening:
            sslobj.context = self.current
        return None

    def check(self) -> bool:
        """True if a new context was installed."""
        stamp = _stamp(self.settings.watched_files())
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            ctx = self._build(self.settings)
        except (TlsError, ssl.SSLError, OSError) as e:
            log.warning("event=tls_reload_failed reason=%s", str(e).replace("\n", " "))
            return False
        self.current = ctx
        self.reloads += 1
        log.info("event=tls_reloaded files=%s", ",".join(str(p) for p in self.settings.watched_files()))
        return True


def peer_address_matches(cert: dict[str, object] | None, address: str) -> bool:
    """Whether a verified peer certificate names `address` among its IP subject alternative names:
    ZooKeeper's quorum TLS checks the *client's* certificate against the connecting address too
    (QuorumX509Util verifies client host names; ZKTrustManager tries the IP address first). Reverse
    DNS, Apache's fallback, is not done: it would make a member's admission depend on DNS."""
    if not cert:
        return False
    try:
        want = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    sans = cert.get("subjectAltName") or ()
    for entry in sans if isinstance(sans, tuple) else ():
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == "IP Address":
            try:
                ip = ipaddress.ip_address(str(entry[1]).strip())
            except ValueError:
                continue
            if ip == want or (isinstance(want, ipaddress.IPv6Address) and want.ipv4_mapped == ip):
                return True
    return False
