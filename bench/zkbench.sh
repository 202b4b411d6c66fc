#!/usr/bin/env bash
# corral vs Apache ZooKeeper with the neutral C load generator in ../shared/zkbench, interleaved.
#
#   bench/zkbench.sh [OUTDIR]        env: REPEAT=3 DURATION=10 OPS=... CONFIGS=... FORCESYNC=yes|no
#
# Builds zkload in a scratch copy of the kit (needs the Debian packages the kit's README lists:
# zookeeper zookeeper-bin libzookeeper-mt-dev libzookeeper-st2), starts a fresh corral and a fresh
# Apache ZooKeeper (both standalone on 127.0.0.1, same forceSync), runs the kit's run_all.sh against
# both interleaved (memory probe first, then every workload), prints the comparison table and stops
# both servers (only the PIDs it started).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kit_src=${ZKBENCH_SRC:-$here/../shared/zkbench}
work=${ZKBENCH_WORK:-/tmp/corral-zkbench}
out=${1:-$here/bench/results/zkbench-$(date -u +%Y%m%dT%H%M%SZ)}
forcesync=${FORCESYNC:-yes}
mkdir -p "$work" "$out"
if [ ! -x "$work/zkload_st" ]; then
  cp -r "$kit_src"/. "$work"/
  (cd "$work" && ./build.sh)
fi
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
zk_port=$(pick_port); co_port=$(pick_port)
zk_dir=$(mktemp -d /tmp/zkbench-apache-XXXX); co_dir=$(mktemp -d /tmp/zkbench-corral-XXXX)
cat > "$co_dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$co_dir/data
clientPort=$co_port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
forceSync=$forcesync
CFG
ZK_FORCESYNC=$forcesync "$work/start_apache_zk.sh" "$zk_port" "$zk_dir" > "$out/apache.log" 2>&1 & zk_pid=$!
"$here/.venv/bin/python" -m corral server "$co_dir/zoo.cfg" > "$out/corral.log" 2>&1 & co_pid=$!
cleanup() { kill "$zk_pid" "$co_pid" 2>/dev/null || true; wait "$zk_pid" "$co_pid" 2>/dev/null || true; rm -rf "$zk_dir" "$co_dir"; }
trap cleanup EXIT
for p in "$zk_port" "$co_port"; do
  for _ in $(seq 100); do
    python3 - "$p" <<'PY' && break
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1); s.sendall(b"ruok")
    sys.exit(0 if s.recv(16) == b"imok" else 1)
except OSError:
    sys.exit(1)
PY
    sleep 0.2
  done
done
echo "apache pid=$zk_pid port=$zk_port  corral pid=$co_pid port=$co_port  forceSync=$forcesync  out=$out"
cd "$work"
OUTDIR="$out" LABEL=${LABEL:-apache,corral} ./run_all.sh 127.0.0.1:$zk_port "$zk_pid" 127.0.0.1:$co_port "$co_pid"
