"""Test helpers for code that uses ZooKeeper: real corral servers and ensembles, made for tests.

With pytest, nothing to import: installing corral registers the plugin (`corral.testing.plugin`, entry
point `pytest11`), whose fixtures are `corral_server`, `corral_server_module`, `corral_server_session`,
`corral_server_factory`, `corral_in_process` and `corral_ensemble` (see docs/testing.md).

Without pytest (unittest, scripts), use the classes; all are context managers and stop only what they
started, by PID:

* `ServerProcess`: a standalone server process (`.hosts`, `.port`, `.data_dir`, `.client()`, `.stop()`,
  `.restart()`, `.kill()`, `.pause()`/`.resume()`).
* `InProcessServer` / `serve_in_process()`: a server on an event loop of this process (fast; no crashes).
* `Ensemble`: N members with `kill`, `pause`/`resume`, `partition`/`heal`, `restart`, `leader()`.
* `LinkProxy`: the loopback TCP hop `Ensemble` uses to cut links (`PairLink`: the four between two
  members); `wait_until`, `free_port`, `four_letter` for the waits and probes around them.

```python
from corral.testing import ServerProcess

with ServerProcess() as srv:
    kazoo = KazooClient(hosts=srv.hosts)
```

Importing this package never imports pytest.
"""

from ._net import WaitTimeout, admin_listening, four_letter, free_port, free_ports, parse_mntr, parse_srvr, wait_until
from .ensemble import Ensemble, Member
from .inprocess import InProcessServer, serve_in_process
from .process import ServerHandle, ServerProcess
from .proxy import LinkMode, LinkProxy, PairLink

__all__ = [
    "Ensemble",
    "InProcessServer",
    "LinkMode",
    "LinkProxy",
    "Member",
    "PairLink",
    "ServerHandle",
    "ServerProcess",
    "WaitTimeout",
    "admin_listening",
    "four_letter",
    "free_port",
    "free_ports",
    "parse_mntr",
    "parse_srvr",
    "serve_in_process",
    "wait_until",
]
