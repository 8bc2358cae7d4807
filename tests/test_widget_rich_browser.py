"""Rich messages, uploads and voice notes in the widget, in real headless chromium (Debian's)
against a real server process.

The demo's order flow answers with an order card whose button opens the carrier's tracking
page; a carousel's postback buttons send their payload; a photo the customer attaches shows
in the transcript (fetched with the visitor token, shown from a blob: URL) and a PDF as a
download link; a voice note recorded from chromium's fake microphone reaches the server and,
with no speech-to-text configured, the assistant says it cannot listen and offers a person.
Card text is never HTML.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.servers import LiveServer
from tests.staffkit import close, new_page

pytestmark = pytest.mark.browser

SERVER_ENV = {"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}
W = "#smartsupport-widget"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes([200, 30, 30] * 8) for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with a fake microphone (a generated tone) and no permission prompt."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        expect.set_options(timeout=15_000)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(SERVER_ENV) as live:
        yield live


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    page.context.grant_permissions(["microphone"], origin=server.url)
    yield page
    close(page)


def open_chat(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.locator(f"{W} button.launch").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator(f"{W} li.bot").first).to_contain_text("Northwind")


def send(page: Page, text: str) -> None:
    box = page.locator(f"{W} textarea")
    box.fill(text)
    box.press("Enter")


def test_the_order_flow_shows_an_order_card_with_a_tracking_button(
    page: Page, server: LiveServer
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    open_chat(page, server.url)
    assert not any(u.endswith("/widget-rich.js") for u in requested), "loaded only when needed"
    send(page, "Where is my order ORD-10234?")
    expect(page.locator(f"{W} li.bot").last).to_contain_text("email")
    send(page, "maria@example.com")
    card = page.locator(f"{W} .card").last
    expect(card).to_contain_text("ORD-10234")
    expect(card).to_contain_text("UPS")
    track = card.get_by_role("link", name="Track the parcel")
    expect(track).to_have_attribute("href", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
    expect(track).to_have_attribute("target", "_blank")
    assert any(u.endswith("/static/widget-rich.js") for u in requested)


def test_a_carousels_postback_button_sends_its_payload_and_card_text_is_never_html(
    page: Page, server: LiveServer
) -> None:
    routes: list[WebSocketRoute] = []

    def proxy(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket("**/ws", proxy)
    open_chat(page, server.url)
    expect(page.locator(f"{W} .status")).to_have_text("Our assistant replies instantly")
    evil = '<img src=x onerror="window.__xss=1">Merino'
    card = {"type": "card", "title": evil, "subtitle": "$64.00", "image_url": None, "url": None}
    frame = {
        "type": "message",
        "message": {
            "id": "m-rich",
            "conversation_id": "c",
            "seq": 900,
            "author": "bot",
            "text": "Two jackets you may like:",
            "client_id": None,
            "reply_to": None,
            "created_at": "2026-12-03T10:00:00+00:00",
            "quick_replies": [],
            "citations": [],
            "rich": [
                {
                    "type": "carousel",
                    "cards": [
                        {
                            **card,
                            "buttons": [
                                {
                                    "type": "postback",
                                    "title": "Pick this",
                                    "payload": "stock of merino sweater in M",
                                }
                            ],
                        },
                        {
                            **card,
                            "title": "Rain shell jacket",
                            "buttons": [
                                {
                                    "type": "link",
                                    "title": "javascript",
                                    "url": "javascript:alert(1)",
                                }
                            ],
                        },
                    ],
                }
            ],
            "attachments": [],
        },
    }
    routes[-1].send(json.dumps(frame))
    carousel = page.locator(f"{W} .carousel")
    expect(carousel.locator(".card")).to_have_count(2)
    expect(carousel.locator(".card").first).to_contain_text(evil)  # shown as text
    assert page.evaluate("window.__xss") is None
    expect(carousel.get_by_role("link", name="javascript")).to_have_count(0)
    carousel.get_by_role("button", name="Pick this").click()
    expect(page.locator(f"{W} li.customer").last).to_contain_text("stock of merino sweater in M")


def test_a_photo_and_a_pdf_the_customer_attaches_show_in_the_transcript(
    page: Page, server: LiveServer, tmp_path: Path
) -> None:
    open_chat(page, server.url)
    photo = tmp_path / "broken box.png"
    photo.write_bytes(png())
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach a photo or PDF").click()
    chooser.value.set_files(str(photo))
    mine = page.locator(f"{W} li.customer").last
    expect(mine).to_contain_text("broken box.png")
    image = mine.locator(".att img")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function(
        "() => document.querySelector('#smartsupport-widget').shadowRoot"
        ".querySelector('li.customer:last-child .att img')?.naturalWidth === 8"
    )
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach a photo or PDF").click()
    chooser.value.set_files(str(pdf))
    link = page.locator(f"{W} li.customer").last.locator("a.file")
    expect(link).to_have_text("📄 receipt.pdf")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == b"%PDF-1.4\n%%EOF\n"


def test_a_refused_file_is_marked_not_sent(page: Page, server: LiveServer, tmp_path: Path) -> None:
    open_chat(page, server.url)
    fake = tmp_path / "invoice.pdf"
    fake.write_text("<html><script>alert(1)</script></html>")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach a photo or PDF").click()
    chooser.value.set_files(str(fake))
    failed = page.locator(f"{W} li.failed").last
    expect(failed).to_contain_text("Not sent.")
    expect(failed).to_contain_text("only images")


def test_a_voice_note_without_speech_to_text_gets_the_cannot_listen_answer(
    page: Page, server: LiveServer
) -> None:
    open_chat(page, server.url)
    expect(page.get_by_role("button", name="Record a voice message")).to_be_visible()
    mic = page.locator(f"{W} button.tool[aria-pressed]")
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(mic).to_have_attribute("aria-label", "Send")  # pressed again: stop and send
    page.wait_for_timeout(1200)  # about a second of the fake microphone's tone
    mic.click()
    mine = page.locator(f"{W} li.customer").last
    expect(mine).to_contain_text("voice-note")
    expect(mine.locator("audio")).to_have_attribute("src", re.compile(r"^blob:"))
    reply = page.locator(f"{W} li.bot").last
    expect(reply).to_contain_text("can't listen to voice messages")
    expect(page.locator(f"{W} .qr button")).to_have_text(["Talk to a person"])
