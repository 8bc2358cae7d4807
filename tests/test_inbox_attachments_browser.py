"""Attachments in the agent inbox, in Debian's chromium against a real server: the queue and
the conversation show the channel; a photo the customer sends in the widget appears in the
agent's transcript live (and after a reload); the agent sends a PDF back and the customer
downloads it from the widget."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in
from tests.test_inbox_browser import customer_asks_for_a_person, live, widget

pytestmark = pytest.mark.browser

SERVER_ENV = {"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes([20, 120, 220] * 6) for _ in range(6))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 6, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(SERVER_ENV) as live_server:
        add_user(live_server, "cy@example.com", "agent", "Cy Agent")
        yield live_server


def natural_width(page: Page, selector: str) -> int:
    return int(page.eval_on_selector(selector, "img => img.naturalWidth"))


def test_files_go_both_ways_between_widget_and_inbox(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    agent = new_page(browser)
    customer = new_page(browser, 1100, 800)
    sign_in(agent, server, "cy@example.com")
    agent.locator("#agent-status").select_option("online")
    live(agent)

    conversation_id = customer_asks_for_a_person(customer, server)
    card = agent.locator(f"#queue li[data-id='{conversation_id}']")
    expect(card.locator(".channel")).to_have_text("web")
    card.get_by_role("button", name="Claim").click()
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{conversation_id}")
    live(agent)
    expect(agent.locator(".conv-head .badge.channel")).to_have_text("via web")

    # The customer sends a photo: it shows in the agent's transcript as it arrives.
    photo = tmp_path / "scratched lens.png"
    photo.write_bytes(png())
    with customer.expect_file_chooser() as chooser:
        widget(customer).get_by_role("button", name="Attach a photo or PDF").click()
    chooser.value.set_files(str(photo))
    shown = agent.locator("#transcript li.customer").last
    expect(shown.locator("a.file")).to_have_text("scratched lens.png")
    expect(shown.locator("img")).to_have_attribute("alt", "scratched lens.png")
    agent.wait_for_function(
        "() => document.querySelector('#transcript li.customer:last-child img')?.naturalWidth === 6"
    )
    # ... and after a reload, from the stored message.
    agent.reload()
    live(agent)
    assert natural_width(agent, "#transcript li.customer:last-child img") == 6

    # The agent sends a PDF back; the customer gets it in the widget and downloads it.
    pdf = tmp_path / "return label.pdf"
    pdf.write_bytes(PDF)
    agent.locator("#attach-file").set_input_files(str(pdf))
    expect(agent.locator("#transcript li.agent").last.locator("a.file")).to_have_text(
        "return label.pdf"
    )
    link = widget(customer).locator("li.agent").last.locator("a.file")
    expect(link).to_have_text("📄 return label.pdf")
    with customer.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == PDF
    close(agent, customer)
