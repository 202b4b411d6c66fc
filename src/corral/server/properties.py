"""java.util.Properties syntax, with the line each entry starts on.

zoo.cfg is read by ZooKeeper with `Properties.load`, so a key may be separated from its value by `=`,
`:` or plain whitespace (`clientPort 2181` is valid), `#` and `!` start comments, a line ending in an
odd number of backslashes continues on the next one (whose leading blanks are dropped), and keys and
values may contain `\\t \\n \\r \\f \\uXXXX` escapes (any other escaped character stands for itself).

Why not a library: the maintained parsers (`javaproperties`, `jproperties`) return keys and values but
not the line they came from, and every error corral reports names `FILE:LINE`. The grammar is small and
fully specified by the `Properties.load(Reader)` javadoc, which this module follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLANK = " \t\f"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class PropertiesSyntaxError(ValueError):
    """Text that `Properties.load` itself would refuse (only a malformed `\\uXXXX` escape)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One `key=value` pair; `line` is where its (possibly continued) logical line starts."""

    line: int
    key: str
    value: str


def _continued(text: str) -> bool:
    """An odd number of trailing backslashes: the last one escapes the line break."""
    n = len(text) - len(text.rstrip("\\"))
    return n % 2 == 1


def _unescape(text: str, line: int) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        c = text[i + 1]
        if c == "u":
            digits = text[i + 2:i + 6]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise PropertiesSyntaxError(line, "malformed \\uxxxx escape")
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(c, c))
            i += 2
    return "".join(out)


def _split(logical: str, line: int) -> Entry:
    """Key up to the first unescaped `=`, `:` or blank; then blanks, at most one `=`/`:`, blanks."""
    i, n = 0, len(logical)
    while i < n:
        c = logical[i]
        if c == "\\":
            i += 2
            continue
        if c in "=:" or c in _BLANK:
            break
        i += 1
    key = logical[:i]
    j = i
    while j < n and logical[j] in _BLANK:
        j += 1
    if j < n and logical[j] in "=:":
        j += 1
        while j < n and logical[j] in _BLANK:
            j += 1
    return Entry(line, _unescape(key, line), _unescape(logical[j:], line))


def parse_properties(text: str) -> list[Entry]:
    """Every entry of `text` in file order (a repeated key appears twice; `Properties` keeps the last)."""
    lines = _NEWLINE.split(text)
    entries: list[Entry] = []
    i = 0
    while i < len(lines):
        start = i + 1
        logical = lines[i].lstrip(_BLANK)
        i += 1
        if not logical or logical[0] in "#!":
            continue
        while _continued(logical):
            logical = logical[:-1]
            if i >= len(lines):
                break
            logical += lines[i].lstrip(_BLANK)
            i += 1
        entries.append(_split(logical, start))
    return entries
