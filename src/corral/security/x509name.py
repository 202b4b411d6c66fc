"""A certificate subject as Java's `X500Principal.getName()` prints it: the id of ZooKeeper's `x509` scheme.

Why not `cryptography`'s `rfc4514_string()`: ACL ids are compared as strings, so every byte must be
what Apache ZooKeeper would store. Java (RFC 2253 mode) names only CN, C, L, ST, O, OU, STREET, DC and
UID; any other attribute (emailAddress included) is written `OID=#<hex of its DER value>`; it escapes
`, = + < > # ; " \\` wherever they occur, and leading or trailing blanks. The subject is read from its
DER bytes here so the `#hex` form is the encoding as issued.
"""

from __future__ import annotations

import re

_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}
# DER string types Java prints as text (DerValue.isDerString, non-canonical), with their decoding.
_STRING_TAGS = {0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1B: "latin-1", 0x1E: "utf-16-be", 0x0C: "utf-8"}
_ESCAPEES = ',=+<>#;"\\'


class DerError(ValueError):
    pass


def _tlv(data: bytes, off: int) -> tuple[int, int, int, int]:
    """(tag, content start, content end, next offset) of the element at `off`."""
    if off + 2 > len(data):
        raise DerError("truncated")
    tag = data[off]
    n = data[off + 1]
    pos = off + 2
    if n & 0x80:
        count = n & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length")
        n = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + n
    if end > len(data):
        raise DerError("truncated")
    return tag, pos, end, end


def _oid(body: bytes) -> str:
    if not body:
        raise DerError("empty OID")
    parts: list[int] = []
    value = 0
    for b in body:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(p) for p in head + parts[1:])


def _escape(text: str) -> str:
    out = []
    for c in text:
        if c in _ESCAPEES:
            out.append("\\" + c)
        elif c == "\0":
            out.append("\\00")
        else:
            out.append(c)
    s = "".join(out)
    # leading and trailing blanks (and CRs) are escaped one by one
    lead = len(s) - len(s.lstrip(" \r"))
    trail = len(s) - len(s.rstrip(" \r"))
    if lead == len(s):
        return "".join("\\" + c for c in s)
    body = s[lead:len(s) - trail] if trail else s[lead:]
    return "".join("\\" + c for c in s[:lead]) + body + "".join("\\" + c for c in s[len(s) - trail:])


def _ava(data: bytes, start: int, end: int) -> str:
    tag, ostart, oend, nxt = _tlv(data, start)
    if tag != 0x06:
        raise DerError("attribute type is not an OID")
    oid = _oid(data[ostart:oend])
    vtag, vstart, vend, vnext = _tlv(data, nxt)
    if vnext != end:
        raise DerError("trailing bytes in an attribute")
    keyword = _KEYWORDS.get(oid)
    encoding = _STRING_TAGS.get(vtag)
    if keyword is None or encoding is None:
        return f"{keyword or oid}=#{data[nxt:vnext].hex()}"
    try:
        text = data[vstart:vend].decode(encoding)
    except UnicodeDecodeError:
        return f"{keyword}=#{data[nxt:vnext].hex()}"
    return f"{keyword}={_escape(text)}"


def java_rfc2253(name_der: bytes) -> str:
    """`X500Principal(name_der).getName()`; DerError if the bytes are not a Name."""
    tag, start, end, nxt = _tlv(name_der, 0)
    if tag != 0x30 or nxt != len(name_der):
        raise DerError("not a SEQUENCE")
    rdns: list[str] = []
    off = start
    while off < end:
        stag, sstart, send, off = _tlv(name_der, off)
        if stag != 0x31:
            raise DerError("RDN is not a SET")
        avas = []
        inner = sstart
        while inner < send:
            atag, astart, aend, inner = _tlv(name_der, inner)
            if atag != 0x30:
                raise DerError("attribute is not a SEQUENCE")
            avas.append(_ava(name_der, astart, aend))
        rdns.append("+".join(avas))
    return ",".join(reversed(rdns))


# ---- validity of an x509 ACL id (X509AuthenticationProvider.isValid: `new X500Principal(id)` parses) --

_JAVA_KEYWORDS = {"CN", "C", "L", "S", "ST", "O", "OU", "T", "IP", "STREET", "DC", "DNQUALIFIER", "DNQ",
                  "SURNAME", "GIVENNAME", "INITIALS", "GENERATION", "EMAIL", "EMAILADDRESS", "UID",
                  "SERIALNUMBER"}
_OID = re.compile(r"(?:OID\.)?[0-9]+(\.[0-9]+)+", re.IGNORECASE)
_HEX_VALUE = re.compile(r"#(?:[0-9A-Fa-f]{2})+")


def _split_unescaped(text: str, seps: str) -> list[str] | None:
    parts, cur, i, quoted = [], [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                return None
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c in seps and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if quoted:
        return None
    parts.append("".join(cur))
    return parts


def valid_dn(text: str) -> bool:
    """Whether Java's X500Principal would parse `text` (RFC 2253 / RFC 1779 keywords and OIDs). An
    approximation of Java's parser on the inputs that matter (see docs/security.md)."""
    if text.strip() == "":
        return True
    rdns = _split_unescaped(text, ",;")
    if rdns is None:
        return False
    for rdn in rdns:
        avas = _split_unescaped(rdn, "+")
        if avas is None:
            return False
        for ava in avas:
            kw, eq, value = ava.partition("=")
            kw = kw.strip()
            if not eq or not (kw.upper() in _JAVA_KEYWORDS or _OID.fullmatch(kw)):
                return False
            value = value.strip()
            if value.startswith("#") and not _HEX_VALUE.fullmatch(value):
                return False
    return True
