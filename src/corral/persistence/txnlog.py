"""The transaction log: append-only files of checksummed records, written in groups.

Record layout (ZooKeeper's FileTxnLog, byte for byte): `long Adler32(payload) | int len | payload | 'B'`,
where payload = TxnHeader + txn record (+ TxnDigest, which ZooKeeper 3.6+ appends and readers that do
not want it ignore). A file starts with FileHeader("ZKLG", 2, 0) and is named after the first zxid it
holds. Files are preallocated as ZooKeeper's FilePadding does: extended (sparse, reading as zeros)
by preAllocSize (64 MiB) whenever a write comes within 4 KiB of the end, so that an fdatasync does not
also have to commit a new file size each time (on ext4 here: ~230 → ~140 µs per fdatasync of a small
group); a zero length ends a file's records. `append` writes a whole group with one write and covers
it with one fdatasync; it runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import struct
import time
import zlib
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TypeAlias

from ..protocol import DecodeError, FileHeader, OpCode, Record, TxnDigest, TxnHeader
from ..protocol.inline import i32_at, i64_at
from ..txn import decode_txn
from ..txn.codec import TXN_RECORDS, AnyTxn, decode_txn_at, serialize_multi, serialize_txn
from .files import (
    FORMAT_VERSION,
    LOG_MAGIC,
    LOG_PREFIX,
    PRIVATE_FILE,
    data_extents,
    fsync_dir,
    list_files,
    make_private_dir,
)

log = logging.getLogger("corral.txnlog")

_REC: Final = struct.Struct(">qi")  # checksum, length
EOR: Final = 0x42
HEADER: Final = FileHeader(LOG_MAGIC, FORMAT_VERSION, 0).to_bytes()
MAX_RECORD: Final = 0x7FFFFFFF
PAD_MIN: Final = 4096  # FilePadding: the file is extended when a record would come within 4 KiB of its end


class LogCorruptError(Exception):
    """A record that fails its checksum where a torn tail cannot explain it."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt transaction log at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


def frame_record(payload: bytes) -> bytes:
    return _REC.pack(zlib.adler32(payload), len(payload)) + payload + b"B"


_TXN_HEADER: Final = struct.Struct(">qiqqi")  # TxnHeader: clientId, cxid, zxid, time, type
# Where a logged payload's TxnHeader fields start, for readers that take one in place (the log scan's zxid,
# the host's age metrics: the leader's wall-clock stamp ZooKeeper measures a txn's age from), and its size.
TXN_ZXID_OFFSET: Final = 12
TXN_TIME_OFFSET: Final = 20
TXN_HEADER_SIZE: Final = 32


def encode_txn_payload(hdr: TxnHeader, txn: AnyTxn) -> bytes:
    """TxnHeader + txn record, as logged and proposed (the header packed here, the record by
    `serialize_txn`: the jute records' generic serializers cost twice as much per write)."""
    out = bytearray(_TXN_HEADER.pack(hdr.clientId, hdr.cxid, hdr.zxid, hdr.time, hdr.type))
    if isinstance(txn, Record):
        serialize_txn(out, txn)
    elif txn is not None:
        serialize_multi(out, txn)
    return bytes(out)


def decode_txn_payload(payload: bytes) -> tuple[TxnHeader, AnyTxn]:
    if len(payload) < TXN_HEADER_SIZE:
        hdr, off = TxnHeader.deserialize(payload, 0)  # raises the generic decoder's DecodeError
        return hdr, decode_txn(hdr.type, payload[off:])
    # the header's fields read in place (clientId, cxid, zxid, time, type at 0, 8, 12, 20, 28)
    type_ = i32_at(payload, 28)
    return (TxnHeader(i64_at(payload, 0), i32_at(payload, 8), i64_at(payload, 12), i64_at(payload, 20), type_),
            decode_txn_at(type_, payload, TXN_HEADER_SIZE))


def txn_digest(payload: bytes) -> TxnDigest | None:
    """The TxnDigest ZooKeeper 3.6+ appends after a logged txn (its tree digest after that txn), if any."""
    try:
        hdr, off = TxnHeader.deserialize(payload, 0)
        cls = TXN_RECORDS.get(hdr.type)
        if cls is None or (hdr.type == OpCode.closeSession and len(payload) - off == 12):
            end = off  # a closeSession from before CloseSessionTxn: only the digest follows
        else:
            end = cls.deserialize(payload, off)[1]
        return TxnDigest.deserialize(payload, end)[0] if len(payload) - end == 12 else None
    except DecodeError:
        return None


_Image: TypeAlias = bytes | mmap.mmap  # a log file's contents: read, or memory-mapped by `scan`


