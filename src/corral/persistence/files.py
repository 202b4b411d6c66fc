"""ZooKeeper's on-disk layout: `<dir>/version-2/log.<hex zxid>` and `snapshot.<hex zxid>`.

Keeping Apache ZooKeeper's names and headers means operators find files where they expect them,
and the hex suffix orders files by zxid.
"""

from __future__ import annotations

import os
from pathlib import Path

VERSION_DIR = "version-2"
LOG_PREFIX = "log."
SNAP_PREFIX = "snapshot."
LOG_MAGIC = 0x5A4B4C47  # "ZKLG"
SNAP_MAGIC = 0x5A4B534E  # "ZKSN"
FORMAT_VERSION = 2


def version_dir(base: Path) -> Path:
    return Path(base) / VERSION_DIR


def zxid_of(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    suffix = name[len(prefix):]
    try:
        return int(suffix, 16)
    except ValueError:
        return None


TMP_SUFFIX = ".tmp"


def snapshot_temp(final: Path) -> Path:
    """The temp name a snapshot is written under: `snapshot.<zxid>.<pid>.tmp`.

    The writer's pid is in the name so that two writers of the same zxid (a snapshot child orphaned by a
    killed server, and the restarted server's startup snapshot) never write into one file.
    """
    return final.with_name(f"{final.name}.{os.getpid()}{TMP_SUFFIX}")


def parse_snapshot_temp(name: str) -> tuple[int, int | None] | None:
    """(zxid, writer pid or None) of a snapshot temp file name, or None if `name` is not one."""
    if not (name.startswith(SNAP_PREFIX) and name.endswith(TMP_SUFFIX)):
        return None
    parts = name[len(SNAP_PREFIX):-len(TMP_SUFFIX)].split(".")
    try:
        zxid = int(parts[0], 16)
        pid = int(parts[1]) if len(parts) == 2 else None
    except ValueError:
        return None
    return (zxid, pid) if len(parts) <= 2 else None


def list_files(directory: Path, prefix: str) -> list[tuple[int, Path]]:
    """(zxid, path) of every `prefix<hex>` file, oldest first."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for e in entries:
        z = zxid_of(e.name, prefix)
        if z is not None and e.is_file():
            out.append((z, Path(e.path)))
    out.sort()
    return out


def fsync_dir(directory: Path) -> None:
    """Make a create/rename in `directory` durable (the entry itself lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
