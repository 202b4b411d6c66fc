"""ZooKeeper's on-disk layout: `<dir>/version-2/log.<hex zxid>` and `snapshot.<hex zxid>`.

Keeping Apache ZooKeeper's names and headers means operators find files where they expect them,
and the hex suffix orders files by zxid (the number, not the text: `log.a` comes after `log.9`, which
is why tools sort the files they are given themselves). Snapshots may also be `snapshot.<hex>.gz` or
`.snappy`, as ZooKeeper 3.6+ names them with `zookeeper.snapshot.compression.method`.

Files are created 0600 and directories 0700 (`PRIVATE_FILE`, `make_private_dir`): the tree holds
every znode's data and ACL digests, so nobody but the server's user reads it. Apache ZooKeeper leaves
them to the umask (usually world-readable).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

VERSION_DIR = "version-2"
LOG_PREFIX = "log."
SNAP_PREFIX = "snapshot."
LOG_MAGIC = 0x5A4B4C47  # "ZKLG"
SNAP_MAGIC = 0x5A4B534E  # "ZKSN"
FORMAT_VERSION = 2
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SNAP_COMPRESSED = (".gz", ".snappy")
_HEX = re.compile(r"[0-9a-fA-F]{1,16}")


def version_dir(base: Path) -> Path:
    return Path(base) / VERSION_DIR


def make_private_dir(path: Path) -> None:
    """mkdir -p, the directories it creates 0700 (existing ones are left as the operator made them)."""
    path = Path(path)
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(d, PRIVATE_DIR)  # mkdir's mode is filtered by the umask; 0700 is what we promise


def zxid_of(name: str, prefix: str) -> int | None:
    """The zxid of `<prefix><hex>` (only hex digits, as ZooKeeper writes them), else None."""
    if not name.startswith(prefix):
        return None
    suffix = name[len(prefix):]
    if not _HEX.fullmatch(suffix):
        return None
    return int(suffix, 16)


def snapshot_zxid(name: str) -> int | None:
    """The zxid of a snapshot name: `snapshot.<hex>`, `snapshot.<hex>.gz` or `snapshot.<hex>.snappy`."""
    for ext in SNAP_COMPRESSED:
        if name.endswith(ext):
            name = name[:-len(ext)]
            break
    return zxid_of(name, SNAP_PREFIX)


def sort_by_zxid(paths: list[Path]) -> list[Path]:
    """Log or snapshot files in zxid order (names that carry no zxid keep their place, first)."""
    def key(p: Path) -> int:
        z = zxid_of(p.name, LOG_PREFIX)
        if z is None:
            z = snapshot_zxid(p.name)
        return -1 if z is None else z
    return sorted(paths, key=key)


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
    """(zxid, path) of every `prefix<hex>` file (snapshots: compressed ones too), oldest first."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for e in entries:
        z = snapshot_zxid(e.name) if prefix == SNAP_PREFIX else zxid_of(e.name, prefix)
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


def data_extents(fd: int, size: int, most: int = 1 << 12) -> Iterator[tuple[int, int]]:
    """The (start, stop) ranges of a file that hold data; between and after them it is a hole (zeros never
    written: the space ZooKeeper's FilePadding and corral's log writer preallocate). Where the file system
    cannot tell, or after `most` ranges, the rest of the file is one range."""
    pos = 0
    for _ in range(most):
        if pos >= size:
            return
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # nothing but a hole from pos on
                return
            yield pos, size
            return
        stop = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, stop
        pos = stop
    if pos < size:
        yield pos, size
