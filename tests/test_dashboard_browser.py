"""The analytics dashboard and the answer thumbs in Debian's chromium, against a real server.

The dashboard of the seeded data set (tests/analyticskit.py) draws its charts with data:
the SVG paths, bars and heatmap cells are counted and the screenshot of the charts is
checked not to be blank. A customer's thumbs up in the widget and an agent's flag in the
inbox reach the numbers.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from smartsupport.domain import Workspace
from smartsupport.storage import open_store
from tests.analyticskit import known_data_set
from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("INBOX_SCREENSHOTS", "/tmp")


async def seed(database: Path) -> None:
    store = open_store(f"sqlite:///{database}")
    await store.connect()
    try:
        await store.migrate()
        await store.upsert_workspace(Workspace("demo", "Demo"))
        data, _ = known_data_set()
        await data.write(store)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="smartsupport-dashboard-"))
    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed(data_dir / "smartsupport.db")).result()
    env = {
        "SMARTSUPPORT_DATA_DIR": str(data_dir),
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
    }
    with LiveServer(env) as live:
        add_user(live, "sue@example.com", "supervisor", "Sue Supervisor")
        yield live


def inked_share(png: bytes) -> float:
    """The share of decoded PNG bytes that are neither 0 nor 255: a blank (one-colour)
    screenshot has none, whatever the PNG filters did."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            data += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(data)
    return sum(1 for b in raw if b not in (0, 255)) / len(raw)


def test_the_dashboard_draws_its_charts_with_data(browser: Browser, server: LiveServer) -> None:
    page = new_page(browser, 1400, 900)
    sign_in(page, server, "sue@example.com", "/inbox/dashboard")
    page.goto(f"{server.url}/inbox/dashboard?workspace=demo&from=2026-11-10&to=2026-11-10")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator('[data-kpi="engaged"] .stat-value')).to_have_text("9")
    expect(page.locator('[data-kpi="automated_resolution_rate"] .stat-value')).to_have_text("33.3%")
    # One day in range: each series of the line charts is one point (a path and a dot).
    assert page.locator("svg.chart path.series").count() >= 7
    assert page.locator("svg.chart circle.point").count() >= 7
    assert page.locator("svg.chart rect.cell").count() == 25  # 5 intents x 5 confidence bins
    assert page.locator("svg.chart rect.bar").count() >= 2 + 5 + 1  # reasons, CSAT, articles
    inked = page.locator("svg.chart rect.cell[fill-opacity='0.00']").count()
    assert inked < 25, "the heatmap has cells with data"
    grid = page.locator(".dash-grid")
    shot = grid.screenshot(path=f"{SHOTS}/smartsupport-dashboard.png")
    assert inked_share(shot) > 0.01, "the charts screenshot is blank"
    # Several days: the trend lines join the days (the day before holds one conversation).
    page.goto(f"{server.url}/inbox/dashboard?workspace=demo&from=2026-11-08&to=2026-11-12")
    expect(page.locator('[data-kpi="engaged"] .stat-value')).to_have_text("10")
    assert page.locator("svg.chart circle.point").count() == 4 * 5 + 3 * 2  # no rate: a gap
    grid.screenshot(path=f"{SHOTS}/smartsupport-dashboard-days.png")
    page.goto(f"{server.url}/inbox/dashboard?workspace=demo&from=2026-11-10&to=2026-11-10")
    # The filters are a form: choosing a channel narrows the numbers.
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator('[data-kpi="engaged"] .stat-value')).to_have_text("1")
    expect(page.locator("#csv-export")).to_have_attribute(
        "href",
        "/api/v1/analytics/workspaces/demo/conversations.csv?from=2026-11-10&to=2026-11-10&channel=email",
    )
    close(page)


def test_thumbs_in_the_widget_and_an_agents_flag_reach_the_numbers(
    browser: Browser, server: LiveServer
) -> None:
    page = new_page(browser, 1400, 900)
    page.goto(server.url + "/")
    page.locator("#smartsupport-widget button.launch").click()
    expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("Northwind")
    page.locator("#smartsupport-widget textarea").fill("How much is shipping?")
    page.keyboard.press("Enter")
    answer = page.locator("#smartsupport-widget li.bot").nth(1)
    expect(answer).to_contain_text("shipping")
    expect(page.locator("#smartsupport-widget li.bot").first.locator(".thumbs")).to_have_count(0)
    up = answer.get_by_role("button", name="Helpful", exact=True)
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    # A thumbs up in a conversation no person took part in asks for the 1-5 rating.
    expect(page.locator("#smartsupport-widget .csat .star")).to_have_count(5)
    conversation = json.loads(page.evaluate("localStorage.getItem('smartsupport:demo')"))["id"]
    page.screenshot(path=f"{SHOTS}/smartsupport-widget-thumbs.png")
    close(page)

    staff = new_page(browser, 1400, 900)
    sign_in(staff, server, "sue@example.com", "/inbox/dashboard")
    staff.goto(f"{server.url}/inbox/conversations/{conversation}")
    flag = staff.get_by_role("button", name="Flag this answer as bad")
    expect(flag).to_have_count(1)  # the answer, not the greeting
    flag.click()
    expect(staff.locator(".toast")).to_contain_text("flagged")
    today = datetime.now(UTC).date().isoformat()
    r = staff.request.get(
        f"{server.url}/api/v1/analytics/workspaces/demo/report?from={today}&to={today}"
    )
    assert r.status == 200, r.text()
    totals = r.json()["totals"]
    assert (totals["thumbs_up"], totals["agent_flags"], totals["csat_ratings"]) == (1, 1, 0)
    close(staff)
