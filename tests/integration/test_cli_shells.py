"""The real ZooKeeper shells (C `cli_mt`, Java `zkCli.sh`) against a server, corral or Apache ZooKeeper.

Why: operators reach a ZooKeeper with these shells first, so corral must make them print exactly what they
print against ZooKeeper. Every test runs twice with identical assertions: against Apache ZooKeeper 3.8
(which proves the expected transcripts are what ZooKeeper really prints) and against corral. Only session
ids, durations, dates and zxid values are normalised (see tests/support/shells.py); zxids are relabelled
Z1, Z2, ... so equalities between them (czxid == mzxid after create) are still checked.

Each test starts its own server, so `ls /` sees a fresh tree. Transcripts observed against Apache 3.8.0 are
written out literally below.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.support.apache import require_cli_mt, require_zkcli
from tests.support.server import make_server
from tests.support.shells import (
    CliMt,
    ZkCli,
    ZxidLabels,
    assert_wall_clock,
    normalize_java,
    normalize_mt,
    parse_java_stats,
    parse_mt_stats,
    render,
    run_cli_mt_batch,
    run_zkcli_once,
)

pytestmark = pytest.mark.cli


@pytest.fixture(params=["corral", pytest.param("apache", marks=pytest.mark.compat)])
def shell_server(request):
    """A fresh server per test (so `ls /` sees an empty tree), of each kind: same body, same assertions.

    Deliberately not the module-scoped `server` of tests/integration/conftest.py, which tests share.
    """
    srv = make_server(request.param)
    yield srv
    srv.close()


@pytest.fixture
def cli_mt():
    """Path of the C shell; tests list it before `shell_server`, so a missing shell skips before a server starts."""
    return require_cli_mt()


@pytest.fixture
def zkcli():
    return require_zkcli()


# ---------------------------------------------------------------------------------------------------------
# cli_mt
# ---------------------------------------------------------------------------------------------------------

MT_STAT_V0 = ("\tctime = <date>\n\tczxid=Z1\n\tmtime=<date>\n\tmzxid=Z1\n"
              "\tversion=0\taversion=0\n\tephemeralOwner = 0\n")
MT_STAT_V1 = ("\tctime = <date>\n\tczxid=Z1\n\tmtime=<date>\n\tmzxid=Z2\n"
              "\tversion=1\taversion=0\n\tephemeralOwner = 0\n")

# (command, watcher lines it must also print, normalised output), as cli_mt prints it against Apache 3.8.0.
# `ls` and `get` leave watches (cli.c passes watch=1), so `create /foo` fires the child watch on `/` left by
# `ls /`, `set` fires the data watch on /foo left by `get`, and `delete` fires both kinds again. ZooKeeper
# delivers the watch event before the reply of the request that triggered it.
MT_SEQUENCE = [
    ("ls /", [],
     "time = <n> msec\n/: rc = 0\n\tzookeeper\ntime = <n> msec\n"),
    ("create /foo", [r"Watcher CHILD_EVENT state = CONNECTED_STATE for path /\n"],
     "Creating [/foo] node (mode: 0)\n"
     "Watcher CHILD_EVENT state = CONNECTED_STATE for path /\n"
     "[/foo]: rc = 0\n\tname = /foo\n"),
    ("ls /", [],
     "time = <n> msec\n/: rc = 0\n\tfoo\n\tzookeeper\ntime = <n> msec\n"),
    ("get /foo", [],
     "time = <n> msec\n/foo: rc = 0\n value_len = 3\nnew\nStat:\n" + MT_STAT_V0),
    ("set /foo bar", [r"Watcher CHANGED_EVENT state = CONNECTED_STATE for path /foo\n"],
     "Watcher CHANGED_EVENT state = CONNECTED_STATE for path /foo\n"
     "/foo: rc = 0 Stat:\n" + MT_STAT_V1),
    ("get /foo", [],
     "time = <n> msec\n/foo: rc = 0\n value_len = 3\nbar\nStat:\n" + MT_STAT_V1),
    ("delete /foo", [r"Watcher DELETED_EVENT state = CONNECTED_STATE for path /foo\n",
                     r"Watcher CHILD_EVENT state = CONNECTED_STATE for path /\n"],
     "Watcher DELETED_EVENT state = CONNECTED_STATE for path /foo\n"
     "Watcher CHILD_EVENT state = CONNECTED_STATE for path /\n"
     "/foo: rc = 0\n"),
    ("ls /", [],
     "time = <n> msec\n/: rc = 0\n\tzookeeper\ntime = <n> msec\n"),
]


def test_cli_mt_interactive_session(cli_mt, shell_server):
    """One cli_mt session: ls, create, get, set, delete; results, Stat dumps and the watch events it set.

    cli_mt reads stdin and answers asynchronously, so each command is sent only after its output (and the
    watcher lines it must trigger) has arrived; a command that does not finish within the step timeout ends
    the sequence and the transcript so far is compared.
    """
    started = datetime.now(UTC)
    with CliMt(cli_mt, shell_server.hosts) as sh:
        steps_ok, _ = sh.wait_connected()
        for cmd, watcher_lines, _ in MT_SEQUENCE:
            if not steps_ok:
                break
            steps_ok, _ = sh.run(cmd, expect_also=watcher_lines)
        rc = None
        if steps_ok:
            rc, _ = sh.quit()
        raw = render(sh.transcript)

    zxids = ZxidLabels()
    got = render(sh.transcript, lambda seg: normalize_mt(seg, zxids))
    expected = ("> <connect>\nWatcher SESSION_EVENT state = CONNECTED_STATE\n"
                "Got a new session id: 0x<session>\n"
                + "".join(f"> {cmd}\n{out}" for cmd, _, out in MT_SEQUENCE)
                + "> quit\nQuitting...\n")
    assert got == expected, f"cli_mt transcript differs; raw transcript:\n{raw}"
    assert rc == 0, f"cli_mt did not exit cleanly after quit (rc={rc}); raw transcript:\n{raw}"

    # Relations the normalisation hides: zxids grow, times are the server's wall clock in ms.
    assert zxids.increasing(), f"zxids not increasing in order of appearance: {zxids.order}"
    created, after_set, after_get = parse_mt_stats(raw)
    assert_wall_clock(created["ctime"], started, "ctime of /foo")
    assert created["mtime"] == created["ctime"], "a fresh znode has mtime == ctime"
    assert after_set["ctime"] == created["ctime"] and after_get == after_set
    assert after_set["mtime"] >= created["ctime"]
    assert re.search(r"Got a new session id: 0x0*[1-9a-f]", raw), "session id must be non-zero"


def test_cli_mt_batch_mode(cli_mt, shell_server):
    """`cli_mt -c cmd` (one command per session, then exit 0): create, get, a NoNode error (-101), delete, ls.

    Batch mode is how scripts use cli_mt; each run is a new session, closed when the command completes.
    """
    expected = {
        "create /batch": "Creating [/batch] node (mode: 0)\n[/batch]: rc = 0\n\tname = /batch\n",
        "get /batch": "time = <n> msec\n/batch: rc = 0\n value_len = 3\nnew\nStat:\n" + MT_STAT_V0,
        "get /missing": "time = <n> msec\n/missing: rc = -101\n\nStat:\nnull\n",
        "delete /batch": "/batch: rc = 0\n",
        "ls /": "time = <n> msec\n/: rc = 0\n\tzookeeper\ntime = <n> msec\n",
    }
    session_ids = []
    got, want, raws = [], [], []
    for cmd, out in expected.items():
        rc, raw = run_cli_mt_batch(cli_mt, shell_server.hosts, cmd)
        raws.append(f"$ cli_mt -c {cmd!r} -> rc={rc}\n{raw}")
        # The session lines come from the client's completion thread and may precede or follow the
        # command's first line, so they are checked on their own.
        ids = re.findall(r"^Got a new session id: 0x([0-9a-f]+)\n", raw, re.M)
        session_ids.extend(ids)
        connected = len(re.findall(r"^Watcher SESSION_EVENT state = CONNECTED_STATE\n", raw, re.M))
        rest = re.sub(r"(?m)^(Watcher SESSION_EVENT state = CONNECTED_STATE"
                      r"|Got a new session id: 0x[0-9a-f]+)\n", "", raw)
        got.append(f"$ {cmd}\nrc={rc} sessions={len(ids)} connected={connected}\n"
                   + normalize_mt(rest, ZxidLabels()))
        want.append(f"$ {cmd}\nrc=0 sessions=1 connected=1\nBatch mode: {cmd}\n{out}")
        if rc is None:  # did not finish: the rest would only wait out their timeouts too
            break
    assert "".join(got) == "".join(want), "cli_mt batch output differs; raw:\n" + "\n".join(raws)
    assert len(set(session_ids)) == len(expected), f"each run must get a new session id: {session_ids}"


# ---------------------------------------------------------------------------------------------------------
# zkCli.sh
# ---------------------------------------------------------------------------------------------------------

JAVA_STAT_V0 = ("cZxid = Z1\nctime = <date>\nmZxid = Z1\nmtime = <date>\npZxid = Z1\ncversion = 0\n"
                "dataVersion = 0\naclVersion = 0\nephemeralOwner = 0x0\ndataLength = 1\nnumChildren = 0\n")
JAVA_STAT_V1 = ("cZxid = Z1\nctime = <date>\nmZxid = Z2\nmtime = <date>\npZxid = Z1\ncversion = 0\n"
                "dataVersion = 1\naclVersion = 0\nephemeralOwner = 0x0\ndataLength = 1\nnumChildren = 0\n")

# (command, normalised output) as zkCli 3.8.0 prints it against Apache 3.8.0 (stdout and stderr merged;
# `Created /a` and the error messages are on stderr).
ZK_SEQUENCE = [
    ("ls /", "[zookeeper]\n"),
    ("create /a x", "Created /a\n"),
    ("ls /", "[a, zookeeper]\n"),
    ("create /a x", "Node already exists: /a\n"),
    ("get -s /a", "x\n" + JAVA_STAT_V0),
    ("set /a y", ""),
    ("stat /a", JAVA_STAT_V1),
    ("get /a", "y\n"),
    ("delete /a", ""),
    ("ls /", "[zookeeper]\n"),
    ("stat /a", "Node does not exist: /a\n"),
]


def test_zkcli_interactive_session(zkcli, shell_server):
    """One zkCli session (one JVM) through stdin: ls, create, get -s, set, stat, get, delete and two errors.

    Checks the data, the `Created /a` line, the Stat blocks (dataVersion 1 after set, czxid/pzxid unchanged,
    new mzxid) and the error texts, exactly as ZooKeeper's shell prints them.
    """
    started = datetime.now(UTC)
    with ZkCli(zkcli, shell_server.hosts) as sh:
        steps_ok, _ = sh.wait_ready()
        for cmd, _ in ZK_SEQUENCE:
            if not steps_ok:
                break
            steps_ok, _ = sh.run(cmd)
        rc = None
        if steps_ok:
            rc, _ = sh.quit()
        raw = render(sh.transcript)

    zxids = ZxidLabels()
    got = render(sh.transcript, lambda seg: normalize_java(seg.replace(shell_server.hosts, "<server>"), zxids))
    expected = ("> <connect>\nConnecting to <server>\n\nWATCHER::\n\n"
                "WatchedEvent state:SyncConnected type:None path:null\n"
                "Welcome to ZooKeeper!\nJLine support is disabled\n"
                + "".join(f"> {cmd}\n{out}" for cmd, out in ZK_SEQUENCE)
                + "> quit\n\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n")
    assert got == expected, f"zkCli transcript differs; raw transcript:\n{raw}"
    assert rc == 0, f"zkCli did not exit cleanly after quit (rc={rc}); raw transcript:\n{raw}"

    assert zxids.increasing(), f"zxids not increasing in order of appearance: {zxids.order}"
    created, after_set = parse_java_stats(raw)
    assert_wall_clock(created["ctime"], started, "ctime of /a")
    assert created["mtime"] == created["ctime"], "a fresh znode has mtime == ctime"
    assert after_set["ctime"] == created["ctime"]
    assert after_set["mtime"] >= created["ctime"]


def test_zkcli_single_command_mode(zkcli, shell_server):
    """`zkCli.sh -server host:port cmd args` runs one command and exits: 0 on success, 1 on a failed command.

    Scripts depend on this exit status; kept to two JVM starts.
    """
    # The SyncConnected event is printed by the client's event thread, concurrently with the command's
    # own output, so the command's lines are compared without the banner lines.
    banner = re.compile(r"^(Connecting to .*|WATCHER::|"
                        r"WatchedEvent state:SyncConnected type:None path:null|)$")

    def lines(out: str) -> list[str]:
        return [line for line in out.splitlines() if not banner.match(line)]

    rc, out = run_zkcli_once(zkcli, shell_server.hosts, "ls", "/")
    assert (rc, lines(out)) == (0, ["[zookeeper]"]), f"zkCli.sh ls / (rc={rc}) printed:\n{out}"
    assert "WatchedEvent state:SyncConnected type:None path:null" in out, f"no connect event:\n{out}"
    rc, out = run_zkcli_once(zkcli, shell_server.hosts, "get", "/missing")
    assert (rc, lines(out)) == (1, ["Node does not exist: /missing"]), \
        f"zkCli.sh get /missing (rc={rc}) printed:\n{out}"
