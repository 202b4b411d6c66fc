"""The headless browser the console tests drive: Debian's `chromium` through Playwright for Python.

Playwright's own browser download (`playwright install`) is not used: the tests launch the system
browser, which `make test-deps` installs. A missing browser (or Playwright) skips with an install hint,
and fails under CI=true, like the other reference components (`tests/support/apache.require`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .apache import require

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "install with: sudo apt-get install -y chromium (or run `make test-deps`)"
# No network, no first-run work, no background services: the machine has no internet and several
# developers share its two cores.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> str:
    require("the browser chromium (Debian package chromium)", CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK),
            INSTALL_HINT)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require("Playwright for Python", False, "install with: pip install -e '.[test]' (or run `make venv`)")
    return str(CHROMIUM)
