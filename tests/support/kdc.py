"""A throwaway Kerberos realm on loopback for the SASL GSSAPI tests: MIT krb5's KDC (Debian packages
`krb5-kdc`, `krb5-admin-server`, `krb5-user`) run as an unprivileged child process.

Why a real KDC: GSSAPI tokens are Kerberos AP-REQ/AP-REP messages under keys only a KDC hands out; a
fake would test nothing. Everything is private to one directory: `krb5.conf` (given to clients through
`KRB5_CONFIG`, to Java through `-Djava.security.krb5.conf`), `kdc.conf` (`KRB5_KDC_PROFILE`), the
database, keytabs, credential caches and `kdc.log`. The KDC listens on 127.0.0.1 only, on a free port
(TCP; UDP is turned off for clients by `udp_preference_limit = 1`), and is stopped by its PID.

Missing packages skip the test with the install hint (and fail under CI=true), as for Apache ZooKeeper.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from corral.testing.process import ManagedProcess

from .apache import require
from .net import HOST, free_port

REALM = "EXAMPLE.TEST"
SERVICE_PRINCIPAL = f"zookeeper/localhost@{REALM}"
KDC_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist")
KRB5_HINT = ("install with: sudo apt-get install -y krb5-kdc krb5-admin-server krb5-user libkrb5-dev "
             "(or run `make test-deps`)")
_SBIN = ("/usr/sbin", "/usr/bin", "/sbin")


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in _SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def require_kdc() -> None:
    """Skip (or fail under CI) when MIT krb5's KDC and tools are not installed."""
    missing = [t for t in KDC_TOOLS if _tool(t) is None]
    require(f"MIT Kerberos ({', '.join(missing)})", not missing, KRB5_HINT)


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


class Kdc(ManagedProcess):
    """`krb5kdc -n` for realm EXAMPLE.TEST in `base`; `start()` creates the database, `principal()` adds
    principals (with keytabs), `kinit()` gets a ticket into a private credential cache."""

    kind = "krb5kdc"
    stop_timeout = 5.0

    def __init__(self, base: Path, realm: str = REALM) -> None:
        self.base = base
        self.realm = realm
        self.port = 0
        base.mkdir(parents=True, exist_ok=True)

    @property
    def log_path(self) -> Path:
        return self.base / "kdc.log"

    @property
    def krb5_conf(self) -> Path:
        return self.base / "krb5.conf"

    def env(self, ccache: str | None = None) -> dict[str, str]:
        """The environment a Kerberos client of this realm runs with; `ccache` is a credential cache name
        (`DIR:/path` holds the tickets of several principals, a client picks one by name)."""
        env = {**os.environ, "KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.base / "kdc.conf")}
        if ccache is not None:
            env["KRB5CCNAME"] = ccache
        return env

    def _write_config(self) -> None:
        b = self.base
        self.krb5_conf.write_text(
            f"[libdefaults]\n default_realm = {self.realm}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"
            " dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n"
            " ticket_lifetime = 1h\n forwardable = false\n\n"
            f"[realms]\n {self.realm} = {{\n  kdc = {HOST}:{self.port}\n  admin_server = {HOST}:{self.port}\n }}\n\n"
            f"[domain_realm]\n localhost = {self.realm}\n 127.0.0.1 = {self.realm}\n")
        (b / "kdc.conf").write_text(
            f"[kdcdefaults]\n kdc_listen = {HOST}:{self.port}\n kdc_tcp_listen = {HOST}:{self.port}\n\n"
            f"[realms]\n {self.realm} = {{\n  database_name = {b}/principal\n  key_stash_file = {b}/stash\n"
            f"  acl_file = {b}/kadm5.acl\n  max_life = 1h\n }}\n\n"
            f"[logging]\n kdc = FILE:{self.log_path}\n default = FILE:{self.log_path}\n")
        (b / "kadm5.acl").write_text("")

    def _run(self, *cmd: str) -> str:
        tool = _tool(cmd[0])
        assert tool is not None
        done = subprocess.run([tool, *cmd[1:]], env=self.env(), capture_output=True, text=True, timeout=30,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def start(self, timeout: float = 20.0) -> Kdc:
        require_kdc()
        for _ in range(5):  # a TCP port that is also free for UDP (the KDC binds both)
            self.port = free_port()
            if _udp_free(self.port):
                break
        self._write_config()
        self._run("kdb5_util", "create", "-s", "-r", self.realm, "-P", "throwaway-master-key")
        kdc = _tool("krb5kdc")
        assert kdc is not None
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([kdc, "-n", "-r", self.realm], env=self.env(), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_ready(timeout)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def principal(self, name: str, keytab: Path | None = None) -> str:
        """Add `name` (in this realm) with a random key; with `keytab`, export its key there. Returns the
        full principal name."""
        full = name if "@" in name else f"{name}@{self.realm}"
        self._run("kadmin.local", "-r", self.realm, "-q", f"addprinc -randkey {full}")
        if keytab is not None:
            self._run("kadmin.local", "-r", self.realm, "-q", f"ktadd -k {keytab} {full}")
        return full

    def kinit(self, principal: str, keytab: Path, ccache: str) -> dict[str, str]:
        """A ticket-granting ticket for `principal` (from its keytab) in `ccache` (a DIR: collection gets
        one cache per principal); returns the environment a client uses it with (KRB5_CONFIG, KRB5CCNAME)."""
        env = self.env(ccache)
        tool = _tool("kinit")
        assert tool is not None
        done = subprocess.run([tool, "-kt", str(keytab), principal], env=env, capture_output=True, text=True,
                              timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kinit {principal} failed: {done.stderr.strip()}; KDC log:\n{self.log(3000)}")
        return env

    def close(self) -> None:
        self.stop()
