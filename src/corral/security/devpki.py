"""A throwaway certificate authority for development: `corral ensemble up --tls` and the test suite.

Why here and not in the tests: `corral ensemble up --tls` hands developers a TLS ensemble with the same
certificates the security tests use (EC P-256, SHA-256; the subject alternative names DNS `localhost`
and the IP address the member listens on, so that ZooKeeper's hostname verification passes on
loopback), and one copy of the X.509 building code serves both.

Nothing here is meant for production: keys are unencrypted PEM, written 0600 into a 0700 directory.
`cryptography` is imported by the functions that make certificates, not by the module: `corral` loads
`corral ensemble` (which names these files) for every command, the server included, and cryptography
costs a process about 19 MB of RSS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec


def subject(cn: str, org: str, unit: str | None = None) -> x509.Name:
    """C=DE, O=org[, OU=unit], CN=cn (as the tests' x509 ids expect them)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass(frozen=True)
class Authority:
    """A CA's key and self-signed certificate, held in memory."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: x509.Name, days: int) -> Authority:
        """A root valid from a day ago (clock skew between processes) for `days` days."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def issue(self, name: x509.Name, *, not_before: dt.datetime, not_after: dt.datetime, server: bool = True,
              ip: str = "127.0.0.1") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A key and a certificate for `name` with SANs DNS localhost and IP `ip`; `server`: usable by a
        server (serverAuth) as well as by a client (clientAuth), as a member needs both on the peer ports."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server \
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .sign(self.key, hashes.SHA256()))
        return key, cert


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS8 PEM (what Python's ssl, kazoo and ZooKeeper's PEM key store all read)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write `path` with mode 0600 from its creation on (never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)


ORG = "corral-dev"
#: The developer's certificate's subject as ZooKeeper's x509 scheme names it (Java's RFC 2253 form).
DEV_CLIENT_DN = f"CN=developer,O={ORG},C=DE"


@dataclass(frozen=True)
class DevPki:
    """The files of a development PKI in one directory: `ca.pem` (the trust store), `<name>.pem` (key and
    certificate in one file: ZooKeeper's PEM key store) for every member, and the developer's client
    credential as `client.pem`, `client.crt` and `client.key` (Python's ssl and kazoo want two files)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def member(self, sid: int) -> Path:
        return self.directory / f"s{sid}.pem"

    @property
    def client_pem(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def files(self, sids: list[int]) -> list[Path]:
        return [self.ca, *(self.member(s) for s in sids), self.client_pem, self.client_cert, self.client_key]

    def missing(self, sids: list[int]) -> list[Path]:
        return [p for p in self.files(sids) if not p.is_file()]

    def create(self, sids: list[int], days: int = 365) -> None:
        """A new CA, a certificate for every member (CN=member-N) and one for the developer (CN=developer,
        whose x509 id is DEV_CLIENT_DN). The CA's key is not kept: nothing else can
        ever be issued under this CA, so the files here are all it can vouch for."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        ca = Authority.create(subject("corral development CA", ORG), days)
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        for sid in sids:
            key, cert = ca.issue(subject(f"member-{sid}", ORG), not_before=start, not_after=end)
            write_private(self.member(sid), key_pem(key) + cert_pem(cert))
        key, cert = ca.issue(subject("developer", ORG), server=False, not_before=start, not_after=end)
        write_private(self.client_pem, key_pem(key) + cert_pem(cert))
        write_private(self.client_cert, cert_pem(cert))
        write_private(self.client_key, key_pem(key))
        write_private(self.ca, cert_pem(ca.cert))  # last: its presence says the set is complete