class LogRecord:
    """One record of a log file: where it starts and ends, its zxid, its payload (the txn's bytes).

    A plain class, not a dataclass: compiled, a dataclass keeps its interpreted generated `__init__`,
    and a scan makes one of these per logged txn (hundreds of thousands in a recovery)."""

    __slots__ = ("end", "offset", "payload", "zxid")

    def __init__(self, offset: int, end: int, zxid: int, payload: bytes) -> None:
        self.offset = offset
        self.end = end
        self.zxid = zxid
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogRecord):
            return NotImplemented
        return (self.offset, self.end, self.zxid, self.payload) == (other.offset, other.end, other.zxid,
                                                                    other.payload)

    def __repr__(self) -> str:
        return f"LogRecord(offset={self.offset}, end={self.end}, zxid=0x{self.zxid:x}, payload={self.payload!r})"


def _record_at(data: _Image | memoryview, off: int, limit: int = -1) -> tuple[bytes, int] | None:
    """The valid record starting at `off` and ending by `limit` (the data's end if -1) as (payload, end),
    or None. The end marker is checked before the payload is copied: searching damaged data for the next
    record tries every offset, and a garbage length would copy megabytes for nothing."""
    n = len(data) if limit < 0 else limit
    if off + 12 > n:
        return None
    crc, length = _REC.unpack_from(data, off)
    stop = off + 12 + length
    if length <= 0 or stop + 1 > n or data[stop] != EOR:
        return None
    payload = bytes(data[off + 12:stop])
    if zlib.adler32(payload) != crc:
        return None
    return payload, stop + 1


def _data_end(fd: int, size: int) -> int:
    """The end of the file's last data extent: past it the file is a hole (see `files.data_extents`)."""
    end = 0
    for _, stop in data_extents(fd, size):
        end = stop
    return end


def _content_end(data: _Image, data_end: int = -1) -> int:
    """Where the file's content ends: ZooKeeper preallocates log files with zeros (64 MiB at a time), and
    a record always ends with 'B', so the trailing zeros are padding, not records. `data_end`: past it
    the file is known to be zeros (a hole), so only what comes before is compared."""
    end = len(data) if data_end < 0 else min(data_end, len(data))
    step = 1 << 16
    zeros = bytes(step)
    while end > 0:  # whole zero blocks from the end first: comparing is much faster than rstrip
        start = max(0, end - step)
        if data[start:end] != zeros[:end - start]:
            return start + len(data[start:end].rstrip(b"\0"))
        end = start
    return 0


def _chains_to_end(data: _Image, off: int, end: int) -> bool:
    """Whether valid records run from `off` back to back up to `end` (the content's end)."""
    while off < end:
        rec = _record_at(data, off, end)
        if rec is None:
            return False
        off = rec[1]
    return True


def _valid_record_after(data: _Image, start: int, end: int, min_zxid: int) -> int | None:
    """Offset of intact log data after the damaged record at `start` — a valid record with a higher zxid
    from which valid records run to the end of the content — or None if the damage is a torn tail.

    Requiring the chain to reach the end keeps a torn record whose (client-chosen) data happens to
    contain a well-formed record from passing for mid-log corruption."""
    off = start + 1
    while off + 13 <= end:
        if data[off:off + 12] == _NO_RECORD:
            # A zero length: no record starts here. Skip the zero run at once (a preallocated file whose
            # middle was never written is megabytes of it, a Python step a byte would take seconds); a
            # record can start at the earliest 11 bytes before the run's end (zero checksum and length
            # bytes but the last).
            off = max(off + 1, _next_nonzero(data, off + 12, end) - 11)
            continue
        rec = _record_at(data, off, end)
        if rec is not None:
            try:
                hdr = TxnHeader.deserialize(rec[0], 0)[0]
            except DecodeError:
                hdr = None
            if hdr is not None and hdr.zxid > min_zxid and _chains_to_end(data, rec[1], end):
                return off
        off += 1
    return None


_NO_RECORD: Final = bytes(12)


def _next_nonzero(data: _Image, off: int, end: int) -> int:
    """The offset of the first non-zero byte at or after `off` (`end` if none before it)."""
    step = 1 << 16
    while off < end:
        chunk = data[off:min(off + step, end)]
        rest = chunk.lstrip(b"\0")
        if rest:
            return off + len(chunk) - len(rest)
        off += len(chunk)
    return end


_DROP_EVERY: Final = 8 << 20  # bytes of a mapped log read between two drops of what is behind


