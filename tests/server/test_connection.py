"""The sans-I/O client connection, driven with bytes alone: framing, states, four-letter words and the
per-session reply order (no socket, no event loop, no server)."""

from __future__ import annotations

import struct

from corral.protocol import ConnectRequest, OpCode, decode_connect_request
from corral.server.connection import (
    CLOSED,
    CONNECTED,
    HANDSHAKE,
    WAITING,
    AsyncRequest,
    Closed,
    FourLetterWord,
    Handshake,
    Request,
    ServerConnection,
)

MAX = 4096


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def connect_bytes(session: int = 0, readonly: bool = True) -> bytes:
    body = ConnectRequest(0, 0, 30000, session, b"\0" * 16, False).to_bytes()
    return frame(body if readonly else body[:-1])


def request(xid: int, op: int, body: bytes = b"") -> bytes:
    return frame(struct.pack(">ii", xid, op) + body)


def events(conn: ServerConnection) -> list[object]:
    out = []
    while (ev := conn.next_event()) is not None:
        out.append(ev)
    return out


def frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        (n,) = struct.unpack_from(">i", data)
        out.append(data[4:4 + n])
        data = data[4 + n:]
    return out


def xids(data: bytes) -> list[int]:
    return [struct.unpack_from(">i", f)[0] for f in frames(data)]


def established(**kw: object) -> ServerConnection:
    conn = ServerConnection(("10.0.0.1", 5000), MAX, **kw)  # type: ignore[arg-type]
    conn.receive_data(connect_bytes())
    (hs,) = events(conn)
    assert isinstance(hs, Handshake)
    conn.established(0x1234, 30000, b"p" * 16, hs.readonly_flag)
    conn.data_to_send()
    return conn


def reply(xid: int) -> bytes:
    return frame(struct.pack(">iqi", xid, 7, 0))


# ---- handshake and states ------------------------------------------------------------------------

def test_handshake_in_pieces_then_requests_wait_until_established() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    data = connect_bytes(session=0x55) + request(1, OpCode.getData, b"x")
    for i in range(len(data)):  # one byte at a time
        conn.receive_data(data[i:i + 1])
    (hs,) = events(conn)
    assert isinstance(hs, Handshake) and hs.request.sessionId == 0x55 and hs.readonly_flag
    assert conn.state == WAITING and events(conn) == []  # the request waits for the session
    conn.established(0x55, 10000, b"k" * 16, hs.readonly_flag)
    assert conn.state == CONNECTED and conn.session_id == 0x55
    (req,) = events(conn)
    assert isinstance(req, Request) and (req.xid, req.op, req.body) == (1, OpCode.getData, b"x")
    resp = frames(conn.data_to_send())
    assert len(resp) == 1 and len(resp[0]) == 37  # ConnectResponse with the readOnly byte


def test_an_old_client_without_the_readonly_byte_gets_an_answer_without_it() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    conn.receive_data(connect_bytes(readonly=False))
    (hs,) = events(conn)
    assert not hs.readonly_flag  # type: ignore[attr-defined]
    conn.established(1, 10000, b"k" * 16, False)
    assert len(frames(conn.data_to_send())[0]) == 36


def test_refused_session_answers_timeout_zero_and_closes() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    conn.receive_data(connect_bytes(session=9))
    events(conn)
    conn.refuse(True, "expired")
    (resp,) = frames(conn.data_to_send())
    assert struct.unpack_from(">ii", resp)[1] == 0
    assert conn.state == CLOSED and conn.close_reason == "expired"
    conn.receive_data(request(1, OpCode.ping))
    assert events(conn) == [] and conn.data_to_send() == b""


def test_four_letter_word_only_as_the_first_bytes() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    conn.receive_data(b"ruok")
    (ev,) = events(conn)
    assert isinstance(ev, FourLetterWord) and ev.command == "ruok"
    conn.send_text(b"imok")
    conn.close()
    assert conn.data_to_send() == b"imok"
    # after a handshake the same bytes are a frame length (0x72756f6b, past jute.maxbuffer), not a command
    c2 = established()
    c2.receive_data(b"ruok")
    (bad,) = events(c2)
    assert isinstance(bad, Closed) and "jute.maxbuffer" in bad.reason


def test_malformed_input_becomes_a_closed_event_never_an_exception() -> None:
    for data in (frame(b"\x00\x00"), struct.pack(">i", -5), frame(b"\xff" * 10)):
        conn = ServerConnection(("10.0.0.1", 5000), MAX)
        conn.receive_data(data)
        evs = events(conn)
        assert len(evs) == 1 and isinstance(evs[0], Closed), (data, evs)
    conn = established()
    conn.receive_data(frame(b"\x00\x00\x00\x01"))  # shorter than a request header
    (ev,) = events(conn)
    assert isinstance(ev, Closed) and "header" in ev.reason


