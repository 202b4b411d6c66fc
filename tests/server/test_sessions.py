"""Session ids, passwords and the leader's bucketed expiry as ZooKeeper's SessionTrackerImpl/ExpiryQueue do them.

Passwords must be bit-identical to ZooKeeper's `new Random(sessionId ^ 0xB3415C00L).nextBytes(16)` for
a session to be revalidated by a Java server and vice versa; the reference bytes come from running
real Java (skipped only when no JDK is installed; under CI a missing JDK fails).
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from corral.server.sessions import (
    ExpiryTracker,
    Session,
    SessionIds,
    initial_session_id,
    java_random_bytes,
    session_password,
)
from tests.support.apache import _java, require

TICK = 2000


# ---- ids ---------------------------------------------------------------------------------------

def test_ids_increase_and_carry_server_id():
    """Ids start at ((now << 24) >>> 8) | (serverId << 56) and increase by one; the server id is the top
    byte, so ids from different servers never collide."""
    now = 1_700_000_000_123
    ids_ = SessionIds(server_id=5, now_ms=now)
    ids = [ids_.new_id(lambda s: False) for _ in range(5)]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert all((i >> 56) & 0xFF == 5 for i in ids)
    assert ids[0] == (((now << 24) & (2**64 - 1)) >> 8) | (5 << 56)
    # standalone ZooKeeper uses server id 1: ids look like 0x1xxxxxxxxxxxxxx
    assert SessionIds(1, now).new_id(lambda s: False) >> 56 == 1


def test_new_id_skips_ids_in_use():
    """Ids in use (committed sessions restored from a snapshot, sessions being created) are skipped,
    including the next one in line (an earlier version checked the id after the one it returned)."""
    ids = SessionIds(1, 0)
    first = ids.new_id(lambda s: False)
    in_use = {first + 1, first + 2}
    assert ids.new_id(in_use.__contains__) == first + 3


def test_initial_id_with_top_bit_server_is_negative_long():
    """Server ids >= 128 set the sign bit: ids are Java longs, so they must come out negative here too."""
    sid = initial_session_id(1_700_000_000_000, 200)
    assert sid < 0
    assert (sid & 0xFFFFFFFFFFFFFFFF) >> 56 == 200


# ---- the leader's bucketed expiry ----------------------------------------------------------------

@pytest.mark.parametrize("now,timeout,expected", [
    (0, 4000, 6000),       # exactly on a tick → the *next* tick (ExpiryQueue.roundToNextInterval)
    (1000, 4000, 6000),
    (1999, 4000, 6000),
    (2000, 4000, 8000),
    (12345, 30000, 44000),
])
def test_expire_at_is_rounded_up_to_the_next_tick(now, timeout, expected):
    tr = ExpiryTracker(TICK)
    tr.track(7, timeout, now)
    assert tr.expire_at[7] == expected
    assert expected % TICK == 0 and expected > now + timeout - TICK
    assert tr.buckets == {expected: {7}}


def test_touch_moves_session_to_a_later_bucket():
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 0)
    tr.track(2, 4000, 0)
    assert tr.touch(1, 3000)
    assert tr.expire_at[1] == 8000
    assert tr.buckets == {6000: {2}, 8000: {1}}
    assert tr.expired(6000) == [2]
    assert tr.expired(7999) == []
    assert tr.expired(8000) == [1]


def test_touch_within_the_same_bucket_keeps_it():
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 100)
    assert tr.touch(1, 900)
    assert tr.expire_at[1] == 6000 and tr.buckets == {6000: {1}}


def test_touch_with_a_new_timeout_uses_it():
    """A reconnect negotiates a new timeout; the touch that carries it moves the deadline accordingly."""
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 0)
    assert tr.touch(1, 1000, 10000)
    assert tr.expire_at[1] == 12000 and tr.timeouts[1] == 10000


def test_expired_hands_each_session_out_once_and_forgets_it():
    """An expired session is handed out once (its closeSession is now proposed) and no touch can revive it:
    if the close never commits, the next leader's tracker starts over from the committed sessions."""
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 0)
    tr.track(2, 4000, 0)
    tr.track(3, 20000, 0)
    assert tr.expired(5999) == []
    assert tr.expired(6000) == [1, 2]
    assert tr.expired(6000) == []
    assert tr.expired(10_000) == []
    assert 1 not in tr and 3 in tr
    assert not tr.touch(1, 7000)
    assert tr.expired(100_000) == [3]
    assert len(tr) == 0 and tr.buckets == {}


def test_expired_returns_oldest_buckets_first():
    tr = ExpiryTracker(TICK)
    tr.track(9, 10000, 0)
    tr.track(4, 4000, 0)
    assert tr.expired(50_000) == [4, 9]