@contextlib.contextmanager
def _mapped(path: Path) -> Iterator[tuple[_Image, int]]:
    """The file memory-mapped read-only (b"" when empty) and where its last data extent ends: its pages are
    the page cache's, and what the scan has read can be dropped from this process's memory (a 64 MiB
    preallocated file is mostly zeros, and mostly a hole: that part is not even read)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            yield b"", 0
            return
        data_end = _data_end(f.fileno(), size)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            if hasattr(mmap, "MADV_SEQUENTIAL"):
                mm.madvise(mmap.MADV_SEQUENTIAL)
            yield mm, data_end
        finally:
            mm.close()


def _drop(data: _Image, start: int, end: int) -> None:
    """Let the kernel take back the mapped pages in [start, end) (they are re-read if touched again)."""
    if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        start += -start % mmap.PAGESIZE
        end -= end % mmap.PAGESIZE
        if end > start:
            data.madvise(mmap.MADV_DONTNEED, start, end - start)


def scan(path: Path, last_file: bool, after_zxid: int = -1) -> tuple[list[LogRecord], int | None]:
    """Read every record of one log file.

    Records with a zxid up to `after_zxid` are checked but not returned: recovery wants only what its
    snapshot lacks, and the older records of a 64 MiB file would otherwise sit in memory beside the tree.

    Returns (records, torn_at): `torn_at` is the offset where a torn tail starts: an incomplete or
    checksum-failing record with nothing valid after it. In the last file that is a write cut off by a
    crash. In an older file it is accepted only when zero padding follows (a preallocated ZooKeeper log
    whose server was killed mid-write, then restarted into a new file: ZooKeeper skips the rest of such a
    file too, and corral preallocates its own files the same way; the zxid sequence check in recovery still
    catches a lost acknowledged txn). Any other damage raises LogCorruptError naming file and offset.
    """
    with _mapped(path) as (data, data_end):
        return _scan(path, data, last_file, after_zxid, data_end)


def _scan(path: Path, data: _Image, last_file: bool, after_zxid: int, data_end: int = -1
          ) -> tuple[list[LogRecord], int | None]:
    if len(data) < len(HEADER):
        if last_file:
            return [], 0
        raise LogCorruptError(path, 0, "file shorter than its header")
    try:
        fh = FileHeader.from_bytes(data[:len(HEADER)])
    except DecodeError:
        raise LogCorruptError(path, 0, "unreadable file header")
    if fh.magic != LOG_MAGIC:
        raise LogCorruptError(path, 0, f"bad magic 0x{fh.magic & 0xFFFFFFFF:x} (not a transaction log)")
    off = len(HEADER)
    records: list[LogRecord] = []
    last_zxid = -1
    end = max(_content_end(data, data_end), off)
    # ZooKeeper keeps at least PAD_MIN bytes preallocated past the record it writes; a shorter zero run
    # is only the end of some record's own bytes.
    padded = len(data) - end >= PAD_MIN
    n = len(data)
    _drop(data, end, n)  # the padding, read once to find the content's end
    dropped = 0
    while off < n:
        if off - dropped >= _DROP_EVERY:
            _drop(data, dropped, off)
            dropped = off
        if off >= end and n - off >= 12:
            break  # zeros where the next record's checksum and length would be: preallocated space
        rec = _record_at(data, off)
        if rec is None:
            after = _valid_record_after(data, off, end, last_zxid)
            if after is not None:
                raise LogCorruptError(path, off, "record fails its checksum")
            if not last_file and not padded:
                raise LogCorruptError(path, off, "damaged record in a log file that is not the last one")
            return records, off
        payload, rec_end = rec
        # Only the header's zxid is needed here (the txn is decoded by whoever applies it): read in place,
        # not through a TxnHeader record (about half of this loop's time).
        if len(payload) < TXN_HEADER_SIZE:
            raise LogCorruptError(path, off, "unreadable txn header")
        zxid = i64_at(payload, TXN_ZXID_OFFSET)
        if zxid <= last_zxid:
            if not _logged_again(records, zxid, payload):
                raise LogCorruptError(path, off, f"zxid 0x{zxid:x} does not increase")
            off = rec_end  # the same txn written again: recovered once
            continue
        last_zxid = zxid
        if zxid > after_zxid:
            records.append(LogRecord(off, rec_end, zxid, payload))
        off = rec_end
    return records, None


def _logged_again(records: list[LogRecord], zxid: int, payload: bytes) -> bool:
    """Whether this file already holds `zxid` with this very payload.

    An Apache 3.8 follower whose sync with the leader fails after it started logging (seen: a
    NullPointerException in Follower, "pif is null") syncs again in the same epoch and logs the same
    proposals a second time, in the same file. Apache's recovery replays such a file with an error line
    per repeat (FileTxnSnapLog.fastForwardFromEdits); a zxid names one txn of its epoch, so the repeat
    is skipped here. A repeated zxid with other content is corruption."""
    i = bisect_left(records, zxid, key=lambda r: r.zxid)
    return i < len(records) and records[i].zxid == zxid and records[i].payload == payload


def iter_logs(log_dir: Path, after_zxid: int) -> Iterator[tuple[Path, list[LogRecord], int | None]]:
    """Every log file that may hold a txn after `after_zxid`: the last one starting at or before it,
    and all later ones."""
    files = list_files(log_dir, LOG_PREFIX)
    start = 0
    for i, (z, _) in enumerate(files):
        if z <= after_zxid + 1:
            start = i
    for i in range(start, len(files)):
        path = files[i][1]
        recs, torn = scan(path, last_file=(i == len(files) - 1), after_zxid=after_zxid)
        yield path, recs, torn


class TxnLogWriter:
    """Appends groups of records; owned by one worker thread at a time (calls are serialised)."""

    def __init__(self, log_dir: Path, force_sync: bool = True, roll_bytes: int = 64 << 20,
                 prealloc_bytes: int = 64 << 20) -> None:
        self.dir = Path(log_dir)
        make_private_dir(self.dir)
        self.force_sync = force_sync
        self.roll_bytes = roll_bytes
        self.prealloc = prealloc_bytes
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0  # where the next record goes (the records' end; zeros follow up to `allocated`)
        self.allocated = 0  # the file's length
        self.roll_requested = False
        self.fsyncs = 0
        self.last_sync_ms = 0.0  # the latest fdatasync alone (ZooKeeper's fsynctime)
        self.appended = 0

    def roll(self) -> None:
        """The next append starts a new file (done when a snapshot is taken, as ZooKeeper does)."""
        self.roll_requested = True

    def _open(self, first_zxid: int) -> None:
        self.close()
        path = self.dir / f"{LOG_PREFIX}{first_zxid:x}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        os.write(fd, HEADER)
        self.fd, self.path, self.size, self.allocated = fd, path, len(HEADER), len(HEADER)
        self._pad(0)
        if self.force_sync:
            os.fsync(fd)
            fsync_dir(self.dir)
        self.roll_requested = False
        log.info("event=txnlog_opened file=%s", path)

    def append(self, batch: list[tuple[int, bytes]]) -> None:
        """Write (zxid, payload) records and make them durable with one fdatasync."""
        if not batch:
            return
        if self.fd is None or self.roll_requested or self.size >= self.roll_bytes:
            self._open(batch[0][0])
        data = b"".join(frame_record(p) for _, p in batch)
        assert self.fd is not None
        self._pad(len(data))
        view = memoryview(data)
        at = self.size
        while view:
            written = os.pwrite(self.fd, view, at)
            view = view[written:]
            at += written
        self.size = at
        self.appended += len(batch)
        if self.force_sync:
            t0 = time.perf_counter()
            os.fdatasync(self.fd)
            self.last_sync_ms = (time.perf_counter() - t0) * 1000
            self.fsyncs += 1

    def _pad(self, incoming: int) -> None:
        """FilePadding.padFile: keep at least PAD_MIN bytes of zeros past what is about to be written, by
        extending the file a preAllocSize at a time (a hole: no disk written until records fill it). The
        reader takes a zero length where a record would start as the end of the file's records."""
        need = self.size + incoming + PAD_MIN
        if self.prealloc <= 0 or need <= self.allocated:
            return
        assert self.fd is not None
        size = need + (-need) % self.prealloc  # whole preAllocSize units, as ZooKeeper's files are
        os.ftruncate(self.fd, size)
        self.allocated = size

    def close(self) -> None:
        if self.fd is not None:
            try:
                if self.force_sync:
                    os.fdatasync(self.fd)
            finally:
                os.close(self.fd)
            self.fd = None


def truncate_tail(path: Path, offset: int) -> None:
    """Cut a torn tail off (the bytes after the last complete record were never acknowledged)."""
    with open(path, "r+b") as f:
        f.truncate(offset)
        f.flush()
        os.fsync(f.fileno())


def truncate_after(log_dir: Path, zxid: int) -> int:
    """Drop every logged txn after `zxid` (a TRUNC from a new leader: they were never committed).
    Returns how many records were removed."""
    removed = 0
    files = list_files(log_dir, LOG_PREFIX)
    for i, (start, path) in enumerate(files):
        if start > zxid:
            recs, _ = scan(path, last_file=(i == len(files) - 1))
            removed += len(recs)
            path.unlink()
            continue
        recs, _ = scan(path, last_file=(i == len(files) - 1))
        cut = next((r for r in recs if r.zxid > zxid), None)
        if cut is not None:
            removed += sum(1 for r in recs if r.zxid > zxid)
            truncate_tail(path, cut.offset)
    fsync_dir(log_dir)
    return removed


def remove_all(log_dir: Path) -> None:
    """Forget the whole log (after installing a snapshot from the leader)."""
    for _, path in list_files(log_dir, LOG_PREFIX):
        path.unlink()
    fsync_dir(log_dir)
