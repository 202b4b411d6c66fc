"""`corral`: the server and the tools around it."""

from __future__ import annotations

import importlib
import sys

import click

from .. import FULL_VERSION

# The subcommands other than `server`, by name: (module under corral.cli, attribute). Imported when named
# (or listed by `corral --help`), not at start-up: the shell and the tools pull in the client library and
# prompt-toolkit, about 0.15 s that every `corral server` start (a restart included) paid for nothing.
_LAZY: dict[str, tuple[str, str]] = {
    "log": ("tools", "log_cmd"),
    "snapshot": ("tools", "snapshot_cmd"),
    "purge": ("tools", "purge_cmd"),
    "shell": ("shell", "shell"),
    "bench": ("bench", "bench"),
    "ensemble": ("ensemble", "ensemble_cmd"),
    "config": ("config_cmd", "config_cmd"),
    "migrate": ("migrate", "migrate_cmd"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in _LAZY:
            module, attr = _LAZY[cmd_name]
            cmd = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
            assert isinstance(cmd, click.Command) and cmd.name == cmd_name
            self.add_command(cmd)
        return cmd


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(FULL_VERSION, prog_name="corral")
def main() -> None:
    """corral: a ZooKeeper-compatible coordination service."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@main.command()
@click.argument("config", required=False)
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="DEBUG, INFO, WARNING or ERROR (any case).")
@click.option("--log-format", default="text", show_default=True, type=click.Choice(("text", "json")),
              envvar="CORRAL_LOG_FORMAT", show_envvar=True,
              help="text: `time LEVEL logger event=... key=value` lines; json: one JSON object per line.")
def server(config: str | None, log_level: str, log_format: str) -> None:
    """Run a server in the foreground from a zoo.cfg file.

    With no file: a development server on 127.0.0.1:2181 with its data in ./data and every four-letter
    word enabled. Configuration and data-directory problems are one line on stderr and exit code 2."""
    from ..persistence import RecoveryError
    from ..persistence.lock import DataDirError, DataDirLocked
    from ..server.config import ConfigError, ServerConfig, load
    from ..server.main import run, setup_logging
    from .errors import fail

    setup_logging(log_level.upper(), log_format)
    try:
        cfg = load(config) if config else ServerConfig.embedded()
    except ConfigError as e:
        fail("bad configuration", e)
    try:
        code = run(cfg)
    except ConfigError as e:  # an in-process ServerConfig whose myid is read by the server
        fail("bad configuration", e)
    except DataDirLocked as e:
        fail("data directory in use", e)
    except DataDirError as e:
        fail("bad data directory", e)
    except RecoveryError as e:
        fail("cannot recover the data directory", e, 3)
    except OSError as e:
        fail(f"cannot serve on {cfg.client_port_address}:{cfg.client_port}", e, 1)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
