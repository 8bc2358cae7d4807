"""Handoff in the customer's language: the rules' handoff message, offer and contact form,
the keyword bot's texts, the overflow form and the ticket confirmation all come from the
message catalog (or the workspace's own texts) in the language the customer speaks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from smartsupport import messages
from smartsupport.context import ConversationContext
from smartsupport.conversation import start_conversation
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Reply,
    Understanding,
    utcnow,
)
from smartsupport.handoff import apply, evaluate
from smartsupport.handoff.overflow import sweep_overflow
from smartsupport.helpdesk.contact import submit_contact
from smartsupport.keywords import HUMAN_WORDS, KeywordBot, normalize
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig
from tests.helpdesk_fakes import FakeApis, open_test_services, zendesk_config

HUMAN = {"name": "person", "type": "human_request", "action": "transfer"}
OFFER = {"name": "unsure", "type": "low_confidence", "below": 0.5, "times": 1,
         "action": "offer_human"}  # fmt: skip


def workspace(rules, **fields) -> WorkspaceConfig:
    escalation = {"rules": rules, **fields.pop("escalation", {})}
    return WorkspaceConfig.model_validate(
        {"id": "acme", "name": "Acme", "escalation": escalation, **fields}
    )


def turn(
    ws: WorkspaceConfig,
    text: str,
    language: str,
    context: ConversationContext | None = None,
    **understanding,
) -> Turn:
    message = Message(id="m", conversation_id="c1", seq=1, author=Author.CUSTOMER, text=text)
    conversation = Conversation(id="c1", workspace_id="acme", customer_id="u1")

    async def stream(_: str) -> None:
        return None

    found = Understanding(language=language, **{"confidence": 0.9, **understanding})
    context = context or ConversationContext("c1")
    return Turn(ws, conversation, message, context, found, stream)


def test_a_transfer_says_the_handoff_message_in_the_customers_language():
    ws = workspace([HUMAN])
    outcome = evaluate(turn(ws, "Quiero hablar con una persona", "es"), None)
    assert outcome is not None and outcome.language == "es"
    decision = apply(outcome, Decision(), {})
    assert [r.text for r in decision.replies] == [messages.catalog("es")["handoff.message"]]
    assert decision.status is ConversationStatus.WAITING
    assert decision.metadata["language"] == "es"


def test_an_offer_and_its_button_are_in_the_customers_language():
    ws = workspace([OFFER])
    outcome = evaluate(turn(ws, "なにかよくわからない", "ja", confidence=0.1), None)
    assert outcome is not None
    decision = apply(outcome, Decision(), {})
    [offer] = decision.replies
    assert offer.text == messages.catalog("ja")["handoff.offer"]
    assert offer.quick_replies == [messages.catalog("ja")["handoff.offer_button"]]
    answered = apply(outcome, Decision([Reply("回答です。")]), {})
    assert answered.replies[-1].quick_replies == ["オペレーターと話す"]


def test_offline_the_contact_form_is_in_the_customers_language():
    closed = {"timezone": "UTC", "weekly": {"mon": ["09:00-10:00"]}}
    ws = workspace([HUMAN], escalation={"business_hours": closed})
    outcome = evaluate(turn(ws, "أريد التحدث مع موظف", "ar"), None)
    assert outcome is not None and outcome.offline
    [form] = apply(outcome, Decision(), {}).replies
    assert form.text == messages.catalog("ar")["handoff.offline"]
    assert form.meta["form"] == "contact"


def test_the_workspaces_own_handoff_texts_win_in_each_language():
    ws = workspace(
        [HUMAN],
        handoff_message={"en": "Hang on, a stylist is coming.", "es": "Un estilista viene."},
    )
    spanish = apply(evaluate(turn(ws, "hablar con una persona", "es"), None), Decision(), {})
    assert spanish.replies[0].text == "Un estilista viene."
    # No French of its own: its English text, not our French text that says something else.
    french = apply(evaluate(turn(ws, "parler à un conseiller", "fr"), None), Decision(), {})
    assert french.replies[0].text == "Hang on, a stylist is coming."


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_pressing_the_offer_button_asks_for_a_person_in_every_language(language):
    ws = workspace([HUMAN])
    button = messages.text(ws, "handoff.offer_button", language)
    outcome = evaluate(turn(ws, button, language, intent=None, confidence=0.0), None)
    assert outcome is not None and outcome.reason == "customer asked for a person"


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_the_word_the_fallback_tells_customers_to_type_reaches_a_person(language):
    """The fallback says "type 'agent'" in each language; that word must work."""
    for text in (messages.catalog(language)["fallback"],
                 messages.catalog(language)["inbox.handed_back"]):  # fmt: skip
        quoted = [q for pair in _quoted(text) for q in pair if q]
        assert quoted, f"{language}: the text names no word to type"
        assert HUMAN_WORDS.search(normalize(quoted[0])), f"{language}: {quoted[0]!r}"


def _quoted(text: str) -> list[tuple[str, ...]]:
    return re.findall(r"'(\w+)'|«\s*([^»]+?)\s*»|„([^“]+)“|“([^”]+)”|「([^」]+)」", text)


async def test_the_keyword_bot_speaks_the_customers_language():
    bot = KeywordBot({})
    ws = WorkspaceConfig(id="acme", name="Acme")
    fallback = await bot.decide(turn(ws, "qué es esto", "es", intent=None))
    assert fallback.replies[0].text == messages.catalog("es")["fallback"]
    again = await bot.decide(turn(ws, "no entiendo nada", "es", intent=None))
    assert again.replies[0].text == messages.catalog("es")["fallback"]
    handoff = await bot.decide(turn(ws, "agente", "es", intent="human_agent"))
    assert handoff.replies[0].text == messages.catalog("es")["handoff.message"]
    greeting = await bot.decide(turn(ws, "こんにちは", "ja", intent="greeting"))
    assert greeting.replies[0].text == messages.catalog("ja")["greeting"]
    understood = await bot.understand(ws, "转人工客服", ConversationContext("c1"))
    assert understood.intent == "human_agent"


async def test_a_number_alone_keeps_the_language_the_customer_wrote_in():
    """ "ORD-10234" shows no language (the NLU reports the default): the reply stays in the
    language of the customer's earlier message."""
    bot = KeywordBot({})
    ws = WorkspaceConfig(id="acme", name="Acme")
    first = turn(ws, "¿Qué es esto?", "es", intent=None)
    await bot.decide(first)
    second = turn(ws, "12345", "en", first.context, intent=None)
    decision = await bot.decide(second)
    assert decision.replies[0].text == messages.catalog("es")["fallback"]
    # The second fallback in a row offers a person: the button in Spanish too.
    assert decision.replies[0].quick_replies == ["Hablar con una persona"]


