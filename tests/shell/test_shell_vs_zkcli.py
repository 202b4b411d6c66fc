"""`corral shell` against zkCli.sh: the same commands on the same server, compared line by line.

Why: the issue asks for zkCli's command set and output formats, and operators' scripts parse that
output. Each test runs the same command list through Apache's zkCli.sh and through `corral shell`,
each chrooted into its own fresh, identical subtree of one server (so both see the same data and
the same sequence numbers), and compares the two transcripts after normalising only what must differ
between two sessions (see drivers.normalize). Every test runs against corral and against Apache
ZooKeeper 3.8, so a difference is the shell's, not the server's.
"""

from __future__ import annotations

import difflib
import re
import time
import uuid

import pytest

from corral.client import SyncClient
from tests.support.shells import ZkCli, ZxidLabels, render, run_zkcli_once, zkcli_env

from .drivers import (
    JAVA_ONLY,
    SHELL_CMD,
    CorralShell,
    corral_script,
    normalize,
    run_corral_once,
    run_script,
    shell_env,
    zkcli_script,
)

pytestmark = [pytest.mark.slow, pytest.mark.cli]


def _chroots(server, n: int = 2) -> list[str]:
    """n fresh, empty top-level nodes (one per shell) for the shells to chroot into."""
    bases = [f"/sh-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    with SyncClient(server.hosts, timeout=10) as zk:
        for b in bases:
            zk.create(b, b"")
    return bases


def _session(shell, commands: list[str]) -> tuple[bool, list[tuple[str, str]]]:
    ok, _ = shell.wait_ready()
    for cmd in commands:
        if not ok:
            break
        ok, _ = shell.run(cmd)
    if ok:
        shell.quit()
    return ok, shell.transcript


_WATCHER = re.compile(r"\nWATCHER::\n|\n(WatchedEvent [^\n]*)\n")


def _split_events(transcript: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Separate watch events from command output.

    zkCli prints events from its event thread, so where they land relative to the command output is a
    race (they even spill into the next command's output); their order among themselves is not. The
    comparison therefore takes the command output without events, plus the ordered list of events.
    """
    events: list[str] = []
    out = []
    for cmd, seg in transcript:
        events.extend(m.group(1) for m in _WATCHER.finditer(seg) if m.group(1))
        out.append((cmd, _WATCHER.sub("", seg)))
    return out, events


def _sort_ephemerals(transcript: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """getEphemerals lists paths in the server's order, which is unspecified (Apache: hash order); both
    shells print it as received, so the list is sorted before comparing."""
    def sort_list(m: re.Match) -> str:
        return "[" + ", ".join(sorted(m.group(1).split(", "))) + "]"

    return [(c, re.sub(r"^\[(.+)\]$", sort_list, seg, flags=re.M) if c.startswith("getEphemerals") else seg)
            for c, seg in transcript]


def _compare(zkcli: str, server, commands: list[str], chroot: bool = True) -> list[tuple[str, str]]:
    """Run `commands` through both shells, assert identical output and events; return corral's transcript.

    With `chroot`, each shell is chrooted into its own subtree; without, `{b}` in the commands names it.
    """
    zk_base, co_base = _chroots(server)
    zk_hosts, co_hosts = server.hosts + zk_base, server.hosts + co_base
    if not chroot:
        zk_hosts, co_hosts = server.hosts, server.hosts
    with ZkCli(zkcli, zk_hosts) as sh:
        zk_ok, zk_tr = _session(sh, [c.format(b=zk_base) for c in commands])
    with CorralShell(co_hosts) as sh:
        co_ok, co_tr = _session(sh, [c.format(b=co_base) for c in commands])
    if not chroot:
        zk_tr = [(c.replace(zk_base, "<base>"), seg.replace(zk_base, "<base>")) for c, seg in zk_tr]
        co_tr = [(c.replace(co_base, "<base>"), seg.replace(co_base, "<base>")) for c, seg in co_tr]
    assert zk_ok, f"zkCli did not finish the sequence:\n{render(zk_tr)}"
    assert co_ok, f"corral shell did not finish the sequence:\n{render(co_tr)}"
    assert not JAVA_ONLY.search(render(co_tr)), f"corral shell printed Java's words:\n{render(co_tr)}"
    zk_out, zk_events = _split_events(_sort_ephemerals(zk_tr))
    co_out, co_events = _split_events(_sort_ephemerals(co_tr))
    zk_text = render(zk_out, lambda seg: normalize(seg, zk_hosts, ZxidLabels()))
    co_text = render(co_out, lambda seg: normalize(seg, co_hosts, ZxidLabels()))
    diff = "".join(difflib.unified_diff(zk_text.splitlines(True), co_text.splitlines(True), "zkCli", "corral shell"))
    assert co_text == zk_text, f"corral shell and zkCli differ:\n{diff}"
    assert co_events == zk_events, f"watch events differ:\nzkCli: {zk_events}\ncorral shell: {co_events}"
    return co_tr


def _segment(transcript: list[tuple[str, str]], cmd: str) -> str:
    return next(seg for c, seg in transcript if c == cmd)


# Every command of the shell with its success output, its errors and its option parsing. Watches are
# set and fired inside the sequence, so the WATCHER lines are compared too. `sync /` after
# `create /silent`: zkCli decides whether to print an event on its event thread, so under load the
# /silent event could be handled after `printwatches on` and printed (seen in CI); zkCli's sync waits
# for its callback, which that thread runs after the event, so the event is handled while printing is off.
COMMANDS_AND_ERRORS = [
    "ls /", "ls -s /", "ls",
    "create /a x", "create /a x", "create /a/b", "create /a/c hello", "create -s /a/s- data", "create -s /a/s-",
    "create -e /a/e1 eph", "create -e /a/e1/child", "create -c /cont", "create -c -s /cont2",
    "create -e -t 100 /ttl", "create -t abc /ttl", "create -t", "create", "create nopath", "create /a/",
    "create /noparent/x", "create /a/d x world:anyone:r", "create /a/f x bogus", "create /a/g x digest:u:p",
    "create /m x world:anyone:r,ip:127.0.0.1:cdrwa", 'create /q "hello world"', "create /q2 'single quoted'",
    'create /empty ""', "create -- /dash -x",
    "get /q", "get /q2", "get -s /empty", "get /a/b", "get /dash", "get /nonexist", "get", "get a", "get /a//b",
    "get /a/.", "get -z /a", "ls -x /", "ls -st /", "set -v", "ls -?", "ls -sw /a",
    "ls -R /", "ls -R /nope", "ls /nope",
    "ls -w /a", "create /a/h", "get -w /a", "set /a y", "set -s /a yy", "set -v 5 /a y", "set /nonexist y", "set /a",
    "stat /a", "stat -w /nothere", "create /nothere", "get -w /nothere", "delete /nothere", "stat /nonexist",
    "delete /a", "delete /a/b", "delete -v 9 /a/c", "delete /nonexist", "delete", "delete /dash 7",
    "getAcl /a", "getAcl -s /a/d", "getAcl /m", "getAcl /nonexist", "getAcl",
    "setAcl /a/d world:anyone:cdrwa", "setAcl /a/d bogus", "setAcl -s /a/c world:anyone:cdrwa",
    "setAcl /nonexist world:anyone:r", "setAcl -v 9 /a/c world:anyone:r", "setAcl",
    "getEphemerals /nope", "getAllChildrenNumber /a", "getAllChildrenNumber /nonexist", "getAllChildrenNumber",
    "sync /a", "sync",
    "printwatches", "printwatches off", "printwatches", "ls -w /", "create /silent", "sync /", "printwatches on",
    "get /q 1", "stat /q 1", "ls / 1", "create /after", "whoami", "addauth", "addauth digest u:p", "whoami",
    "create /a/acl x auth::cdrwa", "getAcl /a/acl",
    "deleteall /nope", "deleteall", "deleteall /q -b 5", "deleteall /a", "ls /", "history", "bogus", "version extra",
]


def test_commands_and_errors_match_zkcli(zkcli, any_server):
    """~130 commands, one session each shell: output, error texts and watch events identical to zkCli's.

    corral's shell also prints each event deterministically before the output of the command that
    triggered it (the server sends the notification before the reply), which zkCli only usually does.
    """
    tr = _compare(zkcli, any_server, COMMANDS_AND_ERRORS)
    assert _segment(tr, "create /a/h") == ("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeChildrenChanged "
                                           "path:/a\nCreated /a/h\n")
    assert "type:NodeCreated path:/nothere" in _segment(tr, "create /nothere")
    assert "type:NodeDataChanged path:/a" in _segment(tr, "set /a y")
    assert "WATCHER" not in _segment(tr, "create /silent"), "printwatches off must silence events"


# Persistent and recursive watches (addWatch) and their removal (removewatches), with zkCli 3.8's options.
WATCH_COMMANDS = [
    "create /w", "addWatch /w", "create /w/a x", "set /w/a y", "delete /w/a", "set /w top",
    "addWatch -m PERSISTENT /p", "create /p", "create /p/c", "set /p/c deep", "set /p z", "delete /p/c",
    "addWatch -m persistent_recursive /r", "create /r",
    "addWatch -m bogus /p", "addWatch", "addWatch /a /b", "addWatch -m",
    "removewatches /w", "set /w after", "removewatches /nothing", "removewatches", "removewatches bad",
    "get -w /w", "removewatches /w -c", "removewatches /w -d", "set /w x",
    "ls -w /w", "stat -w /w", "removewatches /w -a", "create /w/b",
    "get -w /p", "removewatches /p -l", "set /p local",
    "removewatches /p -x",
]


def test_add_and_remove_watches_match_zkcli(zkcli, any_server):
    """addWatch (persistent, recursive, bad modes) and removewatches (-c -d -a -l, NoWatcher): the same
    output, errors and events — including the *WatchRemoved events the client delivers — as zkCli."""
    tr = _compare(zkcli, any_server, WATCH_COMMANDS)
    assert "type:NodeDataChanged path:/w/a" in render(tr)


# Quotas as zkCli 3.8 manages them: the nodes under /zookeeper/quota, warnings, nesting and option rules.
# Run without a chroot (quota paths are absolute server paths); `{b}` is each shell's own subtree.
QUOTA_COMMANDS = [
    "create {b}/q x", "create {b}/q/a abc", "create {b}/q/a/deep", "create {b}/r",
    "setquota -n 1 {b}/q", "listquota {b}/q", "get {b}/q", "setquota -B 100 {b}/q", "listquota {b}/q",
    "setquota -N 10 {b}/q", "listquota {b}/q", "get -s /zookeeper/quota{b}/q/zookeeper_limits",
    "setquota -b 2 {b}/q",
    "setquota -n 5 {b}/q/a", "setquota -n 5 {b}", "setquota {b}/q", "setquota -n 2 -N 3 {b}/q",
    "setquota -n 0 {b}/r", "setquota -b -1 {b}/r", "setquota -n x {b}/r", "setquota -n 2",
    "setquota -n 2 {b}/nope", "setquota -n 2 /zookeeper/quota/x",
    "listquota {b}/r", "listquota {b}/nope", "listquota",
    "delquota -n {b}/q", "listquota {b}/q", "delquota -b -N {b}/q", "delquota {b}/q", "listquota {b}/q",
    "delquota {b}/q", "delquota {b}/r", "delquota", "setquota -N 3 {b}/q/a", "listquota {b}/q/a",
    "delquota {b}/q/a", "ls {b}",
    "config", "config -s", "config -c", "config -x",
]


def test_quota_commands_match_zkcli(zkcli, any_server):
    """setquota -n/-b/-N/-B (and its option-group, value and nesting errors), listquota, delquota with
    and without a limit flag: the same output as zkCli 3.8, against corral and against Apache."""
    tr = _compare(zkcli, any_server, QUOTA_COMMANDS, chroot=False)
    assert "Output quota for <base>/q count=1" in render(tr)


def test_ephemerals_and_session_owner_match_zkcli(zkcli, any_server):
    """getEphemerals lists this session's ephemeral nodes by prefix; ephemeralOwner shows the session.

    Run without a chroot: zkCli 3.8's getEphemerals ignores the chroot (it sends the prefix unprefixed
    and returns server paths), which corral's shell does not copy — see the corral-only test below.
    """
    _compare(zkcli, any_server, ["create {b}/p", "create -e {b}/p/e1 x", "create -e -s {b}/p/q- y",
                                 "getEphemerals {b}", "getEphemerals {b}/p", "getEphemerals {b}/p/e",
                                 "getEphemerals {b}/nope", "stat {b}/p/e1", "ls -R {b}"], chroot=False)


def test_get_ephemerals_applies_the_chroot(any_server):
    """Under a chroot, getEphemerals takes a path inside the chroot and prints paths inside it (as every
    other command does), unlike zkCli 3.8 which leaks the server path and ignores the prefix."""
    (base,) = _chroots(any_server, 1)
    with CorralShell(any_server.hosts + base) as sh:
        ok, tr = _session(sh, ["create /p", "create -e /p/e1 x", "getEphemerals", "getEphemerals /p",
                               "getEphemerals /q"])
    assert ok, render(tr)
    assert [_segment(tr, c) for c in ("getEphemerals", "getEphemerals /p", "getEphemerals /q")] == \
        ["[/p/e1]\n", "[/p/e1]\n", "[]\n"], render(tr)


# Whole-script runs: local commands (history, redo) and session commands (close, connect) whose output
# the `version` sentinel cannot delimit (`version` answers "Not connected" once the session is closed).
# printwatches is off so that zkCli's asynchronous event thread cannot reorder lines.
SCRIPT = """printwatches off
create /r x
get /r
redo 2
history
redo 99
redo 5
redo 0x2
history
close
ls /
history
connect
get /r
get /zz
"""


def test_history_redo_close_connect_match_zkcli(zkcli, any_server):
    """history numbering, redo (and its refusals), close then "Not connected", connect to the same server,
    and the exit status of a piped session (that of its last command)."""
    zk_base, co_base = _chroots(any_server)
    zk_rc, zk_out = zkcli_script(zkcli, any_server.hosts + zk_base, SCRIPT)
    co_rc, co_out = corral_script(any_server.hosts + co_base, SCRIPT)
    zk_n = normalize(zk_out, any_server.hosts + zk_base, ZxidLabels())
    co_n = normalize(co_out, any_server.hosts + co_base, ZxidLabels())
    assert (co_rc, co_n) == (zk_rc, zk_n), f"zkCli (rc={zk_rc}):\n{zk_out}\ncorral shell (rc={co_rc}):\n{co_out}"
    assert not JAVA_ONLY.search(co_out), co_out
    assert co_rc == 1, "the last command failed, so the piped session exits 1"
    assert "Not connected" in co_n and "2 - get /r" in co_n


_BANNER = re.compile(r"^(Connecting to .*|WATCHER::|WatchedEvent state:SyncConnected type:None path:null|)$")


def _lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if not _BANNER.match(ln) and not ln.startswith("\t")
            and not ln.startswith("ZooKeeper -server host:port")]


ONE_SHOT = [("ls", "/"), ("create", "/oneshot", "x"), ("get", "/oneshot"), ("get", "/missing"),
            ("set", "-v", "9", "/oneshot", "y"), ("bogus",), ("delete", "/oneshot"), ("ls", "/")]


def test_one_shot_mode_matches_zkcli(zkcli, any_server):
    """`corral shell -server H:P cmd args`: the same output and exit status as zkCli.sh (0, 1 or 127).

    Scripts rely on that status. The commands build on each other (create, get, delete); each runs
    through zkCli and then through corral shell, each shell in its own chroot.
    """
    zk_base, co_base = _chroots(any_server)
    got, want, raw = [], [], []
    for args in ONE_SHOT:
        zk_rc, zk_out = run_zkcli_once(zkcli, any_server.hosts + zk_base, *args)
        co_rc, co_out = run_corral_once(any_server.hosts + co_base, *args)
        want.append((args, zk_rc, _lines(zk_out)))
        got.append((args, co_rc, _lines(co_out)))
        raw.append(f"$ {' '.join(args)}\nzkCli rc={zk_rc}:\n{zk_out}corral rc={co_rc}:\n{co_out}")
        assert co_out.startswith(f"Connecting to {any_server.hosts + co_base}\n")
    assert got == want, "\n".join(raw)
    assert [rc for _, rc, _ in got] == [0, 0, 0, 1, 1, 127, 0, 0]


# A refused connection is known at once; zkCli reports it in about 0.25 s after its JVM has started (0.5 s
# in all on a dev machine). The bound leaves room for a loaded machine, far below the 30 s session timeout
# the shell used to wait for.
DEAD_PORT_BOUND = 5.0


def test_one_shot_unreachable_server_matches_zkcli(zkcli):
    """Nothing listens on the port: both shells report ConnectionLoss for the path and exit 1, and corral's
    does so at once under the default 30 s session timeout, as zkCli does (not after the timeout)."""
    from tests.support.net import free_port

    hosts = f"127.0.0.1:{free_port()}"
    zk_rc, zk_out = run_zkcli_once(zkcli, hosts, "ls", "/")
    started = time.monotonic()
    co_rc, co_out = run_corral_once(hosts, "ls", "/")
    took = time.monotonic() - started
    assert (co_rc, _lines(co_out)) == (zk_rc, _lines(zk_out)) == (1, ["KeeperErrorCode = ConnectionLoss for /"]), \
        f"zkCli (rc={zk_rc}):\n{zk_out}\ncorral shell (rc={co_rc}):\n{co_out}"
    assert took < DEAD_PORT_BOUND, f"corral shell took {took:.1f} s to report a refused connection"
    assert not JAVA_ONLY.search(co_out), co_out


def test_piped_commands_to_an_unreachable_server_match_zkcli(zkcli):
    """Commands piped to a shell whose server refuses connections: each fails with ConnectionLoss at once
    (the shell keeps trying in the background), the same lines and exit status as zkCli's, minus its
    `JLine support is disabled` line."""
    from tests.support.net import free_port

    hosts = f"127.0.0.1:{free_port()}"
    script = "ls /\nget /a\n"
    zk_rc, zk_out = run_script([zkcli, "-server", hosts], script, zkcli_env())
    started = time.monotonic()
    co_rc, co_out = run_script([*SHELL_CMD, "-server", hosts], script, shell_env())
    took = time.monotonic() - started
    zk_n, co_n = normalize(zk_out, hosts, ZxidLabels()), normalize(co_out, hosts, ZxidLabels())
    assert (co_rc, co_n) == (zk_rc, zk_n), f"zkCli (rc={zk_rc}):\n{zk_out}\ncorral shell (rc={co_rc}):\n{co_out}"
    assert co_n == ("Connecting to <server>\nWelcome to ZooKeeper!\nKeeperErrorCode = ConnectionLoss for /\n"
                    "KeeperErrorCode = ConnectionLoss for /a\n") and co_rc == 1, co_out
    assert took < DEAD_PORT_BOUND, f"corral shell took {took:.1f} s for two commands to a refused port"
    assert not JAVA_ONLY.search(co_out), co_out
