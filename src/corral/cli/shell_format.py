"""Text rules of ZooKeeper's Java shell (zkCli.sh 3.8), reproduced for `corral shell`.

Operators and scripts read zkCli's output, so `corral shell` prints the same bytes. This module holds
everything that is pure text, with no connection: splitting a command line into words
(`ZooKeeperMain.MyCommandOptions.parseCommand`), commons-cli's `DefaultParser` option rules, the
client-side path check (`PathUtils.validatePath`), the Stat block (`StatPrinter`, with Java's
`Date.toString()`), ACL strings (`AclParser`, `ZKUtil.getPermString`, jute's CSV `Id.toString()`) and
the error texts (`CliWrapperException`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..protocol import ACL, ERR_MESSAGES, Err, Id, Stat

__all__ = [
    "CliError",
    "OptionSpec",
    "ParsedArgs",
    "acl_line",
    "error_text",
    "java_date",
    "keeper_message",
    "parse_acl",
    "parse_options",
    "perm_string",
    "split_command",
    "stat_lines",
    "validate_path",
]


class CliError(Exception):
    """A command failed: the message goes to stderr and the command's exit code is `exit_code`.

    Mirrors zkCli's CliException (exit code 1) and CommandNotFoundException (127).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---- command line words ---------------------------------------------------------------------------

_WS = " \t\n\x0b\f\r"  # Java's \s
_ARGS = re.compile(rf"[{_WS}]*([^\"'{_WS}][^{_WS}]*|\"[^\"]*\"|'[^']*')[{_WS}]*")
_QUOTED = re.compile(r"^(['\"])(.*)(\1)$", re.S)


def split_command(line: str) -> list[str]:
    """Split a shell line into words exactly as zkCli does.

    A word is either a run of non-blank characters not starting with a quote, or a quoted string
    (single or double) whose quotes are removed; an unmatched quote is skipped.
    """
    words = []
    for m in _ARGS.finditer(line):
        value = m.group(1)
        q = _QUOTED.match(value)
        if q:
            value = value[1:-1]
        words.append(value)
    return words


# ---- commons-cli DefaultParser ---------------------------------------------------------------------

@dataclass(frozen=True)
class OptionSpec:
    """One short option of a command: its letter, whether it takes a value, its help text."""

    name: str
    has_arg: bool = False
    description: str = ""


@dataclass
class ParsedArgs:
    """Options found (letter → value, None for flags) and the remaining words (command name first)."""

    options: dict[str, str | None] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.options

    def value(self, name: str) -> str | None:
        return self.options.get(name)


_NEGATIVE_NUMBER = re.compile(r"^-\d+(\.\d+)?$")


def parse_options(words: Sequence[str], specs: Sequence[OptionSpec]) -> ParsedArgs:
    """Parse like commons-cli 1.5 `DefaultParser` with short options only (what zkCli's commands declare).

    `-s`, `-sw` (concatenated flags), `-v 3`, `-v3`, options after positional words, and `--` ending
    the options are accepted; anything else starting with `-` is an unrecognised option. Error texts are
    commons-cli's messages without the Java exception class zkCli prefixes them with
    (`org.apache.commons.cli.UnrecognizedOptionException: `): that names the shell's implementation,
    not the user's mistake.
    """
    by_name = {s.name: s for s in specs}
    out = ParsedArgs()
    pending: OptionSpec | None = None
    only_args = False
    for tok in words:
        if pending is not None:
            if tok.startswith("-") and len(tok) > 1 and not _NEGATIVE_NUMBER.match(tok) and tok != "--":
                raise CliError(f"Missing argument for option: {pending.name}")
            out.options[pending.name] = tok
            pending = None
            continue
        if only_args:
            out.args.append(tok)
        elif tok == "--":
            only_args = True
        elif tok.startswith("-") and len(tok) > 1:
            body = tok[1:]
            if body in by_name:
                spec = by_name[body]
                if spec.has_arg:
                    pending = spec
                else:
                    out.options[spec.name] = None
            elif body[0] in by_name and by_name[body[0]].has_arg:
                out.options[body[0]] = body[1:]  # -v3
            else:  # -sw: concatenated flags, the last one may take the rest as its value
                for i, ch in enumerate(body):
                    flag = by_name.get(ch)
                    if flag is None:
                        raise CliError(f"Unrecognized option: {tok}")
                    if flag.has_arg:
                        rest = body[i + 1:]
                        if rest:
                            out.options[ch] = rest
                        else:
                            pending = flag
                        break
                    out.options[ch] = None
        else:
            out.args.append(tok)
    if pending is not None:
        raise CliError(f"Missing argument for option: {pending.name}")
    return out


def options_help(usage: str, specs: Sequence[OptionSpec]) -> str:
    """commons-cli HelpFormatter output (`ls -?`): the usage line, then the options sorted by letter."""
    lines = [f"usage: {usage}"]
    for s in sorted(specs, key=lambda s: s.name.lower()):
        lines.append(f" -{s.name}   {s.description}")
    return "\n".join(lines) + "\n"


# ---- paths -----------------------------------------------------------------------------------------

def _invalid_char(c: str) -> bool:
    o = ord(c)
    return (0 < o <= 0x1F or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xF8FF or 0xFFF0 <= o <= 0xFFFF
            or o > 0xFFFF)  # beyond the BMP: a surrogate pair in Java


