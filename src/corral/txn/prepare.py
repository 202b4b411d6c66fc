"""Request → transaction (ZooKeeper's PrepRequestProcessor), against the latest *pending* state.

Writes are validated in arrival order against the tree plus the changes of transactions that were
prepared but are not applied yet (`ChangeRecord`s), so pipelined writes see each other: two creates
in flight under one parent get consecutive sequence numbers, a delete right after a create finds
the node. Every accepted write consumes a zxid, failed ones too (as an ErrorTxn), exactly as in
ZooKeeper; `committed(zxid)` drops the records once the tree holds their effect.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol, cast

from ..protocol import (
    CheckVersionRequest,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateMode,
    CreateRequest,
    CreateSessionTxn,
    CreateTTLRequest,
    CreateTTLTxn,
    CreateTxn,
    DeleteRequest,
    DeleteTxn,
    ErrorTxn,
    Errs,
    InvalidPath,
    ReconfigRequest,
    Record,
    SetACLRequest,
    SetACLTxn,
    SetDataRequest,
    SetDataTxn,
    TxnHeader,
    validate_path,
)
from ..protocol.codes import (
    OP_CHECK,
    OP_CREATE,
    OP_CREATE2,
    OP_CREATE_CONTAINER,
    OP_CREATE_SESSION,
    OP_CREATE_TTL,
    OP_DELETE,
    OP_DELETE_CONTAINER,
    OP_ERROR,
    OP_RECONFIG,
    OP_SET_ACL,
    OP_SET_DATA,
    PERM_ADMIN,
    PERM_CREATE,
    PERM_DELETE,
    PERM_READ,
    PERM_WRITE,
)
from ..protocol.inline import i32_at, i64_at
from ..tree import acl as aclmod
from ..tree.acl import AclList, AuthId, acl_by_id
from ..tree.datatree import (
    AT_ACL,
    AT_AVERSION,
    AT_CVERSION,
    AT_FLAGS,
    AT_OWNER,
    AT_VERSION,
    CONFIG_NODE,
    CONTAINER_OWNER,
    LEAF_CVERSION,
    LEAF_OWNER,
    LIMIT_NODE,
    QUOTA_ROOT,
    SPECIAL_PATHS,
    STATS_NODE,
    TTL_MASK,
    DataTree,
    MultiOps,
    Node,
    as_node,
    entry_data,
    i32,
    is_ephemeral_owner,
    leaf_data_len,
    parse_stats,
)

MAX_TTL: Final = 0xFF_FFFF_FFFF
# flags -> (ephemeral, sequential, ttl) of each CreateMode: a dict hit, where Enum.__new__ and the mode's
# properties cost microseconds on every create.
_CREATE_MODES: Final[dict[int, tuple[bool, bool, bool]]] = {
    int(m): (m.ephemeral, m.sequential, m.ttl) for m in CreateMode}
log = logging.getLogger("corral.prepare")


class KeeperError(Exception):
    """A request refused with a ZooKeeper error code."""

    def __init__(self, code: int, path: str | None = None) -> None:
        super().__init__(code, path)
        self.code = code
        self.path = path


class ChangeRecord:
    """The pending state of one path: `exists` False means a delete is in flight."""

    __slots__ = ("acl", "aversion", "child_count", "cversion", "data_len", "exists", "owner", "path", "version",
                 "zxid")

    def __init__(self, zxid: int, path: str, exists: bool, version: int = 0, cversion: int = 0,
                 aversion: int = 0, owner: int = 0, child_count: int = 0, acl: AclList = (),
                 data_len: int = 0) -> None:
        self.zxid = zxid
        self.path = path
        self.exists = exists
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.owner = owner
        self.child_count = child_count
        self.acl = acl
        self.data_len = data_len  # the pending data's length: what a setData's quota check compares with

    def duplicate(self, zxid: int) -> ChangeRecord:
        return ChangeRecord(zxid, self.path, self.exists, self.version, self.cversion, self.aversion,
                            self.owner, self.child_count, self.acl, self.data_len)


def _check_version(current: int, expected: int, path: str) -> int:
    if expected != -1 and expected != current:
        raise KeeperError(Errs.BADVERSION, path)
    return i32(current + 1)


def _validate(path: str | None) -> str:
    try:
        validate_path(path)
    except InvalidPath:
        raise KeeperError(Errs.BADARGUMENTS, path)
    assert path is not None
    return path


def _parent_of_raw(path: str | None) -> str:
    """ZooKeeper's `path.substring(0, lastSlash)` (the root's children have parent "")."""
    if path is None:
        raise KeeperError(Errs.BADARGUMENTS, path)
    i = path.rfind("/")
    if i == -1 or "\0" in path:
        raise KeeperError(Errs.BADARGUMENTS, path)
    return path[:i]


class ReconfigPolicy(Protocol):
    """What the preparer asks the server about a reconfig (corral.server.reconfig.ServerReconfig)."""

    @property
    def enabled(self) -> bool: ...  # reconfigEnabled

    @property
    def standalone(self) -> bool: ...

    @property
    def skip_acl(self) -> bool: ...  # zookeeper.skipACL: no permission check on /zookeeper/config

    def prepare(self, req: ReconfigRequest, zxid: int) -> bytes:
        """The new membership text, or KeeperError (BadVersion, BadArguments, NewConfigNoQuorum, ...)."""
        ...


class Preparer:
    """Turns write requests into transactions; owns the zxid counter and the pending changes."""

    def __init__(self, tree: DataTree, extended_types: bool = False, enforce_quota: bool = False) -> None:
        self.tree = tree
        self.enforce_quota = enforce_quota
        self.outstanding: deque[ChangeRecord] = deque()
        self.by_path: dict[str, ChangeRecord] = {}
        # Sessions whose createSession/closeSession is prepared but not applied: sid -> (zxid, alive).
        # With the committed sessions in the tree this is the one answer to "may this session act?":
        # a session is expired exactly when its closeSession is in the log ahead of the request.
        self.session_changes: dict[int, tuple[int, bool]] = {}
        self._session_order: deque[tuple[int, int]] = deque()
        self.extended_types = extended_types
        # Told the top namespace of each write refused by a hard quota (quota_exceeded_error_per_namespace).
        self.on_quota_exceeded: Callable[[str], None] | None = None
        # With local sessions on (the leader's LeaderSessionTracker): whether a session that is not
        # global may still act, as a member's local session. Ephemeral creates need a global session.
        self.local_session: Callable[[int], bool] | None = None
        # zookeeper.skipACL=yes: no permission checks at all (ZooKeeperServer.checkACL returns at once)
        self.skip_acl = False
        # The server's answers about a reconfig; None: reconfig is disabled (ReconfigDisabled)
        self.reconfig: ReconfigPolicy | None = None

    # ---- pending state --------------------------------------------------------------------

    def record(self, path: str) -> ChangeRecord:
        """The latest state of `path` (pending or committed); NoNode if it does not exist."""
        if path == "":
            path = "/"
        rec = self.by_path.get(path)
        if rec is None:
            return self._committed(-1, path)
        if not rec.exists:
            raise KeeperError(Errs.NONODE, path)
        return rec

    def _known_or_valid(self, path: str | None) -> str:
        """A path the tree or the pending state holds was validated when it was created; others are
        checked (BadArguments before NoNode, as ZooKeeper answers)."""
        if path in self.tree.nodes or path in self.by_path:
            assert path is not None
            return path
        return _validate(path)

    def changing(self, path: str, zxid: int) -> ChangeRecord:
        """`record(path)` as a fresh copy stamped with `zxid`, for a write about to change it (one
        object, not a lookup copy and then its duplicate: this runs for every write).

        A record already stamped with `zxid` belongs to this very transaction (a multi's earlier op, or a
        closeSession's earlier ephemeral under the same parent): it is returned as is and changed in
        place, not copied once per op, so a multi of 1000 creates under one parent keeps one parent
        record instead of 1000 copies. No caller changes a record before its last check can fail, and a
        failed multi restores the record from before the transaction (`_rollback`), so this is the
        state a copy would have given."""
        rec = self.by_path.get(path or "/")
        if rec is None:
            return self._committed(zxid, path or "/")
        if not rec.exists:
            raise KeeperError(Errs.NONODE, path)
        if rec.zxid == zxid:
            return rec
        return rec.duplicate(zxid)

    def _committed(self, zxid: int, path: str) -> ChangeRecord:
        """The committed state of `path` as a ChangeRecord stamped `zxid`, read from the record of a packed
        leaf without building a Node (every write to a leaf passes here)."""
        e = self.tree.nodes.get(path)
        if e is None:
            raise KeeperError(Errs.NONODE, path)
        if isinstance(e, Node):
            return ChangeRecord(zxid, path, True, e.version, e.cversion, e.aversion, e.ephemeral_owner,
                                e.num_children(), e.acl, len(e.data or b""))
        if e[AT_FLAGS] & (LEAF_OWNER | LEAF_CVERSION):
            n = as_node(e)
            return ChangeRecord(zxid, path, True, n.version, n.cversion, n.aversion, n.ephemeral_owner, 0, n.acl,
                                len(n.data or b""))
        return ChangeRecord(zxid, path, True, i32_at(e, AT_VERSION), i32_at(e, AT_CVERSION) >> 1,
                            i32_at(e, AT_AVERSION), i64_at(e, AT_OWNER), 0, acl_by_id(i32_at(e, AT_ACL)),
                            leaf_data_len(e))

    def _check_quota(self, path: str, bytes_diff: int, count_diff: int) -> None:
        """ZooKeeperServer.checkQuota (3.7+, `enforceQuota`): a change that takes the deepest quota root
        above `path` past a hard limit is QuotaExceeded; past a soft limit it is only logged. Usage is
        the committed one in `zookeeper_stats`, as in ZooKeeper."""
        root = self.tree.quota_root_of(path)
        if root is None:
            return
        limits = self.tree.nodes.get(f"{QUOTA_ROOT}{root}/{LIMIT_NODE}")
        if limits is None:
            return
        limit = parse_stats(entry_data(limits))
        stats_node = self.tree.nodes.get(f"{QUOTA_ROOT}{root}/{STATS_NODE}")
        for diff, soft_key, hard_key, used_key in ((count_diff, "count", "countHardLimit", "count"),
                                                   (bytes_diff, "bytes", "byteHardLimit", "bytes")):
            soft, hard = limit.get(soft_key, -1), limit.get(hard_key, -1)
            if diff == 0 or (soft < 0 and hard < 0):
                continue
            if stats_node is None:
                return
            new = parse_stats(entry_data(stats_node)).get(used_key, 0) + diff
            cap = hard if hard > -1 else soft
            if new > cap:
                log.info("event=quota_exceeded root=%s %s=%d %sLimit=%d", root, used_key, new,
                         "hard" if hard > -1 else "soft", cap)
                if hard > -1:
                    hook = self.on_quota_exceeded
                    if hook is not None:
                        hook(path.split("/")[1])  # PathUtils.getTopNamespace of the request's path
                    raise KeeperError(Errs.QUOTAEXCEEDED, root)

    def exists(self, path: str) -> bool:
        """Whether `path` exists (pending or committed); `record` without the exception for NoNode."""
        rec = self.by_path.get(path)
        if rec is None:
            return path in self.tree.nodes
        return rec.exists

    def _add(self, rec: ChangeRecord, saved: dict[str, ChangeRecord | None] | None) -> None:
        by_path = self.by_path
        path = rec.path
        prev = by_path.get(path)
        if prev is rec:
            return  # this transaction's own record, changed in place (`changing`): already listed
        if saved is not None and path not in saved:
            saved[path] = prev
        self.outstanding.append(rec)
        by_path[path] = rec

    def committed(self, zxid: int) -> None:
        """The tree has applied everything up to `zxid`: forget those pending changes."""
        out = self.outstanding
        by_path = self.by_path
        while out and out[0].zxid <= zxid:
            rec = out.popleft()
            if by_path.get(rec.path) is rec:
                del by_path[rec.path]
        order = self._session_order
        while order and order[0][0] <= zxid:
            z, sid = order.popleft()
            change = self.session_changes.get(sid)
            if change is not None and change[0] == z:
                del self.session_changes[sid]

    def reset(self) -> None:
        """Drop all pending changes (a new leadership starts from the committed state)."""
        self.outstanding.clear()
        self.by_path.clear()
        self.session_changes.clear()
        self._session_order.clear()

    # ---- sessions ---------------------------------------------------------------------------

    def session_alive(self, session: int) -> bool:
        """Committed and not closing, or being created: ZooKeeper's SessionTracker.checkSession."""
        change = self.session_changes.get(session)
        if change is not None:
            return change[1]
        return session in self.tree.sessions

    def session_closing(self, session: int) -> bool:
        """A closeSession for `session` is prepared and not yet applied."""
        change = self.session_changes.get(session)
        return change is not None and not change[1]

    def _session_change(self, zxid: int, session: int, alive: bool) -> None:
        self.session_changes[session] = (zxid, alive)
        self._session_order.append((zxid, session))

    # ---- the entry point ------------------------------------------------------------------

    def prepare(self, zxid: int, session: int, cxid: int, op: int, req: Record | list[tuple[int, Record]] | None,
                auth: list[AuthId], time: int) -> tuple[TxnHeader, Record | MultiOps]:
        """One write request → (header, txn) under `zxid` (the quorum core's next one). Errors become an
        ErrorTxn with the same zxid."""
        txn: Record | MultiOps
        try:
            # A multi's request is its list of ops (`decode_write`) and every other request is a record, so
            # the list test is the opcode test, and tells the checker which one `req` is.
            if isinstance(req, list):
                txn = self._multi(session, req, auth, zxid, time)
            else:
                self.check_session(session)
                txn = self._one(session, op, req, auth, zxid, time, None)
            return TxnHeader(session, cxid, zxid, time, op), txn
        except KeeperError as e:
            return TxnHeader(session, cxid, zxid, time, OP_ERROR), ErrorTxn(e.code)

    def session_txn(self, zxid: int, session: int, op: int, timeout: int, time: int,
                    cxid: int = 0) -> tuple[TxnHeader, Record]:
        """createSession / closeSession transactions (a client's request, or the leader's expiry)."""
        if op == OP_CREATE_SESSION:
            self._session_change(zxid, session, True)
            return TxnHeader(session, cxid, zxid, time, op), CreateSessionTxn(timeout)
        self._session_change(zxid, session, False)
        paths = set(self.tree.ephemerals.get(session, ()))
        for c in self.outstanding:
            if not c.exists:
                paths.discard(c.path)
            elif c.owner == session:
                paths.add(c.path)
        ordered = sorted(paths)
        for p in ordered:
            self._delete_record(p, zxid, None)
        # The record's field is `list[str | None]` (jute strings may be null); nothing writes to this list.
        return TxnHeader(session, cxid, zxid, time, op), CloseSessionTxn(cast("list[str | None]", ordered))

    def check_session(self, session: int) -> None:
        """Session 0 is the server itself (the container reaper); any other must be live
        (`session_alive`, inlined: every write asks)."""
        if session:
            change = self.session_changes.get(session)
            if not (change[1] if change is not None else session in self.tree.sessions):
                local = self.local_session
                if local is None or change is not None or not local(session):
                    raise KeeperError(Errs.SESSIONEXPIRED)

    def _delete_record(self, path: str, zxid: int, saved: dict[str, ChangeRecord | None] | None) -> None:
        try:
            parent = self.changing(path[:path.rfind("/")], zxid)
            parent.child_count -= 1
            self._add(parent, saved)
        except KeeperError:
            pass
        self._add(ChangeRecord(zxid, path, False), saved)

    def _one(self, session: int, op: int, req: Record | None, auth: list[AuthId], zxid: int, time: int,
             saved: dict[str, ChangeRecord | None] | None) -> Record:
        if op in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
            return self._create(session, op, req, auth, zxid, saved)
        if op == OP_DELETE:
            assert isinstance(req, DeleteRequest)
            path = req.path
            parent_path = _parent_of_raw(path)
            assert path is not None
            if path in SPECIAL_PATHS:
                raise KeeperError(Errs.BADARGUMENTS, path)
            parent = self.record(parent_path)
            if not (self.skip_acl or aclmod.check_acl(parent.acl, PERM_DELETE, auth)):
                raise KeeperError(Errs.NOAUTH, path)
            node = self.record(path)
            _check_version(node.version, req.version, path)
            if node.child_count > 0:
                raise KeeperError(Errs.NOTEMPTY, path)
            self._delete_record(path, zxid, saved)
            return DeleteTxn(path)
        if op == OP_DELETE_CONTAINER:
            assert isinstance(req, DeleteRequest)
            path = req.path
            parent_path = _parent_of_raw(path)
            assert path is not None
            if path in SPECIAL_PATHS:
                raise KeeperError(Errs.BADARGUMENTS, path)
            node = self.record(path)
            if node.child_count > 0:
                raise KeeperError(Errs.NOTEMPTY, path)
            if is_ephemeral_owner(node.owner):
                raise KeeperError(Errs.BADVERSION, path)  # refuses plain ephemerals, as ZooKeeper does
            self.record(parent_path)
            self._delete_record(path, zxid, saved)
            return DeleteTxn(path)
        if op == OP_SET_DATA:
            assert isinstance(req, SetDataRequest)
            path = self._known_or_valid(req.path)
            node = self.changing(path, zxid)
            if not (self.skip_acl or aclmod.check_acl(node.acl, PERM_WRITE, auth)):
                raise KeeperError(Errs.NOAUTH, path)
            new_len = len(req.data or b"")
            if self.enforce_quota:
                self._check_quota(path, new_len - node.data_len, 0)
            version = _check_version(node.version, req.version, path)
            node.version = version
            node.data_len = new_len
            self._add(node, saved)
            return SetDataTxn(path, req.data, version)
        if op == OP_SET_ACL:
            assert isinstance(req, SetACLRequest)
            path = self._known_or_valid(req.path)
            try:
                acl = aclmod.fixup_acl(req.acl, auth)
            except aclmod.InvalidACLError:
                raise KeeperError(Errs.INVALIDACL, path)
            except aclmod.NullIdError:
                raise KeeperError(Errs.MARSHALLINGERROR, path)
            node = self.changing(path, zxid)
            if not (self.skip_acl or aclmod.check_acl(node.acl, PERM_ADMIN, auth)):
                raise KeeperError(Errs.NOAUTH, path)
            version = _check_version(node.aversion, req.version, path)
            node.aversion = version
            node.acl = acl
            self._add(node, saved)
            return SetACLTxn(path, aclmod.to_records(acl), version)
        if op == OP_CHECK:
            assert isinstance(req, CheckVersionRequest)
            path = _validate(req.path)
            node = self.record(path)
            if not (self.skip_acl or aclmod.check_acl(node.acl, PERM_READ, auth)):
                raise KeeperError(Errs.NOAUTH, path)
            return CheckVersionTxn(path, _check_version(node.version, req.version, path))
        if op == OP_RECONFIG:
            assert isinstance(req, ReconfigRequest)
            return self._reconfig(req, auth, zxid, saved)
        raise KeeperError(Errs.UNIMPLEMENTED)

    def _reconfig(self, req: ReconfigRequest, auth: list[AuthId], zxid: int,
                  saved: dict[str, ChangeRecord | None] | None) -> Record:
        """PrepRequestProcessor's case OpCode.reconfig, its checks in Apache's order (the membership
        arithmetic is the policy's)."""
        policy = self.reconfig
        if policy is None or not policy.enabled:
            log.info("event=reconfig_refused reason=disabled")
            raise KeeperError(Errs.RECONFIGDISABLED)
        if policy.standalone:
            log.info("event=reconfig_refused reason=standalone")
            raise KeeperError(Errs.UNIMPLEMENTED)
        if CONFIG_NODE in self.by_path:  # a reconfig prepared and not yet applied
            log.info("event=reconfig_refused reason=in_progress")
            raise KeeperError(Errs.RECONFIGINPROGRESS)
        data = policy.prepare(req, zxid)
        node = self.record(CONFIG_NODE)
        if not (policy.skip_acl or aclmod.check_acl(node.acl, PERM_WRITE, auth)):
            log.info("event=reconfig_refused reason=no_auth")
            raise KeeperError(Errs.NOAUTH)
        # Apache: a SetDataTxn of the new configuration on /zookeeper/config, version -1, in a txn of
        # type reconfig; its pending record is what makes a second reconfig ReconfigInProgress.
        rec = self.changing(CONFIG_NODE, zxid)
        rec.version = -1
        rec.data_len = len(data)
        self._add(rec, saved)
        return SetDataTxn(CONFIG_NODE, data, -1)

    @staticmethod
    def error_txn(zxid: int, session: int, cxid: int, code: int, time: int) -> tuple[TxnHeader, Record]:
        """A write whose body could not be decoded still consumes a zxid (ZooKeeper: MarshallingError)."""
        return TxnHeader(session, cxid, zxid, time, OP_ERROR), ErrorTxn(code)

    def _create(self, session: int, op: int, req: Record | None, auth: list[AuthId], zxid: int,
                saved: dict[str, ChangeRecord | None] | None) -> Record:
        # a tuple, not `A | B`: compiled, the union is built on every call (~60 ns)
        assert isinstance(req, (CreateRequest, CreateTTLRequest))
        path = req.path
        mode = _CREATE_MODES.get(req.flags)
        if mode is None:
            raise KeeperError(Errs.BADARGUMENTS, path)
        ephemeral, sequential, with_ttl = mode
        if ephemeral and session and self.local_session is not None and not self.session_alive(session):
            # checkGlobalSession: a local session must be upgraded first (its member does that)
            raise KeeperError(Errs.SESSIONEXPIRED, path)
        ttl = req.ttl if isinstance(req, CreateTTLRequest) else -1
        if with_ttl and not self.extended_types:
            raise KeeperError(Errs.UNIMPLEMENTED, path)
        if with_ttl:
            if not 0 < ttl <= MAX_TTL:
                raise KeeperError(Errs.BADARGUMENTS, path)
        elif ttl >= 0:
            raise KeeperError(Errs.BADARGUMENTS, path)
        parent_path = _parent_of_raw(path)
        assert path is not None
        try:
            acl = aclmod.fixup_acl(req.acl, auth)
        except aclmod.InvalidACLError:
            raise KeeperError(Errs.INVALIDACL, path)
        except aclmod.NullIdError:
            raise KeeperError(Errs.MARSHALLINGERROR, path)
        parent = self.changing(parent_path, zxid)  # this txn's pending parent: added below if the create succeeds
        if not (self.skip_acl or aclmod.check_acl(parent.acl, PERM_CREATE, auth)):
            raise KeeperError(Errs.NOAUTH, path)
        parent_cversion = parent.cversion
        if sequential:
            path = f"{path}{parent_cversion:010d}"
        path = _validate(path)
        if self.exists(path):
            raise KeeperError(Errs.NODEEXISTS, path)
        if is_ephemeral_owner(parent.owner):
            raise KeeperError(Errs.NOCHILDRENFOREPHEMERALS, path)
        new_cversion = i32(parent_cversion + 1)
        if self.enforce_quota:
            self._check_quota(path, len(req.data or b""), 1)
        # The pending owner is the one the transaction will give the node (it follows the opcode, see
        # below). ZooKeeper derives it from the flags instead, so a createContainer with EPHEMERAL flags
        # pipelined ahead of its session's close gets the container deleted by that close; here the
        # pending state always equals what applying gives.
        if op == OP_CREATE_CONTAINER:
            owner = CONTAINER_OWNER
        elif op == OP_CREATE_TTL:
            owner = TTL_MASK | ttl
        elif ephemeral:
            owner = session
        else:
            owner = 0
        parent.child_count += 1
        parent.cversion = new_cversion
        self._add(parent, saved)
        self._add(ChangeRecord(zxid, path, True, 0, 0, 0, owner, 0, acl, len(req.data or b"")), saved)
        acl_records = aclmod.to_records(acl)
        # The transaction follows the opcode, the pending owner the flags, exactly as ZooKeeper's
        # pRequest2TxnCreate: a plain create with CONTAINER flags makes a persistent node, and the
        # header type (the opcode) must always match the record, or the log could not be read back.
        if op == OP_CREATE_CONTAINER:
            return CreateContainerTxn(path, req.data, acl_records, new_cversion)
        if op == OP_CREATE_TTL:
            return CreateTTLTxn(path, req.data, acl_records, new_cversion, ttl)
        return CreateTxn(path, req.data, acl_records, ephemeral, new_cversion)

    def _multi(self, session: int, ops: list[tuple[int, Record]], auth: list[AuthId], zxid: int,
               time: int) -> MultiOps:
        """All-or-nothing: one zxid; on the first failure the multi's pending changes are rolled back."""
        saved: dict[str, ChangeRecord | None] = {}
        txns: list[tuple[int, Record]] = []
        failed = False
        for op, sub in ops:
            if failed:
                txns.append((OP_ERROR, ErrorTxn(Errs.RUNTIMEINCONSISTENCY)))
                continue
            try:
                self.check_session(session)
                rec = self._one(session, op, sub, auth, zxid, time, saved)
                txns.append((op, rec))
            except KeeperError as e:
                failed = True
                txns.append((OP_ERROR, ErrorTxn(e.code)))
                self._rollback(zxid, saved)
        return MultiOps(txns)

    def _rollback(self, zxid: int, saved: dict[str, ChangeRecord | None]) -> None:
        out = self.outstanding
        while out and out[-1].zxid == zxid:
            out.pop()
        for path, prev in saved.items():
            if prev is None:
                self.by_path.pop(path, None)
            else:
                self.by_path[path] = prev
        saved.clear()
