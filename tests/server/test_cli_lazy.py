"""`corral`'s subcommands other than `server` are imported only when named (cli/main.py's lazy group).

Why: a restart of `corral server` must not pay for the shell's and tools' imports, yet every subcommand
must still be there: listed by `--help`, resolved by its name to the command of that name, and an
unknown name still refused as click refuses it."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from corral.cli import main as cli


def test_every_lazy_name_resolves_to_the_command_of_that_name():
    ctx = cli.main.make_context("corral", ["--help"], resilient_parsing=True)
    listed = cli.main.list_commands(ctx)
    assert set(cli._LAZY) <= set(listed) and "server" in listed
    for name in cli._LAZY:
        cmd = cli.main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name


def test_help_lists_them_and_an_unknown_name_is_a_usage_error():
    runner = CliRunner()
    r = runner.invoke(cli.main, ["--help"])
    assert r.exit_code == 0 and all(name in r.output for name in cli._LAZY)
    r = runner.invoke(cli.main, ["no-such-command"])
    assert r.exit_code == 2 and "No such command" in r.output


def test_starting_the_server_command_imports_no_other_subcommand():
    code = ("import sys; from corral.cli import main as m; "
            "m.main.get_command(m.main.make_context('corral', ['server', '--help'], resilient_parsing=True), "
            "'server'); print(sorted(k for k in sys.modules if k.startswith('corral.cli.') or "
            "k == 'prompt_toolkit'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['corral.cli.main']"
