"""The server's log lines: `key=value` text (the default) or one JSON object per line.

Why JSON is derived from the text rather than logged separately: every log call in corral writes one
event as `event=name key=value ...`, so the JSON formatter turns exactly those pairs into fields
(`{"ts": ..., "level": ..., "logger": ..., "event": ..., "key": "value"}`) and log shippers get the same
events, field for field, without a second set of log calls. Text that is not `key=value` (a message
from a library) is kept whole in `msg`; a traceback goes into `exc`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_PAIR = re.compile(r"([A-Za-z_][\w.]*)=(\S*)")


def fields(message: str) -> dict[str, str]:
    """The `key=value` pairs of a message; the whole text as `msg` when it is not only pairs."""
    out: dict[str, str] = {}
    pos = 0
    for m in _PAIR.finditer(message):
        if message[pos:m.start()].strip():
            return {"msg": message}
        out[m.group(1)] = m.group(2)
        pos = m.end()
    if message[pos:].strip() or not out:
        return {"msg": message}
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        for key, value in fields(record.getMessage()).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr at `level` in `fmt` ("text" or "json"); replaces any earlier setup."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (one of {', '.join(FORMATS)})")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
