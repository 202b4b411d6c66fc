"""corral's web console: browse the tree live, read and (logged in) change znodes, and watch the
ensemble, sessions and watches, from a browser.

The console is an aiohttp application a host mounts into its HTTP server:

    from corral.console import console_app, console_config

    if server_cfg.console_enable:                      # zoo.cfg admin.console.enable
        parent.add_subapp("/console/", console_app(console_config(server_cfg)))

(`console_config` takes the server's own client address and its `server.N` members from its
ServerConfig; `ConsoleConfig(connect=..., members=...)` says the same by hand)
or serves alone with `python -m corral.console --connect 127.0.0.1:2181 --port 8081`. It is a
ZooKeeper client of the servers it shows (the server's ACLs decide what each browser may see and
do), with live updates from a persistent recursive watch, and the ensemble view from four-letter
words on each member's client port. The page is plain JavaScript and CSS shipped in the package.
"""

from .app import console_app
from .config import ConsoleConfig, MemberAddress, members_from_connect, parse_member
from .wiring import console_config

__all__ = ["ConsoleConfig", "MemberAddress", "console_app", "console_config", "members_from_connect",
           "parse_member"]
