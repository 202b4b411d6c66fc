"""Read requests, served from the local tree (ZooKeeper's FinalRequestProcessor for reads).

Each handler gets the tree, the requesting connection (its session id, its identities for ACL
checks, and the watcher to register) and the frame body (after the 8-byte request header), and
returns the reply frame.
Watches are registered here, after the ACL check and before the reply is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeGuard

from ..protocol import (
    AddWatchMode,
    AddWatchRequest,
    CheckWatchesRequest,
    DecodeError,
    GetACLRequest,
    GetAllChildrenNumberRequest,
    GetEphemeralsRequest,
    MultiHeader,
    RemoveWatchesRequest,
    SetWatches,
    SetWatches2,
    WatcherType,
)
from ..protocol.codes import (
    ERR_BADARGUMENTS,
    ERR_NOAUTH,
    ERR_NONODE,
    ERR_NOWATCHER,
    OP_ADD_WATCH,
    OP_CHECK_WATCHES,
    OP_EXISTS,
    OP_GET_ACL,
    OP_GET_ALL_CHILDREN_NUMBER,
    OP_GET_CHILDREN,
    OP_GET_CHILDREN2,
    OP_GET_DATA,
    OP_GET_EPHEMERALS,
    OP_MULTI_READ,
    OP_REMOVE_WATCHES,
    OP_SET_WATCHES,
    OP_SET_WATCHES2,
    OP_WHO_AM_I,
    PERM_ADMIN,
    PERM_READ,
)
from ..protocol.jute import read_ustring
from ..tree.datatree import (
    LEAF_HEAD_SIZE,
    LEAF_NULL,
    STAT_SIZE,
    entry_acl,
    entry_children_vector,
    entry_data,
    entry_stat,
    leaf_data,
)
from ..tree.watches import STANDARD
from . import replies
from .replies import MULTI_END, MULTI_HEADER, error, frame, pack_hdr, pack_i, string_vector

if TYPE_CHECKING:
    from ..tree import DataTree
    from .connection import ServerConnection

Handler = Callable[["DataTree", "ServerConnection", int, bytes], bytes]
"""(tree, connection, xid, body after the request header) → the reply frame."""

_WATCHER_TYPES: Final = frozenset(int(t) for t in WatcherType)


def _path_and_watch(body: bytes) -> tuple[str, bool]:
    path, off = read_ustring(body, 0)
    if off >= len(body) or path is None:
        raise DecodeError("truncated path/watch request")
    return path or "/", body[off] != 0  # ZooKeeper's node map holds the root under "" as well


def get_data(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    path, watch = _path_and_watch(body)
    e = tree.nodes.get(path)
    if e is None:
        return error(xid, tree.last_zxid, ERR_NONODE)
    if not conn.can(entry_acl(e), PERM_READ):
        return error(xid, tree.last_zxid, ERR_NOAUTH)
    if watch:
        tree.watches.data.add(path, conn, STANDARD)
    if isinstance(e, bytes):  # a packed leaf: its Stat and data are slices of the record
        flags = e[72]
        stat = e[:STAT_SIZE]
        if flags & LEAF_NULL:
            return pack_hdr(88, xid, tree.last_zxid, 0) + b"\xff\xff\xff\xff" + stat
        data = e[LEAF_HEAD_SIZE:] if flags == 0 else leaf_data(e)
        assert data is not None
        return pack_hdr(88 + len(data), xid, tree.last_zxid, 0) + pack_i(len(data)) + data + stat
    data = e.data
    stat = e.pack_stat()
    if data is None:
        return pack_hdr(88, xid, tree.last_zxid, 0) + b"\xff\xff\xff\xff" + stat
    return pack_hdr(88 + len(data), xid, tree.last_zxid, 0) + pack_i(len(data)) + data + stat


def exists(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    path, watch = _path_and_watch(body)
    if "\0" in path:
        return error(xid, tree.last_zxid, ERR_BADARGUMENTS)
    e = tree.nodes.get(path)
    if e is not None and not conn.can(entry_acl(e), PERM_READ):
        return error(xid, tree.last_zxid, ERR_NOAUTH)
    if watch:
        tree.watches.data.add(path, conn, STANDARD)
    if e is None:
        return error(xid, tree.last_zxid, ERR_NONODE)
    return pack_hdr(84, xid, tree.last_zxid, 0) + entry_stat(e)


def _children(tree: DataTree, conn: ServerConnection, xid: int, body: bytes, with_stat: bool) -> bytes:
    path, watch = _path_and_watch(body)
    e = tree.nodes.get(path)
    if e is None:
        return error(xid, tree.last_zxid, ERR_NONODE)
    if not conn.can(entry_acl(e), PERM_READ):
        return error(xid, tree.last_zxid, ERR_NOAUTH)
    if watch:
        tree.watches.child.add(path, conn, STANDARD)
    body_out = entry_children_vector(e)
    if with_stat:
        body_out += entry_stat(e)
    return frame(xid, tree.last_zxid, 0, body_out)


def get_children(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    return _children(tree, conn, xid, body, False)


def get_children2(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    return _children(tree, conn, xid, body, True)


def get_acl(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = GetACLRequest.from_bytes(body)
    e = tree.nodes.get(req.path or "/")
    if e is None:
        return error(xid, tree.last_zxid, ERR_NONODE)
    acl = entry_acl(e)
    can_admin = conn.can(acl, PERM_ADMIN)
    if not can_admin and not conn.can(acl, PERM_READ):
        return error(xid, tree.last_zxid, ERR_NOAUTH)
    if not can_admin:
        # Without ADMIN, digest hashes are masked (ZOOKEEPER-1392).
        acl = tuple((p, s, i.split(":", 1)[0] + ":x" if s == "digest" else i) for p, s, i in acl)
    out = bytearray(pack_i(len(acl)))
    for perms, scheme, ident in acl:
        out += pack_i(perms)
        out += replies.ustring(scheme)
        out += replies.ustring(ident)
    out += entry_stat(e)
    return frame(xid, tree.last_zxid, 0, bytes(out))


def get_ephemerals(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = GetEphemeralsRequest.from_bytes(body)
    prefix = req.prefixPath
    paths = tree.ephemerals.get(conn.session_id, set())
    if prefix and prefix != "/":
        paths = {p for p in paths if p.startswith(prefix)}
    return frame(xid, tree.last_zxid, 0, string_vector(sorted(paths)))


def get_all_children_number(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = GetAllChildrenNumberRequest.from_bytes(body)
    path = req.path or "/"
    e = tree.nodes.get(path)
    if e is None:
        return error(xid, tree.last_zxid, ERR_NONODE)
    if not conn.can(entry_acl(e), PERM_READ):
        return error(xid, tree.last_zxid, ERR_NOAUTH)
    # ZooKeeper counts keys under `path + "/"`; for "" that includes "/" itself.
    count = len(tree.nodes) if req.path == "" else tree.count_descendants(path)
    return frame(xid, tree.last_zxid, 0, pack_i(count))


def _no_null(paths: list[str | None]) -> TypeGuard[list[str]]:
    """Narrows a whole list at no copy; sound because nothing writes to a decoded request's lists."""
    return None not in paths


