"""Server-list rebalancing (`HostProvider`, Java's StaticHostProvider rules), the /zookeeper/config parser
and the argument checks of `update_server_list` / `reconfig` / the shell's `reconfig`: no server needed.

The load-balancing tests follow Apache's StaticHostProviderTest: many clients, each with its own
seeded provider, change their server list; the resulting number of clients per server must be close
to an even share. The expected share is computed (clients / servers), and the tolerance is a
generous multiple of the binomial standard deviation, so the tests check the algorithm rather than
one lucky seed.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from corral.cli.shell_format import CliError
from corral.cli.shell_reconfig import members_from_file, parse_reconfig
from corral.client import BadArgumentsError, Client, HostProvider, parse_membership

CLIENTS = 1000


def servers(lo: int, hi: int) -> list[tuple[str, int]]:
    return [(f"10.0.0.{i}", 2181) for i in range(lo, hi)]


def connected_fleet(hosts: list[tuple[str, int]], seed: int = 7) -> list[tuple[HostProvider, tuple[str, int]]]:
    """CLIENTS providers, each connected to the first server it picks."""
    fleet = []
    for i in range(CLIENTS):
        p = HostProvider(hosts, rng=random.Random(seed * 100003 + i))
        cur = p.next()
        p.on_connected()
        fleet.append((p, cur))
    return fleet


def rebalance(fleet: list[tuple[HostProvider, tuple[str, int]]], new: list[tuple[str, int]]) -> tuple[Counter, int]:
    """Apply `new` to every client; movers connect to their provider's next pick. Returns (load, movers)."""
    load: Counter = Counter()
    moved = 0
    for p, cur in fleet:
        if p.update_server_list(new, cur):
            moved += 1
            cur = p.next()
            p.on_connected()
        assert cur in new, f"client ended on {cur}, not in {new}"
        load[cur] += 1
    return load, moved


def assert_even(load: Counter, hosts: list[tuple[str, int]]) -> None:
    share = CLIENTS / len(hosts)
    sd = math.sqrt(CLIENTS * (1 / len(hosts)) * (1 - 1 / len(hosts)))
    for h in hosts:
        assert abs(load[h] - share) <= 5 * sd, f"{h} has {load[h]} clients, an even share is {share:.0f}: {load}"


def test_initial_choice_spreads_clients_evenly() -> None:
    hosts = servers(1, 10)
    load = Counter(cur for _, cur in connected_fleet(hosts))
    assert_even(load, hosts)


def test_growing_the_ensemble_moves_a_fair_share_to_the_new_server() -> None:
    old, new = servers(1, 10), servers(1, 11)
    load, moved = rebalance(connected_fleet(old), new)
    expected_movers = CLIENTS * (1 - len(old) / len(new))
    sd = math.sqrt(CLIENTS * (1 - len(old) / len(new)) * (len(old) / len(new)))
    assert abs(moved - expected_movers) <= 5 * sd, f"{moved} clients moved, expected about {expected_movers:.0f}"
    assert_even(load, new)


def test_shrinking_moves_only_the_clients_of_the_removed_server() -> None:
    old, new = servers(1, 11), servers(1, 10)
    fleet = connected_fleet(old)
    on_removed = sum(1 for _, cur in fleet if cur not in new)
    load, moved = rebalance(fleet, new)
    assert moved == on_removed
    assert_even(load, new)


def test_replacing_servers_sends_their_clients_to_the_new_ones() -> None:
    old, new = servers(1, 10), servers(4, 13)  # 1-3 leave, 10-12 join: same size
    fleet = connected_fleet(old)
    movers = [cur for _, cur in fleet if cur not in new]
    load, moved = rebalance(fleet, new)
    assert moved == len(movers)
    assert_even(load, new)


def test_probabilities_follow_the_formula_when_the_ensemble_shrinks_and_changes() -> None:
    old, new = servers(1, 10), [*servers(1, 6), *servers(20, 22)]  # 9 → 7: 5 stay, 2 join
    p = HostProvider(old, rng=random.Random(1))
    assert p.update_server_list(new, ("10.0.0.9", 2181))  # its server left: it moves for sure
    num_old, total = 5, len(new)
    p_old = num_old * (len(old) - total) / (total * (len(old) - num_old))
    assert p.probabilities == pytest.approx((p_old, 1 - p_old))


