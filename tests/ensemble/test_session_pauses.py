"""Sessions across a paused member (SIGSTOP/SIGCONT, like a long GC pause), with real processes.

The bug this guards against: a leader paused for longer than the session timeout expired, on resuming,
the sessions of clients attached to followers (no touches had reached it), kept believing it led for
seconds, and from then on answered those sessions' writes SESSIONEXPIRED without ever committing
their closeSession; under the next leader the same sessions wrote again. Now an expiry is only ever a
committed closeSession decided by the current leader, a resumed leader steps down at its first tick,
and a new leader gives every committed session a full timeout.

Each scenario pins kazoo clients to members (two per follower, one on the leader), each writing in a
loop and owning an ephemeral node, pauses one member for longer than the session timeout, resumes it,
then (for a paused leader) moves leadership back to it with short pauses of the leaders in between (the
old bug showed once the stale member led again), lets it lead for a while, moves leadership away once
more, and checks:
* no session that was told it expired (SESSIONEXPIRED on a request, or kazoo's LOST state) ever has a
  request succeed afterwards, and a reconnect with its id and password is refused by every member;
* the sessions of clients on members that were not paused survive and keep writing;
* the ephemerals of expired sessions are gone from every member, and every remaining ephemeral belongs
  to a live session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, SessionExpiredError

from tests.support.rawclient import ConnectionClosed, RawClient, SessionRefused
from tests.support.wait import wait_until

from .clients import close_kazoo, start_kazoo
from .cluster import WAIT, Ensemble, Member

TICK_TIME = 200  # ms: sessions may last 0.4 .. 4 s
SESSION_TIMEOUT = 4.0  # seconds
NUDGE = 0.8  # seconds: a pause that makes the ensemble elect another leader, well within the session timeout
MASK = 0xFFFFFFFFFFFFFFFF


@dataclass
class Pinned:
    """A kazoo client pinned to one member, writing `/live/<name>` in a loop and owning `/eph/<name>`."""

    name: str
    member: Member
    client: KazooClient
    ops: list[tuple[float, float, int | None, int | None, str]] = field(default_factory=list)
    lost: list[tuple[float, int | None]] = field(default_factory=list)
    first_session: int = 0
    last_session: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def session(self) -> int | None:
        cid = self.client.client_id
        return cid[0] if cid else None

    def run(self) -> None:
        """Write until stopped; record (start, end, session before, session after, outcome) per request."""
        n = 0
        while not self.stop.is_set():
            n += 1
            before = self.session()
            if before is not None:
                self.last_session = before
            t0 = time.monotonic()
            try:
                self.client.set_async(f"/live/{self.name}", str(n).encode()).get(timeout=2.0)
                outcome = "ok"
            except SessionExpiredError:
                outcome = "expired"
            except (KazooException, Exception) as e:  # connection loss, timeouts: outcome unknown
                outcome = type(e).__name__
            self.ops.append((t0, time.monotonic(), before, self.session(), outcome))
            self.stop.wait(0.05)

    def start(self) -> None:
        self.first_session = self.session() or 0
        self.last_session = self.first_session

        def listener(state: KazooState) -> None:
            if state == KazooState.LOST:
                self.lost.append((time.monotonic(), self.last_session))

        self.client.add_listener(listener)
        self.thread = threading.Thread(target=self.run, daemon=True, name=f"writer-{self.name}")
        self.thread.start()

    def told_expired(self) -> dict[int, float]:
        """Every session this client was told expired, with the first time it was told."""
        told: dict[int, float] = {}
        for _t0, t1, before, after, outcome in self.ops:
            if outcome == "expired" and before is not None and before == after:
                told.setdefault(before, t1)
        for t, sid in self.lost:
            if sid is not None:
                told[sid] = min(told.get(sid, t), t)
        return told


def _probe_refused(member: Member, sid: int) -> bool | None:
    """Reconnect with the session's id and password: True refused, False accepted, None no answer."""
    from corral.server.sessions import session_password

    raw = RawClient(member.host, member.client_port, io_timeout=3.0)
    try:
        raw.connect_session(timeout_ms=int(SESSION_TIMEOUT * 1000), session_id=sid, passwd=session_password(sid))
    except SessionRefused:
        return True
    except (ConnectionClosed, OSError):
        return None
    finally:
        raw.close()
    return False


def _nudge(ens: Ensemble, leader: Member) -> None:
    """Pause `leader` briefly so that the others elect a new leader, then let it rejoin."""
    leader.pause()
    try:
        time.sleep(NUDGE)
    finally:
        leader.resume()
    ens.wait_stable(WAIT)


def _lead_back(ens: Ensemble, member: Member) -> None:
    """Move leadership to `member` by nudging whoever leads (bounded: a few elections)."""
    for _ in range(4):
        leader = ens.leader()
        if leader is member:
            return
        _nudge(ens, leader)
    assert ens.leader() is member, f"member {member.sid} never led again: {ens.modes()}"


