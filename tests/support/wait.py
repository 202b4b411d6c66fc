"""The one polling wait of the test suite: `wait_until(predicate, timeout, what=...)`.

Why one: every suite had grown its own copy (with different defaults, exception types and messages), and
ad-hoc `for _ in range(...): sleep` loops that fell through silently. A wait that fails must say *what* it
waited for and what it saw last, or the failure cannot be diagnosed from a CI log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_MAX_ROUNDS = 1_000_000  # hard bound on polls, on top of the time bound (a zero interval cannot spin forever)


class WaitTimeout(AssertionError, TimeoutError):
    """A `wait_until` that ran out of time.

    Both an AssertionError (a failed expectation, reported by pytest as such) and a TimeoutError (what
    callers that retry or add context, like the ensemble's `wait_stable`, catch)."""


def _short(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def wait_until(predicate: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    An exception raised by the predicate counts as "not yet" (a probe of a server that is still starting
    fails with ECONNREFUSED, say) and is kept for the failure message. After `timeout` seconds this raises
    WaitTimeout naming `what`, the last value and the last exception, so a failed wait explains itself.
    """
    deadline = time.monotonic() + timeout
    last_value: object = None
    last_exc: Exception | None = None
    for _ in range(_MAX_ROUNDS):
        try:
            value = predicate()
        except Exception as e:  # a probe that failed this round: try again, report the last one
            last_exc = e
        else:
            if value:
                return value
            last_value = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f"; last value {_short(last_value)}"
    if last_exc is not None:
        detail += f"; last error {last_exc!r}"
    raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}") from last_exc
