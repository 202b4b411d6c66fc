"""The comparison machinery itself, without servers: if the normalisation hid real differences (or
invented some), every side-by-side test would be worthless, so its rules are pinned down here; the raw
client's encoding is checked against the byte examples of the protocol reference (§1.3, §1.5)."""

from __future__ import annotations

import struct

import pytest

from tests.support.rawclient import (
    ConnectResponse,
    Event,
    MultiResult,
    Reader,
    Reply,
    Stat,
    Unordered,
    connect_request,
    decode_body,
    multi_body,
    op_check,
    path_watch_body,
)

from .harness import Normaliser, Session, Zxid, diff_report, selftest_enabled

T0 = 1_700_000_000_000


def norm(observations, sessions=None, start=T0, end=T0 + 1000):
    return Normaliser(sessions or {}, start, end).normalise(observations)


def stat(czxid, mzxid, ctime, mtime, pzxid=None, owner=0, **kw):
    fields = dict(version=0, cversion=0, aversion=0, dataLength=0, numChildren=0)
    fields.update(kw)
    return Stat(czxid, mzxid, ctime, mtime, fields["version"], fields["cversion"], fields["aversion"], owner,
                fields["dataLength"], fields["numChildren"], czxid if pzxid is None else pzxid)


def test_zxids_become_ranks_of_first_appearance_and_keep_equalities():
    a = norm([("x", Reply(1, 0x105, 0, 1)), ("y", Reply(2, 0x103, 0, 1)), ("z", Reply(3, 0x105, -101, 3)),
              ("w", Zxid(0x103))])
    b = norm([("x", Reply(1, 7, 0, 1)), ("y", Reply(2, 9, 0, 1)), ("z", Reply(3, 7, -101, 3)),
              ("w", Zxid(9))])
    assert a == b
    assert [v["zxid"] for _, v in a[:3]] == ["Z1", "Z2", "Z1"]
    # a server that did not consume a zxid for the failed write is told apart
    c = norm([("x", Reply(1, 7, 0, 1)), ("y", Reply(2, 9, 0, 1)), ("z", Reply(3, 9, -101, 3)),
              ("w", Zxid(9))])
    assert c != b


def test_zero_and_minus_one_stay_literal():
    out = norm([("r", Reply(1, 0, -6, 999)), ("s", Reply(2, -1, -6, 999))])
    assert out[0][1]["zxid"] == 0 and out[1][1]["zxid"] == -1


def test_times_name_their_zxid_when_consistent():
    s1 = stat(5, 5, T0 + 10, T0 + 10)
    s2 = stat(5, 6, T0 + 10, T0 + 20, version=1)
    out = dict(norm([("a", s1), ("b", s2)]))
    assert out["a"]["ctime"] == out["a"]["mtime"] == "time(Z1)"
    assert out["b"]["mtime"] == "time(Z2)" and out["b"]["ctime"] == "time(Z1)"


@pytest.mark.parametrize("bad, reason", [
    ((stat(5, 5, T0 + 10, T0 + 11),), "several times"),  # one txn, two times
    ((stat(5, 5, 10, 10),), "wall-clock"),  # not milliseconds since the epoch
    ((stat(5, 5, T0 + 50, T0 + 50), stat(6, 6, T0 + 40, T0 + 40)), "earlier"),  # time goes backwards
    ((stat(0, 0, T0, T0),), "zxid 0"),  # a special node must have time 0
])
def test_inconsistent_times_cannot_match(bad, reason):
    out = norm([(str(i), s) for i, s in enumerate(bad)])
    rendered = repr(out)
    assert "BAD-TIME" in rendered and reason in rendered


def test_sessions_use_names_and_ephemeral_owner_follows():
    out = dict(norm([("c", ConnectResponse(0, 30000, 0xABC, b"\x01" * 16, False, 37)),
                     ("s", stat(3, 3, T0, T0, owner=0xABC)), ("u", Session(0xDEF)), ("z", Session(0))],
                    sessions={0xABC: "A"}))
    assert out["c"]["sessionId"] == "session:A"
    assert out["s"]["ephemeralOwner"] == "session:A"
    assert out["u"] == "session:?1"
    assert out["z"] == 0


def test_notification_header_zxid_accepts_minus_one_or_a_known_txn_only():
    obs = [("w", Reply(1, 0x20, 0, 5)), ("e38", Event(3, 3, "/a", -1)), ("e39", Event(3, 3, "/a", 0x20)),
           ("bad", Event(3, 3, "/a", 0x99)), ("zero", Event(3, 3, "/a", 0))]
    out = dict(norm(obs))
    assert out["e38"]["hdr_zxid"] == out["e39"]["hdr_zxid"] == "N"
    assert out["bad"]["hdr_zxid"] == "N?153"
    assert out["zero"]["hdr_zxid"] == "N?0"


def test_unordered_lists_compare_sorted_but_ordered_ones_do_not():
    assert norm([("c", Unordered(["b", "a"]))]) == norm([("c", Unordered(["a", "b"]))])
    assert norm([("c", ["b", "a"])]) != norm([("c", ["a", "b"])])


def test_error_replies_carry_no_value_and_a_stray_body_is_shown():
    out = dict(norm([("e", Reply(1, 4, -101, 3, b"\x00\x01"))]))
    assert out["e"] == {"xid": 1, "err": -101, "zxid": "Z1", "body_after_error": "0001"}


def test_multi_results_and_large_data():
    obs = [("m", Reply(1, 9, 0, 14, value=[MultiResult(-1, -110, -110), MultiResult(13, 0, None)])),
           ("d", b"x" * 100)]
    out = dict(norm(obs))
    assert out["m"]["value"] == [(-1, -110, -110), (13, 0, None)]
    assert out["d"].startswith("<100 bytes sha1=")


def test_diff_report_names_the_step():
    text = diff_report("scenario_x", [("a", 1), ("b", 2)], [("a", 1), ("b", 3)], "apache", "corral")
    assert "#1 [b]" in text and "apache: 2" in text and "corral: 3" in text


def test_selftest_switch(monkeypatch):
    monkeypatch.setenv("CORRAL_COMPAT_SELFTEST", "1")
    assert selftest_enabled()
    monkeypatch.setenv("CORRAL_COMPAT_SELFTEST", "0")
    assert not selftest_enabled()


def test_connect_request_matches_reference_example():
    # §1.3: new session, 30 s timeout (the length prefix 0000002d = 45 is added by the framing)
    expected = bytes.fromhex("00000000" "0000000000000000" "00007530" "0000000000000000" "00000010") + \
        bytes(16) + b"\x00"
    assert connect_request(30000) == expected and len(expected) == 45
    assert len(connect_request(30000, read_only=None)) == 44


def test_get_data_request_matches_reference_example():
    # §1.5: getData("/a", watch=true), xid 1 → 0000000f 00000001 00000004 00000002 2f61 01
    payload = struct.pack(">ii", 1, 4) + path_watch_body("/a", True)
    expected = bytes.fromhex("0000000f" "00000001" "00000004" "00000002" "2f61" "01")
    assert struct.pack(">i", len(payload)) + payload == expected


def test_multi_encoding_and_stat_decoding():
    body = multi_body([op_check("/a", 3)])
    r = Reader(body)
    assert (r.int(), r.bool(), r.int(), r.ustring(), r.int()) == (13, False, -1, "/a", 3)
    assert (r.int(), r.bool(), r.int(), r.remaining) == (-1, True, -1, 0)
    raw = struct.pack(">qqqqiiiqiiq", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    assert decode_body(3, raw) == Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    with pytest.raises(Exception, match="trailing"):
        decode_body(3, raw + b"\x00")
