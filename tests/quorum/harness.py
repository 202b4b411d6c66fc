"""A hand-driven ensemble for scenario tests: perfect network unless a test holds or drops messages.

Unlike the simulation it has no randomness at all: tests decide when ticks happen, which
messages go through and when the disk reports an fsync, so each test can pin one protocol rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from corral.quorum import EnsembleConfig, Event, Message, Peer, Ready, Recovered, Role, decode
from corral.quorum.peer import ReconfigDecoder

Filter = Callable[[int, int, Message], bool]


@dataclass
class Node:
    sid: int
    peer: Peer
    applied: list[tuple[int, bytes]] = field(default_factory=list, repr=False)
    log: list[tuple[int, bytes]] = field(default_factory=list, repr=False)
    events: list[Event] = field(default_factory=list, repr=False)
    readies: list[Ready] = field(default_factory=list, repr=False)
    snapshot_zxid: int = 0
    state_zxid: int = 0
    auto_persist: bool = True
    unpersisted: int | None = None
    alive: bool = True

    def events_of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]


class Cluster:
    def __init__(self, voters: Iterable[int], observers: Iterable[int] = (),
                 recovered: dict[int, Recovered] | None = None, reconfig_of: ReconfigDecoder | None = None,
                 **cfg: object) -> None:
        self.config = EnsembleConfig(voters=frozenset(voters), observers=frozenset(observers), **cfg)  # type: ignore[arg-type]
        self.nodes: dict[int, Node] = {}
        self.reconfig_of = reconfig_of  # what the host tells a new leader about logged reconfigs
        self.queue: list[tuple[int, int, Message]] = []
        self.drop: Filter = lambda frm, to, msg: False
        # Delay instead of loss: once a message matches `hold`, its link is paused (FIFO kept).
        self.hold: Filter = lambda frm, to, msg: False
        self.held: list[tuple[int, int, Message]] = []
        self.paused: set[tuple[int, int]] = set()
        self.sent: list[tuple[int, int, Message]] = []
        for sid in sorted(self.config.members):
            rec = (recovered or {}).get(sid, Recovered())
            self.start(sid, rec)

    def start(self, sid: int, rec: Recovered) -> Node:
        node = Node(sid, None)  # type: ignore[arg-type]
        node.log = list(rec.log)
        node.snapshot_zxid = rec.log_base
        node.state_zxid = rec.applied_zxid

        def snapshot() -> tuple[int, bytes]:
            return node.state_zxid, b"snapshot-of-%d" % sid

        node.peer = Peer(sid, self.config, rec, snapshot, incarnation=sid * 1000 + len(self.nodes),
                         reconfig_of=self.reconfig_of)
        self.nodes[sid] = node
        self.drain(node)
        return node

    def __getitem__(self, sid: int) -> Node:
        return self.nodes[sid]

    def drain(self, node: Node) -> None:
        for _ in range(100):
            if not node.peer.has_ready():
                return
            r = node.peer.ready()
            node.readies.append(r)
            if r.truncate_to is not None:
                node.log = [e for e in node.log if e[0] <= r.truncate_to]
            if r.install_snapshot is not None:
                node.log = []
                node.snapshot_zxid = r.install_snapshot[0]
                node.applied = [e for e in node.applied if e[0] <= r.install_snapshot[0]]
                node.state_zxid = r.install_snapshot[0]
            node.log.extend(r.append)
            for to, msg in r.messages:
                for frm2, to2, decoded in self.transcode(node.sid, to, msg):
                    self.sent.append((frm2, to2, decoded))
                    self.queue.append((frm2, to2, decoded))
            node.applied.extend(r.commit)
            if r.commit:
                node.state_zxid = r.commit[-1][0]
            node.events.extend(r.events)
            node.peer.advance()
            if r.log_end is not None:
                if node.auto_persist:
                    node.peer.persisted(r.log_end)
                else:
                    node.unpersisted = r.log_end
        raise AssertionError("peer never quiesces")

    def transcode(self, frm: int, to: int, msg: Message) -> list[tuple[int, int, Message]]:
        """What `msg` becomes on the way: by default it goes through the core's own codec (so the codec
        is always on the path); `tests/quorum/apache_wire.py` puts Apache's protocol there instead."""
        return [(frm, to, decode(msg.encode()))]

    def persist(self, sid: int) -> None:
        node = self.nodes[sid]
        if node.unpersisted is not None:
            z, node.unpersisted = node.unpersisted, None
            node.peer.persisted(z)
            self.drain(node)

    def deliver(self, limit: int = 100000) -> int:
        """Deliver queued messages (and whatever they cause) until none is left."""
        n = 0
        while self.queue and n < limit:
            frm, to, msg = self.queue.pop(0)
            n += 1
            node = self.nodes.get(to)
            if node is None or not node.alive or not self.nodes[frm].alive or self.drop(frm, to, msg):
                continue
            if (frm, to) in self.paused or self.hold(frm, to, msg):
                self.paused.add((frm, to))
                self.held.append((frm, to, msg))
                continue
            node.peer.receive(frm, msg)
            self.drain(node)
        return n

    def release(self) -> None:
        """Resume paused links: held messages go out first, in their order."""
        self.hold = lambda frm, to, msg: False
        self.paused.clear()
        self.queue[:0], self.held = self.held, []
        self.deliver()

    def tick(self, n: int = 1, only: Iterable[int] | None = None) -> None:
        for _ in range(n):
            for sid in sorted(only if only is not None else self.nodes):
                node = self.nodes[sid]
                if node.alive:
                    node.peer.tick()
                    self.drain(node)
            self.deliver()

    def call(self, sid: int, fn: str, *args: Any) -> Any:
        node = self.nodes[sid]
        result = getattr(node.peer, fn)(*args)
        self.drain(node)
        return result

    def settle(self, ticks: int = 30) -> None:
        """Deliver and tick until every live voter is serving (or give up after `ticks`)."""
        self.deliver()
        for _ in range(ticks):
            if all(n.peer.serving for n in self.nodes.values() if n.alive):
                return
            self.tick()

    def leader(self) -> Node:
        leaders = [n for n in self.nodes.values() if n.alive and n.peer.role is Role.LEADING and n.peer.serving]
        assert len(leaders) == 1, f"expected one serving leader, got {[n.sid for n in leaders]}"
        return leaders[0]

    def crash(self, sid: int) -> None:
        self.nodes[sid].alive = False

    def isolate(self, *sids: int) -> None:
        cut = set(sids)
        self.drop = lambda frm, to, msg: (frm in cut) != (to in cut)

    def heal(self) -> None:
        self.drop = lambda frm, to, msg: False
