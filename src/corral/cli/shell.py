"""`corral shell`: ZooKeeper's Java shell (zkCli.sh) for corral and any ZooKeeper server.

Three ways to run it, as zkCli:

* `corral shell -server 127.0.0.1:2181` on a terminal: a prompt `[zk: 127.0.0.1:2181(CONNECTED) 0] `,
  line editing, tab completion of command names and znode paths (the server is asked for the
  children of the typed path's parent), and history recalled with the arrow keys, kept across runs in
  ~/.corral_shell_history (`-history FILE` or $CORRAL_SHELL_HISTORY to change it).
* commands piped in (`echo 'ls /' | corral shell -server ...`): read line by line, no prompt, as zkCli
  reading a pipe; the exit status is that of the last command.
* one command on the command line (`corral shell -server H:P ls /`): run it and exit with its
  status — 0 on success, 1 when it failed, 127 for an unknown command.

Options are zkCli's: `-server host:port[,host:port...][/chroot]` (default localhost:2181),
`-timeout ms` (session timeout, default 30000), `-waitforconnection` (a session that cannot be
established within the timeout is an error), `-r` (read-only mode: a server that lost its quorum may
serve the session's reads, the prompt then says CONNECTEDREADONLY), `-client-configuration
file` (zkCli's client properties: its `zookeeper.client.secure`, `zookeeper.ssl.*` and
`zookeeper.sasl.*` keys), and corral's own TLS and SASL options (`--tls-ca`, `--tls-cert`,
`--sasl-user`, `--jaas`, ...; see `shell_security.py`). The command set, output and messages are
zkCli 3.8's; see `shell_commands.py`.

Where zkCli prints Java's own words, the shell does not: there is no `JLine support is ...` line after
`Welcome to ZooKeeper!` (it names zkCli's line-editing library, not anything the user can act on), and
an unknown option is a one-line usage error (zkCli silently ignores it, so a typo such as `-sever`
connected to localhost:2181 instead). Without `-waitforconnection`, an unreachable server is reported
as soon as every address has refused a connection (about as fast as zkCli: well under a second for a
refused port) rather than after the session timeout.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from .shell_commands import COMMANDS, ZkShell
from .shell_security import SecurityError, SecurityOptions

__all__ = ["ShellOptions", "main_shell", "parse_shell_args", "shell"]

HELP = """\
Usage: corral shell [-server host:port[,...][/chroot]] [-timeout ms] [-waitforconnection]
                    [-history file] [-r] [-client-configuration file]
                    [--tls] [--tls-ca file] [--tls-cert file [--tls-key file]] [--tls-password-env VAR]
                    [--tls-no-hostname-check] [--sasl-user name [--sasl-password-env VAR]] [--jaas file]
                    [cmd args...]

An interactive ZooKeeper shell with zkCli's commands and output. Without a command it reads
commands from the terminal (prompt, tab completion, history) or, when stdin is not a terminal,
one per line from stdin. With a command it runs that command and exits with its status
(0 ok, 1 failed, 127 unknown command, 2 bad options). Type `help` in the shell for the command
list. Without -waitforconnection an unreachable server is reported (ConnectionLoss) as soon as every
address has refused a connection; with it, the shell waits up to -timeout for a session.

Security (TLS to a secureClientPort, SASL DIGEST-MD5):
  -client-configuration file  zkCli's client properties (zookeeper.client.secure=true,
                              zookeeper.ssl.keyStore.location, zookeeper.ssl.trustStore.location, ...)
  --tls                       TLS, trusting the system's CAs
  --tls-ca file               trusted CA certificates (PEM or PKCS12); implies --tls
  --tls-cert file             client certificate (PEM; with the key in it or in --tls-key; or PKCS12)
  --tls-key file              the client certificate's private key (PEM)
  --tls-password-env VAR      the store's or key's password is in $VAR
  --tls-no-hostname-check     do not check the server's name against its certificate
  --sasl-user name            SASL DIGEST-MD5 as name; the password is in $CORRAL_SASL_PASSWORD
  --sasl-password-env VAR     ... or in $VAR
  --jaas file                 SASL with the Client section of a JAAS file (as zkCli's
                              -Djava.security.auth.login.config=file)
