"""A black-box linearizability checker for a key-value store of registers.

It trusts nothing of the system under test: it sees only what clients saw (when each operation
was invoked, when and with what result it returned) and searches for a legal sequential order,
Wing & Gong's algorithm with Lowe's memoisation of (linearized set, register value). Keys are
independent objects, and linearizability is compositional, so each key is checked on its own.

* A write whose outcome the client never learned (timeout, server crash) is *open*: it may take
  effect at any point after its invocation, or never.
* Every written value is unique, so an open write nobody ever read can be dropped: leaving it out
  of a linearization never makes a read illegal.
* Reads are reads-after-sync; reads without sync may be stale in ZooKeeper and are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["INF", "CheckResult", "Op", "check_history", "check_register"]

INF = float("inf")


@dataclass(frozen=True)
class Op:
    """One client operation on `key`: a write of `value`, or a read that returned `value`.

    `ret` is None for a write whose outcome is unknown. `None` as a read result is "no value yet".
    """

    client: int
    kind: str  # "w" or "r"
    key: str
    value: str | None
    call: float
    ret: float | None

    def __str__(self) -> str:
        end = "?" if self.ret is None else f"{self.ret:g}"
        verb = "write" if self.kind == "w" else "read"
        return f"c{self.client} {verb} {self.key}={self.value} [{self.call:g}, {end}]"


@dataclass
class CheckResult:
    ok: bool
    key: str | None = None
    explanation: str = ""
    states: int = 0


class SearchTooLarge(Exception):
    """The search exceeded its budget: the history is inconclusive (too concurrent to check)."""


def check_register(ops: list[Op], initial: str | None = None, budget: int = 2_000_000) -> tuple[bool, str, int]:
    """Is this single-register history linearizable? Returns (ok, explanation, states explored)."""
    read_values = {op.value for op in ops if op.kind == "r"}
    ops = [op for op in ops if not (op.kind == "w" and op.ret is None and op.value not in read_values)]
    # Quick refutation: a read of a value nobody wrote (or wrote only after the read returned).
    written = {op.value: op for op in ops if op.kind == "w"}
    for op in ops:
        if op.kind == "r" and op.value is not None:
            w = written.get(op.value)
            if w is None:
                return False, f"{op} returned a value never written", 0
            if op.ret is not None and w.call > op.ret:
                return False, f"{op} returned the value of {w}, invoked after the read returned", 0
    n = len(ops)
    calls = [op.call for op in ops]
    rets = [INF if op.ret is None else op.ret for op in ops]
    required = 0
    for i, op in enumerate(ops):
        if op.ret is not None:
            required |= 1 << i
    order = sorted(range(n), key=lambda i: calls[i])
    seen: set[tuple[int, str | None]] = set()
    stack: list[tuple[int, str | None]] = [(0, initial)]
    explored = 0
    best_mask, best_count = 0, -1
    while stack:
        done, value = stack.pop()
        if (done, value) in seen:
            continue
        seen.add((done, value))
        explored += 1
        if explored > budget:
            raise SearchTooLarge(f"more than {budget} states")
        if done & required == required:
            return True, "", explored
        count = bin(done).count("1")
        if count > best_count:
            best_mask, best_count = done, count
        # The earliest return among pending operations bounds which calls may go next.
        horizon = INF
        for i in range(n):
            if not done >> i & 1 and rets[i] < horizon:
                horizon = rets[i]
        for i in order:
            if calls[i] > horizon:
                break
            if done >> i & 1:
                continue
            op = ops[i]
            if op.kind == "w":
                stack.append((done | 1 << i, op.value))
            elif op.value == value:
                stack.append((done | 1 << i, value))
    stuck = [str(ops[i]) for i in order if not best_mask >> i & 1 and ops[i].ret is not None][:6]
    return False, "no linearization; longest prefix stops before: " + "; ".join(stuck), explored


def check_history(ops: Iterable[Op], budget: int = 2_000_000) -> CheckResult:
    """Check every key; the first failing key is reported."""
    by_key: dict[str, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    total = 0
    for key in sorted(by_key):
        try:
            ok, why, states = check_register(by_key[key], budget=budget)
        except SearchTooLarge as exc:
            return CheckResult(False, key, f"inconclusive: {exc}", total)
        total += states
        if not ok:
            return CheckResult(False, key, why, total)
    return CheckResult(True, None, "", total)
