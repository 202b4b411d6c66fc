"""Run simulation seeds by hand.

    python -m tests.simulation.run --seed 42 --verbose        # replay one seed with a trace
    python -m tests.simulation.run --seeds 0:10000 --jobs 2   # a batch, failures listed at the end
    python -m tests.simulation.run --seeds 0:200 --unsafe commit_before_quorum --lin-only

`--steps` is the length of the faulty phase in core ticks (the quiet period and the probes follow);
`--unsafe` takes the core's knobs (UNSAFE_KNOBS) and the host's (HOST_UNSAFE_KNOBS).
Exit status 1 when a seed failed (or, with --unsafe, when no seed failed: the checker missed it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections import Counter
from multiprocessing import Pool
from typing import Any

from corral.quorum import UNSAFE_KNOBS
from corral.server.host import HOST_UNSAFE_KNOBS

from .world import Violation, World

DEFAULT_STEPS = 600


def run_one(args: tuple[int, int, frozenset[str], bool]) -> tuple[int, str | None, dict[str, Any], dict[str, int]]:
    seed, steps, unsafe, lin_only = args
    logging.disable(logging.CRITICAL)
    world = World(seed, ticks=steps, unsafe=unsafe & UNSAFE_KNOBS, host_unsafe=unsafe & HOST_UNSAFE_KNOBS,
                  oracle=not lin_only, check_durability=not lin_only)
    try:
        return seed, None, world.run(), world.coverage
    except Violation as exc:
        return seed, f"{exc}", {}, world.coverage
    except Exception:  # a crash of the core or the harness is a failure too, with its traceback
        return seed, "crash:\n" + traceback.format_exc(), {}, world.coverage


def parse_range(text: str) -> range:
    lo, _, hi = text.partition(":")
    return range(int(lo), int(hi)) if hi else range(int(lo), int(lo) + 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, help="one seed")
    ap.add_argument("--seeds", type=parse_range, help="a range lo:hi of seeds")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="ticks of faults (default %(default)s)")
    ap.add_argument("--verbose", "-v", action="count", default=0,
                    help="trace roles, faults and parameters; twice: every message and every apply too")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for --seeds")
    ap.add_argument("--unsafe", action="append", default=[], choices=sorted(UNSAFE_KNOBS | HOST_UNSAFE_KNOBS),
                    help="run a deliberately broken core or host (checker self-test)")
    ap.add_argument("--lin-only", action="store_true",
                    help="judge only the client history (and liveness), not the oracle's invariants")
    args = ap.parse_args(argv)
    unsafe = frozenset(args.unsafe)
    if args.verbose < 3:
        logging.disable(logging.CRITICAL)  # the servers' own log lines; -vvv shows them
    if args.seed is not None:
        world = World(args.seed, ticks=args.steps, unsafe=unsafe & UNSAFE_KNOBS,
                      host_unsafe=unsafe & HOST_UNSAFE_KNOBS, verbose=args.verbose,
                      oracle=not args.lin_only, check_durability=not args.lin_only)
        try:
            result = world.run()
        except Violation as exc:
            print(f"seed {args.seed}: VIOLATION {exc}")
            print(f"parameters: {world.params}")
            return 1
        print(f"seed {args.seed}: ok {result}")
        return 1 if unsafe else 0
    seeds = args.seeds or range(0, 100)
    start = time.monotonic()
    failures: list[tuple[int, str]] = []
    coverage: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    committed = 0
    work = [(s, args.steps, unsafe, args.lin_only) for s in seeds]
    with Pool(max(1, args.jobs)) as pool:
        for seed, error, result, cov in pool.imap_unordered(run_one, work, chunksize=4):
            coverage.update(cov)
            committed += result.get("committed", 0)
            totals.update({k: v for k, v in result.items() if k != "seed" and isinstance(v, int)})
            if error:
                failures.append((seed, error))
                print(f"seed {seed}: {error}", flush=True)
    elapsed = time.monotonic() - start
    print(f"{len(seeds)} seeds x {args.steps} ticks: {len(failures)} failed, {committed} entries committed, "
          f"{elapsed:.1f}s")
    print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    print("messages sent by type: " + ", ".join(f"{k} {v}" for k, v in sorted(coverage.items())))
    for seed, _ in sorted(failures)[:20]:
        extra = "".join(f" --unsafe {k}" for k in sorted(unsafe)) + (" --lin-only" if args.lin_only else "")
        print(f"  replay: python -m tests.simulation.run --seed {seed} --steps {args.steps}{extra} --verbose")
    if unsafe:
        return 0 if failures else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
