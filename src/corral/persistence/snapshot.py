"""Snapshots in Apache ZooKeeper's exact format (FileSnap), read from 3.5 to 3.9 and written as 3.9 does.

File layout (every integer big-endian, strings and buffers as jute writes them: `int length` + bytes,
-1 for null):

    FileHeader("ZKSN", 2, -1)
    body        SerializeUtils.serializeSnapshot: `int n` sessions (`long id, int timeout`), then
                DataTree.serialize: the ACL cache (`int n`, then `long key, vector<ACL>`; key -1 is
                OPEN_ACL_UNSAFE and is not in the map), the nodes in pre-order, parents first
                (`ustring path` — the root as "" — then DataNode: `buffer data, long acl,
                StatPersisted`), and the path "/" ending the nodes
    seal        `long Adler32(every byte before)`, `ustring "/"`
    digest      3.6+: ZxidDigest `long zxid, int version, long digest` (version < 2: the digest as a
                hex string), then a seal
    lastZxid    3.9+: `long lastProcessedZxid`, then a seal

The snapshot's zxid is the one in its name (ZooKeeper's snapshots are fuzzy: taken while transactions
are applied, so the tree may already hold some after it; recovery replays from the next zxid and the
tree's `apply` tolerates what is already there). corral's are exact at that zxid: written by a forked
child (see `server/storage.py`), which holds a copy-on-write image of the tree at one zxid.

Readers accept every variant above, gzip- and snappy-compressed files (by their magic bytes, as
ZooKeeper names them `.gz`/`.snappy`), and corral's own pre-Apache layout (a `long zxid` after the
header, OPEN_ACL_UNSAFE in the map), so a data directory written by an older corral still recovers.
`write_body`/`read_body` are the stream without the file header: what a leader sends a learner in a
SNAP (LearnerHandler sends it followed by the string "BenWasHere").
"""

from __future__ import annotations

import gzip
import io
import logging
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeAlias

from ..protocol import DecodeError, FileHeader
from ..tree import DataTree
from ..tree import acl as aclmod
from ..tree.acl import OPEN_ACL_UNSAFE, AclList
from ..tree.digest import DIGEST_VERSION, EXCLUDED_PREFIX, to_long
from . import snapemit
from .files import FORMAT_VERSION, PRIVATE_FILE, SNAP_MAGIC, SNAP_PREFIX, fsync_dir, snapshot_temp, snapshot_zxid
from .snapnodes import RELEASE_EVERY, NodeRecordError, load_nodes

log = logging.getLogger("corral.snapshot")

_Q = struct.Struct(">q")
_I = struct.Struct(">i")
_SESSION = struct.Struct(">qi")
_ZXID_DIGEST = struct.Struct(">qiq")
HEADER = FileHeader(SNAP_MAGIC, FORMAT_VERSION, -1).to_bytes()
END_PATH = b"\x00\x00\x00\x01/"  # the string "/": ends the nodes, and every seal
SEAL_SIZE = 8 + len(END_PATH)
OPEN_ACL_KEY = -1
SYNC_SIGNATURE = "BenWasHere"  # what follows the body in a SNAP (LearnerHandler)
GZIP_MAGIC = b"\x1f\x8b"
SNAPPY_MAGIC = b"\x82SNAPPY\x00"  # snappy-java's SnappyOutputStream, which ZooKeeper uses
INCOMING_TEMP = "snapshot.incoming.tmp"
_CHUNK = 1 << 20
Image: TypeAlias = bytes | mmap.mmap
"""A snapshot's bytes: in memory, or a memory-mapped file."""


class SnapshotCorruptError(Exception):
    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: invalid snapshot at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class SnapshotPublishError(OSError):
    """Renaming a written snapshot into place, or making the rename durable, failed: the file may or
    may not be `snapshot.<zxid>` now (before that step a failure leaves the directory as it was)."""


@dataclass(frozen=True)
class ZxidDigest:
    """The tree digest a snapshot carries (DataTree.ZxidDigest): the digest after txn `zxid`."""

    zxid: int
    version: int
    digest: int


@dataclass
class Snapshot:
    """A loaded snapshot: the tree (its `last_zxid` is the snapshot's zxid) and what the file said."""

    tree: DataTree
    zxid: int
    digest: ZxidDigest | None
    last_processed_zxid: int | None
    layout: str  # "3.5" (no digest), "3.6" (digest), "3.9" (digest and lastZxid), "corral-legacy"
    compression: str  # "", "gzip" or "snappy"
    extra_bytes: int = 0  # sealed sections after the known ones (a newer ZooKeeper), skipped


