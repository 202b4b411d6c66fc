"""The one-line fatal error every `corral` command prints: `corral: WHAT: DETAIL`, then exit 2.

One line, always: an operator greps for it, a supervisor shows the last line, and a value with an
escaped newline (`\\n` in a Java-properties value) must not split it.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

USAGE = 2  # what click uses for a bad command line; a bad configuration is the same kind of mistake


def fail(what: str, detail: object, code: int = USAGE) -> NoReturn:
    text = " ".join(str(detail).splitlines())
    click.echo(f"corral: {what}: {text}", err=True)
    sys.exit(code)
