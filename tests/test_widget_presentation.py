"""How the chat widget presents messages and itself, in real headless chromium (Debian's).

Bot and agent messages are read as a small Markdown subset built as elements around text
nodes (never HTML), one source per answer, carriers' tracking numbers linked, the agent's
name; the widget's own texts in the nine languages, and Arabic laid out right to left.

Most tests play the server's side of the protocol (docs/protocol.md) themselves, so they
choose exactly what arrives; the last ones talk to a real server's demo assistant.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

import smartsupport
from tests.servers import LiveServer
from tests.staffkit import close, new_page

pytestmark = pytest.mark.browser

STATIC = Path(smartsupport.__file__).parent / "static"
ORIGIN = "http://chat.test"  # served by the test's routes, never by the network
LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "zh", "ja", "ar"]


class FakeServer:
    """The server's side of the widget protocol: a conversation is started over REST, the
    socket answers the hello, and ``say`` pushes a stored message to the widget."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.socket: WebSocketRoute | None = None
        self.seq = itertools.count(1)
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        for path, name in (("/widget.js", "widget.js"), ("/widget/app.js", "widget-app.js")):
            page.route(ORIGIN + path, self._file(STATIC / name))
        page.route(ORIGIN + "/api/v1/conversations", self._start)
        page.route_web_socket(re.compile(r".*/api/v1/conversations/[^/]+/ws$"), self._socket)

    @staticmethod
    def _file(path: Path):
        return lambda route: route.fulfill(path=path, content_type="text/javascript; charset=utf-8")

    def message(self, author: str, text: str, **fields: Any) -> dict[str, Any]:
        seq = next(self.seq)
        return {
            "id": f"m{seq}",
            "conversation_id": "c1",
            "seq": seq,
            "author": author,
            "text": text,
            "client_id": None,
            "reply_to": None,
            "created_at": "2026-01-01T00:00:00+00:00",
            "quick_replies": [],
            "citations": [],
            **fields,
        }

    def _start(self, route) -> None:
        body = {
            "id": "c1",
            "token": "t1",
            "status": "bot",
            "messages": [self.message("bot", "Hi! How can I help?")],
        }
        route.fulfill(status=201, json=body)

    def _socket(self, ws: WebSocketRoute) -> None:
        self.socket = ws

        def hello(raw: str | bytes) -> None:
            if json.loads(raw).get("type") == "hello":
                ws.send(json.dumps({"type": "ready", "status": "bot", "last_seq": 1}))

        ws.on_message(hello)

    def say(self, author: str, text: str, **fields: Any) -> None:
        """Deliver a new message over the socket (the widget is connected)."""
        expect(self.page.locator("#smartsupport-widget .status")).not_to_have_text(
            re.compile("Connecting|Reconnecting")
        )
        assert self.socket is not None
        message = self.message(author, text, **fields)
        self.socket.send(json.dumps({"type": "message", "message": message}))
        expect(
            self.page.locator(f"#smartsupport-widget li[data-seq='{message['seq']}']")
        ).to_be_attached()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    yield page
    close(page)


def shop(page: Page, script_attrs: str = "", html_attrs: str = "lang=en") -> None:
    """A business's page (same origin as the fake server) that embeds the widget."""
    html = (
        f"<!doctype html><html {html_attrs}><meta name=viewport content=width=device-width>"
        "<title>Shop</title><h1>A shop</h1>"
        f'<script src="{ORIGIN}/widget.js" data-workspace=demo {script_attrs}></script>'
    )
    page.route(
        ORIGIN + "/shop.html",
        lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
    )
    page.goto(ORIGIN + "/shop.html")


