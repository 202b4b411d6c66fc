"""Throwaway certificate authorities, server and client certificates for the security tests.

Everything is made with `cryptography` at test time (no key material in the repository), by the same
code as `corral ensemble up --tls` (corral.security.devpki). A `Pki` writes each credential in the
forms the servers and clients under test read: PEM (key and certificate in one file, as ZooKeeper's
`ssl.keyStore.type=PEM` wants; separate files for Python's `ssl`) and PKCS12 (for the Java client and
server).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from corral.security.devpki import Authority, cert_pem, key_pem, subject

PASSWORD = "testpass"
ORG = "corral-test"


@dataclass
class Credential:
    """One key and certificate, written out: `pem` (key + cert, ZooKeeper's PEM key store), `cert`,
    `key` (unencrypted PEM), `p12` (PKCS12 with `PASSWORD`); `dn` the subject as Java prints it."""

    pem: Path
    cert: Path
    key: Path
    p12: Path
    dn: str


class Pki:
    """A CA in `base` that issues certificates; `other` CAs make untrusted ones."""

    def __init__(self, base: Path, name: str = "ca") -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.authority = Authority.create(subject(f"{name} root", ORG), days=30)
        self.ca_pem = base / f"{name}.pem"
        self.ca_pem.write_bytes(cert_pem(self.authority.cert))
        self.ca_p12 = base / f"{name}-trust.p12"
        self.ca_p12.write_bytes(pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(self.authority.cert, name.encode())],
            serialization.BestAvailableEncryption(PASSWORD.encode())))

    def issue(self, cn: str, *, unit: str | None = None, server: bool = True, expired: bool = False,
              file_stem: str | None = None, ip: str = "127.0.0.1") -> Credential:
        """`ip`: the address in the certificate's subject alternative names (beside DNS localhost)."""
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=5)) if expired else \
            (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
        name = subject(cn, ORG, unit)
        key, cert = self.authority.issue(name, not_before=start, not_after=end, server=server, ip=ip)
        stem = file_stem or cn.replace(" ", "_")
        out = Credential(pem=self.base / f"{stem}.pem", cert=self.base / f"{stem}.crt",
                         key=self.base / f"{stem}.key", p12=self.base / f"{stem}.p12",
                         dn=name.rfc4514_string())
        out.pem.write_bytes(key_pem(key) + cert_pem(cert))
        out.cert.write_bytes(cert_pem(cert))
        out.key.write_bytes(key_pem(key))
        out.p12.write_bytes(pkcs12.serialize_key_and_certificates(
            stem.encode(), key, cert, [self.authority.cert], serialization.BestAvailableEncryption(PASSWORD.encode())))
        return out
