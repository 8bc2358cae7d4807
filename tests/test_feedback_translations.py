"""The thumbs' labels and the rating asked for after a bot-only resolution, in the customer's
language: shipped in the nine languages of the message catalog, overridable by a workspace,
sent to the widget with the conversation, and the prompt posted in the language of the
answer the customer liked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from smartsupport import messages
from smartsupport.channels.web_api import FEEDBACK_LABELS, feedback_texts
from smartsupport.domain import Conversation
from smartsupport.inbox.csat import request_rating
from smartsupport.workspaces import WorkspaceConfig
from tests.inboxkit import Harness, Visitor, inbox_app

KEYS = [f"feedback.{k}" for k in FEEDBACK_LABELS] + ["feedback.csat_after_bot"]
WIDGET = Path(messages.__file__).parent / "static" / "widget-app.js"


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_every_language_ships_the_labels_and_the_prompt(language: str) -> None:
    shipped = messages.catalog(language)
    for key in KEYS:
        assert shipped.get(key, "").strip(), f"{language}: {key} is missing"
        if language != "en":
            assert shipped[key] != messages.catalog("en")[key], f"{language}: {key} untranslated"


def test_the_widget_takes_its_labels_from_the_conversation() -> None:
    # The labels are read from T (widget-app.js), which start() fills from the answer's texts.
    source = WIDGET.read_text(encoding="utf-8")
    assert "Object.assign(T, c.texts)" in source and "texts: c.texts" in source
    assert "Object.assign(T, st.texts)" in source  # a reload resumes with the same labels
    assert all(f"T.{key}" in source for key in FEEDBACK_LABELS)


async def start(h: Harness, locale: str) -> tuple[Visitor, dict[str, Any]]:
    client = h.client()
    r = await client.post("/api/v1/conversations", json={"workspace": "demo", "locale": locale})
    assert r.status_code == 201, r.text
    body = r.json()
    return Visitor(body["id"], body["token"], client), body


@pytest.mark.parametrize("locale", ["es-MX", "ja", "ar", "de"])
async def test_the_conversation_brings_the_labels_in_the_visitors_language(
    sqlite_url: str, locale: str
) -> None:
    async with inbox_app(sqlite_url) as h:
        _, body = await start(h, locale)
        language = messages.normalise(locale)
        assert body["texts"] == {
            key: messages.catalog(language)[f"feedback.{key}"] for key in FEEDBACK_LABELS
        }


async def test_a_workspace_text_replaces_the_shipped_label(sqlite_url: str) -> None:
    async with inbox_app(sqlite_url) as h:
        h.services.workspace("demo").texts["feedback.helpful"] = {"es": "Me sirvió"}
        _, body = await start(h, "es")
        assert body["texts"]["helpful"] == "Me sirvió"
        assert body["texts"]["unhelpful"] == messages.catalog("es")["feedback.unhelpful"]


async def rate_up_and_read_prompt(h: Harness, locale: str, question: str) -> str:
    visitor, _ = await start(h, locale)
    turn = await visitor.say(question)
    answer = [m for m in turn["replies"] if m["author"] == "bot"][-1]
    r = await visitor.client.post(
        f"/api/v1/conversations/{visitor.id}/messages/{answer['id']}/feedback",
        json={"rating": 1},
        headers=visitor.auth,
    )
    assert r.status_code == 201 and r.json()["csat_due"] is True, r.text
    asked = [m for m in await visitor.messages() if m["author"] == "system"]
    return str(asked[-1]["text"])


async def test_a_spanish_customer_is_asked_for_a_rating_in_spanish_on_sqlite(
    sqlite_url: str,
) -> None:
    async with inbox_app(sqlite_url) as h:
        # The widget's locale is English; the customer writes Spanish: the answer is in
        # Spanish, and so is the question about it.
        said = await rate_up_and_read_prompt(h, "en", "¿Cuánto tarda el envío?")
        assert said == messages.catalog("es")["feedback.csat_after_bot"]


async def test_a_german_customer_is_asked_for_a_rating_in_german_on_postgresql(
    postgres_url: str, redis_url: str
) -> None:
    async with inbox_app(postgres_url, redis_url) as h:
        said = await rate_up_and_read_prompt(h, "de", "Wie lange dauert der Versand?")
        assert said == messages.catalog("de")["feedback.csat_after_bot"]


async def test_the_rating_request_after_an_agents_resolve_is_in_the_conversations_language(
    sqlite_url: str,
) -> None:
    async with inbox_app(sqlite_url) as h:
        visitor, _ = await start(h, "pt-BR")
        conversation = await h.services.store.get_conversation(visitor.id)
        assert conversation is not None
        await request_rating(h.services, conversation)
        asked = [m for m in await visitor.messages() if m["author"] == "system"]
        assert asked[-1]["text"] == messages.catalog("pt")["inbox.csat_prompt"]


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["es", "ar"])
def test_the_widget_shows_the_labels_it_was_given_in_the_customers_language(
    browser: Any, locale: str
) -> None:
    """In chromium: the widget sends its locale when it starts a conversation and labels the
    thumbs with the texts the server answers (the server's side played by test_widget_
    presentation's FakeServer, its answer built by the real ``feedback_texts``)."""
    from tests.staffkit import close, new_page
    from tests.test_widget_presentation import ORIGIN, FakeServer, shop

    page = new_page(browser, 1280, 800)
    sent: list[dict[str, Any]] = []
    try:
        server = FakeServer(page)

        def start_in_language(route: Any) -> None:
            sent.append(route.request.post_data_json)
            workspace = WorkspaceConfig(id="demo", name="Demo")
            locale_sent = {"locale": sent[-1]["locale"]}
            conversation = Conversation("c1", "demo", "u1", metadata=locale_sent)
            body = {"id": "c1", "token": "t1", "status": "bot",
                    "messages": [server.message("bot", "Hi! How can I help?")],
                    "texts": feedback_texts(workspace, conversation)}  # fmt: skip
            route.fulfill(status=201, json=body)

        page.route(ORIGIN + "/api/v1/conversations", start_in_language)  # before the fake's
        shop(page, f"data-locale={locale}")
        page.locator("#smartsupport-widget button.launch").click()
        expect(page.locator("#smartsupport-widget li.bot").first).to_contain_text("How can I")
        for _ in range(200):  # connected (open_widget's wait)
            if server.socket is not None:
                break
            page.wait_for_timeout(25)
        assert sent[0]["locale"] == locale
        server.say("bot", "Standard shipping takes 3-5 days.", reply_to="m0")
        shown = messages.catalog(locale)
        thumbs = page.locator("#smartsupport-widget li.bot").last.locator(".thumbs")
        expect(thumbs).to_have_attribute("aria-label", shown["feedback.rate_answer"])
        expect(thumbs.locator("button").first).to_have_attribute(
            "aria-label", shown["feedback.helpful"]
        )
        expect(thumbs.locator("button").last).to_have_attribute(
            "aria-label", shown["feedback.unhelpful"]
        )
    finally:
        close(page)
