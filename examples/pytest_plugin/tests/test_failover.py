"""The registry on a three-member ensemble while the leader dies (the plugin's `corral_ensemble`)."""

from __future__ import annotations

from registry import ServiceRegistry


def test_registry_keeps_working_when_the_leader_is_killed(corral_ensemble, kazoo_client):
    ens = corral_ensemble(3)
    leader = ens.leader()
    # The full host list, the leader first: the client's connection is the one the crash breaks.
    zk = kazoo_client(ens.hosts_first(leader), randomize_hosts=False)
    reg = ServiceRegistry(zk)
    reg.register("api", "a1", "10.0.0.1:8080")

    ens.kill(leader)  # SIGKILL
    new = ens.leader(other_than=leader)

    reg.register("api", "a2", "10.0.0.2:8080")  # kazoo moved to a surviving member by itself
    assert reg.lookup("api") == {"a1": "10.0.0.1:8080", "a2": "10.0.0.2:8080"}  # same session: a1 stays
    assert zk.connected and new is not leader

    ens.restart(leader)  # back on its own data, now a follower
    assert ens.wait_stable() is new
