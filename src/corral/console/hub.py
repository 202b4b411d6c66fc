"""Fan-out of live events to the browsers' event streams.

Each stream owns one bounded queue. A publisher never waits for a slow browser: when a queue is full
the stream is told to `resync` (reload what it shows) instead of growing without bound, which also
covers events lost while the console's ZooKeeper session was disconnected.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["QUEUE_SIZE", "Event", "EventHub"]

QUEUE_SIZE = 256
Event = tuple[str, Any]  # (SSE event name, JSON-able payload)


class EventHub:
    """A set of subscriber queues; `publish` puts one event in each."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()

    def __len__(self) -> int:
        return len(self._queues)

    def subscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._queues.add(queue)

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._queues.discard(queue)

    def publish(self, name: str, payload: Any) -> None:
        for q in self._queues:
            put(q, (name, payload))


def put(queue: asyncio.Queue[Event], event: Event) -> None:
    """Queue `event`, or on overflow replace the backlog with one `resync`."""
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(("resync", {"reason": "overflow"}))
