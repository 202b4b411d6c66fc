"""The linearizability checker itself: it must accept legal histories and reject illegal ones."""

from __future__ import annotations

import random

from tests.simulation.linearizability import Op, check_history, check_register


def w(client: int, value: str, call: float, ret: float | None, key: str = "k") -> Op:
    return Op(client, "w", key, value, call, ret)


def r(client: int, value: str | None, call: float, ret: float, key: str = "k") -> Op:
    return Op(client, "r", key, value, call, ret)


def test_sequential_history() -> None:
    assert check_register([w(0, "a", 0, 1), r(1, "a", 2, 3), w(0, "b", 4, 5), r(1, "b", 6, 7)])[0]


def test_initial_read_is_none() -> None:
    assert check_register([r(0, None, 0, 1), w(0, "a", 2, 3)])[0]
    assert not check_register([w(0, "a", 0, 1), r(1, None, 2, 3)])[0]


def test_stale_read_after_acknowledged_write_is_rejected() -> None:
    ok, why, _ = check_register([w(0, "a", 0, 1), w(0, "b", 2, 3), r(1, "a", 4, 5)])
    assert not ok and "no linearization" in why


def test_concurrent_write_may_be_seen_or_not() -> None:
    assert check_register([w(0, "a", 0, 10), r(1, "a", 1, 2)])[0]
    assert check_register([w(0, "a", 0, 10), r(1, None, 1, 2)])[0]


def test_reads_cannot_go_back_in_time() -> None:
    # Once a read saw the concurrent write, a later read must see it too.
    assert not check_register([w(0, "a", 0, 10), r(1, "a", 1, 2), r(2, None, 3, 4)])[0]


def test_unknown_writes_may_happen_late_or_never() -> None:
    assert check_register([w(0, "a", 0, None), r(1, None, 5, 6), r(1, "a", 7, 8)])[0]
    assert check_register([w(0, "a", 0, None), r(1, None, 5, 6)])[0]
    assert not check_register([w(0, "a", 0, None), r(1, "a", 5, 6), r(1, None, 7, 8)])[0]


def test_value_never_written_or_from_the_future() -> None:
    ok, why, _ = check_register([r(0, "ghost", 0, 1)])
    assert not ok and "never written" in why
    ok, why, _ = check_register([r(0, "a", 0, 1), w(1, "a", 2, 3)])
    assert not ok and "after the read returned" in why


def test_keys_are_independent() -> None:
    res = check_history([w(0, "a", 0, 1, "x"), r(1, None, 2, 3, "y"), w(0, "b", 4, 5, "y"), r(1, "a", 6, 7, "x")])
    assert res.ok
    res = check_history([w(0, "a", 0, 1, "x"), r(1, None, 2, 3, "x")])
    assert not res.ok and res.key == "x"


def test_random_sequentially_consistent_but_not_linearizable_histories_are_caught() -> None:
    # Simulate a register where reads are served by a replica lagging up to `lag` writes.
    rng = random.Random(7)
    caught = 0
    for _ in range(200):
        history: list[Op] = []
        values: list[str | None] = [None]
        t = 0.0
        for i in range(12):
            if rng.random() < 0.5:
                values.append(f"v{i}")
                history.append(w(0, f"v{i}", t, t + 1))
            else:
                lag = rng.choice([0, 0, 1])
                history.append(r(1, values[max(0, len(values) - 1 - lag)], t, t + 1))
            t += 2
        ok, _, _ = check_register(history)
        stale = any(op.kind == "r" and op.value != values_at(history, op) for op in history)
        assert ok == (not stale)
        caught += not ok
    assert caught > 10


def values_at(history: list[Op], read: Op) -> str | None:
    last = None
    for op in history:
        if op.kind == "w" and op.ret is not None and op.ret < read.call:
            last = op.value
    return last
