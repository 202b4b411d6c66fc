"""`corral`: the server and the tools around it."""

from __future__ import annotations

import sys

import click

from .. import FULL_VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(FULL_VERSION, prog_name="corral")
def main() -> None:
    """corral: a ZooKeeper-compatible coordination service."""


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
def server(config: str | None, log_level: str) -> None:
    """Run a server in the foreground from a zoo.cfg file (no file: 127.0.0.1:2181, data in ./data)."""
    from ..server.config import ConfigError, ServerConfig, load
    from ..server.main import run, setup_logging

    setup_logging(log_level)
    try:
        cfg = load(config) if config else ServerConfig.embedded()
    except ConfigError as e:
        click.echo(f"corral: bad configuration: {e}", err=True)
        sys.exit(2)
    from ..persistence import RecoveryError
    from ..processes import remove_pid_file, write_pid_file

    # dataDir/corral_server.pid names this process, so that `corral ensemble status` can show the pid of a
    # member restarted by hand; removed on a clean exit.
    pid_file = write_pid_file(cfg.data_dir)
    try:
        code = run(cfg)
    except RecoveryError as e:
        click.echo(f"corral: cannot recover the data directory: {e}", err=True)
        sys.exit(3)
    except OSError as e:
        click.echo(f"corral: cannot serve on {cfg.client_port_address}:{cfg.client_port}: {e}", err=True)
        sys.exit(1)
    finally:
        remove_pid_file(pid_file)
    sys.exit(code)


def _register() -> None:
    """Subcommands live in their own modules; importing them here keeps `corral --help` complete."""
    from .bench import bench
    from .ensemble import ensemble_cmd
    from .shell import shell
    from .tools import log_cmd, purge_cmd, snapshot_cmd

    for cmd in (log_cmd, snapshot_cmd, purge_cmd, shell, bench, ensemble_cmd):
        main.add_command(cmd)


_register()


if __name__ == "__main__":  # pragma: no cover
    main()
