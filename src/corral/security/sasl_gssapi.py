"""SASL GSSAPI (Kerberos V5, RFC 4752), the server side, as ZooKeeper's Java server runs it.

Why written here: the `gssapi` binding (python-gssapi, the optional `corral[kerberos]` extra) gives
GSS-API context tokens only, and pure-sasl (what kazoo uses) has the client side only. The exchange
mirrors Java's GssKrb5Server, which ZooKeeper creates when the JAAS `Server` section logs in with
Krb5LoginModule:

1. Context tokens from the client are accepted with the service key from the section's keytab, under
   the section's principal (`zookeeper/host@REALM`; only that name is accepted), until the context is
   established. The last acceptor token (mutual authentication) is sent back; the client answers with
   an empty token.
2. The server sends its security-layer offer, wrapped (integrity, no confidentiality): one octet of
   layers (1: none, the only one offered, as Java's default `javax.security.sasl.qop=auth`) and three
   octets of its maximum buffer (65536).
3. The client's wrapped choice: the layer it picked (must be one offered), its maximum buffer and an
   optional authorization id. The exchange is complete, with no answer token.

The `sasl` id then follows ZooKeeper's SaslServerCallbackHandler: the authenticated principal mapped by
the auth_to_local rule DEFAULT (a principal of the default realm keeps its first component), then
`/host` unless `kerberos.removeHostFromPrincipal`, then `@REALM` unless `kerberos.removeRealmFromPrincipal`.
Apache takes the client's authorization id when no rule maps the principal (another realm); corral
keeps the authenticated principal then, so a client cannot name its own id.

The binding is imported only when a Kerberos section is configured (`load_binding`). Every failure of
an exchange is a `SaslError`, whatever the client sends.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .digest_md5 import SaslError

KRB5_MODULE = "com.sun.security.auth.module.Krb5LoginModule"
LAYER_NONE = 1  # RFC 4752 security layer bits: 1 none, 2 integrity, 4 confidentiality
MAX_BUFFER = 65536  # Java's default javax.security.sasl.maxbuffer
INSTALL_HINT = ("SASL GSSAPI needs the Python GSSAPI binding: pip install 'corral[kerberos]' (it builds against "
                "MIT Kerberos: apt-get install libkrb5-dev)")
_NAME = re.compile(r"([^/@]*)(/([^/@]*))?@([^/@]*)")  # ZooKeeper's KerberosName.nameParser


def load_binding() -> ModuleType:
    """The `gssapi` module; SaslError with the install hint when it is missing."""
    try:
        import gssapi
    except ImportError as e:
        raise SaslError(f"{INSTALL_HINT} ({e})") from None
    return gssapi


@functools.cache
def default_realm(gssapi: ModuleType) -> str:
    """The krb5 configuration's default realm (Java's KerberosUtil.getDefaultRealm): the realm the
    library gives a principal named without one; "" when there is none. Read once, as ZooKeeper's
    KerberosName does (and so not from the krb5 configuration file on every authentication)."""
    try:
        name = gssapi.Name("x", gssapi.NameType.kerberos_principal).canonicalize(gssapi.MechType.kerberos)
    except gssapi.exceptions.GSSError:
        return ""
    return str(name).partition("@")[2]


def sasl_id(principal: str, realm: str, *, remove_host: bool = False, remove_realm: bool = False) -> str:
    """The `sasl` ACL id of an authenticated `principal` (SaslServerCallbackHandler with KerberosName and
    the auth_to_local rule DEFAULT, `realm` being the default realm)."""
    m = _NAME.fullmatch(principal)
    if m is None:
        if "@" in principal:
            raise SaslError(f"malformed Kerberos name {principal!r}")
        return principal
    service, host, name_realm = m.group(1), m.group(3), m.group(4)
    if name_realm != realm:
        return principal  # no rule applies; see the module docstring
    out = service
    if host is not None and not remove_host:
        out += "/" + host
    if not remove_realm:
        out += "@" + name_realm
    return out


@dataclass(frozen=True)
class KerberosServer:
    """What the JAAS section's Krb5LoginModule says (keytab, principal) and the id mapping settings."""

    keytab: Path
    principal: str
    remove_host: bool = False
    remove_realm: bool = False

    @classmethod
    def from_options(cls, section: str, options: dict[str, str], *, remove_host: bool = False,
                     remove_realm: bool = False) -> KerberosServer:
        """From Krb5LoginModule's options; SaslError names what a server cannot run without."""
        if options.get("useKeyTab", "false").lower() != "true" or not options.get("keyTab"):
            raise SaslError(f"section {section!r}: {KRB5_MODULE} needs useKeyTab=true and keyTab (corral accepts "
                            "with a keytab only)")
        principal = options.get("principal", "")
        if "/" not in principal:
            raise SaslError(f"section {section!r}: {KRB5_MODULE} needs principal=\"service/host@REALM\" (as "
                            f"ZooKeeper's SecurityUtils.createSaslServer), not {principal!r}")
        return cls(Path(options["keyTab"]), principal, remove_host, remove_realm)

    def credentials(self) -> Any:
        """Acceptor credentials for the principal from the keytab: checks both when the server starts,
        so a wrong keytab is one line at startup rather than every client failing."""
        gssapi = load_binding()
        if not self.keytab.is_file():
            raise SaslError(f"keytab {self.keytab} does not exist or is not a file")
        try:
            name = gssapi.Name(self.principal, gssapi.NameType.kerberos_principal)
            # Kerberos V5 only, as Java's GssKrb5Server (no SPNEGO or IAKERB wrapping)
            return gssapi.Credentials(name=name, usage="accept", mechs=[gssapi.MechType.kerberos],
                                      store={"keytab": str(self.keytab)})
        except gssapi.exceptions.GSSError as e:
            raise SaslError(f"keytab {self.keytab} has no usable key for {self.principal}: {_why(e)}") from None

    def exchange(self, creds: Any) -> GssapiServer:
        return GssapiServer(creds, self)


