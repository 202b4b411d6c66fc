"""The authentication Apache ZooKeeper 3.9 requires for its `snapshot` and `restore` admin commands.

Apache (Commands.runCommand, ZOOKEEPER-4639/4964): the HTTP `Authorization` header holds
`<scheme> <credential>` (or `<scheme>` alone for the schemes that read the request itself, such as
`ip`), split on single spaces into one or two parts; the scheme's authentication provider turns it
into identities, and those identities must hold every permission bit the command asks for (ALL)
on the ACL of `/`, each bit checked on its own. The outcomes and their HTTP status:

* no header: 401, "Auth info is missing for the command";
* a header of more than two parts, an unknown scheme, a provider that yields no identity (x509 and
  sasl over this plain HTTP listener, a digest scheme without a credential): 401, "Not authenticated";
* identities the ACL of `/` does not grant ALL: 403, "Not authorized".

With the default ACL of `/` (world:anyone, ALL) any identity passes, as in ZooKeeper: an operator who
wants these commands protected sets an ACL on `/` (e.g. `setAcl / digest:admin:<hash>:cdrwa,world:anyone:r`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import Perms
from ..tree import acl as aclmod
from ..tree.acl import AclList, AuthFailedError

MISSING = "Auth info is missing for the command"
NOT_AUTHENTICATED = "Not authenticated"
NOT_AUTHORIZED = "Not authorized"


@dataclass(frozen=True)
class AuthOutcome:
    status: int  # 200 when allowed
    error: str | None = None


def _java_split_space(text: str) -> list[str]:
    """Java's `String.split(" ")`: empty strings in between are kept, trailing ones dropped."""
    parts = text.split(" ")
    while parts and parts[-1] == "":
        parts.pop()
    return parts or [""]


def identities(header: str, schemes: frozenset[str], client_ip: str,
               super_digest: str | None) -> list[tuple[str, str]]:
    """The identities the header authenticates; AuthFailedError when it authenticates none."""
    parts = _java_split_space(header)
    if len(parts) not in (1, 2):
        raise AuthFailedError("auth info of more than two parts")
    scheme = parts[0]
    if scheme not in schemes:
        raise AuthFailedError(f"no authentication provider for scheme {scheme!r}")
    if scheme == "ip":
        return [("ip", client_ip)]
    if scheme == "digest":
        if len(parts) != 2:
            raise AuthFailedError("digest needs user:password")  # Apache: new String(null) throws
        # The bytes as sent (aiohttp hands undecodable header bytes over as surrogates): a UTF-8 user name
        # gets the digest its addauth would get. Apache's Jetty reads the header as ISO-8859-1 instead.
        return aclmod.authenticate("digest", parts[1].encode("utf-8", "surrogateescape"), super_digest)
    # x509 reads the client certificate of the request (none on this plain HTTP listener); sasl and
    # the rest have no HTTP form: Apache's providers return no identity, which is a failure.
    raise AuthFailedError(f"scheme {scheme!r} yields no identity over HTTP")


def check(header: str | None, root_acl: AclList, schemes: frozenset[str], client_ip: str,
          super_digest: str | None, skip_acl: bool, perm: int = Perms.ALL) -> AuthOutcome:
    """Apache's handleAuthentication + handleAuthorization for one request."""
    if header is None:
        return AuthOutcome(401, MISSING)
    try:
        ids = identities(header, schemes, client_ip, super_digest)
    except AuthFailedError:
        return AuthOutcome(401, NOT_AUTHENTICATED)
    if skip_acl:
        return AuthOutcome(200)
    bit = 1
    while bit <= perm:
        if perm & bit and not aclmod.check_acl(root_acl, bit, ids):
            return AuthOutcome(403, NOT_AUTHORIZED)
        bit <<= 1
    return AuthOutcome(200)
