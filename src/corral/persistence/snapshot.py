"""Snapshots: the whole tree, the sessions with their timeouts and the ACL table, checksummed.

Layout (close to ZooKeeper's FileSnap): FileHeader("ZKSN", 2, -1), `long zxid` (the zxid the image
is exact at), sessions (`int n`, then `long id, int timeout`), ACL table (`int n`, then `long key,
vector<ACL>`), nodes in pre-order (`ustring path` — the root as "" — `buffer data, long aclKey,
StatPersisted`), a "/" path ending the nodes, then `long Adler32(everything before)` and "/".

Written by a forked child (see `SnapshotTaker`): fork gives an exact copy-on-write image of the tree at
one zxid, so the event loop pauses only for the fork itself, not for serialisation.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..protocol import DecodeError, FileHeader
from ..protocol.jute import read_ustring
from ..tree import DataTree, Node
from ..tree import acl as aclmod
from ..tree.acl import OPEN_ACL_UNSAFE, AclList
from ..tree.datatree import LIMIT_NODE, QUOTA_ROOT, is_ephemeral_owner
from .files import FORMAT_VERSION, SNAP_MAGIC, SNAP_PREFIX, fsync_dir, snapshot_temp

_Q = struct.Struct(">q")
_I = struct.Struct(">i")
_SESSION = struct.Struct(">qi")
_STATP = struct.Struct(">qqqqiiiqq")
HEADER = FileHeader(SNAP_MAGIC, FORMAT_VERSION, -1).to_bytes()
_CHUNK = 1 << 20


class SnapshotCorruptError(Exception):
    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: invalid snapshot at offset {offset}: {reason}")
        self.path = path
        self.offset = offset


def _ustr(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return _I.pack(len(b)) + b


def _buf(b: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if b is None else _I.pack(len(b)) + b


INCOMING_TEMP = "snapshot.incoming.tmp"


def write_snapshot(tree: DataTree, directory: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Serialise `tree` to `snapshot.<zxid>`: written to a temp file, fsynced, renamed into place."""
    zxid = tree.last_zxid
    final = Path(directory) / f"{SNAP_PREFIX}{zxid:x}"
    tmp = snapshot_temp(final)
    with open(tmp, "wb", buffering=0) as f:
        serialize(tree, f, progress)
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final


def snapshot_bytes(tree: DataTree) -> bytes:
    """The same image in memory: what a leader sends a learner that is too far behind (SNAP)."""
    buf = io.BytesIO()
    serialize(tree, buf)
    return buf.getvalue()


def install_snapshot(data: bytes, directory: Path) -> tuple[DataTree, Path]:
    """Verify and load a snapshot received from the leader, and keep it as this server's newest."""
    tmp = Path(directory) / INCOMING_TEMP
    tmp.write_bytes(data)
    tree = read_snapshot(tmp)
    final = Path(directory) / f"{SNAP_PREFIX}{tree.last_zxid:x}"
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return tree, final


