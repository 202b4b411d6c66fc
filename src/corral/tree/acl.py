"""ACL schemes and checks as ZooKeeper's server does them (`fixupACL`, `checkACL`, auth providers).

An ACL list is kept as a tuple of `(perms, scheme, id)` tuples: hashable, so identical lists can be
interned and shared by every znode that uses them (most trees use one or two distinct ACLs).
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from typing import ClassVar, Final

from ..protocol import ACL, Id, PermBits

AclEntry = tuple[int, str, str]
AclList = tuple[AclEntry, ...]
AuthId = tuple[str, str]  # (scheme, id) an authenticated connection holds
RawAclEntry = tuple[int, str | None, str | None]  # as a client sent it: jute strings may be null

OPEN_ACL_UNSAFE: Final[AclList] = ((int(PermBits.ALL), "world", "anyone"),)
READ_ACL_UNSAFE: Final[AclList] = ((int(PermBits.READ), "world", "anyone"),)

_interned: dict[AclList, AclList] = {}
# Wire records of each interned ACL list (shared: records are never mutated after decoding).
_from_records: dict[int, tuple[list[ACL], AclList]] = {}
_records: dict[AclList, list[ACL]] = {}
_FIXED_MAX: Final = 4096


class InvalidACLError(Exception):
    """The ACL list is empty, has an unknown scheme or a malformed id (→ InvalidACL)."""


class NoAuthError(Exception):
    """The caller lacks the permission (→ NoAuth)."""


class AuthFailedError(Exception):
    """addauth with a scheme that has no provider (→ AuthFailed, then the connection closes)."""


def intern(acl: AclList) -> AclList:
    return _interned.setdefault(acl, acl)


# ACL lists by number, as ZooKeeper's ReferenceCountedACLCache keys them: a packed leaf record (see
# tree/datatree.py) holds a 4-byte number instead of an 8-byte reference. Numbers live only in memory
# and in this process (snapshots number their own lists); like `_interned`, the table never shrinks:
# a deployment uses a handful of distinct lists.
_ids: dict[AclList, int] = {}
_by_id: list[AclList] = []


# The list `acl_id` last numbered and its number: creates in a row nearly always carry the same list
# object (the preparer's interned one, or the decoder's cached one), and hashing the nested tuple for the
# dict costs more than the identity test. Holding the list keeps its identity from being reused.
_last_id: tuple[AclList | None, int] = (None, -1)


def acl_id(acl: AclList) -> int:
    """The number of `acl` (interned first), given on first use."""
    global _last_id
    last = _last_id
    if acl is last[0]:
        return last[1]
    i = _ids.get(acl)
    if i is None:
        acl = intern(acl)
        i = len(_by_id)
        _ids[acl] = i
        _by_id.append(acl)
    _last_id = (acl, i)
    return i


def acl_by_id(i: int) -> AclList:
    """The interned ACL list numbered `i` by `acl_id`."""
    return _by_id[i]


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


# The list `to_records` last returned, by the AclList it was given: a multi's creates share one ACL, and
# hashing the nested tuple for the dict costs more than the identity test.
_last_records: tuple[AclList | None, list[ACL]] = (None, [])


def to_records(acl: AclList) -> list[ACL]:
    global _last_records
    last = _last_records
    if acl is last[0]:
        return last[1]
    recs = _records.get(acl)
    if recs is None:
        recs = [ACL(p, Id(s, i)) for p, s, i in acl]
        if len(_records) < _FIXED_MAX:
            _records[acl] = recs
            _from_records[id(recs)] = (recs, acl)  # `_records` keeps recs alive, so its id stays its own
        else:
            return recs
    _last_records = (acl, recs)
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


_JAVA_INT_MAX: Final = 2**31 - 1


def _java_digit(ch: str, radix: int) -> int:
    """Character.digit(char, radix): any Unicode decimal digit, ASCII and fullwidth Latin letters."""
    o = ord(ch)
    if o > 0xFFFF:
        return -1  # a surrogate pair in Java: two chars, neither a digit
    d = unicodedata.decimal(ch, -1)
    if d < 0:
        if "a" <= ch.lower() <= "z" and ch.isascii():
            d = ord(ch.lower()) - ord("a") + 10
        elif 0xFF21 <= o <= 0xFF3A:
            d = o - 0xFF21 + 10
        elif 0xFF41 <= o <= 0xFF5A:
            d = o - 0xFF41 + 10
    return d if d < radix else -1


def java_parse_int(s: str, radix: int = 10) -> int | None:
    """Integer.parseInt(s, radix), None where Java throws NumberFormatException: one optional sign, then
    digits as Character.digit reads them (so `010`, `+1` and Unicode digits are numbers), in int range."""
    if not s:
        return None
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    if not body:
        return None
    n = 0
    for ch in body:
        d = _java_digit(ch, radix)
        if d < 0:
            return None
        n = n * radix + d
        if n > _JAVA_INT_MAX + 1:
            return None
    n = -n if neg else n
    return n if -_JAVA_INT_MAX - 1 <= n <= _JAVA_INT_MAX else None


def _v4_bytes(addr: str) -> bytes | None:
    parts = addr.split(".")
    if len(parts) != 4:
        return None
    out = bytearray()
    for part in parts:
        v = java_parse_int(part)
        if v is None or not 0 <= v <= 255:
            return None
        out.append(v)
    return bytes(out)


def _v6_segments(segments: list[str]) -> bytes:
    out = bytearray()
    for seg in segments:
        if not seg or len(seg) > 4:
            raise ValueError(seg)
        v = java_parse_int(seg, 16)
        if v is None:
            raise ValueError(seg)
        out += bytes(((v >> 8) & 0xFF, v & 0xFF))
    return bytes(out)


def _v6_bytes(addr: str) -> bytes | None:
    """IPAuthenticationProvider.parseV6addr (3.9): hex segments, at most one `::`, no dotted tail."""
    halves = addr.split("::")
    try:
        if len(halves) == 1:
            segs = halves[0].split(":")
            if len(segs) != 8:
                return None
            return _v6_segments(segs)
        if len(halves) != 2:
            return None
        first = halves[0].split(":") if halves[0] else []
        second = halves[1].split(":") if halves[1] else []
        if len(first) + len(second) >= 8:
            return None
        head, tail = _v6_segments(first), _v6_segments(second)
    except ValueError:
        return None
    return head + bytes(16 - len(head) - len(tail)) + tail


def _addr_bytes(addr: str) -> bytes | None:
    if ":" in addr:
        return _v6_bytes(addr)
    if "." in addr:
        return _v4_bytes(addr)
    return None


def _mask(b: bytes, bits: int) -> bytes:
    out = bytearray(b)
    start = bits // 8
    keep = ~((1 << (8 - bits % 8)) - 1) & 0xFF
    while start < len(out):
        out[start] &= keep
        keep = 0
        start += 1
    return bytes(out)


def _ip_rule(expr: str) -> tuple[bytes, int] | None:
    """An ip ACL id as IPAuthenticationProvider (3.9) reads it: address bytes and prefix bits."""
    addr, sep, bits_text = expr.partition("/")
    raw = _addr_bytes(addr)
    if raw is None:
        return None
    bits = len(raw) * 8
    if sep:
        b = java_parse_int(bits_text)
        if b is None or not 0 <= b <= len(raw) * 8:
            return None
        bits = b
    return _mask(raw, bits), bits


def ip_matches(remote: str, expr: str) -> bool:
    rule = _ip_rule(expr)
    raw = _addr_bytes(remote)
    if rule is None or raw is None or len(raw) != len(rule[0]):
        return False
    return _mask(raw, rule[1]) == rule[0]


class Providers:
    """The authentication providers a server has (ZooKeeper's ProviderRegistry): which schemes an ACL
    may name and addauth may use, and the x509 super user. Process-wide, as in ZooKeeper; a server sets
    it once at start (`configure`)."""

    schemes: ClassVar[frozenset[str]] = frozenset({"ip", "digest"})
    x509_super: ClassVar[str | None] = None


def configure(schemes: frozenset[str], x509_super: str | None = None) -> None:
    global _last_fixed
    Providers.schemes = schemes
    Providers.x509_super = x509_super
    _fixed.clear()
    _last_fixed = (None, ())


def _valid_sasl(ident: str) -> bool:
    """KerberosName: `primary[/instance]@REALM`, or a name without '@'."""
    if "@" not in ident:
        return True
    import re
    return re.fullmatch(r"[^/@]*(/[^/@]*)?@[^/@]*", ident) is not None


def _valid_id(scheme: str, ident: str) -> bool:
    if scheme not in Providers.schemes:
        return False
    if scheme == "digest":
        return _java_split_len(ident, ":") == 2
    if scheme == "ip":
        return _ip_rule(ident) is not None
    if scheme == "x509":
        from ..security.x509name import valid_dn
        return valid_dn(ident)
    if scheme == "sasl":
        return _valid_sasl(ident)
    return False


class NullIdError(Exception):
    """A null id where ZooKeeper's fixupACL dereferences it (NullPointerException → MarshallingError)."""


# Providers whose identities count as "authenticated" for the `auth` pseudo-scheme (ip does not).
_AUTHENTICATED_SCHEMES: Final = {"digest", "sasl", "x509"}


# Normalised ACLs by their client-supplied entries, for lists without the `auth` scheme (whose result
# depends on the session's identities): nearly every create sends one of a handful of lists.
_fixed: dict[tuple[RawAclEntry, ...], AclList] = {}


# The request list `fixup_acl` last normalised without an `auth` entry, and its result: the multi decoder
# hands every create of a multi the same (shared, never mutated) list object, so the 999 creates after the
# first of a 1000-op multi are one identity test instead of a tuple rebuilt and hashed per create.
_last_fixed: tuple[list[ACL] | None, AclList] = (None, ())


def fixup_acl(acl: list[ACL] | None, auth: list[AuthId]) -> AclList:
    """Validate and normalise a client-supplied ACL list; raises InvalidACLError."""
    global _last_fixed
    if not acl:
        raise InvalidACLError("empty ACL")
    last = _last_fixed
    if acl is last[0]:
        return last[1]
    entries = tuple(from_records(acl))
    hit = _fixed.get(entries)
    if hit is not None:
        _last_fixed = (acl, hit)
        return hit
    result = _fixup(entries, auth)
    if all(scheme != "auth" for _, scheme, _ in entries):  # otherwise the result depends on `auth`
        if len(_fixed) < _FIXED_MAX:
            _fixed[entries] = result
        _last_fixed = (acl, result)
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
        if ident is None and (scheme == "world" or scheme in Providers.schemes):
            raise NullIdError(f"null id in scheme {scheme}")
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
        return ip_matches(auth_id, acl_id)
    if scheme == "x509" and Providers.x509_super is not None and auth_id == Providers.x509_super:
        return True
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
                 peer_ip: str | None = None, tls_ids: list[AuthId] | None = None) -> list[AuthId]:
    """The ids an `addauth scheme credential` gives a connection; raises AuthFailedError.

    `ip` ignores the credential and grants the peer's own address, as IPAuthenticationProvider does;
    `x509` grants the ids of the connection's verified certificate again (`tls_ids`), fails without one;
    `sasl` fails (SASL is its own exchange). A null digest credential fails: Apache's provider reads it
    with `new String(null)`, and the resulting exception is AuthFailed."""
    if scheme is None or scheme not in Providers.schemes:
        raise AuthFailedError(f"no authentication provider for scheme {scheme!r}")
    if scheme == "ip" and peer_ip is not None:
        return [("ip", peer_ip)]
    if scheme == "x509":
        if not tls_ids:
            raise AuthFailedError("no verified client certificate on this connection")
        return list(tls_ids)
    if scheme != "digest":
        raise AuthFailedError(f"scheme {scheme!r} cannot be used with addauth")
    if credential is None:
        raise AuthFailedError("null credential")
    text = credential.decode("utf-8", "replace")
    ident = digest(text)
    ids: list[AuthId] = [("digest", ident)]
    if super_digest and ident == super_digest:
        ids.append(("super", ""))
    return ids