def _watch_paths(paths: list[str | None] | None) -> list[str]:
    """A SetWatches path list; a null list is empty, a null path a bad request (it would reach the watch
    tables and the notifications)."""
    if paths is None:
        return []
    if not _no_null(paths):
        raise DecodeError("null path in setWatches")
    return paths


def set_watches(tree: DataTree, conn: ServerConnection, xid: int, body: bytes, v2: bool) -> bytes:
    if v2:
        r2 = SetWatches2.from_bytes(body)
        rel, data, exist, child = r2.relativeZxid, r2.dataWatches, r2.existWatches, r2.childWatches
        pers, rec = r2.persistentWatches, r2.persistentRecursiveWatches
    else:
        r1 = SetWatches.from_bytes(body)
        rel, data, exist, child, pers, rec = r1.relativeZxid, r1.dataWatches, r1.existWatches, r1.childWatches, [], []
    tree.set_watches(rel, _watch_paths(data), _watch_paths(exist), _watch_paths(child), _watch_paths(pers),
                     _watch_paths(rec), conn)
    return error(xid, tree.last_zxid, 0)


def add_watch(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = AddWatchRequest.from_bytes(body)
    if req.mode not in (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE) or req.path is None:
        raise DecodeError(f"invalid addWatch mode {req.mode}")  # Java: IllegalArgumentException → -5
    tree.watches.add_persistent(req.path, conn, recursive=req.mode == AddWatchMode.PERSISTENT_RECURSIVE)
    return frame(xid, tree.last_zxid, 0, pack_i(0))


def check_watches(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = CheckWatchesRequest.from_bytes(body)
    if req.type not in _WATCHER_TYPES:
        raise DecodeError(f"invalid watcher type {req.type}")
    ok = tree.watches.contains(req.path or "", conn, req.type)
    return error(xid, tree.last_zxid, 0 if ok else ERR_NOWATCHER)


def remove_watches(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    req = RemoveWatchesRequest.from_bytes(body)
    if req.type not in _WATCHER_TYPES:
        raise DecodeError(f"invalid watcher type {req.type}")
    ok = tree.watches.remove(req.path or "", conn, req.type)
    return error(xid, tree.last_zxid, 0 if ok else ERR_NOWATCHER)


def who_am_i(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    out = bytearray(pack_i(len(conn.auth)))
    for scheme, ident in conn.auth:
        out += replies.ustring(scheme)
        out += replies.ustring(ident.split(":", 1)[0] if scheme == "digest" else ident)
    return frame(xid, tree.last_zxid, 0, bytes(out))


def multi_read(tree: DataTree, conn: ServerConnection, xid: int, body: bytes) -> bytes:
    """Each op answered on its own: errors become ErrorResults, the header err stays 0."""
    out = bytearray()
    off = 0
    ops: list[tuple[int, str]] = []
    while True:
        mh, off = MultiHeader.deserialize(body, off)
        if mh.done:
            break
        if mh.type not in (OP_GET_DATA, OP_GET_CHILDREN):
            raise DecodeError("Mixing different kind of ops")
        path, off = read_ustring(body, off)
        if off >= len(body):
            raise DecodeError("truncated multiRead op")
        off += 1  # watch flag: ignored inside multiRead
        ops.append((mh.type, path or ""))
    for t, path in ops:
        e = tree.nodes.get(path)
        if e is None or not conn.can(entry_acl(e), PERM_READ):
            err = ERR_NONODE if e is None else ERR_NOAUTH
            out += MULTI_HEADER.pack(-1, False, err) + pack_i(err)
        elif t == OP_GET_DATA:
            out += MULTI_HEADER.pack(OP_GET_DATA, False, 0) + replies.buffer(entry_data(e)) + entry_stat(e)
        else:
            out += MULTI_HEADER.pack(OP_GET_CHILDREN, False, 0) + entry_children_vector(e)
    out += MULTI_END
    return frame(xid, tree.last_zxid, 0, bytes(out))


HANDLERS: Final[dict[int, Handler]] = {
    OP_GET_DATA: get_data,
    OP_EXISTS: exists,
    OP_GET_CHILDREN: get_children,
    OP_GET_CHILDREN2: get_children2,
    OP_GET_ACL: get_acl,
    OP_GET_EPHEMERALS: get_ephemerals,
    OP_GET_ALL_CHILDREN_NUMBER: get_all_children_number,
    OP_SET_WATCHES: lambda t, c, x, b: set_watches(t, c, x, b, False),
    OP_SET_WATCHES2: lambda t, c, x, b: set_watches(t, c, x, b, True),
    OP_ADD_WATCH: add_watch,
    OP_CHECK_WATCHES: check_watches,
    OP_REMOVE_WATCHES: remove_watches,
    OP_WHO_AM_I: who_am_i,
    OP_MULTI_READ: multi_read,
}