def test_staying_server_keeps_the_client_when_the_list_does_not_grow() -> None:
    old = servers(1, 6)
    p = HostProvider(old, rng=random.Random(3))
    cur = p.next()
    p.on_connected()
    new = [h for h in old if h != next(h for h in old if h != cur)]  # drop some other server
    assert not p.update_server_list(new, cur)
    assert not p.reconfig_mode
    assert set(p.servers) == set(new)


def test_reconfig_mode_tries_every_new_server_then_falls_back_to_round_robin() -> None:
    p = HostProvider(servers(1, 4), rng=random.Random(5))
    p.next()
    p.on_connected()
    new = servers(10, 13)
    assert p.update_server_list(new, ("10.0.0.1", 2181))
    picks = [p.next() for _ in range(len(new))]
    assert sorted(picks) == sorted(new)  # each new server once while moving
    assert p.next() in new and not p.reconfig_mode  # then plain rotation over the new list
    rotation = [p.next() for _ in range(2 * len(new))]
    assert set(rotation) == set(new)


def test_the_connected_ip_counts_as_the_same_server() -> None:
    p = HostProvider([("zk1.example", 2181), ("zk2.example", 2181)], rng=random.Random(2))
    assert not p.update_server_list([("10.0.0.1", 2181), ("zk2.example", 2181)], ("zk1.example", 2181),
                                    current_ip="10.0.0.1")


def test_duplicates_collapse_and_empty_lists_are_refused() -> None:
    p = HostProvider([("a", 1), ("A", 1), ("b", 2)], shuffle=False)
    assert p.servers == (("a", 1), ("b", 2))
    with pytest.raises(BadArgumentsError):
        HostProvider([])
    with pytest.raises(BadArgumentsError):
        p.update_server_list([], None)


# ---- Client.update_server_list / reconfig argument checks (no connection needed) --------------------

@pytest.mark.parametrize("hosts", ["", " ", "a:0", "a:99999", "a:x", "[::1", ",", "a:1/other-chroot",
                                   [], [("a", 0)], [("a", "1")], [("", 1)], [("a",)], ["a:1"], [("a", True)]])
def test_update_server_list_refuses_bad_input(hosts: object) -> None:
    c = Client("127.0.0.1:1/app")
    with pytest.raises(BadArgumentsError):
        c.update_server_list(hosts)  # type: ignore[arg-type]
    assert c.hosts == (("127.0.0.1", 1),)


def test_update_server_list_accepts_the_same_chroot_and_changes_hosts_while_disconnected() -> None:
    c = Client("127.0.0.1:1/app", randomize_hosts=False)
    c.update_server_list("127.0.0.1:2,127.0.0.1:3/app")
    assert set(c.hosts) == {("127.0.0.1", 2), ("127.0.0.1", 3)}


@pytest.mark.parametrize("kwargs, exc", [
    ({}, BadArgumentsError),
    ({"joining": "server.4=h:1:2;3", "new_members": "server.1=h:1:2;3"}, BadArgumentsError),
    ({"leaving": "1", "new_members": ["x"]}, BadArgumentsError),
    ({"leaving": "1", "from_config": "12"}, BadArgumentsError),
    ({"leaving": "1", "from_config": 1 << 64}, BadArgumentsError),
    ({"leaving": "1", "from_config": True}, BadArgumentsError),
    ({"joining": [4]}, TypeError),
])
async def test_reconfig_refuses_bad_arguments_before_sending(kwargs: dict, exc: type[Exception]) -> None:
    c = Client("127.0.0.1:1")
    with pytest.raises(exc):
        await c.reconfig(**kwargs)


# ---- /zookeeper/config ----------------------------------------------------------------------------

def test_membership_gives_client_addresses_of_participants_and_observers() -> None:
    m = parse_membership(b"server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\n"
                         b"server.2=[::1]:2888:3888:observer;[::1]:2182\n"
                         b"server.3=h3:2888:3888;2183\nserver.4=h4:2888:3888\nversion=10000000a\n")
    assert m.version == "10000000a"
    assert [x.sid for x in m.members] == [1, 2, 3, 4]
    assert [x.observer for x in m.members] == [False, True, False, False]
    assert m.client_hosts() == [("10.0.0.1", 2181), ("::1", 2182), ("h3", 2183)]
    # zkCli prints the members in java.util.Properties' hash order (server.2 before server.1, as zkCli
    # 3.8 does for this key set), and an empty item for a member without a client address.
    assert m.client_config_string() == "10000000a ::1:2182,0.0.0.0:2181,,0.0.0.0:2183"


