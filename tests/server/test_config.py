"""zoo.cfg parsing: an existing Apache ZooKeeper config must work unchanged (reference §3.1).

Unknown keys only warn (ZooKeeper turns them into system properties), bad values fail with the key in
the message so an operator can find the line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral.server.config import ConfigError, ServerConfig, ServerSpec, load, parse

ZOO_CFG = """\
# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
dataLogDir = /var/log/zookeeper-txn
clientPort=2181
clientPortAddress=127.0.0.1
maxClientCnxns=100
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
4lw.commands.whitelist=stat, ruok, conf, isro
admin.enableServer=false
forceSync=no
snapCount=50000
jute.maxbuffer=0x200000
zookeeper.skipACL=yes
extendedTypesEnabled=true
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
server.1=zk1.example.com:2888:3888
server.2=zk2.example.com:2888:3888:participant;2181
server.3=zk3.example.com:2888:3888:observer;0.0.0.0:2182
"""


def test_typical_zoo_cfg():
    cfg = parse(ZOO_CFG, "zoo.cfg")
    assert cfg.source == "zoo.cfg"
    assert (cfg.tick_time, cfg.init_limit, cfg.sync_limit) == (2000, 10, 5)
    assert cfg.data_dir == Path("/var/lib/zookeeper")
    assert cfg.data_log_dir == Path("/var/log/zookeeper-txn") and cfg.log_dir == cfg.data_log_dir
    assert (cfg.client_port, cfg.client_port_address, cfg.max_client_cnxns) == (2181, "127.0.0.1", 100)
    assert (cfg.snap_retain_count, cfg.purge_interval, cfg.snap_count) == (5, 24, 50000)
    assert cfg.force_sync is False
    assert cfg.jute_max_buffer == 0x200000
    assert cfg.skip_acl is True and cfg.extended_types is True
    assert cfg.super_digest == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    assert cfg.four_letter_whitelist == frozenset({"stat", "ruok", "conf", "isro"})


def test_server_lines():
    """server.N=host:peer:election[:participant|observer][;[clientAddr:]clientPort]."""
    servers = parse(ZOO_CFG).servers
    assert servers == {
        1: ServerSpec(1, "zk1.example.com", 2888, 3888, observer=False, client_addr=None, client_port=None),
        2: ServerSpec(2, "zk2.example.com", 2888, 3888, observer=False, client_addr=None, client_port=2181),
        3: ServerSpec(3, "zk3.example.com", 2888, 3888, observer=True, client_addr="0.0.0.0", client_port=2182),
    }


def test_defaults():
    """min/max session timeout default to 2x / 20x tickTime; the 4lw whitelist defaults to srvr only."""
    cfg = parse("")
    assert cfg.tick_time == 2000
    assert (cfg.min_timeout, cfg.max_timeout) == (4000, 40000)
    assert cfg.log_dir == cfg.data_dir
    assert cfg.four_letter_allowed("srvr")
    assert not cfg.four_letter_allowed("stat")
    assert not cfg.four_letter_allowed("ruok")
    assert cfg.servers == {}
    assert cfg.snap_retain_count == 3 and cfg.max_client_cnxns == 60
    cfg = parse("tickTime=3000")
    assert (cfg.min_timeout, cfg.max_timeout) == (6000, 60000)


def test_explicit_session_timeouts():
    cfg = parse("tickTime=2000\nminSessionTimeout=1000\nmaxSessionTimeout=120000\n")
    assert (cfg.min_timeout, cfg.max_timeout) == (1000, 120000)
    # only one given: the other keeps its tickTime-derived default
    cfg = parse("tickTime=1000\nmaxSessionTimeout=5000\n")
    assert (cfg.min_timeout, cfg.max_timeout) == (2000, 5000)


def test_four_letter_whitelist_star():
    cfg = parse("4lw.commands.whitelist=*")
    for cmd in ("srvr", "stat", "ruok", "mntr", "wchc", "dump"):
        assert cfg.four_letter_allowed(cmd)
    assert parse("4lw.commands.whitelist=ruok, *").four_letter_allowed("mntr")


def test_four_letter_whitelist_list_trims_and_ignores_empty_items():
    cfg = parse("4lw.commands.whitelist= ruok ,, mntr ,")
    assert cfg.four_letter_whitelist == frozenset({"ruok", "mntr"})
    assert cfg.four_letter_allowed("mntr") and not cfg.four_letter_allowed("stat")


def test_srvr_is_always_whitelisted():
    """BUG (reported): ZooKeeper always adds "srvr" to the whitelist ("zkServer.sh depends on srvr",
    FourLetterCommands.isEnabled; verified on 3.8.0: with whitelist=ruok, srvr is enabled, stat is not).
    corral replaces the default set with the configured list, so `zkServer.sh status` breaks on a
    zoo.cfg that whitelists e.g. only ruok."""
    cfg = parse("4lw.commands.whitelist=ruok")
    assert cfg.four_letter_allowed("ruok")
    assert not cfg.four_letter_allowed("stat")
    assert cfg.four_letter_allowed("srvr")
    assert parse("4lw.commands.whitelist=").four_letter_allowed("srvr")


def test_zookeeper_prefixed_keys_are_accepted():
    """Keys that are Java system properties work with or without the `zookeeper.` prefix."""
    cfg = parse("zookeeper.skipACL=true\nzookeeper.extendedTypesEnabled=yes\n"
                "zookeeper.DigestAuthenticationProvider.superDigest=s:x\nzookeeper.jute.maxbuffer=4096\n")
    assert cfg.skip_acl and cfg.extended_types and cfg.super_digest == "s:x" and cfg.jute_max_buffer == 4096


def test_snap_retain_count_minimum_is_three():
    assert parse("autopurge.snapRetainCount=1").snap_retain_count == 3


def test_comments_blank_lines_and_whitespace():
    cfg = parse("\n   # comment\n\n  tickTime =  1500  \n#clientPort=1\n")
    assert cfg.tick_time == 1500 and cfg.client_port == 2181


def test_unknown_keys_warn_but_are_not_fatal(caplog):
    with caplog.at_level(logging.INFO, logger="corral.config"):
        cfg = parse("tickTime=2000\nsomeFutureKey=1\nthis line has no equals sign\nadmin.serverPort=8080\n",
                    "my.cfg")
    assert cfg.tick_time == 2000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = "\n".join(r.getMessage() for r in warnings)
    assert "someFutureKey" in text
    assert "no_equals" in text
    assert "my.cfg" in text
    # known-but-unused ZooKeeper keys are not warned about
    assert "admin.serverPort" not in text


@pytest.mark.parametrize("text,key", [
    ("tickTime=abc", "tickTime"),
    ("clientPort=21x81", "clientPort"),
    ("maxClientCnxns=", "maxClientCnxns"),
    ("forceSync=maybe", "forceSync"),
    ("zookeeper.skipACL=perhaps", "zookeeper.skipACL"),
    ("snapCount=1.5", "snapCount"),
    ("server.1=zk1:2888", "server.1"),
    ("server.1=zk1:abc:3888", "server.1"),
    ("server.2=zk1:2888:3888:witness", "server.2"),
    ("server.3=zk1:2888:3888;host:port", "server.3"),
    ("electionAlg=1", "electionAlg"),
    ("tickTime=0", "tickTime"),
    ("jute.maxbuffer=0", "jute.maxbuffer"),
    ("minSessionTimeout=50000\nmaxSessionTimeout=10000", "minSessionTimeout"),
])
def test_bad_values_raise_config_error_naming_the_key(text, key):
    with pytest.raises(ConfigError) as exc:
        parse(text)
    assert key in str(exc.value)


def test_load_reads_file_and_reports_missing(tmp_path):
    p = tmp_path / "zoo.cfg"
    p.write_text("tickTime=1000\nclientPort=2999\n")
    cfg = load(p)
    assert (cfg.tick_time, cfg.client_port, cfg.source) == (1000, 2999, str(p))
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "missing.cfg")
    assert "missing.cfg" in str(exc.value)


def test_embedded_development_config():
    cfg = ServerConfig.embedded()
    assert cfg.client_port_address == "127.0.0.1" and cfg.client_port == 2181
    assert cfg.four_letter_allowed("mntr")
