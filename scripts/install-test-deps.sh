#!/usr/bin/env bash
# Installs the reference packages the compatibility tests need (Apache ZooKeeper and its C shell, Apache
# Curator with a JDK to compile against it), the browser the web console tests drive (chromium) and MIT
# Kerberos for the SASL GSSAPI tests (a KDC, its tools, and the headers the Python GSSAPI bindings build
# against), when they are missing and apt is usable; then the `test-kerberos` extra into the project's virtualenv ($PY, given by the Makefile).
# Tests that need them skip (or fail under CI=true) when they are still missing afterwards, and say how
# to install them.
set -u
need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || command -v cli_mt >/dev/null 2>&1 || need+=(zookeeper-bin)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the web console tests (tests/console) drive it headless
# Curator's EnsembleTracker against reconfig (tests/client/test_reconfig_apache.py); javac comes with the JDK.
[ -f /usr/share/java/curator-framework.jar ] || need+=(libcurator-framework-java)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
# SASL GSSAPI (tests/security/test_gssapi.py): a throwaway KDC, kinit, and krb5-config for the bindings' build.
[ -x /usr/sbin/krb5kdc ] || need+=(krb5-kdc)
[ -x /usr/sbin/kadmin.local ] || need+=(krb5-admin-server)
command -v kinit >/dev/null 2>&1 || need+=(krb5-user)
command -v krb5-config >/dev/null 2>&1 || need+=(libkrb5-dev)
if [ ${#need[@]} -eq 0 ]; then
  echo "test-deps: reference packages present"
elif [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}"
else
  echo "test-deps: installing ${need[*]} with apt-get"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >/tmp/corral-test-deps.log 2>&1; then
    echo "test-deps: apt-get failed (see /tmp/corral-test-deps.log); the compatibility tests will skip or fail"
  fi
fi
# The Python GSSAPI bindings compile against libkrb5-dev, so they come after it (not in the `test` extra).
PY="${PY:-.venv/bin/python}"
if [ -x "$PY" ] && ! "$PY" -c "import gssapi, kerberos" >/dev/null 2>&1; then
  if command -v krb5-config >/dev/null 2>&1; then
    echo "test-deps: installing the test-kerberos extra (gssapi, kerberos) into $(dirname "$(dirname "$PY")")"
    "$PY" -m pip install -q -e ".[test,test-kerberos]" >>/tmp/corral-test-deps.log 2>&1 ||
      echo "test-deps: pip install -e '.[test,test-kerberos]' failed (see /tmp/corral-test-deps.log); the GSSAPI tests will skip or fail"
  else
    echo "test-deps: krb5-config missing (libkrb5-dev); the GSSAPI tests will skip"
  fi
fi
exit 0
