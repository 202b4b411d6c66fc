"""Reply frames, built with precompiled structs (the bytes a client reads after the length prefix).

When `err != 0` ZooKeeper sends the header alone; clients never read a body then.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from typing import Final

from ..protocol.codes import (
    ERR_SYSTEMERROR,
    OP_CHECK,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_ERROR,
    OP_MULTI,
    OP_SET_ACL,
    OP_SET_DATA,
    STATE_SYNC_CONNECTED,
    XID_NOTIFICATION,
)
from ..tree import ApplyResult

_HDR: Final = struct.Struct(">iiqi")  # frame length, xid, zxid, err
_I: Final = struct.Struct(">i")
_MH: Final = struct.Struct(">i?i")  # MultiHeader
_EVENT: Final = struct.Struct(">iiqiii")  # length, xid=-1, zxid, err=0, type, state
_MULTI_END: Final = _MH.pack(-1, True, -1)
# A successful sub-result's header is one of a few constant byte strings: built once, not per result
_MH_CREATE: Final = _MH.pack(OP_CREATE, False, 0)
_MH_CREATE2: Final = _MH.pack(OP_CREATE2, False, 0)
_MH_DELETE: Final = _MH.pack(OP_DELETE, False, 0)
_MH_SET_DATA: Final = _MH.pack(OP_SET_DATA, False, 0)
_MH_CHECK: Final = _MH.pack(OP_CHECK, False, 0)
pack_hdr: Final = _HDR.pack
pack_i: Final = _I.pack


def frame(xid: int, zxid: int, err: int, body: bytes = b"") -> bytes:
    return pack_hdr(16 + len(body), xid, zxid, err) + body


def error(xid: int, zxid: int, err: int) -> bytes:
    return pack_hdr(16, xid, zxid, err)


def ustring(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return pack_i(len(b)) + b


def buffer(b: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if b is None else pack_i(len(b)) + b


def string_vector(items: Collection[str]) -> bytes:
    parts = [pack_i(len(items))]
    for s in items:
        b = s.encode("utf-8", "surrogatepass")
        parts.append(pack_i(len(b)))
        parts.append(b)
    return b"".join(parts)


# The last notification built: one change fans out to every watcher of its path with the same bytes, so
# 5000 watchers cost one encoding, not 5000 (the frame is immutable bytes, shared by their buffers' copies).
_last_notification: tuple[int, str, int, bytes] = (-999, "", 0, b"")  # no event has type -999


def notification(event_type: int, path: str, zxid: int) -> bytes:
    global _last_notification
    last = _last_notification
    if last[2] == zxid and last[0] == event_type and last[1] == path:
        return last[3]
    b = path.encode("utf-8", "surrogatepass")
    frame = _EVENT.pack(28 + len(b), XID_NOTIFICATION, zxid, 0, event_type, STATE_SYNC_CONNECTED) \
        + pack_i(len(b)) + b
    _last_notification = (event_type, path, zxid, frame)
    return frame


def write_body(op: int, res: ApplyResult, req_path: str | None) -> bytes:
    """The response body of a successful write (`op` is the client's opcode)."""
    if op == OP_CREATE:
        return ustring(res.path or "")
    if op in (OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
        return ustring(res.path or "") + (res.stat or b"")
    if op in (OP_SET_DATA, OP_SET_ACL):
        return res.stat or b""
    if op == OP_MULTI:
        return multi_body(res)
    return b""


def multi_body(res: ApplyResult) -> bytes:
    out = bytearray()
    for sub in res.multi:
        t = sub.type
        if t == OP_ERROR:
            out += _MH.pack(-1, False, sub.err)
            out += pack_i(sub.err)
        elif t == OP_CREATE:
            out += _MH_CREATE
            out += ustring(sub.path or "")
        elif t in (OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
            out += _MH_CREATE2
            out += ustring(sub.path or "")
            out += sub.stat or b""
        elif t in (OP_DELETE, OP_DELETE_CONTAINER):
            out += _MH_DELETE
        elif t == OP_SET_DATA:
            out += _MH_SET_DATA
            out += sub.stat or b""
        elif t == OP_CHECK:
            out += _MH_CHECK
        else:  # pragma: no cover - prepare only emits the types above
            out += _MH.pack(-1, False, ERR_SYSTEMERROR)
            out += pack_i(ERR_SYSTEMERROR)
    out += _MULTI_END
    return bytes(out)


MULTI_HEADER: Final = _MH
MULTI_END: Final = _MULTI_END


def connect_response(timeout: int, session_id: int, passwd: bytes, with_readonly: bool,
                     read_only: bool = False) -> bytes:
    """ConnectResponse frame: 37 bytes of payload with readOnly (`read_only`: a read-only member's
    session), 36 for clients that omitted it."""
    body = struct.pack(">iiqi", 0, timeout, session_id, len(passwd)) + passwd
    if with_readonly:
        body += b"\1" if read_only else b"\0"
    return pack_i(len(body)) + body
