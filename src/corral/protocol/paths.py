"""ZooKeeper's znode path rules (`PathUtils.validatePath`)."""

from __future__ import annotations

import re
from typing import Final

# \u0000, \u0001-\u001F, \u007F-\u009F, \uD800-\uF8FF, \uFFF0-\uFFFF are not allowed in a path.
# Characters beyond the BMP are surrogate pairs in Java, so they are rejected too.
# A raw pattern: `re` reads the escapes, so the source holds no surrogate code points (mypyc refuses those).
_BAD_CHARS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff]")


class InvalidPath(ValueError):
    """A path ZooKeeper would reject with IllegalArgumentException (→ BadArguments)."""


def validate_path(path: str | None, sequential: bool = False) -> None:
    """Raise InvalidPath unless `path` is a valid znode path.

    A sequential create may end in '/': the server appends the sequence number after it.
    """
    if path is None:
        raise InvalidPath("Path cannot be null")
    if sequential:
        path = path + "1"
    if not path:
        raise InvalidPath("Path length must be > 0")
    if path[0] != "/":
        raise InvalidPath("Path must start with / character")
    if len(path) == 1:
        return
    if path[-1] == "/":
        raise InvalidPath("Path must not end with / character")
    m = _BAD_CHARS.search(path)
    if m:
        raise InvalidPath(f"invalid character @{m.start()}")
    for comp in path.split("/")[1:]:
        if comp == "":
            raise InvalidPath("empty node name specified")
        if comp in (".", ".."):
            raise InvalidPath(f"relative paths not allowed @{path.index(comp)}")


def is_valid_path(path: str | None, sequential: bool = False) -> bool:
    try:
        validate_path(path, sequential)
    except InvalidPath:
        return False
    return True


def parent_of(path: str) -> str:
    i = path.rfind("/")
    return "/" if i <= 0 else path[:i]


def basename(path: str) -> str:
    return path[path.rfind("/") + 1:]
