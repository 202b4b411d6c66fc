"""`corral migrate check HOST:PORT...`: is this ensemble in a state where the next member may be swapped?

A rolling migration (docs/migration.md) replaces one member at a time, Apache ZooKeeper by corral or
back, on the same zoo.cfg and dataDir. Before and after each swap the operator needs one answer: do all
members form one ensemble with one leader, have they all applied the same history, and do they hold the
same tree? This command asks every member on its client port, with four-letter words both kinds answer:

* `srvr` (always allowed): the mode and the last applied zxid;
* `hash` (Apache's DigestCommand; Apache 3.8 runs it only when `4lw.commands.whitelist` names it): the
  tree digest after each zxid that is a multiple of 128, which both kinds compute the same way. Members
  under write load are never all at one zxid at one instant, but their digests at a zxid they have all
  passed are comparable, and equal ones mean the same tree;
* `mntr` on the leader (when allowed): how many followers it counts as synced, so that a member missing
  from the command line is noticed.

It waits (a bounded time) until every member has applied what the leader had applied at the first look,
and until the members' digest histories share a zxid. Exit code 0 only when all of it holds; 1 when the
check fails (the reasons are printed); 2 for a bad command line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field

import click

from ..probe import NotAllowed, ProbeError, parse_mntr, parse_srvr, send_word

IN_ENSEMBLE = ("leader", "follower", "observer", "standalone")
LEADING = ("leader", "standalone")  # a standalone server is an ensemble of one: it leads itself
POLL_SECONDS = 0.25
WHITELIST_HINT = "add it to the member's 4lw.commands.whitelist (e.g. 4lw.commands.whitelist=srvr,mntr,hash)"


@dataclass
class MemberState:
    """What one member said in the last round."""

    address: str
    host: str
    port: int
    mode: str = "unreachable"
    zxid: int = -1
    version: str = ""
    digests: dict[int, int] = field(default_factory=dict)  # zxid -> tree digest, from `hash`
    error: str = ""  # why the member could not be probed (empty when it answered)
    synced_followers: int | None = None  # the leader's mntr zk_synced_followers
    mntr_refused: bool = False  # the leader's whitelist refuses mntr (the follower count goes unchecked)

    @property
    def kind(self) -> str:
        return "corral" if "corral" in self.version else "apache" if self.version else "?"


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]
    summary: str = ""
    digest_zxid: int | None = None


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` → (host, port); ValueError with a one-line reason."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon or not host:
        raise ValueError(f"{text!r}: expected HOST:PORT (the member's client port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: put an IPv6 address in brackets, e.g. [::1]:2181")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number between 1 and 65535")
    return host, int(port_text)


def parse_hash(text: str) -> dict[int, int]:
    """Apache's DigestCommand output, `<zxid hex>: <digest>` per line."""
    out: dict[int, int] = {}
    for line in text.splitlines():
        zxid, sep, digest = line.partition(": ")
        if sep:
            try:
                out[int(zxid.strip(), 16)] = int(digest.strip())
            except ValueError:
                continue
    return out


async def _probe(m: MemberState, timeout: float) -> None:
    """Refresh `m` from srvr and hash (and mntr on a leader)."""
    m.error = ""
    try:
        srvr = parse_srvr(await send_word(m.host, m.port, "srvr", timeout))
    except ProbeError as e:
        m.mode, m.zxid, m.error = "unreachable", -1, f"no answer to srvr: {e}"
        return
    m.version = srvr.get("Zookeeper version", "").split(",")[0]
    m.mode = srvr.get("Mode", "not serving")
    zxid = srvr.get("Zxid", "")
    try:
        m.zxid = int(zxid, 16) if zxid else -1
    except ValueError:
        m.zxid = -1
    m.digests = {}
    if m.mode not in IN_ENSEMBLE:
        return
    try:
        m.digests = parse_hash(await send_word(m.host, m.port, "hash", timeout))
    except NotAllowed:
        m.error = f"refuses the four-letter word hash: {WHITELIST_HINT}"
    except ProbeError as e:
        m.error = f"no answer to hash: {e}"
    m.synced_followers = None
    m.mntr_refused = False
    if m.mode == "leader":
        try:
            value = parse_mntr(await send_word(m.host, m.port, "mntr", timeout)).get("zk_synced_followers")
            m.synced_followers = int(value) if value is not None else None
        except NotAllowed:
            m.mntr_refused = True  # optional: the membership count is then not checked (the verdict says so)
        except (ProbeError, ValueError):
            pass


