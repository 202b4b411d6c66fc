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
