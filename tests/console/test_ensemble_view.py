"""The ensemble view in headless Chromium on a 3-member corral ensemble: every member's role and zxid,
a member killed shows as down in the table and the SVG picture, and shows as a follower again after
its restart, without reloading the page (live updates from the console's probes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from corral.testing import Ensemble
from tests.console.conftest import ConsoleProcess, screenshot

pytestmark = pytest.mark.slow

WAIT_MS = 30_000


def test_member_goes_down_and_comes_back_in_the_ensemble_view(console_browser, tmp_path: Path,
                                                             screenshot_dir: Path) -> None:
    from playwright.sync_api import expect

    with Ensemble(3, base_dir=tmp_path / "ens") as ens:
        members = [f"--member={m.sid}=127.0.0.1:{m.port}" for m in ens.members]
        console = ConsoleProcess(tmp_path, ens.hosts, members).start()
        kz = KazooClient(hosts=ens.hosts)
        kz.start(timeout=20)
        ctx = console_browser.new_context(viewport={"width": 1280, "height": 760})
        try:
            kz.ensure_path("/app/queue")
            page = ctx.new_page()
            page.goto(console.url + "#ensemble")
            page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
            table = page.locator("#ensemble-table")
            expect(table.locator("td.state-up")).to_have_count(3, timeout=WAIT_MS)
            leader = ens.leader()
            expect(table.locator(f"tr[data-id='{leader.sid}'] td.mode")).to_have_text("leader", timeout=WAIT_MS)
            expect(page.locator(f"#ensemble-svg g.member.leader[data-id='{leader.sid}']")).to_have_count(1)
            expect(page.locator("#ensemble-svg g.member.follower")).to_have_count(2, timeout=WAIT_MS)
            for i in range(5):
                kz.create("/app/queue/item-", str(i).encode(), sequence=True)
            kz.sync("/")
            last = f"0x{kz.exists('/app/queue').pzxid:x}"
            expect(table.locator("td.zxid")).to_have_text([last] * 3, timeout=WAIT_MS)  # live, no reload
            screenshot(page, screenshot_dir / "console-ensemble.png")

            victim = next(m for m in ens.members if m is not leader)
            row = table.locator(f"tr[data-id='{victim.sid}']")
            ens.kill(victim)
            expect(row.locator("td.state-down")).to_have_text("down", timeout=WAIT_MS)
            expect(page.locator(f"#ensemble-svg g.member.down[data-id='{victim.sid}']")).to_have_count(1)
            expect(page.locator("#ensemble-log")).to_contain_text(f"server.{victim.sid}: follower → down")
            screenshot(page, screenshot_dir / "console-ensemble-down.png")
            kz.create("/app/queue/item-", b"while down", sequence=True)  # the quorum of two still commits

            ens.restart(victim)
            expect(row.locator("td.state-up")).to_have_text("up", timeout=WAIT_MS)
            expect(row.locator("td.mode")).to_have_text("follower", timeout=WAIT_MS)
            expect(page.locator(f"#ensemble-svg g.member.follower[data-id='{victim.sid}']")).to_have_count(1)
            # down → follower, or down → not serving → follower when a probe lands while it syncs
            back = re.compile(rf"server\.{victim.sid}: (down|not serving) → follower")
            expect(page.locator("#ensemble-log li").filter(has_text=back)).to_have_count(1)
            # Once it has caught up its lag is 0 transactions, like the other follower's.
            expect(row.locator("td.lag")).to_have_text("0", timeout=WAIT_MS)
            assert f"event=console_member_down id={victim.sid}" in console.log()
        finally:
            ctx.close()
            kz.stop()
            kz.close()
            console.stop()
