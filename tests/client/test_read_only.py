"""Read-only mode in corral's client: `can_be_read_only`, CONNECTED_READ_ONLY, NotReadOnly on writes, and
the background search for a read-write server.

Against Apache ZooKeeper 3.8 (members started with `-Dreadonlymode.enabled=true`): one member of three
is cut off from its quorum by killing the other two; a client with `can_be_read_only` gets a session
there (Apache 3.8 creates sessions on a read-only member only with `localSessionsEnabled=true`, hence
that key, and refuses to resume global sessions there), reads, and gets NotReadOnly for writes; a
client without it cannot connect at all; after the other two come back the client is on a
read-write member again by itself. The corral case runs the same body against a corral ensemble with
the same settings (`readonlymode.enabled` in zoo.cfg).

The search itself is checked without Apache: a fake read-only server that never lets go of its
client, next to a real corral server; the client must leave the fake for corral on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import time
from collections.abc import Callable

import pytest

from corral.client import (
    Client,
    ConnectionLossError,
    NotReadOnlyError,
    SessionState,
    SyncClient,
)
from corral.protocol import ConnectResponse, Err, ReplyHeader, RequestHeader
from tests.ensemble.cluster import Ensemble, Member
from tests.shell.drivers import SHELL_CMD, shell_env
from tests.support.apache_ensemble import ApacheEnsemble, ApacheMember
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

PARTITION_WAIT = 90.0  # Apache turns read-only ~2 s after losing its quorum; a restart + election takes seconds
SWITCH_WAIT = 20.0  # probes start at 100 ms and double; a few rounds at most


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # bounded by the deadline
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module", params=[pytest.param("apache", marks=pytest.mark.compat), "corral"])
def ro_ensemble(request, tmp_path_factory):
    ens: ApacheEnsemble | Ensemble
    if request.param == "corral":
        ens = Ensemble(tmp_path_factory.mktemp("readonly-corral"),
                       extra_cfg={"localSessionsEnabled": "true", "readonlymode.enabled": "true"})
        ens.start()
        yield ens
        ens.close()
        return
    ens = ApacheEnsemble(tmp_path_factory.mktemp("readonly"), extra_cfg={"localSessionsEnabled": "true"},
                         jvm_props={"readonlymode.enabled": "true"})
    ens.start()
    yield ens
    ens.close()


def shell_read_only(hosts: str, script: str) -> str:
    p = subprocess.run([*SHELL_CMD, "-server", hosts, "-r", "-waitforconnection", "-timeout", "10000"],
                       input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=shell_env(),
                       timeout=60, start_new_session=True)
    return p.stdout.decode("utf-8", "replace")


def test_partitioned_member_serves_reads_and_the_client_returns_after_the_heal(
        ro_ensemble: ApacheEnsemble | Ensemble) -> None:
    survivor, *others = ro_ensemble.members
    with SyncClient(ro_ensemble.hosts, timeout=10) as zk:
        zk.create("/ro", b"before")
    for m in others:
        m.kill()
    wait_until(lambda: _isro(survivor) == "ro", PARTITION_WAIT, "the survivor to serve read-only")
    assert "\nMode: read-only\n" in survivor.four_letter("srvr")
    assert "zk_server_state\tread-only\n" in survivor.four_letter("mntr")
    zk = SyncClient(ro_ensemble.hosts, timeout=10, can_be_read_only=True)
    states: list[SessionState] = []
    zk.add_listener(states.append)
    try:
        zk.start()
        assert zk.state is SessionState.CONNECTED_READ_ONLY
        assert zk.read_only and zk.connected and zk.connected_to == (survivor.host, survivor.port)
        assert zk.get_data("/ro")[0] == b"before"
        assert sorted(zk.get_children("/")) == ["ro", "zookeeper"]
        with pytest.raises(NotReadOnlyError):
            zk.create("/write", b"x")
        with pytest.raises(NotReadOnlyError):
            zk.set_data("/ro", b"y")
        ro_session = zk.session_id
        assert "zk_local_sessions\t1\n" in survivor.four_letter("mntr")  # read-only sessions are local

        plain = SyncClient(ro_ensemble.hosts, timeout=10)
        try:
            with pytest.raises(ConnectionLossError):  # no read-write member, and it did not ask for read-only
                plain.start(timeout=2.0)
        finally:
            plain.close()

        out = shell_read_only(survivor.hosts, "get /ro\ncreate /x\n")
        assert "WatchedEvent state:ConnectedReadOnly type:None path:null" in out, out
        assert "\nbefore\n" in out and "Not a read-only call: /x" in out, out

        for m in others:
            m.start(wait=False)
        wait_until(lambda: zk.state is SessionState.CONNECTED, PARTITION_WAIT,
                   "the client to reach a read-write member")
        zk.set_data("/ro", b"after")
        zk.create("/write", b"x")
        # Apache 3.8 gives read-only members local sessions only, so the client asked for a new one.
        assert zk.session_id != ro_session
        assert states[:2] == [SessionState.CONNECTING, SessionState.CONNECTED_READ_ONLY], states
        assert states[-1] is SessionState.CONNECTED, states
    finally:
        zk.close()


def _isro(member: ApacheMember | Member) -> str:
    try:
        return member.four_letter("isro", timeout=1.0)
    except OSError:
        return ""


# ---- the search, without Apache -----------------------------------------------------------------------

class FakeReadOnlyServer:
    """Accepts any session read-only and keeps it (answers pings, NotReadOnly to everything else); says
    `ro` to isro. It never closes a client's connection, so only the client's own search can move it."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.sessions = 0
        self.probes = 0

    async def start(self) -> FakeReadOnlyServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readexactly(4)
            if head == b"isro":
                self.probes += 1
                writer.write(b"ro")
                return
            await reader.readexactly(struct.unpack(">i", head)[0])
            self.sessions += 1
            resp = bytearray()
            ConnectResponse(0, 10000, 0x7700 + self.sessions, b"\1" * 16, True).serialize(resp)
            writer.write(struct.pack(">i", len(resp)) + resp)
            while True:  # one reply per request until the client goes away
                (length,) = struct.unpack(">i", await reader.readexactly(4))
                hdr = RequestHeader.deserialize(await reader.readexactly(length), 0)[0]
                err = 0 if hdr.xid == -2 else Err.NOTREADONLY
                out = bytearray()
                ReplyHeader(hdr.xid, 0, err).serialize(out)
                writer.write(struct.pack(">i", len(out)) + out)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_client_leaves_a_read_only_server_for_a_read_write_one(corral_server) -> None:
    fake = await FakeReadOnlyServer().start()
    rw = ("127.0.0.1", corral_server.port)
    zk = Client(f"127.0.0.1:{fake.port},{corral_server.hosts}", timeout=10, randomize_hosts=False,
                can_be_read_only=True)
    states: list[SessionState] = []
    zk.add_listener(states.append)
    try:
        await zk.start()
        assert zk.state is SessionState.CONNECTED_READ_ONLY or zk.connected_to == rw
        ro_session = zk.session_id
        await wait_for(lambda: zk.state is SessionState.CONNECTED and zk.connected_to == rw, SWITCH_WAIT,
                       "the client to find the read-write server")
        assert states[:2] == [SessionState.CONNECTING, SessionState.CONNECTED_READ_ONLY], states
        assert zk.session_id != ro_session  # a session only ever seen read-only is replaced
        await zk.create("/rw-found", b"")
        assert fake.sessions == 1  # it went straight to the server that answered rw
    finally:
        await zk.close()
        await fake.close()


async def test_read_only_answer_from_a_server_is_refused_without_can_be_read_only() -> None:
    fake = await FakeReadOnlyServer().start()
    try:
        with pytest.raises(ConnectionLossError):
            await Client(f"127.0.0.1:{fake.port}", timeout=10).start(timeout=1.0)
        assert fake.sessions >= 1
    finally:
        await fake.close()


def test_shell_r_option_is_parsed() -> None:
    from corral.cli.shell import parse_shell_args

    assert parse_shell_args(["-r", "-server", "h:1"]).read_only
    assert not parse_shell_args(["-server", "h:1"]).read_only
