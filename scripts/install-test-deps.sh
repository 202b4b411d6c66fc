#!/usr/bin/env bash
# Installs the reference packages the compatibility tests need (Apache ZooKeeper and its C shell), and
# the browser the web console tests drive (chromium), when they are missing and apt is usable. Tests
# that need them skip (or fail under CI=true) when they are still missing afterwards, and say how to
# install them.
set -u
need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || command -v cli_mt >/dev/null 2>&1 || need+=(zookeeper-bin)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the web console tests (tests/console) drive it headless
if [ ${#need[@]} -eq 0 ]; then
  echo "test-deps: reference packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}"
  exit 0
fi
echo "test-deps: installing ${need[*]} with apt-get"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >/tmp/corral-test-deps.log 2>&1; then
  echo "test-deps: apt-get failed (see /tmp/corral-test-deps.log); the compatibility tests will skip or fail"
fi
exit 0
