"""Small helpers shared by the scenarios (kept out of harness.py so the harness stays scenario-agnostic)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.rawclient import ConnectionClosed, Op, RawClient, Reply, Unordered, path_watch_body

from .harness import Zxid

CLOSED = "connection closed"


def attempt(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """The reply of `fn(...)`, or CLOSED when the server closed the connection instead of replying."""
    try:
        return fn(*args, **kwargs)
    except ConnectionClosed:
        return CLOSED


def closed_after(c: RawClient) -> str:
    """Whether the server has closed the connection after what was just sent.

    Probes with a ping instead of waiting: ZooKeeper closes right after the reply that ends the
    connection (the close is queued behind that reply), so a ping sent next gets EOF; a server that
    keeps the connection open answers the ping. No timing involved.
    """
    if c.closed:
        return CLOSED
    try:
        c.ping()
    except ConnectionClosed:
        return CLOSED
    return "still open"


NO_REPLY = "no reply"


def request_outcome(c: RawClient, op: int, body: bytes, xid: int = 1, first_wait: float = 0.3):
    """(reply, connection state) for one request that may get a reply, no reply at all, or a close.

    When nothing arrives within `first_wait`, a probe request (exists "/") decides without further
    waiting: replies come in request order, so if the probe is answered first the request never will be.
    The observation does not depend on timing (a late reply is recorded like a prompt one).
    """
    try:
        c.send(op, body, xid=xid)
    except ConnectionClosed:
        return CLOSED, CLOSED
    try:
        return c.read_reply(None, op, timeout=first_wait), closed_after(c)
    except ConnectionClosed:
        return CLOSED, CLOSED
    except TimeoutError:
        pass
    probe_xid = xid + 1000
    try:
        c.send(Op.EXISTS, path_watch_body("/", False), xid=probe_xid)
        first = c.read_reply(None, op)
        if first.xid == probe_xid:  # the probe's header zxid shows whether the request used a zxid
            return {NO_REPLY: True, "next reply zxid": Zxid(first.zxid)}, "still open"
        c.read_reply(probe_xid, Op.EXISTS)
        return first, "still open"
    except ConnectionClosed:
        return NO_REPLY, CLOSED


def events_after_barrier(c: RawClient) -> list:
    """All notifications `c` received up to a pipeline round trip, in arrival order (RawClient.barrier)."""
    c.barrier()
    return c.take_events()


def unordered(reply: Reply, part: int | None = None) -> Reply:
    """The reply with its list value (or the list at value[part]) compared as a multiset.

    For lists Apache builds by iterating a hash set, where the order is an accident of Java's hashing
    and not part of the protocol: the caller's auth ids in whoAmI, the ids an `auth` ACL expands to.
    """
    if reply.err or not isinstance(reply.value, list | tuple):
        return reply
    if part is None:
        return dataclasses.replace(reply, value=Unordered(reply.value))
    value = tuple(Unordered(x) if i == part else x for i, x in enumerate(reply.value))
    return dataclasses.replace(reply, value=value)


def scenarios_of(module_globals: dict) -> list:
    """The module's `scenario_*` functions as pytest params named after them (without the prefix)."""
    found = [f for name, f in module_globals.items() if name.startswith("scenario_") and callable(f)]
    return [pytest.param(f, id=f.__name__.removeprefix("scenario_")) for f in found]


def label_err(obs: dict, label: str) -> int:
    """The error code recorded under `label` (normalised reply dict)."""
    return obs[label]["err"]