def serialize(tree: DataTree, f: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
    zxid = tree.last_zxid
    crc = 1
    parts: list[bytes] = []
    size = 0

    def emit(b: bytes) -> None:
        nonlocal size, crc
        parts.append(b)
        size += len(b)
        if size >= _CHUNK:
            chunk = b"".join(parts)
            crc = zlib.adler32(chunk, crc)
            f.write(chunk)
            parts.clear()
            size = 0

    emit(HEADER)
    emit(_Q.pack(zxid))
    emit(_I.pack(len(tree.sessions)))
    for sid, timeout in tree.sessions.items():
        emit(_SESSION.pack(sid, timeout))
    keys: dict[AclList, int] = {OPEN_ACL_UNSAFE: -1}
    for n in tree.nodes.values():
        if n.acl not in keys:
            keys[n.acl] = len(keys)
    emit(_I.pack(len(keys)))
    for acl, key in keys.items():
        emit(_Q.pack(key) + _I.pack(len(acl)))
        for perms, scheme, ident in acl:
            emit(_I.pack(perms) + _ustr(scheme) + _ustr(ident))
    stack = ["/"]
    nodes = tree.nodes
    count = 0
    while stack:
        path = stack.pop()
        n = nodes[path]
        emit(b"".join((_ustr("" if path == "/" else path), _buf(n.data), _Q.pack(keys[n.acl]),
                       _STATP.pack(n.czxid, n.mzxid, n.ctime, n.mtime, n.version, n.cversion, n.aversion,
                                   n.ephemeral_owner, n.pzxid))))
        prefix = "" if path == "/" else path
        stack.extend(prefix + "/" + c for c in n.children)
        count += 1
        if progress is not None and count % 100000 == 0:
            progress(count)
    emit(_ustr("/"))
    tail = b"".join(parts)
    crc = zlib.adler32(tail, crc)
    f.write(tail + _Q.pack(crc) + _ustr("/"))


_KEY_STAT = struct.Struct(">q" + _STATP.format[1:])


def _load_nodes(tree: DataTree, data: bytes, off: int, acls: dict[int, AclList], path: Path,
                progress: Callable[[int], None] | None) -> int:
    """The node records (pre-order, parents first) up to the "/" end marker; returns the offset after it.

    The hot loop of recovery (a million iterations): lengths and the key+Stat run are unpacked in place,
    Node's slots are filled directly and the tree's indexes inline, which made loading about 1.5 times as
    fast as the generic readers and a per-node insert method.
    """
    nodes = tree.nodes
    unpack_i = _I.unpack_from
    unpack_ks = _KEY_STAT.unpack_from
    ks_size = _KEY_STAT.size
    new = Node.__new__
    ephemerals = tree.ephemerals
    data_size = 0
    count = 0
    quota_paths: list[str] = []
    while True:
        (n,) = unpack_i(data, off)
        off += 4
        if n < 0:
            raise SnapshotCorruptError(path, off - 4, "null path")
        p = data[off:off + n].decode("utf-8", "replace")
        off += n
        if p == "/":
            break
        (n,) = unpack_i(data, off)
        off += 4
        if n == -1:
            d = None
        elif n < 0:
            raise SnapshotCorruptError(path, off - 4, f"bad data length {n}")
        else:
            d = data[off:off + n]
            off += n
            data_size += n
        node = new(Node)
        key, node.czxid, node.mzxid, node.ctime, node.mtime, node.version, node.cversion, node.aversion, \
            owner, node.pzxid = unpack_ks(data, off)
        off += ks_size
        node.data, node.acl, node.ephemeral_owner, node.children = d, acls[key], owner, set()
        if p:
            nodes[p] = node
            i = p.rfind("/")
            nodes[p[:i] if i > 0 else "/"].children.add(p[i + 1:])
            data_size += len(p)
        else:
            nodes["/"] = node
        if owner:
            if is_ephemeral_owner(owner):
                ephemerals.setdefault(owner, set()).add(p)
            else:
                tree.containers.add(p)
        if p.startswith(QUOTA_ROOT):
            quota_paths.append(p)
        count += 1
        if progress is not None and count % 100000 == 0:
            progress(count)
    tree.data_size += data_size
    for p in quota_paths:
        if p.startswith(QUOTA_ROOT + "/") and p.endswith("/" + LIMIT_NODE):
            tree.quota_roots.add(p[len(QUOTA_ROOT):-len(LIMIT_NODE) - 1])
    return off


def read_snapshot(path: Path, progress: Callable[[int], None] | None = None) -> DataTree:
    """Load and verify a snapshot; raises SnapshotCorruptError naming the offset."""
    data = Path(path).read_bytes()
    off = 0
    try:
        fh = FileHeader.from_bytes(data)
        if fh.magic != SNAP_MAGIC:
            raise SnapshotCorruptError(path, 0, f"bad magic 0x{fh.magic:x}")
        off = len(HEADER)
        # Verify the checksum first: never build a tree from bytes that fail it.
        end = len(data) - 8 - 5
        if end < off or data[end + 8:] != _ustr("/"):
            raise SnapshotCorruptError(path, len(data), "missing checksum trailer (incomplete file)")
        (crc,) = _Q.unpack_from(data, end)
        if zlib.adler32(memoryview(data)[:end]) != crc & 0xFFFFFFFF:
            raise SnapshotCorruptError(path, end, "checksum mismatch")
        (zxid,) = _Q.unpack_from(data, off)
        off += 8
        tree = DataTree(system_nodes=False)
        tree.last_zxid = zxid
        (ns,) = _I.unpack_from(data, off)
        off += 4
        for _ in range(ns):
            sid, timeout = _SESSION.unpack_from(data, off)
            off += 12
            tree.sessions[sid] = timeout
        (na,) = _I.unpack_from(data, off)
        off += 4
        acls: dict[int, AclList] = {}
        for _ in range(na):
            (key,) = _Q.unpack_from(data, off)
            (cnt,) = _I.unpack_from(data, off + 8)
            off += 12
            entries = []
            for _ in range(cnt):
                (perms,) = _I.unpack_from(data, off)
                scheme, off = read_ustring(data, off + 4)
                ident, off = read_ustring(data, off)
                entries.append((perms, scheme or "", ident or ""))
            acls[key] = tuple(entries)
        off = _load_nodes(tree, data, off, {k: aclmod.intern(a) for k, a in acls.items()}, path, progress)
        if off != end:
            raise SnapshotCorruptError(path, off, "trailing bytes before the checksum")
        for required in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            if required not in tree.nodes:
                raise SnapshotCorruptError(path, off, f"missing system node {required}")
        return tree
    except (struct.error, DecodeError, KeyError, IndexError) as e:
        raise SnapshotCorruptError(path, off, f"unreadable: {e}")
