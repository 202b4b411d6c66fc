"""ACL schemes and checks as ZooKeeper's server does them (`fixupACL`, `checkACL`, auth providers).

An ACL list is kept as a tuple of `(perms, scheme, id)` tuples: hashable, so identical lists can be
interned and shared by every znode that uses them (most trees use one or two distinct ACLs).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress

from ..protocol import ACL, Id, PermBits

AclEntry = tuple[int, str, str]
AclList = tuple[AclEntry, ...]
AuthId = tuple[str, str]  # (scheme, id) an authenticated connection holds
RawAclEntry = tuple[int, str | None, str | None]  # as a client sent it: jute strings may be null

OPEN_ACL_UNSAFE: AclList = ((int(PermBits.ALL), "world", "anyone"),)
READ_ACL_UNSAFE: AclList = ((int(PermBits.READ), "world", "anyone"),)

_interned: dict[AclList, AclList] = {}
# Wire records of each interned ACL list (shared: records are never mutated after decoding).
_from_records: dict[int, tuple[list[ACL], AclList]] = {}
_records: dict[AclList, list[ACL]] = {}
_FIXED_MAX = 4096


class InvalidACLError(Exception):
    """The ACL list is empty, has an unknown scheme or a malformed id (→ InvalidACL)."""


class NoAuthError(Exception):
    """The caller lacks the permission (→ NoAuth)."""


class AuthFailedError(Exception):
    """addauth with a scheme that has no provider (→ AuthFailed, then the connection closes)."""


def intern(acl: AclList) -> AclList:
    return _interned.setdefault(acl, acl)


def from_records(acls: list[ACL] | None) -> list[RawAclEntry]:
    out: list[RawAclEntry] = []
    for a in acls or ():
        idr = a.id
        out.append((a.perms, idr.scheme if idr else None, idr.id if idr else None))
    return out


def from_txn_records(acls: list[ACL] | None) -> AclList:
    """A transaction's ACL. `fixup_acl` made it, so no scheme or id is null; were one null anyway (a
    foreign log), it reads as "", as a snapshot's does, rather than reach getACL and snapshots as None.

    A list that `to_records` made (the leader applies the records it prepared) maps straight back."""
    if acls is not None:
        hit = _from_records.get(id(acls))
        if hit is not None and hit[0] is acls:
            return hit[1]
    return tuple([(a.perms, a.id.scheme or "", a.id.id or "") for a in acls or ()])


def to_records(acl: AclList) -> list[ACL]:
    recs = _records.get(acl)
    if recs is None:
        recs = [ACL(p, Id(s, i)) for p, s, i in acl]
        if len(_records) < _FIXED_MAX:
            _records[acl] = recs
            _from_records[id(recs)] = (recs, acl)  # `_records` keeps recs alive, so its id stays its own
    return recs


def digest(user_password: str) -> str:
    """`user:base64(sha1("user:password"))`, DigestAuthenticationProvider.generateDigest."""
    user = user_password.split(":", 1)[0]
    h = hashlib.sha1(user_password.encode("utf-8")).digest()
    return user + ":" + base64.b64encode(h).decode("ascii")


def _java_split_len(s: str, sep: str) -> int:
    """len(s.split(sep)) with Java's dropping of trailing empty strings."""
    parts = s.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return len(parts)


def _ip_network(expr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    addr, sep, bits = expr.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    if sep:
        digits = bits[1:] if bits[:1] == "+" else bits  # Integer.parseInt accepts a leading '+'
        if not digits.isascii() or not digits.isdecimal():
            return None
        n = int(digits)
        if n > ip.max_prefixlen:
            return None
    else:
        n = ip.max_prefixlen
    return ipaddress.ip_network(f"{ip}/{n}", strict=False)


def _valid_id(scheme: str, ident: str) -> bool:
    if scheme == "digest":
        return _java_split_len(ident, ":") == 2
    if scheme == "ip":
        return _ip_network(ident) is not None
    return False


# Providers whose identities count as "authenticated" for the `auth` pseudo-scheme (ip does not).
_AUTHENTICATED_SCHEMES = {"digest", "sasl", "x509"}


# Normalised ACLs by their client-supplied entries, for lists without the `auth` scheme (whose result
# depends on the session's identities): nearly every create sends one of a handful of lists.
_fixed: dict[tuple[RawAclEntry, ...], AclList] = {}


def fixup_acl(acl: list[ACL] | None, auth: list[AuthId]) -> AclList:
    """Validate and normalise a client-supplied ACL list; raises InvalidACLError."""
    if not acl:
        raise InvalidACLError("empty ACL")
    entries = tuple(from_records(acl))
    hit = _fixed.get(entries)
    if hit is not None:
        return hit
    result = _fixup(entries, auth)
    if len(_fixed) < _FIXED_MAX and all(scheme != "auth" for _, scheme, _ in entries):
        _fixed[entries] = result
    return result


def _fixup(entries: tuple[RawAclEntry, ...], auth: list[AuthId]) -> AclList:
    seen: list[RawAclEntry] = []
    for e in entries:
        if e not in seen:
            seen.append(e)
    out: list[AclEntry] = []
    for perms, scheme, ident in seen:
        if scheme is None:
            raise InvalidACLError("null scheme")  # a null id is fine for `auth` (kazoo sends "" as null)
        if scheme == "world" and ident == "anyone":
            out.append((perms, scheme, ident))
        elif scheme == "auth":
            found = False
            for s, i in auth:
                if s in _AUTHENTICATED_SCHEMES:
                    found = True
                    out.append((perms, s, i))
            if not found:
                raise InvalidACLError("auth scheme without authenticated ids")
        elif ident is not None and _valid_id(scheme, ident):
            out.append((perms, scheme, ident))
        else:
            raise InvalidACLError(f"invalid id {scheme}:{ident}")
    return intern(tuple(out))


def _matches(scheme: str, auth_id: str, acl_id: str) -> bool:
    if scheme == "ip":
        net = _ip_network(acl_id)
        try:
            return net is not None and ipaddress.ip_address(auth_id) in net
        except ValueError:
            return False
    return auth_id == acl_id


def check_acl(acl: AclList, perm: int, auth: list[AuthId]) -> bool:
    """True if an identity in `auth` grants `perm` on a node with `acl` (ZooKeeperServer.checkACL)."""
    if not acl:
        return True
    for s, _ in auth:
        if s == "super":
            return True
    for perms, scheme, ident in acl:
        if perms & perm:
            if scheme == "world" and ident == "anyone":
                return True
            for s, i in auth:
                if s == scheme and _matches(scheme, i, ident):
                    return True
    return False


def authenticate(scheme: str | None, credential: bytes | None, super_digest: str | None = None,
                 peer_ip: str | None = None) -> list[AuthId]:
    """The ids an `addauth scheme credential` gives a connection; raises AuthFailedError.

    `ip` ignores the credential and grants the peer's own address, as IPAuthenticationProvider does."""
    if scheme == "ip" and peer_ip is not None:
        return [("ip", peer_ip)]
    if scheme != "digest":
        raise AuthFailedError(f"no authentication provider for scheme {scheme!r}")
    text = (credential or b"").decode("utf-8", "replace")
    ident = digest(text)
    ids: list[AuthId] = [("digest", ident)]
    if super_digest and ident == super_digest:
        ids.append(("super", ""))
    return ids
