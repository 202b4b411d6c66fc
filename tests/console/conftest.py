"""Fixtures of the web console tests: the console served alone (`python -m corral.console`, a process
stopped by its PID), a standalone corral server with 4lw allowed, and headless Chromium via Playwright.

Screenshots go to `CORRAL_SCREENSHOT_DIR` when it is set (`make screenshots` sets it to docs/images),
otherwise into the test's tmp_path, so a normal run never changes the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from corral.testing import ServerProcess, free_port, wait_until
from tests.support.browser import CHROMIUM_ARGS, require_chromium


class ConsoleProcess:
    """`python -m corral.console` on a free port; output in `log_path`; stopped by PID."""

    def __init__(self, log_dir: Path, connect: str, extra: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_dir / f"console-{self.port}.log"
        self.args = [sys.executable, "-m", "corral.console", "--connect", connect, "--port", str(self.port),
                     "--poll-interval", "0.5", *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ConsoleProcess:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"console exited {self.proc.returncode}: {self.log()}")
            with urllib.request.urlopen(self.url + "api/session", timeout=2) as r:
                return bool(r.status == 200)

        wait_until(up, 20, "console answering")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone corral server (every four-letter word allowed) for one test module."""
    with ServerProcess(data_dir=tmp_path_factory.mktemp("zk"), tick_time=500) as srv:
        yield srv


@pytest.fixture(scope="module")
def console(console_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    c = ConsoleProcess(tmp_path_factory.mktemp("console"), console_server.hosts).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def console_browser() -> Iterator[object]:
    """One headless Chromium (Debian's, not a Playwright download) per test module."""
    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    where = os.environ.get("CORRAL_SCREENSHOT_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        return Path(where)
    return tmp_path


def screenshot(page: Any, path: Path) -> None:
    """A screenshot without a change highlight half-way through (it fades in 1.5 s), for the docs."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)  # let a watch event that is already on its way arrive
    expect(page.locator(".flash:visible")).to_have_count(0, timeout=5000)
    page.screenshot(path=str(path), animations="disabled")
