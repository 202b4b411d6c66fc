"""The registry against one corral server (the plugin's `corral_server` fixtures)."""

from __future__ import annotations

import uuid

from registry import ServiceRegistry


def test_register_and_lookup(corral_server_session, kazoo_client):
    # One server for the whole run: this test keeps to its own root.
    reg = ServiceRegistry(kazoo_client(corral_server_session.hosts), root=f"/t-{uuid.uuid4().hex[:8]}")
    reg.register("api", "a1", "10.0.0.1:8080")
    reg.register("api", "a2", "10.0.0.2:8080")
    assert reg.lookup("api") == {"a1": "10.0.0.1:8080", "a2": "10.0.0.2:8080"}
    reg.unregister("api", "a1")
    assert reg.lookup("api") == {"a2": "10.0.0.2:8080"}
    assert reg.lookup("nothing") == {}


def test_an_instance_vanishes_with_its_session(corral_server, kazoo_client):
    reader = ServiceRegistry(kazoo_client(corral_server.hosts))
    worker = kazoo_client(corral_server.hosts)
    ServiceRegistry(worker).register("api", "a1", "10.0.0.1:8080")
    assert reader.lookup("api") == {"a1": "10.0.0.1:8080"}
    worker.stop()  # the instance goes away: its session ends, its znode with it
    assert reader.lookup("api") == {}


def test_registration_survives_a_server_restart(corral_server, kazoo_client):
    zk = kazoo_client(corral_server.hosts)
    reg = ServiceRegistry(zk)
    reg.register("api", "a1", "10.0.0.1:8080")
    session = zk.client_id[0]
    corral_server.restart()  # same data and port; sessions are durable and get a full timeout
    assert reg.lookup("api") == {"a1": "10.0.0.1:8080"}
    assert zk.client_id[0] == session
