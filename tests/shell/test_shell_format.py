"""Unit tests of zkCli's text rules as `corral shell` reproduces them (no server needed).

Why: these rules decide what a user's typed line means and how results read; the cases below are
the zkCli 3.8 behaviours observed with the real shell (quoting, option bundling, Java's path messages,
Date.toString, ACL strings), pinned here so a change is caught without starting a JVM.
"""

from __future__ import annotations

import time

import pytest

from corral.cli.shell import main_shell, parse_shell_args
from corral.cli.shell_format import (
    CliError,
    OptionSpec,
    acl_line,
    java_date,
    parse_acl,
    parse_options,
    split_command,
    stat_lines,
    validate_path,
)
from corral.protocol import ACL, Id, Stat


@pytest.mark.parametrize("line, words", [
    ("ls /", ["ls", "/"]),
    ("  create   /sp    a   ", ["create", "/sp", "a"]),
    ('create /q "hello world"', ["create", "/q", "hello world"]),
    ("create /q 'single quoted'", ["create", "/q", "single quoted"]),
    ('create /e ""', ["create", "/e", ""]),
    ('set /a x"y', ["set", "/a", 'x"y']),
    ('get "/unterminated', ["get", "/unterminated"]),
    ("", []),
])
def test_split_command_like_zkcli(line, words):
    assert split_command(line) == words


SPECS = [OptionSpec("s"), OptionSpec("w"), OptionSpec("v", True)]


def test_options_bundled_attached_and_after_arguments():
    p = parse_options(["set", "-sw", "/a", "-v3", "data"], SPECS)
    assert p.options == {"s": None, "w": None, "v": "3"} and p.args == ["set", "/a", "data"]
    p = parse_options(["set", "-v", "-1", "/a", "--", "-x"], SPECS)
    assert p.options == {"v": "-1"} and p.args == ["set", "/a", "-x"]


@pytest.mark.parametrize("words, message", [
    (["ls", "-x", "/"], "Unrecognized option: -x"),
    (["ls", "-st", "/"], "Unrecognized option: -st"),
    (["ls", "--stat", "/"], "Unrecognized option: --stat"),
    (["set", "-v"], "Missing argument for option: v"),
])
def test_option_errors_are_commons_cli_texts_without_the_java_class(words, message):
    """commons-cli's message, without the `org.apache.commons.cli.UnrecognizedOptionException: ` zkCli
    puts in front: the class names Java's parser, not the user's mistake."""
    with pytest.raises(CliError) as e:
        parse_options(words, SPECS)
    assert str(e.value) == message and e.value.exit_code == 1


@pytest.mark.parametrize("path, seq, message", [
    ("a", False, "Path must start with / character"),
    ("/a/", False, "Path must not end with / character"),
    ("/a//b", False, 'Invalid path string "/a//b" caused by empty node name specified @3'),
    ("/a/.", False, 'Invalid path string "/a/." caused by relative paths not allowed @3'),
    ("/a/../b", False, 'Invalid path string "/a/../b" caused by relative paths not allowed @4'),
    ("/a\u0001", False, 'Invalid path string "/a\u0001" caused by invalid character @2'),
    ("", False, "Path length must be > 0"),
])
def test_invalid_paths_report_java_messages(path, seq, message):
    with pytest.raises(CliError) as e:
        validate_path(path, seq)
    assert str(e.value) == message


def test_valid_paths_pass():
    for path, seq in (("/", False), ("/a/b.c", False), ("/a/s-", True), ("/a/", True), ("/a/...", False)):
        validate_path(path, seq)


def test_java_date_format_in_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert java_date(0) == "Thu Jan 01 00:00:00 UTC 1970"
        assert java_date(1532765649123) == "Sat Jul 28 08:14:09 UTC 2018"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_stat_block_matches_statprinter():
    st = Stat(czxid=0x90000009A, mzxid=0x9000000A2, ctime=0, mtime=0, version=1, cversion=0, aversion=0,
              ephemeralOwner=-1, dataLength=60, numChildren=0, pzxid=0x90000009A)
    lines = stat_lines(st).splitlines()
    assert lines[0] == "cZxid = 0x90000009a" and lines[2] == "mZxid = 0x9000000a2"
    assert lines[8] == "ephemeralOwner = 0xffffffffffffffff", "Long.toHexString prints two's complement"
    assert [ln.split(" = ")[0] for ln in lines] == ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion",
                                                    "dataVersion", "aclVersion", "ephemeralOwner", "dataLength",
                                                    "numChildren"]


def test_acl_parse_and_print():
    warnings: list[str] = []
    acls = parse_acl("world:anyone:r,ip:127.0.0.1:cdrwax,bogus,digest:u:h=:", warnings.append)
    assert acls == [ACL(1, Id("world", "anyone")), ACL(31, Id("ip", "127.0.0.1")), ACL(0, Id("digest", "u:h="))]
    assert warnings == ["Unknown perm type: x", "bogus does not have the form scheme:id:perm"]
    assert acl_line(acls[1]) == "'ip,'127.0.0.1\n: cdrwa"
    assert acl_line(ACL(0, Id("x", "a,b%"))) == "'x,'a%2Cb%25\n: "


def test_shell_arguments_like_zkcli():
    o = parse_shell_args(["-server", "h:1/ch", "-timeout", "5000", "-waitforconnection", "ls", "-s", "/"])
    assert (o.server, o.timeout_ms, o.wait_for_connection, o.command) == ("h:1/ch", 5000, True, ["ls", "-s", "/"])
    o = parse_shell_args(["-r", "-client-configuration", "f"])
    assert (o.server, o.timeout_ms, o.command) == ("localhost:2181", 30000, [])


@pytest.mark.parametrize("argv, message", [
    (["-sever", "h:1", "ls", "/"], "corral shell: unknown option -sever (corral shell -h lists the options)\n"),
    (["-server"], "corral shell: no argument found for option -server\n"),
])
def test_bad_shell_options_are_one_line_errors(argv, message, capsys):
    """zkCli ignores an unknown option (a typo like `-sever` silently connects to localhost:2181); corral's
    shell says which option it did not understand, in one line, and exits 2 without connecting."""
    assert main_shell(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message)