"""


@dataclass
class ShellOptions:
    server: str = "localhost:2181"
    timeout_ms: int = 30000
    wait_for_connection: bool = False
    read_only: bool = False
    history_file: str | None = None
    command: list[str] = field(default_factory=list)
    security: SecurityOptions = field(default_factory=SecurityOptions)


KNOWN_OPTIONS = ("-server", "--server", "-timeout", "--timeout", "-client-configuration", "-history", "--history",
                 "-waitforconnection", "-r", "-h", "-help", "--help")
# corral's security options taking a value, and the SecurityOptions field each sets.
_SECURITY_VALUES = {"--tls-ca": "ca", "--tls-cert": "cert", "--tls-key": "key", "--tls-password-env": "password_env",
                    "--sasl-user": "sasl_user", "--sasl-password-env": "sasl_password_env", "--jaas": "jaas",
                    "-client-configuration": "client_config", "--client-configuration": "client_config"}
_SECURITY_PATHS = ("ca", "cert", "key", "jaas", "client_config")


def parse_shell_args(argv: list[str]) -> ShellOptions:
    """zkCli's `MyCommandOptions.parseOptions`: options until the first word not starting with `-`,
    which starts the command. An unknown option is a usage error (zkCli ignores it, which turns a
    typo like `-sever host:port` into a session with localhost:2181)."""
    opts = ShellOptions()
    i = 0
    while i < len(argv):  # one pass over the arguments
        a = argv[i]
        needs_value = a in ("-server", "--server", "-timeout", "--timeout", "-history", "--history", *_SECURITY_VALUES)
        if needs_value and i + 1 >= len(argv):
            raise click.UsageError(f"no argument found for option {a}")
        if a in ("-h", "-help", "--help"):
            click.echo(HELP, nl=False)
            sys.exit(0)
        if a in ("-server", "--server"):
            opts.server = argv[i + 1]
            i += 2
        elif a in ("-timeout", "--timeout"):
            try:
                opts.timeout_ms = int(argv[i + 1])
            except ValueError:
                raise click.UsageError(f"-timeout needs milliseconds, got {argv[i + 1]!r}")
            if opts.timeout_ms <= 0:
                raise click.UsageError("-timeout must be positive")
            i += 2
        elif a in ("-history", "--history"):
            opts.history_file = argv[i + 1]
            i += 2
        elif a in _SECURITY_VALUES:
            name, value = _SECURITY_VALUES[a], argv[i + 1]
            if not value:
                raise click.UsageError(f"{a} needs a non-empty value")
            setattr(opts.security, name, Path(value) if name in _SECURITY_PATHS else value)
            i += 2
        elif a == "--tls":
            opts.security.tls = True
            i += 1
        elif a == "--tls-no-hostname-check":
            opts.security.hostname_check = False
            i += 1
        elif a == "-waitforconnection":
            opts.wait_for_connection = True
            i += 1
        elif a == "-r":  # zkCli's read-only mode (canBeReadOnly)
            opts.read_only = True
            i += 1
        elif not a.startswith("-"):
            opts.command = list(argv[i:])
            break
        elif a in KNOWN_OPTIONS:
            i += 1
        else:
            raise click.UsageError(f"unknown option {a} (corral shell -h lists the options)")
    return opts


def _history_path(opts: ShellOptions) -> Path:
    name = opts.history_file or os.environ.get("CORRAL_SHELL_HISTORY") or "~/.corral_shell_history"
    return Path(name).expanduser()


def _stdio_replace_errors() -> None:
    # zkCli prints undecodable data as replacement characters instead of failing; do the same.
    for stream in (sys.stdout, sys.stderr):
        # Only real text files have reconfigure(); a replaced stream (tests, pipes wrapped by tools) may not.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="replace")
        except ValueError:
            pass


def _shell(opts: ShellOptions) -> ZkShell | None:
    """The shell with its TLS and SASL settings; None (after one line on stderr) when they are unusable."""
    try:
        tls, sasl = opts.security.build()
    except SecurityError as e:
        click.echo(f"corral shell: {e}", err=True)
        return None
    return ZkShell(opts.server, opts.timeout_ms, wait_for_connection=opts.wait_for_connection, tls=tls, sasl=sasl,
                   read_only=opts.read_only)


def run_one_shot(opts: ShellOptions) -> int:
    sh = _shell(opts)
    if sh is None:
        return 2
    sh.out(f"Connecting to {opts.server}\n")
    try:
        if not sh.connect(opts.server, opts.timeout_ms / 1000 if opts.wait_for_connection else None) \
                and opts.wait_for_connection:
            sh.err(f"Unable to connect to {opts.server} within {opts.timeout_ms} ms\n")
            return 1
    except Exception as e:  # a bad connect string
        sh.err(f"{e}\n")
        return 1
    try:
        sh.process_cmd(opts.command)
    finally:
        # zkCli exits without closing; closing removes our ephemeral nodes at once and prints nothing.
        sh.close_session(announce=False)
    return sh.exit_code


def run_pipe(opts: ShellOptions) -> int:
    sh = _shell(opts)
    if sh is None:
        return 2
    if not _start(sh, opts):
        return 1
    sh.out("Welcome to ZooKeeper!\n")
    try:
        while not sh.quit_requested:  # one command per line until quit or end of input
            line = sys.stdin.readline()
            if not line:
                break
            sh.execute_line(line.rstrip("\n").rstrip("\r"))
    finally:
        if not sh.quit_requested:
            sh.close_session(announce=False)
    return sh.exit_code


def _start(sh: ZkShell, opts: ShellOptions) -> bool:
    """Print zkCli's banner and open the session, waiting for it (bounded by the session timeout) so
    that the connection event comes before the first command's output."""
    sh.out(f"Connecting to {opts.server}\n")
    try:
        connected = sh.connect(opts.server, opts.timeout_ms / 1000)
    except Exception as e:  # a bad connect string
        sh.err(f"{e}\n")
        return False
    if not connected and sh.state_name == "AUTH_FAILED":
        # The server refused the SASL login: zkCli goes on (the AuthFailed event was printed) and
        # answers every command with "Not connected"; so does this shell.
        return True
    if not connected and opts.wait_for_connection:
        sh.err(f"Unable to connect to {opts.server} within {opts.timeout_ms} ms\n")
        sh.close_session(announce=False)
        return False
    return True


