"""Reviewers judge the LLM check's automated resolutions in Debian's chromium, against a
real server: from the dashboard to the resolution review, into a transcript, a verdict
recorded with the form, and the agreement with the model moves (inbox/resolution_page.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from smartsupport import analytics_rollup
from smartsupport.domain import Workspace
from smartsupport.storage import open_store
from tests.analyticskit import Seed
from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("INBOX_SCREENSHOTS", "/tmp")
DAY = (datetime.now(UTC) - timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)
# Two automated resolutions the model has read: it says P was resolved and Q was not.
CONVERSATIONS = {
    "P": ("How long does shipping take?", "resolved", "gave the delivery time"),
    "Q": ("Can I return worn shoes?", "not_resolved", "the return rule was not given"),
}


async def seed(database: Path) -> dict[str, str]:
    store = open_store(f"sqlite:///{database}")
    await store.connect()
    try:
        await store.migrate()
        await store.upsert_workspace(Workspace("demo", "Demo"))
        s, ids = Seed(), {}
        for i, (name, (text, _, _)) in enumerate(CONVERSATIONS.items()):
            start = DAY + timedelta(minutes=i)
            c = ids[name] = s.conversation(start)
            q = s.ask(c, text, start + timedelta(seconds=5), intent="shipping", confidence=0.9)
            s.answer(c, q, start + timedelta(seconds=6), "extractive")
        await s.write(store)
        await analytics_rollup.catch_up(store)
        db: object = store
        for name, (_, verdict, reason) in CONVERSATIONS.items():
            # The verdict row as the check stores it (resolution_checks.py): for the rollup's
            # last message, the reason sealed.
            row = await db.fetchrow(  # type: ignore[attr-defined]
                "SELECT last_us FROM analytics_rollup WHERE conversation_id = ?", ids[name]
            )
            await db.execute(  # type: ignore[attr-defined]
                "INSERT INTO resolution_checks (conversation_id, workspace_id, last_us, verdict, "
                "reason, step, model, input_tokens, output_tokens, cost_nanos, sent_chars, "
                "checked_at) VALUES (?, 'demo', ?, ?, ?, 'llm:primary', 'gpt-test', 12, 5, 0, "
                "100, ?)",
                ids[name], row["last_us"], verdict,
                db.fields.seal("resolution_checks", "reason", ids[name], reason),  # type: ignore[attr-defined]
                DAY + timedelta(days=3, hours=12),
            )  # fmt: skip
        return ids
    finally:
        await store.close()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[LiveServer, dict[str, str]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="smartsupport-resolutions-"))
    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        ids = pool.submit(asyncio.run, seed(data_dir / "smartsupport.db")).result()
    with LiveServer({"SMARTSUPPORT_DATA_DIR": str(data_dir)}) as live:
        add_user(live, "sue@example.com", "supervisor", "Sue Supervisor")
        yield live, ids


def test_a_verdict_recorded_on_the_page_moves_the_agreement(
    browser: Browser, server: tuple[LiveServer, dict[str, str]]
) -> None:
    live, ids = server
    day = DAY.date().isoformat()
    page = new_page(browser, 1400, 900)
    sign_in(page, live, "sue@example.com", "/inbox/dashboard")
    page.goto(f"{live.url}/inbox/dashboard?workspace=demo&from={day}&to={day}")
    page.get_by_role("link", name="Review resolutions").click()
    expect(page.get_by_role("heading", name="Resolution review")).to_be_visible()
    expect(page).to_have_url(f"{live.url}/inbox/resolutions/demo?from={day}&to={day}")
    agreement = page.locator('[data-kpi="agreement_rate"]')
    expect(agreement.locator(".stat-value")).to_have_text("—")  # nobody has judged yet
    expect(page.locator("#resolutions-table tbody tr")).to_have_count(2)
    expect(page.locator(f"#c-{ids['Q']}")).to_contain_text("the return rule was not given")

    # P: read the transcript, agree with the model.
    page.locator(f"#c-{ids['P']}").get_by_role("link").click()
    expect(page.locator("#transcript")).to_contain_text("How long does shipping take?")
    expect(page.locator("#llm-verdict")).to_contain_text("gave the delivery time")
    page.get_by_label("Resolved", exact=True).check()
    page.get_by_label("Note (optional)").fill("the delivery time was right")
    page.screenshot(path=f"{SHOTS}/smartsupport-resolution-transcript.png", full_page=True)
    page.get_by_role("button", name="Record verdict").click()
    expect(page.locator("#resolutions-recorded")).to_have_text(
        "Your verdict is recorded: resolved."
    )
    expect(agreement.locator(".stat-value")).to_have_text("100.0%")
    expect(agreement).to_contain_text("1 of 1 judged by both")
    expect(page.locator(f"#c-{ids['P']}")).to_contain_text("the delivery time was right")

    # Q: the model said not resolved; the reviewer disagrees, and the agreement halves.
    page.locator(f"#c-{ids['Q']}").get_by_role("link").click()
    expect(page.locator("#transcript")).to_contain_text("Can I return worn shoes?")
    page.get_by_label("Resolved", exact=True).check()
    page.get_by_role("button", name="Record verdict").click()
    expect(agreement.locator(".stat-value")).to_have_text("50.0%")
    expect(agreement).to_contain_text("1 of 2 judged by both")
    expect(page).to_have_url(
        f"{live.url}/inbox/resolutions/demo?from={day}&to={day}&recorded={ids['Q']}#c-{ids['Q']}"
    )
    page.screenshot(path=f"{SHOTS}/smartsupport-resolutions.png", full_page=True)

    # The report behind the dashboard says the same.
    r = page.request.get(f"{live.url}/api/v1/analytics/workspaces/demo/report?from={day}&to={day}")
    check = json.loads(r.text())["resolution_check"]
    assert (check["agreement_rate"], check["both_judged"], check["agreements"]) == (0.5, 2, 1)
    close(page)
