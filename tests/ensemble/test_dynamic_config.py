"""The membership from a dynamic config file (`dynamicConfigFile`, `zoo.cfg.dynamic.<version>`) and
`standaloneEnabled=false`, as ZooKeeper's QuorumPeerConfig reads them: every member puts the membership
with the file's version into /zookeeper/config (dataVersion -1, mzxid = the version) and `conf` prints it;
a single server line with standaloneEnabled=false is an ensemble of one that leads, here compared with
Apache ZooKeeper itself."""

from __future__ import annotations

import re

import pytest

from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApachePeer
from tests.support.net import HOST, free_ports
from tests.support.wait import wait_until

from .clients import start_kazoo
from .cluster import WAIT, Member

pytestmark = pytest.mark.slow

VERSION = 0x100000000  # as if a reconfig at zxid 0x100000000 had written the file


def membership(m: Member) -> str:
    """QuorumMaj.toString of the member's own server lines."""
    lines = [re.sub(r"^(server\.\d+=[^:]+:\d+:\d+)(:observer)?;",
                    lambda g: g[1] + (":observer;" if g[2] else ":participant;"), line) for line in m.server_lines()]
    return "\n".join([*lines, f"version={VERSION:x}"])


def test_members_serve_the_dynamic_files_membership(make_ensemble, kazoo_clients):
    ens = make_ensemble(voters=2, observers=1, dynamic_version=VERSION)
    for m in ens.members:
        assert "server." not in m.cfg_path.read_text() and m.dynamic_path is not None
        client = start_kazoo(m.hostport)
        kazoo_clients.append(client)
        data, stat = client.get("/zookeeper/config")
        assert data.decode() == membership(m), m
        assert (stat.version, stat.mzxid, stat.aversion) == (-1, VERSION, -1)
        assert m.four_letter("conf").endswith("membership: \n" + membership(m) + "\n")
    # A restarted member reads the same file again.
    ens[1].restart()
    ens.wait_stable()
    client = start_kazoo(ens[1].hostport)
    kazoo_clients.append(client)
    assert client.get("/zookeeper/config")[0].decode() == membership(ens[1])


@pytest.mark.parametrize("kind", ["corral", pytest.param("apache", marks=pytest.mark.compat)])
def test_standalone_disabled_single_server_leads(kind, make_ensemble, kazoo_clients, tmp_path):
    """One server line and standaloneEnabled=false: a quorum of one (Mode: leader) that keeps its
    membership in /zookeeper/config, where a standalone server leaves it empty."""
    # Without reconfigEnabled: with it, Apache's first leader re-versions a version-0 configuration to its
    # epoch's zxid (Leader.lead, ZOOKEEPER-1783), which corral does not do yet.
    extra = {"standaloneEnabled": "false"}
    if kind == "corral":
        ens = make_ensemble(voters=1, extra_cfg=extra)
        line = ens[1].server_lines()[0]
        server = ens[1]
    else:
        require_apache()
        client_port, peer_port, election_port = free_ports(3)
        line = f"server.1={HOST}:{peer_port}:{election_port};{HOST}:{client_port}"
        apache = ApachePeer(tmp_path / "apache", 1, client_port, [line])
        apache.extra_cfg = {**apache.extra_cfg, **extra}
        apache.start(wait=False)
        server = apache
    try:
        wait_until(lambda: server.mode() == "leader", WAIT, f"the {kind} server to lead")
        client = start_kazoo(server.hosts)
        kazoo_clients.append(client)
        data, stat = client.get("/zookeeper/config")
        assert data.decode() == line.replace(";", ":participant;") + "\nversion=0"
        assert (stat.version, stat.mzxid) == (-1, 0)
        client.create("/one", b"x")
        assert client.get("/one")[0] == b"x"
    finally:
        if kind == "apache":
            apache.close()
