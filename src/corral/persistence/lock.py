"""One server per data directory: the directories checked, then locked, before recovery.

Two servers on one dataDir both recover the same files and then both append to them: each acknowledges
writes the other's log overwrites, and after a restart acknowledged writes are gone. ZooKeeper does not
prevent this; corral takes an exclusive `flock` on `<dir>/corral.lock` (dataDir, and dataLogDir when it
is another directory) for the life of the server, and writes its pid into the file so that a second
server can say who holds it.

Why flock: the kernel drops it when the process dies (even on SIGKILL), so a crashed server never
leaves a stale lock behind; the pid in the file is only for the message. The snapshot child inherits
the descriptor across fork() and closes it with all others (`Storage.take_snapshot`): closing a shared
descriptor does not unlock (only LOCK_UN or closing the last one does), and the child dies with the
server, so the lock is held exactly while the server or its snapshot writer can touch the files.

Read-only tools (`corral log dump`, `corral snapshot dump`) and purge do not take the lock: they work on
a live dataDir, as with ZooKeeper's own tools. The simulation (tests/simulation) drives the host without
`CorralServer`, so it never sees this module.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path

from .files import PRIVATE_FILE, make_private_dir

log = logging.getLogger("corral.persistence")

LOCK_NAME = "corral.lock"


class DataDirError(Exception):
    """A dataDir/dataLogDir the server cannot use; `str()` is `KEY=PATH: reason`."""

    def __init__(self, key: str, path: Path, reason: str) -> None:
        super().__init__(f"{key}={path}: {reason}")
        self.key, self.path, self.reason = key, path, reason


class DataDirLocked(DataDirError):
    """Another live process holds the directory's lock."""

    def __init__(self, key: str, path: Path, holder: int | None) -> None:
        who = f"pid {holder}" if holder is not None else "a process whose pid is not recorded yet"
        super().__init__(key, path, f"in use by another corral server ({who}, lock {path / LOCK_NAME})")
        self.holder = holder


def prepare_dir(key: str, path: Path, autocreate: bool = True) -> None:
    """The directory exists (created if allowed, as ZooKeeper's FileTxnSnapLog does) and is a directory."""
    if path.exists() and not path.is_dir():
        raise DataDirError(key, path, "not a directory")
    if not path.exists():
        if not autocreate:
            raise DataDirError(key, path, "does not exist (and zookeeper.datadir.autocreate=false)")
        try:
            make_private_dir(path)
        except OSError as e:
            raise DataDirError(key, path, f"cannot be created: {e.strerror}") from None


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class DataDirLock:
    """The locks this process holds; `release()` (or process exit) gives them up."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) of the directory -> lock fd

    def acquire(self, key: str, path: Path) -> None:
        try:
            st = path.stat()
        except OSError as e:
            raise DataDirError(key, path, f"cannot be read: {e.strerror}") from None
        if (st.st_dev, st.st_ino) in self._held:  # dataLogDir is dataDir under another name
            return
        lock_path = path / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as e:
            raise DataDirError(key, path, f"not writable (cannot create {LOCK_NAME}: {e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise DataDirLocked(key, path, holder) from None
            raise DataDirError(key, path, f"cannot lock {LOCK_NAME}: {e.strerror}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)
            raise DataDirError(key, path, f"not writable ({LOCK_NAME}: {e.strerror})") from None
        self._held[(st.st_dev, st.st_ino)] = fd

    def release(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()


def lock_data_dirs(data_dir: Path, log_dir: Path, autocreate: bool = True) -> DataDirLock:
    """Check, create and lock dataDir and (if it is another directory) dataLogDir, before recovery."""
    dirs = (("dataDir", data_dir), ("dataLogDir", log_dir))
    for key, path in dirs:
        prepare_dir(key, path, autocreate)
    lock = DataDirLock()
    try:
        for key, path in dirs:
            lock.acquire(key, path)
    except BaseException:
        lock.release()
        raise
    # Logged only once both are held: a refusal must stay the one line the CLI prints.
    log.info("event=data_dirs_locked dataDir=%s dataLogDir=%s pid=%d", data_dir, log_dir, os.getpid())
    return lock
