"""Retention (ZooKeeper's PurgeTxnLog): keep the newest N snapshots and every log still needed.

A log file is needed if it holds any transaction after the oldest retained snapshot: all logs that
start after that snapshot's zxid, plus the last one that starts at or before it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .files import LOG_PREFIX, SNAP_PREFIX, list_files, version_dir, zxid_of

log = logging.getLogger("corral.purge")


def plan(data_dir: Path, log_dir: Path, retain: int) -> list[Path]:
    """Files that may be deleted, keeping `retain` (≥ 3) snapshots."""
    retain = max(3, retain)
    snaps = list_files(version_dir(data_dir), SNAP_PREFIX)
    logs = list_files(version_dir(log_dir), LOG_PREFIX)
    if len(snaps) <= retain:
        return []
    kept = snaps[-retain:]
    oldest_kept = kept[0][0]
    doomed = [p for _, p in snaps[:-retain]]
    keep_from = 0
    for i, (z, _) in enumerate(logs):
        if z <= oldest_kept:
            keep_from = i
    doomed += [p for _, p in logs[:keep_from]]
    # Leftover temp files of interrupted snapshots — only those older than the newest complete one:
    # a snapshot being written right now is always newer and must not be pulled from under its child.
    newest = snaps[-1][0]
    for tmp in sorted(version_dir(data_dir).glob(f"{SNAP_PREFIX}*.tmp")):
        z = zxid_of(tmp.name[:-len(".tmp")], SNAP_PREFIX)
        if z is not None and z < newest:
            doomed.append(tmp)
    return doomed


def purge(data_dir: Path, log_dir: Path, retain: int) -> list[Path]:
    doomed = plan(data_dir, log_dir, retain)
    for p in doomed:
        try:
            p.unlink()
            log.info("event=purged file=%s", p)
        except FileNotFoundError:
            pass
    return doomed
