"""The plain int codes (protocol/codes.py) are the enums' values, one for every member.

Why: the compiled write path compares opcodes, error codes and permission bits through these literals;
a value that drifted from ZooKeeper's (the enums, checked against Apache's sources elsewhere) would
misroute requests silently."""

from __future__ import annotations

import re

from corral.protocol import codes
from corral.protocol.constants import Err, EventType, KeeperState, OpCode, Perms, WatcherType, Xid


def _name(member: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", member).upper()


def test_every_member_has_its_code_and_nothing_else_is_there():
    expected = {f"OP_{_name(m.name)}": int(m) for m in OpCode}
    expected |= {f"ERR_{m.name}": int(m) for m in Err}
    expected |= {f"PERM_{m.name}": int(m) for m in Perms}
    expected |= {f"EVENT_{_name(m.name)}": int(m) for m in EventType}
    expected |= {f"STATE_{_name(m.name)}": int(m) for m in KeeperState}
    expected |= {f"WATCHER_{_name(m.name)}": int(m) for m in WatcherType}
    expected |= {f"XID_{_name(m.name)}": int(m) for m in Xid}
    present = {k: v for k, v in vars(codes).items() if k.isupper() and k[0] != "_"}
    assert present == expected
    assert all(type(v) is int for v in present.values())  # literals, not enum members
