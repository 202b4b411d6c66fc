"""The files a configuration change writes, as Apache ZooKeeper writes them (QuorumPeer.setQuorumVerifier
with writeToDisk, QuorumPeerConfig.writeDynamicConfig / editStaticConfig / backupOldConfig):

* `<zoo.cfg>.dynamic.<hex version>`: the `server.N=...` lines of the membership, sorted as strings, no
  `version` line (the version is the file name's), no trailing newline;
* zoo.cfg rewritten without its `server.N`, `group`, `weight`, `peerType` and old `dynamicConfigFile`
  keys (and `clientPort`/`clientPortAddress` when the member's client address comes from its server
  line), with `dynamicConfigFile=<absolute path of the new file>` appended; Apache writes the kept keys
  as `key=value` and drops comments, which corral does too, in the file's order;
* `<zoo.cfg>.bak`: a copy of a static zoo.cfg, taken at start when reconfig is enabled in an ensemble.

Each file is written to a temporary name, fsynced and renamed over the old one, so a crash leaves
either the old or the new file (AtomicFileWritingIdiom).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .properties import parse_properties
from .reconfig import Membership

__all__ = ["backup_static", "dynamic_path", "edit_static", "write_dynamic"]

log = logging.getLogger("corral.config")

_DROPPED = ("server.", "group", "weight", "dynamicConfigFile", "peerType")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dynamic_path(cfg_path: Path, version: int) -> Path:
    """QuorumPeer.makeDynamicConfigFilename: the zoo.cfg path + `.dynamic.` + the version in hex."""
    return Path(f"{cfg_path}.dynamic.{version:x}")


def write_dynamic(cfg_path: Path, membership: Membership) -> Path:
    lines = sorted(line for line in membership.text().split("\n") if not line.startswith("version="))
    path = dynamic_path(cfg_path, membership.version)
    _atomic_write(path, "\n".join(lines).encode())
    return path


def edit_static(cfg_path: Path, dynamic: Path, erase_client: bool) -> None:
    text = cfg_path.read_bytes().decode("latin-1")
    kept = []
    for entry in parse_properties(text):
        key = entry.key.strip()
        if key.startswith(_DROPPED) or (erase_client and key.startswith("clientPort")):
            continue
        kept.append(f"{key}={entry.value.strip()}\n")
    kept.append(f"dynamicConfigFile={dynamic.resolve()}\n")
    _atomic_write(cfg_path, "".join(kept).encode("latin-1", errors="replace"))


def backup_static(cfg_path: Path) -> None:
    _atomic_write(Path(f"{cfg_path}.bak"), cfg_path.read_bytes())
    log.info("event=config_backup file=%s.bak", cfg_path)
