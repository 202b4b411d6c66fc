"""Seeded simulations of whole ensembles running the real host (see README.md): the CI share of the
seeds, and proof that the checkers catch deliberately broken cores and hosts.

`CORRAL_SIM_SEEDS` (default 300) and `CORRAL_SIM_OFFSET` (default 0) choose the seeds; a failure
prints the command that replays it.
"""

from __future__ import annotations

import os

import pytest

from corral.quorum import UNSAFE_KNOBS
from corral.server.host import HOST_UNSAFE_KNOBS

from .world import Violation, World, run_seed

SEEDS = int(os.environ.get("CORRAL_SIM_SEEDS", "300"))
OFFSET = int(os.environ.get("CORRAL_SIM_OFFSET", "0"))
TICKS = 600
CHUNK = 50


@pytest.mark.parametrize("start", range(OFFSET, OFFSET + SEEDS, CHUNK))
def test_seeds(start: int) -> None:
    failures = []
    for seed in range(start, min(start + CHUNK, OFFSET + SEEDS)):
        try:
            run_seed(seed, ticks=TICKS)
        except Violation as exc:
            failures.append(f"seed {seed}: {exc}\n  replay: python -m tests.simulation.run --seed {seed} "
                            f"--steps {TICKS} --verbose")
    assert not failures, "\n".join(failures)


def test_a_seed_replays_exactly() -> None:
    """Twice the same seed, with other seeds run in between (no state may leak from one world to the
    next, and no iteration order may depend on memory addresses)."""
    a = World(7, ticks=300)
    result_a = a.run()
    run_seed(8, ticks=100)
    b = World(7, ticks=300)
    assert b.run() == result_a
    assert a.oracle.history == b.oracle.history
    assert [o.value for c in a.clients for o in c.history] == [o.value for c in b.clients for o in c.history]


def first_violation(knob: str, limit: int, oracle: bool = True, durability: bool = True,
                    must_contain: str = "") -> tuple[int, str]:
    core = frozenset({knob}) & UNSAFE_KNOBS
    host = frozenset({knob}) & HOST_UNSAFE_KNOBS
    for seed in range(limit):
        try:
            run_seed(seed, ticks=TICKS, unsafe=core, host_unsafe=host, oracle=oracle, check_durability=durability)
        except Violation as exc:
            if must_contain in str(exc):
                return seed, str(exc)
    raise AssertionError(f"no violation with {knob} in {limit} seeds: the checkers have no teeth")


@pytest.mark.parametrize(
    ("knob", "limit"),
    [
        ("commit_before_quorum", 3),  # caught at once: committed yet durable on too few voters
        ("ack_before_persist", 5),  # same invariant, through crashes losing un-fsynced tails
        ("ignore_trunc", 20),  # divergent logs: applied sequences disagree, or a TRUNC anomaly
    ],
)
def test_broken_core_is_caught_by_the_invariants(knob: str, limit: int) -> None:
    _seed, why = first_violation(knob, limit)
    assert why


def test_broken_core_is_caught_by_prefix_agreement_without_the_durability_invariant() -> None:
    _seed, why = first_violation("commit_before_quorum", 30, durability=False, must_contain="applied")
    assert "where another applied" in why


def test_broken_core_is_caught_by_the_linearizability_checker_alone() -> None:
    # Oracle invariants off: only what clients saw is judged (about one seed in ten catches it).
    seed, why = first_violation("commit_before_quorum", 60, oracle=False, durability=False,
                                must_contain="not linearizable")
    assert seed < 60 and "no linearization" in why


def test_a_failure_reproduces_from_its_seed() -> None:
    seed, why = first_violation("ignore_trunc", 20)
    with pytest.raises(Violation) as again:
        run_seed(seed, ticks=TICKS, unsafe=frozenset({"ignore_trunc"}))
    assert str(again.value) == why


def test_expired_sessions_coming_back_is_caught() -> None:
    """The bug this simulation was rebuilt to find (a real SIGSTOP of a leader showed it first): before
    sessions became committed state, a paused leader counted ticks by calls, so after SIGCONT it kept
    leading for a while, expired sessions on a local verdict, and answered their writes SESSIONEXPIRED
    from then on without ever committing their closeSession. The host's two knobs bring that behaviour
    back; the session checker must catch it (the first failing seed is 14, about one seed in twelve)."""
    core, host = frozenset(), frozenset({"tick_by_calls", "local_expiry_verdict"})
    for seed in range(40):
        try:
            run_seed(seed, ticks=TICKS, unsafe=core, host_unsafe=host)
        except Violation as exc:
            assert "expired" in str(exc)
            return
    raise AssertionError("the session checker did not catch sessions expired on a local verdict")
