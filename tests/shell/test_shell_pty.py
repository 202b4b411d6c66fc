"""`corral shell` on a terminal: prompt, tab completion of commands and znode paths, history.

Why: on a terminal the shell is a line editor (prompt-toolkit), and those features only exist there.
The shell runs on a pseudo-terminal; the test types keys (Tab, Up arrow, Enter) and checks what the
shell then ran by its output, with every read bounded.
"""

from __future__ import annotations

import re

import pytest

from corral.client import SyncClient

from .drivers import PtyShell

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)

UP = "\x1b[A"


@pytest.fixture
def tree(corral_server_module):
    """A subtree whose names are unique prefixes, so a completion has exactly one answer."""
    base = "/ptytest"
    with SyncClient(corral_server_module.hosts, timeout=10) as zk:
        if zk.exists(base) is not None:
            zk.delete(base, recursive=True)
        zk.create(base, b"")
        for name, data in (("alpha", b"A"), ("beta", b"B"), ("zebra-unique-child", b"completed-data")):
            zk.create(f"{base}/{name}", data)
    return base


def _prompt(n: int, hosts: str) -> str:
    return re.escape(f"[zk: {hosts}(CONNECTED) {n}]")  # the trailing blank may be drawn as a cursor move


def test_tab_completion_and_history(corral_server_module, tree, tmp_path):
    """Tab completes `getAllCh` to the command and `/ptytest/zeb` to the child the server lists; Up
    recalls the previous line; `history` numbers the commands; `redo` re-runs one; quit exits 0."""
    hosts = corral_server_module.hosts
    with PtyShell(hosts, str(tmp_path)) as sh:
        assert sh.expect(r"Welcome to ZooKeeper!") and sh.expect(_prompt(0, hosts)), sh.screen()
        assert "JLine" not in sh.screen(), "Java's line-editing banner is zkCli's, not corral's"

        mark = sh.mark()
        sh.send("getAllCh\t")  # command-name completion
        assert sh.expect(r"getAllChildrenNumber", mark), f"no command completion:\n{sh.screen(mark)}"
        sh.send(f" {tree}\r")
        assert sh.expect(r"\n3\n", mark) and sh.expect(_prompt(1, hosts), mark), sh.screen(mark)

        mark = sh.mark()
        sh.send(f"get {tree}/zeb\t")  # znode path completion, asked from the server
        assert sh.expect(r"zebra-unique-child", mark), f"no path completion:\n{sh.screen(mark)}"
        sh.send("\r")
        assert sh.expect(r"\ncompleted-data\n", mark) and sh.expect(_prompt(2, hosts), mark), sh.screen(mark)

        mark = sh.mark()
        sh.send(f"ls {tree}\r")
        assert sh.expect(r"\[alpha, beta, zebra-unique-child\]\n", mark) and sh.expect(_prompt(3, hosts), mark)
        mark = sh.mark()
        sh.send(UP + "\r")  # the previous line again
        assert sh.expect(r"\[alpha, beta, zebra-unique-child\]\n", mark) and sh.expect(_prompt(4, hosts), mark), \
            f"Up arrow did not recall `ls {tree}`:\n{sh.screen(mark)}"

        mark = sh.mark()
        sh.send("history\r")
        m = sh.expect(r"0 - getAllChildrenNumber /ptytest\n1 - get /ptytest/zebra-unique-child\n"
                      r"2 - ls /ptytest\n3 - ls /ptytest\n4 - history\n", mark)
        assert m, f"unexpected history:\n{sh.screen(mark)}"

        mark = sh.mark()
        sh.send("redo 1\r")
        assert sh.expect(r"\ncompleted-data\n", mark) and sh.expect(_prompt(6, hosts), mark), sh.screen(mark)

        sh.send("quit\r")
        assert sh.wait_exit() == 0

    saved = (tmp_path / ".corral_shell_history").read_text()
    for line in ("getAllChildrenNumber /ptytest", "get /ptytest/zebra-unique-child", "ls /ptytest", "redo 1"):
        assert f"+{line}\n" in saved, f"{line!r} missing from the history file:\n{saved}"


def test_history_file_carries_over_to_the_next_session(corral_server_module, tree, tmp_path):
    """A new shell recalls the previous session's lines with Up (from ~/.corral_shell_history)."""
    (tmp_path / ".corral_shell_history").write_text(f"\n# 2024-01-01 00:00:00\n+get {tree}/beta\n")
    hosts = corral_server_module.hosts
    with PtyShell(hosts, str(tmp_path)) as sh:
        assert sh.expect(_prompt(0, hosts)), sh.screen()
        mark = sh.mark()
        sh.send(UP + "\r")
        assert sh.expect(r"\nB\n", mark) and sh.expect(_prompt(1, hosts), mark), sh.screen(mark)
        sh.send("\x04")  # Ctrl-D: end of input
        assert sh.wait_exit() == 0


def test_watch_event_printed_while_prompt_waits(corral_server_module, tree, tmp_path):
    """A watch fired by another client prints zkCli's WATCHER lines while the shell sits at its prompt."""
    hosts = corral_server_module.hosts
    with PtyShell(hosts, str(tmp_path)) as sh:
        assert sh.expect(_prompt(0, hosts)), sh.screen()
        sh.send(f"get -w {tree}/alpha\r")
        assert sh.expect(_prompt(1, hosts)), sh.screen()
        mark = sh.mark()
        with SyncClient(hosts, timeout=10) as zk:
            zk.set_data(f"{tree}/alpha", b"changed")
        assert sh.expect(r"WATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged "
                         rf"path:{tree}/alpha\n", mark), sh.screen(mark)
        sh.send("quit\r")
        assert sh.wait_exit() == 0
