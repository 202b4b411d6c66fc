"""The console in headless Chromium against a real corral server, with kazoo as the other client:
browse, see a node change live while kazoo writes, edit as an authenticated user (and be refused when
the ACL says no, or when not logged in), hostile znode names rendered as inert text, and CSRF."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_acl, make_digest_acl

from tests.console.conftest import screenshot

pytestmark = pytest.mark.slow

WAIT_MS = 15_000
HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    '"><svg onload=window.__pwned=3>',
    "<script>window.__pwned=2<",  # with its child "script>" the path reads <script>…</script>
]


@pytest.fixture(scope="module")
def kz(console_server) -> Iterator[KazooClient]:
    k = KazooClient(hosts=console_server.hosts)
    k.start(timeout=15)
    k.ensure_path("/demo/servers")
    k.create("/demo/config", json.dumps({"name": "demo", "replicas": 3, "tags": ["a", "b"]}).encode())
    for i in range(1, 4):
        k.create(f"/demo/servers/s{i}", f"10.0.0.{i}:9000".encode())
    for name in HOSTILE:
        k.create(f"/demo/{name}", b"<script>window.__pwned=4</script><img src=x onerror=window.__pwned=5>")
    k.create("/demo/<script>window.__pwned=2</script>", b"")
    yield k
    k.stop()
    k.close()


@pytest.fixture
def page(console_browser, console, kz):
    ctx = console_browser.new_context(viewport={"width": 1280, "height": 760})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # A Content-Security-Policy violation means the page itself does something the policy forbids.
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.errors = errors
    yield pg
    ctx.close()
    assert not errors, errors


def open_node(page, console, path: str) -> None:
    page.goto(console.url + "#tree:" + quote(path, safe=""))
    page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)


def row(page, path: str):
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return page.locator(f'.trow[data-path="{escaped}"]')


def test_browse_tree_and_node_view(page, console, screenshot_dir: Path) -> None:
    from playwright.sync_api import expect

    open_node(page, console, "/demo/config")
    expect(page.locator("#node-path")).to_have_text("/demo/config")
    expect(row(page, "/demo/servers")).to_be_visible()
    row(page, "/demo/servers").locator(".toggle").click()
    expect(row(page, "/demo/servers/s2")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#node-data")).to_have_text('{"name": "demo", "replicas": 3, "tags": ["a", "b"]}')
    page.click("#formats button[data-format=json]")
    expect(page.locator("#node-data")).to_contain_text('"replicas": 3,\n  "tags": [\n    "a",')
    screenshot(page, screenshot_dir / "console-node.png")
    page.click("#formats button[data-format=hex]")
    expect(page.locator("#node-data")).to_contain_text("00000000  7b 22 6e 61 6d 65 22")
    expect(page.locator("#node-acl")).to_contain_text("world")
    expect(page.locator("#node-stat")).to_contain_text("dataLength")
    page.click("#formats button[data-format=text]")
    row(page, "/demo/servers/s2").click()
    expect(page.locator("#node-data")).to_have_text("10.0.0.2:9000")
    screenshot(page, screenshot_dir / "console-tree.png")


def test_hostile_znode_names_and_data_render_inert(page, console) -> None:
    from playwright.sync_api import expect

    open_node(page, console, "/demo/" + HOSTILE[0])
    for name in HOSTILE:
        expect(row(page, "/demo/" + name).locator(".name")).to_have_text(name)
    expect(page.locator("#node-path")).to_have_text("/demo/" + HOSTILE[0])
    expect(page.locator("#node-data")).to_contain_text("<script>window.__pwned=4</script>")
    row(page, "/demo/" + HOSTILE[2]).locator(".toggle").click()
    expect(row(page, "/demo/<script>window.__pwned=2</script>").locator(".name")).to_have_text("script>")
    row(page, "/demo/" + HOSTILE[1]).click()
    expect(page.locator("#node-path")).to_have_text("/demo/" + HOSTILE[1])
    assert page.evaluate("window.__pwned") is None
    # Nothing from ZooKeeper became an element: no img/svg/script in the tree or the node view.
    assert page.locator("#tree img, #tree svg, #tree script, #node-pane img, #node-pane svg").count() == 0
    assert page.evaluate("document.scripts.length") == 1


def test_node_changes_live_while_kazoo_writes(page, console, kz) -> None:
    from playwright.sync_api import expect

    kz.create("/demo/live", b"v0")
    open_node(page, console, "/demo/live")
    expect(page.locator("#node-data")).to_have_text("v0")
    expect(page.locator("#live")).to_have_class("live on", timeout=WAIT_MS)
    for i in range(1, 4):
        kz.set("/demo/live", f"v{i}".encode())
        expect(page.locator("#node-data")).to_have_text(f"v{i}", timeout=WAIT_MS)
    expect(page.locator("#node-stat")).to_contain_text("version3")
    kz.create("/demo/live/child", b"")  # under a collapsed node: its child count changes
    expect(row(page, "/demo/live").locator(".badges")).to_have_text("(1)", timeout=WAIT_MS)
    kz.create("/demo/appeared", b"")  # under an expanded node: a new row
    expect(row(page, "/demo/appeared")).to_be_visible(timeout=WAIT_MS)
    kz.delete("/demo/appeared")
    expect(row(page, "/demo/appeared")).to_have_count(0, timeout=WAIT_MS)
    kz.delete("/demo/live", recursive=True)
    expect(page.locator("#node-error")).to_contain_text("does not exist", timeout=WAIT_MS)


def login(page, user: str, password: str) -> None:
    from playwright.sync_api import expect

    page.fill("#login-fields input[name=user]", user)
    page.fill("#login-fields input[name=password]", password)
    page.click("#login-button")
    expect(page.locator("#whoami")).to_have_text(f"digest:{user}", timeout=WAIT_MS)


def logout(page) -> None:
    from playwright.sync_api import expect

    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible(timeout=WAIT_MS)


def test_edit_as_authenticated_user_and_refused_when_not(page, console, kz, console_server,
                                                         screenshot_dir: Path) -> None:
    from playwright.sync_api import expect

    acl = [make_digest_acl("alice", "alice-pw", all=True), make_acl("world", "anyone", read=True)]
    kz.create("/demo/guarded", b"original", acl=acl)
    kz.create("/demo/binary", b"\xff\x00\xfe", acl=acl)
    open_node(page, console, "/demo/guarded")
    expect(page.locator("#node-data")).to_have_text("original")
    expect(page.locator("#editor")).to_be_hidden()  # anonymous: browse only

    login(page, "mallory", "guess")
    expect(page.locator("#editor")).to_be_visible()
    page.fill("#edit-data", "defaced")
    page.click("#save")
    expect(page.locator("#write-msg")).to_contain_text("NoAuth", timeout=WAIT_MS)
    expect(page.locator("#node-data")).to_have_text("original")
    logout(page)

    login(page, "alice", "alice-pw")
    assert "alice-pw" not in page.content()
    page.goto(console.url + "#tree:" + quote("/demo/binary", safe=""))
    expect(page.locator("#edit-binary")).to_be_visible(timeout=WAIT_MS)  # binary data is not edited as text
    expect(page.locator("#save")).to_be_disabled()
    page.goto(console.url + "#tree:" + quote("/demo/guarded", safe=""))
    expect(page.locator("#node-path")).to_have_text("/demo/guarded", timeout=WAIT_MS)
    expect(page.locator("#save")).to_be_enabled()
    page.fill("#edit-data", "edited in the browser")
    page.click("#save")
    expect(page.locator("#write-msg")).to_contain_text("Saved", timeout=WAIT_MS)
    expect(page.locator("#node-data")).to_have_text("edited in the browser", timeout=WAIT_MS)
    screenshot(page, screenshot_dir / "console-edit.png")
    alice = KazooClient(hosts=console_server.hosts, auth_data=[("digest", "alice:alice-pw")])
    alice.start(timeout=15)
    try:
        assert alice.get("/demo/guarded")[0] == b"edited in the browser"
        page.fill("#child-name", "made-here")
        page.fill("#child-data", "child data")
        page.click("#create")
        expect(row(page, "/demo/guarded/made-here")).to_be_visible(timeout=WAIT_MS)
        assert alice.get("/demo/guarded/made-here")[0] == b"child data"
        row(page, "/demo/guarded/made-here").click()
        expect(page.locator("#node-path")).to_have_text("/demo/guarded/made-here")
        page.click("#delete")
        page.click("#delete")  # the second click confirms
        expect(row(page, "/demo/guarded/made-here")).to_have_count(0, timeout=WAIT_MS)
        assert alice.exists("/demo/guarded/made-here") is None
    finally:
        alice.stop()
        alice.close()
    assert "alice-pw" not in console.log()


def test_a_navigation_wins_over_a_refresh_that_rewrites_the_address(page, console, kz) -> None:
    """The route follows the hashchange's own URL: a refresh in flight (after a login, say) puts its node
    back into the address bar with history.replaceState, and if that lands between a navigation and its
    hashchange handler, reading location.hash there went back to the old node (seen in CI as a flaky
    test_edit_as_authenticated_user_and_refused_when_not). Reproduced here in one JS task."""
    from playwright.sync_api import expect

    kz.ensure_path("/demo/nav-a")
    kz.ensure_path("/demo/nav-b")
    open_node(page, console, "/demo/nav-a")
    expect(page.locator("#node-path")).to_have_text("/demo/nav-a")
    page.evaluate("""() => {
        location.hash = "#tree:" + encodeURIComponent("/demo/nav-b");
        history.replaceState(null, "", "#tree:" + encodeURIComponent("/demo/nav-a"));
    }""")
    expect(page.locator("#node-path")).to_have_text("/demo/nav-b", timeout=WAIT_MS)


def test_csrf_post_without_token_is_refused(page, console, kz) -> None:
    open_node(page, console, "/demo")
    login(page, "alice", "alice-pw")
    # Same origin, logged in, but without the token: refused before ZooKeeper sees it.
    status = page.evaluate("""async () => (await fetch('api/create', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({path: '/demo/csrf1'})})).status""")
    assert status == 403
    # A page of another site (served by Playwright, so without the console's CSP) posting to the console
    # in the logged-in victim's browser, as a form would and as a script would: no effect either.
    page.route("http://attacker.test/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>attacker</title><p>hello</p>"))
    page.goto("http://attacker.test/")
    page.evaluate("""async (url) => {
        const body = JSON.stringify({path: '/demo/csrf2'});
        try { await fetch(url + 'api/create', {method: 'POST', mode: 'no-cors', credentials: 'include',
                                               headers: {'Content-Type': 'text/plain'}, body}); } catch (e) {}
        try { await fetch(url + 'api/create', {method: 'POST', credentials: 'include',
                                               headers: {'Content-Type': 'application/json'}, body}); } catch (e) {}
    }""", console.url)
    assert kz.exists("/demo/csrf1") is None and kz.exists("/demo/csrf2") is None
    assert "event=console_write op=create path=/demo/csrf" not in console.log()


def test_sessions_and_watches_tabs(page, console, kz) -> None:
    from playwright.sync_api import expect

    kz.get("/demo/config", watch=lambda ev: None)
    sid = f"0x{kz.client_id[0]:x}"
    open_node(page, console, "/demo")
    page.click("#tabs a[data-tab=sessions]")
    expect(page.locator("#sessions")).to_contain_text(sid, timeout=WAIT_MS)
    expect(page.locator("#sessions td", has_text="yes")).not_to_have_count(0)  # the console's own session
    page.click("#tabs a[data-tab=watches]")
    expect(page.locator("#watches tr", has_text=sid)).to_contain_text("/demo/config", timeout=WAIT_MS)
    page.click("#tabs a[data-tab=tree]")
    expect(page.locator("#tab-tree")).to_be_visible()
