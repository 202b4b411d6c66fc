"""Drivers for `corral shell` in tests: through a pipe (like tests/support/shells.py drives zkCli) and
through a pseudo-terminal (prompt, tab completion, arrow-key history).

The pipe driver reuses `ZkCli`'s protocol: after each command it sends `version`, whose line
`ZooKeeper CLI version: ...` marks the end of that command's output. corral's shell implements
`version` with the same wording, so one transcript format serves both shells and they can be compared
line by line.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

from tests.support.shells import ZkCli, ZxidLabels, normalize_java, strip_slf4j, zkcli_env

SHELL_CMD = [sys.executable, "-m", "corral", "shell"]
PTY_STEP = 10.0  # one keystroke's effect on a local shell shows within milliseconds; generous bound


def shell_env(**extra: str) -> dict[str, str]:
    """Environment for `corral shell`: UTC dates (as zkCli runs with -Duser.timezone=UTC), C locale."""
    env = dict(os.environ, TZ="UTC", LC_ALL="C", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class CorralShell(ZkCli):
    """`corral shell -server hosts -waitforconnection` fed one command at a time, exactly like `ZkCli`.

    Its banner ends with `Welcome to ZooKeeper!`: it has no `JLine support is ...` line (see JAVA_ONLY).
    """

    def __init__(self, hosts: str, *extra_args: str, env: dict[str, str] | None = None) -> None:
        super().__init__("", hosts, argv=[*SHELL_CMD, "-server", hosts, "-waitforconnection", *extra_args],
                         env=env or shell_env())
        self.banner_end = r"Welcome to ZooKeeper!\n"


def run_script(argv: list[str], script: str, env: dict[str, str], timeout: float = 60.0) -> tuple[int, str]:
    """Feed a whole script on stdin (then end of input) and return (exit status, stdout+stderr)."""
    p = subprocess.run(argv, input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=timeout, start_new_session=True)
    return p.returncode, strip_slf4j(p.stdout.decode("utf-8", "replace"))


def zkcli_script(zkcli: str, hosts: str, script: str) -> tuple[int, str]:
    return run_script([zkcli, "-server", hosts, "-waitforconnection"], script, zkcli_env())


def corral_script(hosts: str, script: str, *extra: str) -> tuple[int, str]:
    return run_script([*SHELL_CMD, "-server", hosts, "-waitforconnection", *extra], script, shell_env())


def run_corral_once(hosts: str, *args: str, extra: tuple[str, ...] = (), timeout: float = 30.0) -> tuple[int, str]:
    """`corral shell -server hosts cmd args` (one command); returns (exit status, output)."""
    return run_script([*SHELL_CMD, "-server", hosts, *extra, *args], "", shell_env(), timeout)


# What zkCli prints that is Java's rather than the shell's, and corral's shell deliberately does not print
# (corral/cli/shell.py): the banner line naming zkCli's line-editing library, and the commons-cli exception
# class in front of option errors (`org.apache.commons.cli.UnrecognizedOptionException: Unrecognized
# option: -x` is `Unrecognized option: -x`). `normalize` drops them from zkCli's transcript so that the
# rest still compares line by line; tests assert separately that corral's output never contains them.
JAVA_ONLY = re.compile(r"(?m)^JLine support is (?:enabled|disabled)\n|org\.apache\.commons\.cli\.\w+Exception: ")
_USAGE_LINE = re.compile(r"(?m)^(?:\t.*|ZooKeeper -server host:port -client-configuration properties-file cmd args)\n")
_OWNER = re.compile(r"(?m)^ephemeralOwner = 0x(?!0$)[0-9a-f]+$")


def normalize(text: str, hosts: str, zxids: ZxidLabels) -> str:
    """Make two shells' transcripts comparable: server address, dates, zxid values, session ids.

    The command list printed for an unknown command is dropped: zkCli lists commands corral's shell
    does not implement (quotas, reconfig, addWatch...), and saying so is the honest difference. So are
    zkCli's Java-only words (JAVA_ONLY).
    """
    text = text.replace(hosts, "<server>")
    text = JAVA_ONLY.sub("", text)
    text = _USAGE_LINE.sub("", text)
    text = _OWNER.sub("ephemeralOwner = 0x<session>", text)
    return normalize_java(text, zxids)


# ---- pseudo-terminal ----------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\x1b\][^\x07]*\x07|\r")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class PtyShell:
    """`corral shell` on a pseudo-terminal (stdin and stdout are the pty's slave side).

    Reads are bounded (select with a deadline); `expect` waits until a regex matches the screen text
    (ANSI sequences removed) written since a mark. prompt-toolkit's cursor-position request is turned
    off (PROMPT_TOOLKIT_NO_CPR) because nothing answers it on a test pty.
    """

    def __init__(self, hosts: str, home: str, *extra: str) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        env = shell_env(HOME=home, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", LC_ALL="C.UTF-8")
        env.pop("CORRAL_SHELL_HISTORY", None)
        self.proc = subprocess.Popen([*SHELL_CMD, "-server", hosts, *extra], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.buf = ""

    def _read_some(self, timeout: float) -> bool:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the shell closed the terminal
            return False
        if not data:
            return False
        self.buf += data.decode("utf-8", "replace")
        return True

    def mark(self) -> int:
        return len(self.buf)

    def screen(self, start: int = 0) -> str:
        return strip_ansi(self.buf[start:])

    def expect(self, pattern: str, start: int = 0, timeout: float = PTY_STEP) -> re.Match | None:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.screen(start))
            if m:
                return m
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_some(min(remaining, 0.2)):
                return regex.search(self.screen(start))

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_exit(self, timeout: float = 10.0) -> int | None:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read_some(0.1)
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        os.close(self.master)

    def __enter__(self) -> PtyShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