def run_tty(opts: ShellOptions) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout
    from prompt_toolkit.shortcuts import CompleteStyle

    from .shell_completion import ShellCompleter

    sh = _shell(opts)
    if sh is None:
        return 2
    if not _start(sh, opts):
        return 1
    sh.out("Welcome to ZooKeeper!\n")
    hist = _history_path(opts)
    try:
        hist.parent.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(hist))
    except OSError:
        history = None
    session: PromptSession[str] = PromptSession(
        history=history, completer=ShellCompleter(sh, sorted(COMMANDS)), complete_style=CompleteStyle.READLINE_LIKE,
        complete_in_thread=True)
    try:
        while not sh.quit_requested:  # until quit or end of input (Ctrl-D)
            # Events arriving while the prompt is shown print above it (patch_stdout); a command's own
            # output is written plainly, before the next prompt is drawn.
            with patch_stdout(raw=True):
                try:
                    line = session.prompt(sh.prompt, refresh_interval=1.0)
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
            try:
                sh.execute_line(line)
            except KeyboardInterrupt:
                sh.out("\n")
    finally:
        if not sh.quit_requested:
            sh.close_session(announce=False)
    return sh.exit_code


def main_shell(argv: list[str]) -> int:
    """Run the shell with zkCli-style arguments; returns the exit status (2: bad arguments, told in one
    line on stderr, without click's generic usage block, which would show `[OPTIONS] [ARGV]...`)."""
    try:
        opts = parse_shell_args(argv)
    except click.UsageError as e:
        click.echo(f"corral shell: {e.format_message()}", err=True)
        return 2
    _stdio_replace_errors()
    # The client's warnings (a refused SASL login, an expired session) reach the user as zkCli's
    # WATCHER events; as zkCli keeps its log out of the terminal, the shell drops the log lines.
    client_log = logging.getLogger("corral.client")
    if not client_log.handlers:
        client_log.addHandler(logging.NullHandler())
    client_log.propagate = False
    if opts.command:
        return run_one_shot(opts)
    if sys.stdin.isatty() and sys.stdout.isatty():
        return run_tty(opts)
    return run_pipe(opts)


@click.command("shell", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def shell(argv: tuple[str, ...]) -> None:
    """Interactive ZooKeeper shell with zkCli's commands and output (corral shell -h for usage)."""
    sys.exit(main_shell(list(argv)))
