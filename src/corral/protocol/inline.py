"""Jute fields read in place, for the decoders of the records nearly every write carries.

The generic jute decoder (jute.py) builds each record through generated code, a helper call per field
and an ACL and an Id record per ACL entry: about 5 µs for a create. A create request, a CreateTxn on a
follower's commit or in recovery's replay, and a multi's thousand sub-records are the hot cases, and
their fields are few. These helpers read those fields directly and answer "not mine" (offset -1) for
anything they do not take (a null string, a truncated or oversized field, a long ACL vector): the
caller then hands the whole record to the generic decoder at the same offset, so malformed input gets
exactly the generic decoder's DecodeError. Used by server/writes.py (requests) and txn/codec.py (txns).
"""

from __future__ import annotations

from typing import Final

from .records import ACL

ACL_MAX_ENTRIES: Final = 64  # longer ACL vectors (legal but rare) take the generic decoder
ACL_CACHE_MAX: Final = 1024
# An ACL vector's exact bytes -> its decoded list, shared by every record that carried those bytes
# (decoded records are never mutated: the preparer and the tree only read them). Bounded: past the
# limit, misses decode anew.
acl_cache: dict[bytes, list[ACL]] = {}


def i32_at(body: bytes, off: int) -> int:
    """The big-endian int at `off` (the caller has checked that 4 bytes are there).

    Four byte reads, not `struct.unpack_from`: compiled, about 8 ns against 95 (the struct call builds a
    tuple and an int for every field), and a multi of a thousand setData reads four such fields each."""
    v = body[off] << 24 | body[off + 1] << 16 | body[off + 2] << 8 | body[off + 3]
    return v - 0x100000000 if v & 0x80000000 else v


def i64_at(body: bytes, off: int) -> int:
    """The big-endian long at `off` (8 bytes there, checked by the caller): the signed high word shifted,
    the low word's bytes below it."""
    return i32_at(body, off) << 32 | body[off + 4] << 24 | body[off + 5] << 16 | body[off + 6] << 8 | body[off + 7]


def string_at(body: bytes, off: int, end: int) -> tuple[str | None, int]:
    """A non-null jute ustring at `off` (as `read_ustring` decodes it), or (None, -1) when it is null or
    does not fit."""
    if off + 4 > end:
        return None, -1
    n = i32_at(body, off)
    off += 4
    if n < 0 or off + n > end:
        return None, -1
    return body[off:off + n].decode("utf-8", "replace"), off + n


def path_data_at(body: bytes, off: int, end: int) -> tuple[str | None, bytes | None, int]:
    """The `ustring path, buffer data` that creates and setData (requests and txns) start with; offset
    -1 when it is not for the inline reader."""
    path, p = string_at(body, off, end)
    if path is None or p + 4 > end:
        return None, None, -1
    n = i32_at(body, p)
    p += 4
    if n >= 0 and p + n <= end:
        return path, body[p:p + n], p + n
    if n != -1:
        return None, None, -1
    return path, None, p


def acl_at(body: bytes, off: int, end: int) -> tuple[list[ACL] | None, int]:
    """The ACL vector at `off` (non-null, entries with non-null strings), decoded once per distinct byte
    string; (None, -1) for anything else."""
    if off + 4 > end:
        return None, -1
    count = i32_at(body, off)
    if count < 0 or count > ACL_MAX_ENTRIES:
        return None, -1
    p = off + 4
    for _ in range(count):
        for _field in range(2):  # perms + scheme length, then the id's length
            p += 4
            if p + 4 > end:
                return None, -1
            n = i32_at(body, p)
            if n < 0 or p + 4 + n > end:
                return None, -1
            p += n
        p += 4
    key = body[off:p]
    acl = acl_cache.get(key)
    if acl is None:
        acl = []
        q = off + 4
        for _ in range(count):
            entry, q = ACL.deserialize(body, q)
            acl.append(entry)
        if len(acl_cache) < ACL_CACHE_MAX:
            acl_cache[key] = acl
    return acl, p
