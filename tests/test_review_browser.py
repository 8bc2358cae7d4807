"""The review page in Debian's chromium against a real server on the small review shop: the
empty queue, customers' misunderstood questions appearing as a cluster with counts, a
decision that creates a new intent, a refused assignment to a deleted intent shown on the
page (never a 500), a malformed import refused in place, a good import's suggestions, and
retraining from the page, which deploys the model and says why; a flow experiment started from
the form (B tests a flow of the workspace, chosen from a list)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.reviewkit import FLOWS, GIFT_CARDS, SHOP
from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("INBOX_SCREENSHOTS", "/tmp")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    workspaces = tmp_path_factory.mktemp("workspaces")
    (workspaces / "shop").symlink_to(SHOP, target_is_directory=True)
    with _serve(workspaces) as live:
        yield live


@pytest.fixture(scope="module")
def flow_server(tmp_path_factory) -> Iterator[LiveServer]:
    """The review shop with two flows for "where is my order"."""
    workspaces = tmp_path_factory.mktemp("flow-workspaces")
    shutil.copytree(SHOP, workspaces / "shop")
    (workspaces / "shop" / "flows.yaml").write_text(FLOWS)
    with _serve(workspaces) as live:
        yield live


@contextmanager
def _serve(workspaces: Path) -> Iterator[LiveServer]:
    env = {
        "SMARTSUPPORT_DEMO": "false",
        "SMARTSUPPORT_WORKSPACES_DIR": str(workspaces),
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
    }
    with LiveServer(env) as live:
        add_user(live, "sue@example.com", "supervisor", "Sue Supervisor", workspace="shop")
        yield live


def customers_say(server: LiveServer, *texts: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for text in texts:
            started = http.post("/api/v1/conversations", json={"workspace": "shop"}).json()
            r = http.post(
                f"/api/v1/conversations/{started['id']}/messages",
                json={"text": text},
                headers={"Authorization": f"Bearer {started['token']}"},
            )
            assert r.status_code == 201, r.text


def test_review_page_from_empty_queue_to_retrained_model(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    page = new_page(browser, 1300, 900)
    sign_in(page, server, "sue@example.com", "/inbox/review")
    expect(page.get_by_role("heading", name="Review and improve")).to_be_visible()
    expect(page.locator("#review-empty")).to_contain_text("Nothing to review")
    expect(page.get_by_role("link", name="Review")).to_have_attribute("aria-current", "page")

    customers_say(server, *GIFT_CARDS, "where is my order")
    page.reload()
    cluster = page.locator("form.cluster", has_text="gift").first
    expect(cluster).to_be_visible()
    expect(cluster.locator(".badge").first).to_contain_text("out of scope")
    page.screenshot(path=f"{SHOTS}/review-queue.png", full_page=True)

    # A deleted intent: the page says so, with the status it deserves.
    cluster.get_by_label("Intent", exact=True).fill("warranty")
    with page.expect_response(lambda r: r.url.endswith("/decide")) as answered:
        cluster.get_by_role("button", name="Save decision").click()
    assert answered.value.status == 422
    expect(page.locator("#review-problem")).to_contain_text("'warranty' does not exist")

    cluster = page.locator("form.cluster", has_text="gift").first
    cluster.get_by_label("Decision").select_option("new_intent")
    cluster.get_by_label("New intent name").fill("gift_cards")
    cluster.get_by_role("button", name="Save decision").click()
    expect(page.locator("#review-notice")).to_contain_text("new intent gift_cards")
    expect(page.locator("form.cluster", has_text="gift")).to_have_count(0)

    # Imports: a malformed file is refused in place; a CSV of chats gives suggestions.
    broken = tmp_path / "tickets.json"
    broken.write_text('{"tickets": [1, 2', encoding="utf-8")
    page.locator("#review-import input[type=file]").set_input_files(str(broken))
    page.locator("#review-import").get_by_role("button", name="Import").click()
    expect(page.locator("#review-import-problem")).to_contain_text("line 1: not a JSON ticket")
    chats = tmp_path / "chats.csv"
    rows = ["conversation_id,author,text"]
    for n, question in enumerate(["can I pay with paypal", "do you accept paypal",
                                  "paypal payment possible?"]):  # fmt: skip
        rows += [f"c{n},customer,{question}", f"c{n},agent,Yes: PayPal works at checkout."]
    chats.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.locator("#review-import input[type=file]").set_input_files(str(chats))
    page.locator("#review-import").get_by_role("button", name="Import").click()
    expect(page.locator("#review-notice")).to_contain_text("Imported 3 questions from chats.csv")
    faq = page.locator("li.suggestion[data-kind=faq]")
    expect(faq).to_have_count(1)
    expect(faq.get_by_label("Answer")).to_have_value("Yes: PayPal works at checkout.")
    faq.get_by_role("button", name="Accept").click()
    expect(page.locator("#review-notice")).to_contain_text("Article created")

    page.get_by_role("button", name="Retrain and evaluate").click()
    expect(page.locator("#review-notice")).to_contain_text("Retrained: deployed", timeout=120_000)
    expect(page.locator("#review-models tr[data-status=deployed]")).to_have_count(1)
    page.screenshot(path=f"{SHOTS}/review-retrained.png", full_page=True)
    customers_say(server, "can I buy a gift card for my dad")  # the new model answers
    close(page)


def test_a_flow_experiment_from_the_form(browser: Browser, flow_server: LiveServer) -> None:
    page = new_page(browser, 1300, 900)
    sign_in(page, flow_server, "sue@example.com", "/inbox/review")
    form = page.locator("#experiment-new")
    flow_field = form.get_by_label("Variant B flow (A starts the intent's configured flow)")
    text_field = form.get_by_label("Variant B response (A is the configured response)")
    expect(text_field).to_be_visible()
    expect(flow_field).to_be_hidden()
    form.get_by_label("Variant B tests").select_option("flow")
    expect(flow_field).to_be_visible()
    expect(text_field).to_be_hidden()

    # An intent that starts no flow: refused on the page, with the reason.
    form.get_by_label("Name", exact=True).fill("Quick tracking")
    form.get_by_label("Intent", exact=True).fill("opening_hours")
    flow_field.select_option("track_order_quick")
    form.get_by_role("button", name="Start experiment").click()
    expect(page.locator("#review-problem")).to_contain_text("'opening_hours' starts no flow")

    form = page.locator("#experiment-new")
    form.get_by_label("Name", exact=True).fill("Quick tracking")
    form.get_by_label("Intent", exact=True).fill("order_status")
    form.get_by_label("Variant B tests").select_option("flow")
    form.get_by_label("Variant B flow (A starts the intent's configured flow)").select_option(
        "track_order_quick"
    )
    form.get_by_label("Share of conversations for B (%)").fill("30")
    form.get_by_role("button", name="Start experiment").click()
    expect(page.locator("#review-notice")).to_contain_text("Experiment started: Quick tracking")
    experiment = page.locator(".experiment", has_text="Quick tracking")
    expect(experiment).to_contain_text("B (flow track_order_quick)")
    expect(experiment.locator("tbody tr")).to_have_count(2)
    page.screenshot(path=f"{SHOTS}/review-flow-experiment.png", full_page=True)
    close(page)