def _ephemeral_owners(member: Member) -> dict[str, int]:
    """/eph's children on `member` (after a sync) and their owners."""
    client = start_kazoo(member.hostport, timeout=SESSION_TIMEOUT)
    try:
        client.sync("/eph")
        out = {}
        for child in client.get_children("/eph"):
            stat = client.exists(f"/eph/{child}")
            if stat is not None:
                out[child] = stat.ephemeralOwner
        return out
    finally:
        close_kazoo(client)


@pytest.mark.parametrize(("target", "pause"), [("leader", 2.0), ("leader", 3.5), ("follower", 2.0)],
                         ids=["leader-2x", "leader-3.5x", "follower-2x"])
def test_expired_sessions_stay_dead_and_live_ones_survive_a_paused_member(make_ensemble, target: str,
                                                                          pause: float) -> None:
    """`pause` is in session timeouts. Bounded: every wait has a deadline, every thread is stopped."""
    ens: Ensemble = make_ensemble(3, tick_time=TICK_TIME, init_limit=10, sync_limit=2)
    leader = ens.leader()
    followers = [m for m in ens.members if m is not leader]
    setup = start_kazoo(ens.hosts, timeout=SESSION_TIMEOUT)
    setup.ensure_path("/live")
    setup.ensure_path("/eph")
    close_kazoo(setup)
    placement = [followers[0], followers[0], followers[1], followers[1], leader]
    pinned: list[Pinned] = []
    try:
        for i, member in enumerate(placement):
            client = start_kazoo(member.hostport, timeout=SESSION_TIMEOUT)
            name = f"c{i}-m{member.sid}"
            client.create(f"/live/{name}", b"0")
            client.create(f"/eph/{name}", b"", ephemeral=True)
            p = Pinned(name, member, client)
            pinned.append(p)
            p.start()
        time.sleep(1.0)
        victim = leader if target == "leader" else followers[0]
        victim.pause()
        time.sleep(pause * SESSION_TIMEOUT)
        victim.resume()
        ens.wait_stable(WAIT)
        # Clients of the paused member reconnect to it and are told their session expired; the others
        # keep writing.
        cut_off = [p for p in pinned if p.member is victim]
        wait_until(lambda: all(p.lost for p in cut_off), 6 * SESSION_TIMEOUT,
                   f"clients of the paused {target} told that their sessions expired")
        if target == "leader":
            _lead_back(ens, victim)
            time.sleep(SESSION_TIMEOUT / 2)  # the resumed member leads; clients write through it
            _nudge(ens, victim)  # and someone else leads again
        time.sleep(SESSION_TIMEOUT / 2)
    finally:
        for p in pinned:
            p.stop.set()
        for p in pinned:
            if p.thread is not None:
                p.thread.join(10)
    try:
        told: dict[int, tuple[str, float]] = {}
        for p in pinned:
            for sid, t in p.told_expired().items():
                told[sid] = (p.name, t)
        assert told, "no session expired: the scenario did not exercise expiry"
        # 1. Nothing succeeds for a session after it was told it expired.
        for p in pinned:
            for t0, _t1, before, after, outcome in p.ops:
                if outcome == "ok" and before is not None and before == after and before in told:
                    assert t0 < told[before][1], (
                        f"{p.name}: session 0x{before & MASK:x} wrote at {t0:.3f} after being told it expired "
                        f"at {told[before][1]:.3f}")
        for sid in told:
            for m in ens.members:
                answer = wait_until(lambda m=m, sid=sid: _probe_refused(m, sid) is not None and _probe_refused(m, sid),
                                    WAIT, f"member {m.sid} answering a reconnect of 0x{sid & MASK:x}")
                assert answer is True
        # 2. Sessions of clients on members that were not paused survive and keep working.
        for p in pinned:
            if p.member is victim:
                continue
            assert not p.lost, f"{p.name} on member {p.member.sid} lost its session: {p.lost}"
            assert p.session() == p.first_session
            p.client.set(f"/live/{p.name}", b"after")
        # 3. Ephemerals follow their sessions, on every member.
        live = {p.session() for p in pinned if p.member is not victim}
        for m in ens.members:
            owners = _ephemeral_owners(m)
            for child, owner in owners.items():
                assert owner not in told, f"member {m.sid}: /eph/{child} of expired session 0x{owner & MASK:x}"
                assert owner in live, f"member {m.sid}: /eph/{child} owned by 0x{owner & MASK:x}, not a live session"
            expected = {p.name for p in pinned if p.member is not victim}
            assert set(owners) == expected, f"member {m.sid}: {sorted(owners)} != {sorted(expected)}"
    finally:
        for p in pinned:
            close_kazoo(p.client)
