"""Znode path rules, case by case from ZooKeeper's PathUtils.validatePath.

Every expectation below was checked against the real `org.apache.zookeeper.common.PathUtils` of
ZooKeeper 3.8.0 (the Debian 12 jar): a path corral accepts but ZooKeeper rejects (or the reverse)
would make the same write succeed on one server and fail with BadArguments on the other.
"""

from __future__ import annotations

import pytest

from corral.protocol.paths import InvalidPath, basename, is_valid_path, parent_of, validate_path

VALID = [
    "/",
    "/a",
    "/a/b/c",
    "/...",          # three dots is a name, only "." and ".." are relative components
    "/.a",
    "/a.",
    "/a..",
    "/a/.../b",
    "/zookeeper/config",
    "/a\u0020b",     # space is fine
    "/a\u00a0",      # first char after the \u007f-\u009f block
    "/a\uf900",      # first char after the \ud800-\uf8ff block
    "/caf\u00e9/\u65e5\u672c",
    "/a\ufeff",      # below \ufff0
]

INVALID = [
    ("", "length"),
    ("a", "start with /"),
    ("a/b", "start with /"),
    ("/a/", "end with /"),
    ("//", "end with /"),
    ("/a//b", "empty node name"),
    ("/.", "relative"),
    ("/..", "relative"),
    ("/a/.", "relative"),
    ("/a/..", "relative"),
    ("/a/./b", "relative"),
    ("/a/../b", "relative"),
    ("/a\u0000b", ""),
    ("/a\u0001", "invalid character"),
    ("/a\u001f", "invalid character"),
    ("/a\u007f", "invalid character"),
    ("/a\u0080", "invalid character"),
    ("/a\u009f", "invalid character"),
    ("/a\ud800", "invalid character"),
    ("/a\ue000", "invalid character"),     # private use area, inside \ud800-\uf8ff
    ("/a\uf8ff", "invalid character"),
    ("/a\ufff0", "invalid character"),
    ("/a\ufffd", "invalid character"),     # the replacement char: bad UTF-8 from the wire ends here
    ("/a\uffff", "invalid character"),
    ("/\U0001f600", "invalid character"),  # non-BMP: a surrogate pair in Java
]


@pytest.mark.parametrize("path", VALID)
def test_valid_paths(path):
    validate_path(path)
    assert is_valid_path(path)


@pytest.mark.parametrize("path,why", INVALID, ids=[repr(p) for p, _ in INVALID])
def test_invalid_paths(path, why):
    with pytest.raises(InvalidPath) as exc:
        validate_path(path)
    assert why.lower() in str(exc.value).lower()
    assert not is_valid_path(path)


def test_none_is_invalid():
    """A null ustring path (length -1 on the wire) is rejected, not a crash."""
    with pytest.raises(InvalidPath):
        validate_path(None)
    assert not is_valid_path(None)
    assert not is_valid_path(None, sequential=True)


@pytest.mark.parametrize("path", ["/q/", "/", "/a/b/", "/.", "/..", "/a/."])
def test_sequential_create_may_end_in_slash_or_dot(path):
    """Sequential paths are validated with the suffix's first digit appended (validatePath(path + "1")):
    "/q/" → "/q/1" is valid, and so are "/." and "/.." (they become "/.1", "/..1"); Java agrees."""
    validate_path(path, sequential=True)
    assert is_valid_path(path, sequential=True)


@pytest.mark.parametrize("path", ["", "q", "//", "/a//", "/a/./", "/a/../", "/a\u0001/"])
def test_sequential_still_rejects_bad_paths(path):
    with pytest.raises(InvalidPath):
        validate_path(path, sequential=True)


def test_invalid_character_ranges_exhaustively():
    """Every BMP code point is checked once against PathUtils' ranges, so a range boundary that is off
    by one cannot hide between the hand-picked cases above."""
    def java_bad(c: int) -> bool:
        return (c == 0 or 0x01 <= c <= 0x1F or 0x7F <= c <= 0x9F or 0xD800 <= c <= 0xF8FF
                or 0xFFF0 <= c <= 0xFFFF)

    mismatches = [hex(c) for c in range(0x10000)
                  if chr(c) not in "/." and is_valid_path("/x" + chr(c)) == java_bad(c)]
    assert mismatches == []


def test_parent_and_basename():
    assert parent_of("/a/b") == "/a"
    assert parent_of("/a") == "/"
    assert parent_of("/") == "/"
    assert basename("/a/b") == "b"
    assert basename("/a") == "a"