def _ustr(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return _I.pack(len(b)) + b


def _read_ustring(data: Image, off: int) -> tuple[str | None, int]:
    """jute's ustring at `off` (null for length -1), from bytes or a memory map."""
    if off + 4 > len(data):
        raise DecodeError("truncated string length")
    (n,) = _I.unpack_from(data, off)
    off += 4
    if n == -1:
        return None, off
    if n < 0 or off + n > len(data):
        raise DecodeError(f"unreasonable string length {n}")
    return data[off:off + n].decode("utf-8", "replace"), off + n


# ---- writing ------------------------------------------------------------------------------------------


class _Sink:
    """Buffered writer keeping the running Adler32 of everything written (CheckedOutputStream)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.crc = 1
        self.parts: list[bytes] = []
        self.size = 0

    def emit(self, b: bytes) -> None:
        self.parts.append(b)
        self.size += len(b)
        if self.size >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        chunk = b"".join(self.parts)
        self.crc = zlib.adler32(chunk, self.crc)
        self.f.write(chunk)
        self.parts.clear()
        self.size = 0

    def seal(self) -> None:
        """SnapStream.sealStream: the checksum so far, then "/" (both covered by later seals)."""
        self.flush()
        self.emit(_Q.pack(self.crc) + END_PATH)
        self.flush()


def write_body(tree: DataTree, emit: Callable[[bytes], object],
               progress: Callable[[int], None] | None = None) -> int:
    """Sessions and the tree as SerializeUtils.serializeSnapshot writes them, ending with "/".

    Returns the tree digest (computed on the way: the node loop already has every field in hand)."""
    emit(_I.pack(len(tree.sessions)))
    for sid, timeout in tree.sessions.items():
        emit(_SESSION.pack(sid, timeout))
    # ZooKeeper's ACL cache: OPEN_ACL_UNSAFE is key -1 outside the map, other lists count up from 1.
    keys, in_dict_order = snapemit.acl_keys(tree, OPEN_ACL_UNSAFE, OPEN_ACL_KEY)
    emit(_I.pack(len(keys) - 1))
    for acl, key in keys.items():
        if key == OPEN_ACL_KEY:
            continue
        emit(_Q.pack(key) + _I.pack(len(acl)))
        for perms, scheme, ident in acl:
            emit(_I.pack(perms) + _ustr(scheme) + _ustr(ident))
    digest = snapemit.write_nodes(tree, keys, EXCLUDED_PREFIX, emit, progress, in_dict_order)
    emit(END_PATH)
    return to_long(digest)


def body_bytes(tree: DataTree) -> bytes:
    """The SNAP stream body (sessions + tree + "/") in memory."""
    parts: list[bytes] = []
    write_body(tree, parts.append)
    return b"".join(parts)


def serialize(tree: DataTree, f: BinaryIO, progress: Callable[[int], None] | None = None) -> int:
    """The whole file, as ZooKeeper 3.9 writes it with its defaults (digest and lastZxid sections).

    Returns the tree digest written in it."""
    sink = _Sink(f)
    sink.emit(HEADER)
    digest = write_body(tree, sink.emit, progress)
    sink.seal()
    # Before any txn ZooKeeper has no digest to record and writes an empty one (zxid 0, digest 0).
    sink.emit(_ZXID_DIGEST.pack(tree.last_zxid, DIGEST_VERSION, digest if tree.last_zxid else 0))
    sink.seal()
    sink.emit(_Q.pack(tree.last_zxid))
    sink.seal()
    return digest


def write_snapshot(tree: DataTree, directory: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Serialise `tree` to `snapshot.<zxid>` (0600): written to a temp file, fsynced, renamed into place."""
    zxid = tree.last_zxid
    final = Path(directory) / f"{SNAP_PREFIX}{zxid:x}"
    tmp = snapshot_temp(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with open(fd, "wb", buffering=0) as f:
        serialize(tree, f, progress)
        os.fsync(f.fileno())
    try:
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except OSError as e:
        raise SnapshotPublishError(e.errno, f"publishing {final}: {e.strerror or e}") from e
    return final


def snapshot_bytes(tree: DataTree) -> bytes:
    """The same file image in memory (corral's SNAP sync sends it whole; `install_snapshot` reads it)."""
    buf = io.BytesIO()
    serialize(tree, buf)
    return buf.getvalue()


def install_snapshot(data: bytes, directory: Path) -> tuple[DataTree, Path]:
    """Verify and load a snapshot image received from the leader, and keep it as this server's newest.

    Its zxid comes from the image's lastZxid section (the image has no file name yet)."""
    tmp = Path(directory) / INCOMING_TEMP
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    snap = parse_snapshot(data, None, tmp)
    final = Path(directory) / f"{SNAP_PREFIX}{snap.zxid:x}"
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return snap.tree, final


# ---- reading ------------------------------------------------------------------------------------------


def _load_nodes(tree: DataTree, data: Image, off: int, acls: dict[int, AclList], path: Path | str,
                progress: Callable[[int], None] | None, release: Callable[[int], None] | None = None) -> int:
    """The node records up to the "/" end marker (snapnodes.load_nodes, compiled); returns the offset
    after it. `release(offset)`, if given, may drop the bytes before `offset` from memory."""

    def every(count: int, at: int) -> None:
        if release is not None:
            release(at)
        if progress is not None and count % 100000 < RELEASE_EVERY:
            progress(count - count % 100000)

    unresolved: list[str] = []
    try:
        end = load_nodes(tree, data, off, acls, every if progress is not None or release is not None else None,
                         unresolved)
    except NodeRecordError as e:
        raise SnapshotCorruptError(path, e.offset, e.reason)
    if unresolved:
        # A fuzzy snapshot (Apache's): the txns after its zxid set these ACLs again (snapnodes.load_nodes).
        log.warning("event=snapshot_acl_unresolved file=%s nodes=%d first=%s action=no_access_until_replayed",
                    path, len(unresolved), ",".join(unresolved[:5]))
    return end


def read_body(data: Image, off: int = 0, path: Path | str = "<stream>",
              progress: Callable[[int], None] | None = None,
              release: Callable[[int], None] | None = None) -> tuple[DataTree, int]:
    """Sessions and tree from `data` at `off` (SerializeUtils.deserializeSnapshot): the tree, with its
    sessions and `last_zxid` 0, and the offset after the "/" ending the nodes.

    Raises SnapshotCorruptError naming the offset."""
    try:
        tree = DataTree(system_nodes=False)
        (ns,) = _I.unpack_from(data, off)
        off += 4
        if ns * 12 > len(data) - off:
            raise SnapshotCorruptError(path, off - 4, f"unreasonable session count {ns}")
        for _ in range(ns):
            sid, timeout = _SESSION.unpack_from(data, off)
            off += 12
            tree.sessions[sid] = timeout
        (na,) = _I.unpack_from(data, off)
        off += 4
        acls: dict[int, AclList] = {OPEN_ACL_KEY: OPEN_ACL_UNSAFE}
        for _ in range(na):
            (key,) = _Q.unpack_from(data, off)
            (cnt,) = _I.unpack_from(data, off + 8)
            if cnt < 0:
                raise SnapshotCorruptError(path, off + 8, f"ACL {key}: missing acls")
            off += 12
            entries = []
            for _ in range(cnt):
                (perms,) = _I.unpack_from(data, off)
                scheme, off = _read_ustring(data, off + 4)
                ident, off = _read_ustring(data, off)
                entries.append((perms, scheme or "", ident or ""))
            acls[key] = aclmod.intern(tuple(entries))
        off = _load_nodes(tree, data, off, acls, path, progress, release)
    except (struct.error, DecodeError) as e:
        raise SnapshotCorruptError(path, off, f"unreadable: {e}")
    for required in ("/", "/zookeeper", "/zookeeper/quota"):
        if required not in tree.nodes:
            raise SnapshotCorruptError(path, off, f"missing system node {required}")
    if "/zookeeper/config" not in tree.nodes:  # snapshots of ZooKeeper before 3.5 have none
        tree._add_system("/zookeeper/config", aclmod.READ_ACL_UNSAFE).aversion = -1
    return tree, off


class _Adler:
    """Adler32 of `data` up to any offset, extended from the last one asked (offsets only grow), so the
    several seals of a file cost one pass over it. Read in slices, not through a memoryview: a view would
    keep a memory-mapped file from being closed."""

    def __init__(self, data: Image) -> None:
        self.data = data
        self.end = 0
        self.value = 1

    @staticmethod
    def _extend(data: Image, start: int, end: int, value: int) -> int:
        for at in range(start, end, _CHUNK):
            value = zlib.adler32(data[at:min(end, at + _CHUNK)], value)
        return value

    def upto(self, end: int) -> int:
        if end < self.end:
            return self._extend(self.data, 0, end, 1)
        self.value = self._extend(self.data, self.end, end, self.value)
        self.end = end
        return self.value


class _AdlerAhead(_Adler):
    """An `_Adler` whose pass over the file runs on a worker thread while the nodes load: zlib releases
    the GIL while it sums a buffer, so on a second core most of the ~60 ms a million-znode file costs
    comes off the load. The worker sums `STEP` bytes per call (it needs the GIL between calls, and the
    loader holds it for up to the interpreter's 5 ms switch interval at a time) and notes the checksum
    at each step; a seal extends the last note before it, or the last seal checked.

    Over a memory-mapped file the worker keeps at most two steps ahead of the loader (`allow`): each
    page it reads stays resident until the loader drops it, and the loader drops only what the worker
    has summed. `close()` must be called: it joins the worker, whose view of a memory-mapped file would
    otherwise keep the file from being closed."""

    STEP = 16 * _CHUNK

    def __init__(self, data: Image, paced: bool) -> None:
        super().__init__(data)
        self.marks = [1]  # marks[k]: Adler32 of data[:k * STEP]; appended by the worker only
        self.limit = 2 * self.STEP if paced else len(data)
        self.stopping = False
        self.cond = threading.Condition()
        self.worker = threading.Thread(target=self._run, name="snapshot-adler32", daemon=True)
        self.worker.start()

    def _run(self) -> None:
        value = 1
        step = self.STEP
        with memoryview(self.data) as view:
            for at in range(0, len(view) - step + 1, step):
                if at + step > self.limit:
                    with self.cond:
                        while at + step > self.limit and not self.stopping:
                            self.cond.wait()
                if self.stopping:
                    return
                value = zlib.adler32(view[at:at + step], value)
                self.marks.append(value)

    def allow(self, loaded: int) -> None:
        """The loader is at `loaded`: the worker may read up to two steps past it."""
        if loaded + 2 * self.STEP > self.limit:
            with self.cond:
                self.limit = loaded + 2 * self.STEP
                self.cond.notify()

    def covered(self) -> int:
        """Bytes the worker has summed so far."""
        return (len(self.marks) - 1) * self.STEP

    def upto(self, end: int) -> int:
        k = end // self.STEP
        if k >= len(self.marks):
            self.allow(len(self.data))
            self.worker.join()
        if k >= len(self.marks):  # the worker stopped early (close() during a load that failed)
            return super().upto(end)
        if self.end < k * self.STEP or self.end > end:
            self.end, self.value = k * self.STEP, self.marks[k]
        self.value = self._extend(self.data, self.end, end, self.value)
        self.end = end
        return self.value

    def close(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.worker.join()


def _check_seal(data: Image, off: int, adler: _Adler, path: Path | str, what: str) -> int:
    """SnapStream.checkSealIntegrity at `off`; returns the offset after the seal."""
    if off + SEAL_SIZE > len(data) or data[off + 8:off + SEAL_SIZE] != END_PATH:
        raise SnapshotCorruptError(path, off, f"missing checksum after the {what} (incomplete file)")
    (val,) = _Q.unpack_from(data, off)
    if adler.upto(off) != val:
        raise SnapshotCorruptError(path, off, f"checksum mismatch ({what})")
    return off + SEAL_SIZE


def _sealed(data: Image, off: int, size: int, adler: _Adler) -> bool:
    """Whether a section of `size` bytes at `off` is followed by a seal whose checksum holds."""
    end = off + size
    if end + SEAL_SIZE > len(data) or data[end + 8:end + SEAL_SIZE] != END_PATH:
        return False
    return bool(_Q.unpack_from(data, end)[0] == adler.upto(end))


def _digest_section(data: Image, off: int, adler: _Adler) -> tuple[ZxidDigest, int] | None:
    """The ZxidDigest at `off` and the offset after its seal, or None if there is none there."""
    if off + 12 > len(data):
        return None
    zxid, version = _Q.unpack_from(data, off)[0], _I.unpack_from(data, off + 8)[0]
    if version >= 2:
        if not _sealed(data, off, 20, adler):
            return None
        return ZxidDigest(zxid, version, _Q.unpack_from(data, off + 12)[0]), off + 20 + SEAL_SIZE
    try:  # digest versions before 2 wrote the digest as a hex string
        text, end = _read_ustring(data, off + 12)
        value = to_long(int(text, 16)) if text else 0
    except (DecodeError, ValueError):
        return None
    if not _sealed(data, off, end - off, adler):
        return None
    return ZxidDigest(zxid, version, value), end + SEAL_SIZE


def decompress(data: Image, path: Path | str) -> tuple[Image, str]:
    """(the plain snapshot bytes, "gzip"/"snappy"/"") of a file's contents, by their magic bytes."""
    if data[:len(GZIP_MAGIC)] == GZIP_MAGIC:
        try:
            return gzip.decompress(data), "gzip"
        except (OSError, EOFError, zlib.error) as e:
            raise SnapshotCorruptError(path, 0, f"unreadable gzip stream: {e}")
    if data[:len(SNAPPY_MAGIC)] == SNAPPY_MAGIC:
        return _snappy_java(data, path), "snappy"
    return data, ""


def _snappy_java(data: Image, path: Path | str) -> bytes:
    """snappy-java's stream: an 8-byte magic and two int versions, then blocks of `int length` + raw
    snappy; concatenated streams repeat the header."""
    try:
        import cramjam
    except ImportError:  # pragma: no cover - cramjam is a dependency; a broken install says so
        raise SnapshotCorruptError(path, 0, "snappy-compressed snapshot, and the cramjam package is missing")
    out = []
    off = 0
    n = len(data)
    while off < n:
        if data[off:off + len(SNAPPY_MAGIC)] == SNAPPY_MAGIC:
            off += len(SNAPPY_MAGIC) + 8
            continue
        if off + 4 > n:
            raise SnapshotCorruptError(path, off, "truncated snappy block length")
        (size,) = _I.unpack_from(data, off)
        if size < 0 or off + 4 + size > n:
            raise SnapshotCorruptError(path, off, f"truncated snappy block ({size} bytes)")
        try:
            out.append(bytes(cramjam.snappy.decompress_raw(data[off + 4:off + 4 + size])))
        except cramjam.DecompressionError as e:
            raise SnapshotCorruptError(path, off, f"unreadable snappy block: {e}")
        off += 4 + size
    return b"".join(out)


def parse_snapshot(data: Image, name_zxid: int | None, path: Path | str = "<snapshot>",
                   progress: Callable[[int], None] | None = None,
                   drop: Callable[[int], None] | None = None) -> Snapshot:
    """Load a snapshot file's contents; raises SnapshotCorruptError naming the offset.

    The zxid is `name_zxid` (the file name's, as ZooKeeper takes it), else the lastZxid section's.
    `drop(offset)`, if given, is called as the nodes load, once the bytes before `offset` are checksummed
    and no longer needed (a memory-mapped file drops them from memory)."""
    data, compression = decompress(data, path)
    try:
        fh = FileHeader.from_bytes(data[:len(HEADER)])
    except DecodeError:
        raise SnapshotCorruptError(path, 0, f"shorter than a file header ({len(data)} bytes)")
    if fh.magic != SNAP_MAGIC:
        raise SnapshotCorruptError(path, 0, f"bad magic 0x{fh.magic & 0xFFFFFFFF:x} (not a snapshot)")
    # FileSnap.findNValidSnapshots' first test: a snapshot ends with the string "/".
    if data[-len(END_PATH):] != END_PATH or len(data) < len(HEADER) + SEAL_SIZE:
        raise SnapshotCorruptError(path, len(data), "missing checksum trailer (incomplete file)")
    adler = _AdlerAhead(data, paced=drop is not None) if len(data) >= _CHUNK else _Adler(data)
    try:
        return _parse_sections(data, compression, name_zxid, path, progress, drop, adler)
    finally:
        if isinstance(adler, _AdlerAhead):
            adler.close()


def _parse_sections(data: Image, compression: str, name_zxid: int | None, path: Path | str,
                    progress: Callable[[int], None] | None, drop: Callable[[int], None] | None,
                    adler: _Adler) -> Snapshot:
    """parse_snapshot after the header's checks: the body, its seal and the sections after it."""

    def release(at: int) -> None:
        if drop is None:
            return
        if isinstance(adler, _AdlerAhead):
            drop(min(at, adler.covered()))  # what the worker has not read yet stays mapped
            adler.allow(at)
        else:
            adler.upto(at)
            drop(at)

    try:
        tree, off = read_body(data, len(HEADER), path, progress, release if drop is not None else None)
        off = _check_seal(data, off, adler, path, "tree")
    except SnapshotCorruptError as first:
        legacy = _parse_legacy(data, path, progress)
        if legacy is None:
            end = len(data) - SEAL_SIZE
            if not _sealed(data, end, 0, _Adler(data)):
                # Damaged bytes are what made the body unreadable: say so, as the checksum would have.
                raise SnapshotCorruptError(path, end, f"checksum mismatch (the file is damaged; reading it "
                                                      f"failed at offset {first.offset}: {first.reason})")
            raise first
        legacy.compression = compression
        return legacy
    digest = None
    last = None
    layout = "3.5"
    found = _digest_section(data, off, adler)
    if found is not None:
        digest, off = found
        layout = "3.6"
    if off + 8 + SEAL_SIZE <= len(data) and _sealed(data, off, 8, adler):
        (last,) = _Q.unpack_from(data, off)
        off += 8 + SEAL_SIZE
        layout = "3.9" if digest is not None else "3.9-nodigest"
    if off < len(data) and not _sealed(data, off, len(data) - SEAL_SIZE - off, adler):
        # Sections a newer ZooKeeper may add end with a seal too; bytes that do not are damage.
        raise SnapshotCorruptError(path, off, "checksum mismatch (after the tree's checksum)")
    zxid = name_zxid if name_zxid is not None else last if last is not None else digest.zxid if digest else 0
    tree.last_zxid = zxid
    return Snapshot(tree, zxid, digest, last, layout, compression, len(data) - off)


def _parse_legacy(data: Image, path: Path | str, progress: Callable[[int], None] | None) -> Snapshot | None:
    """corral's layout before it wrote ZooKeeper's: `long zxid` after the header, then the body and a
    single seal. None if `data` is not one."""
    end = len(data) - SEAL_SIZE
    if end < len(HEADER) + 8 or not _sealed(data, end, 0, _Adler(data)):
        return None
    (zxid,) = _Q.unpack_from(data, len(HEADER))
    try:
        tree, off = read_body(data, len(HEADER) + 8, path, progress)
    except SnapshotCorruptError:
        return None
    if off != end:
        return None
    tree.last_zxid = zxid
    return Snapshot(tree, zxid, None, None, "corral-legacy", "")


def load_snapshot(path: Path, progress: Callable[[int], None] | None = None) -> Snapshot:
    """Read and load a snapshot file (OSError if it cannot be read, SnapshotCorruptError if invalid).

    An uncompressed file is memory-mapped and read front to back, each stretch dropped from memory
    once loaded: at a million znodes the file is ~200 MB, which read whole used to sit next to the
    tree being built and set recovery's peak memory."""
    path = Path(path)
    zxid = snapshot_zxid(path.name)
    with open(path, "rb") as f:
        head = f.read(len(SNAPPY_MAGIC))
        size = os.fstat(f.fileno()).st_size
        if size < _CHUNK or head.startswith(GZIP_MAGIC) or head.startswith(SNAPPY_MAGIC):
            f.seek(0)
            return parse_snapshot(f.read(), zxid, path, progress)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        # Advice only (Linux has both; elsewhere the file stays mapped until it is closed).
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            mm.madvise(mmap.MADV_SEQUENTIAL)
        dontneed = getattr(mmap, "MADV_DONTNEED", None)

        def drop(at: int) -> None:
            if dontneed is not None:
                mm.madvise(dontneed, 0, at - at % mmap.PAGESIZE)

        return parse_snapshot(mm, zxid, path, progress, drop)
    finally:
        mm.close()


def read_snapshot(path: Path, progress: Callable[[int], None] | None = None) -> DataTree:
    """Load and verify a snapshot file: its tree, `last_zxid` the snapshot's zxid."""
    return load_snapshot(path, progress).tree
