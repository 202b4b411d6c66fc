#!/usr/bin/env bash
# Two corral builds served side by side and measured interleaved by the zkbench kit (A,B / B,A):
#
#   bench/before_after.sh BEFORE_SRC [OUTDIR]     env: REPEAT OPS CONFIGS DURATION FORCESYNC=yes|no
#
# BEFORE_SRC: the src/ directory of another checkout (e.g. `git worktree add /tmp/old REV`, then
# /tmp/old/src); "after" is this checkout. Both run with this checkout's venv (same Python and
# dependencies), so only the code differs. Needs the kit built as bench/zkbench.sh builds it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
before_src=${1:?usage: bench/before_after.sh BEFORE_SRC [OUTDIR]}
out=${2:-$here/bench/results/before-after-$(date -u +%Y%m%dT%H%M%SZ)}
work=${ZKBENCH_WORK:-/tmp/corral-zkbench}
[ -x "$work/zkload_st" ] || { mkdir -p "$work"; cp -r "$here/../shared/zkbench"/. "$work"/; (cd "$work" && ./build.sh); }
mkdir -p "$out"
py=$here/.venv/bin/python
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
a_port=$(pick_port); b_port=$(pick_port)
a_dir=$(mktemp -d /tmp/before-after-a-XXXX); b_dir=$(mktemp -d /tmp/before-after-b-XXXX)
for d in "$a_dir:$a_port" "$b_dir:$b_port"; do
  dir=${d%%:*}; port=${d##*:}
  printf 'tickTime=2000\ndataDir=%s/data\nclientPort=%s\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nforceSync=%s\n' \
    "$dir" "$port" "${FORCESYNC:-yes}" > "$dir/zoo.cfg"
done
PYTHONPATH=$before_src "$py" -m corral server "$a_dir/zoo.cfg" > "$out/before.log" 2>&1 & a_pid=$!
"$py" -m corral server "$b_dir/zoo.cfg" > "$out/after.log" 2>&1 & b_pid=$!
cleanup() { kill "$a_pid" "$b_pid" 2>/dev/null || true; wait "$a_pid" "$b_pid" 2>/dev/null || true; rm -rf "$a_dir" "$b_dir"; }
trap cleanup EXIT
sleep 3
echo "before pid=$a_pid port=$a_port ($before_src)  after pid=$b_pid port=$b_port  out=$out"
cd "$work"
OUTDIR="$out" LABEL=before,after MEM=${MEM:-0} ./run_all.sh "127.0.0.1:$a_port" "$a_pid" "127.0.0.1:$b_port" "$b_pid"
