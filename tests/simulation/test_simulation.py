"""Seeded simulations of whole ensembles (see README.md): the CI share of the seeds, and proof that
the checkers catch deliberately broken cores.

`CORRAL_SIM_SEEDS` (default 500) and `CORRAL_SIM_OFFSET` (default 0) choose the seeds; a failure
prints the command that replays it.
"""

from __future__ import annotations

import os

import pytest

from .world import Violation, World, run_seed

SEEDS = int(os.environ.get("CORRAL_SIM_SEEDS", "500"))
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
    a, b = World(7, ticks=200), World(7, ticks=200)
    assert a.run() == b.run()
    assert a.oracle.history == b.oracle.history
    assert [o.value for c in a.clients for o in c.history] == [o.value for c in b.clients for o in c.history]


def first_violation(knob: str, limit: int, oracle: bool = True, durability: bool = True,
                    must_contain: str = "") -> tuple[int, str]:
    for seed in range(limit):
        try:
            run_seed(seed, ticks=TICKS, unsafe=frozenset({knob}), oracle=oracle, check_durability=durability)
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