def open_widget(page: Page, script_attrs: str = "", html_attrs: str = "lang=en") -> FakeServer:
    server = FakeServer(page)
    shop(page, script_attrs, html_attrs)
    page.locator("#smartsupport-widget button.launch").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("How can I help")
    # Connected: tests that send frames straight to ``server.socket`` need it open (on a
    # busy machine the greeting shows before the socket is; the status text is translated,
    # so wait for the socket itself, letting Playwright dispatch meanwhile).
    for _ in range(200):
        if server.socket is not None:
            break
        page.wait_for_timeout(25)
    assert server.socket is not None, "the widget never opened its WebSocket"
    return server


def last(page: Page, author: str):
    return page.locator(f"#smartsupport-widget li.{author}").last


# ---- Markdown ------------------------------------------------------------------------------

MARKDOWN = """Here is what we offer:

| Service | Price | Days |
|:--|--:|:-:|
| Standard | $5.95 | 3-5 |
| **Express** | $14.95 | 1-2 |

- Free over $50
- Returns:
  1. within 30 days
  2. unused, with the `receipt`

Write to [our team](mailto:help@example.com) or see https://example.com/help. It is _really_ *easy*.
Thanks, snake_case_name stays as written."""


def test_markdown_table_and_nested_lists_render_as_elements(page: Page) -> None:
    server = open_widget(page)
    server.say("bot", MARKDOWN)
    text = last(page, "bot").locator(".t")
    table = text.locator("table")
    expect(table.locator("thead th")).to_have_text(["Service", "Price", "Days"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(
        ["Express", "$14.95", "1-2"]
    )
    expect(table.locator("tbody td strong")).to_have_text("Express")
    aligns = (
        table.locator("tbody tr")
        .first.locator("td")
        .evaluate_all("tds => tds.map(td => getComputedStyle(td).textAlign)")
    )
    assert aligns == ["left", "right", "center"]
    items = text.locator(":scope > ul > li")
    expect(items).to_have_count(2)
    expect(items.first).to_have_text("Free over $50")
    expect(items.nth(1).locator("ol > li")).to_have_text(
        ["within 30 days", "unused, with the receipt"]
    )
    expect(items.nth(1).locator("code")).to_have_text("receipt")
    expect(text.locator("em")).to_have_text(["really", "easy"])
    links = text.get_by_role("link")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "mailto:help@example.com")
    expect(links.first).to_have_text("our team")
    expect(links.nth(1)).to_have_attribute("href", "https://example.com/help")  # not "help."
    for link in links.all():
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(link).to_have_attribute("target", "_blank")
    expect(text).to_contain_text("Thanks, snake_case_name stays as written.")
    expect(text).not_to_contain_text("|")
    expect(text).not_to_contain_text("**")
    page.screenshot(path="/tmp/smartsupport-widget-markdown.png")


def test_customer_and_system_messages_stay_plain_text(page: Page) -> None:
    server = open_widget(page)
    server.say("customer", "**not bold** and [a link](https://example.com) 1Z999AA10123456784 UPS")
    server.say("system", "*not em* https://example.com")
    for author in ("customer", "system"):
        assert last(page, author).locator(".t *").count() == 0  # one text node, no elements
    expect(last(page, "customer").locator(".t")).to_have_text(
        "**not bold** and [a link](https://example.com) 1Z999AA10123456784 UPS"
    )


HOSTILE = (
    "<script>alert('script')</script><img src=x onerror=\"alert('img')\">"
    "**<img src=y onerror=alert('strong')>** [click me](javascript:alert('link')) "
    "[shout](JAVASCRIPT:alert('upper')) [data](data:text/html,<script>alert(1)</script>) "
    "[relative](/account) <a href=\"javascript:alert('a')\">anchor</a>\n\n"
    "| a | b |\n|---|---|\n| <img src=z onerror=alert('cell')> | `<b>code</b>` |"
)


@pytest.mark.parametrize("author", ["bot", "agent"])
def test_html_and_javascript_links_in_markdown_never_run_or_link(page: Page, author: str) -> None:
    server = open_widget(page)
    server.say(author, HOSTILE)
    text = last(page, author).locator(".t")
    expect(text).to_contain_text("<script>alert('script')</script>")
    expect(text).to_contain_text("<img src=x onerror=\"alert('img')\">")
    expect(text.locator("strong")).to_have_text("<img src=y onerror=alert('strong')>")
    expect(text.locator("td").first).to_have_text("<img src=z onerror=alert('cell')>")
    expect(text.locator("code")).to_have_text("<b>code</b>")
    for label in ("click me", "shout", "data", "relative"):
        expect(text).to_contain_text(label)
    # Nothing became an element it should not, and nothing ran.
    widget = page.locator("#smartsupport-widget")
    assert widget.locator("img, script:not([src]), b, iframe, object").count() == 0
    assert text.get_by_role("link").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have run by now
    assert server.dialogs == []
    hrefs = widget.locator("a").evaluate_all("as => as.map(a => a.href)")
    assert all(re.match(r"^(https?|mailto):", h) for h in hrefs), hrefs


# ---- sources, tracking numbers, agents ----------------------------------------------------


def test_an_answer_shows_its_source_once_as_a_link_below_it(page: Page) -> None:
    server = open_widget(page)
    url = "https://help.example/shipping"
    server.say(
        "bot",
        f"Standard shipping takes 3-5 business days.\n\nMore in “Shipping options”: {url}",
        citations=[
            {"title": "Shipping options", "url": url},
            {"title": "Shipping options", "url": url},  # two passages of the same article
            {"title": "Returns", "url": "https://help.example/returns"},
            {"title": "Bad", "url": "javascript:alert(1)"},
        ],
    )
    answer = last(page, "bot")
    expect(answer.locator(".t")).to_have_text("Standard shipping takes 3-5 business days.")
    links = answer.get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", url)
    expect(links).to_have_text("Shipping options")
    expect(answer.locator(".cite")).to_have_text("Source: Shipping options")
    # Below the answer's bubble.
    bubble, cite = answer.locator(".b").bounding_box(), answer.locator(".cite").bounding_box()
    assert bubble and cite and cite["y"] >= bubble["y"] + bubble["height"]


TRACKED = {
    "UPS": ("1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
    "FedEx": ("794698123456", "https://www.fedex.com/fedextrack/?trknbr=794698123456"),
    "DHL": (
        "JD014600006281234567",
        "https://www.dhl.com/global-en/home/tracking.html?submit=1&tracking-id=JD014600006281234567",
    ),
    "USPS": (
        "9400111899223344556677",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223344556677",
    ),
}


@pytest.mark.parametrize("carrier", TRACKED)
def test_tracking_number_links_to_the_carrier(page: Page, carrier: str) -> None:
    number, url = TRACKED[carrier]
    server = open_widget(page)
    server.say(
        "bot",
        f"Order ORD-10234 has shipped with {carrier} (tracking number {number}) and should "
        "arrive by Friday. Questions? Call 6175550134.",
    )
    link = last(page, "bot").get_by_role("link")
    expect(link).to_have_count(1)  # not the order number, not the phone number
    expect(link).to_have_text(number)
    expect(link).to_have_attribute("href", url)
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")


def test_digits_alone_are_not_taken_for_a_tracking_number(page: Page) -> None:
    server = open_widget(page)
    server.say("bot", "Your reference is 794698123456; call 6175550134 or 4930555012345.")
    assert last(page, "bot").get_by_role("link").count() == 0


def test_agent_messages_show_the_agents_name(page: Page) -> None:
    server = open_widget(page)
    server.say("agent", "Hi, I'm looking into it.", author_name="Dana")
    agent = last(page, "agent")
    expect(agent.locator(".who")).to_have_text("Dana")
    expect(agent.locator(".sr")).to_have_text("Dana: ")
    server.say("agent", "Without a name.")
    expect(last(page, "agent").locator(".who")).to_have_text("Agent")


def test_streamed_markdown_is_rendered_as_it_arrives(page: Page) -> None:
    server = open_widget(page)
    assert server.socket is not None
    for part in ("You can:\n\n- ret", "urn it\n- **exch", "ange** it"):
        server.socket.send(json.dumps({"type": "delta", "reply_to": "m-x", "text": part}))
    draft = last(page, "bot")
    expect(draft.locator("li")).to_have_text(["return it", "exchange it"])
    expect(draft.locator("strong")).to_have_text("exchange")


# ---- languages and direction ---------------------------------------------------------------


def test_every_language_has_every_text(page: Page) -> None:
    open_widget(page)
    strings = page.evaluate("SmartSupport.app.strings")
    assert sorted(strings) == sorted(LANGUAGES)
    keys = set(strings["en"])
    for lang in LANGUAGES:
        assert set(strings[lang]) == keys, lang
        for key, text in strings[lang].items():
            assert isinstance(text, str) and text.strip(), (lang, key)
            # The same placeholders as the English text, so every value can be filled in.
            assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", strings["en"][key]))
        if lang != "en":
            same = [k for k in keys if strings[lang][k] == strings["en"][k]]
            assert len(same) <= 3, (lang, same)  # "Conversation", "Message", ... may coincide


@pytest.mark.parametrize(
    ("script_attrs", "html_attrs", "browser_locale", "lang"),
    [
        ("data-locale=es-MX", "lang=en", "en-US", "es"),
        ("data-locale=zh-CN", "lang=en", "en-US", "zh"),
        ("data-locale=pt_BR", "lang=en", "en-US", "pt"),
        ("", "lang=it-IT", "en-US", "it"),  # the page's language
        ("", "", "ja-JP", "ja"),  # no data-locale, no page language: the browser's
        ("", "lang=fr", "de-DE", "fr"),
        ("data-locale=DE", "lang=fr", "en-US", "de"),
        ("data-locale=ko", "lang=en", "en-US", "en"),  # a language without texts: English
        ("data-locale=ar-EG", "lang=en", "en-US", "ar"),
    ],
)
def test_language_comes_from_the_embed_the_page_or_the_browser(
    browser: Browser, script_attrs: str, html_attrs: str, browser_locale: str, lang: str
) -> None:
    context = browser.new_context(locale=browser_locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        server = FakeServer(page)
        shop(page, script_attrs, html_attrs)
        launcher = page.locator("#smartsupport-widget button.launch")
        label = launcher.get_attribute("aria-label")
        assert label and (label == "Open chat") == (lang == "en"), label
        launcher.click()
        expect(page.get_by_role("dialog")).to_be_visible()
        texts = page.evaluate(f"SmartSupport.app.strings[{lang!r}]")
        expect(page.locator("#smartsupport-widget textarea")).to_have_attribute(
            "placeholder", texts["placeholder"]
        )
        expect(page.locator("#smartsupport-widget .status")).to_have_text(texts["bot_status"])
        expect(launcher).to_have_accessible_name(texts["close"])
        assert server.socket is not None
        assert errors == []
    finally:
        context.close()


def box(locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return found


ARABIC_ANSWER = (
    "تم شحن طلبك مع UPS، رقم التتبع 1Z999AA10123456784.\n\n- الإرجاع خلال 30 يومًا\n- الشحن مجاني"
)


def test_arabic_is_laid_out_right_to_left(page: Page) -> None:
    server = open_widget(page, "data-locale=ar")
    server.say("customer", "أين طلبي؟")
    server.say("bot", ARABIC_ANSWER)
    server.say("customer", "Thanks, and in English?")
    widget = page.locator("#smartsupport-widget")
    panel = page.get_by_role("dialog")
    expect(widget).to_have_attribute("dir", "rtl")
    assert panel.evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Mirrored: the panel and launcher at the bottom left, the customer's bubbles on the left
    # and the assistant's on the right, the send button left of the text box, the close
    # button left of the title.
    assert box(panel)["x"] < 100
    assert box(widget.locator("button.launch"))["x"] < 100
    customer, bot = box(last(page, "customer").locator(".b")), box(last(page, "bot").locator(".b"))
    panel_box = box(panel)
    assert customer["x"] - panel_box["x"] < 40  # hugs the left edge
    assert panel_box["x"] + panel_box["width"] - (bot["x"] + bot["width"]) < 40  # the right
    assert box(widget.locator("button.send"))["x"] < box(widget.locator("textarea"))["x"]
    assert box(widget.locator("header button.x"))["x"] < box(widget.locator("h2"))["x"]
    # The list's markers sit on the right, and the English message keeps its own direction.
    marker = last(page, "bot").locator("ul").evaluate("el => getComputedStyle(el).paddingRight")
    assert marker == "22px"
    english = last(page, "customer").locator(".t")
    assert english.evaluate("el => getComputedStyle(el).direction") == "ltr"
    expect(widget.locator("h2")).to_have_text("تحدث معنا")
    expect(last(page, "bot").get_by_role("link")).to_have_text("1Z999AA10123456784")
    page.screenshot(path="/tmp/smartsupport-widget-rtl.png")
    # The composer: the widget's direction for the placeholder, then the text's own.
    composer = widget.locator("textarea")
    assert composer.evaluate("el => getComputedStyle(el).direction") == "rtl"
    composer.fill("Where is my order?")
    assert composer.evaluate("el => getComputedStyle(el).direction") == "ltr"


def test_arabic_on_a_phone_fills_the_screen(browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        server = open_widget(page, "data-locale=ar")
        server.say("bot", ARABIC_ANSWER)
        page.wait_for_timeout(400)  # the opening slide-in
        assert box(page.get_by_role("dialog")) == {"x": 0, "y": 0, "width": 390, "height": 740}
        page.screenshot(path="/tmp/smartsupport-widget-rtl-mobile.png")
    finally:
        context.close()


def test_other_languages_stay_left_to_right_on_a_right_to_left_page(page: Page) -> None:
    open_widget(page, "data-locale=en", "lang=he dir=rtl")
    assert page.get_by_role("dialog").evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert box(page.get_by_role("dialog"))["x"] > 800  # bottom right, as in English


# ---- the real demo assistant ----------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer({"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}) as server:
        yield server


def chat_with_demo(page: Page, live: LiveServer, *questions: str):
    """Ask the real demo assistant; returns its last answer."""
    page.goto(live.url + "/")
    page.locator("#smartsupport-widget button.launch").click()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")
    for n, question in enumerate(questions, 1):
        page.locator("#smartsupport-widget textarea").fill(question)
        page.locator("#smartsupport-widget textarea").press("Enter")
        expect(page.locator("#smartsupport-widget li.bot")).to_have_count(n + 1)
    return page.locator("#smartsupport-widget li.bot").last


def test_demo_answer_names_its_source_once(page: Page, live: LiveServer) -> None:
    answer = chat_with_demo(page, live, "What payment methods do you accept?")
    expect(answer).to_contain_text("Visa")
    expect(answer.locator(".cite")).to_have_count(1)
    links = answer.get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", re.compile(r"^https://help\.northwind-outfitters"))
    expect(answer.locator(".t")).not_to_contain_text("https://")
    page.screenshot(path="/tmp/smartsupport-widget-source.png")


def test_demo_order_status_links_the_tracking_number(page: Page, live: LiveServer) -> None:
    answer = chat_with_demo(page, live, "Where is my order ORD-10234?", "maria@example.com")
    link = answer.locator(".t").get_by_role("link")  # the text's; the order card has its own
    expect(link).to_have_text("1Z999AA10123456784")
    expect(link).to_have_attribute("href", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
    # The customer's own e-mail address stays text.
    assert page.locator("#smartsupport-widget li.customer a").count() == 0
