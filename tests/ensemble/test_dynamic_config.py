"""The membership from a dynamic config file (`dynamicConfigFile`, `zoo.cfg.dynamic.<version>`) and
`standaloneEnabled=false`, as ZooKeeper's QuorumPeerConfig reads them: every member puts the membership
with the file's version into /zookeeper/config (dataVersion -1, mzxid = the version) and `conf` prints it;
a single server line with standaloneEnabled=false is an ensemble of one that leads, here compared with
Apache ZooKeeper itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.apache import require_apache
from tests.support.apache_ensemble import ApacheEnsemble, ApachePeer
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


@pytest.mark.parametrize("reconfig", ["false", "true"])
@pytest.mark.parametrize("kind", ["corral", pytest.param("apache", marks=pytest.mark.compat)])
def test_standalone_disabled_single_server_leads(kind, reconfig, make_ensemble, kazoo_clients, tmp_path):
    """One server line and standaloneEnabled=false: a quorum of one (Mode: leader) that keeps its
    membership in /zookeeper/config, where a standalone server leaves it empty; with reconfigEnabled the
    configuration takes the first epoch's zxid as its version."""
    extra = {"standaloneEnabled": "false", "reconfigEnabled": reconfig}
    version = 0x100000000 if reconfig == "true" else 0
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
        wait_until(lambda: client.get("/zookeeper/config")[1].mzxid == version, WAIT, "the configuration's version")
        data, stat = client.get("/zookeeper/config")
        assert data.decode() == line.replace(";", ":participant;") + f"\nversion={version:x}"
        assert (stat.version, stat.mzxid) == (-1, version)
        client.create("/one", b"x")
        assert client.get("/one")[0] == b"x"
    finally:
        if kind == "apache":
            apache.close()


def _config_state(cfg_path: Path, client) -> dict[str, object]:
    """What a member shows of its configuration: /zookeeper/config's version and Stat, and its files."""
    data, stat = client.get("/zookeeper/config")
    keys = {line.split("=", 1)[0] for line in cfg_path.read_text().splitlines() if "=" in line}
    dynamic = sorted(p.name for p in cfg_path.parent.glob("zoo.cfg.dynamic.*"))
    return {"version line": data.decode().rsplit("\n", 1)[1], "stat": (stat.mzxid, stat.version),
            "dynamic files": dynamic, "backup": Path(f"{cfg_path}.bak").exists(),
            "static keys left": sorted(k for k in keys if k.startswith(("server.", "clientPort", "dynamicConfigFile")))}


def test_reconfig_enabled_versions_the_first_established_config_as_apache(make_ensemble, kazoo_clients, tmp_path):
    """With reconfigEnabled=true the first leader gives the version-0 configuration its epoch's first zxid
    (Leader.lead, ZOOKEEPER-1783) and every member writes it to zoo.cfg.dynamic.<version>, points zoo.cfg
    there (server lines and the client port taken out) and keeps zoo.cfg.bak; a restart reads it back."""
    require_apache()
    apache = ApacheEnsemble(tmp_path / "apache", extra_cfg={"reconfigEnabled": "true"})
    with apache:
        expected = []
        for m in apache.members:
            client = start_kazoo(m.hosts)
            kazoo_clients.append(client)
            expected.append(_config_state(m.cfg_path, client))
    assert expected[0]["version line"] == "version=100000000"
    ens = make_ensemble(extra_cfg={"reconfigEnabled": "true"})
    for m in ens.members:
        client = start_kazoo(m.hostport)
        kazoo_clients.append(client)
        wait_until(lambda c=client: c.get("/zookeeper/config")[0].endswith(b"version=100000000"), WAIT,
                   f"member {m.sid} to activate the versioned configuration")
        assert _config_state(m.cfg_path, client) == expected[0]
        dynamic = m.cfg_path.with_name("zoo.cfg.dynamic.100000000")
        assert dynamic.read_text() == "\n".join(sorted(membership(m).replace(f"version={VERSION:x}", "").split()))
        assert f"dynamicConfigFile={dynamic.resolve()}" in m.cfg_path.read_text()
    # The leader is killed (-9) and restarts from the rewritten zoo.cfg: a new epoch, and the configuration
    # keeps its version.
    leader = ens.leader()
    leader.rewrite_config = False
    leader.restart(hard=True)
    ens.wait_stable()
    for m in ens.members:
        client = start_kazoo(m.hostport)
        kazoo_clients.append(client)
        data, stat = client.get("/zookeeper/config")
        assert data.decode() == membership(m) and stat.mzxid == VERSION
    assert client.create("/later", b"x", sequence=False) and client.get("/later")[1].czxid >> 32 >= 2  # a later epoch
    assert "server." not in leader.cfg_path.read_text()
