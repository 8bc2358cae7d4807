"""The chat widget in real headless chromium (Debian's), against a real server process.

What a customer does: open the demo page, open the chat, talk to the bot with the mouse or
the keyboard only, use quick replies, reload, lose the server for a while; and what must
hold meanwhile: message text is never HTML, nothing is lost or shown twice, the dialog is
announced and operable with a screen reader, and it fills a phone screen.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.servers import LiveServer
from tests.staffkit import close, new_page

pytestmark = pytest.mark.browser

# Every test starts conversations from 127.0.0.1; the per-address limit is not under test here.
SERVER_ENV = {"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}
STORAGE_KEY = "smartsupport:demo"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'

# The demo answers shipping questions from its help articles (with a link).
SHIPPING_ANSWER = re.compile("shipping", re.IGNORECASE)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(SERVER_ENV) as live:
        yield live


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    yield page
    close(page)


def launcher(page: Page):
    return page.locator("#smartsupport-widget button.launch")


def dialog(page: Page):
    return page.get_by_role("dialog")


def composer(page: Page):
    return page.locator("#smartsupport-widget textarea")


def open_chat(page: Page, url: str) -> None:
    page.goto(url + "/")
    launcher(page).click()
    expect(dialog(page)).to_be_visible()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")


def send(page: Page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def shown_seqs(page: Page) -> list[int]:
    return page.eval_on_selector_all(
        "#smartsupport-widget ol.log > li[data-seq]", "els => els.map(e => +e.dataset.seq)"
    )


def stored(page: Page) -> dict:
    return json.loads(page.evaluate(f"localStorage.getItem({STORAGE_KEY!r})"))


def server_messages(url: str, state: dict) -> list[dict]:
    response = httpx.get(
        f"{url}/api/v1/conversations/{state['id']}/messages",
        headers={"Authorization": f"Bearer {state['token']}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def test_customer_opens_chat_sends_a_message_and_gets_the_bot_reply(
    page: Page, server: LiveServer
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    expect(launcher(page)).to_be_visible()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    # Only the loader is on the page until the customer asks for the chat.
    assert not any(u.endswith("/widget/app.js") for u in requested)
    assert not any("/api/v1/" in u for u in requested)

    launcher(page).click()
    expect(dialog(page)).to_be_visible()
    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    assert any(u.endswith("/widget/app.js") for u in requested)
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")
    expect(page.locator("#smartsupport-widget .status")).to_have_text(
        "Our assistant replies instantly"
    )
    send(page, "How much does shipping cost?")
    customer = page.locator("#smartsupport-widget li.customer")
    expect(customer).to_have_count(1)
    expect(customer).to_contain_text("How much does shipping cost?")
    expect(customer).not_to_have_class("customer pending")
    reply = page.locator("#smartsupport-widget li.bot").nth(1)
    expect(reply).to_contain_text(SHIPPING_ANSWER)
    expect(composer(page)).to_have_value("")
    assert shown_seqs(page) == [1, 2, 3]
    page.screenshot(path="/tmp/smartsupport-widget-desktop.png")


def test_keyboard_only_customer_can_open_chat_talk_and_close_it(
    page: Page, server: LiveServer
) -> None:
    page.goto(server.url + "/")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.id") == "smartsupport-widget":
            break
    expect(launcher(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog(page)).to_be_visible()
    expect(composer(page)).to_be_focused()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")

    page.keyboard.type("How much is shipping?")
    page.keyboard.press("Enter")
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text("shipping")
    expect(composer(page)).to_be_focused()

    # Tab moves through the dialog and wraps inside it (aria-modal), never onto the page.
    for _ in range(12):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "() => { const a = document.activeElement; const f = a?.shadowRoot?.activeElement;"
            " return !!f && !!f.closest('[role=dialog]'); }"
        )
        assert inside, "focus left the open dialog"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")


def test_quick_reply_button_sends_its_text(page: Page, server: LiveServer) -> None:
    open_chat(page, server.url)
    suggestions = page.get_by_role("group", name="Suggested replies")
    expect(suggestions.get_by_role("button")).to_have_count(4)
    suggestions.get_by_role("button", name="Shipping costs").click()
    expect(page.locator("#smartsupport-widget li.customer")).to_have_text("You: Shipping costs")
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text("Standard shipping")
    expect(suggestions).to_be_hidden()


def test_html_and_script_in_messages_are_shown_as_text(page: Page, server: LiveServer) -> None:
    open_chat(page, server.url)
    send(page, XSS)
    bubble = page.locator("#smartsupport-widget li.customer .t")
    expect(bubble).to_have_text(XSS)
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_be_visible()
    # The same text arriving over the socket from another device of the customer.
    state = stored(page)
    response = httpx.post(
        f"{server.url}/api/v1/conversations/{state['id']}/messages",
        json={"text": "again " + XSS, "client_id": "other-device-1"},
        headers={"Authorization": f"Bearer {state['token']}"},
    )
    assert response.status_code == 201, response.text
    expect(page.locator("#smartsupport-widget li.customer .t").nth(1)).to_have_text("again " + XSS)
    widget = page.locator("#smartsupport-widget")
    assert widget.locator("img, script:not([src]), b").count() == 0
    assert page.evaluate("window.__xss") is None


def test_streamed_answer_typing_citations_and_agent_html_render_safely(
    page: Page, server: LiveServer
) -> None:
    """The demo policy does not stream or cite yet, so the socket is proxied and the test
    injects the frames protocol.md defines on top of the real server's."""
    routes: list[WebSocketRoute] = []

    def proxy(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket("**/ws", proxy)
    open_chat(page, server.url)
    expect(page.locator("#smartsupport-widget .status")).to_have_text(
        "Our assistant replies instantly"
    )
    to_page = routes[-1]
    typing = page.locator("#smartsupport-widget .typing")
    to_page.send(json.dumps({"type": "typing", "author": "agent", "on": True}))
    expect(typing).to_be_visible()
    expect(typing).to_have_text("Agent is typing…")
    to_page.send(json.dumps({"type": "delta", "reply_to": "m-x", "text": "Hello "}))
    to_page.send(json.dumps({"type": "delta", "reply_to": "m-x", "text": "<i>there</i>"}))
    draft = page.locator("#smartsupport-widget li.bot").last
    expect(draft.locator(".t")).to_have_text("Hello <i>there</i>")
    expect(typing).to_be_hidden()
    final = {
        "id": "m-final",
        "conversation_id": "c",
        "seq": 500,
        "author": "agent",
        "text": XSS,
        "client_id": None,
        "reply_to": "m-x",
        "created_at": "2026-01-01T00:00:00+00:00",
        "quick_replies": [],
        "citations": [
            {"title": "Returns policy", "url": "https://example.com/returns"},
            {"title": "Bad link", "url": "javascript:window.__xss=3"},
        ],
    }
    to_page.send(json.dumps({"type": "message", "message": final}))
    to_page.send(json.dumps({"type": "message", "message": final}))  # a replay: shown once
    agent = page.locator("#smartsupport-widget li.agent")
    expect(agent).to_have_count(1)
    expect(agent.locator(".t")).to_have_text(XSS)
    expect(page.locator("#smartsupport-widget li.bot")).to_have_count(1)  # draft replaced
    links = agent.get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/returns")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    to_page.send(json.dumps({"type": "status", "status": "with_agent"}))
    expect(page.locator("#smartsupport-widget .status")).to_have_text(
        "You are chatting with an agent"
    )
    assert page.locator("#smartsupport-widget img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_server_restart_mid_conversation_loses_and_duplicates_nothing(browser: Browser) -> None:
    page = new_page(browser, 1280, 800)
    with LiveServer(SERVER_ENV) as live:
        open_chat(page, live.url)
        send(page, "How much does shipping cost?")
        expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text(SHIPPING_ANSWER)

        live.stop()
        status = page.locator("#smartsupport-widget .status")
        expect(status).not_to_have_text("Our assistant replies instantly")
        send(page, "How much is shipping?")
        pending = page.locator("#smartsupport-widget li.pending")
        expect(pending).to_have_count(1)
        expect(pending).to_contain_text("Sending…")
        page.wait_for_timeout(1500)  # a few failed reconnects and a failed REST fallback

        live.start()
        # A message the widget can only learn about by resuming (posted by another device
        # while this one may still be waiting to reconnect).
        state = stored(page)
        other = httpx.post(
            f"{live.url}/api/v1/conversations/{state['id']}/messages",
            json={"text": "I want to return an item", "client_id": "other-device-2"},
            headers={"Authorization": f"Bearer {state['token']}"},
        )
        assert other.status_code == 201, other.text
        expect(pending).to_have_count(0, timeout=20_000)
        expect(status).to_have_text("Our assistant replies instantly", timeout=20_000)
        expected = server_messages(live.url, state)
        # Three customer turns, each answered (a flow may answer with more than one message).
        assert [m["author"] for m in expected].count("customer") == 3
        assert expected[-1]["author"] == "bot" and len(expected) >= 7
        log = page.locator("#smartsupport-widget ol.log > li")
        expect(log).to_have_count(len(expected))
        assert shown_seqs(page) == [m["seq"] for m in expected]
        # Each shown once, as received (bot replies are shown as rendered Markdown).
        texts = page.eval_on_selector_all(
            "#smartsupport-widget ol.log > li", "els => els.map(e => e._m.text)"
        )
        assert texts == [m["text"] for m in expected]
        assert texts.count("How much is shipping?") == 1
        shown = page.locator("#smartsupport-widget ol.log > li.customer .t").all_text_contents()
        assert shown == [m["text"] for m in expected if m["author"] == "customer"]
    close(page)


def test_reload_resumes_the_same_conversation_with_its_history(
    page: Page, server: LiveServer
) -> None:
    open_chat(page, server.url)
    send(page, "How much is shipping?")
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text("shipping")
    before = stored(page)
    texts_before = page.locator("#smartsupport-widget ol.log > li .t").all_text_contents()

    started: list[str] = []
    page.on(
        "request",
        lambda r: (
            started.append(r.url)
            if r.method == "POST" and r.url.endswith("/api/v1/conversations")
            else None
        ),
    )
    page.reload()
    launcher(page).click()
    expect(page.locator("#smartsupport-widget ol.log > li")).to_have_count(len(texts_before))
    assert page.locator("#smartsupport-widget ol.log > li .t").all_text_contents() == texts_before
    assert stored(page)["id"] == before["id"]
    assert started == []
    send(page, "I want to return an item")
    expect(page.locator("#smartsupport-widget li.bot").nth(2)).to_contain_text("return")
    assert shown_seqs(page) == [1, 2, 3, 4, 5]


def test_unread_badge_counts_replies_that_arrive_while_closed(
    page: Page, server: LiveServer
) -> None:
    open_chat(page, server.url)
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    state = stored(page)
    response = httpx.post(  # the customer writes from another tab; the bot answers
        f"{server.url}/api/v1/conversations/{state['id']}/messages",
        json={"text": "How much is shipping?", "client_id": "tab-2"},
        headers={"Authorization": f"Bearer {state['token']}"},
    )
    assert response.status_code == 201
    badge = page.locator("#smartsupport-widget .badge")
    expect(badge).to_have_text("1")
    expect(launcher(page)).to_have_attribute("aria-label", "Open chat (1)")

    # After a reload the loader sees the unread reply and brings the badge back unopened.
    page.reload()
    expect(badge).to_have_text("1")
    expect(page.locator("#smartsupport-widget [role=dialog]")).to_have_count(1)  # loaded
    expect(dialog(page)).to_be_hidden()
    launcher(page).click()
    expect(badge).to_be_hidden()
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text("shipping")


def test_small_screen_chat_fills_the_viewport(browser: Browser, server: LiveServer) -> None:
    page = new_page(browser, 390, 740, is_mobile=True)
    try:
        open_chat(page, server.url)
        # Let the opening slide-in finish, then the dialog must cover the whole viewport.
        page.wait_for_function(
            "el => el.getAnimations({subtree: true}).every(a => a.playState !== 'running')",
            arg=dialog(page).element_handle(),
        )
        page.wait_for_timeout(350)  # CSS transitions are not all listed as animations
        box = dialog(page).bounding_box()
        assert box is not None
        expected = {"x": 0, "y": 0, "width": 390, "height": 740}
        assert all(abs(box[k] - v) < 1 for k, v in expected.items()), box
        expect(launcher(page)).to_be_hidden()  # the dialog's own close button takes over
        send(page, "How much does shipping cost?")
        expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text(SHIPPING_ANSWER)
        page.screenshot(path="/tmp/smartsupport-widget-mobile.png")
        page.get_by_role("button", name="Close chat").click()
        expect(launcher(page)).to_be_visible()
        expect(launcher(page)).to_be_focused()
        assert page.script_errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_desktop_chat_is_a_panel_not_full_screen(page: Page, server: LiveServer) -> None:
    open_chat(page, server.url)
    box = dialog(page).bounding_box()
    assert box is not None and box["width"] == 380 and box["height"] < 800


CONTRAST = """els => els.map(el => {
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el, c;
  while (bg) { c = getComputedStyle(bg).backgroundColor;
    if (rgb(c)[3] !== 0 && c !== 'transparent') break;
    bg = bg.parentElement || bg.getRootNode().host; }
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(rgb(c));
  return Math.round((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) * 100) / 100;
})"""


def test_dialog_semantics_labels_live_region_contrast_and_motion(
    page: Page, server: LiveServer
) -> None:
    page.emulate_media(reduced_motion="reduce")
    page.goto(server.url + "/")
    expect(launcher(page)).to_have_attribute("aria-haspopup", "dialog")
    expect(launcher(page)).to_have_accessible_name("Open chat")
    open_chat(page, server.url)
    box = dialog(page)
    expect(box).to_have_attribute("aria-modal", "true")
    expect(box).to_have_accessible_name("Northwind Support")
    expect(box).to_have_accessible_description("Our assistant replies instantly")
    expect(composer(page)).to_have_accessible_name("Message")
    widget = page.locator("#smartsupport-widget")
    for button in widget.get_by_role("button").all():
        name = button.get_attribute("aria-label") or button.text_content() or ""
        assert name.strip(), "a button without an accessible name"
    expect(widget.get_by_role("region", name="Conversation")).to_have_attribute("tabindex", "0")
    # Decorative icons are hidden from assistive technology.
    assert widget.locator("svg:not([aria-hidden=true])").count() == 0
    # New bot messages are announced, the customer's own are not.
    send(page, "How much is shipping?")
    live = widget.locator("[aria-live=polite]")
    expect(live).to_contain_text("Assistant: Standard shipping")
    assert "How much is shipping?" not in live.text_content()
    # WCAG AA contrast for the text the customer reads.
    ratios = widget.locator(
        "h2, .status, li.bot .t, li.customer .t, textarea, .qr button"
    ).evaluate_all(CONTRAST)
    assert ratios and min(ratios) >= 4.5, ratios
    assert box.evaluate("el => getComputedStyle(el).animationName") == "none"
    # Focus is visible.
    composer(page).focus()
    page.keyboard.press("Shift+Tab")
    focused_outline = page.evaluate(
        "() => { const f = document.activeElement.shadowRoot.activeElement;"
        " const s = getComputedStyle(f); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert focused_outline[0] != "none" and focused_outline[1] >= 2


def host_page(page: Page, url: str, script_attrs: str) -> None:
    """Serve a customer's own page at ``url`` that embeds the widget with ``script_attrs``."""
    html = (
        "<!doctype html><html lang=en><title>Shop</title><h1>A customer's shop</h1>"
        f"<script src={script_attrs}></script>"
    )
    page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(url)


def test_embed_options_colour_side_title_and_locale(page: Page, server: LiveServer) -> None:
    host_page(
        page,
        server.url + "/shop.html",
        '"/widget.js" data-workspace=demo data-color="#ffd400" data-position=left '
        'data-title="Aide Northwind" data-locale=fr',
    )
    expect(launcher(page)).to_have_accessible_name("Ouvrir le chat")
    box = launcher(page).bounding_box()
    assert box is not None and box["x"] < 100  # bottom left
    launcher(page).click()
    expect(dialog(page)).to_have_accessible_name("Aide Northwind")
    expect(composer(page)).to_have_attribute("placeholder", "Écrivez votre message…")
    # A light brand colour gets dark text, so the header stays readable (WCAG AA).
    ratios = page.locator("#smartsupport-widget h2, #smartsupport-widget .status").evaluate_all(
        CONTRAST
    )
    assert min(ratios) >= 4.5, ratios


@pytest.fixture
def other_origin() -> Iterator[dict[str, bytes]]:
    """A plain web server for a customer's own site, on another port (so another origin)
    than the smartsupport server. Fill the returned dict with path -> HTML."""
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    pages["__url__"] = f"http://127.0.0.1:{httpd.server_address[1]}".encode()
    try:
        yield pages
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_widget_works_embedded_on_another_origin(
    page: Page, server: LiveServer, other_origin: dict[str, bytes]
) -> None:
    """A customer's site is another origin than the smartsupport server: the API must allow
    cross-origin calls (CORS) for the widget to work there."""
    other_origin["/shop.html"] = (
        "<!doctype html><html lang=en><title>Shop</title><h1>A customer's shop</h1>"
        f'<script src="{server.url}/widget.js" data-workspace=demo></script>'
    ).encode()
    page.goto(other_origin["__url__"].decode() + "/shop.html")
    launcher(page).click()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")
    send(page, "How much is shipping?")
    expect(page.locator("#smartsupport-widget li.bot").nth(1)).to_contain_text("shipping")
    expect(page.locator("#smartsupport-widget li.pending")).to_have_count(0)
