"""zoo.cfg parsing: an existing Apache ZooKeeper config must work unchanged (reference §3.1), and one
ZooKeeper would refuse (or silently misread) is refused with `FILE:LINE: KEY: what is wrong`.

Unknown keys only warn (ZooKeeper turns them into system properties); bad values, bad server lines,
a missing dataDir and an ensemble without its myid are ConfigErrors naming the file, line and key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral.server.config import ConfigError, ServerConfig, ServerSpec, explain, load, parse
from corral.server.properties import parse_properties

BASE = "dataDir=/d\nclientPort=2181\n"  # what every standalone file needs; tests append to it


def cfg_of(text: str, env: dict[str, str] | None = None) -> ServerConfig:
    return parse(BASE + text, "zoo.cfg", env)

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
    cfg = cfg_of("")
    assert cfg.tick_time == 2000
    assert (cfg.min_timeout, cfg.max_timeout) == (4000, 40000)
    assert cfg.log_dir == cfg.data_dir
    assert cfg.four_letter_allowed("srvr")
    assert not cfg.four_letter_allowed("stat")
    assert not cfg.four_letter_allowed("ruok")
    assert cfg.servers == {}
    assert cfg.snap_retain_count == 3 and cfg.max_client_cnxns == 60
    cfg = cfg_of("tickTime=3000")
    assert (cfg.min_timeout, cfg.max_timeout) == (6000, 60000)


def test_explicit_session_timeouts():
    cfg = cfg_of("tickTime=2000\nminSessionTimeout=1000\nmaxSessionTimeout=120000\n")
    assert (cfg.min_timeout, cfg.max_timeout) == (1000, 120000)
    # only one given: the other keeps its tickTime-derived default
    cfg = cfg_of("tickTime=1000\nmaxSessionTimeout=5000\n")
    assert (cfg.min_timeout, cfg.max_timeout) == (2000, 5000)


def test_four_letter_whitelist_star():
    cfg = cfg_of("4lw.commands.whitelist=*")
    for cmd in ("srvr", "stat", "ruok", "mntr", "wchc", "dump"):
        assert cfg.four_letter_allowed(cmd)
    assert cfg_of("4lw.commands.whitelist=ruok, *").four_letter_allowed("mntr")


def test_four_letter_whitelist_list_trims_and_ignores_empty_items():
    cfg = cfg_of("4lw.commands.whitelist= ruok ,, mntr ,")
    assert cfg.four_letter_whitelist == frozenset({"ruok", "mntr"})
    assert cfg.four_letter_allowed("mntr") and not cfg.four_letter_allowed("stat")


def test_srvr_is_always_whitelisted():
    """BUG (reported): ZooKeeper always adds "srvr" to the whitelist ("zkServer.sh depends on srvr",
    FourLetterCommands.isEnabled; verified on 3.8.0: with whitelist=ruok, srvr is enabled, stat is not).
    corral replaces the default set with the configured list, so `zkServer.sh status` breaks on a
    zoo.cfg that whitelists e.g. only ruok."""
    cfg = cfg_of("4lw.commands.whitelist=ruok")
    assert cfg.four_letter_allowed("ruok")
    assert not cfg.four_letter_allowed("stat")
    assert cfg.four_letter_allowed("srvr")
    assert cfg_of("4lw.commands.whitelist=").four_letter_allowed("srvr")


def test_zookeeper_prefixed_keys_are_accepted():
    """Keys that are Java system properties work with or without the `zookeeper.` prefix."""
    cfg = cfg_of("zookeeper.skipACL=yes\nzookeeper.extendedTypesEnabled=true\n"
                "zookeeper.DigestAuthenticationProvider.superDigest=s:x\nzookeeper.jute.maxbuffer=4096\n")
    assert cfg.skip_acl and cfg.extended_types and cfg.super_digest == "s:x" and cfg.jute_max_buffer == 4096


def test_snap_retain_count_minimum_is_three():
    assert cfg_of("autopurge.snapRetainCount=1").snap_retain_count == 3


def test_comments_blank_lines_and_whitespace():
    cfg = cfg_of("\n   # comment\n\n  tickTime =  1500  \n#clientPort=1\n! also a comment\n")
    assert cfg.tick_time == 1500 and cfg.client_port == 2181


def test_unknown_keys_warn_but_are_not_fatal(caplog):
    with caplog.at_level(logging.INFO, logger="corral.config"):
        cfg = parse(BASE + "tickTime=2000\nsomeFutureKey=1\nthisKeyHasNoValue\nadmin.serverPort=8080\n", "my.cfg")
    assert cfg.tick_time == 2000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = "\n".join(r.getMessage() for r in warnings)
    assert "someFutureKey" in text
    assert "thisKeyHasNoValue" in text and "line=5" in text
    assert "my.cfg" in text
    # known-but-unused ZooKeeper keys are not warned about
    assert "admin.serverPort" not in text


@pytest.mark.parametrize("text,key", [
    ("tickTime=abc", "tickTime"),
    ("clientPort=21x81", "clientPort"),
    ("maxClientCnxns=", "maxClientCnxns"),
    ("forceSync=maybe", "forceSync"),
    ("zookeeper.skipACL=perhaps", "zookeeper.skipACL"),
    ("zookeeper.skipACL=true", "zookeeper.skipACL"),
    ("snapCount=1.5", "snapCount"),
    ("server.1=zk1:2888", "server.1"),
    ("server.1=zk1:abc:3888", "server.1"),
    ("server.2=zk1:2888:3888:witness", "server.2"),
    ("server.3=zk1:2888:3888;host:port", "server.3"),
    ("electionAlg=1", "electionAlg"),
    ("tickTime=0", "tickTime"),
    ("jute.maxbuffer=0", "jute.maxbuffer"),
    ("fsync.inlineMaxMicros=-1", "fsync.inlineMaxMicros"),
    ("fsync.inlineMaxMicros=0.5", "fsync.inlineMaxMicros"),
    ("minSessionTimeout=50000\nmaxSessionTimeout=10000", "minSessionTimeout"),
])
def test_bad_values_raise_config_error_naming_the_key(text, key):
    with pytest.raises(ConfigError) as exc:
        cfg_of(text)
    assert key in str(exc.value)
    assert str(exc.value).startswith("zoo.cfg:3: ") or str(exc.value).startswith("zoo.cfg:4: ")


def test_load_reads_file_and_reports_missing(tmp_path):
    p = tmp_path / "zoo.cfg"
    p.write_text("tickTime=1000\nclientPort=2999\ndataDir=/d\n")
    cfg = load(p, env={})
    assert (cfg.tick_time, cfg.client_port, cfg.source) == (1000, 2999, str(p))
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "missing.cfg", env={})
    assert str(exc.value) == f"{tmp_path / 'missing.cfg'}: cannot read: No such file or directory"


def test_embedded_development_config():
    cfg = ServerConfig.embedded()
    assert cfg.client_port_address == "127.0.0.1" and cfg.client_port == 2181
    assert cfg.four_letter_allowed("mntr")


# ---- java.util.Properties syntax -----------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("a=b", [(1, "a", "b")]),
    ("a: b", [(1, "a", "b")]),
    ("a b", [(1, "a", "b")]),
    ("a\tb", [(1, "a", "b")]),
    ("a = = b", [(1, "a", "= b")]),  # only one separator is consumed
    ("a :b", [(1, "a", "b")]),
    ("  a=b  ", [(1, "a", "b  ")]),  # trailing blanks are the value's (zoo.cfg strips them later)
    ("# c\n! c\n\n a=1", [(4, "a", "1")]),
    ("a=1 \\\n    2\nb=3", [(1, "a", "1 2"), (3, "b", "3")]),  # continuation drops the leading blanks
    ("a=1\\\\\nb=2", [(1, "a", "1\\"), (2, "b", "2")]),  # an even number of backslashes: no continuation
    ("# comment \\\nb=2", [(2, "b", "2")]),  # a comment does not continue
    ("a\\=b=c", [(1, "a=b", "c")]),
    ("a\\ b c", [(1, "a b", "c")]),
    ("a=\\t\\u0041\\x", [(1, "a", "\tAx")]),
    ("a=1\r\nb=2\rc=3", [(1, "a", "1"), (2, "b", "2"), (3, "c", "3")]),
    ("key", [(1, "key", "")]),
    ("a=1\na=2", [(1, "a", "1"), (2, "a", "2")]),
])
def test_properties_syntax(text, expected):
    assert [(e.line, e.key, e.value) for e in parse_properties(text)] == expected


def test_java_separators_in_zoo_cfg():
    """`dataDir: x` and `clientPort 35270` are valid zoo.cfg lines for ZooKeeper (Properties.load)."""
    cfg = parse("dataDir: /var/zk\nclientPort 35270\ntickTime\t1000\n", "zoo.cfg")
    assert (cfg.data_dir, cfg.client_port, cfg.tick_time) == (Path("/var/zk"), 35270, 1000)
    assert cfg.origins["clientPort"] == "zoo.cfg:2"


def test_malformed_unicode_escape_names_the_line():
    with pytest.raises(ConfigError) as exc:
        parse("dataDir=/d\nclientPort=1\nsnapCount=\\u12", "f.cfg")
    assert str(exc.value) == "f.cfg:3: malformed \\uxxxx escape"


# ---- errors: one message, FILE:LINE: KEY: what ---------------------------------------------------------

ENSEMBLE = "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n"


@pytest.mark.parametrize("body,message", [
    ("clientPort=99999", "zoo.cfg:3: clientPort: 99999 is not a port (1-65535)"),
    ("clientPort=0", "zoo.cfg:3: clientPort: 0 is not a port (Apache would listen on a random one)"),
    ("clientPort=-5", "zoo.cfg:3: clientPort: -5 is not a port (1-65535)"),
    ("clientPort=2_181", "zoo.cfg:3: clientPort: not an integer: '2_181'"),
    ("tickTime=0", "zoo.cfg:3: tickTime: must be at least 1, not 0"),
    ("tickTime=-1", "zoo.cfg:3: tickTime: must be at least 1, not -1"),
    ("initLimit=0", "zoo.cfg:3: initLimit: must be at least 1, not 0"),
    ("syncLimit=x", "zoo.cfg:3: syncLimit: not an integer: 'x'"),
    ("maxClientCnxns=-1", "zoo.cfg:3: maxClientCnxns: must be at least 0, not -1 (0: unlimited)"),
    ("snapCount=99999999999", "zoo.cfg:3: snapCount: 99999999999 is out of range for a Java int"),
    ("extendedTypesEnabled=yes",
     "zoo.cfg:3: extendedTypesEnabled: not a boolean: 'yes' (Java reads only true or false)"),
    ("standaloneEnabled=on", "zoo.cfg:3: standaloneEnabled: not a boolean: 'on' (Java reads only true or false)"),
    ("skipACL=true", "zoo.cfg:3: skipACL: write yes or no, not 'true' (ZooKeeper compares the exact string: "
                     "anything but 'yes' means no)"),
    ("forceSync=false", "zoo.cfg:3: forceSync: write yes or no, not 'false' (ZooKeeper compares the exact "
                        "string: anything but 'no' means yes)"),
    ("clientPortAddress=not a host", "zoo.cfg:3: clientPortAddress: not an IP address or host name: 'not a host'"),
    ("admin.serverPort=70000", "zoo.cfg:3: admin.serverPort: 70000 is not a port (1-65535)"),
    ("peerType=witness", "zoo.cfg:3: peerType: 'witness' is not one of participant, observer"),
    ("electionAlg=1", "zoo.cfg:3: electionAlg: only electionAlg=3 is supported (as in ZooKeeper 3.6+)"),
    ("minSessionTimeout=9000\nmaxSessionTimeout=5000",
     "zoo.cfg:3: minSessionTimeout: minimum session timeout 9000 ms is larger than the maximum 5000 ms"),
    ("secureClientPort=2281", "zoo.cfg:3: secureClientPort: needs ssl.keyStore.location (the server's key and "
                              "certificate)"),
    ("quorum.auth.kerberos.servicePrincipal=zkquorum/localhost", "zoo.cfg:3: quorum.auth.kerberos.servicePrincipal: "
     "corral does not implement this security setting; refusing to run without it"),
    ("ssl.quorum.crl=true", "zoo.cfg:3: ssl.quorum.crl: corral does not implement this security setting; "
                            "refusing to run without it"),
    ("quorum.auth.serverRequireSasl=true", "zoo.cfg:3: quorum.auth.serverRequireSasl: quorum.auth.enableSasl is "
                                           "disabled, so this cannot be enabled (as in ZooKeeper)"),
    ("quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true",
     "zoo.cfg:4: quorum.auth.serverRequireSasl: quorum.auth.learnerRequireSasl is disabled, so this cannot be "
     "enabled: this member could not join its own ensemble (as in ZooKeeper)"),
    ("server.1=h:2888:3888\nserver.2=g:2888:3888\ninitLimit=5\nsyncLimit=2\nsslQuorum=true",
     "zoo.cfg:7: sslQuorum: needs ssl.quorum.keyStore.location (this member's key and certificate)"),
    ("server.1=h:2888:3888\nserver.2=g:2888:3888\ninitLimit=5\nsyncLimit=2\nquorum.auth.enableSasl=true",
     "zoo.cfg:7: quorum.auth.enableSasl: needs a JAAS file with QuorumServer and QuorumLearner sections "
     "(-Djava.security.auth.login.config=FILE)"),
    ("authProvider.1=com.example.MyAuthenticationProvider",
     "zoo.cfg:3: authProvider.1: authentication provider 'com.example.MyAuthenticationProvider' is not available "
     "in corral (known: org.apache.zookeeper.server.auth.DigestAuthenticationProvider, "
     "org.apache.zookeeper.server.auth.IPAuthenticationProvider, "
     "org.apache.zookeeper.server.auth.SASLAuthenticationProvider, "
     "org.apache.zookeeper.server.auth.X509AuthenticationProvider); refusing to run without it"),
    ("enforce.auth.enabled=true", "zoo.cfg: enforce.auth.schemes: enforce.auth.enabled is true but no scheme is "
                                  "given (as in ZooKeeper)"),
    ("enforce.auth.enabled=true\nenforce.auth.schemes=sasl",
     "zoo.cfg:4: enforce.auth.schemes: authentication scheme sasl is not available: add its authProvider.N line"),
    ("ssl.clientAuth=maybe", "zoo.cfg:3: ssl.clientAuth: 'maybe' is not one of need, want, none"),
    ("ssl.protocol=TLSv1.1", "zoo.cfg:3: ssl.protocol: TLSv1.1 is disabled (as in Java 17 and OpenSSL 3): use "
                             "TLSv1.2 or TLSv1.3"),
    ("java.security.auth.login.config=/nonexistent/jaas.conf",
     "/nonexistent/jaas.conf: java.security.auth.login.config: cannot read: No such file or directory"),
    ("dynamicConfigFile=/nonexistent/zoo.cfg.dynamic",
     "/nonexistent/zoo.cfg.dynamic: cannot read: No such file or directory"),
    ("dynamicConfigFile=/nonexistent/zoo.cfg.dynamic\nserver.1=h:2888:3888",
     "zoo.cfg:4: server.1: must be in the separate dynamic config file (dynamicConfigFile is set)"),
    ("group.1=1:2:3", "zoo.cfg:3: group.1: hierarchical quorums (group/weight) are not supported"),
    # server lines
    ("server.a=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889",
     "zoo.cfg:3: server.a: server id 'a' is not a number (server.N with N in 0-255)"),
    ("server.256=h:1:2", "zoo.cfg:3: server.256: server id 256 is above 255 (session ids keep it in one byte)"),
    ("server.1=h:2888", "zoo.cfg:3: server.1: expected host:peerPort:electionPort[:participant|observer]"
                        "[;[clientAddr:]clientPort], not 'h:2888'"),
    ("server.1=h:2888:99999", "zoo.cfg:3: server.1: 99999 is not a port (1-65535)"),
    ("server.1=h:2888:3888:witness", "zoo.cfg:3: server.1: unknown role 'witness' (participant or observer)"),
    ("server.1=h:2888:3888;h:port", "zoo.cfg:3: server.1: not an integer: 'port'"),
    ("server.1=a|b:2888:3888", "zoo.cfg:3: server.1: several addresses per server (a|b) are not supported"),
    (ENSEMBLE + "server.2=127.0.0.1:2890:3890",
     "zoo.cfg:7: server.2: server.2 is already defined on line 6"),
    ("initLimit=5\nsyncLimit=2\nserver.1=h:2888:3888\nserver.2=h:2888:3889",
     "zoo.cfg:6: server.2: quorum port h:2888 is already server.1's (line 5) quorum port"),
    ("initLimit=5\nsyncLimit=2\nserver.1=h:2888:2888\nserver.2=g:2888:3888",
     "zoo.cfg:5: server.1: election port h:2888 is already this server's quorum port"),
    ("initLimit=5\nsyncLimit=2\nserver.1=h:2888:3888;2181\nserver.2=h:2181:3889",
     "zoo.cfg:6: server.2: quorum port h:2181 is already server.1's (line 5) client port"),
    ("server.1=h:2888:3888:observer\nserver.2=g:2888:3888:observer",
     "zoo.cfg:3: server.1: every server line is an observer: an ensemble needs voting participants"),
    ("server.1=h:2888:3888\nserver.2=g:2888:3888:observer",
     "zoo.cfg:4: server.2: observers need a quorum, but server.1 is the only participant"),
    ("server.1=h:2888:3888\nserver.2=g:2888:3888", "zoo.cfg: initLimit: not set (required for an ensemble, "
                                                   "as in ZooKeeper)"),
])
def test_error_messages(body, message):
    with pytest.raises(ConfigError) as exc:
        cfg_of(body)
    assert str(exc.value) == message


def test_one_participant_with_observers_is_an_ensemble_when_standalone_is_disabled():
    """QuorumPeerConfig.parseDynamicConfig refuses observers of a single participant only when
    standaloneEnabled is true (the single line would run standalone); with it false, it is an ensemble of one."""
    cfg = cfg_of("standaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n"
                 "server.1=h:2888:3888\nserver.2=g:2888:3888:observer")
    assert cfg.is_ensemble
    assert [s.sid for s in cfg.servers.values() if s.observer] == [2]


def test_data_dir_and_client_port_are_required_in_a_file():
    with pytest.raises(ConfigError) as exc:
        parse("clientPort=2181\n", "zoo.cfg")
    assert str(exc.value) == "zoo.cfg: dataDir: not set (required, as in ZooKeeper)"
    with pytest.raises(ConfigError) as exc:
        parse("dataDir=/d\nclientPortAddress=127.0.0.1\n", "zoo.cfg")
    assert str(exc.value) == ("zoo.cfg: clientPort: not set (a standalone server needs it or secureClientPort, "
                              "as in ZooKeeper)")


def test_single_server_line_is_standalone(caplog):
    with caplog.at_level(logging.WARNING, logger="corral.config"):
        cfg = cfg_of("server.1=h:2888:3888")
    assert not cfg.is_ensemble
    assert "event=config_single_server" in caplog.text


def test_duplicate_key_warns_and_last_wins(caplog):
    with caplog.at_level(logging.WARNING, logger="corral.config"):
        cfg = cfg_of("tickTime=1000\nzookeeper.tickTime=3000")
    assert cfg.tick_time == 3000 and cfg.origins["tickTime"] == "zoo.cfg:4"
    assert "event=config_duplicate_key file=zoo.cfg line=4 key=zookeeper.tickTime first_line=3" in caplog.text


def test_snap_count_raised_to_two_like_apache():
    assert cfg_of("snapCount=1").snap_count == 2


def test_extended_types_limit_server_ids():
    with pytest.raises(ConfigError) as exc:
        cfg_of("extendedTypesEnabled=true\ninitLimit=5\nsyncLimit=2\nserver.1=h:1:2\nserver.255=g:1:2")
    assert str(exc.value).startswith("zoo.cfg:3: extendedTypesEnabled: server ids above 254")


# ---- the Java system properties in SERVER_JVMFLAGS / JVMFLAGS ------------------------------------------


def test_jvm_flags_from_the_environment(caplog):
    env = {"SERVER_JVMFLAGS": "-Xmx1g -XX:+UseG1GC -Djute.maxbuffer=4096 -Dzookeeper.skipACL=yes -Dfoo.bar=1",
           "JVMFLAGS": "-Dzookeeper.snapCount=500 -Djute.maxbuffer=8192"}
    with caplog.at_level(logging.INFO, logger="corral.config"):
        cfg = cfg_of("", env)
    assert cfg.skip_acl and cfg.snap_count == 500
    assert cfg.jute_max_buffer == 8192  # JVMFLAGS comes after SERVER_JVMFLAGS on java's command line
    assert cfg.origins["jute.maxbuffer"] == "$JVMFLAGS"
    assert cfg.origins["skipACL"] == "$SERVER_JVMFLAGS"
    logged = [r.getMessage() for r in caplog.records if "jvm_flag_ignored" in r.getMessage()]
    assert logged == ["event=jvm_flag_ignored var=SERVER_JVMFLAGS flag=-Xmx1g reason=jvm_option",
                      "event=jvm_flag_ignored var=SERVER_JVMFLAGS flag=-XX:+UseG1GC reason=jvm_option",
                      "event=jvm_flag_ignored var=SERVER_JVMFLAGS flag=-Dfoo.bar=1 reason=unknown_property"]


def test_zoo_cfg_wins_over_the_environment():
    env = {"SERVER_JVMFLAGS": "-Djute.maxbuffer=4096 -Dzookeeper.skipACL=yes"}
    cfg = cfg_of("jute.maxbuffer=2048\nskipACL=no", env)
    assert cfg.jute_max_buffer == 2048 and not cfg.skip_acl
    assert cfg.origins["jute.maxbuffer"] == "zoo.cfg:3"


def test_only_the_java_property_names_count_as_flags(caplog):
    """`-DskipACL=yes` is not what ZooKeeper reads (it reads zookeeper.skipACL): ignored, with a log line."""
    with caplog.at_level(logging.INFO, logger="corral.config"):
        cfg = cfg_of("", {"JVMFLAGS": "-DskipACL=yes -DtickTime=5"})
    assert not cfg.skip_acl and cfg.tick_time == 2000
    assert caplog.text.count("reason=unknown_property") == 2


@pytest.mark.parametrize("env,message", [
    ({"SERVER_JVMFLAGS": "-Djute.maxbuffer=big"}, "SERVER_JVMFLAGS: jute.maxbuffer: not an integer: 'big'"),
    ({"JVMFLAGS": "-Dzookeeper.skipACL=true"}, "JVMFLAGS: zookeeper.skipACL: write yes or no, not 'true' "
                                               "(ZooKeeper compares the exact string: anything but 'yes' means no)"),
    ({"SERVER_JVMFLAGS": "-Dzookeeper.ssl.ocsp=true"},
     "SERVER_JVMFLAGS: -Dzookeeper.ssl.ocsp: corral does not implement this security setting; "
     "refusing to run without it"),
    ({"SERVER_JVMFLAGS": "-Dzookeeper.serverCnxnFactory=com.example.Factory"},
     "SERVER_JVMFLAGS: zookeeper.serverCnxnFactory: 'com.example.Factory' is not one of "
     "org.apache.zookeeper.server.NettyServerCnxnFactory, org.apache.zookeeper.server.NIOServerCnxnFactory"),
])
def test_bad_jvm_flags(env, message):
    with pytest.raises(ConfigError) as exc:
        cfg_of("", env)
    assert str(exc.value) == message


def test_explain_names_every_origin():
    cfg = cfg_of("tickTime=1000", {"SERVER_JVMFLAGS": "-Djute.maxbuffer=4096"})
    lines = explain(cfg)
    assert "tickTime=1000  (zoo.cfg:3)" in lines
    assert "jute.maxbuffer=4096  ($SERVER_JVMFLAGS)" in lines
    assert "maxSessionTimeout=20000  (default: 20 x tickTime)" in lines
    assert "dataLogDir=/d  (default: dataDir)" in lines
    assert "skipACL=no  (default)" in lines


# ---- an ensemble member's myid ------------------------------------------------------------------------


def _ensemble(tmp_path: Path, myid: str | None, extra: str = "") -> Path:
    data = tmp_path / "data"
    data.mkdir()
    if myid is not None:
        (data / "myid").write_text(myid)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"dataDir={data}\nclientPort=2181\nclientPortAddress=127.0.0.1\n{ENSEMBLE}{extra}")
    return cfg


@pytest.mark.parametrize("myid,message", [
    (None, "missing: an ensemble member needs its server id here (one of 1, 2)"),
    ("", "not a server id: '' (expected one of 1, 2)"),
    ("one\n", "not a server id: 'one' (expected one of 1, 2)"),
    ("3\n", "id 3 has no server.3 line in {cfg} (servers: 1, 2)"),
])
def test_myid_problems_name_the_myid_file(tmp_path, myid, message):
    cfg = _ensemble(tmp_path, myid)
    with pytest.raises(ConfigError) as exc:
        load(cfg, env={})
    assert str(exc.value) == f"{tmp_path / 'data' / 'myid'}: " + message.format(cfg=cfg)


def test_myid_is_read_by_load(tmp_path):
    cfg = load(_ensemble(tmp_path, "2\n"), env={})
    assert cfg.my_id == 2 and cfg.is_ensemble


def test_client_port_from_the_server_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text("1")
    p = tmp_path / "zoo.cfg"
    p.write_text(f"dataDir={data}\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888;127.0.0.2:2191\n"
                 "server.2=127.0.0.1:2889:3889;2192\n")
    cfg = load(p, env={})
    assert (cfg.client_port_address, cfg.client_port) == ("127.0.0.2", 2191)
    p.write_text(p.read_text() + "clientPort=2000\n")
    with pytest.raises(ConfigError) as exc:
        load(p, env={})
    assert str(exc.value) == (f"{p}:6: clientPort: 2000 differs from the client port 2191 on this server's line "
                              "(server.1, line 4)")


def test_client_port_must_not_be_a_quorum_port(tmp_path):
    p = _ensemble(tmp_path, "1")
    p.write_text(p.read_text().replace("clientPort=2181", "clientPort=2889"))
    with pytest.raises(ConfigError) as exc:
        load(p, env={})
    assert str(exc.value) == f"{p}:2: clientPort: 127.0.0.1:2889 is also server.2's quorum port (line 7)"


# ---- AdminServer, metrics provider and log-format keys (issue 12) ----------------------------------------


def test_admin_and_metrics_keys() -> None:
    from corral.server.config import parse
    from corral.server.settings import PROMETHEUS_METRICS_PROVIDER

    cfg = parse("dataDir=/tmp/x\nclientPort=2181\n")
    assert (cfg.admin_enabled, cfg.admin_address, cfg.admin_port, cfg.admin_command_url) == (
        True, "0.0.0.0", 8080, "/commands")
    assert not cfg.prometheus_enabled and cfg.prometheus_port == 7000
    cfg = parse(f"dataDir=/tmp/x\nclientPort=2181\nadmin.commandURL=/zk/cmds/\nadmin.serverPort=9090\n"
                f"metricsProvider.className={PROMETHEUS_METRICS_PROVIDER}\nmetricsProvider.httpPort=9091\n")
    assert cfg.admin_command_url == "/zk/cmds" and cfg.admin_port == 9090 and cfg.prometheus_enabled
    cfg = parse("dataDir=/tmp/x\nclientPort=2181\n", env={"SERVER_JVMFLAGS": "-Dzookeeper.admin.enableServer=false"})
    assert not cfg.admin_enabled
    assert parse("dataDir=/tmp/x\nclientPort=2181\nprometheus.enable=true\n").prometheus_enabled


@pytest.mark.parametrize(("text", "message"), [
    ("admin.commandURL=commands", "admin.commandURL: not an absolute URL path"),
    ("admin.commandURL=/a b", "admin.commandURL: not an absolute URL path"),
    ("admin.serverPort=0", "admin.serverPort: 0 is not a port"),
    ("admin.enableServer=yes", "admin.enableServer: not a boolean"),
    ("metricsProvider.className=com.example.Nope", "metricsProvider.className: unknown metrics provider"),
    ("admin.serverPort=2181", "admin.serverPort: 2181 is also clientPort"),
    ("prometheus.enable=true\nmetricsProvider.httpPort=8080",
     "metricsProvider.httpPort: 8080 is also admin.serverPort"),
])
def test_admin_and_metrics_keys_refused(text: str, message: str) -> None:
    from corral.server.config import ConfigError, parse

    with pytest.raises(ConfigError) as e:
        parse(f"dataDir=/tmp/x\nclientPort=2181\n{text}\n", source="zoo.cfg")
    assert message in str(e.value)


def test_json_log_fields() -> None:
    from corral.server.logs import fields

    assert fields("event=serving address=127.0.0.1 port=2181") == {"event": "serving", "address": "127.0.0.1",
                                                                   "port": "2181"}
    assert fields("Unclosed client session") == {"msg": "Unclosed client session"}
    assert fields("event=x then prose") == {"msg": "event=x then prose"}
    assert fields("") == {"msg": ""}


# ---- dynamicConfigFile (QuorumPeerConfig.parse) ---------------------------------------------------------

DYNAMIC = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2889:3889;2182\n" \
          "server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n"


def _dynamic(tmp_path: Path, name: str, body: str = DYNAMIC, extra: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "myid").write_text("2\n")
    dyn = tmp_path / name
    dyn.write_text(body)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=500\ninitLimit=5\nsyncLimit=2\ndataDir={tmp_path / 'data'}\n"
                   f"dynamicConfigFile={dyn}\n{extra}")
    return cfg


def test_dynamic_config_file_holds_the_membership_and_its_version_is_in_the_name(tmp_path):
    cfg = load(_dynamic(tmp_path, "zoo.cfg.dynamic.100000003"), env={})
    assert cfg.dynamic_config_file == tmp_path / "zoo.cfg.dynamic.100000003"
    assert sorted(cfg.servers) == [1, 2, 3] and cfg.servers[3].observer and cfg.is_ensemble
    assert cfg.config_version == 0x100000003
    assert cfg.my_id == 2 and cfg.client_port == 2182  # the client port comes from this member's line
    assert cfg.membership() == ("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                                "server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n"
                                "server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\nversion=100000003")
    assert cfg.origins["clientPort"] == f"{tmp_path / 'zoo.cfg.dynamic.100000003'}:2"
    assert f"server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183  ({tmp_path / 'zoo.cfg.dynamic.100000003'}:3)" \
        in explain(cfg)


def test_dynamic_config_file_without_a_version_in_its_name_is_version_0(tmp_path):
    cfg = load(_dynamic(tmp_path, "zoo.cfg.dynamic"), env={})
    assert cfg.config_version == 0 and cfg.membership().endswith("\nversion=0")


@pytest.mark.parametrize("body,message", [
    ("version=100000000\n" + DYNAMIC, "{dyn}:1: version: the dynamic file must not hold a version (it comes from "
                                      "the file name)"),
    (DYNAMIC + "tickTime=100\n", "{dyn}:4: tickTime: unrecognised parameter in a dynamic config file (only server.N "
                                 "lines)"),
    (DYNAMIC + "group.1=1:2\n", "{dyn}:4: group.1: hierarchical quorums (group/weight) are not supported"),
    (DYNAMIC + "server.4=127.0.0.1:2888:3999\n", "{dyn}:4: server.4: quorum port 127.0.0.1:2888 is already "
                                                 "server.1's (line 1) quorum port"),
    ("server.1=127.0.0.1:2888\n", "{dyn}:1: server.1: expected host:peerPort:electionPort[:participant|observer]"
                                  "[;[clientAddr:]clientPort], not '127.0.0.1:2888'"),
])
def test_dynamic_config_file_errors_name_that_file(tmp_path, body, message):
    cfg = _dynamic(tmp_path, "zoo.cfg.dynamic.1", body)
    with pytest.raises(ConfigError) as exc:
        load(cfg, env={})
    assert str(exc.value) == message.format(dyn=tmp_path / "zoo.cfg.dynamic.1")


def test_standalone_enabled_false_makes_one_server_line_an_ensemble(tmp_path):
    one = "server.2=127.0.0.1:2889:3889;2182\n"
    assert not load(_dynamic(tmp_path, "zoo.cfg.dynamic.0", one, "clientPort=2182\n"), env={}).is_ensemble
    cfg = load(_dynamic(tmp_path, "zoo.cfg.dynamic.0", one, "standaloneEnabled=false\nreconfigEnabled=true\n"), env={})
    assert cfg.is_ensemble and cfg.my_id == 2 and cfg.reconfig_enabled and not cfg.standalone_enabled


def test_inline_sync_limit_defaults_to_a_millisecond_and_zero_turns_it_off():
    assert cfg_of("").inline_sync_us == 1000
    assert cfg_of("fsync.inlineMaxMicros=250").inline_sync_us == 250
    assert cfg_of("fsync.inlineMaxMicros=0").inline_sync_us == 0
