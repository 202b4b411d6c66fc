"""Retention (ZooKeeper's PurgeTxnLog): keep the newest N snapshots and every log still needed.

A log file is needed if it holds any transaction after the oldest retained snapshot: all logs that
start after that snapshot's zxid, plus the last one that starts at or before it.

Fewer than MIN_RETAIN snapshots is refused (ValueError), as PurgeTxnLog.purge refuses it with
IllegalArgumentException: quietly keeping 3 when asked for 1 hides the operator's mistake, and keeping
1 would leave nothing to fall back on if the newest snapshot turns out to be damaged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..processes import alive
from .files import LOG_PREFIX, SNAP_PREFIX, TMP_SUFFIX, list_files, parse_snapshot_temp, version_dir

log = logging.getLogger("corral.purge")

MIN_RETAIN = 3
COUNT_ERROR = f"count should be greater than or equal to {MIN_RETAIN}"  # PurgeTxnLog's words


def check_retain(retain: int) -> None:
    """Raise ValueError (PurgeTxnLog's message) for a retain count below MIN_RETAIN."""
    if retain < MIN_RETAIN:
        raise ValueError(f"{COUNT_ERROR}, got {retain}")


def plan(data_dir: Path, log_dir: Path, retain: int) -> list[Path]:
    """Files that may be deleted, keeping `retain` snapshots (ValueError below MIN_RETAIN)."""
    check_retain(retain)
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
    # Leftover temp files of interrupted snapshots: those older than the newest complete one, or whose
    # writer is gone. A snapshot being written right now is newer and its writer alive, so it stays.
    newest = snaps[-1][0]
    doomed += [p for p, parsed in _temps(data_dir)
               if parsed is not None and (parsed[0] < newest or not alive(parsed[1]))]
    return doomed


def _temps(data_dir: Path) -> list[tuple[Path, tuple[int, int | None] | None]]:
    """Every snapshot temp file, with its (zxid, writer pid) when the name carries them."""
    return [(p, parse_snapshot_temp(p.name))
            for p in sorted(version_dir(data_dir).glob(f"{SNAP_PREFIX}*{TMP_SUFFIX}"))]


def remove_stale_temps(data_dir: Path) -> list[Path]:
    """At startup: delete snapshot temp files whose writer is gone (a crash mid-snapshot, a torn SNAP).

    Nothing else writes in this data dir before the server starts, so the only live writer a temp file
    can have is a snapshot child still finishing for a server that was killed; its file is left alone.
    """
    gone = []
    for p, parsed in _temps(data_dir):
        if parsed is not None and alive(parsed[1]):
            continue
        try:
            p.unlink()
        except FileNotFoundError:
            continue
        log.info("event=stale_temp_removed file=%s", p)
        gone.append(p)
    return gone


def purge(data_dir: Path, log_dir: Path, retain: int) -> list[Path]:
    doomed = plan(data_dir, log_dir, retain)
    for p in doomed:
        try:
            p.unlink()
            log.info("event=purged file=%s", p)
        except FileNotFoundError:
            pass
    return doomed
