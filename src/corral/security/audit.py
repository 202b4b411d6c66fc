"""The audit log (`audit.enable=true`): one line per create, delete, setData, setACL, multi, reconfig,
ephemeral deletion at session end, and server start/stop, in Apache ZooKeeper's format.

Apache writes them through the logger `org.apache.zookeeper.audit.Slf4jAuditLogger`, which its
logback configuration sends to `${zookeeper.log.dir}/zookeeper_audit.log` with the layout
`%d{ISO8601} %p %c{2}: %m`; a line's message is tab-separated `key=value` fields in the order
session, user, ip, operation, znode, znode_type, acl, then `result=success|failure|invoked`, absent
fields left out (AuditEvent.toString). Failures are logged at ERROR, the rest at INFO. corral writes
the same fields and layout to its own file (the logger `corral.audit`, not propagated to the server
log), created 0600.
"""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path

OP_CREATE, OP_DELETE, OP_SETDATA, OP_SETACL = "create", "delete", "setData", "setAcl"
OP_MULTI, OP_RECONFIG = "multiOperation", "reconfig"
OP_EPHEMERAL_DELETED = "ephemeralZNodeDeletionOnSessionCloseOrExpire"
OP_START, OP_STOP = "serverStart", "serverStop"

#: CreateMode.fromFlag(flags).toString().toLowerCase()
CREATE_MODES = {0: "persistent", 1: "ephemeral", 2: "persistent_sequential", 3: "ephemeral_sequential",
                4: "container", 5: "persistent_with_ttl", 6: "persistent_sequential_with_ttl"}


def perm_string(perms: int) -> str:
    """ZKUtil.getPermString: c d r w a."""
    return "".join(ch for bit, ch in ((4, "c"), (8, "d"), (1, "r"), (2, "w"), (16, "a")) if perms & bit)


def acl_string(acl: list[tuple[int, str | None, str | None]]) -> str:
    """ZKUtil.aclToString: scheme:id:perms for each entry, with no separator between entries (sic)."""
    return "".join(f"{scheme}:{ident}:{perm_string(perms)}" for perms, scheme, ident in acl)


def users(auth: list[tuple[str, str]]) -> str | None:
    """AuthUtil.getUsers: each id's user name (digest: the part before ':'; `super` has no provider, so
    none), comma-joined; None when there is none. The connection's own ip id comes last, as Apache 3.8
    prints it (observed side by side: `bob,127.0.0.1`)."""
    names = []
    for scheme, ident in sorted(auth, key=lambda a: a[0] == "ip"):
        if scheme == "super":
            continue
        name = ident.split(":")[0] if scheme == "digest" else ident
        if name.strip():
            names.append(name)
    return ",".join(names) or None


class AuditLog:
    """Writes audit lines to `path` (a file of its own)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        self.path = path
        self.server_user = getpass.getuser()
        self.logger = logging.getLogger(f"corral.audit.{id(self)}")  # one per server, for in-process tests
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s corral.audit: %(message)s"))
        self.logger.addHandler(self.handler)

    def log(self, operation: str, result: str, *, session: int | None = None, user: str | None = None,
            ip: str | None = None, znode: str | None = None, znode_type: str | None = None,
            acl: str | None = None) -> None:
        fields = [("session", None if session is None else f"0x{session & 0xFFFFFFFFFFFFFFFF:x}"), ("user", user),
                  ("ip", ip), ("operation", operation), ("znode", znode), ("znode_type", znode_type), ("acl", acl)]
        line = "\t".join(f"{k}={v}" for k, v in fields if v is not None)
        line = f"{line}\tresult={result}" if line else f"result={result}"
        self.logger.log(logging.ERROR if result == "failure" else logging.INFO, "%s", line)

    def server_event(self, operation: str, result: str) -> None:
        self.log(operation, result, user=self.server_user)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()