def validate_path(path: str, sequential: bool = False) -> None:
    """Raise CliError with the text of Java's `PathUtils.validatePath`, which the Java client checks
    before sending anything (so a bad path never reaches the server)."""
    if sequential:
        path = path + "1"
    if not path:
        raise CliError("Path length must be > 0")
    if path[0] != "/":
        raise CliError("Path must start with / character")
    if len(path) == 1:
        return
    if path[-1] == "/":
        raise CliError("Path must not end with / character")
    reason = None
    last = "/"
    for i in range(1, len(path)):
        c = path[i]
        if c == "\0":
            reason = f"null character not allowed @{i}"
        elif c == "/" and last == "/":
            reason = f"empty node name specified @{i}"
        elif c == "." and last == ".":
            if path[i - 2] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif c == ".":
            if path[i - 1] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif _invalid_char(c):
            reason = f"invalid character @{i}"
        if reason:
            raise CliError(f'Invalid path string "{path}" caused by {reason}')
        last = c


# ---- Stat ------------------------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def java_date(ms: int) -> str:
    """Java's `new Date(ms).toString()`: `Thu Jan 01 00:00:00 UTC 1970`, in the local time zone, English names."""
    t = time.localtime(ms // 1000)
    zone = t.tm_zone or time.strftime("%Z", t)
    return (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {zone} {t.tm_year}")


def _hex(v: int) -> str:
    return f"0x{v & 0xFFFFFFFFFFFFFFFF:x}"  # Long.toHexString: two's complement, no padding


def stat_lines(stat: Stat) -> str:
    """zkCli's StatPrinter block (11 lines, newline-terminated)."""
    return (f"cZxid = {_hex(stat.czxid)}\n"
            f"ctime = {java_date(stat.ctime)}\n"
            f"mZxid = {_hex(stat.mzxid)}\n"
            f"mtime = {java_date(stat.mtime)}\n"
            f"pZxid = {_hex(stat.pzxid)}\n"
            f"cversion = {stat.cversion}\n"
            f"dataVersion = {stat.version}\n"
            f"aclVersion = {stat.aversion}\n"
            f"ephemeralOwner = {_hex(stat.ephemeralOwner)}\n"
            f"dataLength = {stat.dataLength}\n"
            f"numChildren = {stat.numChildren}\n")


# ---- ACLs ------------------------------------------------------------------------------------------

_PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}


def parse_acl(text: str, warn: Callable[[str], None]) -> list[ACL]:
    """zkCli's AclParser: `scheme:id:perms[,...]`; malformed entries and unknown perm letters are
    reported through `warn` (zkCli prints them on stderr) and skipped, as zkCli does."""
    acls = []
    for entry in text.split(","):
        first, last = entry.find(":"), entry.rfind(":")
        if first == -1 or last == -1 or first == last:
            warn(f"{entry} does not have the form scheme:id:perm")
            continue
        perms = 0
        for ch in entry[last + 1:]:
            bit = _PERM_BITS.get(ch)
            if bit is None:
                warn(f"Unknown perm type: {ch}")
            else:
                perms |= bit
        acls.append(ACL(perms, Id(entry[:first], entry[first + 1:last])))
    return acls


def perm_string(perms: int) -> str:
    """ZKUtil.getPermString: letters in the order c d r w a."""
    return "".join(ch for ch, bit in (("c", 4), ("d", 8), ("r", 1), ("w", 2), ("a", 16)) if perms & bit)


def _csv(s: str | None) -> str:
    # jute CsvOutputArchive.toCSVString: a leading quote, then the string with , % } \0 \n \r escaped.
    if s is None:
        return ""
    out = ["'"]
    for ch in s:
        out.append({"\0": "%00", "\n": "%0A", "\r": "%0D", ",": "%2C", "}": "%7D", "%": "%25"}.get(ch, ch))
    return "".join(out)


def acl_line(acl: ACL) -> str:
    """One getAcl entry: jute's `Id.toString()` (`'scheme,'id` and a newline) then `: perms`."""
    return f"{_csv(acl.id.scheme)},{_csv(acl.id.id)}\n: {perm_string(acl.perms)}"


# ---- errors ----------------------------------------------------------------------------------------

_WRAPPED: dict[int, str] = {
    Err.NONODE: "Node does not exist: ",
    Err.NOCHILDRENFOREPHEMERALS: "Ephemerals cannot have children: ",
    Err.NODEEXISTS: "Node already exists: ",
    Err.NOTEMPTY: "Node not empty: ",
    Err.NOTREADONLY: "Not a read-only call: ",
    Err.INVALIDACL: "Acl is not valid : ",
    Err.NOAUTH: "Insufficient permission : ",
    Err.BADARGUMENTS: "Arguments are not valid : ",
    Err.BADVERSION: "version No is not valid : ",
    Err.QUOTAEXCEEDED: "Quota has exceeded : ",
}


def keeper_message(code: int, path: str | None) -> str:
    """Java's `KeeperException.getMessage()`: `KeeperErrorCode = NoNode for /x`."""
    try:
        text = ERR_MESSAGES[Err(code)]
    except (ValueError, KeyError):
        text = f"Unknown error {code}"
    return f"KeeperErrorCode = {text}" + (f" for {path}" if path else "")


def error_text(code: int, path: str | None) -> str:
    """What zkCli prints for a failed ZooKeeper call (`CliWrapperException`); Java prints `null` for no path."""
    prefix = _WRAPPED.get(code)
    if prefix is not None:
        return f"{prefix}{path if path is not None else 'null'}"
    if code == Err.RECONFIGINPROGRESS:
        return "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
    if code == Err.NEWCONFIGNOQUORUM:
        # "commmitted" (sic): zkCli 3.8's CliWrapperException spells it so, and scripts match its text.
        return ("No quorum of new config is connected and up-to-date with the leader of last commmitted config"
                " - try invoking reconfiguration after new servers are connected and synced")
    return keeper_message(code, path)
