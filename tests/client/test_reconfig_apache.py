"""reconfig through corral's client and shell against a 3-member Apache ZooKeeper 3.8 ensemble.

The ensemble runs with `reconfigEnabled=true` and `zookeeper.skipACL=yes` (reconfig otherwise needs a
super user or an ACL on /zookeeper/config). The shell test runs one sequence of reconfig commands —
remove a member, add it back, turn it into an observer (with `-s`), the bulk `-members` and `-file`
forms, a stale `-v`, malformed specs and argument errors — through zkCli and then through
`corral shell`, each leaving the membership as it found it, and compares the transcripts with the
configuration versions relabelled. The client test drives `Client.reconfig` and checks that a client
with `follow_config=True` changes its server list with the membership.

The fixture is parametrized over the server kind so that the same tests run against corral once its
server has reconfig; until then the corral case skips and says why (issue 11).
"""

from __future__ import annotations

import asyncio
import difflib
import re
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from corral.client import (
    BadArgumentsError,
    BadVersionError,
    Client,
    ConnectionLossError,
    EventType,
    KeeperError,
    ReconfigDisabledError,
    WatchedEvent,
    parse_membership,
)
from tests.ensemble.cluster import Ensemble
from tests.shell.drivers import JAVA_ONLY, CorralShell
from tests.support.apache import CLASSPATH_EXTRA, ZK_JAR, require, require_zkcli
from tests.support.apache_ensemble import ApacheEnsemble, ApacheMember
from tests.support.shells import ZkCli, ZxidLabels, normalize_java, render
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow
T = TypeVar("T")

@pytest.fixture
def zkcli() -> str:
    """Path of zkCli.sh (requested before the ensemble, so that a missing zkCli skips first)."""
    return require_zkcli()


RECONFIG_STEP = 30.0  # one reconfig commits in well under a second; bounded generously for a loaded host
FOLLOW_WAIT = 20.0  # the config watch fires at the commit; the client applies it at once


@pytest.fixture(scope="module", params=[pytest.param("apache", marks=pytest.mark.compat), "corral"])
def ensemble(request, tmp_path_factory):
    """A 3-member ensemble that allows reconfig, one per module and kind."""
    if request.param == "corral":
        ens = Ensemble(tmp_path_factory.mktemp("reconfig"), extra_cfg={"reconfigEnabled": "true", "skipACL": "yes"})
    else:
        ens = ApacheEnsemble(tmp_path_factory.mktemp("reconfig"), extra_cfg={"reconfigEnabled": "true"},
                             jvm_props={"zookeeper.skipACL": "yes"})
    ens.start()
    yield ens
    ens.close()


def original_members(ens: ApacheEnsemble) -> list[str]:
    return [ens.member_line(m) for m in ens.members]


def roles(config: bytes) -> dict[int, str]:
    return {m.sid: "observer" if m.observer else "participant" for m in parse_membership(config).members}


async def restore(zk: Client, ens: ApacheEnsemble) -> None:
    """Put the original membership back if a test changed it (bulk reconfig)."""
    data, _ = await settled(zk, zk.get_config)
    if roles(data) != {m.sid: "participant" for m in ens.members}:
        await settled(zk, lambda: zk.reconfig(new_members=original_members(ens)))