def judge(members: list[MemberState], target: int | None, final: bool) -> Verdict:
    """The verdict on one round. `target`: the zxid every member must have reached (the leader's at the
    first look). Before the `final` round only definitive failures count as failures."""
    reasons: list[str] = []
    pending: list[str] = []  # conditions that more time may fix
    leaders = [m for m in members if m.mode in LEADING]
    outside = [m for m in members if m.mode not in IN_ENSEMBLE]
    for m in members:
        if m.error:
            pending.append(f"{m.address} {m.error}")
    if outside:
        pending.append("not in the ensemble: " + ", ".join(f"{m.address} ({m.mode})" for m in outside))
    if len(leaders) != 1:
        pending.append(f"{len(leaders)} leaders among the members given"
                       + (f" ({', '.join(m.address for m in leaders)})" if leaders else ""))
    elif leaders[0].synced_followers is not None:
        followers = sum(1 for m in members if m.mode == "follower")
        if leaders[0].synced_followers > followers:
            reasons.append(f"the leader {leaders[0].address} has {leaders[0].synced_followers} synced followers "
                           f"but {followers} are given: name every member of the ensemble")
        elif leaders[0].synced_followers < followers:
            pending.append(f"the leader {leaders[0].address} counts {leaders[0].synced_followers} synced followers, "
                           f"{followers} are given")
    if target is not None and target & 0xFFFFFFFF == 0:
        # A leader of a new epoch before its first txn (an idle ensemble after an election) reports
        # epoch << 32, which names no txn: every member must then be at the newest txn any member
        # applied (a quorum acked the leader's whole history, so some member holds all of it).
        applied = [m.zxid for m in members if 0 <= m.zxid < target]
        target = max(applied) if applied else target
    if target is not None:
        behind = [m for m in members if m.zxid < target]
        if behind:
            pending.append(f"not yet at the leader's zxid 0x{target:x}: "
                           + ", ".join(f"{m.address} (0x{m.zxid:x})" for m in behind))
    histories = [m.digests for m in members]
    common = set(histories[0]).intersection(*histories[1:]) if histories and all(histories) else set()
    digest_zxid = None
    for z in sorted(common, reverse=True):
        values = {m.digests[z] for m in members}
        if len(values) != 1:
            reasons.append(f"tree digests differ at zxid 0x{z:x}: "
                           + ", ".join(f"{m.address}={m.digests[z]}" for m in members))
            break
        if digest_zxid is None:
            digest_zxid = z
    if digest_zxid is None and not reasons and not any(m.error for m in members):
        pending.append("no zxid with a tree digest on every member yet: members log the digest after each zxid "
                       "that is a multiple of 128 (a corral member from the first `hash` on, which this check "
                       "sends), so it needs up to 128 more writes; run it again after them")
    if reasons or (final and pending):
        return Verdict(False, reasons + pending, digest_zxid=digest_zxid)
    if pending:
        return Verdict(False, [], digest_zxid=digest_zxid)  # not yet: keep waiting
    assert digest_zxid is not None  # no pending condition left
    lead = leaders[0]
    counted = " (the leader refuses mntr: its follower count is unchecked)" if lead.mntr_refused else ""
    n = len(members)
    digest = members[0].digests[digest_zxid]
    summary = (f"one leader ({lead.address}), {n} member{'' if n == 1 else 's'} in the ensemble{counted}, "
               f"all at or past zxid 0x{target or 0:x}, tree digest {digest} at zxid 0x{digest_zxid:x} on every member")
    return Verdict(True, [], summary=summary, digest_zxid=digest_zxid)


async def run_check(members: list[MemberState], wait: float, timeout: float,
                    poll: float = POLL_SECONDS) -> Verdict:
    """Probe every member until the verdict is positive, definitively negative, or `wait` seconds passed."""
    deadline = time.monotonic() + wait
    target: int | None = None
    while True:
        await asyncio.gather(*(_probe(m, timeout) for m in members))
        leaders = [m for m in members if m.mode in LEADING]
        if target is None and len(leaders) == 1:
            target = leaders[0].zxid
        final = time.monotonic() >= deadline
        verdict = judge(members, target, final)
        if verdict.ok or verdict.reasons:
            return verdict
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _line(m: MemberState, digest_zxid: int | None) -> str:
    zxid = f"0x{m.zxid:x}" if m.zxid >= 0 else "-"
    if digest_zxid is not None and digest_zxid in m.digests:
        digest = f"digest@0x{digest_zxid:x}={m.digests[digest_zxid]}"
    elif m.digests:
        newest = max(m.digests)
        digest = f"digest@0x{newest:x}={m.digests[newest]}"
    else:
        digest = "digest -"
    version = m.version if m.kind == "corral" else m.version.split("-")[0]  # Apache's release, no build id
    return f"{m.address:<22} {m.mode:<12} {m.kind:<7} zxid {zxid:<14} {digest}  {version}".rstrip()


@click.group("migrate")
def migrate_cmd() -> None:
    """Rolling migration between Apache ZooKeeper and corral (docs/migration.md)."""


@migrate_cmd.command("check")
@click.argument("members", nargs=-1, required=True, metavar="HOST:PORT...")
@click.option("--wait", default=30.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds to wait for the members to agree.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Seconds each four-letter word may take.")
def check(members: tuple[str, ...], wait: float, timeout: float) -> None:
    """Check that the members at HOST:PORT (client ports; name every member) form one ensemble with one
    leader, have applied the same transactions and hold the same tree (`hash` digests).

    Apache members must allow `hash` (and, for the follower count, `mntr`) in 4lw.commands.whitelist.
    Exit code 0 when all of it holds, 1 when not (with the reasons), 2 for a bad command line."""
    states: list[MemberState] = []
    seen: set[tuple[str, int]] = set()
    for text in members:
        try:
            host, port = parse_address(text)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="HOST:PORT") from None
        if (host, port) in seen:
            raise click.BadParameter(f"{text!r} is given twice", param_hint="HOST:PORT")
        seen.add((host, port))
        states.append(MemberState(text.strip(), host, port))
    verdict = asyncio.run(run_check(states, wait, timeout))
    for m in states:
        click.echo(_line(m, verdict.digest_zxid))
    if verdict.ok:
        click.echo(f"OK: {verdict.summary}")
        sys.exit(0)
    click.echo(f"FAIL (after waiting up to {wait:g} s): " + "; ".join(verdict.reasons))
    sys.exit(1)
