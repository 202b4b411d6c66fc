"""Start-up recovery: newest valid snapshot, then every logged transaction after it.

Fails closed: a corrupt record anywhere but the torn tail of the last log, a gap in the zxid
sequence, or snapshots that all fail their checksum stop the server with a message naming the file
and offset. A torn tail is truncated (its records were never acknowledged) and logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import DecodeError
from ..tree import DataTree
from .files import LOG_PREFIX, SNAP_PREFIX, list_files, version_dir
from .snapshot import SnapshotCorruptError, ZxidDigest, load_snapshot
from .txnlog import HEADER, LogCorruptError, decode_txn_payload, iter_logs, truncate_tail

log = logging.getLogger("corral.recovery")


class RecoveryError(Exception):
    """The data directory cannot be recovered safely; the message says where and why."""


@dataclass
class Recovered:
    tree: DataTree
    snapshot: Path | None = None
    snapshot_zxid: int = 0
    log_files: list[Path] = field(default_factory=list)
    replayed: int = 0
    truncated: tuple[Path, int] | None = None
    seconds: float = 0.0
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    snapshot_seconds: float = 0.0  # loading the snapshot (startup_snap_load_time)
    log_seconds: float = 0.0  # reading (and, with replay, applying) the logged txns (startup_txns_load_time)
    digest: ZxidDigest | None = None  # the tree digest the snapshot carries (3.6+), if any


def recover(data_dir: Path, log_dir: Path, replay: bool = True) -> Recovered:
    """Standalone (`replay=True`): snapshot + every logged txn applied. An ensemble member
    (`replay=False`) applies only the snapshot and returns the logged entries after it in `entries`:
    a follower's log may end in proposals that were never committed, and only the quorum layer can
    tell which ones were, so it re-commits them."""
    t0 = time.monotonic()
    snap_dir = version_dir(data_dir)
    logs = version_dir(log_dir)
    snaps = list_files(snap_dir, SNAP_PREFIX)
    tree: DataTree | None = None
    used: Path | None = None
    digest: ZxidDigest | None = None
    failures: list[str] = []
    for zxid, path in reversed(snaps):
        log.info("event=snapshot_loading file=%s zxid=0x%x", path, zxid)

        def progress(n: int, p: Path = path) -> None:
            log.info("event=snapshot_loading_progress file=%s nodes=%d", p, n)

        try:
            snap = load_snapshot(path, progress=progress)
        except (SnapshotCorruptError, OSError) as e:
            # As ZooKeeper's FileSnap: an invalid snapshot is skipped for the next older one.
            log.error("event=snapshot_invalid file=%s reason=%s action=trying_older_snapshot", path, e)
            failures.append(str(e))
            continue
        tree = snap.tree
        used = path
        digest = snap.digest
        log.info("event=snapshot_loaded file=%s zxid=0x%x layout=%s compression=%s digest_zxid=%s nodes=%d "
                 "sessions=%d seconds=%.2f", path, tree.last_zxid, snap.layout, snap.compression or "none",
                 f"0x{snap.digest.zxid:x}" if snap.digest else "none", len(tree.nodes), len(tree.sessions),
                 time.monotonic() - t0)
        if snap.extra_bytes:
            log.warning("event=snapshot_unknown_sections file=%s bytes=%d action=ignored", path, snap.extra_bytes)
        break
    if tree is None:
        if snaps:
            raise RecoveryError("no valid snapshot to recover from: " + "; ".join(failures))
        tree = DataTree()
    result = Recovered(tree, used, tree.last_zxid, digest=digest)
    result.snapshot_seconds = time.monotonic() - t0
    last = tree.last_zxid
    # A damaged tail in a file that is not the last one (zero padding after it: a server killed mid-write
    # and restarted into a new file) is skipped, as ZooKeeper skips it, but not cut off: if a txn is then
    # missing, the refusal names that record, and the file stays as it was for the operator.
    skipped: tuple[Path, int] | None = None
    torn_last: tuple[Path, int] | None = None
    try:
        for path, records, torn in iter_logs(logs, tree.last_zxid):
            if torn_last is not None:  # the previous file was not the last one after all
                skipped = torn_last
                log.warning("event=txnlog_damaged_tail file=%s offset=%d action=skipped", *skipped)
                torn_last = None
            result.log_files.append(path)
            applied_here = 0
            for rec in records:
                if rec.zxid <= last:
                    continue
                if rec.zxid >> 32 == last >> 32 and rec.zxid != last + 1 and last != 0:
                    where = f" after the damaged record of {skipped[0]} at offset {skipped[1]}" if skipped else ""
                    raise RecoveryError(f"{path}: gap in the transaction log at offset {rec.offset}: "
                                        f"0x{last:x} is followed by 0x{rec.zxid:x}{where}")
                try:
                    hdr, txn = decode_txn_payload(rec.payload)
                except DecodeError as e:
                    raise RecoveryError(f"{path}: undecodable transaction at offset {rec.offset}: {e}")
                if replay:
                    tree.apply(hdr, txn)
                else:
                    result.entries.append((rec.zxid, rec.payload))
                last = rec.zxid
                applied_here += 1
                result.replayed += 1
                if result.replayed % 100000 == 0:
                    log.info("event=replay_progress replayed=%d zxid=0x%x seconds=%.1f", result.replayed, last,
                             time.monotonic() - t0)
            log.info("event=txnlog_replayed file=%s records=%d applied=%d", path, len(records), applied_here)
            skipped = None
            if torn is not None:
                torn_last = (path, torn)
        if torn_last is not None:  # a write cut off by a crash in the newest file: never acknowledged
            path, torn = torn_last
            if torn < len(HEADER):
                path.unlink()
                log.warning("event=txnlog_torn_tail file=%s offset=%d action=removed_empty_file", path, torn)
            else:
                truncate_tail(path, torn)
                log.warning("event=txnlog_torn_tail file=%s offset=%d action=truncated", path, torn)
            result.truncated = (path, torn)
    except LogCorruptError as e:
        raise RecoveryError(str(e))
    if snaps and result.snapshot is not None and result.snapshot != snaps[-1][1] and not result.log_files:
        log.warning("event=recovered_from_older_snapshot file=%s", result.snapshot)
    result.seconds = time.monotonic() - t0
    result.log_seconds = result.seconds - result.snapshot_seconds
    log.info("event=recovered snapshot=%s log_files=%d replayed=%d zxid=0x%x znodes=%d sessions=%d seconds=%.2f",
             result.snapshot, len(result.log_files), result.replayed, tree.last_zxid, tree.node_count(),
             len(tree.sessions), result.seconds)
    return result


def files_summary(data_dir: Path, log_dir: Path) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    return list_files(version_dir(data_dir), SNAP_PREFIX), list_files(version_dir(log_dir), LOG_PREFIX)
