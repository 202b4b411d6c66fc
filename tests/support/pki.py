"""Throwaway certificate authorities, server and client certificates for the security tests.

Everything is made with `cryptography` at test time (no key material in the repository). A `Pki`
writes each credential in the forms the servers and clients under test read: PEM (key and
certificate in one file, as ZooKeeper's `ssl.keyStore.type=PEM` wants; separate files for Python's
`ssl`) and PKCS12 (for the Java client and server).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASSWORD = "testpass"


@dataclass
class Credential:
    """One key and certificate, written out: `pem` (key + cert, ZooKeeper's PEM key store), `cert`,
    `key` (unencrypted PEM), `p12` (PKCS12 with `PASSWORD`); `dn` the subject as Java prints it."""

    pem: Path
    cert: Path
    key: Path
    p12: Path
    dn: str


def _name(cn: str, org: str = "corral-test", unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


class Pki:
    """A CA in `base` that issues certificates; `other` CAs make untrusted ones."""

    def __init__(self, base: Path, name: str = "ca") -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.subject = _name(f"{name} root")
        self.cert = (x509.CertificateBuilder().subject_name(self.subject).issuer_name(self.subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_pem = base / f"{name}.pem"
        self.ca_pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.ca_p12 = base / f"{name}-trust.p12"
        self.ca_p12.write_bytes(pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(self.cert, name.encode())],
            serialization.BestAvailableEncryption(PASSWORD.encode())))

    def issue(self, cn: str, *, unit: str | None = None, server: bool = True, expired: bool = False,
              file_stem: str | None = None, ip: str = "127.0.0.1") -> Credential:
        """`ip`: the address in the certificate's subject alternative names (beside DNS localhost)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=5)) if expired else \
            (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
        subject = _name(cn, unit=unit)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName([
                       x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(ip))]),
                       critical=False)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server
                       else [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        cert = builder.sign(self.key, hashes.SHA256())
        stem = file_stem or cn.replace(" ", "_")
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        out = Credential(pem=self.base / f"{stem}.pem", cert=self.base / f"{stem}.crt",
                         key=self.base / f"{stem}.key", p12=self.base / f"{stem}.p12",
                         dn=subject.rfc4514_string())
        out.pem.write_bytes(key_pem + cert_pem)
        out.cert.write_bytes(cert_pem)
        out.key.write_bytes(key_pem)
        out.p12.write_bytes(pkcs12.serialize_key_and_certificates(
            stem.encode(), key, cert, [self.cert], serialization.BestAvailableEncryption(PASSWORD.encode())))
        return out
