"""ZooKeeper's `acceptedEpoch` and `currentEpoch` files (in dataDir/version-2): the ZAB epochs a member
promised and adopted. Written atomically and durably before any message that relies on them."""

from __future__ import annotations

import os
from pathlib import Path

from .files import fsync_dir

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
    with open(tmp, "w") as f:
        f.write(str(value))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
