#!/bin/bash
# The durability benchmarks, one after the other (never concurrently: they would disturb each other).
#   bench/durability/run_all.sh [OUTDIR]        (from the repository root; needs /tmp/zkbench built)
# Writes one log per benchmark to OUTDIR (default /tmp/corral-durability-bench-<time>) and prints the tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/corral-durability-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
PY=.venv/bin/python
echo "results in $OUT"
$PY -m bench.durability.write_throughput --repeat "${REPEAT:-3}" | tee "$OUT/write_throughput.txt"
$PY -m bench.durability.recovery --znodes 100000 --repeat 3 --servers corral,apache | tee "$OUT/recovery_100k.txt"
$PY -m bench.durability.recovery --znodes 1000000 --repeat "${REPEAT_1M:-2}" --servers corral,apache \
  | tee "$OUT/recovery_1m.txt"
$PY -m bench.durability.snapshot_pause --znodes 1000000 --snapshots 3 --servers corral,apache \
  | tee "$OUT/snapshot_pause.txt"
