"""kazoo clients for the ensemble tests: bounded retries, a background writer, per-member views."""

from __future__ import annotations

import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from .cluster import WAIT, Member

# Reconnect quickly (kazoo's default backoff grows to an hour); the test stops the client, which ends it.
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5}
SESSION_TIMEOUT = 6.0  # seconds; tickTime 300 ms allows 0.6 .. 6 s


def start_kazoo(hosts: str, timeout: float = SESSION_TIMEOUT, randomize_hosts: bool = True,
                start_timeout: float = WAIT, client_id: tuple[int, bytes] | None = None,
                **tls: object) -> KazooClient:
    """A started kazoo client on `hosts` that records every state change in `client.states`
    (`client_id`: resume that session instead of creating one; `tls`: kazoo's TLS arguments (use_ssl, ca,
    certfile, keyfile, ...))."""
    client = KazooClient(hosts=hosts, timeout=timeout, randomize_hosts=randomize_hosts, client_id=client_id,
                         connection_retry=KazooRetry(**FAST_RETRY),
                         command_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5, deadline=WAIT), **tls)
    client.states = []  # type: ignore[attr-defined]
    client.add_listener(lambda s: client.states.append((time.monotonic(), s)))  # type: ignore[attr-defined]
    try:
        client.start(timeout=start_timeout)
    except BaseException:
        close_kazoo(client)
        raise
    return client


def close_kazoo(client: KazooClient) -> None:
    try:
        client.stop()
    except Exception:
        pass
    try:
        client.close()
    except Exception:
        pass


def session_lost(client: KazooClient) -> bool:
    return any(s == KazooState.LOST for _, s in client.states)  # type: ignore[attr-defined]


RETRYABLE = (ConnectionLoss, OperationTimeoutError, KazooTimeoutError)


class Writer(threading.Thread):
    """Creates `prefix/000000`, `prefix/000001`, ... one at a time, as fast as acknowledged.

    A create whose outcome is unknown (connection lost before the reply) is retried with the same path
    until it is acknowledged; NodeExists on a retry means the first attempt committed. `acked` holds
    every path the ensemble confirmed, with the monotonic time of the confirmation.
    """

    def __init__(self, client: KazooClient, prefix: str, op_timeout: float = 30.0,
                 give_up_after: float = WAIT, pace: float = 0.0) -> None:
        """`pace`: seconds to wait after each acknowledged write (bounds the rate, and so the tree)."""
        super().__init__(daemon=True, name=f"writer{prefix}")
        self.client = client
        self.pace = pace
        self.prefix = prefix
        self.op_timeout = op_timeout
        self.give_up_after = give_up_after
        self.acked: list[tuple[str, float, float]] = []  # (path, start of the successful attempt, ack time)
        self.retries = 0
        self.error: BaseException | None = None
        self._stop_flag = threading.Event()
        self._go = threading.Event()
        self._go.set()

    def pause(self) -> None:
        """Stop issuing new writes after the one in flight (resume() goes on)."""
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self, timeout: float = WAIT) -> None:
        self._stop_flag.set()
        self._go.set()
        self.join(timeout)
        assert not self.is_alive(), f"writer {self.prefix} did not stop within {timeout}s"

    def acked_after(self, t: float) -> int:
        return sum(1 for _, _, at in self.acked if at > t)

    def first_ack_after(self, t: float) -> float | None:
        """Ack time of the first write whose successful attempt was sent after `t`."""
        for _, sent, at in self.acked:
            if sent > t:
                return at
        return None

    def paths(self) -> set[str]:
        return {p for p, _, _ in self.acked}

    def run(self) -> None:
        n = 0
        try:
            while not self._stop_flag.is_set():
                self._go.wait()
                path = f"{self.prefix}/{n:06d}"
                self._create(path)
                n += 1
                if self.pace:
                    self._stop_flag.wait(self.pace)
        except BaseException as e:
            self.error = e

    def _create(self, path: str) -> None:
        started = time.monotonic()
        attempted = False
        while True:
            sent = time.monotonic()
            try:
                self.client.create_async(path, path.encode()).get(timeout=self.op_timeout)
            except NodeExistsError:
                if not attempted:
                    raise
            except RETRYABLE:
                attempted = True
                self.retries += 1
                if time.monotonic() - started > self.give_up_after:
                    raise TimeoutError(f"{path}: not acknowledged within {self.give_up_after}s of retries")
                time.sleep(0.02)
                continue
            self.acked.append((path, sent, time.monotonic()))
            return


def tree_of(client: KazooClient, path: str = "/") -> dict[str, tuple[bytes, tuple[int, ...]]]:
    """Every znode under `path` (but /zookeeper) with its data and the Stat fields every member agrees on
    (all but the times), for comparing members' trees. One level at a time, its reads pipelined."""
    out: dict[str, tuple[bytes, tuple[int, ...]]] = {}
    level = [path]
    while level:
        listings = [(p, client.get_children_async(p)) for p in level]
        level = [f"{p.rstrip('/')}/{c}" for p, r in listings for c in r.get(timeout=WAIT)]
        level = [p for p in level if p != "/zookeeper"]
        for full, r in [(p, client.get_async(p)) for p in level]:
            data, st = r.get(timeout=WAIT)
            out[full] = (data, (st.czxid, st.mzxid, st.pzxid, st.version, st.cversion, st.aversion,
                                st.ephemeralOwner, st.numChildren, st.dataLength))
    return out


class MemberView:
    """A kazoo client on one member only: after `sync('/')` its reads show everything committed."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.client = start_kazoo(member.hostport, randomize_hosts=False)

    def __enter__(self) -> MemberView:
        return self

    def __exit__(self, *exc) -> None:
        close_kazoo(self.client)

    def synced(self) -> MemberView:
        self.client.sync("/")
        return self

    def children(self, path: str) -> set[str]:
        try:
            return set(self.client.get_children(path))
        except NoNodeError:
            return set()

    def ephemeral_owner(self, path: str) -> int | None:
        st = self.client.exists(path)
        return None if st is None else st.ephemeralOwner


__all__ = [
    "ConnectionClosedError",
    "MemberView",
    "SessionExpiredError",
    "Writer",
    "close_kazoo",
    "session_lost",
    "start_kazoo",
    "tree_of",
]
