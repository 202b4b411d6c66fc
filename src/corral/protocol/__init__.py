"""ZooKeeper's wire protocol: jute codec, records, numbers and path rules. Knows nothing else."""

from .constants import (
    DEFAULT_MAX_BUFFER,
    ERR_MESSAGES,
    PROTOCOL_VERSION,
    AddWatchMode,
    CreateMode,
    Err,
    EventType,
    KeeperState,
    OpCode,
    Perms,
    WatcherType,
    Xid,
)
from .jute import DecodeError, Record
from .paths import InvalidPath, basename, is_valid_path, parent_of, validate_path
from .records import *  # noqa: F403
from .records import __all__ as _records_all

__all__ = [
    "DEFAULT_MAX_BUFFER", "ERR_MESSAGES", "PROTOCOL_VERSION", "AddWatchMode", "CreateMode", "DecodeError", "Err",
    "EventType", "InvalidPath", "KeeperState", "OpCode", "Perms", "Record", "WatcherType", "Xid", "basename",
    "is_valid_path", "parent_of", "validate_path", *_records_all,
]