@pytest.fixture
async def services(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {
            "helpdesk": zendesk_config(fake),
            "overflow": {"wait_minutes": 5},
            "messages": {"overflow": {"en": "All busy.", "de": "Alle beschäftigt."}},
        }
        running = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            yield running
        finally:
            await running.close()


async def test_the_ticket_confirmation_is_in_the_visitors_language(services):
    conversation, _ = await start_conversation(services, "acme", locale="pt-BR")
    result = await submit_contact(
        services, conversation.id, email="ana@example.com", question="Meu pedido não chegou"
    )
    question, told = result.messages
    assert told.text.startswith("Obrigado! Encaminhamos sua pergunta")
    assert "ana@example.com" in told.text and "{" not in told.text


async def test_the_overflow_form_uses_the_workspaces_text_in_the_conversations_language(
    services,
):
    now = utcnow()
    german, _ = await start_conversation(services, "acme", locale="de-AT")
    french, _ = await start_conversation(services, "acme", locale="fr")
    for conversation in (german, french):
        await services.store.set_status(conversation.id, ConversationStatus.WAITING)
        at = (now - timedelta(minutes=9)).isoformat()
        await services.store.update_conversation_metadata(
            conversation.id, {"escalation": {"at": at}}
        )
    assert await sweep_overflow(services, now=now) == 2
    [*_, to_german] = await services.store.list_messages(german.id)
    [*_, to_french] = await services.store.list_messages(french.id)
    assert to_german.text == "Alle beschäftigt."
    assert to_french.text == "All busy."  # its own English, not our French text