async def settled(zk: Client, call: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run `call`, retrying after ConnectionLoss: a membership change may move the client to another
    server (follow_config) or make Apache restart the changed member's service, and a call in flight
    then fails as after any connection loss. Every call retried here has the same outcome when
    repeated (a membership that is already so stays so)."""
    for attempt in range(attempts):
        await zk.wait_connected(FOLLOW_WAIT)
        try:
            return await call()
        except ConnectionLossError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # bounded by the deadline
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_client_reconfig_and_follow_config(ensemble: ApacheEnsemble) -> None:
    m1, m2, m3 = ensemble.members
    everyone = {(m.host, m.port) for m in ensemble.members}
    events: list[WatchedEvent] = []
    async with Client(ensemble.hosts, timeout=10, follow_config=True) as zk:
        try:
            data, stat = await zk.get_config()
            assert roles(data) == {1: "participant", 2: "participant", 3: "participant"}
            await wait_for(lambda: set(zk.hosts) == everyone, FOLLOW_WAIT, "the initial membership")
            version = int(parse_membership(data).version, 16)
            await zk.get_config(events.append)  # a plain one-shot watch fires on the change too

            try:
                data, stat = await zk.reconfig(leaving=["3"], from_config=version)
            except ConnectionLossError:  # connected to member 3, which drops its clients when removed
                data, stat = await settled(zk, zk.get_config)  # the answer was lost, not the change
            assert roles(data) == {1: "participant", 2: "participant"}
            assert int(parse_membership(data).version, 16) == stat.mzxid > version
            await wait_for(lambda: set(zk.hosts) == everyone - {(m3.host, m3.port)}, FOLLOW_WAIT,
                           "the client to drop the removed member")
            await zk.wait_connected(FOLLOW_WAIT)  # it may be moving right now (its server may have left)
            assert zk.connected_to in {(m1.host, m1.port), (m2.host, m2.port)}
            assert [(e.type, e.path) for e in events] == [(EventType.NodeDataChanged, "/zookeeper/config")]

            with pytest.raises(BadVersionError):  # the version it started from is stale now
                await settled(zk, lambda: zk.reconfig(joining=ensemble.member_line(m3), from_config=version))

            data, _ = await settled(zk, lambda: zk.reconfig(joining=ensemble.member_line(m3)))
            assert roles(data) == {1: "participant", 2: "participant", 3: "participant"}
            await wait_for(lambda: set(zk.hosts) == everyone, FOLLOW_WAIT, "the client to add the member back")

            data, _ = await settled(zk, lambda: zk.reconfig(joining=ensemble.member_line(m3, "observer")))
            assert roles(data)[3] == "observer"
            assert set(zk.hosts) == everyone  # clients may use observers too

            data, _ = await settled(zk, lambda: zk.reconfig(new_members=original_members(ensemble)))
            assert roles(data) == {1: "participant", 2: "participant", 3: "participant"}

            before, _ = await settled(zk, zk.get_config)
            for bad in ("server.5=garbage", "foo", "server.6=127.0.0.1:1:1;127.0.0.1:2"):
                with pytest.raises(BadArgumentsError):
                    await settled(zk, lambda bad=bad: zk.reconfig(joining=bad))
            with pytest.raises(KeeperError) as e:  # Apache answers MarshallingError for a non-numeric id
                await settled(zk, lambda: zk.reconfig(leaving="abc"))
            assert not isinstance(e.value, ConnectionLossError)
            assert (await settled(zk, zk.get_config))[0] == before
            session = zk.session_id
            await settled(zk, lambda: zk.create("/after-reconfig", b"x"))
            await settled(zk, lambda: zk.delete("/after-reconfig"))
            assert zk.session_id == session  # one session through all of it
        finally:
            await restore(zk, ensemble)


# ---- the shell, side by side with zkCli -------------------------------------------------------------

_VERSION = re.compile(r"(?m)^(version=)([0-9a-f]+)$|^()([0-9a-f]+)(?= \S+:\d+(?:,|$))")


def normalize(text: str) -> str:
    """Configuration versions (`version=` lines and the head of `config -c`) and zxids relabelled by first
    appearance; dates replaced."""
    labels: dict[str, str] = {}

    def label(m: re.Match) -> str:
        prefix, version = (m[1], m[2]) if m[2] else (m[3], m[4])
        return prefix + labels.setdefault(version, f"V{len(labels) + 1}")

    return normalize_java(_VERSION.sub(label, text), ZxidLabels())


def shell_commands(ens: ApacheEnsemble, target: ApacheMember, tmp: Path) -> list[str]:
    """The sequence both shells run; it changes only `target` and ends with the original membership."""
    good = tmp / "members.cfg"
    good.write_text("".join(f"{line}\n" for line in original_members(ens)))
    bad = tmp / "bad.cfg"
    bad.write_text(f"{original_members(ens)[0]}\nclientPort=2181\n")
    return [
        "config",
        f"reconfig -remove {target.sid}",
        f"reconfig -add {ens.member_line(target)}",
        f"reconfig -s -add {ens.member_line(target, 'observer')}",
        "config -c",
        f"reconfig -members {','.join(original_members(ens))}",
        f"reconfig -v 1 -remove {target.sid}",
        "reconfig -add server.5=garbage",
        "reconfig -add foo",
        "reconfig -remove abc",
        "reconfig",
        f"reconfig -v zz -remove {target.sid}",
        "reconfig -members x -add y",
        "reconfig -file a -members b",
        f"reconfig -file {tmp / 'missing.cfg'}",
        f"reconfig -file {bad}",
        f"reconfig -file {good}",
    ]


def run_shell(shell, commands: list[str]) -> tuple[bool, list[tuple[str, str]]]:
    ok, _ = shell.wait_ready()
    for cmd in commands:
        if not ok:
            break
        ok, _ = shell.run(cmd, timeout=RECONFIG_STEP)
    if ok:
        shell.quit()
    return ok, shell.transcript


def test_shell_reconfig_matches_zkcli(zkcli: str, ensemble: ApacheEnsemble, tmp_path: Path) -> None:
    # Only a follower is changed, and both shells talk to the leader: changing the leader's own
    # membership hands leadership over (a new epoch, dropped connections), and the two transcripts
    # would then differ by connection events that have nothing to do with the shells.
    wait_until(lambda: sorted(m.mode() for m in ensemble.members) == ["follower", "follower", "leader"],
               RECONFIG_STEP, "the ensemble to settle on one leader")
    leader = ensemble.leader()
    target = next(m for m in ensemble.members if m is not leader)
    hosts = leader.hosts
    commands = shell_commands(ensemble, target, tmp_path)
    with ZkCli(zkcli, hosts) as sh:
        zk_ok, zk_tr = run_shell(sh, commands)
    assert zk_ok, f"zkCli did not finish the sequence:\n{render(zk_tr)}"
    with CorralShell(hosts) as sh:
        co_ok, co_tr = run_shell(sh, commands)
    assert co_ok, f"corral shell did not finish the sequence:\n{render(co_tr)}"
    zk_text = render(zk_tr, lambda seg: normalize(JAVA_ONLY.sub("", seg)))
    co_text = render(co_tr, normalize)
    diff = "".join(difflib.unified_diff(zk_text.splitlines(True), co_text.splitlines(True), "zkCli", "corral shell"))
    assert co_text == zk_text, f"corral shell and zkCli differ:\n{diff}"
    assert "Committed new configuration:" in co_text and "version No is not valid : " in co_text


CURATOR_JARS = [Path("/usr/share/java") / f"{j}.jar" for j in ("curator-framework", "curator-client", "guava")]


def test_curator_tracks_the_ensemble(ensemble: ApacheEnsemble, tmp_path: Path) -> None:
    """Curator's EnsembleTracker (ensembleTracker(true)) follows /zookeeper/config: connected through one
    member, its connection string grows to the three, loses the member a reconfig removes (Curator's own
    reconfig builder), and gets it back."""
    require("Apache Curator (Debian package libcurator-framework-java) and a JDK",
            all(j.exists() for j in CURATOR_JARS) and shutil.which("javac") is not None,
            "install with: sudo apt-get install -y libcurator-framework-java (or run `make test-deps`)")
    src = Path(__file__).parent / "java" / "EnsembleTracking.java"
    cp = ":".join(map(str, [*CURATOR_JARS, ZK_JAR, *CLASSPATH_EXTRA, "/usr/share/java/slf4j-api.jar"]))
    subprocess.run(["javac", "-d", str(tmp_path), "-cp", cp, str(src)], check=True, timeout=120)
    m1, _, m3 = ensemble.members
    p = subprocess.run(["java", "-cp", f"{tmp_path}:{cp}", "EnsembleTracking", m1.hosts, str(m3.sid),
                        ensemble.member_line(m3)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    everyone = ",".join(sorted(m.hosts for m in ensemble.members))
    without = ",".join(sorted(m.hosts for m in ensemble.members if m is not m3))
    assert p.stdout.splitlines() == [f"initial {everyone}", f"removed {without}", f"restored {everyone}"]


async def test_follow_config_on_a_standalone_server_keeps_the_list(corral_server) -> None:
    """A standalone server's /zookeeper/config names no members: the client keeps the list it was given."""
    async with Client(corral_server.hosts, timeout=10, follow_config=True) as zk:
        await zk.create("/follow", b"x")
        data, _ = await zk.get_config()
        assert parse_membership(data).client_hosts() == []
        assert zk.hosts == ((corral_server.host, corral_server.port),)
        await zk.delete("/follow")


async def test_reconfig_disabled_is_reported(apache_server) -> None:
    """Without reconfigEnabled=true, Apache refuses before looking at anything else: ReconfigDisabled."""
    async with Client(apache_server.hosts, timeout=10) as zk:
        with pytest.raises(ReconfigDisabledError):
            await zk.reconfig(leaving="1")
