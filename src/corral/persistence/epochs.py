"""ZooKeeper's `acceptedEpoch` and `currentEpoch` files (in dataDir/version-2): the ZAB epochs a member
promised and adopted. Written atomically and durably before any message that relies on them."""

from __future__ import annotations

import os
from pathlib import Path

from .files import PRIVATE_FILE, fsync_dir

ACCEPTED = "acceptedEpoch"
CURRENT = "currentEpoch"


def read_epoch(directory: Path, name: str) -> int:
    try:
        text = (Path(directory) / name).read_text().strip()
    except FileNotFoundError:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{Path(directory) / name}: not an epoch number: {text!r}")


def write_epoch(directory: Path, name: str, value: int) -> None:
    final = Path(directory) / name
    tmp = final.with_name(name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with open(fd, "w") as f:
        f.write(str(value))  # as ZooKeeper's writeLongToFile: the decimal number, no newline
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