def test_remove():
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 0)
    tr.remove(1)
    assert tr.buckets == {} and 1 not in tr
    assert not tr.touch(1, 10)
    tr.remove(12345)  # unknown ids are ignored


def test_track_again_restarts_the_timeout():
    """A new leader tracks every committed session afresh: a full timeout from now."""
    tr = ExpiryTracker(TICK)
    tr.track(1, 4000, 0)
    tr.track(1, 10000, 1000)
    assert tr.expire_at[1] == 12000 and tr.buckets == {12000: {1}}


# ---- passwords -------------------------------------------------------------------------------------

def test_password_is_16_bytes_and_deterministic():
    sid = 0x10007AB7C550006
    p = session_password(sid)
    assert len(p) == 16
    assert p == session_password(sid)
    assert p != session_password(sid + 1)
    assert Session(sid, 4000).passwd == p


def test_java_random_known_value():
    """java.util.Random(0).nextInt() == -1155484576 (a well-known constant): the little-endian bytes of
    that int are the first four of nextBytes."""
    assert java_random_bytes(0, 4) == (-1155484576 & 0xFFFFFFFF).to_bytes(4, "little")


JAVA_REFERENCE = textwrap.dedent("""
    public class SessionRef {
        public static void main(String[] args) {
            for (String a : args) {
                String[] kv = a.split(",");
                if (kv[0].equals("pw")) {
                    long sid = Long.parseLong(kv[1]);
                    byte[] b = new byte[16];
                    new java.util.Random(sid ^ 0xB3415C00L).nextBytes(b);
                    StringBuilder sb = new StringBuilder("pw," + sid + ",");
                    for (byte x : b) sb.append(String.format("%02x", x & 0xff));
                    System.out.println(sb);
                } else if (kv[0].equals("rnd")) {
                    long seed = Long.parseLong(kv[1]);
                    int n = Integer.parseInt(kv[2]);
                    byte[] b = new byte[n];
                    new java.util.Random(seed).nextBytes(b);
                    StringBuilder sb = new StringBuilder("rnd," + seed + "," + n + ",");
                    for (byte x : b) sb.append(String.format("%02x", x & 0xff));
                    System.out.println(sb);
                } else {
                    long now = Long.parseLong(kv[1]);
                    long id = Long.parseLong(kv[2]);
                    long next = (now << 24) >>> 8;
                    next = next | (id << 56);
                    System.out.println("id," + now + "," + id + "," + next);
                }
            }
        }
    }
""")

SIDS = [1, 0x10007AB7C550006, 0x100000000000000, -1, -0x8000000000000000, 0x7FFFFFFFFFFFFFFF,
        0xB3415C00, -0x37FFFF0000000001, 12345678901234]
RANDOM_SEEDS = [(0, 1), (0, 7), (42, 16), (-99, 5), (0x5DEECE66D, 9)]
ID_CASES = [(1_700_000_000_123, 1), (1_700_000_000_123, 5), (1_700_000_000_123, 200), (0, 255), (2**41 + 17, 128)]


@pytest.fixture(scope="module")
def java_reference(tmp_path_factory):
    java = _java()
    require("a Java runtime (Debian package openjdk-17-jre-headless)", java is not None)
    src = tmp_path_factory.mktemp("java") / "SessionRef.java"
    src.write_text(JAVA_REFERENCE)
    args = ([f"pw,{s}" for s in SIDS] + [f"rnd,{seed},{n}" for seed, n in RANDOM_SEEDS]
            + [f"id,{now},{sid}" for now, sid in ID_CASES])
    out = subprocess.run([java, "-Xshare:auto", str(src), *args], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    ref: dict[tuple, str] = {}
    for line in out.split():
        parts = line.split(",")
        ref[tuple(parts[:-1])] = parts[-1]
    return ref


@pytest.mark.parametrize("sid", SIDS, ids=hex)
def test_session_password_matches_java(java_reference, sid):
    """session_password(sid) == new java.util.Random(sid ^ 0xB3415C00L).nextBytes(16), byte for byte."""
    assert session_password(sid).hex() == java_reference[("pw", str(sid))]


@pytest.mark.parametrize("seed,n", RANDOM_SEEDS)
def test_java_random_bytes_matches_java(java_reference, seed, n):
    """Byte counts that are not a multiple of 4 use part of the last nextInt(), as Java does."""
    assert java_random_bytes(seed, n).hex() == java_reference[("rnd", str(seed), str(n))]


@pytest.mark.parametrize("now,server_id", ID_CASES)
def test_initial_session_id_matches_java(java_reference, now, server_id):
    assert initial_session_id(now, server_id) == int(java_reference[("id", str(now), str(server_id))])
