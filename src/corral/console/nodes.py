"""znode reads and writes as the console's JSON API shows them.

Data travels base64-encoded: znode data is bytes, and the browser decides how to show it (text, pretty
JSON, hex). Nothing here builds HTML: the page puts every name and value into the DOM as text, so a
hostile znode name or value cannot become markup.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from ..client import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Client, CreateMode, Stat
from ..client.errors import KeeperError, NoAuthError, NoNodeError
from ..protocol import InvalidPath, validate_path

__all__ = ["ACL_CHOICES", "MODES", "BadInput", "acl_json", "check_path", "decode_data", "read_children",
           "read_node", "stat_json"]

MAX_DATA = 1024 * 1024 - 1024  # under jute.maxbuffer's default with room for the request around it
ACL_CHOICES: dict[str, list[ACL]] = {"open": OPEN_ACL_UNSAFE, "creator": CREATOR_ALL_ACL, "read": READ_ACL_UNSAFE}
MODES: dict[str, CreateMode] = {"persistent": CreateMode.PERSISTENT,
                                "persistent_sequential": CreateMode.PERSISTENT_SEQUENTIAL,
                                "container": CreateMode.CONTAINER}


class BadInput(ValueError):
    """A request the console refuses before it reaches ZooKeeper (HTTP 400)."""


def check_path(path: object, sequential: bool = False) -> str:
    if not isinstance(path, str):
        raise BadInput("path must be text")
    if len(path) > 4096:
        raise BadInput("path is longer than 4096 characters")
    try:
        validate_path(path, sequential)
    except InvalidPath as e:
        raise BadInput(f"invalid path: {e}") from None
    return path


def decode_data(value: object, encoding: object) -> bytes:
    if not isinstance(value, str):
        raise BadInput("data must be text")
    if encoding in (None, "text"):
        data = value.encode("utf-8", errors="surrogatepass")
    elif encoding == "base64":
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BadInput("data is not valid base64") from None
    else:
        raise BadInput("encoding must be text or base64")
    if len(data) > MAX_DATA:
        raise BadInput(f"data is larger than {MAX_DATA} bytes")
    return data


def stat_json(st: Stat) -> dict[str, Any]:
    return {"czxid": f"0x{st.czxid:x}", "mzxid": f"0x{st.mzxid:x}", "pzxid": f"0x{st.pzxid:x}",
            "ctime": st.ctime, "mtime": st.mtime, "version": st.version, "cversion": st.cversion,
            "aversion": st.aversion, "ephemeralOwner": f"0x{st.ephemeralOwner & 0xFFFFFFFFFFFFFFFF:x}",
            "dataLength": st.dataLength, "numChildren": st.numChildren}


def perms_text(perms: int) -> str:
    return "".join(c for bit, c in ((4, "c"), (8, "d"), (1, "r"), (2, "w"), (16, "a")) if perms & bit)


def acl_id(scheme: str, ident: str) -> str:
    """The id as the page shows it: a digest id's password hash is left out (the server reveals it to
    ADMIN holders, but an offline guess at a weak password needs nothing more, and no view needs it)."""
    if scheme == "digest":
        user, sep, _ = ident.partition(":")
        return f"{user}:(hash hidden)" if sep else user
    return ident


def acl_json(acl: list[ACL]) -> list[dict[str, str]]:
    return [{"scheme": a.id.scheme or "", "id": acl_id(a.id.scheme or "", a.id.id or ""), "perms": perms_text(a.perms)}
            for a in acl]


def error_json(e: KeeperError) -> dict[str, str]:
    name = type(e).__name__.removesuffix("Error") or "KeeperError"
    return {"error": name, "message": str(e)}


async def read_node(zk: Client, path: str) -> dict[str, Any]:
    """Data, Stat and ACL of one node. The ACL is read separately: a node may be readable while its
    ACL read fails, or the reverse, and the page says which."""
    data, st = await zk.get_data(path)
    out: dict[str, Any] = {"path": path, "data": base64.b64encode(data or b"").decode(), "stat": stat_json(st)}
    try:
        acl, _ = await zk.get_acl(path)
        out["acl"] = acl_json(acl)
    except KeeperError as e:
        out["acl_error"] = error_json(e)
    return out


async def read_children(zk: Client, path: str, limit: int) -> dict[str, Any]:
    """One tree level: the children (sorted, at most `limit`) with enough of their Stat to draw them."""
    names, st = await zk.get_children(path, include_stat=True)
    names.sort()
    shown = names[:limit]
    base = "" if path == "/" else path

    async def one(name: str) -> dict[str, Any]:
        child = f"{base}/{name}"
        row: dict[str, Any] = {"name": name, "path": child}
        try:
            cst = await zk.exists(child)
        except NoAuthError:
            row["noauth"] = True
            return row
        except NoNodeError:
            row["gone"] = True
            return row
        if cst is None:
            row["gone"] = True
        else:
            row.update(children=cst.numChildren, ephemeral=cst.ephemeralOwner != 0, size=cst.dataLength)
        return row

    children = list(await asyncio.gather(*(one(n) for n in shown)))
    return {"path": path, "stat": stat_json(st), "children": children, "total": len(names),
            "truncated": len(names) > len(shown)}
