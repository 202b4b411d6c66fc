"""`python -m corral.console`: serve the console alone, for development, tests and a quick look.

    python -m corral.console --connect 127.0.0.1:2181 --port 8081
    python -m corral.console --connect 127.0.0.1:2181,127.0.0.1:2182 \\
        --member 1=127.0.0.1:2181 --member 2=127.0.0.1:2182 --port 8081 --read-only

Prints one line `event=console_listening url=...` when it serves; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from .app import console_app
from .config import ConsoleConfig, MemberAddress, parse_member

log = logging.getLogger("corral.console")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0..65535)")
    return int(text)


def _member(text: str) -> MemberAddress:
    try:
        return parse_member(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m corral.console", description="Serve corral's web console alone.")
    p.add_argument("--connect", default="127.0.0.1:2181", help="ZooKeeper connect string (default %(default)s)")
    p.add_argument("--member", action="append", type=_member, default=[], metavar="ID=HOST:PORT",
                   help="an ensemble member to show (repeat; default: the hosts of --connect)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=_port, default=8081, help="port to listen on (default %(default)s; 0: any)")
    p.add_argument("--read-only", action="store_true", help="refuse create/set/delete for everybody")
    p.add_argument("--session-timeout", type=float, default=30.0, help="ZooKeeper session timeout, s")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between ensemble probes")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


async def _serve(cfg: ConsoleConfig, host: str, port: int) -> None:
    runner = web.AppRunner(console_app(cfg), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        bound = next((a[1] for a in runner.addresses if isinstance(a, tuple)), port)
        shown = f"[{host}]" if ":" in host else host
        log.info("event=console_listening url=http://%s:%d/", shown, bound)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    try:
        cfg = ConsoleConfig(connect=args.connect, members=tuple(args.member), writes=not args.read_only,
                            session_timeout=args.session_timeout, poll_interval=args.poll_interval)
    except (ValueError, TypeError) as e:
        print(f"python -m corral.console: error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(cfg, args.host, args.port))
    except OSError as e:
        print(f"python -m corral.console: error: cannot listen on {args.host}:{args.port}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
