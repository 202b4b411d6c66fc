"""`corral log`, `corral snapshot`, `corral purge`: the zkTxnLogToolkit / zkSnapShotToolkit / zkCleanup
equivalents. Exit status: 0 good, 1 corrupt (with file and offset on stderr), 2 usage errors."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..protocol import OpCode, Record
from ..tree.datatree import MultiOps, client_owner

if TYPE_CHECKING:  # the commands import persistence lazily, to keep `corral --help` fast
    from ..persistence.snapshot import Snapshot
    from ..persistence.txnlog import LogRecord


def _ts(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d} UTC"


def _op_name(t: int) -> str:
    try:
        return OpCode(t).name
    except ValueError:
        return str(t)


def _describe(txn: object) -> str:
    if txn is None:
        return ""
    if isinstance(txn, MultiOps):  # a multi's sub-transactions, each as its own record
        return "{txns=[" + ", ".join(f"{_op_name(t)} {_describe(r)}" for t, r in txn.ops) + "]}"
    assert isinstance(txn, Record)
    parts = []
    for name, _ in txn.FIELDS:
        v = getattr(txn, name)
        if isinstance(v, bytes):
            v = "#" + v.hex() if len(v) <= 64 else f"#{v[:64].hex()}…({len(v)} bytes)"
        elif isinstance(v, list):
            v = "[" + ", ".join(_describe(e) if isinstance(e, Record) else repr(e) for e in v) + "]"
        elif isinstance(v, Record):
            v = _describe(v)
        parts.append(f"{name}={v}")
    return "{" + ", ".join(parts) + "}"


@click.group("log")
def log_cmd() -> None:
    """Inspect transaction log files (log.<zxid>)."""


def _is_last_log(path: Path) -> bool:
    """Whether `path` is the newest log of its directory: only there can a torn tail be legitimate
    (the server was killed mid-write); damage in any older file is corruption."""
    from ..persistence.files import LOG_PREFIX, list_files, zxid_of

    z = zxid_of(path.name, LOG_PREFIX)
    if z is None:
        return True
    return not any(other > z for other, _ in list_files(path.resolve().parent, LOG_PREFIX))


def _undecodable(records: Iterable[LogRecord]) -> tuple[int, str] | None:
    """(offset, reason) of the first record whose checksum holds but whose transaction cannot be read:
    recovery would stop there, so verify reports it."""
    from ..persistence.txnlog import decode_txn_payload
    from ..protocol import DecodeError

    for rec in records:
        try:
            decode_txn_payload(rec.payload)
        except DecodeError as e:
            return rec.offset, str(e)
    return None


def _scan_log(path: Path) -> tuple[list[LogRecord], int | None] | None:
    """(records, torn offset or None) of one log file, or None after printing why it cannot be read."""
    from ..persistence.txnlog import LogCorruptError, scan

    try:
        return scan(path, last_file=_is_last_log(path))
    except LogCorruptError as e:
        click.echo(f"corral: {e}", err=True)
    except OSError as e:
        click.echo(f"corral: cannot read {path}: {e.strerror}", err=True)
    return None


def _in_zxid_order(files: tuple[Path, ...]) -> list[Path]:
    """The files by the zxid in their names: a shell glob sorts `log.a` before `log.9` (as text)."""
    from ..persistence.files import sort_by_zxid

    return sort_by_zxid(list(files))


def _dbid(path: Path) -> int:
    from ..protocol import DecodeError, FileHeader

    try:
        with open(path, "rb") as f:
            return FileHeader.from_bytes(f.read(16)).dbid
    except (OSError, DecodeError):
        return 0


@log_cmd.command("dump")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def log_dump(files: tuple[Path, ...]) -> None:
    """Print every transaction, one line each (files in zxid order, whatever order they are given in), with
    the tree digest ZooKeeper 3.6+ logs after each txn."""
    from ..persistence.txnlog import decode_txn_payload, txn_digest
    from ..protocol import DecodeError

    status = 0
    for path in _in_zxid_order(files):
        scanned = _scan_log(path)
        if scanned is None:
            status = 1
            continue
        records, torn = scanned
        click.echo(f"ZooKeeper Transactional Log File with dbid {_dbid(path)} txnlog format version 2 ({path})")
        for i, rec in enumerate(records, 1):
            try:
                hdr, txn = decode_txn_payload(rec.payload)
            except DecodeError as e:
                click.echo(f"corral: {path}: undecodable transaction at offset {rec.offset}: {e}", err=True)
                status = 1
                break
            sid, cx = hdr.clientId & 0xFFFFFFFFFFFFFFFF, hdr.cxid & 0xFFFFFFFF
            digest = txn_digest(rec.payload)
            tail = f" digest {{version={digest.version}, treeDigest={digest.treeDigest}}}" if digest else ""
            click.echo(f"{_ts(hdr.time)} session 0x{sid:x} cxid 0x{cx:x} "
                       f"zxid 0x{hdr.zxid:x} {_op_name(hdr.type)} {_describe(txn)}{tail}")
            if i % 100000 == 0:
                click.echo(f"... {i} transactions", err=True)
        if torn is not None:
            click.echo(f"corral: {path}: incomplete record at offset {torn} (torn tail)", err=True)
            status = 1
        click.echo(f"EOF reached after {len(records)} txns.")
    sys.exit(status)


@log_cmd.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def log_verify(files: tuple[Path, ...]) -> None:
    """Check every record's checksum, that its transaction decodes, and zxid order, in each file and
    across the files given (taken in the order of the zxids in their names).

    Every file is checked even after a bad one; the exit status is 1 if any was bad. A torn tail is
    reported as such only in the newest log of its directory (elsewhere it is corruption, unless
    ZooKeeper's zero padding follows it: a preallocated log whose server was killed mid-write).
    """
    status = 0
    prev: tuple[Path, int] | None = None
    for path in _in_zxid_order(files):
        scanned = _scan_log(path)
        if scanned is None:
            status = 1
            continue
        records, torn = scanned
        bad = _undecodable(records)
        if bad is not None:
            click.echo(f"corral: {path}: undecodable transaction at offset {bad[0]}: {bad[1]}", err=True)
            status = 1
            continue
        if records and prev is not None and records[0].zxid <= prev[1]:
            click.echo(f"corral: {path}: first zxid 0x{records[0].zxid:x} does not follow "
                       f"0x{prev[1]:x} at the end of {prev[0]}", err=True)
            status = 1
        if records:
            prev = (path, records[-1].zxid)
        if torn is not None:
            click.echo(f"{path}: {len(records)} valid records, then an incomplete record at offset {torn}", err=True)
            status = 1
        else:
            first = f"0x{records[0].zxid:x}" if records else "-"
            last = f"0x{records[-1].zxid:x}" if records else "-"
            click.echo(f"{path}: OK, {len(records)} records, zxid {first}..{last}")
    sys.exit(status)


@click.group("snapshot")
def snapshot_cmd() -> None:
    """Inspect snapshot files (snapshot.<zxid>)."""


def _load_or_exit(path: Path) -> Snapshot:
    """The loaded snapshot, or exit 1 (invalid: one line naming file, offset and reason) or 2 (unreadable)."""
    from ..persistence.snapshot import SnapshotCorruptError, load_snapshot

    try:
        return load_snapshot(path, progress=lambda n: click.echo(f"... {n} znodes", err=True))
    except SnapshotCorruptError as e:
        click.echo(f"corral: {e}", err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"corral: cannot read {path}: {e.strerror}", err=True)
        sys.exit(2)


def _describe_format(snap: Snapshot) -> str:
    layout = {"3.5": "ZooKeeper 3.5 layout (no digest)", "3.6": "ZooKeeper 3.6-3.8 layout",
              "3.9": "ZooKeeper 3.9 layout", "3.9-nodigest": "ZooKeeper 3.9 layout without digest",
              "corral-legacy": "corral's layout before 0.2 (not readable by ZooKeeper)"}[snap.layout]
    return layout + (f", {snap.compression}-compressed" if snap.compression else "")


@snapshot_cmd.command("dump")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-d", "--data", is_flag=True, help="Also print each znode's data (base64).")
def snapshot_dump(file: Path, data: bool) -> None:
    """Print every znode with its Stat, then the sessions (corral's and Apache ZooKeeper's snapshots)."""
    snap = _load_or_exit(file)
    tree = snap.tree
    click.echo(f"ZNode Details (count={tree.node_count()}), snapshot valid at zxid 0x{tree.last_zxid:x}:")
    for path in sorted(tree.nodes):
        n = tree.get(path)
        assert n is not None
        st = n.stat()
        click.echo(path)
        click.echo(f"  cZxid = 0x{st.czxid:x}\n  ctime = {_ts(st.ctime)}\n  mZxid = 0x{st.mzxid:x}\n"
                   f"  mtime = {_ts(st.mtime)}\n  pZxid = 0x{st.pzxid:x}\n  cversion = {st.cversion}\n"
                   f"  dataVersion = {st.version}\n  aclVersion = {st.aversion}\n"
                   f"  ephemeralOwner = 0x{client_owner(n.ephemeral_owner) & 0xFFFFFFFFFFFFFFFF:x}\n"
                   f"  dataLength = {st.dataLength}")
        if data:
            click.echo(f"  data = {base64.b64encode(n.data).decode() if n.data is not None else 'null'}")
    click.echo(f"Session Details (sid, timeout, ephemeralCount): {len(tree.sessions)}")
    for sid, timeout in sorted(tree.sessions.items()):
        click.echo(f"0x{sid & 0xFFFFFFFFFFFFFFFF:x}, {timeout}, {len(tree.ephemerals.get(sid, ()))}")
    click.echo(f"Format: {_describe_format(snap)}")
    if snap.digest is not None:
        click.echo(f"Digest: zxid 0x{snap.digest.zxid:x}, version {snap.digest.version}, value {snap.digest.digest}")


@snapshot_cmd.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def snapshot_verify(file: Path) -> None:
    """Check the checksums and structure of a snapshot, and its tree digest when it can be compared.

    The digest is compared when it was recorded at the snapshot's own zxid (always, for corral's
    snapshots; for ZooKeeper's, when no write completed while it was written)."""
    from ..tree.digest import DIGEST_VERSION, tree_digest

    snap = _load_or_exit(file)
    tree = snap.tree
    line = f"{file}: OK, zxid 0x{tree.last_zxid:x}, {tree.node_count()} znodes, {len(tree.sessions)} sessions"
    d = snap.digest
    if d is None or d.zxid <= 0 or d.zxid != snap.zxid or d.version != DIGEST_VERSION:
        click.echo(line)
        return
    actual = tree_digest(tree)
    if actual != d.digest:
        click.echo(f"corral: {file}: checksums hold but the tree digest is {actual}, the snapshot recorded "
                   f"{d.digest} at zxid 0x{d.zxid:x} (ZooKeeper can record one while a write is half applied; "
                   f"a corral snapshot never does)", err=True)
        sys.exit(1)
    click.echo(f"{line}, digest {actual} matches")


@click.command("purge")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), help="dataLogDir, if not dataDir.")
@click.option("-n", "--count", default=3, show_default=True, help="Snapshots to keep (3 or more).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def purge_cmd(data_dir: Path, log_dir: Path | None, count: int, dry_run: bool) -> None:
    """Delete old snapshots and the logs no retained snapshot needs (like zkCleanup.sh -n).

    A count below 3 is refused with exit status 2 and nothing is deleted, as zkCleanup.sh refuses it
    ("count should be greater than or equal to 3"): keeping a different number than asked, silently,
    would hide the mistake.
    """
    from ..persistence.purge import check_retain, plan, purge

    try:
        check_retain(count)
    except ValueError as e:
        click.echo(f"corral purge: {e}; nothing deleted", err=True)
        sys.exit(2)
    logs = log_dir or data_dir
    doomed = plan(data_dir, logs, count) if dry_run else purge(data_dir, logs, count)
    for p in doomed:
        click.echo(("would remove " if dry_run else "removed ") + str(p))
    verb = "to remove" if dry_run else "removed"
    click.echo(f"{len(doomed)} files {verb}; kept the newest {count} snapshots")