@pytest.mark.parametrize("data", [b"server.a=h:1:2;3", b"server.1=onlyhost", b"server.1=h:1:2;h:port",
                                  b"server.1=h:1:2;[::1", b"server.1=h:1:2;99999", b"server.-1=h:1:2"])
def test_membership_refuses_malformed_lines(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_membership(data)


def test_membership_tolerates_noise() -> None:
    m = parse_membership(b"\xff\xfe garbage\n# comment\n\nversion=1\nserver.1=h:1:2;h:3\n")
    assert m.client_hosts() == [("h", 3)] and m.version == "1"


# ---- the shell's reconfig arguments (zkCli's ReconfigCommand.parse) --------------------------------

USAGE = "reconfig <usage>"


@pytest.mark.parametrize("words, message", [
    (["reconfig"], USAGE),
    (["reconfig", "-s"], USAGE),
    (["reconfig", "-v", "zz", "-remove", "3"], "-v must be followed by a long (configuration version)"),
    (["reconfig", "-v", "1" * 17, "-remove", "3"], "-v must be followed by a long (configuration version)"),
    (["reconfig", "-members", "x", "-add", "y"], "Can't use -file or -members together with -add or -remove "
                                                  "(mixing incremental and non-incremental modes is not allowed)"),
    (["reconfig", "-file", "f", "-members", "y"], "Can't use -file and -members together (conflicting "
                                                   "non-incremental modes)"),
    (["reconfig", "-add"], "Missing argument for option: add"),
    (["reconfig", "-x", "1"], "Unrecognized option: -x"),
])
def test_reconfig_argument_errors_are_zkclis(words: list[str], message: str) -> None:
    with pytest.raises(CliError) as e:
        parse_reconfig(words, USAGE)
    assert str(e.value) == message


def test_reconfig_arguments_are_lower_cased_and_the_version_is_hex() -> None:
    a = parse_reconfig(["reconfig", "-s", "-v", "1A", "-add", "Server.5=H:1:2;3", "-remove", "4"], USAGE)
    assert (a.joining, a.leaving, a.members, a.version, a.stats) == ("server.5=h:1:2;3", "4", None, 0x1A, True)


@pytest.mark.parametrize("content, reason", [
    ("foo=bar\n", "Unrecognised parameter: foo"),
    ("server.1=h:1:2;3\nserver.2=h:x:2;3\n", "Address unresolved: h:x"),
    ("server.1=h:1:1;3\n", "Client and election port must be different! Please update the configuration file "
                           "on server.1"),
    ("server.1=h:1:2:boss;3\n", "Unrecognised peertype: boss"),
    ("server.1=h:1\n", "h:1 does not have the form server_config or server_config;client_config where "
                       "server_config is the pipe separated list of host:port:port or host:port:port:type and "
                       "client_config is port or host:port"),
    ("server.1=h:1:2:observer;3\n", "Observers w/o participants is an invalid configuration"),
    ("server.x=h:1:2;3\n", 'For input string: "x"'),
    ("version=zz\n", 'For input string: "zz"'),
])
def test_reconfig_file_errors_are_zkclis(tmp_path: Path, content: str, reason: str) -> None:
    f = tmp_path / "dyn.cfg"
    f.write_text(content)
    with pytest.raises(CliError) as e:
        members_from_file(str(f))
    assert str(e.value) == f"Error processing {f}{reason}"


def test_reconfig_file_missing_directory_and_binary(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cfg"
    with pytest.raises(CliError, match=r"^Error processing .*nope\.cfg.*nope\.cfg \(No such file or directory\)$"):
        members_from_file(str(missing))
    with pytest.raises(CliError, match=r"^Error processing "):
        members_from_file(str(tmp_path))
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(CliError, match=r"^Error processing "):
        members_from_file(str(junk))


def test_reconfig_file_becomes_the_member_list(tmp_path: Path) -> None:
    f = tmp_path / "dyn.cfg"
    f.write_text("# members\nserver.1=h1:1:2;3\nserver.2 = h2:1:2:observer;h2:3\nserver.3=h3:1:2:participant;3\n"
                 "version=100000000\n")
    assert members_from_file(str(f)) == \
        "server.1=h1:1:2;3\nserver.2=h2:1:2:observer;h2:3\nserver.3=h3:1:2:participant;3"
