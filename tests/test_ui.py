"""The dashboard (`session-bridge ui`, issue 12) in a real browser: Playwright driving Debian's chromium against a
real ui process, with the CLI in other processes as the peers."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import orjson
import pytest

from support import CLI, require_tool
from ui_support import Dashboard, chromium_path, launch

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
TIMEOUT_MS = 20_000  # generous: the machine may be loaded


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        require_tool("chromium")
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def ui(bridge):
    dash = Dashboard(CLI, bridge.env("default"))
    yield dash
    dash.stop()


@pytest.fixture
def page(browser, ui):
    context = browser.new_context()
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(ui.url)
    expect(pg.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
    yield pg
    context.close()


def http(ui, path: str, data: bytes | None = None, **headers: str) -> tuple[int, str]:
    req = urllib.request.Request(ui.base + path, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def inbox(bridge, project: str) -> list[dict]:
    return orjson.loads(bridge.cli(project, "inbox", "--json", check=True).out)["messages"]


def test_the_page_lists_live_sessions_and_shows_a_cli_message_without_a_reload(bridge, ui, page):
    lib = bridge.start("lib", "library")
    bridge.start("app", "app")
    page.reload()
    expect(page.locator(f'.session[data-session="{lib}"]')).to_contain_text("active", timeout=TIMEOUT_MS)
    expect(page.locator(".session", has_text="human (you)")).to_be_visible()
    page.get_by_role("link", name="Feed").click()
    sent = bridge.cli("app", "send", "library", "query", "what changed in v2?", check=True).out.strip()
    item = page.locator(f'#feed li[data-id="{sent}"]')
    expect(item).to_contain_text("what changed in v2?", timeout=TIMEOUT_MS)
    expect(item).to_contain_text("app → library")
    # the thread view of that message
    item.get_by_role("link", name="Thread").click()
    expect(page.locator(f'#thread li[data-id="{sent}"]')).to_be_visible(timeout=TIMEOUT_MS)


def test_compose_delivers_to_a_listening_session(bridge, ui, page):
    bridge.start("lib", "library")
    listener = bridge.spawn("lib", "listen", "--timeout", "120", "--json")
    try:
        page.reload()
        expect(page.locator(".session", has_text="library")).to_be_visible(timeout=TIMEOUT_MS)
        page.locator("#compose-to").fill("library")
        page.locator("#compose-text").fill("Which version ships the fix?")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator("#compose-status")).to_contain_text("Sent msg-", timeout=TIMEOUT_MS)
        out, err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    got = orjson.loads(out)["message"]
    assert got["content"] == "Which version ships the fix?" and got["from_name"] == "human", err


def test_a_query_to_the_human_is_answered_from_the_page(bridge, ui, page):
    bridge.start("app", "app")
    asker = bridge.spawn("app", "ask", "human", "Is the migration safe to run?", "--timeout", "120", "--json")
    try:
        page.get_by_role("link", name="Inbox").click()
        item = page.locator("#inbox li", has_text="Is the migration safe to run?")
        expect(item).to_be_visible(timeout=TIMEOUT_MS)  # the feed event refreshes the open inbox
        item.get_by_role("button", name="Reply").click()
        expect(page.locator("#compose-text")).to_be_focused()
        page.locator("#compose-text").fill("Yes, after the backup.")
        page.get_by_role("button", name="Send", exact=True).click()
        out, err = asker.communicate(timeout=60)
    finally:
        if asker.poll() is None:
            asker.kill()
    assert orjson.loads(out)["answer"]["content"] == "Yes, after the backup.", err


def test_held_messages_for_the_human_are_released_from_the_page(bridge, ui, page):
    bridge.start("app", "app")
    me = page.locator("#me-id")
    expect(me).to_have_text(re.compile(r"\(\w+\)"), timeout=TIMEOUT_MS)
    human = me.inner_text().strip("()")
    bridge.cli("default", "inbound", "hold", check=True, BRIDGE_SESSION_ID=human)
    sent = bridge.cli("app", "send", "human", "note", "held for you", check=True).out.strip()
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator(f'#held li[data-id="{sent}"]')).to_be_visible(timeout=TIMEOUT_MS)
    page.locator(f'#held li[data-id="{sent}"]').get_by_role("button", name="Release").click()
    expect(page.locator(f'#inbox li[data-id="{sent}"]')).to_be_visible(timeout=TIMEOUT_MS)


def test_a_request_without_the_token_is_refused(bridge, ui):
    assert http(ui, "/")[0] == 403
    assert http(ui, "/api/sessions")[0] == 403
    assert http(ui, "/api/sessions?token=wrong")[0] == 403
    assert http(ui, "/api/events", **{"X-Bridge-Token": "wrong"})[0] == 403
    status, text = http(ui, "/api/sessions", **{"X-Bridge-Token": ui.token})
    assert status == 200 and orjson.loads(text)["version"] == 1
    # DNS rebinding: the right token under another host name
    assert http(ui, "/api/sessions", **{"X-Bridge-Token": ui.token, "Host": "evil.example"})[0] == 403


def test_a_cross_site_post_is_refused(bridge, ui, browser):
    bridge.start("lib", "library")
    body = orjson.dumps({"to": "library", "content": "from elsewhere"})
    json = {"Content-Type": "application/json"}
    assert http(ui, "/api/send", body, **json)[0] == 403  # no token header
    assert http(ui, "/api/send", body, **json, Cookie=f"bridge_ui_{ui.base.rsplit(':', 1)[1]}={ui.token}")[0] == 403
    assert http(ui, "/api/send", body, **json, **{"X-Bridge-Token": ui.token, "Origin": "http://evil.example"})[0] \
        == 403
    assert http(ui, "/api/send", body, **json, **{"X-Bridge-Token": ui.token, "Sec-Fetch-Site": "cross-site"})[0] \
        == 403
    # a real browser that holds the dashboard's cookie, on another site's page: a form post and a fetch
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(ui.url)
        pg.goto("about:blank")  # another origin (an opaque one), with the dashboard's cookie in the jar
        pg.set_content(f'<form method="post" action="{ui.base}/api/send" enctype="text/plain">'
                       '<input name=\'{"to":"library","content":"csrf","x":"\' value=\'"}\'>'
                       '<button>go</button></form>')
        with pg.expect_navigation():
            pg.click("button")
        assert "forbidden" in pg.content()
        pg.goto("about:blank")
        outcome = pg.evaluate("""async ([base, token]) => {
            try {
                const r = await fetch(base + "/api/send", {method: "POST", credentials: "include",
                    headers: {"X-Bridge-Token": token, "Content-Type": "application/json"},
                    body: JSON.stringify({to: "library", content: "csrf by fetch"})});
                return "status " + r.status;
            } catch (e) { return "blocked"; }
        }""", [ui.base, ui.token])
        assert outcome in ("blocked", "status 403")
    finally:
        context.close()
    assert inbox(bridge, "lib") == []


def test_a_peer_body_with_a_script_is_shown_as_text(bridge, ui, page):
    bridge.start("lib", "library")
    bridge.start("app", "app")
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)"><b>bold</b>'
    page.get_by_role("link", name="Feed").click()
    sent = bridge.cli("app", "send", "library", "query", hostile, check=True).out.strip()
    body = page.locator(f'#feed li[data-id="{sent}"] .body')
    expect(body).to_have_text(hostile, timeout=TIMEOUT_MS)
    assert page.locator("#feed script, #feed img, #feed b").count() == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1  # app.js alone
    assert page.dialogs == []


def test_auto_mode_is_switched_for_a_role_from_the_page(bridge, ui, page):
    bridge.cli("web", "start", "--room", "shop", "--role", "web", check=True)

    def wake() -> str:
        state = orjson.loads(bridge.cli("default", "auto", "status", "--json", check=True).out)
        return state["rooms"]["shop"]["roles"]["web"]["wake"]

    assert wake() == "manual"
    page.get_by_role("link", name="Auto-mode").click()
    row = page.locator('tr[data-role="web@shop"]')
    row.get_by_role("button", name="Turn auto on for web@shop").click()
    expect(row.get_by_role("button", name="Turn auto off for web@shop")).to_be_visible(timeout=TIMEOUT_MS)
    assert wake() == "auto"
    row.get_by_role("button", name="Turn auto off for web@shop").click()
    expect(row.get_by_role("button", name="Turn auto on for web@shop")).to_be_visible(timeout=TIMEOUT_MS)
    assert wake() == "manual"


def test_the_layout_fits_a_narrow_window_and_is_keyboard_navigable(bridge, ui, page):
    page.set_viewport_size({"width": 400, "height": 800})
    page.reload()
    expect(page.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    for _ in range(3):  # the skip link first, then the views: Sessions, Feed
        page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.startswith("Feed")
    page.keyboard.press("Enter")
    expect(page.locator("#view-feed")).to_be_visible()


def test_ui_refuses_a_remote_host_without_allow_remote(bridge):
    r = bridge.cli("default", "ui", "--host", "0.0.0.0", "--no-open")
    assert r.returncode == 2 and "--allow-remote" in r.err and r.out == ""


def test_a_session_on_another_machine_is_shown_with_its_machine_and_its_messages_as_external(bridge, ui, page):
    from bridge import layout, message, remote

    lib = bridge.start("lib", "library")
    remote.mirror(bridge.root, "laptop", {"sessionId": "rmt020", "label": "app", "liveness": "active"})
    bridge.cli("lib", "inbound", "trust", "@laptop", check=True)
    msg = message.build(sender={"sessionId": "rmt020", "label": "app"}, to=lib, type="query", content="from afar")
    assert remote.deliver(bridge.root, "laptop", layout.dumps(msg))[0] == "delivered"
    page.reload()
    card = page.locator('.session[data-session="rmt020"]')
    expect(card.locator("h3")).to_have_text("app@laptop", timeout=TIMEOUT_MS)
    expect(card).to_contain_text("machine")
    card.get_by_role("button", name="Message app").click()
    expect(page.locator("#compose-to")).to_have_value("app@laptop")  # the address the CLI would take
    page.get_by_role("link", name="Feed").click()
    item = page.locator(f'#feed li[data-id="{msg["id"]}"]')
    expect(item).to_contain_text("app@laptop → library", timeout=TIMEOUT_MS)
    expect(item.locator(".badge.external")).to_have_text("external: laptop")