def _why(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


class GssapiServer:
    """One exchange on one connection (the DigestMd5Server interface: `evaluate`, `complete`, `user`)."""

    def __init__(self, creds: Any, config: KerberosServer) -> None:
        self.gssapi = load_binding()
        self.config = config
        self.ctx = self.gssapi.SecurityContext(creds=creds, usage="accept")
        self.stage = 0  # 0: context tokens, 1: last context token sent, 2: offer sent, 3: done
        self.complete = False
        self.user: str | None = None
        self.principal: str | None = None
        self.authzid: str | None = None

    def evaluate(self, token: bytes) -> bytes | None:
        """The answer to the client's token (None: complete, nothing to send); SaslError on failure."""
        try:
            return self._evaluate(token)
        except self.gssapi.exceptions.GSSError as e:
            raise SaslError(f"GSSAPI: {_why(e)}") from None
        except (ValueError, TypeError, struct.error) as e:
            raise SaslError(f"GSSAPI: malformed token: {_why(e)}") from None

    def _evaluate(self, token: bytes) -> bytes | None:
        if self.stage == 0:  # context tokens until the context is established
            if not token:
                raise SaslError("empty initial GSSAPI token")
            out = self.ctx.step(token)
            if not self.ctx.complete:
                return bytes(out or b"")
            self.principal = str(self.ctx.initiator_name)
            if out:
                self.stage = 1
                return bytes(out)
            return self._offer()
        if self.stage == 1:  # the client's empty answer to the last context token
            if token:
                raise SaslError("data where the client's empty answer to the last context token belongs")
            return self._offer()
        if self.stage == 2:
            self._choice(token)
            return None
        raise SaslError("GSSAPI exchange already finished")

    def _offer(self) -> bytes:
        self.stage = 2
        offer = struct.pack("!I", LAYER_NONE << 24 | MAX_BUFFER)
        return bytes(self.ctx.wrap(offer, False).message)

    def _choice(self, token: bytes) -> None:
        res = self.ctx.unwrap(token)
        data = bytes(res.message)
        if len(data) < 4:
            raise SaslError("final GSSAPI message shorter than 4 octets")
        layer = data[0]
        if layer != LAYER_NONE:  # Java tests one bit in common, then would turn on a layer it did not offer
            raise SaslError(f"client chose security layers {layer}, only 1 (none) is offered")
        try:
            authzid = data[4:].decode("utf-8") if len(data) > 4 else None
        except UnicodeDecodeError:
            raise SaslError("authorization id is not UTF-8") from None
        assert self.principal is not None
        self.user = sasl_id(self.principal, default_realm(self.gssapi), remove_host=self.config.remove_host,
                            remove_realm=self.config.remove_realm)
        self.authzid = authzid
        self.stage = 3
        self.complete = True
