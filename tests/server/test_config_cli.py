"""`corral server FILE` and `corral config check FILE` as real processes: a bad configuration or data
directory is exactly one line on stderr (`corral: bad configuration: ...` / `corral: bad data
directory: ...`), exit code 2, never a traceback; a good one starts, with -D flags from SERVER_JVMFLAGS
taking effect and zoo.cfg winning over them; Java-properties separators are accepted as by Apache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ApacheZooKeeper, CorralProcess

pytestmark = pytest.mark.slow

ENSEMBLE = "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SERVER_JVMFLAGS", "JVMFLAGS")}
    return {**env, **extra}


def corral(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corral", *args], capture_output=True, text=True, timeout=60,
                          env=env or _env(), cwd=cwd, stdin=subprocess.DEVNULL)


# (name, zoo.cfg text with {d} for a scratch directory, myid or None, expected stderr line with {d}/{cfg})
BAD = [
    ("port_range", "dataDir={d}/data\nclientPort=99999\n", None,
     "corral: bad configuration: {cfg}:2: clientPort: 99999 is not a port (1-65535)"),
    ("server_a", "dataDir={d}/data\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\n"
                 "server.a=127.0.0.1:2889:3889\n", None,
     "corral: bad configuration: {cfg}:6: server.a: server id 'a' is not a number (server.N with N in 0-255)"),
    ("no_datadir", "clientPort=2181\n", None, "corral: bad configuration: {cfg}: dataDir: not set (required, as in "
                                              "ZooKeeper)"),
    ("myid_missing", "dataDir={d}/data\nclientPort=2181\n" + ENSEMBLE, None,
     "corral: bad configuration: {d}/data/myid: missing: an ensemble member needs its server id here (one of 1, 2)"),
    ("myid_garbage", "dataDir={d}/data\nclientPort=2181\n" + ENSEMBLE, "\x00zz\n",
     "corral: bad configuration: {d}/data/myid: not a server id: '\\x00zz' (expected one of 1, 2)"),
    ("myid_unknown", "dataDir={d}/data\nclientPort=2181\n" + ENSEMBLE, "7\n",
     "corral: bad configuration: {d}/data/myid: id 7 has no server.7 line in {cfg} (servers: 1, 2)"),
    ("only_observers", "dataDir={d}/data\nclientPort=2181\nserver.1=127.0.0.1:2888:3888:observer\n"
                       "server.2=127.0.0.1:2889:3889:observer\n", None,
     "corral: bad configuration: {cfg}:3: server.1: every server line is an observer: an ensemble needs voting "
     "participants"),
    ("duplicate_server", "dataDir={d}/data\nclientPort=2181\n" + ENSEMBLE + "server.1=127.0.0.1:2890:3890\n", None,
     "corral: bad configuration: {cfg}:7: server.1: server.1 is already defined on line 5"),
    ("shared_port", "dataDir={d}/data\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\n"
                    "server.2=127.0.0.1:3888:3889\n", None,
     "corral: bad configuration: {cfg}:6: server.2: quorum port 127.0.0.1:3888 is already server.1's (line 5) "
     "election port"),
    ("skipacl_true", "dataDir={d}/data\nclientPort=2181\nskipACL=true\n", None,
     "corral: bad configuration: {cfg}:3: skipACL: write yes or no, not 'true' (ZooKeeper compares the exact "
     "string: anything but 'yes' means no)"),
    ("ticktime_zero", "dataDir={d}/data\nclientPort=2181\ntickTime=0\n", None,
     "corral: bad configuration: {cfg}:3: tickTime: must be at least 1, not 0"),
    ("tls", "dataDir={d}/data\nclientPort=2181\nquorum.auth.kerberos.servicePrincipal=zk/h\n", None,
     "corral: bad configuration: {cfg}:3: quorum.auth.kerberos.servicePrincipal: corral does not implement this "
     "security setting; refusing to run without it"),
    ("tls_without_keystore", "dataDir={d}/data\nclientPort=2181\nsecureClientPort=2281\n", None,
     "corral: bad configuration: {cfg}:3: secureClientPort: needs ssl.keyStore.location (the server's key and "
     "certificate)"),
    ("escaped_newline", "dataDir={d}/data\nclientPort=21\\n81\n", None,
     "corral: bad configuration: {cfg}:2: clientPort: not an integer: '21\\n81'"),
    ("datadir_is_a_file", "dataDir={d}/file\nclientPort=2181\n", None,
     "corral: bad data directory: dataDir={d}/file: not a directory"),
    ("datalogdir_is_a_file", "dataDir={d}/data\ndataLogDir={d}/file\nclientPort=2181\n", None,
     "corral: bad data directory: dataLogDir={d}/file: not a directory"),
]

# What only a start can find (config check does not create or lock directories).
BAD_AT_START = [
    ("datadir_uncreatable", "dataDir=/proc/self/corral-data\nclientPort={port}\n",
     "corral: bad data directory: dataDir=/proc/self/corral-data: cannot be created: No such file or directory"),
    ("datadir_unwritable", "dataDir=/proc/self\nclientPort={port}\n",
     "corral: bad data directory: dataDir=/proc/self: not writable (cannot create corral.lock: No such file or "
     "directory)"),
    ("autocreate_off", "dataDir={d}/absent\nclientPort={port}\ndatadir.autocreate=false\n",
     "corral: bad data directory: dataDir={d}/absent: does not exist (and zookeeper.datadir.autocreate=false)"),
]


def _write(tmp_path: Path, text: str, myid: str | None) -> Path:
    (tmp_path / "file").write_text("not a directory\n")
    if myid is not None:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "myid").write_text(myid)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(text.format(d=tmp_path, port=_free_port()))
    return cfg


def _free_port() -> int:
    from tests.support.server import free_port
    return free_port()


def _one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [expected], result.stderr
    assert result.returncode == 2


@pytest.mark.parametrize("name,text,myid,expected", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("command", ["server", "config check"])
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, command, name, text, myid, expected):
    cfg = _write(tmp_path, text, myid)
    result = corral(*command.split(), str(cfg))
    _one_line(result, expected.format(d=tmp_path, cfg=cfg))


@pytest.mark.parametrize("name,text,expected", BAD_AT_START, ids=[b[0] for b in BAD_AT_START])
def test_bad_data_directory_at_start(tmp_path, name, text, expected):
    cfg = _write(tmp_path, text, None)
    _one_line(corral("server", str(cfg)), expected.format(d=tmp_path))


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.cfg"
    for command in (["server"], ["config", "check"]):
        _one_line(corral(*command, str(missing)),
                  f"corral: bad configuration: {missing}: cannot read: No such file or directory")


def test_bad_jvm_flag_in_the_environment(tmp_path):
    cfg = _write(tmp_path, "dataDir={d}/data\nclientPort=2181\n", None)
    result = corral("config", "check", str(cfg), env=_env(SERVER_JVMFLAGS="-Xmx1g -Djute.maxbuffer=lots"))
    _one_line(result, "corral: bad configuration: SERVER_JVMFLAGS: jute.maxbuffer: not an integer: 'lots'")


def test_unknown_log_level_is_refused(tmp_path):
    result = corral("server", "--log-level", "bogus", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'bogus' is not one of" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_config_check_success_and_explain(tmp_path):
    cfg = _write(tmp_path, "dataDir: {d}/data\nclientPort 35270\ntickTime=1000\n", None)
    result = corral("config", "check", str(cfg), env=_env(SERVER_JVMFLAGS="-Xmx1g -Djute.maxbuffer=4096"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{cfg}: OK: standalone, clients on 0.0.0.0:35270, dataDir={tmp_path}/data, dataLogDir={tmp_path}/data"]
    result = corral("config", "check", "--explain", str(cfg), env=_env(SERVER_JVMFLAGS="-Djute.maxbuffer=4096"))
    lines = result.stdout.splitlines()
    assert f"tickTime=1000  ({cfg}:3)" in lines
    assert "jute.maxbuffer=4096  ($SERVER_JVMFLAGS)" in lines
    assert "maxClientCnxns=60  (default)" in lines
    assert not (tmp_path / "data").exists()  # checking creates nothing


def test_config_check_of_an_ensemble_member(tmp_path):
    cfg = _write(tmp_path, "dataDir={d}/data\nclientPort=2181\n" + ENSEMBLE, "2\n")
    result = corral("config", "check", str(cfg))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{cfg}: OK: ensemble member 2 (participant) of 2 voters and 0 observers")


class _Separators:
    """zoo.cfg written with the other Java-properties separators: `dataDir: x`, `clientPort 35270`."""

    def config_lines(self) -> list[str]:
        lines = []
        for k, v in self.config().items():  # type: ignore[attr-defined]
            lines.append(f"{k}: {v}" if k == "dataDir" else f"{k} {v}" if k == "clientPort" else f"{k}={v}")
        return lines


class SeparatorCorral(_Separators, CorralProcess):
    pass


class SeparatorApache(_Separators, ApacheZooKeeper):
    pass


@pytest.mark.parametrize("cls", [SeparatorCorral, SeparatorApache], ids=["corral", "apache"])
def test_java_separators_are_accepted_like_apache(cls):
    with cls() as srv:
        text = srv.cfg_path.read_text()
        assert f"clientPort {srv.port}\n" in text and "dataDir: " in text
        assert srv.four_letter("ruok") == "imok"
        assert f"clientPort={srv.port}" in srv.four_letter("conf")


class JvmFlagsCorral(CorralProcess):
    jvm_flags = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), "SERVER_JVMFLAGS": self.jvm_flags}


def test_server_jvmflags_take_effect_and_zoo_cfg_wins():
    from kazoo.client import KazooClient
    from kazoo.exceptions import ConnectionLoss, NoAuthError
    from kazoo.security import make_digest_acl

    srv = JvmFlagsCorral()
    srv.jvm_flags = "-Xmx1g -XX:+UseG1GC -Djute.maxbuffer=2000 -Dzookeeper.skipACL=yes"
    with srv:
        log = srv.log()
        assert "event=jvm_flag_ignored var=SERVER_JVMFLAGS flag=-Xmx1g reason=jvm_option" in log
        assert "jute.maxbuffer=2000" in log  # the serving line
        conf = srv.four_letter("conf")  # conf says where each setting came from
        assert " jute.maxbuffer from $SERVER_JVMFLAGS\n" in conf and " skipACL from $SERVER_JVMFLAGS\n" in conf
        assert f" clientPort from {srv.cfg_path}:" in conf
        zk = KazooClient(hosts=srv.hosts, timeout=10)
        zk.start(timeout=30)
        try:
            zk.create("/locked", b"x", acl=[make_digest_acl("u", "p", all=True)])
            assert zk.get("/locked")[0] == b"x"  # skipACL=yes: no one is refused
            with pytest.raises(ConnectionLoss):  # a request above jute.maxbuffer closes the connection
                zk.create("/big", b"y" * 4000)
        finally:
            zk.stop()
            zk.close()
    srv = JvmFlagsCorral(extra_cfg={"skipACL": "no"})
    srv.jvm_flags = "-Dzookeeper.skipACL=yes"
    with srv:
        assert f" skipACL from {srv.cfg_path}:" in srv.four_letter("conf")  # zoo.cfg wins
        zk = KazooClient(hosts=srv.hosts, timeout=10)
        zk.start(timeout=30)
        try:
            zk.create("/locked", b"x", acl=[make_digest_acl("u", "p", read=True)])
            with pytest.raises(NoAuthError):
                zk.set("/locked", b"z")
        finally:
            zk.stop()
            zk.close()


class BadApache(ApacheZooKeeper):
    """Apache ZooKeeper with its zoo.cfg lines edited (`drop` keys removed, `add` lines appended)."""

    drop: tuple[str, ...] = ()
    add: tuple[str, ...] = ()

    def config_lines(self) -> list[str]:
        lines = [line for line in super().config_lines() if line.split("=", 1)[0] not in self.drop]
        return lines + list(self.add)


@pytest.mark.compat
@pytest.mark.parametrize("drop,add", [
    (("clientPort",), ("clientPort=99999",)),
    ((), ("initLimit=5", "syncLimit=2", "server.1=127.0.0.1:2888:3888", "server.a=127.0.0.1:2889:3889")),
], ids=["port_range", "server_a"])
def test_apache_refuses_these_too(drop, add):
    """corral's refusals above are ZooKeeper's own (QuorumPeerMain exits with 2), only explained better."""
    srv = BadApache()
    srv.drop, srv.add = drop, add
    try:
        srv.start(wait=False)
        assert srv.proc is not None
        assert srv.proc.wait(60) == 2
        assert "Invalid config, exiting abnormally" in srv.log()
    finally:
        srv.close()
