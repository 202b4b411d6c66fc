"""The quorum core's scenario tests again, with Apache's peer protocol between the peers.

Each test of `test_peer.py` runs here on `ApacheWireCluster`: every message is translated by the
transport's per-connection objects to Apache packet bytes and back. A test that passes on the core's
own codec and fails here shows a message or a step the translation loses.
"""

from __future__ import annotations

import pytest

from tests.quorum import harness

from .apache_wire import ApacheWireCluster


@pytest.fixture(autouse=True)
def _apache_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.quorum.test_peer as scenarios

    monkeypatch.setattr(scenarios, "Cluster", ApacheWireCluster)
    monkeypatch.setattr(harness, "Cluster", ApacheWireCluster)


from tests.quorum.test_peer import *  # noqa: E402,F403  (the scenarios, collected again here)

# Not a translation question: it checks that the leader's handler keeps the *learner's* session id,
# which on Apache's protocol is the connection's (each end numbers it for its own core).
del test_a_dropped_session_is_never_revived_by_a_retransmitted_learnerinfo  # noqa: F821