def test_requests_before_a_bad_frame_in_one_chunk_are_served_then_the_connection_closes() -> None:
    for bad, why in ((struct.pack(">i", MAX + 1), "outside 0..jute.maxbuffer"), (struct.pack(">i", -1), "outside"),
                     (frame(b"\x00\x00\x00\x01"), "header")):
        conn = established()
        conn.receive_data(request(1, OpCode.exists, b"\0\0\0\x01/\0") + request(2, OpCode.getData, b"x") + bad
                          + request(3, OpCode.exists))
        evs = events(conn)
        assert [type(e).__name__ for e in evs] == ["Request", "Request", "Closed"], (bad, evs)
        assert [e.xid for e in evs[:2]] == [1, 2] and why in evs[2].reason  # type: ignore[union-attr]
        assert conn.recved == 2
        conn.receive_data(request(4, OpCode.exists))  # nothing more is parsed once it must close
        assert events(conn) == []


def test_too_much_data_before_the_session_is_established() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    conn.receive_data(connect_bytes())
    events(conn)
    conn.receive_data(b"\0" * (MAX + 70000))
    (ev,) = events(conn)
    assert isinstance(ev, Closed) and "before the session" in ev.reason


def test_a_connect_request_is_decoded_like_the_server_codec() -> None:
    body = ConnectRequest(0, 77, 4000, 5, b"q" * 16, True).to_bytes()
    req, has_ro = decode_connect_request(body)
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    conn.receive_data(frame(body))
    (hs,) = events(conn)
    assert hs.request == req and hs.readonly_flag == has_ro  # type: ignore[attr-defined]


# ---- per-session order -----------------------------------------------------------------------------

def test_reads_run_after_earlier_writes_and_replies_leave_in_request_order() -> None:
    """W1 R2 W3 R4: W1 and W3 come out at once (pipelined); R2 only once W1 is answered, R4 once W3 is."""
    conn = established()
    conn.receive_data(request(1, OpCode.setData) + request(2, OpCode.getData) + request(3, OpCode.create)
                      + request(4, OpCode.exists))
    w1, w3 = events(conn)
    assert isinstance(w1, AsyncRequest) and isinstance(w3, AsyncRequest) and (w1.xid, w3.xid) == (1, 3)
    assert conn.pending == 4
    conn.finish(w1, reply(1))
    (r2,) = events(conn)
    assert isinstance(r2, Request) and r2.xid == 2
    conn.reply(reply(2))
    assert events(conn) == []  # R4 still waits for W3
    conn.finish(w3, reply(3))
    (r4,) = events(conn)
    assert isinstance(r4, Request) and r4.xid == 4
    conn.reply(reply(4))
    assert xids(conn.data_to_send()) == [1, 2, 3, 4]
    assert conn.pending == 0


def test_a_later_request_answered_first_waits_for_the_earlier_one() -> None:
    """A sync on a follower can complete before an earlier forwarded write: its reply still waits."""
    conn = established()
    conn.receive_data(request(1, OpCode.setData) + request(2, OpCode.sync) + request(3, OpCode.getData))
    w1, s2 = events(conn)
    conn.finish(s2, reply(2))
    assert conn.data_to_send() == b"" and events(conn) == []
    conn.finish(w1, reply(1))
    (r3,) = events(conn)
    assert isinstance(r3, Request) and r3.xid == 3
    conn.reply(reply(3))
    assert xids(conn.data_to_send()) == [1, 2, 3]


def test_reads_with_nothing_open_are_answered_at_once() -> None:
    conn = established()
    conn.receive_data(request(1, OpCode.getData) + request(2, OpCode.ping))
    for ev in events(conn):
        assert isinstance(ev, Request)
        conn.reply(reply(ev.xid))
    assert xids(conn.data_to_send()) == [1, 2]


def test_close_after_a_reply_and_notifications() -> None:
    seen: list[ServerConnection] = []
    conn = established(on_output=seen.append)
    conn.process(1, "/a", 5)  # a watch notification goes out at once
    assert seen == [conn]
    conn.receive_data(request(9, OpCode.closeSession))
    (c,) = events(conn)
    conn.finish(c, reply(9), close_after=True)
    assert conn.state == CLOSED
    out = frames(conn.data_to_send())
    assert [struct.unpack_from(">i", f)[0] for f in out] == [-1, 9]


def test_notifications_respect_read_permission() -> None:
    conn = established()
    conn.auth = [("ip", "10.0.0.1")]
    conn.process(1, "/secret", 5, ((1, "digest", "bob:x"),))
    assert conn.data_to_send() == b""
    conn.process(1, "/open", 5, ((1, "world", "anyone"),))
    assert xids(conn.data_to_send()) == [-1]


def test_states() -> None:
    conn = ServerConnection(("10.0.0.1", 5000), MAX)
    assert conn.state == HANDSHAKE
    conn.close("bye")
    assert conn.state == CLOSED and conn.next_event() is None
