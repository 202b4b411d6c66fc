"""Client calls `corral shell` needs that `corral.client.Client` does not offer (yet).

zkCli distinguishes a node whose data is null from one whose data is empty (`get` prints `null`
for the first, an empty line for the second), and has commands for getEphemerals (opcode 103),
getAllChildrenNumber (104) and whoAmI (107). `Client.get_data` folds null into b"" and the other
three calls do not exist, so they are built here on the client's request plumbing (`Client._call`,
`_server_path`, `_watch_hook`), which validates paths, applies the chroot and registers watches only
once the server confirmed them, exactly as the public calls do.

These functions belong in `corral.client`; they live here until they move there.
"""

from __future__ import annotations

from ..client import Client, Stat
from ..client.watches import DATA, Watcher
from ..protocol import (
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    GetDataRequest,
    GetDataResponse,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    OpCode,
    WhoAmIResponse,
)

__all__ = ["get_all_children_number", "get_data_raw", "get_ephemerals", "who_am_i"]


async def get_data_raw(client: Client, path: str, watch: Watcher | None = None) -> tuple[bytes | None, Stat]:
    """Like `Client.get_data`, but a node stored with null data reads as None (not b"")."""
    spath = client._server_path(path)
    hook = client._watch_hook(spath, watch, kind=DATA) if watch is not None else None
    resp = await client._call(OpCode.getData, GetDataRequest(spath, watch is not None),
                              GetDataResponse.deserialize, path, hook)
    return resp.data, resp.stat


async def get_ephemerals(client: Client, prefix: str = "/") -> list[str]:
    """Paths of this session's ephemeral nodes under `prefix` (opcode 103), chroot stripped, in server order."""
    spath = client._server_path(prefix)
    resp = await client._call(OpCode.getEphemerals, GetEphemeralsRequest(spath), GetEphemeralsResponse.deserialize,
                              prefix)
    cs = client._cs
    return [cs.to_client(p) for p in (resp.ephemerals or [])]


async def get_all_children_number(client: Client, path: str) -> int:
    """Number of all descendants of `path` (opcode 104; the node itself not counted)."""
    spath = client._server_path(path)
    resp = await client._call(OpCode.getAllChildrenNumber, GetAllChildrenNumberRequest(spath),
                              GetAllChildrenNumberResponse.deserialize, path)
    return int(resp.totalNumber)


async def who_am_i(client: Client) -> list[tuple[str, str]]:
    """The (scheme, user) identities the server holds for this session (opcode 107, no request body)."""
    resp = await client._call(OpCode.whoAmI, None, WhoAmIResponse.deserialize, None)
    return [(ci.authScheme or "", ci.user or "") for ci in (resp.clientInfo or [])]
