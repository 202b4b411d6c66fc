"""Side-by-side harness: run one scenario on a fresh Apache ZooKeeper and on a fresh corral, compare.

A *scenario* is a function `scenario(ctx)` that drives one server through `ctx` (raw wire clients from
`tests/support/rawclient.py`, kazoo clients, four-letter words) and records what it sees with
`ctx.rec(label, value)`; the recorded (label, value) list is its list of observations. The same scenario
runs on both servers; both observation lists are normalised and must be equal. Apache is the judge: the
scenarios hard-code no expected values (tests add a few explicit checks of well-known codes only as
documentation).

Why fresh servers per scenario: zxids, cversions, node counts and session ids then start from the same
state on both sides, and nothing from an earlier scenario (an expiring session, a left-over watch) can
leak into the next one.

Normalisation (why: values that legitimately differ between two runs must not make the test flaky, but
everything a client can rely on must still be compared):

* zxids (Stat czxid/mzxid/pzxid, ReplyHeader zxid, explicit `Zxid(...)`) become `Z<n>`, n = rank of first
  appearance in the run; 0 and -1 stay literal (0 = "created with the tree", -1 = "none"). Equal zxids stay
  equal, distinct ones distinct, so "a failed write consumes a zxid", "a multi has one zxid" and "a read's
  header carries the last processed zxid" are all compared.
* ctime/mtime: ZooKeeper stamps a node with its txn's time, so each non-zero time becomes `time(Z<n>)`, naming
  the zxid of the same Stat (czxid for ctime, mzxid for mtime), after checking that the run's times are
  consistent: one time per zxid, non-decreasing in zxid order, and within the wall-clock window of the run
  (milliseconds since the epoch). An inconsistent time becomes a `BAD-TIME ...` token that cannot match.
* Session ids become the name the scenario gave the session (`ctx.raw("A")` → `session:A`), also in
  ephemeralOwner; unnamed ones `session:?<n>`; 0 stays 0. Passwords are reduced to (length, all-zero).
* Children lists and getEphemerals lists (`Unordered`) are compared sorted: the server returns a HashSet.
* Notification ReplyHeader zxid: Apache 3.8 (the Debian reference) sends -1, 3.9 sends the zxid of the
  triggering txn (ZOOKEEPER-4655); clients ignore it, and corral may legitimately follow either version. So
  that single field becomes `N` when it is -1 or a zxid seen elsewhere in the run, else `N?<value>`.
* Data longer than 64 bytes becomes its length and SHA-1.

If the scenario raises on the compared server (e.g. no reply within the client's timeout) the error is
recorded as the last observation, so the report shows how far the two runs agreed. CORRAL_COMPAT_SELFTEST=1
compares Apache with a second Apache instead of corral, to prove the normalisation stable.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.support.apache import require_apache
from tests.support.rawclient import (
    ACL,
    ConnectResponse,
    Event,
    MultiResult,
    RawClient,
    Reply,
    Stat,
    Unordered,
)
from tests.support.server import ApacheZooKeeper, CorralProcess

SELFTEST_ENV = "CORRAL_COMPAT_SELFTEST"
TIME_SLACK_MS = 10_000


def selftest_enabled() -> bool:
    """CORRAL_COMPAT_SELFTEST=1 replaces corral by a second Apache: proves the normalisation is stable."""
    return os.environ.get(SELFTEST_ENV, "").strip().lower() in ("1", "true", "yes")


# ---------------------------------------------------------------------------------------------------------
# Explicit markers a scenario can put into observations


@dataclass(frozen=True)
class Zxid:
    value: int


@dataclass(frozen=True)
class Session:
    value: int


@dataclass(frozen=True)
class Aborted:
    """The scenario stopped with an exception on the compared server (recorded, not raised)."""

    error: str


# ---------------------------------------------------------------------------------------------------------
# Normalisation


class Normaliser:
    def __init__(self, session_names: dict[int, str], t_start_ms: int, t_end_ms: int) -> None:
        self.session_names = dict(session_names)
        self.t_start_ms, self.t_end_ms = t_start_ms, t_end_ms
        self.zxid_rank: dict[int, int] = {}
        self.times: dict[int, set[int]] = {}
        self.bad_time: dict[int, str] = {}
        self.unnamed_sessions: dict[int, int] = {}

    # pass 1: collect zxids (in order of first appearance) and (zxid, time) pairs
    def _zxid(self, z: int) -> None:
        if z not in (0, -1) and z not in self.zxid_rank:
            self.zxid_rank[z] = len(self.zxid_rank) + 1

    def _collect(self, v: Any) -> None:
        if isinstance(v, Stat):
            for z in (v.czxid, v.mzxid, v.pzxid):
                self._zxid(z)
            for z, t in ((v.czxid, v.ctime), (v.mzxid, v.mtime)):
                if z or t:
                    self.times.setdefault(z, set()).add(t)
        elif isinstance(v, Reply):
            self._zxid(v.zxid)
            self._collect(v.value)
        elif isinstance(v, Zxid):
            self._zxid(v.value)
        elif isinstance(v, Event):
            pass  # notification zxids are not ranked (see module docstring)
        elif isinstance(v, MultiResult):
            self._collect(v.value)
        elif isinstance(v, dict):
            for x in v.values():
                self._collect(x)
        elif isinstance(v, list | tuple) and not isinstance(v, ConnectResponse | ACL):
            for x in v:
                self._collect(x)

    def _check_times(self) -> None:
        last_t, last_z = None, None
        for z in sorted(self.times):
            ts = self.times[z]
            if z == 0:
                if ts != {0}:
                    self.bad_time[0] = f"zxid 0 with times {sorted(ts)}"
                continue
            if len(ts) != 1:
                self.bad_time[z] = f"several times {sorted(ts)} for one zxid"
                continue
            (t,) = ts
            if not self.t_start_ms - TIME_SLACK_MS <= t <= self.t_end_ms + TIME_SLACK_MS:
                self.bad_time[z] = f"{t} is outside the run's wall-clock window (ms since the epoch)"
            elif last_t is not None and t < last_t:
                self.bad_time[z] = f"{t} is earlier than {last_t} of the older zxid {last_z:#x}"
            else:
                last_t, last_z = t, z

    # pass 2: render
    def zxid(self, z: int) -> Any:
        return z if z in (0, -1) else f"Z{self.zxid_rank[z]}"

    def time(self, z: int, t: int) -> Any:
        if t == 0 and z == 0:
            return 0
        if z in self.bad_time:
            return f"BAD-TIME {t} for zxid {z:#x}: {self.bad_time[z]}"
        if z == 0:
            return f"BAD-TIME {t} for zxid 0"
        return f"time({self.zxid(z)})"

    def session(self, sid: int) -> Any:
        if sid == 0:
            return 0
        if sid in self.session_names:
            return f"session:{self.session_names[sid]}"
        n = self.unnamed_sessions.setdefault(sid, len(self.unnamed_sessions) + 1)
        return f"session:?{n}"

    def stat(self, s: Stat) -> dict:
        return {
            "czxid": self.zxid(s.czxid), "mzxid": self.zxid(s.mzxid),
            "ctime": self.time(s.czxid, s.ctime), "mtime": self.time(s.mzxid, s.mtime),
            "version": s.version, "cversion": s.cversion, "aversion": s.aversion,
            "ephemeralOwner": self.session(s.ephemeralOwner),
            "dataLength": s.dataLength, "numChildren": s.numChildren, "pzxid": self.zxid(s.pzxid),
        }

    def render(self, v: Any) -> Any:
        if isinstance(v, Stat):
            return self.stat(v)
        if isinstance(v, Reply):
            out = {"xid": v.xid, "err": v.err, "zxid": self.zxid(v.zxid)}
            if v.err == 0:
                out["value"] = self.render(v.value)
            elif v.body:
                out["body_after_error"] = v.body.hex()
            return out
        if isinstance(v, Event):
            ok = v.zxid == -1 or v.zxid in self.zxid_rank
            return {"event": int(v.type), "state": v.state, "path": v.path,
                    "hdr_zxid": "N" if ok else f"N?{v.zxid}"}
        if isinstance(v, ConnectResponse):
            return {"protocolVersion": v.protocol_version, "timeOut": v.timeout,
                    "sessionId": self.session(v.session_id), "passwd_len": len(v.passwd),
                    "passwd_zero": not any(v.passwd), "readOnly": v.read_only, "payload_len": v.length}
        if isinstance(v, MultiResult):
            return (int(v.type), v.err, self.render(v.value))
        if isinstance(v, ACL):
            return (int(v.perms), v.scheme, v.id)
        if isinstance(v, Zxid):
            return self.zxid(v.value)
        if isinstance(v, Session):
            return self.session(v.value)
        if isinstance(v, Aborted):
            return {"ABORTED": v.error}
        if isinstance(v, Unordered):
            return sorted((self.render(x) for x in v), key=repr)
        if isinstance(v, bytes | bytearray):
            b = bytes(v)
            return b if len(b) <= 64 else f"<{len(b)} bytes sha1={hashlib.sha1(b).hexdigest()}>"
        if isinstance(v, dict):
            return {k: self.render(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return tuple(self.render(x) for x in v)
        if isinstance(v, list):
            return [self.render(x) for x in v]
        if isinstance(v, bool) or v is None or isinstance(v, str | float):
            return v
        if isinstance(v, int):
            return int(v)  # IntEnum → plain int, so reprs match
        raise TypeError(f"cannot normalise {type(v).__name__}: {v!r}")

    def normalise(self, observations: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        for _, v in observations:
            self._collect(v)
        self._check_times()
        return [(label, self.render(v)) for label, v in observations]


# ---------------------------------------------------------------------------------------------------------
# Scenario context


@dataclass
class Ctx:
    """What a scenario gets: the server it runs on, client factories and the observation list."""

    server: Any
    observations: list[tuple[str, Any]] = field(default_factory=list)
    session_names: dict[int, str] = field(default_factory=dict)
    clients: list[RawClient] = field(default_factory=list)
    kazoos: list[Any] = field(default_factory=list)

    def rec(self, label: str, value: Any) -> Any:
        """Record one observation; labels are unique so a failure names the step that differs."""
        if any(label == existing for existing, _ in self.observations):
            raise ValueError(f"duplicate observation label {label!r}")
        self.observations.append((label, value))
        return value

    def rec_deviation(self, label: str, value: Any, *, apache: Any, corral: Any, why: str) -> Any:
        """A deliberate, documented difference from Apache ZooKeeper 3.8.0 (see docs/architecture.md):
        each server must show its own expected behaviour (`apache`/`corral` are predicates on the
        observed value); the comparison then records only whether it did, so it still fails if either
        side changes."""
        expect = corral if getattr(self.server, "kind", "apache") == "corral" else apache
        ok = bool(expect(value))
        return self.rec(label, f"known difference ({why}): {'as expected' if ok else f'UNEXPECTED {value!r}'}")

    def name_session(self, session_id: int, name: str) -> None:
        if session_id:
            self.session_names[session_id] = name

    def raw(self, name: str | None = None, **connect_kw) -> RawClient:
        """A raw client with a new session (named `name` in observations)."""
        c = RawClient(self.server.host, self.server.port)
        self.clients.append(c)
        c.connect(**connect_kw)
        if name:
            self.name_session(c.session_id, name)
        return c

    def unconnected(self) -> RawClient:
        """A raw client with an open socket and no ConnectRequest sent yet."""
        c = RawClient(self.server.host, self.server.port).open()
        self.clients.append(c)
        return c

    def kazoo(self, name: str):
        from kazoo.client import KazooClient

        kz = KazooClient(hosts=self.server.hosts, timeout=10.0, connection_retry={"max_tries": 1})
        self.kazoos.append(kz)
        kz.start(timeout=10)
        self.name_session(kz.client_id[0], name)
        return kz

    def four_letter(self, cmd: str) -> str:
        return self.server.four_letter(cmd)

    def close(self) -> None:
        for kz in self.kazoos:
            try:
                kz.stop()
                kz.close()
            except Exception:
                pass
        for c in self.clients:
            c.close()


def run_scenario(scenario, server, strict: bool) -> tuple[list[tuple[str, Any]], Normaliser]:
    """Run `scenario` on `server`; strict=True re-raises (the reference run must never fail)."""
    ctx = Ctx(server)
    t0 = int(time.time() * 1000)
    try:
        scenario(ctx)
    except Exception as e:
        if strict:
            raise
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        ctx.observations.append(("<scenario aborted>", Aborted(tb)))
    finally:
        ctx.close()
    t1 = int(time.time() * 1000)
    norm = Normaliser(ctx.session_names, t0, t1)
    return norm.normalise(ctx.observations), norm


# ---------------------------------------------------------------------------------------------------------
# Comparison


def _short(v: Any, limit: int = 2000) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def diff_report(name: str, ref: list, subj: list, ref_kind: str, subj_kind: str) -> str:
    lines = [f"scenario {name}: observations differ ({ref_kind} = reference, {subj_kind} = compared)"]
    n = max(len(ref), len(subj))
    shown = 0
    for i in range(n):
        a = ref[i] if i < len(ref) else None
        b = subj[i] if i < len(subj) else None
        if a == b:
            continue
        label = (a or b)[0]
        if a and b and a[0] != b[0]:
            label = f"{a[0]} / {b[0]}"
        lines.append(f"  #{i} [{label}]")
        lines.append(f"    {ref_kind:>8}: {_short(a[1] if a else '<missing>')}")
        lines.append(f"    {subj_kind:>8}: {_short(b[1] if b else '<missing>')}")
        shown += 1
        if shown >= 25:
            lines.append("  ... (more differences)")
            break
    return "\n".join(lines)


class Compat:
    """Starts a fresh pair of servers per scenario and compares the normalised observations."""

    def __init__(self, selftest: bool | None = None) -> None:
        self.selftest = selftest_enabled() if selftest is None else selftest
        self.subject_kind = "apache2" if self.selftest else "corral"

    def _servers(self, extra_cfg, tick_time, ready):
        kw = {"extra_cfg": extra_cfg, "tick_time": tick_time, "ready": ready}
        ref = ApacheZooKeeper(**kw)
        subj = ApacheZooKeeper(**kw) if self.selftest else CorralProcess(**kw)
        return ref, subj

    def check(self, scenario, extra_cfg: dict[str, str] | None = None, ruok_allowed: bool = True,
              tick_time: int = 2000) -> dict:
        """Run on both servers, assert equal; returns the reference's normalised observations by label."""
        require_apache()  # in the main thread: skips (or fails under CI) before any thread starts
        # A server whose 4lw whitelist excludes ruok is "ready" once `srvr` (always allowed) shows a Mode.
        ref, subj = self._servers(extra_cfg, tick_time, "ruok" if ruok_allowed else "srvr")
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(s.start) for s in (ref, subj)]
            errors = [f.exception() for f in futures]
        try:
            for e in errors:
                if e is not None:
                    raise e
            ref_obs, _ = run_scenario(scenario, ref, strict=True)
            subj_obs, _ = run_scenario(scenario, subj, strict=False)
        finally:
            subj_log = subj.log()
            # kill, not stop: the data dirs are thrown away, and SIGTERM makes the JVM take ~0.4 s
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda s: (s.kill(), s.close()), (ref, subj)))
        if ref_obs != subj_obs:
            report = diff_report(scenario.__name__, ref_obs, subj_obs, "apache", self.subject_kind)
            if "Traceback" in subj_log:  # the compared server logged a crash: show where
                report += f"\n{self.subject_kind} log (tail):\n" + "\n".join(subj_log.splitlines()[-40:])
            raise AssertionError(report)
        return dict(ref_obs)
